/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef LG_DP_H
#define LG_DP_H

/*
 * The dataplane context shared by the control thread and the workers.
 *
 * Writers and readers:
 *   - port table, SA slot count, local addresses: [I] set before workers start;
 *   - spd_out, spd_in, sad, routes, sa[]: [A] published by the control
 *     thread with release stores, loaded by workers once per burst with
 *     acquire loads (pairs with the release store). An unpublished object is
 *     freed only after every worker has passed a quiescent point (QSBR; the
 *     control thread's retire list, control/apply.c);
 *   - stop: [A] set by control, polled by workers (relaxed: it orders
 *     nothing but the exit of the loop).
 */

#include <stdbool.h>
#include <stdint.h>
#include <rte_ether.h>
#include <rte_ethdev.h>

#include "counters.h"
#include "event.h"
#include "latch.h"
#include "route.h"
#include "sa.h"
#include "sad.h"
#include "spd.h"

#define LG_LOCAL_MAX 32

enum lg_port_role_dp { LG_PORT_PROTECTED = 0, LG_PORT_UNPROTECTED = 1 };

struct lg_dp_port {
	uint16_t port_id;
	uint8_t role;                 /* enum lg_port_role_dp */
	struct rte_ether_addr mac;
};

struct lg_dp {
	/* [I] */
	uint16_t nports;
	struct lg_dp_port port[LG_MAX_PORTS];
	uint32_t sa_slots;
	/* The gateway's own addresses: only ESP and UDP 4500 sent to one of
	 * them is ours to decrypt; the rest is transit traffic for SPD-in. */
	uint32_t nlocal4, nlocal6;
	rte_be32_t local4[LG_LOCAL_MAX];
	uint8_t local6[LG_LOCAL_MAX][16];
	struct lg_latch_table *latch;         /* NULL: latching off (overhead runs) */
	struct rte_rcu_qsbr *qs;              /* workers report quiescent states */
	struct rte_ring *events;              /* latch events, MP/SC */
	/* [A] */
	struct lg_spd *spd_out;
	struct lg_spd *spd_in;
	struct lg_sad *sad;
	struct lg_routes *routes;
	struct lg_sa **sa;                    /* [sa_slots] */
	bool stop;
};

#endif /* LG_DP_H */
