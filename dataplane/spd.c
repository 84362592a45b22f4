/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_malloc.h>

#include "spd.h"

#define LG_BURST_MAX 64

enum { F4_PROTO, F4_SRC, F4_DST, F4_SPORT, F4_DPORT, F4_NUM };

static const struct rte_acl_field_def key4_defs[F4_NUM] = {
	{ .type = RTE_ACL_FIELD_TYPE_BITMASK, .size = sizeof(uint8_t),
	  .field_index = F4_PROTO, .input_index = 0,
	  .offset = offsetof(struct lg_key4, proto) },
	{ .type = RTE_ACL_FIELD_TYPE_MASK, .size = sizeof(uint32_t),
	  .field_index = F4_SRC, .input_index = 1,
	  .offset = offsetof(struct lg_key4, src) },
	{ .type = RTE_ACL_FIELD_TYPE_MASK, .size = sizeof(uint32_t),
	  .field_index = F4_DST, .input_index = 2,
	  .offset = offsetof(struct lg_key4, dst) },
	/* Both ports share one 4-byte input group, as rte_acl requires. */
	{ .type = RTE_ACL_FIELD_TYPE_RANGE, .size = sizeof(uint16_t),
	  .field_index = F4_SPORT, .input_index = 3,
	  .offset = offsetof(struct lg_key4, sport) },
	{ .type = RTE_ACL_FIELD_TYPE_RANGE, .size = sizeof(uint16_t),
	  .field_index = F4_DPORT, .input_index = 3,
	  .offset = offsetof(struct lg_key4, dport) },
};

/* IPv6 addresses as four 32-bit MASK fields each. */
enum { F6_PROTO, F6_SRC0, F6_DST0 = F6_SRC0 + 4, F6_SPORT = F6_DST0 + 4, F6_DPORT, F6_NUM };

RTE_ACL_RULE_DEF(key4_rule, F4_NUM);
RTE_ACL_RULE_DEF(key6_rule, F6_NUM);

static void
key6_defs(struct rte_acl_field_def d[F6_NUM])
{
	uint32_t i;

	memset(d, 0, F6_NUM * sizeof(*d));
	d[F6_PROTO] = (struct rte_acl_field_def){
		.type = RTE_ACL_FIELD_TYPE_BITMASK, .size = 1, .field_index = F6_PROTO,
		.input_index = 0, .offset = offsetof(struct lg_key6, proto) };
	for (i = 0; i < 4; i++) {
		d[F6_SRC0 + i] = (struct rte_acl_field_def){
			.type = RTE_ACL_FIELD_TYPE_MASK, .size = 4,
			.field_index = (uint8_t)(F6_SRC0 + i), .input_index = (uint8_t)(1 + i),
			.offset = (uint32_t)(offsetof(struct lg_key6, src) + 4 * i) };
		d[F6_DST0 + i] = (struct rte_acl_field_def){
			.type = RTE_ACL_FIELD_TYPE_MASK, .size = 4,
			.field_index = (uint8_t)(F6_DST0 + i), .input_index = (uint8_t)(5 + i),
			.offset = (uint32_t)(offsetof(struct lg_key6, dst) + 4 * i) };
	}
	d[F6_SPORT] = (struct rte_acl_field_def){
		.type = RTE_ACL_FIELD_TYPE_RANGE, .size = 2, .field_index = F6_SPORT,
		.input_index = 9, .offset = offsetof(struct lg_key6, sport) };
	d[F6_DPORT] = (struct rte_acl_field_def){
		.type = RTE_ACL_FIELD_TYPE_RANGE, .size = 2, .field_index = F6_DPORT,
		.input_index = 9, .offset = offsetof(struct lg_key6, dport) };
}

static uint32_t
be32_at(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Prefix length of 32-bit chunk i of a /len IPv6 prefix. */
static uint32_t
chunk_len(uint8_t len, uint32_t i)
{
	return len <= 32 * i ? 0 : RTE_MIN(32u, len - 32 * i);
}

static void
fill_common(struct rte_acl_rule_data *d, const struct lg_spd_entry *e, uint32_t idx)
{
	/* rte_acl: higher priority wins; rank 0 must be the highest. */
	d->priority = RTE_ACL_MAX_PRIORITY - (int32_t)e->rank;
	d->category_mask = 1;
	d->userdata = idx;
}

static void
fill_rule4(struct key4_rule *r, const struct lg_spd_entry *e, uint32_t idx)
{
	memset(r, 0, sizeof(*r));
	fill_common(&r->data, e, idx);
	r->field[F4_PROTO].value.u8 = e->proto;
	r->field[F4_PROTO].mask_range.u8 = e->proto ? 0xff : 0;
	/* Rule values are host order; the classified data is network order. */
	r->field[F4_SRC].value.u32 = e->src_len ? be32_at(e->src) : 0;
	r->field[F4_SRC].mask_range.u32 = e->src_len;
	r->field[F4_DST].value.u32 = e->dst_len ? be32_at(e->dst) : 0;
	r->field[F4_DST].mask_range.u32 = e->dst_len;
	r->field[F4_SPORT].value.u16 = e->sport_lo;
	r->field[F4_SPORT].mask_range.u16 = e->sport_hi;
	r->field[F4_DPORT].value.u16 = e->dport_lo;
	r->field[F4_DPORT].mask_range.u16 = e->dport_hi;
}

static void
fill_rule6(struct key6_rule *r, const struct lg_spd_entry *e, uint32_t idx)
{
	uint32_t i;

	memset(r, 0, sizeof(*r));
	fill_common(&r->data, e, idx);
	r->field[F6_PROTO].value.u8 = e->proto;
	r->field[F6_PROTO].mask_range.u8 = e->proto ? 0xff : 0;
	for (i = 0; i < 4; i++) {
		uint32_t sl = chunk_len(e->src_len, i), dl = chunk_len(e->dst_len, i);

		r->field[F6_SRC0 + i].value.u32 = sl ? be32_at(e->src + 4 * i) : 0;
		r->field[F6_SRC0 + i].mask_range.u32 = sl;
		r->field[F6_DST0 + i].value.u32 = dl ? be32_at(e->dst + 4 * i) : 0;
		r->field[F6_DST0 + i].mask_range.u32 = dl;
	}
	r->field[F6_SPORT].value.u16 = e->sport_lo;
	r->field[F6_SPORT].mask_range.u16 = e->sport_hi;
	r->field[F6_DPORT].value.u16 = e->dport_lo;
	r->field[F6_DPORT].mask_range.u16 = e->dport_hi;
}

static bool
ports_any(const struct lg_spd_entry *e)
{
	return e->sport_lo == 0 && e->sport_hi == UINT16_MAX &&
	       e->dport_lo == 0 && e->dport_hi == UINT16_MAX;
}

static struct rte_acl_ctx *
build_acl(const char *name, uint8_t af, bool opaque, const struct lg_spd_entry *e,
	  uint32_t n, int socket)
{
	uint32_t nf = af == 6 ? F6_NUM : F4_NUM;
	struct rte_acl_param prm = {
		.name = name, .socket_id = socket,
		.rule_size = RTE_ACL_RULE_SZ(nf), .max_rule_num = n,
	};
	struct rte_acl_config cfg = { .num_categories = 1, .num_fields = nf };
	struct rte_acl_ctx *ctx;
	union { struct key4_rule r4; struct key6_rule r6; } r;
	uint32_t i, added = 0;
	int rc = 0;

	ctx = rte_acl_create(&prm);
	if (ctx == NULL)
		return NULL;
	for (i = 0; i < n && rc == 0; i++) {
		struct lg_spd_entry oe = e[i];
		uint32_t idx = i + 1;

		if (e[i].af != 0 && e[i].af != af)
			continue;
		/* OPAQUE ports (RFC 4301 §4.4.1.1): a port-specific entry
		 * cannot match, but the packet may belong to its flow, so it
		 * must not fall through to a later entry (a BYPASS, say): its
		 * twin here matches any ports and discards (rule n + 1 + i). */
		if (opaque && !ports_any(&e[i])) {
			oe.sport_lo = oe.dport_lo = 0;
			oe.sport_hi = oe.dport_hi = UINT16_MAX;
			idx = n + 1 + i;
		}
		if (af == 6)
			fill_rule6(&r.r6, &oe, idx);
		else
			fill_rule4(&r.r4, &oe, idx);
		rc = rte_acl_add_rules(ctx, (struct rte_acl_rule *)&r, 1);
		added++;
	}
	if (rc == 0 && added == 0) {
		rte_acl_free(ctx);
		rte_errno = 0;
		return NULL;
	}
	if (af == 6)
		key6_defs(cfg.defs);
	else
		memcpy(cfg.defs, key4_defs, sizeof(key4_defs));
	if (rc == 0)
		rc = rte_acl_build(ctx, &cfg);
	if (rc != 0) {
		rte_acl_free(ctx);
		rte_errno = -rc;
		return NULL;
	}
	return ctx;
}

struct lg_spd *
lg_spd_create(const char *name, const struct lg_spd_entry *e, uint32_t n,
	      int socket)
{
	static uint32_t gen;   /* [C] rte_acl_create returns a live context of the same name */
	char an[RTE_ACL_NAMESIZE];
	struct lg_spd *spd;
	uint32_t i, f, o;

	for (i = 0; i < n; i++) {
		if ((e[i].af != 0 && e[i].af != 4 && e[i].af != 6) ||
		    e[i].rank > RTE_ACL_MAX_PRIORITY - 1) {
			rte_errno = EINVAL;
			return NULL;
		}
	}
	spd = rte_zmalloc_socket(name, sizeof(*spd) + (2 * n + 1) * sizeof(spd->rule[0]),
				 RTE_CACHE_LINE_SIZE, socket);
	if (spd == NULL) {
		rte_errno = ENOMEM;
		return NULL;
	}
	spd->nrules = n;
	spd->gen = gen + 1;
	for (i = 0; i < n; i++) {
		spd->rule[i + 1].action = e[i].action;
		spd->rule[i + 1].sa_slot = e[i].sa_slot;
		spd->rule[n + 1 + i].action = LG_SPD_DISCARD;
	}
	for (f = 0; f < 2; f++) {
		for (o = 0; o < 2; o++) {
			snprintf(an, sizeof(an), "%s%c%s-%u", name, f ? '6' : '4', o ? "o" : "", gen);
			spd->acl[f][o] = build_acl(an, f ? 6 : 4, o, e, n, socket);
			if (spd->acl[f][o] == NULL && rte_errno != 0)
				goto fail;
		}
	}
	gen++;
	return spd;
fail:
	gen++;
	i = (uint32_t)rte_errno;
	lg_spd_free(spd);
	rte_errno = (int)i;
	return NULL;
}

void
lg_spd_free(struct lg_spd *spd)
{
	if (spd == NULL)
		return;
	rte_acl_free(spd->acl[0][0]);
	rte_acl_free(spd->acl[0][1]);
	rte_acl_free(spd->acl[1][0]);
	rte_acl_free(spd->acl[1][1]);
	rte_free(spd);
}

static void
classify_af(struct rte_acl_ctx *acl, const uint8_t *kp[], uint32_t res[], uint32_t n)
{
	uint32_t i;

	if (n == 0)
		return;
	if (acl == NULL) {
		for (i = 0; i < n; i++)
			res[i] = LG_SPD_NONE;
		return;
	}
	rte_acl_classify(acl, kp, res, n, 1);
}

void
lg_spd_classify(const struct lg_spd *spd, const union lg_key *keys[],
		const uint8_t is6[], uint32_t res[], uint32_t n)
{
	const uint8_t *kp[4][LG_BURST_MAX];
	uint32_t r[4][LG_BURST_MAX];
	uint8_t cls[LG_BURST_MAX];
	uint32_t i, c, cnt[4] = { 0 };

	/* Split by family and opacity, classify each in bulk, scatter back
	 * in order. The opaque mark is the key's first pad byte. */
	for (i = 0; i < n; i++) {
		c = (uint32_t)(is6[i] ? 2 : 0) + (keys[i]->k4.pad[0] ? 1 : 0);
		cls[i] = (uint8_t)c;
		kp[c][cnt[c]++] = (const uint8_t *)keys[i];
	}
	for (c = 0; c < 4; c++)
		classify_af(spd->acl[c >> 1][c & 1], kp[c], r[c], cnt[c]);
	cnt[0] = cnt[1] = cnt[2] = cnt[3] = 0;
	for (i = 0; i < n; i++)
		res[i] = r[cls[i]][cnt[cls[i]]++];
}
