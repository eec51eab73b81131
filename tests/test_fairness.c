/* Integration test: a costly request body delays no other connection.
 *
 * One MHD thread serves every connection of a listener, so nothing whose
 * cost a client chooses may run on it: the policy on a JSON-RPC body (a
 * strict parse of up to max_body_bytes, the re-serialisation, the rate
 * tokens) runs on the request's worker, and so does a CLI tool's (the
 * parse of its request, the audit's redacted body and argv, the argv
 * policy and the cwd). Here HOGS connections send a body that is costly
 * to check, all finished at once, and /healthz and a small allowed call,
 * sent right after, must be answered while the checks are still being
 * made: for an HTTP JSON-RPC tool, and for a CLI tool.
 *
 * No absolute time: one costly request is first timed alone (T, from its
 * last byte to its answer's head, the median of three). Checked on the
 * MHD thread, the HOGS checks run one after the other and the probes wait
 * for most of them, about HOGS x T; checked on the workers, the
 * probes wait for a thread to be scheduled. The bound, HOGS x T / 4, sits
 * far from both, and scales with the machine's load as T does (T is
 * timed again before each try; see ATTEMPTS).
 *
 * The end of a request is on the MHD thread too (MHD drops the answer),
 * and with it the request's last audit record, which holds the body when
 * the tool logs it. That record must cost the thread no more than a copy:
 * the MHD threads' CPU time (schedstat, not wall time: the machine's
 * other load does not count) for LOGGED calls whose body is logged is
 * held against that for the same calls to a tool that does not log it.
 * Paths come from the environment (make check sets them): CARAPACED,
 * UPSTREAM, CLITOOL. */
#include "config.h"

#include <CUnit/Basic.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cu_run.h"
#include "testutil.h"

#define MIB (1u << 20)
#define BODY (8 * MIB)
#define HOGS 16
#define RPC "/tools/rpc/api/v1/rpc"
#define SMALL_CALL "{\"jsonrpc\":\"2.0\",\"method\":\"version\",\"id\":1}"
#define CLI "/tools/cl"
#define SMALL_RUN "{\"argv\":[\"println\",\"ok\"]}"
#define LOGGED 8
#define LOGGED_BODY (2 * MIB)
#define LOGGED_RPC "/tools/logged/api/v1/rpc"

static const char *carapaced_path;
static char workdir[] = "/tmp/carapaced-fairness-XXXXXX";
static pid_t up_pid = -1, gw_pid = -1;
static int up_port, gw_port;
static char *costly;
static char audit_log[600];

/* A body of BODY bytes that the policy parses whole before refusing it
 * (400: a batch of empty objects is no JSON-RPC, an array no CLI
 * request): 2,600 objects, just under jsonparse's cost cap, a string of
 * 1 MiB, blanks to the end. */
static char *costly_body(void)
{
	char *b = malloc(BODY + 1);
	size_t len = 0;

	if (b == NULL)
		return NULL;
	b[len++] = '[';
	for (int i = 0; i < 2600; i++, len += 3)
		memcpy(b + len, "{},", 3);
	b[len++] = '"';
	memset(b + len, 'x', MIB);
	len += MIB;
	b[len++] = '"';
	b[len++] = ']';
	memset(b + len, ' ', BODY - len);
	b[BODY] = '\0';
	return b;
}

static int suite_init(void)
{
	const char *clitool = getenv("CLITOOL");
	char text[2048], path[600];

	if (clitool == NULL || (costly = costly_body()) == NULL)
		return -1;
	gw_port = tu_free_port();
	snprintf(audit_log, sizeof(audit_log), "%s/audit.log", workdir);
	snprintf(text, sizeof(text),
		 "{ \"listen\": [\"127.0.0.1:%d\"],\n"
		 "  \"max_body_bytes\": %u,\n"
		 "  \"max_inflight_body_bytes\": %u,\n"
		 "  \"run_tools_as_root\": true,\n"
		 "  \"audit_log\": \"%s\",\n"
		 "  \"tools\": {\n"
		 "    \"rpc\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      \"jsonrpc_allow_methods\": [\"version\"] },\n"
		 "    \"logged\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      \"jsonrpc_allow_methods\": [\"version\"],\n"
		 "      \"audit\": { \"log_body\": true } },\n"
		 "    \"cl\": { \"type\": \"cli\", \"binary\": \"%s\",\n"
		 "      \"argv_allow_patterns\": [\"println *\"] } } }\n",
		 gw_port, BODY, 2 * HOGS * BODY, audit_log, up_port, up_port,
		 clitool);
	snprintf(path, sizeof(path), "%s/fairness.conf", workdir);
	if (tu_write_file(path, text) < 0)
		return -1;
	gw_pid = tu_start_daemon(&(struct tu_daemon){ .conf = path,
						      .ports = { gw_port } });
	return gw_pid < 0 ? -1 : 0;
}

static int suite_clean(void)
{
	int rc = gw_pid > 0 && tu_stop(gw_pid) != 0 ? -1 : 0;

	gw_pid = -1;
	free(costly);
	return rc;
}

/* A connection that has sent a costly POST to target but for its last
 * byte; -1. */
static int hold_costly(const char *target)
{
	char head[256];
	int fd = tu_connect(gw_port);
	int n = snprintf(head, sizeof(head),
			 "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			 "Content-Type: application/json\r\n"
			 "Content-Length: %u\r\n\r\n", target, BODY);

	if (fd < 0)
		return -1;
	if (tu_send_all(fd, head, (size_t)n) < 0 ||
	    tu_send_all(fd, costly, BODY - 1) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The status of the answer on fd (its body read), or -1. */
static int status_of(int fd)
{
	struct tu_resp r;
	char buf[4096];
	ssize_t n;

	if (tu_read_head(&r, fd, 60000) < 0)
		return -1;
	while ((n = tu_read_body(&r, buf, sizeof(buf), 60000)) > 0)
		;
	int status = n == 0 ? r.status : -1;
	tu_resp_free(&r);
	return status;
}

/* Whether the daemon has read every byte its clients sent: no socket of
 * its port holds any in its receive queue (/proc/net/tcp, hex fields). */
static int all_read(void *arg)
{
	FILE *f = fopen("/proc/net/tcp", "r");
	char line[512];
	int port = *(int *)arg, unread = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned local_port, state, rx;
		if (sscanf(line, " %*u: %*8x:%x %*8x:%*x %x %*x:%x",
			   &local_port, &state, &rx) == 3 &&
		    (int)local_port == port && rx > 0)
			unread = 1;
	}
	fclose(f);
	return !unread;
}

/* One costly request to target alone: ns from its last byte to its
 * answer. */
static uint64_t time_one(const char *target)
{
	int fd = hold_costly(target);

	CU_ASSERT_FATAL(fd >= 0);
	uint64_t start = tu_now_ns();
	CU_ASSERT(tu_send_all(fd, costly + BODY - 1, 1) == 0);
	CU_ASSERT(status_of(fd) == 400);
	uint64_t t = tu_now_ns() - start;
	close(fd);
	return t;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* A probe sent at once on a connection made beforehand. */
static void send_probe(int fd, const char *method, const char *target,
		       const char *body)
{
	char req[512];
	int n = snprintf(req, sizeof(req),
			 "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			 "Content-Type: application/json\r\n"
			 "Content-Length: %zu\r\n\r\n%s",
			 method, target, strlen(body), body);

	CU_ASSERT(tu_send_all(fd, req, (size_t)n) == 0);
}

/* A tool to load and the small call to make of it. */
struct tool_case {
	const char *target;
	const char *small_body;
};

/* HOGS costly bodies to the tool finished at once, then /healthz and a
 * small call to it: how long each probe took (ns). */
static void burst(const struct tool_case *tc, uint64_t *health_ns,
		  uint64_t *call_ns)
{
	int hogs[HOGS];

	for (int i = 0; i < HOGS; i++)
		CU_ASSERT_FATAL((hogs[i] = hold_costly(tc->target)) >= 0);
	int health = tu_connect(gw_port), call = tu_connect(gw_port);
	CU_ASSERT_FATAL(health >= 0 && call >= 0);
	/* no check can start before its last byte: every body is in */
	CU_ASSERT_FATAL(tu_wait_until(all_read, &gw_port, 30000) == 0);

	uint64_t start = tu_now_ns();
	for (int i = 0; i < HOGS; i++)
		CU_ASSERT(tu_send_all(hogs[i], costly + BODY - 1, 1) == 0);
	send_probe(health, "GET", "/healthz", "");
	send_probe(call, "POST", tc->target, tc->small_body);
	CU_ASSERT(status_of(health) == 200);
	*health_ns = tu_now_ns() - start;
	CU_ASSERT(status_of(call) == 200);
	*call_ns = tu_now_ns() - start;
	int refused = 0;
	for (int i = 0; i < HOGS; i++) {
		refused += status_of(hogs[i]) == 400;
		close(hogs[i]);
	}
	CU_ASSERT(refused == HOGS);
	close(health);
	close(call);
}

/* Up to ATTEMPTS bursts, the first within the bound ends it: a probe the
 * machine's other load held up once (a scheduler's whim on a shared
 * machine) is tried again, while a check on the MHD thread holds every
 * burst's probes up alike. Six: under nice 19 beside three builds, two
 * bursts in a row were held up (1 run in 5). */
#define ATTEMPTS 6

static void probes_not_delayed(const struct tool_case *tc)
{
	uint64_t alone[3], h, c, bound;
	int within = 0;

	/* once for the worker pool to hold HOGS threads, as under steady
	 * load: thread creation is not what is measured */
	burst(tc, &h, &c);
	for (int a = 0; a < ATTEMPTS && !within; a++) {
		for (int i = 0; i < 3; i++)
			alone[i] = time_one(tc->target);
		qsort(alone, 3, sizeof(alone[0]), cmp_u64);
		bound = alone[1] * HOGS / 4;
		burst(tc, &h, &c);
		within = h < bound && c < bound;
		fprintf(stderr,
			"\n    %s: one costly body alone %.1f ms; with %d in "
			"flight: /healthz %.1f ms, a small call %.1f ms; "
			"bound %.1f ms",
			tc->target, alone[1] / 1e6, HOGS, h / 1e6, c / 1e6,
			bound / 1e6);
	}
	fputc('\n', stderr);
	CU_ASSERT(h < bound);
	CU_ASSERT(c < bound);
}

static void test_probes_not_delayed(void)
{
	probes_not_delayed(&(struct tool_case){ RPC, SMALL_CALL });
}

/* The small call runs a process: it is answered once the child ends. */
static void test_cli_probes_not_delayed(void)
{
	probes_not_delayed(&(struct tool_case){ CLI, SMALL_RUN });
}

/* ---- the end of a request ---- */

/* An allowed JSON-RPC call of about LOGGED_BODY bytes (caller frees):
 * one string of "\u0001"s, the costliest character for a record to
 * show (json-c writes it escaped, 6 bytes for 1). */
static char *logged_body(size_t *len)
{
	static const char head[] = "{\"jsonrpc\":\"2.0\",\"method\":"
				   "\"version\",\"params\":{\"p\":\"";
	static const char tail[] = "\"},\"id\":1}";
	size_t n = (LOGGED_BODY - sizeof(head) - sizeof(tail)) / 6;
	char *b = malloc(LOGGED_BODY + 1);
	size_t at = sizeof(head) - 1;

	if (b == NULL)
		return NULL;
	memcpy(b, head, at);
	for (size_t i = 0; i < n; i++, at += 6)
		memcpy(b + at, "\\u0001", 6);
	memcpy(b + at, tail, sizeof(tail));
	*len = at + sizeof(tail) - 1;
	return b;
}

/* The first line of the daemon's thread tid's file name, into buf: 0, or
 * -1. */
static int read_task(char *buf, size_t len, const char *tid,
		     const char *name)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%s/%s", (int)gw_pid, tid,
		 name);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	int rc = fgets(buf, (int)len, f) != NULL ? 0 : -1;
	fclose(f);
	return rc;
}

/* The daemon's MHD threads (the workers have a name of their own). */
#define MHD_THREADS 8
static char mhd_tids[MHD_THREADS][16];
static int mhd_threads;

static void scan_mhd_threads(void)
{
	char path[64], line[128];
	struct dirent *t;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)gw_pid);
	mhd_threads = 0;
	if ((d = opendir(path)) == NULL)
		return;
	while ((t = readdir(d)) != NULL && mhd_threads < MHD_THREADS)
		if (strlen(t->d_name) < sizeof(mhd_tids[0]) &&
		    read_task(line, sizeof(line), t->d_name, "comm") == 0 &&
		    strncmp(line, "MHD", 3) == 0)
			strcpy(mhd_tids[mhd_threads++], t->d_name);
	closedir(d);
}

/* MHD names its thread from inside it, a moment after the daemon
 * listens: the suite's one listener has one. */
static int mhd_thread_named(void *arg)
{
	(void)arg;
	scan_mhd_threads();
	return mhd_threads > 0;
}

static void find_mhd_threads(void)
{
	tu_wait_until(mhd_thread_named, NULL, 10000);
	CU_ASSERT_FATAL(mhd_threads > 0);
}

/* CPU time (ns) the MHD threads have had: the first field of each one's
 * schedstat. */
static uint64_t mhd_cpu_ns(void)
{
	char line[128];
	uint64_t sum = 0;
	unsigned long long ns;

	for (int i = 0; i < mhd_threads; i++)
		if (read_task(line, sizeof(line), mhd_tids[i], "schedstat") ==
			    0 &&
		    sscanf(line, "%llu", &ns) == 1)
			sum += ns;
	return sum;
}

/* The audit log's records (its lines), counted on from where the last
 * count stopped: it grows by megabytes a call. */
static size_t records_seen, records_want;
static off_t records_at;

static int records_written(void *arg)
{
	char buf[65536];
	ssize_t n;
	int fd = open(audit_log, O_RDONLY | O_CLOEXEC);

	(void)arg;
	if (fd < 0)
		return 0;
	while ((n = pread(fd, buf, sizeof(buf), records_at)) > 0) {
		records_at += n;
		for (ssize_t i = 0; i < n; i++)
			records_seen += buf[i] == '\n';
	}
	close(fd);
	return records_seen >= records_want;
}

/* One call POSTing body to target, answered 200, its record written:
 * the end of the request is over. */
static void call_recorded(const char *target, const char *body, size_t len)
{
	int fd = tu_connect(gw_port);
	static char buf[MIB];
	struct tu_resp r;
	ssize_t got;

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(tu_send_request(fd, "POST", target,
				  "Content-Type: application/json\r\n", body,
				  len) == 0);
	/* read in large pieces: the MHD thread's share of the answer is
	 * then a few writes, not one wake-up per page */
	CU_ASSERT_FATAL(tu_read_head(&r, fd, 60000) == 0);
	CU_ASSERT(r.status == 200);
	while ((got = tu_read_body(&r, buf, sizeof(buf), 60000)) > 0)
		;
	CU_ASSERT(got == 0);
	tu_resp_free(&r);
	close(fd);
	records_want++;
	CU_ASSERT(tu_wait_until(records_written, NULL, 30000) == 0);
}

/* The MHD threads' CPU time (ns) for LOGGED such calls. */
static uint64_t mhd_cpu_of(const char *target, const char *body, size_t len)
{
	uint64_t start = mhd_cpu_ns();

	for (int i = 0; i < LOGGED; i++)
		call_recorded(target, body, len);
	return mhd_cpu_ns() - start;
}

/* The MHD thread receives each body and sends each answer alike for
 * both tools: that is the reference. Rendering the record there costs
 * several times as much again (8x when this was written); copying and
 * writing a rendered one, about half as much: the bound, 3x in all,
 * sits between. */
#define LOGGED_BOUND 3
static void test_logged_body_cheap_to_end(void)
{
	size_t len = 0;
	uint64_t plain = 0, logged = 0;
	int within = 0;

	find_mhd_threads();
	char *body = logged_body(&len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(body);
	records_written(NULL);
	records_want = records_seen;
	for (int a = 0; a < ATTEMPTS && !within; a++) {
		plain = mhd_cpu_of(RPC, body, len);
		logged = mhd_cpu_of(LOGGED_RPC, body, len);
		within = logged < LOGGED_BOUND * plain;
		fprintf(stderr,
			"\n    MHD threads' CPU for %d calls of %zu bytes: "
			"%.1f ms, %.1f ms with the body logged",
			LOGGED, len, plain / 1e6, logged / 1e6);
	}
	fputc('\n', stderr);
	CU_ASSERT(logged < LOGGED_BOUND * plain);
	free(body);
}

int main(void)
{
	static pid_t *const children[] = { &up_pid, &gw_pid };
	int rc;

	tu_watchdog("test_fairness", 300, children, 2);
	if ((up_pid = tu_suite_upstream(&carapaced_path, &up_port)) < 0 ||
	    mkdtemp(workdir) == NULL ||
	    CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("a costly body", suite_init, suite_clean);
	CU_add_test(s, "/healthz and a small call are not held up by costly "
		       "bodies in flight",
		    test_probes_not_delayed);
	CU_add_test(s, "a CLI tool: /healthz and a small run are not held up "
		       "by costly bodies in flight",
		    test_cli_probes_not_delayed);
	/* a daemon of its own: no record of the tests above is still to
	 * come */
	s = CU_add_suite("a logged body", suite_init, suite_clean);
	CU_add_test(s, "the end of a call whose body is logged costs the MHD "
		       "thread about what the call's answer does",
		    test_logged_body_cheap_to_end);
	rc = cu_run();
	tu_stop(up_pid);
	tu_remove_tree(workdir);
	return rc;
}
