/* Integration tests of the proxy: plain requests and their errors,
 * forwarding, keep-alive, SSE streams (live, byte-exact, cut, idle,
 * thousands at once) and `carapaced -t`. The real carapaced in front of
 * the real test upstream, over 127.0.0.1. Paths come from the environment
 * (make check sets them): CARAPACED, UPSTREAM. Bounds here are generous
 * correctness bounds; the figures themselves are measured by
 * bench/sse_latency. */
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
#include "tu_json.h"
#include "tu_assert.h"
#include "tu_workers.h"


#define MS (1000000ull)
#define MAX_BODY 65536

static const char *carapaced_path;
static char workdir[] = "/tmp/carapaced-proxy-XXXXXX";
static char conf_path[512];
static pid_t up_pid = -1, victim_pid = -1, gw_pid = -1;
static int up_port, victim_port, gw_port, dropin_port, dead_port;
static int adm_port; /* /metrics: the idle worker threads */

/* ---- helpers ---- */

struct upstream_open {
	int port, want;
};

static int upstream_open_is(void *arg)
{
	const struct upstream_open *u = arg;

	return tu_upstream_stat(u->port, "open_streams") == u->want;
}

/* ms until the upstream's open stream count is want, or -1 after limit. */
static long wait_upstream_open(int port, int want, int limit_ms)
{
	uint64_t start = tu_now_ns();
	struct upstream_open u = { port, want };

	if (tu_wait_until(upstream_open_is, &u, (unsigned)limit_ms) < 0)
		return -1;
	return (long)((tu_now_ns() - start) / MS);
}


/* Waits until carapaced's threads are back to the baseline's, plus the
 * worker threads parked since (tu_workers.h), and its fds too, less whole
 * parked handles: a leak can only show as more. */
struct counts {
	int threads, idle, fds;
};

static int back_to_baseline(void *arg)
{
	const struct counts *c = arg;

	return tu_threads_back(gw_pid, adm_port, c->threads, c->idle, NULL,
			       NULL) &&
	       tu_fds_back(tu_proc_fds(gw_pid), c->fds);
}

static int wait_baseline(struct counts *c, int limit_ms)
{
	int threads, want;

	if (tu_wait_until(back_to_baseline, c, (unsigned)limit_ms) == 0)
		return 0;
	tu_threads_back(gw_pid, adm_port, c->threads, c->idle, &threads,
			&want);
	fprintf(stderr, "baseline: threads %d (want %d), fds %d (want %d)\n",
		threads, want, tu_proc_fds(gw_pid), c->fds);
	return -1;
}

static void baseline(struct counts *c)
{
	/* Let connection threads of earlier tests finish first. */
	struct counts last = { -1, -1, -1 }, now;

	for (int i = 0; i < 100; i++) {
		now.fds = tu_proc_fds(gw_pid);
		if (tu_threads_idle(gw_pid, adm_port, &now.threads,
				    &now.idle) == 0 &&
		    now.threads == last.threads && now.idle == last.idle &&
		    now.fds == last.fds)
			break;
		last = now;
		tu_sleep_ms(50);
	}
	*c = last;
}

/* ---- set-up ---- */

static int write_config(void)
{
	char text[2048];

	snprintf(conf_path, sizeof(conf_path), "%s/carapaced.conf", workdir);
	snprintf(text, sizeof(text),
		 "// integration test configuration\n"
		 "{ \"listen\": [\"127.0.0.1:%d\"],\n"
		 "  \"admin_listen\": \"127.0.0.1:%d\",\n"
		 "  \"admin_token_sha256\": \"" TU_ADMIN_TOKEN_SHA256 "\",\n"
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
		 gw_port, adm_port, MAX_BODY, up_port, dropin_port, victim_port,
		 dead_port, up_port, up_port);
	return tu_write_file(conf_path, text);
}

static int start_gateway(void)
{
	gw_pid = tu_start_daemon(&(struct tu_daemon){
		.conf = conf_path, .ports = { gw_port, dropin_port, adm_port } });
	return gw_pid < 0 ? -1 : 0;
}

static int suite_init(void)
{
	/* AddressSanitizer holds freed memory back to catch a use after it
	 * (its quarantine: 256 MiB by default), and in carapaced's RSS that
	 * is the 50 MiB body's freed buffers, all of them: 8 MiB of it
	 * here, so that test_large_body_slow_reader's bound still tells a
	 * daemon that holds the body from one that passes it on. */
	if (TU_ASAN) {
		char opts[1024];
		const char *o = getenv("ASAN_OPTIONS");

		snprintf(opts, sizeof(opts), "%s:quarantine_size_mb=8",
			 o ? o : "");
		setenv("ASAN_OPTIONS", opts, 1);
	}
	/* thousands of client sockets in this process too: prepared */
	up_pid = tu_suite_upstream(&carapaced_path, &up_port);
	if (up_pid < 0)
		return -1;
	victim_pid = tu_spawn_upstream(getenv("UPSTREAM"), &victim_port);
	gw_port = tu_free_port();
	adm_port = tu_free_port();
	dropin_port = tu_free_port();
	dead_port = tu_free_port();
	if (up_pid < 0 || victim_pid < 0 || write_config() < 0)
		return -1;
	return start_gateway();
}

static int suite_clean(void)
{
	int rc = gw_pid > 0 ? tu_stop_daemon(gw_pid) : 0;

	if (up_pid > 0)
		tu_stop(up_pid);
	if (victim_pid > 0)
		tu_stop(victim_pid);
	return rc;
}

/* ---- command line ---- */

static int run_check(const char *text, char *out, size_t len)
{
	char path[600], cmd[1400];

	snprintf(path, sizeof(path), "%s/check.conf", workdir);
	if (tu_write_file(path, text) < 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "'%s' -t -c '%s'", carapaced_path, path);
	return tu_run(cmd, out, len);
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
	/* the tool's 1 s, not the upstream's 15 s: the margin is a loaded
	 * machine's */
	expect_error(gw_port, "GET", "/tools/hasty/slow-headers?ms=15000",
		     NULL, NULL, 504, "hasty");
	uint64_t took = (tu_now_ns() - t0) / MS;
	CU_ASSERT(took >= 900 && took < 10000);
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
	int fd = tu_open_stream(gw_port,
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
		/* a bound that tells an event passed on from one held back
		 * (the system this replaces buffered 2 s), wide enough for a
		 * loaded machine: the latency itself is bench/'s to measure */
		CU_ASSERT(late_ms < 1000.0);
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
	int fd = tu_open_stream(gw_port, "/tools/up/api/v1/events?schedule=3",
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
	int fd = tu_open_stream(gw_port, "/tools/up/sse-exact", &r);

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
	struct counts c;
	int threads, idle;

	baseline(&c);
	CU_ASSERT_EQUAL(wait_upstream_open(up_port, 0, 5000) >= 0, 1);
	int fd = tu_open_stream(gw_port, "/tools/up/api/v1/events", &r);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(wait_upstream_open(up_port, 1, 5000) >= 0);
	/* its worker: a thread more than the baseline and those parked */
	CU_ASSERT(tu_threads_idle(gw_pid, adm_port, &threads, &idle) == 0 &&
		  threads > c.threads + idle - c.idle);
	tu_resp_free(&r);
	close(fd);
	long ms = wait_upstream_open(up_port, 0, 2000);
	fprintf(stderr, "  upstream saw the close after %ld ms\n", ms);
	CU_ASSERT(ms >= 0);
	CU_ASSERT_EQUAL(wait_baseline(&c, 15000), 0);
}

/* A byte pipelined behind a silent stream, then the close: the worker
 * can no longer watch the socket for readability (it stays readable), yet
 * the client's leaving still ends the stream (within the worker's capped
 * wait, about a second), its worker and descriptors too. */
static void test_client_leaves_after_pipelined_byte(void)
{
	struct tu_resp r = { 0 };
	struct counts c;

	baseline(&c);
	CU_ASSERT_EQUAL(wait_upstream_open(up_port, 0, 5000) >= 0, 1);
	int fd = tu_open_stream(gw_port, "/tools/up/api/v1/events", &r);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(wait_upstream_open(up_port, 1, 5000) >= 0);
	/* the byte is in the socket when the worker looks, with or without
	 * the FIN behind it */
	CU_ASSERT_EQUAL(tu_send_all(fd, "X", 1), 0);
	tu_resp_free(&r);
	close(fd);
	long ms = wait_upstream_open(up_port, 0, 10000);
	fprintf(stderr, "  upstream saw the close after %ld ms\n", ms);
	CU_ASSERT(ms >= 0);
	CU_ASSERT_EQUAL(wait_baseline(&c, 15000), 0);
}

/* The upstream dies: the client's response must end, not hang. */
static void test_upstream_killed_mid_stream(void)
{
	struct tu_resp r = { 0 };
	char data[256];
	int fd = tu_open_stream(gw_port, "/tools/victim/api/v1/events?schedule=0.1",
			     &r);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(tu_sse_next_event(&r, data, sizeof(data), 5000), 0);
	kill(victim_pid, SIGKILL);
	waitpid(victim_pid, NULL, 0);
	victim_pid = -1;
	uint64_t t0 = tu_now_ns();
	/* it ends (a hang would run into the read's 15 s) */
	CU_ASSERT_EQUAL(tu_sse_next_event(&r, data, sizeof(data), 15000), -1);
	uint64_t ms = (tu_now_ns() - t0) / MS;
	fprintf(stderr, "  client's response ended %llu ms after the kill\n",
		(unsigned long long)ms);
	CU_ASSERT(ms < 10000);
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
	int fd = tu_open_stream(gw_port, "/tools/up/abort?after=100000", &r);

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
	int fd = tu_open_stream(gw_port, "/tools/idle/api/v1/events", &r);

	CU_ASSERT_FATAL(fd >= 0);
	/* cut after the tool's 1 s: a stream never cut would end the read
	 * at its own 15 s timeout instead */
	CU_ASSERT(tu_read_body(&r, buf, sizeof(buf), 15000) < 0);
	uint64_t ms = (tu_now_ns() - t0) / MS;
	CU_ASSERT(ms >= 900 && ms < 10000);
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
	long rss_before = tu_proc_rss_kb(gw_pid);
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
			tu_sleep_ms(1);
		}
	}
	fprintf(stderr, "  50 MiB in %.1f s, carapaced RSS peak %ld KiB "
		"(%ld KiB before)\n",
		(double)(tu_now_ns() - t0) / 1e9, rss_max, rss_before);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(pos, size);
	CU_ASSERT_FALSE(mismatch);
	/* Stated bound: 32 MiB for the whole daemon (the body is 50 MiB).
	 * Under a sanitizer the daemon starts larger (shadow memory, the
	 * sanitizer's allocator): there the transfer may add 24 MiB (under
	 * ASan, 8 of them the quarantine suite_init allows), under half the
	 * body. */
	if (TU_SANITIZED) {
		CU_ASSERT(rss_before > 0 && rss_max - rss_before < 24 * 1024);
	} else {
		CU_ASSERT(rss_max > 0 && rss_max < 32 * 1024);
	}
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
	int fd = tu_open_stream(gw_port,
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
	struct counts c;

	baseline(&c);
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
	CU_ASSERT_EQUAL(wait_baseline(&c, 10000), 0);
	free(fds);
	free(rs);
}

/* Issue 14's budget: an open stream costs its client's and its upstream's
 * socket and one thread (its worker), nothing more; the daemon's own
 * descriptors are a constant (parked upstream handles, one socket each,
 * may come or go by a few). Parked pool threads hold no descriptor and
 * are taken first: the threads added are the streams less those parked
 * before; after, the threads are back to the baseline plus the pool's
 * parked ones. */
static void test_stream_budget(void)
{
	enum { STREAMS = 300, SLACK = 8 };
	int fds[STREAMS];
	struct tu_resp rs[STREAMS];
	struct counts c;

	baseline(&c);
	memset(rs, 0, sizeof(rs));
	memset(fds, -1, sizeof(fds));
	CU_ASSERT_EQUAL_FATAL(open_many(STREAMS, fds, rs), STREAMS);
	CU_ASSERT(wait_upstream_open(up_port, STREAMS, 10000) >= 0);
	int dfds = tu_proc_fds(gw_pid) - c.fds;
	int dthreads = tu_proc_threads(gw_pid) - c.threads;
	fprintf(stderr, "  %d streams: +%d fds, +%d threads (%d parked "
		"before)\n", STREAMS, dfds, dthreads, c.idle);
	CU_ASSERT(dfds <= 2 * STREAMS + SLACK);
	CU_ASSERT(dthreads <= STREAMS - c.idle + SLACK); /* parked: reused */
	close_many(STREAMS, fds, rs);
	CU_ASSERT(wait_upstream_open(up_port, 0, 5000) >= 0);
	CU_ASSERT_EQUAL(wait_baseline(&c, 10000), 0);
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
	tu_sleep_ms(200);
	double c0 = tu_proc_cpu_secs(gw_pid);
	tu_sleep_ms(2000);
	double used = tu_proc_cpu_secs(gw_pid) - c0;
	fprintf(stderr, "  %d idle streams: %.3f s CPU in 2 s\n", STREAMS,
		used);
	CU_ASSERT(used >= 0 && used < 0.05);
	close_many(STREAMS, fds, rs);
	CU_ASSERT(wait_upstream_open(up_port, 0, 5000) >= 0);
}

int main(void)
{
	static pid_t *const children[] = { &gw_pid, &up_pid, &victim_pid };

	tu_watchdog("test_proxy", 900, children, 3);
	if (mkdtemp(workdir) == NULL ||
	    CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("proxy", suite_init, suite_clean);
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
	CU_add_test(s, "client leaves after a pipelined byte",
		    test_client_leaves_after_pipelined_byte);
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
	CU_add_test(s, "a stream: two descriptors, one thread",
		    test_stream_budget);
	CU_add_test(s, "2000 streams", test_two_thousand_streams);
	CU_add_test(s, "upstream killed mid-stream",
		    test_upstream_killed_mid_stream);
	int rc = cu_run();
	tu_remove_tree(workdir);
	return rc;
}
