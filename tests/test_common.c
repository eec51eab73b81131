/* Unit tests of the shared library's buffer (dbuf), error and SSE parser
 * and writer: limits, sticky errors, and the SSE stream rules of the
 * WHATWG standard, fed whole and one byte at a time. */
#include "config.h"

#include <CUnit/Basic.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbuf.h"
#include "error.h"
#include "sse.h"
#include "cu_run.h"

static void test_dbuf_grows_and_terminates(void)
{
	struct dbuf b = DBUF_INIT(1 << 20);

	CU_ASSERT_STRING_EQUAL(dbuf_str(&b), "");
	for (int i = 0; i < 1000; i++)
		CU_ASSERT_EQUAL(dbuf_add(&b, "abc", 3), 0);
	CU_ASSERT_EQUAL(dbuf_len(&b), 3000);
	CU_ASSERT_EQUAL(strlen(dbuf_str(&b)), 3000);
	CU_ASSERT_EQUAL(dbuf_printf(&b, "<%d>", 42), 0);
	CU_ASSERT_EQUAL(strcmp(dbuf_str(&b) + 3000, "<42>"), 0);
	CU_ASSERT_EQUAL(dbuf_add(&b, "x\0y", 3), 0);
	CU_ASSERT_EQUAL(dbuf_len(&b), 3007);
	size_t len = 0;
	char *s = dbuf_detach(&b, &len);
	CU_ASSERT_EQUAL(len, 3007);
	CU_ASSERT_EQUAL(memcmp(s + 3004, "x\0y", 4), 0);
	free(s);
	CU_ASSERT_EQUAL(dbuf_len(&b), 0);
	CU_ASSERT_EQUAL(b.max, 1 << 20);
	dbuf_free(&b);
}

static void test_dbuf_limit_is_sticky(void)
{
	struct dbuf b = DBUF_INIT(8);

	CU_ASSERT_EQUAL(dbuf_addstr(&b, "12345678"), 0);
	errno = 0;
	CU_ASSERT_EQUAL(dbuf_add(&b, "9", 1), -1);
	CU_ASSERT_EQUAL(errno, EMSGSIZE);
	CU_ASSERT_EQUAL(dbuf_error(&b), EMSGSIZE);
	CU_ASSERT_STRING_EQUAL(dbuf_str(&b), "12345678");
	/* sticky: even an add that would fit fails until reset */
	dbuf_reset(&b);
	CU_ASSERT_EQUAL(dbuf_add(&b, "", 0), 0);
	CU_ASSERT_EQUAL(dbuf_printf(&b, "%s", "123456789"), -1);
	CU_ASSERT_EQUAL(dbuf_add(&b, "1", 1), -1);
	CU_ASSERT_PTR_NULL(dbuf_detach(&b, NULL));
	CU_ASSERT_EQUAL(dbuf_error(&b), 0);
	CU_ASSERT_EQUAL(dbuf_add(&b, "1", 1), 0);
	dbuf_free(&b);
}

static void test_dbuf_take_empty(void)
{
	struct dbuf b = DBUF_INIT(4);
	size_t len = 99;
	char *s = dbuf_detach(&b, &len);

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_STRING_EQUAL(s, "");
	CU_ASSERT_EQUAL(len, 0);
	free(s);
}

/* What a caller charges is what is allocated: reserve is exact, and adds
 * within it allocate nothing more. */
static void test_dbuf_reserve_exact(void)
{
	struct dbuf b = DBUF_INIT(1 << 20);

	CU_ASSERT_EQUAL(dbuf_reserve(&b, 4096), 0);
	CU_ASSERT_EQUAL(b.cap, 4097);
	CU_ASSERT_STRING_EQUAL(dbuf_str(&b), "");
	char *mem = b.mem;
	for (int i = 0; i < 4096; i++)
		CU_ASSERT_EQUAL(dbuf_add(&b, "x", 1), 0);
	CU_ASSERT_PTR_EQUAL(b.mem, mem);
	CU_ASSERT_EQUAL(b.cap, 4097);
	CU_ASSERT_EQUAL(dbuf_reserve(&b, 100), 0);      /* never shrinks */
	CU_ASSERT_EQUAL(b.cap, 4097);
	CU_ASSERT_EQUAL(dbuf_reserve(&b, 1 << 20), 0);
	CU_ASSERT_EQUAL(b.cap, (1 << 20) + 1);
	CU_ASSERT_EQUAL(dbuf_len(&b), 4096);
	errno = 0;
	CU_ASSERT_EQUAL(dbuf_reserve(&b, (1 << 20) + 1), -1);
	CU_ASSERT_EQUAL(errno, EMSGSIZE);
	dbuf_free(&b);
	/* a limit of SIZE_MAX cannot make len + need + 1 wrap */
	dbuf_init(&b, SIZE_MAX);
	CU_ASSERT_EQUAL(dbuf_add(&b, "ab", 2), 0);
	CU_ASSERT_EQUAL(dbuf_add(&b, "c", SIZE_MAX - 2), -1);
	CU_ASSERT_EQUAL(dbuf_error(&b), EMSGSIZE);
	dbuf_free(&b);
}

static void test_error_set(void)
{
	struct error e;
	char long_key[300];

	memset(long_key, 'k', sizeof(long_key) - 1);
	long_key[sizeof(long_key) - 1] = '\0';
	CU_ASSERT_EQUAL(error_set(&e, 403, "tools.x", "denied: %d", 7), -1);
	CU_ASSERT_EQUAL(e.status, 403);
	CU_ASSERT_STRING_EQUAL(e.key, "tools.x");
	CU_ASSERT_STRING_EQUAL(e.msg, "denied: 7");
	error_set(&e, 0, long_key, "m");
	CU_ASSERT_EQUAL(strlen(e.key), sizeof(e.key) - 1);
	error_set(&e, 500, NULL, "x");
	CU_ASSERT_STRING_EQUAL(e.key, "");
	error_clear(&e);
	CU_ASSERT_EQUAL(e.status, 0);
	CU_ASSERT_STRING_EQUAL(e.msg, "");
	CU_ASSERT_EQUAL(error_set(NULL, 1, NULL, "ignored"), -1);
}

/* What a parse dispatched, written as "type|id|data;" per event. */
static int collect(const struct sse_event *ev, void *arg)
{
	struct dbuf *out = arg;

	CU_ASSERT_EQUAL(strlen(ev->data), ev->data_len);
	dbuf_printf(out, "%s|%s|%s;", ev->type, ev->id, ev->data);
	return 0;
}

struct sse_case {
	const char *in;
	const char *want;
};

static const struct sse_case sse_cases[] = {
	{ "data: a\n\n", "message||a;" },
	{ "data:a\n\n", "message||a;" },             /* no space needed */
	{ "data:  a\n\n", "message|| a;" },          /* only one dropped */
	{ "data: a\r\n\r\n", "message||a;" },
	{ "data: a\r\rdata: b\r\r", "message||a;message||b;" },
	{ "event: audit\ndata: {}\n\n", "audit||{};" },
	{ "data: 1\ndata: 2\n\n", "message||1\n2;" },
	{ "data\n\n", "message||;" },                /* empty data line */
	{ "data: \ndata:\n\n", "message||\n;" },
	{ ": comment\ndata: x\n\n", "message||x;" },
	{ "event: e\n\n", "" },                      /* no data: none */
	{ "event: e\n\ndata: y\n\n", "message||y;" }, /* type resets */
	{ "id: 7\ndata: x\n\ndata: z\n\n", "message|7|x;message|7|z;" },
	{ "foo: bar\ndata: x\n\n", "message||x;" },  /* unknown ignored */
	{ "data: unterminated", "" },
	{ "\xEF\xBB\xBF" "data: bom\n\n", "message||bom;" },
	{ "\xEF\xBB" "data: x\n\n", "" }, /* not a BOM: part of the name */
	{ "DATA: x\n\n", "" },                       /* names are exact */
	{ "data : x\n\n", "" },
};

static void run_sse_case(const struct sse_case *t, size_t step)
{
	struct dbuf out = DBUF_INIT(4096);
	struct sse_parser p;
	size_t len = strlen(t->in);

	sse_init(&p, 1024, collect, &out);
	for (size_t i = 0; i < len; i += step) {
		size_t n = len - i < step ? len - i : step;
		CU_ASSERT_EQUAL(sse_feed(&p, t->in + i, n), 0);
	}
	if (strcmp(dbuf_str(&out), t->want) != 0)
		fprintf(stderr, "\n    %zu-byte feeds of %s: got \"%s\"", step,
			t->in, dbuf_str(&out));
	CU_ASSERT_STRING_EQUAL(dbuf_str(&out), t->want);
	sse_free(&p);
	dbuf_free(&out);
}

static void test_sse_parse(void)
{
	for (size_t i = 0; i < sizeof(sse_cases) / sizeof(sse_cases[0]); i++) {
		run_sse_case(&sse_cases[i], 4096);
		run_sse_case(&sse_cases[i], 1);
		run_sse_case(&sse_cases[i], 2);
	}
}

static int stop_at_first(const struct sse_event *ev, void *arg)
{
	(void)ev;
	++*(int *)arg;
	return 7;
}

static void test_sse_bounds_and_stop(void)
{
	struct sse_parser p;
	int calls = 0;
	char line[100];

	memset(line, 'x', sizeof(line));
	sse_init(&p, 64, stop_at_first, &calls);
	errno = 0;
	CU_ASSERT_EQUAL(sse_feed(&p, line, sizeof(line)), -1);
	CU_ASSERT_EQUAL(errno, EMSGSIZE);
	sse_free(&p);

	sse_init(&p, 64, stop_at_first, &calls);
	CU_ASSERT_EQUAL(sse_feed(&p, "data: a\n\ndata: b\n\n", 18), 7);
	CU_ASSERT_EQUAL(calls, 1);
	sse_free(&p);

	/* many short data lines that add up past the limit */
	sse_init(&p, 64, stop_at_first, &calls);
	int rc = 0;
	for (int i = 0; i < 40 && rc == 0; i++)
		rc = sse_feed(&p, "data: abc\n", 10);
	CU_ASSERT_EQUAL(rc, -1);
	sse_free(&p);
}

struct write_case {
	const char *type, *data, *want;
};

static const struct write_case write_cases[] = {
	{ "audit", "{}", "event: audit\ndata: {}\n\n" },
	{ NULL, "x", "data: x\n\n" },
	{ NULL, "a\nb", "data: a\ndata: b\n\n" },
	{ NULL, "a\r\nb\rc", "data: a\ndata: b\ndata: c\n\n" },
	{ NULL, "a\n", "data: a\ndata: \n\n" },
	{ NULL, "", "data: \n\n" },
};

/* Written then parsed, data comes back as it was (line breaks as \n). */
/* sse_bound: where a relayed stream stands after each table's bytes,
 * fed whole and byte by byte, and the comment it would get there. */
static void test_sse_bound(void)
{
	static const struct {
		const char *bytes;
		int boundary;
		const char *comment; /* when at a boundary */
	} cases[] = {
		{ "", 1, ": keepalive\n\n" },
		{ "data: x", 0, NULL },
		{ "data: x\n", 0, NULL },
		{ "data: x\n\n", 1, ": keepalive\n\n" },
		{ "data: x\r\n", 0, NULL },
		{ "data: x\r\n\r", 1, ": keepalive\r\r" },
		{ "data: x\r\n\r\n", 1, ": keepalive\r\n\r\n" },
		{ "data: x\r\r", 1, ": keepalive\r\r" },
		{ "data: x\r", 0, NULL },
		{ ": c\n", 0, NULL },
		{ ": c\n\n", 1, ": keepalive\n\n" },
		{ "retry: 1\n\nid: 2\n", 0, NULL },
		{ "id: 1\n\ndata: a\ndata: b\n\n", 1, ": keepalive\n\n" },
		{ "\n\n\n", 1, ": keepalive\n\n" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		for (int bytewise = 0; bytewise < 2; bytewise++) {
			struct sse_bound b;
			const char *p = cases[i].bytes;
			size_t n = strlen(p), len;

			sse_bound_init(&b);
			if (bytewise)
				for (size_t j = 0; j < n; j++)
					sse_bound_feed(&b, p + j, 1);
			else
				sse_bound_feed(&b, p, n);
			int at = sse_bound_at_boundary(&b);
			CU_ASSERT_EQUAL(at, cases[i].boundary);
			if (at != cases[i].boundary)
				fprintf(stderr, "\n  case %zu\n", i);
			if (cases[i].comment != NULL)
				CU_ASSERT_STRING_EQUAL(
					sse_bound_comment(&b, &len),
					cases[i].comment);
		}
	}
}

static void test_sse_write_round_trip(void)
{
	for (size_t i = 0; i < sizeof(write_cases) / sizeof(write_cases[0]);
	     i++) {
		const struct write_case *t = &write_cases[i];
		struct dbuf w = DBUF_INIT(4096), back = DBUF_INIT(4096);
		struct sse_parser p;

		CU_ASSERT_EQUAL(sse_write(&w, t->type, t->data,
					  strlen(t->data)), 0);
		CU_ASSERT_STRING_EQUAL(dbuf_str(&w), t->want);
		sse_init(&p, 4096, collect, &back);
		CU_ASSERT_EQUAL(sse_feed(&p, dbuf_str(&w), dbuf_len(&w)), 0);
		sse_free(&p);
		if (t->data[0] != '\0' && strchr(t->data, '\r') == NULL) {
			char want[128];
			snprintf(want, sizeof(want), "%s||%s;",
				 t->type ? t->type : "message", t->data);
			CU_ASSERT_STRING_EQUAL(dbuf_str(&back), want);
		}
		dbuf_free(&w);
		dbuf_free(&back);
	}
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("common", NULL, NULL);
	CU_add_test(s, "dbuf: grows, terminates, hands over",
		    test_dbuf_grows_and_terminates);
	CU_add_test(s, "dbuf: limit, sticky error", test_dbuf_limit_is_sticky);
	CU_add_test(s, "dbuf: take of an empty buffer", test_dbuf_take_empty);
	CU_add_test(s, "dbuf: reserve is exact", test_dbuf_reserve_exact);
	CU_add_test(s, "error: set, truncate, clear", test_error_set);
	CU_add_test(s, "sse: parse, whole and split feeds", test_sse_parse);
	CU_add_test(s, "sse: bounded, callback stops",
		    test_sse_bounds_and_stop);
	CU_add_test(s, "sse: write then parse", test_sse_write_round_trip);
	CU_add_test(s, "sse: event boundaries", test_sse_bound);
	return cu_run();
}
