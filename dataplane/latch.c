/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include <rte_debug.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_pause.h>
#include <rte_prefetch.h>
#include <rte_random.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "latch.h"

/* Tag values that no key has (a key's tag is 1..TAG_MAX). */
#define TAG_FREE     0
#define TAG_DEAD     0xfffe       /* deleted, waiting for its grace period */
#define TAG_RESERVED 0xffff       /* claimed, being filled */
#define TAG_MAX      0xfffd

/* Where a key may live: its two buckets and its tag. */
struct where {
	uint32_t b[2];
	uint16_t tag;
};

/*
 * A keyed hash (NH, the UMAC inner hash: almost universal, so without the
 * table's random key nobody can choose flows that share buckets), then a
 * 64-bit finaliser (MurmurHash3's fmix64) so that every output bit depends
 * on every input bit. An IPv4 key is its first word and the two addresses:
 * NH over those four 32-bit halves, two multiplies; an IPv6 key, NH over
 * its five words. A key's family picks its function, so each key always
 * hashes alike.
 */
static inline uint64_t
nh(uint64_t w, uint64_t seed)
{
	return (uint64_t)(uint32_t)((uint32_t)w + (uint32_t)seed) *
	       (uint32_t)((uint32_t)(w >> 32) + (uint32_t)(seed >> 32));
}

/* The key as an entry holds it: its first word (af, proto, ports) and the
 * first 4 bytes of each address, the whole of an IPv4 key. */
struct ekey {
	uint64_t kw;
	uint32_t lo4, hi4;
};

static inline struct ekey
ekey_of(const struct lg_flow_key *k)
{
	struct ekey x;

	memcpy(&x.kw, k, sizeof(x.kw));
	memcpy(&x.lo4, k->lo, sizeof(x.lo4));
	memcpy(&x.hi4, k->hi, sizeof(x.hi4));
	return x;
}

static inline uint64_t
flow_hash(const struct lg_latch_table *t, const struct lg_flow_key *k)
{
	uint64_t h;

	if (likely(k->af == 4)) {
		struct ekey x = ekey_of(k);

		h = nh(x.kw, t->seed[0]) + nh(x.lo4 | (uint64_t)x.hi4 << 32, t->seed[1]);
	} else {
		uint64_t w[5];

		memcpy(w, k, sizeof(w));
		h = nh(w[0], t->seed[0]) + nh(w[1], t->seed[1]) + nh(w[2], t->seed[2]) +
		    nh(w[3], t->seed[3]) + nh(w[4], t->seed[4]);
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 33);
}

/* Buckets from the top bits of each half (multiply-shift: any bucket
 * count), the tag from the low bits of the high half: the first bucket
 * does not depend on them at all, the second only in a table of over
 * 65,536 buckets, and then on a few (keys of one bucket would share those
 * tag bits; it costs a rare extra entry read, not a miss). */
static inline void
where_of(const struct lg_latch_table *t, const struct lg_flow_key *k, struct where *w)
{
	uint64_t h = flow_hash(t, k);
	uint32_t tag = (uint16_t)(h >> 32);

	w->b[0] = (uint32_t)(((h & 0xffffffffu) * t->nbuckets) >> 32);
	w->b[1] = (uint32_t)(((h >> 32) * t->nbuckets) >> 32);
	if (w->b[1] == w->b[0])
		w->b[1] = w->b[0] + 1 == t->nbuckets ? 0 : w->b[0] + 1;
	w->tag = (uint16_t)(tag == TAG_FREE ? 1 : tag > TAG_MAX ? TAG_MAX : tag);
}

/* Bit i set: slot i of the bucket holds tag. Tags change under us only
 * by whole aligned 16-bit stores: each lane reads old or new. */
static inline uint32_t
tag_match(const uint16_t *bucket, uint16_t tag)
{
#ifdef __SSE2__
	__m128i v = _mm_set1_epi16((short)tag);
	__m128i a = _mm_cmpeq_epi16(_mm_load_si128((const __m128i *)bucket), v);
	__m128i b = _mm_cmpeq_epi16(_mm_load_si128((const __m128i *)bucket + 1), v);

	return (uint32_t)_mm_movemask_epi8(_mm_packs_epi16(a, b));
#else
	uint32_t i, m = 0;

	for (i = 0; i < LG_LATCH_BUCKET; i++)
		m |= (uint32_t)(__atomic_load_n(&bucket[i], __ATOMIC_RELAXED) == tag) << i;
	return m;
#endif
}

static inline const uint16_t *
bucket_tags(const struct lg_latch_table *t, uint32_t b)
{
	return t->tag + (size_t)b * LG_LATCH_BUCKET;
}

/* Bits 0-15: the slots of bucket b[0] holding w's tag; 16-31: of b[1]. */
static inline uint32_t
candidates(const struct lg_latch_table *t, const struct where *w)
{
	return tag_match(bucket_tags(t, w->b[0]), w->tag) |
	       tag_match(bucket_tags(t, w->b[1]), w->tag) << 16;
}

/* The slot of candidate bit `bit`. */
static inline uint32_t
cand_slot(const struct where *w, uint32_t bit)
{
	return w->b[bit >> 4] * LG_LATCH_BUCKET + (bit & 15);
}

static inline bool
key_eq(const struct lg_latch_table *t, uint32_t s, const struct lg_flow_key *k)
{
	const struct lg_latch *e = &t->e[s];
	struct ekey x = ekey_of(k);

	if (e->kw != x.kw || e->lo4 != x.lo4 || e->hi4 != x.hi4)
		return false;
	return k->af != 6 || memcmp(&t->cold[s].key, k, sizeof(*k)) == 0;
}

/*
 * The slot of k among the candidates m, or -1. The tags were compared
 * with vector loads; the candidate's tag is read again with acquire, which
 * pairs with the creator's release store and orders the entry's reads
 * after it (a plain load on x86, where the line is in the cache already).
 */
static inline int32_t
match(const struct lg_latch_table *t, const struct lg_flow_key *k, const struct where *w,
      uint32_t m)
{
	while (m != 0) {
		uint32_t s = cand_slot(w, (uint32_t)__builtin_ctz(m));

		if (__atomic_load_n(&t->tag[s], __ATOMIC_ACQUIRE) == w->tag && key_eq(t, s, k))
			return (int32_t)s;
		m &= m - 1;
	}
	return -1;
}

static inline int32_t
find(const struct lg_latch_table *t, const struct lg_flow_key *k, const struct where *w)
{
	return match(t, k, w, candidates(t, w));
}

struct lg_latch_table *
lg_latch_table_create(const char *name, uint32_t capacity, struct rte_rcu_qsbr *qs,
		      int socket)
{
	struct lg_latch_table *t;
	uint64_t nb;
	uint32_t i;

	/* A quarter spare: filled to capacity with two choices, no bucket
	 * filled (simulated to 1 M flows: the fullest held 15 of 16). */
	nb = ((uint64_t)capacity * 5 / 4 + LG_LATCH_BUCKET - 1) / LG_LATCH_BUCKET;
	if (nb < 2)
		nb = 2;
	if (capacity == 0 || nb * LG_LATCH_BUCKET > INT32_MAX) {
		rte_errno = EINVAL;
		return NULL;
	}
	t = rte_zmalloc_socket(name, sizeof(*t), RTE_CACHE_LINE_SIZE, socket);
	if (t == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	t->capacity = capacity;
	t->nbuckets = (uint32_t)nb;
	t->slots = (uint32_t)nb * LG_LATCH_BUCKET;
	t->qs = qs;
	/* The hash key is what keeps flows from being chosen to share
	 * buckets: from the kernel's generator, rte_rand (an LFSR) if that
	 * fails. */
	if (getrandom(t->seed, sizeof(t->seed), 0) != (ssize_t)sizeof(t->seed))
		for (i = 0; i < RTE_DIM(t->seed); i++)
			t->seed[i] = rte_rand();
	t->e = rte_zmalloc_socket(name, (size_t)t->slots * sizeof(t->e[0]),
				  RTE_CACHE_LINE_SIZE, socket);
	t->cold = rte_zmalloc_socket(name, (size_t)t->slots * sizeof(t->cold[0]),
				     RTE_CACHE_LINE_SIZE, socket);
	t->tag = rte_zmalloc_socket(name, (size_t)t->slots * sizeof(t->tag[0]),
				    RTE_CACHE_LINE_SIZE, socket);
	t->lock = rte_zmalloc_socket(name, LG_LATCH_LOCKS * sizeof(t->lock[0]),
				     RTE_CACHE_LINE_SIZE, socket);
	/* Deleted entries still count as live: never more than capacity. */
	t->pend = rte_malloc_socket(name, (size_t)capacity * sizeof(t->pend[0]), 0, socket);
	if (t->e == NULL || t->cold == NULL || t->tag == NULL || t->lock == NULL ||
	    t->pend == NULL)
		goto fail;
	for (i = 0; i < LG_LATCH_LOCKS; i++)
		rte_spinlock_init(&t->lock[i].l);
	return t;
fail:
	lg_latch_table_free(t);
	rte_errno = ENOMEM;
	return NULL;
}

void
lg_latch_table_free(struct lg_latch_table *t)
{
	if (t == NULL)
		return;
	rte_free(t->e);
	rte_free(t->cold);
	rte_free(t->tag);
	rte_free(t->lock);
	rte_free(t->pend);
	rte_free(t);
}

/* IPv6 address order is memcmp order: big-endian halves compared as
 * numbers, no call. */
static inline int
addr6_cmp(const uint8_t *a, const uint8_t *b)
{
	uint64_t x, y;

	memcpy(&x, a, 8);
	memcpy(&y, b, 8);
	if (x == y) {
		memcpy(&x, a + 8, 8);
		memcpy(&y, b + 8, 8);
	}
	x = rte_be_to_cpu_64(x);
	y = rte_be_to_cpu_64(y);
	return (x > y) - (x < y);
}

void
lg_flow_key_make(struct lg_flow_key *fk, const union lg_key *k, bool is6, bool *rev)
{
	const struct lg_key6 *k6 = &k->k6;
	const uint8_t *s = k6->src, *d = k6->dst;
	uint16_t sp = k6->sport, dp = k6->dport;
	int c;

	if (!is6) {
		lg_flow_key_make4(fk, &k->k4, rev);
		return;
	}
	memset(fk, 0, sizeof(*fk));
	fk->af = 6;
	fk->proto = k6->proto;
	/* As lg_flow_key_make4: an echo flow is keyed by its identifier. */
	if ((k6->proto == IPPROTO_ICMP || k6->proto == IPPROTO_ICMPV6) && k6->echo_id != 0)
		sp = dp = k6->echo_id;
	c = addr6_cmp(s, d);
	*rev = c > 0 || (c == 0 && sp > dp);
	memcpy(fk->lo, *rev ? d : s, 16);
	memcpy(fk->hi, *rev ? s : d, 16);
	fk->port_lo = *rev ? dp : sp;
	fk->port_hi = *rev ? sp : dp;
}

/*
 * Three passes over the burst, so that each level's misses overlap: hash
 * and prefetch both tag buckets; compare tags and prefetch the first
 * candidate's entry; compare keys.
 */
uint64_t
lg_latch_lookup_bulk(const struct lg_latch_table *t, const struct lg_flow_key *keys[],
		     uint32_t n, int32_t pos[])
{
	struct where w[64];
	uint32_t m[64], i;
	uint64_t hit = 0;

	RTE_ASSERT(n <= 64);
	for (i = 0; i < n; i++) {
		where_of(t, keys[i], &w[i]);
		rte_prefetch0(bucket_tags(t, w[i].b[0]));
		rte_prefetch0(bucket_tags(t, w[i].b[1]));
	}
	for (i = 0; i < n; i++) {
		m[i] = candidates(t, &w[i]);
		if (m[i] != 0) {
			uint32_t s = cand_slot(&w[i], (uint32_t)__builtin_ctz(m[i]));

			rte_prefetch0(&t->e[s]);
			if (keys[i]->af == 6)
				rte_prefetch0(&t->cold[s]);
		}
	}
	for (i = 0; i < n; i++) {
		pos[i] = m[i] != 0 ? match(t, keys[i], &w[i], m[i]) : -1;
		hit |= (uint64_t)(pos[i] >= 0) << i;
	}
	return hit;
}

uint32_t
lg_latch_state_wait(const struct lg_latch_table *t, uint32_t pos)
{
	uint32_t s;

	while ((s = __atomic_load_n(&t->e[pos].state, __ATOMIC_ACQUIRE)) == LG_LATCH_INIT ||
	       s == LG_LATCH_FREE)
		rte_pause();
	return s;
}

/* Claim a free slot in the emptier of w's buckets (CAS of its tag: a
 * creator of another key may race us for it). -1: both are full. */
static int32_t
claim(struct lg_latch_table *t, const struct where *w)
{
	for (;;) {
		uint32_t f0 = tag_match(bucket_tags(t, w->b[0]), TAG_FREE);
		uint32_t f1 = tag_match(bucket_tags(t, w->b[1]), TAG_FREE);
		uint32_t b = __builtin_popcount(f1) > __builtin_popcount(f0);
		uint32_t f = b ? f1 : f0, s;
		uint16_t free_tag = TAG_FREE;

		if (f == 0)
			return -1;
		s = w->b[b] * LG_LATCH_BUCKET + (uint32_t)__builtin_ctz(f);
		/* acquire: pairs with lg_latch_reclaim's release of the slot,
		 * whose zeroing must not land on what we write next. */
		if (__atomic_compare_exchange_n(&t->tag[s], &free_tag, TAG_RESERVED, false,
						__ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return (int32_t)s;
	}
}

static void
fill(struct lg_latch_table *t, uint32_t s, const struct lg_latch_init *init)
{
	struct lg_latch *l = &t->e[s];

	l->ident = init->ident;
	l->pset[0] = init->pset[0];
	l->pset[1] = init->pset[1];
	l->sa_slot = init->sa_slot;
	l->flags = init->flags;
	l->last_tsc = init->now_tsc;
	t->cold[s].created_tsc = init->now_tsc;
	t->cold[s].drops = 0;
}

/* A CLOSED latch of the same 5-tuple that the control thread has not
 * removed yet is reborn as a new latch; any other state is another
 * worker's latch. spd_cache stays: the same 5-tuple, the same results. */
static int32_t
revive(struct lg_latch_table *t, int32_t pos, const struct lg_latch_init *init, bool *won)
{
	struct lg_latch *l = &t->e[pos];
	uint32_t cur = LG_LATCH_CLOSED;

	if (!__atomic_compare_exchange_n(&l->state, &cur, LG_LATCH_INIT, false,
					 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return pos;
	fill(t, (uint32_t)pos, init);
	/* release: pairs with the acquire in lg_latch_state(). */
	__atomic_store_n(&l->state, init->state, __ATOMIC_RELEASE);
	*won = true;
	return pos;
}

int32_t
lg_latch_create(struct lg_latch_table *t, const struct lg_flow_key *k,
		const struct lg_latch_init *init, bool *won)
{
	rte_spinlock_t *lock;
	struct lg_latch *l;
	struct where w;
	struct ekey x;
	int32_t pos;

	*won = false;
	where_of(t, k, &w);
	lock = &t->lock[w.b[0] % LG_LATCH_LOCKS].l;
	/* Every creator of this key takes this lock: the one that finds no
	 * latch under it makes the only one (item 4). */
	rte_spinlock_lock(lock);
	pos = find(t, k, &w);
	if (pos >= 0) {
		rte_spinlock_unlock(lock);
		return revive(t, pos, init, won);
	}
	if (__atomic_fetch_add(&t->live, 1, __ATOMIC_RELAXED) >= t->capacity ||
	    (pos = claim(t, &w)) < 0) {
		__atomic_fetch_sub(&t->live, 1, __ATOMIC_RELAXED);
		rte_spinlock_unlock(lock);
		return -ENOSPC;                   /* the table is full: fail closed */
	}
	l = &t->e[pos];
	x = ekey_of(k);
	l->kw = x.kw;
	l->lo4 = x.lo4;
	l->hi4 = x.hi4;
	t->cold[pos].key = *k;
	fill(t, (uint32_t)pos, init);
	__atomic_store_n(&l->state, init->state, __ATOMIC_RELAXED);
	/* release: the entry is complete before any lookup can find it. */
	__atomic_store_n(&t->tag[pos], w.tag, __ATOMIC_RELEASE);
	rte_spinlock_unlock(lock);
	*won = true;
	return pos;
}

int
lg_latch_delete(struct lg_latch_table *t, const struct lg_flow_key *k)
{
	return lg_latch_remove(t, k, LG_LATCH_CLOSED);
}

int
lg_latch_remove(struct lg_latch_table *t, const struct lg_flow_key *k, uint32_t from)
{
	struct where w;
	int32_t pos;

	where_of(t, k, &w);
	pos = find(t, k, &w);
	if (pos < 0)
		return -ENOENT;
	/* From the state the caller saw, straight to DELETING: a packet that
	 * would revive a CLOSED latch meanwhile loses this CAS or the next. */
	if (!lg_latch_transition(&t->e[pos], from, LG_LATCH_DELETING))
		return -EBUSY;
	/* New lookups miss it from here; readers that found it before may
	 * still use the entry: its slot waits for them (lg_latch_reclaim). */
	__atomic_store_n(&t->tag[pos], TAG_DEAD, __ATOMIC_RELAXED);
	t->pend[(t->pend_head + t->pend_n) % t->capacity] = (struct lg_latch_pending){
		.token = t->qs != NULL ? rte_rcu_qsbr_start(t->qs) : 0, .pos = (uint32_t)pos,
	};
	t->pend_n++;
	return 0;
}

uint32_t
lg_latch_reclaim(struct lg_latch_table *t)
{
	uint32_t n = 0;

	while (t->pend_n > 0) {
		const struct lg_latch_pending *p = &t->pend[t->pend_head];

		if (t->qs != NULL && rte_rcu_qsbr_check(t->qs, p->token, false) != 1)
			break;
		memset(&t->e[p->pos], 0, sizeof(t->e[0]));
		memset(&t->cold[p->pos], 0, sizeof(t->cold[0]));
		/* release: pairs with claim()'s acquire. */
		__atomic_store_n(&t->tag[p->pos], TAG_FREE, __ATOMIC_RELEASE);
		__atomic_fetch_sub(&t->live, 1, __ATOMIC_RELAXED);
		t->pend_head = (t->pend_head + 1) % t->capacity;
		t->pend_n--;
		n++;
	}
	return n;
}

int
lg_latch_key(const struct lg_latch_table *t, uint32_t pos, struct lg_flow_key *k)
{
	uint16_t tag = __atomic_load_n(&t->tag[pos], __ATOMIC_ACQUIRE);

	if (tag == TAG_FREE || tag > TAG_MAX)
		return -ENOENT;
	*k = t->cold[pos].key;
	return 0;
}

const char *
lg_latch_state_name(uint32_t state)
{
	static const char *const names[] = {
		[LG_LATCH_FREE] = "FREE", [LG_LATCH_INIT] = "INIT", [LG_LATCH_LARVAL] = "LARVAL",
		[LG_LATCH_ESTABLISHED] = "ESTABLISHED", [LG_LATCH_BROKEN] = "BROKEN",
		[LG_LATCH_CLOSED] = "CLOSED", [LG_LATCH_DELETING] = "DELETING",
	};

	return state < RTE_DIM(names) ? names[state] : "?";
}
