/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_hash_crc.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_pause.h>
#include <rte_prefetch.h>

#include "latch.h"

/* rte_hash with MULTI_WRITER_ADD keeps up to this many free slots per
 * lcore cache, so positions can exceed the requested capacity by it. */
#define HASH_LCORE_CACHE 64

struct lg_latch_table *
lg_latch_table_create(const char *name, uint32_t capacity, struct rte_rcu_qsbr *qs,
		      int socket)
{
	struct rte_hash_parameters prm = {
		.name = name, .entries = capacity, .key_len = sizeof(struct lg_flow_key),
		.hash_func = rte_hash_crc, .socket_id = socket,
		.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF |
			      RTE_HASH_EXTRA_FLAGS_MULTI_WRITER_ADD,
	};
	struct lg_latch_table *t;

	t = rte_zmalloc_socket(name, sizeof(*t), RTE_CACHE_LINE_SIZE, socket);
	if (t == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	t->capacity = capacity;
	t->slots = capacity + RTE_MAX_LCORE * HASH_LCORE_CACHE + 1;
	t->qs = qs;
	t->h = rte_hash_create(&prm);
	t->e = rte_zmalloc_socket(name, (size_t)t->slots * sizeof(t->e[0]),
				  RTE_CACHE_LINE_SIZE, socket);
	t->pend = rte_malloc_socket(name, (size_t)t->slots * sizeof(t->pend[0]), 0, socket);
	if (t->h == NULL || t->e == NULL || t->pend == NULL)
		goto fail;
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
	rte_hash_free(t->h);
	rte_free(t->e);
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

uint64_t
lg_latch_lookup_bulk(const struct lg_latch_table *t, const struct lg_flow_key *keys[],
		     uint32_t n, int32_t pos[])
{
	uint64_t hit = 0;
	uint32_t i;

	if (n == 0)
		return 0;
	if (rte_hash_lookup_bulk(t->h, (const void **)keys, n, pos) != 0)
		return 0;
	/* The caller reads every hit's entry next: start all the misses now
	 * rather than one at a time. */
	for (i = 0; i < n; i++) {
		if (pos[i] >= 0) {
			rte_prefetch0(&t->e[pos[i]]);
			hit |= 1ull << i;
		}
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

int32_t
lg_latch_create(struct lg_latch_table *t, const struct lg_flow_key *k,
		const struct lg_latch_init *init, bool *won)
{
	struct lg_latch *l;
	uint32_t cur = LG_LATCH_FREE;
	int32_t pos;

	*won = false;
	pos = rte_hash_add_key(t->h, k);
	if (pos < 0)
		return pos;                   /* -ENOSPC: the table is full */
	l = &t->e[pos];
	/* A fresh slot is FREE; a CLOSED latch of the same 5-tuple that the
	 * control thread has not removed yet is reborn as a new latch. */
	if (!__atomic_compare_exchange_n(&l->state, &cur, LG_LATCH_INIT, false,
					 __ATOMIC_ACQUIRE, __ATOMIC_RELAXED) &&
	    (cur != LG_LATCH_CLOSED ||
	     !__atomic_compare_exchange_n(&l->state, &cur, LG_LATCH_INIT, false,
					  __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)))
		return pos;                   /* another worker's latch */
	l->ident = init->ident;
	l->pset[0] = init->pset[0];
	l->pset[1] = init->pset[1];
	l->sa_slot = init->sa_slot;
	l->flags = init->flags;
	l->created_tsc = l->last_tsc = init->now_tsc;
	l->drops = 0;
	/* spd_cache: zero in a fresh slot (never a valid tag); a reborn
	 * CLOSED latch has the same 5-tuple, so its results still hold. */
	/* release: pairs with the acquire in lg_latch_state(). */
	__atomic_store_n(&l->state, init->state, __ATOMIC_RELEASE);
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
	int32_t pos = rte_hash_lookup(t->h, k);

	if (pos < 0)
		return -ENOENT;
	/* From the state the caller saw, straight to DELETING: a packet that
	 * would revive a CLOSED latch meanwhile loses this CAS or the next. */
	if (!lg_latch_transition(&t->e[pos], from, LG_LATCH_DELETING))
		return -EBUSY;
	if (rte_hash_del_key(t->h, k) < 0)
		return -ENOENT;
	/* Readers that found the key before it went may still use the entry:
	 * its slot waits for them (phase two, lg_latch_reclaim). */
	t->pend[(t->pend_head + t->pend_n) % t->slots] = (struct lg_latch_pending){
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
		rte_hash_free_key_with_position(t->h, (int32_t)p->pos);
		t->pend_head = (t->pend_head + 1) % t->slots;
		t->pend_n--;
		n++;
	}
	return n;
}

int
lg_latch_key(const struct lg_latch_table *t, uint32_t pos, struct lg_flow_key *k)
{
	void *kp;

	if (rte_hash_get_key_with_position(t->h, (int32_t)pos, &kp) != 0)
		return -ENOENT;
	memcpy(k, kp, sizeof(*k));
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
