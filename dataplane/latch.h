/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef LG_LATCH_H
#define LG_LATCH_H

/*
 * The latch table (RFC 5660 connection latching, LATCHING.md §1): one entry
 * per bidirectional flow, keyed by the normalised inner 5-tuple, holding the
 * id of the parameter set the flow was latched to.
 *
 * Our own table rather than rte_hash (which it replaced; bench_latch times
 * both): a packet's lookup reads one 64-byte line, the entry, which holds
 * the IPv4 key inline next to what the worker needs (state, identity,
 * parameter sets, flow cache). rte_hash reads a bucket, a key-store line
 * and then the entry: three misses per packet once the table outgrows the
 * caches. Layout: slots in buckets of LG_LATCH_BUCKET; a key lives in one
 * of two buckets chosen by a keyed hash (two choices, the emptier taken,
 * with a quarter of the slots spare: filling to capacity never found both
 * full in simulation; under churn at full capacity about 2 creations in
 * 100,000 do, and fail closed as a full table does); a parallel
 * array of 16-bit tags (2 bytes a slot, small enough to stay cached) is
 * compared 16 at a time before any entry is read. Entries never move.
 *
 * Concurrency. Readers (workers, control) are lock-free. Creation is
 * serialised per key by a spinlock striped by the key's first bucket (the
 * first packet of a flow only: two workers creating the same flow must
 * make one latch, item 4); a creator claims a free slot by CAS of its tag
 * (0 -> RESERVED), fills the entry and publishes it with a release store of
 * the tag. Deletion is two-phase: the control thread (the only deleter)
 * CASes the state to DELETING and sets the tag to DEAD (new lookups miss
 * it), queues the slot with a QSBR token, and lg_latch_reclaim() zeroes
 * the entry and frees the tag once every reader has passed a quiescent
 * point since.
 *
 * Entry state is the only field written after creation by more than one
 * thread: a CAS decides each transition, so exactly one thread observes it
 * and raises its notification. A CLOSED latch found again by its flow is
 * reborn by CAS CLOSED -> INIT, refilled, and published by a release store
 * of the state; readers that see INIT wait for that store (it is a few
 * instructions away on another worker).
 *
 * Fields: [I] immutable once published, [A] atomic, [W] written by any
 * worker with relaxed stores (counters, last-seen).
 */

#include <stdbool.h>
#include <stdint.h>
#include <rte_branch_prediction.h>
#include <rte_rcu_qsbr.h>
#include <rte_spinlock.h>

#include "pkt.h"

enum lg_latch_state {
	LG_LATCH_FREE = 0,        /* slot not in use (zeroed) */
	LG_LATCH_INIT,            /* being filled by its creator */
	LG_LATCH_LARVAL,          /* PROTECT policy, no SA yet */
	LG_LATCH_ESTABLISHED,
	LG_LATCH_BROKEN,
	LG_LATCH_CLOSED,
	LG_LATCH_DELETING,        /* control thread is removing it */
};

/*
 * Normalised bidirectional flow key: the (address, port) pair that sorts
 * lower comes first, so both directions of a flow give the same key. ICMP
 * echo uses its identifier as both ports; protocols without ports use 0.
 */
struct lg_flow_key {
	uint8_t af;               /* 4 or 6 */
	uint8_t proto;
	uint16_t port_lo, port_hi; /* network order */
	uint16_t pad;
	uint8_t lo[16], hi[16];   /* IPv4 in the first 4 bytes */
};
static_assert(sizeof(struct lg_flow_key) == 40, "flow key layout");

/*
 * What a flow is latched to (LATCHING.md §1.2): the peer identity, latched
 * by the first packet, and per direction the parameter set (mode, tunnel
 * endpoints, suite and key lengths, ESN) of the SAs carrying it. A
 * direction's set is learned by its first packet (0 until then, CAS), so
 * peers may negotiate different suites per direction; the identity never
 * changes. SPIs, keys and sequence numbers are not latched: a rekey into a
 * congruent SA is invisible.
 */
struct lg_latch {
	/* The key as lookups compare it: lg_flow_key's first word (af, proto,
	 * ports) and the first 4 bytes of each address (IPv4: all of it; an
	 * IPv6 key is compared whole in lg_latch_cold too). */
	uint64_t kw;              /* [I] */
	uint32_t lo4, hi4;        /* [I] */
	uint32_t state;           /* [A] enum lg_latch_state, CAS */
	uint32_t ident;           /* [I] interned peer identity */
	uint32_t pset[2];         /* [A] out, in: interned parameter sets, 0 = not yet */
	uint32_t sa_slot;         /* [I] SA the flow was latched on */
	uint32_t flags;           /* [A] e.g. FIN seen per direction */
	/* [W] out, in: the flow cache, the SPD result of this flow's packets
	 * tagged with the SPD's generation (worker.c, spd_stage) */
	uint64_t spd_cache[2];
	uint64_t last_tsc;        /* [W] */
} __rte_cache_aligned;
static_assert(sizeof(struct lg_latch) == 64, "one cache line per latch");

/* What an IPv4 packet does not read: beside the entry, same index; one
 * line, so an IPv6 lookup's whole-key compare reads one more line. */
struct lg_latch_cold {
	struct lg_flow_key key;   /* [I] the whole key (IPv6 compares, listings) */
	uint64_t created_tsc;     /* [I] */
	uint64_t drops;           /* [W] while BROKEN */
} __rte_cache_aligned;
static_assert(sizeof(struct lg_latch_cold) == 64, "one cache line per cold entry");

/* lg_latch.flags */
#define LG_LATCH_FIN_OUT 0x1u     /* TCP FIN seen outbound */
#define LG_LATCH_FIN_IN  0x2u     /* and inbound: ends after a linger */
#define LG_LATCH_LO_OUT  0x4u     /* key.lo is the source of outbound packets, */
#define LG_LATCH_LO_IN   0x10u    /* of inbound ones; each set with its pset */
#define LG_LATCH_HEAL    0x8u     /* BROKEN by a configuration change: may be
				   * restored when the conflict goes (item 23) */

struct lg_latch_init {
	uint32_t state;           /* LARVAL, ESTABLISHED or BROKEN (born broken) */
	uint32_t ident, pset[2], sa_slot;
	uint32_t flags;           /* LG_LATCH_LO_OUT or LG_LATCH_LO_IN */
	uint64_t now_tsc;
};

struct lg_latch_pending {
	uint64_t token;           /* rte_rcu_qsbr_start() at delete time */
	uint32_t pos;
};

#define LG_LATCH_BUCKET 16        /* slots per bucket: 16 tags = 32 bytes */
#define LG_LATCH_LOCKS 1024       /* creation lock stripes */

/* Creation locks, one a line: creators of unrelated flows do not share. */
struct lg_latch_lock {
	rte_spinlock_t l;
} __rte_cache_aligned;

struct lg_latch_table {
	/* Read by every lookup: nothing here is written after creation. */
	struct lg_latch *e;       /* [slots] */
	struct lg_latch_cold *cold; /* [slots] */
	uint16_t *tag;            /* [A] [slots]: 0 free, RESERVED, DEAD, or the key's tag */
	uint32_t nbuckets;        /* slots / LG_LATCH_BUCKET */
	uint32_t capacity;        /* flows */
	uint32_t slots;           /* every position is < slots */
	uint64_t seed[5];         /* [I] the hash key, random per table */
	struct lg_latch_lock *lock; /* [LG_LATCH_LOCKS]: creation, by first bucket */
	struct rte_rcu_qsbr *qs;  /* NULL: no reader runs concurrently (tests) */
	/* [A] created and not yet reclaimed (<= capacity): its own line, as
	 * every creation and reclaim writes it */
	uint32_t live __rte_cache_aligned;
	/* [C] deleted, waiting for the grace period: a FIFO of up to
	 * capacity, tokens ascend */
	struct lg_latch_pending *pend __rte_cache_aligned;
	uint32_t pend_head, pend_n;
};

/* control */
/* qs: the workers' QSBR variable (readers report quiescent states on it). */
struct lg_latch_table *lg_latch_table_create(const char *name, uint32_t capacity,
					     struct rte_rcu_qsbr *qs, int socket);
void lg_latch_table_free(struct lg_latch_table *t);
/* Delete a latch (CLOSED, by expiry or admin). Its slot is reused only
 * after a grace period. Returns 0, -ENOENT, or -EBUSY when not CLOSED. */
int lg_latch_delete(struct lg_latch_table *t, const struct lg_flow_key *k);
/* The same from state `from` (ESTABLISHED, BROKEN or CLOSED): the one CAS
 * that ends the latch. Returns 0, -ENOENT, or -EBUSY if it was not `from`. */
int lg_latch_remove(struct lg_latch_table *t, const struct lg_flow_key *k, uint32_t from);
/* Free the slots whose grace period has ended; returns how many. */
uint32_t lg_latch_reclaim(struct lg_latch_table *t);
/* Key of a latch, for listing; 0 or -ENOENT. */
int lg_latch_key(const struct lg_latch_table *t, uint32_t pos, struct lg_flow_key *k);

/* "ESTABLISHED", ...; for printers (latchctl, events). */
const char *lg_latch_state_name(uint32_t state);

/* worker */
/* Build the normalised key; *rev tells whether the packet runs hi -> lo. */
void lg_flow_key_make(struct lg_flow_key *fk, const union lg_key *k, bool is6, bool *rev);

/* Its IPv4 case, inline for the worker and stored as five words (a call, a
 * memset and two memcpy otherwise). ICMP echo request and reply share the
 * identifier; other types are keyed by type/code as the SPD saw them. */
static_assert(offsetof(struct lg_flow_key, lo) == 8 && offsetof(struct lg_flow_key, hi) == 24,
	      "lg_flow_key_make4 writes the key as words");
static inline void
lg_flow_key_make4(struct lg_flow_key *fk, const struct lg_key4 *k, bool *rev)
{
	uint32_t s = rte_be_to_cpu_32(k->src), d = rte_be_to_cpu_32(k->dst), t;
	uint16_t sp = k->sport, dp = k->dport, tp;
	uint64_t w[5];

	if ((k->proto == IPPROTO_ICMP || k->proto == IPPROTO_ICMPV6) && k->echo_id != 0)
		sp = dp = k->echo_id;
	*rev = s > d || (s == d && sp > dp);
	if (*rev) {
		t = s, s = d, d = t;
		tp = sp, sp = dp, dp = tp;
	}
	w[0] = 4u | (uint64_t)k->proto << 8 | (uint64_t)sp << 16 | (uint64_t)dp << 32;
	w[1] = rte_cpu_to_be_32(s);          /* network-order bytes, then zeros */
	w[2] = 0;
	w[3] = rte_cpu_to_be_32(d);
	w[4] = 0;
	memcpy(fk, w, sizeof(w));
}
/* pos[i] = entry index or -1. Returns the hit mask. n <= 64. Each hit's
 * entry line has been read (the key compare), so reading it next is a hit. */
uint64_t lg_latch_lookup_bulk(const struct lg_latch_table *t,
			      const struct lg_flow_key *keys[], uint32_t n, int32_t pos[]);
/*
 * Create the latch of a flow, or find the one another worker created first
 * (first writer wins, LATCHING.md item 4). Returns the entry index with
 * *won = true if this call created it, or -ENOSPC when the table is full
 * (the caller drops the packet: fail closed, item 8).
 */
int32_t lg_latch_create(struct lg_latch_table *t, const struct lg_flow_key *k,
			const struct lg_latch_init *init, bool *won);
/* The published state of an entry, waiting out a concurrent creation. */
uint32_t lg_latch_state_wait(const struct lg_latch_table *t, uint32_t pos);
static inline uint32_t
lg_latch_state(const struct lg_latch_table *t, uint32_t pos)
{
	/* acquire: pairs with the creator's release store of the state, so
	 * the fields it filled are visible once the state is. */
	uint32_t s = __atomic_load_n(&t->e[pos].state, __ATOMIC_ACQUIRE);

	return likely(s > LG_LATCH_INIT) ? s : lg_latch_state_wait(t, pos);
}
/* One transition by CAS; true for the single caller that made it. */
static inline bool
lg_latch_transition(struct lg_latch *l, uint32_t from, uint32_t to)
{
	/* acq_rel: the winner's notification must see the entry it changed,
	 * and later readers of the state see what the winner wrote before. */
	return __atomic_compare_exchange_n(&l->state, &from, to, false,
					   __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

#endif /* LG_LATCH_H */
