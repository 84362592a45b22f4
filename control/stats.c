/* SPDX-License-Identifier: BSD-3-Clause */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_mempool.h>

#include "json.h"
#include "stats.h"

static inline uint64_t
rd(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

void
lg_stats_collect(const struct lg_gw *gw, struct lg_totals *t)
{
	struct lg_sa_ctr *sa = t->sa;
	uint32_t i, j;

	memset(t, 0, sizeof(*t));
	if (sa == NULL)
		sa = calloc(gw->dp->sa_slots, sizeof(*sa));
	else
		memset(sa, 0, gw->dp->sa_slots * sizeof(*sa));
	t->sa = sa;
	t->t = (double)(rte_rdtsc() - gw->start_tsc) / (double)rte_get_tsc_hz();
	for (i = 0; i < gw->nworkers; i++) {
		const struct lg_lcore_stats *s = gw->workers[i].st;

		for (j = 0; j < LG_DROP_MAX; j++)
			t->drops[j] += rd(&s->drops[j]);
		for (j = 0; j < LG_MAX_PORTS; j++) {
			t->port[j].rx_pkts += rd(&s->port[j].rx_pkts);
			t->port[j].rx_bytes += rd(&s->port[j].rx_bytes);
			t->port[j].tx_pkts += rd(&s->port[j].tx_pkts);
			t->port[j].tx_bytes += rd(&s->port[j].tx_bytes);
			t->port[j].tx_dropped += rd(&s->port[j].tx_dropped);
		}
		/* By slot: counters follow an SA's name across rekeys. */
		for (j = 0; sa != NULL && j < gw->dp->sa_slots; j++) {
			sa[j].pkts += rd(&s->sa[j].pkts);
			sa[j].bytes += rd(&s->sa[j].bytes);
		}
		t->polls += rd(&s->polls);
		t->busy_polls += rd(&s->busy_polls);
		t->busy_tsc += rd(&s->busy_tsc);
		t->latch_created += rd(&s->latch_created);
		t->latch_breaks += rd(&s->latch_breaks);
		t->latch_closed += rd(&s->latch_closed);
		t->event_overflow += rd(&s->event_overflow);
	}
	/* the control thread's own: breaks by changes, events it lost */
	t->latch_breaks += gw->change_broken;
	t->event_overflow += gw->event_overflow;
}

/* SA i of the config's counters (zero if the array could not be had). */
static const struct lg_sa_ctr *
sa_ctr(const struct lg_totals *t, const struct lg_gw *gw, uint32_t i)
{
	static const struct lg_sa_ctr none;

	return t->sa != NULL ? &t->sa[gw->sa_slot[i]] : &none;
}

static double
rate(uint64_t now, uint64_t before, double dt)
{
	return dt > 0 ? (double)(now - before) / dt : 0.0;
}

void
lg_stats_print(const struct lg_gw *gw, FILE *f, const struct lg_totals *t,
	       const struct lg_totals *prev)
{
	const struct lg_conf *c = gw->conf;
	double dt = prev ? t->t - prev->t : 0;
	uint32_t i;
	int any = 0;

	fprintf(f, "  ---------------------- latchgate stats, t=%.1fs ----------------------\n", t->t);
	for (i = 0; i < c->nports; i++) {
		const struct lg_port_ctr *p = &t->port[i];

		fprintf(f, "  port %-8s %-11s RX-packets: %-12" PRIu64 " TX-packets: %-12" PRIu64
			" TX-dropped: %" PRIu64 "\n", c->ports[i].name,
			c->ports[i].role == LG_ROLE_PROTECTED ? "protected" : "unprotected",
			p->rx_pkts, p->tx_pkts, p->tx_dropped);
		if (prev)
			fprintf(f, "  %-21s RX-pps: %-16.0f TX-pps: %-16.0f\n", "",
				rate(p->rx_pkts, prev->port[i].rx_pkts, dt),
				rate(p->tx_pkts, prev->port[i].tx_pkts, dt));
	}
	for (i = 0; i < c->nsas; i++) {
		const struct lg_conf_sa *s = &c->sas[i];
		char suite[48];

		fprintf(f, "  SA   %-8s %-8s spi 0x%08x %-11s packets: %-12" PRIu64
			" bytes: %-14" PRIu64, s->name, lg_dir_name(s->dir), s->spi,
			lg_suite_format(s, suite, sizeof(suite)), sa_ctr(t, gw, i)->pkts,
			sa_ctr(t, gw, i)->bytes);
		if (prev)
			fprintf(f, " pps: %.0f", rate(sa_ctr(t, gw, i)->pkts,
						      sa_ctr(prev, gw, i)->pkts, dt));
		fputc('\n', f);
	}
	if (gw->dp->latch != NULL)
		fprintf(f, "  latches: created %" PRIu64 ", broken %" PRIu64 ", restored %" PRIu64
			", expired %" PRIu64 "\n", t->latch_created,
			t->latch_breaks, gw->restored, gw->latch_expired);
	else
		fprintf(f, "  latches: latching off\n");
	fprintf(f, "  drops:");
	for (i = 0; i < LG_DROP_MAX; i++) {
		if (t->drops[i] != 0) {
			fprintf(f, " %s=%" PRIu64, lg_drop_names[i], t->drops[i]);
			any = 1;
		}
	}
	fprintf(f, "%s\n", any ? "" : " none");
	if (t->busy_polls)
		fprintf(f, "  workers: %u, busy cycles per busy poll: %.0f\n", gw->nworkers,
			(double)t->busy_tsc / (double)t->busy_polls);
}

static void
json_mempools(const struct lg_gw *gw, FILE *f)
{
	/* Session objects stay in use while their SAs exist; mbufs must not. */
	const struct rte_mempool *mp[2] = { gw->mbuf_pool, NULL };
	int i, first = 1;

	fprintf(f, ",\"mempools\":[");
	for (i = 0; i < 2; i++) {
		if (mp[i] == NULL)
			continue;
		fprintf(f, "%s{\"name\":\"%s\",\"size\":%u,\"in_use\":%u}", first ? "" : ",",
			mp[i]->name, mp[i]->size, rte_mempool_in_use_count(mp[i]));
		first = 0;
	}
	fputc(']', f);
}

void
lg_stats_json(const struct lg_gw *gw, FILE *f, const struct lg_totals *t)
{
	const struct lg_conf *c = gw->conf;
	uint32_t i;

	fprintf(f, "{\"version\":\"%s\",\"uptime_s\":%.3f,\"workers\":%u,\"ports\":[",
		LG_VERSION, t->t, gw->nworkers);
	for (i = 0; i < c->nports; i++) {
		const struct lg_port_ctr *p = &t->port[i];

		fprintf(f, "%s{\"name\":\"%s\",\"role\":\"%s\",\"rx_packets\":%" PRIu64
			",\"rx_bytes\":%" PRIu64 ",\"tx_packets\":%" PRIu64 ",\"tx_bytes\":%"
			PRIu64 ",\"tx_dropped\":%" PRIu64 "}", i ? "," : "", c->ports[i].name,
			c->ports[i].role == LG_ROLE_PROTECTED ? "protected" : "unprotected",
			p->rx_pkts, p->rx_bytes, p->tx_pkts, p->tx_bytes, p->tx_dropped);
	}
	fprintf(f, "],\"sas\":[");
	for (i = 0; i < c->nsas; i++) {
		const struct lg_conf_sa *s = &c->sas[i];
		char suite[48];

		const struct lg_sa *sa = gw->dp->sa[gw->sa_slot[i]];

		/* Which code runs it: crypto.mode direct falls back to cpu for
		 * what esp.c does not take, cpu to lookaside for CBC outbound. */
		fprintf(f, "%s{\"name\":\"%s\",\"direction\":\"%s\",\"spi\":%u,\"peer\":\"%s\","
			"\"mode\":\"%s\",\"algorithm\":\"%s\",\"esn\":%s,\"engine\":\"%s\","
			"\"packets\":%" PRIu64 ",\"bytes\":%" PRIu64 "}",
			i ? "," : "", s->name, lg_dir_name(s->dir), s->spi, c->peers[s->peer].name,
			s->mode == LG_SA_TRANSPORT ? "transport" : "tunnel",
			lg_suite_format(s, suite, sizeof(suite)), s->esn ? "true" : "false",
			sa == NULL ? "none" : sa->ek != NULL ? "direct" : sa->cpu ? "cpu" : "lookaside",
			sa_ctr(t, gw, i)->pkts, sa_ctr(t, gw, i)->bytes);
	}
	fprintf(f, "],\"drops\":{");
	for (i = 0; i < LG_DROP_MAX; i++)
		fprintf(f, "%s\"%s\":%" PRIu64, i ? "," : "", lg_drop_names[i], t->drops[i]);
	fprintf(f, "},\"latch\":{\"enabled\":%s,\"capacity\":%u,\"created\":%" PRIu64
		",\"breaks\":%" PRIu64 ",\"restored\":%" PRIu64 ",\"expired\":%" PRIu64
		",\"tcp_rst\":%" PRIu64 ",\"events\":%" PRIu64 ",\"events_lost\":%" PRIu64
		",\"changes\":%u}",
		gw->dp->latch ? "true" : "false", gw->dp->latch ? gw->dp->latch->capacity : 0,
		t->latch_created, t->latch_breaks, gw->restored,
		gw->latch_expired, t->latch_closed, gw->events,
		t->event_overflow, gw->nchanges);
	fprintf(f, ",\"lcores\":[");
	for (i = 0; i < gw->nworkers; i++) {
		const struct lg_lcore_stats *s = gw->workers[i].st;

		fprintf(f, "%s{\"lcore\":%u,\"polls\":%" PRIu64 ",\"busy_polls\":%" PRIu64
			",\"busy_cycles\":%" PRIu64 "}", i ? "," : "", gw->workers[i].lcore,
			rd(&s->polls), rd(&s->busy_polls), rd(&s->busy_tsc));
	}
	fputc(']', f);
	fprintf(f, ",\"tsc_hz\":%" PRIu64, rte_get_tsc_hz());
	json_mempools(gw, f);
	fprintf(f, "}\n");
}

unsigned int
lg_stats_mbufs_in_use(const struct lg_gw *gw)
{
	return gw->mbuf_pool ? rte_mempool_in_use_count(gw->mbuf_pool) : 0;
}


static const char *const ev_reason[] = {
	[LG_REASON_SA_CONFLICT] = "SA_CONFLICT", [LG_REASON_INBOUND_MISMATCH] = "INBOUND_MISMATCH",
	[LG_REASON_SPD_CHANGE] = "SPD_CHANGE", [LG_REASON_ADMIN] = "ADMIN",
	[LG_REASON_IDLE] = "IDLE", [LG_REASON_TCP_CLOSE] = "TCP_CLOSE",
	[LG_REASON_BROKEN_TIMEOUT] = "BROKEN_TIMEOUT", [LG_REASON_RESTORED] = "RESTORED",
};

/* What a side of the event refers to: the interned identity and parameter
 * set (suite, mode, endpoints), the SA's name by slot, the SPI when known. */
static void
ev_side(FILE *f, const struct lg_gw *gw, uint32_t ident, uint32_t pset, uint32_t slot,
	uint32_t spi)
{
	const struct lg_pset_def *d = lg_gw_pset_def(gw, pset);

	char peer[LG_JSON_STR_MAX(LG_ID_MAX)];

	/* An identity may hold '"' or '\\' (a DN): escaped, the line stays JSON. */
	lg_json_escape(peer, sizeof(peer), lg_gw_ident_name(gw, ident));
	fprintf(f, "{\"peer_id\":\"%s\",\"pset\":%u", peer, pset);
	if (slot != UINT32_MAX && lg_gw_slot_name(gw, slot)[0] != '\0')
		fprintf(f, ",\"sa\":\"%s\"", lg_gw_slot_name(gw, slot));
	if (spi != 0)
		fprintf(f, ",\"spi\":%u", spi);
	if (d != NULL) {
		struct lg_conf_sa cs = { .cipher = d->cipher, .auth = d->auth };
		char suite[48], a[46], b[46];

		fprintf(f, ",\"suite\":\"%s\",\"mode\":\"%s\",\"local\":\"%s\",\"remote\":\"%s\"",
			lg_suite_format(&cs, suite, sizeof(suite)),
			d->mode == LG_SA_TRANSPORT ? "transport" : "tunnel",
			lg_addr_format(&d->local, a, sizeof(a)),
			lg_addr_format(&d->remote, b, sizeof(b)));
	}
	fputc('}', f);
}

void
lg_event_json(const struct lg_gw *gw, const struct lg_event *ev, FILE *f)
{
	char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN], when[40];
	int af = ev->key.af == 6 ? AF_INET6 : AF_INET;
	uint64_t ago = (rte_rdtsc() - ev->tsc) * 1000000ull / rte_get_tsc_hz();
	struct timespec ts;
	struct tm tm;
	time_t sec;
	long us;

	clock_gettime(CLOCK_REALTIME, &ts);
	us = ts.tv_nsec / 1000 - (long)(ago % 1000000);
	sec = ts.tv_sec - (time_t)(ago / 1000000) - (us < 0);
	us = us < 0 ? us + 1000000 : us;
	gmtime_r(&sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	if (ev->kind == LG_EVENT_SUMMARY) {
		/* One per configuration change that moved latches (item 24). */
		fprintf(f, "{\"event\":\"summary\",\"time\":\"%s.%06ldZ\",\"change\":%u,"
			"\"new_state\":\"%s\",\"latches\":%u}\n", when, us, ev->change,
			lg_latch_state_name(ev->new_state), ev->count);
		return;
	}
	inet_ntop(af, ev->key.lo, a, sizeof(a));
	inet_ntop(af, ev->key.hi, b, sizeof(b));
	fprintf(f, "{\"event\":\"latch\",\"time\":\"%s.%06ldZ\",\"latch_id\":%u,"
		"\"old_state\":\"%s\",\"new_state\":\"%s\",\"reason\":\"%s\","
		"\"direction\":\"%s\",\"flow\":{\"proto\":%u,\"a\":\"%s\",\"a_port\":%u,"
		"\"b\":\"%s\",\"b_port\":%u},\"latched\":", when, us, ev->latch_id,
		lg_latch_state_name(ev->old_state), lg_latch_state_name(ev->new_state),
		ev->reason < RTE_DIM(ev_reason) && ev_reason[ev->reason] ? ev_reason[ev->reason] : "?",
		ev->dir ? "inbound" : "outbound", ev->key.proto, a, ntohs(ev->key.port_lo), b,
		ntohs(ev->key.port_hi));
	ev_side(f, gw, ev->ident, ev->pset, ev->sa_slot, 0);
	if (ev->new_sa_slot != UINT32_MAX) {
		fprintf(f, ",\"conflicting\":");
		ev_side(f, gw, ev->new_ident, ev->new_pset, ev->new_sa_slot, ev->new_spi);
	}
	fprintf(f, "}\n");
}
