/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef LG_SA_H
#define LG_SA_H

/*
 * A Security Association: an rte_ipsec_sa plus one crypto session per crypto
 * device. Everything the packet loop reads is the rte_ipsec_session of the
 * worker's device (one cache line each) and the few fields after it; names,
 * identities and config origin are cold.
 *
 * Lifetime: created by the control thread, published in the SA table, then
 * immutable apart from the sequence/replay state that librte_ipsec keeps
 * inside rte_ipsec_sa (SQN_ATOM when several workers share the SA).
 * Freed only after it is unpublished and a grace period has passed; free
 * zeroes the key material it holds.
 */

#include <stdbool.h>
#include <stdint.h>
#include <rte_ipsec.h>

#include "crypto.h"
#include "replay.h"

#define LG_SA_NAME_MAX 32
#define LG_SA_ID_MAX 128

enum lg_sa_dir { LG_SA_OUT = 0, LG_SA_IN = 1 };
enum lg_sa_alg { LG_SA_AES128_GCM, LG_SA_AES256_GCM };

struct lg_sa_prm {
	const char *name;
	const char *peer_id;
	uint8_t dir;               /* enum lg_sa_dir */
	uint32_t spi;              /* host order */
	uint8_t af;                /* 4 */
	uint8_t local[16], remote[16];
	uint8_t alg;               /* enum lg_sa_alg */
	const uint8_t *key;
	uint8_t key_len;
	const uint8_t *salt;       /* 4 bytes */
	uint32_t replay_window;
	bool esn;
	uint64_t next_seq;         /* outbound: first sequence number to send;
				    * 0 = 1 (RFC 4303 §3.3.3). For resuming an
				    * SA's state, and for overflow tests. */
	bool sqn_atom;             /* more than one worker may use the SA */
	bool cpu;                  /* synchronous cpu-crypto sessions */
	uint32_t slot;
	const uint8_t *dev_ids;
	uint8_t ndev;
	struct rte_mempool *sess_mp;
	int socket;
};

struct lg_sa {
	/* [I] hot: the worker's session, indexed by its crypto device index */
	struct rte_ipsec_session ss[LG_CRYPTO_DEV_MAX];
	/* [I] hot */
	struct lg_replay *rp;      /* inbound with anti-replay on, else NULL */
	uint32_t slot;
	uint8_t dir;
	uint8_t ndev;
	/* [I] cold */
	uint32_t spi;
	uint8_t alg;
	uint8_t af;
	uint8_t local[16], remote[16];
	uint32_t replay_window;
	bool esn;
	void *cses[LG_CRYPTO_DEV_MAX];
	struct rte_ipsec_sa *isa;
	uint32_t isa_size;
	char name[LG_SA_NAME_MAX];
	char peer_id[LG_SA_ID_MAX];
} __rte_cache_aligned;

/* control */
struct lg_sa *lg_sa_create(const struct lg_sa_prm *prm);
void lg_sa_free(struct lg_sa *sa);
const char *lg_sa_alg_name(uint8_t alg);

/* worker: the SA that owns a session handed back by librte_ipsec. */
static inline struct lg_sa *
lg_sa_of_session(const struct rte_ipsec_session *ss, uint8_t dev_idx)
{
	return (struct lg_sa *)(uintptr_t)((const char *)(ss - dev_idx) -
					   offsetof(struct lg_sa, ss));
}

#endif /* LG_SA_H */
