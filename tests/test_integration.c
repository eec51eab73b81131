/* Integration tests: the real carapaced in front of the real test upstream,
 * over 127.0.0.1. Paths come from the environment (make check sets them):
 * CARAPACED, UPSTREAM. Bounds here are generous correctness bounds; the
 * figures themselves are measured by bench/sse_latency. */
#include "config.h"

#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <dirent.h>
#include <limits.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "text.h"
#include "cu_run.h"

#define MS (1000000ull)
#define MAX_BODY 65536

static const char *carapaced_path;
static char workdir[] = "/tmp/carapaced-test-XXXXXX";
static char conf_path[512];
static pid_t up_pid = -1, victim_pid = -1, gw_pid = -1;
static int up_port, victim_port, gw_port, dropin_port, dead_port;

/* ---- helpers ---- */

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

static json_object *parse_json(const char *text)
{
	return text ? json_tokener_parse(text) : NULL;
}

static int64_t json_int_at(json_object *o, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v)
						      : -1;
}

static const char *json_str_at(json_object *o, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v)
						      : NULL;
}

/* GET target on port; opens the connection and reads the head. */
static int open_stream(int port, const char *target, struct tu_resp *r)
{
	int fd = tu_connect(port);

	if (fd < 0)
		return -1;
	if (tu_send_request(fd, "GET", target, "Accept: text/event-stream\r\n",
			    NULL, 0) < 0 ||
	    tu_read_head(r, fd, 10000) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int upstream_stats(int port, int *open, int *requests)
{
	int status;
	char *body = NULL;

	if (tu_http(port, "GET", "/_upstream/stats", NULL, NULL, &status, &body,
		    NULL) < 0)
		return -1;
	json_object *o = parse_json(body);
	free(body);
	if (o == NULL)
		return -1;
	*open = (int)json_int_at(o, "open_streams");
	if (requests)
		*requests = (int)json_int_at(o, "requests");
	json_object_put(o);
	return 0;
}

/* ms until the upstream's open stream count is want, or -1 after limit. */
static long wait_upstream_open(int port, int want, int limit_ms)
{
	uint64_t start = tu_now_ns();
	int open;

	for (;;) {
		if (upstream_stats(port, &open, NULL) == 0 && open == want)
			return (long)((tu_now_ns() - start) / MS);
		if (tu_now_ns() - start > (uint64_t)limit_ms * MS)
			return -1;
		sleep_ms(10);
	}
}


/* Waits until carapaced's threads are back to the given count and its fds
 * too, less whole parked handles: a leak can only show as more. */
static int wait_baseline(int threads, int fds, int limit_ms)
{
	uint64_t start = tu_now_ns();

	while (tu_now_ns() - start < (uint64_t)limit_ms * MS) {
		if (tu_proc_threads(gw_pid) == threads &&
		    tu_fds_back(tu_proc_fds(gw_pid), fds))
			return 0;
		sleep_ms(20);
	}
	fprintf(stderr, "baseline: threads %d (want %d), fds %d (want %d)\n",
		tu_proc_threads(gw_pid), threads, tu_proc_fds(gw_pid), fds);
	return -1;
}

static void baseline(int *threads, int *fds)
{
	/* Let connection threads of earlier tests finish first. */
	int t = -1, f = -1;
	for (int i = 0; i < 100; i++) {
		int t2 = tu_proc_threads(gw_pid), f2 = tu_proc_fds(gw_pid);
		if (t2 == t && f2 == f)
			break;
		t = t2;
		f = f2;
		sleep_ms(50);
	}
	*threads = t;
	*fds = f;
}

/* ---- set-up ---- */

static int write_config(void)
{
	char text[2048];

	snprintf(conf_path, sizeof(conf_path), "%s/carapaced.conf", workdir);
	snprintf(text, sizeof(text),
		 "// integration test configuration\n"
		 "{ \"listen\": [\"127.0.0.1:%d\"],\n"
		 "  /* thousands of streams, all from 127.0.0.1 */\n"
		 "  \"max_connections_per_ip\": 0,\n"
		 "  \"max_body_bytes\": %d,\n"
		 "  \"tools\": {\n"
		 "    \"up\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      \"listen\": \"127.0.0.1:%d\" },\n"
		 "    \"victim\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\" },\n"
		 "    \"dead\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\" },\n"
		 "    /* answers late: for the 504 test */\n"
		 "    \"hasty\": { \"type\": \"http\", \"timeout_secs\": 1,\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\" },\n"
		 "    \"idle\": { \"type\": \"http\",\n"
		 "      \"stream_idle_timeout_secs\": 1,\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\" }\n"
		 "  }\n}\n",
		 gw_port, MAX_BODY, up_port, dropin_port, victim_port,
		 dead_port, up_port, up_port);
	return tu_write_file(conf_path, text);
}

/* Starts carapaced on conf and waits for its two ports; pid or -1. */
static pid_t spawn_gateway(const char *conf, int port_a, int port_b)
{
	char *argv[] = { (char *)carapaced_path, "-f", "-c", (char *)conf,
			 NULL };
	pid_t pid = tu_spawn(argv, NULL);

	if (pid < 0)
		return -1;
	if (tu_wait_port(port_a, 10000) < 0 ||
	    tu_wait_port(port_b, 10000) < 0) {
		tu_stop(pid);
		return -1;
	}
	return pid;
}

static int start_gateway(void)
{
	gw_pid = spawn_gateway(conf_path, gw_port, dropin_port);
	return gw_pid < 0 ? -1 : 0;
}

static int suite_init(void)
{
	const char *up = getenv("UPSTREAM");

	carapaced_path = getenv("CARAPACED");
	if (up == NULL || carapaced_path == NULL)
		return -1;
	/* thousands of client sockets in this process too */
	tu_prepare_process();
	up_pid = tu_spawn_upstream(up, &up_port);
	victim_pid = tu_spawn_upstream(up, &victim_port);
	gw_port = tu_free_port();
	dropin_port = tu_free_port();
	dead_port = tu_free_port();
	if (up_pid < 0 || victim_pid < 0 || write_config() < 0)
		return -1;
	return start_gateway();
}

static int suite_clean(void)
{
	int rc = 0;

	if (gw_pid > 0 && tu_stop(gw_pid) != 0) {
		fprintf(stderr, "carapaced did not exit 0 on SIGTERM\n");
		rc = -1;
	}
	if (up_pid > 0)
		tu_stop(up_pid);
	if (victim_pid > 0)
		tu_stop(victim_pid);
	return rc;
}

static void remove_workdir(void)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", workdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", workdir);
}

/* ---- command line ---- */

static int run_check(const char *text, char *out, size_t len)
{
	char path[600], cmd[1400];

	snprintf(path, sizeof(path), "%s/check.conf", workdir);
	if (tu_write_file(path, text) < 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "'%s' -t -c '%s' 2>&1", carapaced_path,
		 path);
	FILE *p = popen(cmd, "r");
	if (p == NULL)
		return -1;
	size_t n = fread(out, 1, len - 1, p);
	out[n] = '\0';
	int status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_check_config(void)
{
	char out[1024];

	CU_ASSERT_EQUAL(run_check("{\"listen\":[\"127.0.0.1:1\"],\"tools\":{"
				  "\"a\":{\"type\":\"http\",\"upstream\":"
				  "\"http://127.0.0.1:2\"}}}",
				  out, sizeof(out)),
			0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "test is successful"));
	CU_ASSERT_EQUAL(run_check("{\"listen\":[\"127.0.0.1:1\"],\"tools\":{"
				  "\"a\":{\"type\":\"http\",\"upstream\":"
				  "\"ftp://x\"}}}",
				  out, sizeof(out)),
			1);
	CU_ASSERT_PTR_NOT_NULL(
		strstr(out, "tools.a.upstream: not an http(s) URL"));
	CU_ASSERT_EQUAL(run_check("{\"listen\":[\"127.0.0.1:1\"],\"tools\":{"
				  "\"a\":{\"type\":\"http\",\"upstream\":"
				  "\"http://h\",\"tiemout_secs\":3}}}",
				  out, sizeof(out)),
			1);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "tools.a.tiemout_secs"));
}

/* ---- plain requests ---- */

static void expect_error(int port, const char *method, const char *target,
			 const char *headers, const char *body, int want,
			 const char *tool)
{
	int status = 0;
	char *resp = NULL;

	CU_ASSERT_EQUAL_FATAL(tu_http(port, method, target, headers, body,
				      &status, &resp, NULL),
			      0);
	CU_ASSERT_EQUAL(status, want);
	json_object *o = parse_json(resp), *err = NULL;
	CU_ASSERT_PTR_NOT_NULL(o);
	if (o != NULL && json_object_object_get_ex(o, "error", &err)) {
		CU_ASSERT_EQUAL(json_int_at(err, "code"), want);
		CU_ASSERT_PTR_NOT_NULL(json_str_at(err, "message"));
		const char *got = json_str_at(err, "tool");
		if (tool != NULL)
			CU_ASSERT(got != NULL && strcmp(got, tool) == 0);
	} else {
		CU_FAIL("no error object");
		fprintf(stderr, "%s %s -> %d %s\n", method, target, status,
			resp ? resp : "");
	}
	json_object_put(o);
	free(resp);
}

static void test_health(void)
{
	int status = 0;
	char *body = NULL;

	CU_ASSERT_EQUAL(tu_http(gw_port, "GET", "/healthz", NULL, NULL, &status,
				&body, NULL),
			0);
	CU_ASSERT_EQUAL(status, 200);
	CU_ASSERT_PTR_NOT_NULL(body && strstr(body, "\"ok\""));
	free(body);
}

static void test_errors(void)
{
	char big[MAX_BODY + 2];

	expect_error(gw_port, "GET", "/tools/nope/x", NULL, NULL, 404, "nope");
	expect_error(gw_port, "GET", "/elsewhere", NULL, NULL, 404, NULL);
	expect_error(gw_port, "GET", "/tools/up/a/../b", NULL, NULL, 400, "up");
	expect_error(gw_port, "GET", "/tools/up/a%2fb", NULL, NULL, 400, "up");
	expect_error(gw_port, "GET", "/tools/dead/x", NULL, NULL, 502, "dead");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	expect_error(gw_port, "POST", "/tools/up/echo", NULL, big, 413, "up");
	uint64_t t0 = tu_now_ns();
	expect_error(gw_port, "GET", "/tools/hasty/slow-headers?ms=4000", NULL,
		     NULL, 504, "hasty");
	uint64_t took = (tu_now_ns() - t0) / MS;
	CU_ASSERT(took >= 900 && took < 3000);
}

/* A chunked upload past max_body_bytes is refused, not buffered. */
static void test_chunked_body_too_large(void)
{
	int fd = tu_connect(gw_port);
	char chunk[8192 + 16];
	struct tu_resp r = { 0 };

	CU_ASSERT_FATAL(fd >= 0);
	tu_send_request(fd, "POST", "/tools/up/echo",
			"Transfer-Encoding: chunked\r\n", NULL, 0);
	int n = snprintf(chunk, sizeof(chunk), "2000\r\n");
	memset(chunk + n, 'y', 8192);
	memcpy(chunk + n + 8192, "\r\n", 2);
	for (int i = 0; i < MAX_BODY / 8192 + 2; i++)
		if (tu_send_all(fd, chunk, (size_t)n + 8194) < 0)
			break;
	tu_send_all(fd, "0\r\n\r\n", 5);
	CU_ASSERT_EQUAL(tu_read_head(&r, fd, 10000), 0);
	CU_ASSERT_EQUAL(r.status, 413);
	tu_resp_free(&r);
	close(fd);
}

static void test_smuggling_framing_refused(void)
{
	expect_error(gw_port, "POST", "/tools/up/echo",
		     "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
		     NULL, 400, "up");
}

static int has_header_pair(json_object *headers, const char *name,
			   const char *value)
{
	size_t n = json_object_array_length(headers);

	for (size_t i = 0; i < n; i++) {
		json_object *pair = json_object_array_get_idx(headers, i);
		const char *k = json_object_get_string(
			json_object_array_get_idx(pair, 0));
		const char *v = json_object_get_string(
			json_object_array_get_idx(pair, 1));
		if (strcasecmp(k, name) == 0 &&
		    (value == NULL || strcmp(v, value) == 0))
			return 1;
	}
	return 0;
}

static void test_request_forwarding(void)
{
	int fd = tu_connect(gw_port);
	struct tu_resp r = { 0 };
	char body[4096], expect_host[64];
	const char *sent = "{\"x\": [1, 2, \"three\"]}";

	CU_ASSERT_FATAL(fd >= 0);
	tu_send_request(fd, "PUT", "/tools/up/echo/a?b=1&c=%20d",
			"Host: evil.example\r\n"
			"X-Custom: one\r\n"
			"X-Custom: two\r\n"
			"Connection: keep-alive, X-Hop\r\n"
			"X-Hop: secret-hop\r\n"
			"Keep-Alive: timeout=5\r\n"
			"TE: trailers\r\n"
			"Upgrade: websocket\r\n"
			"Content-Type: application/json\r\n",
			sent, strlen(sent));
	CU_ASSERT_EQUAL_FATAL(tu_read_head(&r, fd, 10000), 0);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT_STRING_EQUAL(tu_header(&r, "X-Upstream"), "test");
	CU_ASSERT_STRING_EQUAL(tu_header(&r, "Cache-Control"), "no-store");
	CU_ASSERT_STRING_EQUAL(tu_header(&r, "Content-Type"),
			       "application/json");
	size_t len = 0;
	ssize_t n;
	while ((n = tu_read_body(&r, body + len, sizeof(body) - 1 - len,
				 10000)) > 0)
		len += (size_t)n;
	CU_ASSERT_EQUAL(n, 0);
	body[len] = '\0';
	json_object *o = parse_json(body), *h = NULL;
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_STRING_EQUAL(json_str_at(o, "method"), "PUT");
	CU_ASSERT_STRING_EQUAL(json_str_at(o, "target"), "/echo/a?b=1&c=%20d");
	CU_ASSERT_STRING_EQUAL(json_str_at(o, "body"), sent);
	CU_ASSERT_FATAL(json_object_object_get_ex(o, "headers", &h));
	snprintf(expect_host, sizeof(expect_host), "127.0.0.1:%d", up_port);
	CU_ASSERT(has_header_pair(h, "Host", expect_host));
	CU_ASSERT(has_header_pair(h, "X-Custom", "one"));
	CU_ASSERT(has_header_pair(h, "X-Custom", "two"));
	CU_ASSERT(has_header_pair(h, "Content-Type", "application/json"));
	CU_ASSERT(!has_header_pair(h, "X-Hop", NULL));
	CU_ASSERT(!has_header_pair(h, "Keep-Alive", NULL));
	CU_ASSERT(!has_header_pair(h, "TE", NULL));
	CU_ASSERT(!has_header_pair(h, "Upgrade", NULL));
	CU_ASSERT(!has_header_pair(h, "Expect", NULL));
	json_object_put(o);
	tu_resp_free(&r);
	close(fd);
}

static void test_status_and_head_passthrough(void)
{
	int status = 0;
	char *body = NULL;
	int fd;
	struct tu_resp r = { 0 };
	char buf[16];

	CU_ASSERT_EQUAL(tu_http(gw_port, "GET", "/tools/up/status/418", NULL,
				NULL, &status, &body, NULL),
			0);
	CU_ASSERT_EQUAL(status, 418);
	CU_ASSERT_PTR_NOT_NULL(body && strstr(body, "418"));
	free(body);

	/* HEAD: the upstream's Content-Length, and no body. */
	fd = tu_connect(gw_port);
	tu_send_request(fd, "HEAD", "/tools/up/echo", NULL, NULL, 0);
	CU_ASSERT_EQUAL_FATAL(tu_read_head(&r, fd, 10000), 0);
	CU_ASSERT_EQUAL(r.status, 200);
	const char *cl = tu_header(&r, "Content-Length");
	CU_ASSERT(cl != NULL && strtol(cl, NULL, 10) > 0);
	r.framing = TU_BODY_NONE;
	CU_ASSERT_EQUAL(tu_read_body(&r, buf, sizeof(buf), 1000), 0);
	/* and the connection is still good for the next request */
	tu_resp_free(&r);
	memset(&r, 0, sizeof(r));
	tu_send_request(fd, "GET", "/tools/up/api/v1/check", NULL, NULL, 0);
	CU_ASSERT_EQUAL(tu_read_head(&r, fd, 10000), 0);
	CU_ASSERT_EQUAL(r.status, 200);
	tu_resp_free(&r);
	close(fd);
}

static void test_dropin_listener(void)
{
	int status = 0;
	char *body = NULL;

	CU_ASSERT_EQUAL(tu_http(dropin_port, "GET", "/api/v1/check", NULL, NULL,
				&status, NULL, NULL),
			0);
	CU_ASSERT_EQUAL(status, 200);
	CU_ASSERT_EQUAL(tu_http(dropin_port, "GET", "/echo?q=1", NULL, NULL,
				&status, &body, NULL),
			0);
	CU_ASSERT_EQUAL(status, 200);
	CU_ASSERT_PTR_NOT_NULL(body && strstr(body, "\"target\":\"/echo?q=1\""));
	free(body);
}

static void test_keepalive_reuse(void)
{
	int fd = tu_connect(gw_port);
	char buf[256];

	for (int i = 0; i < 3; i++) {
		struct tu_resp r = { 0 };
		CU_ASSERT_EQUAL(tu_send_request(fd, "GET",
						"/tools/up/api/v1/check", NULL,
						NULL, 0),
				0);
		CU_ASSERT_EQUAL_FATAL(tu_read_head(&r, fd, 10000), 0);
		CU_ASSERT_EQUAL(r.status, 200);
		CU_ASSERT_EQUAL(tu_read_body(&r, buf, sizeof(buf), 10000), 0);
		tu_resp_free(&r);
	}
	close(fd);
}

/* ---- streams ---- */

/* The failure the old gateway had: events late in the stream. */
static void test_sse_events_arrive_live(void)
{
	static const double at[] = { 0.1, 0.5, 2.5, 5, 12 };
	struct tu_resp r = { 0 };
	char data[256];
	uint64_t opened = tu_now_ns();
	int fd = open_stream(gw_port,
			     "/tools/up/api/v1/events?schedule=0.1,0.5,2.5,5,12"
			     "&end=1",
			     &r);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT_STRING_EQUAL(tu_header(&r, "Content-Type"),
			       "text/event-stream");
	for (int i = 0; i < 5; i++) {
		CU_ASSERT_EQUAL_FATAL(
			tu_sse_next_event(&r, data, sizeof(data), 15000), 0);
		uint64_t got = tu_now_ns();
		json_object *o = parse_json(data);
		CU_ASSERT_PTR_NOT_NULL_FATAL(o);
		CU_ASSERT_EQUAL(json_int_at(o, "seq"), i + 1);
		uint64_t sent = (uint64_t)json_int_at(o, "sent_ns");
		double late_ms = (double)(got - sent) / 1e6;
		double since_open = (double)(got - opened) / 1e9;
		fprintf(stderr, "  event %d at %.3f s, %.3f ms after sending\n",
			i + 1, since_open, late_ms);
		CU_ASSERT(got >= sent);
		CU_ASSERT(late_ms < 250.0);
		CU_ASSERT(since_open >= at[i] - 0.05);
		json_object_put(o);
	}
	CU_ASSERT_EQUAL(tu_sse_next_event(&r, data, sizeof(data), 5000), -1);
	tu_resp_free(&r);
	close(fd);
}

/* The head must not wait for the first event. */
static void test_head_before_first_byte(void)
{
	struct tu_resp r = { 0 };
	uint64_t t0 = tu_now_ns();
	int fd = open_stream(gw_port, "/tools/up/api/v1/events?schedule=3",
			     &r);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT((tu_now_ns() - t0) / MS < 1000);
	CU_ASSERT_EQUAL(r.status, 200);
	tu_resp_free(&r);
	close(fd);
}

static void test_sse_byte_exact(void)
{
	struct tu_resp r = { 0 };
	char body[2048];
	size_t len = 0;
	ssize_t n;
	int fd = open_stream(gw_port, "/tools/up/sse-exact", &r);

	CU_ASSERT_FATAL(fd >= 0);
	while ((n = tu_read_body(&r, body + len, sizeof(body) - len, 10000)) >
	       0)
		len += (size_t)n;
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(len, sizeof(TU_SSE_FIXTURE) - 1);
	CU_ASSERT_EQUAL(memcmp(body, TU_SSE_FIXTURE, len), 0);
	tu_resp_free(&r);
	close(fd);
}

static void test_client_disconnect_on_silent_stream(void)
{
	struct tu_resp r = { 0 };
	int threads, fds;

	baseline(&threads, &fds);
	CU_ASSERT_EQUAL(wait_upstream_open(up_port, 0, 5000) >= 0, 1);
	int fd = open_stream(gw_port, "/tools/up/api/v1/events", &r);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(wait_upstream_open(up_port, 1, 5000) >= 0);
	CU_ASSERT(tu_proc_threads(gw_pid) > threads);
	tu_resp_free(&r);
	close(fd);
	long ms = wait_upstream_open(up_port, 0, 2000);
	fprintf(stderr, "  upstream saw the close after %ld ms\n", ms);
	CU_ASSERT(ms >= 0);
	CU_ASSERT_EQUAL(wait_baseline(threads, fds, 5000), 0);
}

/* The upstream dies: the client's response must end, not hang. */
static void test_upstream_killed_mid_stream(void)
{
	struct tu_resp r = { 0 };
	char data[256];
	int fd = open_stream(gw_port, "/tools/victim/api/v1/events?schedule=0.1",
			     &r);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(tu_sse_next_event(&r, data, sizeof(data), 5000), 0);
	kill(victim_pid, SIGKILL);
	waitpid(victim_pid, NULL, 0);
	victim_pid = -1;
	uint64_t t0 = tu_now_ns();
	CU_ASSERT_EQUAL(tu_sse_next_event(&r, data, sizeof(data), 5000), -1);
	uint64_t ms = (tu_now_ns() - t0) / MS;
	fprintf(stderr, "  client's response ended %llu ms after the kill\n",
		(unsigned long long)ms);
	CU_ASSERT(ms < 2000);
	tu_resp_free(&r);
	close(fd);
	/* Now it is gone altogether: 502. */
	expect_error(gw_port, "GET", "/tools/victim/api/v1/check", NULL, NULL,
		     502, "victim");
}

/* An upstream that resets mid-body: the client must see a broken body. */
static void test_upstream_reset_is_not_a_clean_end(void)
{
	struct tu_resp r = { 0 };
	char buf[65536];
	ssize_t n;
	size_t total = 0;
	int fd = open_stream(gw_port, "/tools/up/abort?after=100000", &r);

	CU_ASSERT_FATAL(fd >= 0);
	while ((n = tu_read_body(&r, buf, sizeof(buf), 5000)) > 0)
		total += (size_t)n;
	CU_ASSERT_EQUAL(n, -2);
	CU_ASSERT(total <= 100000);
	tu_resp_free(&r);
	close(fd);
}

static void test_idle_timeout_cuts_silent_stream(void)
{
	struct tu_resp r = { 0 };
	char buf[256];
	uint64_t t0 = tu_now_ns();
	int fd = open_stream(gw_port, "/tools/idle/api/v1/events", &r);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(tu_read_body(&r, buf, sizeof(buf), 5000) < 0);
	uint64_t ms = (tu_now_ns() - t0) / MS;
	CU_ASSERT(ms >= 900 && ms < 3000);
	tu_resp_free(&r);
	close(fd);
}

/* 50 MB through a deliberately slow reader: exact bytes, bounded memory.
 * The reader pauses after every 64 KiB, far slower than the upstream can
 * write, so the worker must wait on the full stream (backpressure). */
static void test_large_body_slow_reader(void)
{
	const uint64_t size = 50ull * 1024 * 1024;
	char target[64], buf[16384];
	struct tu_resp r = { 0 };
	long rss_max = 0;
	uint64_t pos = 0, next_pause = 0;
	int mismatch = 0;
	ssize_t n;

	snprintf(target, sizeof(target), "/tools/up/bytes?n=%llu",
		 (unsigned long long)size);
	int fd = tu_connect(gw_port);
	CU_ASSERT_FATAL(fd >= 0);
	tu_send_request(fd, "GET", target, NULL, NULL, 0);
	CU_ASSERT_EQUAL_FATAL(tu_read_head(&r, fd, 10000), 0);
	CU_ASSERT_EQUAL(r.content_length, size);
	uint64_t t0 = tu_now_ns();
	while ((n = tu_read_body(&r, buf, sizeof(buf), 10000)) > 0) {
		for (ssize_t i = 0; i < n && !mismatch; i++)
			mismatch = (unsigned char)buf[i] !=
				   tu_pattern_byte(pos + (uint64_t)i);
		pos += (uint64_t)n;
		if (pos >= next_pause) {
			long rss = tu_proc_rss_kb(gw_pid);
			rss_max = rss > rss_max ? rss : rss_max;
			next_pause = pos + 65536;
			sleep_ms(1);
		}
	}
	fprintf(stderr, "  50 MiB in %.1f s, carapaced RSS peak %ld KiB\n",
		(double)(tu_now_ns() - t0) / 1e9, rss_max);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(pos, size);
	CU_ASSERT_FALSE(mismatch);
	/* Stated bound: 32 MiB for the whole daemon (the body is 50 MiB). */
	CU_ASSERT(rss_max > 0 && rss_max < 32 * 1024);
	tu_resp_free(&r);
	close(fd);
}

static void test_chunked_body_passthrough(void)
{
	struct tu_resp r = { 0 };
	char buf[65536];
	uint64_t pos = 0;
	int mismatch = 0;
	ssize_t n;
	int fd = open_stream(gw_port,
			     "/tools/up/bytes?n=5000000&chunked=1&chunk=777",
			     &r);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(r.framing, TU_BODY_CHUNKED);
	while ((n = tu_read_body(&r, buf, sizeof(buf), 10000)) > 0) {
		for (ssize_t i = 0; i < n && !mismatch; i++)
			mismatch = (unsigned char)buf[i] !=
				   tu_pattern_byte(pos + (uint64_t)i);
		pos += (uint64_t)n;
	}
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(pos, 5000000);
	CU_ASSERT_FALSE(mismatch);
	tu_resp_free(&r);
	close(fd);
}

/* ---- many streams at once ---- */

struct rpc_worker {
	int first, count, ok;
};

static void *rpc_calls(void *arg)
{
	struct rpc_worker *w = arg;
	char body[256];

	for (int i = w->first; i < w->first + w->count; i++) {
		int status = 0;
		char *resp = NULL;
		snprintf(body, sizeof(body),
			 "{\"jsonrpc\":\"2.0\",\"method\":\"send\","
			 "\"params\":{\"n\":%d},\"id\":%d}",
			 i, i);
		if (tu_http(gw_port, "POST", "/tools/up/api/v1/rpc",
			    "Content-Type: application/json\r\n", body, &status,
			    &resp, NULL) == 0 &&
		    status == 200) {
			json_object *o = parse_json(resp), *res, *params;
			if (o && json_int_at(o, "id") == i &&
			    json_object_object_get_ex(o, "result", &res) &&
			    json_object_object_get_ex(res, "params", &params) &&
			    json_int_at(params, "n") == i)
				w->ok++;
			json_object_put(o);
		}
		free(resp);
	}
	return NULL;
}

static int broadcast(void)
{
	int status = 0;
	char *body = NULL;

	if (tu_http(up_port, "POST", "/_upstream/broadcast", NULL, "", &status,
		    &body, NULL) < 0)
		return -1;
	json_object *o = parse_json(body);
	int sent = (int)json_int_at(o, "sent");
	json_object_put(o);
	free(body);
	return sent;
}

/* Opens n broadcast streams through the gateway; returns how many. */
static int open_many(int n, int *fds, struct tu_resp *rs)
{
	int opened = 0;

	for (int i = 0; i < n; i++) {
		fds[i] = tu_connect(gw_port);
		if (fds[i] < 0 ||
		    tu_send_request(fds[i], "GET", "/tools/up/api/v1/events",
				    NULL, NULL, 0) < 0)
			return opened;
		opened++;
	}
	for (int i = 0; i < n; i++)
		if (tu_read_head(&rs[i], fds[i], 20000) < 0 ||
		    rs[i].status != 200)
			return i;
	return n;
}

static int all_receive_one_event(int n, struct tu_resp *rs)
{
	char data[256];
	int got = 0;

	for (int i = 0; i < n; i++)
		got += tu_sse_next_event(&rs[i], data, sizeof(data), 10000) == 0;
	return got;
}

static void close_many(int n, int *fds, struct tu_resp *rs)
{
	for (int i = 0; i < n; i++) {
		tu_resp_free(&rs[i]);
		if (fds[i] >= 0)
			close(fds[i]);
	}
}

static void test_streams_do_not_delay_requests(void)
{
	enum { STREAMS = 200, CALLERS = 4, CALLS = 500 };
	int fds[STREAMS];
	struct tu_resp rs[STREAMS];
	struct rpc_worker w[CALLERS];
	pthread_t t[CALLERS];

	memset(rs, 0, sizeof(rs));
	memset(fds, -1, sizeof(fds));
	CU_ASSERT_EQUAL_FATAL(open_many(STREAMS, fds, rs), STREAMS);
	CU_ASSERT_EQUAL(wait_upstream_open(up_port, STREAMS, 10000) >= 0, 1);
	uint64_t t0 = tu_now_ns();
	for (int i = 0; i < CALLERS; i++) {
		w[i] = (struct rpc_worker){ i * (CALLS / CALLERS),
					    CALLS / CALLERS, 0 };
		pthread_create(&t[i], NULL, rpc_calls, &w[i]);
	}
	int ok = 0;
	for (int i = 0; i < CALLERS; i++) {
		pthread_join(t[i], NULL);
		ok += w[i].ok;
	}
	fprintf(stderr, "  %d/%d calls answered in %.0f ms beside %d streams\n",
		ok, CALLS, (double)(tu_now_ns() - t0) / 1e6, STREAMS);
	CU_ASSERT_EQUAL(ok, CALLS);
	CU_ASSERT_EQUAL(broadcast(), STREAMS);
	CU_ASSERT_EQUAL(all_receive_one_event(STREAMS, rs), STREAMS);
	close_many(STREAMS, fds, rs);
	CU_ASSERT(wait_upstream_open(up_port, 0, 5000) >= 0);
}

static void test_two_thousand_streams(void)
{
	enum { STREAMS = 2000 };
	int *fds = malloc(STREAMS * sizeof(*fds));
	struct tu_resp *rs = calloc(STREAMS, sizeof(*rs));
	int threads, nfds;

	baseline(&threads, &nfds);
	memset(fds, -1, STREAMS * sizeof(*fds));
	uint64_t t0 = tu_now_ns();
	int opened = open_many(STREAMS, fds, rs);
	fprintf(stderr, "  %d streams open in %.0f ms; carapaced: %d threads, "
			"%d fds, %ld KiB RSS\n",
		opened, (double)(tu_now_ns() - t0) / 1e6,
		tu_proc_threads(gw_pid), tu_proc_fds(gw_pid),
		tu_proc_rss_kb(gw_pid));
	CU_ASSERT_EQUAL(opened, STREAMS);
	CU_ASSERT(wait_upstream_open(up_port, STREAMS, 20000) >= 0);
	CU_ASSERT_EQUAL(broadcast(), STREAMS);
	CU_ASSERT_EQUAL(all_receive_one_event(STREAMS, rs), STREAMS);
	test_health(); /* still answering */
	close_many(STREAMS, fds, rs);
	CU_ASSERT(wait_upstream_open(up_port, 0, 10000) >= 0);
	CU_ASSERT_EQUAL(wait_baseline(threads, nfds, 10000), 0);
	free(fds);
	free(rs);
}

/* Open, silent streams must cost (next to) no CPU: no busy loop. */
static void test_idle_streams_cost_no_cpu(void)
{
	enum { STREAMS = 100 };
	int fds[STREAMS];
	struct tu_resp rs[STREAMS];

	memset(rs, 0, sizeof(rs));
	memset(fds, -1, sizeof(fds));
	CU_ASSERT_EQUAL_FATAL(open_many(STREAMS, fds, rs), STREAMS);
	sleep_ms(200);
	double c0 = tu_proc_cpu_secs(gw_pid);
	sleep_ms(2000);
	double used = tu_proc_cpu_secs(gw_pid) - c0;
	fprintf(stderr, "  %d idle streams: %.3f s CPU in 2 s\n", STREAMS,
		used);
	CU_ASSERT(used >= 0 && used < 0.05);
	close_many(STREAMS, fds, rs);
	CU_ASSERT(wait_upstream_open(up_port, 0, 5000) >= 0);
}

/* ==== policy: the shipped signal-cli example, and generic rules ==== */

static pid_t pol_up_pid = -1, sig_pid = -1, pol_pid = -1;
static int pol_up_port, sig_main_port, sig_port, pol_port, pol_port2;
static char sig_conf[600], pol_conf[600];

/* text with every `from` replaced by `to`; caller frees. */
static char *replace_all(const char *text, const char *from, const char *to)
{
	size_t n = 0, fl = strlen(from), tl = strlen(to);

	for (const char *p = text; (p = strstr(p, from)) != NULL; p += fl)
		n++;
	char *out = malloc(strlen(text) + n * (tl > fl ? tl - fl : 0) + 1);
	char *o = out;
	for (const char *p = text, *q; out != NULL; p = q + fl) {
		q = strstr(p, from);
		size_t k = q ? (size_t)(q - p) : strlen(p);
		memcpy(o, p, k);
		o += k;
		if (q == NULL)
			break;
		memcpy(o, to, tl);
		o += tl;
	}
	if (out != NULL)
		*o = '\0';
	return out;
}

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = f ? calloc(1, 65536) : NULL;

	if (buf != NULL && fread(buf, 1, 65535, f) == 0) {
		free(buf);
		buf = NULL;
	}
	if (f != NULL)
		fclose(f);
	return buf;
}

/* The example as shipped, with this test's ports. */
static int write_signal_example(void)
{
	const char *srcdir = getenv("SRCDIR");
	char path[512], addr[3][32];

	snprintf(path, sizeof(path), "%s/etc/signal-cli.conf.example",
		 srcdir ? srcdir : ".");
	snprintf(addr[0], sizeof(addr[0]), "127.0.0.1:%d\"", pol_up_port);
	snprintf(addr[1], sizeof(addr[1]), "\"127.0.0.1:%d\"", sig_port);
	snprintf(addr[2], sizeof(addr[2]), "\"127.0.0.1:%d\"", sig_main_port);
	char *a = read_text(path);
	char *b = a ? replace_all(a, "127.0.0.1:18080\"", addr[0]) : NULL;
	char *c = b ? replace_all(b, "\"127.0.0.1:8080\"", addr[1]) : NULL;
	char *d = c ? replace_all(c, "\"127.0.0.1:8765\"", addr[2]) : NULL;
	/* the tests here try the policy many times a minute: a rate limit
	 * of its own must not answer for it */
	char *e = d ? replace_all(d, "\"max_requests\": 120,",
				  "\"max_requests\": 100000,") :
		      NULL;
	snprintf(sig_conf, sizeof(sig_conf), "%s/signal-cli.conf", workdir);
	int rc = e && strstr(e, addr[0]) && strstr(e, addr[1]) &&
			 strstr(e, "100000") ?
			 tu_write_file(sig_conf, e) :
			 -1;
	free(a);
	free(b);
	free(c);
	free(d);
	free(e);
	return rc;
}

static int write_policy_config(void)
{
	char text[3072];

	snprintf(pol_conf, sizeof(pol_conf), "%s/policy.conf", workdir);
	snprintf(text, sizeof(text),
		 "{ \"listen\": [\"127.0.0.1:%d\", \"127.0.0.1:%d\"],\n"
		 "  \"tools\": {\n"
		 "    \"mcp\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      \"jsonrpc_param_filters\": { \"tools/call\":\n"
		 "        { \"field\": \"name\",\n"
		 "          \"allow_patterns\": [\"search_*\"] } } },\n"
		 "    \"limited\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      \"rate_limit\": { \"max_requests\": 5,\n"
		 "                      \"window_secs\": 2 } },\n"
		 "    \"creds\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      \"inject_headers\": { \"Authorization\":\n"
		 "          \"Bearer host-secret\", \"X-Api-Key\": \"k1\" },\n"
		 "      \"forward_headers\": [\"Cookie\"] },\n"
		 "    \"plain\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      \"max_body_bytes\": 100 },\n"
		 "    \"params\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      \"allow_path_params\": true },\n"
		 "    \"batched\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      \"jsonrpc_max_batch\": 8,\n"
		 "      \"rate_limit\": { \"max_requests\": 6,\n"
		 "                      \"window_secs\": 3600 } }\n"
		 "  }\n}\n",
		 pol_port, pol_port2, pol_up_port, pol_up_port, pol_up_port,
		 pol_up_port, pol_up_port, pol_up_port);
	return tu_write_file(pol_conf, text);
}

static int policy_suite_init(void)
{
	pol_up_pid = tu_spawn_upstream(getenv("UPSTREAM"), &pol_up_port);
	sig_main_port = tu_free_port();
	sig_port = tu_free_port();
	pol_port = tu_free_port();
	pol_port2 = tu_free_port();
	if (pol_up_pid < 0 || write_signal_example() < 0 ||
	    write_policy_config() < 0)
		return -1;
	sig_pid = spawn_gateway(sig_conf, sig_port, sig_main_port);
	pol_pid = spawn_gateway(pol_conf, pol_port, pol_port2);
	return sig_pid < 0 || pol_pid < 0 ? -1 : 0;
}

static int policy_suite_clean(void)
{
	int rc = 0;

	if (sig_pid > 0 && tu_stop(sig_pid) != 0)
		rc = -1;
	if (pol_pid > 0 && tu_stop(pol_pid) != 0)
		rc = -1;
	if (pol_up_pid > 0)
		tu_stop(pol_up_pid);
	return rc;
}

/* The requests the policy upstream has received, oldest first. */
static json_object *upstream_log(void)
{
	int status = 0;
	char *body = NULL;

	if (tu_http(pol_up_port, "GET", "/_upstream/requests", NULL, NULL,
		    &status, &body, NULL) < 0)
		return NULL;
	json_object *o = parse_json(body);
	free(body);
	return o;
}

static size_t upstream_log_len(void)
{
	json_object *o = upstream_log();
	size_t n = o ? json_object_array_length(o) : (size_t)-1;

	json_object_put(o);
	return n;
}

static int rpc(int port, const char *target, const char *body, int *status,
	       char **resp)
{
	return tu_http(port, "POST", target,
		       "Content-Type: application/json\r\n", body, status, resp,
		       NULL);
}

/* What was checked is what is forwarded: re-serialised, compact. */
static void test_example_allowed_call_reserialised(void)
{
	int status = 0;
	char *resp = NULL;
	const char *sent = "{ \"jsonrpc\" : \"2.0\", \"method\":\"send\", "
			   "\"params\": {\"recipient\": [\"+15550001\"],"
			   " \"message\": \"\\u0068i\", \"message\": \"hi\"},"
			   " \"id\": \"a1\" }";

	tu_http(pol_up_port, "POST", "/_upstream/reset", NULL, "", &status,
		NULL, NULL);
	CU_ASSERT_EQUAL_FATAL(rpc(sig_port, "/api/v1/rpc", sent, &status,
				  &resp),
			      0);
	CU_ASSERT_EQUAL(status, 200);
	CU_ASSERT_PTR_NOT_NULL(resp && strstr(resp, "\"id\":\"a1\""));
	free(resp);
	json_object *log = upstream_log();
	CU_ASSERT_EQUAL_FATAL(json_object_array_length(log), 1);
	json_object *req = json_object_array_get_idx(log, 0);
	CU_ASSERT_STRING_EQUAL(json_str_at(req, "body"),
			       "{\"jsonrpc\":\"2.0\",\"method\":\"send\","
			       "\"params\":{\"recipient\":[\"+15550001\"],"
			       "\"message\":\"hi\"},\"id\":\"a1\"}");
	json_object_put(log);
}

static void expect_rpc_denied(const char *body, int want, const char *rule,
			      const char *id)
{
	int status = 0;
	char *resp = NULL;
	size_t before = upstream_log_len();

	CU_ASSERT_EQUAL_FATAL(rpc(sig_port, "/api/v1/rpc", body, &status,
				  &resp),
			      0);
	CU_ASSERT_EQUAL(status, want);
	CU_ASSERT_PTR_NOT_NULL(resp && strstr(resp, "\"jsonrpc\":\"2.0\""));
	CU_ASSERT_PTR_NOT_NULL(resp && strstr(resp, rule));
	if (id != NULL)
		CU_ASSERT_PTR_NOT_NULL(resp && strstr(resp, id));
	if (resp == NULL || strstr(resp, rule) == NULL)
		fprintf(stderr, "  %s -> %d %s\n", body, status,
			resp ? resp : "");
	free(resp);
	/* never reached the upstream */
	CU_ASSERT_EQUAL(upstream_log_len(), before);
}

static void test_example_denials_never_reach_upstream(void)
{
	expect_rpc_denied("{\"jsonrpc\":\"2.0\",\"method\":\"removeAccount\","
			  "\"id\":7}",
			  403, "jsonrpc_deny_methods", "\"id\":7");
	expect_rpc_denied("{\"jsonrpc\":\"2.0\",\"method\":"
			  "\"\\u0072emoveAccount\",\"id\":8}",
			  403, "jsonrpc_deny_methods", "\"id\":8");
	/* the example names every method it does not allow */
	expect_rpc_denied("{\"jsonrpc\":\"2.0\",\"method\":\"listContacts\","
			  "\"id\":\"x\"}",
			  403, "jsonrpc_deny_methods", "\"id\":\"x\"");
	expect_rpc_denied("{\"jsonrpc\":\"2.0\",\"method\":\"send\",\"params\":"
			  "{\"recipient\":[\"+15550001\",\"+447700900123\"]},"
			  "\"id\":9}",
			  403, "+447700900123", "\"id\":9");
	/* jsonrpc_param_aliases: the plural is the same field, checked
	 * beside the singular */
	expect_rpc_denied("{\"jsonrpc\":\"2.0\",\"method\":\"send\","
			  "\"params\":{\"recipient\":[\"+15550001\"],"
			  "\"recipients\":[\"+447700900123\"]},\"id\":10}",
			  403, "+447700900123", "\"id\":10");
	expect_rpc_denied("[{\"jsonrpc\":\"2.0\",\"method\":\"version\","
			  "\"id\":1},{\"jsonrpc\":\"2.0\",\"method\":"
			  "\"unregister\",\"id\":2}]",
			  403, "another request in this batch", "\"id\":2");
	expect_rpc_denied("{\"jsonrpc\":\"2.0\",\"method\":", 400,
			  "parse error", NULL);
	expect_rpc_denied("[]", 400, "\"error\"", NULL);
}

/* Every JSON-RPC method signal-cli 0.13 and 0.14 serve (command names with
 * a JSON-RPC form, and the subscription calls). */
static const char *const signal_cli_methods[] = {
	"acceptCall", "addDevice", "addStickerPack", "block",
	"deleteLocalAccountData", "finishChangeNumber", "finishLink",
	"getAttachment", "getAvatar", "getSticker", "getUserStatus",
	"hangupCall", "joinGroup", "listAccounts", "listCalls",
	"listContacts", "listDevices", "listGroups", "listIdentities",
	"listStickerPacks", "quitGroup", "receive", "register", "rejectCall",
	"remoteDelete", "removeContact", "removeDevice", "removePin", "send",
	"sendAdminDelete", "sendContacts", "sendMessageRequestResponse",
	"sendPaymentNotification", "sendPinMessage", "sendPollCreate",
	"sendPollTerminate", "sendPollVote", "sendReaction", "sendReceipt",
	"sendStory", "sendSyncRequest", "sendTyping", "sendUnpinMessage",
	"setPin", "startCall", "startChangeNumber", "startLink",
	"submitRateLimitChallenge", "subscribeCallEvents", "subscribeReceive",
	"trust", "unblock", "unregister", "unsubscribeCallEvents",
	"unsubscribeReceive", "updateAccount", "updateConfiguration",
	"updateContact", "updateDevice", "updateGroup", "updateProfile",
	"uploadStickerPack", "verify", "version",
};

static int example_allows(const char *method)
{
	static const char *const allowed[] = { "send", "sendTyping",
					       "sendReceipt", "sendReaction",
					       "version" };

	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if (strcmp(method, allowed[i]) == 0)
			return 1;
	return 0;
}

/* POSTs one call to the shipped example: its status; the upstream's log
 * must not grow when it is refused. */
static int example_call(const char *method, const char *params)
{
	char body[1024];
	int status = 0;
	char *resp = NULL;
	size_t before = upstream_log_len();

	snprintf(body, sizeof(body),
		 "{\"jsonrpc\":\"2.0\",\"method\":\"%s\"%s%s,\"id\":1}",
		 method, params ? ",\"params\":" : "", params ? params : "");
	if (rpc(sig_port, "/api/v1/rpc", body, &status, &resp) < 0)
		return -1;
	free(resp);
	if (status != 200 && upstream_log_len() != before)
		return -2; /* refused, yet it reached the upstream */
	return status;
}

/* The shipped drop-in, unchanged but for its addresses: every method it
 * does not allow, every way signal-cli addresses a message but the listed
 * recipients (each spelling), attachments and the account: refused, and
 * the upstream hears of none of it. What OpenClaw needs still passes. */
static void test_example_is_tight(void)
{
	static const struct {
		const char *method, *params;
	} refused[] = {
		/* a group, a username, note-to-self, in every spelling */
		{ "send", "{\"groupId\":\"Z3I=\",\"message\":\"m\"}" },
		{ "send", "{\"group-id\":\"Z3I=\",\"message\":\"m\"}" },
		{ "send", "{\"group_id\":\"Z3I=\",\"message\":\"m\"}" },
		{ "send", "{\"groupIds\":[\"Z3I=\"],\"message\":\"m\"}" },
		{ "send", "{\"recipient\":[\"+15550001\"],"
			  "\"group-ids\":[\"Z3I=\"],\"message\":\"m\"}" },
		{ "send", "{\"username\":\"u.01\",\"message\":\"m\"}" },
		{ "send", "{\"usernames\":[\"u.01\"],\"message\":\"m\"}" },
		{ "send", "{\"noteToSelf\":true,\"message\":\"m\"}" },
		{ "send", "{\"note-to-self\":true,\"message\":\"m\"}" },
		{ "send", "{\"note_to_self\":true,\"message\":\"m\"}" },
		/* another recipient, in every spelling */
		{ "send", "{\"recipient\":[\"+447700900123\"],"
			  "\"message\":\"m\"}" },
		{ "send", "{\"recipient\":\"+447700900123\",\"message\":\"m\"}" },
		{ "send", "{\"recipients\":[\"+447700900123\"],"
			  "\"message\":\"m\"}" },
		{ "send", "{\"recipient\":[\"+15550001\"],\"recipients\":"
			  "[\"+447700900123\"],\"message\":\"m\"}" },
		{ "send", "{\"message\":\"m\"}" },
		/* a file of this host */
		{ "send", "{\"recipient\":[\"+15550001\"],\"message\":\"m\","
			  "\"attachment\":[\"/etc/carapace/carapaced.conf\"]}" },
		{ "send", "{\"recipient\":[\"+15550001\"],\"message\":\"m\","
			  "\"attachments\":[\"/etc/passwd\"]}" },
		{ "send", "{\"recipient\":[\"+15550001\"],"
			  "\"previewImage\":\"/etc/passwd\",\"message\":\"m\"}" },
		/* positional params */
		{ "send", "[\"+15550001\",\"m\"]" },
		/* typing, receipts, reactions: only to the listed ones */
		{ "sendTyping", "{\"recipient\":[\"+447700900123\"]}" },
		{ "sendTyping", "{\"groupId\":\"Z3I=\"}" },
		{ "sendReceipt", "{\"recipients\":[\"+447700900123\"],"
				 "\"targetTimestamp\":1}" },
		{ "sendReaction", "{\"recipients\":[\"+15550001\"],"
				  "\"groupIds\":[\"Z3I=\"],\"emoji\":\"x\","
				  "\"targetAuthor\":\"+15550001\","
				  "\"targetTimestamp\":1}" },
		{ "sendReaction", "{\"recipients\":[\"+15550001\"],"
				  "\"emoji\":\"x\",\"targetAuthor\":"
				  "\"+447700900123\",\"targetTimestamp\":1}" },
		{ "version", "{\"account\":\"+15550001111\"}" },
	};
	static const struct {
		const char *method, *params;
	} allowed[] = {
		{ "send", "{\"recipient\":[\"+15550001\"],\"message\":\"m\","
			  "\"account\":\"+15550001111\"}" },
		{ "send", "{\"recipients\":[\"+15550002\"],\"message\":\"m\","
			  "\"text-style\":[\"0:1:BOLD\"]}" },
		{ "sendTyping", "{\"recipient\":[\"+15550001\"],\"stop\":true}" },
		{ "sendReceipt", "{\"recipient\":\"+15550002\","
				 "\"targetTimestamp\":1,\"type\":\"read\"}" },
		{ "sendReaction", "{\"recipients\":[\"+15550001\"],"
				  "\"emoji\":\"x\",\"targetAuthor\":"
				  "\"+15550001\",\"targetTimestamp\":1}" },
		{ "version", NULL },
	};
	char batch[4096];
	size_t n = 0;
	int status = 0;
	char *resp = NULL;

	for (size_t i = 0; i < sizeof(signal_cli_methods) /
				       sizeof(signal_cli_methods[0]); i++) {
		const char *m = signal_cli_methods[i];
		if (example_allows(m))
			continue;
		int st = example_call(m, "{}");
		CU_ASSERT_EQUAL(st, 403);
		if (st != 403)
			fprintf(stderr, "  %s -> %d\n", m, st);
	}
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		int st = example_call(refused[i].method, refused[i].params);
		CU_ASSERT(st == 403 || st == 400);
		if (st != 403 && st != 400)
			fprintf(stderr, "  %s %s -> %d\n", refused[i].method,
				refused[i].params, st);
	}
	/* a batch longer than the example's 20 */
	n += (size_t)snprintf(batch, sizeof(batch), "[");
	for (int i = 0; i < 21; i++)
		n += (size_t)snprintf(batch + n, sizeof(batch) - n,
				      "%s{\"jsonrpc\":\"2.0\",\"method\":"
				      "\"version\",\"id\":%d}",
				      i ? "," : "", i);
	snprintf(batch + n, sizeof(batch) - n, "]");
	size_t before = upstream_log_len();
	CU_ASSERT_EQUAL(rpc(sig_port, "/api/v1/rpc", batch, &status, &resp),
			0);
	CU_ASSERT_EQUAL(status, 400);
	free(resp);
	CU_ASSERT_EQUAL(upstream_log_len(), before);
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		int st = example_call(allowed[i].method, allowed[i].params);
		CU_ASSERT_EQUAL(st, 200);
		if (st != 200)
			fprintf(stderr, "  %s %s -> %d\n", allowed[i].method,
				allowed[i].params ? allowed[i].params : "",
				st);
	}
}

static void test_example_paths_and_methods(void)
{
	size_t before = upstream_log_len();

	expect_error(sig_port, "GET", "/api/v1/other", NULL, NULL, 403,
		     "signal-cli");
	expect_error(sig_port, "DELETE", "/api/v1/rpc", NULL, NULL, 405,
		     "signal-cli");
	expect_error(sig_port, "GET", "/api/v1/%2e%2e/x", NULL, NULL, 400,
		     "signal-cli");
	expect_error(sig_main_port, "GET", "/tools/signal-cli/admin", NULL,
		     NULL, 403, "signal-cli");
	CU_ASSERT_EQUAL(upstream_log_len(), before);
}

/* Targets that a servlet container, a server that decodes twice, IIS or
 * a lenient UTF-8 decoder would read as another path: 400, on main and
 * drop-in listeners, and the upstream never hears of them. */
static void test_paths_meaning_else_upstream(void)
{
	static const char *const main_bad[] = {
		"/tools/plain/echo/..;/x", "/tools/plain/..;/echo",
		"/tools/plain/echo/.;/x", "/tools/plain/echo/..;x=1/y",
		"/tools/plain/echo/%252e%252e/x", "/tools/plain/echo/a%25",
		"/tools/plain/echo/%u002e%u002e/x", "/tools/plain/echo/a%zz",
		"/tools/plain/echo/%c0%ae%c0%ae/x", "/tools/plain/echo/%c1%9c",
		"/tools/plain/echo/%e0%80%ae", "/tools/plain/echo/%ed%a0%80",
		"/tools/plain/echo/%f5%80%80%80", "/tools/plain/echo/\xc0\xae",
		"/tools/plain/echo/\xff", "/tools/plain/echo/a;jsessionid=1",
		"/tools/plain/echo/a%3bx", "/tools/params/echo/..;/x",
		"/tools/params/echo/.;x/y",
	};
	static const char *const dropin_bad[] = {
		"/api/v1/..;/rpc", "/api/v1/rpc;x=1", "/api/v1/%2561dmin",
		"/api/v1/%c0%ae%c0%ae/rpc",
	};
	int status = 0;
	char *body = NULL;

	tu_http(pol_up_port, "POST", "/_upstream/reset", NULL, "", &status,
		NULL, NULL);
	for (size_t i = 0; i < sizeof(main_bad) / sizeof(main_bad[0]); i++)
		expect_error(pol_port, "GET", main_bad[i], NULL, NULL, 400,
			     strncmp(main_bad[i], "/tools/plain/", 13) == 0 ?
				     "plain" : "params");
	for (size_t i = 0; i < sizeof(dropin_bad) / sizeof(dropin_bad[0]);
	     i++)
		expect_error(sig_port, "POST", dropin_bad[i],
			     "Content-Type: application/json\r\n", "{}", 400,
			     "signal-cli");
	CU_ASSERT_EQUAL(upstream_log_len(), 0);
	/* what these rules leave alone goes through */
	CU_ASSERT_EQUAL(tu_http(pol_port, "GET",
				"/tools/params/echo/a;v=1/b?q=..;/%25",
				NULL, NULL, &status, &body, NULL),
			0);
	CU_ASSERT_EQUAL(status, 200);
	free(body);
	CU_ASSERT_EQUAL(tu_http(pol_port, "GET",
				"/tools/plain/echo/caf%C3%A9/\xe2\x82\xac",
				NULL, NULL, &status, &body, NULL),
			0);
	CU_ASSERT_EQUAL(status, 200);
	free(body);
	json_object *log = upstream_log();
	CU_ASSERT_EQUAL_FATAL(json_object_array_length(log), 2);
	CU_ASSERT_STRING_EQUAL(
		json_str_at(json_object_array_get_idx(log, 0), "target"),
		"/echo/a;v=1/b?q=..;/%25");
	CU_ASSERT_STRING_EQUAL(
		json_str_at(json_object_array_get_idx(log, 1), "target"),
		"/echo/caf%C3%A9/%e2%82%ac"); /* libcurl escapes raw bytes */
	json_object_put(log);
}

static void test_example_events_stream(void)
{
	struct tu_resp r = { 0 };
	char data[256];
	int fd = open_stream(sig_port, "/api/v1/events?schedule=0.2&end=1",
			     &r);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT_EQUAL(tu_sse_next_event(&r, data, sizeof(data), 5000), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(data, "\"seq\":1"));
	tu_resp_free(&r);
	close(fd);
}

/* An MCP server: only search_* tools, and the SSE answer streams. */
static void test_mcp_tool_filter_and_stream(void)
{
	int fd = tu_connect(pol_port);
	struct tu_resp r = { 0 };
	char data[512];
	const char *call = "{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\","
			   "\"params\":{\"name\":\"search_web\"},\"id\":3}";

	CU_ASSERT_FATAL(fd >= 0);
	tu_send_request(fd, "POST", "/tools/mcp/mcp",
			"Content-Type: application/json\r\n"
			"Accept: application/json, text/event-stream\r\n",
			call, strlen(call));
	CU_ASSERT_EQUAL_FATAL(tu_read_head(&r, fd, 10000), 0);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT_STRING_EQUAL(tu_header(&r, "Content-Type"),
			       "text/event-stream");
	CU_ASSERT_EQUAL_FATAL(tu_sse_next_event(&r, data, sizeof(data), 5000),
			      0);
	uint64_t first_at = tu_now_ns();
	json_object *o = parse_json(data), *params = NULL;
	CU_ASSERT_FATAL(o && json_object_object_get_ex(o, "params", &params));
	uint64_t sent = (uint64_t)json_int_at(params, "sent_ns");
	CU_ASSERT(first_at - sent < 250 * MS);
	json_object_put(o);
	CU_ASSERT_EQUAL_FATAL(tu_sse_next_event(&r, data, sizeof(data), 5000),
			      0);
	o = parse_json(data);
	json_object *result = NULL;
	CU_ASSERT_FATAL(o && json_object_object_get_ex(o, "result", &result));
	/* the first message arrived before the second was even sent */
	CU_ASSERT(first_at < (uint64_t)json_int_at(result, "sent_ns"));
	CU_ASSERT_EQUAL(json_int_at(o, "id"), 3);
	json_object_put(o);
	tu_resp_free(&r);
	close(fd);

	int status = 0;
	char *resp = NULL;
	CU_ASSERT_EQUAL(rpc(pol_port, "/tools/mcp/mcp",
			    "{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\","
			    "\"params\":{\"name\":\"delete_repo\"},\"id\":4}",
			    &status, &resp),
			0);
	CU_ASSERT_EQUAL(status, 403);
	CU_ASSERT_PTR_NOT_NULL(resp && strstr(resp, "allow_patterns"));
	free(resp);
}

/* Any body to a JSON-RPC tool is checked, not only a POST's. */
static void test_jsonrpc_body_checked_whatever_the_method(void)
{
	size_t before = upstream_log_len();
	int status = 0;
	char *resp = NULL;

	CU_ASSERT_EQUAL(tu_http(pol_port, "PUT", "/tools/mcp/mcp",
				"Content-Type: application/json\r\n",
				"{\"jsonrpc\":\"2.0\",\"method\":"
				"\"tools/call\",\"params\":{\"name\":"
				"\"delete_repo\"},\"id\":5}",
				&status, &resp, NULL),
			0);
	CU_ASSERT_EQUAL(status, 403);
	free(resp);
	CU_ASSERT_EQUAL(tu_http(pol_port, "PATCH", "/tools/mcp/mcp", NULL,
				"not json", &status, NULL, NULL),
			0);
	CU_ASSERT_EQUAL(status, 400);
	CU_ASSERT_EQUAL(upstream_log_len(), before);
}

/* A batch of n "version" calls with ids 1..n (caller frees). */
static char *version_batch(size_t n)
{
	size_t cap = n * 48 + 3, len = 0;
	char *p = malloc(cap);

	if (p == NULL)
		return NULL;
	p[len++] = '[';
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(p + len, cap - len,
					"%s{\"jsonrpc\":\"2.0\",\"method\":"
					"\"version\",\"id\":%zu}",
					i ? "," : "", i + 1);
	p[len++] = ']';
	p[len] = '\0';
	return p;
}

/* POST a batch of n calls to the "batched" tool (max 6 calls an hour,
 * batches of at most 8): the status, Retry-After (0: none), whether the
 * answer is JSON-RPC and whether the upstream saw the request. */
static int post_batch(size_t n, int *retry_after, int *rpc, int *reached)
{
	char *body = version_batch(n), *resp = NULL;
	size_t before = upstream_log_len();
	struct tu_resp r = { 0 };
	int status = -1, fd = tu_connect(pol_port);

	*retry_after = -1;
	*rpc = 0;
	if (body != NULL && fd >= 0 &&
	    tu_send_request(fd, "POST", "/tools/batched/api/v1/rpc",
			    "Content-Type: application/json\r\n", body,
			    strlen(body)) == 0 &&
	    tu_read_head(&r, fd, 10000) == 0) {
		const char *ra = tu_header(&r, "Retry-After");
		status = r.status;
		*retry_after = ra ? (int)strtol(ra, NULL, 10) : 0;
		resp = calloc(1, 4096);
		if (resp != NULL && tu_read_body(&r, resp, 4095, 10000) > 0)
			*rpc = strstr(resp, "\"jsonrpc\":\"2.0\"") != NULL;
	}
	tu_resp_free(&r);
	if (fd >= 0)
		close(fd);
	*reached = upstream_log_len() != before;
	free(resp);
	free(body);
	return status;
}

/* A batch of N calls takes N tokens, all or none; a batch longer than
 * jsonrpc_max_batch is refused before it costs more than one. */
static void test_rate_limit_counts_calls(void)
{
	int ra = -1, rpc = -1, reached = -1, status = 0;

	/* 9 > jsonrpc_max_batch 8: 400; a refusal takes one token (5 left) */
	CU_ASSERT_EQUAL(post_batch(9, &ra, &rpc, &reached), 400);
	CU_ASSERT_TRUE(rpc);
	CU_ASSERT_FALSE(reached);
	/* more calls than the limit ever admits: 429, no point retrying */
	CU_ASSERT_EQUAL(post_batch(7, &ra, &rpc, &reached), 429);
	CU_ASSERT_EQUAL(ra, 0);
	CU_ASSERT_TRUE(rpc);
	CU_ASSERT_FALSE(reached);
	CU_ASSERT_EQUAL(post_batch(3, &ra, &rpc, &reached), 200); /* 2 left */
	CU_ASSERT_TRUE(reached);
	/* does not fit: refused whole, nothing taken, nothing sent */
	CU_ASSERT_EQUAL(post_batch(3, &ra, &rpc, &reached), 429);
	CU_ASSERT(ra >= 3500 && ra <= 3600);
	CU_ASSERT_TRUE(rpc);
	CU_ASSERT_FALSE(reached);
	CU_ASSERT_EQUAL(post_batch(2, &ra, &rpc, &reached), 200); /* 0 left */
	CU_ASSERT_TRUE(reached);
	/* the window is full: refused before the body, with or without one */
	CU_ASSERT_EQUAL(tu_http(pol_port, "GET",
				"/tools/batched/api/v1/check", NULL, NULL,
				&status, NULL, NULL),
			0);
	CU_ASSERT_EQUAL(status, 429);
	CU_ASSERT_EQUAL(post_batch(1, &ra, &rpc, &reached), 429);
	CU_ASSERT(ra >= 3500 && ra <= 3600);
	CU_ASSERT_FALSE(reached);
}

static void test_rate_limit(void)
{
	int status = 0;
	char *resp = NULL;
	int fd, retry = 0;

	for (int i = 0; i < 5; i++) {
		CU_ASSERT_EQUAL(tu_http(pol_port, "GET",
					"/tools/limited/api/v1/check", NULL,
					NULL, &status, NULL, NULL),
				0);
		CU_ASSERT_EQUAL(status, 200);
	}
	struct tu_resp r = { 0 };
	fd = tu_connect(pol_port);
	tu_send_request(fd, "GET", "/tools/limited/api/v1/check", NULL, NULL,
			0);
	CU_ASSERT_EQUAL_FATAL(tu_read_head(&r, fd, 10000), 0);
	CU_ASSERT_EQUAL(r.status, 429);
	const char *ra = tu_header(&r, "Retry-After");
	CU_ASSERT_PTR_NOT_NULL_FATAL(ra);
	retry = (int)strtol(ra, NULL, 10);
	CU_ASSERT(retry >= 1 && retry <= 2);
	tu_resp_free(&r);
	close(fd);
	sleep_ms(retry * 1000 + 50);
	CU_ASSERT_EQUAL(tu_http(pol_port, "GET", "/tools/limited/api/v1/check",
				NULL, NULL, &status, &resp, NULL),
			0);
	CU_ASSERT_EQUAL(status, 200);
	free(resp);
}

static json_object *echo_headers(const char *tool, const char *headers)
{
	char target[64], *body = NULL;
	int status = 0;

	snprintf(target, sizeof(target), "/tools/%s/echo", tool);
	if (tu_http(pol_port, "GET", target, headers, NULL, &status, &body,
		    NULL) < 0 || status != 200) {
		free(body);
		return NULL;
	}
	json_object *o = parse_json(body), *h = NULL;
	free(body);
	if (o && json_object_object_get_ex(o, "headers", &h))
		json_object_get(h);
	json_object_put(o);
	return h;
}

static int count_header(json_object *headers, const char *name)
{
	int n = 0;

	for (size_t i = 0; i < json_object_array_length(headers); i++) {
		json_object *pair = json_object_array_get_idx(headers, i);
		n += strcasecmp(json_object_get_string(
					json_object_array_get_idx(pair, 0)),
				name) == 0;
	}
	return n;
}

static void test_credentials_injected_not_forwarded(void)
{
	const char *client = "Authorization: Bearer client-token\r\n"
			     "Proxy-Authorization: Basic eA==\r\n"
			     "X-Api-Key: from-client\r\n"
			     "Cookie: session=1\r\n";
	json_object *h = echo_headers("creds", client);

	CU_ASSERT_PTR_NOT_NULL_FATAL(h);
	CU_ASSERT(has_header_pair(h, "Authorization", "Bearer host-secret"));
	CU_ASSERT_EQUAL(count_header(h, "Authorization"), 1);
	CU_ASSERT(has_header_pair(h, "X-Api-Key", "k1"));
	CU_ASSERT_EQUAL(count_header(h, "X-Api-Key"), 1);
	CU_ASSERT(has_header_pair(h, "Cookie", "session=1"));
	CU_ASSERT_EQUAL(count_header(h, "Proxy-Authorization"), 0);
	json_object_put(h);

	h = echo_headers("plain", client);
	CU_ASSERT_PTR_NOT_NULL_FATAL(h);
	CU_ASSERT_EQUAL(count_header(h, "Authorization"), 0);
	CU_ASSERT_EQUAL(count_header(h, "Proxy-Authorization"), 0);
	CU_ASSERT_EQUAL(count_header(h, "Cookie"), 0);
	CU_ASSERT(has_header_pair(h, "X-Api-Key", "from-client"));
	json_object_put(h);
}

static void test_per_tool_body_limit(void)
{
	char body[201];

	memset(body, 'b', 200);
	body[200] = '\0';
	expect_error(pol_port, "POST", "/tools/plain/echo", NULL, body, 413,
		     "plain");
	body[99] = '\0';
	int status = 0;
	CU_ASSERT_EQUAL(tu_http(pol_port, "POST", "/tools/plain/echo", NULL,
				body, &status, NULL, NULL),
			0);
	CU_ASSERT_EQUAL(status, 200);
}

/* ==== CLI tools: tests/clitool run by the real daemon ==== */

static pid_t cli_pid = -1;
static int cli_port, cli_port2;
static char cli_conf[600], jail[600];

/* The cli suite's configuration, with one more allow pattern (the
 * reload tests' way to tell the new configuration is in force). */
static int write_cli_conf(const char *tool, const char *more_allow)
{
	char text[4096];

	snprintf(text, sizeof(text),
		 "{ \"listen\": [\"127.0.0.1:%d\", \"127.0.0.1:%d\"],\n"
		 "  \"run_tools_as_root\": true,\n"
		 "  \"tools\": { \"ct\": { \"type\": \"cli\",\n"
		 "    \"binary\": \"%s\",\n"
		 "    \"argv_allow_patterns\": [\"println *\", \"eprint *\",\n"
		 "      \"args *\", \"env\", \"cwd\", \"cat\", \"sleep *\",\n"
		 "      \"lines *\", \"flood *\", \"exit *\", \"kill *\",\n"
		 "      \"ignore-term *\", \"bytes\", \"fds\", \"detach *\"%s%s%s],\n"
		 "    \"argv_deny_patterns\": [\"* secret*\"],\n"
		 "    \"argv_deny_flags\": [\"--output\", \"-o\"],\n"
		 "    \"env_inject\": { \"TOOL_TOKEN\": \"s3cr3t-token\" },\n"
		 "    \"cwd_allowed\": [\"%s\"],\n"
		 "    \"timeout_secs\": 2, \"max_output_bytes\": 1048576,\n"
		 "    \"max_concurrent\": 2 },\n"
		 "    \"ct3\": { \"type\": \"cli\", \"binary\": \"%s\",\n"
		 "    \"argv_allow_patterns\": [\"flood *\"],\n"
		 "    \"timeout_secs\": 3, \"max_output_bytes\": 1073741824,\n"
		 "    \"max_concurrent\": 1 },\n"
		 "    \"ct4\": { \"type\": \"cli\", \"binary\": \"%s\",\n"
		 "    \"argv_allow_patterns\": [\"sleep *\", \"hop *\"%s%s%s],\n"
		 "    \"timeout_secs\": 30, \"max_concurrent\": 2 } } }\n",
		 cli_port, cli_port2, tool, more_allow ? ", \"" : "",
		 more_allow ? more_allow : "", more_allow ? "\"" : "", jail,
		 tool, tool, more_allow ? ", \"" : "",
		 more_allow ? more_allow : "", more_allow ? "\"" : "");
	return tu_write_file(cli_conf, text);
}

static int cli_suite_init(void)
{
	const char *tool = getenv("CLITOOL");
	char path[700];

	cli_port = tu_free_port();
	cli_port2 = tu_free_port();
	snprintf(jail, sizeof(jail), "%s/jail", workdir);
	snprintf(path, sizeof(path), "%s/out", jail);
	if (tool == NULL || mkdir(jail, 0700) < 0 ||
	    symlink("/etc", path) < 0)
		return -1;
	snprintf(cli_conf, sizeof(cli_conf), "%s/cli.conf", workdir);
	/* Something carapaced has in its environment that no tool may see. */
	setenv("CARAPACE_TEST_LEAK", "leaked", 1);
	int rc = write_cli_conf(tool, NULL);
	cli_pid = rc < 0 ? -1 : spawn_gateway(cli_conf, cli_port, cli_port2);
	unsetenv("CARAPACE_TEST_LEAK");
	return cli_pid < 0 ? -1 : 0;
}

static int cli_suite_clean(void)
{
	return cli_pid > 0 && tu_stop(cli_pid) != 0 ? -1 : 0;
}

/* Runs argv (a JSON array text) with optional extra JSON members; the
 * parsed answer (caller puts) and the status. */
static json_object *run_tool(const char *argv_json, const char *extra,
			     int *status)
{
	char body[8192];
	char *resp = NULL;

	snprintf(body, sizeof(body), "{\"argv\":%s%s%s}", argv_json,
		 extra ? "," : "", extra ? extra : "");
	*status = 0;
	if (tu_http(cli_port, "POST", "/tools/ct",
		    "Content-Type: application/json\r\n", body, status, &resp,
		    NULL) < 0)
		return NULL;
	json_object *o = parse_json(resp);
	free(resp);
	return o;
}

static void test_cli_allow_deny(void)
{
	int status;
	json_object *o = run_tool("[\"println\",\"hello\"]", NULL, &status);

	CU_ASSERT_EQUAL(status, 200);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_EQUAL(json_int_at(o, "exit_code"), 0);
	CU_ASSERT_STRING_EQUAL(json_str_at(o, "stdout"), "hello\n");
	CU_ASSERT_STRING_EQUAL(json_str_at(o, "stderr"), "");
	json_object_put(o);

	o = run_tool("[\"println\",\"my secret\"]", NULL, &status);
	CU_ASSERT_EQUAL(status, 403); /* deny wins over "println *" */
	CU_ASSERT_PTR_NOT_NULL(o && strstr(json_object_to_json_string(o),
					   "argv_deny_patterns"));
	json_object_put(o);
	o = run_tool("[\"rm\",\"-rf\",\"/\"]", NULL, &status);
	CU_ASSERT_EQUAL(status, 403);
	json_object_put(o);
	expect_error(cli_port, "POST", "/tools/ct", NULL, "{\"argv\":[1]}",
		     400, "ct");
	expect_error(cli_port, "POST", "/tools/ct", NULL,
		     "{\"argv\":[],\"shell\":true}", 400, "ct");
	expect_error(cli_port, "GET", "/tools/ct", NULL, NULL, 405, "ct");
	expect_error(cli_port, "POST", "/tools/ct/x", NULL, "{}", 404, "ct");
}

/* Arguments reach the child literally: no shell, ever. */
static void test_cli_argv_literal(void)
{
	int status;
	json_object *o = run_tool(
		"[\"args\",\"a b\",\"$(id)\",\";\",\"`x`\",\"x\\ny\",\"\"]",
		NULL, &status);

	CU_ASSERT_EQUAL(status, 200);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	const char *out = json_str_at(o, "stdout");
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "[a b]\n[$(id)]\n[;]\n[`x`]\n"
					   "[x\ny]\n[]\n"));
	json_object_put(o);
}

static void test_cli_environment_isolated(void)
{
	int status;
	json_object *o = run_tool("[\"env\"]", NULL, &status);

	CU_ASSERT_EQUAL(status, 200);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	const char *out = json_str_at(o, "stdout");
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "TOOL_TOKEN=s3cr3t-token\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "PATH="));
	CU_ASSERT_PTR_NULL(strstr(out, "CARAPACE_TEST_LEAK"));
	CU_ASSERT_PTR_NULL(strstr(out, "LD_PRELOAD"));
	json_object_put(o);
}

static void test_cli_cwd(void)
{
	char extra[800], real[PATH_MAX];
	int status;

	CU_ASSERT_PTR_NOT_NULL_FATAL(realpath(jail, real));
	snprintf(extra, sizeof(extra), "\"cwd\":\"%s\"", jail);
	json_object *o = run_tool("[\"cwd\"]", extra, &status);
	CU_ASSERT_EQUAL(status, 200);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_PTR_NOT_NULL(strstr(json_str_at(o, "stdout"), real));
	json_object_put(o);
	/* escapes: through .. and through a symlink */
	snprintf(extra, sizeof(extra), "\"cwd\":\"%s/..\"", jail);
	o = run_tool("[\"cwd\"]", extra, &status);
	CU_ASSERT_EQUAL(status, 403);
	json_object_put(o);
	snprintf(extra, sizeof(extra), "\"cwd\":\"%s/out\"", jail);
	o = run_tool("[\"cwd\"]", extra, &status);
	CU_ASSERT_EQUAL(status, 403);
	json_object_put(o);
}

/* The child's only descriptors are its stdin, stdout and stderr: the
 * directory it was started in is not one of them. */
static void test_cli_cwd_no_fd(void)
{
	char extra[800];
	int status;

	snprintf(extra, sizeof(extra), "\"cwd\":\"%s\"", jail);
	json_object *o = run_tool("[\"fds\"]", extra, &status);
	CU_ASSERT_EQUAL(status, 200);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_STRING_EQUAL(json_str_at(o, "stdout"), "0\n1\n2\n");
	json_object_put(o);
}

struct swapper {
	const char *a, *b;
	volatile int stop;
	unsigned long swaps;
};

static void *swap_loop(void *arg)
{
	struct swapper *w = arg;

	while (!w->stop)
		if (renameat2(AT_FDCWD, w->a, AT_FDCWD, w->b,
			      RENAME_EXCHANGE) == 0)
			w->swaps++;
	return NULL;
}

#define RACE_TRIES 60

/* The directory checked is the one the tool runs in: while jail/work is
 * swapped with a symlink to /etc, again and again, every run is refused
 * or runs inside the jail. */
static void test_cli_cwd_race(void)
{
	char work[700], swap[700], extra[800];
	char real[PATH_MAX], want[PATH_MAX + 1];
	struct swapper w = { work, swap, 0, 0 };
	int ran = 0, refused = 0, outside = 0;
	pthread_t tid;

	CU_ASSERT_PTR_NOT_NULL_FATAL(realpath(jail, real));
	snprintf(want, sizeof(want), "%s/", real);
	snprintf(work, sizeof(work), "%s/work", jail);
	snprintf(swap, sizeof(swap), "%s/swap", jail);
	CU_ASSERT_FATAL(mkdir(work, 0700) == 0 && symlink("/etc", swap) == 0);
	CU_ASSERT_FATAL(pthread_create(&tid, NULL, swap_loop, &w) == 0);
	snprintf(extra, sizeof(extra), "\"cwd\":\"%s\"", work);
	for (int i = 0; i < RACE_TRIES; i++) {
		int status;
		json_object *o = run_tool("[\"cwd\"]", extra, &status);
		const char *out = o ? json_str_at(o, "stdout") : NULL;
		if (status == 403) {
			refused++;
		} else if (status == 200 && out != NULL &&
			   strncmp(out, want, strlen(want)) == 0) {
			ran++;
		} else {
			outside++;
			printf("\n    ran in %s (status %d)", out ? out : "?",
			       status);
		}
		json_object_put(o);
	}
	w.stop = 1;
	pthread_join(tid, NULL);
	printf("\n    %d tries, %lu swaps: %d ran inside, %d refused, %d "
	       "ran elsewhere\n",
	       RACE_TRIES, w.swaps, ran, refused, outside);
	CU_ASSERT_EQUAL(outside, 0);
	CU_ASSERT(ran > 0 && refused > 0);
	/* a symlink is refused even when it leads inside cwd_allowed */
	struct stat st;
	if (lstat(work, &st) == 0 && S_ISLNK(st.st_mode))
		renameat2(AT_FDCWD, work, AT_FDCWD, swap, RENAME_EXCHANGE);
	CU_ASSERT(unlink(swap) == 0);
	CU_ASSERT(symlink(work, swap) == 0);
	snprintf(extra, sizeof(extra), "\"cwd\":\"%s\"", swap);
	int status;
	json_object *o = run_tool("[\"cwd\"]", extra, &status);
	CU_ASSERT_EQUAL(status, 403);
	json_object_put(o);
	unlink(swap);
	rmdir(work);
}

/* Output that is not UTF-8 travels as base64, flagged, byte-exact. */
static void test_cli_binary_output(void)
{
	unsigned char want[256];
	int status;
	json_object *o = run_tool("[\"bytes\"]", NULL, &status), *flag = NULL;

	for (int i = 0; i < 256; i++)
		want[i] = (unsigned char)i;
	CU_ASSERT_EQUAL(status, 200);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT(json_object_object_get_ex(o, "stdout_base64", &flag) &&
		  json_object_get_boolean(flag));
	const char *b64 = json_str_at(o, "stdout");
	size_t n = 0;
	unsigned char *got = b64 ? text_base64_decode(b64, strlen(b64), &n) :
				   NULL;
	CU_ASSERT_EQUAL(n, sizeof(want));
	CU_ASSERT(got != NULL && memcmp(got, want, sizeof(want)) == 0);
	free(got);
	json_object_put(o);
}

static void test_cli_stdin_exit_signal(void)
{
	int status;
	json_object *o = run_tool("[\"cat\"]", "\"stdin\":\"one\\ntwo\"",
				  &status);

	CU_ASSERT_EQUAL(status, 200);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_STRING_EQUAL(json_str_at(o, "stdout"), "one\ntwo");
	json_object_put(o);
	o = run_tool("[\"exit\",\"3\"]", NULL, &status);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_EQUAL(json_int_at(o, "exit_code"), 3);
	json_object_put(o);
	o = run_tool("[\"kill\",\"9\"]", NULL, &status);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_EQUAL(json_int_at(o, "signal"), 9);
	json_object *v = NULL;
	CU_ASSERT(json_object_object_get_ex(o, "exit_code", &v) && v == NULL);
	json_object_put(o);
}

static void test_cli_timeout_kills_stubborn_child(void)
{
	int status;
	uint64_t t0 = tu_now_ns();
	json_object *o = run_tool("[\"ignore-term\",\"sleep\",\"60000\"]",
				  NULL, &status);
	uint64_t ms = (tu_now_ns() - t0) / MS;

	CU_ASSERT_EQUAL(status, 200);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	json_object *t = NULL;
	CU_ASSERT(json_object_object_get_ex(o, "timed_out", &t) &&
		  json_object_get_boolean(t));
	CU_ASSERT_EQUAL(json_int_at(o, "signal"), 9);
	CU_ASSERT(ms >= 1900 && ms < 9000);
	json_object_put(o);
}

static void test_cli_output_cap(void)
{
	int status;
	json_object *o = run_tool("[\"flood\",\"100000000\"]", NULL, &status);

	CU_ASSERT_EQUAL(status, 200);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	json_object *t = NULL;
	CU_ASSERT(json_object_object_get_ex(o, "truncated", &t) &&
		  json_object_get_boolean(t));
	CU_ASSERT_EQUAL(strlen(json_str_at(o, "stdout")), 1048576);
	CU_ASSERT(tu_proc_rss_kb(cli_pid) < 64 * 1024);
	json_object_put(o);
}

/* Children of pid: the union of its threads' children lists. */
static int count_children(pid_t pid)
{
	char path[400], buf[64];
	struct dirent *e;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	DIR *d = opendir(path);
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/children", pid,
			 e->d_name);
		FILE *f = fopen(path, "r");
		if (f == NULL)
			continue;
		while (fscanf(f, "%63s", buf) == 1)
			n++;
		fclose(f);
	}
	closedir(d);
	return n;
}

/* Polls for up to limit_ms until pid has want children; the last count.
 * An SSE answer's head goes out before its tool is spawned. */
static int wait_children(pid_t pid, int want, int limit_ms)
{
	uint64_t t0 = tu_now_ns();
	int n;

	while ((n = count_children(pid)) != want &&
	       tu_now_ns() - t0 < (uint64_t)limit_ms * MS)
		sleep_ms(10);
	return n;
}

/* SSE: output as it is produced; the client leaving kills the child. */
static void test_cli_live_output_and_disconnect(void)
{
	const char *body = "{\"argv\":[\"lines\",\"3\",\"400\"]}";
	struct tu_resp r = { 0 };
	char data[256];
	int fd = tu_connect(cli_port);

	CU_ASSERT_FATAL(fd >= 0);
	tu_send_request(fd, "POST", "/tools/ct",
			"Content-Type: application/json\r\n"
			"Accept: text/event-stream\r\n",
			body, strlen(body));
	CU_ASSERT_EQUAL_FATAL(tu_read_head(&r, fd, 10000), 0);
	uint64_t t0 = tu_now_ns();
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT_EQUAL_FATAL(tu_sse_next_event(&r, data, sizeof(data), 5000),
			      0);
	uint64_t first = (tu_now_ns() - t0) / MS;
	CU_ASSERT_PTR_NOT_NULL(strstr(data, "line 1"));
	int events = 1;
	while (tu_sse_next_event(&r, data, sizeof(data), 5000) == 0)
		if (events++ && strstr(data, "exit_code"))
			break;
	uint64_t last = (tu_now_ns() - t0) / MS;
	fprintf(stderr, "  first line after %llu ms, exit after %llu ms\n",
		(unsigned long long)first, (unsigned long long)last);
	CU_ASSERT(first < 400 && last >= 700);
	CU_ASSERT_PTR_NOT_NULL(strstr(data, "\"exit_code\":0"));
	tu_resp_free(&r);
	close(fd);

	/* a long run, then the client goes away */
	body = "{\"argv\":[\"sleep\",\"60000\"]}";
	fd = tu_connect(cli_port);
	memset(&r, 0, sizeof(r));
	tu_send_request(fd, "POST", "/tools/ct",
			"Content-Type: application/json\r\n"
			"Accept: text/event-stream\r\n",
			body, strlen(body));
	CU_ASSERT_EQUAL_FATAL(tu_read_head(&r, fd, 10000), 0);
	CU_ASSERT_EQUAL(wait_children(cli_pid, 1, 5000), 1);
	tu_resp_free(&r);
	close(fd);
	uint64_t gone = tu_now_ns();
	while (count_children(cli_pid) > 0 &&
	       tu_now_ns() - gone < 5000 * MS)
		sleep_ms(20);
	CU_ASSERT_EQUAL(count_children(cli_pid), 0);
	fprintf(stderr, "  child gone %llu ms after the client\n",
		(unsigned long long)((tu_now_ns() - gone) / MS));
}

static void test_cli_max_concurrent(void)
{
	const char *body = "{\"argv\":[\"sleep\",\"60000\"]}";
	int fds[2];
	struct tu_resp r[2];

	memset(r, 0, sizeof(r));
	for (int i = 0; i < 2; i++) {
		fds[i] = tu_connect(cli_port);
		tu_send_request(fds[i], "POST", "/tools/ct",
				"Accept: text/event-stream\r\n", body,
				strlen(body));
		CU_ASSERT_EQUAL(tu_read_head(&r[i], fds[i], 10000), 0);
	}
	expect_error(cli_port, "POST", "/tools/ct", NULL, body, 503, "ct");
	for (int i = 0; i < 2; i++) {
		tu_resp_free(&r[i]);
		close(fds[i]);
	}
	/* the slots come back once the runs have wound up (children
	 * killed, their cgroups emptied, orphans swept) */
	uint64_t t0 = tu_now_ns();
	int status = 0;
	do {
		json_object *o = run_tool("[\"println\",\"again\"]", NULL,
					  &status);
		json_object_put(o);
		if (status != 200)
			sleep_ms(50);
	} while (status != 200 && tu_now_ns() - t0 < 5000 * MS);
	CU_ASSERT_EQUAL(status, 200);
}

/* Every spelling of a denied option is refused, through the daemon. */
static void test_cli_deny_flags(void)
{
	static const char *const refused[] = {
		"[\"args\",\"--out=FILE\"]",
		"[\"args\",\"-mo\",\"FILE\"]",
		"[\"args\",\"--output\",\"FILE\"]",
		"[\"args\",\"-oFILE\"]",
	};
	int status;

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		json_object *o = run_tool(refused[i], NULL, &status);
		CU_ASSERT_EQUAL(status, 403);
		const char *text = o ? json_object_to_json_string(o) : "";
		CU_ASSERT_PTR_NOT_NULL(strstr(text, "argv_deny_flags"));
		json_object_put(o);
	}
	/* another option; after an operand, "--" ends the options */
	json_object *o = run_tool(
		"[\"args\",\"--outline\",\"x\",\"--\",\"-o\"]", NULL,
		&status);
	CU_ASSERT_EQUAL(status, 200);
	json_object_put(o);
}

/* POST /tools/ct4 (timeout 30 s: its runs outlive a reload on a loaded
 * machine) with argv (a JSON array text); the status. */
static int run_ct4(const char *argv)
{
	char body[256];
	int status = -1;
	char *resp = NULL;

	snprintf(body, sizeof(body), "{\"argv\":%s}", argv);
	tu_http(cli_port, "POST", "/tools/ct4", NULL, body, &status, &resp,
		NULL);
	free(resp);
	return status;
}

/* Runs a reload of the cli suite's configuration with more_allow added,
 * and waits until argv (a JSON array text) is no longer refused by
 * policy on ct4; its status then. */
static int reload_cli(const char *more_allow, const char *argv)
{
	int status = 0;

	if (write_cli_conf(getenv("CLITOOL"), more_allow) < 0 ||
	    kill(cli_pid, SIGHUP) < 0)
		return -1;
	for (int w = 0; w < 250; w++) {
		if ((status = run_ct4(argv)) != 403)
			break;
		sleep_ms(20);
	}
	return status;
}

/* The runs a reload finds going on still count: the new configuration's
 * tool of the same name is at max_concurrent until they end. */
static void test_cli_max_concurrent_reload(void)
{
	const char *body = "{\"argv\":[\"sleep\",\"60000\"]}";
	int fds[2], status = 0;
	struct tu_resp r[2];

	memset(r, 0, sizeof(r));
	for (int i = 0; i < 2; i++) {
		fds[i] = tu_connect(cli_port);
		tu_send_request(fds[i], "POST", "/tools/ct4",
				"Accept: text/event-stream\r\n", body,
				strlen(body));
		CU_ASSERT_EQUAL(tu_read_head(&r[i], fds[i], 10000), 0);
	}
	/* "print x" is allowed by the new configuration only */
	CU_ASSERT_EQUAL(reload_cli("print *", "[\"print\",\"x\"]"), 503);
	expect_error(cli_port, "POST", "/tools/ct4", NULL, body, 503, "ct4");
	int kids = wait_children(cli_pid, 2, 5000);
	if (kids != 2)
		fprintf(stderr, "  carapaced has %d children, not 2\n", kids);
	CU_ASSERT_EQUAL(kids, 2);
	for (int i = 0; i < 2; i++) {
		tu_resp_free(&r[i]);
		close(fds[i]);
	}
	/* the slots come back once the runs have wound up */
	uint64_t t0 = tu_now_ns();
	while ((status = run_ct4("[\"print\",\"x\"]")) != 200 &&
	       tu_now_ns() - t0 < 5000 * MS)
		sleep_ms(50);
	CU_ASSERT_EQUAL(status, 200);
}

/* ---- no process outlives its run ---- */

/* Processes whose command line begins with clitool's path, cmd and arg:
 * a run's, whatever it forked (a fork keeps the command line). */
static int clitool_processes(const char *cmd, const char *arg)
{
	return tu_processes(getenv("CLITOOL"), cmd, arg);
}

/* The pid in "detached PID", or -1. */
static pid_t detached_pid(const char *out)
{
	const char *p = out ? strstr(out, "detached ") : NULL;
	char *end;
	long pid = p ? strtol(p + 9, &end, 10) : -1;

	return p && end != p + 9 && pid > 0 ? (pid_t)pid : -1;
}

/* /proc/PID exists: alive, or a zombie nobody reaped. */
static int in_proc(pid_t pid)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	return stat(path, &st) == 0;
}

/* Polls for limit_ms until no process of the run is left; its count. */
static int wait_none_left(const char *cmd, const char *arg, int limit_ms)
{
	uint64_t t0 = tu_now_ns();
	int n;

	while ((n = clitool_processes(cmd, arg)) > 0 &&
	       tu_now_ns() - t0 < (uint64_t)limit_ms * MS)
		sleep_ms(20);
	return n;
}

/* A run's child leaves a daemon behind (setsid, double fork) and ends:
 * the daemon is gone by the time the answer is. */
struct bg_run {
	pthread_t t;
	const char *body;
	atomic_int done;
};

static void *bg_run_main(void *arg)
{
	struct bg_run *b = arg;
	int status;
	char *resp = NULL;

	tu_http(cli_port, "POST", "/tools/ct4", NULL, b->body, &status,
		&resp, NULL);
	free(resp);
	atomic_store(&b->done, 1);
	return NULL;
}

/* A process that leaves its run's cgroup and forks anew every 100 ms (so
 * it always looks younger than the runs under way) dies when its run
 * ends, although another run is still going. */
static void test_cli_cgroup_escapee(void)
{
	struct bg_run b = { .body = "{\"argv\":[\"sleep\",\"8000\"]}" };
	int status;
	char *resp = NULL;

	atomic_init(&b.done, 0);
	CU_ASSERT_FATAL(pthread_create(&b.t, NULL, bg_run_main, &b) == 0);
	sleep_ms(300); /* the long run is under way first */
	CU_ASSERT_EQUAL(tu_http(cli_port, "POST", "/tools/ct4", NULL,
				"{\"argv\":[\"hop\",\"20000\"]}", &status,
				&resp, NULL),
			0);
	CU_ASSERT_EQUAL(status, 200);
	CU_ASSERT_PTR_NOT_NULL(resp && strstr(resp, "hopper "));
	free(resp);
	CU_ASSERT_EQUAL(wait_none_left("hop", "20000", 3000), 0);
	CU_ASSERT_EQUAL(atomic_load(&b.done), 0); /* still under way */
	pthread_join(b.t, NULL);
}

static void test_cli_detached_end(void)
{
	int status;
	json_object *o = run_tool("[\"detach\",\"4242001\",\"println\","
				  "\"done\"]", NULL, &status);

	CU_ASSERT_EQUAL(status, 200);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_EQUAL(json_int_at(o, "exit_code"), 0);
	pid_t pid = detached_pid(json_str_at(o, "stdout"));
	CU_ASSERT(pid > 0);
	CU_ASSERT(pid > 0 && !in_proc(pid));
	CU_ASSERT_EQUAL(clitool_processes("detach", "4242001"), 0);
	json_object_put(o);
}

static void test_cli_detached_timeout(void)
{
	int status;
	json_object *o = run_tool("[\"detach\",\"4242002\",\"sleep\","
				  "\"60000\"]", NULL, &status), *t = NULL;

	CU_ASSERT_EQUAL(status, 200);
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT(json_object_object_get_ex(o, "timed_out", &t) &&
		  json_object_get_boolean(t));
	pid_t pid = detached_pid(json_str_at(o, "stdout"));
	CU_ASSERT(pid > 0);
	CU_ASSERT(pid > 0 && !in_proc(pid));
	CU_ASSERT_EQUAL(clitool_processes("detach", "4242002"), 0);
	json_object_put(o);
}

static void test_cli_detached_disconnect(void)
{
	const char *body = "{\"argv\":[\"detach\",\"4242003\",\"sleep\","
			   "\"60000\"]}";
	struct tu_resp r = { 0 };
	char data[256];
	int fd = tu_connect(cli_port);

	CU_ASSERT_FATAL(fd >= 0);
	tu_send_request(fd, "POST", "/tools/ct",
			"Content-Type: application/json\r\n"
			"Accept: text/event-stream\r\n",
			body, strlen(body));
	CU_ASSERT_EQUAL_FATAL(tu_read_head(&r, fd, 10000), 0);
	CU_ASSERT_EQUAL(tu_sse_next_event(&r, data, sizeof(data), 5000), 0);
	pid_t pid = detached_pid(data);
	CU_ASSERT(pid > 0 && in_proc(pid));
	CU_ASSERT_EQUAL(clitool_processes("detach", "4242003"), 2);
	tu_resp_free(&r);
	close(fd);
	CU_ASSERT_EQUAL(wait_none_left("detach", "4242003", 5000), 0);
	/* killed, then reaped by carapaced's sweep a moment later */
	uint64_t t0 = tu_now_ns();
	while (pid > 0 && in_proc(pid) && tu_now_ns() - t0 < 5000 * MS)
		sleep_ms(20);
	CU_ASSERT(pid > 0 && !in_proc(pid));
}

/* A connection to port whose receive buffer is small: a client that
 * never reads fills it at once. */
static int connect_small(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int small = 4096;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* SSE, and a client that never reads: the 3 s timeout still ends the
 * run, and the tool's only max_concurrent slot is free again. */
static void test_cli_timeout_silent_client(void)
{
	const char *body = "{\"argv\":[\"flood\",\"999999937\"]}";
	int fd = connect_small(cli_port);
	char *resp = NULL;
	int status = 0;

	CU_ASSERT_FATAL(fd >= 0);
	tu_send_request(fd, "POST", "/tools/ct3",
			"Content-Type: application/json\r\n"
			"Accept: text/event-stream\r\n",
			body, strlen(body));
	uint64_t t0 = tu_now_ns();
	while (clitool_processes("flood", "999999937") == 0 &&
	       tu_now_ns() - t0 < 5000 * MS)
		sleep_ms(10);
	CU_ASSERT_EQUAL(clitool_processes("flood", "999999937"), 1);
	int left = wait_none_left("flood", "999999937", 20000);
	uint64_t ms = (tu_now_ns() - t0) / MS;
	CU_ASSERT_EQUAL(left, 0);
	fprintf(stderr, "  run ended %llu ms after the request\n",
		(unsigned long long)ms);
	/* the slot is given back just after the child is reaped */
	for (;;) {
		free(resp);
		resp = NULL;
		tu_http(cli_port, "POST", "/tools/ct3",
			"Content-Type: application/json\r\n",
			"{\"argv\":[\"flood\",\"10\"]}", &status, &resp,
			NULL);
		if (status != 503 || tu_now_ns() - t0 >= 22000 * MS)
			break;
		sleep_ms(50);
	}
	CU_ASSERT_EQUAL(status, 200);
	CU_ASSERT_PTR_NOT_NULL(resp && strstr(resp, "xxxxxxxxxx"));
	free(resp);
	close(fd);
}

/* Runs a shell command line with the shim reachable as "ct" (a symlink)
 * and CARAPACE_URL set; returns its exit status, stdout in out, stderr in
 * err. */
static int shim_run(const char *cmdline, int port, char *out, size_t out_len,
		    char *err, size_t err_len)
{
	char link[700], cmd[2400], errfile[700];

	snprintf(link, sizeof(link), "%s/ct", workdir);
	snprintf(errfile, sizeof(errfile), "%s/shim.err", workdir);
	if (access(link, F_OK) != 0 && symlink(getenv("SHIM"), link) != 0)
		return -1;
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && export CARAPACE_URL=http://127.0.0.1:%d "
		 "PATH='%s':\"$PATH\" && { %s; } 2>'%s'",
		 workdir, port, workdir, cmdline, errfile);
	FILE *p = popen(cmd, "r");
	if (p == NULL)
		return -1;
	size_t n = fread(out, 1, out_len - 1, p);
	out[n] = '\0';
	int status = pclose(p);
	FILE *e = fopen(errfile, "r");
	n = e ? fread(err, 1, err_len - 1, e) : 0;
	err[n] = '\0';
	if (e)
		fclose(e);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_shim(void)
{
	char out[4096], err[4096];

	CU_ASSERT_EQUAL(shim_run("ct println hello </dev/null", cli_port, out,
				 sizeof(out), err, sizeof(err)),
			0);
	CU_ASSERT_STRING_EQUAL(out, "hello\n");
	CU_ASSERT_EQUAL(shim_run("ct eprint oops </dev/null", cli_port, out,
				 sizeof(out), err, sizeof(err)),
			0);
	CU_ASSERT_STRING_EQUAL(out, "");
	CU_ASSERT_STRING_EQUAL(err, "oops");
	CU_ASSERT_EQUAL(shim_run("printf 'one\\ntwo' | ct cat", cli_port, out,
				 sizeof(out), err, sizeof(err)),
			0);
	CU_ASSERT_STRING_EQUAL(out, "one\ntwo");
	CU_ASSERT_EQUAL(shim_run("ct exit 3 </dev/null", cli_port, out,
				 sizeof(out), err, sizeof(err)),
			3);
	CU_ASSERT_EQUAL(shim_run("ct kill 9 </dev/null", cli_port, out,
				 sizeof(out), err, sizeof(err)),
			137);
	/* 256 raw bytes through SSE + base64: exactly what the tool writes
	 * when run here */
	CU_ASSERT_EQUAL(shim_run("\"$CLITOOL\" bytes >want && ct bytes "
				 "</dev/null >got && cmp want got && echo same",
				 cli_port, out, sizeof(out), err, sizeof(err)),
			0);
	CU_ASSERT_STRING_EQUAL(out, "same\n");
	/* the shell's cwd is sent only when asked, and must be allowed */
	CU_ASSERT_EQUAL(shim_run("cd jail && CARAPACE_SEND_CWD=1 ct cwd "
				 "</dev/null",
				 cli_port, out, sizeof(out), err, sizeof(err)),
			0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "/jail"));
	CU_ASSERT_EQUAL(shim_run("ct cwd </dev/null", cli_port, out,
				 sizeof(out), err, sizeof(err)),
			0);
	CU_ASSERT_STRING_EQUAL(out, "/\n");
	CU_ASSERT_EQUAL(shim_run("CARAPACE_SEND_CWD=1 ct cwd </dev/null",
				 cli_port, out, sizeof(out), err, sizeof(err)),
			126);
	CU_ASSERT_EQUAL(shim_run("ct rm -rf / </dev/null", cli_port, out,
				 sizeof(out), err, sizeof(err)),
			126);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "denied by policy"));
	char direct[700];
	snprintf(direct, sizeof(direct), "'%s' ct println direct </dev/null",
		 getenv("SHIM"));
	CU_ASSERT_EQUAL(shim_run(direct, cli_port, out, sizeof(out), err,
				 sizeof(err)),
			0);
	CU_ASSERT_STRING_EQUAL(out, "direct\n");
	CU_ASSERT_EQUAL(shim_run("ct println x </dev/null", tu_free_port(),
				 out, sizeof(out), err, sizeof(err)),
			69);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "unreachable"));
}

int main(void)
{
	static pid_t *const children[] = { &gw_pid, &up_pid, &victim_pid,
					   &pol_up_pid, &sig_pid, &pol_pid,
					   &cli_pid };

	tu_watchdog("test_integration", 900, children, 7);
	if (mkdtemp(workdir) == NULL ||
	    CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("integration", suite_init, suite_clean);
	CU_add_test(s, "carapaced -t", test_check_config);
	CU_add_test(s, "healthz", test_health);
	CU_add_test(s, "errors are JSON with the right status", test_errors);
	CU_add_test(s, "chunked body too large", test_chunked_body_too_large);
	CU_add_test(s, "TE + CL refused", test_smuggling_framing_refused);
	CU_add_test(s, "request forwarding", test_request_forwarding);
	CU_add_test(s, "status and HEAD passthrough",
		    test_status_and_head_passthrough);
	CU_add_test(s, "drop-in listener", test_dropin_listener);
	CU_add_test(s, "keep-alive reuse", test_keepalive_reuse);
	CU_add_test(s, "SSE events arrive live", test_sse_events_arrive_live);
	CU_add_test(s, "head before first byte", test_head_before_first_byte);
	CU_add_test(s, "SSE byte-exact", test_sse_byte_exact);
	CU_add_test(s, "client disconnect on a silent stream",
		    test_client_disconnect_on_silent_stream);
	CU_add_test(s, "upstream reset is not a clean end",
		    test_upstream_reset_is_not_a_clean_end);
	CU_add_test(s, "idle timeout", test_idle_timeout_cuts_silent_stream);
	CU_add_test(s, "50 MB, slow reader", test_large_body_slow_reader);
	CU_add_test(s, "chunked body passthrough",
		    test_chunked_body_passthrough);
	CU_add_test(s, "200 streams + 500 calls",
		    test_streams_do_not_delay_requests);
	CU_add_test(s, "idle streams cost no CPU",
		    test_idle_streams_cost_no_cpu);
	CU_add_test(s, "2000 streams", test_two_thousand_streams);
	CU_add_test(s, "upstream killed mid-stream",
		    test_upstream_killed_mid_stream);
	CU_pSuite p = CU_add_suite("policy", policy_suite_init,
				   policy_suite_clean);
	CU_add_test(p, "signal-cli example: allowed call re-serialised",
		    test_example_allowed_call_reserialised);
	CU_add_test(p, "signal-cli example: denials never reach upstream",
		    test_example_denials_never_reach_upstream);
	CU_add_test(p, "signal-cli example: paths and methods",
		    test_example_paths_and_methods);
	CU_add_test(p, "paths that mean something else upstream: 400",
		    test_paths_meaning_else_upstream);
	CU_add_test(p, "signal-cli example: tight against every method "
		       "and spelling", test_example_is_tight);
	CU_add_test(p, "signal-cli example: events stream",
		    test_example_events_stream);
	CU_add_test(p, "MCP: tool filter, SSE answer streams",
		    test_mcp_tool_filter_and_stream);
	CU_add_test(p, "JSON-RPC body checked whatever the method",
		    test_jsonrpc_body_checked_whatever_the_method);
	CU_add_test(p, "rate limit", test_rate_limit);
	CU_add_test(p, "rate limit counts JSON-RPC calls",
		    test_rate_limit_counts_calls);
	CU_add_test(p, "credentials injected, never forwarded",
		    test_credentials_injected_not_forwarded);
	CU_add_test(p, "per-tool body limit", test_per_tool_body_limit);
	CU_pSuite t = CU_add_suite("cli", cli_suite_init, cli_suite_clean);
	CU_add_test(t, "allow, deny, bad requests", test_cli_allow_deny);
	CU_add_test(t, "argv literal, no shell", test_cli_argv_literal);
	CU_add_test(t, "environment isolated",
		    test_cli_environment_isolated);
	CU_add_test(t, "cwd inside cwd_allowed only", test_cli_cwd);
	CU_add_test(t, "cwd: no descriptor left open", test_cli_cwd_no_fd);
	CU_add_test(t, "cwd swapped with a symlink, 60 tries",
		    test_cli_cwd_race);
	CU_add_test(t, "argv_deny_flags", test_cli_deny_flags);
	CU_add_test(t, "binary output as base64", test_cli_binary_output);
	CU_add_test(t, "stdin, exit code, signal",
		    test_cli_stdin_exit_signal);
	CU_add_test(t, "timeout kills a stubborn child",
		    test_cli_timeout_kills_stubborn_child);
	CU_add_test(t, "output cap", test_cli_output_cap);
	CU_add_test(t, "live output; disconnect kills",
		    test_cli_live_output_and_disconnect);
	CU_add_test(t, "max_concurrent", test_cli_max_concurrent);
	CU_add_test(t, "max_concurrent survives a reload",
		    test_cli_max_concurrent_reload);
	CU_add_test(t, "a detached process dies with its run",
		    test_cli_detached_end);
	CU_add_test(t, "... and at its timeout", test_cli_detached_timeout);
	CU_add_test(t, "... and when its client leaves",
		    test_cli_detached_disconnect);
	CU_add_test(t, "a process that leaves its cgroup dies with its run",
		    test_cli_cgroup_escapee);
	CU_add_test(t, "timeout with a client that never reads",
		    test_cli_timeout_silent_client);
	CU_add_test(t, "carapace-shim", test_shim);
	/* TEST_SUITE=cli: that suite alone, for a quick run while at work
	 * on it */
	const char *only = getenv("TEST_SUITE");
	carapaced_path = getenv("CARAPACED");
	if (only != NULL) {
		CU_pSuite all[] = { s, p, t };
		for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
			CU_set_suite_active(all[i],
					    strcmp(all[i]->pName, only) == 0);
		CU_set_fail_on_inactive(CU_FALSE);
	}
	int rc = cu_run();
	remove_workdir();
	return rc;
}
