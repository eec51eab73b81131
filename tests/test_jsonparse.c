/* Unit tests of jsonparse.c: what is JSON, what is refused before json-c
 * allocates, and that the scan's estimate bounds what json-c spends. */
#include "config.h"

#include <CUnit/Basic.h>
#include <json-c/json.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cu_run.h"
#include "jsonparse.h"

/* ---- texts made by code: repeated items, deep nesting ---- */

/* open, n times item joined by ",", close; caller frees. */
static char *repeat(const char *open, const char *item, size_t n,
		    const char *close, size_t *len)
{
	size_t il = strlen(item), ol = strlen(open), cl = strlen(close);
	char *s = malloc(ol + n * (il + 1) + cl + 1);
	size_t k = 0;

	if (s == NULL)
		return NULL;
	memcpy(s, open, ol);
	k = ol;
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			s[k++] = ',';
		memcpy(s + k, item, il);
		k += il;
	}
	memcpy(s + k, close, cl + 1);
	*len = k + cl;
	return s;
}

static char *nest(size_t depth, size_t *len)
{
	char *s = malloc(2 * depth + 1);

	if (s == NULL)
		return NULL;
	memset(s, '[', depth);
	memset(s + depth, ']', depth);
	s[2 * depth] = '\0';
	*len = 2 * depth;
	return s;
}

/* The JSON-RPC batch an agent sends signal-cli: n sends. */
static char *batch(size_t n, size_t *len)
{
	return repeat("[",
		      "{\"jsonrpc\":\"2.0\",\"method\":\"send\",\"params\":"
		      "{\"account\":\"+15550000000\",\"recipient\":"
		      "[\"+15551234567\"],\"message\":\"the meeting moved "
		      "to 3pm\",\"attachments\":[]},\"id\":12345}",
		      n, "]", len);
}

/* An MCP tools/call with nested arguments. */
static char *mcp_call(size_t n, size_t *len)
{
	char *rows, *s;
	size_t rows_len;

	rows = repeat("[", "{\"id\":7,\"tags\":[\"a\",\"b\"],\"score\":0.25,"
			   "\"ok\":true,\"note\":null}",
		      n, "]", &rows_len);
	if (rows == NULL)
		return NULL;
	*len = rows_len + 200;
	s = malloc(*len);
	if (s != NULL)
		*len = (size_t)snprintf(
			s, *len,
			"{\"jsonrpc\":\"2.0\",\"id\":1,"
			"\"method\":\"tools/call\",\"params\":"
			"{\"name\":\"db_insert\",\"arguments\":"
			"{\"table\":\"t\",\"rows\":%s}}}",
			rows);
	free(rows);
	return s;
}

static const char *plain(struct json_object *v)
{
	return json_object_to_json_string_ext(
		v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* ---- the table ---- */

enum gen {
	TEXT,           /* the case's text as it is */
	NEST,           /* n nested arrays */
	OBJECTS,        /* [{},{},...]: n objects */
	ZEROS,          /* [0,0,...] */
	OBJECTS_OPEN,   /* [{},{},... with no end: invalid, and costly */
	LONG_STRING,    /* one string of n bytes */
	BRACES_IN_STRING, /* ["{{{{...": n braces inside a string */
	BATCH,          /* n signal-cli sends */
	MCP,            /* an MCP tools/call with n rows */
};

struct parse_case {
	const char *name;
	const char *text;       /* TEXT */
	size_t len;             /* TEXT: 0 means strlen(text) */
	enum gen gen;
	size_t n;
	int code;               /* JSONPARSE_OK, _INVALID, _TOO_COMPLEX */
	const char *out;        /* on OK: the value, plain ("null": NULL) */
	const char *why;        /* else: a part of the message */
};

#define OK(name, text, out) { name, text, 0, TEXT, 0, JSONPARSE_OK, out, 0 }
#define BAD(name, text, why) \
	{ name, text, 0, TEXT, 0, JSONPARSE_INVALID, NULL, why }

static const struct parse_case cases[] = {
	OK("object", "{\"a\":[1,2.5,\"x\",true,false,null]}",
	   "{\"a\":[1,2.5,\"x\",true,false,null]}"),
	OK("whitespace around", " \t\r\n[ ] \n", "[]"),
	OK("a bare number", "-0.5e-3", "-0.5e-3"),
	OK("a bare literal", "true", "true"),
	OK("null is NULL", "null", "null"),
	OK("int64 max", "9223372036854775807", "9223372036854775807"),
	OK("past int64, within uint64", "9223372036854775808",
	   "9223372036854775808"),
	OK("escapes", "\"a\\\"b\\u00e9\\n\"", "\"a\\\"bé\\n\""),
	OK("UTF-8", "\"gr\xc3\xbc\xc3\x9f\"", "\"grüß\""),
	BAD("empty", "", "empty"),
	BAD("only whitespace", " \n ", "empty"),
	BAD("unfinished", "{\"a\":", NULL),
	BAD("trailing text", "{} x", NULL),
	BAD("two values", "{}{}", NULL),
	{ "trailing NUL", "{}", 3, TEXT, 0, JSONPARSE_INVALID, NULL, NULL },
	{ "NUL within", "[1\0]", 4, TEXT, 0, JSONPARSE_INVALID, NULL, NULL },
	BAD("trailing comma", "[1,]", NULL),
	BAD("single quotes", "'a'", NULL),
	BAD("comment", "[1] /* c */", NULL),
	BAD("NaN", "NaN", "number"),
	BAD("Infinity", "[-Infinity]", "number"),
	BAD("1.", "[1.]", NULL),
	BAD("leading zero", "01", NULL),
	BAD("below int64", "-9223372036854775809", "out of range"),
	BAD("past uint64", "18446744073709551616", "out of range"),
	BAD("bad UTF-8", "\"\xff\"", NULL),
	BAD("raw control character", "\"a\tb\"", "control character"),
	{ "32 levels", NULL, 0, NEST, 32, JSONPARSE_OK, NULL, NULL },
	{ "33 levels", NULL, 0, NEST, 33, JSONPARSE_TOO_COMPLEX, NULL,
	  "nesting too deep" },
	{ "2600 objects", NULL, 0, OBJECTS, 2600, JSONPARSE_OK, NULL, NULL },
	{ "3000 objects", NULL, 0, OBJECTS, 3000, JSONPARSE_TOO_COMPLEX, NULL,
	  "too complex" },
	{ "a 1 MiB body of {}", NULL, 0, OBJECTS, 349525,
	  JSONPARSE_TOO_COMPLEX, NULL, "too complex" },
	{ "26000 zeros", NULL, 0, ZEROS, 26000, JSONPARSE_OK, NULL, NULL },
	{ "100000 zeros", NULL, 0, ZEROS, 100000, JSONPARSE_TOO_COMPLEX, NULL,
	  "too complex" },
	{ "invalid, but costly first", NULL, 0, OBJECTS_OPEN, 10000,
	  JSONPARSE_TOO_COMPLEX, NULL, "too complex" },
	{ "string bytes are not charged", NULL, 0, LONG_STRING, 8 << 20,
	  JSONPARSE_OK, NULL, NULL },
	{ "braces in a string", NULL, 0, BRACES_IN_STRING, 100000,
	  JSONPARSE_OK, NULL, NULL },
	{ "a batch of 450 signal-cli sends", NULL, 0, BATCH, 450,
	  JSONPARSE_OK, NULL, NULL },
	{ "MCP tools/call, 700 rows", NULL, 0, MCP, 700, JSONPARSE_OK, NULL,
	  NULL },
};

static char *make(const struct parse_case *c, size_t *len)
{
	char *s;

	switch (c->gen) {
	case NEST:
		return nest(c->n, len);
	case OBJECTS:
		return repeat("[", "{}", c->n, "]", len);
	case ZEROS:
		return repeat("[", "0", c->n, "]", len);
	case OBJECTS_OPEN:
		return repeat("[", "{}", c->n, "", len);
	case LONG_STRING:
		if ((s = malloc(c->n + 3)) == NULL)
			return NULL;
		s[0] = '"';
		memset(s + 1, 'x', c->n);
		memcpy(s + 1 + c->n, "\"", 2);
		*len = c->n + 2;
		return s;
	case BRACES_IN_STRING:
		if ((s = malloc(c->n + 10)) == NULL)
			return NULL;
		memcpy(s, "[\"\\\"", 4);
		memset(s + 4, '{', c->n);
		memcpy(s + 4 + c->n, "\"]", 3);
		*len = c->n + 6;
		return s;
	case BATCH:
		return batch(c->n, len);
	case MCP:
		return mcp_call(c->n, len);
	default:
		*len = c->len ? c->len : strlen(c->text);
		if ((s = malloc(*len + 1)) != NULL) {
			memcpy(s, c->text, *len);
			s[*len] = '\0';
		}
		return s;
	}
}

static void test_table(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct parse_case *c = &cases[i];
		struct jsonparse_error err;
		struct json_object *v = (void *)&err; /* must be reset */
		size_t len;
		char *text = make(c, &len);

		CU_ASSERT_PTR_NOT_NULL_FATAL(text);
		int rc = jsonparse_strict(text, len, &v, &err);
		int bad = rc != c->code || err.code != c->code;
		if (rc == JSONPARSE_OK && c->out != NULL)
			bad |= strcmp(plain(v), c->out) != 0;
		if (rc != JSONPARSE_OK)
			bad |= v != NULL ||
			       (c->why && !strstr(err.message, c->why));
		if (bad)
			printf("\n    case \"%s\": %d (%s)", c->name, rc,
			       err.message);
		CU_ASSERT(!bad);
		json_object_put(v);
		free(text);
	}
}

/* The estimate, value by value, as jsonparse.c's table says. */
static void test_cost(void)
{
	static const struct {
		const char *text;
		size_t cost;
	} costs[] = {
		{ "{}", 800 },
		{ "[]", 160 },
		{ "0", 80 },
		{ "-12", 80 },
		{ "true", 80 },
		{ "null", 80 },
		{ "1.5", 192 },
		{ "1e9", 192 },
		{ "NaN", 192 },
		{ "-Infinity", 192 },
		{ "\"a,b:{[\"", 96 },
		{ "\"\\\"}\"", 96 },
		{ "{\"a\":0}", 800 + 96 + 128 + 80 },
		{ "[1,2.0,\"x\"]", 160 + 80 + 192 + 96 },
	};

	for (size_t i = 0; i < sizeof(costs) / sizeof(costs[0]); i++) {
		size_t got = jsonparse_cost(costs[i].text,
					    strlen(costs[i].text), SIZE_MAX);
		if (got != costs[i].cost)
			printf("\n    \"%s\": %zu, want %zu", costs[i].text,
			       got, costs[i].cost);
		CU_ASSERT_EQUAL(got, costs[i].cost);
	}
}

/* What json-c really holds after a parse the scan let through, for each
 * kind of value at the limit: never more than the limit. */
static size_t heap_used(void)
{
#if defined(__GLIBC__) && __GLIBC_PREREQ(2, 33)
	struct mallinfo2 m = mallinfo2();
	return m.uordblks + m.hblkhd;
#else
	return 0;
#endif
}

static void test_estimate_bounds_heap(void)
{
	static const char *const items[] = {
		"{}", "[]", "0", "1.5", "\"\"", "true", "[0]", "{\"\":0}",
		"{\"a\":{\"b\":[1.5,\"x\"]}}",
	};

	for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
		size_t lo = 1, hi = 1000000, len;
		char *text;

		/* the most items under the limit */
		while (lo < hi) {
			size_t mid = (lo + hi + 1) / 2;
			text = repeat("[", items[i], mid, "]", &len);
			CU_ASSERT_PTR_NOT_NULL_FATAL(text);
			if (jsonparse_cost(text, len, JSONPARSE_MAX_COST) <=
			    JSONPARSE_MAX_COST)
				lo = mid;
			else
				hi = mid - 1;
			free(text);
		}
		text = repeat("[", items[i], lo, "]", &len);
		CU_ASSERT_PTR_NOT_NULL_FATAL(text);
		struct json_object *v;
		size_t before = heap_used();
		CU_ASSERT_EQUAL(jsonparse_strict(text, len, &v, NULL),
				JSONPARSE_OK);
		size_t held = heap_used() - before;
		if (held > JSONPARSE_MAX_COST)
			printf("\n    %zu x %s: json-c holds %zu bytes",
			       lo, items[i], held);
		CU_ASSERT(held <= JSONPARSE_MAX_COST);
		json_object_put(v);
		free(text);
	}
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("jsonparse", NULL, NULL);
	CU_add_test(s, "parse table", test_table);
	CU_add_test(s, "cost of each value", test_cost);
	CU_add_test(s, "estimate bounds json-c's heap",
		    test_estimate_bounds_heap);
	return cu_run();
}
