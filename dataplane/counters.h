/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef LG_COUNTERS_H
#define LG_COUNTERS_H

/*
 * Per-lcore counters. Each worker owns one struct lg_lcore_stats and writes
 * it with plain stores; the control thread sums them with relaxed loads.
 * A reader may see a count one burst old, never a torn one (aligned 64-bit).
 *
 * Every drop reason is declared once, here: the X-macro generates the enum,
 * the names shown by `latchctl stats` and --stats-json, and the table that
 * `latchgate --drop-reasons` prints for the README.
 */

#include <stdint.h>
#include <rte_common.h>

#define LG_DROP_LIST(X) \
	X(MALFORMED,           malformed,           "L2/L3 header truncated or invalid") \
	X(NOT_IP,              not_ip,              "neither IPv4 nor IPv6 (ARP, LLDP, VLAN, ...)") \
	X(L2_NOT_FOR_US,       l2_not_for_us,       "frame not to the port's MAC: broadcast, multicast, another host (RFC 1812 §5.3.4)") \
	X(BAD_IP_CHECKSUM,     bad_ip_checksum,     "IPv4 header checksum wrong, RFC 1812 §5.2.2") \
	X(MARTIAN,             martian,             "source or destination never forwarded: loopback, unspecified, multicast, limited broadcast, link-local (RFC 1812 §5.3.7, RFC 4291)") \
	X(TTL_EXCEEDED,        ttl_exceeded,        "TTL would reach zero on forwarding") \
	X(SPD_DISCARD,         spd_discard,         "matched a DISCARD policy") \
	X(SPD_NO_MATCH,        spd_no_match,        "no policy matched: final discard, RFC 4301 §4.4.1") \
	X(SPD_PROTECT_CLEAR,   spd_protect_clear,   "plaintext on the unprotected side matched a PROTECT policy") \
	X(SA_MISSING,          sa_missing,          "PROTECT policy whose SA is not installed") \
	X(ESP_UNKNOWN_SPI,     esp_unknown_spi,     "no inbound SA for the SPI, RFC 4303 §3.4.2") \
	X(ESP_SPI_ZERO,        esp_spi_zero,        "SPI 0, reserved and never sent, RFC 4303 §2.1") \
	X(ESP_ENCAP_MISMATCH,  esp_encap_mismatch,  "ESP in UDP for an SA without NAT-T, or bare ESP for one with it") \
	X(ESP_TRUNCATED,       esp_truncated,       "ESP shorter than header + IV + trailer + ICV, or misaligned") \
	X(ESP_FRAGMENT,        esp_fragment,        "ESP that is an IP fragment, RFC 4303 §3.4.1") \
	X(ESP_REPLAY,          esp_replay,          "sequence number replayed or left of the window, RFC 4303 §3.4.3") \
	X(ESP_AUTH_FAILED,     esp_auth_failed,     "ICV check failed, RFC 4303 §3.4.4") \
	X(ESP_BAD_TRAILER,     esp_bad_trailer,     "bad padding, pad length or next header after decryption") \
	X(ESP_SELECTOR_MISMATCH, esp_selector_mismatch, "inner packet outside the SA's selectors, RFC 4301 §5.2") \
	X(ESP_DUMMY,           esp_dummy,           "dummy packet (next header 59), discarded silently, RFC 4303 §2.6") \
	X(NATT_KEEPALIVE,      natt_keepalive,      "NAT keepalive (one 0xff byte to UDP 4500), ignored, RFC 3948 §2.3") \
	X(ECN_CE_NOT_ECT,      ecn_ce_not_ect,      "outer header CE on a Not-ECT inner packet, RFC 6040 §4.2") \
	X(ESP_SEQ_OVERFLOW,    esp_seq_overflow,    "outbound sequence number would cycle, RFC 4303 §3.3.3") \
	X(ESP_ENCAP_FAILED,    esp_encap_failed,    "no headroom/tailroom for ESP, or the packet is too long") \
	X(CRYPTO_QUEUE_FULL,   crypto_queue_full,   "crypto device queue full") \
	X(CRYPTO_FAILED,       crypto_failed,       "crypto operation failed other than ICV") \
	X(LATCH_TABLE_FULL,    latch_table_full,    "new flow, latch table full: fails closed (LATCHING.md item 8)") \
	X(LATCH_BROKEN,        latch_broken,        "flow's latch is BROKEN, or this packet breaks it (other parameters, or BYPASS)") \
	X(LATCH_ID_MISMATCH,   latch_id_mismatch,   "packet of a latched flow on an SA of another peer identity (item 19)") \
	X(LATCH_CLOSING,       latch_closing,       "flow's latch is being removed") \
	X(LATCH_GOT_CLEAR,     latch_got_clear,     "cleartext inbound for a latched flow; the latch is untouched (item 20)") \
	X(IN_TO_UNPROTECTED,   in_to_unprotected,   "inbound traffic routed to an unprotected port: never sent out without SPD-out") \
	X(TO_US,               to_us,               "addressed to the gateway itself: the dataplane has no local stack") \
	X(NO_ROUTE,            no_route,            "no route to the destination") \
	X(TX_FULL,             tx_full,             "port transmit queue full")

enum lg_drop {
#define LG_X(e, n, d) LG_DROP_##e,
	LG_DROP_LIST(LG_X)
#undef LG_X
	LG_DROP_MAX
};

extern const char *const lg_drop_names[LG_DROP_MAX];
extern const char *const lg_drop_descr[LG_DROP_MAX];

#define LG_MAX_PORTS 8

struct lg_port_ctr {
	uint64_t rx_pkts, rx_bytes;
	uint64_t tx_pkts, tx_bytes;
	uint64_t tx_dropped;
};

struct lg_sa_ctr {
	uint64_t pkts, bytes;
};

/* [W] written by the owning worker only. */
struct lg_lcore_stats {
	uint64_t drops[LG_DROP_MAX];
	struct lg_port_ctr port[LG_MAX_PORTS];
	uint64_t polls, busy_polls;     /* loop iterations, those with work */
	uint64_t busy_tsc;              /* TSC spent in iterations with work */
	uint64_t latch_created;         /* latches this lcore created */
	uint64_t latch_breaks;          /* ESTABLISHED -> BROKEN transitions it won */
	uint64_t latch_closed;          /* ESTABLISHED -> CLOSED by TCP RST */
	uint64_t event_overflow;        /* events lost to a full ring */
	struct lg_sa_ctr *sa;           /* [lg_sa_slots] */
} __rte_cache_aligned;

#endif /* LG_COUNTERS_H */
