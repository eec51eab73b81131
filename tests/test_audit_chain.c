/* Integration tests of the audit trail's hash chain and signed
 * checkpoints: the real carapaced with audit_log and audit_signing_key (a
 * key made by the real `carapacectl audit-keygen`) in front of the test
 * upstream; requests, a checkpoint after 1,000 lines, two rotations
 * (rename and SIGUSR1, as the shipped logrotate snippet does), a stop
 * whose last record is a checkpoint, and `carapacectl audit-verify
 * --pubkey` over the three files passing; a restart that goes on from the
 * last line, one after SIGKILL that signs the unsigned end first; then
 * copies tampered with (an edit, a deletion, a swap, a middle cut out, a
 * forged checkpoint, a file left out) each failing with exit 1 and the
 * right file and line; a key that cannot be read refuses the start, -t
 * and a reload; a live tail gets the bytes of the file. Paths from the
 * environment (make check sets them): CARAPACED, UPSTREAM, CARAPACECTL. */
#include "config.h"

#include <CUnit/Basic.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "auditchain.h"
#include "cu_run.h"
#include "testutil.h"

static char dir[] = "/tmp/carapaced-chain-XXXXXX";
static char conf[300], log_path[300], key[300], errlog[300];
static const char *carapaced, *ctl;
static pid_t up_pid = -1, gw_pid = -1;
static int up_port, gw_port, admin_port;

/* ---- files ---- */

static void in_dir(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0;

	if (f == NULL)
		return NULL;
	ssize_t n = getdelim(&buf, &cap, '\0', f);
	fclose(f);
	if (n < 0) {
		free(buf);
		return strdup("");
	}
	return buf;
}

static size_t count_lines(const char *path)
{
	char *text = slurp(path);
	size_t n = 0;

	for (const char *p = text; p && *p; p++)
		n += *p == '\n';
	free(text);
	return n;
}

/* Line no (1-based) of path, without its newline (caller frees). */
static char *line_of(const char *path, size_t no)
{
	char *text = slurp(path), *p = text, *out = NULL;

	for (size_t i = 1; p && *p; i++) {
		char *nl = strchr(p, '\n');
		if (nl == NULL)
			break;
		if (i == no) {
			out = strndup(p, (size_t)(nl - p));
			break;
		}
		p = nl + 1;
	}
	free(text);
	return out;
}

/* `carapacectl ARGS` run in dir, its output in out: its exit status. */
static int ctl_run(const char *args, char *out, size_t len)
{
	char cmd[1500];

	snprintf(cmd, sizeof(cmd), "cd %s && '%s' %s 2>&1", dir, ctl, args);
	FILE *p = popen(cmd, "r");
	if (p == NULL)
		return -1;
	size_t n = fread(out, 1, len - 1, p);
	out[n] = '\0';
	int st = pclose(p);
	printf("\n$ carapacectl %s\n%s", args, out);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- the daemon ---- */

static int write_config(const char *signing_key)
{
	char text[2048];

	snprintf(text, sizeof(text),
		 "{ \"listen\": [\"127.0.0.1:%d\"],\n"
		 "  \"admin_listen\": \"127.0.0.1:%d\",\n"
		 "  \"admin_token_sha256\": \"" TU_ADMIN_TOKEN_SHA256 "\",\n"
		 "  \"audit_log\": \"%s\",\n"
		 "  \"audit_signing_key\": \"%s\",\n"
		 "  \"tools\": {\n"
		 "    \"web\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\" } } }\n",
		 gw_port, admin_port, log_path, signing_key, up_port);
	return tu_write_file(conf, text);
}

static pid_t start(void)
{
	return tu_start_daemon(&(struct tu_daemon){
		.conf = conf, .ports = { gw_port, admin_port },
		.errlog = errlog });
}

static int request(void)
{
	int status;

	return tu_http(gw_port, "GET", "/tools/web/echo", NULL, NULL, &status,
		       NULL, NULL) == 0 && status == 200 ? 0 : -1;
}

static void *requests(void *arg)
{
	int n = *(int *)arg, failed = 0;

	for (int i = 0; i < n; i++)
		failed += request() < 0;
	*(int *)arg = failed;
	return NULL;
}

/* n requests from 4 threads: 0 when each was answered 200. */
static int many_requests(int n)
{
	pthread_t t[4];
	int counts[4], failed = 0;

	for (int i = 0; i < 4; i++) {
		counts[i] = n / 4 + (i < n % 4);
		pthread_create(&t[i], NULL, requests, &counts[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		failed += counts[i];
	}
	return failed == 0 ? 0 : -1;
}

struct has_lines {
	const char *path;
	size_t want;
};

static int has_lines(void *arg)
{
	struct has_lines *h = arg;

	return count_lines(h->path) >= h->want;
}

/* What logrotate does: each older file one up, the log renamed to .1,
 * then its postrotate SIGUSR1; records go on to the renamed file until
 * the reopen, so requests are made until the new file has one. */
static int rotate(void)
{
	char p1[320], p2[320];

	snprintf(p1, sizeof(p1), "%s.1", log_path);
	snprintf(p2, sizeof(p2), "%s.2", log_path);
	if ((access(p1, F_OK) == 0 && rename(p1, p2) < 0) ||
	    rename(log_path, p1) < 0 || kill(gw_pid, SIGUSR1) < 0)
		return -1;
	uint64_t deadline = tu_now_ns() + 10000000000ull;
	while (tu_now_ns() < deadline) {
		if (request() < 0)
			return -1;
		if (count_lines(log_path) > 0)
			return 0;
		tu_sleep_ms(20);
	}
	return -1;
}

/* ---- tests ---- */

#define PUB "--pubkey audit.key.pub "
#define ALL "audit.log.2 audit.log.1 audit.log"

static void test_two_rotations_verify(void)
{
	char out[8192];

	/* 1,010 records: a checkpoint follows the 1,000th line at the
	 * latest (earlier when a minute passed first) */
	CU_ASSERT_EQUAL_FATAL(many_requests(1010), 0);
	struct has_lines h = { log_path, 1011 };
	CU_ASSERT_EQUAL_FATAL(tu_wait_until(has_lines, &h, 10000), 0);
	int seen = 0;
	for (size_t i = 1; i <= 1001 && !seen; i++) {
		char *line = line_of(log_path, i);
		seen = line && auditchain_is_checkpoint(line, strlen(line));
		free(line);
	}
	CU_ASSERT(seen);
	CU_ASSERT_EQUAL_FATAL(rotate(), 0);
	CU_ASSERT_EQUAL(many_requests(20), 0);
	CU_ASSERT_EQUAL_FATAL(rotate(), 0);
	CU_ASSERT_EQUAL(many_requests(20), 0);
	CU_ASSERT_EQUAL(tu_stop_daemon(gw_pid), 0);
	gw_pid = -1;
	/* the last record of a clean stop is a checkpoint */
	size_t n = count_lines(log_path);
	char *last = line_of(log_path, n);
	CU_ASSERT_FATAL(last != NULL);
	CU_ASSERT(last && auditchain_is_checkpoint(last, strlen(last)));
	free(last);
	CU_ASSERT_EQUAL(ctl_run("audit-verify " PUB ALL, out, sizeof(out)), 0);
	CU_ASSERT(strstr(out, "audit-verify: OK") != NULL);
	CU_ASSERT(strstr(out, "3 file(s), seq 1 to") != NULL);
	CU_ASSERT(strstr(out, "not covered") == NULL);
	CU_ASSERT_EQUAL(ctl_run("audit-verify " ALL, out, sizeof(out)), 0);
	CU_ASSERT(strstr(out, "checkpoints not verified") != NULL);
}

/* The seq of path's line no, or 0. */
static uint64_t seq_of(const char *path, size_t no)
{
	unsigned char prev[AUDITCHAIN_HASH_LEN];
	uint64_t seq = 0;
	char *line = line_of(path, no);

	if (line == NULL || auditchain_parse(line, strlen(line), &seq,
					     prev) < 0)
		seq = 0;
	free(line);
	return seq;
}

static void test_restart_goes_on(void)
{
	char out[8192];
	size_t n = count_lines(log_path);
	uint64_t last = seq_of(log_path, n);

	CU_ASSERT_FATAL(last > 1000);
	gw_pid = start();
	CU_ASSERT_FATAL(gw_pid > 0);
	CU_ASSERT_EQUAL(request(), 0);
	struct has_lines h = { log_path, n + 1 };
	CU_ASSERT_EQUAL_FATAL(tu_wait_until(has_lines, &h, 10000), 0);
	/* the last line was a checkpoint: the next is the request's */
	CU_ASSERT_EQUAL(seq_of(log_path, n + 1), last + 1);
	/* killed: no checkpoint at its end; the next start signs it */
	CU_ASSERT_EQUAL(kill(gw_pid, SIGKILL), 0);
	CU_ASSERT_EQUAL(tu_stop(gw_pid), 137);
	gw_pid = start();
	CU_ASSERT_FATAL(gw_pid > 0);
	h.want = n + 2;
	CU_ASSERT_EQUAL_FATAL(tu_wait_until(has_lines, &h, 10000), 0);
	char *line = line_of(log_path, n + 2);
	CU_ASSERT(line && auditchain_is_checkpoint(line, strlen(line)));
	free(line);
	CU_ASSERT_EQUAL(request(), 0);
	CU_ASSERT_EQUAL(tu_stop_daemon(gw_pid), 0);
	gw_pid = -1;
	CU_ASSERT_EQUAL(ctl_run("audit-verify " PUB ALL, out, sizeof(out)), 0);
	CU_ASSERT(strstr(out, "audit-verify: OK") != NULL);
}

/* The line change() works on: the first from 500 on with 12 records
 * (no checkpoint) from it; 0-based. A line's seq is its number in t.2. */
static size_t picked;

static void pick(char **l, size_t n)
{
	for (picked = 499; picked + 12 < n; picked++) {
		size_t k = 0;
		while (k < 12 && !auditchain_is_checkpoint(l[picked + k],
							  strlen(l[picked + k])))
			k++;
		if (k == 12)
			return;
	}
	CU_FAIL("no 12 records in a row");
}

/* A copy of the three files, t.2 t.1 t.0, with change() made to the
 * lines of one (which: 2, 1 or 0; the copy of audit.log is t.0). */
static void copy_files(void (*change)(char **lines, size_t n), int which)
{
	static const char *const from[] = { "audit.log", "audit.log.1",
					     "audit.log.2" };
	char src[320], dst[320];

	for (int i = 0; i < 3; i++) {
		in_dir(src, sizeof(src), from[i]);
		snprintf(dst, sizeof(dst), "%s/t.%d", dir, i);
		size_t n = count_lines(src);
		char **lines = calloc(n + 1, sizeof(*lines));
		for (size_t k = 0; k < n; k++)
			lines[k] = line_of(src, k + 1);
		if (i == which) {
			pick(lines, n);
			change(lines, n);
		}
		FILE *f = fopen(dst, "w");
		for (size_t k = 0; f && k < n; k++)
			if (lines[k] != NULL)
				fprintf(f, "%s\n", lines[k]);
		if (f != NULL)
			fclose(f);
		for (size_t k = 0; k < n; k++)
			free(lines[k]);
		free(lines);
	}
}

/* The copies made and verified: exit 1 expected; the output into out. */
static void tampered(void (*change)(char **lines, size_t n), int which,
		     char *out, size_t len)
{
	copy_files(change, which);
	CU_ASSERT_EQUAL(ctl_run("audit-verify " PUB "t.2 t.1 t.0", out, len),
			1);
}

/* a request's record: its status */
static void edit(char **l, size_t n)
{
	(void)n;
	char *p = strstr(l[picked], "\"status\":200");
	CU_ASSERT_FATAL(p != NULL);
	if (p != NULL) /* for the analyser: CU_ASSERT_FATAL returns not */
		p[9] = '4'; /* 200 -> 400 */
}

static void delete(char **l, size_t n)
{
	(void)n;
	free(l[picked]);
	l[picked] = NULL;
}

static void swap(char **l, size_t n)
{
	(void)n;
	char *t = l[picked];
	l[picked] = l[picked + 1];
	l[picked + 1] = t;
}

/* ten lines gone, the bytes with them: the picked one ends as the tenth
 * after it did */
static void cut_middle(char **l, size_t n)
{
	char *joined = NULL, *last = l[picked + 10];

	(void)n;
	l[picked][strlen(l[picked]) - 20] = '\0';
	CU_ASSERT_FATAL(asprintf(&joined, "%s%s", l[picked],
				 last + strlen(last) - 20) > 0);
	free(l[picked]);
	l[picked] = joined;
	for (size_t i = picked + 1; i <= picked + 10; i++) {
		free(l[i]);
		l[i] = NULL;
	}
}

/* the first checkpoint's signature */
static void forge(char **l, size_t n)
{
	for (picked = 0; picked < n; picked++)
		if (l[picked] != NULL &&
		    auditchain_is_checkpoint(l[picked], strlen(l[picked])))
			break;
	CU_ASSERT_FATAL(picked < n);
	char *sig = picked < n ? strstr(l[picked], "\"sig\":\"") : NULL;
	CU_ASSERT_FATAL(sig != NULL);
	if (sig != NULL)
		sig[10] = sig[10] == '0' ? '1' : '0';
}

static void test_tampered_edit(void)
{
	char out[8192], want[200];

	tampered(edit, 2, out, sizeof(out));
	snprintf(want, sizeof(want), "t.2:%zu: changed", picked + 1);
	CU_ASSERT(strstr(out, want) != NULL);
}

static void test_tampered_delete(void)
{
	char out[8192], want[200];

	tampered(delete, 2, out, sizeof(out));
	snprintf(want, sizeof(want), "t.2:%zu: seq %zu where %zu was due",
		 picked + 1, picked + 2, picked + 1);
	CU_ASSERT(strstr(out, want) != NULL);
}

static void test_tampered_swap(void)
{
	char out[8192], want[200];

	tampered(swap, 2, out, sizeof(out));
	snprintf(want, sizeof(want), "t.2:%zu: seq %zu where %zu was due",
		 picked + 1, picked + 2, picked + 1);
	CU_ASSERT(strstr(out, want) != NULL);
}

static void test_tampered_cut_middle(void)
{
	char out[8192], want[200];

	tampered(cut_middle, 2, out, sizeof(out));
	snprintf(want, sizeof(want), "t.2:%zu: seq %zu where %zu was due",
		 picked + 2, picked + 12, picked + 2);
	CU_ASSERT(strstr(out, want) != NULL);
}

static void test_tampered_forged_checkpoint(void)
{
	char out[8192], want[200];

	tampered(forge, 2, out, sizeof(out));
	snprintf(want, sizeof(want), "t.2:%zu: a checkpoint whose signature "
		 "does not verify", picked + 1);
	CU_ASSERT(strstr(out, want) != NULL);
}

static void test_missing_file(void)
{
	char out[8192];

	CU_ASSERT_EQUAL(ctl_run("audit-verify " PUB "audit.log.2 audit.log",
				out, sizeof(out)), 1);
	CU_ASSERT(strstr(out, "audit.log:1: seq ") != NULL);
	CU_ASSERT(strstr(out, "missing") != NULL);
}

static int reload_refused(void *arg)
{
	char *err = slurp(errlog);
	int yes = err && strstr(err, "reload refused") &&
		  strstr(err, "audit_signing_key");

	(void)arg;
	free(err);
	return yes;
}

/* A key that cannot be read: -t and a start refuse it, a reload is
 * refused and the key in force signs on. */
static void test_bad_key_refused(void)
{
	char missing[320], cmd[1200], out[8192];

	in_dir(missing, sizeof(missing), "no.key");
	CU_ASSERT_EQUAL_FATAL(write_config(missing), 0);
	snprintf(cmd, sizeof(cmd), "'%s' -t -c '%s' >/dev/null 2>&1",
		 carapaced, conf);
	int st = system(cmd);
	CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 1);
	snprintf(cmd, sizeof(cmd), "timeout 20 '%s' -f -c '%s' 2>&1",
		 carapaced, conf);
	FILE *p = popen(cmd, "r");
	CU_ASSERT_FATAL(p != NULL);
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	st = pclose(p);
	CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 1);
	CU_ASSERT(strstr(out, "audit_signing_key") != NULL);
	/* a running daemon: the reload with the bad key is refused */
	CU_ASSERT_EQUAL_FATAL(write_config(key), 0);
	gw_pid = start();
	CU_ASSERT_FATAL(gw_pid > 0);
	CU_ASSERT_EQUAL_FATAL(write_config(missing), 0);
	CU_ASSERT_EQUAL(kill(gw_pid, SIGHUP), 0);
	CU_ASSERT_EQUAL(tu_wait_until(reload_refused, NULL, 10000), 0);
	CU_ASSERT_EQUAL(request(), 0);
	CU_ASSERT_EQUAL(tu_stop_daemon(gw_pid), 0);
	gw_pid = -1;
	CU_ASSERT_EQUAL(ctl_run("audit-verify " PUB ALL, out, sizeof(out)), 0);
	CU_ASSERT(strstr(out, "not covered") == NULL);
}

/* GET /v1/audit gets each record as the file has it, seq and prev and
 * all. */
static void test_live_tail_same_bytes(void)
{
	struct tu_resp r = { 0 };
	char data[65536];

	CU_ASSERT_EQUAL_FATAL(write_config(key), 0);
	gw_pid = start();
	CU_ASSERT_FATAL(gw_pid > 0);
	size_t n = count_lines(log_path);
	int fd = tu_connect(admin_port);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(tu_send_request(fd, "GET", "/v1/audit",
				  TU_ADMIN_AUTH "Accept: text/event-stream\r\n",
				  NULL, 0) == 0);
	CU_ASSERT_FATAL(tu_read_head(&r, fd, 10000) == 0);
	CU_ASSERT_EQUAL(r.status, 200);
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(request(), 0);
	struct has_lines h = { log_path, n + 3 };
	CU_ASSERT_EQUAL(tu_wait_until(has_lines, &h, 10000), 0);
	for (size_t i = 1; i <= 3; i++) {
		char *line = line_of(log_path, n + i);
		CU_ASSERT(tu_sse_next_event(&r, data, sizeof(data), 10000) ==
				  0 &&
			  line != NULL && strcmp(data, line) == 0);
		free(line);
	}
	tu_resp_free(&r);
	close(fd);
	CU_ASSERT_EQUAL(tu_stop_daemon(gw_pid), 0);
	gw_pid = -1;
}

static int suite_init(void)
{
	char out[1024];
	const char *up = getenv("UPSTREAM");

	carapaced = getenv("CARAPACED");
	ctl = getenv("CARAPACECTL");
	if (up == NULL || carapaced == NULL || ctl == NULL ||
	    mkdtemp(dir) == NULL)
		return -1;
	tu_prepare_process();
	in_dir(conf, sizeof(conf), "carapaced.conf");
	in_dir(log_path, sizeof(log_path), "audit.log");
	in_dir(key, sizeof(key), "audit.key");
	in_dir(errlog, sizeof(errlog), "carapaced.err");
	if (ctl_run("audit-keygen audit.key", out, sizeof(out)) != 0 ||
	    strncmp(out, "carapace-audit-public-key ", 26) != 0)
		return -1;
	up_pid = tu_spawn_upstream(up, &up_port);
	gw_port = tu_free_port();
	admin_port = tu_free_port();
	if (up_pid < 0 || write_config(key) < 0)
		return -1;
	gw_pid = start();
	return gw_pid > 0 ? 0 : -1;
}

static int suite_clean(void)
{
	if (gw_pid > 0)
		tu_stop(gw_pid);
	if (up_pid > 0)
		tu_stop(up_pid);
	return tu_remove_tree(dir);
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("audit chain", suite_init, suite_clean);
	CU_add_test(s, "1,010 requests, two rotations, a stop: verify passes",
		    test_two_rotations_verify);
	CU_add_test(s, "a restart goes on from the last line; after SIGKILL "
		    "a checkpoint first", test_restart_goes_on);
	CU_add_test(s, "tampered: an edited line", test_tampered_edit);
	CU_add_test(s, "tampered: a deleted line", test_tampered_delete);
	CU_add_test(s, "tampered: two lines swapped", test_tampered_swap);
	CU_add_test(s, "tampered: a middle cut out", test_tampered_cut_middle);
	CU_add_test(s, "tampered: a forged checkpoint",
		    test_tampered_forged_checkpoint);
	CU_add_test(s, "a file left out", test_missing_file);
	CU_add_test(s, "a key that cannot be read: start, -t, reload refused",
		    test_bad_key_refused);
	CU_add_test(s, "a live tail gets the file's bytes",
		    test_live_tail_same_bytes);
	return cu_run();
}
