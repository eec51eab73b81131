/* Integration tests of the memory limits: max_inflight_body_bytes (503
 * with Retry-After, and the charge given back), and carapaced's peak RSS
 * under bodies that are costly to parse. Paths come from the environment
 * (make check sets them): CARAPACED, UPSTREAM, CLITOOL. */
#include "config.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cu_run.h"
#include "testutil.h"

#define MS (1000000ull)

static const char *carapaced_path;
static char workdir[] = "/tmp/carapaced-limits-XXXXXX";
static pid_t up_pid = -1, gw_pid = -1, mem_pid = -1;
static int up_port;

/* Starts carapaced on the config text (written to workdir/name) and
 * waits for port; pid or -1. */
static pid_t spawn_gateway(const char *name, const char *text, int port)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/%s", workdir, name);
	if (tu_write_file(path, text) < 0)
		return -1;
	return tu_start_daemon(&(struct tu_daemon){ .conf = path,
						    .ports = { port } });
}

/* Sends a POST head declaring len body bytes and the first sent of them;
 * the connection, or -1. */
static int start_post(int port, const char *target, const char *body,
		      size_t len, size_t sent)
{
	char head[512];
	int fd = tu_connect(port);
	int n = snprintf(head, sizeof(head),
			 "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			 "Content-Type: application/json\r\n"
			 "Content-Length: %zu\r\n\r\n",
			 target, len);

	if (fd < 0)
		return -1;
	if (tu_send_all(fd, head, (size_t)n) < 0 ||
	    tu_send_all(fd, body, sent) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Reads a whole answer on fd: its status (-1 on error) and, when msg is
 * not NULL, whether its body contains msg and Retry-After is retry. */
static int answer(int fd, int timeout_ms, const char *msg,
		  const char *retry, int *matches)
{
	struct tu_resp r;
	char buf[65536];
	size_t len = 0;
	ssize_t n;

	if (tu_read_head(&r, fd, timeout_ms) < 0)
		return -1;
	while ((n = tu_read_body(&r, buf + len, sizeof(buf) - 1 - len,
				 10000)) > 0)
		if ((len += (size_t)n) == sizeof(buf) - 1)
			len = 0; /* only a small body is looked into */
	buf[len] = '\0';
	if (matches != NULL) {
		const char *ra = tu_header(&r, "Retry-After");
		*matches = strstr(buf, msg) != NULL && ra != NULL &&
			   strcmp(ra, retry) == 0;
	}
	int status = r.status;
	tu_resp_free(&r);
	return status;
}

/* ==== max_inflight_body_bytes ==== */

/* Three 100000-byte bodies fill the cap exactly. */
#define INFLIGHT_BODY 100000
#define INFLIGHT_CAP (3 * INFLIGHT_BODY)
#define BUSY "gateway busy: too many request bodies in memory"
#define RPC_CALL "{\"jsonrpc\":\"2.0\",\"method\":\"version\",\"id\":1}"

static int gw_port;
static char echo_body[INFLIGHT_BODY + 1], rpc_body[INFLIGHT_BODY + 1];

static int inflight_init(void)
{
	char text[2048];

	gw_port = tu_free_port();
	snprintf(text, sizeof(text),
		 "{ \"listen\": [\"127.0.0.1:%d\"],\n"
		 "  \"max_body_bytes\": %d,\n"
		 "  \"max_inflight_body_bytes\": %d,\n"
		 "  \"tools\": {\n"
		 "    \"up\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\" },\n"
		 "    \"rpc\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      \"jsonrpc_allow_methods\": [\"version\"] } } }\n",
		 gw_port, INFLIGHT_BODY, INFLIGHT_CAP, up_port, up_port);
	/* JSON padded with blanks: the policy's re-serialised body, which
	 * replaces the client's, is much shorter */
	memset(echo_body, ' ', INFLIGHT_BODY);
	memcpy(echo_body, "{\"x\":1}", 7);
	memset(rpc_body, ' ', INFLIGHT_BODY);
	memcpy(rpc_body, RPC_CALL, strlen(RPC_CALL));
	gw_pid = spawn_gateway("inflight.conf", text, gw_port);
	return gw_pid < 0 ? -1 : 0;
}

static int inflight_clean(void)
{
	int rc = gw_pid > 0 && tu_stop(gw_pid) != 0 ? -1 : 0;

	gw_pid = -1;
	return rc;
}

/* Three bodies sent but for their last HELD_BACK bytes and held (only
 * bytes that came are charged): 0 when none was refused at once, fds
 * set; -1 (all closed) when one was (the charge of an earlier request
 * may not be given back yet). */
#define HELD_BACK 10
static int hold_three(const char *const targets[3],
		      const char *const bodies[3], int fds[3])
{
	int refused = 0;

	for (int i = 0; i < 3; i++)
		fds[i] = start_post(gw_port, targets[i], bodies[i],
				    INFLIGHT_BODY, INFLIGHT_BODY - HELD_BACK);
	for (int i = 0; i < 3; i++) {
		struct tu_resp r;
		if (fds[i] < 0) {
			refused = 1;
		} else if (tu_read_head(&r, fds[i], 300) == 0) {
			refused = 1; /* answered before its body came */
			tu_resp_free(&r);
		}
	}
	if (!refused)
		return 0;
	for (int i = 0; i < 3; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return -1;
}

/* The cap full: a fourth body is refused; the three then pass. Retried
 * for up to 5 s while earlier requests give their charge back. */
static void check_cap_full(const char *const targets[3],
			   const char *const bodies[3])
{
	int fds[3], tries = 0, ok;

	while (hold_three(targets, bodies, fds) < 0 && ++tries < 50)
		tu_sleep_ms(100);
	CU_ASSERT_FATAL(tries < 50);

	/* the head only: refused before a byte of its body is read */
	int fd = start_post(gw_port, "/tools/up/echo", echo_body,
			    INFLIGHT_BODY, 0);
	CU_ASSERT_EQUAL(answer(fd, 5000, BUSY, "1", &ok), 503);
	CU_ASSERT(ok);
	close(fd);

	/* chunked: no length to charge up front, refused once read */
	fd = tu_connect(gw_port);
	CU_ASSERT_EQUAL(tu_send_request(fd, "POST", "/tools/up/echo",
					"Transfer-Encoding: chunked\r\n",
					NULL, 0),
			0);
	CU_ASSERT_EQUAL(tu_send_all(fd, "7\r\n{\"x\":1}\r\n0\r\n\r\n", 17),
			0);
	CU_ASSERT_EQUAL(answer(fd, 5000, BUSY, "1", &ok), 503);
	CU_ASSERT(ok);
	close(fd);

	for (int i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL(tu_send_all(fds[i],
					    bodies[i] + INFLIGHT_BODY -
						    HELD_BACK,
					    HELD_BACK),
				0);
		CU_ASSERT_EQUAL(answer(fds[i], 10000, NULL, NULL, NULL), 200);
		close(fds[i]);
	}
}

/* A declared length is not reserved: clients that declare full bodies
 * and send a few bytes (slowly, in an attack) hold only those, and a
 * whole body still passes beside them. */
static void test_declared_not_reserved(void)
{
	int fds[3], ok = 0;

	for (int i = 0; i < 3; i++) {
		fds[i] = start_post(gw_port, "/tools/up/echo", echo_body,
				    INFLIGHT_BODY, 10);
		CU_ASSERT(fds[i] >= 0);
	}
	for (int tries = 0; tries < 50 && !ok; tries++) {
		int fd = start_post(gw_port, "/tools/up/echo", echo_body,
				    INFLIGHT_BODY, INFLIGHT_BODY);
		ok = answer(fd, 10000, NULL, NULL, NULL) == 200;
		close(fd);
		if (!ok)
			tu_sleep_ms(100); /* an earlier charge on its way back */
	}
	CU_ASSERT(ok);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
}

static void test_inflight_cap(void)
{
	const char *const echo3[] = { "/tools/up/echo", "/tools/up/echo",
				      "/tools/up/echo" };
	const char *const bodies[] = { echo_body, echo_body, echo_body };

	check_cap_full(echo3, bodies);
}

/* Every way a request ends gives its charge back: answered by the
 * upstream, re-serialised by the policy, cut by the client. */
static void test_inflight_released(void)
{
	const char *const mixed[] = { "/tools/rpc/api/v1/rpc",
				      "/tools/up/echo",
				      "/tools/rpc/api/v1/rpc" };
	const char *const bodies[] = { rpc_body, echo_body, rpc_body };
	const char *const echo3[] = { "/tools/up/echo", "/tools/up/echo",
				      "/tools/up/echo" };
	const char *const echo_bodies[] = { echo_body, echo_body, echo_body };
	int fds[3], tries = 0;

	check_cap_full(mixed, bodies);
	/* cut by the client before its body was whole */
	while (hold_three(echo3, echo_bodies, fds) < 0 && ++tries < 50)
		tu_sleep_ms(100);
	CU_ASSERT_FATAL(tries < 50);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	/* and again: the three fill the cap exactly, so nothing is left
	 * charged by any of them */
	check_cap_full(echo3, echo_bodies);
	check_cap_full(mixed, bodies);
}

/* ==== peak memory ==== */

/* max_body_bytes' default */
#define MIB (1u << 20)
#define HWM_LIMIT_KB (100 * 1024)

static int mem_port;

static int mem_init(void)
{
	const char *tool = getenv("CLITOOL");
	char text[2048];

	if (tool == NULL)
		return -1;
	mem_port = tu_free_port();
	snprintf(text, sizeof(text),
		 "{ \"listen\": [\"127.0.0.1:%d\"],\n"
		 "  \"audit_log\": \"%s/audit.log\",\n"
		 "  \"run_tools_as_root\": true,\n"
		 "  \"tools\": {\n"
		 "    \"logged\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      \"audit\": { \"log_body\": true,\n"
		 "        \"redact_patterns\": [\"secret\"] } },\n"
		 "    \"ct\": { \"type\": \"cli\", \"binary\": \"%s\",\n"
		 "      \"argv_allow_patterns\": [\"sleep *\"],\n"
		 "      \"max_concurrent\": 4,\n"
		 "      \"audit\": { \"log_body\": true } } } }\n",
		 mem_port, workdir, up_port, tool);
	mem_pid = spawn_gateway("mem.conf", text, mem_port);
	return mem_pid < 0 ? -1 : 0;
}

static int mem_clean(void)
{
	int rc = mem_pid > 0 && tu_stop(mem_pid) != 0 ? -1 : 0;

	mem_pid = -1;
	return rc;
}

/* A body of exactly 1 MiB: "[{},{},...]", n objects, then a string
 * filling the rest (none when n fills it all). */
static char *costly_body(size_t n)
{
	char *b = malloc(MIB + 1);
	size_t len = 0;

	if (b == NULL)
		return NULL;
	b[len++] = '[';
	for (size_t i = 0; i < n && len + 4 <= MIB; i++) {
		memcpy(b + len, "{},", 3);
		len += 3;
	}
	if (MIB - len >= 3) {
		b[len++] = '"';
		memset(b + len, 'x', MIB - 2 - len);
		len = MIB - 2;
		b[len++] = '"';
	} else {
		len--; /* the last comma */
		while (len < MIB - 1)
			b[len++] = ' ';
	}
	b[len++] = ']';
	b[len] = '\0';
	return b;
}

/* Six bodies to the log_body tool and four to the cli tool, all held one
 * byte short, then all finished at once so they are parsed together. */
static void send_ten(const char *body)
{
	int fds[10];

	for (int i = 0; i < 10; i++) {
		fds[i] = start_post(mem_port,
				    i < 6 ? "/tools/logged/echo" : "/tools/ct",
				    body, MIB, MIB - 1);
		CU_ASSERT(fds[i] >= 0);
	}
	for (int i = 0; i < 10; i++)
		if (fds[i] >= 0)
			tu_send_all(fds[i], body + MIB - 1, 1);
	for (int i = 0; i < 10; i++) {
		if (fds[i] < 0)
			continue;
		int status = answer(fds[i], 60000, NULL, NULL, NULL);
		if (status != (i < 6 ? 200 : 400))
			fprintf(stderr, "  body %d: status %d\n", i, status);
		/* the cli tool refuses what is not its request: 400 */
		CU_ASSERT(status == (i < 6 ? 200 : 400));
		close(fds[i]);
	}
}

static void test_peak_memory(void)
{
	/* the body: 349525 empty objects, 270 MiB to json-c */
	char *objects = costly_body(SIZE_MAX);
	/* the worst that still parses: objects just under jsonparse's
	 * 2 MiB estimate (800 bytes each), then a string of ~1 MiB, which
	 * json-c copies twice while parsing */
	char *at_limit = costly_body(2600);
	long before = tu_proc_hwm_kb(mem_pid);

	CU_ASSERT_PTR_NOT_NULL_FATAL(objects);
	CU_ASSERT_PTR_NOT_NULL_FATAL(at_limit);
	send_ten(objects);
	long after_objects = tu_proc_hwm_kb(mem_pid);
	send_ten(at_limit);
	long after = tu_proc_hwm_kb(mem_pid);
	fprintf(stderr,
		"\n    VmHWM: %ld kB at start, %ld kB after 10 x 1 MiB of {}, "
		"%ld kB after 10 x 1 MiB at the parse limit\n",
		before, after_objects, after);
	CU_ASSERT(after > 0);
#ifndef __SANITIZE_ADDRESS__
	/* ASan's shadow memory and quarantine make the figure meaningless */
	CU_ASSERT(after < HWM_LIMIT_KB);
#endif
	free(objects);
	free(at_limit);
}

int main(void)
{
	static pid_t *const children[] = { &up_pid, &gw_pid, &mem_pid };
	int rc;

	tu_watchdog("test_limits", 300, children, 3);
	if ((up_pid = tu_suite_upstream(&carapaced_path, &up_port)) < 0 ||
	    mkdtemp(workdir) == NULL ||
	    CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("max_inflight_body_bytes", inflight_init,
				   inflight_clean);
	CU_add_test(s, "past the cap: 503 and Retry-After", test_inflight_cap);
	CU_add_test(s, "every request gives its charge back",
		    test_inflight_released);
	CU_add_test(s, "a declared length is not reserved",
		    test_declared_not_reserved);
	s = CU_add_suite("peak memory", mem_init, mem_clean);
	CU_add_test(s, "10 costly 1 MiB bodies: VmHWM < 100 MiB",
		    test_peak_memory);
	rc = cu_run();
	tu_stop(up_pid);
	tu_remove_tree(workdir);
	return rc;
}
