/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Runtime changes: the running config is replaced by a new one, applied as
 * a difference (see lg_gw_apply() in gw.h). The startup config is applied
 * the same way, from nothing.
 *
 * Order of a change, all on the control thread:
 *   1. build every new object (SAs, SPDs, routes); any failure undoes them
 *      and leaves the dataplane as it was;
 *   2. break sweep: each ESTABLISHED latch is judged against the new state
 *      as a worker would see it; the non-congruent ones are CASed to BROKEN
 *      and their events queued (LATCHING.md items 14-18);
 *   3. publish: SA slots and SAD first, then SPDs and routes, then unmap
 *      what was deleted (release stores; workers load with acquire);
 *   4. retire the old versions with a QSBR token; an inbound SA replaced by
 *      another SPI stays in the SAD for the rekey overlap (item 11);
 *   5. after the grace period (no worker can still use an old version), a
 *      restore sweep returns BROKEN latches the change made congruent
 *      again to ESTABLISHED (item 23).
 * The workers' own per-packet compare of identity and parameter set stays
 * the backstop for flows created between steps 2 and 3.
 *
 * SA slots: one per SA name, kept across replaces, so the SPD (whose rules
 * name slots) is rebuilt only when policies change and a congruent rekey is
 * one pointer store.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include "gw.h"

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), -EINVAL)

/* ---- interning --------------------------------------------------------- */

/* Id (from 1) of item in table, whose entries are `size` zero-filled bytes
 * compared whole; added if new. 0 when the table is full. */
static uint32_t
intern(void *table, uint32_t *n, size_t size, const void *item)
{
	char *t = table;
	uint32_t i;

	for (i = 0; i < *n; i++)
		if (memcmp(t + (size_t)i * size, item, size) == 0)
			return i + 1;
	if (*n == LG_INTERN_MAX)
		return 0;
	memcpy(t + (size_t)*n * size, item, size);
	return ++*n;
}

static uint32_t
ident_id(struct lg_gw *gw, const char *id)
{
	char e[LG_ID_MAX] = { 0 };

	snprintf(e, sizeof(e), "%s", id);
	return intern(gw->ident, &gw->nident, sizeof(e), e);
}

static uint32_t
pset_id(struct lg_gw *gw, const struct lg_conf_sa *cs)
{
	struct lg_pset_def d;

	memset(&d, 0, sizeof(d));   /* padding too: entries compare whole */
	d.mode = (uint8_t)cs->mode;
	d.cipher = (uint8_t)cs->cipher;
	d.cipher_key_len = cs->cipher_key_len;
	d.auth = (uint8_t)cs->auth;
	d.inner_af = cs->inner_af;
	d.esn = cs->esn;
	d.local = cs->local;
	d.remote = cs->remote;
	return intern(gw->pset, &gw->npset, sizeof(d), &d);
}

const char *
lg_gw_ident_name(const struct lg_gw *gw, uint32_t ident)
{
	return ident >= 1 && ident <= gw->nident ? gw->ident[ident - 1] : "";
}

const struct lg_pset_def *
lg_gw_pset_def(const struct lg_gw *gw, uint32_t pset)
{
	return pset >= 1 && pset <= gw->npset ? &gw->pset[pset - 1] : NULL;
}

const char *
lg_gw_slot_name(const struct lg_gw *gw, uint32_t slot)
{
	return slot < gw->dp->sa_slots ? gw->slot_name[slot] : "";
}

/* ---- building ---------------------------------------------------------- */

static const uint8_t cipher_map[] = {
	[LG_CIPHER_NULL] = LG_SA_C_NULL, [LG_CIPHER_AES128_CBC] = LG_SA_C_AES_CBC,
	[LG_CIPHER_AES256_CBC] = LG_SA_C_AES_CBC, [LG_CIPHER_AES128_CTR] = LG_SA_C_AES_CTR,
	[LG_CIPHER_AES128_GCM] = LG_SA_C_AES_GCM, [LG_CIPHER_AES256_GCM] = LG_SA_C_AES_GCM,
};
static const uint8_t auth_map[] = {
	[LG_AUTH_NULL] = LG_SA_A_NULL, [LG_AUTH_HMAC_SHA1_96] = LG_SA_A_SHA1_96,
	[LG_AUTH_HMAC_SHA256_128] = LG_SA_A_SHA256_128, [LG_AUTH_AEAD] = LG_SA_A_AEAD,
};
static const uint8_t df_map[] = {
	[LG_DF_COPY] = LG_SA_DF_COPY, [LG_DF_SET] = LG_SA_DF_SET, [LG_DF_CLEAR] = LG_SA_DF_CLEAR,
};

/* Everything but where it was written: equal SAs are kept as they are. */
static bool
sa_same(const struct lg_conf_sa *a, const struct lg_conf_sa *b, const struct lg_conf *ca,
	const struct lg_conf *cb)
{
	return strcmp(a->name, b->name) == 0 && a->dir == b->dir && a->spi == b->spi &&
	       strcmp(ca->peers[a->peer].id, cb->peers[b->peer].id) == 0 &&
	       a->mode == b->mode && memcmp(&a->local, &b->local, sizeof(a->local)) == 0 &&
	       memcmp(&a->remote, &b->remote, sizeof(a->remote)) == 0 &&
	       a->inner_af == b->inner_af && a->cipher == b->cipher &&
	       a->cipher_key_len == b->cipher_key_len &&
	       memcmp(a->cipher_key, b->cipher_key, sizeof(a->cipher_key)) == 0 &&
	       memcmp(a->salt, b->salt, sizeof(a->salt)) == 0 && a->auth == b->auth &&
	       a->auth_key_len == b->auth_key_len &&
	       memcmp(a->auth_key, b->auth_key, sizeof(a->auth_key)) == 0 &&
	       a->replay_window == b->replay_window && a->esn == b->esn &&
	       a->encap_udp == b->encap_udp && a->encap_sport == b->encap_sport &&
	       a->encap_dport == b->encap_dport && a->df == b->df && a->dscp == b->dscp &&
	       a->ttl == b->ttl;
}

static struct lg_sa *
sa_build(struct lg_gw *gw, const struct lg_conf *c, const struct lg_conf_sa *cs,
	 uint32_t slot, uint32_t ident, uint32_t pset)
{
	bool salted = cs->cipher == LG_CIPHER_AES128_CTR || cs->auth == LG_AUTH_AEAD;
	struct lg_sa_prm p = {
		.name = cs->name, .peer_id = c->peers[cs->peer].id,
		.dir = cs->dir == LG_DIR_OUTBOUND ? LG_SA_OUT : LG_SA_IN,
		.mode = cs->mode == LG_SA_TRANSPORT ? LG_SA_M_TRANSPORT : LG_SA_M_TUNNEL,
		.spi = cs->spi, .af = cs->local.af, .inner_af = cs->inner_af,
		.cipher = cipher_map[cs->cipher], .cipher_key = cs->cipher_key,
		.cipher_key_len = cs->cipher_key_len, .salt = salted ? cs->salt : NULL,
		.auth = auth_map[cs->auth], .auth_key = cs->auth_key,
		.auth_key_len = cs->auth_key_len,
		.replay_window = cs->replay_window, .esn = cs->esn,
		.encap_udp = cs->encap_udp, .encap_sport = cs->encap_sport,
		.encap_dport = cs->encap_dport, .df = df_map[cs->df], .dscp = cs->dscp,
		.ttl = cs->ttl, .ident = ident, .pset = pset,
		.sqn_atom = gw->nworkers > 1, .cpu = c->crypto.mode != LG_CRYPTO_LOOKASIDE,
		.direct = c->crypto.mode == LG_CRYPTO_DIRECT,
		.slot = slot, .dev_ids = gw->cdev, .ndev = gw->ncdev,
		.sess_mp = gw->sess_pool, .socket = (int)rte_socket_id(),
	};
	struct lg_sa *sa;

	memcpy(p.local, cs->local.b, sizeof(p.local));
	memcpy(p.remote, cs->remote.b, sizeof(p.remote));
	sa = lg_sa_create(&p);
	/* p holds only pointers to the keys, but leaves no copy either way. */
	explicit_bzero(&p, sizeof(p));
	return sa;
}

static int
u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Rank = position in (priority, file order): the SPD's total order. One
 * sort for all policies; NULL when out of memory. */
static uint32_t *
policy_ranks(const struct lg_conf *c)
{
	uint64_t *k = calloc(c->npolicies + 1, sizeof(*k));
	uint32_t *rank = calloc(c->npolicies + 1, sizeof(*rank));
	uint32_t i;

	if (k == NULL || rank == NULL) {
		free(k);
		free(rank);
		return NULL;
	}
	for (i = 0; i < c->npolicies; i++)
		k[i] = (uint64_t)c->policies[i].priority << 32 | i;
	qsort(k, c->npolicies, sizeof(*k), u64_cmp);
	for (i = 0; i < c->npolicies; i++)
		rank[(uint32_t)k[i]] = i;
	free(k);
	return rank;
}

/* One ACL rule per (sport range x dport range) of each policy. */
static uint32_t
expand_policy(struct lg_spd_entry *out, const struct lg_conf_policy *p, uint32_t sa_slot,
	      uint32_t rank)
{
	uint32_t ns = p->nsport ? p->nsport : 1, nd = p->ndport ? p->ndport : 1;
	uint32_t s, d, n = 0;

	for (s = 0; s < ns; s++) {
		for (d = 0; d < nd; d++, n++) {
			struct lg_spd_entry *e = &out[n];

			memset(e, 0, sizeof(*e));
			e->af = p->af;   /* 0: no address selector, both families */
			memcpy(e->src, p->src.addr.b, sizeof(e->src));
			memcpy(e->dst, p->dst.addr.b, sizeof(e->dst));
			e->src_len = p->src.len;
			e->dst_len = p->dst.len;
			e->proto = p->proto;
			e->sport_hi = e->dport_hi = UINT16_MAX;
			e->action = p->action == LG_ACT_PROTECT ? LG_SPD_PROTECT :
				    p->action == LG_ACT_BYPASS ? LG_SPD_BYPASS : LG_SPD_DISCARD;
			e->sa_slot = p->action == LG_ACT_PROTECT ? sa_slot : 0;
			e->rank = rank;
			if (p->nsport) {
				e->sport_lo = p->sport[s].lo;
				e->sport_hi = p->sport[s].hi;
			}
			if (p->ndport) {
				e->dport_lo = p->dport[d].lo;
				e->dport_hi = p->dport[d].hi;
			}
		}
	}
	return n;
}

static struct lg_spd_entry *
spd_entries(const struct lg_conf *c, const uint32_t *slot_of,
	    enum lg_dir dir, uint32_t *n)
{
	struct lg_spd_entry *e = NULL;
	uint32_t *rank = policy_ranks(c);
	size_t total = 1;
	uint32_t i;

	/* One rule per (sport range x dport range): sized exactly, as 100,000
	 * policies at the worst case of 64 each would be half a gigabyte. */
	for (i = 0; i < c->npolicies; i++)
		total += (size_t)(c->policies[i].nsport ? c->policies[i].nsport : 1) *
			 (c->policies[i].ndport ? c->policies[i].ndport : 1);
	if (rank != NULL)
		e = calloc(total, sizeof(*e));
	*n = 0;
	for (i = 0; e != NULL && i < c->npolicies; i++) {
		const struct lg_conf_policy *p = &c->policies[i];

		if (p->dir != dir)
			continue;
		*n += expand_policy(&e[*n], p, p->action == LG_ACT_PROTECT ? slot_of[p->sa] : 0,
				    rank[i]);
	}
	free(rank);
	return e;
}

static struct lg_route_entry *
route_entries(const struct lg_gw *gw, const struct lg_conf *c)
{
	struct lg_route_entry *e = calloc(c->nroutes + 1, sizeof(*e));
	uint32_t i;

	for (i = 0; e != NULL && i < c->nroutes; i++) {
		const struct lg_conf_route *r = &c->routes[i];

		e[i].af = r->dst.addr.af;
		memcpy(e[i].addr, r->dst.addr.b, sizeof(e[i].addr));
		e[i].len = r->dst.len;
		e[i].port = (uint16_t)r->port;   /* config order = lg_dp.port order */
		e[i].protect = gw->dp->port[r->port].role == LG_PORT_PROTECTED;
		memcpy(e[i].mac.addr_bytes, r->next_hop_mac, 6);
	}
	return e;
}

/* ---- latch sweeps ------------------------------------------------------ */

/* What the workers will see: SPDs and the SA of every slot. */
struct view {
	const struct lg_spd *spd[2];
	struct lg_sa *const *sa;
};

/* The packet of flow k in direction dir (0 outbound), as SPD input. */
static void
flow_packet(union lg_key *key, const struct lg_flow_key *k, const struct lg_latch *l, int dir)
{
	static const uint32_t lo_src_bit[2] = { LG_LATCH_LO_OUT, LG_LATCH_LO_IN };
	uint32_t fl = __atomic_load_n(&l->flags, __ATOMIC_RELAXED);
	/* A direction seen has its orientation recorded; one not seen yet
	 * runs opposite to the other (a loopback may send both ways alike). */
	bool lo_src = __atomic_load_n(&l->pset[dir], __ATOMIC_RELAXED) != 0 ?
		      (fl & lo_src_bit[dir]) != 0 : (fl & lo_src_bit[!dir]) == 0;
	const uint8_t *s = lo_src ? k->lo : k->hi, *d = lo_src ? k->hi : k->lo;
	uint16_t sp = lo_src ? k->port_lo : k->port_hi, dp = lo_src ? k->port_hi : k->port_lo;

	memset(key, 0, sizeof(*key));
	if (k->proto == IPPROTO_ICMP || k->proto == IPPROTO_ICMPV6) {
		/* Echo flows are keyed by identifier: judge them as the
		 * request out and the reply in (type in sport, code 0). */
		uint8_t t = k->proto == IPPROTO_ICMP ? (dir == 0 ? 8 : 0) : (dir == 0 ? 128 : 129);

		sp = rte_cpu_to_be_16(t);
		dp = 0;
	}
	key->k4.proto = k->proto;
	if (k->af == 6) {
		memcpy(key->k6.src, s, 16);
		memcpy(key->k6.dst, d, 16);
		key->k6.sport = sp;
		key->k6.dport = dp;
	} else {
		memcpy(&key->k4.src, s, 4);
		memcpy(&key->k4.dst, d, 4);
		key->k4.sport = sp;
		key->k4.dport = dp;
	}
}

/*
 * Whether latch l stays congruent under view v: per direction, the entry
 * the flow's packets would match must PROTECT them with an SA of the
 * latched identity and (once learned) parameter set. Outbound, losing
 * protection breaks a flow that has sent (item 17); inbound, a flow that
 * has received. Returns 0, or the reason with *dir and *sa the conflict.
 */
static uint8_t
judge(const struct view *v, const struct lg_flow_key *k, const struct lg_latch *l, int *dir,
      struct lg_sa **sa)
{
	for (int d = 0; d < 2; d++) {
		union lg_key key;
		const union lg_key *kp = &key;
		uint8_t is6 = k->af == 6;
		uint32_t res, learned = __atomic_load_n(&l->pset[d], __ATOMIC_RELAXED);
		const struct lg_spd_rule *r;
		struct lg_sa *s;

		flow_packet(&key, k, l, d);
		lg_spd_classify(v->spd[d], &kp, &is6, &res, 1);
		r = &v->spd[d]->rule[res];
		*dir = d;
		*sa = NULL;
		if (res == LG_SPD_NONE || r->action != LG_SPD_PROTECT) {
			if (learned != 0)
				return LG_REASON_SPD_CHANGE;
			continue;
		}
		s = v->sa[r->sa_slot];
		*sa = s;
		if (s == NULL || s->ident != l->ident || (learned != 0 && s->pset != learned))
			return LG_REASON_SA_CONFLICT;
	}
	return 0;
}

static void
summary(struct lg_gw *gw, uint32_t change, uint8_t to, uint32_t count)
{
	struct lg_event ev = {
		.tsc = rte_rdtsc(), .kind = LG_EVENT_SUMMARY, .new_state = to, .count = count,
		.change = change, .latch_id = UINT32_MAX, .new_sa_slot = UINT32_MAX,
	};

	if (!lg_event_put(gw->dp->events, &ev))
		gw->event_overflow++;
}


/*
 * Steps 2 and 5. Breaking (view v: what the workers are about to see):
 * every ESTABLISHED latch v does not keep congruent goes BROKEN, marked
 * healable. Restoring (v: what is published now): every healable BROKEN
 * latch v makes congruent again goes ESTABLISHED. Each transition by CAS,
 * one event each, one summary for the lot. Returns how many moved.
 */
static uint32_t
sweep(struct lg_gw *gw, const struct view *v, uint32_t change, bool restore)
{
	struct lg_latch_table *t = gw->dp->latch;
	uint32_t from = restore ? LG_LATCH_BROKEN : LG_LATCH_ESTABLISHED;
	uint32_t to = restore ? LG_LATCH_ESTABLISHED : LG_LATCH_BROKEN;
	uint32_t pos, n = 0;

	for (pos = 0; t != NULL && pos < t->slots; pos++) {
		struct lg_latch *l = &t->e[pos];
		struct lg_flow_key k;
		struct lg_sa *sa;
		uint8_t why;
		int dir;

		if (__atomic_load_n(&l->state, __ATOMIC_ACQUIRE) != from ||
		    (restore && !(__atomic_load_n(&l->flags, __ATOMIC_RELAXED) & LG_LATCH_HEAL)) ||
		    lg_latch_key(t, pos, &k) != 0)
			continue;
		why = judge(v, &k, l, &dir, &sa);
		if ((why == 0) != restore)
			continue;
		if (restore) {
			__atomic_fetch_and(&l->flags, ~LG_LATCH_HEAL, __ATOMIC_RELAXED);
			why = LG_REASON_RESTORED;
			dir = 0;
			sa = NULL;
		}
		if (!lg_latch_transition(l, from, to))
			continue;   /* a worker got there first (and raised it) */
		/* Only the winner marks it healable: a worker's INBOUND_MISMATCH
		 * break must stay unhealed. */
		if (!restore)
			__atomic_fetch_or(&l->flags, LG_LATCH_HEAL, __ATOMIC_RELAXED);
		lg_event_raise(gw->dp->events, l, &k, pos, (uint8_t)from, (uint8_t)to, why, dir, sa,
			       &gw->event_overflow);
		n++;
	}
	if (restore)
		gw->restored += n;
	else
		gw->change_broken += n;
	if (n > 0)
		summary(gw, change, (uint8_t)to, n);
	return n;
}

/* ---- retiring ---------------------------------------------------------- */

/* Room for `more` retire entries: taken before anything is published. */
static int
retire_reserve(struct lg_gw *gw, uint32_t more)
{
	uint32_t c = gw->cretire ? gw->cretire : 64;
	struct lg_retire *a;

	while (c < gw->nretire + more)
		c *= 2;
	if (c == gw->cretire)
		return 0;
	a = realloc(gw->retire, c * sizeof(*a));
	if (a == NULL)
		return -ENOMEM;
	gw->retire = a;
	gw->cretire = c;
	return 0;
}

/* Never fails: plan_build() reserved the room. */
static void
retire(struct lg_gw *gw, struct lg_retire r)
{
	RTE_VERIFY(gw->nretire < gw->cretire);
	if (r.kind != LG_RT_OVERLAP)
		r.token = rte_rcu_qsbr_start(gw->dp->qs);
	gw->retire[gw->nretire++] = r;
}

/* A rekey overlap ends: the old SPI is unmapped, and its SA retired once no
 * worker can have found it. */
static void
overlap_end(struct lg_gw *gw, struct lg_retire *r)
{
	*r = (struct lg_retire){ .kind = LG_RT_SA, .obj = r->obj,
				 .key_pos = lg_sad_del(gw->dp->sad, r->spi),
				 .token = rte_rcu_qsbr_start(gw->dp->qs) };
}

/* An SA deleted: the old SPIs its earlier versions kept for a rekey overlap
 * go now, before its slot can be reused (their packets would pass the
 * selector check of the slot's next SA). */
static void
end_overlaps(struct lg_gw *gw, uint32_t slot)
{
	uint32_t i;

	for (i = 0; i < gw->nretire; i++) {
		struct lg_retire *r = &gw->retire[i];

		if (r->kind == LG_RT_OVERLAP && ((struct lg_sa *)r->obj)->slot == slot)
			overlap_end(gw, r);
	}
}

static void
slot_free(struct lg_gw *gw, uint32_t slot)
{
	uint32_t i;

	for (i = 0; i < gw->nworkers; i++)
		memset(&gw->workers[i].st->sa[slot], 0, sizeof(gw->workers[i].st->sa[slot]));
	gw->slot_name[slot][0] = '\0';
	gw->slot_state[slot] = LG_SLOT_FREE;
}

/* Finish one entry; false if it must wait. */
static bool
retire_one(struct lg_gw *gw, struct lg_retire *r, bool force)
{
	if (r->kind == LG_RT_OVERLAP) {
		if (!force && rte_rdtsc() < r->due_tsc)
			return false;
		overlap_end(gw, r);
		if (!force)
			return false;
	}
	if (!force && rte_rcu_qsbr_check(gw->dp->qs, r->token, false) != 1)
		return false;
	switch (r->kind) {
	case LG_RT_SA:
		lg_sad_free_pos(gw->dp->sad, r->key_pos);
		lg_sa_free(r->obj);
		break;
	case LG_RT_SPD:
		lg_spd_free(r->obj);
		break;
	case LG_RT_ROUTES:
		lg_routes_free(r->obj);
		break;
	case LG_RT_SLOT:
		slot_free(gw, r->slot);
		break;
	case LG_RT_RESTORE:
		if (!force) {
			struct view now = { { gw->dp->spd_out, gw->dp->spd_in }, gw->dp->sa };

			sweep(gw, &now, r->change, true);
		}
		break;
	}
	return true;
}

void
lg_gw_retire_poll(struct lg_gw *gw)
{
	uint32_t i, k = 0;

	for (i = 0; i < gw->nretire; i++) {
		if (!retire_one(gw, &gw->retire[i], false))
			gw->retire[k++] = gw->retire[i];
	}
	gw->nretire = k;
}

/* ---- apply ------------------------------------------------------------- */

/* What a restart would be needed for. */
static const char *
fixed_changed(const struct lg_conf *a, const struct lg_conf *b)
{
	uint32_t i;

	if (a->nports != b->nports)
		return "ports";
	for (i = 0; i < a->nports; i++) {
		const struct lg_conf_port *p = &a->ports[i], *q = &b->ports[i];

		if (strcmp(p->name, q->name) != 0 || p->role != q->role ||
		    strcmp(p->device, q->device) != 0 || p->naddress != q->naddress ||
		    memcmp(p->address, q->address, sizeof(p->address)) != 0 ||
		    p->has_mac != q->has_mac || memcmp(p->mac, q->mac, sizeof(p->mac)) != 0)
			return "ports";
	}
	if (a->crypto.ndevices != b->crypto.ndevices || a->crypto.mode != b->crypto.mode ||
	    memcmp(a->crypto.devices, b->crypto.devices, sizeof(a->crypto.devices)) != 0)
		return "crypto";
	if (a->neal != b->neal)
		return "eal";
	for (i = 0; i < a->neal; i++)
		if (strcmp(a->eal[i], b->eal[i]) != 0)
			return "eal";
	if (a->latch.enabled != b->latch.enabled || a->latch.capacity != b->latch.capacity)
		return "latch.enabled or latch.capacity";
	if (strcmp(a->control.socket, b->control.socket) != 0)
		return "control.socket";
	if (a->memory.mbufs != b->memory.mbufs)
		return "memory.mbufs";
	if (a->memory.sas != b->memory.sas)
		return "memory.sas";
	return NULL;
}

struct plan {
	uint32_t *slot;          /* [nc->nsas] */
	struct lg_sa **fresh;    /* [nc->nsas]: new versions, NULL = kept */
	struct lg_sa **view;     /* [gw->dp->sa_slots], only for a sweep */
	struct lg_spd *spd[2];   /* NULL = unchanged */
	struct lg_spd_entry *e[2];
	uint32_t ne[2];
	struct lg_routes *rt;
	struct lg_route_entry *re;
	bool *gone;              /* [old->nsas]: deleted */
	int32_t *old_of;         /* [nc->nsas]: the same-named SA in old, or -1 */
	bool shape;              /* some flow may judge differently */
};

static void
plan_undo(struct lg_gw *gw, struct plan *p, uint32_t nsas)
{
	uint32_t i;

	for (i = 0; p->fresh != NULL && i < nsas; i++)
		lg_sa_free(p->fresh[i]);
	/* Slots claimed by this change, whether or not their SA was built. */
	for (i = 0; i < gw->dp->sa_slots; i++) {
		if (gw->slot_state[i] == LG_SLOT_CLAIMED) {
			gw->slot_state[i] = LG_SLOT_FREE;
			gw->slot_name[i][0] = '\0';
		}
	}
	lg_spd_free(p->spd[0]);
	lg_spd_free(p->spd[1]);
	lg_routes_free(p->rt);
	free(p->e[0]);
	free(p->e[1]);
	free(p->re);
}

static void
plan_free(struct plan *p)
{
	free(p->slot);
	free(p->fresh);
	free(p->view);
	free(p->gone);
	free(p->old_of);
}

static int
slot_alloc(struct lg_gw *gw, const char *name)
{
	uint32_t n = gw->dp->sa_slots, k, i;

	/* From where the last search stopped: O(1) a slot while loading. */
	for (k = 0; k < n; k++) {
		i = (gw->slot_next + k) % n;
		if (gw->slot_state[i] == LG_SLOT_FREE) {
			gw->slot_state[i] = LG_SLOT_CLAIMED;
			snprintf(gw->slot_name[i], LG_NAME_MAX, "%s", name);
			gw->slot_next = (i + 1) % n;
			return (int)i;
		}
	}
	return -1;
}

/* Step 1. */
static int
plan_build(struct lg_gw *gw, const struct lg_conf *old, const struct lg_conf *nc,
	   struct plan *p, struct lg_change *res, bool initial, char *err, size_t errlen)
{
	struct lg_dp *dp = gw->dp;
	int32_t *new_of;
	uint32_t i, d;

	p->slot = calloc(nc->nsas + 1, sizeof(*p->slot));
	p->fresh = calloc(nc->nsas + 1, sizeof(*p->fresh));
	p->gone = calloc(old->nsas + 1, sizeof(*p->gone));
	p->old_of = lg_config_sa_match(nc, old);
	new_of = lg_config_sa_match(old, nc);
	if (p->slot == NULL || p->fresh == NULL || p->gone == NULL ||
	    p->old_of == NULL || new_of == NULL) {
		free(new_of);
		return ERR("out of memory");
	}
	for (i = 0; i < old->nsas; i++) {
		p->gone[i] = new_of[i] < 0;
		if (p->gone[i])
			res->sas_deleted++;
	}
	free(new_of);
	for (i = 0; i < nc->nsas; i++) {
		const struct lg_conf_sa *cs = &nc->sas[i];
		int o = p->old_of[i], s;
		uint32_t ident, pset;
		struct lg_sa *cur = o >= 0 ? dp->sa[gw->sa_slot[o]] : NULL, *was;

		if (o >= 0 && sa_same(&old->sas[o], cs, old, nc)) {
			p->slot[i] = gw->sa_slot[o];
			continue;
		}
		if (o >= 0 && old->sas[o].dir != cs->dir)
			return ERR("SA '%s': changes direction; delete it and add a new one",
				   cs->name);
		/*
		 * A new version starts at sequence number 1 (outbound) or with an
		 * empty replay window (inbound): under the same keys that repeats
		 * GCM/CTR nonces, or lets every captured packet be replayed. A
		 * rekey brings new keys (RFC 4303 §3.3.3; IKE derives fresh ones
		 * for every CHILD_SA). Older versions' keys are not remembered.
		 */
		if (o >= 0 && memcmp(old->sas[o].cipher_key, cs->cipher_key, sizeof(cs->cipher_key)) == 0 &&
		    memcmp(old->sas[o].salt, cs->salt, sizeof(cs->salt)) == 0 &&
		    memcmp(old->sas[o].auth_key, cs->auth_key, sizeof(cs->auth_key)) == 0)
			return ERR("SA '%s': the new version has the keys of the one it replaces;"
				   " its sequence numbers would start again at 1 (repeated nonces,"
				   " replays): rekey with new keys", cs->name);
		s = o >= 0 ? (int)gw->sa_slot[o] : slot_alloc(gw, cs->name);
		if (s < 0)
			return ERR("SA '%s': all %u SA slots are in use (deleted SAs free theirs"
				   " after a grace period; memory.sas sets how many)", cs->name,
				   gw->dp->sa_slots);
		p->slot[i] = (uint32_t)s;
		ident = ident_id(gw, nc->peers[cs->peer].id);
		pset = pset_id(gw, cs);
		if (ident == 0 || pset == 0)
			return ERR("SA '%s': more than %u distinct identities or parameter sets"
				   " since start", cs->name, LG_INTERN_MAX);
		/* An inbound SPI still accepted for a replaced SA is not free. */
		was = cs->dir == LG_DIR_INBOUND ? lg_sad_find(dp->sad, cs->spi) : NULL;
		if (was != NULL && was != cur)
			return ERR("SA '%s': SPI 0x%x is still accepted for the SA it replaced"
				   " (rekey overlap of %u s); choose another SPI", cs->name,
				   cs->spi, old->control.rekey_overlap_s);
		p->fresh[i] = sa_build(gw, nc, cs, (uint32_t)s, ident, pset);
		if (p->fresh[i] == NULL && rte_errno == ENOTSUP)
			return initial ?
			       ERR("%s:%u:%u: SA '%s': a crypto device in crypto.devices cannot run"
				   " %s (crypto_aesni_gcm runs AES-GCM only, crypto_aesni_mb every"
				   " suite)", nc->file, cs->at.line, cs->at.col, cs->name,
				   lg_suite_format(cs, (char[48]){ 0 }, 48)) :
			       ERR("SA '%s': a crypto device in crypto.devices cannot run %s",
				   cs->name, lg_suite_format(cs, (char[48]){ 0 }, 48));
		if (p->fresh[i] == NULL && initial)
			return ERR("%s:%u:%u: SA '%s': cannot be created: %s", nc->file,
				   cs->at.line, cs->at.col, cs->name, rte_strerror(rte_errno));
		if (p->fresh[i] == NULL)
			return ERR("SA '%s': cannot be created: %s", cs->name,
				   rte_strerror(rte_errno));
		if (o < 0) {
			res->sas_added++;
		} else {
			res->sas_replaced++;
			if (cur != NULL && cur->ident == ident && cur->pset == pset)
				res->sas_congruent++;
			else
				p->shape = true;
		}
	}
	/* Room for what publish() adds: SAD keys (a key of a deleted or
	 * overlapped SPI holds its place until a grace period ends) and retire
	 * entries (publish() cannot fail half-way). */
	{
		uint32_t adds = 0, nfresh = 0;

		for (i = 0; i < nc->nsas; i++) {
			if (p->fresh[i] == NULL)
				continue;
			nfresh++;
			if (nc->sas[i].dir == LG_DIR_INBOUND &&
			    lg_sad_find(dp->sad, nc->sas[i].spi) == NULL)
				adds++;
		}
		if ((uint32_t)rte_hash_count(dp->sad->h) + adds > gw->sad_capacity)
			return ERR("the SAD is full (%u SPIs, rekey overlaps included); retry"
				   " when overlaps have ended", gw->sad_capacity);
		if (retire_reserve(gw, 3 * (nfresh + res->sas_deleted) + 8) != 0)
			return ERR("out of memory");
	}
	for (d = 0; d < 2; d++) {
		p->e[d] = spd_entries(nc, p->slot, d == 0 ? LG_DIR_OUTBOUND : LG_DIR_INBOUND,
				      &p->ne[d]);
		if (p->e[d] == NULL)
			return ERR("out of memory");
		if (!initial && p->ne[d] == gw->spd_n[d] &&
		    memcmp(p->e[d], gw->spd_e[d], p->ne[d] * sizeof(*p->e[d])) == 0)
			continue;
		p->spd[d] = lg_spd_create(d == 0 ? "lg_spd_out" : "lg_spd_in", p->e[d], p->ne[d],
					  (int)rte_socket_id());
		if (p->spd[d] == NULL)
			return initial ? ERR("%s: cannot build the %s SPD: %s", nc->file,
					     d == 0 ? "outbound" : "inbound", rte_strerror(rte_errno)) :
					 ERR("cannot build the %s SPD: %s",
					     d == 0 ? "outbound" : "inbound", rte_strerror(rte_errno));
		p->shape = true;
		res->spd_changed = true;
	}
	p->re = route_entries(gw, nc);
	if (p->re == NULL)
		return ERR("out of memory");
	if (initial || nc->nroutes != gw->rt_n ||
	    memcmp(p->re, gw->rt_e, nc->nroutes * sizeof(*p->re)) != 0) {
		p->rt = lg_routes_create("lg_routes", p->re, nc->nroutes, (int)rte_socket_id());
		if (p->rt == NULL)
			return ERR("%s: cannot build the route table: %s", nc->file,
				   rte_strerror(rte_errno));
		res->routes_changed = true;
	}
	return 0;
}

/*
 * The slot array as the workers will see it once p is published. Built only
 * for a break sweep: a congruent replace needs none, and at 100,000 slots
 * the copy would be most of its cost.
 */
static int
view_build(struct lg_gw *gw, const struct lg_conf *old, const struct lg_conf *nc,
	   struct plan *p)
{
	uint32_t i;

	p->view = malloc(gw->dp->sa_slots * sizeof(*p->view));
	if (p->view == NULL)
		return -1;
	memcpy(p->view, gw->dp->sa, gw->dp->sa_slots * sizeof(*p->view));
	for (i = 0; i < old->nsas; i++)
		if (p->gone[i])
			p->view[gw->sa_slot[i]] = NULL;
	for (i = 0; i < nc->nsas; i++)
		if (p->fresh[i] != NULL)
			p->view[p->slot[i]] = p->fresh[i];
	return 0;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Steps 3 and 4 (nothing here can fail but the retire list's growth, which
 * then frees at once what it cannot queue: only after a synchronize). */
static void
publish(struct lg_gw *gw, const struct lg_conf *old, const struct lg_conf *nc,
	struct plan *p, uint32_t change)
{
	struct lg_dp *dp = gw->dp;
	uint64_t overlap = (uint64_t)nc->control.rekey_overlap_s * rte_get_tsc_hz();
	uint32_t i, d;

	for (i = 0; i < nc->nsas; i++) {
		const struct lg_conf_sa *cs = &nc->sas[i];
		uint32_t s = p->slot[i];
		struct lg_sa *cur = dp->sa[s];
		int o;

		if (p->fresh[i] == NULL)
			continue;
		gw->slot_state[s] = LG_SLOT_USED;
		/* release: pairs with the workers' acquire load of the slot */
		__atomic_store_n(&dp->sa[s], p->fresh[i], __ATOMIC_RELEASE);
		if (cs->dir == LG_DIR_INBOUND)
			lg_sad_add(dp->sad, cs->spi, p->fresh[i]);
		if (cur == NULL)
			continue;
		o = p->old_of[i];
		/* The overlap is for rekeys: an SA of another identity or other
		 * parameters does not keep the old one's SPI alive. */
		if (cs->dir == LG_DIR_INBOUND && old->sas[o].spi != cs->spi && overlap > 0 &&
		    cur->ident == p->fresh[i]->ident && cur->pset == p->fresh[i]->pset)
			retire(gw, (struct lg_retire){ .kind = LG_RT_OVERLAP, .obj = cur,
				.spi = old->sas[o].spi, .due_tsc = rte_rdtsc() + overlap });
		else if (cs->dir == LG_DIR_INBOUND && old->sas[o].spi != cs->spi)
			retire(gw, (struct lg_retire){ .kind = LG_RT_SA, .obj = cur,
				.key_pos = lg_sad_del(dp->sad, old->sas[o].spi) });
		else
			retire(gw, (struct lg_retire){ .kind = LG_RT_SA, .obj = cur, .key_pos = -1 });
	}
	for (d = 0; d < 2; d++) {
		struct lg_spd **slot = d == 0 ? &dp->spd_out : &dp->spd_in;
		struct lg_spd *was = *slot;

		if (p->spd[d] == NULL)
			continue;
		__atomic_store_n(slot, p->spd[d], __ATOMIC_RELEASE);
		if (was != NULL)
			retire(gw, (struct lg_retire){ .kind = LG_RT_SPD, .obj = was });
	}
	if (p->rt != NULL) {
		struct lg_routes *was = dp->routes;

		__atomic_store_n(&dp->routes, p->rt, __ATOMIC_RELEASE);
		if (was != NULL)
			retire(gw, (struct lg_retire){ .kind = LG_RT_ROUTES, .obj = was });
	}
	for (i = 0; i < old->nsas; i++) {
		uint32_t s = gw->sa_slot[i];
		struct lg_sa *was = dp->sa[s];

		if (!p->gone[i])
			continue;
		__atomic_store_n(&dp->sa[s], NULL, __ATOMIC_RELEASE);
		gw->slot_state[s] = LG_SLOT_RETIRING;
		end_overlaps(gw, s);
		retire(gw, (struct lg_retire){ .kind = LG_RT_SA, .obj = was,
			.key_pos = old->sas[i].dir == LG_DIR_INBOUND ?
				   lg_sad_del(dp->sad, old->sas[i].spi) : -1 });
		retire(gw, (struct lg_retire){ .kind = LG_RT_SLOT, .slot = s });
	}
	if (p->shape && dp->latch != NULL)
		retire(gw, (struct lg_retire){ .kind = LG_RT_RESTORE, .change = change });
	/* The published tables' entries, for the next comparison. */
	for (d = 0; d < 2; d++) {
		if (p->spd[d] == NULL)
			continue;
		free(gw->spd_e[d]);
		gw->spd_e[d] = p->e[d];
		gw->spd_n[d] = p->ne[d];
		p->e[d] = NULL;
	}
	if (p->rt != NULL) {
		free(gw->rt_e);
		gw->rt_e = p->re;
		gw->rt_n = nc->nroutes;
		p->re = NULL;
	}
	free(p->e[0]);
	free(p->e[1]);
	free(p->re);
}

static int
apply(struct lg_gw *gw, const struct lg_conf *old, struct lg_conf *nc, bool initial,
      struct lg_change *res, char *err, size_t errlen)
{
	struct plan p = { 0 };
	uint64_t t0 = now_ns();
	struct view v;
	int rc;

	if (nc->nsas > gw->dp->sa_slots)
		return ERR("%s: %u SAs, more than the %u SA slots (memory.sas)", nc->file,
			   nc->nsas, gw->dp->sa_slots);
	memset(res, 0, sizeof(*res));
	res->id = ++gw->nchanges;
	rc = plan_build(gw, old, nc, &p, res, initial, err, errlen);
	if (rc != 0) {
		plan_undo(gw, &p, nc->nsas);
		plan_free(&p);
		return rc;
	}
	if (p.shape && !initial) {
		if (view_build(gw, old, nc, &p) != 0) {
			plan_undo(gw, &p, nc->nsas);
			plan_free(&p);
			return ERR("out of memory");
		}
		v.spd[0] = p.spd[0] != NULL ? p.spd[0] : gw->dp->spd_out;
		v.spd[1] = p.spd[1] != NULL ? p.spd[1] : gw->dp->spd_in;
		v.sa = p.view;
		res->broken = sweep(gw, &v, res->id, false);
	}
	publish(gw, old, nc, &p, res->id);
	free(gw->sa_slot);
	gw->sa_slot = p.slot;
	p.slot = NULL;
	plan_free(&p);
	res->apply_ns = now_ns() - t0;
	return 0;
}

int
lg_gw_apply(struct lg_gw *gw, struct lg_conf *nc, struct lg_change *res, char *err,
	    size_t errlen)
{
	const char *fixed = fixed_changed(gw->conf, nc);
	int rc;

	if (fixed != NULL)
		return ERR("%s: '%s' differs from the running config; changing it needs a"
			   " restart", nc->file, fixed);
	rc = apply(gw, gw->conf, nc, false, res, err, errlen);
	if (rc != 0)
		return rc;
	lg_config_free(gw->conf);
	gw->conf = nc;
	return 0;
}

int
lg_gw_apply_init(struct lg_gw *gw, char *err, size_t errlen)
{
	static const struct lg_conf empty;
	struct lg_change res;

	gw->slot_name = calloc(gw->dp->sa_slots, sizeof(*gw->slot_name));
	gw->slot_state = calloc(gw->dp->sa_slots, sizeof(*gw->slot_state));
	gw->ident = calloc(LG_INTERN_MAX, sizeof(*gw->ident));
	gw->pset = calloc(LG_INTERN_MAX, sizeof(*gw->pset));
	if (gw->slot_name == NULL || gw->slot_state == NULL || gw->ident == NULL ||
	    gw->pset == NULL)
		return ERR("out of memory");
	return apply(gw, &empty, gw->conf, true, &res, err, errlen);
}

void
lg_gw_apply_fini(struct lg_gw *gw)
{
	uint32_t i;

	/* Workers have stopped: everything queued goes now. */
	for (i = 0; i < gw->nretire; i++)
		retire_one(gw, &gw->retire[i], true);
	free(gw->retire);
	free(gw->sa_slot);
	free(gw->slot_name);
	free(gw->slot_state);
	free(gw->ident);
	free(gw->pset);
	free(gw->spd_e[0]);
	free(gw->spd_e[1]);
	free(gw->rt_e);
}
