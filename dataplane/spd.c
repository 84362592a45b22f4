/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_malloc.h>

#include "spd.h"

enum { F_PROTO, F_SRC, F_DST, F_SPORT, F_DPORT, F_NUM };

static const struct rte_acl_field_def key4_defs[F_NUM] = {
	{ .type = RTE_ACL_FIELD_TYPE_BITMASK, .size = sizeof(uint8_t),
	  .field_index = F_PROTO, .input_index = 0,
	  .offset = offsetof(struct lg_key4, proto) },
	{ .type = RTE_ACL_FIELD_TYPE_MASK, .size = sizeof(uint32_t),
	  .field_index = F_SRC, .input_index = 1,
	  .offset = offsetof(struct lg_key4, src) },
	{ .type = RTE_ACL_FIELD_TYPE_MASK, .size = sizeof(uint32_t),
	  .field_index = F_DST, .input_index = 2,
	  .offset = offsetof(struct lg_key4, dst) },
	/* Both ports share one 4-byte input group, as rte_acl requires. */
	{ .type = RTE_ACL_FIELD_TYPE_RANGE, .size = sizeof(uint16_t),
	  .field_index = F_SPORT, .input_index = 3,
	  .offset = offsetof(struct lg_key4, sport) },
	{ .type = RTE_ACL_FIELD_TYPE_RANGE, .size = sizeof(uint16_t),
	  .field_index = F_DPORT, .input_index = 3,
	  .offset = offsetof(struct lg_key4, dport) },
};

RTE_ACL_RULE_DEF(key4_rule, F_NUM);

static uint32_t
be32_of(const uint8_t b[16])
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	       (uint32_t)b[2] << 8 | b[3];
}

static void
fill_rule(struct key4_rule *r, const struct lg_spd_entry *e, uint32_t idx)
{
	memset(r, 0, sizeof(*r));
	/* rte_acl: higher priority wins; rank 0 must be the highest. */
	r->data.priority = RTE_ACL_MAX_PRIORITY - (int32_t)e->rank;
	r->data.category_mask = 1;
	r->data.userdata = idx;
	r->field[F_PROTO].value.u8 = e->proto;
	r->field[F_PROTO].mask_range.u8 = e->proto ? 0xff : 0;
	/* Rule values are host order; the classified data is network order. */
	r->field[F_SRC].value.u32 = e->src_len ? be32_of(e->src) : 0;
	r->field[F_SRC].mask_range.u32 = e->src_len;
	r->field[F_DST].value.u32 = e->dst_len ? be32_of(e->dst) : 0;
	r->field[F_DST].mask_range.u32 = e->dst_len;
	r->field[F_SPORT].value.u16 = e->sport_lo;
	r->field[F_SPORT].mask_range.u16 = e->sport_hi;
	r->field[F_DPORT].value.u16 = e->dport_lo;
	r->field[F_DPORT].mask_range.u16 = e->dport_hi;
}

static struct rte_acl_ctx *
build_acl(const char *name, const struct lg_spd_entry *e, uint32_t n, int socket)
{
	struct rte_acl_param prm = {
		.name = name, .socket_id = socket,
		.rule_size = RTE_ACL_RULE_SZ(F_NUM), .max_rule_num = n,
	};
	struct rte_acl_config cfg = { .num_categories = 1, .num_fields = F_NUM };
	struct rte_acl_ctx *ctx;
	struct key4_rule r;
	uint32_t i;
	int rc;

	ctx = rte_acl_create(&prm);
	if (ctx == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		fill_rule(&r, &e[i], i + 1);
		rc = rte_acl_add_rules(ctx, (struct rte_acl_rule *)&r, 1);
		if (rc != 0)
			goto fail;
	}
	memcpy(cfg.defs, key4_defs, sizeof(key4_defs));
	rc = rte_acl_build(ctx, &cfg);
	if (rc != 0)
		goto fail;
	return ctx;
fail:
	rte_acl_free(ctx);
	rte_errno = -rc;
	return NULL;
}

struct lg_spd *
lg_spd_create(const char *name, const struct lg_spd_entry *e, uint32_t n,
	      int socket)
{
	struct lg_spd *spd;
	uint32_t i;

	for (i = 0; i < n; i++) {
		if (e[i].af != 4 || e[i].rank > RTE_ACL_MAX_PRIORITY - 1) {
			rte_errno = EINVAL;
			return NULL;
		}
	}
	spd = rte_zmalloc_socket(name, sizeof(*spd) + (n + 1) * sizeof(spd->rule[0]),
				 RTE_CACHE_LINE_SIZE, socket);
	if (spd == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	spd->nrules = n;
	for (i = 0; i < n; i++) {
		spd->rule[i + 1].action = e[i].action;
		spd->rule[i + 1].sa_slot = e[i].sa_slot;
		spd->rule[i + 1].policy_id = e[i].policy_id;
	}
	if (n > 0) {
		spd->acl = build_acl(name, e, n, socket);
		if (spd->acl == NULL) {
			int err = rte_errno;

			rte_free(spd);
			rte_errno = err;
			return NULL;
		}
	}
	return spd;
}

void
lg_spd_free(struct lg_spd *spd)
{
	if (spd == NULL)
		return;
	rte_acl_free(spd->acl);
	rte_free(spd);
}
