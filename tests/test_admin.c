/* Integration tests of the admin API: /metrics moving with requests,
 * /v1/streams, the live tail /v1/audit and its filters, the admin API
 * only on its own listener, answering only its own Host and no browser.
 * The real carapaced and test upstream over 127.0.0.1 (auditd.h); paths
 * from the environment (make check sets them): CARAPACED, UPSTREAM,
 * CLITOOL, CARAPACECTL. */
#include "config.h"

#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cu_run.h"
#include "promtext.h"
#include "testutil.h"
#include "auditd.h"

/* ---- metrics, status, streams ---- */

#define SIG_ALLOW "tool=\"sig\",decision=\"allow\""
#define SIG_DENY "tool=\"sig\",decision=\"deny\""

static void test_metrics_move(void)
{
	int status;
	char *text = NULL;

	CU_ASSERT_FATAL(admin_get("/metrics", &status, &text) == 0);
	CU_ASSERT_EQUAL(status, 200);
	char err[200];
	int valid = promtext_check(text, err, sizeof(err));
	if (valid != 0)
		fprintf(stderr, "/metrics: %s\n", err);
	CU_ASSERT_EQUAL(valid, 0);
	free(text);

	double allow0 = metric("carapace_requests_total", SIG_ALLOW);
	double deny0 = metric("carapace_requests_total", SIG_DENY);
	double out0 = metric("carapace_bytes_total",
			     "tool=\"sig\",direction=\"out\"");
	double count0 = metric("carapace_request_duration_seconds_count",
			       "tool=\"sig\"");
	for (int i = 0; i < 5; i++)
		CU_ASSERT(rpc(rpc_send, &status) == 0 && status == 200);
	for (int i = 0; i < 2; i++)
		CU_ASSERT(rpc(rpc_denied, &status) == 0 && status == 403);
	/* counted when the answer is done, which the client may see first */
	for (int w = 0; w < 250 && metric("carapace_requests_total",
					  SIG_ALLOW) < allow0 + 5; w++)
		tu_sleep_ms(20);
	CU_ASSERT_EQUAL(metric("carapace_requests_total", SIG_ALLOW),
			allow0 + 5);
	CU_ASSERT_EQUAL(metric("carapace_requests_total", SIG_DENY), deny0 + 2);
	CU_ASSERT(metric("carapace_bytes_total",
			 "tool=\"sig\",direction=\"out\"") > out0);
	CU_ASSERT(metric("carapace_request_duration_seconds_count",
			 "tool=\"sig\"") >= count0 + 5);

	/* rate limit: 2 an hour on "lim" */
	for (int i = 0; i < 3; i++)
		tu_http(gw_port, "GET", "/tools/lim/echo", NULL, NULL, &status,
			NULL, NULL);
	CU_ASSERT_EQUAL(status, 429);
	CU_ASSERT_EQUAL(metric("carapace_rate_limited_total", "tool=\"lim\""),
			1);
	/* an upstream nobody listens on */
	CU_ASSERT(tu_http(gw_port, "GET", "/tools/dead/x", NULL, NULL, &status,
			  NULL, NULL) == 0 && status == 502);
	CU_ASSERT_EQUAL(metric("carapace_upstream_errors_total",
			       "tool=\"dead\",kind=\"unreachable\""), 1);
	CU_ASSERT_EQUAL(metric("carapace_audit_write_errors_total", ""), 0);
	CU_ASSERT_EQUAL(metric("carapace_build_info",
			       "version=\"" PACKAGE_VERSION "\""), 1);
	CU_ASSERT(metric("carapace_uptime_seconds", "") > 0);
}

/* An audit-disabled tool is counted, never written. */

static json_object *admin_json(const char *target)
{
	int status;
	char *text = NULL;
	json_object *o = NULL;

	if (admin_get(target, &status, &text) == 0 && status == 200)
		o = json_tokener_parse(text);
	free(text);
	return o;
}

static size_t streams_open(json_object **list)
{
	json_object *o = admin_json("/v1/streams"), *arr;

	*list = o;
	if (!json_object_object_get_ex(o, "streams", &arr))
		return (size_t)-1;
	return json_object_array_length(arr);
}

static void test_active_streams_listed(void)
{
	struct tu_resp r;
	json_object *list;
	int fd = tu_connect(gw_port);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(tu_send_request(fd, "GET",
					"/tools/sig/api/v1/events?account=x",
					NULL, NULL, 0) == 0);
	CU_ASSERT_FATAL(tu_read_head(&r, fd, 5000) == 0);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT_EQUAL(streams_open(&list), 1);
	json_object *arr, *s;
	json_object_object_get_ex(list, "streams", &arr);
	s = json_object_array_get_idx(arr, 0);
	CU_ASSERT_STRING_EQUAL(str_at(s, "tool"), "sig");
	CU_ASSERT_STRING_EQUAL(str_at(s, "path"),
			       "/tools/sig/api/v1/events?account=x");
	CU_ASSERT_STRING_EQUAL(str_at(s, "method"), "GET");
	CU_ASSERT(str_at(s, "remote") &&
		  strncmp(str_at(s, "remote"), "127.0.0.1:", 10) == 0);
	/* no clients configured: null, present */
	json_object *client = (void *)1;
	CU_ASSERT(json_object_object_get_ex(s, "client", &client) &&
		  client == NULL);
	CU_ASSERT(ts_ok(str_at(s, "started")));
	json_object_put(list);
	CU_ASSERT_EQUAL(metric("carapace_active_streams", "tool=\"sig\""), 1);
	json_object *st = admin_json("/v1/status");
	CU_ASSERT_EQUAL(int_at(st, "active_streams"), 1);
	CU_ASSERT_EQUAL(int_at(st, "pid"), gw_pid);
	CU_ASSERT_STRING_EQUAL(str_at(st, "version"), PACKAGE_VERSION);
	CU_ASSERT_STRING_EQUAL(str_at(st, "audit_log"), audit_path);
	CU_ASSERT_STRING_EQUAL(str_at(st, "config_file"), conf_path);
	json_object *tools;
	CU_ASSERT(json_object_object_get_ex(st, "tools", &tools) &&
		  json_object_array_length(tools) == 6);
	json_object_put(st);

	tu_resp_free(&r);
	close(fd);
	size_t n = 1;
	for (int w = 0; w < 250 && n != 0; w++) {
		n = streams_open(&list);
		json_object_put(list);
		if (n != 0)
			tu_sleep_ms(20);
	}
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(metric("carapace_active_streams", "tool=\"sig\""), 0);
	json_object *records = NULL;
	json_object *end = newest_for("/tools/sig/api/v1/events?account=x",
				      &records);
	CU_ASSERT(end && strcmp(str_at(end, "event"), "stream_end") == 0 &&
		  strcmp(str_at(end, "ended"), "client_closed") == 0);
	json_object_put(records);
}


/* ---- the live tail's filters ---- */

static void test_tail_filters(void)
{
	struct tail tail;
	int status;

	CU_ASSERT(admin_get("/v1/audit?decision=maybe", &status, NULL) == 0 &&
		  status == 400);
	CU_ASSERT(admin_get("/v1/audit?tool=nosuch", &status, NULL) == 0 &&
		  status == 404);
	CU_ASSERT_FATAL(tail_start(&tail, "?tool=ct&decision=deny") == 0);
	for (int round = 0; round < 2; round++) {
		tu_http(gw_port, "POST", "/tools/ct", NULL,
			"{\"argv\":[\"println\",\"ok\"]}", &status, NULL, NULL);
		rpc(rpc_denied, &status);
		tu_http(gw_port, "POST", "/tools/ct", NULL,
			round ? "{\"argv\":[\"rm\",\"-rf\",\"/b\"]}" :
				"{\"argv\":[\"rm\",\"-rf\",\"/a\"]}",
			&status, NULL, NULL);
		CU_ASSERT_EQUAL(status, 403);
	}
	CU_ASSERT(tail_wait(&tail, 2, 5000) == 0);
	tu_sleep_ms(100);
	pthread_mutex_lock(&tail.lock);
	/* the comment line is not data; two records, both ct denials */
	const char *first = tail.raw ? strstr(tail.raw, "\"/a\"") : NULL;
	const char *second = tail.raw ? strstr(tail.raw, "\"/b\"") : NULL;
	CU_ASSERT(atomic_load(&tail.records) == 2);
	CU_ASSERT(first != NULL && second != NULL && first < second);
	CU_ASSERT(tail.raw && strstr(tail.raw, "\"decision\":\"allow\"") == NULL);
	CU_ASSERT(tail.raw && strstr(tail.raw, "\"tool\":\"sig\"") == NULL);
	pthread_mutex_unlock(&tail.lock);
	tail_stop(&tail);
}


/* ---- the admin API is not on the tool listeners ---- */

static void test_admin_not_on_tool_listener(void)
{
	static const char *const targets[] = { "/metrics", "/v1/status",
					       "/v1/streams", "/v1/audit" };
	int status;

	for (size_t i = 0; i < 4; i++) {
		CU_ASSERT(tu_http(gw_port, "GET", targets[i], NULL, NULL,
				  &status, NULL, NULL) == 0);
		CU_ASSERT_EQUAL(status, 404);
	}
	CU_ASSERT(tu_http(gw_port, "POST", "/v1/reload", NULL, "", &status,
			  NULL, NULL) == 0 && status == 404);
	CU_ASSERT(tu_http(gw_port, "GET", "/tools/sig/../../metrics", NULL,
			  NULL, &status, NULL, NULL) == 0 && status == 400);
	CU_ASSERT(admin_get("/tools/sig/echo", &status, NULL) == 0 &&
		  status == 404);
}


/* ---- the admin API answers only its own Host, and no browser ---- */

/* One request with exactly the head given (request line, headers); the
 * status, or -1. A 403 must be the usual error object. */
static int admin_raw(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static int admin_raw(const char *fmt, ...)
{
	struct tu_resp r = { 0 };
	char head[1024], body[512];
	int fd = tu_connect(admin_port), status = -1;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(head, sizeof(head), fmt, ap);
	va_end(ap);
	if (fd < 0)
		return -1;
	if (tu_send_all(fd, head, strlen(head)) == 0 &&
	    tu_read_head(&r, fd, 5000) == 0)
		status = r.status;
	if (status == 403) {
		ssize_t n = tu_read_body(&r, body, sizeof(body) - 1, 5000);
		body[n > 0 ? n : 0] = '\0';
		json_object *o = json_tokener_parse(body), *err = NULL;
		CU_ASSERT(json_object_object_get_ex(o, "error", &err) &&
			  int_at(err, "code") == 403 &&
			  json_object_object_get_ex(err, "tool", NULL) &&
			  str_at(err, "message") != NULL);
		json_object_put(o);
	}
	tu_resp_free(&r);
	close(fd);
	return status;
}

/* pattern with each "PORT" replaced by port. */
static void with_port(const char *pattern, int port, char *out, size_t len)
{
	const char *at;
	size_t n = 0;

	for (; (at = strstr(pattern, "PORT")) != NULL && n < len;
	     pattern = at + 4)
		n += (size_t)snprintf(out + n, len - n, "%.*s%d",
				      (int)(at - pattern), pattern, port);
	if (n < len)
		snprintf(out + n, len - n, "%s", pattern);
}

static void test_admin_checks_host_and_origin(void)
{
	static const char *const bad_hosts[] = {
		"evil.example:PORT", "evil.example", "127.0.0.1",
		"localhost", "localhost.:PORT", "127.0.0.2:PORT", "[::2]:PORT",
		"127.0.0.1:PORT0", "127.0.0.1:", "127.0.0.1:PORT:1",
		"127.0.0.1 :PORT", "localhost:+PORT", "",
	};
	static const char *const good_hosts[] = {
		"127.0.0.1:PORT", "localhost:PORT", "LocalHost:PORT",
		"[::1]:PORT", "[0:0::1]:PORT",
	};
	static const char *const targets[] = { "/v1/status", "/v1/streams",
					       "/metrics", "/v1/audit",
					       "/nowhere" };
	static const char *const origins[] = {
		"http://evil.example", "null", "http://127.0.0.1:1",
	};
	char host[64];
	int p = admin_port;

	for (size_t i = 0; i < sizeof(bad_hosts) / sizeof(bad_hosts[0]);
	     i++) {
		with_port(bad_hosts[i], p, host, sizeof(host));
		for (size_t t = 0; t < sizeof(targets) / sizeof(targets[0]);
		     t++) {
			int st = admin_raw("GET %s HTTP/1.1\r\nHost: %s\r\n"
					   "Connection: close\r\n\r\n",
					   targets[t], host);
			if (st != 403)
				fprintf(stderr, "Host %s, %s: %d\n", host,
					targets[t], st);
			CU_ASSERT_EQUAL(st, 403);
		}
		CU_ASSERT_EQUAL(admin_raw("POST /v1/reload HTTP/1.1\r\nHost: %s"
					  "\r\nContent-Length: 0\r\n\r\n",
					  host),
				403);
	}
	for (size_t i = 0; i < sizeof(good_hosts) / sizeof(good_hosts[0]);
	     i++) {
		with_port(good_hosts[i], p, host, sizeof(host));
		CU_ASSERT_EQUAL(admin_raw("GET /v1/status HTTP/1.1\r\nHost: %s"
					  "\r\n" TU_ADMIN_AUTH
					  "Connection: close\r\n\r\n",
					  host),
				200);
	}
	/* no Host at all, or two */
	CU_ASSERT_EQUAL(admin_raw("GET /v1/status HTTP/1.0\r\n\r\n"), 403);
	int st = admin_raw("GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
			   "Host: evil.example:%d\r\n\r\n", p, p);
	CU_ASSERT(st == 403 || st == 400);
	/* a POST that carries Origin, whatever it says */
	for (size_t i = 0; i < sizeof(origins) / sizeof(origins[0]); i++)
		CU_ASSERT_EQUAL(admin_raw("POST /v1/reload HTTP/1.1\r\n"
					  "Host: 127.0.0.1:%d\r\nOrigin: %s\r\n"
					  "Content-Length: 0\r\n\r\n",
					  p, origins[i]),
				403);
	/* a GET with Origin reads nothing a page could read: answered */
	CU_ASSERT_EQUAL(admin_raw("GET /metrics HTTP/1.1\r\nHost: "
				  "localhost:%d\r\nOrigin: null\r\n"
				  TU_ADMIN_AUTH
				  "Connection: close\r\n\r\n", p),
			200);
	CU_ASSERT_EQUAL(admin_raw("POST /v1/reload HTTP/1.1\r\n"
				  "Host: localhost:%d\r\nContent-Length: 0"
				  "\r\n" TU_ADMIN_AUTH
				  "Connection: close\r\n\r\n", p),
			200);
}

/* ---- who may use the admin API ---- */

/* One request to the admin listener with auth (a header line, or NULL
 * for none): the status; a 401 must challenge and be the error object. */
static int with_auth(const char *method, const char *target,
		     const char *auth)
{
	struct tu_resp r = { 0 };
	char body[512];
	int fd = tu_connect(admin_port), status = -1;

	if (fd < 0)
		return -1;
	if (tu_send_request(fd, method, target, auth,
			    strcmp(method, "POST") == 0 ? "" : NULL, 0) == 0 &&
	    tu_read_head(&r, fd, 10000) == 0)
		status = r.status;
	if (status == 401) {
		const char *ch = tu_header(&r, "WWW-Authenticate");
		CU_ASSERT(ch && strcmp(ch, "Bearer realm=\"carapaced-admin\"") ==
				0);
		ssize_t n = tu_read_body(&r, body, sizeof(body) - 1, 5000);
		body[n > 0 ? n : 0] = '\0';
		json_object *o = json_tokener_parse(body), *err = NULL;
		CU_ASSERT(json_object_object_get_ex(o, "error", &err) &&
			  int_at(err, "code") == 401 &&
			  str_at(err, "message") != NULL);
		/* the refusal names no token */
		CU_ASSERT(strstr(body, TU_ADMIN_TOKEN) == NULL);
		json_object_put(o);
	}
	tu_resp_free(&r);
	close(fd);
	return status;
}

static void test_admin_needs_token(void)
{
	static const char *const kinds[][2] = {
		{ "GET", "/metrics" }, { "GET", "/v1/status" },
		{ "GET", "/v1/streams" }, { "POST", "/v1/reload" },
		{ "POST", "/v1/revocations" }, { "GET", "/nowhere" },
	};
	static const char *const wrong[] = {
		"Authorization: Bearer " TU_ADMIN_TOKEN "x\r\n",
		"Authorization: Bearer carapace-test-admin-toke\r\n",
		"Authorization: Basic " TU_ADMIN_TOKEN "\r\n",
		"Authorization: " TU_ADMIN_TOKEN "\r\n",
		"Authorization: Bearer \r\n",
		"Authorization: Bearer a786b6ca5575006030902a18fd13f8f62db1c8a0"
		"e388227ccc459f139ad34446\r\n", /* the hash is no token */
		TU_ADMIN_AUTH "Authorization: Bearer wrong\r\n",
	};

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		const char *m = kinds[k][0], *t = kinds[k][1];
		CU_ASSERT_EQUAL(with_auth(m, t, NULL), 401);
		for (size_t w = 0; w < sizeof(wrong) / sizeof(wrong[0]); w++)
			CU_ASSERT_EQUAL(with_auth(m, t, wrong[w]), 401);
		int want = strcmp(t, "/nowhere") == 0 ? 404 : 200;
		CU_ASSERT_EQUAL(with_auth(m, t, TU_ADMIN_AUTH), want);
		/* the scheme's case is the client's */
		CU_ASSERT_EQUAL(with_auth(m, t, "authorization: bearer "
					  TU_ADMIN_TOKEN "\r\n"), want);
	}
	/* the live tail too */
	CU_ASSERT_EQUAL(with_auth("GET", "/v1/audit?tool=nosuch", NULL), 401);
	/* and carapacectl says what is wrong */
	char out[4096], args[200];
	snprintf(args, sizeof(args), "CARAPACE_ADMIN_TOKEN=nope '%s' --admin "
		 "http://127.0.0.1:%d status", ctl_path, admin_port);
	CU_ASSERT_EQUAL(tu_run(args, out, sizeof(out)), 1);
	CU_ASSERT(strstr(out, "admin token is wrong") != NULL &&
		  strstr(out, "--token-file") != NULL);
}

/* A daemon whose admin API is a unix socket that admin_peer_uids
 * narrows to uid 0; its socket opened to everyone, so that only the
 * list keeps nobody out. */
static char peer_sock[700];
static pid_t peer_pid = -1;

static int unix_status(const char *path, uid_t as)
{
	char cmd[1000], out[256];

	/* setpriv: the uid SO_PEERCRED then reports */
	snprintf(cmd, sizeof(cmd),
		 "%s curl -s -o /dev/null -w '%%{http_code}' "
		 "--unix-socket '%s' http://localhost/v1/status",
		 as == 0 ? "" : "setpriv --reuid=65534 --regid=65534 "
				"--clear-groups", path);
	if (tu_popen_read(cmd, out, sizeof(out)) != 0)
		return -1;
	return atoi(out);
}

static void test_admin_unix_peer_uids(void)
{
	char conf[700], text[1024];
	int port = tu_free_port();

	if (geteuid() != 0) {
		fprintf(stderr, "admin_peer_uids: not root, skipped\n");
		return;
	}
	snprintf(conf, sizeof(conf), "%s/peer.conf", workdir);
	snprintf(peer_sock, sizeof(peer_sock), "%s/peer.sock", workdir);
	snprintf(text, sizeof(text),
		 "{ \"listen\": [\"127.0.0.1:%d\"],\n"
		 "  \"admin_listen\": \"unix:%s\",\n"
		 "  \"admin_peer_uids\": [0],\n"
		 "  \"tools\": { \"t\": { \"type\": \"http\",\n"
		 "    \"upstream\": \"http://127.0.0.1:%d\" } } }\n",
		 port, peer_sock, up_port);
	CU_ASSERT_FATAL(tu_write_file(conf, text) == 0);
	peer_pid = tu_start_daemon(&(struct tu_daemon){
		.conf = conf, .ports = { port } });
	CU_ASSERT_FATAL(peer_pid > 0);
	CU_ASSERT_FATAL(chmod(workdir, 0711) == 0 &&
			chmod(peer_sock, 0666) == 0);
	CU_ASSERT_EQUAL(unix_status(peer_sock, 0), 200);
	CU_ASSERT_EQUAL(unix_status(peer_sock, 65534), 403);
	/* the daemon says why */
	char cmd[1000], out[512];
	snprintf(cmd, sizeof(cmd), "setpriv --reuid=65534 --regid=65534 "
		 "--clear-groups curl -s --unix-socket '%s' "
		 "http://localhost/metrics", peer_sock);
	CU_ASSERT(tu_popen_read(cmd, out, sizeof(out)) == 0 &&
		  strstr(out, "uid 65534 is not in admin_peer_uids") != NULL);
	CU_ASSERT_EQUAL(tu_stop(peer_pid), 0);
	peer_pid = -1;
	chmod(workdir, 0700);
}

/* A second daemon: admin on a unix socket, audit_log at log. */

/* A metric's series exists from a tool's first request on: one allowed
 * and one denied call on sig first, so that "metrics move" counts from
 * numbers, as it did when it ran after the audit log's tests. */
static int series_exist(void *arg)
{
	(void)arg;
	return metric("carapace_requests_total", SIG_ALLOW) >= 1 &&
	       metric("carapace_requests_total", SIG_DENY) >= 1;
}

static int suite_init(void)
{
	int status;

	if (auditd_suite_init() < 0 || rpc(rpc_send, &status) < 0 ||
	    rpc(rpc_denied, &status) < 0)
		return -1;
	return tu_wait_until(series_exist, NULL, 5000);
}

int main(void)
{
	static pid_t *const children[] = { &gw_pid, &gw2_pid, &up_pid,
					   &peer_pid };

	tu_watchdog("test_admin", 600, children, 4);
	if (mkdtemp(workdir) == NULL ||
	    CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("admin", suite_init,
				   auditd_suite_clean);
	CU_add_test(s, "metrics move", test_metrics_move);
	CU_add_test(s, "active streams listed", test_active_streams_listed);
	CU_add_test(s, "live tail filters", test_tail_filters);
	CU_add_test(s, "admin API not on tool listeners",
		    test_admin_not_on_tool_listener);
	CU_add_test(s, "admin API checks Host and Origin",
		    test_admin_checks_host_and_origin);
	CU_add_test(s, "admin API needs the token", test_admin_needs_token);
	CU_add_test(s, "admin API on unix: admin_peer_uids",
		    test_admin_unix_peer_uids);
	int rc = cu_run();
	tu_remove_tree(workdir);
	return rc;
}
