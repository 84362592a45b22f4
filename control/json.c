/* SPDX-License-Identifier: BSD-3-Clause */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

struct rd {
	const char *s, *end, *p;
	struct lg_json *j;
	size_t out;               /* used bytes of j->text */
	const char *err;
	int depth;
};

static void
ws(struct rd *r)
{
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
		r->p++;
}

static int
fail(struct rd *r, const char *why)
{
	if (r->err == NULL)
		r->err = why;
	return -1;
}

static int32_t
node(struct rd *r, uint8_t type, uint32_t parent)
{
	struct lg_json_node *n;

	if (r->j->count == LG_JSON_NODES)
		return fail(r, "too many values");
	n = &r->j->n[r->j->count];
	memset(n, 0, sizeof(*n));
	n->type = type;
	n->parent = parent;
	return (int32_t)r->j->count++;
}

static int
hex4(const char *p, unsigned *v)
{
	int i;

	*v = 0;
	for (i = 0; i < 4; i++) {
		char c = p[i];

		*v <<= 4;
		if (c >= '0' && c <= '9')
			*v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			*v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			*v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	return 0;
}

static int
put(struct rd *r, char c)
{
	if (r->out + 1 >= sizeof(r->j->text))
		return fail(r, "request too long");
	r->j->text[r->out++] = c;
	return 0;
}

/* UTF-8 of a code point (RFC 8259 §7), surrogate pairs joined. */
static int
put_utf8(struct rd *r, unsigned cp)
{
	if (cp < 0x80)
		return put(r, (char)cp);
	if (cp < 0x800)
		return put(r, (char)(0xc0 | cp >> 6)) || put(r, (char)(0x80 | (cp & 0x3f)));
	if (cp < 0x10000)
		return put(r, (char)(0xe0 | cp >> 12)) || put(r, (char)(0x80 | ((cp >> 6) & 0x3f))) ||
		       put(r, (char)(0x80 | (cp & 0x3f)));
	return put(r, (char)(0xf0 | cp >> 18)) || put(r, (char)(0x80 | ((cp >> 12) & 0x3f))) ||
	       put(r, (char)(0x80 | ((cp >> 6) & 0x3f))) || put(r, (char)(0x80 | (cp & 0x3f)));
}

static int
escape(struct rd *r)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *e;
	unsigned cp, lo;

	if (r->p >= r->end)
		return fail(r, "unterminated string");
	e = strchr(from, *r->p);
	if (e != NULL && *r->p != '\0') {
		r->p++;
		return put(r, to[e - from]);
	}
	if (*r->p != 'u' || r->end - r->p < 5 || hex4(r->p + 1, &cp) != 0)
		return fail(r, "bad escape");
	r->p += 5;
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return fail(r, "lone low surrogate");
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u' ||
		    hex4(r->p + 2, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
			return fail(r, "lone high surrogate");
		r->p += 6;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	if (cp == 0)
		return fail(r, "NUL in string");
	return put_utf8(r, cp);
}

/* A string; returns its start in j->text. */
static const char *
string(struct rd *r)
{
	const char *start = &r->j->text[r->out];

	r->p++;                   /* opening quote */
	while (r->p < r->end && *r->p != '"') {
		unsigned char c = (unsigned char)*r->p;

		if (c < 0x20) {
			fail(r, "control character in string");
			return NULL;
		}
		if (c == '\\') {
			r->p++;
			if (escape(r) != 0)
				return NULL;
			continue;
		}
		if (put(r, (char)c) != 0)
			return NULL;
		r->p++;
	}
	if (r->p >= r->end) {
		fail(r, "unterminated string");
		return NULL;
	}
	r->p++;
	return put(r, '\0') == 0 ? start : NULL;
}

static int value(struct rd *r, uint32_t parent, const char *key, int32_t *idx);

static int
number(struct rd *r, struct lg_json_node *n)
{
	const char *q = r->p;
	char buf[64];
	char *end;

	/* RFC 8259 §6 grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
	if (q < r->end && *q == '-')
		q++;
	if (q < r->end && *q == '0')
		q++;
	else if (q < r->end && *q >= '1' && *q <= '9')
		while (q < r->end && *q >= '0' && *q <= '9')
			q++;
	else
		return fail(r, "expected a value");
	if (q < r->end && *q == '.') {
		if (++q >= r->end || *q < '0' || *q > '9')
			return fail(r, "bad number");
		while (q < r->end && *q >= '0' && *q <= '9')
			q++;
	}
	if (q < r->end && (*q == 'e' || *q == 'E')) {
		q++;
		if (q < r->end && (*q == '+' || *q == '-'))
			q++;
		if (q >= r->end || *q < '0' || *q > '9')
			return fail(r, "bad number");
		while (q < r->end && *q >= '0' && *q <= '9')
			q++;
	}
	if ((size_t)(q - r->p) >= sizeof(buf))
		return fail(r, "number too long");
	memcpy(buf, r->p, (size_t)(q - r->p));
	buf[q - r->p] = '\0';
	n->num = strtod(buf, &end);
	if (!isfinite(n->num))
		return fail(r, "number out of range");
	r->p = q;
	return 0;
}

static int
word(struct rd *r, const char *w)
{
	size_t l = strlen(w);

	if ((size_t)(r->end - r->p) < l || memcmp(r->p, w, l) != 0)
		return fail(r, "expected a value");
	r->p += l;
	return 0;
}

static int
link_child(struct rd *r, uint32_t parent, int32_t *last, int32_t idx)
{
	if (*last < 0)
		r->j->n[parent].child = (uint32_t)idx;
	else
		r->j->n[*last].next = (uint32_t)idx;
	*last = idx;
	return 0;
}

static int
members(struct rd *r, uint32_t obj)
{
	int32_t last = -1, idx;

	r->p++;
	ws(r);
	if (r->p < r->end && *r->p == '}') {
		r->p++;
		return 0;
	}
	for (;;) {
		const char *key, *at;

		ws(r);
		if (r->p >= r->end || *r->p != '"')
			return fail(r, "expected a member name");
		at = r->p;
		key = string(r);
		if (key == NULL)
			return -1;
		if (lg_json_get(r->j, obj, key) != NULL) {
			r->p = at;
			return fail(r, "duplicate member name");
		}
		ws(r);
		if (r->p >= r->end || *r->p != ':')
			return fail(r, "expected ':'");
		r->p++;
		if (value(r, obj, key, &idx) != 0)
			return -1;
		link_child(r, obj, &last, idx);
		ws(r);
		if (r->p < r->end && *r->p == ',') {
			r->p++;
			continue;
		}
		if (r->p < r->end && *r->p == '}') {
			r->p++;
			return 0;
		}
		return fail(r, "expected ',' or '}'");
	}
}

static int
elements(struct rd *r, uint32_t arr)
{
	int32_t last = -1, idx;

	r->p++;
	ws(r);
	if (r->p < r->end && *r->p == ']') {
		r->p++;
		return 0;
	}
	for (;;) {
		if (value(r, arr, NULL, &idx) != 0)
			return -1;
		link_child(r, arr, &last, idx);
		ws(r);
		if (r->p < r->end && *r->p == ',') {
			r->p++;
			continue;
		}
		if (r->p < r->end && *r->p == ']') {
			r->p++;
			return 0;
		}
		return fail(r, "expected ',' or ']'");
	}
}

static int
value(struct rd *r, uint32_t parent, const char *key, int32_t *idx)
{
	struct lg_json_node *n;
	int rc = 0;

	ws(r);
	if (r->p >= r->end)
		return fail(r, "expected a value");
	switch (*r->p) {
	case '{': *idx = node(r, LG_JSON_OBJECT, parent); break;
	case '[': *idx = node(r, LG_JSON_ARRAY, parent); break;
	case '"': *idx = node(r, LG_JSON_STRING, parent); break;
	case 't': case 'f': *idx = node(r, LG_JSON_BOOL, parent); break;
	case 'n': *idx = node(r, LG_JSON_NULL, parent); break;
	default: *idx = node(r, LG_JSON_NUMBER, parent); break;
	}
	if (*idx < 0)
		return -1;
	n = &r->j->n[*idx];
	n->key = key;
	switch (n->type) {
	case LG_JSON_OBJECT:
	case LG_JSON_ARRAY:
		if (++r->depth > LG_JSON_DEPTH)
			return fail(r, "nested too deep");
		rc = n->type == LG_JSON_OBJECT ? members(r, (uint32_t)*idx) : elements(r, (uint32_t)*idx);
		r->depth--;
		break;
	case LG_JSON_STRING:
		n->str = string(r);
		rc = n->str == NULL ? -1 : 0;
		break;
	case LG_JSON_BOOL:
		n->b = *r->p == 't';
		rc = word(r, n->b ? "true" : "false");
		break;
	case LG_JSON_NULL:
		rc = word(r, "null");
		break;
	default:
		rc = number(r, n);
	}
	return rc;
}

int
lg_json_parse(struct lg_json *j, const char *s, size_t len, size_t *err_off, const char **err)
{
	struct rd r = { .s = s, .end = s + len, .p = s, .j = j };
	int32_t root;

	j->count = 0;
	if (value(&r, 0, NULL, &root) == 0) {
		ws(&r);
		if (r.p == r.end)
			return 0;
		fail(&r, "trailing characters");
	}
	*err_off = (size_t)(r.p - s);
	*err = r.err != NULL ? r.err : "invalid JSON";
	return -1;
}

const struct lg_json_node *
lg_json_get(const struct lg_json *j, uint32_t obj, const char *key)
{
	uint32_t c;

	if (obj >= j->count || j->n[obj].type != LG_JSON_OBJECT)
		return NULL;
	for (c = j->n[obj].child; c != 0; c = j->n[c].next) {
		if (j->n[c].key != NULL && strcmp(j->n[c].key, key) == 0)
			return &j->n[c];
	}
	return NULL;
}

int
lg_json_string(const struct lg_json *j, uint32_t obj, const char *key, const char **out)
{
	const struct lg_json_node *n = lg_json_get(j, obj, key);

	if (n == NULL)
		return -ENOENT;
	if (n->type != LG_JSON_STRING)
		return -EINVAL;
	*out = n->str;
	return 0;
}

int
lg_json_u64(const struct lg_json *j, uint32_t obj, const char *key, uint64_t max, uint64_t *out)
{
	const struct lg_json_node *n = lg_json_get(j, obj, key);

	if (n == NULL)
		return -ENOENT;
	/* Integers only, exactly representable (2^53). */
	if (n->type != LG_JSON_NUMBER || n->num < 0 || n->num != floor(n->num) ||
	    n->num > 9007199254740992.0 || n->num > (double)max)
		return -EINVAL;
	*out = (uint64_t)n->num;
	return 0;
}

size_t
lg_json_escape(char *dst, size_t cap, const char *s)
{
	size_t n = 0;

	for (; *s != '\0' && n + 7 < cap; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\') {
			dst[n++] = '\\';
			dst[n++] = (char)ch;
		} else if (ch < 0x20) {
			n += (size_t)snprintf(dst + n, cap - n, "\\u%04x", ch);
		} else {
			dst[n++] = (char)ch;
		}
	}
	if (cap > 0)
		dst[n] = '\0';
	return n;
}
