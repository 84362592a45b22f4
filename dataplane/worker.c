/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The packet loop. Outbound (protected -> unprotected):
 *   parse -> SPD-out -> [latch lookup: latching issue] -> ESP encap per SA
 *   run -> route on the tunnel end -> TX.
 * Inbound (unprotected -> protected):
 *   parse -> ESP: SAD by SPI -> replay pre-check, ICV, replay commit
 *   (librte_ipsec, RFC 4303 §3.4.3) -> inner selector check (RFC 4301 §5.2)
 *   -> [latch check] -> route -> TX;  non-ESP: SPD-in, BYPASS or drop.
 *
 * Stages take mb[], n and compact what survives to the front; a packet that
 * fails is freed at once with its drop reason counted.
 */
#include <netinet/in.h>
#include <string.h>

#include <rte_cryptodev.h>
#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_esp.h>
#include <rte_ethdev.h>
#include <rte_ipsec.h>
#include <rte_prefetch.h>

#include "pkt.h"
#include "worker.h"

#define ESP_HDR_LEN 8
#define GCM_IV_LEN 8
#define GCM_ICV_LEN 16

static inline void
drop(struct lg_worker *w, struct rte_mbuf *m, enum lg_drop why)
{
	w->st->drops[why]++;
	rte_pktmbuf_free(m);
}

static void
drop_n(struct lg_worker *w, struct rte_mbuf *mb[], uint32_t n, enum lg_drop why)
{
	if (n == 0)
		return;
	w->st->drops[why] += n;
	rte_pktmbuf_free_bulk(mb, n);
}

static void
flush_port(struct lg_worker *w, uint8_t pi)
{
	struct lg_txq *q = &w->tx[pi];
	uint16_t port = w->dp->port[pi].port_id;
	uint16_t sent, i;
	uint64_t bytes = 0;

	if (q->n == 0)
		return;
	for (i = 0; i < q->n; i++)
		bytes += rte_pktmbuf_pkt_len(q->m[i]);
	sent = rte_eth_tx_burst(port, w->queue, q->m, q->n);
	for (i = sent; i < q->n; i++)
		bytes -= rte_pktmbuf_pkt_len(q->m[i]);
	w->st->port[pi].tx_pkts += sent;
	w->st->port[pi].tx_bytes += bytes;
	if (unlikely(sent < q->n)) {
		w->st->port[pi].tx_dropped += q->n - sent;
		drop_n(w, q->m + sent, q->n - sent, LG_DROP_TX_FULL);
	}
	q->n = 0;
}

static inline void
tx_enqueue(struct lg_worker *w, const struct lg_nexthop *nh, struct rte_mbuf *m)
{
	uint8_t pi = w->dp->port_idx[nh->port];
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct lg_txq *q = &w->tx[pi];

	eh->dst_addr = nh->mac;
	eh->src_addr = w->dp->port[pi].mac;
	q->m[q->n++] = m;
	if (unlikely(q->n == LG_TXB))
		flush_port(w, pi);
}

/* Route an IPv4 frame (Ethernet header present) on its IP destination. */
static inline void
forward4(struct lg_worker *w, const struct lg_routes *rt, struct rte_mbuf *m)
{
	const struct rte_ipv4_hdr *ip = lg_pkt_ip4(m);
	const struct lg_nexthop *nh;

	nh = lg_route_lookup4(rt, rte_be_to_cpu_32(ip->dst_addr));
	if (unlikely(nh == NULL)) {
		drop(w, m, LG_DROP_NO_ROUTE);
		return;
	}
	tx_enqueue(w, nh, m);
}

/* ---- outbound ---------------------------------------------------------- */

static void
out_finish(struct lg_worker *w, const struct lg_sa *sa, struct rte_mbuf *mb[],
	   uint32_t n)
{
	const struct lg_routes *rt = __atomic_load_n(&w->dp->routes, __ATOMIC_ACQUIRE);
	const struct lg_nexthop *nh;
	uint32_t i;

	/* Every packet of the run has the same outer destination. */
	nh = lg_route_lookup4(rt, (uint32_t)sa->remote[0] << 24 |
			      (uint32_t)sa->remote[1] << 16 |
			      (uint32_t)sa->remote[2] << 8 | sa->remote[3]);
	if (unlikely(nh == NULL)) {
		drop_n(w, mb, n, LG_DROP_NO_ROUTE);
		return;
	}
	for (i = 0; i < n; i++) {
		struct rte_ipv4_hdr *ip = lg_pkt_ip4(mb[i]);

		/* librte_ipsec sets length and id, not the checksum. */
		ip->hdr_checksum = 0;
		ip->hdr_checksum = rte_ipv4_cksum(ip);
		tx_enqueue(w, nh, mb[i]);
	}
}

static void
count_sa(struct lg_worker *w, const struct lg_sa *sa, struct rte_mbuf *mb[],
	 uint32_t n, uint32_t hdr)
{
	uint64_t bytes = 0;
	uint32_t i;

	for (i = 0; i < n; i++)
		bytes += rte_pktmbuf_pkt_len(mb[i]) - hdr;
	w->st->sa[sa->slot].pkts += n;
	w->st->sa[sa->slot].bytes += bytes;
}

static void
esp_out(struct lg_worker *w, struct lg_sa *sa, struct rte_mbuf *mb[], uint32_t n)
{
	const struct rte_ipsec_session *ss = &sa->ss[w->cdev_idx];
	struct rte_crypto_op *cop[LG_BURST];
	uint32_t i, k, e;

	count_sa(w, sa, mb, n, LG_L2_LEN);
	rte_errno = 0;
	if (w->dp->cpu_crypto) {
		k = rte_ipsec_pkt_cpu_prepare(ss, mb, n);
	} else {
		for (i = 0; i < n; i++)
			cop[i] = lg_mbuf_cop(mb[i]);
		k = rte_ipsec_pkt_crypto_prepare(ss, mb, cop, n);
	}
	if (unlikely(k < n)) {
		/* Not yet sent: take them back out of the SA's figures. */
		w->st->sa[sa->slot].pkts -= n - k;
		for (i = k; i < n; i++)
			w->st->sa[sa->slot].bytes -= rte_pktmbuf_pkt_len(mb[i]) - LG_L2_LEN;
		drop_n(w, mb + k, n - k, rte_errno == EOVERFLOW ?
		       LG_DROP_ESP_SEQ_OVERFLOW : LG_DROP_ESP_ENCAP_FAILED);
	}
	if (w->dp->cpu_crypto) {
		e = rte_ipsec_pkt_process(ss, mb, k);
		drop_n(w, mb + e, k - e, LG_DROP_CRYPTO_FAILED);
		out_finish(w, sa, mb, e);
		return;
	}
	e = rte_cryptodev_enqueue_burst(w->cdev_id, w->cqp, cop, k);
	w->inflight += e;
	drop_n(w, mb + e, k - e, LG_DROP_CRYPTO_QUEUE_FULL);
}

/* Hand consecutive packets of one SA to esp_fn as one run (keeps order). */
static void
sa_runs(struct lg_worker *w, struct lg_sa *sas[], struct rte_mbuf *mb[], uint32_t n,
	void (*esp_fn)(struct lg_worker *, struct lg_sa *, struct rte_mbuf **, uint32_t))
{
	uint32_t i, start = 0;

	for (i = 1; i <= n; i++) {
		if (i == n || sas[i] != sas[start]) {
			esp_fn(w, sas[start], mb + start, i - start);
			start = i;
		}
	}
}

static void
outbound(struct lg_worker *w, struct rte_mbuf *mb[], uint32_t n)
{
	const struct lg_spd *spd = __atomic_load_n(&w->dp->spd_out, __ATOMIC_ACQUIRE);
	const struct lg_routes *rt = __atomic_load_n(&w->dp->routes, __ATOMIC_ACQUIRE);
	struct lg_sa **sat = __atomic_load_n(&w->dp->sa, __ATOMIC_ACQUIRE);
	struct lg_key4 key[LG_BURST];
	const uint8_t *kp[LG_BURST];
	uint32_t res[LG_BURST];
	struct lg_sa *sas[LG_BURST];
	uint32_t i, k = 0, np = 0;
	enum lg_drop why;

	for (i = 0; i < n; i++) {
		why = lg_pkt_parse4(mb[i], &key[k]);
		if (unlikely(why != LG_DROP_MAX)) {
			drop(w, mb[i], why);
			continue;
		}
		kp[k] = (const uint8_t *)&key[k];
		mb[k++] = mb[i];
	}
	lg_spd_classify(spd, kp, res, k);
	for (i = 0; i < k; i++) {
		const struct lg_spd_rule *r = &spd->rule[res[i]];
		struct rte_mbuf *m = mb[i];

		if (unlikely(res[i] == LG_SPD_NONE)) {
			drop(w, m, LG_DROP_SPD_NO_MATCH);
		} else if (unlikely(r->action == LG_SPD_DISCARD)) {
			drop(w, m, LG_DROP_SPD_DISCARD);
		} else if (unlikely(lg_pkt_ttl_dec4(lg_pkt_ip4(m)) != 0)) {
			drop(w, m, LG_DROP_TTL_EXCEEDED);
		} else if (r->action == LG_SPD_BYPASS) {
			forward4(w, rt, m);
		} else if (unlikely((sas[np] = sat[r->sa_slot]) == NULL)) {
			drop(w, m, LG_DROP_SA_MISSING);
		} else {
			mb[np++] = m;
		}
	}
	sa_runs(w, sas, mb, np, esp_out);
}

/* ---- inbound ----------------------------------------------------------- */

/* RFC 4303 §2.4: default padding 1, 2, 3, ... and the next header of a
 * tunnel SA (IPv4 in IPv4). Pad Length plus 2 must fit in the payload. */
static inline bool
trailer_ok(const struct rte_mbuf *m)
{
	uint32_t len = rte_pktmbuf_pkt_len(m);
	uint32_t body = len - m->l2_len - m->l3_len - ESP_HDR_LEN - GCM_IV_LEN - GCM_ICV_LEN;
	const uint8_t *t = rte_pktmbuf_mtod_offset(m, const uint8_t *, len - GCM_ICV_LEN - 2);
	uint8_t pad = t[0], i;

	if (t[1] != IPPROTO_IPIP || pad + 2u > body)
		return false;
	for (i = 1; i <= pad; i++) {
		if (t[(int)i - 1 - pad] != i)
			return false;
	}
	return true;
}

static inline uint32_t
esp_seq(const struct rte_mbuf *m)
{
	const struct rte_esp_hdr *esp = rte_pktmbuf_mtod_offset(m, const struct rte_esp_hdr *,
								 m->l2_len + m->l3_len);

	return rte_be_to_cpu_32(esp->seq);
}

/*
 * After decryption, before librte_ipsec strips the headers: ICV result,
 * trailer, then the replay-window commit (RFC 4303 §3.4.3: the window moves
 * only for packets whose ICV verified). Compacts survivors to the front.
 */
static uint32_t
inb_verify(struct lg_worker *w, struct lg_sa *sa, struct rte_mbuf *mb[], uint32_t n)
{
	uint32_t i, k = 0;

	for (i = 0; i < n; i++) {
		struct rte_mbuf *m = mb[i];

		if (unlikely(m->ol_flags & RTE_MBUF_F_RX_SEC_OFFLOAD_FAILED))
			drop(w, m, LG_DROP_ESP_AUTH_FAILED);
		else if (unlikely(!trailer_ok(m)))
			drop(w, m, LG_DROP_ESP_BAD_TRAILER);
		else if (sa->rp != NULL &&
			 unlikely(!lg_replay_commit(sa->rp, lg_replay_seq(sa->rp, esp_seq(m)))))
			drop(w, m, LG_DROP_ESP_REPLAY);
		else
			mb[k++] = m;
	}
	return k;
}

/*
 * Decapsulated packets start at the inner IP header. Put an Ethernet header
 * back, then check the inner packet against the policy the SA serves
 * (RFC 4301 §5.2), and forward.
 */
static void
in_finish(struct lg_worker *w, const struct lg_sa *sa, struct rte_mbuf *mb[],
	  uint32_t n)
{
	const struct lg_spd *spd = __atomic_load_n(&w->dp->spd_in, __ATOMIC_ACQUIRE);
	const struct lg_routes *rt = __atomic_load_n(&w->dp->routes, __ATOMIC_ACQUIRE);
	struct lg_key4 key[LG_BURST];
	const uint8_t *kp[LG_BURST];
	uint32_t res[LG_BURST];
	uint32_t i, k = 0;
	enum lg_drop why;

	for (i = 0; i < n; i++) {
		struct rte_mbuf *m = mb[i];
		struct rte_ether_hdr *eh;

		eh = (struct rte_ether_hdr *)rte_pktmbuf_prepend(m, LG_L2_LEN);
		if (unlikely(eh == NULL)) {
			drop(w, m, LG_DROP_MALFORMED);
			continue;
		}
		eh->ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV4);
		why = lg_pkt_parse4(m, &key[k]);
		if (unlikely(why != LG_DROP_MAX)) {
			drop(w, m, why == LG_DROP_NOT_IP ? LG_DROP_MALFORMED : why);
			continue;
		}
		kp[k] = (const uint8_t *)&key[k];
		mb[k++] = m;
	}
	lg_spd_classify(spd, kp, res, k);
	n = 0;
	for (i = 0; i < k; i++) {
		const struct lg_spd_rule *r = &spd->rule[res[i]];

		if (unlikely(res[i] == LG_SPD_NONE || r->action != LG_SPD_PROTECT ||
			     r->sa_slot != sa->slot))
			drop(w, mb[i], LG_DROP_ESP_SELECTOR_MISMATCH);
		else if (unlikely(lg_pkt_ttl_dec4(lg_pkt_ip4(mb[i])) != 0))
			drop(w, mb[i], LG_DROP_TTL_EXCEEDED);
		else
			mb[n++] = mb[i];
	}
	count_sa(w, sa, mb, n, LG_L2_LEN);
	for (i = 0; i < n; i++)
		forward4(w, rt, mb[i]);
}

static void
inb_process(struct lg_worker *w, struct lg_sa *sa, const struct rte_ipsec_session *ss,
	    struct rte_mbuf *mb[], uint32_t n)
{
	uint32_t k, e;

	k = inb_verify(w, sa, mb, n);
	e = rte_ipsec_pkt_process(ss, mb, k);
	/* Its own trailer and length checks, which inb_verify has made. */
	drop_n(w, mb + e, k - e, LG_DROP_ESP_BAD_TRAILER);
	in_finish(w, sa, mb, e);
}

static void
esp_in(struct lg_worker *w, struct lg_sa *sa, struct rte_mbuf *mb[], uint32_t n)
{
	const struct rte_ipsec_session *ss = &sa->ss[w->cdev_idx];
	struct rte_crypto_op *cop[LG_BURST];
	uint32_t i, k, e;

	/* Prepare refuses only what the replay pre-check rejects: lengths
	 * were checked before the SAD stage. */
	if (w->dp->cpu_crypto) {
		k = rte_ipsec_pkt_cpu_prepare(ss, mb, n);
		drop_n(w, mb + k, n - k, LG_DROP_ESP_REPLAY);
		inb_process(w, sa, ss, mb, k);
		return;
	}
	for (i = 0; i < n; i++)
		cop[i] = lg_mbuf_cop(mb[i]);
	k = rte_ipsec_pkt_crypto_prepare(ss, mb, cop, n);
	drop_n(w, mb + k, n - k, LG_DROP_ESP_REPLAY);
	e = rte_cryptodev_enqueue_burst(w->cdev_id, w->cqp, cop, k);
	w->inflight += e;
	drop_n(w, mb + e, k - e, LG_DROP_CRYPTO_QUEUE_FULL);
}

/* Outer checks for ESP before the SAD: RFC 4303 §3.4.1 (no fragments) and
 * a length that can hold header, IV, trailer and ICV, 4-byte aligned. */
static inline enum lg_drop
esp_check(struct rte_mbuf *m)
{
	const struct rte_ipv4_hdr *ip = lg_pkt_ip4(m);
	uint32_t plen = rte_pktmbuf_pkt_len(m) - m->l2_len - m->l3_len;

	if (unlikely(ip->fragment_offset &
		     RTE_BE16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)))
		return LG_DROP_ESP_FRAGMENT;
	if (unlikely(plen < ESP_HDR_LEN + GCM_IV_LEN + 4 + GCM_ICV_LEN ||
		     ((plen - ESP_HDR_LEN - GCM_IV_LEN - GCM_ICV_LEN) & 3) != 0 ||
		     m->data_len != m->pkt_len))
		return LG_DROP_ESP_TRUNCATED;
	return LG_DROP_MAX;
}

static void
plain_in(struct lg_worker *w, struct rte_mbuf *mb[], const uint8_t *kp[], uint32_t n)
{
	const struct lg_spd *spd = __atomic_load_n(&w->dp->spd_in, __ATOMIC_ACQUIRE);
	const struct lg_routes *rt = __atomic_load_n(&w->dp->routes, __ATOMIC_ACQUIRE);
	uint32_t res[LG_BURST];
	uint32_t i;

	lg_spd_classify(spd, kp, res, n);
	for (i = 0; i < n; i++) {
		const struct lg_spd_rule *r = &spd->rule[res[i]];

		if (unlikely(res[i] == LG_SPD_NONE))
			drop(w, mb[i], LG_DROP_SPD_NO_MATCH);
		else if (r->action == LG_SPD_DISCARD)
			drop(w, mb[i], LG_DROP_SPD_DISCARD);
		else if (r->action == LG_SPD_PROTECT)
			drop(w, mb[i], LG_DROP_SPD_PROTECT_CLEAR);
		else if (unlikely(lg_pkt_ttl_dec4(lg_pkt_ip4(mb[i])) != 0))
			drop(w, mb[i], LG_DROP_TTL_EXCEEDED);
		else
			forward4(w, rt, mb[i]);
	}
}

static void
inbound(struct lg_worker *w, struct rte_mbuf *mb[], uint32_t n)
{
	const struct lg_sad *sad = __atomic_load_n(&w->dp->sad, __ATOMIC_ACQUIRE);
	struct lg_sa **sat = __atomic_load_n(&w->dp->sa, __ATOMIC_ACQUIRE);
	struct rte_mbuf *esp[LG_BURST], *plain[LG_BURST];
	struct lg_key4 key[LG_BURST];
	const uint8_t *kp[LG_BURST];
	const void *spi[LG_BURST];
	uint32_t slot[LG_BURST];
	struct lg_sa *sas[LG_BURST];
	uint32_t i, ne = 0, npl = 0, k = 0;
	uint64_t hit;
	enum lg_drop why;

	for (i = 0; i < n; i++) {
		struct rte_mbuf *m = mb[i];

		why = lg_pkt_parse4(m, &key[npl]);
		if (why == LG_DROP_MAX && key[npl].proto == IPPROTO_ESP)
			why = esp_check(m);
		else if (why == LG_DROP_MAX) {
			kp[npl] = (const uint8_t *)&key[npl];
			plain[npl++] = m;
			continue;
		}
		if (unlikely(why != LG_DROP_MAX)) {
			drop(w, m, why);
			continue;
		}
		spi[ne] = rte_pktmbuf_mtod_offset(m, const uint8_t *, m->l2_len + m->l3_len);
		esp[ne++] = m;
	}
	hit = ne ? lg_sad_lookup_bulk(sad, spi, ne, slot) : 0;
	for (i = 0; i < ne; i++) {
		struct lg_sa *sa = (hit >> i) & 1 ? sat[slot[i]] : NULL;

		if (unlikely(sa == NULL || sa->dir != LG_SA_IN)) {
			drop(w, esp[i], LG_DROP_ESP_UNKNOWN_SPI);
			continue;
		}
		/* RFC 4303 §3.4.3: the first check once the SA is known. */
		if (sa->rp != NULL &&
		    unlikely(!lg_replay_check(sa->rp, lg_replay_seq(sa->rp, esp_seq(esp[i]))))) {
			drop(w, esp[i], LG_DROP_ESP_REPLAY);
			continue;
		}
		sas[k] = sa;
		esp[k++] = esp[i];
	}
	sa_runs(w, sas, esp, k, esp_in);
	if (npl)
		plain_in(w, plain, kp, npl);
}

/* ---- crypto completions (lookaside) ------------------------------------- */

static uint32_t
drain_crypto(struct lg_worker *w)
{
	struct rte_crypto_op *cop[LG_BURST];
	struct rte_mbuf *mb[LG_BURST];
	struct rte_ipsec_group grp[LG_BURST];
	uint32_t i, n, ng, g, done = 0, k;

	if (w->inflight == 0)
		return 0;
	n = rte_cryptodev_dequeue_burst(w->cdev_id, w->cqp, cop, LG_BURST);
	if (n == 0)
		return 0;
	w->inflight -= n;
	for (i = 0; i < n; i++)
		mb[i] = cop[i]->sym->m_src;
	ng = rte_ipsec_pkt_crypto_group((const struct rte_crypto_op **)(uintptr_t)cop,
					mb, grp, n);
	for (g = 0; g < ng; g++) {
		const struct rte_ipsec_session *ss = grp[g].id.ptr;
		struct lg_sa *sa = lg_sa_of_session(ss, w->cdev_idx);

		done += grp[g].cnt;
		if (sa->dir == LG_SA_OUT) {
			k = rte_ipsec_pkt_process(ss, grp[g].m, grp[g].cnt);
			drop_n(w, grp[g].m + k, grp[g].cnt - k, LG_DROP_CRYPTO_FAILED);
			out_finish(w, sa, grp[g].m, k);
		} else {
			inb_process(w, sa, ss, grp[g].m, grp[g].cnt);
		}
	}
	/* Ops without a session sit after the groups. */
	drop_n(w, mb + done, n - done, LG_DROP_CRYPTO_FAILED);
	return n;
}

/* ---- main loop ----------------------------------------------------------- */

static uint32_t
poll_port(struct lg_worker *w, uint8_t pi)
{
	const struct lg_dp_port *p = &w->dp->port[pi];
	struct rte_mbuf *mb[LG_BURST];
	uint64_t bytes = 0;
	uint16_t n, i;

	n = rte_eth_rx_burst(p->port_id, w->queue, mb, LG_BURST);
	if (n == 0)
		return 0;
	for (i = 0; i < n; i++) {
		rte_prefetch0(rte_pktmbuf_mtod(mb[i], void *));
		bytes += rte_pktmbuf_pkt_len(mb[i]);
	}
	w->st->port[pi].rx_pkts += n;
	w->st->port[pi].rx_bytes += bytes;
	if (p->role == LG_PORT_PROTECTED)
		outbound(w, mb, n);
	else
		inbound(w, mb, n);
	return n;
}

static void
flush_tx(struct lg_worker *w)
{
	uint8_t pi;

	for (pi = 0; pi < w->dp->nports; pi++)
		flush_port(w, pi);
}

int
lg_worker_main(void *arg)
{
	struct lg_worker *w = arg;
	const struct lg_dp *dp = w->dp;
	uint64_t t0, t1, deadline;
	uint32_t work;
	uint8_t pi;

	while (!__atomic_load_n(&dp->stop, __ATOMIC_RELAXED)) {
		t0 = rte_rdtsc();
		work = 0;
		for (pi = 0; pi < dp->nports; pi++)
			work += poll_port(w, pi);
		if (work)
			__atomic_store_n(&w->last_rx_tsc, t0, __ATOMIC_RELAXED);
		if (!dp->cpu_crypto) {
			uint32_t d;

			while ((d = drain_crypto(w)) != 0)
				work += d;
		}
		flush_tx(w);
		w->st->polls++;
		if (work) {
			t1 = rte_rdtsc();
			w->st->busy_polls++;
			w->st->busy_tsc += t1 - t0;
		}
		__atomic_store_n(&w->inflight_seen, w->inflight, __ATOMIC_RELAXED);
	}
	/* Drain what is still in the crypto queue, for at most 100 ms. */
	deadline = rte_rdtsc() + rte_get_tsc_hz() / 10;
	while (w->inflight != 0 && rte_rdtsc() < deadline) {
		drain_crypto(w);
		flush_tx(w);
	}
	flush_tx(w);
	__atomic_store_n(&w->inflight_seen, w->inflight, __ATOMIC_RELAXED);
	return 0;
}
