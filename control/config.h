/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef LG_CONFIG_H
#define LG_CONFIG_H

/*
 * The YAML configuration as a plain struct. Pure: no DPDK calls, no globals,
 * so the parser and validator are unit-tested without EAL. The control thread
 * loads a file, validates it here, then applies it to the dataplane.
 *
 * Every item keeps the line/column of its YAML mapping so that the applier
 * can name the origin of an error it finds later. Key material lives only in
 * struct lg_conf_sa and is zeroed by lg_config_free().
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LG_NAME_MAX 32      /* names of ports, peers, SAs, policies, incl. NUL */
#define LG_DEVICE_MAX 256   /* a vdev string or PCI address, incl. NUL */
#define LG_ID_MAX 128       /* a peer identity, e.g. "fqdn:gw-b.example.net" */
#define LG_PATH_MAX 108     /* sun_path */
#define LG_KEY_MAX 32       /* AES-256 */
#define LG_SALT_LEN 4       /* RFC 4106 salt */
#define LG_ERR_MAX 512      /* size of an error message buffer */

enum lg_af { LG_AF_NONE = 0, LG_AF_INET = 4, LG_AF_INET6 = 6 };

/* An address of either family; IPv4 uses b[0..3], network byte order. */
struct lg_addr {
	uint8_t af;          /* enum lg_af */
	uint8_t b[16];
};

struct lg_prefix {
	struct lg_addr addr; /* host bits are zero (validated) */
	uint8_t len;         /* 0..32 or 0..128 */
};

struct lg_where {
	uint32_t line, col;  /* 1-based, of the item's mapping */
};

enum lg_port_role { LG_ROLE_PROTECTED, LG_ROLE_UNPROTECTED };

#define LG_PORT_ADDR_MAX 4

struct lg_conf_port {
	char name[LG_NAME_MAX];
	enum lg_port_role role;
	char device[LG_DEVICE_MAX]; /* "net_pcap0,rx_pcap=..." or "0000:3b:00.0" */
	struct lg_addr address[LG_PORT_ADDR_MAX]; /* the gateway's own addresses */
	uint8_t naddress;           /* 1..4; YAML: one address or a list */
	bool has_mac;               /* optional "mac:" overrides the device MAC */
	uint8_t mac[6];
	struct lg_where at;
};

enum lg_crypto_mode { LG_CRYPTO_LOOKASIDE, LG_CRYPTO_CPU, LG_CRYPTO_DIRECT };

#define LG_CRYPTO_DEV_MAX 8
struct lg_conf_crypto {
	char devices[LG_CRYPTO_DEV_MAX][LG_DEVICE_MAX]; /* vdev string or PCI address */
	uint32_t ndevices;
	enum lg_crypto_mode mode;
	struct lg_where at;
};

struct lg_conf_peer {
	char name[LG_NAME_MAX];
	char id[LG_ID_MAX];         /* identity latches bind to; "type:value" */
	struct lg_addr address;     /* optional (af NONE if absent) */
	struct lg_where at;
};

enum lg_dir { LG_DIR_OUTBOUND, LG_DIR_INBOUND };
enum lg_sa_mode { LG_SA_TUNNEL, LG_SA_TRANSPORT };

/*
 * Suites. An AEAD suite (YAML "aead:") sets auth = LG_AUTH_AEAD; otherwise
 * YAML "cipher:" + "auth:". NULL encryption with NULL integrity is refused
 * (RFC 4303 §3.2, RFC 4301 §4.2), and so is any non-AEAD cipher with NULL
 * integrity (no integrity = no anti-replay, open to active attacks).
 */
enum lg_cipher {
	LG_CIPHER_NULL, LG_CIPHER_AES128_CBC, LG_CIPHER_AES256_CBC,
	LG_CIPHER_AES128_CTR, LG_CIPHER_AES128_GCM, LG_CIPHER_AES256_GCM,
};
enum lg_auth {
	LG_AUTH_NULL, LG_AUTH_HMAC_SHA1_96, LG_AUTH_HMAC_SHA256_128, LG_AUTH_AEAD,
};
/* Outer IPv4 DF bit for tunnel SAs, RFC 4301 §8.1 (default copy). */
enum lg_df { LG_DF_COPY, LG_DF_SET, LG_DF_CLEAR };

#define LG_AUTH_KEY_MAX 64

struct lg_conf_sa {
	char name[LG_NAME_MAX];
	enum lg_dir dir;
	uint32_t spi;               /* 256..0xffffffff, RFC 4303 §2.1 */
	uint32_t peer;              /* index into lg_conf.peers */
	enum lg_sa_mode mode;
	struct lg_addr local, remote; /* tunnel endpoints (or transport hosts), same family */
	uint8_t inner_af;           /* tunnel: family of the policies it serves
				     * (validated: one family per SA); defaults
				     * to the outer family when no policy uses it */
	enum lg_cipher cipher;
	uint8_t cipher_key[LG_KEY_MAX];  /* secret: never printed */
	uint8_t cipher_key_len;          /* 0 (null), 16 or 32 per cipher */
	uint8_t salt[LG_SALT_LEN];  /* secret: GCM salt (RFC 4106) or CTR nonce (RFC 3686) */
	enum lg_auth auth;
	uint8_t auth_key[LG_AUTH_KEY_MAX]; /* secret */
	uint8_t auth_key_len;       /* 20 (sha1-96), 32 (sha256-128), 0 (aead/null) */
	uint32_t replay_window;     /* inbound; default 1024, 0 = off; 32..4096 */
	bool esn;
	/* NAT traversal, RFC 3948 (tunnel only): "encap: { type: udp, sport, dport }" */
	bool encap_udp;
	uint16_t encap_sport, encap_dport;  /* default 4500, 4500 */
	/* Outer header of tunnel SAs: "outer: { df, dscp, ttl }" */
	enum lg_df df;              /* default copy */
	int16_t dscp;               /* -1 = copy from inner (default), else 0..63 */
	uint8_t ttl;                /* outer TTL / hop limit, default 64 */
	struct lg_where at;
};

enum lg_action { LG_ACT_PROTECT, LG_ACT_BYPASS, LG_ACT_DISCARD };

struct lg_range { uint16_t lo, hi; };   /* inclusive */
#define LG_RANGES_MAX 8  /* "dport: [500, 4500]" is two ranges of one port */

struct lg_conf_policy {
	char name[LG_NAME_MAX];
	enum lg_dir dir;
	uint32_t priority;          /* lower value = matched first */
	struct lg_prefix src, dst;  /* absent = any (af NONE, len 0) */
	uint8_t proto;              /* 0 = any */
	/* nsport == 0 means any port (also when proto has no ports). For
	 * proto icmp/icmp6 they hold "icmp_type:" and "icmp_code:" instead
	 * (the SPD matches type and code where other protocols have ports). */
	struct lg_range sport[LG_RANGES_MAX]; uint8_t nsport;
	struct lg_range dport[LG_RANGES_MAX]; uint8_t ndport;
	uint8_t af;                 /* family of src/dst; PROTECT needs one */
	enum lg_action action;
	uint32_t sa;                /* index into lg_conf.sas; PROTECT only */
	struct lg_where at;
};

struct lg_conf_route {
	struct lg_prefix dst;
	uint32_t port;              /* index into lg_conf.ports */
	uint8_t next_hop_mac[6];
	struct lg_where at;
};

/* Connection latching (RFC 5660): "latch: { enabled, capacity }". */
struct lg_conf_latch {
	bool enabled;               /* default true; false only for overhead figures */
	uint32_t capacity;          /* flows, default 1048576, 1024..16777216 */
	/* "idle_timeout: { tcp, udp, icmp, other }", seconds, 1..86400;
	 * defaults 7440, 60, 10, 30 (LATCHING.md §5 A9) */
	uint32_t idle_tcp, idle_udp, idle_icmp, idle_other;
	/* "on_break: hold" (default: a BROKEN latch stays until its flow goes
	 * idle) or "close" (closed after break_close_s, LATCHING.md item 28) */
	bool close_on_break;
	uint32_t break_close_s;     /* default 10, 1..86400 */
};

struct lg_conf_control {
	char socket[LG_PATH_MAX];   /* default /run/latchgate/control.sock */
	/* After an inbound SA is replaced by one with another SPI, the old SPI
	 * is still accepted this long (make-before-break), default 5 s */
	uint32_t rekey_overlap_s;
};

/* "memory: { mbufs, sas }": the packet buffer pool (0 = sized from the
 * ports, workers and queues; a net_pcap port with infinite_rx=1 keeps its
 * whole capture in the pool: a capture of many packets needs more), and
 * the SA table's slots (SAs at once, old versions in their grace period
 * included). */
#define LG_SA_SLOTS_DEFAULT 4096
struct lg_conf_memory {
	uint32_t mbufs;             /* 0 or 4096..16777216 */
	uint32_t sas;               /* 16..1048576, default LG_SA_SLOTS_DEFAULT */
};

struct lg_conf {
	char *file;                 /* as given to the loader, for messages */
	char **eal;                 /* NULL-terminated argv tail, may be NULL */
	uint32_t neal;
	struct lg_conf_port *ports;       uint32_t nports;
	struct lg_conf_crypto crypto;
	struct lg_conf_peer *peers;       uint32_t npeers;
	struct lg_conf_sa *sas;           uint32_t nsas;
	struct lg_conf_policy *policies;  uint32_t npolicies;
	struct lg_conf_route *routes;     uint32_t nroutes;
	struct lg_conf_latch latch;
	struct lg_conf_control control;
	struct lg_conf_memory memory;
	/* Warnings of a valid config, one line each, "FILE:L:C: warning: ..."
	 * (e.g. a transport SA that would protect forwarded traffic). */
	char **warnings;                  uint32_t nwarnings;
};

/* control */

/*
 * Parse and validate. On error returns NULL and writes one line to err:
 *   "FILE:LINE:COL: key 'KEY': expected WHAT"   (or another short reason)
 * Never writes key or salt bytes to err.
 */
struct lg_conf *lg_config_load(const char *path, char *err, size_t errlen);
struct lg_conf *lg_config_parse(const char *text, size_t len, const char *name,
				char *err, size_t errlen);
/*
 * Runtime edits (control socket): a new config that is base with one SA or
 * policy added, replaced or deleted, validated as the loader validates a
 * file. For add and replace, text is the whole request and the item is the
 * mapping under its "sa" or "policy" key (JSON is YAML flow syntax; errors
 * read "request:1:COL: key 'KEY': ..."). For replace and delete, name says
 * which item; a replacement keeps the name. An SA a policy uses cannot be
 * deleted. base is not changed.
 */
enum lg_edit_kind { LG_EDIT_SA, LG_EDIT_POLICY };
enum lg_edit_op { LG_EDIT_ADD, LG_EDIT_REPLACE, LG_EDIT_DELETE };
struct lg_conf *lg_config_edit(const struct lg_conf *base, enum lg_edit_kind kind,
			       enum lg_edit_op op, const char *text, size_t len,
			       const char *name, char *err, size_t errlen);
/* A deep copy (key material included); NULL when out of memory. */
struct lg_conf *lg_config_copy(const struct lg_conf *c);
/* Zeroes key material, then frees. NULL is a no-op. */
void lg_config_free(struct lg_conf *conf);

/* Lookups by name; return index or -1. */
int lg_config_port_find(const struct lg_conf *conf, const char *name);
int lg_config_sa_find(const struct lg_conf *conf, const char *name);
/* For each SA of a, the index of the SA of the same name in b, or -1: one
 * pass over each (the linear lg_config_sa_find per SA would be O(n^2) for
 * the 100,000-SA configs). NULL when out of memory; free() it. */
int32_t *lg_config_sa_match(const struct lg_conf *a, const struct lg_conf *b);

/* Formatting helpers shared by printers (never print keys). */
const char *lg_cipher_name(enum lg_cipher c);   /* "aes-128-cbc", "null", ... */
const char *lg_auth_name(enum lg_auth a);       /* "hmac-sha256-128", "aead", ... */
/* "aes-128-gcm" or "aes-128-cbc/hmac-sha1-96"; buf >= 48 bytes. */
char *lg_suite_format(const struct lg_conf_sa *sa, char *buf, size_t len);
const char *lg_action_name(enum lg_action a);
const char *lg_dir_name(enum lg_dir d);
/* "192.0.2.1" or "2001:db8::1"; buf >= 46 bytes. */
char *lg_addr_format(const struct lg_addr *a, char *buf, size_t len);

#endif /* LG_CONFIG_H */
