/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * From a validated config to a running dataplane. Order matters: crypto
 * devices before the mbuf pool (queue depths size it), ports after the pool,
 * SAs after the crypto devices, the SPDs after the SAs (they name slots).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>

#include "gw.h"
#include "port.h"

#define ERR(...) (snprintf(err, errlen, __VA_ARGS__), -EINVAL)
#define AT(w) gw->conf->file, (w).line, (w).col

static int
setup_crypto(struct lg_gw *gw, char *err, size_t errlen)
{
	const struct lg_conf_crypto *cc = &gw->conf->crypto;
	uint16_t nqp[LG_CRYPTO_DEV_MAX] = { 0 };
	uint32_t i;
	int id, rc;

	for (i = 0; i < cc->ndevices; i++) {
		id = lg_crypto_dev_open(cc->devices[i]);
		if (id < 0)
			return ERR("%s:%u:%u: key 'devices': cannot open crypto device '%s': %s",
				   AT(cc->at), cc->devices[i], rte_strerror(-id));
		if (lg_crypto_dev_check((uint8_t)id, cc->mode == LG_CRYPTO_CPU, err, errlen) != 0)
			return -ENOTSUP;
		gw->cdev[gw->ncdev++] = (uint8_t)id;
	}
	for (i = 0; i < gw->nworkers; i++)
		nqp[i % gw->ncdev]++;
	gw->sess_pool = lg_crypto_sess_pool_create(gw->cdev, gw->ncdev,
						   LG_SA_SLOTS, rte_socket_id());
	if (gw->sess_pool == NULL)
		return ERR("crypto session pool: %s", rte_strerror(rte_errno));
	for (i = 0; i < gw->ncdev; i++) {
		rc = lg_crypto_dev_start(gw->cdev[i], RTE_MAX(nqp[i], 1), LG_CRYPTO_QDEPTH,
					 gw->sess_pool, rte_socket_id());
		if (rc != 0)
			return ERR("crypto device '%s': start failed: %s",
				   cc->devices[i], rte_strerror(-rc));
	}
	return 0;
}

static int
setup_pool(struct lg_gw *gw, char *err, size_t errlen)
{
	uint32_t nq = gw->nworkers, np = gw->conf->nports;
	uint32_t n = np * nq * (LG_RX_DESC + LG_TX_DESC) +
		     nq * (LG_CRYPTO_QDEPTH + np * LG_TXB + 4 * LG_BURST) + 4096;

	gw->mbuf_pool = rte_pktmbuf_pool_create("lg_mbuf", n, 256, LG_MBUF_PRIV_SIZE,
						RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
	if (gw->mbuf_pool == NULL)
		return ERR("mbuf pool of %u: %s (are hugepages reserved?)",
			   n, rte_strerror(rte_errno));
	rte_mempool_obj_iter(gw->mbuf_pool, lg_crypto_op_init, NULL);
	return 0;
}

static int
setup_ports(struct lg_gw *gw, char *err, size_t errlen)
{
	struct lg_dp *dp = gw->dp;
	uint32_t i;
	int id;

	for (i = 0; i < gw->conf->nports; i++) {
		const struct lg_conf_port *cp = &gw->conf->ports[i];
		struct rte_ether_addr mac;
		char why[256];

		id = lg_port_open(cp->device);
		if (id < 0)
			return ERR("%s:%u:%u: key 'device': cannot open port '%s' (%s): %s",
				   AT(cp->at), cp->name, cp->device, rte_strerror(-id));
		memcpy(mac.addr_bytes, cp->mac, sizeof(mac.addr_bytes));
		if (lg_port_start((uint16_t)id, (uint16_t)gw->nworkers, gw->mbuf_pool,
				  cp->has_mac ? &mac : NULL, why, sizeof(why)) != 0)
			return ERR("%s:%u:%u: port '%s': %s", AT(cp->at), cp->name, why);
		dp->port[i].port_id = (uint16_t)id;
		dp->port[i].role = cp->role == LG_ROLE_PROTECTED ? LG_PORT_PROTECTED
								  : LG_PORT_UNPROTECTED;
		if (cp->has_mac)
			dp->port[i].mac = mac;
		else
			rte_eth_macaddr_get((uint16_t)id, &dp->port[i].mac);
		dp->port_idx[id] = (uint8_t)i;
		for (uint32_t a = 0; a < cp->naddress; a++) {
			if (cp->address[a].af == LG_AF_INET6 && dp->nlocal6 < LG_LOCAL_MAX)
				memcpy(dp->local6[dp->nlocal6++], cp->address[a].b, 16);
			else if (cp->address[a].af == LG_AF_INET && dp->nlocal4 < LG_LOCAL_MAX)
				memcpy(&dp->local4[dp->nlocal4++], cp->address[a].b, 4);
		}
	}
	dp->nports = (uint16_t)gw->conf->nports;
	return 0;
}

static const uint8_t cipher_map[] = {
	[LG_CIPHER_NULL] = LG_SA_C_NULL,
	[LG_CIPHER_AES128_CBC] = LG_SA_C_AES_CBC, [LG_CIPHER_AES256_CBC] = LG_SA_C_AES_CBC,
	[LG_CIPHER_AES128_CTR] = LG_SA_C_AES_CTR,
	[LG_CIPHER_AES128_GCM] = LG_SA_C_AES_GCM, [LG_CIPHER_AES256_GCM] = LG_SA_C_AES_GCM,
};
static const uint8_t auth_map[] = {
	[LG_AUTH_NULL] = LG_SA_A_NULL, [LG_AUTH_HMAC_SHA1_96] = LG_SA_A_SHA1_96,
	[LG_AUTH_HMAC_SHA256_128] = LG_SA_A_SHA256_128, [LG_AUTH_AEAD] = LG_SA_A_AEAD,
};
static const uint8_t df_map[] = {
	[LG_DF_COPY] = LG_SA_DF_COPY, [LG_DF_SET] = LG_SA_DF_SET, [LG_DF_CLEAR] = LG_SA_DF_CLEAR,
};

/*
 * Interning for latching: equal identities get one id, and so do SAs whose
 * latched parameters (mode, tunnel endpoints, suite and key lengths, ESN)
 * are equal, so the worker compares integers. Ids start at 1 (0 = unset).
 * NAT-T ports are not latched (an endpoint update, LATCHING.md §5 A4).
 */
static uint32_t
ident_of(const struct lg_conf *c, uint32_t peer)
{
	uint32_t i;

	for (i = 0; i < peer; i++) {
		if (strcmp(c->peers[i].id, c->peers[peer].id) == 0)
			break;
	}
	return i + 1;
}

static bool
congruent(const struct lg_conf_sa *a, const struct lg_conf_sa *b)
{
	return a->mode == b->mode && a->cipher == b->cipher &&
	       a->cipher_key_len == b->cipher_key_len && a->auth == b->auth &&
	       a->esn == b->esn && memcmp(&a->local, &b->local, sizeof(a->local)) == 0 &&
	       memcmp(&a->remote, &b->remote, sizeof(a->remote)) == 0;
}

static uint32_t
pset_of(const struct lg_conf *c, uint32_t sa)
{
	uint32_t i;

	for (i = 0; i < sa; i++) {
		if (congruent(&c->sas[i], &c->sas[sa]))
			break;
	}
	return i + 1;
}

static void
sa_prm_of(struct lg_sa_prm *p, const struct lg_gw *gw, const struct lg_conf_sa *cs,
	  uint32_t slot)
{
	bool salted = cs->cipher == LG_CIPHER_AES128_CTR || cs->auth == LG_AUTH_AEAD;

	*p = (struct lg_sa_prm){
		.name = cs->name, .peer_id = gw->conf->peers[cs->peer].id,
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
		.ttl = cs->ttl,
		.ident = ident_of(gw->conf, cs->peer), .pset = pset_of(gw->conf, slot),
		.sqn_atom = gw->nworkers > 1, .cpu = gw->conf->crypto.mode == LG_CRYPTO_CPU,
		.slot = slot, .dev_ids = gw->cdev, .ndev = gw->ncdev,
		.sess_mp = gw->sess_pool, .socket = (int)rte_socket_id(),
	};
	memcpy(p->local, cs->local.b, sizeof(p->local));
	memcpy(p->remote, cs->remote.b, sizeof(p->remote));
}

static int
setup_sas(struct lg_gw *gw, char *err, size_t errlen)
{
	struct lg_dp *dp = gw->dp;
	char suite[48];
	uint32_t i;

	if (gw->conf->nsas > LG_SA_SLOTS)
		return ERR("%s: %u SAs, at most %u are supported", gw->conf->file,
			   gw->conf->nsas, LG_SA_SLOTS);
	for (i = 0; i < gw->conf->nsas; i++) {
		const struct lg_conf_sa *cs = &gw->conf->sas[i];
		struct lg_sa_prm p;

		struct lg_sa *sa;

		sa_prm_of(&p, gw, cs, i);
		sa = lg_sa_create(&p);
		/* p holds only pointers to the keys, but leaves no copy either way. */
		explicit_bzero(&p, sizeof(p));
		/* release: pairs with the workers' acquire load of the slot; the
		 * slot is published before the SAD entry that leads to it. */
		__atomic_store_n(&dp->sa[i], sa, __ATOMIC_RELEASE);
		if (dp->sa[i] == NULL && rte_errno == ENOTSUP)
			return ERR("%s:%u:%u: SA '%s': a crypto device in crypto.devices cannot run"
				   " %s%s (crypto_aesni_gcm runs AES-GCM only, crypto_aesni_mb"
				   " every suite)", AT(cs->at), cs->name,
				   lg_suite_format(cs, suite, sizeof(suite)),
				   gw->conf->crypto.mode == LG_CRYPTO_CPU ? " in cpu mode" : "");
		if (dp->sa[i] == NULL)
			return ERR("%s:%u:%u: SA '%s': cannot be created: %s", AT(cs->at),
				   cs->name, rte_strerror(rte_errno));
		if (cs->dir == LG_DIR_INBOUND && lg_sad_add(dp->sad, cs->spi, i) != 0)
			return ERR("%s:%u:%u: SA '%s': SAD insert failed", AT(cs->at), cs->name);
	}
	return 0;
}

/* Rank = position in (priority, file order): the SPD's total order. */
static uint32_t
policy_rank(const struct lg_conf *c, uint32_t idx)
{
	uint32_t i, rank = 0;

	for (i = 0; i < c->npolicies; i++) {
		if (c->policies[i].priority < c->policies[idx].priority ||
		    (c->policies[i].priority == c->policies[idx].priority && i < idx))
			rank++;
	}
	return rank;
}

static void
entry_of(struct lg_spd_entry *e, const struct lg_conf_policy *p)
{
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
	e->sa_slot = p->sa;
}

/* One ACL rule per (sport range x dport range) of each policy. */
static uint32_t
expand_policy(struct lg_spd_entry *out, const struct lg_conf_policy *p,
	      uint32_t id, uint32_t rank)
{
	uint32_t ns = p->nsport ? p->nsport : 1, nd = p->ndport ? p->ndport : 1;
	uint32_t s, d, n = 0;

	for (s = 0; s < ns; s++) {
		for (d = 0; d < nd; d++, n++) {
			entry_of(&out[n], p);
			out[n].policy_id = id;
			out[n].rank = rank;
			if (p->nsport) {
				out[n].sport_lo = p->sport[s].lo;
				out[n].sport_hi = p->sport[s].hi;
			}
			if (p->ndport) {
				out[n].dport_lo = p->dport[d].lo;
				out[n].dport_hi = p->dport[d].hi;
			}
		}
	}
	return n;
}

static struct lg_spd *
build_spd(struct lg_gw *gw, enum lg_dir dir, char *err, size_t errlen)
{
	const struct lg_conf *c = gw->conf;
	struct lg_spd_entry *e;
	struct lg_spd *spd;
	uint32_t i, n = 0;

	e = calloc((size_t)c->npolicies * LG_RANGES_MAX * LG_RANGES_MAX + 1, sizeof(*e));
	if (e == NULL)
		return NULL;
	for (i = 0; i < c->npolicies; i++) {
		const struct lg_conf_policy *p = &c->policies[i];

		if (p->dir != dir)
			continue;
		n += expand_policy(&e[n], p, i, policy_rank(c, i));
	}
	spd = lg_spd_create(dir == LG_DIR_OUTBOUND ? "lg_spd_out" : "lg_spd_in", e, n,
			    (int)rte_socket_id());
	if (spd == NULL)
		snprintf(err, errlen, "%s: cannot build the %s SPD: %s", c->file,
			 lg_dir_name(dir), rte_strerror(rte_errno));
	free(e);
	return spd;
}

static int
setup_routes(struct lg_gw *gw, char *err, size_t errlen)
{
	const struct lg_conf *c = gw->conf;
	struct lg_route_entry *e = calloc(c->nroutes + 1, sizeof(*e));
	uint32_t i;

	if (e == NULL)
		return -ENOMEM;
	for (i = 0; i < c->nroutes; i++) {
		const struct lg_conf_route *r = &c->routes[i];

		e[i].af = r->dst.addr.af;
		memcpy(e[i].addr, r->dst.addr.b, sizeof(e[i].addr));
		e[i].len = r->dst.len;
		e[i].port = gw->dp->port[r->port].port_id;
		memcpy(e[i].mac.addr_bytes, r->next_hop_mac, 6);
	}
	gw->dp->routes = lg_routes_create("lg_routes", e, c->nroutes, (int)rte_socket_id());
	free(e);
	if (gw->dp->routes == NULL)
		return ERR("%s: cannot build the route table: %s", c->file,
			   rte_strerror(rte_errno));
	return 0;
}

static int
setup_workers(struct lg_gw *gw, char *err, size_t errlen)
{
	unsigned int lcore, i = 0;

	gw->workers = rte_zmalloc("lg_workers", gw->nworkers * sizeof(*gw->workers),
				  RTE_CACHE_LINE_SIZE);
	if (gw->workers == NULL)
		return ERR("out of memory for workers");
	RTE_LCORE_FOREACH_WORKER(lcore) {
		struct lg_worker *w = &gw->workers[i];
		int socket = (int)rte_lcore_to_socket_id(lcore);

		w->dp = gw->dp;
		w->lcore = lcore;
		w->queue = (uint16_t)i;
		w->cdev_idx = (uint8_t)(i % gw->ncdev);
		w->cdev_id = gw->cdev[w->cdev_idx];
		w->cqp = (uint16_t)(i / gw->ncdev);
		w->st = rte_zmalloc_socket("lg_stats", sizeof(*w->st), RTE_CACHE_LINE_SIZE,
					   socket);
		if (w->st == NULL)
			return ERR("out of memory for counters");
		w->st->sa = rte_zmalloc_socket("lg_sa_stats",
					       LG_SA_SLOTS * sizeof(w->st->sa[0]),
					       RTE_CACHE_LINE_SIZE, socket);
		if (w->st->sa == NULL)
			return ERR("out of memory for SA counters");
		i++;
	}
	return 0;
}

/* The latch table and the workers' QSBR variable (its grace periods free
 * deleted latches). */
static int
setup_latch(struct lg_gw *gw, char *err, size_t errlen)
{
	size_t sz = rte_rcu_qsbr_get_memsize(RTE_MAX_LCORE);

	gw->dp->qs = rte_zmalloc("lg_qsbr", sz, RTE_CACHE_LINE_SIZE);
	if (gw->dp->qs == NULL || rte_rcu_qsbr_init(gw->dp->qs, RTE_MAX_LCORE) != 0)
		return ERR("out of memory for the QSBR variable");
	gw->dp->events = lg_event_ring_create("lg_events", 16384, (int)rte_socket_id());
	if (gw->dp->events == NULL)
		return ERR("latch event ring: %s", rte_strerror(rte_errno));
	if (!gw->conf->latch.enabled)
		return 0;
	gw->dp->latch = lg_latch_table_create("lg_latch", gw->conf->latch.capacity,
					      gw->dp->qs, (int)rte_socket_id());
	if (gw->dp->latch == NULL)
		return ERR("latch table of %u flows: %s (more hugepages?)",
			   gw->conf->latch.capacity, rte_strerror(rte_errno));
	return 0;
}

int
lg_gw_setup(struct lg_gw *gw, struct lg_conf *conf, char *err, size_t errlen)
{
	int rc;

	gw->conf = conf;
	gw->nworkers = rte_lcore_count() - 1;
	if (gw->nworkers == 0)
		return ERR("no worker lcore: give EAL at least two lcores (e.g. -l 0-1)");
	gw->dp = rte_zmalloc("lg_dp", sizeof(*gw->dp), RTE_CACHE_LINE_SIZE);
	if (gw->dp == NULL)
		return ERR("out of memory");
	gw->dp->sa_slots = LG_SA_SLOTS;
	gw->dp->sa = rte_zmalloc("lg_sa_table", LG_SA_SLOTS * sizeof(gw->dp->sa[0]),
				 RTE_CACHE_LINE_SIZE);
	gw->dp->sad = lg_sad_create("lg_sad", LG_SA_SLOTS, (int)rte_socket_id());
	if (gw->dp->sa == NULL || gw->dp->sad == NULL)
		return ERR("out of memory for the SA table");
	rc = setup_crypto(gw, err, errlen);
	if (rc == 0)
		rc = setup_pool(gw, err, errlen);
	if (rc == 0)
		rc = setup_ports(gw, err, errlen);
	if (rc == 0)
		rc = setup_sas(gw, err, errlen);
	if (rc == 0 && (gw->dp->spd_out = build_spd(gw, LG_DIR_OUTBOUND, err, errlen)) == NULL)
		rc = -EINVAL;
	if (rc == 0 && (gw->dp->spd_in = build_spd(gw, LG_DIR_INBOUND, err, errlen)) == NULL)
		rc = -EINVAL;
	if (rc == 0)
		rc = setup_routes(gw, err, errlen);
	if (rc == 0)
		rc = setup_workers(gw, err, errlen);
	if (rc == 0)
		rc = setup_latch(gw, err, errlen);
	return rc;
}

void
lg_gw_launch(struct lg_gw *gw)
{
	uint32_t i;

	gw->start_tsc = rte_rdtsc();
	for (i = 0; i < gw->nworkers; i++) {
		gw->workers[i].last_rx_tsc = gw->start_tsc;
		rte_eal_remote_launch(lg_worker_main, &gw->workers[i], gw->workers[i].lcore);
	}
}

void
lg_gw_stop(struct lg_gw *gw)
{
	if (gw->dp == NULL)
		return;
	__atomic_store_n(&gw->dp->stop, true, __ATOMIC_RELAXED);
	rte_eal_mp_wait_lcore();
}

/* TCP with FIN seen both ways lingers this long (2 MSL would be 4 min; a
 * gateway only needs to outlast the last ACK and retransmitted FINs). */
#define TCP_FIN_LINGER_S 4

void
lg_gw_event(struct lg_gw *gw, const struct lg_latch *l, const struct lg_flow_key *k,
	    uint32_t pos, uint8_t from, uint8_t to, uint8_t reason)
{
	struct lg_event ev;

	lg_event_fill(&ev, l, k, pos, from, to, reason, 0, 0, 0, UINT32_MAX);
	if (!lg_event_put(gw->dp->events, &ev))
		gw->event_overflow++;
}

static uint64_t
idle_limit(const struct lg_gw *gw, uint8_t proto, const struct lg_latch *l)
{
	const struct lg_conf_latch *c = &gw->conf->latch;
	uint32_t both = LG_LATCH_FIN_OUT | LG_LATCH_FIN_IN;
	uint32_t s = proto == IPPROTO_TCP ? c->idle_tcp : proto == IPPROTO_UDP ? c->idle_udp :
		     proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6 ? c->idle_icmp : c->idle_other;

	if (proto == IPPROTO_TCP &&
	    (__atomic_load_n(&l->flags, __ATOMIC_RELAXED) & both) == both)
		s = RTE_MIN(s, (uint32_t)TCP_FIN_LINGER_S);
	return (uint64_t)s * rte_get_tsc_hz();
}

uint32_t
lg_gw_expire(struct lg_gw *gw, uint32_t budget)
{
	struct lg_latch_table *t = gw->dp->latch;
	uint64_t now = rte_rdtsc();
	uint32_t n = 0, i;

	if (t == NULL)
		return 0;
	for (i = 0; i < budget; i++) {
		uint32_t pos = gw->expire_cursor;
		struct lg_latch *l = &t->e[pos];
		uint32_t s = __atomic_load_n(&l->state, __ATOMIC_ACQUIRE);
		struct lg_flow_key k;

		gw->expire_cursor = (pos + 1) % t->slots;
		if ((s != LG_LATCH_ESTABLISHED && s != LG_LATCH_BROKEN && s != LG_LATCH_CLOSED) ||
		    lg_latch_key(t, pos, &k) != 0)
			continue;
		/* Closed by a TCP RST in a worker: remove it. */
		if (s == LG_LATCH_CLOSED) {
			n += lg_latch_delete(t, &k) == 0;
			continue;
		}
		/* A BROKEN latch's last_tsc stopped at its last accepted packet,
		 * which is when it broke. */
		bool brk = s == LG_LATCH_BROKEN && gw->conf->latch.close_on_break &&
			   now - __atomic_load_n(&l->last_tsc, __ATOMIC_RELAXED) >=
			   (uint64_t)gw->conf->latch.break_close_s * rte_get_tsc_hz();

		if (!brk &&
		    now - __atomic_load_n(&l->last_tsc, __ATOMIC_RELAXED) < idle_limit(gw, k.proto, l))
			continue;
		/* A packet may race us: the one CAS in lg_latch_remove decides. */
		if (lg_latch_remove(t, &k, s) != 0)
			continue;
		lg_gw_event(gw, l, &k, pos, (uint8_t)s, LG_LATCH_CLOSED,
			    brk ? LG_REASON_BROKEN_TIMEOUT : LG_REASON_IDLE);
		n++;
	}
	lg_latch_reclaim(t);
	gw->latch_expired += n;
	return n;
}

int
lg_gw_idle(const struct lg_gw *gw, uint64_t idle_ms)
{
	uint64_t now = rte_rdtsc(), span = rte_get_tsc_hz() / 1000 * idle_ms;
	uint32_t i;

	for (i = 0; i < gw->nworkers; i++) {
		const struct lg_worker *w = &gw->workers[i];

		if (__atomic_load_n(&w->inflight_seen, __ATOMIC_RELAXED) != 0 ||
		    now - __atomic_load_n(&w->last_rx_tsc, __ATOMIC_RELAXED) < span)
			return 0;
	}
	return 1;
}

void
lg_gw_quiesce(struct lg_gw *gw)
{
	struct rte_mbuf *mb[LG_BURST];
	uint16_t i, q, n;
	uint32_t b;

	if (gw->dp == NULL)
		return;
	/* A loopback ring port still holds what was sent last: free it so
	 * that the mempool check sees only real leaks. Bounded: an
	 * infinite_rx pcap port never runs dry. */
	for (i = 0; i < gw->dp->nports; i++) {
		for (q = 0; q < gw->nworkers; q++) {
			for (b = 0; b < 4096; b++) {
				n = rte_eth_rx_burst(gw->dp->port[i].port_id, q, mb, LG_BURST);
				if (n == 0)
					break;
				rte_pktmbuf_free_bulk(mb, n);
			}
		}
		/* Close too: net_pcap infinite_rx keeps its copy of the
		 * capture in mbufs of our pool until the queue is released. */
		lg_port_stop(gw->dp->port[i].port_id);
	}
	gw->ports_closed = true;
}

void
lg_gw_teardown(struct lg_gw *gw)
{
	struct lg_dp *dp = gw->dp;
	uint32_t i;

	if (dp != NULL) {
		for (i = 0; i < dp->nports && !gw->ports_closed; i++)
			lg_port_stop(dp->port[i].port_id);
		for (i = 0; i < dp->sa_slots && dp->sa != NULL; i++)
			lg_sa_free(dp->sa[i]);
		lg_spd_free(dp->spd_out);
		lg_spd_free(dp->spd_in);
		lg_sad_free(dp->sad);
		lg_routes_free(dp->routes);
		lg_latch_table_free(dp->latch);
		rte_ring_free(dp->events);
		rte_free(dp->qs);
		rte_free(dp->sa);
		rte_free(dp);
	}
	for (i = 0; i < gw->ncdev; i++)
		lg_crypto_dev_stop(gw->cdev[i]);
	for (i = 0; gw->workers != NULL && i < gw->nworkers; i++) {
		if (gw->workers[i].st != NULL)
			rte_free(gw->workers[i].st->sa);
		rte_free(gw->workers[i].st);
	}
	rte_free(gw->workers);
	rte_mempool_free(gw->sess_pool);
	rte_mempool_free(gw->mbuf_pool);
	memset(gw, 0, sizeof(*gw));
}
