/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A paced traffic source and sink for one port (issue 5's "steady load at
 * 80 % of the maximum"): neither net_pcap nor testpmd's flowgen can limit
 * their rate, so this sends UDP frames of FLOWS flows at a set rate, counts
 * what comes back on the same port, and says whether anything was lost.
 *
 * Two phases, in one process so the gateway's memif connection stays up:
 *   1. unpaced for MAX_S seconds: the gateway's maximum is the rate at which
 *      frames come back (after the first second, the ramp);
 *   2. paced at PCT % of that maximum for LOAD_S seconds, then a drain
 *      until nothing has come back for 300 ms. "paced RATE" is printed when
 *      phase 2 starts, so a driver can start its work then.
 * Pacing: the number of frames due is rate x time since the phase began;
 * each round sends what is due in bursts of 32 and sleeps ~100 us, so the
 * average rate is exact and the rings cover the sleep (run it at a
 * real-time priority so that the sleeps stay short on a shared core). A
 * frame the port refuses (ring full) stays due; it is not counted as sent.
 * The last line is JSON: max_pps, paced_pps (achieved), sent, received,
 * behind (the most frames ever due but unsent: > a ring means the source
 * could not hold the rate), gap_us (the longest time between two rounds while
 * paced: how long this process was kept from running).
 *
 * Run: lg_pace EAL... --vdev net_memif0,role=server,... -- FLOWS SIZE MAX_S
 *      PCT LOAD_S DST_MAC SRC_MAC SRC_IP DST_IP
 * Flow i: SRC_IP + i % 250 -> DST_IP + i % 8, UDP 1024 + i / 250 -> 5000.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#define BURST 32

struct run {
	uint16_t port;
	uint32_t flows, size;
	uint8_t *frames;          /* [flows][size] */
	struct rte_mempool *mp;
	uint64_t sent, received, next;
	uint64_t gap;             /* the longest time between two rounds (TSC) */
};

static int
parse_mac(const char *s, uint8_t m[6])
{
	return sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &m[0], &m[1], &m[2], &m[3], &m[4],
		      &m[5]) == 6 ? 0 : -1;
}

static void
build(struct run *r, const uint8_t dmac[6], const uint8_t smac[6], uint32_t src, uint32_t dst)
{
	uint32_t i;

	for (i = 0; i < r->flows; i++) {
		uint8_t *f = r->frames + (size_t)i * r->size;
		struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(f + 14);
		struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);
		uint16_t l3 = (uint16_t)(r->size - 14);

		memcpy(f, dmac, 6);
		memcpy(f + 6, smac, 6);
		f[12] = 0x08;
		f[13] = 0x00;
		*ip = (struct rte_ipv4_hdr){
			.version_ihl = 0x45, .total_length = htons(l3), .time_to_live = 64,
			.next_proto_id = IPPROTO_UDP, .src_addr = htonl(src + i % 250),
			.dst_addr = htonl(dst + i % 8),
		};
		ip->hdr_checksum = rte_ipv4_cksum(ip);
		*udp = (struct rte_udp_hdr){
			.src_port = htons((uint16_t)(1024 + i / 250)), .dst_port = htons(5000),
			.dgram_len = htons((uint16_t)(l3 - 20)),
		};
	}
}

static void
receive(struct run *r)
{
	struct rte_mbuf *m[BURST];
	uint16_t n;

	while ((n = rte_eth_rx_burst(r->port, 0, m, BURST)) > 0) {
		r->received += n;
		rte_pktmbuf_free_bulk(m, n);
	}
}

/* Send up to n frames, the flows in turn; returns how many the port took. */
static uint32_t
offer(struct run *r, uint32_t n)
{
	struct rte_mbuf *m[BURST];
	uint16_t i, k;

	if (n > BURST)
		n = BURST;
	if (rte_pktmbuf_alloc_bulk(r->mp, m, n) != 0)
		return 0;
	for (i = 0; i < n; i++) {
		uint8_t *p = (uint8_t *)rte_pktmbuf_append(m[i], (uint16_t)r->size);

		memcpy(p, r->frames + (size_t)((r->next + i) % r->flows) * r->size, r->size);
	}
	k = rte_eth_tx_burst(r->port, 0, m, (uint16_t)n);
	if (k < n)
		rte_pktmbuf_free_bulk(m + k, n - k);
	r->next += k;
	r->sent += k;
	return k;
}

static void
nap(void)
{
	struct timespec ts = { 0, 100000 };

	nanosleep(&ts, NULL);
}

/*
 * Until TSC `end`: take what came back, send what is due (per_tsc frames a
 * TSC cycle since t0, counted from the sent count at t0; 0 = all the port
 * takes), then sleep. Sleeping every round lets the other threads on this
 * core (the gateway's control thread, the driver) run even when this runs
 * at a real-time priority; the rings cover the sleep.
 */
static void
pump(struct run *r, uint64_t t0, uint64_t end, double per_tsc, int64_t *behind)
{
	uint64_t s0 = r->sent, t, last = rte_rdtsc();
	int64_t due;

	for (t = last; t < end; t = rte_rdtsc()) {
		if (behind != NULL && t - last > r->gap)
			r->gap = t - last;
		last = t;
		receive(r);
		for (;;) {
			due = per_tsc == 0 ? BURST :
			      (int64_t)((double)(rte_rdtsc() - t0) * per_tsc) - (int64_t)(r->sent - s0);
			if (behind != NULL && due > *behind)
				*behind = due;
			if (due <= 0 || offer(r, (uint32_t)RTE_MIN(due, BURST)) == 0)
				break;
			/* While catching up, what comes back is taken too: a
			 * full return ring would be loss at the gateway. */
			receive(r);
		}
		nap();
	}
}

/* Take what comes back until nothing has for `quiet` TSC cycles. */
static void
drain(struct run *r, uint64_t quiet)
{
	uint64_t t = rte_rdtsc(), seen = r->received;

	while (rte_rdtsc() - t < quiet) {
		receive(r);
		if (r->received != seen) {
			seen = r->received;
			t = rte_rdtsc();
		}
		nap();
	}
}

int
main(int argc, char **argv)
{
	struct rte_eth_conf conf = { 0 };
	struct run r = { 0 };
	uint8_t dmac[6], smac[6];
	struct in_addr src, dst;
	double max_s, pct, load_s, max_pps, paced_pps;
	uint64_t hz, t0, mark, rx0, s0;
	int64_t behind = 0;
	int n;

	n = rte_eal_init(argc, argv);
	if (n < 0)
		rte_exit(EXIT_FAILURE, "EAL init failed\n");
	argc -= n;
	argv += n;
	if (argc != 10 || parse_mac(argv[6], dmac) || parse_mac(argv[7], smac) ||
	    inet_pton(AF_INET, argv[8], &src) != 1 || inet_pton(AF_INET, argv[9], &dst) != 1)
		rte_exit(EXIT_FAILURE, "usage: lg_pace EAL -- FLOWS SIZE MAX_S PCT LOAD_S DST_MAC"
			 " SRC_MAC SRC_IP DST_IP\n");
	r.flows = (uint32_t)strtoul(argv[1], NULL, 0);
	r.size = (uint32_t)strtoul(argv[2], NULL, 0);
	max_s = atof(argv[3]);
	pct = atof(argv[4]);
	load_s = atof(argv[5]);
	if (r.flows == 0 || r.size < 14 + 28 || r.size > 1514 || max_s < 2 || pct <= 0 ||
	    pct > 100 || load_s <= 0)
		rte_exit(EXIT_FAILURE, "lg_pace: FLOWS >= 1, SIZE 42..1514, MAX_S >= 2,"
			 " PCT 0..100, LOAD_S > 0\n");
	r.frames = calloc(r.flows, r.size);
	r.mp = rte_pktmbuf_pool_create("pace", 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       (int)rte_socket_id());
	if (r.frames == NULL || r.mp == NULL || rte_eth_dev_count_avail() < 1)
		rte_exit(EXIT_FAILURE, "lg_pace: no memory or no port\n");
	build(&r, dmac, smac, ntohl(src.s_addr), ntohl(dst.s_addr));
	if (rte_eth_dev_configure(r.port, 1, 1, &conf) != 0 ||
	    rte_eth_rx_queue_setup(r.port, 0, 1024, rte_socket_id(), NULL, r.mp) != 0 ||
	    rte_eth_tx_queue_setup(r.port, 0, 1024, rte_socket_id(), NULL) != 0 ||
	    rte_eth_dev_start(r.port) != 0)
		rte_exit(EXIT_FAILURE, "lg_pace: port setup failed\n");
	hz = rte_get_tsc_hz();

	/* Wait for the peer (a memif link comes up when the client connects). */
	for (t0 = rte_rdtsc();; nap()) {
		struct rte_eth_link l;

		if (rte_eth_link_get_nowait(r.port, &l) == 0 && l.link_status)
			break;
		if (rte_rdtsc() - t0 > 30 * hz)
			rte_exit(EXIT_FAILURE, "lg_pace: no peer connected in 30 s\n");
	}

	/* Phase 1: as fast as the gateway takes them. */
	t0 = rte_rdtsc();
	pump(&r, t0, t0 + hz, 0, NULL);
	mark = r.received;                   /* all but the first second */
	pump(&r, t0, t0 + (uint64_t)(max_s * hz), 0, NULL);
	max_pps = (double)(r.received - mark) / (max_s - 1);
	drain(&r, hz / 2);

	/* Phase 2: paced. */
	paced_pps = max_pps * pct / 100;
	printf("paced %.0f\n", paced_pps);
	fflush(stdout);
	s0 = r.sent;
	rx0 = r.received;
	t0 = rte_rdtsc();
	pump(&r, t0, t0 + (uint64_t)(load_s * hz), paced_pps / (double)hz, &behind);
	paced_pps = (double)(r.sent - s0) * (double)hz / (double)(rte_rdtsc() - t0);
	drain(&r, hz * 3 / 10);
	printf("{\"max_pps\": %.0f, \"paced_pps\": %.0f, \"sent\": %" PRIu64 ", \"received\": %"
	       PRIu64 ", \"behind\": %" PRIu64 ", \"gap_us\": %.0f}\n", max_pps, paced_pps,
	       r.sent - s0, r.received - rx0, (uint64_t)behind, (double)r.gap * 1e6 / (double)hz);
	fflush(stdout);
	rte_eth_dev_stop(r.port);
	rte_eth_dev_close(r.port);
	free(r.frames);
	rte_eal_cleanup();
	return 0;
}
