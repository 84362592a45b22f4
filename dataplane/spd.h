/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef LG_SPD_H
#define LG_SPD_H

/*
 * Security Policy Database, one per direction: ordered entries of selectors
 * -> action, first match wins (RFC 4301 §4.4.1), compiled into an rte_acl
 * context. An SPD is immutable once created; a change builds a new one and
 * publishes it by pointer swap (the latching issue adds the swap).
 *
 * Order: rte_acl picks the highest priority among matches; entries are given
 * priority by their rank (priority, then file order), so the ACL answer is
 * the ordered-search answer and the "cache never disagrees with an ordered
 * search" rule (LATCHING.md item 30) holds by construction.
 */

#include <stdint.h>
#include <rte_acl.h>

#include "pkt.h"

enum lg_spd_action { LG_SPD_PROTECT = 0, LG_SPD_BYPASS = 1, LG_SPD_DISCARD = 2 };

#define LG_SPD_NONE 0u  /* classify result: no entry matched */

struct lg_spd_entry {
	uint8_t af;                   /* 4 (6: next issue) */
	uint8_t src[16], dst[16];     /* network order */
	uint8_t src_len, dst_len;
	uint8_t proto;                /* 0 = any */
	uint16_t sport_lo, sport_hi;  /* host order; 0..65535 = any */
	uint16_t dport_lo, dport_hi;
	uint32_t rank;                /* 0 = matched first */
	uint8_t action;               /* enum lg_spd_action */
	uint32_t sa_slot;             /* PROTECT only */
	uint32_t policy_id;           /* index of the policy in the config */
};

/* [I] what a classify result (1-based index) refers to. */
struct lg_spd_rule {
	uint8_t action;
	uint32_t sa_slot;
	uint32_t policy_id;
};

struct lg_spd {
	struct rte_acl_ctx *acl;      /* NULL when empty */
	uint32_t nrules;
	struct lg_spd_rule rule[];    /* [nrules + 1]; rule[0] unused */
};

/* control */
struct lg_spd *lg_spd_create(const char *name, const struct lg_spd_entry *e,
			     uint32_t n, int socket);
void lg_spd_free(struct lg_spd *spd);

/* worker: res[i] is LG_SPD_NONE or an index into spd->rule. */
static inline void
lg_spd_classify(const struct lg_spd *spd, const uint8_t *keys[],
		uint32_t res[], uint32_t n)
{
	uint32_t i;

	if (unlikely(spd->acl == NULL || n == 0)) {
		for (i = 0; i < n; i++)
			res[i] = LG_SPD_NONE;
		return;
	}
	rte_acl_classify(spd->acl, keys, res, n, 1);
}

#endif /* LG_SPD_H */
