/* Integration tests of carapaced's life as a Unix daemon: going to the
 * background, the pidfile, start-up errors, privilege drop, reload
 * (SIGHUP and POST /v1/reload) with open streams, the graceful stop.
 * The real carapaced and test upstream over 127.0.0.1; paths from the
 * environment (make check sets them): CARAPACED, UPSTREAM, CLITOOL.
 * The installed tree and its init script: test_installed.c, run by
 * make installcheck. */
#include "config.h"

#include <CUnit/Basic.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cu_run.h"
#include "testutil.h"
#include "tu_workers.h"

static const char *carapaced_path;
static char workdir[] = "/tmp/carapaced-daemon-XXXXXX";
static pid_t up_pid = -1, fg_pid = -1, bg_pid = -1;
static int up_port;

/* ---- helpers ---- */

static void path_in(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", workdir, name);
}

/* carapaced in the background: `carapaced -c conf -p pidfile extra`. */
static int start_bg(const char *conf, const char *pidfile, const char *extra,
		    char *out, size_t len)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd), "'%s' -c '%s' -p '%s' %s", carapaced_path,
		 conf, pidfile, extra ? extra : "");
	return tu_run(cmd, out, len);
}

static int get(int port, const char *target, int *status, char **body)
{
	return tu_http(port, "GET", target, NULL, NULL, status, body, NULL);
}

/* A config: main listener, admin, audit log, tool "sig" (allowing
 * allowed_method) and, if other_port, tool other_name with a listener
 * there. */
static int write_conf_named(const char *path, int port, int admin,
			    const char *allowed_method, int other_port,
			    const char *other_name)
{
	char text[4096], audit[600], other[512] = "";

	path_in(audit, sizeof(audit), "audit.log");
	if (other_port > 0)
		snprintf(other, sizeof(other),
			 ",\n    \"%s\": { \"type\": \"http\",\n"
			 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
			 "      \"listen\": \"127.0.0.1:%d\" }",
			 other_name, up_port, other_port);
	snprintf(text, sizeof(text),
		 "{ \"listen\": [\"127.0.0.1:%d\"],\n"
		 "  \"max_connections_per_ip\": 0,\n"
		 "  \"admin_listen\": \"127.0.0.1:%d\",\n"
		 "  \"admin_token_sha256\": \"" TU_ADMIN_TOKEN_SHA256 "\",\n"
		 "  \"audit_log\": \"%s\",\n"
		 "  \"tools\": {\n"
		 "    \"sig\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      \"jsonrpc_allow_methods\": [\"%s\"] }%s\n"
		 "  }\n}\n",
		 port, admin, audit, up_port, allowed_method, other);
	return tu_write_file(path, text);
}

static int write_conf(const char *path, int port, int admin,
		      const char *allowed_method, int other_port)
{
	return write_conf_named(path, port, admin, allowed_method, other_port,
				"other");
}

/* ---- set-up ---- */

static int suite_init(void)
{
	up_pid = tu_suite_upstream(&carapaced_path, &up_port);
	return up_pid > 0 ? 0 : -1;
}

static int suite_clean(void)
{
	if (fg_pid > 0)
		tu_stop(fg_pid);
	if (tu_alive(bg_pid)) {
		kill(bg_pid, SIGKILL);
		tu_wait_gone(bg_pid, 5000);
	}
	if (up_pid > 0)
		tu_stop(up_pid);
	return 0;
}

/* ---- the background, the pidfile ---- */

/* Field n (1-based) of /proc/pid/stat, after the command name. */
static long stat_field(pid_t pid, int n)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	char *text = tu_slurp(path);
	char *p = text ? strrchr(text, ')') : NULL;
	long v = -1;

	for (int i = 2; p != NULL && i < n; i++)
		p = strchr(p + 1, ' ');
	if (p != NULL)
		v = strtol(p + 1, NULL, 10);
	free(text);
	return v;
}

static int link_is(pid_t pid, const char *what, const char *want)
{
	char path[64], target[256];
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return 0;
	target[n] = '\0';
	return strcmp(target, want) == 0;
}

static void test_background_and_pidfile(void)
{
	char conf[600], pidfile[600], out[4096];
	int port = tu_free_port(), admin = tu_free_port(), status;

	path_in(conf, sizeof(conf), "bg.conf");
	path_in(pidfile, sizeof(pidfile), "bg.pid");
	CU_ASSERT_FATAL(write_conf(conf, port, admin, "send", 0) == 0);
	CU_ASSERT_EQUAL_FATAL(start_bg(conf, pidfile, NULL, out, sizeof(out)),
			      0);
	bg_pid = tu_read_pid(pidfile);
	CU_ASSERT_FATAL(tu_alive(bg_pid));
	/* serving by the time the launcher returned: no waiting here */
	CU_ASSERT(get(port, "/healthz", &status, NULL) == 0 && status == 200);
	/* a daemon: not our child, in a session that is not ours, in "/",
	 * its standard descriptors on /dev/null */
	CU_ASSERT(stat_field(bg_pid, 4) != getpid());
	CU_ASSERT(stat_field(bg_pid, 6) != stat_field(getpid(), 6));
	CU_ASSERT(stat_field(bg_pid, 6) != bg_pid); /* cannot get a tty */
	CU_ASSERT(link_is(bg_pid, "cwd", "/"));
	CU_ASSERT(link_is(bg_pid, "fd/0", "/dev/null"));
	CU_ASSERT(link_is(bg_pid, "fd/2", "/dev/null"));

	/* a second start on the same pidfile is refused, and says why */
	CU_ASSERT_EQUAL(start_bg(conf, pidfile, NULL, out, sizeof(out)), 1);
	CU_ASSERT(strstr(out, "already running") != NULL);
	CU_ASSERT_EQUAL(tu_read_pid(pidfile), bg_pid);
	CU_ASSERT(tu_alive(bg_pid));

	CU_ASSERT(kill(bg_pid, SIGTERM) == 0);
	CU_ASSERT(tu_wait_gone(bg_pid, 10000) == 0);
	CU_ASSERT(access(pidfile, F_OK) != 0);
	bg_pid = -1;

	/* a stale pidfile (a pid that is gone) does not stop a start */
	CU_ASSERT(tu_write_file(pidfile, "999999\n") == 0);
	CU_ASSERT_EQUAL(start_bg(conf, pidfile, NULL, out, sizeof(out)), 0);
	bg_pid = tu_read_pid(pidfile);
	CU_ASSERT(tu_alive(bg_pid) && bg_pid != 999999);
	kill(bg_pid, SIGTERM);
	CU_ASSERT(tu_wait_gone(bg_pid, 10000) == 0);
	bg_pid = -1;
}

/* Every start-up error is printed by the launcher, which exits 1, and no
 * daemon is left. */
static void expect_start_error(const char *conf, const char *extra,
			       const char *want)
{
	char pidfile[600], out[4096];

	path_in(pidfile, sizeof(pidfile), "err.pid");
	unlink(pidfile);
	CU_ASSERT_EQUAL(start_bg(conf, pidfile, extra, out, sizeof(out)), 1);
	if (strstr(out, want) == NULL)
		fprintf(stderr, "wanted \"%s\" in: %s\n", want, out);
	CU_ASSERT(strstr(out, want) != NULL);
	pid_t pid = tu_read_pid(pidfile);
	CU_ASSERT(pid == 0 || !tu_alive(pid));
}

static void test_start_errors_reach_the_launcher(void)
{
	char conf[600], text[1024], audit_bad[700];
	int port = tu_free_port();

	path_in(conf, sizeof(conf), "err.conf");
	CU_ASSERT(tu_write_file(conf, "{\"listen\":[\"127.0.0.1:1\"],"
				      "\"tools\":{\"x\":{\"type\":\"http\"}}}") ==
		  0);
	expect_start_error(conf, NULL, "tools.x.upstream: missing required key");

	/* the address is taken (by the test upstream) */
	CU_ASSERT(write_conf(conf, up_port, tu_free_port(), "send", 0) == 0);
	expect_start_error(conf, NULL, "cannot listen on 127.0.0.1:");

	snprintf(audit_bad, sizeof(audit_bad), "%s/no/such/dir/a.log",
		 workdir);
	snprintf(text, sizeof(text),
		 "{ \"listen\": [\"127.0.0.1:%d\"], \"audit_log\": \"%s\",\n"
		 "  \"tools\": { \"t\": { \"type\": \"http\",\n"
		 "    \"upstream\": \"http://127.0.0.1:%d\" } } }\n",
		 port, audit_bad, up_port);
	CU_ASSERT(tu_write_file(conf, text) == 0);
	expect_start_error(conf, NULL, "cannot open audit log");

	/* a cli tool would run as root */
	snprintf(text, sizeof(text),
		 "{ \"listen\": [\"127.0.0.1:%d\"],\n"
		 "  \"tools\": { \"t\": { \"type\": \"cli\", \"binary\": \"%s\" } } }\n",
		 port, getenv("CLITOOL"));
	CU_ASSERT(tu_write_file(conf, text) == 0);
	expect_start_error(conf, "-u root", "cli tools would run as root");
	expect_start_error(conf, "-u no-such-user-x", "no such user");
	/* -t refuses what that start would */
	char cmd[2048], out[4096];
	snprintf(cmd, sizeof(cmd), "'%s' -t -c '%s' -u root", carapaced_path,
		 conf);
	CU_ASSERT_EQUAL(tu_run(cmd, out, sizeof(out)), 1);
	CU_ASSERT(strstr(out, "cli tools would run as root") != NULL);
	snprintf(cmd, sizeof(cmd), "'%s' -t -c '%s' -u nobody", carapaced_path,
		 conf);
	CU_ASSERT_EQUAL(tu_run(cmd, out, sizeof(out)), 0);
	CU_ASSERT(strstr(out, "test is successful") != NULL);
	/* USER:GROUP, the group by name or by number (getgrnam_r) */
	snprintf(cmd, sizeof(cmd), "'%s' -t -c '%s' -u nobody:nogroup",
		 carapaced_path, conf);
	CU_ASSERT_EQUAL(tu_run(cmd, out, sizeof(out)), 0);
	snprintf(cmd, sizeof(cmd), "'%s' -t -c '%s' -u nobody:4711",
		 carapaced_path, conf);
	CU_ASSERT_EQUAL(tu_run(cmd, out, sizeof(out)), 0);
	snprintf(cmd, sizeof(cmd), "'%s' -t -c '%s' -u nobody:no-such-group-x",
		 carapaced_path, conf);
	CU_ASSERT_EQUAL(tu_run(cmd, out, sizeof(out)), 1);
	CU_ASSERT(strstr(out, "no such group: no-such-group-x") != NULL);
}

/* ---- fewer privileges ---- */

static int status_ids(pid_t pid, const char *key, long ids[4])
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	char *text = tu_slurp(path);
	char *line = text ? strstr(text, key) : NULL;
	int n = line ? sscanf(line + strlen(key), "%ld %ld %ld %ld", &ids[0],
			      &ids[1], &ids[2], &ids[3]) :
		       0;
	free(text);
	return n == 4 ? 0 : -1;
}

static void test_privilege_drop(void)
{
	char conf[600], pidfile[600], out[4096];
	int port = tu_free_port(), status;
	struct passwd *pw = getpwnam("nobody");

	CU_ASSERT_FATAL(pw != NULL);
	path_in(conf, sizeof(conf), "drop.conf");
	path_in(pidfile, sizeof(pidfile), "drop.pid");
	CU_ASSERT_FATAL(write_conf(conf, port, tu_free_port(), "send", 0) == 0);
	int rc = start_bg(conf, pidfile, "-u nobody", out, sizeof(out));
	if (geteuid() != 0) {
		/* not root: the drop cannot happen, and says so */
		CU_ASSERT_EQUAL(rc, 1);
		CU_ASSERT(strstr(out, "cannot become nobody") != NULL);
		return;
	}
	CU_ASSERT_EQUAL_FATAL(rc, 0);
	bg_pid = tu_read_pid(pidfile);
	long uids[4], gids[4];
	CU_ASSERT_FATAL(status_ids(bg_pid, "Uid:", uids) == 0 &&
			status_ids(bg_pid, "Gid:", gids) == 0);
	for (int i = 0; i < 4; i++) {
		CU_ASSERT_EQUAL(uids[i], (long)pw->pw_uid);
		CU_ASSERT_EQUAL(gids[i], (long)pw->pw_gid);
	}
	/* the listeners opened as root still accept */
	CU_ASSERT(get(port, "/healthz", &status, NULL) == 0 && status == 200);
	CU_ASSERT(get(port, "/tools/sig/echo", &status, NULL) == 0 &&
		  status == 200);
	kill(bg_pid, SIGTERM);
	CU_ASSERT(tu_wait_gone(bg_pid, 10000) == 0);
	/* its directory is not nobody's: the pidfile is left empty */
	CU_ASSERT(tu_read_pid(pidfile) == 0);
	bg_pid = -1;
}

/* ---- reload ---- */

#define N_STREAMS 500

/* A foreground daemon on conf, waited for on port. */
static pid_t spawn_fg(const char *conf, int port)
{
	return tu_start_daemon(&(struct tu_daemon){ .conf = conf,
						    .ports = { port } });
}

static int upstream_open_streams(void)
{
	return tu_upstream_stat(up_port, "open_streams");
}

struct streams {
	int want, n;
};

static int streams_are(void *arg)
{
	struct streams *s = arg;

	return (s->n = upstream_open_streams()) == s->want;
}

static int wait_open_streams(int want, int limit_ms)
{
	struct streams s = { want, -1 };

	tu_wait_until(streams_are, &s, (unsigned)limit_ms);
	return s.n;
}

static int open_stream(int port, const char *target, int *fd,
		       struct tu_resp *r)
{
	*fd = tu_connect(port);
	if (*fd < 0 || tu_send_request(*fd, "GET", target, NULL, NULL, 0) < 0 ||
	    tu_read_head(r, *fd, 10000) < 0 || r->status != 200)
		return -1;
	return 0;
}

static int broadcast(void)
{
	int status;

	return tu_http(up_port, "POST", "/_upstream/broadcast", NULL, "",
		       &status, NULL, NULL) == 0 &&
			       status == 200 ?
		       0 :
		       -1;
}

/* The response on r ends cleanly (its chunked terminator comes). */
static int ends_cleanly(struct tu_resp *r, int limit_ms)
{
	char buf[4096];
	ssize_t n;

	while ((n = tu_read_body(r, buf, sizeof(buf), limit_ms)) > 0)
		;
	return n == 0 ? 0 : -1;
}

static char *audit_text(void)
{
	char path[600];

	path_in(path, sizeof(path), "audit.log");
	return tu_slurp(path);
}

static int audit_has(void *arg)
{
	const char *const *needle = arg;
	char *text = audit_text();
	int found = text && strstr(text, *needle) != NULL;

	free(text);
	return found;
}

/* The audit log, once it holds needle (a record is written as its
 * request ends, which may be after its client saw the end), or as it
 * is after 10 s. Caller frees. */
static char *audit_text_with(const char *needle)
{
	tu_wait_until(audit_has, &needle, 10000);
	return audit_text();
}

/* No client connection left on port and parked upstream handles (the
 * daemon's connections to the test upstream) as many as want. */
struct quiet {
	int port, parked;
};

static int calls_over(void *arg)
{
	const struct quiet *q = arg;

	return tu_proc_tcp(fg_pid, q->port, 0) == 0 &&
	       tu_proc_tcp(fg_pid, 0, up_port) == q->parked;
}

/* The daemon's threads and descriptors back to the baseline: threads
 * plus the worker threads parked since (tu_workers.h). */
struct back {
	int admin, threads0, idle0, fds0, threads, want, fds;
};

static int back_to(void *arg)
{
	struct back *b = arg;

	b->fds = tu_proc_fds(fg_pid);
	return tu_threads_back(fg_pid, b->admin, b->threads0, b->idle0,
			       &b->threads, &b->want) &&
	       tu_fds_back_or_parked(b->fds, b->fds0);
}

static void test_reload_keeps_streams(void)
{
	static int fds[N_STREAMS];
	static struct tu_resp rs[N_STREAMS];
	char conf[600], data[512];
	int port = tu_free_port(), admin = tu_free_port();
	int other = tu_free_port(), status, odd_fd, base;
	struct tu_resp odd;

	path_in(conf, sizeof(conf), "reload.conf");
	CU_ASSERT_FATAL(write_conf(conf, port, admin, "send", other) == 0);
	fg_pid = spawn_fg(conf, port);
	CU_ASSERT_FATAL(fg_pid > 0);
	CU_ASSERT_EQUAL(tu_rpc(port, "sig", "send"), 200);
	CU_ASSERT_EQUAL(tu_rpc(port, "sig", "version"), 403);
	/* the baseline once the calls are over: their connections closed
	 * and their upstream handle parked (a known-length answer reaches
	 * its client before that: a baseline taken earlier is 3 short) */
	struct quiet q = { port, 1 };
	CU_ASSERT(tu_wait_until(calls_over, &q, 10000) == 0);
	int fds0 = tu_proc_fds(fg_pid), threads0, idle0;
	CU_ASSERT_FATAL(tu_threads_baseline(fg_pid, admin, &threads0,
					    &idle0) == 0);
	base = upstream_open_streams();
	for (int i = 0; i < N_STREAMS; i++)
		CU_ASSERT_FATAL(open_stream(port, "/tools/sig/api/v1/events",
					    &fds[i], &rs[i]) == 0);
	/* and one on the drop-in listener of a tool the reload removes */
	CU_ASSERT_FATAL(open_stream(other, "/api/v1/events?who=odd", &odd_fd,
				    &odd) == 0);
	CU_ASSERT_EQUAL(wait_open_streams(base + N_STREAMS + 1, 10000),
			base + N_STREAMS + 1);

	/* the new policy: version, not send; tool "other" gone, tool
	 * "third" new, with a listener of its own */
	int third = tu_free_port();
	CU_ASSERT_FATAL(write_conf_named(conf, port, admin, "version", third,
					 "third") == 0);
	CU_ASSERT_FATAL(kill(fg_pid, SIGHUP) == 0);
	int denied = 0;
	for (int w = 0; w < 250 && !denied; w++) {
		denied = tu_rpc(port, "sig", "send") == 403;
		if (!denied)
			tu_sleep_ms(20);
	}
	CU_ASSERT(denied);
	CU_ASSERT_EQUAL(tu_rpc(port, "sig", "version"), 200);
	CU_ASSERT(get(third, "/echo", &status, NULL) == 0 && status == 200);

	/* the removed tool's stream ended, cleanly, on record */
	CU_ASSERT(ends_cleanly(&odd, 5000) == 0);
	char *text = audit_text_with("\"ended\":\"reload\"");
	CU_ASSERT(text && strstr(text, "\"path\":\"/api/v1/events?who=odd\","
				       "\"decision\":\"allow\"") != NULL);
	CU_ASSERT(text && strstr(text, "\"ended\":\"reload\"") != NULL);
	free(text);
	/* its listener is closed */
	int fd = -1;
	for (int w = 0; w < 100; w++) {
		fd = tu_connect(other);
		if (fd < 0)
			break;
		close(fd);
		tu_sleep_ms(20);
	}
	CU_ASSERT(fd < 0);

	/* none of the 500 was dropped: one more event reaches every one */
	CU_ASSERT_EQUAL(wait_open_streams(base + N_STREAMS, 5000),
			base + N_STREAMS);
	CU_ASSERT_FATAL(broadcast() == 0);
	int got = 0;
	for (int i = 0; i < N_STREAMS; i++)
		got += tu_sse_next_event(&rs[i], data, sizeof(data), 10000) == 0;
	CU_ASSERT_EQUAL(got, N_STREAMS);
	printf("\n    reload with %d streams open: %d received the next "
	       "event\n", N_STREAMS, got);
	for (int i = 0; i < N_STREAMS; i++) {
		tu_resp_free(&rs[i]);
		close(fds[i]);
	}
	tu_resp_free(&odd);
	close(odd_fd);

	/* a broken file: refused, by signal and by the admin API; the
	 * config in force keeps serving */
	CU_ASSERT(tu_write_file(conf, "{ \"listen\": [ broken") == 0);
	CU_ASSERT(kill(fg_pid, SIGHUP) == 0);
	char *body = NULL;
	CU_ASSERT(tu_http(admin, "POST", "/v1/reload", TU_ADMIN_AUTH, "",
			  &status, &body, NULL) == 0);
	CU_ASSERT_EQUAL(status, 409);
	CU_ASSERT(body && strstr(body, "reload.conf") != NULL);
	free(body);
	CU_ASSERT(tu_alive(fg_pid));
	CU_ASSERT_EQUAL(tu_rpc(port, "sig", "version"), 200);
	CU_ASSERT_EQUAL(tu_rpc(port, "sig", "send"), 403);

	/* and a good one through the admin API: the first config again */
	CU_ASSERT_FATAL(write_conf(conf, port, admin, "send", other) == 0);
	CU_ASSERT(tu_http(admin, "POST", "/v1/reload", TU_ADMIN_AUTH, "",
			  &status, NULL, NULL) == 0 && status == 200);
	CU_ASSERT_EQUAL(tu_rpc(port, "sig", "send"), 200);
	CU_ASSERT(get(other, "/echo", &status, NULL) == 0 && status == 200);
	/* back where it started: the retired listener ("third") and every
	 * stream's thread and descriptors are gone */
	struct back b = { admin, threads0, idle0, fds0, -1, -1, -1 };
	tu_wait_until(calls_over, &q, 10000);
	tu_wait_until(back_to, &b, 5000);
	int threads = b.threads, nfds = b.fds;
	if (threads != b.want || !tu_fds_back_or_parked(nfds, fds0))
		fprintf(stderr, "threads %d -> %d (want %d), fds %d -> %d\n",
			threads0, threads, b.want, fds0, nfds);
	CU_ASSERT_EQUAL(threads, b.want);
	CU_ASSERT(tu_fds_back_or_parked(nfds, fds0));
	CU_ASSERT_EQUAL(tu_stop(fg_pid), 0);
	fg_pid = -1;
}

/* ---- the graceful stop ---- */

#define N_SLOW 100

struct slow_call {
	pthread_t thread;
	int port;
	int ms;
	int status;
	char *body;
};

static void *slow_call_main(void *arg)
{
	struct slow_call *c = arg;
	char target[64];

	snprintf(target, sizeof(target), "/tools/sig/slow-headers?ms=%d",
		 c->ms);
	if (tu_http(c->port, "GET", target, NULL, NULL, &c->status, &c->body,
		    NULL) < 0)
		c->status = -1;
	return NULL;
}

static int upstream_requests(void)
{
	return tu_upstream_stat(up_port, "requests");
}

static int exit_code_of(pid_t pid, int limit_ms)
{
	int status;

	for (int waited = 0; waited <= limit_ms; waited += 10) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) :
						   128 + WTERMSIG(status);
		tu_sleep_ms(10);
	}
	return -1;
}

static void test_sigterm_lets_requests_finish(void)
{
	static struct slow_call calls[N_SLOW];
	char conf[600];
	int port = tu_free_port(), sfd;
	struct tu_resp stream;

	path_in(conf, sizeof(conf), "stop.conf");
	CU_ASSERT_FATAL(write_conf(conf, port, tu_free_port(), "send", 0) == 0);
	fg_pid = spawn_fg(conf, port);
	CU_ASSERT_FATAL(fg_pid > 0);
	CU_ASSERT_FATAL(open_stream(port, "/tools/sig/api/v1/events?stop=1",
				    &sfd, &stream) == 0);
	int before = upstream_requests();
	for (int i = 0; i < N_SLOW; i++) {
		calls[i].port = port;
		calls[i].ms = 1500;
		pthread_create(&calls[i].thread, NULL, slow_call_main,
			       &calls[i]);
	}
	/* all 100 are at the upstream, waiting for their answers */
	for (int w = 0; w < 500 && upstream_requests() < before + N_SLOW; w++)
		tu_sleep_ms(10);
	CU_ASSERT(upstream_requests() >= before + N_SLOW);
	uint64_t t0 = tu_now_ns();
	CU_ASSERT_FATAL(kill(fg_pid, SIGTERM) == 0);

	/* the open stream ends at once, and cleanly */
	CU_ASSERT(ends_cleanly(&stream, 5000) == 0);
	/* no new connection is taken while the calls finish */
	int fd = -1;
	for (int w = 0; w < 100; w++) {
		fd = tu_connect(port);
		if (fd < 0)
			break;
		close(fd);
		tu_sleep_ms(5);
	}
	CU_ASSERT(fd < 0);
	int ok = 0;
	for (int i = 0; i < N_SLOW; i++) {
		pthread_join(calls[i].thread, NULL);
		ok += calls[i].status == 200 && calls[i].body &&
		      strcmp(calls[i].body, "late\n") == 0;
		free(calls[i].body);
	}
	CU_ASSERT_EQUAL(ok, N_SLOW);
	CU_ASSERT_EQUAL(exit_code_of(fg_pid, 10000), 0);
	printf("\n    SIGTERM with %d calls under way: %d answered whole, "
	       "exit after %.2f s\n", N_SLOW, ok,
	       (double)(tu_now_ns() - t0) / 1e9);
	fg_pid = -1;
	tu_resp_free(&stream);
	close(sfd);
	char *text = audit_text();
	CU_ASSERT(text && strstr(text, "\"path\":\"/tools/sig/api/v1/events?"
				       "stop=1\"") != NULL);
	CU_ASSERT(text && strstr(text, "\"ended\":\"shutdown\"") != NULL);
	free(text);
}

static void test_second_signal_stops_at_once(void)
{
	char conf[600];
	int port = tu_free_port();
	/* far longer than the bound below, which a loaded machine needs */
	struct slow_call call = { .port = port, .ms = 30000 };

	path_in(conf, sizeof(conf), "stop2.conf");
	CU_ASSERT_FATAL(write_conf(conf, port, tu_free_port(), "send", 0) == 0);
	fg_pid = spawn_fg(conf, port);
	CU_ASSERT_FATAL(fg_pid > 0);
	int before = upstream_requests();
	/* far longer than anyone would wait */
	pthread_create(&call.thread, NULL, slow_call_main, &call);
	for (int w = 0; w < 500 && upstream_requests() < before + 1; w++)
		tu_sleep_ms(10);
	CU_ASSERT_FATAL(kill(fg_pid, SIGTERM) == 0);
	tu_sleep_ms(200);
	CU_ASSERT(tu_alive(fg_pid)); /* still waiting for the call */
	uint64_t t0 = tu_now_ns();
	CU_ASSERT_FATAL(kill(fg_pid, SIGTERM) == 0);
	CU_ASSERT_EQUAL(exit_code_of(fg_pid, 20000), 0);
	CU_ASSERT((tu_now_ns() - t0) / 1000000 < 10000);
	fg_pid = -1;
	pthread_join(call.thread, NULL);
	CU_ASSERT(call.status != 200); /* it was cut off */
	free(call.body);
}

/* A listener whose accept queue is full (backlog 0, one connection never
 * accepted): the kernel drops the next SYNs, so a connect to it hangs.
 * Its port in *port; the listener's and the filler's fds in fds. */
static int blackhole(int *port, int fds[2])
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);

	fds[0] = socket(AF_INET, SOCK_STREAM, 0);
	if (fds[0] < 0 || bind(fds[0], (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(fds[0], 0) < 0 ||
	    getsockname(fds[0], (struct sockaddr *)&a, &len) < 0)
		return -1;
	*port = ntohs(a.sin_port);
	fds[1] = tu_connect(*port);
	return fds[1] < 0 ? -1 : 0;
}

/* A connect to port stuck in SYN_SENT (state 02 in /proc/net/tcp) for
 * a while: its SYN sent again (retrnsmt > 0, 1 s in), so curl's own
 * early timers (happy eyeballs: 200 ms) are past and only a cancel can
 * wake the worker. */
static int syn_resent_to(void *arg)
{
	char line[256];
	int found = 0;
	FILE *f = fopen("/proc/net/tcp", "r");

	while (f != NULL && !found && fgets(line, sizeof(line), f) != NULL) {
		unsigned rport, st, resent;
		if (sscanf(line, "%*s %*s %*x:%x %x %*s %*s %x", &rport, &st,
			   &resent) == 3)
			found = (int)rport == *(int *)arg && st == 2 &&
				resent > 0;
	}
	if (f != NULL)
		fclose(f);
	return found;
}

/* Nothing listens on the port any more (a stop has begun). */
static int refused(void *arg)
{
	int fd = tu_connect(*(int *)arg);

	if (fd >= 0)
		close(fd);
	return fd < 0;
}

/* A stop cancels a transfer still connecting to its upstream: the
 * canceller shuts down the socket curl opened (CURLOPT_OPENSOCKETFUNCTION)
 * before CURLINFO_ACTIVESOCKET knows it, so the worker does not sit out
 * the connect timeout (30 s) and the daemon exits 0 at once. */
static void test_stop_while_connecting(void)
{
	char conf[600];
	int port = tu_free_port(), hole, fds[2] = { -1, -1 };

	CU_ASSERT_FATAL(blackhole(&hole, fds) == 0);
	path_in(conf, sizeof(conf), "hole.conf");
	int saved = up_port; /* the tool's upstream is write_conf's up_port */
	up_port = hole;
	CU_ASSERT_FATAL(write_conf(conf, port, tu_free_port(), "send", 0) == 0);
	up_port = saved;
	fg_pid = spawn_fg(conf, port);
	CU_ASSERT_FATAL(fg_pid > 0);
	/* a client that stays, even after the daemon's close: its leaving
	 * would wake the worker (it watches its client's socket) */
	int cfd = tu_connect(port);
	CU_ASSERT_FATAL(cfd >= 0);
	CU_ASSERT(tu_send_request(cfd, "GET", "/tools/sig/events", NULL,
				  NULL, 0) == 0);
	CU_ASSERT(tu_wait_until(syn_resent_to, &hole, 10000) == 0);
	/* a next request behind it: the worker stops watching the socket
	 * (MHD will read it), so the daemon's shutdown of the client's
	 * socket at the stop no longer wakes it; only the cancel hook does */
	CU_ASSERT(tu_send_request(cfd, "GET", "/healthz", NULL, NULL, 0) == 0);
	CU_ASSERT_FATAL(kill(fg_pid, SIGTERM) == 0);
	/* the second signal once the first is taken (they would merge) */
	CU_ASSERT(tu_wait_until(refused, &port, 5000) == 0);
	CU_ASSERT_FATAL(kill(fg_pid, SIGTERM) == 0);
	uint64_t t0 = tu_now_ns();
	CU_ASSERT_EQUAL(exit_code_of(fg_pid, 20000), 0);
	unsigned ms = (unsigned)((tu_now_ns() - t0) / 1000000);
	fprintf(stderr, "  stopped in %u ms\n", ms);
	/* at once, not after the connect's timeout or the 30 s drain */
	CU_ASSERT(ms < 10000);
	fg_pid = -1;
	close(cfd);
	close(fds[0]);
	close(fds[1]);
}

/* A cli run under way at SIGTERM finishes; a long one is killed by the
 * second signal, with its child. */
struct cli_call {
	pthread_t thread;
	int port;
	const char *body;
	int status;
	char *answer;
};

static void *cli_call_main(void *arg)
{
	struct cli_call *c = arg;

	if (tu_http(c->port, "POST", "/tools/ct", NULL, c->body, &c->status,
		    &c->answer, NULL) < 0)
		c->status = -1;
	return NULL;
}

/* Children of any of pid's threads (each task has its own list). */
static int children_of(pid_t pid)
{
	char path[96];
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
		if (e->d_name[0] == '.')
			continue;
		char file[400];
		snprintf(file, sizeof(file), "%s/%s/children", path, e->d_name);
		char *text = tu_slurp(file);
		for (char *p = text; p && *p; p++)
			n += *p == ' ';
		free(text);
	}
	if (d)
		closedir(d);
	return n;
}

static void test_sigterm_and_cli_runs(void)
{
	char conf[600], text[1024];
	int port = tu_free_port();
	/* long enough to be seen running beside the slow one on a loaded
	 * machine, where spawning the second may take a while */
	struct cli_call quick = { .port = port,
				  .body = "{\"argv\":[\"sleep\",\"3000\"]}" };
	/* an argument no other test program uses: processes are counted
	 * system-wide, and make -j runs test programs side by side */
	struct cli_call slow = { .port = port,
				 .body = "{\"argv\":[\"sleep\",\"60017\"]}" };

	path_in(conf, sizeof(conf), "cli.conf");
	snprintf(text, sizeof(text),
		 "{ \"listen\": [\"127.0.0.1:%d\"], \"run_tools_as_root\": true,\n"
		 "  \"tools\": { \"ct\": { \"type\": \"cli\", \"binary\": \"%s\",\n"
		 "    \"argv_allow_patterns\": [\"sleep *\"],\n"
		 "    \"timeout_secs\": 120 } } }\n",
		 port, getenv("CLITOOL"));
	CU_ASSERT_FATAL(tu_write_file(conf, text) == 0);
	fg_pid = spawn_fg(conf, port);
	CU_ASSERT_FATAL(fg_pid > 0);
	pthread_create(&quick.thread, NULL, cli_call_main, &quick);
	pthread_create(&slow.thread, NULL, cli_call_main, &slow);
	for (int w = 0; w < 500 && children_of(fg_pid) < 2; w++)
		tu_sleep_ms(10);
	CU_ASSERT_EQUAL_FATAL(children_of(fg_pid), 2);
	CU_ASSERT_FATAL(kill(fg_pid, SIGTERM) == 0);
	pthread_join(quick.thread, NULL);
	CU_ASSERT_EQUAL(quick.status, 200);
	CU_ASSERT(quick.answer && strstr(quick.answer, "\"exit_code\":0"));
	CU_ASSERT(tu_alive(fg_pid)); /* the slow one is still running */
	CU_ASSERT_EQUAL(children_of(fg_pid), 1);
	CU_ASSERT_EQUAL(tu_processes(getenv("CLITOOL"), "sleep", "60017"),
			1);
	CU_ASSERT_FATAL(kill(fg_pid, SIGTERM) == 0);
	CU_ASSERT_EQUAL(exit_code_of(fg_pid, 5000), 0);
	fg_pid = -1;
	/* its child did not outlive it */
	CU_ASSERT_EQUAL(tu_processes(getenv("CLITOOL"), "sleep", "60017"),
			0);
	pthread_join(slow.thread, NULL);
	CU_ASSERT(slow.status != 200);
	free(quick.answer);
	free(slow.answer);
}

/* ---- main ---- */

int main(void)
{
	static pid_t *const children[] = { &fg_pid, &bg_pid, &up_pid };

	tu_watchdog("test_daemon", 600, children, 3);
	if (mkdtemp(workdir) == NULL ||
	    CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("daemon", suite_init, suite_clean);
	CU_add_test(s, "background and pidfile", test_background_and_pidfile);
	CU_add_test(s, "start-up errors reach the launcher",
		    test_start_errors_reach_the_launcher);
	CU_add_test(s, "privilege drop", test_privilege_drop);
	CU_add_test(s, "reload keeps 500 streams", test_reload_keeps_streams);
	CU_add_test(s, "SIGTERM lets 100 requests finish",
		    test_sigterm_lets_requests_finish);
	CU_add_test(s, "a second signal stops at once",
		    test_second_signal_stops_at_once);
	CU_add_test(s, "SIGTERM and cli runs", test_sigterm_and_cli_runs);
	CU_add_test(s, "a stop cancels a transfer still connecting",
		    test_stop_while_connecting);
	int rc = cu_run();
	tu_remove_tree(workdir);
	return rc;
}
