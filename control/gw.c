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
		if (lg_crypto_dev_check((uint8_t)id, cc->mode != LG_CRYPTO_LOOKASIDE, err, errlen) != 0)
			return -ENOTSUP;
		gw->cdev[gw->ncdev++] = (uint8_t)id;
	}
	for (i = 0; i < gw->nworkers; i++)
		nqp[i % gw->ncdev]++;
	gw->sess_pool = lg_crypto_sess_pool_create(gw->cdev, gw->ncdev,
						   gw->dp->sa_slots, rte_socket_id());
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

	if (gw->conf->memory.mbufs != 0)
		n = gw->conf->memory.mbufs;

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
					       gw->dp->sa_slots * sizeof(w->st->sa[0]),
					       RTE_CACHE_LINE_SIZE, socket);
		if (w->st->sa == NULL)
			return ERR("out of memory for SA counters");
		if (gw->conf->crypto.mode == LG_CRYPTO_DIRECT &&
		    lg_esp_ctx_init(&w->esp, socket) != 0)
			return ERR("crypto.mode direct: cannot set up an Intel IPsec-MB manager");
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
	gw->dp->sa_slots = gw->conf->memory.sas;
	gw->dp->sa = rte_zmalloc("lg_sa_table", gw->dp->sa_slots * sizeof(gw->dp->sa[0]),
				 RTE_CACHE_LINE_SIZE);
	/* Twice the SAs: every inbound SA may be in a rekey overlap. */
	gw->sad_capacity = 2 * gw->dp->sa_slots;
	gw->dp->sad = lg_sad_create("lg_sad", gw->sad_capacity, (int)rte_socket_id());
	if (gw->dp->sa == NULL || gw->dp->sad == NULL)
		return ERR("out of memory for the SA table");
	rc = setup_crypto(gw, err, errlen);
	if (rc == 0)
		rc = setup_pool(gw, err, errlen);
	if (rc == 0)
		rc = setup_ports(gw, err, errlen);
	if (rc == 0)
		rc = setup_workers(gw, err, errlen);
	if (rc == 0)
		rc = setup_latch(gw, err, errlen);
	/* SAs, SPDs, routes: the startup config is the first change. */
	if (rc == 0)
		rc = lg_gw_apply_init(gw, err, errlen);
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
	lg_event_raise(gw->dp->events, l, k, pos, from, to, reason, 0, NULL, &gw->event_overflow);
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
		 * which is when it broke. Signed: a worker may have stored a
		 * time later than `now` since it was read. */
		int64_t age = (int64_t)(now - __atomic_load_n(&l->last_tsc, __ATOMIC_RELAXED));
		bool brk = s == LG_LATCH_BROKEN && gw->conf->latch.close_on_break &&
			   age >= (int64_t)gw->conf->latch.break_close_s * (int64_t)rte_get_tsc_hz();

		if (!brk && age < (int64_t)idle_limit(gw, k.proto, l))
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
		lg_gw_apply_fini(gw);
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
		lg_esp_ctx_fini(&gw->workers[i].esp);
		if (gw->workers[i].st != NULL)
			rte_free(gw->workers[i].st->sa);
		rte_free(gw->workers[i].st);
	}
	rte_free(gw->workers);
	rte_mempool_free(gw->sess_pool);
	rte_mempool_free(gw->mbuf_pool);
	memset(gw, 0, sizeof(*gw));
}
