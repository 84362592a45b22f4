/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef LG_WORKER_H
#define LG_WORKER_H

/*
 * A worker lcore: polls its RX queue on every port, runs each burst to
 * completion (cpu crypto) or to the crypto queue and back (lookaside), and
 * transmits on its own TX queues. No locks, no syscalls, no allocation.
 */

#include <assert.h>
#include <stdint.h>
#include <rte_mbuf.h>

#include "counters.h"
#include "esp.h"
#include "dp.h"

#define LG_BURST 32
static_assert(LG_BURST <= LG_ESP_BURST, "an SA run goes to esp.c whole");
#define LG_TXB 64

struct lg_txq {
	uint16_t n;
	struct rte_mbuf *m[LG_TXB];
};

struct lg_worker {
	/* [I] */
	struct lg_dp *dp;
	struct lg_lcore_stats *st;
	unsigned int lcore;
	uint16_t queue;               /* RX/TX queue index on every port */
	uint8_t cdev_idx;             /* index into lg_sa.ss[] */
	uint8_t cdev_id;
	uint16_t cqp;                 /* crypto queue pair */
	/* [A] read by control for --exit-on-idle */
	uint32_t inflight_seen;       /* inflight, as of the last loop */
	uint64_t last_rx_tsc;
	/* [W] */
	uint32_t inflight;            /* ops in the crypto queue */
	struct lg_txq tx[LG_MAX_PORTS];
	struct lg_esp_ctx esp;        /* crypto.mode direct */
} __rte_cache_aligned;

/* worker: lcore entry point for rte_eal_remote_launch(). */
int lg_worker_main(void *arg);

#endif /* LG_WORKER_H */
