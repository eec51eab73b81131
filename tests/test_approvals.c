/* Approvals (require_approval, issue 17) against the real carapaced, the
 * test upstream and tests/clitool, over 127.0.0.1: a held call completes
 * once approved, a denial and a timeout are 403s that reach nothing
 * upstream, grants (reused in time, refused after, bound to the call's
 * params, the method scope, dead after a reload that changes the tool),
 * a client that leaves, a CLI tool's argv, the live feed's delay, the
 * admin API's errors, threads and descriptors back after held requests,
 * and a stop that ends a pending request. Paths from the environment
 * (make check sets them): CARAPACED, UPSTREAM, CLITOOL. */
#include "config.h"

#include <CUnit/Basic.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cu_run.h"
#include "testutil.h"
#include "tu_workers.h"

static char workdir[] = "/tmp/carapaced-approvals-XXXXXX";
static char conf[700], audit[700], errlog[700];
static const char *carapaced, *clitool, *ctl_path;
static pid_t up_pid = -1, gw_pid = -1, hook_pid = -1;
static int up_port, gw_port, admin_port, hook_port, dead_port;

/* variant 1: the rpc tool's policy changed (a grant made before dies);
 * 2: it denies "send" now; 3: the webhook's URL answers nothing */
static int write_conf(int variant)
{
	char text[4096];

	snprintf(text, sizeof(text),
		 "{ \"listen\": [\"127.0.0.1:%d\"],\n"
		 "  \"admin_listen\": \"127.0.0.1:%d\",\n"
		 "  \"admin_token_sha256\": \"" TU_ADMIN_TOKEN_SHA256 "\",\n"
		 "  \"audit_log\": \"%s\",\n"
		 "  \"run_tools_as_root\": true,\n"
		 "  \"approval_webhook\": \"http://127.0.0.1:%d/echo/hook\",\n"
		 "  \"tools\": {\n"
		 "    \"rpc\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      \"jsonrpc_deny_methods\": [\"%s\"],\n"
		 "      \"require_approval\": { \"jsonrpc_methods\": "
		 "[\"send\", \"rm*\"],\n"
		 "        \"timeout_secs\": 120 } },\n"
		 "    \"quick\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      \"jsonrpc_deny_methods\": [\"x\"],\n"
		 "      \"require_approval\": { \"jsonrpc_methods\": [\"*\"],\n"
		 "        \"timeout_secs\": 1 } },\n"
		 "    \"web\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      \"require_approval\": { \"paths\": [\"/echo/del*\"],\n"
		 "        \"http_methods\": [\"POST\"] } },\n"
		 "    \"ct\": { \"type\": \"cli\", \"binary\": \"%s\",\n"
		 "      \"argv_allow_patterns\": [\"println *\", \"args *\"],\n"
		 "      \"audit\": { \"redact_patterns\": [\"--token\"] },\n"
		 "      \"require_approval\": { \"argv_patterns\": "
		 "[\"println *\"] } } } }\n",
		 gw_port, admin_port, audit,
		 variant == 3 ? dead_port : hook_port, up_port,
		 variant == 2 ? "send" : variant ? "removeEverything" :
						   "removeAll",
		 up_port, up_port,
		 clitool);
	return tu_write_file(conf, text);
}

/* ---- the admin side ---- */

static json_object *admin_get(void)
{
	int status;
	char *body = NULL;
	json_object *o = NULL;

	if (tu_http(admin_port, "GET", "/v1/approvals", TU_ADMIN_AUTH, NULL,
		    &status, &body, NULL) == 0 && status == 200)
		o = json_tokener_parse(body);
	free(body);
	return o;
}

static const char *str(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ?
		       json_object_get_string(v) : NULL;
}

static json_object *list_of(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

/* The pending request of tool (the only one), as waited for. */
struct find {
	const char *tool;
	char id[64];
	json_object *rec;    /* a copy of its record; caller puts */
};

static int found_pending(void *arg)
{
	struct find *f = arg;
	json_object *o = admin_get(), *p = list_of(o, "pending");

	for (size_t i = 0; p && i < json_object_array_length(p); i++) {
		json_object *r = json_object_array_get_idx(p, i);
		if (strcmp(str(r, "tool"), f->tool) != 0)
			continue;
		snprintf(f->id, sizeof(f->id), "%s", str(r, "id"));
		f->rec = json_object_get(r);
		json_object_put(o);
		return 1;
	}
	json_object_put(o);
	return 0;
}

/* The id of tool's pending request, waited for (10 s); "" if none. */
static void wait_pending(const char *tool, char *id, size_t len,
			 json_object **rec)
{
	struct find f = { tool, "", NULL };

	tu_wait_until(found_pending, &f, 10000);
	snprintf(id, len, "%s", f.id);
	if (rec != NULL)
		*rec = f.rec;
	else
		json_object_put(f.rec);
}

static int n_listed(const char *key)
{
	json_object *o = admin_get(), *l = list_of(o, key);
	int n = l ? (int)json_object_array_length(l) : -1;

	json_object_put(o);
	return n;
}

static int decide(const char *id, const char *body, char **answer)
{
	char target[128];
	int status = -1;

	snprintf(target, sizeof(target), "/v1/approvals/%s", id);
	if (tu_http(admin_port, "POST", target, TU_ADMIN_AUTH, body, &status,
		    answer, NULL) < 0)
		return -1;
	return status;
}

/* ---- the client side ---- */

/* A request sent and not read yet: its connection. */
static int send_post(const char *target, const char *body)
{
	int fd = tu_connect(gw_port);

	if (fd >= 0 && tu_send_request(fd, "POST", target,
				       "Content-Type: application/json\r\n",
				       body, strlen(body)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int send_rpc(const char *tool, const char *method, const char *to)
{
	char target[128], body[256];

	snprintf(target, sizeof(target), "/tools/%s/api/v1/rpc", tool);
	snprintf(body, sizeof(body),
		 "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\","
		 "\"params\":{\"recipient\":\"%s\"}}",
		 rand() % 1000, method, to);
	return send_post(target, body);
}

/* The answer on fd (10 s): its status, the body into *body (caller
 * frees); fd is closed. */
static int answer(int fd, char **body)
{
	struct tu_resp r = { 0 };
	char buf[4096];
	size_t n = 0;
	ssize_t got;
	int status = -1;

	if (fd >= 0 && tu_read_head(&r, fd, 10000) == 0) {
		status = r.status;
		while (n < sizeof(buf) - 1 &&
		       (got = tu_read_body(&r, buf + n, sizeof(buf) - 1 - n,
					   10000)) > 0)
			n += (size_t)got;
	}
	buf[n] = '\0';
	if (body != NULL)
		*body = strdup(buf);
	tu_resp_free(&r);
	if (fd >= 0)
		close(fd);
	return status;
}

static int requests_upstream(void)
{
	return tu_upstream_stat(up_port, "requests");
}

static int audit_has(const char *a, const char *b)
{
	char *t = tu_slurp(audit), *l = t, *nl;
	int yes = 0;

	for (; l != NULL && *l != '\0' && !yes; l = nl ? nl + 1 : NULL) {
		if ((nl = strchr(l, '\n')) != NULL)
			*nl = '\0';
		yes = strstr(l, a) != NULL && (b == NULL || strstr(l, b));
	}
	free(t);
	return yes;
}

struct audit_wait {
	const char *a, *b;
};

static int audit_shows(void *arg)
{
	struct audit_wait *w = arg;

	return audit_has(w->a, w->b);
}

/* A line of the audit log with both strings, waited for (5 s). */
static int audit_line(const char *a, const char *b)
{
	struct audit_wait w = { a, b };

	return tu_wait_until(audit_shows, &w, 5000) == 0;
}

/* ---- the tests ---- */

static void test_approve_completes(void)
{
	char id[64], *body = NULL, *ans = NULL;
	json_object *rec = NULL;
	int before = requests_upstream();

	int fd = send_rpc("rpc", "send", "+100");
	CU_ASSERT_FATAL(fd >= 0);
	wait_pending("rpc", id, sizeof(id), &rec);
	CU_ASSERT_FATAL(strlen(id) == 32);
	/* the record: who, what, a digest, and no params */
	CU_ASSERT_STRING_EQUAL(str(rec, "client"), "addr:127.0.0.1");
	CU_ASSERT_STRING_EQUAL(str(rec, "kind"), "jsonrpc");
	CU_ASSERT_STRING_EQUAL(str(rec, "what"), "send");
	CU_ASSERT(str(rec, "digest") && strlen(str(rec, "digest")) == 64);
	CU_ASSERT(str(rec, "created") && str(rec, "expires"));
	CU_ASSERT(strstr(json_object_to_json_string(rec), "+100") == NULL);
	json_object_put(rec);
	/* nothing went upstream while it was held */
	CU_ASSERT_EQUAL(requests_upstream(), before);
	CU_ASSERT_EQUAL(decide(id, "{\"decision\":\"approve\"}", &ans), 200);
	CU_ASSERT(ans && strstr(ans, "\"decision\":\"approve\""));
	free(ans);
	CU_ASSERT_EQUAL(answer(fd, &body), 200);
	CU_ASSERT(body && strstr(body, "\"recipient\":\"+100\""));
	free(body);
	CU_ASSERT_EQUAL(requests_upstream(), before + 1);
	/* decided: no longer pending, and told to the audit trail */
	CU_ASSERT_EQUAL(n_listed("pending"), 0);
	CU_ASSERT(audit_line("\"approval_pending\"", id));
	CU_ASSERT(audit_line("\"approval_decided\"", "\"by\":\"admin\""));
	CU_ASSERT(audit_line("\"approval_id\":\"", "\"status\":200"));
	/* a decided id is unknown now */
	CU_ASSERT_EQUAL(decide(id, "{\"decision\":\"deny\"}", NULL), 404);
}

static void test_deny_names_reason(void)
{
	char id[64], *body = NULL;
	int before = requests_upstream();
	int fd = send_rpc("rpc", "send", "+200");

	wait_pending("rpc", id, sizeof(id), NULL);
	CU_ASSERT_EQUAL(decide(id, "{\"decision\":\"deny\",\"reason\":"
			       "\"not today\"}", NULL), 200);
	CU_ASSERT_EQUAL(answer(fd, &body), 403);
	/* a JSON-RPC error, echoing the id, naming the reason */
	CU_ASSERT(body && strstr(body, "approval denied: not today") &&
		  strstr(body, "\"jsonrpc\":\"2.0\""));
	free(body);
	CU_ASSERT_EQUAL(requests_upstream(), before);
}

static void test_timeout(void)
{
	char id[64], *body = NULL;
	int before = requests_upstream();
	uint64_t t0 = tu_now_ns();
	int fd = send_rpc("quick", "anything", "+300");

	wait_pending("quick", id, sizeof(id), NULL);
	CU_ASSERT_EQUAL(answer(fd, &body), 403);
	double secs = (double)(tu_now_ns() - t0) / 1e9;
	CU_ASSERT(secs >= 0.9);
	CU_ASSERT(body && strstr(body, "approval timed out"));
	free(body);
	CU_ASSERT_EQUAL(requests_upstream(), before);
	CU_ASSERT(audit_line("\"approval_timeout\"", id));
	CU_ASSERT_EQUAL(n_listed("pending"), 0);
}

static void approve_with(const char *tool, const char *decision,
			 int (*send)(void), int want)
{
	char id[64];
	int fd = send();

	wait_pending(tool, id, sizeof(id), NULL);
	CU_ASSERT_EQUAL(decide(id, decision, NULL), 200);
	CU_ASSERT_EQUAL(answer(fd, NULL), want);
}

static int send_a(void)
{
	return send_rpc("rpc", "send", "+A");
}

static int send_b(void)
{
	return send_rpc("rpc", "send", "+B");
}

/* A call that must be held: it is, and it is denied to end it. */
static void held_then_denied(int fd, const char *tool)
{
	char id[64];

	wait_pending(tool, id, sizeof(id), NULL);
	CU_ASSERT(id[0] != '\0');
	CU_ASSERT_EQUAL(decide(id, "{\"decision\":\"deny\"}", NULL), 200);
	CU_ASSERT_EQUAL(answer(fd, NULL), 403);
}

static void held_then_denied_id(int fd, const char *id)
{
	CU_ASSERT_EQUAL(decide(id, "{\"decision\":\"deny\"}", NULL), 200);
	CU_ASSERT_EQUAL(answer(fd, NULL), 403);
}

static int no_grants(void *arg)
{
	(void)arg;
	return n_listed("grants") == 0;
}

static void test_grant_reuse_and_expiry(void)
{
	approve_with("rpc", "{\"decision\":\"approve\",\"grant_secs\":3}",
		     send_a, 200);
	CU_ASSERT_EQUAL(n_listed("grants"), 1);
	/* the same call again (another id): through without asking */
	CU_ASSERT_EQUAL(answer(send_a(), NULL), 200);
	CU_ASSERT(audit_line("\"grant_id\":\"", "\"status\":200"));
	/* after its expiry: held again */
	CU_ASSERT(tu_wait_until(no_grants, NULL, 10000) == 0);
	held_then_denied(send_a(), "rpc");
}

static void test_grant_bound_to_params(void)
{
	approve_with("rpc", "{\"decision\":\"approve\",\"grant_secs\":600}",
		     send_a, 200);
	/* send to B is another call */
	held_then_denied(send_b(), "rpc");
	/* and send to A still goes */
	CU_ASSERT_EQUAL(answer(send_a(), NULL), 200);
	/* but not to another path of the tool, nor with another method */
	const char *a = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"send\","
			"\"params\":{\"recipient\":\"+A\"}}";
	held_then_denied(send_post("/tools/rpc/api/v1/other", a), "rpc");
	held_then_denied(send_post("/tools/rpc/api/v1/rpc?x=1", a), "rpc");
}

static void reload_with(int variant);

static void test_grant_dies_on_reload(void)
{
	int status;

	/* a grant of the test before, or a new one */
	approve_with("rpc", "{\"decision\":\"approve\",\"grant_secs\":600}",
		     send_b, 200);
	CU_ASSERT_EQUAL(answer(send_b(), NULL), 200);
	CU_ASSERT_FATAL(write_conf(1) == 0);
	CU_ASSERT(tu_http(admin_port, "POST", "/v1/reload", TU_ADMIN_AUTH,
			  "", &status, NULL, NULL) == 0 && status == 200);
	CU_ASSERT_EQUAL(n_listed("grants"), 0);
	held_then_denied(send_b(), "rpc");
	/* a reload that changes nothing of the tool keeps a grant */
	approve_with("rpc", "{\"decision\":\"approve\",\"grant_secs\":600}",
		     send_b, 200);
	CU_ASSERT(tu_http(admin_port, "POST", "/v1/reload", TU_ADMIN_AUTH,
			  "", &status, NULL, NULL) == 0 && status == 200);
	CU_ASSERT_EQUAL(answer(send_b(), NULL), 200);
	CU_ASSERT_FATAL(write_conf(0) == 0);
	CU_ASSERT(tu_http(admin_port, "POST", "/v1/reload", TU_ADMIN_AUTH,
			  "", &status, NULL, NULL) == 0 && status == 200);
	/* dead for good: a reload that puts the tool back as it was does not
	 * bring back a grant a reload between killed (nothing looked at the
	 * grants in between) */
	approve_with("rpc", "{\"decision\":\"approve\",\"grant_secs\":600}",
		     send_b, 200);
	CU_ASSERT_EQUAL(answer(send_b(), NULL), 200);
	reload_with(1);
	reload_with(0);
	held_then_denied(send_b(), "rpc");
}

static void reload_with(int variant)
{
	int status;

	CU_ASSERT_FATAL(write_conf(variant) == 0);
	CU_ASSERT(tu_http(admin_port, "POST", "/v1/reload", TU_ADMIN_AUTH,
			  "", &status, NULL, NULL) == 0 && status == 200);
}

static void test_reload_recheck(void)
{
	char id[64], *body = NULL;
	int before = requests_upstream();

	/* a reload that leaves the tool as it was: approved, it goes */
	int fd = send_rpc("rpc", "send", "+500");
	wait_pending("rpc", id, sizeof(id), NULL);
	reload_with(0);
	CU_ASSERT_EQUAL(n_listed("pending"), 1);
	CU_ASSERT_EQUAL(decide(id, "{\"decision\":\"approve\"}", NULL), 200);
	CU_ASSERT_EQUAL(answer(fd, NULL), 200);
	CU_ASSERT_EQUAL(requests_upstream(), before + 1);
	/* one whose tool a reload changed, even in a way that still allows
	 * the call: kept, then refused (it was built by the tool as it was;
	 * the client sends it again) */
	for (int variant = 1; variant <= 2; variant++) {
		fd = send_rpc("rpc", "send", "+501");
		wait_pending("rpc", id, sizeof(id), NULL);
		reload_with(variant);
		CU_ASSERT_EQUAL(n_listed("pending"), 1);
		CU_ASSERT_EQUAL(decide(id, "{\"decision\":\"approve\"}",
				       NULL), 200);
		CU_ASSERT_EQUAL(answer(fd, &body), 403);
		CU_ASSERT(body && strstr(body, "approved, but a reload changed "
					 "tool rpc while the request was "
					 "held"));
		free(body);
		body = NULL;
		CU_ASSERT_EQUAL(requests_upstream(), before + 1);
		reload_with(0);
	}
}

static int send_rm_x(void)
{
	return send_rpc("rpc", "rmFile", "x");
}

static void test_method_scope(void)
{
	approve_with("rpc", "{\"decision\":\"approve\",\"grant_secs\":600,"
		     "\"scope\":\"method\"}", send_rm_x, 200);
	/* any params of that method, by this client */
	CU_ASSERT_EQUAL(answer(send_rpc("rpc", "rmFile", "y"), NULL), 200);
	/* not another method the same rule holds */
	held_then_denied(send_rpc("rpc", "rmDir", "y"), "rpc");
}

static int gone_from_list(void *arg)
{
	json_object *o = admin_get(), *p = list_of(o, "pending");
	int gone = p != NULL && json_object_array_length(p) == 0;

	(void)arg;
	json_object_put(o);
	return gone;
}

static void test_client_leaves(void)
{
	char id[64];
	int before = requests_upstream();
	int fd = send_rpc("rpc", "send", "+400");

	wait_pending("rpc", id, sizeof(id), NULL);
	CU_ASSERT_FATAL(id[0] != '\0');
	close(fd);
	CU_ASSERT(tu_wait_until(gone_from_list, NULL, 5000) == 0);
	CU_ASSERT(audit_line("\"approval_cancelled\"", id));
	CU_ASSERT_EQUAL(decide(id, "{\"decision\":\"approve\"}", NULL), 404);
	CU_ASSERT_EQUAL(requests_upstream(), before);
}

static void test_cli_argv(void)
{
	char id[64], *body = NULL;
	json_object *rec = NULL;
	int fd = send_post("/tools/ct", "{\"argv\":[\"println\",\"hi\"]}");

	wait_pending("ct", id, sizeof(id), &rec);
	CU_ASSERT_FATAL(id[0] != '\0');
	CU_ASSERT_STRING_EQUAL(str(rec, "kind"), "argv");
	CU_ASSERT_STRING_EQUAL(str(rec, "what"), "println hi");
	json_object_put(rec);
	CU_ASSERT_EQUAL(decide(id, "{\"decision\":\"approve\"}", NULL), 200);
	CU_ASSERT_EQUAL(answer(fd, &body), 200);
	CU_ASSERT(body && strstr(body, "\"stdout\":\"hi\\n\""));
	free(body);
	/* what the rule does not name runs at once */
	fd = send_post("/tools/ct", "{\"argv\":[\"args\",\"x\"]}");
	CU_ASSERT_EQUAL(answer(fd, NULL), 200);
	/* a denial: nothing runs */
	fd = send_post("/tools/ct", "{\"argv\":[\"println\",\"no\"]}");
	held_then_denied(fd, "ct");
	/* what the approver sees is redacted as the audit trail would be */
	fd = send_post("/tools/ct", "{\"argv\":[\"println\",\"--token\","
		       "\"s3cret\"]}");
	wait_pending("ct", id, sizeof(id), &rec);
	CU_ASSERT_FATAL(id[0] != '\0');
	CU_ASSERT_STRING_EQUAL(str(rec, "what"),
			       "println --token [REDACTED]");
	json_object_put(rec);
	held_then_denied_id(fd, id);
	CU_ASSERT(!audit_has("s3cret", NULL));
}

static void test_plain_http(void)
{
	char id[64], *body = NULL;
	json_object *rec = NULL;
	int fd = send_post("/tools/web/echo/delete?x=1", "{}");

	wait_pending("web", id, sizeof(id), &rec);
	CU_ASSERT_FATAL(id[0] != '\0');
	CU_ASSERT_STRING_EQUAL(str(rec, "what"), "POST /echo/delete?x=1");
	json_object_put(rec);
	CU_ASSERT_EQUAL(decide(id, "{\"decision\":\"deny\",\"reason\":\"no\"}",
			       NULL), 200);
	CU_ASSERT_EQUAL(answer(fd, &body), 403);
	CU_ASSERT(body && strstr(body, "approval denied: no") &&
		  strstr(body, "\"error\""));
	free(body);
	/* GET is not in http_methods */
	int status;
	CU_ASSERT(tu_http(gw_port, "GET", "/tools/web/echo/delete", NULL,
			  NULL, &status, NULL, NULL) == 0 && status == 200);
	/* shown with no byte that is not printable UTF-8 and nothing that
	 * reorders or hides text */
	fd = send_post("/tools/web/echo/delete?to=\xff\xe2\x80\xae\\", "{}");
	wait_pending("web", id, sizeof(id), &rec);
	CU_ASSERT_FATAL(id[0] != '\0');
	CU_ASSERT_STRING_EQUAL(str(rec, "what"), "POST /echo/delete?to="
			       "\\xff\\u{202e}\\x5c");
	json_object_put(rec);
	held_then_denied_id(fd, id);
	/* the path as the upstream reads it is held, however it is spelt:
	 * an escaped letter, a doubled slash (a segment parameter is refused
	 * by the route unless allow_path_params) */
	static const char *const spelt[] = {
		"/tools/web/echo/%64elete", "/tools/web/echo//delete",
	};
	for (size_t i = 0; i < sizeof(spelt) / sizeof(*spelt); i++) {
		int before = requests_upstream();
		fd = send_post(spelt[i], "{}");
		wait_pending("web", id, sizeof(id), NULL);
		CU_ASSERT(id[0] != '\0');
		if (id[0] == '\0') {
			fprintf(stderr, "\n    not held: %s\n", spelt[i]);
			close(fd);
			continue;
		}
		held_then_denied_id(fd, id);
		CU_ASSERT_EQUAL(requests_upstream(), before);
	}
}

static void test_admin_errors(void)
{
	char *ans = NULL;
	static const char zeros[] = "00000000000000000000000000000000";

	CU_ASSERT_EQUAL(decide(zeros, "{\"decision\":\"approve\"}", NULL),
			404);
	CU_ASSERT_EQUAL(decide("short", "{\"decision\":\"approve\"}", NULL),
			404);
	CU_ASSERT_EQUAL(decide(zeros, "{\"decision\":\"maybe\"}", &ans), 400);
	CU_ASSERT(ans && strstr(ans, "decision must be"));
	free(ans);
	CU_ASSERT_EQUAL(decide(zeros, "not json", NULL), 400);
	CU_ASSERT_EQUAL(decide(zeros, "{\"decision\":\"approve\","
			       "\"grant_secs\":-1}", NULL), 400);
	CU_ASSERT_EQUAL(decide(zeros, "{\"decision\":\"approve\","
			       "\"scope\":\"method\"}", NULL), 400);
	CU_ASSERT_EQUAL(decide(zeros, "{\"decision\":\"approve\","
			       "\"extra\":1}", NULL), 400);
	int status;
	CU_ASSERT(tu_http(admin_port, "POST", "/v1/approvals/x", NULL,
			  "{}", &status, NULL, NULL) == 0 && status == 401);
	CU_ASSERT(tu_http(admin_port, "GET", "/v1/approvals/x",
			  TU_ADMIN_AUTH, NULL, &status, NULL, NULL) == 0 &&
		  status == 405);
}

/* The issue asks that a new pending request show in the live feed
 * within 100 ms. Measured from the request being sent to the feed's
 * event, best of three: that one must be under 100 ms; each must come
 * within 2 s, a bound wide only for the loaded machine (two cores,
 * fuzzers, sanitizers), where a single try may wait for a CPU. */
static void test_feed_delay(void)
{
	struct tu_resp r = { 0 };
	char data[2048];
	double best = 1e9;
	int fd = tu_connect(admin_port);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(tu_send_request(fd, "GET", "/v1/approvals",
					TU_ADMIN_AUTH
					"Accept: text/event-stream\r\n",
					NULL, 0) == 0);
	CU_ASSERT_FATAL(tu_read_head(&r, fd, 10000) == 0 && r.status == 200);
	for (int i = 0; i < 3; i++) {
		uint64_t t0 = tu_now_ns();
		int c = send_rpc("rpc", "send", "+feed");
		int ok = tu_sse_next_event(&r, data, sizeof(data), 2000) == 0;
		double ms = (double)(tu_now_ns() - t0) / 1e6;
		CU_ASSERT(ok && strstr(data, "\"created\"") &&
			  strstr(data, "\"tool\":\"rpc\""));
		fprintf(stderr, "feed: a new pending request seen after "
			"%.2f ms\n", ms);
		if (ok && ms < best)
			best = ms;
		held_then_denied(c, "rpc");
		/* its "decided" event */
		CU_ASSERT(tu_sse_next_event(&r, data, sizeof(data), 5000) == 0
			  && strstr(data, "\"decision\":\"deny\""));
	}
	CU_ASSERT(best < 100.0);
	tu_resp_free(&r);
	close(fd);
}

/* ---- approval_webhook ---- */

static int hook_saw(void *arg)
{
	int status;
	char *body = NULL;
	int yes = tu_http(hook_port, "GET", "/_upstream/requests", NULL, NULL,
			  &status, &body, NULL) == 0 && status == 200 &&
		  strstr(body, "/echo/hook") && strstr(body, (char *)arg);

	free(body);
	return yes;
}

static int log_says_failed(void *arg)
{
	char want[64];
	char *t = tu_slurp(errlog);

	(void)arg;
	snprintf(want, sizeof(want), "approval_webhook: http://127.0.0.1:%d",
		 dead_port);
	int yes = t != NULL && strstr(t, want) != NULL;
	free(t);
	return yes;
}

static void test_webhook(void)
{
	char id[64];
	int fd = send_rpc("rpc", "send", "+hook");

	wait_pending("rpc", id, sizeof(id), NULL);
	CU_ASSERT_FATAL(id[0] != '\0');
	/* the record, POSTed to approval_webhook */
	CU_ASSERT(tu_wait_until(hook_saw, id, 10000) == 0);
	held_then_denied_id(fd, id);
	/* a webhook that fails decides nothing: the request stays held */
	reload_with(3);
	fd = send_rpc("rpc", "send", "+dead");
	wait_pending("rpc", id, sizeof(id), NULL);
	CU_ASSERT_FATAL(id[0] != '\0');
	/* its failure, logged */
	CU_ASSERT(tu_wait_until(log_says_failed, NULL, 10000) == 0);
	CU_ASSERT_EQUAL(n_listed("pending"), 1);
	held_then_denied_id(fd, id);
	reload_with(0);
}

/* ---- carapacectl ---- */

/* carapacectl -c conf ARGS: its exit status, stdout and stderr in out. */
static int ctl(const char *args, char *out, size_t len)
{
	char cmd[2400];

	snprintf(cmd, sizeof(cmd), "'%s' -c '%s' %s", ctl_path, conf, args);
	return tu_run(cmd, out, len);
}

static void test_ctl(void)
{
	char id[64], args[256], out[4096], line[1024];
	int rd = -1;

	/* --follow: what is pending now, then what comes */
	const char *argv[] = { ctl_path, "-c", conf, "approvals", "--follow",
			       NULL };
	pid_t follower = tu_spawn(argv, &rd);
	CU_ASSERT_FATAL(follower > 0);
	int fd = send_rpc("rpc", "rmTree", "/");
	wait_pending("rpc", id, sizeof(id), NULL);
	CU_ASSERT(tu_read_line(rd, line, sizeof(line), 10000) > 0 &&
		  strncmp(line, "pending ", 8) == 0 && strstr(line, id) &&
		  strstr(line, "rmTree"));
	CU_ASSERT_EQUAL(ctl("approvals", out, sizeof(out)), 0);
	CU_ASSERT(strstr(out, id) && strstr(out, "addr:127.0.0.1"));
	CU_ASSERT_EQUAL(ctl("approvals --json", out, sizeof(out)), 0);
	CU_ASSERT(strstr(out, "\"pending\"") != NULL);
	/* bad usage */
	CU_ASSERT_EQUAL(ctl("approve", out, sizeof(out)), 2);
	CU_ASSERT_EQUAL(ctl("approve x --for 1y", out, sizeof(out)), 2);
	CU_ASSERT_EQUAL(ctl("approve x --for 31d", out, sizeof(out)), 2);
	CU_ASSERT_EQUAL(ctl("approve x --scope all --for 1h", out,
			    sizeof(out)), 2);
	CU_ASSERT_EQUAL(ctl("deny x --for 1h", out, sizeof(out)), 2);
	CU_ASSERT_EQUAL(ctl("approve 0123 --for 1h", out, sizeof(out)), 1);
	snprintf(args, sizeof(args), "approve %s --for 1h --scope method",
		 id);
	CU_ASSERT_EQUAL(ctl(args, out, sizeof(out)), 0);
	CU_ASSERT(strstr(out, "approve ") && strstr(out, "(scope method)"));
	CU_ASSERT(tu_read_line(rd, line, sizeof(line), 10000) > 0 &&
		  strncmp(line, "decided ", 8) == 0 && strstr(line, id) &&
		  strstr(line, "approve"));
	CU_ASSERT_EQUAL(answer(fd, NULL), 200);
	CU_ASSERT_EQUAL(answer(send_rpc("rpc", "rmTree", "/x"), NULL), 200);
	CU_ASSERT(audit_line("\"approval_decided\"", "\"scope\":\"method\""));
	/* deny with a reason */
	fd = send_rpc("rpc", "send", "+ctl");
	wait_pending("rpc", id, sizeof(id), NULL);
	snprintf(args, sizeof(args), "deny %s --reason 'ask me later'", id);
	CU_ASSERT_EQUAL(ctl(args, out, sizeof(out)), 0);
	char *body = NULL;
	CU_ASSERT_EQUAL(answer(fd, &body), 403);
	CU_ASSERT(body && strstr(body, "approval denied: ask me later"));
	free(body);
	CU_ASSERT(audit_line("\"reason\":\"ask me later\"", id));
	tu_stop(follower);
	close(rd);
}

/* ---- threads and descriptors back, and a stop ---- */

struct back {
	int threads0, idle0, fds0, threads, want, fds;
};

static int no_clients(void *arg)
{
	(void)arg;
	return tu_proc_tcp(gw_pid, gw_port, 0) == 0;
}

static int back_to(void *arg)
{
	struct back *b = arg;

	b->fds = tu_proc_fds(gw_pid);
	return tu_threads_back(gw_pid, admin_port, b->threads0, b->idle0,
			       &b->threads, &b->want) &&
	       tu_fds_back_or_parked(b->fds, b->fds0);
}

static void test_resources_back(void)
{
	struct back b = { 0 };
	int fds[6];

	CU_ASSERT(tu_wait_until(no_clients, NULL, 10000) == 0);
	b.fds0 = tu_proc_fds(gw_pid);
	CU_ASSERT_FATAL(tu_threads_baseline(gw_pid, admin_port, &b.threads0,
					    &b.idle0) == 0);
	for (int i = 0; i < 6; i++)
		fds[i] = send_rpc("rpc", "send", "+res");
	for (int i = 0; i < 6; i++) {
		char id[64];
		wait_pending("rpc", id, sizeof(id), NULL);
		if (i % 3 == 0)
			decide(id, "{\"decision\":\"approve\"}", NULL);
		else
			decide(id, "{\"decision\":\"deny\"}", NULL);
	}
	for (int i = 0; i < 6; i++)
		answer(fds[i], NULL);
	/* and one whose client leaves */
	int fd = send_rpc("rpc", "send", "+gone");
	char id[64];
	wait_pending("rpc", id, sizeof(id), NULL);
	close(fd);
	CU_ASSERT(tu_wait_until(gone_from_list, NULL, 5000) == 0);
	CU_ASSERT(tu_wait_until(no_clients, NULL, 10000) == 0);
	tu_wait_until(back_to, &b, 10000);
	if (b.threads != b.want || !tu_fds_back_or_parked(b.fds, b.fds0))
		fprintf(stderr, "threads %d -> %d (want %d), fds %d -> %d\n",
			b.threads0, b.threads, b.want, b.fds0, b.fds);
	CU_ASSERT_EQUAL(b.threads, b.want);
	CU_ASSERT(tu_fds_back_or_parked(b.fds, b.fds0));
}

static void test_stop_ends_pending(void)
{
	char id[64], *body = NULL;
	int fd = send_rpc("rpc", "send", "+stop");

	wait_pending("rpc", id, sizeof(id), NULL);
	CU_ASSERT_FATAL(id[0] != '\0');
	uint64_t t0 = tu_now_ns();
	CU_ASSERT_EQUAL(tu_stop_daemon(gw_pid), 0);
	gw_pid = -1;
	double secs = (double)(tu_now_ns() - t0) / 1e9;
	fprintf(stderr, "stop with a pending request: %.2f s\n", secs);
	CU_ASSERT(secs < 5.0);
	int status = answer(fd, &body);
	/* answered before the listeners stopped (the drain waits for it) */
	fprintf(stderr, "its answer: %d %s\n", status, body ? body : "");
	CU_ASSERT_EQUAL(status, 503);
	CU_ASSERT(body && strstr(body, "shutting down"));
	CU_ASSERT(audit_has(id, "\"status\":503"));
	free(body);
	CU_ASSERT(audit_has("\"approval_cancelled\"", id));
}

static int suite_init(void)
{
	const char *up = getenv("UPSTREAM");

	carapaced = getenv("CARAPACED");
	clitool = getenv("CLITOOL");
	ctl_path = getenv("CARAPACECTL");
	if (up == NULL || carapaced == NULL || clitool == NULL ||
	    ctl_path == NULL)
		return -1;
	setenv("CARAPACE_ADMIN_TOKEN", TU_ADMIN_TOKEN, 1);
	tu_prepare_process();
	snprintf(conf, sizeof(conf), "%s/carapaced.conf", workdir);
	snprintf(audit, sizeof(audit), "%s/audit.log", workdir);
	snprintf(errlog, sizeof(errlog), "%s/carapaced.log", workdir);
	up_pid = tu_spawn_upstream(up, &up_port);
	hook_pid = tu_spawn_upstream(up, &hook_port);
	dead_port = tu_free_port();
	gw_port = tu_free_port();
	admin_port = tu_free_port();
	if (up_pid < 0 || hook_pid < 0 || write_conf(0) < 0)
		return -1;
	gw_pid = tu_start_daemon(&(struct tu_daemon){
		.conf = conf, .ports = { gw_port, admin_port },
		.errlog = errlog });
	return gw_pid > 0 ? 0 : -1;
}

static int suite_clean(void)
{
	int rc = gw_pid > 0 && tu_stop(gw_pid) != 0 ? -1 : 0;

	if (up_pid > 0)
		tu_stop(up_pid);
	if (hook_pid > 0)
		tu_stop(hook_pid);
	return rc;
}

int main(void)
{
	static pid_t *const children[] = { &gw_pid, &up_pid, &hook_pid };

	tu_watchdog("test_approvals", 300, children, 3);
	if (mkdtemp(workdir) == NULL ||
	    CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("approvals", suite_init, suite_clean);
	CU_add_test(s, "pending, approved: the call completes",
		    test_approve_completes);
	CU_add_test(s, "denied: 403 naming the reason",
		    test_deny_names_reason);
	CU_add_test(s, "timed out: 403, nothing upstream", test_timeout);
	CU_add_test(s, "a grant reused in time, held after expiry",
		    test_grant_reuse_and_expiry);
	CU_add_test(s, "a grant of send to A lets no send to B through",
		    test_grant_bound_to_params);
	CU_add_test(s, "a grant dies when a reload changes the tool",
		    test_grant_dies_on_reload);
	CU_add_test(s, "a method-scope grant", test_method_scope);
	CU_add_test(s, "a reload keeps a pending request; one that changed "
		    "its tool refuses its approval", test_reload_recheck);
	CU_add_test(s, "a client that leaves is no longer pending",
		    test_client_leaves);
	CU_add_test(s, "a CLI tool's argv", test_cli_argv);
	CU_add_test(s, "a plain HTTP tool's method and path",
		    test_plain_http);
	CU_add_test(s, "the admin API's errors", test_admin_errors);
	CU_add_test(s, "carapacectl approvals, approve, deny", test_ctl);
	CU_add_test(s, "approval_webhook: told, and never deciding",
		    test_webhook);
	CU_add_test(s, "the live feed shows a new request within 100 ms",
		    test_feed_delay);
	CU_add_test(s, "threads and descriptors back after held requests",
		    test_resources_back);
	CU_add_test(s, "a stop ends a pending request",
		    test_stop_ends_pending);
	int rc = cu_run();
	if (rc != 0) { /* the daemon's own words */
		char *t = tu_slurp(errlog);
		fprintf(stderr, "%s", t ? t : "");
		free(t);
	}
	tu_remove_tree(workdir);
	return rc;
}
