/* The installed carapaced: the files `make install` puts in place, a
 * second install that keeps a configuration the admin changed, the System
 * V init script (start, status, reload, stop) and the logrotate snippet,
 * all run from the installed tree.
 *
 * Run by `make installcheck` (installcheck-local in Makefile.am), never by
 * `make check`: it needs an installed tree, and the second install runs
 * `make install` into a scratch DESTDIR, which must not happen while
 * `make -j check` builds and runs other programs in the same tree. The
 * environment (installcheck-local sets it):
 *   DESTDIR, SBINDIR, SYSCONFDIR, MANDIR  the installed tree under test
 *                                         (DESTDIR may be empty)
 *   MAKE, TOP_BUILDDIR    to run `make install` into the scratch DESTDIR
 *   UPSTREAM              the test upstream (a build-tree program)
 *   TMPDIR                where the scratch directory goes (else /tmp) */
#include "config.h"

#include <CUnit/Basic.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cu_run.h"
#include "testutil.h"

static char workdir[600];
static const char *root;	/* $DESTDIR: where the tree under test is */
static pid_t up_pid = -1, bg_pid = -1;
static int up_port;

/* ---- helpers ---- */

static void path_in(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", workdir, name);
}

/* A config: main listener, admin, audit log, tool "sig" allowing
 * allowed_method. */
static int write_conf(const char *path, int port, int admin,
		      const char *allowed_method)
{
	char text[4096], audit[700];

	path_in(audit, sizeof(audit), "audit.log");
	snprintf(text, sizeof(text),
		 "{ \"listen\": [\"127.0.0.1:%d\"],\n"
		 "  \"max_connections_per_ip\": 0,\n"
		 "  \"admin_listen\": \"127.0.0.1:%d\",\n"
		 "  \"admin_token_sha256\": \"" TU_ADMIN_TOKEN_SHA256 "\",\n"
		 "  \"audit_log\": \"%s\",\n"
		 "  \"tools\": {\n"
		 "    \"sig\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      \"jsonrpc_allow_methods\": [\"%s\"] }\n"
		 "  }\n}\n",
		 port, admin, audit, up_port, allowed_method);
	return tu_write_file(path, text);
}

/* A path of the installed tree: $DESTDIR$dir_var/rest. */
static void installed_path(char *buf, size_t len, const char *dir_var,
			   const char *rest)
{
	snprintf(buf, len, "%s%s/%s", root, getenv(dir_var), rest);
}

static int installed(const char *dir_var, const char *rest)
{
	char path[1200];

	installed_path(path, sizeof(path), dir_var, rest);
	return access(path, F_OK) == 0;
}

/* ---- set-up ---- */

static int suite_init(void)
{
	const char *up = getenv("UPSTREAM");

	if (up == NULL || getenv("SBINDIR") == NULL ||
	    getenv("SYSCONFDIR") == NULL || getenv("MANDIR") == NULL) {
		fprintf(stderr, "UPSTREAM, SBINDIR, SYSCONFDIR and MANDIR "
				"must be set (make installcheck sets them)\n");
		return -1;
	}
	tu_prepare_process();
	up_pid = tu_spawn_upstream(up, &up_port);
	return up_pid > 0 ? 0 : -1;
}

static int suite_clean(void)
{
	if (tu_alive(bg_pid)) {
		kill(bg_pid, SIGKILL);
		tu_wait_gone(bg_pid, 5000);
	}
	if (up_pid > 0)
		tu_stop(up_pid);
	return 0;
}

/* ---- what make install put in place ---- */

static void test_installed_files(void)
{
	CU_ASSERT(installed("SBINDIR", "carapaced"));
	CU_ASSERT(installed("SBINDIR", "carapacectl"));
	CU_ASSERT(installed("SYSCONFDIR", "carapace/carapaced.conf"));
	CU_ASSERT(installed("SYSCONFDIR", "logrotate.d/carapaced"));
	CU_ASSERT(installed("MANDIR", "man8/carapaced.8"));
	CU_ASSERT(installed("MANDIR", "man5/carapaced.conf.5"));
}

/* ---- a second install keeps a configuration the admin changed ---- */

/* make install DESTDIR=scratch, from the build tree. MAKEFLAGS is kept:
 * it carries make installcheck's command-line settings (prefix=...), and
 * the command line's DESTDIR wins over the one it may carry. */
static int install_into(const char *scratch, char *out, size_t len)
{
	char cmd[2048];

	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && %s install DESTDIR='%s' >'%s.log' 2>&1 || "
		 "{ tail -20 '%s.log'; exit 1; }",
		 getenv("TOP_BUILDDIR"), getenv("MAKE"), scratch, scratch,
		 scratch);
	return tu_run(cmd, out, len);
}

static void test_second_install_keeps_config(void)
{
	char scratch[700], out[8192], path[1200];

	CU_ASSERT_FATAL(getenv("MAKE") && getenv("TOP_BUILDDIR"));
	path_in(scratch, sizeof(scratch), "scratch");
	CU_ASSERT_EQUAL_FATAL(install_into(scratch, out, sizeof(out)), 0);
	snprintf(path, sizeof(path), "%s%s/carapace/carapaced.conf", scratch,
		 getenv("SYSCONFDIR"));
	CU_ASSERT(tu_write_file(path, "{ \"changed\": \"by the admin\" }\n") ==
		  0);
	CU_ASSERT_EQUAL(install_into(scratch, out, sizeof(out)), 0);
	char *kept = tu_slurp(path);
	CU_ASSERT(kept && strstr(kept, "by the admin") != NULL);
	free(kept);
}

/* ---- under the installed System V init script ---- */

static char conf[700], pidfile[700];
static int port, admin;

/* The installed script, run with its paths pointed into the installed
 * tree and at the test's config and pidfile. */
static int initd(const char *action, char *out, size_t len)
{
	char cmd[4096];

	snprintf(cmd, sizeof(cmd),
		 "DAEMON='%s%s/carapaced' CONFIG='%s' PIDFILE='%s' "
		 "RUNDIR='%s.run' DEFAULTS_FILE=/dev/null "
		 "sh '%s%s/init.d/carapaced' %s",
		 root, getenv("SBINDIR"), conf, pidfile, pidfile, root,
		 getenv("SYSCONFDIR"), action);
	return tu_run(cmd, out, len);
}

static void sysv_start(void)
{
	char out[8192];

	CU_ASSERT_FATAL(write_conf(conf, port, admin, "send") == 0);
	CU_ASSERT_EQUAL(initd("start", out, sizeof(out)), 0);
	bg_pid = tu_read_pid(pidfile);
	CU_ASSERT_FATAL(tu_alive(bg_pid));
	CU_ASSERT_EQUAL(tu_rpc(port, "sig", "send"), 200);
	CU_ASSERT_EQUAL(initd("status", out, sizeof(out)), 0);
	CU_ASSERT(strstr(out, "running") != NULL);
	CU_ASSERT_EQUAL(initd("start", out, sizeof(out)), 0);
	CU_ASSERT(strstr(out, "already running") != NULL);
	CU_ASSERT_EQUAL(tu_read_pid(pidfile), bg_pid);
}

static void sysv_reload(void)
{
	char out[8192];

	/* reload: the change takes effect */
	CU_ASSERT_FATAL(write_conf(conf, port, admin, "version") == 0);
	CU_ASSERT_EQUAL(initd("reload", out, sizeof(out)), 0);
	int denied = 0;
	for (int w = 0; w < 250 && !denied; w++) {
		denied = tu_rpc(port, "sig", "send") == 403;
		if (!denied)
			tu_sleep_ms(20);
	}
	CU_ASSERT(denied);
	CU_ASSERT_EQUAL(tu_rpc(port, "sig", "version"), 200);

	/* a broken file: refused by the script's -t, the old one serves */
	CU_ASSERT(tu_write_file(conf, "{ \"listen\": ") == 0);
	CU_ASSERT_EQUAL(initd("reload", out, sizeof(out)), 1);
	CU_ASSERT(strstr(out, "invalid") != NULL);
	CU_ASSERT_EQUAL(initd("status", out, sizeof(out)), 0);
	CU_ASSERT_EQUAL(tu_rpc(port, "sig", "version"), 200);
	CU_ASSERT(tu_alive(bg_pid));
}

/* The installed logrotate snippet, pointed at this test's files. */
static void sysv_logrotate(void)
{
	char lr[700], state[700], cmd[8192], audit[700], rotated[800];
	char snippet[1200], out[8192];

	path_in(lr, sizeof(lr), "logrotate.conf");
	path_in(state, sizeof(state), "logrotate.state");
	path_in(audit, sizeof(audit), "audit.log");
	snprintf(rotated, sizeof(rotated), "%s.1", audit);
	installed_path(snippet, sizeof(snippet), "SYSCONFDIR",
		       "logrotate.d/carapaced");
	snprintf(cmd, sizeof(cmd),
		 "sed -e 's|/var/log/carapace/audit.log|%s|' "
		 "-e 's|/run/carapaced.pid|%s|g' '%s' "
		 ">'%s' && grep -q '%s' '%s' && logrotate -f -s '%s' '%s'",
		 audit, pidfile, snippet, lr, pidfile, lr, state, lr);
	CU_ASSERT_EQUAL(tu_run(cmd, out, sizeof(out)), 0);
	CU_ASSERT(access(rotated, F_OK) == 0);
	/* carapaced reopened: the next record is in a new file */
	int written = 0;
	for (int w = 0; w < 250 && !written; w++) {
		tu_rpc(port, "sig", "version");
		char *text = tu_slurp(audit);
		written = text && strstr(text, "\"version\"") != NULL;
		free(text);
		if (!written)
			tu_sleep_ms(20);
	}
	CU_ASSERT(written);
}

static void sysv_stop(void)
{
	char out[8192];

	CU_ASSERT_EQUAL(initd("stop", out, sizeof(out)), 0);
	CU_ASSERT(!tu_alive(bg_pid) || tu_wait_gone(bg_pid, 5000) == 0);
	CU_ASSERT(access(pidfile, F_OK) != 0);
	CU_ASSERT_EQUAL(initd("status", out, sizeof(out)), 3);
	bg_pid = -1;
}

static void test_sysv_script(void)
{
	port = tu_free_port();
	admin = tu_free_port();
	path_in(conf, sizeof(conf), "initd.conf");
	path_in(pidfile, sizeof(pidfile), "initd.pid");
	sysv_start();
	sysv_reload();
	sysv_logrotate();
	sysv_stop();
}

/* ---- main ---- */

int main(void)
{
	static pid_t *const children[] = { &bg_pid, &up_pid };
	const char *tmp = getenv("TMPDIR");
	root = getenv("DESTDIR") ? getenv("DESTDIR") : "";
	snprintf(workdir, sizeof(workdir), "%s/carapaced-installed-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	tu_watchdog("test_installed", 600, children, 2);
	if (mkdtemp(workdir) == NULL ||
	    CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("installed", suite_init, suite_clean);
	CU_add_test(s, "the installed files", test_installed_files);
	CU_add_test(s, "a second install keeps a changed configuration",
		    test_second_install_keeps_config);
	CU_add_test(s, "under the sysv script", test_sysv_script);
	int rc = cu_run();
	tu_remove_tree(workdir);
	return rc;
}
