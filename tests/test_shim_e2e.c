/* carapace-shim through the real carapaced: a tool run as if it were
 * local (stdin, stdout, stderr, exit codes and signals, binary output,
 * the cwd rule, policy denials, an unreachable daemon), by a shell, with
 * tests/clitool behind the daemon. Paths come from the environment (make
 * check sets them): CARAPACED, CLITOOL, SHIM. The shim alone, without a
 * daemon, is test_shim. */
#include "config.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "cu_run.h"

static char workdir[] = "/tmp/carapaced-shim-XXXXXX";
static pid_t cli_pid = -1;
static int cli_port, cli_port2;
static char cli_conf[600], jail[600];

/* The tool "ct" as test_cli's configuration has it (tu_cli_ct_tool). */
static int write_conf(const char *tool)
{
	char text[4096], ct[2048];

	if (tu_cli_ct_tool(ct, sizeof(ct), tool, jail, NULL) < 0)
		return -1;
	snprintf(text, sizeof(text),
		 "{ \"listen\": [\"127.0.0.1:%d\", \"127.0.0.1:%d\"],\n"
		 "  \"run_tools_as_root\": true,\n"
		 "  \"tools\": { %s } }\n",
		 cli_port, cli_port2, ct);
	return tu_write_file(cli_conf, text);
}

static int suite_init(void)
{
	const char *tool = getenv("CLITOOL");

	cli_port = tu_free_port();
	cli_port2 = tu_free_port();
	snprintf(jail, sizeof(jail), "%s/jail", workdir);
	snprintf(cli_conf, sizeof(cli_conf), "%s/cli.conf", workdir);
	if (tool == NULL || getenv("SHIM") == NULL || mkdir(jail, 0700) < 0 ||
	    write_conf(tool) < 0)
		return -1;
	cli_pid = tu_start_daemon(&(struct tu_daemon){
		.conf = cli_conf, .ports = { cli_port, cli_port2 } });
	return cli_pid < 0 ? -1 : 0;
}

static int suite_clean(void)
{
	return cli_pid > 0 && tu_stop(cli_pid) != 0 ? -1 : 0;
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
	int rc = tu_popen_read(cmd, out, out_len);
	FILE *e = fopen(errfile, "r");
	size_t n = e ? fread(err, 1, err_len - 1, e) : 0;
	err[n] = '\0';
	if (e)
		fclose(e);
	return rc;
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
	static pid_t *const children[] = { &cli_pid };

	tu_watchdog("test_shim_e2e", 300, children, 1);
	if (mkdtemp(workdir) == NULL ||
	    CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite t = CU_add_suite("shim", suite_init, suite_clean);
	CU_add_test(t, "carapace-shim", test_shim);
	int rc = cu_run();
	tu_remove_tree(workdir);
	return rc;
}
