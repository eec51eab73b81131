/* Unit tests of ledger.c: the audit records it writes (read back from a
 * real audit file), GET /v1/streams's list, and an entry that runs out of
 * memory while it is filled.
 *
 * Out of memory is injected by defining strdup here: the linker binds
 * ledger.o's calls (and only while fail_strdups > 0 does it fail) to this
 * one, so the daemon's code carries no test hook. */
#include "config.h"

#include <CUnit/Basic.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "cfg.h"
#include "ledger.h"
#include "metrics.h"
#include "cu_run.h"

static int fail_strdups; /* the next this many strdup calls fail */

char *strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *copy;

	if (fail_strdups > 0) {
		fail_strdups--;
		errno = ENOMEM;
		return NULL;
	}
	if ((copy = malloc(n)) != NULL)
		memcpy(copy, s, n);
	return copy;
}

#define CONFIG                                                              \
	"{\"listen\":[\"127.0.0.1:1\"],\"tools\":{"                         \
	"\"c\":{\"type\":\"cli\",\"binary\":\"/bin/true\"},"                \
	"\"quiet\":{\"type\":\"http\",\"upstream\":\"http://h\","           \
	"\"audit\":{\"enabled\":false}}}}"

/* A ledger writing to a fresh audit file, and what it counts into. */
struct fixture {
	char dir[64];
	char path[96];
	struct cfg *cfg;
	struct audit *audit;
	struct metrics *metrics;
	struct ledger *ledger;
};

static void setup(struct fixture *f)
{
	struct error cerr, err;

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_ledger.XXXXXX");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/audit.log", f->dir);
	CU_ASSERT_EQUAL_FATAL(cfg_load_string(CONFIG, &f->cfg, &cerr), 0);
	f->audit = audit_new(f->path, &err);
	f->metrics = metrics_new();
	CU_ASSERT_PTR_NOT_NULL_FATAL(f->audit);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f->metrics);
	f->ledger = ledger_new(f->audit, f->metrics);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f->ledger);
}

static void teardown(struct fixture *f)
{
	CU_ASSERT_EQUAL(ledger_in_flight(f->ledger), 0);
	ledger_free(f->ledger);
	audit_free(f->audit);
	metrics_free(f->metrics);
	cfg_release(f->cfg);
	unlink(f->path);
	rmdir(f->dir);
}

static const struct cfg_tool *tool(struct fixture *f, const char *name)
{
	const struct cfg_tool *t = cfg_find_tool(f->cfg, name, strlen(name));

	CU_ASSERT_PTR_NOT_NULL_FATAL(t);
	return t;
}

/* The audit file's records, a json-c array (caller puts). */
static struct json_object *records(struct fixture *f)
{
	struct json_object *all = json_object_new_array();
	char line[8192];
	FILE *in = fopen(f->path, "r");

	CU_ASSERT_PTR_NOT_NULL_FATAL(in);
	while (fgets(line, sizeof(line), in) != NULL) {
		struct json_object *o = json_tokener_parse(line);
		CU_ASSERT_PTR_NOT_NULL(o);
		if (o != NULL)
			json_object_array_add(all, o);
	}
	fclose(in);
	return all;
}

/* o's string member key, NULL when absent or not a string. */
static const char *str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* Whether o has key with the value null. */
static int is_null(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) && v == NULL;
}

static void test_streams_list_http_method(void)
{
	struct fixture f;

	setup(&f);
	struct ledger_entry *e =
		ledger_entry_new(f.ledger, "127.0.0.1", "PATCH", "/c/x");
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_EQUAL(ledger_entry_set_tool(e, tool(&f, "c")), 0);
	ledger_entry_open(e, 200, LEDGER_STREAM);

	struct json_object *top = ledger_streams(f.ledger), *list, *s;
	CU_ASSERT_FATAL(json_object_object_get_ex(top, "streams", &list));
	CU_ASSERT_EQUAL_FATAL(json_object_array_length(list), 1);
	s = json_object_array_get_idx(list, 0);
	CU_ASSERT_STRING_EQUAL(str(s, "http_method"), "PATCH");
	/* the old key, for one release */
	CU_ASSERT_STRING_EQUAL(str(s, "method"), "PATCH");
	CU_ASSERT_STRING_EQUAL(str(s, "tool"), "c");
	CU_ASSERT_STRING_EQUAL(str(s, "kind"), "cli");
	json_object_put(top);

	ledger_entry_end(e, LEDGER_ENDED_COMPLETE,
			 &(struct ledger_exit){ .code = 3 });
	top = ledger_streams(f.ledger);
	CU_ASSERT(json_object_object_get_ex(top, "streams", &list));
	CU_ASSERT_EQUAL(json_object_array_length(list), 0);
	json_object_put(top);

	/* the audit record's key was http_method already: it stays */
	struct json_object *all = records(&f);
	CU_ASSERT_EQUAL_FATAL(json_object_array_length(all), 2);
	struct json_object *end = json_object_array_get_idx(all, 1);
	CU_ASSERT_STRING_EQUAL(str(end, "event"), "stream_end");
	CU_ASSERT_STRING_EQUAL(str(end, "http_method"), "PATCH");
	CU_ASSERT_PTR_NULL(str(end, "method"));
	CU_ASSERT_STRING_EQUAL(str(end, "ended"), "upstream_closed");
	CU_ASSERT(is_null(end, "signal"));
	json_object_put(all);
	teardown(&f);
}

/* A tool's name that cannot be copied leaves the entry as it was: no tool,
 * kind "http", audited; the request is counted under tool "". */
static void test_set_tool_out_of_memory(void)
{
	struct fixture f;
	uint64_t requests;

	setup(&f);
	struct ledger_entry *e =
		ledger_entry_new(f.ledger, "127.0.0.1", "POST", "/quiet/x");
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	fail_strdups = 1;
	CU_ASSERT_EQUAL(ledger_entry_set_tool(e, tool(&f, "quiet")), -1);
	CU_ASSERT_EQUAL(fail_strdups, 0); /* the failure was ours */
	ledger_entry_deny(e, 503, "out of memory");

	/* "quiet" audits nothing: a record proves its settings were not
	 * taken half */
	struct json_object *all = records(&f);
	CU_ASSERT_EQUAL_FATAL(json_object_array_length(all), 1);
	struct json_object *r = json_object_array_get_idx(all, 0);
	CU_ASSERT(is_null(r, "tool"));
	CU_ASSERT_STRING_EQUAL(str(r, "kind"), "http");
	CU_ASSERT_STRING_EQUAL(str(r, "decision"), "deny");
	json_object_put(all);
	metrics_totals(f.metrics, "", &requests, NULL, NULL);
	CU_ASSERT_EQUAL(requests, 1);
	metrics_totals(f.metrics, "quiet", &requests, NULL, NULL);
	CU_ASSERT_EQUAL(requests, 0);

	/* with memory again, the same tool is taken whole */
	e = ledger_entry_new(f.ledger, "127.0.0.1", "POST", "/c/x");
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	CU_ASSERT_EQUAL(ledger_entry_set_tool(e, tool(&f, "c")), 0);
	CU_ASSERT_EQUAL(ledger_entry_set_tool(e, tool(&f, "quiet")), 0);
	ledger_entry_deny(e, 403, "no");
	all = records(&f);
	CU_ASSERT_EQUAL(json_object_array_length(all), 1); /* not audited */
	json_object_put(all);
	metrics_totals(f.metrics, "quiet", &requests, NULL, NULL);
	CU_ASSERT_EQUAL(requests, 1);
	teardown(&f);
}

/* The counters a request's events move, through the ledger. */
static void test_counts(void)
{
	struct fixture f;
	uint64_t requests, denied;
	int64_t streams;

	setup(&f);
	struct ledger_entry *a =
		ledger_entry_new(f.ledger, "127.0.0.1", "GET", "/c/");
	struct ledger_entry *b =
		ledger_entry_new(f.ledger, "127.0.0.1", "GET", "/c/");
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_EQUAL(ledger_in_flight(f.ledger), 2);
	ledger_entry_set_tool(a, tool(&f, "c"));
	ledger_entry_set_tool(b, tool(&f, "c"));
	ledger_entry_open(a, 200, LEDGER_STREAM);
	ledger_entry_deny(b, 429, "rate limited");
	metrics_totals(f.metrics, "c", &requests, &denied, &streams);
	CU_ASSERT(requests == 2 && denied == 1 && streams == 1);
	ledger_entry_add_out(a, 10);
	ledger_entry_end(a, LEDGER_ENDED_ERROR, NULL);
	metrics_totals(f.metrics, "c", &requests, &denied, &streams);
	CU_ASSERT(requests == 2 && denied == 1 && streams == 0);

	char *text = metrics_render(f.metrics, NULL, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT_PTR_NOT_NULL(strstr(text,
		"carapace_rate_limited_total{tool=\"c\"} 1\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text,
		"carapace_bytes_total{tool=\"c\",direction=\"out\"} 10\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text,
		"carapace_upstream_errors_total{tool=\"c\",kind=\"broken\"} "
		"1\n"));
	/* a stream is no request duration */
	CU_ASSERT_PTR_NOT_NULL(strstr(text,
		"carapace_request_duration_seconds_count{tool=\"c\"} 0\n"));
	free(text);
	teardown(&f);
}

/* A request a dry run let pass: every record of it says would_deny with
 * the rule, and the metrics count it apart from the allowed ones. */
static void test_would_deny(void)
{
	struct fixture f;
	uint64_t requests, denied;
	int64_t streams;

	setup(&f);
	struct ledger_entry *a =
		ledger_entry_new(f.ledger, "127.0.0.1", "GET", "/c/a");
	struct ledger_entry *b =
		ledger_entry_new(f.ledger, "127.0.0.1", "GET", "/c/b");
	struct ledger_entry *c =
		ledger_entry_new(f.ledger, "127.0.0.1", "GET", "/c/c");
	CU_ASSERT_FATAL(a && b && c);
	ledger_entry_set_tool(a, tool(&f, "c"));
	ledger_entry_set_tool(b, tool(&f, "c"));
	ledger_entry_set_tool(c, tool(&f, "c"));
	CU_ASSERT_EQUAL(ledger_entry_set_would_deny(a, "rule A"), 0);
	CU_ASSERT_EQUAL(ledger_entry_set_would_deny(b, "rule B"), 0);
	ledger_entry_open(a, 200, LEDGER_STREAM);
	ledger_entry_end(a, LEDGER_ENDED_COMPLETE, NULL);
	ledger_entry_fail(b, 502, "upstream unreachable",
			  METRICS_UPSTREAM_NONE);
	ledger_entry_open(c, 200, LEDGER_PLAIN);
	ledger_entry_end(c, LEDGER_ENDED_COMPLETE, NULL);

	struct json_object *all = records(&f);
	CU_ASSERT_EQUAL_FATAL(json_object_array_length(all), 4);
	static const char *const want[4][3] = {
		{ "/c/a", "would_deny", "rule A" }, /* stream_open */
		{ "/c/a", "would_deny", "rule A" }, /* stream_end */
		{ "/c/b", "would_deny", "rule B" },
		{ "/c/c", "allow", NULL },
	};
	for (size_t i = 0; i < 4; i++) {
		struct json_object *o = json_object_array_get_idx(all, i);
		const char *rule = str(o, "rule");
		CU_ASSERT_STRING_EQUAL(str(o, "path"), want[i][0]);
		CU_ASSERT_STRING_EQUAL(str(o, "decision"), want[i][1]);
		CU_ASSERT(want[i][2] == NULL ? rule == NULL :
			  rule != NULL && strcmp(rule, want[i][2]) == 0);
	}
	json_object_put(all);
	metrics_totals(f.metrics, "c", &requests, &denied, &streams);
	CU_ASSERT(requests == 3 && denied == 0 && streams == 0);
	char *text = metrics_render(f.metrics, NULL, NULL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT_PTR_NOT_NULL(strstr(text,
		"carapace_requests_total{tool=\"c\",decision=\"would_deny\"} "
		"2\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(text,
		"carapace_requests_total{tool=\"c\",decision=\"allow\"} 1\n"));
	free(text);
	teardown(&f);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("ledger", NULL, NULL);
	if (s == NULL ||
	    !CU_add_test(s, "/v1/streams has http_method",
			 test_streams_list_http_method) ||
	    !CU_add_test(s, "set_tool out of memory",
			 test_set_tool_out_of_memory) ||
	    !CU_add_test(s, "events counted", test_counts) ||
	    !CU_add_test(s, "a dry run's would_deny", test_would_deny)) {
		CU_cleanup_registry();
		return 1;
	}
	return cu_run();
}
