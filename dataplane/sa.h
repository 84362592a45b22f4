/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef LG_SA_H
#define LG_SA_H

/*
 * A Security Association: an rte_ipsec_sa plus one crypto session per crypto
 * device, or (crypto.mode direct) keys for esp.c. Everything the packet loop
 * reads is the hot fields first and, for librte_ipsec, the rte_ipsec_session
 * of the worker's device (one cache line each); names, identities and
 * config origin are cold.
 *
 * Lifetime: created by the control thread, published in the SA table, then
 * immutable apart from the sequence/replay state (librte_ipsec's counter,
 * SQN_ATOM when several workers share the SA, and our replay window).
 * Freed only after it is unpublished and a grace period has passed; free
 * zeroes the key material it holds.
 */

#include <stdbool.h>
#include <stdint.h>
#include <rte_ipsec.h>

#include "crypto.h"
#include "esp.h"
#include "replay.h"

#define LG_SA_NAME_MAX 32
#define LG_SA_ID_MAX 128

enum lg_sa_dir { LG_SA_OUT = 0, LG_SA_IN = 1 };
enum lg_sa_m { LG_SA_M_TUNNEL = 0, LG_SA_M_TRANSPORT = 1 };
enum lg_sa_cipher { LG_SA_C_NULL, LG_SA_C_AES_CBC, LG_SA_C_AES_CTR, LG_SA_C_AES_GCM };
enum lg_sa_auth { LG_SA_A_NULL, LG_SA_A_SHA1_96, LG_SA_A_SHA256_128, LG_SA_A_AEAD };
enum lg_sa_df { LG_SA_DF_COPY, LG_SA_DF_SET, LG_SA_DF_CLEAR };

struct lg_sa_prm {
	const char *name;
	const char *peer_id;
	uint8_t dir;               /* enum lg_sa_dir */
	uint8_t mode;              /* enum lg_sa_m */
	uint32_t spi;              /* host order */
	uint8_t af;                /* outer family: 4 or 6 */
	uint8_t inner_af;          /* tunnel: 4 or 6; transport: = af */
	uint8_t local[16], remote[16];
	uint8_t cipher;            /* enum lg_sa_cipher */
	const uint8_t *cipher_key;
	uint8_t cipher_key_len;
	const uint8_t *salt;       /* 4 bytes: GCM salt / CTR nonce, else NULL */
	uint8_t auth;              /* enum lg_sa_auth */
	const uint8_t *auth_key;
	uint8_t auth_key_len;
	uint32_t replay_window;
	bool esn;
	bool encap_udp;            /* RFC 3948 */
	uint16_t encap_sport, encap_dport;
	uint8_t df;                /* enum lg_sa_df */
	int16_t dscp;              /* -1 = copy */
	uint8_t ttl;               /* outer TTL / hop limit; 0 = 64 */
	uint32_t ident;            /* interned peer identity (latching) */
	uint32_t pset;             /* interned latched parameter set */
	uint64_t next_seq;         /* outbound: first sequence number to send;
				    * 0 = 1 (RFC 4303 §3.3.3). For resuming an
				    * SA's state, and for overflow tests. */
	bool sqn_atom;             /* more than one worker may use the SA */
	bool cpu;                  /* synchronous cpu-crypto sessions */
	bool direct;               /* crypto.mode direct: esp.h where it runs */
	uint32_t slot;
	const uint8_t *dev_ids;
	uint8_t ndev;
	struct rte_mempool *sess_mp;
	int socket;
};

struct lg_sa {
	/* [I] hot, first: with crypto.mode direct these two lines and sqn's
	 * are all a packet reads of its SA (100,000 SAs do not stay cached) */
	struct lg_replay *rp;      /* inbound with anti-replay on, else NULL */
	uint32_t ident, pset;      /* what flows on it latch to */
	uint32_t slot;
	uint8_t dir;
	uint8_t mode;
	uint8_t ndev;
	uint8_t af, inner_af;
	uint8_t iv_len, icv_len, pad_align;
	uint8_t sqh_len;           /* 4 with ESN: librte_ipsec appends seq_hi behind
				    * the ICV while verifying (RFC 4303 §3.3.2.1) */
	uint8_t next_proto;        /* tunnel: IPPROTO_IPIP / IPPROTO_IPV6 */
	uint8_t df;
	int16_t dscp;
	bool encap_udp;
	bool cpu;                  /* synchronous cpu-crypto, else lookaside */
	bool esn, sqn_atom;
	bool ek_gcm;               /* ek holds AES-GCM keys, else CBC + HMAC: here
				    * so that which of its lines to prefetch is
				    * known without reading it */
	/* [I] hot, crypto.mode direct (esp.h): keys, and the outbound frame
	 * start — Ethernet, outer IP, [UDP], SPI — copied whole per packet */
	struct lg_esp_keys *ek;    /* NULL: librte_ipsec runs this SA */
	uint8_t hdr_len, l3_len;
	uint8_t hdr[14 + 40 + 8 + 4];
	/* [I] hot for librte_ipsec: the worker's session, indexed by its
	 * crypto device index */
	struct rte_ipsec_session ss[LG_CRYPTO_DEV_MAX];
	/* [I] cold: what events name and what free releases (the rest of the
	 * SA's description lives in the control thread's config) */
	uint32_t spi;
	void *cses[LG_CRYPTO_DEV_MAX];
	struct rte_ipsec_sa *isa;
	uint32_t isa_size;
	/* [W] direct outbound: the last sequence number taken (atomic with
	 * sqn_atom); a line of its own, away from what every worker reads */
	uint64_t sqn __rte_cache_aligned;
} __rte_cache_aligned;

static_assert(offsetof(struct lg_sa, hdr) + sizeof(((struct lg_sa *)0)->hdr) <=
	      2 * RTE_CACHE_LINE_SIZE, "an SA's hot fields fit in its first two lines");

/* control */
/* NULL with rte_errno: EINVAL (parameters), ENOTSUP (a device cannot run
 * the suite), ENOMEM. */
struct lg_sa *lg_sa_create(const struct lg_sa_prm *prm);
void lg_sa_free(struct lg_sa *sa);

/* worker: the SA that owns a session handed back by librte_ipsec. */
static inline struct lg_sa *
lg_sa_of_session(const struct rte_ipsec_session *ss, uint8_t dev_idx)
{
	return (struct lg_sa *)(uintptr_t)((const char *)(ss - dev_idx) -
					   offsetof(struct lg_sa, ss));
}

#endif /* LG_SA_H */
