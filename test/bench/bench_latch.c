/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Latch table microbenchmark (issue 5): bulk lookups per second at 1 K, 1 M
 * and 10 M entries, against a plain lock-free rte_hash of the same key in
 * the same program; and the reader's rate while another lcore inserts and
 * deletes 100 k entries a second each.
 *
 * What is timed is what a worker does per burst: the latch table's bulk
 * lookup plus reading each hit's state (the entry's cache line), against
 * rte_hash_lookup_bulk_data plus reading the 64-byte record each hit's
 * data points at. Keys are drawn at random from those inserted, 32 per
 * call, and built in a burst buffer as a worker builds them. Three
 * interleaved repetitions per cell; the median is printed, and min-max.
 * Prints a table and one JSON line per cell ("json: {...}").
 *
 * Run: bench_latch [-l 0-1] --no-huge -m 4096 -- [--quick]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_random.h>
#include <rte_rcu_qsbr.h>

#include "latch.h"

#define BULK 32
#define REPS 3

struct rec { uint32_t state; uint8_t pad[60]; } __rte_cache_aligned;

static struct lg_flow_key *keys;   /* [n + churn keys] */

static void
key_of(uint32_t i, struct lg_flow_key *k)
{
	memset(k, 0, sizeof(*k));
	k->af = 4;
	k->proto = 17;
	k->lo[0] = 10;
	k->lo[1] = (uint8_t)(i >> 16);
	k->lo[2] = (uint8_t)(i >> 8);
	k->lo[3] = (uint8_t)i;
	k->hi[0] = 172;
	k->hi[1] = (uint8_t)(i >> 24);
	k->port_lo = (uint16_t)(1024 + (i & 0x3fff));
	k->port_hi = 53;
}

/* Key i built in the burst's own buffer, as a worker builds its keys from
 * the headers: the table is timed, not reading keys from a 120 MB array. */
static inline const struct lg_flow_key *
burst_key(struct lg_flow_key *kb, uint32_t j, uint32_t i)
{
	key_of(i, &kb[j]);
	return &kb[j];
}

/* Random indices, precomputed so the generator is not timed. */
static uint32_t *idx;
#define NIDX (1u << 22)

static double
time_latch(struct lg_latch_table *t, uint32_t nlook)
{
	const struct lg_flow_key *kp[BULK];
	struct lg_flow_key kb[BULK];
	int32_t pos[BULK];
	uint64_t t0, sink = 0;
	uint32_t i, j, c = 0;

	t0 = rte_rdtsc_precise();
	for (i = 0; i < nlook; i += BULK) {
		for (j = 0; j < BULK; j++)
			kp[j] = burst_key(kb, j, idx[(c++) & (NIDX - 1)]);
		lg_latch_lookup_bulk(t, kp, BULK, pos);
		for (j = 0; j < BULK; j++)
			if (pos[j] >= 0)
				sink += lg_latch_state(t, (uint32_t)pos[j]);
	}
	if (sink == 0)
		printf("(no hits)\n");
	return (double)(rte_rdtsc_precise() - t0);
}

static double
time_plain(struct rte_hash *h, uint32_t nlook)
{
	const void *kp[BULK];
	struct lg_flow_key kb[BULK];
	void *data[BULK];
	uint64_t hit, t0, sink = 0;
	uint32_t i, j, c = 0;

	t0 = rte_rdtsc_precise();
	for (i = 0; i < nlook; i += BULK) {
		for (j = 0; j < BULK; j++)
			kp[j] = burst_key(kb, j, idx[(c++) & (NIDX - 1)]);
		rte_hash_lookup_bulk_data(h, kp, BULK, &hit, data);
		for (j = 0; j < BULK; j++)
			if (hit >> j & 1)
				sink += __atomic_load_n(&((struct rec *)data[j])->state,
							__ATOMIC_ACQUIRE);
	}
	if (sink == 0)
		printf("(no hits)\n");
	return (double)(rte_rdtsc_precise() - t0);
}

static int
cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void
lookups(uint32_t n, uint32_t nlook)
{
	struct rte_hash_parameters prm = {
		.name = "plain", .entries = n, .key_len = sizeof(struct lg_flow_key),
		.hash_func = rte_hash_crc, .socket_id = (int)rte_socket_id(),
		.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF,
	};
	struct lg_latch_init in = { .state = LG_LATCH_ESTABLISHED, .ident = 1 };
	struct lg_latch_table *t = lg_latch_table_create("lat", n, NULL, (int)rte_socket_id());
	struct rte_hash *h = rte_hash_create(&prm);
	struct rec *recs = rte_zmalloc("recs", (size_t)n * sizeof(*recs), RTE_CACHE_LINE_SIZE);
	double ours[REPS], plain[REPS], hz = (double)rte_get_tsc_hz();
	uint32_t i, r;
	bool won;

	if (t == NULL || h == NULL || recs == NULL) {
		printf("%u entries: out of memory (give EAL more: -m)\n", n);
		goto out;
	}
	for (i = 0; i < n; i++) {
		recs[i].state = LG_LATCH_ESTABLISHED;
		if (lg_latch_create(t, &keys[i], &in, &won) < 0 ||
		    rte_hash_add_key_data(h, &keys[i], &recs[i]) < 0) {
			printf("%u entries: insert %u failed\n", n, i);
			goto out;
		}
	}
	for (i = 0; i < NIDX; i++)
		idx[i] = (uint32_t)(rte_rand() % n);
	time_latch(t, nlook / 4);   /* warm */
	time_plain(h, nlook / 4);
	for (r = 0; r < REPS; r++) {
		ours[r] = time_latch(t, nlook);
		plain[r] = time_plain(h, nlook);
	}
	qsort(ours, REPS, sizeof(double), cmp_d);
	qsort(plain, REPS, sizeof(double), cmp_d);
	printf("%10u  %8.2f (%5.2f-%5.2f)  %8.2f (%5.2f-%5.2f)  %6.1f  %6.1f  %5.2f\n", n,
	       nlook / ours[1] * hz / 1e6, nlook / ours[2] * hz / 1e6, nlook / ours[0] * hz / 1e6,
	       nlook / plain[1] * hz / 1e6, nlook / plain[2] * hz / 1e6,
	       nlook / plain[0] * hz / 1e6, ours[1] / nlook, plain[1] / nlook,
	       plain[1] / ours[1]);
	printf("json: {\"test\":\"lookup\",\"entries\":%u,\"latch_mlps\":%.3f,\"rte_hash_mlps\":%.3f,"
	       "\"latch_cycles\":%.1f,\"rte_hash_cycles\":%.1f,\"ratio\":%.3f}\n", n,
	       nlook / ours[1] * hz / 1e6, nlook / plain[1] * hz / 1e6, ours[1] / nlook,
	       plain[1] / nlook, plain[1] / ours[1]);
out:
	lg_latch_table_free(t);
	rte_hash_free(h);
	rte_free(recs);
}

/* ---- churn: a reader lcore under a writer's inserts and deletes ---------- */

static struct lg_latch_table *ct;
static struct rte_rcu_qsbr *cqs;
static volatile int reader_stop;
static uint64_t reader_lookups;

static int
reader(void *arg)
{
	const struct lg_flow_key *kp[BULK];
	struct lg_flow_key kb[BULK];
	int32_t pos[BULK];
	uint32_t j, c = 0, lc = rte_lcore_id();
	uint64_t n = 0, sink = 0;

	(void)arg;
	rte_rcu_qsbr_thread_register(cqs, lc);
	rte_rcu_qsbr_thread_online(cqs, lc);
	while (!reader_stop) {
		for (j = 0; j < BULK; j++)
			kp[j] = burst_key(kb, j, idx[(c++) & (NIDX - 1)]);
		lg_latch_lookup_bulk(ct, kp, BULK, pos);
		for (j = 0; j < BULK; j++)
			if (pos[j] >= 0)
				sink += __atomic_load_n(&ct->e[pos[j]].state, __ATOMIC_ACQUIRE);
		n += BULK;
		rte_rcu_qsbr_quiescent(cqs, lc);
	}
	rte_rcu_qsbr_thread_offline(cqs, lc);
	rte_rcu_qsbr_thread_unregister(cqs, lc);
	reader_lookups = n + (sink == 0);
	return 0;
}

/* One window of `secs` with the writer doing `rate` inserts and as many
 * deletes a second (0: idle). Returns the reader's lookups per second. */
static double
churn_window(unsigned int lcore, uint32_t stable, uint32_t rate, double secs,
	     uint32_t *next, uint32_t *oldest, uint64_t *done)
{
	struct lg_latch_init in = { .state = LG_LATCH_ESTABLISHED, .ident = 1 };
	uint64_t hz = rte_get_tsc_hz(), t0, end, step = rate ? hz / rate : 0, due;
	bool won;

	reader_stop = 0;
	rte_eal_remote_launch(reader, NULL, lcore);
	t0 = rte_rdtsc();
	end = t0 + (uint64_t)(secs * (double)hz);
	due = t0;
	while (rte_rdtsc() < end) {
		if (rate == 0 || rte_rdtsc() < due) {
			lg_latch_reclaim(ct);
			continue;
		}
		due += step;
		/* one insert of a new flow, one delete of the oldest churned */
		if (lg_latch_create(ct, &keys[stable + (*next)++ % (2 * stable)], &in, &won) >= 0)
			(*done)++;
		if (*oldest + 1000 < *next) {
			lg_latch_remove(ct, &keys[stable + (*oldest)++ % (2 * stable)],
					LG_LATCH_ESTABLISHED);
			(*done)++;
		}
	}
	reader_stop = 1;
	rte_eal_wait_lcore(lcore);
	return (double)reader_lookups / ((double)(rte_rdtsc() - t0) / (double)hz);
}

static void
churn(uint32_t stable, double secs)
{
	size_t sz = rte_rcu_qsbr_get_memsize(RTE_MAX_LCORE);
	struct lg_latch_init in = { .state = LG_LATCH_ESTABLISHED, .ident = 1 };
	unsigned int lcore = rte_get_next_lcore(-1, 1, 0);
	double idle[REPS], busy[REPS];
	uint32_t i, next = 0, oldest = 0;
	uint64_t done = 0;
	bool won;

	if (lcore >= RTE_MAX_LCORE) {
		printf("churn: needs a worker lcore (-l 0-1)\n");
		return;
	}
	cqs = rte_zmalloc("cqs", sz, RTE_CACHE_LINE_SIZE);
	rte_rcu_qsbr_init(cqs, RTE_MAX_LCORE);
	ct = lg_latch_table_create("churn", stable + 4096, cqs, (int)rte_socket_id());
	if (ct == NULL) {
		printf("churn: out of memory\n");
		return;
	}
	for (i = 0; i < stable - 2048; i++)
		lg_latch_create(ct, &keys[i], &in, &won);
	for (i = 0; i < NIDX; i++)
		idx[i] = (uint32_t)(rte_rand() % (stable - 2048));
	for (i = 0; i < REPS; i++) {
		idle[i] = churn_window(lcore, stable, 0, secs, &next, &oldest, &done);
		done = 0;
		busy[i] = churn_window(lcore, stable, 100000, secs, &next, &oldest, &done);
	}
	qsort(idle, REPS, sizeof(double), cmp_d);
	qsort(busy, REPS, sizeof(double), cmp_d);
	printf("churn at %u entries: reader %.2f M lookups/s alone, %.2f M/s while the writer does"
	       " %.0f inserts and as many deletes a second: %.1f %% slower\n", stable,
	       idle[1] / 1e6, busy[1] / 1e6, (double)done / secs / 2,
	       100.0 * (1.0 - busy[1] / idle[1]));
	/* writer_ops_per_s: inserts and deletes together */
	printf("json: {\"test\":\"churn\",\"entries\":%u,\"reader_alone_mlps\":%.3f,"
	       "\"reader_churn_mlps\":%.3f,\"writer_ops_per_s\":%.0f,\"slowdown_pct\":%.2f}\n",
	       stable, idle[1] / 1e6, busy[1] / 1e6, (double)done / secs,
	       100.0 * (1.0 - busy[1] / idle[1]));
	lg_latch_table_free(ct);
	rte_free(cqs);
}

int
main(int argc, char **argv)
{
	static const uint32_t sizes[] = { 1000, 1000000, 10000000 };
	int n = rte_eal_init(argc, argv);
	bool quick;
	uint32_t i, nmax;

	if (n < 0) {
		fprintf(stderr, "EAL: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	argc -= n;
	argv += n;
	quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
	nmax = quick ? 1000000 : 10000000;
	keys = malloc((size_t)(nmax * 3ull) * sizeof(*keys));
	idx = malloc(NIDX * sizeof(*idx));
	if (keys == NULL || idx == NULL)
		return 1;
	for (i = 0; i < nmax * 3u; i++)
		key_of(i, &keys[i]);
	printf("latch table vs plain rte_hash (RW_CONCURRENCY_LF), bulk lookups of %u random"
	       " present keys, TSC %.2f GHz\n", BULK, (double)rte_get_tsc_hz() / 1e9);
	printf("%10s  %-21s  %-21s  %6s  %6s  %5s\n", "entries", "latch M lookups/s",
	       "rte_hash M lookups/s", "cyc/l", "cyc/h", "ratio");
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		if (sizes[i] > nmax)
			continue;
		lookups(sizes[i], quick ? 4000000 : 20000000);
	}
	churn(1000000, quick ? 0.5 : 2.0);
	rte_eal_cleanup();
	return 0;
}
