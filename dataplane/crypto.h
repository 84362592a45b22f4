/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef LG_CRYPTO_H
#define LG_CRYPTO_H

/*
 * Crypto devices (rte_cryptodev): a vdev such as crypto_aesni_gcm0 or a PCI
 * accelerator. Each worker owns one queue pair on one device. Crypto ops
 * live in the mbuf private area (struct lg_mbuf_priv), so the hot path never
 * allocates one; the IV sits right after the op, where librte_ipsec writes it.
 */

#include <stdbool.h>
#include <stdint.h>
#include <rte_crypto.h>
#include <rte_mbuf.h>

#define LG_CRYPTO_DEV_MAX 8
#define LG_IV_OFFSET (sizeof(struct rte_crypto_op) + sizeof(struct rte_crypto_sym_op))
#define LG_IV_MAX 16

/* Per-packet state kept across the crypto step, after the IV. */
struct lg_meta {
	uint64_t seq;            /* inbound: the full sequence number inferred at
				  * the replay pre-check, the one the ICV covers
				  * (RFC 4303 App. A2.2), committed after it */
	uint8_t tos;             /* outbound: inner DSCP/ECN; inbound: outer */
	uint8_t df;              /* outbound: inner IPv4 DF */
	uint8_t natt;            /* inbound: arrived UDP-encapsulated */
};

#define LG_META_OFFSET (LG_IV_OFFSET + LG_IV_MAX)
#define LG_MBUF_PRIV_SIZE RTE_ALIGN_CEIL(LG_META_OFFSET + sizeof(struct lg_meta), \
					 RTE_MBUF_PRIV_ALIGN)

static inline struct rte_crypto_op *
lg_mbuf_cop(struct rte_mbuf *m)
{
	return (struct rte_crypto_op *)rte_mbuf_to_priv(m);
}

static inline struct lg_meta *
lg_mbuf_meta(struct rte_mbuf *m)
{
	return (struct lg_meta *)((char *)rte_mbuf_to_priv(m) + LG_META_OFFSET);
}

/* control */
/* Probe (if needed) a device by vdev args or name; returns its id or -errno. */
int lg_crypto_dev_open(const char *devargs);
/* Check it offers synchronous CPU crypto when asked; whether it runs an SA's
 * suite is checked when the SA's session is created. */
int lg_crypto_dev_check(uint8_t dev_id, bool cpu, char *err, size_t errlen);
/* Session pool sized for nsess sessions on any of the devices. */
struct rte_mempool *lg_crypto_sess_pool_create(const uint8_t *dev_ids,
					       uint32_t ndev, uint32_t nsess,
					       int socket);
int lg_crypto_dev_start(uint8_t dev_id, uint16_t nqp, uint32_t qdepth,
			struct rte_mempool *sess_mp, int socket);
void lg_crypto_dev_stop(uint8_t dev_id);

/* Initialise the op of an mbuf once, when the pool is created. */
void lg_crypto_op_init(struct rte_mempool *mp, void *arg, void *obj, unsigned idx);

#endif /* LG_CRYPTO_H */
