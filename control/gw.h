/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef LG_GW_H
#define LG_GW_H

/*
 * The running gateway as the control thread sees it: the validated config,
 * the dataplane context it built from it, the workers and their counters.
 * Everything here is [C] (control thread only) except what the dataplane
 * structures themselves declare.
 */

#include <stdbool.h>
#include <stdint.h>
#include <rte_mempool.h>

#include "config.h"
#include "dp.h"
#include "worker.h"

#define LG_MAX_WORKERS RTE_MAX_LCORE
#define LG_SA_SLOTS 4096
#define LG_CRYPTO_QDEPTH 2048

struct lg_gw {
	struct lg_conf *conf;
	struct lg_dp *dp;
	struct lg_worker *workers;          /* [nworkers], hugepage memory */
	uint32_t nworkers;
	struct rte_mempool *mbuf_pool;
	struct rte_mempool *sess_pool;
	uint8_t cdev[LG_CRYPTO_DEV_MAX];
	uint8_t ncdev;
	uint64_t start_tsc;
	bool ports_closed;
	/* [C] latch expiry */
	uint32_t expire_cursor;
	uint64_t latch_expired;
	uint64_t latch_admin_closed;
	uint64_t event_overflow;           /* control-raised events lost */
	uint64_t events;                   /* events delivered */
};

/* control */
/* Build the dataplane from conf: devices, pools, SAs, SPDs, SAD, routes,
 * workers. On error writes one line to err (naming file:line:col where the
 * config is at fault) and leaves gw safe to tear down. */
int lg_gw_setup(struct lg_gw *gw, struct lg_conf *conf, char *err, size_t errlen);
void lg_gw_launch(struct lg_gw *gw);
void lg_gw_stop(struct lg_gw *gw);     /* signal workers and wait for them */
/* After stop: free what ports still hold, stop and close them (the mbuf
 * pool is then full unless something leaked). */
void lg_gw_quiesce(struct lg_gw *gw);
void lg_gw_teardown(struct lg_gw *gw);
/* Close latches idle past their protocol's timeout, visiting at most
 * budget entries from where the last call stopped; then free the slots
 * whose grace period ended. Returns the number closed. */
uint32_t lg_gw_expire(struct lg_gw *gw, uint32_t budget);
/* Raise a latch event from the control thread (idle, admin). */
void lg_gw_event(struct lg_gw *gw, const struct lg_latch *l, const struct lg_flow_key *k,
		 uint32_t pos, uint8_t from, uint8_t to, uint8_t reason);
/* Idle: no worker received for idle_ms and none has crypto in flight. */
int lg_gw_idle(const struct lg_gw *gw, uint64_t idle_ms);

#endif /* LG_GW_H */
