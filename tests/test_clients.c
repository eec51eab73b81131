/* Integration test of client identity (clients): the real carapaced in
 * front of tests/upstream over loopback, with these clients:
 *   vm1    a token; tools sig and rpc
 *   far    a token, and only from 127.0.0.2
 *   local  no credentials: whoever connects from 127.0.0.3
 *   rl     a token; sig and op; 3 requests an hour of its own
 *   rb     a token; rpc; 3 calls an hour of its own
 *   rev    a token; revoked while its stream is open
 *   narrow a token; sig and op, then only sig (a reload)
 *   gone   a token; removed by a reload
 *   late   a token; revoked while its stream waits for the upstream head
 *   shrink a token; sig and op, then only sig, while its op stream waits
 *   slow   a token; revoked while its request's body is coming in
 * Refusals are checked for their status, answer, audit record and that
 * the upstream received nothing; the client's name in audit records,
 * /v1/streams and metrics. Environment: CARAPACED, UPSTREAM (make
 * check). Basic credentials go through the curl binary. */
#include "config.h"

#include <CUnit/Basic.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auditd.h"
#include "cu_run.h"
#include "promtext.h"
#include "secret.h"
#include "testutil.h"

#define T_VM1 "vm1-token-5d1b7e"
#define T_FAR "far-token-0c2a44"
#define T_RL "rl-token-93e0aa"
#define T_RB "rb-token-17fe02"
#define T_REV "rev-token-4b4b90"
#define T_NARROW "narrow-token-a61f3c"
#define T_GONE "gone-token-e2d805"
#define T_LATE "late-token-7c01d9"
#define T_SHRINK "shrink-token-3e88b2"
#define T_SLOW "slow-token-90d4f1"

static char revoked_path[700];

static void hex(const char *token, char out[SECRET_HEX_LEN + 1])
{
	unsigned char h[SECRET_HASH_LEN];

	secret_sha256(token, strlen(token), h);
	secret_hex_format(h, out);
}

/* The config; later: narrow loses op and gone is removed; later 2:
 * shrink loses op too. */
static int write_conf(int later)
{
	char h[10][SECRET_HEX_LEN + 1], text[8192], gone[256], more[640];
	const char *tok[] = { T_VM1, T_FAR, T_RL, T_RB, T_REV, T_NARROW,
			      T_GONE, T_LATE, T_SHRINK, T_SLOW };

	for (int i = 0; i < 10; i++)
		hex(tok[i], h[i]);
	snprintf(gone, sizeof(gone),
		 ",\"gone\":{\"token_sha256\":\"%s\",\"tools\":[\"sig\"]}",
		 h[6]);
	snprintf(more, sizeof(more),
		 ",\"late\":{\"token_sha256\":\"%s\",\"tools\":[\"sig\"]}"
		 ",\"shrink\":{\"token_sha256\":\"%s\",\"tools\":[\"sig\"%s]}"
		 ",\"slow\":{\"token_sha256\":\"%s\",\"tools\":[\"sig\"]}",
		 h[7], h[8], later >= 2 ? "" : ",\"op\"", h[9]);
	snprintf(text, sizeof(text),
		 "{\"listen\":[\"127.0.0.1:%d\"],\n"
		 " \"max_connections_per_ip\":0,\n"
		 " \"admin_listen\":\"127.0.0.1:%d\",\n"
		 " \"admin_token_sha256\":\"" TU_ADMIN_TOKEN_SHA256 "\",\n"
		 " \"audit_log\":\"%s\",\n"
		 " \"revoked_clients_file\":\"%s\",\n"
		 " \"tools\":{\n"
		 "  \"sig\":{\"type\":\"http\",\"upstream\":\"http://127.0.0.1:%d\"},\n"
		 "  \"op\":{\"type\":\"http\",\"upstream\":\"http://127.0.0.1:%d\"},\n"
		 "  \"rpc\":{\"type\":\"http\",\"upstream\":\"http://127.0.0.1:%d\","
		 "\"jsonrpc_allow_methods\":[\"send\",\"version\"]}},\n"
		 " \"clients\":{\n"
		 "  \"vm1\":{\"token_sha256\":\"%s\",\"tools\":[\"sig\",\"rpc\"]},\n"
		 "  \"far\":{\"token_sha256\":\"%s\",\"allow_from\":[\"127.0.0.2/32\"],"
		 "\"tools\":[\"sig\"]},\n"
		 "  \"local\":{\"allow_from\":[\"127.0.0.3/32\"],\"tools\":[\"sig\"]},\n"
		 "  \"rl\":{\"token_sha256\":\"%s\",\"tools\":[\"sig\",\"op\"],"
		 "\"rate_limit\":{\"max_requests\":3,\"window_secs\":3600}},\n"
		 "  \"rb\":{\"token_sha256\":\"%s\",\"tools\":[\"rpc\"],"
		 "\"rate_limit\":{\"max_requests\":3,\"window_secs\":3600}},\n"
		 "  \"rev\":{\"token_sha256\":\"%s\",\"tools\":[\"sig\"]},\n"
		 "  \"narrow\":{\"token_sha256\":\"%s\",\"tools\":[\"sig\"%s]}%s%s}}\n",
		 gw_port, admin_port, audit_path, revoked_path, up_port, up_port,
		 up_port, h[0], h[1], h[2], h[3], h[4], h[5],
		 later ? "" : ",\"op\"", later ? "" : gone, more);
	return tu_write_file(conf_path, text);
}

static int suite_init(void)
{
	if (mkdtemp(workdir) == NULL)
		return 1;
	snprintf(conf_path, sizeof(conf_path), "%s/c.json", workdir);
	snprintf(audit_path, sizeof(audit_path), "%s/audit.log", workdir);
	snprintf(errlog_path, sizeof(errlog_path), "%s/err.log", workdir);
	snprintf(revoked_path, sizeof(revoked_path), "%s/revoked", workdir);
	up_pid = tu_suite_upstream(&carapaced_path, &up_port);
	gw_port = tu_free_port();
	admin_port = tu_free_port();
	if (up_pid < 0 || gw_port < 0 || admin_port < 0 || write_conf(0) < 0)
		return 1;
	struct tu_daemon d = { conf_path, { gw_port, admin_port, 0 },
			       errlog_path, NULL };
	gw_pid = tu_start_daemon(&d);
	return gw_pid < 0;
}

static int suite_clean(void)
{
	int rc = gw_pid > 0 ? tu_stop_daemon(gw_pid) : 0;

	if (up_pid > 0)
		tu_stop(up_pid);
	tu_remove_tree(workdir);
	return rc != 0;
}

/* ---- requests ---- */

static int upstream_requests(void)
{
	return tu_upstream_stat(up_port, "requests");
}

/* One request with extra headers; the head in *r (caller frees it and
 * closes the returned fd), the body in body. */
static int request(const char *method, const char *target,
		   const char *headers, const char *payload,
		   struct tu_resp *r, char *body, size_t len)
{
	int fd = tu_connect(gw_port);
	size_t n = 0;
	ssize_t got;

	if (fd < 0 || tu_send_request(fd, method, target, headers, payload,
				      payload ? strlen(payload) : 0) < 0 ||
	    tu_read_head(r, fd, 10000) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while (n + 1 < len &&
	       (got = tu_read_body(r, body + n, len - 1 - n, 10000)) > 0)
		n += (size_t)got;
	body[n] = '\0';
	return fd;
}

static int status_of(const char *method, const char *target,
		     const char *headers, const char *payload, char *body,
		     size_t len)
{
	struct tu_resp r = { 0 };
	int fd = request(method, target, headers, payload, &r, body, len);
	int status = fd >= 0 ? r.status : -1;

	if (fd >= 0)
		close(fd);
	tu_resp_free(&r);
	return status;
}

#define BEARER(t) "Authorization: Bearer " t "\r\n"

/* curl's status code for url, with more options; -1 on failure. */
static int curl_status(const char *opts, const char *url)
{
	char cmd[1024], out[64];

	snprintf(cmd, sizeof(cmd),
		 "curl -s -o /dev/null -w '%%{http_code}' %s '%s'", opts,
		 url);
	if (tu_popen_read(cmd, out, sizeof(out)) < 0)
		return -1;
	return atoi(out);
}

/* The newest audit record of target: decision, status, client (NULL for
 * null) as expected. */
static void expect_record(const char *target, const char *decision,
			  int status, const char *client)
{
	json_object *records, *o = newest_for(target, &records);

	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_STRING_EQUAL(str_at(o, "decision"), decision);
	CU_ASSERT_EQUAL(int_at(o, "status"), status);
	const char *remote = str_at(o, "remote");
	CU_ASSERT(remote != NULL && strncmp(remote, "127.0.0.", 8) == 0);
	const char *got = str_at(o, "client");
	if (client == NULL) {
		CU_ASSERT_PTR_NULL(got);
	} else if (got == NULL) {
		CU_FAIL("no client in the record");
	} else {
		CU_ASSERT_STRING_EQUAL(got, client);
	}
	json_object_put(records);
}

/* A JSON error with code status whose message holds needle. */
static void expect_error_body(const char *body, int status,
			      const char *needle)
{
	json_object *o = json_tokener_parse(body), *e = NULL, *m = NULL;

	CU_ASSERT_FATAL(o && json_object_object_get_ex(o, "error", &e));
	CU_ASSERT_EQUAL(int_at(e, "code"), status);
	json_object_object_get_ex(e, "message", &m);
	if (needle != NULL &&
	    (m == NULL || strstr(json_object_get_string(m), needle) == NULL)) {
		fprintf(stderr, "\n  message: %s\n", body);
		CU_FAIL("the message");
	}
	json_object_put(o);
}

/* ---- refusals ---- */

static void test_no_token(void)
{
	const char *target = "/tools/sig/echo/no-token";
	struct tu_resp r = { 0 };
	char body[4096];
	int before = upstream_requests();
	int fd = request("GET", target, NULL, NULL, &r, body, sizeof(body));
	int bearer = 0, basic = 0;

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(r.status, 401);
	for (size_t i = 0; i < r.n_headers; i++)
		if (strcasecmp(r.headers[i].name, "WWW-Authenticate") == 0) {
			bearer += strcmp(r.headers[i].value,
					 "Bearer realm=\"carapaced\"") == 0;
			basic += strcmp(r.headers[i].value,
					"Basic realm=\"carapaced\"") == 0;
		}
	CU_ASSERT_EQUAL(bearer, 1);
	CU_ASSERT_EQUAL(basic, 1);
	expect_error_body(body, 401, "authentication required");
	close(fd);
	tu_resp_free(&r);
	expect_record(target, "deny", 401, NULL);
	CU_ASSERT_EQUAL(upstream_requests(), before);
}

static void test_wrong_token(void)
{
	const char *target = "/tools/sig/echo/wrong";
	char body[4096];
	int before = upstream_requests();

	CU_ASSERT_EQUAL(status_of("GET", target, BEARER("not-a-token"),
				  NULL, body, sizeof(body)),
			401);
	expect_error_body(body, 401, "match no client");
	CU_ASSERT_PTR_NULL(strstr(body, "not-a-token"));
	expect_record(target, "deny", 401, NULL);
	/* two Authorization headers: refused whatever they hold */
	CU_ASSERT_EQUAL(status_of("GET", "/tools/sig/echo/two",
				  BEARER(T_VM1) BEARER(T_VM1), NULL, body,
				  sizeof(body)),
			401);
	CU_ASSERT_EQUAL(upstream_requests(), before);
}

static void test_disallowed_address(void)
{
	const char *target = "/tools/sig/echo/far";
	char body[4096], url[256];
	int before = upstream_requests();

	CU_ASSERT_EQUAL(status_of("GET", target, BEARER(T_FAR), NULL, body,
				  sizeof(body)),
			401);
	expect_error_body(body, 401, "allow_from");
	expect_record(target, "deny", 401, NULL);
	CU_ASSERT_EQUAL(upstream_requests(), before);
	/* the same token from 127.0.0.2 is far */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/tools/sig/echo/far2",
		 gw_port);
	CU_ASSERT_EQUAL(curl_status("--interface 127.0.0.2 -H "
				    "'Authorization: Bearer " T_FAR "'",
				    url),
			200);
	expect_record("/tools/sig/echo/far2", "allow", 200, "far");
}

static void test_tool_outside_scope(void)
{
	const char *target = "/tools/op/echo/scope";
	char body[4096];
	int before = upstream_requests();

	CU_ASSERT_EQUAL(status_of("GET", target, BEARER(T_VM1), NULL, body,
				  sizeof(body)),
			403);
	expect_error_body(body, 403,
			  "client vm1 may not use tool op (clients.vm1.tools)");
	expect_record(target, "deny", 403, "vm1");
	CU_ASSERT_EQUAL(upstream_requests(), before);
}

/* ---- allowed ---- */

static void test_bearer_allowed(void)
{
	const char *target = "/tools/sig/echo/ok";
	char body[8192];

	CU_ASSERT_EQUAL(status_of("GET", target, BEARER(T_VM1), NULL, body,
				  sizeof(body)),
			200);
	/* the client's credential never goes upstream */
	CU_ASSERT_PTR_NULL(strcasestr(body, "authorization"));
	CU_ASSERT_PTR_NULL(strstr(body, T_VM1));
	expect_record(target, "allow", 200, "vm1");
}

static void test_basic_in_url(void)
{
	char url[256];

	snprintf(url, sizeof(url),
		 "http://vm1:" T_VM1 "@127.0.0.1:%d/tools/sig/echo/basic",
		 gw_port);
	CU_ASSERT_EQUAL(curl_status("", url), 200);
	expect_record("/tools/sig/echo/basic", "allow", 200, "vm1");
	/* another client's name with vm1's token */
	snprintf(url, sizeof(url),
		 "http://rl:" T_VM1 "@127.0.0.1:%d/tools/sig/echo/basic2",
		 gw_port);
	CU_ASSERT_EQUAL(curl_status("", url), 401);
}

static void test_address_only(void)
{
	char url[256];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/tools/sig/echo/local",
		 gw_port);
	CU_ASSERT_EQUAL(curl_status("--interface 127.0.0.3", url), 200);
	expect_record("/tools/sig/echo/local", "allow", 200, "local");
	/* the health check asks nobody */
	char body[256];
	CU_ASSERT_EQUAL(status_of("GET", "/healthz", NULL, NULL, body,
				  sizeof(body)),
			200);
}

static void test_client_rate_limit(void)
{
	char body[4096];
	const char *calls2 =
		"[{\"jsonrpc\":\"2.0\",\"method\":\"version\",\"id\":1},"
		"{\"jsonrpc\":\"2.0\",\"method\":\"version\",\"id\":2}]";
	const char *json = "Content-Type: application/json\r\n" BEARER(T_RB);

	/* shared across the client's tools: 3 in all */
	CU_ASSERT_EQUAL(status_of("GET", "/tools/sig/echo/r1", BEARER(T_RL),
				  NULL, body, sizeof(body)), 200);
	CU_ASSERT_EQUAL(status_of("GET", "/tools/op/echo/r2", BEARER(T_RL),
				  NULL, body, sizeof(body)), 200);
	CU_ASSERT_EQUAL(status_of("GET", "/tools/sig/echo/r3", BEARER(T_RL),
				  NULL, body, sizeof(body)), 200);
	struct tu_resp r = { 0 };
	int fd = request("GET", "/tools/op/echo/r4", BEARER(T_RL), NULL, &r,
			 body, sizeof(body));
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(r.status, 429);
	CU_ASSERT_PTR_NOT_NULL(tu_header(&r, "Retry-After"));
	expect_error_body(body, 429, "clients.rl.rate_limit");
	close(fd);
	tu_resp_free(&r);
	/* a batch counts its calls: 2, then 2 more do not fit in 3 */
	CU_ASSERT_EQUAL(status_of("POST", "/tools/rpc/api/v1/rpc", json,
				  calls2, body, sizeof(body)), 200);
	CU_ASSERT_EQUAL(status_of("POST", "/tools/rpc/api/v1/rpc", json,
				  calls2, body, sizeof(body)), 429);
	CU_ASSERT_PTR_NOT_NULL(strstr(body, "clients.rb.rate_limit"));
	/* other clients are not held up */
	CU_ASSERT_EQUAL(status_of("POST", "/tools/rpc/api/v1/rpc",
				  "Content-Type: application/json\r\n"
				  BEARER(T_VM1), calls2, body, sizeof(body)),
			200);
}

static void test_metrics_label(void)
{
	char body[256];
	struct tu_resp r = { 0 };
	int fd = tu_connect(admin_port);
	static char text[1 << 20];
	size_t n = 0;
	ssize_t got;

	CU_ASSERT_EQUAL(status_of("GET", "/tools/sig/echo/m", BEARER(T_VM1),
				  NULL, body, sizeof(body)), 200);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(tu_send_request(fd, "GET", "/metrics",
					BEARER(TU_ADMIN_TOKEN), NULL, 0) == 0);
	CU_ASSERT_FATAL(tu_read_head(&r, fd, 10000) == 0);
	while (n + 1 < sizeof(text) &&
	       (got = tu_read_body(&r, text + n, sizeof(text) - 1 - n,
				   10000)) > 0)
		n += (size_t)got;
	text[n] = '\0';
	close(fd);
	tu_resp_free(&r);
	char err[200];
	CU_ASSERT_EQUAL(promtext_check(text, err, sizeof(err)), 0);
	double v = -1;
	CU_ASSERT_EQUAL(promtext_value(text, "carapace_requests_total",
				       "tool=\"sig\",client=\"vm1\","
				       "decision=\"allow\"", &v), 0);
	CU_ASSERT(v >= 2);
	/* refused before identity: no client label */
	CU_ASSERT_EQUAL(promtext_value(text, "carapace_requests_total",
				       "tool=\"sig\",decision=\"deny\"", &v),
			0);
	CU_ASSERT(v >= 2);
	CU_ASSERT_EQUAL(promtext_value(text, "carapace_requests_total",
				       "tool=\"op\",client=\"vm1\","
				       "decision=\"deny\"", &v), 0);
	CU_ASSERT(v >= 1);
}

/* ---- streams: listed, revoked, narrowed, removed ---- */

struct open_stream {
	int fd;
	struct tu_resp r;
};

static int open_stream(struct open_stream *s, const char *tool,
		       const char *token)
{
	char target[128], headers[256];

	snprintf(target, sizeof(target), "/tools/%s/api/v1/events", tool);
	snprintf(headers, sizeof(headers),
		 "Accept: text/event-stream\r\nAuthorization: Bearer %s\r\n",
		 token);
	memset(s, 0, sizeof(*s));
	s->fd = tu_connect(gw_port);
	if (s->fd < 0 ||
	    tu_send_request(s->fd, "GET", target, headers, NULL, 0) < 0 ||
	    tu_read_head(&s->r, s->fd, 10000) < 0 || s->r.status != 200)
		return -1;
	return 0;
}

/* Milliseconds until the stream's body ends (-1: not within limit_ms). */
static int stream_ends_in(struct open_stream *s, int limit_ms)
{
	uint64_t t0 = tu_now_ns();
	char buf[4096];
	ssize_t got;

	while ((got = tu_read_body(&s->r, buf, sizeof(buf), limit_ms)) > 0)
		;
	int ms = (int)((tu_now_ns() - t0) / 1000000);
	return got == -1 ? -1 : ms;
}

static void close_stream(struct open_stream *s)
{
	if (s->fd >= 0)
		close(s->fd);
	tu_resp_free(&s->r);
}

/* The newest stream_end record of client: its "ended". */
static char ended_of[32];
static const char *client_wanted;

static int has_end(void *arg)
{
	json_object *records = read_records(audit_path);
	size_t n = records ? json_object_array_length(records) : 0;
	(void)arg;

	ended_of[0] = '\0';
	for (size_t i = n; i-- > 0;) {
		json_object *o = json_object_array_get_idx(records, i);
		const char *ev = str_at(o, "event"), *cl = str_at(o, "client");
		if (ev && strcmp(ev, "stream_end") == 0 && cl &&
		    strcmp(cl, client_wanted) == 0) {
			snprintf(ended_of, sizeof(ended_of), "%s",
				 str_at(o, "ended") ? str_at(o, "ended") : "");
			break;
		}
	}
	json_object_put(records);
	return ended_of[0] != '\0';
}

static const char *ended_for(const char *client)
{
	client_wanted = client;
	return tu_wait_until(has_end, NULL, 5000) == 0 ? ended_of : "";
}

static void test_streams_listed(void)
{
	struct open_stream s;
	int fd = -1;
	struct tu_resp r = { 0 };
	char body[16384];

	CU_ASSERT_FATAL(open_stream(&s, "sig", T_VM1) == 0);
	fd = tu_connect(admin_port);
	CU_ASSERT_FATAL(fd >= 0);
	tu_send_request(fd, "GET", "/v1/streams", BEARER(TU_ADMIN_TOKEN),
			NULL, 0);
	CU_ASSERT_FATAL(tu_read_head(&r, fd, 10000) == 0);
	ssize_t got;
	size_t n = 0;
	while (n + 1 < sizeof(body) &&
	       (got = tu_read_body(&r, body + n, sizeof(body) - 1 - n,
				   10000)) > 0)
		n += (size_t)got;
	body[n] = '\0';
	CU_ASSERT_PTR_NOT_NULL(strstr(body, "\"client\":\"vm1\""));
	CU_ASSERT_PTR_NOT_NULL(strstr(body, "\"remote\":\"127.0.0.1:"));
	close(fd);
	tu_resp_free(&r);
	close_stream(&s);
}

static void test_revoked(void)
{
	struct open_stream s;
	char body[4096];

	CU_ASSERT_FATAL(open_stream(&s, "sig", T_REV) == 0);
	CU_ASSERT_FATAL(tu_write_file(revoked_path, "# test\nrev\n") == 0);
	CU_ASSERT_FATAL(kill(gw_pid, SIGHUP) == 0);
	/* The revocation ends it at once (the reload closes it; no timer is
	 * involved: this config has none under a minute). Under 1 s on a
	 * quiet machine; the bound is a deadline a loaded run (sanitizers,
	 * nice 19) cannot cross by accident, and the time is printed. */
	int ms = stream_ends_in(&s, 10000);
	CU_ASSERT(ms >= 0 && ms <= 5000);
	fprintf(stderr, "\n  a revoked client's stream ended after %d ms\n", ms);
	close_stream(&s);
	CU_ASSERT_STRING_EQUAL(ended_for("rev"), "revoked");
	int before = upstream_requests();
	CU_ASSERT_EQUAL(status_of("GET", "/tools/sig/echo/rev", BEARER(T_REV),
				  NULL, body, sizeof(body)),
			403);
	expect_error_body(body, 403, "revoked");
	expect_record("/tools/sig/echo/rev", "deny", 403, "rev");
	CU_ASSERT_EQUAL(upstream_requests(), before);
}

static void test_reload_narrows(void)
{
	struct open_stream op, sig, gone;

	CU_ASSERT_FATAL(open_stream(&op, "op", T_NARROW) == 0);
	CU_ASSERT_FATAL(open_stream(&sig, "sig", T_NARROW) == 0);
	CU_ASSERT_FATAL(open_stream(&gone, "sig", T_GONE) == 0);
	CU_ASSERT_FATAL(write_conf(1) == 0);
	CU_ASSERT_FATAL(kill(gw_pid, SIGHUP) == 0);
	CU_ASSERT(stream_ends_in(&op, 5000) >= 0);
	CU_ASSERT(stream_ends_in(&gone, 5000) >= 0);
	CU_ASSERT_STRING_EQUAL(ended_for("gone"), "reload");
	CU_ASSERT_STRING_EQUAL(ended_for("narrow"), "reload");
	/* its stream on a tool it keeps flows on */
	char buf[64];
	CU_ASSERT_EQUAL(tu_read_body(&sig.r, buf, sizeof(buf), 300), -1);
	close_stream(&op);
	close_stream(&sig);
	close_stream(&gone);
	char body[4096];
	CU_ASSERT_EQUAL(status_of("GET", "/tools/sig/echo/gone",
				  BEARER(T_GONE), NULL, body, sizeof(body)),
			401);
	CU_ASSERT_EQUAL(status_of("GET", "/tools/op/echo/narrow",
				  BEARER(T_NARROW), NULL, body, sizeof(body)),
			403);
}

/* ---- the window between identity and the stream's registration ---- */

/* A stream asked for whose upstream head comes delay_ms late: sent, its
 * head not read yet. */
static int start_late_stream(struct open_stream *s, const char *tool,
			     const char *token, int delay_ms)
{
	char target[128], headers[256];

	snprintf(target, sizeof(target),
		 "/tools/%s/api/v1/events?headers_delay_ms=%d", tool,
		 delay_ms);
	snprintf(headers, sizeof(headers),
		 "Accept: text/event-stream\r\nAuthorization: Bearer %s\r\n",
		 token);
	memset(s, 0, sizeof(*s));
	s->fd = tu_connect(gw_port);
	return s->fd < 0 ? -1 :
	       tu_send_request(s->fd, "GET", target, headers, NULL, 0);
}

static int upstream_has(void *arg)
{
	return upstream_requests() >= *(int *)arg;
}

struct refused {
	const char *target, *headers;
	int status;
	const char *why; /* in the answer, or NULL */
};

static int now_refused(void *arg)
{
	struct refused *r = arg;
	char body[4096];

	return status_of("GET", r->target, r->headers, NULL, body,
			 sizeof(body)) == r->status &&
	       (r->why == NULL || strstr(body, r->why) != NULL);
}

/* Its head (if any) then its end: within 1 s of the head. */
static int ends_after_head(struct open_stream *s)
{
	if (tu_read_head(&s->r, s->fd, 10000) < 0)
		return 1; /* closed without a head: ended too */
	if (s->r.status != 200)
		return 0;
	return stream_ends_in(s, 3000) >= 0;
}

/* Identified and allowed, then revoked (or narrowed by a reload) while
 * the upstream's head is still on its way: the stream that opens after
 * the revocation or reload has run must end all the same. */
static void test_window(void)
{
	struct open_stream late, shrink;
	int want = upstream_requests() + 2;

	CU_ASSERT_FATAL(start_late_stream(&late, "sig", T_LATE, 2500) == 0);
	CU_ASSERT_FATAL(start_late_stream(&shrink, "op", T_SHRINK, 2500) ==
			0);
	/* both are past identity, policy and dispatch */
	CU_ASSERT_FATAL(tu_wait_until(upstream_has, &want, 5000) == 0);
	CU_ASSERT_FATAL(tu_write_file(revoked_path, "rev\nlate\n") == 0);
	CU_ASSERT_FATAL(write_conf(2) == 0);
	CU_ASSERT_FATAL(kill(gw_pid, SIGHUP) == 0);
	struct refused r1 = { "/tools/sig/echo/late", BEARER(T_LATE), 403,
			      NULL };
	struct refused r2 = { "/tools/op/echo/shrink", BEARER(T_SHRINK),
			      403, NULL };
	CU_ASSERT_FATAL(tu_wait_until(now_refused, &r1, 10000) == 0);
	CU_ASSERT_FATAL(tu_wait_until(now_refused, &r2, 10000) == 0);
	CU_ASSERT(ends_after_head(&late));
	CU_ASSERT(ends_after_head(&shrink));
	CU_ASSERT_STRING_EQUAL(ended_for("late"), "revoked");
	CU_ASSERT_STRING_EQUAL(ended_for("shrink"), "reload");
	close_stream(&late);
	close_stream(&shrink);
}

/* Identified and allowed by its head, revoked while its body comes in:
 * refused once the body is in, and the upstream receives nothing. */
static void test_revoked_mid_body(void)
{
	static const char body[] = "{\"to\":\"+100\",\"text\":\"hello\"}";
	char head[512];
	struct tu_resp r = { 0 };
	int fd = tu_connect(gw_port);

	CU_ASSERT_FATAL(fd >= 0);
	snprintf(head, sizeof(head),
		 "POST /tools/sig/echo/slow HTTP/1.1\r\nHost: x\r\n"
		 BEARER(T_SLOW) "Content-Type: application/json\r\n"
		 "Content-Length: %zu\r\n\r\n%.5s", sizeof(body) - 1, body);
	int before = upstream_requests();
	CU_ASSERT_FATAL(write(fd, head, strlen(head)) ==
			(ssize_t)strlen(head));
	CU_ASSERT_FATAL(tu_write_file(revoked_path, "rev\nlate\nslow\n") ==
			0);
	CU_ASSERT_FATAL(kill(gw_pid, SIGHUP) == 0);
	/* a tool slow may not use: refused either way, upstream untouched */
	struct refused now = { "/tools/op/echo/now", BEARER(T_SLOW), 403,
			       "client slow is revoked" };
	CU_ASSERT_FATAL(tu_wait_until(now_refused, &now, 10000) == 0);
	CU_ASSERT_FATAL(write(fd, body + 5, sizeof(body) - 6) ==
			(ssize_t)(sizeof(body) - 6));
	CU_ASSERT_FATAL(tu_read_head(&r, fd, 10000) == 0);
	CU_ASSERT_EQUAL(r.status, 403);
	close(fd);
	tu_resp_free(&r);
	expect_record("/tools/sig/echo/slow", "deny", 403, "slow");
	CU_ASSERT_EQUAL(upstream_requests(), before);
}

int main(void)
{
	static pid_t *const children[] = { &gw_pid, &up_pid };

	tu_watchdog("test_clients", 120, children, 2);
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("clients", suite_init, suite_clean);
	CU_add_test(s, "no token: 401", test_no_token);
	CU_add_test(s, "wrong token: 401", test_wrong_token);
	CU_add_test(s, "right token, wrong address: 401",
		    test_disallowed_address);
	CU_add_test(s, "a tool outside the client's: 403",
		    test_tool_outside_scope);
	CU_add_test(s, "Bearer, allowed", test_bearer_allowed);
	CU_add_test(s, "Basic in a URL through curl", test_basic_in_url);
	CU_add_test(s, "address-only client", test_address_only);
	CU_add_test(s, "per-client rate limit", test_client_rate_limit);
	CU_add_test(s, "metrics: client label", test_metrics_label);
	CU_add_test(s, "/v1/streams: client", test_streams_listed);
	CU_add_test(s, "revoked: 403, its stream ends", test_revoked);
	CU_add_test(s, "reload narrows and removes", test_reload_narrows);
	CU_add_test(s, "revoked or narrowed before the stream opens",
		    test_window);
	CU_add_test(s, "revoked while its body comes in: 403",
		    test_revoked_mid_body);
	return cu_run();
}
