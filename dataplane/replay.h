/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef LG_REPLAY_H
#define LG_REPLAY_H

/*
 * The inbound anti-replay window, RFC 4303 §3.4.3 with the bitmap layout of
 * RFC 6479 (64-bit buckets, one spare so the window slides by bucket).
 *
 * Why our own: librte_ipsec 22.11 keeps a window too, but its commit step
 * computes the bucket bit in a 32-bit variable, so sequence numbers whose
 * low six bits are 32..63 are never marked as seen and their replays are
 * accepted (found by the interop replay test; seq 63, 1000, 4135 replays
 * passed). Its window still runs, since its ESN reconstruction feeds the ICV;
 * this one decides. Order: lg_replay_check before crypto, lg_replay_commit
 * only after the ICV verified (a forged high sequence number must not move
 * the window).
 *
 * Writers: the workers receiving on the SA. With one worker the window is
 * single-writer; with several, commits take the per-SA spinlock (decided at
 * SA creation) while checks stay lock-free: a stale check only lets a packet
 * reach the commit, which is exact.
 */

#include <stdbool.h>
#include <stdint.h>
#include <rte_spinlock.h>

struct lg_replay {
	uint64_t top;             /* highest committed sequence number */
	uint32_t win;             /* window size W in packets */
	uint32_t mask;            /* number of buckets - 1 */
	bool esn;
	bool shared;              /* commits lock */
	rte_spinlock_t lock;
	uint64_t bits[];          /* [mask + 1] */
};

/* control */
struct lg_replay *lg_replay_create(uint32_t win, bool esn, bool shared, int socket);
void lg_replay_free(struct lg_replay *r);

/* The full sequence number of a received low-order 32 bits (RFC 4303
 * Appendix A2.2: infer the high-order bits from the window position). */
static inline uint64_t
lg_replay_seq(const struct lg_replay *r, uint32_t lo)
{
	uint64_t top = __atomic_load_n(&r->top, __ATOMIC_RELAXED);
	uint32_t tl = (uint32_t)top, th = (uint32_t)(top >> 32);
	uint32_t bottom = tl - r->win + 1;   /* wraps when tl < W - 1 */

	if (!r->esn)
		return lo;
	if (tl >= r->win - 1)
		return (uint64_t)(lo >= bottom ? th : th + 1) << 32 | lo;
	return (uint64_t)(lo >= bottom && th > 0 ? th - 1 : th) << 32 | lo;
}

static inline bool
seen(const struct lg_replay *r, uint64_t seq)
{
	uint64_t b = __atomic_load_n(&r->bits[(seq >> 6) & r->mask], __ATOMIC_RELAXED);

	return (b >> (seq & 63)) & 1;
}

/* worker: true if seq may be new. */
static inline bool
lg_replay_check(const struct lg_replay *r, uint64_t seq)
{
	uint64_t top = __atomic_load_n(&r->top, __ATOMIC_RELAXED);

	if (seq == 0 || seq + r->win <= top)
		return false;
	return seq > top || !seen(r, seq);
}

static inline bool
commit_locked(struct lg_replay *r, uint64_t seq)
{
	uint64_t top = r->top, b, i, n, bit;

	if (seq == 0 || seq + r->win <= top)
		return false;
	if (seq > top) {
		/* Clear the buckets the window slides into. */
		n = (seq >> 6) - (top >> 6);
		if (n > (uint64_t)r->mask + 1)
			n = (uint64_t)r->mask + 1;
		for (i = 1; i <= n; i++)
			__atomic_store_n(&r->bits[((top >> 6) + i) & r->mask], 0,
					 __ATOMIC_RELAXED);
		__atomic_store_n(&r->top, seq, __ATOMIC_RELAXED);
	}
	b = (seq >> 6) & r->mask;
	bit = UINT64_C(1) << (seq & 63);
	if (r->bits[b] & bit)
		return false;
	__atomic_store_n(&r->bits[b], r->bits[b] | bit, __ATOMIC_RELAXED);
	return true;
}

/*
 * worker: commits after verified ICVs, false for a seq that is a replay
 * after all. A worker commits a whole run of one SA's packets under one
 * hold of the lock (taken only when several workers share the SA):
 * lg_replay_hold(), lg_replay_commit() for each, lg_replay_release().
 */
static inline void
lg_replay_hold(struct lg_replay *r)
{
	if (r->shared)
		rte_spinlock_lock(&r->lock);
}

static inline void
lg_replay_release(struct lg_replay *r)
{
	if (r->shared)
		rte_spinlock_unlock(&r->lock);
}

static inline bool
lg_replay_commit(struct lg_replay *r, uint64_t seq)
{
	return commit_locked(r, seq);
}

#endif /* LG_REPLAY_H */
