/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef LG_SPD_H
#define LG_SPD_H

/*
 * Security Policy Database, one per direction: ordered entries of selectors
 * -> action, first match wins (RFC 4301 §4.4.1), compiled into one rte_acl
 * context per address family. An SPD is immutable once created; a change
 * builds a new one and publishes it by pointer swap.
 *
 * Order: rte_acl picks the highest priority among matches; entries are given
 * priority by their rank (priority, then file order; the config refuses
 * overlapping entries of equal priority), so the ACL answer is the
 * ordered-search answer and the "cache never disagrees with an ordered
 * search" rule (LATCHING.md item 30) holds by construction.
 */

#include <stdint.h>
#include <rte_acl.h>

#include "pkt.h"

enum lg_spd_action { LG_SPD_PROTECT = 0, LG_SPD_BYPASS = 1, LG_SPD_DISCARD = 2 };

#define LG_SPD_NONE 0u  /* classify result: no entry matched */

struct lg_spd_entry {
	uint8_t af;                   /* 4, 6, or 0 = both families */
	uint8_t src[16], dst[16];     /* network order */
	uint8_t src_len, dst_len;
	uint8_t proto;                /* 0 = any */
	uint16_t sport_lo, sport_hi;  /* host order; 0..65535 = any; ICMP type */
	uint16_t dport_lo, dport_hi;  /* ICMP code */
	uint32_t rank;                /* 0 = matched first */
	uint8_t action;               /* enum lg_spd_action */
	uint32_t sa_slot;             /* PROTECT only */
};

/* [I] what a classify result (1-based index) refers to. */
struct lg_spd_rule {
	uint8_t action;
	uint32_t sa_slot;
};

struct lg_spd {
	/* [family][opaque]: NULL when it has no such entry. The opaque
	 * contexts hold only the entries whose ports (ICMP type/code) are
	 * ANY, for packets that do not carry them (RFC 4301 §4.4.1.1). */
	struct rte_acl_ctx *acl[2][2];
	uint32_t nrules;
	uint32_t gen;                 /* unique per SPD built, from 1: tags flow-cache entries */
	/* [2 * nrules + 1]: rule[0] unused, 1..n the entries, n+1..2n their
	 * DISCARD twins for packets with OPAQUE ports */
	struct lg_spd_rule rule[];
};

/* control */
struct lg_spd *lg_spd_create(const char *name, const struct lg_spd_entry *e,
			     uint32_t n, int socket);
void lg_spd_free(struct lg_spd *spd);

/* worker: res[i] is LG_SPD_NONE or an index into spd->rule. keys[i] is a
 * struct lg_key4 or lg_key6 as is6[i] says. */
void lg_spd_classify(const struct lg_spd *spd, const union lg_key *keys[],
		     const uint8_t is6[], uint32_t res[], uint32_t n);

#endif /* LG_SPD_H */
