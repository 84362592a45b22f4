/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * control/json.c: a table of accepted documents checked value by value, a
 * table of refused ones with the exact offset and reason, and random byte
 * strings that must never crash or be accepted half-way.
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "harness.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static struct lg_json j;

static int
parse(const char *s, size_t *off, const char **err)
{
	return lg_json_parse(&j, s, strlen(s), off, err);
}

static void
test_accepts_requests_and_reads_members(void)
{
	const char *s = "{\"op\":\"latch-close\", \"id\": 42, \"x\": [1, {\"y\": null}, true],"
			" \"e\": \"a\\u00e9\\n\\ud83d\\ude00\"}";
	size_t off;
	const char *err, *op, *e;
	uint64_t id;

	CU_ASSERT_EQUAL_FATAL(parse(s, &off, &err), 0);
	CU_ASSERT_EQUAL(lg_json_string(&j, 0, "op", &op), 0);
	CU_ASSERT_STRING_EQUAL(op, "latch-close");
	CU_ASSERT_EQUAL(lg_json_u64(&j, 0, "id", 100, &id), 0);
	CU_ASSERT_EQUAL(id, 42);
	CU_ASSERT_EQUAL(lg_json_u64(&j, 0, "id", 41, &id), -EINVAL);     /* over max */
	CU_ASSERT_EQUAL(lg_json_u64(&j, 0, "op", 100, &id), -EINVAL);    /* a string */
	CU_ASSERT_EQUAL(lg_json_u64(&j, 0, "nope", 100, &id), -ENOENT);
	CU_ASSERT_EQUAL(lg_json_string(&j, 0, "e", &e), 0);
	CU_ASSERT_STRING_EQUAL(e, "a\xc3\xa9\n\xf0\x9f\x98\x80");
	CU_ASSERT_PTR_NOT_NULL(lg_json_get(&j, 0, "x"));
	CU_ASSERT_EQUAL(lg_json_get(&j, 0, "x")->type, LG_JSON_ARRAY);
}

static void
test_accepts_every_value_kind(void)
{
	static const char *const ok[] = {
		"{}", "[]", "0", "-0", "1.5e3", "-2E-2", "\"\"", "true", "false", "null",
		" { \"a\" : [ ] } ", "[[[[1]]]]", "{\"a\":{\"b\":{\"c\":1}}}",
	};
	size_t off, i;
	const char *err;

	for (i = 0; i < ARRAY_SIZE(ok); i++) {
		CU_ASSERT_EQUAL(parse(ok[i], &off, &err), 0);
		if (parse(ok[i], &off, &err) != 0)
			fprintf(stderr, "\n  refused %s: %s at %zu\n", ok[i], err, off);
	}
}

static void
test_refuses_with_offset_and_reason(void)
{
	static const struct { const char *s; size_t off; const char *err; } bad[] = {
		{ "", 0, "expected a value" },
		{ "{\"op\":\"stats\"", 13, "expected ',' or '}'" },
		{ "{\"op\":\"stats\"}x", 14, "trailing characters" },
		{ "{\"op\" \"stats\"}", 6, "expected ':'" },
		{ "{op:1}", 1, "expected a member name" },
		{ "{\"a\":1,}", 7, "expected a member name" },
		{ "[1,]", 3, "expected a value" },
		{ "{\"a\":1,\"a\":2}", 7, "duplicate member name" },
		{ "\"abc", 4, "unterminated string" },
		{ "\"a\\q\"", 3, "bad escape" },
		{ "\"\\ud800\"", 7, "lone high surrogate" },
		{ "\"\\udc00\"", 7, "lone low surrogate" },
		{ "\"\\u0000\"", 7, "NUL in string" },
		{ "\"a\tb\"", 2, "control character in string" },
		{ "01", 1, "trailing characters" },
		{ "1.", 0, "bad number" },
		{ "-", 0, "expected a value" },
		{ "1e999", 0, "number out of range" },
		{ "tru", 0, "expected a value" },
		{ "nul", 0, "expected a value" },
		{ "[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]", 16, "nested too deep" },
	};
	size_t off, i;
	const char *err;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		int rc = parse(bad[i].s, &off, &err);

		CU_ASSERT_EQUAL(rc, -1);
		if (rc == 0)
			continue;
		CU_ASSERT_EQUAL(off, bad[i].off);
		CU_ASSERT_STRING_EQUAL(err, bad[i].err);
		if (off != bad[i].off || strcmp(err, bad[i].err) != 0)
			fprintf(stderr, "\n  '%s': got %s at %zu, wanted %s at %zu\n", bad[i].s, err,
				off, bad[i].err, bad[i].off);
	}
}

static void
test_bounds_hold(void)
{
	static char big[4096];
	size_t off, i;
	const char *err;

	/* More values than nodes. */
	big[0] = '[';
	for (i = 0; i < 600; i++)
		memcpy(big + 1 + 2 * i, "1,", 2);
	big[1 + 2 * 600 - 1] = ']';
	big[1 + 2 * 600] = '\0';
	CU_ASSERT_EQUAL(parse(big, &off, &err), -1);
	CU_ASSERT_STRING_EQUAL(err, "too many values");
}

/* Random bytes and random JSON-ish tokens: never a crash (run under
 * valgrind/ASan), every answer is a clean accept or a refusal. */
static void
test_random_input_is_safe(void)
{
	static const char *const tok[] = { "{", "}", "[", "]", ",", ":", "\"a\"", "1", "-",
					   "\"\\u", "e", "true", " ", "\"", "\\", "0x" };
	char buf[256];
	size_t off, i, k, n;
	const char *err;
	unsigned seed = 4303;

	for (i = 0; i < 20000; i++) {
		n = 0;
		for (k = 0; k < 20 && n < sizeof(buf) - 8; k++) {
			const char *t = tok[rand_r(&seed) % ARRAY_SIZE(tok)];

			memcpy(buf + n, t, strlen(t));
			n += strlen(t);
		}
		if (i & 1)
			for (k = 0; k < n; k++)
				buf[k] = (char)(rand_r(&seed) & 0xff);
		if (lg_json_parse(&j, buf, n, &off, &err) != 0)
			CU_ASSERT_TRUE(off <= n && err != NULL);
	}
}

/* What a printer escapes, the reader gives back exactly. */
static void
test_escape_round_trips(void)
{
	static const char *const in[] = { "fqdn:gw-b.example.net", "dn:CN=\"q\",O=a\\b",
					  "tab\there", "" };
	char body[LG_JSON_STR_MAX(64)], line[LG_JSON_STR_MAX(64) + 16];
	const char *out, *err;
	size_t off;

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		lg_json_escape(body, sizeof(body), in[i]);
		snprintf(line, sizeof(line), "{\"s\":\"%s\"}", body);
		CU_ASSERT_EQUAL_FATAL(lg_json_parse(&j, line, strlen(line), &off, &err), 0);
		CU_ASSERT_EQUAL(lg_json_string(&j, 0, "s", &out), 0);
		CU_ASSERT_STRING_EQUAL(out, in[i]);
	}
	/* A buffer too small cuts the string short, never overflows. */
	CU_ASSERT(lg_json_escape(body, 8, "abcdefghij") < 8);
}

int
main(void)
{
	static const struct lg_test tests[] = {
		{ "json: accepts requests and reads members", test_accepts_requests_and_reads_members },
		{ "json: accepts every value kind", test_accepts_every_value_kind },
		{ "json: refuses with offset and reason", test_refuses_with_offset_and_reason },
		{ "json: bounds hold", test_bounds_hold },
		{ "json: random input is safe", test_random_input_is_safe },
		{ "json: escaping round-trips", test_escape_round_trips },
	};

	return lg_test_run("json", tests, ARRAY_SIZE(tests));
}
