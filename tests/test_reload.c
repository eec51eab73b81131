/* Integration test of a reload that cannot be applied whole: the new
 * config names a listener whose port is taken, so the reload is refused
 * and nothing changes (server_apply is all-or-nothing): the old listeners
 * answer with their old roles, a listener the new config would have
 * added is not left open, and the config in force is still the old one.
 * Then the port is freed and the same config applies whole.
 * The real carapaced and test upstream over 127.0.0.1; paths from the
 * environment (make check sets them): CARAPACED, UPSTREAM. */
#include "config.h"

#include <CUnit/Basic.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cu_run.h"
#include "testutil.h"

static const char *carapaced_path;
static char workdir[] = "/tmp/carapaced-reload-XXXXXX";
static pid_t up_pid = -1, fg_pid = -1;
static int up_port;

/* A socket listening on 127.0.0.1 at a port the kernel chose; *port
 * set. Held, so no one else can bind that port. -1 on failure. */
static int hold_port(int *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(fd, 8) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*port = ntohs(sin.sin_port);
	return fd;
}

/* Whether a connection to port is refused (nothing listens there). */
static int refused(int port)
{
	int fd = tu_connect(port);

	if (fd >= 0)
		close(fd);
	return fd < 0;
}

static int refused_cond(void *port)
{
	return refused(*(int *)port);
}

/* Waits, with a generous deadline, for port to refuse connections: a
 * retired listener's port is shut down by the main thread after the
 * reload has answered. */
static int wait_refused(int port)
{
	return tu_wait_until(refused_cond, &port, 10000) == 0;
}

static int get(int port, const char *target)
{
	int status = -1;

	if (tu_http(port, "GET", target, NULL, NULL, &status, NULL, NULL) < 0)
		return -1;
	return status;
}

/* The first config: main listener on port, the admin API, tool "sig"
 * and tool "old" with a drop-in listener on old_port. */
static int write_first(const char *path, int port, int admin, int old_port)
{
	char text[2048];

	snprintf(text, sizeof(text),
		 "{ \"listen\": [\"127.0.0.1:%d\"],\n"
		 "  \"max_connections_per_ip\": 0,\n"
		 "  \"admin_listen\": \"127.0.0.1:%d\",\n"
		 "  \"admin_token_sha256\": \"" TU_ADMIN_TOKEN_SHA256 "\",\n"
		 "  \"tools\": {\n"
		 "    \"sig\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\" },\n"
		 "    \"old\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      \"listen\": \"127.0.0.1:%d\" }\n"
		 "  }\n}\n",
		 port, admin, up_port, up_port, old_port);
	return tu_write_file(path, text);
}

/* The second: the same main listener and a new one on extra_port (it
 * comes first, so it is started before the taken port is tried); "sig"
 * renamed "renamed"; "old" gone; tool "late" with a drop-in listener on
 * late_port. */
static int write_second(const char *path, int port, int admin,
			int extra_port, int late_port)
{
	char text[2048];

	snprintf(text, sizeof(text),
		 "{ \"listen\": [\"127.0.0.1:%d\", \"127.0.0.1:%d\"],\n"
		 "  \"max_connections_per_ip\": 0,\n"
		 "  \"admin_listen\": \"127.0.0.1:%d\",\n"
		 "  \"admin_token_sha256\": \"" TU_ADMIN_TOKEN_SHA256 "\",\n"
		 "  \"tools\": {\n"
		 "    \"renamed\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\" },\n"
		 "    \"late\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      \"listen\": \"127.0.0.1:%d\" }\n"
		 "  }\n}\n",
		 port, extra_port, admin, up_port, up_port, late_port);
	return tu_write_file(path, text);
}

static pid_t spawn_fg(const char *conf, int port, const char *errlog)
{
	const struct tu_daemon d = { .conf = conf, .ports = { port },
				     .errlog = errlog };

	return tu_start_daemon(&d);
}

struct log_count {
	const char *path, *needle;
	int want;
};

/* Whether the file holds at least want lines containing needle. */
static int log_has(void *arg)
{
	const struct log_count *lc = arg;
	char line[1024];
	int n = 0;
	FILE *f = fopen(lc->path, "r");

	if (f == NULL)
		return 0;
	while (n < lc->want && fgets(line, sizeof(line), f) != NULL)
		if (strstr(line, lc->needle) != NULL)
			n++;
	fclose(f);
	return n >= lc->want;
}

/* POST /v1/reload: the status, and the body in *body (caller frees). */
static int reload(int admin, char **body)
{
	int status = -1;

	*body = NULL;
	if (tu_http(admin, "POST", "/v1/reload", TU_ADMIN_AUTH, "", &status,
		    body, NULL) < 0)
		return -1;
	return status;
}

/* The old config, whole: its listeners with their roles, nothing of the
 * new one. */
static void assert_first_in_force(int port, int old_port, int extra_port)
{
	CU_ASSERT_EQUAL(get(port, "/tools/sig/echo"), 200);
	CU_ASSERT_EQUAL(get(port, "/tools/renamed/echo"), 404);
	CU_ASSERT_EQUAL(get(old_port, "/echo"), 200);
	/* the new main listener, started before the bind failed, is closed */
	CU_ASSERT(refused(extra_port));
}

static void test_refused_reload_changes_nothing(void)
{
	char conf[600], msg[64], errlog[600];
	int port = tu_free_port(), admin = tu_free_port();
	int old_port = tu_free_port(), extra_port = tu_free_port();
	int late_port = -1;
	int held = hold_port(&late_port);

	CU_ASSERT_FATAL(port > 0 && admin > 0 && old_port > 0 &&
			extra_port > 0 && held >= 0);
	snprintf(conf, sizeof(conf), "%s/reload.conf", workdir);
	CU_ASSERT_FATAL(write_first(conf, port, admin, old_port) == 0);
	snprintf(errlog, sizeof(errlog), "%s/refused.log", workdir);
	fg_pid = spawn_fg(conf, port, errlog);
	CU_ASSERT_FATAL(fg_pid > 0);
	CU_ASSERT_FATAL(tu_wait_port(old_port, 10000) == 0);
	assert_first_in_force(port, old_port, extra_port);

	/* refused: the port of "late" is taken */
	CU_ASSERT_FATAL(write_second(conf, port, admin, extra_port,
				     late_port) == 0);
	char *body;
	CU_ASSERT_EQUAL(reload(admin, &body), 409);
	snprintf(msg, sizeof(msg), "cannot listen on 127.0.0.1:%d",
		 late_port);
	CU_ASSERT(body != NULL && strstr(body, msg) != NULL);
	if (body == NULL || strstr(body, msg) == NULL)
		fprintf(stderr, "\n    reload answered: %s\n",
			body ? body : "(nothing)");
	free(body);
	assert_first_in_force(port, old_port, extra_port);
	/* and by signal: the same refusal, the same state, once the signal's
	 * reload has ended (its new listeners are open until then) */
	struct log_count second = { errlog, "reload refused", 2 };
	CU_ASSERT(kill(fg_pid, SIGHUP) == 0);
	CU_ASSERT(tu_wait_until(log_has, &second, 10000) == 0);
	assert_first_in_force(port, old_port, extra_port);

	/* the port freed, the same config applies whole */
	close(held);
	CU_ASSERT_EQUAL(reload(admin, &body), 200);
	free(body);
	CU_ASSERT_EQUAL(get(port, "/tools/renamed/echo"), 200);
	CU_ASSERT_EQUAL(get(port, "/tools/sig/echo"), 404);
	CU_ASSERT_EQUAL(get(extra_port, "/tools/renamed/echo"), 200);
	CU_ASSERT_EQUAL(get(late_port, "/echo"), 200);
	CU_ASSERT(wait_refused(old_port));

	CU_ASSERT_EQUAL(tu_stop(fg_pid), 0);
	fg_pid = -1;
}

/* A listener serves from the moment its port opens, before the config
 * that started it is swapped in: a request in that instant must be
 * answered, not dropped (it was, found by test_fairness under load).
 * The client connects in a tight loop, so that its first connection
 * lands as near to the opening as it can; STARTS starts. */
#define STARTS 20

static int connect_first(int port, pid_t pid)
{
	uint64_t until = tu_now_ns() + 10000000000ull;
	int fd;

	while ((fd = tu_connect(port)) < 0 && tu_now_ns() < until &&
	       kill(pid, 0) == 0)
		;
	return fd;
}

static void test_first_request_answered(void)
{
	char conf[600];
	int port = tu_free_port(), admin = tu_free_port();
	int old_port = tu_free_port();
	static const char req[] = "GET /healthz HTTP/1.1\r\n"
				  "Host: 127.0.0.1\r\n\r\n";

	snprintf(conf, sizeof(conf), "%s/first.conf", workdir);
	CU_ASSERT_FATAL(write_first(conf, port, admin, old_port) == 0);
	for (int i = 0; i < STARTS; i++) {
		const char *argv[] = { carapaced_path, "-f", "-c", conf, NULL };
		struct tu_resp r = { 0 };

		fg_pid = tu_spawn(argv, NULL);
		CU_ASSERT_FATAL(fg_pid > 0);
		int fd = connect_first(port, fg_pid);
		CU_ASSERT_FATAL(fd >= 0);
		CU_ASSERT(tu_send_all(fd, req, sizeof(req) - 1) == 0);
		CU_ASSERT(tu_read_head(&r, fd, 10000) == 0 && r.status == 200);
		tu_resp_free(&r);
		close(fd);
		CU_ASSERT_EQUAL(tu_stop(fg_pid), 0);
		fg_pid = -1;
	}
}

static int suite_init(void)
{
	up_pid = tu_suite_upstream(&carapaced_path, &up_port);
	return up_pid > 0 ? 0 : -1;
}

static int suite_clean(void)
{
	if (fg_pid > 0)
		tu_stop(fg_pid);
	if (up_pid > 0)
		tu_stop(up_pid);
	return 0;
}

int main(void)
{
	static pid_t *const children[] = { &fg_pid, &up_pid };

	tu_watchdog("test_reload", 120, children, 2);
	if (mkdtemp(workdir) == NULL ||
	    CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("reload", suite_init, suite_clean);
	CU_add_test(s, "a refused reload changes nothing",
		    test_refused_reload_changes_nothing);
	CU_add_test(s, "the first request on a port just opened is answered",
		    test_first_request_answered);
	int rc = cu_run();
	tu_remove_tree(workdir);
	return rc;
}
