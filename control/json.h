/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef LG_JSON_H
#define LG_JSON_H

/*
 * A strict, small JSON reader for control-socket requests (RFC 8259): one
 * value per line, parsed into a fixed array of nodes (no allocation beyond
 * the caller's struct), nesting and node count bounded, strings unescaped
 * in place into a copy of the input. Why our own: DPDK has none, the
 * requests are tiny and hostile input must be refused exactly, with the
 * offset of the first error; pulling in a general JSON library for that
 * adds more code to audit than this file.
 *
 * Pure C, no DPDK; control thread only.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum lg_json_type { LG_JSON_NULL, LG_JSON_BOOL, LG_JSON_NUMBER, LG_JSON_STRING,
		    LG_JSON_ARRAY, LG_JSON_OBJECT };

#define LG_JSON_NODES 256
#define LG_JSON_DEPTH 16
#define LG_JSON_TEXT 65536

struct lg_json_node {
	uint8_t type;             /* enum lg_json_type */
	bool b;
	double num;
	const char *str;          /* STRING: NUL-terminated, unescaped */
	const char *key;          /* member name when the parent is an object */
	uint32_t parent;          /* index; the root is its own parent */
	uint32_t next;            /* next sibling, 0 = none */
	uint32_t child;           /* first child of an array/object, 0 = none */
};

struct lg_json {
	struct lg_json_node n[LG_JSON_NODES];
	uint32_t count;
	char text[LG_JSON_TEXT];  /* unescaped strings live here */
};

/* control */
/* Parse len bytes; 0 on success, else -1 with *err_off at the first error
 * and *err a short reason ("expected ':'", ...). Duplicate member names are
 * an error (RFC 8259 §4 leaves them undefined: refuse, do not guess). */
int lg_json_parse(struct lg_json *j, const char *s, size_t len, size_t *err_off,
		  const char **err);
/* Member `key` of object node `obj` (0 = the root), or NULL. */
const struct lg_json_node *lg_json_get(const struct lg_json *j, uint32_t obj, const char *key);
/* Convenience for object members: 0 ok, -ENOENT absent, -EINVAL wrong type/range. */
int lg_json_string(const struct lg_json *j, uint32_t obj, const char *key, const char **out);
int lg_json_u64(const struct lg_json *j, uint32_t obj, const char *key, uint64_t max,
		uint64_t *out);

/* s as the body of a JSON string ('"', '\\' and control bytes escaped), cut
 * short rather than overflow; returns its length. LG_JSON_STR_MAX(n) holds
 * any string of fewer than n bytes. */
#define LG_JSON_STR_MAX(n) (6 * (n) + 8)
size_t lg_json_escape(char *dst, size_t cap, const char *s);

#endif /* LG_JSON_H */
