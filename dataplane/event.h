/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef LG_EVENT_H
#define LG_EVENT_H

/*
 * Latch events: fixed records that workers (and the control thread itself)
 * put on one bounded MP/SC ring; the control thread drains it and fans the
 * notifications out (log, `latchctl monitor` subscribers, counters). A
 * worker never waits: when the ring is full the event is counted as lost
 * (lg_lcore_stats.event_overflow) and the latch state is still right.
 *
 * Exactly one event per transition: only the CAS winner raises it.
 */

#include <stdint.h>
#include <rte_cycles.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "latch.h"
#include "sa.h"

enum lg_event_reason {
	LG_REASON_SA_CONFLICT = 1,   /* other parameters on this flow's SA */
	LG_REASON_INBOUND_MISMATCH,  /* inbound on an SA of another identity */
	LG_REASON_SPD_CHANGE,        /* the flow now falls to BYPASS */
	LG_REASON_ADMIN,
	LG_REASON_IDLE,
	LG_REASON_TCP_CLOSE,
	LG_REASON_BROKEN_TIMEOUT,    /* on_break: close, BROKEN for close_after */
	LG_REASON_RESTORED,          /* the conflict is gone (item 23) */
};

enum lg_event_kind {
	LG_EVENT_LATCH = 0,          /* one latch's transition */
	LG_EVENT_SUMMARY,            /* one configuration change: count latches
				      * moved to new_state (LATCHING.md item 24) */
};

struct lg_event {
	uint64_t tsc;
	struct lg_flow_key key;
	uint32_t latch_id;
	uint8_t old_state, new_state;  /* enum lg_latch_state */
	uint8_t reason;                /* enum lg_event_reason */
	uint8_t dir;                   /* 0 outbound, 1 inbound */
	uint32_t ident, pset;          /* latched: identity, this direction's set */
	uint32_t sa_slot;              /* latched on */
	uint32_t new_ident, new_pset;  /* the conflicting ones (0 = none) */
	uint32_t new_sa_slot;          /* UINT32_MAX = none */
	uint32_t new_spi;              /* of the conflicting SA */
	uint32_t count;                /* SUMMARY */
	uint32_t change;               /* SUMMARY: the change's number */
	uint8_t kind;                  /* enum lg_event_kind */
	uint8_t pad[3];
};
static_assert(sizeof(struct lg_event) % 4 == 0, "rte_ring element size");

/* A transition of latch l at position pos, by a packet of direction dir on
 * now (NULL for none: an admin or timer transition, or BYPASS), or by a
 * configuration change that would put the flow on now. */
static inline void
lg_event_fill(struct lg_event *ev, const struct lg_latch *l, const struct lg_flow_key *k,
	      uint32_t pos, uint8_t from, uint8_t to, uint8_t reason, int dir,
	      const struct lg_sa *now)
{
	*ev = (struct lg_event){
		.tsc = rte_rdtsc(), .key = *k, .latch_id = pos, .old_state = from,
		.new_state = to, .reason = reason, .dir = (uint8_t)dir, .ident = l->ident,
		.pset = l->pset[dir], .sa_slot = l->sa_slot,
		.new_ident = now ? now->ident : 0, .new_pset = now ? now->pset : 0,
		.new_sa_slot = now ? now->slot : UINT32_MAX, .new_spi = now ? now->spi : 0,
	};
}

/* control */
struct rte_ring *lg_event_ring_create(const char *name, uint32_t count, int socket);

/* worker or control: false when the ring is full (the caller counts it). */
static inline bool
lg_event_put(struct rte_ring *r, const struct lg_event *ev)
{
	return rte_ring_mp_enqueue_elem(r, (void *)(uintptr_t)ev, sizeof(*ev)) == 0;
}

/* The one event of a transition the caller won, put on the ring without
 * waiting; *lost counts it when the ring is full. */
static inline void
lg_event_raise(struct rte_ring *r, const struct lg_latch *l, const struct lg_flow_key *k,
	       uint32_t pos, uint8_t from, uint8_t to, uint8_t reason, int dir,
	       const struct lg_sa *now, uint64_t *lost)
{
	struct lg_event ev;

	lg_event_fill(&ev, l, k, pos, from, to, reason, dir, now);
	if (!lg_event_put(r, &ev))
		(*lost)++;
}

#endif /* LG_EVENT_H */
