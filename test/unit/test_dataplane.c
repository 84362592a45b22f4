/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SPD (rte_acl, ordered first match) and routes (rte_lpm) against naive
 * references: an ordered linear search over the same entries, and a
 * longest-prefix scan; the IPv4 checksum check against rte_raw_cksum. EAL
 * runs without hugepages, in memory.
 */
#include <CUnit/Basic.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_random.h>

#include "harness.h"
#include "pkt.h"
#include "replay.h"
#include "route.h"
#include "spd.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static struct lg_spd_entry
ent(const char *src, int slen, const char *dst, int dlen, uint8_t proto,
    uint16_t dlo, uint16_t dhi, uint32_t rank, uint8_t action, uint32_t sa)
{
	struct lg_spd_entry e = { .af = 4, .src_len = (uint8_t)slen, .dst_len = (uint8_t)dlen,
				  .proto = proto, .sport_lo = 0, .sport_hi = 65535,
				  .dport_lo = dlo, .dport_hi = dhi, .rank = rank,
				  .action = action, .sa_slot = sa };

	inet_pton(AF_INET, src, e.src);
	inet_pton(AF_INET, dst, e.dst);
	return e;
}

static struct lg_key4
key(const char *src, const char *dst, uint8_t proto, uint16_t sport, uint16_t dport)
{
	struct lg_key4 k = { .proto = proto, .sport = htons(sport), .dport = htons(dport) };

	inet_pton(AF_INET, src, &k.src);
	inet_pton(AF_INET, dst, &k.dst);
	return k;
}

static uint32_t
classify1(const struct lg_spd *spd, const struct lg_key4 *k)
{
	const union lg_key *kp[1] = { (const union lg_key *)k };
	uint8_t is6[1] = { 0 };
	uint32_t res[1];

	lg_spd_classify(spd, kp, is6, res, 1);
	return res[0];
}

static int
prefix_match(const uint8_t *net, uint8_t len, uint32_t addr_be)
{
	uint32_t n, a = ntohl(addr_be), mask = len ? ~0u << (32 - len) : 0;

	memcpy(&n, net, 4);
	return (ntohl(n) & mask) == (a & mask);
}

/* The reference: an ordered search by rank, first match wins. */
static uint32_t
reference(const struct lg_spd_entry *e, uint32_t n, const struct lg_key4 *k)
{
	uint32_t i, best = 0, best_rank = UINT32_MAX;

	for (i = 0; i < n; i++) {
		uint16_t dp = ntohs(k->dport), sp = ntohs(k->sport);

		if (prefix_match(e[i].src, e[i].src_len, k->src) &&
		    prefix_match(e[i].dst, e[i].dst_len, k->dst) &&
		    (e[i].proto == 0 || e[i].proto == k->proto) &&
		    sp >= e[i].sport_lo && sp <= e[i].sport_hi &&
		    dp >= e[i].dport_lo && dp <= e[i].dport_hi && e[i].rank < best_rank) {
			best = i + 1;
			best_rank = e[i].rank;
		}
	}
	return best;
}

static void
test_first_match_wins_and_swapping_order_swaps_outcome(void)
{
	/* A protect of 10.0.0.0/8 overlapping a bypass of 10.1.0.0/16. */
	struct lg_spd_entry e[2] = {
		ent("10.0.0.0", 8, "0.0.0.0", 0, 0, 0, 65535, 0, LG_SPD_PROTECT, 7),
		ent("10.1.0.0", 16, "0.0.0.0", 0, 0, 0, 65535, 1, LG_SPD_BYPASS, 0),
	};
	struct lg_key4 k = key("10.1.2.3", "192.0.2.1", IPPROTO_UDP, 1, 2);
	struct lg_spd *spd;
	uint32_t r;

	spd = lg_spd_create("t_order1", e, 2, SOCKET_ID_ANY);
	CU_ASSERT_PTR_NOT_NULL_FATAL(spd);
	r = classify1(spd, &k);
	CU_ASSERT_EQUAL(r, 1);
	CU_ASSERT_EQUAL(spd->rule[r].action, LG_SPD_PROTECT);
	CU_ASSERT_EQUAL(spd->rule[r].sa_slot, 7);
	lg_spd_free(spd);

	e[0].rank = 1;
	e[1].rank = 0;
	spd = lg_spd_create("t_order2", e, 2, SOCKET_ID_ANY);
	CU_ASSERT_PTR_NOT_NULL_FATAL(spd);
	r = classify1(spd, &k);
	CU_ASSERT_EQUAL(r, 2);
	CU_ASSERT_EQUAL(spd->rule[r].action, LG_SPD_BYPASS);
	lg_spd_free(spd);
}

static void
test_ports_proto_and_no_match(void)
{
	struct lg_spd_entry e[3] = {
		ent("0.0.0.0", 0, "0.0.0.0", 0, IPPROTO_UDP, 500, 500, 0, LG_SPD_BYPASS, 0),
		ent("0.0.0.0", 0, "0.0.0.0", 0, IPPROTO_UDP, 4500, 4500, 0, LG_SPD_BYPASS, 0),
		ent("192.168.1.0", 24, "192.168.2.0", 24, 0, 0, 65535, 1, LG_SPD_PROTECT, 3),
	};
	static const struct {
		const char *src, *dst;
		uint8_t proto;
		uint16_t dport;
		uint32_t want;
	} cases[] = {
		{ "198.51.100.1", "172.16.1.5", IPPROTO_UDP, 500, 1 },
		{ "198.51.100.1", "172.16.1.5", IPPROTO_UDP, 4500, 2 },
		{ "198.51.100.1", "172.16.1.5", IPPROTO_UDP, 501, LG_SPD_NONE },
		{ "198.51.100.1", "172.16.1.5", IPPROTO_TCP, 500, LG_SPD_NONE },
		{ "192.168.1.9", "192.168.2.9", IPPROTO_TCP, 80, 3 },
		{ "192.168.1.9", "192.168.3.9", IPPROTO_TCP, 80, LG_SPD_NONE },
		{ "192.168.1.9", "192.168.2.9", IPPROTO_UDP, 500, 1 },  /* rank 0 first */
	};
	struct lg_spd *spd = lg_spd_create("t_ports", e, 3, SOCKET_ID_ANY);
	size_t i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(spd);
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct lg_key4 k = key(cases[i].src, cases[i].dst, cases[i].proto, 40000,
				       cases[i].dport);

		CU_ASSERT_EQUAL(classify1(spd, &k), cases[i].want);
	}
	lg_spd_free(spd);
}

static void
test_empty_spd_matches_nothing(void)
{
	struct lg_spd *spd = lg_spd_create("t_empty", NULL, 0, SOCKET_ID_ANY);
	struct lg_key4 k = key("10.0.0.1", "10.0.0.2", IPPROTO_TCP, 1, 2);

	CU_ASSERT_PTR_NOT_NULL_FATAL(spd);
	CU_ASSERT_EQUAL(classify1(spd, &k), LG_SPD_NONE);
	lg_spd_free(spd);
}

static void
random_entry(struct lg_spd_entry *e, uint32_t rank)
{
	uint32_t a = (uint32_t)rte_rand() & 0x0a0f0f0f, b = (uint32_t)rte_rand() & 0x0a0f0f0f;
	uint8_t sl = (uint8_t)(rte_rand() % 33), dl = (uint8_t)(rte_rand() % 33);
	uint16_t lo = (uint16_t)(rte_rand() % 8), hi = (uint16_t)(lo + rte_rand() % 8);
	uint32_t ms = sl ? ~0u << (32 - sl) : 0, md = dl ? ~0u << (32 - dl) : 0;

	memset(e, 0, sizeof(*e));
	e->af = 4;
	a = htonl(a & ms);
	b = htonl(b & md);
	memcpy(e->src, &a, 4);
	memcpy(e->dst, &b, 4);
	e->src_len = sl;
	e->dst_len = dl;
	e->proto = (uint8_t)(rte_rand() % 3 == 0 ? 0 : IPPROTO_TCP + (rte_rand() % 2) * 11);
	e->sport_hi = 65535;
	e->dport_lo = lo;
	e->dport_hi = rte_rand() % 4 == 0 ? 65535 : hi;
	e->rank = rank;
	e->action = (uint8_t)(rte_rand() % 3);
}

/* 200 random overlapping entries, 20000 random packets: the ACL must give
 * the ordered-search answer every time (LATCHING.md item 30). */
static void
test_acl_agrees_with_ordered_search(void)
{
	enum { N = 200, P = 20000 };
	static struct lg_spd_entry e[N];
	uint32_t i, perm[N], bad = 0;
	struct lg_spd *spd;

	rte_srand(5660);
	for (i = 0; i < N; i++)
		perm[i] = i;
	for (i = N - 1; i > 0; i--) {
		uint32_t j = (uint32_t)(rte_rand() % (i + 1)), t = perm[i];

		perm[i] = perm[j];
		perm[j] = t;
	}
	for (i = 0; i < N; i++)
		random_entry(&e[i], perm[i]);
	spd = lg_spd_create("t_random", e, N, SOCKET_ID_ANY);
	CU_ASSERT_PTR_NOT_NULL_FATAL(spd);
	for (i = 0; i < P; i++) {
		struct lg_key4 k = {
			.proto = (uint8_t)(rte_rand() % 2 ? IPPROTO_TCP : IPPROTO_UDP),
			.src = htonl((uint32_t)rte_rand() & 0x0a0f0f0f),
			.dst = htonl((uint32_t)rte_rand() & 0x0a0f0f0f),
			.sport = htons((uint16_t)(rte_rand() % 16)),
			.dport = htons((uint16_t)(rte_rand() % 16)),
		};

		bad += classify1(spd, &k) != reference(e, N, &k);
	}
	CU_ASSERT_EQUAL(bad, 0);
	lg_spd_free(spd);
}

static struct lg_route_entry
route(const char *net, uint8_t len, uint16_t port, uint8_t mac_last)
{
	struct lg_route_entry r = { .af = 4, .len = len, .port = port,
				    .mac = { { 2, 0, 0, 0, 0, mac_last } } };

	inet_pton(AF_INET, net, r.addr);
	return r;
}

static void
test_routes_longest_prefix_wins(void)
{
	struct lg_route_entry e[] = {
		route("0.0.0.0", 0, 1, 1),
		route("172.16.0.0", 12, 1, 2),
		route("172.16.2.0", 24, 0, 3),
		route("172.16.2.128", 25, 2, 4),
	};
	static const struct { const char *dst; int want; } cases[] = {
		{ "8.8.8.8", 0 }, { "172.20.0.1", 1 }, { "172.16.2.5", 2 },
		{ "172.16.2.200", 3 }, { "172.16.3.1", 1 },
	};
	struct lg_routes *rt = lg_routes_create("t_rt", e, ARRAY_SIZE(e), SOCKET_ID_ANY);
	size_t i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		uint32_t a;
		const struct lg_nexthop *nh;

		inet_pton(AF_INET, cases[i].dst, &a);
		nh = lg_route_lookup4(rt, ntohl(a));
		CU_ASSERT_PTR_NOT_NULL_FATAL(nh);
		CU_ASSERT_EQUAL(nh->port, e[cases[i].want].port);
		CU_ASSERT_EQUAL(nh->mac.addr_bytes[5], e[cases[i].want].mac.addr_bytes[5]);
	}
	lg_routes_free(rt);
}

static void
test_ipv6_routes_longest_prefix_and_default(void)
{
	struct lg_route_entry e[3];
	const struct lg_nexthop *nh;
	uint8_t a[16];

	memset(e, 0, sizeof(e));
	e[0] = (struct lg_route_entry){ .af = 6, .len = 0, .port = 1 };
	e[1] = (struct lg_route_entry){ .af = 6, .len = 32, .port = 2 };
	e[2] = (struct lg_route_entry){ .af = 6, .len = 56, .port = 3 };
	inet_pton(AF_INET6, "2001:db8::", e[1].addr);
	inet_pton(AF_INET6, "2001:db8:0:ab00::", e[2].addr);
	struct lg_routes *rt = lg_routes_create("t_rt6", e, 3, SOCKET_ID_ANY);

	CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
	inet_pton(AF_INET6, "2001:db8:0:abcd::1", a);
	nh = lg_route_lookup6(rt, a);
	CU_ASSERT_TRUE(nh != NULL && nh->port == 3);
	inet_pton(AF_INET6, "2001:db8:1::1", a);
	nh = lg_route_lookup6(rt, a);
	CU_ASSERT_TRUE(nh != NULL && nh->port == 2);
	inet_pton(AF_INET6, "2001:db9::1", a);
	nh = lg_route_lookup6(rt, a);
	CU_ASSERT_TRUE(nh != NULL && nh->port == 1);
	lg_routes_free(rt);
}

static void
test_no_route_is_null(void)
{
	struct lg_route_entry e[] = { route("192.168.1.0", 24, 0, 1) };
	struct lg_routes *rt = lg_routes_create("t_rt2", e, 1, SOCKET_ID_ANY);
	uint32_t a;

	CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
	inet_pton(AF_INET, "192.168.2.1", &a);
	CU_ASSERT_PTR_NULL(lg_route_lookup4(rt, ntohl(a)));
	lg_routes_free(rt);
}

static struct lg_spd_entry
ent6(const char *src, int slen, const char *dst, int dlen, uint8_t proto, uint32_t rank,
     uint8_t action)
{
	struct lg_spd_entry e = { .af = 6, .src_len = (uint8_t)slen, .dst_len = (uint8_t)dlen,
				  .proto = proto, .sport_hi = 65535, .dport_hi = 65535,
				  .rank = rank, .action = action };

	inet_pton(AF_INET6, src, e.src);
	inet_pton(AF_INET6, dst, e.dst);
	return e;
}

static struct lg_key6
key6(const char *src, const char *dst, uint8_t proto)
{
	struct lg_key6 k = { .proto = proto, .sport = htons(1), .dport = htons(2) };

	inet_pton(AF_INET6, src, k.src);
	inet_pton(AF_INET6, dst, k.dst);
	return k;
}

/* IPv6 prefixes that end inside a 32-bit chunk, and a mixed burst. */
static void
test_ipv6_prefixes_and_mixed_bursts(void)
{
	struct lg_spd_entry e[] = {
		ent6("2001:db8:1::", 48, "::", 0, 0, 0, LG_SPD_PROTECT),
		ent6("2001:db8:1:8000::", 49, "::", 0, 0, 1, LG_SPD_BYPASS),   /* shadowed */
		ent6("2001:db8::", 32, "2001:db8:ff::", 48, IPPROTO_UDP, 2, LG_SPD_DISCARD),
		ent("10.0.0.0", 8, "0.0.0.0", 0, 0, 0, 65535, 3, LG_SPD_BYPASS, 0),
	};
	struct lg_key6 a = key6("2001:db8:1:8001::5", "2001:db8:9::1", IPPROTO_TCP);
	struct lg_key6 b = key6("2001:db8:2::5", "2001:db8:ff:ab::1", IPPROTO_UDP);
	struct lg_key6 c = key6("2001:db8:2::5", "2001:db8:fe:ab::1", IPPROTO_UDP);
	struct lg_key4 d = key("10.1.1.1", "192.0.2.1", IPPROTO_TCP, 1, 2);
	const union lg_key *kp[4] = { (const void *)&a, (const void *)&d, (const void *)&b,
				      (const void *)&c };
	uint8_t is6[4] = { 1, 0, 1, 1 };
	uint32_t res[4];
	struct lg_spd *spd = lg_spd_create("t_v6", e, ARRAY_SIZE(e), SOCKET_ID_ANY);

	CU_ASSERT_PTR_NOT_NULL_FATAL(spd);
	lg_spd_classify(spd, kp, is6, res, 4);
	CU_ASSERT_EQUAL(res[0], 1);
	CU_ASSERT_EQUAL(res[1], 4);
	CU_ASSERT_EQUAL(res[2], 3);
	CU_ASSERT_EQUAL(res[3], LG_SPD_NONE);
	lg_spd_free(spd);
}

/* An entry without address selectors (af 0) matches both families. */
static void
test_entry_without_addresses_matches_both_families(void)
{
	struct lg_spd_entry e = ent("0.0.0.0", 0, "0.0.0.0", 0, IPPROTO_UDP, 500, 500, 0,
				    LG_SPD_BYPASS, 0);
	struct lg_key6 a = key6("2001:db8::1", "2001:db8::2", IPPROTO_UDP);
	struct lg_key4 b = key("192.0.2.1", "192.0.2.2", IPPROTO_UDP, 40000, 500);
	const union lg_key *kp[2] = { (const void *)&a, (const void *)&b };
	uint8_t is6[2] = { 1, 0 };
	uint32_t res[2];
	struct lg_spd *spd;

	e.af = 0;
	a.dport = htons(500);
	spd = lg_spd_create("t_any", &e, 1, SOCKET_ID_ANY);
	CU_ASSERT_PTR_NOT_NULL_FATAL(spd);
	lg_spd_classify(spd, kp, is6, res, 2);
	CU_ASSERT_EQUAL(res[0], 1);
	CU_ASSERT_EQUAL(res[1], 1);
	lg_spd_free(spd);
}

/* The naive model: the set of committed numbers and the highest one. */
struct ref_window {
	uint64_t top;
	uint8_t *seen;       /* indexed by seq, small test ranges only */
};

static int
ref_accept(struct ref_window *m, uint64_t seq, uint32_t w)
{
	if (seq == 0 || (seq <= m->top && m->top - seq >= w) || m->seen[seq])
		return 0;
	m->seen[seq] = 1;
	if (seq > m->top)
		m->top = seq;
	return 1;
}

static void
replay_against_model(uint32_t w, uint32_t span, uint32_t n, uint64_t seed)
{
	struct lg_replay *r = lg_replay_create(w, false, false, SOCKET_ID_ANY);
	struct ref_window m = { 0, calloc(span + 1, 1) };
	uint32_t i, bad = 0, base = 1, done = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_PTR_NOT_NULL_FATAL(m.seen);
	rte_srand(seed);
	for (i = 0; i < n; i++) {
		/* Mostly near the top, sometimes far behind or far ahead. */
		uint64_t seq;
		int roll = (int)(rte_rand() % 100);

		if (roll < 70)
			seq = base + rte_rand() % (w / 2 + 8);
		else if (roll < 90)
			seq = base > w ? base - w + rte_rand() % (w + 2) : rte_rand() % (w + 2);
		else
			seq = base + rte_rand() % (2 * w);
		if (seq > span)
			break;
		done++;
		if (seq > base)
			base = (uint32_t)seq;
		int want = ref_accept(&m, seq, w);
		int pre = lg_replay_check(r, seq);
		int got = pre && lg_replay_commit(r, seq);

		/* The pre-check may only be more permissive than the commit. */
		bad += got != want || (want && !pre);
	}
	CU_ASSERT_EQUAL(bad, 0);
	CU_ASSERT_EQUAL(done, n);
	free(m.seen);
	lg_replay_free(r);
}

static void
test_replay_window_matches_naive_model(void)
{
	replay_against_model(64, 64000000, 1000000, 1);
	replay_against_model(1024, 200000000, 300000, 2);
	replay_against_model(100, 64000000, 500000, 3);   /* not a multiple of 64 */
}

/* The seq numbers that librte_ipsec 22.11 lets through twice (bit >= 32). */
static void
test_replay_rejects_duplicates_in_upper_bucket_half(void)
{
	static const uint64_t seqs[] = { 32, 63, 95, 1000, 2100, 4135 };
	struct lg_replay *r = lg_replay_create(1024, false, false, SOCKET_ID_ANY);
	size_t i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	for (i = 0; i < ARRAY_SIZE(seqs); i++) {
		CU_ASSERT_TRUE(lg_replay_commit(r, seqs[i]));
		CU_ASSERT_FALSE(lg_replay_check(r, seqs[i]));
		CU_ASSERT_FALSE(lg_replay_commit(r, seqs[i]));
	}
	lg_replay_free(r);
}

/* RFC 4303 Appendix A2.2: high-order bits inferred from the window. */
static void
test_replay_esn_infers_high_bits(void)
{
	struct lg_replay *r = lg_replay_create(64, true, false, SOCKET_ID_ANY);

	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_TRUE(lg_replay_commit(r, 0xfffffff0ull));
	CU_ASSERT_EQUAL(lg_replay_seq(r, 0xfffffff5u), 0xfffffff5ull);
	CU_ASSERT_EQUAL(lg_replay_seq(r, 3), 0x100000003ull);     /* wrapped */
	CU_ASSERT_TRUE(lg_replay_commit(r, 0x100000003ull));
	CU_ASSERT_EQUAL(lg_replay_seq(r, 0xfffffffau), 0xfffffffaull); /* still in window */
	CU_ASSERT_TRUE(lg_replay_check(r, lg_replay_seq(r, 0xfffffffau)));
	CU_ASSERT_FALSE(lg_replay_check(r, lg_replay_seq(r, 0xfffffff0u)));
	CU_ASSERT_EQUAL(lg_replay_seq(r, 10), 0x10000000aull);
	lg_replay_free(r);
}

/*
 * The IPv4 header checksum, checked (the parser) and set (lg_ip4_store, the
 * outer header) in words, against rte_raw_cksum (16 bits at a time): 20-
 * and 24-byte headers with random contents and a correct checksum pass;
 * every single-bit flip fails, as it must (the Internet checksum detects
 * all single-bit errors); both agree with the reference on random headers
 * with random checksums; a header lg_ip4_store wrote verifies.
 */
static void
test_ip4_cksum_matches_reference(void)
{
	uint32_t round, bit, ihl, agree = 0, valid = 0, caught = 0, flips = 0, stored = 0;
	uint8_t h[24] __rte_aligned(8), o[20] __rte_aligned(8);

	for (round = 0; round < 2000; round++) {
		uint64_t a, b;
		uint32_t w;
		uint16_t c;

		ihl = round & 1 ? 24 : 20;
		for (bit = 0; bit < ihl; bit++)
			h[bit] = (uint8_t)rte_rand();
		h[0] = (uint8_t)(0x40 | ihl / 4);
		memcpy(&a, h, 8);
		memcpy(&b, h + 8, 8);
		memcpy(&w, h + 16, 4);
		lg_ip4_store(o, a, b, w);
		stored += rte_raw_cksum(o, 20) == 0xffff && memcmp(o, h, 10) == 0 &&
			  memcmp(o + 12, h + 12, 8) == 0;
		agree += ip4_cksum_ok(h, ihl) == (rte_raw_cksum(h, ihl) == 0xffff);
		h[10] = h[11] = 0;
		c = (uint16_t)~rte_raw_cksum(h, ihl);
		memcpy(&h[10], &c, 2);
		valid += ip4_cksum_ok(h, ihl);
		if (round % 50 != 0)
			continue;
		for (bit = 0; bit < ihl * 8; bit++) {
			h[bit / 8] ^= (uint8_t)(1u << bit % 8);
			caught += !ip4_cksum_ok(h, ihl);
			flips++;
			h[bit / 8] ^= (uint8_t)(1u << bit % 8);
		}
	}
	CU_ASSERT_EQUAL(agree, 2000);
	CU_ASSERT_EQUAL(stored, 2000);
	CU_ASSERT_EQUAL(valid, 2000);
	CU_ASSERT_EQUAL(caught, flips);
}

int
main(int argc, char **argv)
{
	static const struct lg_test tests[] = {
		{ "spd: first match wins and swapping order swaps outcome",
		  test_first_match_wins_and_swapping_order_swaps_outcome },
		{ "spd: ports, protocol and no match", test_ports_proto_and_no_match },
		{ "spd: empty SPD matches nothing", test_empty_spd_matches_nothing },
		{ "spd: ACL agrees with an ordered search", test_acl_agrees_with_ordered_search },
		{ "spd: IPv6 prefixes and mixed-family bursts", test_ipv6_prefixes_and_mixed_bursts },
		{ "spd: an entry without addresses matches both families",
		  test_entry_without_addresses_matches_both_families },
		{ "ipv4: header checksum check and store agree with rte_raw_cksum",
		  test_ip4_cksum_matches_reference },
		{ "routes: longest prefix wins", test_routes_longest_prefix_wins },
		{ "routes: no route is NULL", test_no_route_is_null },
		{ "routes: IPv6 longest prefix and default", test_ipv6_routes_longest_prefix_and_default },
		{ "replay: window matches a naive model", test_replay_window_matches_naive_model },
		{ "replay: duplicates in the upper bucket half are rejected",
		  test_replay_rejects_duplicates_in_upper_bucket_half },
		{ "replay: ESN infers the high-order bits", test_replay_esn_infers_high_bits },
	};

	(void)argc;
	return lg_test_main(argv[0], "dataplane", "0", NULL, NULL, tests, ARRAY_SIZE(tests));
}
