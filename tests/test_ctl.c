/* Integration tests of carapacectl against the real carapaced: status,
 * streams, sniff (and no terminal controls in what it shows),
 * check-config and its errors. Over 127.0.0.1 (auditd.h); paths from the
 * environment (make check sets them): CARAPACED, UPSTREAM, CLITOOL,
 * CARAPACECTL, SRCDIR. */
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

/* ---- carapacectl ---- */

static void test_ctl_status_and_streams(void)
{
	char args[900], out[65536];

	snprintf(args, sizeof(args), "-c '%s' status", conf_path);
	CU_ASSERT_EQUAL(ctl(args, out, sizeof(out)), 0);
	CU_ASSERT(strstr(out, "sig") && strstr(out, "ct") &&
		  strstr(out, "lim"));
	snprintf(args, sizeof(args), "-c '%s' reload", conf_path);
	CU_ASSERT_EQUAL(ctl(args, out, sizeof(out)), 0);
	CU_ASSERT(strstr(out, "reloaded") != NULL);
	snprintf(args, sizeof(args), "-c '%s' --json status", conf_path);
	CU_ASSERT_EQUAL(ctl(args, out, sizeof(out)), 0);
	json_object *o = json_tokener_parse(out);
	CU_ASSERT_EQUAL(int_at(o, "pid"), gw_pid);
	json_object_put(o);

	struct tu_resp r;
	int fd = tu_connect(gw_port);
	CU_ASSERT_FATAL(fd >= 0);
	tu_send_request(fd, "GET", "/tools/sig/api/v1/events?from=ctl", NULL,
			NULL, 0);
	CU_ASSERT_FATAL(tu_read_head(&r, fd, 5000) == 0);
	snprintf(args, sizeof(args), "--admin http://127.0.0.1:%d streams",
		 admin_port);
	CU_ASSERT_EQUAL(ctl(args, out, sizeof(out)), 0);
	CU_ASSERT(strstr(out, "/tools/sig/api/v1/events?from=ctl") != NULL);
	snprintf(args, sizeof(args),
		 "--admin http://127.0.0.1:%d --json streams", admin_port);
	CU_ASSERT_EQUAL(ctl(args, out, sizeof(out)), 0);
	o = json_tokener_parse(out);
	json_object *arr;
	CU_ASSERT(json_object_object_get_ex(o, "streams", &arr) &&
		  json_object_array_length(arr) == 1);
	json_object_put(o);
	tu_resp_free(&r);
	close(fd);
}

/* carapacectl sniff ARGS on a pipe; a request every 100 ms (make_one)
 * until a line comes; that line in line. 0 or -1. */
static int sniff_line(const char *extra, void (*make_one)(void), char *line,
		      size_t len, pid_t *pid)
{
	char admin[64];
	const char *argv[8] = { ctl_path, "--admin", admin, NULL };
	int fd, argc = 3;

	snprintf(admin, sizeof(admin), "http://127.0.0.1:%d", admin_port);
	char copy[200];
	snprintf(copy, sizeof(copy), "%s", extra);
	for (char *tok = strtok(copy, " "); tok && argc < 7;
	     tok = strtok(NULL, " "))
		argv[argc++] = tok;
	argv[argc] = NULL;
	*pid = tu_spawn(argv, &fd);
	if (*pid < 0)
		return -1;
	int rc = -1;
	for (int i = 0; i < 50 && rc < 0; i++) {
		make_one();
		rc = tu_read_line(fd, line, len, 100) < 0 ? -1 : 0;
	}
	close(fd);
	return rc;
}

static void one_allowed(void)
{
	int status;
	rpc(rpc_send, &status);
}

static void allowed_then_denied(void)
{
	int status;
	rpc(rpc_send, &status);
	rpc(rpc_denied, &status);
}

static void test_ctl_sniff(void)
{
	char line[8192];
	pid_t pid;

	CU_ASSERT_FATAL(sniff_line("--json sniff --tool sig", one_allowed,
				   line, sizeof(line), &pid) == 0);
	json_object *o = json_tokener_parse(line);
	CU_ASSERT(str_at(o, "tool") && strcmp(str_at(o, "tool"), "sig") == 0);
	CU_ASSERT(str_at(o, "id") != NULL);
	json_object_put(o);
	CU_ASSERT_EQUAL(tu_stop(pid), 0); /* SIGTERM ends sniff with 0 */

	CU_ASSERT_FATAL(sniff_line("sniff --denied", allowed_then_denied,
				   line, sizeof(line), &pid) == 0);
	CU_ASSERT(strstr(line, "DENY") != NULL);
	CU_ASSERT(strstr(line, "sig") != NULL);
	CU_ASSERT(strstr(line, "ALLOW") == NULL);
	CU_ASSERT_EQUAL(tu_stop(pid), 0);
}

static void control_bytes_in_target(void)
{
	int status;

	tu_http(gw_port, "GET", "/tools/web/echo?q=\x9b[31m\xc2\x9b[32m\xe9",
		NULL, NULL, &status, NULL, NULL);
}

/* A client's target holds terminal controls: sniff shows them escaped,
 * in either form. */
static void test_ctl_sniff_shows_no_controls(void)
{
	static const char *const modes[] = { "sniff --tool web",
					     "--json sniff --tool web" };
	char line[8192];
	pid_t pid;

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		CU_ASSERT_FATAL(sniff_line(modes[i], control_bytes_in_target,
					   line, sizeof(line), &pid) == 0);
		CU_ASSERT(strstr(line, "/echo?q=") != NULL);
		CU_ASSERT(no_terminal_controls(line, strlen(line)));
		if (!no_terminal_controls(line, strlen(line)))
			fprintf(stderr, "%s: %s\n", modes[i], line);
		CU_ASSERT_EQUAL(tu_stop(pid), 0);
	}
}

static void test_ctl_check_config_and_errors(void)
{
	char args[900], out[8192], bad[700];

	snprintf(args, sizeof(args), "check-config '%s'", conf_path);
	CU_ASSERT_EQUAL(ctl(args, out, sizeof(out)), 0);
	CU_ASSERT(strstr(out, "test is successful") != NULL);
	/* the shipped example is valid */
	snprintf(args, sizeof(args), "check-config '%s/etc/carapaced.conf.example'",
		 getenv("SRCDIR") ? getenv("SRCDIR") : ".");
	CU_ASSERT_EQUAL(ctl(args, out, sizeof(out)), 0);
	snprintf(bad, sizeof(bad), "%s/bad.conf", workdir);
	tu_write_file(bad, "{\"tools\":{\"x\":{\"type\":\"http\"}}}");
	snprintf(args, sizeof(args), "check-config '%s'", bad);
	CU_ASSERT_EQUAL(ctl(args, out, sizeof(out)), 1);
	CU_ASSERT(strstr(out, "tools.x.upstream") != NULL);

	/* a daemon that is not there */
	int port = tu_free_port();
	static const char *const cmds[] = { "status", "streams", "reload",
					    "sniff" };
	for (size_t i = 0; i < 4; i++) {
		snprintf(args, sizeof(args), "--admin http://127.0.0.1:%d %s",
			 port, cmds[i]);
		CU_ASSERT_EQUAL(ctl(args, out, sizeof(out)), 1);
		CU_ASSERT(strstr(out, "cannot reach") != NULL);
	}
	CU_ASSERT_EQUAL(ctl("--admin http://127.0.0.1:1 frobnicate", out,
			    sizeof(out)), 2);
	/* a config without admin_listen */
	tu_write_file(bad, "{\"listen\":[\"127.0.0.1:1\"],\"tools\":{\"x\":"
			   "{\"type\":\"http\",\"upstream\":\"http://h\"}}}");
	snprintf(args, sizeof(args), "-c '%s' status", bad);
	CU_ASSERT_EQUAL(ctl(args, out, sizeof(out)), 1);
	CU_ASSERT(strstr(out, "admin_listen") != NULL);
}

/* ---- the admin token ---- */

/* carapacectl without CARAPACE_ADMIN_TOKEN (suite init sets it), with
 * args after the shell words pre (env settings): its exit status. */
static int ctl_env(const char *pre, const char *args, char *out, size_t len)
{
	char cmd[3000];

	snprintf(cmd, sizeof(cmd), "env -u CARAPACE_ADMIN_TOKEN %s '%s' %s",
		 pre, ctl_path, args);
	return tu_run(cmd, out, len);
}

static void test_ctl_token(void)
{
	char args[2000], out[8192], file[700];

	snprintf(file, sizeof(file), "%s/admin.token", workdir);
	/* the file's first line, its newline dropped */
	CU_ASSERT_FATAL(tu_write_file(file, TU_ADMIN_TOKEN "\nnext\n") == 0);
	CU_ASSERT_FATAL(chmod(file, 0600) == 0);
	snprintf(args, sizeof(args), "--token-file '%s' -c '%s' --json status",
		 file, conf_path);
	CU_ASSERT_EQUAL(ctl_env("", args, out, sizeof(out)), 0);
	CU_ASSERT(strstr(out, "\"pid\"") != NULL);
	/* the environment */
	snprintf(args, sizeof(args), "-c '%s' reload", conf_path);
	CU_ASSERT_EQUAL(ctl_env("CARAPACE_ADMIN_TOKEN=" TU_ADMIN_TOKEN, args,
				out, sizeof(out)), 0);
	/* none, or a wrong one: refused, and told where a token comes from */
	CU_ASSERT_EQUAL(ctl_env("", args, out, sizeof(out)), 1);
	CU_ASSERT(strstr(out, "HTTP 401") && strstr(out, "--token-file") &&
		  strstr(out, "CARAPACE_ADMIN_TOKEN"));
	CU_ASSERT_EQUAL(ctl_env("CARAPACE_ADMIN_TOKEN=bad-token-4711", args,
				out, sizeof(out)), 1);
	CU_ASSERT(strstr(out, "admin token is wrong") != NULL);
	CU_ASSERT(strstr(out, "4711") == NULL); /* never shown */
	/* --token-file wins over the environment */
	snprintf(args, sizeof(args), "--token-file '%s' -c '%s' status", file,
		 conf_path);
	CU_ASSERT_EQUAL(ctl_env("CARAPACE_ADMIN_TOKEN=wrong", args, out,
				sizeof(out)), 0);
	/* a file others can read is no secret: refused, nothing sent */
	CU_ASSERT_FATAL(chmod(file, 0644) == 0);
	CU_ASSERT_EQUAL(ctl_env("", args, out, sizeof(out)), 1);
	CU_ASSERT(strstr(out, "chmod 600") != NULL);
	CU_ASSERT_FATAL(chmod(file, 0640) == 0);
	CU_ASSERT_EQUAL(ctl_env("", args, out, sizeof(out)), 0);
	CU_ASSERT(strstr(out, "readable by its group") != NULL);
	/* a token with a blank in it cannot be sent */
	CU_ASSERT_EQUAL(ctl_env("CARAPACE_ADMIN_TOKEN='a b'", "status", out,
				sizeof(out)), 1);
	CU_ASSERT(strstr(out, "visible ASCII") != NULL);
	/* a file that cannot be opened: said, and no token read from it
	 * (the path scan-build followed in ctl_admin.c) */
	snprintf(args, sizeof(args), "--token-file '%s.none' -c '%s' status",
		 file, conf_path);
	CU_ASSERT_EQUAL(ctl_env("", args, out, sizeof(out)), 1);
	CU_ASSERT(strstr(out, ".none: No such file") != NULL);
}

static void test_ctl_hash_token(void)
{
	char cmd[1200], want[256], got[256];

	/* what sha256sum says of the token's bytes, without a newline */
	CU_ASSERT_EQUAL(tu_popen_read("printf %s '" TU_ADMIN_TOKEN "' | "
				      "sha256sum | cut -d' ' -f1",
				      want, sizeof(want)), 0);
	CU_ASSERT_STRING_EQUAL(want, TU_ADMIN_TOKEN_SHA256 "\n");
	/* one trailing newline is not the token's */
	snprintf(cmd, sizeof(cmd), "echo '" TU_ADMIN_TOKEN "' | '%s' hash-token",
		 ctl_path);
	CU_ASSERT_EQUAL(tu_popen_read(cmd, got, sizeof(got)), 0);
	CU_ASSERT_STRING_EQUAL(got, want);
	snprintf(cmd, sizeof(cmd), "printf %%s '" TU_ADMIN_TOKEN "' | '%s' "
		 "hash-token", ctl_path);
	CU_ASSERT_EQUAL(tu_popen_read(cmd, got, sizeof(got)), 0);
	CU_ASSERT_STRING_EQUAL(got, want);
	/* nothing is no token */
	snprintf(cmd, sizeof(cmd), "'%s' hash-token </dev/null", ctl_path);
	CU_ASSERT_EQUAL(tu_run(cmd, got, sizeof(got)), 1);
	CU_ASSERT(strstr(got, "empty") != NULL);
}

/* new-client NAME: a token, its hash in an entry a config takes */
static void test_ctl_new_client(void)
{
	char cmd[1200], out[1024], out2[1024], hash[256], conf[700];
	char text[2048];

	snprintf(cmd, sizeof(cmd), "'%s' new-client vm-7 2>/dev/null",
		 ctl_path);
	CU_ASSERT_FATAL(tu_popen_read(cmd, out, sizeof(out)) == 0);
	CU_ASSERT_FATAL(tu_popen_read(cmd, out2, sizeof(out2)) == 0);
	CU_ASSERT(strcmp(out, out2) != 0); /* fresh each time */
	char *nl = strchr(out, '\n');
	CU_ASSERT_FATAL(strncmp(out, "token: ", 7) == 0 && nl != NULL);
	*nl = '\0';
	const char *token = out + 7, *entry = nl + 1;
	CU_ASSERT_EQUAL(strlen(token), 43);
	CU_ASSERT(strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
			 "qrstuvwxyz0123456789-_") == 43);
	snprintf(cmd, sizeof(cmd), "printf %%s '%s' | sha256sum | cut -c1-64",
		 token);
	CU_ASSERT_FATAL(tu_popen_read(cmd, hash, sizeof(hash)) == 0);
	hash[64] = '\0';
	CU_ASSERT(strstr(entry, hash) != NULL);
	CU_ASSERT(strncmp(entry, "\"vm-7\": {", 9) == 0);
	/* the entry as printed, in a config carapaced -t accepts */
	snprintf(conf, sizeof(conf), "%s/client.conf", workdir);
	entry = nl + 1;
	snprintf(text, sizeof(text),
		 "{ \"listen\": [\"127.0.0.1:1\"],\n  \"clients\": { %.*s },\n"
		 "  \"tools\": { \"x\": { \"type\": \"http\", \"upstream\": "
		 "\"http://h\" } } }\n", (int)strcspn(entry, "\n"), entry);
	CU_ASSERT_FATAL(tu_write_file(conf, text) == 0);
	snprintf(cmd, sizeof(cmd), "'%s' -t -c '%s'", carapaced_path, conf);
	CU_ASSERT_EQUAL(tu_run(cmd, out2, sizeof(out2)), 0);
	/* the operator is told to fill in tools */
	snprintf(cmd, sizeof(cmd), "'%s' new-client vm-7", ctl_path);
	CU_ASSERT_EQUAL(tu_run(cmd, out2, sizeof(out2)), 0);
	CU_ASSERT(strstr(out2, "fill in \"tools\"") != NULL);
	/* --json: the same in one object */
	snprintf(cmd, sizeof(cmd), "'%s' --json new-client vm-8", ctl_path);
	CU_ASSERT_EQUAL(tu_popen_read(cmd, out2, sizeof(out2)), 0);
	json_object *o = json_tokener_parse(out2), *cl = NULL;
	CU_ASSERT(str_at(o, "token") && strlen(str_at(o, "token")) == 43 &&
		  json_object_object_get_ex(o, "client", &cl) &&
		  str_at(cl, "token_sha256") &&
		  strlen(str_at(cl, "token_sha256")) == 64);
	json_object_put(o);
	/* a name the config would refuse */
	snprintf(cmd, sizeof(cmd), "'%s' new-client 'a b'", ctl_path);
	CU_ASSERT_EQUAL(tu_run(cmd, out2, sizeof(out2)), 2);
}

/* Last: the daemon stops with a stream open; its end is on record. */

int main(void)
{
	static pid_t *const children[] = { &gw_pid, &gw2_pid, &up_pid };

	tu_watchdog("test_ctl", 600, children, 3);
	if (mkdtemp(workdir) == NULL ||
	    CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("ctl", auditd_suite_init,
				   auditd_suite_clean);
	CU_add_test(s, "carapacectl status, streams",
		    test_ctl_status_and_streams);
	CU_add_test(s, "carapacectl sniff", test_ctl_sniff);
	CU_add_test(s, "carapacectl sniff shows no controls",
		    test_ctl_sniff_shows_no_controls);
	CU_add_test(s, "carapacectl check-config, errors",
		    test_ctl_check_config_and_errors);
	CU_add_test(s, "carapacectl admin token", test_ctl_token);
	CU_add_test(s, "carapacectl hash-token", test_ctl_hash_token);
	CU_add_test(s, "carapacectl new-client", test_ctl_new_client);
	int rc = cu_run();
	tu_remove_tree(workdir);
	return rc;
}
