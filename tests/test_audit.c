/* Integration tests of the audit log itself: exact lines under 2,000
 * concurrent requests, redaction, JSON-RPC methods named, no secret ever
 * written, reopen after logrotate's rename, a tool with audit off, every
 * line valid UTF-8 JSON, a log that cannot be written, streams ended on
 * record at shutdown. The real carapaced, test upstream and CLI tool over
 * 127.0.0.1 (auditd.h); paths from the environment (make check sets
 * them): CARAPACED, UPSTREAM, CLITOOL, CARAPACECTL. */
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

/* ---- 2,000 concurrent requests ---- */

#define N_THREADS 8
#define PER_THREAD 250

struct mix {
	int allow, deny, stream, wrong;
};

static void *mixed_requests(void *arg)
{
	struct mix *m = arg;
	int status;

	for (int k = 0; k < PER_THREAD; k++) {
		switch (k % 4) {
		case 0:
		case 1:
			if (rpc(rpc_send, &status) == 0 && status == 200)
				m->allow++;
			else
				m->wrong++;
			break;
		case 2:
			if (rpc(rpc_denied, &status) == 0 && status == 403)
				m->deny++;
			else
				m->wrong++;
			break;
		default:
			if (tu_http(gw_port, "GET", "/tools/sig/sse-exact", NULL,
				    NULL, &status, NULL, NULL) == 0 &&
			    status == 200)
				m->stream++;
			else
				m->wrong++;
		}
	}
	return NULL;
}

/* The fields every record has, right for a burst on tool sig. */
static int record_ok(json_object *o)
{
	const char *event = str_at(o, "event");
	const char *decision = str_at(o, "decision");
	json_object *stream, *client;
	int is_end = event && strcmp(event, "stream_open") != 0;

	return ts_ok(str_at(o, "ts")) && str_at(o, "id") &&
	       strlen(str_at(o, "id")) == 16 && event &&
	       strncmp(str_at(o, "remote") ? str_at(o, "remote") : "",
		       "127.0.0.1:", 10) == 0 &&
	       /* no clients configured: no client's name */
	       json_object_object_get_ex(o, "client", &client) &&
	       client == NULL &&
	       str_at(o, "tool") && strcmp(str_at(o, "tool"), "sig") == 0 &&
	       str_at(o, "kind") && strcmp(str_at(o, "kind"), "http") == 0 &&
	       str_at(o, "http_method") && str_at(o, "path") && decision &&
	       str_at(o, "reason") && int_at(o, "status") >= 200 &&
	       int_at(o, "bytes_in") >= 0 && int_at(o, "bytes_out") >= 0 &&
	       (!is_end || int_at(o, "duration_ms") >= 0) &&
	       json_object_object_get_ex(o, "stream", &stream) &&
	       json_object_is_type(stream, json_type_boolean);
}

struct tally {
	int allow, deny, open, end, bad, unmatched;
};

static void tally_records(json_object *records, size_t from,
			  struct tally *t)
{
	size_t n = json_object_array_length(records);

	for (size_t i = from; i < n; i++) {
		json_object *o = json_object_array_get_idx(records, i);
		const char *ev = str_at(o, "event");
		const char *dec = str_at(o, "decision");
		if (!record_ok(o)) {
			t->bad++;
		} else if (strcmp(ev, "request") == 0) {
			if (strcmp(dec, "allow") == 0 &&
			    int_at(o, "status") == 200)
				t->allow++;
			else if (strcmp(dec, "deny") == 0 &&
				 int_at(o, "status") == 403)
				t->deny++;
			else
				t->bad++;
		} else if (strcmp(ev, "stream_open") == 0) {
			t->open++;
		} else if (strcmp(ev, "stream_end") == 0) {
			t->end++;
			const char *ended = str_at(o, "ended");
			if (!find_record(records, str_at(o, "id"),
					 "stream_open") ||
			    !ended || strcmp(ended, "upstream_closed") != 0 ||
			    int_at(o, "bytes_out") != 320)
				t->unmatched++;
		} else {
			t->bad++;
		}
	}
}

static void test_concurrent_requests_exact_lines(void)
{
	pthread_t th[N_THREADS];
	struct mix m[N_THREADS];
	struct mix sum = { 0, 0, 0, 0 };
	struct tail tail;
	size_t before = count_lines(audit_path);

	CU_ASSERT_FATAL(tail_start(&tail, "") == 0);
	memset(m, 0, sizeof(m));
	for (int i = 0; i < N_THREADS; i++)
		pthread_create(&th[i], NULL, mixed_requests, &m[i]);
	for (int i = 0; i < N_THREADS; i++) {
		pthread_join(th[i], NULL);
		sum.allow += m[i].allow;
		sum.deny += m[i].deny;
		sum.stream += m[i].stream;
		sum.wrong += m[i].wrong;
	}
	CU_ASSERT_EQUAL(sum.wrong, 0);
	CU_ASSERT_EQUAL(sum.allow + sum.deny + sum.stream,
			N_THREADS * PER_THREAD);
	size_t want = (size_t)(sum.allow + sum.deny + 2 * sum.stream);
	CU_ASSERT_EQUAL(wait_lines(audit_path, before + want, 20000),
			before + want);
	tu_sleep_ms(200); /* a line too many would show up by now */
	CU_ASSERT_EQUAL(count_lines(audit_path), before + want);

	json_object *records = read_records(audit_path);
	CU_ASSERT_FATAL(records != NULL);
	struct tally t = { 0, 0, 0, 0, 0, 0 };
	tally_records(records, before, &t);
	CU_ASSERT_EQUAL(t.bad, 0);
	CU_ASSERT_EQUAL(t.unmatched, 0);
	CU_ASSERT_EQUAL(t.allow, sum.allow);
	CU_ASSERT_EQUAL(t.deny, sum.deny);
	CU_ASSERT_EQUAL(t.open, sum.stream);
	CU_ASSERT_EQUAL(t.end, sum.stream);
	json_object_put(records);

	/* the live tail saw every record, or was told what it missed */
	CU_ASSERT_EQUAL(tail_wait(&tail, (int)want, 10000), 0);
	CU_ASSERT_EQUAL(atomic_load(&tail.records) + atomic_load(&tail.dropped),
			(int)want);
	printf("\n    %zu records from %d requests; live tail: %d received, "
	       "%d dropped\n",
	       want, N_THREADS * PER_THREAD, atomic_load(&tail.records),
	       atomic_load(&tail.dropped));
	tail_stop(&tail);
}

/* ---- redaction ---- */


static const char *path_str(json_object *o, const char *a, const char *b,
			    const char *c)
{
	json_object *v = o;
	const char *keys[] = { a, b, c };

	for (size_t i = 0; i < 3 && keys[i]; i++)
		if (!json_object_object_get_ex(v, keys[i], &v))
			return NULL;
	return json_object_get_string(v);
}

static void test_redaction_in_body_and_argv(void)
{
	int status;
	json_object *records = NULL;

	CU_ASSERT_FATAL(rpc(rpc_send, &status) == 0 && status == 200);
	json_object *o = newest_for("/tools/sig/api/v1/rpc", &records);
	CU_ASSERT_FATAL(o != NULL);
	json_object *body, *params;
	CU_ASSERT_FATAL(json_object_object_get_ex(o, "body", &body));
	CU_ASSERT_FATAL(json_object_object_get_ex(body, "params", &params));
	CU_ASSERT_STRING_EQUAL(path_str(params, "recipient", NULL, NULL),
			       "[REDACTED]");
	CU_ASSERT_STRING_EQUAL(path_str(params, "meta", "deep",
					"x_password_y"), "[REDACTED]");
	CU_ASSERT_STRING_EQUAL(path_str(params, "message", NULL, NULL), "hi");
	const char *line = json_object_to_json_string(o);
	CU_ASSERT(strstr(line, "+15550001") == NULL);
	CU_ASSERT(strstr(line, "pw-9") == NULL);
	json_object_put(records);

	char *resp = NULL;
	CU_ASSERT_FATAL(tu_http(gw_port, "POST", "/tools/ct", NULL,
				"{\"argv\":[\"args\",\"--session\",\"S3CR\","
				"\"--session=S4CR\",\"plain\"]}",
				&status, &resp, NULL) == 0);
	CU_ASSERT_EQUAL(status, 200);
	CU_ASSERT(resp && strstr(resp, "S3CR") != NULL); /* the tool saw it */
	free(resp);
	o = newest_for("/tools/ct", &records);
	CU_ASSERT_FATAL(o != NULL);
	json_object *argv;
	CU_ASSERT_FATAL(json_object_object_get_ex(o, "argv", &argv));
	CU_ASSERT_STRING_EQUAL(json_object_to_json_string_ext(
				       argv, JSON_C_TO_STRING_PLAIN),
			       "[\"args\",\"--session\",\"[REDACTED]\","
			       "\"--session=[REDACTED]\",\"plain\"]");
	CU_ASSERT_EQUAL(int_at(o, "exit_code"), 0);
	CU_ASSERT_STRING_EQUAL(str_at(o, "kind"), "cli");
	json_object_put(records);
}

/* The audit record of the next request to sig; caller puts *records. */
static json_object *record_of_rpc(const char *body, int *status,
				  json_object **records)
{
	size_t before = count_lines(audit_path);

	*records = NULL;
	if (rpc(body, status) < 0 ||
	    wait_lines(audit_path, before + 1, 5000) < before + 1)
		return NULL;
	return newest_for("/tools/sig/api/v1/rpc", records);
}

/* Every call of a batch is named, whatever the names' length; a name
 * with a comma is one name. */
static void test_jsonrpc_methods_all_named(void)
{
	static const char call[] =
		"{\"jsonrpc\":\"2.0\",\"method\":\"version\",\"id\":1},";
	size_t cap = 41 * sizeof(call) + sizeof(rpc_send) + 3, len = 0;
	char *body = malloc(cap);
	json_object *records = NULL, *methods = NULL;
	int status = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(body);
	body[len++] = '[';
	for (int i = 0; i < 40; i++) {
		memcpy(body + len, call, sizeof(call) - 1);
		len += sizeof(call) - 1;
	}
	memcpy(body + len, rpc_send, sizeof(rpc_send) - 1);
	len += sizeof(rpc_send) - 1;
	body[len++] = ']';
	body[len] = '\0';
	json_object *o = record_of_rpc(body, &status, &records);
	free(body);
	CU_ASSERT_EQUAL(status, 200);
	CU_ASSERT_FATAL(o != NULL);
	CU_ASSERT_FATAL(json_object_object_get_ex(o, "jsonrpc_methods",
						  &methods));
	CU_ASSERT_FATAL(json_object_is_type(methods, json_type_array));
	CU_ASSERT_EQUAL_FATAL(json_object_array_length(methods), 41);
	for (size_t i = 0; i < 41; i++)
		CU_ASSERT_STRING_EQUAL(json_object_get_string(
					       json_object_array_get_idx(
						       methods, i)),
				       i < 40 ? "version" : "send");
	CU_ASSERT_FALSE(json_object_object_get_ex(
		o, "jsonrpc_methods_truncated", NULL));
	json_object_put(records);

	o = record_of_rpc("{\"jsonrpc\":\"2.0\",\"method\":\"send,version\","
			  "\"id\":2}",
			  &status, &records);
	CU_ASSERT_EQUAL(status, 403);
	CU_ASSERT_FATAL(o != NULL);
	CU_ASSERT_FATAL(json_object_object_get_ex(o, "jsonrpc_methods",
						  &methods));
	CU_ASSERT_STRING_EQUAL(json_object_to_json_string_ext(
				       methods, JSON_C_TO_STRING_PLAIN),
			       "[\"send,version\"]");
	json_object_put(records);

	/* 101 > jsonrpc_max_batch (100): refused, and the record says its
	 * list stops at 100 */
	cap = 101 * sizeof(call) + 2;
	CU_ASSERT_PTR_NOT_NULL_FATAL(body = malloc(cap));
	len = 0;
	body[len++] = '[';
	for (int i = 0; i < 101; i++) {
		memcpy(body + len, call, sizeof(call) - 1);
		len += sizeof(call) - 1;
	}
	body[len - 1] = ']';
	body[len] = '\0';
	o = record_of_rpc(body, &status, &records);
	free(body);
	CU_ASSERT_EQUAL(status, 400);
	CU_ASSERT_FATAL(o != NULL);
	CU_ASSERT(json_object_object_get_ex(o, "jsonrpc_methods", &methods) &&
		  json_object_array_length(methods) == 100);
	json_object *cut = NULL;
	CU_ASSERT(json_object_object_get_ex(o, "jsonrpc_methods_truncated",
					    &cut) &&
		  json_object_get_boolean(cut));
	json_object_put(records);
}

/* ---- secrets ---- */

static void expect_no_secret(const char *what, const char *text, size_t len)
{
	int leaked = contains(text, len, HEADER_SECRET) ||
		     contains(text, len, ENV_SECRET);

	if (leaked)
		fprintf(stderr, "secret found in %s\n", what);
	CU_ASSERT(!leaked);
}

static void test_secrets_never_logged(void)
{
	struct tail tail;
	int status;
	char *resp = NULL, *text;
	size_t len;

	CU_ASSERT_FATAL(tail_start(&tail, "") == 0);
	/* positive controls: the secrets are used, and seen where they
	 * should be, so the searches below can find them */
	CU_ASSERT(tu_http(gw_port, "GET", "/tools/web/echo", NULL, NULL,
			  &status, &resp, NULL) == 0 && status == 200);
	CU_ASSERT(resp && strstr(resp, HEADER_SECRET) != NULL);
	free(resp);
	resp = NULL;
	CU_ASSERT(tu_http(gw_port, "POST", "/tools/ct", NULL,
			  "{\"argv\":[\"env\"]}", &status, &resp, NULL) == 0 &&
		  status == 200);
	CU_ASSERT(resp && strstr(resp, ENV_SECRET) != NULL);
	free(resp);
	CU_ASSERT(rpc(rpc_send, &status) == 0 && status == 200);
	CU_ASSERT(tail_wait(&tail, 3, 5000) == 0);

	text = slurp(audit_path, &len);
	CU_ASSERT(text && len > 0);
	expect_no_secret("the audit log", text, len);
	free(text);
	text = slurp(errlog_path, &len);
	expect_no_secret("carapaced's log", text, len);
	free(text);
	pthread_mutex_lock(&tail.lock);
	CU_ASSERT(tail.raw_len > 0);
	expect_no_secret("the live tail", tail.raw, tail.raw_len);
	pthread_mutex_unlock(&tail.lock);
	tail_stop(&tail);
	static const char *const admin[] = { "/metrics", "/v1/status",
					     "/v1/streams" };
	for (size_t i = 0; i < 3; i++) {
		text = NULL;
		CU_ASSERT(admin_get(admin[i], &status, &text) == 0 &&
			  status == 200);
		expect_no_secret(admin[i], text, text ? strlen(text) : 0);
		free(text);
	}
}

/* ---- logrotate ---- */

static atomic_int rotated_done, renamed;

/* At least 300 calls, and on until 20 were made after the reopen had
 * made the new file (a loaded machine may reopen late), 5,000 at most;
 * how many in rotated_done. */
static void *steady_calls(void *arg)
{
	int *ok = arg, status, after = 0;

	for (int i = 0; i < 5000 && (i < 300 || after < 20); i++) {
		if (atomic_load(&renamed) && access(audit_path, F_OK) == 0)
			after++;
		if (rpc(rpc_send, &status) == 0 && status == 200)
			(*ok)++;
		atomic_store(&rotated_done, i + 1);
	}
	return NULL;
}

static int unique_ids(json_object *a, json_object *b)
{
	json_object *all[] = { a, b };
	size_t n = 0, total = json_object_array_length(a) +
			      json_object_array_length(b);
	char (*ids)[24] = calloc(total + 1, sizeof(*ids));

	for (int k = 0; k < 2; k++)
		for (size_t i = 0; i < json_object_array_length(all[k]); i++)
			snprintf(ids[n++], 24, "%s",
				 str_at(json_object_array_get_idx(all[k], i),
					"id"));
	int dup = 0;
	for (size_t i = 0; i < n && !dup; i++)
		for (size_t j = i + 1; j < n && !dup; j++)
			dup = strcmp(ids[i], ids[j]) == 0;
	free(ids);
	return !dup;
}

static void test_reopen_after_rename_loses_nothing(void)
{
	char rotated[800];
	pthread_t th;
	int ok = 0;

	snprintf(rotated, sizeof(rotated), "%s.1", audit_path);
	/* start from empty files: what follows is this test's alone */
	CU_ASSERT_FATAL(rename(audit_path, rotated) == 0);
	CU_ASSERT_FATAL(kill(gw_pid, SIGUSR1) == 0);
	for (int i = 0; i < 250 && access(audit_path, F_OK) != 0; i++)
		tu_sleep_ms(20);
	unlink(rotated);

	atomic_store(&rotated_done, 0);
	atomic_store(&renamed, 0);
	pthread_create(&th, NULL, steady_calls, &ok);
	while (atomic_load(&rotated_done) < 100)
		tu_sleep_ms(2);
	/* what logrotate does: rename, then the postrotate signal */
	CU_ASSERT(rename(audit_path, rotated) == 0);
	atomic_store(&renamed, 1);
	CU_ASSERT(kill(gw_pid, SIGHUP) == 0);
	pthread_join(th, NULL);
	size_t calls = (size_t)atomic_load(&rotated_done);
	CU_ASSERT_EQUAL((size_t)ok, calls);
	for (int waited = 0; waited < 10000; waited += 20) {
		if (count_lines(rotated) + count_lines(audit_path) >= calls)
			break;
		tu_sleep_ms(20);
	}
	size_t old_n = count_lines(rotated), new_n = count_lines(audit_path);
	printf("\n    %zu calls across a rotation: %zu lines in the renamed "
	       "file, %zu in the new one\n", calls, old_n, new_n);
	CU_ASSERT_EQUAL(old_n + new_n, calls);
	CU_ASSERT(old_n >= 100);
	CU_ASSERT(new_n > 0);
	json_object *a = read_records(rotated), *b = read_records(audit_path);
	CU_ASSERT_FATAL(a != NULL && b != NULL);
	CU_ASSERT(unique_ids(a, b));
	json_object_put(a);
	json_object_put(b);
}


static void test_audit_disabled_tool(void)
{
	int status;
	double before = metric("carapace_requests_total",
			       "tool=\"quiet\",decision=\"allow\"");
	if (before < 0)
		before = 0; /* no series until the tool's first request */

	CU_ASSERT(tu_http(gw_port, "GET", "/tools/quiet/echo", NULL, NULL,
			  &status, NULL, NULL) == 0 && status == 200);
	for (int w = 0; w < 250 && metric("carapace_requests_total",
					  "tool=\"quiet\",decision=\"allow\"") <
					   before + 1; w++)
		tu_sleep_ms(20);
	CU_ASSERT_EQUAL(metric("carapace_requests_total",
			       "tool=\"quiet\",decision=\"allow\""),
			before + 1);
	char *text = slurp(audit_path, NULL);
	CU_ASSERT(text && strstr(text, "/tools/quiet/") == NULL);
	free(text);
}


/* ---- every line valid UTF-8 JSON, safe to show ---- */


/* What a strict reader asks of a line: one JSON object, well-formed
 * UTF-8; and nothing in it for a terminal to obey. */
static int strict_line_ok(const char *line, size_t len)
{
	json_tokener *tok = json_tokener_new();
	json_object *o = NULL;
	int ok = 0;

	if (tok == NULL)
		return 0;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
					    JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, line, (int)len);
	ok = json_object_is_type(o, json_type_object) &&
	     json_tokener_get_error(tok) == json_tokener_success &&
	     json_tokener_get_parse_end(tok) == len &&
	     no_terminal_controls(line, len);
	if (!ok)
		fprintf(stderr, "not strict UTF-8 JSON: %.300s\n", line);
	json_object_put(o);
	json_tokener_free(tok);
	return ok;
}

#define FFFD "\xef\xbf\xbd"

static void test_lines_valid_utf8(void)
{
	/* raw bytes of every kind in the target; the last goes upstream
	 * (its query is data) */
	static const char *const targets[] = {
		"/tools/web/echo/\xff\xfe\xc0\xae",
		"/tools/web/echo/\x7f\x9b",
		"/tools/\xff\xc2\x85/x",
		"/tools/\xc2\x9b[2J/x",
		"/tools/web/echo?q=\x85\xc2\x9b[31m\xe9\xed\xa0\x80",
	};
	static const int want[] = { 400, 400, 400, 404, 200 };
	size_t before = count_lines(audit_path), n = 0;
	int status = 0;
	char *resp = NULL;

	for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
		CU_ASSERT_FATAL(tu_http(gw_port, "GET", targets[i], NULL, NULL,
					&status, &resp, NULL) == 0);
		CU_ASSERT_EQUAL(status, want[i]);
		/* the error's "tool" is the name as requested */
		if (status != 200)
			CU_ASSERT(resp && strict_line_ok(resp, strlen(resp)));
		free(resp);
	}
	/* C1 and DEL that arrive as valid JSON escapes: argv and body */
	CU_ASSERT(tu_http(gw_port, "POST", "/tools/ct", NULL,
			  "{\"argv\":[\"println\",\"\\u009b2J\\u0085\\u007f"
			  "\\u001b[0m\"]}",
			  &status, NULL, NULL) == 0 && status == 200);
	CU_ASSERT(rpc("{\"jsonrpc\":\"2.0\",\"method\":\"send\",\"params\":"
		      "{\"message\":\"\\u009b2J\\u0085\"},\"id\":3}",
		      &status) == 0 && status == 200);
	CU_ASSERT_EQUAL(wait_lines(audit_path, before + 7, 5000), before + 7);

	char *text = slurp(audit_path, NULL);
	CU_ASSERT_FATAL(text != NULL);
	char *line = text;
	for (size_t i = 0; i < before && line; i++) {
		line = strchr(line, '\n');
		line = line ? line + 1 : NULL;
	}
	for (char *end; line && (end = strchr(line, '\n')) != NULL;
	     line = end + 1, n++)
		CU_ASSERT(strict_line_ok(line, (size_t)(end - line)));
	CU_ASSERT_EQUAL(n, 7);
	free(text);

	/* each byte that is not UTF-8 reads as U+FFFD */
	json_object *records = read_records(audit_path);
	CU_ASSERT_FATAL(records != NULL);
	json_object *o = last_for_path(records,
				       "/tools/web/echo/" FFFD FFFD FFFD FFFD);
	CU_ASSERT(o && strcmp(str_at(o, "decision"), "deny") == 0);
	CU_ASSERT(last_for_path(records, "/tools/web/echo/\x7f" FFFD) !=
		  NULL);
	CU_ASSERT(last_for_path(records, "/tools/web/echo?q=" FFFD
				"\xc2\x9b[31m" FFFD FFFD FFFD FFFD) != NULL);
	json_object_put(records);
}


/* ---- a log that cannot be written ---- */

static int gw2_port;
static char gw2_conf[700], gw2_sock[700], gw2_logdir[700], gw2_log[800];


static int start_gw2(const char *log)
{
	char text[2048];

	gw2_port = tu_free_port();
	snprintf(gw2_conf, sizeof(gw2_conf), "%s/gw2.conf", workdir);
	snprintf(gw2_sock, sizeof(gw2_sock), "%s/admin.sock", workdir);
	snprintf(text, sizeof(text),
		 "{ \"listen\": [\"127.0.0.1:%d\"],\n"
		 "  \"admin_listen\": \"unix:%s\",\n"
		 "  \"audit_log\": \"%s\",\n"
		 "  \"tools\": { \"sig\": { \"type\": \"http\",\n"
		 "    \"upstream\": \"http://127.0.0.1:%d\" } } }\n",
		 gw2_port, gw2_sock, log, up_port);
	if (tu_write_file(gw2_conf, text) < 0)
		return -1;
	gw2_pid = tu_start_daemon(&(struct tu_daemon){
		.conf = gw2_conf, .ports = { gw2_port },
		.errlog = errlog_path });
	return gw2_pid > 0 ? 0 : -1;
}

static int stop_gw2(void)
{
	int rc = tu_stop(gw2_pid);
	gw2_pid = -1;
	return rc;
}


static double gw2_write_errors(void)
{
	char args[900], out[65536];
	double v = -1;

	snprintf(args, sizeof(args), "--admin unix:%s --json status", gw2_sock);
	if (ctl(args, out, sizeof(out)) == 0) {
		json_object *o = json_tokener_parse(out);
		v = (double)int_at(o, "audit_write_errors");
		json_object_put(o);
	}
	return v;
}

static int gw2_call(void)
{
	int status = 0;
	char *body = NULL;
	uint64_t t0 = tu_now_ns();
	int rc = tu_http(gw2_port, "GET", "/tools/sig/echo", NULL, NULL,
			 &status, &body, NULL);

	if (rc != 0 || status != 200)
		fprintf(stderr, "  GET /tools/sig/echo: rc %d, status %d after "
			"%llu ms: %s\n", rc, status,
			(unsigned long long)((tu_now_ns() - t0) / 1000000),
			body ? body : "");
	free(body);
	return rc == 0 ? status : -1;
}

/* Occurrences of what in the daemons' stderr (errlog_path). */
static int errlog_count(const char *what)
{
	char *text = slurp(errlog_path, NULL);
	int n = 0;

	for (const char *p = text; p && (p = strstr(p, what)) != NULL; p++)
		n++;
	free(text);
	return n;
}

/* Whether the reopen SIGUSR1 asked for has failed (*arg: the count of its
 * message before the signal): it says so at once (audit_reopen). */
static int reopen_failed(void *arg)
{
	return errlog_count("record(s) not written") > *(int *)arg;
}

static void test_vanished_log_dir_does_not_stop_requests(void)
{
	char cmd[800];
	struct stat st;

	snprintf(gw2_logdir, sizeof(gw2_logdir), "%s/logs", workdir);
	snprintf(gw2_log, sizeof(gw2_log), "%s/audit.log", gw2_logdir);
	CU_ASSERT_FATAL(mkdir(gw2_logdir, 0700) == 0);
	CU_ASSERT_FATAL(start_gw2(gw2_log) == 0);
	/* the admin socket is the owner's alone */
	CU_ASSERT(stat(gw2_sock, &st) == 0 && S_ISSOCK(st.st_mode) &&
		  (st.st_mode & 0777) == 0600);
	for (int i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(gw2_call(), 200);
	CU_ASSERT_EQUAL(wait_lines(gw2_log, 3, 5000), 3);

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", gw2_logdir);
	CU_ASSERT_FATAL(system(cmd) == 0);
	int reports = errlog_count("record(s) not written");
	CU_ASSERT(kill(gw2_pid, SIGUSR1) == 0);
	/* the main thread reopens: until it has, records still go to the
	 * open (deleted) file, and a call made then would not count */
	CU_ASSERT(tu_wait_until(reopen_failed, &reports, 10000) == 0);
	for (int i = 0; i < 20; i++)
		CU_ASSERT_EQUAL(gw2_call(), 200);
	/* a record is written once its answer is over: the last may still
	 * be on its way when the client has read the answer */
	for (int waited = 0; waited < 10000 && gw2_write_errors() < 20;
	     waited += 50)
		tu_sleep_ms(50);
	CU_ASSERT(gw2_write_errors() >= 20);

	/* back: records are written again, within a few retries */
	CU_ASSERT_FATAL(mkdir(gw2_logdir, 0700) == 0);
	int lines = 0;
	for (int waited = 0; waited < 5000 && lines == 0; waited += 100) {
		CU_ASSERT_EQUAL(gw2_call(), 200);
		tu_sleep_ms(100);
		lines = (int)count_lines(gw2_log);
	}
	CU_ASSERT(lines > 0);
	char *text = slurp(errlog_path, NULL);
	CU_ASSERT(text && strstr(text, "record(s) not written") != NULL);
	CU_ASSERT(text && strstr(text, "writing again") != NULL);
	free(text);
	CU_ASSERT_EQUAL(stop_gw2(), 0);
	CU_ASSERT(access(gw2_sock, F_OK) != 0); /* removed at exit */
}

static void test_full_disk_does_not_stop_requests(void)
{
	CU_ASSERT_FATAL(start_gw2("/dev/full") == 0);
	for (int i = 0; i < 10; i++)
		CU_ASSERT_EQUAL(gw2_call(), 200);
	double errors = -1;
	for (int w = 0; w < 250 && errors < 10; w++) {
		errors = gw2_write_errors();
		if (errors < 10)
			tu_sleep_ms(20);
	}
	CU_ASSERT_EQUAL(errors, 10);
	CU_ASSERT_EQUAL(stop_gw2(), 0);
}

/* Start-up with a log that cannot be opened: a clear error, exit 1. */
static void test_unopenable_log_refuses_start(void)
{
	char conf[700], text[1024], cmd[2000], out[4096];

	snprintf(conf, sizeof(conf), "%s/badlog.conf", workdir);
	snprintf(text, sizeof(text),
		 "{ \"listen\": [\"127.0.0.1:%d\"],\n"
		 "  \"audit_log\": \"%s/no/such/dir/audit.log\",\n"
		 "  \"tools\": { \"sig\": { \"type\": \"http\",\n"
		 "    \"upstream\": \"http://127.0.0.1:%d\" } } }\n",
		 tu_free_port(), workdir, up_port);
	CU_ASSERT_FATAL(tu_write_file(conf, text) == 0);
	snprintf(cmd, sizeof(cmd), "'%s' -f -c '%s' 2>&1", carapaced_path,
		 conf);
	FILE *p = popen(cmd, "r");
	CU_ASSERT_FATAL(p != NULL);
	size_t n = fread(out, 1, sizeof(out) - 1, p);
	out[n] = '\0';
	int status = pclose(p);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	CU_ASSERT(strstr(out, "cannot open audit log") != NULL);
}


static void test_shutdown_ends_streams_on_record(void)
{
	struct tu_resp r;
	int fd = tu_connect(gw_port);

	CU_ASSERT_FATAL(fd >= 0);
	tu_send_request(fd, "GET", "/tools/sig/api/v1/events?last=1", NULL,
			NULL, 0);
	CU_ASSERT_FATAL(tu_read_head(&r, fd, 5000) == 0);
	CU_ASSERT_EQUAL(tu_stop(gw_pid), 0);
	gw_pid = -1;
	json_object *records = read_records(audit_path);
	json_object *o = records ? last_for_path(records,
						 "/tools/sig/api/v1/events?last=1") :
				   NULL;
	CU_ASSERT(o && strcmp(str_at(o, "event"), "stream_end") == 0 &&
		  strcmp(str_at(o, "ended"), "shutdown") == 0);
	json_object_put(records);
	tu_resp_free(&r);
	close(fd);
}


int main(void)
{
	static pid_t *const children[] = { &gw_pid, &gw2_pid, &up_pid };

	tu_watchdog("test_audit", 600, children, 3);
	if (mkdtemp(workdir) == NULL ||
	    CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("audit", auditd_suite_init,
				   auditd_suite_clean);
	CU_add_test(s, "2000 concurrent requests: exact lines",
		    test_concurrent_requests_exact_lines);
	CU_add_test(s, "redaction in body and argv",
		    test_redaction_in_body_and_argv);
	CU_add_test(s, "JSON-RPC methods: every call named",
		    test_jsonrpc_methods_all_named);
	CU_add_test(s, "secrets never logged", test_secrets_never_logged);
	CU_add_test(s, "reopen after rename loses nothing",
		    test_reopen_after_rename_loses_nothing);
	CU_add_test(s, "audit disabled tool", test_audit_disabled_tool);
	CU_add_test(s, "every line valid UTF-8 JSON",
		    test_lines_valid_utf8);
	CU_add_test(s, "vanished log dir", 
		    test_vanished_log_dir_does_not_stop_requests);
	CU_add_test(s, "full disk", test_full_disk_does_not_stop_requests);
	CU_add_test(s, "unopenable log refuses start",
		    test_unopenable_log_refuses_start);
	CU_add_test(s, "shutdown ends streams on record",
		    test_shutdown_ends_streams_on_record);
	int rc = cu_run();
	tu_remove_tree(workdir);
	return rc;
}
