/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The packet loop. Outbound (protected -> unprotected):
 *   parse -> SPD-out -> [latch lookup: latching issue] -> ESP encap per SA
 *   run -> outer header rules (RFC 4301 §5.1.2) -> route -> TX.
 * Inbound (unprotected -> protected):
 *   parse -> ESP or ESP-in-UDP (RFC 3948): SAD by SPI -> replay pre-check,
 *   ICV, trailer, replay commit (RFC 4303 §3.4.3) -> decap, ECN (RFC 6040)
 *   -> inner selector check (RFC 4301 §5.2) -> [latch check] -> route -> TX;
 *   other packets: SPD-in, BYPASS or drop.
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
#include <rte_rcu_qsbr.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include "pkt.h"
#include "worker.h"

#define ESP_HDR_LEN 8
#define NATT_PORT 4500          /* RFC 3948 */
#define NH_DUMMY 59             /* RFC 4303 §2.6 */
#define ECN_MASK 0x03
#define ECN_ECT1 0x01
#define ECN_ECT0 0x02
#define ECN_CE 0x03

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
	uint16_t pi = nh->port;
	struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct lg_txq *q = &w->tx[pi];

	eh->dst_addr = nh->mac;
	eh->src_addr = w->dp->port[pi].mac;
	q->m[q->n++] = m;
	if (unlikely(q->n == LG_TXB))
		flush_port(w, pi);
}

static inline const struct lg_nexthop *
route(const struct lg_routes *rt, struct rte_mbuf *m)
{
	if (lg_pkt_is6(m))
		return lg_route_lookup6(rt, ((const struct rte_ipv6_hdr *)lg_pkt_l3(m))->dst_addr);
	return lg_route_lookup4(rt, rte_be_to_cpu_32(((const struct rte_ipv4_hdr *)
						       lg_pkt_l3(m))->dst_addr));
}

static inline bool
to_us(const struct lg_dp *dp, struct rte_mbuf *m)
{
	uint32_t i;

	if (lg_pkt_is6(m)) {
		const uint8_t *d = ((const struct rte_ipv6_hdr *)lg_pkt_l3(m))->dst_addr;

		for (i = 0; i < dp->nlocal6; i++) {
			if (memcmp(d, dp->local6[i], 16) == 0)
				return true;
		}
		return false;
	}
	rte_be32_t d = ((const struct rte_ipv4_hdr *)lg_pkt_l3(m))->dst_addr;

	for (i = 0; i < dp->nlocal4; i++) {
		if (d == dp->local4[i])
			return true;
	}
	return false;
}

/* Route a frame (Ethernet header present) on its IP destination. */
static inline void
forward(struct lg_worker *w, const struct lg_routes *rt, struct rte_mbuf *m)
{
	const struct lg_nexthop *nh = route(rt, m);

	if (unlikely(nh == NULL)) {
		drop(w, m, LG_DROP_NO_ROUTE);
		return;
	}
	tx_enqueue(w, nh, m);
}

/*
 * Inbound traffic (decrypted, or SPD-in BYPASS) must not leave on an
 * unprotected port: it has not been through SPD-out, so a route back to
 * the WAN would send a protected flow in the clear (hub-and-spoke
 * re-encryption is not supported yet). Nor is the gateway's own traffic
 * forwarded: the dataplane has no local stack.
 */
static inline void
forward_in(struct lg_worker *w, const struct lg_routes *rt, struct rte_mbuf *m,
	   bool clear)
{
	const struct lg_nexthop *nh;

	/* Cleartext to us (IKE through an SPD-in BYPASS) would only bounce
	 * back to the WAN. Decrypted transport-mode traffic to us is routed
	 * on, to a protected port (the lab set-up of RFC 4303 §3.1.1). */
	if (unlikely(clear && to_us(w->dp, m))) {
		drop(w, m, LG_DROP_TO_US);
		return;
	}
	nh = route(rt, m);
	if (unlikely(nh == NULL)) {
		drop(w, m, LG_DROP_NO_ROUTE);
		return;
	}
	if (unlikely(!nh->protect)) {
		drop(w, m, LG_DROP_IN_TO_UNPROTECTED);
		return;
	}
	tx_enqueue(w, nh, m);
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

/* Parse a burst into keys; survivors compacted to the front. */
static uint32_t
parse_burst(struct lg_worker *w, struct rte_mbuf *mb[], uint32_t n,
	    union lg_key key[], const union lg_key *kp[], uint8_t is6[])
{
	uint32_t i, k = 0;
	enum lg_drop why;

	for (i = 0; i < n; i++) {
		why = lg_pkt_parse(mb[i], &key[k]);
		if (unlikely(why != LG_DROP_MAX)) {
			drop(w, mb[i], why);
			continue;
		}
		kp[k] = &key[k];
		is6[k] = lg_pkt_is6(mb[i]);
		mb[k++] = mb[i];
	}
	return k;
}

/* ---- latching (RFC 5660) ------------------------------------------------ */

/*
 * Check one packet against its flow's latch. sa is the SA the packet uses
 * now, NULL for BYPASS. Returns LG_DROP_MAX to pass it. A conflict breaks
 * the latch by one CAS; the winner counts the transition (the notification
 * comes with the control-plane part of latching). The packet that finds the
 * conflict is dropped like every later one: never sent under the other
 * parameters, never sent in the clear (LATCHING.md §1.5).
 */
/* The one event of a transition this worker won (LATCHING.md §1.7). */
static void
raise_event(struct lg_worker *w, const struct lg_latch *l, const struct lg_flow_key *k,
	    uint32_t pos, uint8_t from, uint8_t to, uint8_t reason, int dir,
	    const struct lg_sa *now_sa)
{
	lg_event_raise(w->dp->events, l, k, pos, from, to, reason, dir, now_sa,
		       &w->st->event_overflow);
}

static enum lg_drop
latch_check(struct lg_worker *w, struct lg_latch *l, uint32_t state,
	    const struct lg_sa *sa, int dir, bool rev, const struct lg_flow_key *k, uint32_t pos)
{
	enum lg_drop why = LG_DROP_LATCH_BROKEN;
	uint8_t reason = LG_REASON_SA_CONFLICT;
	uint32_t p;

	if (state == LG_LATCH_BROKEN)
		goto drop;
	if (state != LG_LATCH_ESTABLISHED)
		return LG_DROP_LATCH_CLOSING;
	/* Cleartext arriving for a latched flow is dropped and never touches
	 * the latch (item 20): anyone can forge it. Outbound, BYPASS of a
	 * latched flow means the SPD changed under it: break (item 17). */
	if (sa == NULL && dir == 1) {
		__atomic_fetch_add(&w->dp->latch->cold[pos].drops, 1, __ATOMIC_RELAXED);
		return LG_DROP_LATCH_GOT_CLEAR;
	}
	if (sa == NULL) {
		reason = LG_REASON_SPD_CHANGE;
		goto brk;
	}
	if (unlikely(l->ident != sa->ident)) {
		why = LG_DROP_LATCH_ID_MISMATCH;
		reason = dir ? LG_REASON_INBOUND_MISMATCH : LG_REASON_SA_CONFLICT;
		goto brk;
	}
	p = __atomic_load_n(&l->pset[dir], __ATOMIC_RELAXED);
	if (unlikely(p == 0)) {
		/* First packet this way: learn the set (first writer wins). */
		if (__atomic_compare_exchange_n(&l->pset[dir], &p, sa->pset, false,
						__ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
			p = sa->pset;
			if (!rev)
				__atomic_fetch_or(&l->flags, dir ? LG_LATCH_LO_IN : LG_LATCH_LO_OUT,
						  __ATOMIC_RELAXED);
		}
	}
	if (likely(p == sa->pset))
		return LG_DROP_MAX;
brk:
	if (lg_latch_transition(l, LG_LATCH_ESTABLISHED, LG_LATCH_BROKEN)) {
		/* What a configuration change caused, its undoing may heal;
		 * an inbound packet on another identity's SA never does. */
		if (reason != LG_REASON_INBOUND_MISMATCH)
			__atomic_fetch_or(&l->flags, LG_LATCH_HEAL, __ATOMIC_RELAXED);
		w->st->latch_breaks++;
		raise_event(w, l, k, pos, LG_LATCH_ESTABLISHED, LG_LATCH_BROKEN, reason, dir, sa);
	}
drop:
	__atomic_fetch_add(&w->dp->latch->cold[pos].drops, 1, __ATOMIC_RELAXED);
	return why;
}

/*
 * TCP ends its latch (LATCHING.md item 25): RST closes it at once (one CAS,
 * the control thread removes it), FIN marks the direction; with FIN both
 * ways the control thread closes it after a linger.
 */
static inline void
tcp_end(struct lg_worker *w, struct rte_mbuf *m, struct lg_latch *l, int dir,
	const struct lg_flow_key *k, uint32_t pos)
{
	const struct rte_tcp_hdr *th;

	if (rte_pktmbuf_pkt_len(m) < (uint32_t)m->l2_len + m->l3_len + sizeof(*th) ||
	    (m->packet_type & RTE_PTYPE_L4_FRAG))
		return;
	th = rte_pktmbuf_mtod_offset(m, const struct rte_tcp_hdr *, m->l2_len + m->l3_len);
	if (unlikely(th->tcp_flags & RTE_TCP_RST_FLAG)) {
		if (lg_latch_transition(l, LG_LATCH_ESTABLISHED, LG_LATCH_CLOSED)) {
			w->st->latch_closed++;
			raise_event(w, l, k, pos, LG_LATCH_ESTABLISHED, LG_LATCH_CLOSED,
				    LG_REASON_TCP_CLOSE, dir, NULL);
		}
	} else if (unlikely(th->tcp_flags & RTE_TCP_FIN_FLAG)) {
		__atomic_fetch_or(&l->flags, dir ? LG_LATCH_FIN_IN : LG_LATCH_FIN_OUT,
				  __ATOMIC_RELAXED);
	}
}

/* A burst's flow keys and latch positions, found once and used by both the
 * SPD stage and the latch stage. */
struct flows {
	struct lg_flow_key fk[LG_BURST];
	const struct lg_flow_key *fkp[LG_BURST];
	bool rev[LG_BURST];
	int32_t pos[LG_BURST];
};

static void
flows_find(const struct lg_latch_table *t, struct flows *fl, const union lg_key *kp[],
	   const uint8_t is6[], uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++) {
		if (!is6[i])   /* inline: the per-packet case */
			lg_flow_key_make4(&fl->fk[i], &kp[i]->k4, &fl->rev[i]);
		else
			lg_flow_key_make(&fl->fk[i], kp[i], true, &fl->rev[i]);
		fl->fkp[i] = &fl->fk[i];
	}
	lg_latch_lookup_bulk(t, fl->fkp, n, fl->pos);
}

/*
 * The flow cache: a latch remembers, per direction, the SPD result its
 * packets got, tagged with the SPD's generation and the packet's
 * orientation; a hit skips rte_acl, and publishing a new SPD (a new
 * generation) invalidates every entry at once, so a hit is always what an
 * ordered search of the current SPD gives (LATCHING.md item 30). Not for
 * ICMP (an echo flow's latch covers types the SPD tells apart) nor for
 * OPAQUE packets (fragments: the SPD sees no ports, the flow key does).
 */
static inline bool
fc_usable(const union lg_key *k)
{
	return k->k4.proto != IPPROTO_ICMP && k->k4.proto != IPPROTO_ICMPV6 &&
	       k->k4.pad[0] == 0;
}

static inline uint64_t
fc_tag(const struct lg_spd *spd, bool rev)
{
	return (uint64_t)spd->gen << 1 | rev;
}

/* SPD results for a burst (res[i] as lg_spd_classify), through the flow
 * cache when latching is on; fl then holds the burst's flows. */
static void
spd_stage(struct lg_worker *w, const struct lg_spd *spd, int dir, const union lg_key *kp[],
	  const uint8_t is6[], uint32_t n, uint32_t res[], struct flows *fl)
{
	struct lg_latch_table *t = w->dp->latch;
	const union lg_key *mk[LG_BURST];
	uint8_t m6[LG_BURST], mi[LG_BURST];
	uint32_t mres[LG_BURST], i, nm = 0;

	if (t == NULL || n == 0) {
		lg_spd_classify(spd, kp, is6, res, n);
		return;
	}
	flows_find(t, fl, kp, is6, n);
	for (i = 0; i < n; i++) {
		if (fl->pos[i] >= 0 && fc_usable(kp[i])) {
			uint64_t c = __atomic_load_n(&t->e[fl->pos[i]].spd_cache[dir],
						     __ATOMIC_RELAXED);

			if ((c >> 31) == fc_tag(spd, fl->rev[i])) {
				res[i] = (uint32_t)(c & 0x7fffffffu);
				continue;
			}
		}
		mk[nm] = kp[i];
		m6[nm] = is6[i];
		mi[nm++] = (uint8_t)i;
	}
	if (nm == 0)
		return;
	lg_spd_classify(spd, mk, m6, mres, nm);
	for (i = 0; i < nm; i++) {
		uint32_t j = mi[i];

		res[j] = mres[i];
		if (fl->pos[j] >= 0 && fc_usable(kp[j]))
			__atomic_store_n(&t->e[fl->pos[j]].spd_cache[dir],
					 fc_tag(spd, fl->rev[j]) << 31 | mres[i], __ATOMIC_RELAXED);
	}
}

/*
 * The latch stage of a burst: bulk lookup of every flow (unless spd_stage
 * found them: fl, with ix[i] the burst index of survivor i); a PROTECT
 * packet of a new flow creates its latch (first writer wins, item 4; a full
 * table fails closed, item 8), BYPASS of an unlatched flow creates none
 * (item 5). dir: 0 outbound, 1 inbound. Survivors are compacted to the front.
 */
static uint32_t
latch_stage(struct lg_worker *w, struct rte_mbuf *mb[], struct lg_sa *sas[],
	    const union lg_key *kp[], const uint8_t is6[], uint32_t n, int dir,
	    struct flows *fl, const uint8_t ix[])
{
	struct lg_latch_table *t = w->dp->latch;
	struct flows own;
	int32_t pos[LG_BURST];
	bool rev[LG_BURST];
	const struct lg_flow_key *fk[LG_BURST];
	uint64_t now;
	uint32_t i, k = 0;
	bool won;

	if (t == NULL || n == 0)
		return n;
	now = rte_rdtsc();
	if (fl == NULL) {
		flows_find(t, &own, kp, is6, n);
		fl = &own;
		ix = NULL;
	}
	for (i = 0; i < n; i++) {
		uint32_t f = ix != NULL ? ix[i] : i;

		fk[i] = &fl->fk[f];
		rev[i] = fl->rev[f];
		pos[i] = fl->pos[f];
	}
	for (i = 0; i < n; i++) {
		const struct lg_sa *sa = sas[i];
		enum lg_drop why = LG_DROP_MAX;
		uint32_t state = pos[i] >= 0 ? lg_latch_state(t, (uint32_t)pos[i]) : LG_LATCH_FREE;

		if (sa != NULL && (pos[i] < 0 || state == LG_LATCH_CLOSED)) {
			struct lg_latch_init in = {
				.state = LG_LATCH_ESTABLISHED, .ident = sa->ident,
				.sa_slot = sa->slot, .now_tsc = now,
				.flags = rev[i] ? 0 : dir ? LG_LATCH_LO_IN : LG_LATCH_LO_OUT,
			};

			in.pset[dir] = sa->pset;
			pos[i] = lg_latch_create(t, fk[i], &in, &won);
			if (pos[i] < 0) {
				drop(w, mb[i], LG_DROP_LATCH_TABLE_FULL);
				continue;
			}
			if (won) {
				w->st->latch_created++;
				sas[k] = sas[i];
				mb[k++] = mb[i];
				continue;
			}
			/* Another worker created it first: check against it. */
			state = lg_latch_state(t, (uint32_t)pos[i]);
		}
		if (pos[i] >= 0)
			why = latch_check(w, &t->e[pos[i]], state, sa, dir, rev[i], fk[i],
					  (uint32_t)pos[i]);
		if (why != LG_DROP_MAX) {
			drop(w, mb[i], why);
			continue;
		}
		/* Idle timers need only a coarse last-seen: skip the store
		 * (and the cache-line traffic) within the same ~1 ms. */
		if (pos[i] >= 0 && now - t->e[pos[i]].last_tsc > (1u << 21))
			__atomic_store_n(&t->e[pos[i]].last_tsc, now, __ATOMIC_RELAXED);
		if (pos[i] >= 0 && lg_key_proto(kp[i]) == IPPROTO_TCP)
			tcp_end(w, mb[i], &t->e[pos[i]], dir, fk[i], (uint32_t)pos[i]);
		sas[k] = sas[i];
		mb[k++] = mb[i];
	}
	return k;
}

/* ---- outbound ---------------------------------------------------------- */

/*
 * Set the outer IPv4 TOS (and fragment field) and the header checksum in
 * registers (lg_ip4_store, pkt.h): byte stores followed by rte_ipv4_cksum's
 * 16-byte loads of the same line stalled store forwarding.
 */
static inline void
outer4_fix(struct rte_ipv4_hdr *o4, uint8_t tos, bool set_frag, rte_be16_t frag)
{
	uint64_t a, b;
	uint32_t c;

	memcpy(&a, o4, 8);                    /* ver_ihl tos len id frag */
	memcpy(&b, (uint8_t *)o4 + 8, 8);     /* ttl proto cksum src */
	memcpy(&c, (uint8_t *)o4 + 16, 4);    /* dst */
	a = (a & ~(0xffull << 8)) | (uint64_t)tos << 8;
	if (set_frag)
		a = (a & ~(0xffffull << 48)) | (uint64_t)frag << 48;
	lg_ip4_store(o4, a, b, c);
}

/* IPv6 forbids a zero UDP checksum here (RFC 8200 §8.1). */
static inline void
udp6_cksum(struct rte_mbuf *m)
{
	struct rte_ipv6_hdr *o6 = lg_pkt_l3(m);
	struct rte_udp_hdr *u = (struct rte_udp_hdr *)(o6 + 1);

	u->dgram_cksum = 0;
	u->dgram_cksum = rte_ipv6_udptcp_cksum(o6, u);
}

/* RFC 4301 §5.1.2.1 and RFC 6040 §4.1 (normal mode): the outer DSCP is
 * copied or set, the ECN field copied; DF copied, set or cleared (§8.1). */
static inline void
outer_rules(const struct lg_sa *sa, struct rte_mbuf *m)
{
	const struct lg_meta *mt = lg_mbuf_meta(m);
	uint8_t tos = (uint8_t)((sa->dscp < 0 ? mt->tos & ~ECN_MASK : sa->dscp << 2) |
				(mt->tos & ECN_MASK));

	if (sa->af == 6) {
		struct rte_ipv6_hdr *o6 = lg_pkt_l3(m);

		o6->vtc_flow = rte_cpu_to_be_32(6u << 28 | (uint32_t)tos << 20);
		if (sa->encap_udp)
			udp6_cksum(m);
		return;
	}
	outer4_fix(lg_pkt_l3(m), tos, sa->df == LG_SA_DF_COPY,
		   mt->df ? RTE_BE16(RTE_IPV4_HDR_DF_FLAG) : 0);
}

static void
out_finish(struct lg_worker *w, const struct lg_sa *sa, struct rte_mbuf *mb[],
	   uint32_t n)
{
	const struct lg_routes *rt = __atomic_load_n(&w->dp->routes, __ATOMIC_ACQUIRE);
	const struct lg_nexthop *nh;
	uint32_t i;

	for (i = 0; i < n; i++) {
		struct rte_mbuf *m = mb[i];

		if (sa->mode == LG_SA_M_TUNNEL) {
			m->packet_type = sa->af == 6 ? RTE_PTYPE_L3_IPV6 : RTE_PTYPE_L3_IPV4;
			outer_rules(sa, m);
		} else if (sa->af == 4) {
			struct rte_ipv4_hdr *ip = lg_pkt_l3(m);

			/* librte_ipsec changed protocol and length in place. */
			ip->hdr_checksum = 0;
			ip->hdr_checksum = rte_ipv4_cksum(ip);
		}
	}
	if (n == 0)
		return;
	/* Tunnel: every packet of the run has the same outer destination. */
	nh = sa->mode == LG_SA_M_TUNNEL ? route(rt, mb[0]) : NULL;
	for (i = 0; i < n; i++) {
		const struct lg_nexthop *h = nh ? nh : route(rt, mb[i]);

		if (unlikely(h == NULL))
			drop(w, mb[i], LG_DROP_NO_ROUTE);
		else
			tx_enqueue(w, h, mb[i]);
	}
}

static void
stash_inner(struct rte_mbuf *mb[], uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++) {
		struct lg_meta *mt = lg_mbuf_meta(mb[i]);

		mt->tos = lg_pkt_tos(mb[i]);
		mt->df = !lg_pkt_is6(mb[i]) &&
			 (((const struct rte_ipv4_hdr *)lg_pkt_l3(mb[i]))->fragment_offset &
			  RTE_BE16(RTE_IPV4_HDR_DF_FLAG));
	}
}

/* crypto.mode direct (esp.h): encapsulated and encrypted here, at once. */
static void
esp_out_direct(struct lg_worker *w, struct lg_sa *sa, struct rte_mbuf *mb[], uint32_t n)
{
	static const uint8_t why[] = {
		[LG_ESP_NO_ROOM] = LG_DROP_ESP_ENCAP_FAILED,
		[LG_ESP_SEQ_OVERFLOW] = LG_DROP_ESP_SEQ_OVERFLOW,
		[LG_ESP_CRYPTO_FAILED] = LG_DROP_CRYPTO_FAILED,
	};
	uint8_t res[LG_BURST];
	uint32_t len[LG_BURST];
	uint64_t bytes = 0;
	uint32_t i, k = 0;

	stash_inner(mb, n);
	for (i = 0; i < n; i++)
		len[i] = rte_pktmbuf_pkt_len(mb[i]) - LG_L2_LEN;
	lg_esp_out(&w->esp, sa, mb, n, res);
	for (i = 0; i < n; i++) {
		if (likely(res[i] == LG_ESP_OK)) {
			bytes += len[i];
			mb[k++] = mb[i];
			continue;
		}
		/* Not sent: not in the SA's figures. */
		drop(w, mb[i], (enum lg_drop)why[res[i]]);
	}
	w->st->sa[sa->slot].pkts += k;
	w->st->sa[sa->slot].bytes += bytes;
	out_finish(w, sa, mb, k);
}

static void
esp_out(struct lg_worker *w, struct lg_sa *sa, struct rte_mbuf *mb[], uint32_t n)
{
	const struct rte_ipsec_session *ss = &sa->ss[w->cdev_idx];
	struct rte_crypto_op *cop[LG_BURST];
	uint32_t i, k, e;

	if (sa->ek != NULL) {
		esp_out_direct(w, sa, mb, n);
		return;
	}
	if (sa->mode == LG_SA_M_TUNNEL)
		stash_inner(mb, n);
	count_sa(w, sa, mb, n, LG_L2_LEN);
	rte_errno = 0;
	if (sa->cpu) {
		k = rte_ipsec_pkt_cpu_prepare(ss, mb, n);
	} else {
		for (i = 0; i < n; i++)
			cop[i] = lg_mbuf_cop(mb[i]);
		k = rte_ipsec_pkt_crypto_prepare(ss, mb, cop, n);
	}
	if (unlikely(k < n)) {
		/* Not sent: take them back out of the SA's figures. */
		w->st->sa[sa->slot].pkts -= n - k;
		for (i = k; i < n; i++)
			w->st->sa[sa->slot].bytes -= rte_pktmbuf_pkt_len(mb[i]) - LG_L2_LEN;
		drop_n(w, mb + k, n - k, rte_errno == EOVERFLOW ?
		       LG_DROP_ESP_SEQ_OVERFLOW : LG_DROP_ESP_ENCAP_FAILED);
	}
	if (sa->cpu) {
		e = rte_ipsec_pkt_process(ss, mb, k);
		drop_n(w, mb + e, k - e, LG_DROP_CRYPTO_FAILED);
		out_finish(w, sa, mb, e);
		return;
	}
	e = rte_cryptodev_enqueue_burst(w->cdev_id, w->cqp, cop, k);
	w->inflight += e;
	drop_n(w, mb + e, k - e, LG_DROP_CRYPTO_QUEUE_FULL);
}

/* What esp.c reads of a direct SA beyond its first lines (keys, sequence
 * counter) and the SA's counters. With many SAs every run's are cold, so
 * sa_runs fetches them a few runs ahead (all of a burst's at once would be
 * 32 KB: more than L1 holds). */
static inline void
sa_prefetch(const struct lg_worker *w, const struct lg_sa *sa)
{
	const char *k = (const char *)sa->ek;
	uint32_t l;

	if (k == NULL)
		return;
	rte_prefetch0(k);
	k = (const char *)&sa->ek->gcm;
	if (sa->ek_gcm) {
		/* What the VAES code reads for a short packet (found by
		 * corrupting one line at a time): the round keys and the last
		 * two lines of the 1 KB schedule, where H^1.. sit. Longer
		 * packets fetch the other powers as they go. */
		for (l = 0; l < 4; l++)
			rte_prefetch0(k + l * RTE_CACHE_LINE_SIZE);
		rte_prefetch0(k + 14 * RTE_CACHE_LINE_SIZE);
		rte_prefetch0(k + 15 * RTE_CACHE_LINE_SIZE);
	} else {
		for (l = 0; l < sizeof(sa->ek->cbc) / RTE_CACHE_LINE_SIZE + 1; l++)
			rte_prefetch0(k + l * RTE_CACHE_LINE_SIZE);
	}
	rte_prefetch0(&sa->sqn);
	rte_prefetch0(&w->st->sa[sa->slot]);
}

#define SA_AHEAD 4   /* runs */

/* Hand consecutive packets of one SA to esp_fn as one run (keeps order). */
static void
sa_runs(struct lg_worker *w, struct lg_sa *sas[], struct rte_mbuf *mb[], uint32_t n,
	void (*esp_fn)(struct lg_worker *, struct lg_sa *, struct rte_mbuf **, uint32_t))
{
	uint8_t start[LG_BURST + 1];
	uint32_t i, r, nr = 0;

	for (i = 0; i < n; i++) {
		if (i == 0 || sas[i] != sas[i - 1])
			start[nr++] = (uint8_t)i;
	}
	start[nr] = (uint8_t)n;
	if (nr > 1) {
		for (r = 0; r < nr && r < SA_AHEAD; r++)
			sa_prefetch(w, sas[start[r]]);
	}
	for (r = 0; r < nr; r++) {
		if (nr > 1 && r + SA_AHEAD < nr)
			sa_prefetch(w, sas[start[r + SA_AHEAD]]);
		esp_fn(w, sas[start[r]], mb + start[r], start[r + 1] - start[r]);
	}
}

static void
outbound(struct lg_worker *w, struct rte_mbuf *mb[], uint32_t n)
{
	const struct lg_spd *spd = __atomic_load_n(&w->dp->spd_out, __ATOMIC_ACQUIRE);
	const struct lg_routes *rt = __atomic_load_n(&w->dp->routes, __ATOMIC_ACQUIRE);
	struct lg_sa **sat = __atomic_load_n(&w->dp->sa, __ATOMIC_ACQUIRE);
	union lg_key key[LG_BURST];
	const union lg_key *kp[LG_BURST];
	uint8_t is6[LG_BURST], ix[LG_BURST];
	uint32_t res[LG_BURST];
	struct lg_sa *sas[LG_BURST];
	struct flows fl;
	uint32_t i, k, j = 0, np = 0;

	k = parse_burst(w, mb, n, key, kp, is6);
	spd_stage(w, spd, 0, kp, is6, k, res, &fl);
	/* rule -> slot pointer -> SA is a chain of loads that many SAs take
	 * out of the caches: start every packet's second link first. Every
	 * rule names a valid slot: 0 when it does not PROTECT (rule 0, the
	 * LG_SPD_NONE result, and the DISCARD twins are zeroed). */
	for (i = 0; i < k; i++)
		rte_prefetch0(&sat[spd->rule[res[i]].sa_slot]);
	for (i = 0; i < k; i++) {
		const struct lg_spd_rule *r = &spd->rule[res[i]];
		struct rte_mbuf *m = mb[i];
		struct lg_sa *sa = NULL;

		if (unlikely(res[i] == LG_SPD_NONE)) {
			drop(w, m, LG_DROP_SPD_NO_MATCH);
			continue;
		} else if (unlikely(r->action == LG_SPD_DISCARD)) {
			drop(w, m, LG_DROP_SPD_DISCARD);
			continue;
		} else if (unlikely(lg_pkt_ttl_dec(m) != 0)) {
			drop(w, m, LG_DROP_TTL_EXCEEDED);
			continue;
		} else if (r->action == LG_SPD_PROTECT) {
			/* acquire: pairs with the release store that published it */
			sa = __atomic_load_n(&sat[r->sa_slot], __ATOMIC_ACQUIRE);
			if (unlikely(sa == NULL)) {
				drop(w, m, LG_DROP_SA_MISSING);
				continue;
			}
			/* The latch stage reads it next: with many SAs each
			 * packet's may be cold, so start every miss now. */
			rte_prefetch0(sa);
			rte_prefetch0((const char *)sa + RTE_CACHE_LINE_SIZE);
			/* RFC 4303 §3.1.1: transport mode carries whole datagrams. */
			if (unlikely((m->packet_type & RTE_PTYPE_L4_FRAG) &&
				     sa->mode == LG_SA_M_TRANSPORT)) {
				drop(w, m, LG_DROP_ESP_ENCAP_FAILED);
				continue;
			}
		}
		sas[j] = sa;
		kp[j] = kp[i];
		is6[j] = is6[i];
		ix[j] = (uint8_t)i;
		mb[j++] = m;
	}
	j = latch_stage(w, mb, sas, kp, is6, j, 0, &fl, ix);
	for (i = 0; i < j; i++) {
		if (sas[i] == NULL) {
			forward(w, rt, mb[i]);
		} else {
			sas[np] = sas[i];
			mb[np++] = mb[i];
		}
	}
	sa_runs(w, sas, mb, np, esp_out);
}

/* ---- inbound ----------------------------------------------------------- */

static inline uint32_t
esp_off(const struct rte_mbuf *m)
{
	return m->l2_len + m->l3_len;   /* l3_len covers the UDP header of NAT-T */
}

/*
 * RFC 4303 §2.4: default padding 1, 2, 3, ... and a Pad Length that fits;
 * Next Header must be the SA's inner protocol (tunnel) and not 59 (a dummy,
 * §2.6, discarded by the caller). Returns the next header or -1.
 */
static inline int
trailer_check(const struct lg_sa *sa, const struct rte_mbuf *m)
{
	uint32_t len = rte_pktmbuf_pkt_len(m);
	uint32_t tail = sa->icv_len + sa->sqh_len;
	uint32_t body = len - esp_off(m) - ESP_HDR_LEN - sa->iv_len - tail;
	const uint8_t *t = rte_pktmbuf_mtod_offset(m, const uint8_t *, len - tail - 2);
	uint32_t pad = t[0], i;   /* not uint8_t: i <= 255 would never end */

	if (pad + 2u > body)
		return -1;
	for (i = 1; i <= pad; i++) {
		if (t[(int)i - 1 - (int)pad] != i)
			return -1;
	}
	if (t[1] == NH_DUMMY)
		return NH_DUMMY;
	if (sa->mode == LG_SA_M_TUNNEL && t[1] != sa->next_proto)
		return -1;
	return t[1];
}

static inline uint32_t
esp_seq(const struct rte_mbuf *m)
{
	const struct rte_esp_hdr *esp = rte_pktmbuf_mtod_offset(m, const struct rte_esp_hdr *,
								 esp_off(m));

	return rte_be_to_cpu_32(esp->seq);
}

/*
 * After decryption, before librte_ipsec strips the headers: ICV result,
 * replay-window commit (RFC 4303 §3.4.3: only for packets whose ICV
 * verified), then the trailer. Compacts survivors to the front.
 */
static uint32_t
inb_verify(struct lg_worker *w, struct lg_sa *sa, struct rte_mbuf *mb[], uint32_t n)
{
	uint32_t i, k = 0;
	int nh;

	if (sa->rp != NULL)
		lg_replay_hold(sa->rp);
	for (i = 0; i < n; i++) {
		struct rte_mbuf *m = mb[i];

		if (unlikely(m->ol_flags & RTE_MBUF_F_RX_SEC_OFFLOAD_FAILED)) {
			drop(w, m, LG_DROP_ESP_AUTH_FAILED);
			continue;
		}
		/* RFC 4303 §3.4.3: the window moves as soon as the ICV verified,
		 * whatever the trailer holds, so a copy is not decrypted again. */
		if (sa->rp != NULL && unlikely(!lg_replay_commit(sa->rp, lg_mbuf_meta(m)->seq))) {
			drop(w, m, LG_DROP_ESP_REPLAY);
			continue;
		}
		nh = trailer_check(sa, m);
		if (unlikely(nh < 0))
			drop(w, m, LG_DROP_ESP_BAD_TRAILER);
		else if (unlikely(nh == NH_DUMMY))
			drop(w, m, LG_DROP_ESP_DUMMY);
		else
			mb[k++] = m;
	}
	if (sa->rp != NULL)
		lg_replay_release(sa->rp);
	return k;
}

/* RFC 6040 §4.2 decapsulation. Returns false when the packet must be
 * dropped (CE on the outside of a Not-ECT packet). */
static inline bool
ecn_decap(struct rte_mbuf *m, uint8_t outer)
{
	uint8_t tos = lg_pkt_tos(m), in = tos & ECN_MASK, out = outer & ECN_MASK, want = in;

	if (out == ECN_CE)
		want = ECN_CE;
	else if (out == ECN_ECT1 && in == ECN_ECT0)
		want = ECN_ECT1;
	if (want == in)
		return true;
	if (in == 0)
		return false;
	tos = (uint8_t)((tos & ~ECN_MASK) | want);
	if (lg_pkt_is6(m)) {
		struct rte_ipv6_hdr *ip6 = lg_pkt_l3(m);
		uint32_t v = rte_be_to_cpu_32(ip6->vtc_flow);

		ip6->vtc_flow = rte_cpu_to_be_32((v & ~(0xffu << 20)) | (uint32_t)tos << 20);
	} else {
		struct rte_ipv4_hdr *ip = lg_pkt_l3(m);

		ip->type_of_service = tos;
		ip->hdr_checksum = 0;
		ip->hdr_checksum = rte_ipv4_cksum(ip);
	}
	return true;
}

/*
 * Decapsulated packets: tunnel mode leaves the inner IP header first, so an
 * Ethernet header goes back on; transport mode keeps the original one. Then
 * ECN, the check against the policy the SA serves (RFC 4301 §5.2), forward.
 */
static void
in_finish(struct lg_worker *w, const struct lg_sa *sa, struct rte_mbuf *mb[],
	  uint32_t n)
{
	const struct lg_spd *spd = __atomic_load_n(&w->dp->spd_in, __ATOMIC_ACQUIRE);
	const struct lg_routes *rt = __atomic_load_n(&w->dp->routes, __ATOMIC_ACQUIRE);
	union lg_key key[LG_BURST];
	const union lg_key *kp[LG_BURST];
	uint8_t is6[LG_BURST] = { 0 }, outer[LG_BURST];
	uint32_t res[LG_BURST];
	struct lg_sa *sas[LG_BURST];
	struct flows fl;
	uint8_t ix[LG_BURST];
	uint32_t i, k;

	for (i = 0; i < n; i++) {
		struct rte_mbuf *m = mb[i];

		outer[i] = lg_mbuf_meta(m)->tos;
		/* Offload flags described the outer header. */
		m->ol_flags &= ~(RTE_MBUF_F_RX_IP_CKSUM_MASK | RTE_MBUF_F_RX_L4_CKSUM_MASK);
		if (sa->mode == LG_SA_M_TUNNEL) {
			struct rte_ether_hdr *eh;

			eh = (struct rte_ether_hdr *)rte_pktmbuf_prepend(m, LG_L2_LEN);
			if (unlikely(eh == NULL)) {
				/* Cannot happen: the outer headers were longer. */
				mb[i] = NULL;
				drop(w, m, LG_DROP_MALFORMED);
				continue;
			}
			eh->ether_type = sa->inner_af == 6 ? RTE_BE16(RTE_ETHER_TYPE_IPV6)
							   : RTE_BE16(RTE_ETHER_TYPE_IPV4);
		} else if (sa->af == 4) {
			struct rte_ipv4_hdr *ip = lg_pkt_l3(m);

			/* librte_ipsec rewrote protocol and length in place. */
			ip->hdr_checksum = 0;
			ip->hdr_checksum = rte_ipv4_cksum(ip);
		}
	}
	k = 0;
	for (i = 0; i < n; i++) {
		enum lg_drop why;

		if (mb[i] == NULL)
			continue;
		why = lg_pkt_parse(mb[i], &key[k]);
		if (unlikely(why != LG_DROP_MAX)) {
			drop(w, mb[i], why == LG_DROP_NOT_IP ? LG_DROP_MALFORMED : why);
			continue;
		}
		if (sa->mode == LG_SA_M_TUNNEL && unlikely(!ecn_decap(mb[i], outer[i]))) {
			drop(w, mb[i], LG_DROP_ECN_CE_NOT_ECT);
			continue;
		}
		kp[k] = &key[k];
		is6[k] = lg_pkt_is6(mb[i]);
		mb[k++] = mb[i];
	}
	spd_stage(w, spd, 1, kp, is6, k, res, &fl);
	n = 0;
	for (i = 0; i < k; i++) {
		const struct lg_spd_rule *r = &spd->rule[res[i]];

		if (unlikely(res[i] == LG_SPD_NONE || r->action != LG_SPD_PROTECT ||
			     r->sa_slot != sa->slot)) {
			drop(w, mb[i], LG_DROP_ESP_SELECTOR_MISMATCH);
		} else if (unlikely(lg_pkt_ttl_dec(mb[i]) != 0)) {
			drop(w, mb[i], LG_DROP_TTL_EXCEEDED);
		} else {
			kp[n] = kp[i];
			is6[n] = is6[i];
			ix[n] = (uint8_t)i;
			sas[n] = (struct lg_sa *)(uintptr_t)sa;
			mb[n++] = mb[i];
		}
	}
	/* LATCHING.md item 2: only after SAD, replay, ICV and selectors. */
	n = latch_stage(w, mb, sas, kp, is6, n, 1, &fl, ix);
	count_sa(w, sa, mb, n, LG_L2_LEN);
	for (i = 0; i < n; i++)
		forward_in(w, rt, mb[i], false);
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

	if (sa->ek != NULL) {
		/* crypto.mode direct (esp.h): lengths and the replay pre-check
		 * were the SAD stage's. */
		lg_esp_in(&w->esp, sa, mb, n);
		k = inb_verify(w, sa, mb, n);
		for (i = 0; i < k; i++)
			lg_esp_in_strip(sa, mb[i]);
		in_finish(w, sa, mb, k);
		return;
	}
	/* Prepare refuses only what the replay pre-check rejects: lengths
	 * were checked after the SAD stage. */
	if (sa->cpu) {
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

/* ESP after the SAD: a length that holds header, IV, trailer and ICV, with
 * the ciphertext a multiple of the suite's block. */
static inline enum lg_drop
esp_check(const struct lg_sa *sa, const struct rte_mbuf *m)
{
	uint32_t plen = rte_pktmbuf_pkt_len(m) - esp_off(m);
	uint32_t fixed = ESP_HDR_LEN + sa->iv_len + sa->icv_len;

	if (unlikely(lg_mbuf_meta((struct rte_mbuf *)(uintptr_t)m)->natt != sa->encap_udp))
		return LG_DROP_ESP_ENCAP_MISMATCH;
	if (unlikely(plen < fixed + 2 || ((plen - fixed) & (sa->pad_align - 1)) != 0))
		return LG_DROP_ESP_TRUNCATED;
	return LG_DROP_MAX;
}

enum rx_kind { RX_PLAIN, RX_ESP, RX_DROP };


/*
 * Sort one parsed inbound frame: ESP (IP protocol 50, or UDP to port 4500
 * that is neither a NAT keepalive nor an IKE packet with the non-ESP marker,
 * RFC 3948 §2), or plain traffic for SPD-in.
 */
static inline enum rx_kind
rx_sort(struct lg_worker *w, struct rte_mbuf *m, uint8_t proto)
{
	struct lg_meta *mt = lg_mbuf_meta(m);
	uint32_t off = esp_off(m), len = rte_pktmbuf_pkt_len(m);
	enum lg_drop why = LG_DROP_MAX;
	const uint8_t *p;

	mt->natt = 0;
	if (proto != IPPROTO_ESP && (proto != IPPROTO_UDP || len < off + sizeof(struct rte_udp_hdr) ||
				     ((const struct rte_udp_hdr *)rte_pktmbuf_mtod_offset(
					     m, const void *, off))->dst_port != RTE_BE16(NATT_PORT)))
		return RX_PLAIN;
	/* ESP or UDP 4500: ours to decrypt only when sent to one of our
	 * addresses (the address scan last, as the dearest test). */
	if (!to_us(w->dp, m))
		return RX_PLAIN;
	if (proto == IPPROTO_UDP) {
		const struct rte_udp_hdr *u = rte_pktmbuf_mtod_offset(m, const void *, off);
		uint32_t ulen = len - off - (uint32_t)sizeof(*u);

		if (m->packet_type & RTE_PTYPE_L4_FRAG) {
			drop(w, m, LG_DROP_ESP_FRAGMENT);   /* RFC 4303 §3.4.1 */
			return RX_DROP;
		}
		p = (const uint8_t *)(u + 1);
		if (ulen == 1 && p[0] == 0xff)
			why = LG_DROP_NATT_KEEPALIVE;
		else if (ulen >= 4 && (p[0] | p[1] | p[2] | p[3]) == 0)
			return RX_PLAIN;       /* IKE behind the non-ESP marker */
		else if (ulen < ESP_HDR_LEN)
			why = LG_DROP_ESP_TRUNCATED;
		mt->natt = 1;
		m->l3_len += sizeof(*u);
	} else if (m->packet_type & RTE_PTYPE_L4_FRAG) {
		why = LG_DROP_ESP_FRAGMENT;           /* RFC 4303 §3.4.1 */
	} else if (len < off + ESP_HDR_LEN) {
		why = LG_DROP_ESP_TRUNCATED;
	}
	if (why == LG_DROP_MAX) {
		p = rte_pktmbuf_mtod_offset(m, const uint8_t *, off);
		if ((p[0] | p[1] | p[2] | p[3]) == 0)
			why = LG_DROP_ESP_SPI_ZERO;   /* RFC 4303 §2.1 */
	}
	if (why == LG_DROP_MAX)
		return RX_ESP;
	drop(w, m, why);
	return RX_DROP;
}

static void
plain_in(struct lg_worker *w, struct rte_mbuf *mb[], const union lg_key *kp[],
	 uint8_t is6[], uint32_t n)
{
	const struct lg_spd *spd = __atomic_load_n(&w->dp->spd_in, __ATOMIC_ACQUIRE);
	const struct lg_routes *rt = __atomic_load_n(&w->dp->routes, __ATOMIC_ACQUIRE);
	uint32_t res[LG_BURST];
	struct lg_sa *sas[LG_BURST];
	uint32_t i, k = 0;

	lg_spd_classify(spd, kp, is6, res, n);
	for (i = 0; i < n; i++) {
		const struct lg_spd_rule *r = &spd->rule[res[i]];

		if (unlikely(res[i] == LG_SPD_NONE)) {
			drop(w, mb[i], LG_DROP_SPD_NO_MATCH);
		} else if (r->action == LG_SPD_DISCARD) {
			drop(w, mb[i], LG_DROP_SPD_DISCARD);
		} else if (r->action == LG_SPD_PROTECT) {
			drop(w, mb[i], LG_DROP_SPD_PROTECT_CLEAR);
		} else if (unlikely(lg_pkt_ttl_dec(mb[i]) != 0)) {
			drop(w, mb[i], LG_DROP_TTL_EXCEEDED);
		} else {
			sas[k] = NULL;
			kp[k] = kp[i];
			is6[k] = is6[i];
			mb[k++] = mb[i];
		}
	}
	/* A BYPASS packet of a latched flow breaks it, never leaves (item 17). */
	k = latch_stage(w, mb, sas, kp, is6, k, 1, NULL, NULL);
	for (i = 0; i < k; i++)
		forward_in(w, rt, mb[i], true);
}

/* SAD lookup, per-SA length checks and the replay pre-check (RFC 4303
 * §3.4.3: the first check once the SA is known). */
static uint32_t
sad_stage(struct lg_worker *w, struct rte_mbuf *esp[], const void *spi[], uint32_t ne,
	  struct lg_sa *sas[])
{
	const struct lg_sad *sad = __atomic_load_n(&w->dp->sad, __ATOMIC_ACQUIRE);
	struct lg_sa *found[LG_BURST];
	uint32_t i, k = 0;
	/* rte_hash loads the data with acquire: pairs with the control
	 * thread's release when it (re)pointed the SPI at a new SA. */
	uint64_t hit = ne ? lg_sad_lookup_bulk(sad, spi, ne, found) : 0;
	enum lg_drop why;

	for (i = 0; i < ne; i++) {
		struct lg_sa *sa = (hit >> i) & 1 ? found[i] : NULL;
		struct rte_mbuf *m = esp[i];

		if (unlikely(sa == NULL || sa->dir != LG_SA_IN)) {
			drop(w, m, LG_DROP_ESP_UNKNOWN_SPI);
			continue;
		}
		why = esp_check(sa, m);
		if (unlikely(why != LG_DROP_MAX)) {
			drop(w, m, why);
			continue;
		}
		/* The high-order bits are inferred once, here, from the same
		 * window state librte_ipsec's prepare sees next: the ICV it
		 * verifies covers this number, and the commit uses it too. */
		if (sa->rp != NULL) {
			uint64_t seq = lg_replay_seq(sa->rp, esp_seq(m));

			if (unlikely(!lg_replay_check(sa->rp, seq))) {
				drop(w, m, LG_DROP_ESP_REPLAY);
				continue;
			}
			lg_mbuf_meta(m)->seq = seq;
		}
		/* The outer ECN field, for RFC 6040 decapsulation. */
		lg_mbuf_meta(m)->tos = lg_pkt_tos(m);
		sas[k] = sa;
		esp[k++] = m;
	}
	return k;
}

static void
inbound(struct lg_worker *w, struct rte_mbuf *mb[], uint32_t n)
{
	struct rte_mbuf *esp[LG_BURST], *plain[LG_BURST];
	union lg_key key[LG_BURST];
	const union lg_key *kp[LG_BURST];
	uint8_t is6[LG_BURST];
	const void *spi[LG_BURST];
	struct lg_sa *sas[LG_BURST];
	uint32_t i, k, ne = 0, npl = 0;

	k = parse_burst(w, mb, n, key, kp, is6);
	for (i = 0; i < k; i++) {
		switch (rx_sort(w, mb[i], lg_key_proto(kp[i]))) {
		case RX_ESP:
			spi[ne] = rte_pktmbuf_mtod_offset(mb[i], const uint8_t *, esp_off(mb[i]));
			esp[ne++] = mb[i];
			break;
		case RX_PLAIN:
			kp[npl] = kp[i];
			is6[npl] = is6[i];
			plain[npl++] = mb[i];
			break;
		case RX_DROP:
			break;
		}
	}
	k = sad_stage(w, esp, spi, ne, sas);
	sa_runs(w, sas, esp, k, esp_in);
	if (npl)
		plain_in(w, plain, kp, is6, npl);
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

/* Only frames to the port's own MAC are routed (RFC 1812 §5.3.4); a NIC
 * filters in hardware, vdevs and promiscuous ports do not. */
static uint32_t
for_us(struct lg_worker *w, const struct rte_ether_addr *mac, struct rte_mbuf *mb[],
       uint32_t n)
{
	uint32_t i, k = 0;

	for (i = 0; i < n; i++) {
		const struct rte_ether_hdr *eh = rte_pktmbuf_mtod(mb[i], const struct rte_ether_hdr *);

		if (unlikely(rte_pktmbuf_data_len(mb[i]) < LG_L2_LEN ||
			     !rte_is_same_ether_addr(&eh->dst_addr, mac)))
			drop(w, mb[i], LG_DROP_L2_NOT_FOR_US);
		else
			mb[k++] = mb[i];
	}
	return k;
}

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
	n = (uint16_t)for_us(w, &p->mac, mb, n);
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

	/* Quiescent once per loop with nothing in the crypto queue: only then
	 * does this worker hold no latch, SA or table pointer (queued ops
	 * carry SA sessions across iterations). */
	rte_rcu_qsbr_thread_register(dp->qs, w->lcore);
	rte_rcu_qsbr_thread_online(dp->qs, w->lcore);
	while (!__atomic_load_n(&dp->stop, __ATOMIC_RELAXED)) {
		if (w->inflight == 0)
			rte_rcu_qsbr_quiescent(dp->qs, w->lcore);
		t0 = rte_rdtsc();
		work = 0;
		for (pi = 0; pi < dp->nports; pi++)
			work += poll_port(w, pi);
		if (work)
			__atomic_store_n(&w->last_rx_tsc, t0, __ATOMIC_RELAXED);
		/* Lookaside completions (all SAs in lookaside mode, and those
		 * that cpu mode cannot run, see lg_sa_create). */
		if (w->inflight != 0) {
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
	rte_rcu_qsbr_thread_offline(dp->qs, w->lcore);
	rte_rcu_qsbr_thread_unregister(dp->qs, w->lcore);
	return 0;
}
