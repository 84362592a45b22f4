/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_cryptodev.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_mempool.h>

#include "crypto.h"

int
lg_crypto_dev_open(const char *devargs)
{
	char name[RTE_CRYPTODEV_NAME_MAX_LEN];
	size_t n = strcspn(devargs, ",");
	int id, rc;

	if (n == 0 || n >= sizeof(name))
		return -EINVAL;
	memcpy(name, devargs, n);
	name[n] = '\0';
	id = rte_cryptodev_get_dev_id(name);
	if (id >= 0)
		return id;
	rc = rte_dev_probe(devargs);
	if (rc != 0 && rc != -EEXIST)
		return rc;
	id = rte_cryptodev_get_dev_id(name);
	return id >= 0 ? id : -ENODEV;
}

int
lg_crypto_dev_check(uint8_t dev_id, bool cpu, char *err, size_t errlen)
{
	struct rte_cryptodev_info info;

	rte_cryptodev_info_get(dev_id, &info);
	if (cpu && !(info.feature_flags & RTE_CRYPTODEV_FF_SYM_CPU_CRYPTO)) {
		snprintf(err, errlen, "crypto device '%s' has no synchronous CPU crypto (crypto.mode: cpu)",
			 rte_cryptodev_name_get(dev_id));
		return -ENOTSUP;
	}
	return 0;
}

struct rte_mempool *
lg_crypto_sess_pool_create(const uint8_t *dev_ids, uint32_t ndev, uint32_t nsess,
			   int socket)
{
	unsigned int sz = 0, s;
	uint32_t i;

	for (i = 0; i < ndev; i++) {
		s = rte_cryptodev_sym_get_private_session_size(dev_ids[i]);
		sz = RTE_MAX(sz, s);
	}
	/* Each SA holds one session per device. */
	return rte_cryptodev_sym_session_pool_create("lg_sess", nsess * ndev + 64,
						     sz, 0, 0, socket);
}

int
lg_crypto_dev_start(uint8_t dev_id, uint16_t nqp, uint32_t qdepth,
		    struct rte_mempool *sess_mp, int socket)
{
	struct rte_cryptodev_config cfg = {
		.socket_id = socket, .nb_queue_pairs = nqp,
	};
	struct rte_cryptodev_qp_conf qp = {
		.nb_descriptors = qdepth, .mp_session = sess_mp,
	};
	uint16_t q;
	int rc;

	rc = rte_cryptodev_configure(dev_id, &cfg);
	if (rc != 0)
		return rc;
	for (q = 0; q < nqp; q++) {
		rc = rte_cryptodev_queue_pair_setup(dev_id, q, &qp, socket);
		if (rc != 0)
			return rc;
	}
	return rte_cryptodev_start(dev_id);
}

void
lg_crypto_dev_stop(uint8_t dev_id)
{
	rte_cryptodev_stop(dev_id);
	rte_cryptodev_close(dev_id);
}

void
lg_crypto_op_init(struct rte_mempool *mp, void *arg, void *obj, unsigned idx)
{
	struct rte_mbuf *m = obj;
	struct rte_crypto_op *cop = lg_mbuf_cop(m);

	RTE_SET_USED(mp);
	RTE_SET_USED(arg);
	RTE_SET_USED(idx);
	memset(cop, 0, LG_IV_OFFSET);
	cop->type = RTE_CRYPTO_OP_TYPE_SYMMETRIC;
	cop->sess_type = RTE_CRYPTO_OP_WITH_SESSION;
	/* Not from an op pool: nobody may rte_crypto_op_free() it. */
	cop->mempool = NULL;
	cop->phys_addr = rte_mempool_virt2iova(m) + sizeof(struct rte_mbuf);
}
