/* Unit tests of what a proxy worker does with a request its check allowed
 * when the stream is cancelled meanwhile (a client gone, a stop): nothing
 * goes upstream after the check (proxy.c), and the allowed request's
 * audit entry, should no consumer take it back, is recorded as allowed
 * and answered 499, never as refused (bodycheck.c).
 *
 * The upstream is the real test upstream (tests/upstream, $UPSTREAM),
 * whose request log says what reached it; the records are read back from
 * a real audit file. */
#include "config.h"

#include <CUnit/Basic.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "bodycheck.h"
#include "cfg.h"
#include "ledger.h"
#include "metrics.h"
#include "proxy.h"
#include "stream.h"
#include "workers.h"
#include "cu_run.h"
#include "testutil.h"

static pid_t up_pid = -1;
static int up_port;

/* ---- nothing upstream after a cancel ---- */

/* The check of a request the policy allows: counts its runs. */
static int allow(void *arg, struct proxy_request *r, struct stream *s)
{
	(void)r;
	(void)s;
	(*(int *)arg)++;
	return 0;
}

/* A POST to the upstream carrying tag, checked by allow() on its worker;
 * s's producer side goes to the worker. */
static int start(struct stream *s, const char *tag, int *checks)
{
	char url[128], *body = NULL;
	struct proxy_request *r;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/rpc", up_port);
	r = proxy_request_new("POST", url);
	if (r == NULL || asprintf(&body, "{\"tag\":\"%s\"}", tag) < 0) {
		proxy_request_free(r);
		return -1;
	}
	proxy_request_set_body(r, body, strlen(body));
	proxy_request_set_check(r, allow, checks, NULL);
	if (proxy_start(r, s) < 0) {
		proxy_request_free(r);
		return -1;
	}
	return 0;
}

/* The answer's status once read whole, or -1 (the stream failed: *why). */
static int consume(struct stream *s, enum stream_failure *why)
{
	const struct stream_head *head;
	struct error err;
	char buf[4096];
	ssize_t n;

	if (stream_wait_head(s, -1, &head, why, &err) < 0)
		return -1;
	int status = head->status;
	while ((n = stream_read(s, -1, buf, sizeof(buf))) > 0)
		;
	return n == 0 ? status : -1;
}

/* Whether the upstream's request log holds tag. */
static int upstream_saw(const char *tag)
{
	char *log = NULL;
	int status;

	if (tu_http(up_port, "GET", "/_upstream/requests", NULL, NULL, &status,
		    &log, NULL) < 0)
		return -1;
	int seen = strstr(log, tag) != NULL;
	free(log);
	return seen;
}

static int saw_last(void *arg)
{
	return upstream_saw(arg) == 1;
}

/* A stop (stream_close) while the body is checked: the worker finds the
 * stream cancelled after the check. A parked upstream connection is in
 * the pool (the first request leaves it), so a perform would send the
 * request at once: none may run. */
static void test_cancelled_during_check_sends_nothing(void)
{
	struct stream *s = stream_new(65536);
	enum stream_failure why = STREAM_FAIL_NONE;
	int checks = 0;

	CU_ASSERT_FATAL(s != NULL && start(s, "T-first", &checks) == 0);
	CU_ASSERT_EQUAL(consume(s, &why), 200);
	stream_release(s);
	CU_ASSERT_EQUAL(workers_wait(10000), 0);

	s = stream_new(65536);
	CU_ASSERT_FATAL(s != NULL);
	stream_close(s);
	CU_ASSERT_FATAL(start(s, "T-cancelled", &checks) == 0);
	CU_ASSERT_EQUAL(consume(s, &why), -1);
	CU_ASSERT_EQUAL(why, STREAM_FAIL_CANCELLED);
	stream_release(s);
	CU_ASSERT_EQUAL(workers_wait(10000), 0);
	CU_ASSERT_EQUAL(checks, 2);

	/* what was sent before this one has reached the upstream */
	s = stream_new(65536);
	CU_ASSERT_FATAL(s != NULL && start(s, "T-last", &checks) == 0);
	CU_ASSERT_EQUAL(consume(s, &why), 200);
	stream_release(s);
	char last[] = "T-last";
	CU_ASSERT_EQUAL(tu_wait_until(saw_last, last, 10000), 0);
	CU_ASSERT_EQUAL(upstream_saw("T-first"), 1);
	CU_ASSERT_EQUAL(upstream_saw("T-cancelled"), 0);
	CU_ASSERT_EQUAL(workers_wait(10000), 0);
}

/* ---- an allowed entry nobody took back ---- */

#define CONFIG                                                              \
	"{\"listen\":[\"127.0.0.1:1\"],\"tools\":{"                         \
	"\"h\":{\"type\":\"http\",\"upstream\":\"http://h\"}}}"

/* The one record of a stream dropped with an allowed entry attached. */
static struct json_object *dropped_record(int closed)
{
	char dir[] = "/tmp/test_bodycheck.XXXXXX", path[64], line[8192];
	struct cfg *cfg;
	struct error err;
	struct json_object *rec = NULL;

	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/audit.log", dir);
	CU_ASSERT_EQUAL_FATAL(cfg_load_string(CONFIG, &cfg, &err), 0);
	struct audit *audit = audit_new(path, &err);
	struct metrics *metrics = metrics_new();
	struct ledger *ledger = ledger_new(audit, metrics);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ledger);
	struct ledger_entry *e = ledger_entry_new(ledger, "127.0.0.1:9",
						  "POST", "/tools/h/x");
	CU_ASSERT_PTR_NOT_NULL_FATAL(e);
	ledger_entry_set_tool(e, cfg_find_tool(cfg, "h", 1));

	struct stream *s = stream_new(64);
	stream_attach(s, e, bodycheck_drop_entry);
	if (closed)
		stream_close(s); /* the daemon's stop */
	else
		stream_cancel(s); /* the client's leaving */
	stream_release(s);
	stream_release(s);
	CU_ASSERT_EQUAL(ledger_in_flight(ledger), 0);

	FILE *in = fopen(path, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(in);
	if (fgets(line, sizeof(line), in) != NULL)
		rec = json_tokener_parse(line);
	CU_ASSERT(fgets(line, sizeof(line), in) == NULL); /* one record */
	fclose(in);
	ledger_free(ledger);
	audit_free(audit);
	metrics_free(metrics);
	cfg_release(cfg);
	unlink(path);
	rmdir(dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
	return rec;
}

static const char *str_at(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ?
		       json_object_get_string(v) : "";
}

static void expect_allowed(int closed, const char *ended)
{
	struct json_object *rec = dropped_record(closed);

	CU_ASSERT_STRING_EQUAL(str_at(rec, "decision"), "allow");
	CU_ASSERT_STRING_EQUAL(str_at(rec, "status"), "499");
	CU_ASSERT_STRING_EQUAL(str_at(rec, "ended"), ended);
	json_object_put(rec);
}

static void test_dropped_allowed_entry_is_an_allow(void)
{
	expect_allowed(0, "client_closed");
	expect_allowed(1, "shutdown");
}

static int suite_init(void)
{
	if (proxy_global_init() < 0)
		return -1;
	up_pid = tu_spawn_upstream(getenv("UPSTREAM"), &up_port);
	return up_pid < 0 ? -1 : 0;
}

static int suite_clean(void)
{
	workers_wait(10000);
	workers_shutdown();
	proxy_pool_drain();
	proxy_global_cleanup();
	return up_pid > 0 && tu_stop(up_pid) < 0 ? -1 : 0;
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("bodycheck", suite_init, suite_clean);
	if (s == NULL ||
	    !CU_add_test(s, "a cancel during the check: nothing upstream",
			 test_cancelled_during_check_sends_nothing) ||
	    !CU_add_test(s, "an allowed entry dropped: allow/499",
			 test_dropped_allowed_entry_is_an_allow)) {
		CU_cleanup_registry();
		return 1;
	}
	return cu_run();
}
