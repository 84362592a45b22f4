/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef LG_STATS_H
#define LG_STATS_H

/*
 * Counter totals: the per-lcore counters summed by the control thread, and
 * their formatters (testpmd-style text, JSON for --stats-json, latchctl and
 * telemetry). Never prints key material: SAs are shown by name, SPI, peer
 * identity and suite only.
 */

#include <stdio.h>

#include "gw.h"

struct lg_totals {
	double t;                              /* seconds since launch */
	struct lg_port_ctr port[LG_MAX_PORTS];
	uint64_t drops[LG_DROP_MAX];
	uint64_t polls, busy_polls, busy_tsc;
	uint64_t latch_created, latch_breaks, latch_closed, event_overflow;
	struct lg_sa_ctr *sa;                  /* [dp->sa_slots], allocated by the
						* first collect; NULL if that failed */
};

/* control. t keeps its SA array across calls: reuse one (static) lg_totals
 * per purpose, and swap two rather than copy them. */
void lg_stats_collect(const struct lg_gw *gw, struct lg_totals *t);
/* Text; rates against prev when given. */
void lg_stats_print(const struct lg_gw *gw, FILE *f, const struct lg_totals *t,
		    const struct lg_totals *prev);
void lg_stats_json(const struct lg_gw *gw, FILE *f, const struct lg_totals *t);
/* One latch event as a JSON line (README "Latch events"); never secrets. */
void lg_event_json(const struct lg_gw *gw, const struct lg_event *ev, FILE *f);
/* Mbufs not back in their pool; 0 when nothing leaked. */
unsigned int lg_stats_mbufs_in_use(const struct lg_gw *gw);

#endif /* LG_STATS_H */
