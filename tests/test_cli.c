/* CLI tools end to end: tests/clitool run by the real carapaced (argv
 * rules, environment, cwd, output, timeouts, max_concurrent, detached and
 * escaping processes, clients that leave or never read). Paths come from
 * the environment (make check sets them): CARAPACED, CLITOOL. The shim
 * through the daemon is test_shim_e2e. */
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

#include "dbuf.h"
#include "testutil.h"
#include "text.h"
#include "cu_run.h"
#include "tu_json.h"
#include "tu_assert.h"


#define MS (1000000ull)

static char workdir[] = "/tmp/carapaced-cli-XXXXXX";

/* ==== CLI tools: tests/clitool run by the real daemon ==== */

static pid_t cli_pid = -1;
static int cli_port, cli_port2;
static char cli_conf[600], jail[600];

/* The cli suite's configuration, with one more allow pattern (the
 * reload tests' way to tell the new configuration is in force). */
static int write_cli_conf(const char *tool, const char *more_allow)
{
	char text[4096], ct[2048];

	if (tu_cli_ct_tool(ct, sizeof(ct), tool, jail, more_allow) < 0)
		return -1;
	snprintf(text, sizeof(text),
		 "{ \"listen\": [\"127.0.0.1:%d\", \"127.0.0.1:%d\"],\n"
		 "  \"run_tools_as_root\": true,\n"
		 "  \"tools\": { %s,\n"
		 "    \"ct3\": { \"type\": \"cli\", \"binary\": \"%s\",\n"
		 "    \"argv_allow_patterns\": [\"flood *\"],\n"
		 "    \"timeout_secs\": 3, \"max_output_bytes\": 1073741824,\n"
		 "    \"max_concurrent\": 1 },\n"
		 "    \"ct4\": { \"type\": \"cli\", \"binary\": \"%s\",\n"
		 "    \"argv_allow_patterns\": [\"sleep *\", \"hop *\"%s%s%s],\n"
		 "    \"timeout_secs\": 30, \"max_concurrent\": 2 } } }\n",
		 cli_port, cli_port2, ct, tool, tool, more_allow ? ", \"" : "",
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
	cli_pid = rc < 0 ? -1 : tu_start_daemon(&(struct tu_daemon){
		.conf = cli_conf, .ports = { cli_port, cli_port2 } });
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

/* One request on fd, its answer read whole into *r (the caller frees
 * it): the body (caller frees), or NULL. */
static char *exchange(int fd, const char *method, const char *body,
		      struct tu_resp *r)
{
	char buf[4096];
	struct dbuf all = DBUF_INIT(1 << 20);
	ssize_t n;

	memset(r, 0, sizeof(*r));
	if (tu_send_request(fd, method, "/tools/ct",
			    "Content-Type: application/json\r\n", body,
			    body ? strlen(body) : 0) < 0 ||
	    tu_read_head(r, fd, 10000) < 0)
		return NULL;
	while ((n = tu_read_body(r, buf, sizeof(buf), 10000)) > 0)
		dbuf_add(&all, buf, (size_t)n);
	if (n < 0) {
		dbuf_free(&all);
		return NULL;
	}
	return dbuf_detach(&all, NULL);
}

/* Whether b has the headers of a (all but Date and Content-Length, the
 * same values) and no others. */
static int same_headers(const struct tu_resp *a, const struct tu_resp *b)
{
	if (a->n_headers != b->n_headers)
		return 0;
	for (size_t i = 0; i < a->n_headers; i++) {
		const char *name = a->headers[i].name;
		const char *got = tu_header(b, name);
		if (got == NULL)
			return 0;
		if (strcasecmp(name, "Date") != 0 &&
		    strcasecmp(name, "Content-Length") != 0 &&
		    strcmp(got, a->headers[i].value) != 0)
			return 0;
	}
	return 1;
}

/* The body, argv and cwd are checked on the run's worker, not on the MHD
 * thread, and their refusals go out through the stream: each must be
 * the answer the MHD thread gives (here to a GET: 405), the same headers
 * and error shape, with a length, on a connection that stays open for
 * the next request. */
static void test_cli_refusal_on_worker(void)
{
	static const struct {
		const char *body;
		int status;
	} worker[] = {
		{ "{\"argv\":[1]}", 400 },
		{ "{\"argv\":[\"rm\",\"-rf\",\"/\"]}", 403 },
		{ "{\"argv\":[\"cwd\"],\"cwd\":\"/\"}", 403 },
		{ "{\"argv\":[\"println\",\"hello\"]}", 200 },
	};
	struct tu_resp mhd, r;
	int fd = tu_connect(cli_port);

	CU_ASSERT_FATAL(fd >= 0);
	char *text = exchange(fd, "GET", NULL, &mhd);
	CU_ASSERT_EQUAL_FATAL(mhd.status, 405);
	free(text);
	for (size_t i = 0; i < sizeof(worker) / sizeof(worker[0]); i++) {
		text = exchange(fd, "POST", worker[i].body, &r);
		CU_ASSERT_EQUAL(r.status, worker[i].status);
		CU_ASSERT_EQUAL(r.framing, TU_BODY_LENGTH);
		json_object *o = parse_json(text), *err = NULL;
		if (worker[i].status != 200) {
			CU_ASSERT(same_headers(&mhd, &r));
			CU_ASSERT(json_object_object_get_ex(o, "error", &err));
			CU_ASSERT_EQUAL(json_int_at(err, "code"),
					worker[i].status);
			CU_ASSERT_STRING_EQUAL(json_str_at(err, "tool"), "ct");
		} else {
			CU_ASSERT_STRING_EQUAL(json_str_at(o, "stdout"),
					       "hello\n");
		}
		json_object_put(o);
		free(text);
		tu_resp_free(&r);
	}
	tu_resp_free(&mhd);
	close(fd);
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
	_Atomic int stop;       /* set by the test's thread */
	unsigned long swaps;    /* read once the swapper is joined */
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
#define RACE_DEADLINE_MS 30000

/* The directory checked is the one the tool runs in: while jail/work is
 * swapped with a symlink to /etc, again and again, every run is refused
 * or runs inside the jail. At least RACE_TRIES runs, and more until both
 * outcomes were seen (a loaded machine can starve the swapper), up to
 * RACE_DEADLINE_MS. */
static void test_cli_cwd_race(void)
{
	char work[700], swap[700], extra[800];
	char real[PATH_MAX], want[PATH_MAX + 1];
	struct swapper w = { work, swap, 0, 0 };
	int ran = 0, refused = 0, outside = 0, tries = 0;
	uint64_t deadline = tu_now_ns() + RACE_DEADLINE_MS * 1000000ull;
	pthread_t tid;

	CU_ASSERT_PTR_NOT_NULL_FATAL(realpath(jail, real));
	snprintf(want, sizeof(want), "%s/", real);
	snprintf(work, sizeof(work), "%s/work", jail);
	snprintf(swap, sizeof(swap), "%s/swap", jail);
	CU_ASSERT_FATAL(mkdir(work, 0700) == 0 && symlink("/etc", swap) == 0);
	CU_ASSERT_FATAL(pthread_create(&tid, NULL, swap_loop, &w) == 0);
	snprintf(extra, sizeof(extra), "\"cwd\":\"%s\"", work);
	for (; tries < RACE_TRIES || ((ran == 0 || refused == 0) &&
					     tu_now_ns() < deadline); tries++) {
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
	       tries, w.swaps, ran, refused, outside);
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
struct children {
	pid_t pid;
	int want, n;
};

static int has_children(void *arg)
{
	struct children *c = arg;

	return (c->n = count_children(c->pid)) == c->want;
}

static int wait_children(pid_t pid, int want, int limit_ms)
{
	struct children c = { pid, want, -1 };

	tu_wait_until(has_children, &c, (unsigned)limit_ms);
	return c.n;
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
	CU_ASSERT_EQUAL(wait_children(cli_pid, 1, 15000), 1);
	tu_resp_free(&r);
	close(fd);
	uint64_t gone = tu_now_ns();
	while (count_children(cli_pid) > 0 &&
	       tu_now_ns() - gone < 5000 * MS)
		tu_sleep_ms(20);
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
	/* the head comes before the worker takes the slot: both runs
	 * under way, then the third */
	CU_ASSERT_EQUAL(wait_children(cli_pid, 2, 15000), 2);
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
			tu_sleep_ms(50);
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
		tu_sleep_ms(20);
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
	int kids = wait_children(cli_pid, 2, 15000);
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
		tu_sleep_ms(50);
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
struct run_procs {
	const char *cmd, *arg;
	int n;
};

static int none_left(void *arg)
{
	struct run_procs *r = arg;

	return (r->n = clitool_processes(r->cmd, r->arg)) <= 0;
}

static int wait_none_left(const char *cmd, const char *arg, int limit_ms)
{
	struct run_procs r = { cmd, arg, -1 };

	tu_wait_until(none_left, &r, (unsigned)limit_ms);
	return r.n;
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
	tu_sleep_ms(300); /* the long run is under way first */
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
		tu_sleep_ms(20);
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
		tu_sleep_ms(10);
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
		tu_sleep_ms(50);
	}
	CU_ASSERT_EQUAL(status, 200);
	CU_ASSERT_PTR_NOT_NULL(resp && strstr(resp, "xxxxxxxxxx"));
	free(resp);
	close(fd);
}


int main(void)
{
	static pid_t *const children[] = { &cli_pid };

	tu_watchdog("test_cli", 900, children, 1);
	if (mkdtemp(workdir) == NULL ||
	    CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite t = CU_add_suite("cli", cli_suite_init, cli_suite_clean);
	CU_add_test(t, "allow, deny, bad requests", test_cli_allow_deny);
	CU_add_test(t, "refusals from the worker, as from the MHD thread",
		    test_cli_refusal_on_worker);
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
	int rc = cu_run();
	tu_remove_tree(workdir);
	return rc;
}
