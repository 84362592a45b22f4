/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The latch table: key normalisation, first writer wins, full table fails
 * closed, two-phase delete with QSBR; and a concurrency test of several
 * lcores creating, looking up, breaking and restoring latches at once,
 * checked against a naive reference model (a map under a lock).
 */
#include <CUnit/Basic.h>
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_random.h>
#include <rte_rcu_qsbr.h>
#include <rte_spinlock.h>

#include "harness.h"
#include "latch.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static struct rte_rcu_qsbr *qs;
static struct lg_latch_table *ct;        /* the concurrency tests' table */

static void
key_of(uint32_t i, struct lg_flow_key *k)
{
	memset(k, 0, sizeof(*k));
	k->af = 4;
	k->proto = IPPROTO_UDP;
	k->lo[0] = 10;
	k->lo[2] = (uint8_t)(i >> 8);
	k->lo[3] = (uint8_t)i;
	k->hi[0] = 10;
	k->hi[1] = 1;
	k->hi[2] = (uint8_t)(i >> 16);
	k->port_lo = htons((uint16_t)(1024 + (i & 0x3ff)));
	k->port_hi = htons(53);
}

static union lg_key
pkt_key(const char *src, uint16_t sp, const char *dst, uint16_t dp, uint8_t proto)
{
	union lg_key k;

	memset(&k, 0, sizeof(k));
	k.k4.proto = proto;
	inet_pton(AF_INET, src, &k.k4.src);
	inet_pton(AF_INET, dst, &k.k4.dst);
	k.k4.sport = htons(sp);
	k.k4.dport = htons(dp);
	return k;
}

/* LATCHING.md item 3: both directions of a flow find the same key. */
static void
test_both_directions_give_one_key(void)
{
	union lg_key a = pkt_key("192.168.1.9", 40000, "192.168.2.7", 443, IPPROTO_TCP);
	union lg_key b = pkt_key("192.168.2.7", 443, "192.168.1.9", 40000, IPPROTO_TCP);
	union lg_key c = pkt_key("192.168.2.7", 444, "192.168.1.9", 40000, IPPROTO_TCP);
	struct lg_flow_key ka, kb, kc;
	bool ra, rb, rc;

	lg_flow_key_make(&ka, &a, false, &ra);
	lg_flow_key_make(&kb, &b, false, &rb);
	lg_flow_key_make(&kc, &c, false, &rc);
	CU_ASSERT_EQUAL(memcmp(&ka, &kb, sizeof(ka)), 0);
	CU_ASSERT_NOT_EQUAL(ra, rb);
	CU_ASSERT_NOT_EQUAL(memcmp(&ka, &kc, sizeof(ka)), 0);
}

static union lg_key
pkt_key6(const char *src, uint16_t sp, const char *dst, uint16_t dp)
{
	union lg_key k;

	memset(&k, 0, sizeof(k));
	k.k6.proto = IPPROTO_UDP;
	inet_pton(AF_INET6, src, k.k6.src);
	inet_pton(AF_INET6, dst, k.k6.dst);
	k.k6.sport = htons(sp);
	k.k6.dport = htons(dp);
	return k;
}

/* IPv6, addresses that differ only in the second half, and a flow between
 * two ports of one address: one key per flow, lower (address, port) first
 * in memcmp order of the address bytes. */
static void
test_both_directions_ipv6_and_ports(void)
{
	union lg_key a = pkt_key6("2001:db8::2:1", 5000, "2001:db8::1:ffff", 53);
	union lg_key b = pkt_key6("2001:db8::1:ffff", 53, "2001:db8::2:1", 5000);
	union lg_key c = pkt_key("10.0.0.1", 2000, "10.0.0.1", 1000, IPPROTO_UDP);
	union lg_key d = pkt_key("10.0.0.1", 1000, "10.0.0.1", 2000, IPPROTO_UDP);
	union lg_key e = pkt_key("9.255.255.255", 1, "10.0.0.0", 1, IPPROTO_UDP);
	struct lg_flow_key ka, kb, kc, kd, ke;
	uint8_t lo[16];
	bool ra, rb, rc, rd, re;

	lg_flow_key_make(&ka, &a, true, &ra);
	lg_flow_key_make(&kb, &b, true, &rb);
	CU_ASSERT_EQUAL(memcmp(&ka, &kb, sizeof(ka)), 0);
	CU_ASSERT(ra && !rb);
	inet_pton(AF_INET6, "2001:db8::1:ffff", lo);
	CU_ASSERT_EQUAL(memcmp(ka.lo, lo, 16), 0);
	CU_ASSERT_EQUAL(ka.af, 6);
	lg_flow_key_make(&kc, &c, false, &rc);
	lg_flow_key_make(&kd, &d, false, &rd);
	CU_ASSERT_EQUAL(memcmp(&kc, &kd, sizeof(kc)), 0);
	CU_ASSERT_NOT_EQUAL(rc, rd);
	/* 9.255.255.255 < 10.0.0.0 as bytes, whatever the host's word order */
	lg_flow_key_make(&ke, &e, false, &re);
	CU_ASSERT(!re);
	CU_ASSERT_EQUAL(ke.lo[0], 9);
}

/* ICMP echo request and reply: keyed by the identifier. */
static void
test_icmp_echo_pairs_by_identifier(void)
{
	union lg_key req = pkt_key("192.168.1.9", 8, "192.168.2.7", 0, IPPROTO_ICMP);
	union lg_key rep = pkt_key("192.168.2.7", 0, "192.168.1.9", 0, IPPROTO_ICMP);
	struct lg_flow_key a, b;
	bool r;

	req.k4.echo_id = rep.k4.echo_id = htons(0x1234);
	lg_flow_key_make(&a, &req, false, &r);
	lg_flow_key_make(&b, &rep, false, &r);
	CU_ASSERT_EQUAL(memcmp(&a, &b, sizeof(a)), 0);
}

static void
test_first_writer_wins(void)
{
	struct lg_latch_table *t = lg_latch_table_create("t_fww", 1024, NULL, SOCKET_ID_ANY);
	struct lg_latch_init a = { .state = LG_LATCH_ESTABLISHED, .ident = 7 };
	struct lg_latch_init b = { .state = LG_LATCH_ESTABLISHED, .ident = 9 };
	struct lg_flow_key k;
	const struct lg_flow_key *kp[1] = { &k };
	int32_t p1, p2, pos[1];
	bool w1, w2;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	key_of(1, &k);
	p1 = lg_latch_create(t, &k, &a, &w1);
	p2 = lg_latch_create(t, &k, &b, &w2);
	CU_ASSERT_TRUE(p1 >= 0 && w1);
	CU_ASSERT_EQUAL(p2, p1);
	CU_ASSERT_FALSE(w2);
	CU_ASSERT_EQUAL(t->e[p1].ident, 7);
	CU_ASSERT_EQUAL(lg_latch_lookup_bulk(t, kp, 1, pos), 1);
	CU_ASSERT_EQUAL(pos[0], p1);
	CU_ASSERT_EQUAL(lg_latch_state(t, (uint32_t)p1), LG_LATCH_ESTABLISHED);
	lg_latch_table_free(t);
}

/* LATCHING.md item 8: a full table refuses new flows (the caller drops). */
static void
test_full_table_fails_closed(void)
{
	enum { CAP = 512 };
	struct lg_latch_table *t = lg_latch_table_create("t_full", CAP, NULL, SOCKET_ID_ANY);
	struct lg_latch_init in = { .state = LG_LATCH_ESTABLISHED, .ident = 1 };
	struct lg_flow_key k;
	uint32_t i, made = 0;
	int32_t rc = 0;
	bool won;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	for (i = 0; i < t->slots + 16 && rc >= 0; i++) {
		key_of(i, &k);
		rc = lg_latch_create(t, &k, &in, &won);
		made += rc >= 0;
		CU_ASSERT_TRUE(rc < 0 || (uint32_t)rc < t->slots);
	}
	CU_ASSERT_EQUAL(rc, -ENOSPC);
	CU_ASSERT_EQUAL(made, CAP);
	lg_latch_table_free(t);
}

/*
 * The entry holds an IPv6 key's first 4 bytes of each address only: flows
 * that agree there (and in ports) are told apart by the whole key. With
 * the hash key zeroed, NH multiplies address bytes 8-11 by 12-15, so flows
 * that differ only in bytes 12-15 (8-11 zero) hash alike: same buckets,
 * same tag. 32 of them fill both buckets, each found at its own position;
 * a 33rd fails closed (both buckets full, far below capacity).
 */
static void
test_ipv6_keys_compared_whole(void)
{
	enum { N = 2 * LG_LATCH_BUCKET };
	struct lg_latch_table *t = lg_latch_table_create("t_v6", 1024, NULL, SOCKET_ID_ANY);
	struct lg_latch_init in = { .state = LG_LATCH_ESTABLISHED, .ident = 5 };
	struct lg_flow_key k[N + 1];
	const struct lg_flow_key *kp[N];
	int32_t made[N], pos[N];
	uint32_t i, found = 0;
	bool won;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	memset(t->seed, 0, sizeof(t->seed));
	for (i = 0; i <= N; i++) {
		memset(&k[i], 0, sizeof(k[i]));
		k[i].af = 6;
		k[i].proto = IPPROTO_TCP;
		k[i].port_lo = htons(443);
		k[i].port_hi = htons(50000);
		inet_pton(AF_INET6, "2001:db8::1", k[i].lo);
		inet_pton(AF_INET6, "2001:db8:ffff::2", k[i].hi);
		k[i].lo[13] = (uint8_t)(i + 1);
	}
	for (i = 0; i < N; i++) {
		made[i] = lg_latch_create(t, &k[i], &in, &won);
		CU_ASSERT_TRUE(made[i] >= 0 && won);
		kp[i] = &k[i];
	}
	CU_ASSERT_EQUAL(lg_latch_lookup_bulk(t, kp, N, pos), (1ull << N) - 1);
	for (i = 0; i < N; i++)
		found += pos[i] == made[i];
	CU_ASSERT_EQUAL(found, N);
	kp[0] = &k[N];                       /* the same pattern, never added */
	CU_ASSERT_EQUAL(lg_latch_lookup_bulk(t, kp, 1, pos), 0);
	CU_ASSERT_EQUAL(lg_latch_create(t, &k[N], &in, &won), -ENOSPC);
	lg_latch_table_free(t);
}

/* Two-phase delete: only CLOSED latches go; the slot comes back FREE after
 * a grace period; the same 5-tuple then gets a fresh latch (item 25). */
static void
test_delete_after_grace_period(void)
{
	struct lg_latch_table *t = lg_latch_table_create("t_del", 1024, qs, SOCKET_ID_ANY);
	struct lg_latch_init a = { .state = LG_LATCH_ESTABLISHED, .ident = 3 };
	struct lg_latch_init b = { .state = LG_LATCH_ESTABLISHED, .ident = 4 };
	struct lg_flow_key k;
	const struct lg_flow_key *kp[1] = { &k };
	int32_t p, pos[1];
	bool won;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	key_of(42, &k);
	p = lg_latch_create(t, &k, &a, &won);
	CU_ASSERT_TRUE_FATAL(p >= 0);
	CU_ASSERT_EQUAL(lg_latch_delete(t, &k), -EBUSY);      /* still ESTABLISHED */
	CU_ASSERT_TRUE(lg_latch_transition(&t->e[p], LG_LATCH_ESTABLISHED, LG_LATCH_CLOSED));
	CU_ASSERT_FALSE(lg_latch_transition(&t->e[p], LG_LATCH_ESTABLISHED, LG_LATCH_CLOSED));
	CU_ASSERT_EQUAL(lg_latch_delete(t, &k), 0);
	CU_ASSERT_EQUAL(lg_latch_lookup_bulk(t, kp, 1, pos), 0);
	/* No reader is online here, so the grace period is over at once. */
	CU_ASSERT_EQUAL(t->e[p].state, LG_LATCH_DELETING);
	CU_ASSERT_EQUAL(lg_latch_reclaim(t), 1);
	CU_ASSERT_EQUAL(t->e[p].state, LG_LATCH_FREE);
	p = lg_latch_create(t, &k, &b, &won);
	CU_ASSERT_TRUE(p >= 0 && won);
	CU_ASSERT_EQUAL(t->e[p].ident, 4);
	lg_latch_table_free(t);
}

/* The capacity counts latches until their slots are reclaimed: a full
 * table takes a new flow only once a deleted latch's grace period is over. */
static void
test_capacity_freed_by_reclaim(void)
{
	enum { CAP = 1024 };
	struct lg_latch_table *t = lg_latch_table_create("t_cap", CAP, NULL, SOCKET_ID_ANY);
	struct lg_latch_init in = { .state = LG_LATCH_ESTABLISHED, .ident = 1 };
	struct lg_flow_key k;
	uint32_t i, made = 0;
	int32_t p0 = -1, p;
	bool won;

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	for (i = 0; i < CAP; i++) {
		key_of(i, &k);
		p = lg_latch_create(t, &k, &in, &won);
		made += p >= 0 && won;
		if (i == 0)
			p0 = p;
	}
	CU_ASSERT_EQUAL(made, CAP);
	key_of(CAP, &k);
	CU_ASSERT_EQUAL(lg_latch_create(t, &k, &in, &won), -ENOSPC);
	key_of(0, &k);
	CU_ASSERT_TRUE_FATAL(p0 >= 0 &&
			     lg_latch_transition(&t->e[p0], LG_LATCH_ESTABLISHED, LG_LATCH_CLOSED));
	CU_ASSERT_EQUAL(lg_latch_delete(t, &k), 0);
	key_of(CAP, &k);
	CU_ASSERT_EQUAL(lg_latch_create(t, &k, &in, &won), -ENOSPC);   /* not reclaimed yet */
	CU_ASSERT_EQUAL(lg_latch_reclaim(t), 1);
	p = lg_latch_create(t, &k, &in, &won);
	CU_ASSERT_TRUE(p >= 0 && won);
	key_of(CAP + 1, &k);
	CU_ASSERT_EQUAL(lg_latch_create(t, &k, &in, &won), -ENOSPC);
	CU_ASSERT_EQUAL(t->live, CAP);
	lg_latch_table_free(t);
}

/*
 * Churn: workers look up, create and close (as a TCP RST does) latches of
 * 4,096 flows in a table of 1,024 while the main lcore, as the control
 * thread, deletes the CLOSED ones and reclaims their slots after grace
 * periods. A worker's hit always holds the key it looked up (never a
 * half-written or reused entry); at the end every live key is in the table
 * once, found at its own slot, and the capacity counter equals the slots
 * in use.
 */
enum { CHURN_FLOWS = 4096, CHURN_CAP = 1024, CHURN_OPS = 300000 };

static uint32_t churn_running;
static uint64_t churn_wrong, churn_full;

static int
churn_worker(void *arg)
{
	struct lg_latch_init in = { .state = LG_LATCH_ESTABLISHED, .ident = 1 };
	unsigned int lc = rte_lcore_id();
	uint32_t i;

	(void)arg;
	rte_rcu_qsbr_thread_register(qs, lc);
	rte_rcu_qsbr_thread_online(qs, lc);
	for (i = 0; i < CHURN_OPS; i++) {
		struct lg_flow_key k;
		const struct lg_flow_key *kp[1] = { &k };
		int32_t pos[1];
		bool won;

		if ((i & 15) == 0)
			rte_rcu_qsbr_quiescent(qs, lc);
		key_of((uint32_t)(rte_rand() % CHURN_FLOWS), &k);
		if (lg_latch_lookup_bulk(ct, kp, 1, pos) == 0) {
			pos[0] = lg_latch_create(ct, &k, &in, &won);
			if (pos[0] < 0) {
				__atomic_fetch_add(&churn_full, 1, __ATOMIC_RELAXED);
				continue;
			}
		}
		(void)lg_latch_state(ct, (uint32_t)pos[0]);
		if (memcmp(&ct->e[pos[0]].kw, &k, 8) != 0 ||
		    memcmp(&ct->e[pos[0]].lo4, k.lo, 4) != 0 || memcmp(&ct->e[pos[0]].hi4, k.hi, 4) != 0)
			__atomic_fetch_add(&churn_wrong, 1, __ATOMIC_RELAXED);
		if (rte_rand() % 4 == 0)
			lg_latch_transition(&ct->e[pos[0]], LG_LATCH_ESTABLISHED, LG_LATCH_CLOSED);
	}
	rte_rcu_qsbr_thread_offline(qs, lc);
	rte_rcu_qsbr_thread_unregister(qs, lc);
	__atomic_fetch_sub(&churn_running, 1, __ATOMIC_RELEASE);
	return 0;
}

static int
key_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct lg_flow_key));
}

static void
test_concurrent_churn_against_reclaim(void)
{
	struct lg_flow_key *live = calloc(CHURN_CAP * 2, sizeof(*live));
	uint32_t pos, n = 0, used = 0, elsewhere = 0, dups = 0, i;
	uint64_t deleted = 0;
	unsigned int lc;

	ct = lg_latch_table_create("t_churn", CHURN_CAP, qs, SOCKET_ID_ANY);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ct);
	CU_ASSERT_PTR_NOT_NULL_FATAL(live);
	churn_wrong = churn_full = 0;
	RTE_LCORE_FOREACH_WORKER(lc) {
		__atomic_fetch_add(&churn_running, 1, __ATOMIC_RELAXED);
		rte_eal_remote_launch(churn_worker, NULL, lc);
	}
	while (__atomic_load_n(&churn_running, __ATOMIC_ACQUIRE) > 0) {
		for (pos = 0; pos < ct->slots; pos++) {
			struct lg_flow_key k;

			if (__atomic_load_n(&ct->e[pos].state, __ATOMIC_ACQUIRE) == LG_LATCH_CLOSED &&
			    lg_latch_key(ct, pos, &k) == 0)
				deleted += lg_latch_delete(ct, &k) == 0;
		}
		lg_latch_reclaim(ct);
	}
	rte_eal_mp_wait_lcore();
	lg_latch_reclaim(ct);               /* no reader left: every grace period is over */
	for (pos = 0; pos < ct->slots; pos++) {
		const struct lg_flow_key *kp[1];
		int32_t p[1];

		used += ct->tag[pos] != 0;
		if (lg_latch_key(ct, pos, &live[n]) != 0)
			continue;
		kp[0] = &live[n];
		elsewhere += lg_latch_lookup_bulk(ct, kp, 1, p) != 1 || p[0] != (int32_t)pos;
		n++;
	}
	qsort(live, n, sizeof(*live), key_cmp);
	for (i = 1; i < n; i++)
		dups += key_cmp(&live[i - 1], &live[i]) == 0;
	printf("\n    %" PRIu64 " deleted, %" PRIu64 " creations refused (full), %u live\n",
	       deleted, churn_full, n);
	CU_ASSERT_TRUE(deleted > CHURN_CAP);
	CU_ASSERT_EQUAL(churn_wrong, 0);
	CU_ASSERT_EQUAL(dups, 0);
	CU_ASSERT_EQUAL(elsewhere, 0);
	CU_ASSERT_EQUAL(ct->live, used);
	CU_ASSERT_EQUAL(used, n);
	lg_latch_table_free(ct);
	free(live);
}

/* ---- concurrency against a locked map ---------------------------------- */

enum { FLOWS = 20000, OPS = 400000, WORKERS_MAX = 8 };

struct model {
	rte_spinlock_t lock;
	uint32_t pset[FLOWS];            /* winner's pset, 0 = none */
	uint32_t breaks[FLOWS], restores[FLOWS];
	uint64_t dup;                    /* a second winner for one flow */
	uint64_t mismatch;               /* a reader saw another pset */
};

static struct model *mdl;

struct seen { uint32_t flow, pset; };

struct wstate {
	uint32_t id;
	uint64_t ops;
	struct seen *seen;
	uint32_t nseen;
};

static void
create_op(struct wstate *ws, uint32_t f, const struct lg_flow_key *k)
{
	struct lg_latch_init in = { .state = LG_LATCH_ESTABLISHED, .ident = ws->id * FLOWS + f + 1 };
	bool won;
	int32_t p = lg_latch_create(ct, k, &in, &won);

	if (p < 0)
		return;
	if (won) {
		rte_spinlock_lock(&mdl->lock);
		mdl->dup += mdl->pset[f] != 0;
		mdl->pset[f] = in.ident;
		rte_spinlock_unlock(&mdl->lock);
	} else if (lg_latch_state(ct, (uint32_t)p) != LG_LATCH_FREE) {
		ws->seen[ws->nseen++] = (struct seen){ f, ct->e[p].ident };
	}
}

static int
worker(void *arg)
{
	struct wstate *ws = arg;
	unsigned int lc = rte_lcore_id();
	uint64_t i;

	rte_rcu_qsbr_thread_register(qs, lc);
	rte_rcu_qsbr_thread_online(qs, lc);
	for (i = 0; i < OPS; i++) {
		uint32_t f = (uint32_t)(rte_rand() % FLOWS);
		uint32_t op = (uint32_t)(rte_rand() % 10);
		struct lg_flow_key k;
		const struct lg_flow_key *kp[1] = { &k };
		int32_t pos[1];

		key_of(f, &k);
		if (lg_latch_lookup_bulk(ct, kp, 1, pos) == 0) {
			create_op(ws, f, &k);
		} else if (op < 6) {
			uint32_t s = lg_latch_state(ct, (uint32_t)pos[0]);

			if (s != LG_LATCH_FREE)
				ws->seen[ws->nseen++] = (struct seen){ f, ct->e[pos[0]].ident };
		} else if (op < 8) {
			(void)lg_latch_state(ct, (uint32_t)pos[0]);
			if (lg_latch_transition(&ct->e[pos[0]], LG_LATCH_ESTABLISHED, LG_LATCH_BROKEN))
				__atomic_fetch_add(&mdl->breaks[f], 1, __ATOMIC_RELAXED);
		} else {
			(void)lg_latch_state(ct, (uint32_t)pos[0]);
			if (lg_latch_transition(&ct->e[pos[0]], LG_LATCH_BROKEN, LG_LATCH_ESTABLISHED))
				__atomic_fetch_add(&mdl->restores[f], 1, __ATOMIC_RELAXED);
		}
		if ((i & 63) == 0)
			rte_rcu_qsbr_quiescent(qs, lc);
		ws->ops++;
	}
	rte_rcu_qsbr_thread_offline(qs, lc);
	rte_rcu_qsbr_thread_unregister(qs, lc);
	return 0;
}

static void
test_concurrent_create_lookup_break(void)
{
	static struct wstate ws[WORKERS_MAX];
	unsigned int lc, n = 0;
	uint32_t f, present = 0, bad_pset = 0, bad_transitions = 0, i;
	uint64_t total = 0, w;

	ct = lg_latch_table_create("t_conc", FLOWS * 2, qs, SOCKET_ID_ANY);
	mdl = calloc(1, sizeof(*mdl));
	CU_ASSERT_PTR_NOT_NULL_FATAL(ct);
	CU_ASSERT_PTR_NOT_NULL_FATAL(mdl);
	rte_spinlock_init(&mdl->lock);
	RTE_LCORE_FOREACH_WORKER(lc) {
		if (n == WORKERS_MAX)
			break;
		ws[n] = (struct wstate){ .id = n, .seen = calloc(OPS, sizeof(struct seen)) };
		CU_ASSERT_PTR_NOT_NULL_FATAL(ws[n].seen);
		rte_eal_remote_launch(worker, &ws[n], lc);
		n++;
	}
	CU_ASSERT_TRUE_FATAL(n >= 2);
	rte_eal_mp_wait_lcore();
	for (f = 0; f < FLOWS; f++) {
		struct lg_flow_key k;
		const struct lg_flow_key *kp[1] = { &k };
		int32_t pos[1];
		uint32_t s;

		key_of(f, &k);
		if (lg_latch_lookup_bulk(ct, kp, 1, pos) == 0) {
			bad_pset += mdl->pset[f] != 0;     /* lost latch */
			continue;
		}
		present++;
		bad_pset += ct->e[pos[0]].ident != mdl->pset[f];
		s = ct->e[pos[0]].state;
		/* One CAS winner per transition: breaks - restores is the
		 * number of times the latch is BROKEN now (0 or 1). */
		bad_transitions += mdl->breaks[f] - mdl->restores[f] != (s == LG_LATCH_BROKEN);
	}
	for (w = 0; w < n; w++) {
		for (i = 0; i < ws[w].nseen; i++)
			mdl->mismatch += ws[w].seen[i].pset != mdl->pset[ws[w].seen[i].flow];
		total += ws[w].ops;
		free(ws[w].seen);
	}
	printf("\n    %u workers, %" PRIu64 " operations, %u latches\n", n, total, present);
	CU_ASSERT_TRUE(total >= 1000000);
	CU_ASSERT_EQUAL(mdl->dup, 0);
	CU_ASSERT_EQUAL(bad_pset, 0);
	CU_ASSERT_EQUAL(mdl->mismatch, 0);
	CU_ASSERT_EQUAL(bad_transitions, 0);
	lg_latch_table_free(ct);
	free(mdl);
}

static int
make_qsbr(void)
{
	size_t sz = rte_rcu_qsbr_get_memsize(RTE_MAX_LCORE);

	qs = rte_zmalloc("t_qs", sz, RTE_CACHE_LINE_SIZE);
	return qs == NULL || rte_rcu_qsbr_init(qs, RTE_MAX_LCORE) != 0 ? -1 : 0;
}

int
main(int argc, char **argv)
{
	static const struct lg_test tests[] = {
		{ "latch: both directions give one key (item 3)", test_both_directions_give_one_key },
		{ "latch: IPv6 and same-address flows give one key, lower side first", test_both_directions_ipv6_and_ports },
		{ "latch: ICMP echo pairs by identifier", test_icmp_echo_pairs_by_identifier },
		{ "latch: first writer wins (item 4)", test_first_writer_wins },
		{ "latch: a full table fails closed (item 8)", test_full_table_fails_closed },
		{ "latch: IPv6 keys are compared whole", test_ipv6_keys_compared_whole },
		{ "latch: delete after a grace period (item 25)", test_delete_after_grace_period },
		{ "latch: the capacity is freed by reclaim", test_capacity_freed_by_reclaim },
		{ "latch: concurrent create, close, delete and reclaim", test_concurrent_churn_against_reclaim },
		{ "latch: concurrent create, lookup, break against a locked map (items 4, 22)",
		  test_concurrent_create_lookup_break },
	};

	(void)argc;
	/* 4 lcores on the 2 CPUs: 3 workers race. */
	return lg_test_main(argv[0], "latch", "0@0,1@1,2@0,3@1", NULL, make_qsbr, tests,
			    ARRAY_SIZE(tests));
}
