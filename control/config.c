/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * YAML text -> validated struct lg_conf. Pure: no DPDK, no globals; the
 * control thread calls it at start-up and on reload, unit tests call it
 * without EAL.
 *
 * Every YAML mapping has a table of {key, handler, required, what}.
 * map_parse() rejects unknown and duplicate keys, reports missing required
 * ones, then runs the handlers in table order, not file order. So a handler
 * may rely on every field above it in its table: the key length needs the
 * algorithm, an SA's peer needs the peers section, a policy's sa needs its
 * action. "what" ends the sentence "expected ..." for a wrong node type and a
 * bad value alike, so the two read the same. Rules about which keys were
 * given together (aead or cipher+auth, sa with protect) live in the table's
 * check(), which runs after the handlers.
 *
 * The first error wins and parsing stops. A valid config may still carry
 * warnings (conf->warnings). conf/README.md lists every message.
 *
 * Secrets: key, salt and nonce text is never formatted into a message, and
 * neither is an unknown mapping key that looks like one (a flow-style typo
 * such as "{ key 0x0011... }" makes the secret a key). libyaml frees its
 * buffers and scalar copies without clearing them, so we wipe the ones we can
 * reach before it does; its intermediate reallocations are out of reach.
 */
#include "config.h"

#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <yaml.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define FIELDS_MAX 16            /* keys in the largest mapping (SA) */
#define PORTS_MAX 8
/* A config file larger than this is a mistake (100,000 SAs and policies
 * take ~32 MiB). */
#define LOAD_MAX (64u << 20)
#define DEFAULT_CRYPTO_DEV "crypto_aesni_gcm0"
#define DEFAULT_SOCKET "/run/latchgate/control.sock"
#define NAME_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"
#define SECRET_RUN 8             /* hex digits in a row that may be key material */
#define PROTO_ICMP 1
#define PROTO_TCP 6
#define PROTO_UDP 17
#define PROTO_ICMP6 58

#define WHAT_NAME "a name of 1..31 characters from A-Z a-z 0-9 _ . -"
#define WHAT_ADDR "an IPv4 or IPv6 address"
#define WHAT_ADDRS "an IPv4 or IPv6 address or a list of 1..4 of those"
#define WHAT_ADDR4 "an IPv4 address like 192.0.2.1"
#define WHAT_ADDR6 "an IPv6 address like 2001:db8::1"
#define WHAT_PREFIX "an IPv4 or IPv6 prefix like 192.0.2.0/24"
#define WHAT_PREFIX4 "an IPv4 prefix like 192.0.2.0/24"
#define WHAT_PREFIX6 "an IPv6 prefix like 2001:db8::/32"
#define WHAT_MAC "a unicast MAC address like 02:00:00:00:00:01"
#define WHAT_PORTS "a port 0..65535, a range \"lo-hi\" or a list of 1..8 of those"
#define WHAT_ICMP_TYPES "an ICMP type 0..255, a range \"lo-hi\" or a list of 1..8 of those"
#define WHAT_ICMP_CODES "an ICMP code 0..255, a range \"lo-hi\" or a list of 1..8 of those"
#define WHAT_4BYTES "4 bytes (0x and 8 hex digits)"
#define WHAT_UDP_PORT "a UDP port 1..65535"
#define WHY_ONE_SUITE "give aead, or cipher and auth"

/* One table serves parsing and printing; index = enum value. */
static const char *const role_names[] = {
	[LG_ROLE_PROTECTED] = "protected", [LG_ROLE_UNPROTECTED] = "unprotected",
};
static const char *const crypto_mode_names[] = {
	[LG_CRYPTO_LOOKASIDE] = "lookaside", [LG_CRYPTO_CPU] = "cpu",
	[LG_CRYPTO_DIRECT] = "direct",
};
static const char *const dir_names[] = {
	[LG_DIR_OUTBOUND] = "outbound", [LG_DIR_INBOUND] = "inbound",
};
static const char *const sa_mode_names[] = {
	[LG_SA_TUNNEL] = "tunnel", [LG_SA_TRANSPORT] = "transport",
};
/* "aead:" accepts the GCM entries, "cipher:" the others (cipher_is_aead). */
static const char *const cipher_names[] = {
	[LG_CIPHER_NULL] = "null",
	[LG_CIPHER_AES128_CBC] = "aes-128-cbc", [LG_CIPHER_AES256_CBC] = "aes-256-cbc",
	[LG_CIPHER_AES128_CTR] = "aes-128-ctr",
	[LG_CIPHER_AES128_GCM] = "aes-128-gcm", [LG_CIPHER_AES256_GCM] = "aes-256-gcm",
};
static const uint8_t cipher_key_len[] = {
	[LG_CIPHER_NULL] = 0,
	[LG_CIPHER_AES128_CBC] = 16, [LG_CIPHER_AES256_CBC] = 32,
	[LG_CIPHER_AES128_CTR] = 16,  /* RFC 3686: the 4-byte nonce is separate */
	[LG_CIPHER_AES128_GCM] = 16, [LG_CIPHER_AES256_GCM] = 32,
};
static_assert(ARRAY_SIZE(cipher_key_len) == ARRAY_SIZE(cipher_names), "one key length per cipher");
/* LG_AUTH_AEAD is last: "auth:" parses the names before it. */
static const char *const auth_names[] = {
	[LG_AUTH_NULL] = "null", [LG_AUTH_HMAC_SHA1_96] = "hmac-sha1-96",
	[LG_AUTH_HMAC_SHA256_128] = "hmac-sha256-128", [LG_AUTH_AEAD] = "aead",
};
static const uint8_t auth_key_len[] = {
	[LG_AUTH_NULL] = 0, [LG_AUTH_HMAC_SHA1_96] = 20,       /* RFC 2404 */
	[LG_AUTH_HMAC_SHA256_128] = 32, [LG_AUTH_AEAD] = 0,     /* RFC 4868 */
};
static_assert(ARRAY_SIZE(auth_key_len) == ARRAY_SIZE(auth_names), "one key length per auth");
static_assert(LG_AUTH_AEAD + 1 == ARRAY_SIZE(auth_names), "aead is the last auth");
static_assert(LG_KEY_MAX >= 32 && LG_AUTH_KEY_MAX >= 32, "key buffers hold the longest key");
static const char *const df_names[] = {
	[LG_DF_COPY] = "copy", [LG_DF_SET] = "set", [LG_DF_CLEAR] = "clear",
};
static const char *const encap_names[] = { "udp" };
static const char *const action_names[] = {
	[LG_ACT_PROTECT] = "protect", [LG_ACT_BYPASS] = "bypass", [LG_ACT_DISCARD] = "discard",
};
static const struct { const char *name; uint8_t num; } proto_names[] = {
	{ "any", 0 }, { "icmp", PROTO_ICMP }, { "tcp", PROTO_TCP }, { "udp", PROTO_UDP },
	{ "esp", 50 }, { "icmp6", PROTO_ICMP6 },
};

/* Parse context: one per lg_config_parse() call. */
/*
 * Parse-time indexes over the finished items of a file, so that checking a
 * list of n items (names, SPIs, equal-priority overlaps) is O(n) rather
 * than O(n^2): 100,000 SAs and policies load in seconds. Open addressing;
 * a slot holds key + 1 (0 = empty) and an item index. Requests (one item
 * against a loaded config) have none and scan.
 */
struct idx {
	uint64_t *key;
	uint32_t *val;
	uint32_t mask;
};

struct pc {
	const char *file;
	char *err;
	size_t errlen;
	yaml_document_t *doc;
	struct lg_conf *conf;    /* items [0, n) of each list are complete */
	bool indexed;            /* the indexes below are in use */
	struct idx sa_name, sa_spi, pol_name;
	uint32_t *pri_head;      /* [2][65536]: (dir, priority) -> policy + 1 */
	uint32_t *pri_next;      /* [npolicies]: the next one of its chain, + 1 */
	uint32_t *sa_first;      /* [nsas]: first PROTECT policy naming it, + 1 */
};

struct field {
	const char *key;
	int (*parse)(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj);
	bool required;
	const char *what;        /* ends "expected ..." */
};

struct pair { const yaml_node_t *k, *v; };

struct table {
	const struct field *fields;
	size_t nfields;
	/* After all fields, for rules that look at which keys were given. */
	int (*check)(struct pc *pc, const struct table *t, const struct pair *seen,
		     const yaml_node_t *map, void *obj);
	/* List items only: item size, offset of its struct lg_where, defaults. */
	size_t size;
	size_t at_off;
	const void *defaults;
};

/* Before a file's list of n items of table t is parsed. */
static bool pc_index_init(struct pc *pc, const struct table *t, size_t n);
/* After item i of table t is complete. */
static void pc_index_add(struct pc *pc, const struct table *t, const void *obj, uint32_t i);

#define TABLE(a) .fields = (a), .nfields = ARRAY_SIZE(a)

/* ---- messages ---------------------------------------------------------- */

/* One line, however odd the file name or a YAML key: control bytes become '?'. */
static void flatten(char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

static __attribute__((format(printf, 3, 4)))
void say(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	flatten(err);
}

static struct lg_where where(const yaml_node_t *n)
{
	return (struct lg_where){ (uint32_t)n->start_mark.line + 1,
				  (uint32_t)n->start_mark.column + 1 };
}

/* "FILE:LINE:COL: key 'KEY': <why>"; key NULL means the document itself. */
static __attribute__((format(printf, 4, 5)))
int fail(struct pc *pc, const yaml_node_t *n, const char *key, const char *fmt, ...)
{
	struct lg_where w = where(n);
	char why[LG_ERR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (key != NULL)
		say(pc->err, pc->errlen, "%s:%u:%u: key '%s': %s",
		    pc->file, w.line, w.col, key, why);
	else
		say(pc->err, pc->errlen, "%s:%u:%u: top level: %s",
		    pc->file, w.line, w.col, why);
	return -1;
}

static int expect(struct pc *pc, const yaml_node_t *v, const struct field *f)
{
	return fail(pc, v, f->key, "expected %s", f->what);
}

static int oom(struct pc *pc)
{
	say(pc->err, pc->errlen, "%s: out of memory", pc->file);
	return -1;
}

/* Appends "FILE:L:C: warning: <why>" to conf->warnings; -1 only if out of memory. */
static __attribute__((format(printf, 3, 4)))
int warn(struct pc *pc, const yaml_node_t *n, const char *fmt, ...)
{
	struct lg_conf *c = pc->conf;
	struct lg_where w = where(n);
	char why[LG_ERR_MAX], line[LG_ERR_MAX];
	char **more;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	say(line, sizeof(line), "%s:%u:%u: warning: %s", pc->file, w.line, w.col, why);
	more = realloc(c->warnings, (c->nwarnings + 1) * sizeof(*more));
	if (more == NULL)
		return oom(pc);
	c->warnings = more;
	c->warnings[c->nwarnings] = strdup(line);
	if (c->warnings[c->nwarnings] == NULL)
		return oom(pc);
	c->nwarnings++;
	return 0;
}

/* ---- scalars ----------------------------------------------------------- */

static const char *scalar(const yaml_node_t *v)
{
	const char *s;

	if (v->type != YAML_SCALAR_NODE)
		return NULL;
	s = (const char *)v->data.scalar.value;
	/* A "\0" escape would hide the rest of the text from string functions. */
	return strlen(s) == v->data.scalar.length ? s : NULL;
}

static bool printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static int text(struct pc *pc, const struct field *f, const yaml_node_t *v,
		char *dst, size_t size)
{
	const char *s = scalar(v);
	size_t n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n >= size || !printable(s))
		return expect(pc, v, f);
	memcpy(dst, s, n + 1);
	return 0;
}

/* Names show up in latchctl output and log lines: keep them plain. */
static int name(struct pc *pc, const struct field *f, const yaml_node_t *v,
		char dst[LG_NAME_MAX])
{
	const char *s = scalar(v);
	size_t n = s != NULL ? strlen(s) : 0;

	if (n == 0 || n >= LG_NAME_MAX || s[strspn(s, NAME_CHARS)] != '\0')
		return expect(pc, v, f);
	memcpy(dst, s, n + 1);
	return 0;
}

static int twice(struct pc *pc, const struct field *f, const yaml_node_t *v,
		 const char *s, struct lg_where first)
{
	return fail(pc, v, f->key, "duplicate name '%s' (first at line %u)", s, first.line);
}

/* Index of the scalar in names[], or -1 after "expected WHAT". */
static int keyword(struct pc *pc, const struct field *f, const yaml_node_t *v,
		   const char *const *names, size_t n)
{
	const char *s = scalar(v);

	for (size_t i = 0; s != NULL && i < n; i++)
		if (names[i] != NULL && strcmp(s, names[i]) == 0)
			return (int)i;
	return expect(pc, v, f);
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool hexprefix(const char *s)
{
	return s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
}

/*
 * Decimal or 0x hex, nothing else: no sign, no spaces, no '_', and no
 * leading zero on decimals, which YAML 1.1 would read as octal.
 */
static bool number(const char *s, uint32_t max, uint32_t *out)
{
	unsigned base = 10;
	uint64_t v = 0;

	if (hexprefix(s)) {
		base = 16;
		s += 2;
	} else if (s[0] == '0' && s[1] != '\0') {
		return false;
	}
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		int d = hexval(*s);

		if (d < 0 || (unsigned)d >= base)
			return false;
		v = v * base + (unsigned)d;
		if (v > max)
			return false;
	}
	*out = (uint32_t)v;
	return true;
}

static int integer(struct pc *pc, const struct field *f, const yaml_node_t *v,
		uint32_t max, uint32_t *out)
{
	const char *s = scalar(v);

	return s != NULL && number(s, max, out) ? 0 : expect(pc, v, f);
}

static int boolean(struct pc *pc, const struct field *f, const yaml_node_t *v, bool *out)
{
	static const char *const yes[] = { "true", "yes" }, *const no[] = { "false", "no" };
	const char *s = scalar(v);

	for (size_t i = 0; s != NULL && i < ARRAY_SIZE(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0 || strcasecmp(s, no[i]) == 0) {
			*out = strcasecmp(s, yes[i]) == 0;
			return 0;
		}
	}
	return expect(pc, v, f);
}

/* Secret: "0x" then exactly 2n hex digits into dst; dst is cleared on failure. */
static bool secret(const yaml_node_t *v, uint8_t *dst, size_t n)
{
	const char *s = scalar(v);

	if (s == NULL || !hexprefix(s) || strlen(s + 2) != 2 * n)
		return false;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(s[2 + 2 * i]), lo = hexval(s[3 + 2 * i]);

		if (hi < 0 || lo < 0) {
			explicit_bzero(dst, n);
			return false;
		}
		dst[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

/* A group address can be neither our source nor a next hop. */
static int mac(struct pc *pc, const struct field *f, const yaml_node_t *v, uint8_t m[6])
{
	const char *s = scalar(v);
	uint8_t any = 0;

	if (s == NULL || strlen(s) != 17)
		return expect(pc, v, f);
	for (int i = 0; i < 6; i++) {
		int hi = hexval(s[3 * i]), lo = hexval(s[3 * i + 1]);

		if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
			return expect(pc, v, f);
		m[i] = (uint8_t)(hi << 4 | lo);
		any |= m[i];
	}
	return (m[0] & 1) == 0 && any != 0 ? 0 : expect(pc, v, f);
}

static bool addr_parse(const char *s, struct lg_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, a->b) == 1)
		a->af = LG_AF_INET;
	else if (inet_pton(AF_INET6, s, a->b) == 1)
		a->af = LG_AF_INET6;
	else
		memset(a, 0, sizeof(*a));
	return a->af != LG_AF_NONE;
}

/*
 * Which family the first n characters were meant to be, for a precise
 * message: a ':' can only be IPv6, digits and dots only IPv4.
 */
static enum lg_af family_meant(const char *s, size_t n)
{
	size_t digits = 0;

	if (s == NULL)
		return LG_AF_NONE;
	if (memchr(s, ':', n) != NULL)
		return LG_AF_INET6;
	while (digits < n && (isdigit((unsigned char)s[digits]) || s[digits] == '.'))
		digits++;
	return n > 0 && digits == n ? LG_AF_INET : LG_AF_NONE;
}

static int addr(struct pc *pc, const struct field *f, const yaml_node_t *v, struct lg_addr *a)
{
	const char *s = scalar(v);
	enum lg_af meant = family_meant(s, s != NULL ? strlen(s) : 0);

	if (s != NULL && addr_parse(s, a))
		return 0;
	return fail(pc, v, f->key, "expected %s", meant == LG_AF_INET6 ? WHAT_ADDR6 :
		    meant == LG_AF_INET ? WHAT_ADDR4 : f->what);
}

static const char *af_name(uint8_t af)
{
	return af == LG_AF_INET ? "IPv4" : "IPv6";
}

/* Clears the host bits of a; returns whether any was set. */
static bool host_clear(struct lg_addr *a, unsigned len)
{
	bool set = false;

	for (unsigned i = 0; i < sizeof(a->b); i++) {
		unsigned keep = len >= 8 * (i + 1) ? 8 : len > 8 * i ? len - 8 * i : 0;
		uint8_t m = keep != 0 ? (uint8_t)(0xff << (8 - keep)) : 0;

		set |= (a->b[i] & ~m) != 0;
		a->b[i] &= m;
	}
	return set;
}

/* Decimal only: "/0x18" is more likely a typo than a wish. */
static bool prefix_len(const char *s, uint32_t *len)
{
	size_t n = strlen(s);

	return n >= 1 && n <= 3 && strspn(s, "0123456789") == n && number(s, 255, len);
}

/* "addr/len", or a bare address meaning a host route/selector. */
static int prefix(struct pc *pc, const struct field *f, const yaml_node_t *v, struct lg_prefix *p)
{
	const char *s = scalar(v), *slash;
	char a[INET6_ADDRSTRLEN], net[INET6_ADDRSTRLEN];
	enum lg_af meant;
	uint32_t len, max;
	size_t alen;

	if (s == NULL)
		return expect(pc, v, f);
	slash = strchr(s, '/');
	alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
	meant = family_meant(s, alen);
	a[0] = '\0';
	if (alen < sizeof(a)) {
		memcpy(a, s, alen);
		a[alen] = '\0';
	}
	if (alen >= sizeof(a) || !addr_parse(a, &p->addr))
		return fail(pc, v, f->key, "expected %s", meant == LG_AF_INET6 ? WHAT_PREFIX6 :
			    meant == LG_AF_INET ? WHAT_PREFIX4 : f->what);
	max = len = p->addr.af == LG_AF_INET ? 32 : 128;
	/* The address is good, so a bad length is the only thing to fix. */
	if ((slash != NULL && !prefix_len(slash + 1, &len)) || len > max)
		return fail(pc, v, f->key, "expected a prefix length 0..%u for %s",
			    max, af_name(p->addr.af));
	p->len = (uint8_t)len;
	if (host_clear(&p->addr, len))
		return fail(pc, v, f->key, "expected %s/%u (host bits must be zero)",
			    lg_addr_format(&p->addr, net, sizeof(net)), len);
	return 0;
}

/* ---- mappings and lists ------------------------------------------------ */

static const yaml_node_t *node(struct pc *pc, int id)
{
	return yaml_document_get_node(pc->doc, id);
}

static size_t count(const yaml_node_t *seq)
{
	return (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
}

static const yaml_node_t *item(struct pc *pc, const yaml_node_t *seq, size_t i)
{
	return node(pc, seq->data.sequence.items.start[i]);
}

static size_t lookup(const struct table *t, const char *key)
{
	size_t i;

	for (i = 0; i < t->nfields; i++)
		if (strcmp(t->fields[i].key, key) == 0)
			break;
	return i;
}

static const struct pair *given(const struct table *t, const struct pair *seen, const char *key)
{
	size_t i = lookup(t, key);

	return i < t->nfields && seen[i].v != NULL ? &seen[i] : NULL;
}

/* A run of SECRET_RUN hex digits: a salt's worth, the shortest secret we read. */
static bool secretish(const char *s)
{
	size_t run = 0;

	for (; *s != '\0' && run < SECRET_RUN; s++)
		run = isxdigit((unsigned char)*s) ? run + 1 : 0;
	return run >= SECRET_RUN;
}

/* Sorts the mapping's pairs into seen[] by table index. */
static int collect(struct pc *pc, const char *ctx, const yaml_node_t *map,
		   const struct table *t, struct pair *seen)
{
	const yaml_node_pair_t *p;

	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		const yaml_node_t *k = node(pc, p->key), *v = node(pc, p->value);
		const char *key = scalar(k);
		size_t i;

		if (key == NULL && k->type != YAML_SCALAR_NODE)
			return fail(pc, k, ctx, "expected scalar keys");
		i = key != NULL ? lookup(t, key) : t->nfields;
		if (i == t->nfields && secretish((const char *)k->data.scalar.value))
			return fail(pc, k, "(not shown)",
				    "unknown key (it looks like key material)");
		if (i == t->nfields)
			return fail(pc, k, (const char *)k->data.scalar.value, "unknown key");
		if (seen[i].k != NULL)
			return fail(pc, k, key, "duplicate key (first at line %u)",
				    where(seen[i].k).line);
		seen[i] = (struct pair){ k, v };
	}
	return 0;
}

static int map_parse(struct pc *pc, const char *ctx, const yaml_node_t *map,
		     const struct table *t, void *obj, struct pair seen[FIELDS_MAX])
{
	size_t i;

	assert(t->nfields <= FIELDS_MAX);
	memset(seen, 0, FIELDS_MAX * sizeof(*seen));
	if (collect(pc, ctx, map, t, seen) != 0)
		return -1;
	for (i = 0; i < t->nfields; i++)
		if (t->fields[i].required && seen[i].v == NULL)
			return fail(pc, map, t->fields[i].key, "missing required key");
	for (i = 0; i < t->nfields; i++)
		if (seen[i].v != NULL && t->fields[i].parse(pc, &t->fields[i], seen[i].v, obj) != 0)
			return -1;
	return t->check != NULL ? t->check(pc, t, seen, map, obj) : 0;
}

/* A nested mapping such as crypto: or aead:. */
static int sub(struct pc *pc, const struct field *f, const yaml_node_t *v,
	       const struct table *t, void *obj)
{
	struct pair seen[FIELDS_MAX];

	if (v->type != YAML_MAPPING_NODE)
		return expect(pc, v, f);
	return map_parse(pc, f->key, v, t, obj, seen);
}

/* The array for a list of min..max items, or NULL after an error. */
static void *items_alloc(struct pc *pc, const struct field *f, const yaml_node_t *v,
			 size_t min, size_t max, size_t size)
{
	void *a;

	if (v->type != YAML_SEQUENCE_NODE || count(v) < min || count(v) > max) {
		expect(pc, v, f);
		return NULL;
	}
	a = calloc(count(v) != 0 ? count(v) : 1, size);
	if (a == NULL)
		oom(pc);
	return a;
}

/*
 * *n counts finished items only, so while item i is parsed its handlers see
 * exactly the items before it (duplicate names, SPIs, routes). A failed item
 * is wiped: it may hold half a key and lg_config_free() stops at *n.
 */
static int items_parse(struct pc *pc, const struct field *f, const yaml_node_t *v,
		       const struct table *t, void *arr, uint32_t *n)
{
	struct pair seen[FIELDS_MAX];

	if (pc->indexed && !pc_index_init(pc, t, count(v)))
		return oom(pc);
	for (size_t i = 0; i < count(v); i++) {
		const yaml_node_t *m = item(pc, v, i);
		char *obj = (char *)arr + i * t->size;

		*n = (uint32_t)i;
		if (m->type != YAML_MAPPING_NODE)
			return fail(pc, m, f->key, "expected a mapping for each item");
		if (t->defaults != NULL)
			memcpy(obj, t->defaults, t->size);
		*(struct lg_where *)(obj + t->at_off) = where(m);
		if (map_parse(pc, f->key, m, t, obj, seen) != 0) {
			explicit_bzero(obj, t->size);
			return -1;
		}
		if (pc->indexed)
			pc_index_add(pc, t, obj, (uint32_t)i);
	}
	*n = (uint32_t)count(v);
	return 0;
}

/* ---- lookups ----------------------------------------------------------- */

static_assert(offsetof(struct lg_conf_port, name) == 0, "find() reads names at offset 0");
static_assert(offsetof(struct lg_conf_peer, name) == 0, "find() reads names at offset 0");
static_assert(offsetof(struct lg_conf_sa, name) == 0, "find() reads names at offset 0");
static_assert(offsetof(struct lg_conf_policy, name) == 0, "find() reads names at offset 0");

static int find(const void *base, uint32_t n, size_t size, const char *s)
{
	for (uint32_t i = 0; s != NULL && i < n; i++)
		if (strcmp((const char *)base + i * size, s) == 0)
			return (int)i;
	return -1;
}

static uint64_t name_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;     /* FNV-1a */

	while (*s != '\0')
		h = (h ^ (uint8_t)*s++) * 0x100000001b3ull;
	return h;
}

static bool idx_init(struct idx *x, size_t n)
{
	uint32_t cap = 16;

	while (cap < 2 * n)
		cap *= 2;
	x->key = calloc(cap, sizeof(*x->key));
	x->val = calloc(cap, sizeof(*x->val));
	x->mask = cap - 1;
	return x->key != NULL && x->val != NULL;
}

static void idx_free(struct idx *x)
{
	free(x->key);
	free(x->val);
	memset(x, 0, sizeof(*x));
}

/* What a slot stores for key: never 0, the empty mark (UINT64_MAX shares 1
 * with 0; names are then told apart by strcmp, SPI keys are never either). */
static uint64_t idx_stored(uint64_t key)
{
	return key == UINT64_MAX ? 1 : key + 1;
}

static void idx_add(struct idx *x, uint64_t key, uint32_t val)
{
	uint32_t i = (uint32_t)(key ^ key >> 29) & x->mask;

	while (x->key[i] != 0)
		i = (i + 1) & x->mask;
	x->key[i] = idx_stored(key);
	x->val[i] = val;
}

/* The item of name s in base[] (each item size bytes, name first), or -1. */
static int idx_name(const struct idx *x, const void *base, size_t size, const char *s)
{
	uint64_t key = name_hash(s);
	uint32_t i = (uint32_t)(key ^ key >> 29) & x->mask;

	if (x->key == NULL)       /* the list is not in the file (yet) */
		return -1;
	for (; x->key[i] != 0; i = (i + 1) & x->mask)
		if (x->key[i] == idx_stored(key) &&
		    strcmp((const char *)base + (size_t)x->val[i] * size, s) == 0)
			return (int)x->val[i];
	return -1;
}

static int idx_exact(const struct idx *x, uint64_t key)
{
	uint32_t i = (uint32_t)(key ^ key >> 29) & x->mask;

	if (x->key == NULL)
		return -1;
	for (; x->key[i] != 0; i = (i + 1) & x->mask)
		if (x->key[i] == idx_stored(key))
			return (int)x->val[i];
	return -1;
}

static uint64_t spi_key(enum lg_dir dir, uint32_t spi)
{
	return (uint64_t)dir << 32 | spi;
}

static void pc_index_free(struct pc *pc)
{
	idx_free(&pc->sa_name);
	idx_free(&pc->sa_spi);
	idx_free(&pc->pol_name);
	free(pc->pri_head);
	free(pc->pri_next);
	free(pc->sa_first);
	pc->pri_head = pc->pri_next = pc->sa_first = NULL;
	pc->indexed = false;
}

static int sa_find(const struct pc *pc, const char *s)
{
	return pc->indexed ? idx_name(&pc->sa_name, pc->conf->sas, sizeof(*pc->conf->sas), s) :
	       lg_config_sa_find(pc->conf, s);
}

int32_t *lg_config_sa_match(const struct lg_conf *a, const struct lg_conf *b)
{
	int32_t *m = calloc(a->nsas + 1, sizeof(*m));
	struct idx x = { 0 };
	uint32_t i;

	if (m == NULL || !idx_init(&x, b->nsas)) {
		free(m);
		idx_free(&x);
		return NULL;
	}
	for (i = 0; i < b->nsas; i++)
		idx_add(&x, name_hash(b->sas[i].name), i);
	for (i = 0; i < a->nsas; i++)
		m[i] = idx_name(&x, b->sas, sizeof(*b->sas), a->sas[i].name);
	idx_free(&x);
	return m;
}

int lg_config_port_find(const struct lg_conf *conf, const char *s)
{
	return conf != NULL ? find(conf->ports, conf->nports, sizeof(*conf->ports), s) : -1;
}

int lg_config_sa_find(const struct lg_conf *conf, const char *s)
{
	return conf != NULL ? find(conf->sas, conf->nsas, sizeof(*conf->sas), s) : -1;
}

static int peer_find(const struct lg_conf *conf, const char *s)
{
	return find(conf->peers, conf->npeers, sizeof(*conf->peers), s);
}

static int policy_find(const struct lg_conf *conf, const char *s)
{
	return find(conf->policies, conf->npolicies, sizeof(*conf->policies), s);
}

/* ---- ports ------------------------------------------------------------- */

static int port_name(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_port *p = obj;
	int i;

	if (name(pc, f, v, p->name) != 0)
		return -1;
	i = lg_config_port_find(pc->conf, p->name);
	return i < 0 ? 0 : twice(pc, f, v, p->name, pc->conf->ports[i].at);
}

static int port_role(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_port *p = obj;
	int k = keyword(pc, f, v, role_names, ARRAY_SIZE(role_names));

	if (k < 0)
		return -1;
	p->role = (enum lg_port_role)k;
	return 0;
}

static int port_device(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_port *p = obj;

	return text(pc, f, v, p->device, sizeof(p->device));
}

static int port_address(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_port *p = obj;
	bool list = v->type == YAML_SEQUENCE_NODE;
	size_t n = list ? count(v) : 1;
	char buf[INET6_ADDRSTRLEN];

	if (v->type == YAML_MAPPING_NODE || n < 1 || n > LG_PORT_ADDR_MAX)
		return expect(pc, v, f);
	for (size_t i = 0; i < n; i++) {
		const yaml_node_t *a = list ? item(pc, v, i) : v;

		if (addr(pc, f, a, &p->address[i]) != 0)
			return -1;
		for (size_t j = 0; j < i; j++)
			if (memcmp(&p->address[j], &p->address[i], sizeof(p->address[i])) == 0)
				return fail(pc, a, f->key,
					    "duplicate address %s (first at line %u)",
					    lg_addr_format(&p->address[i], buf, sizeof(buf)),
					    where(item(pc, v, j)).line);
	}
	p->naddress = (uint8_t)n;
	return 0;
}

static int port_mac(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_port *p = obj;

	p->has_mac = true;
	return mac(pc, f, v, p->mac);
}

static const struct field port_fields[] = {
	{ "name", port_name, true, WHAT_NAME },
	{ "role", port_role, true, "protected or unprotected" },
	{ "device", port_device, true, "a device string of 1..255 characters" },
	{ "address", port_address, true, WHAT_ADDRS },
	{ "mac", port_mac, false, WHAT_MAC },
};
static const struct table port_table = {
	TABLE(port_fields), .size = sizeof(struct lg_conf_port),
	.at_off = offsetof(struct lg_conf_port, at),
};

/* ---- crypto ------------------------------------------------------------ */

static int crypto_devices(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_crypto *c = obj;
	size_t n = v->type == YAML_SEQUENCE_NODE ? count(v) : 0;

	if (n < 1 || n > LG_CRYPTO_DEV_MAX)
		return expect(pc, v, f);
	for (size_t i = 0; i < n; i++) {
		const yaml_node_t *d = item(pc, v, i);

		if (text(pc, f, d, c->devices[i], sizeof(c->devices[i])) != 0)
			return -1;
		for (size_t j = 0; j < i; j++)
			if (strcmp(c->devices[j], c->devices[i]) == 0)
				return fail(pc, d, f->key,
					    "duplicate device '%s' (first at line %u)",
					    c->devices[i], where(item(pc, v, j)).line);
	}
	c->ndevices = (uint32_t)n;
	return 0;
}

static int crypto_mode(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_crypto *c = obj;
	int k = keyword(pc, f, v, crypto_mode_names, ARRAY_SIZE(crypto_mode_names));

	if (k < 0)
		return -1;
	c->mode = (enum lg_crypto_mode)k;
	return 0;
}

static const struct field crypto_fields[] = {
	{ "devices", crypto_devices, false, "a list of 1..8 device strings of 1..255 characters" },
	{ "mode", crypto_mode, false, "lookaside, cpu or direct" },
};
static const struct table crypto_table = { TABLE(crypto_fields) };

/* ---- peers ------------------------------------------------------------- */

static int peer_name(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_peer *p = obj;
	int i;

	if (name(pc, f, v, p->name) != 0)
		return -1;
	i = peer_find(pc->conf, p->name);
	return i < 0 ? 0 : twice(pc, f, v, p->name, pc->conf->peers[i].at);
}

/* "type:value", both parts non-empty; latches bind to the whole string. */
static int peer_id(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_peer *p = obj;
	const char *colon;

	if (text(pc, f, v, p->id, sizeof(p->id)) != 0)
		return -1;
	colon = strchr(p->id, ':');
	return colon != NULL && colon != p->id && colon[1] != '\0' ? 0 : expect(pc, v, f);
}

static int peer_address(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_peer *p = obj;

	return addr(pc, f, v, &p->address);
}

static const struct field peer_fields[] = {
	{ "name", peer_name, true, WHAT_NAME },
	{ "id", peer_id, true, "an identity \"type:value\" of 1..127 characters" },
	{ "address", peer_address, false, WHAT_ADDR },
};
static const struct table peer_table = {
	TABLE(peer_fields), .size = sizeof(struct lg_conf_peer),
	.at_off = offsetof(struct lg_conf_peer, at),
};

/* ---- SAs --------------------------------------------------------------- */

static bool cipher_is_aead(int c)
{
	return c == LG_CIPHER_AES128_GCM || c == LG_CIPHER_AES256_GCM;
}

/* The message names the length wanted, never the text given. */
static int key_bytes(struct pc *pc, const struct field *f, const yaml_node_t *v,
		     uint8_t *dst, unsigned n, const char *alg)
{
	if (!secret(v, dst, n))
		return fail(pc, v, f->key, "expected %u bytes (0x and %u hex digits) for %s",
			    n, 2 * n, alg);
	return 0;
}

/* aead: { algorithm, key, salt }, RFC 4106 */

static int aead_algorithm(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_sa *sa = obj;
	int k = keyword(pc, f, v, cipher_names, ARRAY_SIZE(cipher_names));

	if (k < 0)
		return -1;
	if (!cipher_is_aead(k))
		return expect(pc, v, f);
	sa->cipher = (enum lg_cipher)k;
	return 0;
}

static int aead_key(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_sa *sa = obj;
	unsigned n = cipher_key_len[sa->cipher];

	if (key_bytes(pc, f, v, sa->cipher_key, n, lg_cipher_name(sa->cipher)) != 0)
		return -1;
	sa->cipher_key_len = (uint8_t)n;
	return 0;
}

static int aead_salt(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_sa *sa = obj;

	return secret(v, sa->salt, LG_SALT_LEN) ? 0 : expect(pc, v, f);
}

/* Order matters: key reads the algorithm. */
static const struct field aead_fields[] = {
	{ "algorithm", aead_algorithm, true, "aes-128-gcm or aes-256-gcm" },
	{ "key", aead_key, true, "16 or 32 bytes of hex" },  /* key_bytes() says which */
	{ "salt", aead_salt, true, WHAT_4BYTES },
};
static const struct table aead_table = { TABLE(aead_fields) };

/* cipher: { algorithm, key, nonce } */

static int cipher_algorithm(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_sa *sa = obj;
	int k = keyword(pc, f, v, cipher_names, ARRAY_SIZE(cipher_names));

	if (k < 0)
		return -1;
	if (cipher_is_aead(k))
		return expect(pc, v, f);
	sa->cipher = (enum lg_cipher)k;
	return 0;
}

static int cipher_key(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_sa *sa = obj;
	unsigned n = cipher_key_len[sa->cipher];

	if (n == 0)
		return fail(pc, v, f->key, "not allowed with algorithm %s",
			    lg_cipher_name(sa->cipher));
	if (key_bytes(pc, f, v, sa->cipher_key, n, lg_cipher_name(sa->cipher)) != 0)
		return -1;
	sa->cipher_key_len = (uint8_t)n;
	return 0;
}

/* RFC 3686 §4: the nonce is per SA, from the key exchange, like GCM's salt. */
static int cipher_nonce(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_sa *sa = obj;

	if (sa->cipher != LG_CIPHER_AES128_CTR)
		return fail(pc, v, f->key, "only allowed with aes-128-ctr (RFC 3686)");
	return secret(v, sa->salt, LG_SALT_LEN) ? 0 : expect(pc, v, f);
}

static int cipher_check(struct pc *pc, const struct table *t, const struct pair *seen,
			const yaml_node_t *map, void *obj)
{
	const struct lg_conf_sa *sa = obj;

	if (cipher_key_len[sa->cipher] != 0 && given(t, seen, "key") == NULL)
		return fail(pc, map, "key", "missing required key for %s",
			    lg_cipher_name(sa->cipher));
	if (sa->cipher == LG_CIPHER_AES128_CTR && given(t, seen, "nonce") == NULL)
		return fail(pc, map, "nonce", "missing required key for %s (RFC 3686)",
			    lg_cipher_name(sa->cipher));
	return 0;
}

/* Order matters: key and nonce read the algorithm. */
static const struct field cipher_fields[] = {
	{ "algorithm", cipher_algorithm, true,
	  "aes-128-cbc, aes-256-cbc, aes-128-ctr or null (GCM goes under aead)" },
	{ "key", cipher_key, false, "16 or 32 bytes of hex" },  /* key_bytes() says which */
	{ "nonce", cipher_nonce, false, WHAT_4BYTES },
};
static const struct table cipher_table = { TABLE(cipher_fields), .check = cipher_check };

/* auth: { algorithm, key } */

static int auth_algorithm(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_sa *sa = obj;
	int k = keyword(pc, f, v, auth_names, LG_AUTH_AEAD);

	if (k < 0)
		return -1;
	sa->auth = (enum lg_auth)k;
	return 0;
}

static int auth_key(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_sa *sa = obj;
	unsigned n = auth_key_len[sa->auth];

	if (n == 0)
		return fail(pc, v, f->key, "not allowed with algorithm %s", lg_auth_name(sa->auth));
	if (key_bytes(pc, f, v, sa->auth_key, n, lg_auth_name(sa->auth)) != 0)
		return -1;
	sa->auth_key_len = (uint8_t)n;
	return 0;
}

static int auth_check(struct pc *pc, const struct table *t, const struct pair *seen,
		      const yaml_node_t *map, void *obj)
{
	const struct lg_conf_sa *sa = obj;

	if (auth_key_len[sa->auth] != 0 && given(t, seen, "key") == NULL)
		return fail(pc, map, "key", "missing required key for %s", lg_auth_name(sa->auth));
	return 0;
}

/* Order matters: key reads the algorithm. */
static const struct field auth_fields[] = {
	{ "algorithm", auth_algorithm, true, "hmac-sha256-128, hmac-sha1-96 or null" },
	{ "key", auth_key, false, "20 or 32 bytes of hex" },  /* key_bytes() says which */
};
static const struct table auth_table = { TABLE(auth_fields), .check = auth_check };

/* encap: { type, sport, dport }, UDP encapsulation for NAT traversal, RFC 3948 */

static int encap_type(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_sa *sa = obj;

	if (keyword(pc, f, v, encap_names, ARRAY_SIZE(encap_names)) < 0)
		return -1;
	sa->encap_udp = true;
	return 0;
}

static int udp_port(struct pc *pc, const struct field *f, const yaml_node_t *v, uint16_t *port)
{
	uint32_t n;

	if (integer(pc, f, v, UINT16_MAX, &n) != 0)
		return -1;
	if (n == 0)
		return expect(pc, v, f);
	*port = (uint16_t)n;
	return 0;
}

static int encap_sport(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_sa *sa = obj;

	return udp_port(pc, f, v, &sa->encap_sport);
}

static int encap_dport(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_sa *sa = obj;

	return udp_port(pc, f, v, &sa->encap_dport);
}

static const struct field encap_fields[] = {
	{ "type", encap_type, true, "udp (RFC 3948)" },
	{ "sport", encap_sport, false, WHAT_UDP_PORT },
	{ "dport", encap_dport, false, WHAT_UDP_PORT },
};
static const struct table encap_table = { TABLE(encap_fields) };

/* outer: { df, dscp, ttl }, the tunnel header, RFC 4301 §5.1.2 and §8.1 */

/* An IPv6 header has no DF bit: accepting one would promise what we cannot do. */
static int outer_df(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_sa *sa = obj;
	int k;

	if (sa->local.af != LG_AF_INET)
		return fail(pc, v, f->key, "only allowed with an IPv4 tunnel (IPv6 has no DF bit)");
	k = keyword(pc, f, v, df_names, ARRAY_SIZE(df_names));
	if (k < 0)
		return -1;
	sa->df = (enum lg_df)k;
	return 0;
}

static int outer_dscp(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_sa *sa = obj;
	const char *s = scalar(v);
	uint32_t n;

	if (s != NULL && strcmp(s, "copy") == 0) {
		sa->dscp = -1;
		return 0;
	}
	if (integer(pc, f, v, 63, &n) != 0)
		return -1;
	sa->dscp = (int16_t)n;
	return 0;
}

static int outer_ttl(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_sa *sa = obj;
	uint32_t n;

	if (integer(pc, f, v, UINT8_MAX, &n) != 0)
		return -1;
	if (n == 0)
		return expect(pc, v, f);
	sa->ttl = (uint8_t)n;
	return 0;
}

static const struct field outer_fields[] = {
	{ "df", outer_df, false, "copy, set or clear" },
	{ "dscp", outer_dscp, false, "copy or 0..63" },
	{ "ttl", outer_ttl, false, "1..255" },
};
static const struct table outer_table = { TABLE(outer_fields) };

/* The SA itself */

static int sa_name(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_sa *sa = obj;
	int i;

	if (name(pc, f, v, sa->name) != 0)
		return -1;
	i = sa_find(pc, sa->name);
	return i < 0 ? 0 : twice(pc, f, v, sa->name, pc->conf->sas[i].at);
}

static int sa_direction(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_sa *sa = obj;
	int k = keyword(pc, f, v, dir_names, ARRAY_SIZE(dir_names));

	if (k < 0)
		return -1;
	sa->dir = (enum lg_dir)k;
	return 0;
}

/*
 * RFC 4303 §2.1: SPI 0 is for local use and must not be sent; 1..255 are
 * reserved by IANA. Inbound lookup is by SPI alone, so inbound SPIs are
 * unique; outbound ones too, so that an SPI names one SA in each direction.
 */
static int sa_spi(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_sa *sa = obj;
	const struct lg_conf *c = pc->conf;
	int i = -1;

	if (integer(pc, f, v, UINT32_MAX, &sa->spi) != 0)
		return -1;
	if (sa->spi < 256)
		return expect(pc, v, f);

	if (pc->indexed) {
		i = idx_exact(&pc->sa_spi, spi_key(sa->dir, sa->spi));
	} else {
		for (uint32_t j = 0; i < 0 && j < c->nsas; j++)
			if (c->sas[j].dir == sa->dir && c->sas[j].spi == sa->spi)
				i = (int)j;
	}
	if (i >= 0)
		return fail(pc, v, f->key, "duplicate %s SPI 0x%x (first in SA '%s' at line %u)",
			    lg_dir_name(sa->dir), sa->spi, c->sas[i].name, c->sas[i].at.line);
	return 0;
}

static int sa_peer(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_sa *sa = obj;
	const char *s = scalar(v);
	int i;

	if (s == NULL)
		return expect(pc, v, f);
	i = peer_find(pc->conf, s);
	if (i < 0)
		return fail(pc, v, f->key, "unknown peer '%s'", s);
	sa->peer = (uint32_t)i;
	return 0;
}

static int sa_mode(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_sa *sa = obj;
	int k = keyword(pc, f, v, sa_mode_names, ARRAY_SIZE(sa_mode_names));

	if (k < 0)
		return -1;
	sa->mode = (enum lg_sa_mode)k;
	return 0;
}

static int sa_local(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_sa *sa = obj;

	return addr(pc, f, v, &sa->local);
}

/* One outer header family per SA. */
static int sa_remote(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_sa *sa = obj;

	if (addr(pc, f, v, &sa->remote) != 0)
		return -1;
	if (sa->remote.af != sa->local.af)
		return fail(pc, v, f->key, "expected an %s address (same family as local)",
			    af_name(sa->local.af));
	return 0;
}

static int sa_aead(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_sa *sa = obj;

	if (sub(pc, f, v, &aead_table, obj) != 0)
		return -1;
	sa->auth = LG_AUTH_AEAD;  /* cipher and auth, parsed next, read this */
	return 0;
}

static int sa_cipher(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	const struct lg_conf_sa *sa = obj;

	if (sa->auth == LG_AUTH_AEAD)
		return fail(pc, v, f->key, "not allowed with aead (" WHY_ONE_SUITE ")");
	return sub(pc, f, v, &cipher_table, obj);
}

static int sa_auth(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	const struct lg_conf_sa *sa = obj;

	if (sa->auth == LG_AUTH_AEAD)
		return fail(pc, v, f->key, "not allowed with aead (" WHY_ONE_SUITE ")");
	return sub(pc, f, v, &auth_table, obj);
}

static int sa_replay_window(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_sa *sa = obj;

	if (integer(pc, f, v, 4096, &sa->replay_window) != 0)
		return -1;
	return sa->replay_window == 0 || sa->replay_window >= 32 ? 0 : expect(pc, v, f);
}

static int sa_esn(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_sa *sa = obj;

	return boolean(pc, f, v, &sa->esn);
}

/*
 * Tunnel only: transport-mode NAT-T would need the incremental TCP/UDP
 * checksum fix-up of RFC 3948 §3.1.2, which the dataplane does not do.
 */
static int sa_encap(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	const struct lg_conf_sa *sa = obj;

	if (sa->mode != LG_SA_TUNNEL)
		return fail(pc, v, f->key, "only allowed with mode tunnel");
	return sub(pc, f, v, &encap_table, obj);
}

/* A transport SA has no outer header: it keeps the packet's own. */
static int sa_outer(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	const struct lg_conf_sa *sa = obj;

	if (sa->mode != LG_SA_TUNNEL)
		return fail(pc, v, f->key, "only allowed with mode tunnel");
	return sub(pc, f, v, &outer_table, obj);
}

/*
 * Exactly one suite: aead, or cipher with auth. RFC 4303 §3.2 forbids NULL
 * encryption with NULL integrity. Encryption without integrity, which §3.2
 * allows, is accepted with a warning (interoperability with old peers and
 * the RFC 3602 test vectors): it has no anti-replay (§3.4.3) and active
 * attacks on it succeed.
 */
static int sa_check(struct pc *pc, const struct table *t, const struct pair *seen,
		    const yaml_node_t *map, void *obj)
{
	struct lg_conf_sa *sa = obj;
	const struct pair *auth = given(t, seen, "auth");
	bool cipher = given(t, seen, "cipher") != NULL;

	if (given(t, seen, "aead") == NULL) {
		if (!cipher && auth == NULL)
			return fail(pc, map, "aead", "missing required key (or cipher and auth)");
		if (auth == NULL)
			return fail(pc, map, "auth", "missing required key with cipher");
		if (!cipher)
			return fail(pc, map, "cipher", "missing required key with auth");
		if (sa->auth == LG_AUTH_NULL && sa->cipher == LG_CIPHER_NULL)
			return fail(pc, auth->v, "auth", "NULL encryption with NULL integrity"
				    " is refused (RFC 4303 §3.2)");
		if (sa->auth == LG_AUTH_NULL) {
			const struct pair *rw = given(t, seen, "replay_window");

			if (rw != NULL && sa->replay_window != 0)
				return fail(pc, rw->v, "replay_window", "expected 0 with auth null"
					    " (anti-replay needs integrity, RFC 4303 §3.4.3)");
			sa->replay_window = 0;
			if (warn(pc, auth->v, "SA '%s' has no integrity (auth null): no anti-replay,"
				 " open to active attacks (RFC 4303 §3.2)", sa->name) != 0)
				return -1;
		}
	}
	/* A tunnel's first policy may change this (policy_family()). */
	sa->inner_af = sa->local.af;
	return 0;
}

/*
 * Order matters: spi reads direction, remote reads local, cipher and auth
 * read aead, encap and outer read mode, df reads local.
 */
static const struct field sa_fields[] = {
	{ "name", sa_name, true, WHAT_NAME },
	{ "direction", sa_direction, true, "outbound or inbound" },
	{ "spi", sa_spi, true,
	  "an SPI 256..0xffffffff, decimal or 0x hex (0 and 1..255 are reserved, RFC 4303 2.1)" },
	{ "peer", sa_peer, true, "a peer name" },
	{ "mode", sa_mode, false, "tunnel or transport" },
	{ "local", sa_local, true, WHAT_ADDR },
	{ "remote", sa_remote, true, WHAT_ADDR },
	{ "aead", sa_aead, false, "a mapping" },
	{ "cipher", sa_cipher, false, "a mapping" },
	{ "auth", sa_auth, false, "a mapping" },
	{ "replay_window", sa_replay_window, false, "0 (off) or 32..4096" },
	{ "esn", sa_esn, false, "true or false" },
	{ "encap", sa_encap, false, "a mapping" },
	{ "outer", sa_outer, false, "a mapping" },
};
static const struct lg_conf_sa sa_defaults = {
	.mode = LG_SA_TUNNEL, .replay_window = 1024, .esn = false,
	.encap_sport = 4500, .encap_dport = 4500,     /* RFC 3948 §2 */
	.df = LG_DF_COPY, .dscp = -1, .ttl = 64,
};
static const struct table sa_table = {
	TABLE(sa_fields), .check = sa_check, .size = sizeof(struct lg_conf_sa),
	.at_off = offsetof(struct lg_conf_sa, at), .defaults = &sa_defaults,
};

/* ---- policies ---------------------------------------------------------- */

static int policy_name(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_policy *p = obj;
	int i;

	if (name(pc, f, v, p->name) != 0)
		return -1;
	i = pc->indexed ?
	    idx_name(&pc->pol_name, pc->conf->policies, sizeof(*pc->conf->policies), p->name) :
	    policy_find(pc->conf, p->name);
	return i < 0 ? 0 : twice(pc, f, v, p->name, pc->conf->policies[i].at);
}

static int policy_direction(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_policy *p = obj;
	int k = keyword(pc, f, v, dir_names, ARRAY_SIZE(dir_names));

	if (k < 0)
		return -1;
	p->dir = (enum lg_dir)k;
	return 0;
}

static int policy_priority(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_policy *p = obj;

	return integer(pc, f, v, UINT16_MAX, &p->priority);
}

static int policy_src(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_policy *p = obj;

	if (prefix(pc, f, v, &p->src) != 0)
		return -1;
	p->af = p->src.addr.af;
	return 0;
}

/* A selector matches one IP version; mixed families would match nothing. */
static int policy_dst(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_policy *p = obj;

	if (prefix(pc, f, v, &p->dst) != 0)
		return -1;
	if (p->src.addr.af != LG_AF_NONE && p->src.addr.af != p->dst.addr.af)
		return fail(pc, v, f->key, "expected an %s prefix (same family as src)",
			    af_name(p->src.addr.af));
	p->af = p->dst.addr.af;
	return 0;
}

/* ICMP is IPv4's, ICMPv6 is IPv6's (RFC 4443): the other pairing matches nothing. */
static int policy_proto(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_policy *p = obj;
	const char *s = scalar(v);
	uint32_t n;
	size_t i;

	for (i = 0; s != NULL && i < ARRAY_SIZE(proto_names); i++)
		if (strcmp(s, proto_names[i].name) == 0)
			break;
	if (s != NULL && i < ARRAY_SIZE(proto_names))
		n = proto_names[i].num;
	else if (integer(pc, f, v, UINT8_MAX, &n) != 0)
		return -1;
	p->proto = (uint8_t)n;
	if (p->proto == PROTO_ICMP && p->af == LG_AF_INET6)
		return fail(pc, v, f->key, "expected icmp6 for IPv6 selectors (icmp is ICMPv4)");
	if (p->proto == PROTO_ICMP6 && p->af == LG_AF_INET)
		return fail(pc, v, f->key, "expected icmp for IPv4 selectors (icmp6 is ICMPv6)");
	return 0;
}

/* "80" or "1024-65535"; values 0..max. */
static int range(struct pc *pc, const struct field *f, const yaml_node_t *v, uint32_t max,
		 struct lg_range *r)
{
	const char *s = scalar(v), *dash = s != NULL ? strchr(s, '-') : NULL;
	char lo[8];
	uint32_t a, b;

	if (s == NULL)
		return expect(pc, v, f);
	if (dash == NULL) {
		if (!number(s, max, &a))
			return expect(pc, v, f);
		r->lo = r->hi = (uint16_t)a;
		return 0;
	}
	if ((size_t)(dash - s) >= sizeof(lo))
		return expect(pc, v, f);
	memcpy(lo, s, (size_t)(dash - s));
	lo[dash - s] = '\0';
	if (!number(lo, max, &a) || !number(dash + 1, max, &b))
		return expect(pc, v, f);
	if (a > b)
		return fail(pc, v, f->key, "expected a range with lo <= hi");
	r->lo = (uint16_t)a;
	r->hi = (uint16_t)b;
	return 0;
}

/* One range or a list of 1..LG_RANGES_MAX. */
static int ranges(struct pc *pc, const struct field *f, const yaml_node_t *v, uint32_t max,
		  struct lg_range *r, uint8_t *n)
{
	size_t cnt = v->type == YAML_SEQUENCE_NODE ? count(v) : 1;

	if (v->type == YAML_SEQUENCE_NODE && (cnt < 1 || cnt > LG_RANGES_MAX))
		return expect(pc, v, f);
	for (size_t i = 0; i < cnt; i++) {
		const yaml_node_t *one = v->type == YAML_SEQUENCE_NODE ? item(pc, v, i) : v;

		if (range(pc, f, one, max, &r[i]) != 0)
			return -1;
	}
	*n = (uint8_t)cnt;
	return 0;
}

static bool has_ports(uint8_t proto)
{
	return proto == PROTO_TCP || proto == PROTO_UDP;
}

static bool is_icmp(uint8_t proto)
{
	return proto == PROTO_ICMP || proto == PROTO_ICMP6;
}

/* Only TCP and UDP have the ports the dataplane classifies on. */
static int policy_sport(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_policy *p = obj;

	if (!has_ports(p->proto))
		return fail(pc, v, f->key, "only allowed with proto tcp or udp");
	return ranges(pc, f, v, UINT16_MAX, p->sport, &p->nsport);
}

static int policy_dport(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_policy *p = obj;

	if (!has_ports(p->proto))
		return fail(pc, v, f->key, "only allowed with proto tcp or udp");
	return ranges(pc, f, v, UINT16_MAX, p->dport, &p->ndport);
}

/* ICMP type and code sit where ports are (RFC 4301 §4.4.1.1), so they share the arrays. */
static int policy_icmp_type(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_policy *p = obj;

	if (!is_icmp(p->proto))
		return fail(pc, v, f->key, "only allowed with proto icmp or icmp6");
	return ranges(pc, f, v, UINT8_MAX, p->sport, &p->nsport);
}

static int policy_icmp_code(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_policy *p = obj;

	if (!is_icmp(p->proto))
		return fail(pc, v, f->key, "only allowed with proto icmp or icmp6");
	return ranges(pc, f, v, UINT8_MAX, p->dport, &p->ndport);
}

static int policy_action(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_policy *p = obj;
	int k = keyword(pc, f, v, action_names, ARRAY_SIZE(action_names));

	if (k < 0)
		return -1;
	p->action = (enum lg_action)k;
	return 0;
}

/* An SA carries traffic one way: the policy and SA directions must agree. */
static int policy_sa(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_policy *p = obj;
	const char *s = scalar(v);
	int i;

	if (p->action != LG_ACT_PROTECT)
		return fail(pc, v, f->key, "not allowed with action %s", lg_action_name(p->action));
	if (s == NULL)
		return expect(pc, v, f);
	i = sa_find(pc, s);
	if (i < 0)
		return fail(pc, v, f->key, "unknown SA '%s'", s);
	if (pc->conf->sas[i].dir != p->dir)
		return fail(pc, v, f->key, "expected an %s SA ('%s' is %s)", lg_dir_name(p->dir),
			    s, lg_dir_name(pc->conf->sas[i].dir));
	p->sa = (uint32_t)i;
	return 0;
}

static bool is_host(const struct lg_prefix *p, const struct lg_addr *a)
{
	return p->addr.af == a->af && p->len == (a->af == LG_AF_INET ? 32 : 128) &&
	       memcmp(p->addr.b, a->b, sizeof(a->b)) == 0;
}

/*
 * Transport mode carries the packet's own header, so it only fits traffic
 * between the SA's two hosts (RFC 4301 §4.1). Anything wider is forwarded
 * traffic: legal to write, but almost certainly a mistake, hence a warning.
 */
static int policy_transport(struct pc *pc, const struct lg_conf_policy *p,
			    const struct lg_conf_sa *sa, const yaml_node_t *v)
{
	bool out = p->dir == LG_DIR_OUTBOUND;

	if (p->af != sa->local.af)
		return fail(pc, v, "sa",
			    "expected an SA for %s traffic (transport-mode SA '%s' is %s)",
			    af_name(p->af), sa->name, af_name(sa->local.af));
	if (is_host(&p->src, out ? &sa->local : &sa->remote) &&
	    is_host(&p->dst, out ? &sa->remote : &sa->local))
		return 0;
	return warn(pc, v, "transport-mode SA '%s' would protect forwarded traffic (policy '%s');"
		    " RFC 4301 §4.1 requires tunnel mode when an end is a gateway",
		    sa->name, p->name);
}

/*
 * A tunnel SA carries one inner family, the one of the policies that use it:
 * the first such policy sets sa->inner_af, the others must agree.
 */
static int policy_family(struct pc *pc, const struct lg_conf_policy *p, const yaml_node_t *v)
{
	const struct lg_conf *c = pc->conf;
	struct lg_conf_sa *sa = &c->sas[p->sa];

	if (sa->mode == LG_SA_TRANSPORT)
		return policy_transport(pc, p, sa, v);
	for (uint32_t i = 0; i < c->npolicies; i++) {
		const struct lg_conf_policy *q;

		/* Indexed: straight to the first policy on this SA. */
		if (pc->indexed) {
			if (pc->sa_first[p->sa] == 0)
				break;
			i = pc->sa_first[p->sa] - 1;
		}
		q = &c->policies[i];
		if (q->action != LG_ACT_PROTECT || q->sa != p->sa)
			continue;
		if (q->af == p->af)
			return 0;
		return fail(pc, v, "sa", "SA '%s' already carries %s traffic for policy '%s'"
			    " (line %u); policy '%s' is %s (a tunnel SA carries one inner family)",
			    sa->name, af_name(q->af), q->name, q->at.line, p->name, af_name(p->af));
	}
	sa->inner_af = p->af;
	return 0;
}

static bool prefixes_overlap(const struct lg_prefix *a, const struct lg_prefix *b)
{
	struct lg_addr x = a->addr, y = b->addr;
	unsigned len = a->len < b->len ? a->len : b->len;

	if (a->addr.af == LG_AF_NONE || b->addr.af == LG_AF_NONE)
		return true;
	host_clear(&x, len);
	host_clear(&y, len);
	return x.af == y.af && memcmp(x.b, y.b, sizeof(x.b)) == 0;
}

/* No ranges means any port (or type, or code). */
static bool ranges_overlap(const struct lg_range *a, uint8_t na, const struct lg_range *b,
			   uint8_t nb)
{
	if (na == 0 || nb == 0)
		return true;
	for (uint8_t i = 0; i < na; i++)
		for (uint8_t j = 0; j < nb; j++)
			if (a[i].lo <= b[j].hi && b[j].lo <= a[i].hi)
				return true;
	return false;
}

/*
 * Whether one packet could match both. Ranges are compared only when the
 * protocols are equal, so ports meet ports and ICMP types meet types; a
 * protocol of any has no ranges, hence overlaps everything.
 */
static bool policies_overlap(const struct lg_conf_policy *a, const struct lg_conf_policy *b)
{
	return (a->af == LG_AF_NONE || b->af == LG_AF_NONE || a->af == b->af) &&
	       prefixes_overlap(&a->src, &b->src) && prefixes_overlap(&a->dst, &b->dst) &&
	       (a->proto == 0 || b->proto == 0 || a->proto == b->proto) &&
	       ranges_overlap(a->sport, a->nsport, b->sport, b->nsport) &&
	       ranges_overlap(a->dport, a->ndport, b->dport, b->ndport);
}

/*
 * RFC 4301 §4.4.1: the SPD is ordered and the first match wins. Equal
 * priorities would leave the order of overlapping policies to file order,
 * which a reordering edit changes silently: refuse them.
 */
static int policy_order(struct pc *pc, const struct lg_conf_policy *p, const yaml_node_t *v)
{
	const struct lg_conf *c = pc->conf;
	const struct lg_conf_policy *q, *first = NULL;

	if (pc->indexed) {
		/* The chain of equal (direction, priority), newest first: the
		 * last overlap found is the earliest, as a scan names it. */
		for (uint32_t l = pc->pri_head[p->dir * 65536u + p->priority]; l != 0;
		     l = pc->pri_next[l - 1]) {
			q = &c->policies[l - 1];
			if (policies_overlap(p, q))
				first = q;
		}
	} else {
		for (uint32_t i = 0; first == NULL && i < c->npolicies; i++) {
			q = &c->policies[i];
			if (q->dir == p->dir && q->priority == p->priority && policies_overlap(p, q))
				first = q;
		}
	}
	if (first != NULL)
		return fail(pc, v, "priority", "policy '%s' overlaps policy '%s' (line %u)"
			    " at equal priority %u; the SPD must have a deterministic order"
			    " (RFC 4301 §4.4.1)",
			    p->name, first->name, first->at.line, p->priority);
	return 0;
}

static int policy_check(struct pc *pc, const struct table *t, const struct pair *seen,
			const yaml_node_t *map, void *obj)
{
	const struct lg_conf_policy *p = obj;

	if (p->action == LG_ACT_PROTECT) {
		if (given(t, seen, "sa") == NULL)
			return fail(pc, map, "sa", "missing required key for action protect");
		if (p->af == LG_AF_NONE)
			return fail(pc, map, "src", "expected src or dst with action protect"
				    " (they give the family of the protected traffic)");
		if (policy_family(pc, p, given(t, seen, "sa")->v) != 0)
			return -1;
	}
	return policy_order(pc, p, given(t, seen, "priority")->v);
}

/* Order matters: dst reads src, proto reads both, the ranges read proto, sa reads action. */
static const struct field policy_fields[] = {
	{ "name", policy_name, true, WHAT_NAME },
	{ "direction", policy_direction, true, "outbound or inbound" },
	{ "priority", policy_priority, true, "an integer 0..65535" },
	{ "src", policy_src, false, WHAT_PREFIX },
	{ "dst", policy_dst, false, WHAT_PREFIX },
	{ "proto", policy_proto, false, "any, tcp, udp, icmp, icmp6, esp or 0..255" },
	{ "sport", policy_sport, false, WHAT_PORTS },
	{ "dport", policy_dport, false, WHAT_PORTS },
	{ "icmp_type", policy_icmp_type, false, WHAT_ICMP_TYPES },
	{ "icmp_code", policy_icmp_code, false, WHAT_ICMP_CODES },
	{ "action", policy_action, true, "protect, bypass or discard" },
	{ "sa", policy_sa, false, "an SA name" },
};
static const struct table policy_table = {
	TABLE(policy_fields), .check = policy_check, .size = sizeof(struct lg_conf_policy),
	.at_off = offsetof(struct lg_conf_policy, at),
};

/* ---- routes ------------------------------------------------------------ */

/* Two routes to one prefix would leave the next hop to table order. */
static int route_dst(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_route *r = obj;
	const struct lg_conf *c = pc->conf;
	char buf[INET6_ADDRSTRLEN];

	if (prefix(pc, f, v, &r->dst) != 0)
		return -1;
	for (uint32_t i = 0; i < c->nroutes; i++)
		if (c->routes[i].dst.len == r->dst.len &&
		    memcmp(&c->routes[i].dst.addr, &r->dst.addr, sizeof(r->dst.addr)) == 0)
			return fail(pc, v, f->key, "duplicate route %s/%u (first at line %u)",
				    lg_addr_format(&r->dst.addr, buf, sizeof(buf)), r->dst.len,
				    c->routes[i].at.line);
	return 0;
}

static int route_port(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_route *r = obj;
	const char *s = scalar(v);
	int i;

	if (s == NULL)
		return expect(pc, v, f);
	i = lg_config_port_find(pc->conf, s);
	if (i < 0)
		return fail(pc, v, f->key, "unknown port '%s'", s);
	r->port = (uint32_t)i;
	return 0;
}

static int route_next_hop_mac(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_route *r = obj;

	return mac(pc, f, v, r->next_hop_mac);
}

static const struct field route_fields[] = {
	{ "dst", route_dst, true, WHAT_PREFIX },
	{ "port", route_port, true, "a port name" },
	{ "next_hop_mac", route_next_hop_mac, true, WHAT_MAC },
};
static const struct table route_table = {
	TABLE(route_fields), .size = sizeof(struct lg_conf_route),
	.at_off = offsetof(struct lg_conf_route, at),
};

/* ---- latch ------------------------------------------------------------- */

static int latch_enabled(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_latch *l = obj;

	return boolean(pc, f, v, &l->enabled);
}

static int latch_capacity(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_latch *l = obj;

	if (integer(pc, f, v, 16777216, &l->capacity) != 0)
		return -1;
	return l->capacity >= 1024 ? 0 : expect(pc, v, f);
}

static int idle_secs(struct pc *pc, const struct field *f, const yaml_node_t *v, uint32_t *out)
{
	if (integer(pc, f, v, 86400, out) != 0)
		return -1;
	return *out >= 1 ? 0 : expect(pc, v, f);
}

#define IDLE_FIELD(proto) \
static int idle_##proto(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj) \
{ \
	return idle_secs(pc, f, v, &((struct lg_conf_latch *)obj)->idle_##proto); \
}
IDLE_FIELD(tcp)
IDLE_FIELD(udp)
IDLE_FIELD(icmp)
IDLE_FIELD(other)

static const struct field idle_fields[] = {
	{ "tcp", idle_tcp, false, "seconds 1..86400" },
	{ "udp", idle_udp, false, "seconds 1..86400" },
	{ "icmp", idle_icmp, false, "seconds 1..86400" },
	{ "other", idle_other, false, "seconds 1..86400" },
};
static const struct table idle_table = { TABLE(idle_fields) };

static int latch_idle(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	return sub(pc, f, v, &idle_table, obj);
}

static int latch_on_break(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_latch *l = obj;
	const char *s = scalar(v);

	if (s != NULL && strcmp(s, "hold") == 0)
		l->close_on_break = false;
	else if (s != NULL && strcmp(s, "close") == 0)
		l->close_on_break = true;
	else
		return expect(pc, v, f);
	return 0;
}

static int latch_break_close(struct pc *pc, const struct field *f, const yaml_node_t *v,
			     void *obj)
{
	return idle_secs(pc, f, v, &((struct lg_conf_latch *)obj)->break_close_s);
}

static const struct field latch_fields[] = {
	{ "enabled", latch_enabled, false, "true or false" },
	{ "capacity", latch_capacity, false, "a number of flows 1024..16777216" },
	{ "idle_timeout", latch_idle, false, "a mapping" },
	{ "on_break", latch_on_break, false, "hold or close" },
	{ "close_after", latch_break_close, false, "seconds 1..86400" },
};
static const struct table latch_table = { TABLE(latch_fields) };

/* ---- control ----------------------------------------------------------- */

static int control_socket(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_control *c = obj;

	return text(pc, f, v, c->socket, sizeof(c->socket));
}

static int control_overlap(struct pc *pc, const struct field *f, const yaml_node_t *v,
			   void *obj)
{
	struct lg_conf_control *c = obj;

	return integer(pc, f, v, 3600, &c->rekey_overlap_s);
}

static const struct field control_fields[] = {
	{ "socket", control_socket, false, "a path of 1..107 characters" },
	{ "rekey_overlap", control_overlap, false, "seconds 0..3600" },
};
static const struct table control_table = { TABLE(control_fields) };

/* ---- memory ------------------------------------------------------------ */

static int memory_mbufs(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_memory *m = obj;

	if (integer(pc, f, v, 16777216, &m->mbufs) != 0)
		return -1;
	return m->mbufs < 4096 ? expect(pc, v, f) : 0;
}

static int memory_sas(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf_memory *m = obj;

	if (integer(pc, f, v, 1048576, &m->sas) != 0)
		return -1;
	return m->sas < 16 ? expect(pc, v, f) : 0;
}

static const struct field memory_fields[] = {
	{ "mbufs", memory_mbufs, false, "a number of packet buffers 4096..16777216" },
	{ "sas", memory_sas, false, "a number of SA slots 16..1048576" },
};
static const struct table memory_table = { TABLE(memory_fields) };

/* ---- top level --------------------------------------------------------- */

static int conf_eal(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf *c = obj;

	if (v->type != YAML_SEQUENCE_NODE)
		return expect(pc, v, f);
	c->eal = calloc(count(v) + 1, sizeof(*c->eal));
	if (c->eal == NULL)
		return oom(pc);
	for (size_t i = 0; i < count(v); i++) {
		const char *s = scalar(item(pc, v, i));

		if (s == NULL)
			return expect(pc, item(pc, v, i), f);
		c->eal[i] = strdup(s);
		if (c->eal[i] == NULL)
			return oom(pc);
		c->neal = (uint32_t)i + 1;
	}
	return 0;
}

/* A gateway needs a side to protect and a side to protect it from. */
static int conf_ports(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf *c = obj;
	bool role[2] = { false, false };

	c->ports = items_alloc(pc, f, v, 1, PORTS_MAX, sizeof(*c->ports));
	if (c->ports == NULL || items_parse(pc, f, v, &port_table, c->ports, &c->nports) != 0)
		return -1;
	for (uint32_t i = 0; i < c->nports; i++)
		role[c->ports[i].role] = true;
	if (!role[LG_ROLE_PROTECTED] || !role[LG_ROLE_UNPROTECTED])
		return fail(pc, v, f->key,
			    "expected at least one protected and one unprotected port");
	return 0;
}

static int conf_crypto(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf *c = obj;

	c->crypto.at = where(v);
	return sub(pc, f, v, &crypto_table, &c->crypto);
}

static int conf_peers(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf *c = obj;

	c->peers = items_alloc(pc, f, v, 0, UINT32_MAX, sizeof(*c->peers));
	return c->peers != NULL ? items_parse(pc, f, v, &peer_table, c->peers, &c->npeers) : -1;
}

static int conf_sas(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf *c = obj;

	c->sas = items_alloc(pc, f, v, 0, UINT32_MAX, sizeof(*c->sas));
	return c->sas != NULL ? items_parse(pc, f, v, &sa_table, c->sas, &c->nsas) : -1;
}

static int conf_policies(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf *c = obj;

	c->policies = items_alloc(pc, f, v, 0, UINT32_MAX, sizeof(*c->policies));
	return c->policies != NULL ?
	       items_parse(pc, f, v, &policy_table, c->policies, &c->npolicies) : -1;
}

static int conf_routes(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf *c = obj;

	c->routes = items_alloc(pc, f, v, 0, UINT32_MAX, sizeof(*c->routes));
	return c->routes != NULL ? items_parse(pc, f, v, &route_table, c->routes, &c->nroutes) : -1;
}

static int conf_latch(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf *c = obj;

	return sub(pc, f, v, &latch_table, &c->latch);
}

static int conf_control(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf *c = obj;

	return sub(pc, f, v, &control_table, &c->control);
}

static int conf_memory(struct pc *pc, const struct field *f, const yaml_node_t *v, void *obj)
{
	struct lg_conf *c = obj;

	return sub(pc, f, v, &memory_table, &c->memory);
}

/* Order matters: each section may refer to names in the ones above it. */
static const struct field conf_fields[] = {
	{ "eal", conf_eal, false, "a list of strings" },
	{ "ports", conf_ports, true, "a list of 1..8 ports" },
	{ "crypto", conf_crypto, false, "a mapping" },
	{ "peers", conf_peers, false, "a list of peers" },
	{ "sas", conf_sas, false, "a list of SAs" },
	{ "policies", conf_policies, false, "a list of policies" },
	{ "routes", conf_routes, false, "a list of routes" },
	{ "latch", conf_latch, false, "a mapping" },
	{ "control", conf_control, false, "a mapping" },
	{ "memory", conf_memory, false, "a mapping" },
};
static const struct table conf_table = { TABLE(conf_fields) };

/* ---- YAML documents ---------------------------------------------------- */

/* Reader errors carry a byte offset rather than a mark. */
static void locate(const char *text, size_t off, size_t *line, size_t *col)
{
	*line = *col = 0;
	for (size_t i = 0; i < off; i++) {
		if (text[i] == '\n') {
			++*line;
			*col = 0;
		} else {
			++*col;
		}
	}
}

static int syntax(struct pc *pc, const yaml_parser_t *p, const char *text, size_t len)
{
	size_t line = p->problem_mark.line, col = p->problem_mark.column;

	if (p->error == YAML_MEMORY_ERROR)
		return oom(pc);
	if (p->error == YAML_READER_ERROR)
		locate(text, p->problem_offset < len ? p->problem_offset : len, &line, &col);
	say(pc->err, pc->errlen, "%s:%zu:%zu: YAML syntax error: %s", pc->file, line + 1, col + 1,
	    p->problem != NULL ? p->problem : "unknown problem");
	return -1;
}

/* The document holds copies of every scalar, key and salt text included. */
static void doc_wipe(yaml_document_t *d)
{
	for (yaml_node_t *n = d->nodes.start; n != NULL && n < d->nodes.top; n++)
		if (n->type == YAML_SCALAR_NODE)
			explicit_bzero(n->data.scalar.value, n->data.scalar.length);
	yaml_document_delete(d);
}

/* libyaml's parser buffers are documented as internal; their layout is ABI. */
static void parser_wipe(yaml_parser_t *p)
{
	if (p->buffer.start != NULL)
		explicit_bzero(p->buffer.start, (size_t)(p->buffer.end - p->buffer.start));
	if (p->raw_buffer.start != NULL)
		explicit_bzero(p->raw_buffer.start,
			       (size_t)(p->raw_buffer.end - p->raw_buffer.start));
	yaml_parser_delete(p);
}

/* A second document would be silently ignored: refuse it. */
static int single(struct pc *pc, yaml_parser_t *p, const char *text, size_t len)
{
	yaml_document_t next;
	const yaml_node_t *r;
	int rc = 0;

	if (!yaml_parser_load(p, &next))
		return syntax(pc, p, text, len);
	r = yaml_document_get_root_node(&next);
	if (r != NULL)
		rc = fail(pc, r, NULL, "expected a single YAML document");
	doc_wipe(&next);
	return rc;
}

static int root(struct pc *pc)
{
	static const yaml_node_t start;  /* 1:1, for an empty document */
	const yaml_node_t *r = yaml_document_get_root_node(pc->doc);
	struct pair seen[FIELDS_MAX];

	if (r == NULL || r->type != YAML_MAPPING_NODE)
		return fail(pc, r != NULL ? r : &start, NULL, "expected a mapping");
	return map_parse(pc, NULL, r, &conf_table, pc->conf, seen);
}

static struct lg_conf *create(struct pc *pc)
{
	struct lg_conf *c = calloc(1, sizeof(*c));

	if (c == NULL || (c->file = strdup(pc->file)) == NULL) {
		free(c);
		oom(pc);
		return NULL;
	}
	strcpy(c->crypto.devices[0], DEFAULT_CRYPTO_DEV);
	c->crypto.ndevices = 1;
	c->crypto.mode = LG_CRYPTO_LOOKASIDE;
	c->memory.sas = LG_SA_SLOTS_DEFAULT;
	strcpy(c->control.socket, DEFAULT_SOCKET);
	c->control.rekey_overlap_s = 5;
	c->latch.enabled = true;
	c->latch.capacity = 1048576;
	c->latch.idle_tcp = 7440;      /* RFC 5382 REQ-5: 2 h 4 min */
	c->latch.idle_udp = 60;
	c->latch.idle_icmp = 10;
	c->latch.idle_other = 30;
	c->latch.break_close_s = 10;
	return c;
}

/* ---- parse-time indexes (struct idx) ---------------------------------- */

static bool pc_index_init(struct pc *pc, const struct table *t, size_t n)
{
	if (t == &sa_table)
		return idx_init(&pc->sa_name, n) && idx_init(&pc->sa_spi, n) &&
		       (pc->sa_first = calloc(n + 1, sizeof(*pc->sa_first))) != NULL;
	if (t == &policy_table)
		return idx_init(&pc->pol_name, n) &&
		       (pc->pri_head = calloc(2 * 65536, sizeof(*pc->pri_head))) != NULL &&
		       (pc->pri_next = calloc(n + 1, sizeof(*pc->pri_next))) != NULL;
	return true;
}

static void pc_index_add(struct pc *pc, const struct table *t, const void *obj, uint32_t i)
{
	if (t == &sa_table) {
		const struct lg_conf_sa *sa = obj;

		idx_add(&pc->sa_name, name_hash(sa->name), i);
		idx_add(&pc->sa_spi, spi_key(sa->dir, sa->spi), i);
	} else if (t == &policy_table) {
		const struct lg_conf_policy *p = obj;
		uint32_t *h = &pc->pri_head[p->dir * 65536u + p->priority];

		idx_add(&pc->pol_name, name_hash(p->name), i);
		pc->pri_next[i] = *h;
		*h = i + 1;
		if (p->action == LG_ACT_PROTECT && pc->sa_first[p->sa] == 0)
			pc->sa_first[p->sa] = i + 1;
	}
}

/* ---- API --------------------------------------------------------------- */

struct lg_conf *lg_config_parse(const char *text, size_t len, const char *file,
				char *err, size_t errlen)
{
	struct pc pc = { .file = file != NULL ? file : "(config)", .err = err, .errlen = errlen,
			 .indexed = true };
	yaml_parser_t parser;
	yaml_document_t doc;
	int rc = -1;

	say(err, errlen, "%s", "");
	pc.conf = create(&pc);
	if (pc.conf == NULL)
		return NULL;
	if (!yaml_parser_initialize(&parser)) {
		oom(&pc);
		lg_config_free(pc.conf);
		return NULL;
	}
	if (text == NULL)
		text = "", len = 0;    /* libyaml asserts on NULL input */
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		syntax(&pc, &parser, text, len);
	} else {
		pc.doc = &doc;
		rc = single(&pc, &parser, text, len);
		if (rc == 0)
			rc = root(&pc);
		doc_wipe(&doc);
	}
	parser_wipe(&parser);
	pc_index_free(&pc);
	if (rc != 0) {
		lg_config_free(pc.conf);
		return NULL;
	}
	return pc.conf;
}

/* realloc() would leave the old copy, key text included, in the heap. */
static char *grow(char *buf, size_t n, size_t *cap)
{
	char *bigger = *cap < LOAD_MAX ? malloc(2 * *cap) : NULL;

	if (bigger != NULL)
		memcpy(bigger, buf, n);
	explicit_bzero(buf, n);
	free(buf);
	*cap *= 2;
	return bigger;
}

static char *slurp(int fd, size_t *len, int *e)
{
	size_t cap = 1u << 16, n = 0;
	char *buf = malloc(cap);
	ssize_t r;

	while (buf != NULL) {
		if (n == cap && (buf = grow(buf, n, &cap)) == NULL)
			break;
		r = read(fd, buf + n, cap - n);
		if (r > 0) {
			n += (size_t)r;
		} else if (r == 0) {
			*len = n;
			return buf;
		} else if (errno != EINTR) {
			*e = errno;
			explicit_bzero(buf, n);
			free(buf);
			return NULL;
		}
	}
	*e = cap > LOAD_MAX ? EFBIG : ENOMEM;
	return NULL;
}

struct lg_conf *lg_config_load(const char *path, char *err, size_t errlen)
{
	struct lg_conf *conf;
	size_t len = 0;
	char *text;
	int fd, e = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		say(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	text = slurp(fd, &len, &e);
	close(fd);
	if (text == NULL) {
		if (e == ENOMEM)
			say(err, errlen, "%s: out of memory", path);
		else
			say(err, errlen, "%s: cannot read: %s", path, strerror(e));
		return NULL;
	}
	conf = lg_config_parse(text, len, path, err, errlen);
	explicit_bzero(text, len);
	free(text);
	return conf;
}

void lg_config_free(struct lg_conf *conf)
{
	if (conf == NULL)
		return;
	/* cipher_key, auth_key and salt (or nonce) of every SA */
	if (conf->sas != NULL)
		explicit_bzero(conf->sas, conf->nsas * sizeof(*conf->sas));
	for (uint32_t i = 0; i < conf->nwarnings; i++)
		free(conf->warnings[i]);
	free(conf->warnings);
	for (uint32_t i = 0; i < conf->neal; i++)
		free(conf->eal[i]);
	free(conf->eal);
	free(conf->ports);
	free(conf->peers);
	free(conf->sas);
	free(conf->policies);
	free(conf->routes);
	free(conf->file);
	free(conf);
}

static const char *name_of(const char *const *names, size_t n, unsigned i)
{
	return i < n && names[i] != NULL ? names[i] : "unknown";
}

const char *lg_cipher_name(enum lg_cipher c)
{
	return name_of(cipher_names, ARRAY_SIZE(cipher_names), (unsigned)c);
}

const char *lg_auth_name(enum lg_auth a)
{
	return name_of(auth_names, ARRAY_SIZE(auth_names), (unsigned)a);
}

/* NULL (and "" if len > 0) when buf is too small, like lg_addr_format(). */
char *lg_suite_format(const struct lg_conf_sa *sa, char *buf, size_t len)
{
	int n = sa->auth == LG_AUTH_AEAD ?
		snprintf(buf, len, "%s", lg_cipher_name(sa->cipher)) :
		snprintf(buf, len, "%s/%s", lg_cipher_name(sa->cipher), lg_auth_name(sa->auth));

	if (n < 0 || (size_t)n >= len) {
		if (len > 0)
			buf[0] = '\0';
		return NULL;
	}
	return buf;
}

const char *lg_action_name(enum lg_action a)
{
	return name_of(action_names, ARRAY_SIZE(action_names), (unsigned)a);
}

const char *lg_dir_name(enum lg_dir d)
{
	return name_of(dir_names, ARRAY_SIZE(dir_names), (unsigned)d);
}

/* "none" for an absent address; NULL (and "" if len > 0) when buf is too small. */
char *lg_addr_format(const struct lg_addr *a, char *buf, size_t len)
{
	int af = a->af == LG_AF_INET ? AF_INET : a->af == LG_AF_INET6 ? AF_INET6 : AF_UNSPEC;

	if (af == AF_UNSPEC) {
		if (len < sizeof("none")) {
			if (len > 0)
				buf[0] = '\0';
			return NULL;
		}
		memcpy(buf, "none", sizeof("none"));
		return buf;
	}
	if (inet_ntop(af, a->b, buf, (socklen_t)len) == NULL) {
		if (len > 0)
			buf[0] = '\0';
		return NULL;
	}
	return buf;
}

/* ---- runtime edits ----------------------------------------------------- */

/* Items are flat structs: a copy is a memcpy per list, with room for one more. */
static void *dup_items(const void *a, uint32_t n, size_t size)
{
	void *b = calloc(n + 1, size);

	if (b != NULL && n != 0)
		memcpy(b, a, n * size);
	return b;
}

struct lg_conf *lg_config_copy(const struct lg_conf *c)
{
	struct lg_conf *d = calloc(1, sizeof(*d));
	bool ok;

	if (d == NULL)
		return NULL;
	*d = *c;
	d->file = strdup(c->file);
	d->eal = calloc(c->neal + 1, sizeof(*d->eal));
	d->ports = dup_items(c->ports, c->nports, sizeof(*c->ports));
	d->peers = dup_items(c->peers, c->npeers, sizeof(*c->peers));
	d->sas = dup_items(c->sas, c->nsas, sizeof(*c->sas));
	d->policies = dup_items(c->policies, c->npolicies, sizeof(*c->policies));
	d->routes = dup_items(c->routes, c->nroutes, sizeof(*c->routes));
	d->warnings = calloc(c->nwarnings + 1, sizeof(*d->warnings));
	ok = d->file && d->eal && d->ports && d->peers && d->sas && d->policies && d->routes &&
	     d->warnings;
	for (uint32_t i = 0; ok && i < c->neal; i++)
		ok = (d->eal[i] = strdup(c->eal[i])) != NULL;
	for (uint32_t i = 0; ok && i < c->nwarnings; i++)
		ok = (d->warnings[i] = strdup(c->warnings[i])) != NULL;
	if (!ok) {
		/* lg_config_free() walks neal/nwarnings entries (NULL ones are
		 * fine) and wipes nsas items: the counts must fit the arrays. */
		if (d->sas == NULL)
			d->nsas = 0;
		if (d->eal == NULL)
			d->neal = 0;
		if (d->warnings == NULL)
			d->nwarnings = 0;
		lg_config_free(d);
		return NULL;
	}
	return d;
}

/* A node at an item's recorded place, so that a re-check made after an edit
 * reports where the item was written. */
static yaml_node_t at_node(struct lg_where w)
{
	yaml_node_t n;

	memset(&n, 0, sizeof(n));
	n.start_mark.line = w.line ? w.line - 1 : 0;
	n.start_mark.column = w.col ? w.col - 1 : 0;
	return n;
}

/*
 * After an SA is replaced, the policies that use it are checked again as
 * the loader checks them: same direction, and the family rules of
 * policy_family() seeing only the policies before each one.
 */
static int recheck_sa_users(struct pc *pc, uint32_t sa)
{
	struct lg_conf *c = pc->conf;
	uint32_t n = c->npolicies;
	int rc = 0;

	c->sas[sa].inner_af = c->sas[sa].local.af;
	for (uint32_t i = 0; i < n && rc == 0; i++) {
		const struct lg_conf_policy *p = &c->policies[i];
		yaml_node_t v = at_node(p->at);

		if (p->action != LG_ACT_PROTECT || p->sa != sa)
			continue;
		if (c->sas[sa].dir != p->dir)
			return fail(pc, &v, "sa", "policy '%s' uses SA '%s' as %s, the new SA is %s",
				    p->name, c->sas[sa].name, lg_dir_name(p->dir),
				    lg_dir_name(c->sas[sa].dir));
		c->npolicies = i;
		rc = policy_family(pc, p, &v);
		c->npolicies = n;
	}
	return rc;
}

/* Parse member `member` of the request's root mapping with table t into obj. */
static int parse_member(struct pc *pc, const char *text, size_t len, const char *member,
			const struct table *t, void *obj)
{
	static const yaml_node_t start;
	yaml_parser_t parser;
	yaml_document_t doc;
	const yaml_node_t *r, *v = NULL;
	struct pair seen[FIELDS_MAX];
	int rc = -1;

	if (!yaml_parser_initialize(&parser))
		return oom(pc);
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		syntax(pc, &parser, text, len);
		parser_wipe(&parser);
		return -1;
	}
	pc->doc = &doc;
	r = yaml_document_get_root_node(&doc);
	if (r != NULL && r->type == YAML_MAPPING_NODE) {
		for (const yaml_node_pair_t *p = r->data.mapping.pairs.start;
		     p < r->data.mapping.pairs.top; p++) {
			const char *k = scalar(node(pc, p->key));

			if (k != NULL && strcmp(k, member) == 0)
				v = node(pc, p->value);
		}
	}
	if (v == NULL) {
		rc = fail(pc, r != NULL ? r : &start, member, "missing required key");
	} else if (v->type != YAML_MAPPING_NODE) {
		rc = fail(pc, v, member, "expected a mapping");
	} else {
		/* As items_parse's calloc'ed arrays: unset fields are zero. */
		memset(obj, 0, t->size);
		if (t->defaults != NULL)
			memcpy(obj, t->defaults, t->size);
		*(struct lg_where *)((char *)obj + t->at_off) = where(v);
		rc = map_parse(pc, member, v, t, obj, seen);
		if (rc != 0)
			explicit_bzero(obj, t->size);
	}
	pc->doc = NULL;
	doc_wipe(&doc);
	parser_wipe(&parser);
	return rc;
}

static int sa_edit(struct pc *pc, enum lg_edit_op op, const char *text, size_t len,
		   const char *name)
{
	struct lg_conf *c = pc->conf;
	struct lg_conf_sa sa;
	int i = -1;
	uint32_t n = c->nsas;

	if (op == LG_EDIT_DELETE) {
		i = lg_config_sa_find(c, name);
		if (i < 0) {
			say(pc->err, pc->errlen, "%s: unknown SA '%s'", pc->file, name);
			return -1;
		}
		for (uint32_t j = 0; j < c->npolicies; j++) {
			if (c->policies[j].action == LG_ACT_PROTECT && c->policies[j].sa == (uint32_t)i) {
				say(pc->err, pc->errlen, "%s: SA '%s' is used by policy '%s':"
				    " delete or change the policy first", pc->file, name,
				    c->policies[j].name);
				return -1;
			}
		}
		explicit_bzero(&c->sas[i], sizeof(c->sas[i]));
		memmove(&c->sas[i], &c->sas[i + 1], (n - (uint32_t)i - 1) * sizeof(c->sas[0]));
		explicit_bzero(&c->sas[n - 1], sizeof(c->sas[0]));
		c->nsas = n - 1;
		for (uint32_t j = 0; j < c->npolicies; j++)
			if (c->policies[j].action == LG_ACT_PROTECT && c->policies[j].sa > (uint32_t)i)
				c->policies[j].sa--;
		return 0;
	}
	if (op == LG_EDIT_REPLACE) {
		i = lg_config_sa_find(c, name);
		if (i < 0) {
			say(pc->err, pc->errlen, "%s: unknown SA '%s'", pc->file, name);
			return -1;
		}
		/* Hide the old version from the name and SPI checks. */
		c->sas[i].name[0] = '\0';
		c->sas[i].spi = 0;
	}
	if (parse_member(pc, text, len, "sa", &sa_table, &sa) != 0)
		return -1;
	if (op == LG_EDIT_REPLACE && strcmp(sa.name, name) != 0) {
		say(pc->err, pc->errlen, "%s: key 'name': the SA replaced is '%s', the new one"
		    " must have the same name (got '%s')", pc->file, name, sa.name);
		explicit_bzero(&sa, sizeof(sa));
		return -1;
	}
	/* A replace is a rekey: an SA that changes direction is another SA. */
	if (op == LG_EDIT_REPLACE && sa.dir != c->sas[i].dir) {
		say(pc->err, pc->errlen, "%s: key 'direction': SA '%s' is %s; delete it and add"
		    " a new one to change direction", pc->file, name, lg_dir_name(c->sas[i].dir));
		explicit_bzero(&sa, sizeof(sa));
		return -1;
	}
	if (op == LG_EDIT_ADD)
		i = (int)c->nsas++;
	explicit_bzero(&c->sas[i], sizeof(c->sas[i]));
	c->sas[i] = sa;
	explicit_bzero(&sa, sizeof(sa));
	return op == LG_EDIT_REPLACE ? recheck_sa_users(pc, (uint32_t)i) : 0;
}

static int policy_edit(struct pc *pc, enum lg_edit_op op, const char *text, size_t len,
		       const char *name)
{
	struct lg_conf *c = pc->conf;
	struct lg_conf_policy p;
	int i = -1;

	if (op != LG_EDIT_ADD) {
		i = policy_find(c, name);
		if (i < 0) {
			say(pc->err, pc->errlen, "%s: unknown policy '%s'", pc->file, name);
			return -1;
		}
	}
	if (op == LG_EDIT_DELETE) {
		memmove(&c->policies[i], &c->policies[i + 1],
			(c->npolicies - (uint32_t)i - 1) * sizeof(c->policies[0]));
		c->npolicies--;
		return 0;
	}
	if (op == LG_EDIT_REPLACE) {
		/* Out of the way of the name, family and order checks (valid
		 * priorities end at 65535). */
		c->policies[i].name[0] = '\0';
		c->policies[i].action = LG_ACT_DISCARD;
		c->policies[i].priority = UINT32_MAX;
	}
	if (parse_member(pc, text, len, "policy", &policy_table, &p) != 0)
		return -1;
	if (op == LG_EDIT_REPLACE && strcmp(p.name, name) != 0) {
		say(pc->err, pc->errlen, "%s: key 'name': the policy replaced is '%s', the new"
		    " one must have the same name (got '%s')", pc->file, name, p.name);
		return -1;
	}
	if (op == LG_EDIT_ADD)
		i = (int)c->npolicies++;
	c->policies[i] = p;
	return 0;
}

struct lg_conf *lg_config_edit(const struct lg_conf *base, enum lg_edit_kind kind,
			       enum lg_edit_op op, const char *text, size_t len,
			       const char *name, char *err, size_t errlen)
{
	struct pc pc = { .file = "request", .err = err, .errlen = errlen };
	int rc;

	say(err, errlen, "%s", "");
	pc.conf = lg_config_copy(base);
	if (pc.conf == NULL) {
		oom(&pc);
		return NULL;
	}
	if (text == NULL)
		text = "", len = 0;
	rc = kind == LG_EDIT_SA ? sa_edit(&pc, op, text, len, name) :
				  policy_edit(&pc, op, text, len, name);
	if (rc != 0) {
		lg_config_free(pc.conf);
		return NULL;
	}
	return pc.conf;
}
