/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef LG_GW_H
#define LG_GW_H

/*
 * The running gateway as the control thread sees it: the validated config,
 * the dataplane context it built from it, the workers and their counters.
 * Everything here is [C] (control thread only) except what the dataplane
 * structures themselves declare.
 */

#include <stdbool.h>
#include <stdint.h>
#include <rte_mempool.h>

#include "config.h"
#include "dp.h"
#include "worker.h"

#define LG_INTERN_MAX 65536     /* distinct identities / parameter sets */
#define LG_CRYPTO_QDEPTH 2048

/*
 * A latched parameter set (LATCHING.md §1.2 minus the identity, which is
 * interned on its own): what a congruent rekey keeps. Not SPI, keys,
 * sequence numbers, NAT-T ports (an endpoint update, §5 A4) or outer
 * header options.
 */
struct lg_pset_def {
	uint8_t mode, cipher, cipher_key_len, auth, inner_af;
	bool esn;
	struct lg_addr local, remote;
};

/* Something unpublished, kept until no worker can hold it (QSBR), or an
 * inbound SPI kept until its rekey overlap ends. */
enum lg_retire_kind {
	LG_RT_SA,          /* free sa (and SAD key position key_pos if >= 0) */
	LG_RT_OVERLAP,     /* at due_tsc: unmap spi, then retire sa */
	LG_RT_SPD,
	LG_RT_ROUTES,
	LG_RT_SLOT,        /* the SA slot is free again (counters zeroed) */
	LG_RT_RESTORE,     /* restore latches the change healed (item 23) */
};

struct lg_retire {
	uint8_t kind;
	uint64_t token;    /* rte_rcu_qsbr_start() after unpublishing */
	uint64_t due_tsc;  /* LG_RT_OVERLAP */
	void *obj;
	uint32_t spi, slot, change;
	int32_t key_pos;
};

/* An SA slot: FREE; CLAIMED by a change being built (freed again if it
 * fails); USED; RETIRING after a delete, FREE after a grace period. */
enum lg_slot_state { LG_SLOT_FREE = 0, LG_SLOT_CLAIMED, LG_SLOT_USED, LG_SLOT_RETIRING };

/* What a runtime change did, for its reply. */
struct lg_change {
	uint32_t id;                /* its number, also in its summary event */
	uint32_t sas_added, sas_replaced, sas_deleted, sas_congruent;
	bool spd_changed, routes_changed;
	uint32_t broken;            /* latches marked BROKEN before publication */
	uint64_t apply_ns;
};

struct lg_gw {
	struct lg_conf *conf;
	struct lg_dp *dp;
	struct lg_worker *workers;          /* [nworkers], hugepage memory */
	uint32_t nworkers;
	struct rte_mempool *mbuf_pool;
	struct rte_mempool *sess_pool;
	uint8_t cdev[LG_CRYPTO_DEV_MAX];
	uint8_t ncdev;
	uint64_t start_tsc;
	bool ports_closed;
	/* [C] latch expiry */
	uint32_t expire_cursor;
	uint64_t latch_expired;
	uint64_t event_overflow;           /* control-raised events lost */
	uint64_t events;                   /* events delivered */
	/* [C] runtime changes (apply.c) */
	uint32_t *sa_slot;                 /* [conf->nsas]: slot of each SA */
	char (*slot_name)[LG_NAME_MAX];    /* [dp->sa_slots], "" = free */
	uint8_t *slot_state;               /* [dp->sa_slots]: enum lg_slot_state */
	uint32_t slot_next;                /* where slot_alloc looks first */
	char (*ident)[LG_ID_MAX];          /* ident id - 1 -> identity */
	uint32_t nident;
	struct lg_pset_def *pset;          /* pset id - 1 -> parameters */
	uint32_t npset;
	struct lg_spd_entry *spd_e[2];     /* entries of the published SPDs */
	uint32_t spd_n[2];
	struct lg_route_entry *rt_e;       /* and of the published routes */
	uint32_t rt_n;
	struct lg_retire *retire;
	uint32_t nretire, cretire;
	uint32_t sad_capacity;             /* SPIs, overlaps included */
	uint32_t nchanges;
	uint64_t change_broken;            /* latches broken by the break sweep */
	uint64_t restored;
};

/* control */
/* Build the dataplane from conf: devices, pools, SAs, SPDs, SAD, routes,
 * workers. On error writes one line to err (naming file:line:col where the
 * config is at fault) and leaves gw safe to tear down. */
int lg_gw_setup(struct lg_gw *gw, struct lg_conf *conf, char *err, size_t errlen);
void lg_gw_launch(struct lg_gw *gw);
void lg_gw_stop(struct lg_gw *gw);     /* signal workers and wait for them */
/* After stop: free what ports still hold, stop and close them (the mbuf
 * pool is then full unless something leaked). */
void lg_gw_quiesce(struct lg_gw *gw);
void lg_gw_teardown(struct lg_gw *gw);
/* Close latches idle past their protocol's timeout, visiting at most
 * budget entries from where the last call stopped; then free the slots
 * whose grace period ended. Returns the number closed. */
uint32_t lg_gw_expire(struct lg_gw *gw, uint32_t budget);
/* Raise a latch event from the control thread (idle, admin). */
void lg_gw_event(struct lg_gw *gw, const struct lg_latch *l, const struct lg_flow_key *k,
		 uint32_t pos, uint8_t from, uint8_t to, uint8_t reason);
/*
 * Runtime changes (apply.c). Apply nc, a complete validated config, as the
 * difference from the running one: SAs by name (added, replaced, deleted,
 * or kept when identical), SPDs and routes rebuilt when they differ. Before
 * anything becomes visible to workers, every latch the new state would move
 * to another identity or parameter set, or out of protection, is marked
 * BROKEN with its notification queued; then the new versions are published
 * by pointer swap and the old ones retired after a grace period (an
 * inbound SA replaced by another SPI keeps being accepted for the rekey
 * overlap). Latches whose conflict the change removed are restored after
 * the grace period. On success gw owns nc; on error nothing changed and
 * err says why.
 */
int lg_gw_apply(struct lg_gw *gw, struct lg_conf *nc, struct lg_change *res,
		char *err, size_t errlen);
/* Control loop: free what is due, end rekey overlaps, run restores. */
void lg_gw_retire_poll(struct lg_gw *gw);
/* For printers. */
const char *lg_gw_ident_name(const struct lg_gw *gw, uint32_t ident);
const struct lg_pset_def *lg_gw_pset_def(const struct lg_gw *gw, uint32_t pset);
const char *lg_gw_slot_name(const struct lg_gw *gw, uint32_t slot);
/* Setup (gw.c -> apply.c): the tables apply fills, and the first apply. */
int lg_gw_apply_init(struct lg_gw *gw, char *err, size_t errlen);
void lg_gw_apply_fini(struct lg_gw *gw);

/* Idle: no worker received for idle_ms and none has crypto in flight. */
int lg_gw_idle(const struct lg_gw *gw, uint64_t idle_ms);

#endif /* LG_GW_H */
