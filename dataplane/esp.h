/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef LG_ESP_H
#define LG_ESP_H

/*
 * crypto.mode: direct — tunnel-mode ESP (RFC 4303) of our own, with the
 * worker calling Intel IPsec-MB itself: one AES-GCM call per packet
 * (RFC 4106), or for AES-CBC with HMAC-SHA1-96 / HMAC-SHA256-128 (RFC
 * 3602, 2404, 4868) a multi-buffer cipher burst and hash burst per SA run.
 * Why not librte_ipsec and the PMD's cpu-crypto: those cost about 40
 * cycles a packet in prepare/process and another 15-30 in op and session
 * indirection for work that is the same for every packet of an SA; here
 * the outer header is a template copied whole, and the crypto is one call
 * (BENCHMARKS.md compares the three crypto modes). SAs this path does not
 * run (transport mode, NULL, CTR, keys longer than a hash block) keep
 * librte_ipsec's cpu path; the cryptodev path stays for hardware.
 *
 * IVs: GCM sends the 64-bit sequence number (RFC 4106 §3.1 requires only
 * uniqueness). CBC needs an unpredictable IV (RFC 3602 §2): it is
 * E_K(N) with N = a random per-SA value || the sequence number, the method
 * of NIST SP 800-38A appendix C, computed by the same CBC job as an extra
 * first block of zeros behind the IV slot (CBC turns 0 xor N into E_K(N)),
 * as librte_ipsec's lookaside path does with the counter alone.
 */

#include <stdbool.h>
#include <stdint.h>
#include <intel-ipsec-mb.h>
#include <rte_mbuf.h>

struct lg_sa;
struct lg_sa_prm;

/* An SA's keys in the form Intel IPsec-MB runs them. Read-only once built;
 * zeroed when freed. */
struct lg_esp_keys {
	/* first: read before the keys, so in the line prefetched first */
	uint8_t key_len;          /* 16 or 32 */
	/* AES-GCM or CBC + HMAC: the SA's ek_gcm (it chooses what to
	 * prefetch of these keys before they are read) */
	uint8_t hash;             /* IMB_HASH_ALG for CBC */
	uint8_t salt[4];          /* GCM */
	uint8_t nonce[8];         /* CBC IV derivation, random per SA */
	union {
		struct gcm_key_data gcm;
		struct {
			uint8_t enc[16 * 15] __rte_aligned(16);
			uint8_t dec[16 * 15] __rte_aligned(16);
			uint8_t ipad[32] __rte_aligned(16);  /* HMAC state after the */
			uint8_t opad[32] __rte_aligned(16);  /* key xor ipad / opad  */
		} cbc;
	} __rte_aligned(64);
} __rte_cache_aligned;

/* Calls take at most this many packets (one SA run of a burst). */
#define LG_ESP_BURST 32

/* Per worker: an IPsec-MB manager and GCM scratch, on its socket. */
struct lg_esp_ctx {
	IMB_MGR *mgr;
	void *mem;
	struct gcm_context_data gcm_ctx __rte_aligned(64);
	IMB_JOB jobs[LG_ESP_BURST];   /* CBC bursts (one SA run at most) */
};

/* control */
/* Whether crypto.mode direct runs an SA of these parameters. */
bool lg_esp_supports(const struct lg_sa_prm *p);
/* Expand the keys; NULL with rte_errno on failure. */
struct lg_esp_keys *lg_esp_keys_create(const struct lg_sa_prm *p);
void lg_esp_keys_free(struct lg_esp_keys *k);
int lg_esp_ctx_init(struct lg_esp_ctx *c, int socket);
void lg_esp_ctx_fini(struct lg_esp_ctx *c);

/* worker. What happened to packet i: */
enum lg_esp_res { LG_ESP_OK, LG_ESP_NO_ROOM, LG_ESP_SEQ_OVERFLOW, LG_ESP_CRYPTO_FAILED };

/*
 * Encapsulate and encrypt n frames (Ethernet + inner IP, single segment) on
 * an outbound tunnel SA, in place; res[i] says which succeeded. On success
 * the frame is Ethernet (addresses to fill) + outer IP (+ UDP) + ESP, with
 * l2_len/l3_len set; TOS/DF, the IPv4 checksum and IPv6 NAT-T's UDP
 * checksum are the caller's (outer_rules in worker.c: measured, doing them
 * here, right before the cipher reads the packet, is ~10 cycles slower).
 */
void lg_esp_out(struct lg_esp_ctx *c, struct lg_sa *sa, struct rte_mbuf *mb[], uint32_t n,
		uint8_t res[]);

/*
 * Decrypt and verify n ESP packets of an inbound SA (checked by the SAD
 * stage: lengths, and the full sequence number in lg_meta.seq when the SA
 * has a replay window, else the 32 bits on the wire are used with seq_hi
 * 0); a packet whose ICV fails gets RTE_MBUF_F_RX_SEC_OFFLOAD_FAILED.
 */
void lg_esp_in(struct lg_esp_ctx *c, const struct lg_sa *sa, struct rte_mbuf *mb[],
	       uint32_t n);

/* Strip a verified tunnel packet (trailer checked) down to its inner IP
 * packet. */
void lg_esp_in_strip(const struct lg_sa *sa, struct rte_mbuf *m);

#endif /* LG_ESP_H */
