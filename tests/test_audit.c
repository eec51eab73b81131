/* Integration tests of the audit trail, the admin listener and
 * carapacectl: the real carapaced, the real test upstream and the real
 * test CLI tool, over 127.0.0.1. Paths come from the environment (make
 * check sets them): CARAPACED, UPSTREAM, CLITOOL, CARAPACECTL. */
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

/* Host-side secrets: they must reach the upstream and the tool, and
 * never any log, tail, metric or status. */
#define HEADER_SECRET "SECRET-HDR-8f3a21"
#define ENV_SECRET "SECRET-ENV-77c1d9"

static const char *carapaced_path, *ctl_path;
static char workdir[] = "/tmp/carapaced-audit-XXXXXX";
static char conf_path[600], audit_path[700], errlog_path[700];
static pid_t up_pid = -1, gw_pid = -1, gw2_pid = -1;
static int up_port, gw_port, admin_port;

/* ---- helpers ---- */

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

static const char *str_at(json_object *o, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) &&
		       json_object_is_type(v, json_type_string) ?
		       json_object_get_string(v) :
		       NULL;
}

static int64_t int_at(json_object *o, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) &&
		       json_object_is_type(v, json_type_int) ?
		       json_object_get_int64(v) :
		       -1;
}

/* A whole file, NUL-terminated (caller frees); NULL if unreadable. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t n = 0, cap = 0, k;

	if (f == NULL)
		return NULL;
	do {
		if (n + 65536 + 1 > cap) {
			cap = cap ? cap * 2 : 131072;
			buf = realloc(buf, cap);
		}
		k = fread(buf + n, 1, cap - n - 1, f);
		n += k;
	} while (k > 0);
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

static size_t count_lines(const char *path)
{
	char *text = slurp(path, NULL);
	size_t n = 0;

	for (const char *p = text; p && *p; p++)
		n += *p == '\n';
	free(text);
	return n;
}

/* Waits until path has at least want lines; the count seen. */
static size_t wait_lines(const char *path, size_t want, int limit_ms)
{
	size_t n = 0;

	for (int waited = 0; waited <= limit_ms; waited += 20) {
		n = count_lines(path);
		if (n >= want)
			break;
		sleep_ms(20);
	}
	return n;
}

/* Every line of path parsed; caller puts the array. NULL if a line is
 * not a JSON object (the test then fails on it). */
static json_object *read_records(const char *path)
{
	char *text = slurp(path, NULL);
	json_object *arr = json_object_new_array();
	char *save = NULL;

	if (text == NULL)
		return arr;
	for (char *line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		json_object *o = json_tokener_parse(line);
		if (!json_object_is_type(o, json_type_object)) {
			fprintf(stderr, "bad audit line: %.200s\n", line);
			json_object_put(o);
			json_object_put(arr);
			arr = NULL;
			break;
		}
		json_object_array_add(arr, o);
	}
	free(text);
	return arr;
}

/* The record with id and event, borrowed from records; NULL if none. */
static json_object *find_record(json_object *records, const char *id,
				const char *event)
{
	size_t n = json_object_array_length(records);

	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(records, i);
		const char *rid = str_at(o, "id"), *ev = str_at(o, "event");
		if (rid && ev && strcmp(rid, id) == 0 && strcmp(ev, event) == 0)
			return o;
	}
	return NULL;
}

/* The last record of records whose path is target; borrowed. */
static json_object *last_for_path(json_object *records, const char *target)
{
	for (size_t i = json_object_array_length(records); i-- > 0;) {
		json_object *o = json_object_array_get_idx(records, i);
		const char *p = str_at(o, "path");
		if (p && strcmp(p, target) == 0)
			return o;
	}
	return NULL;
}

static int contains(const char *hay, size_t len, const char *needle)
{
	return hay != NULL && memmem(hay, len, needle, strlen(needle)) != NULL;
}

static int admin_get(const char *target, int *status, char **body)
{
	return tu_http(admin_port, "GET", target, NULL, NULL, status, body,
		       NULL);
}

/* The value of one sample of /metrics, or -1. */
static double metric(const char *name, const char *labels)
{
	int status;
	char *text = NULL;
	double v = -1;

	if (admin_get("/metrics", &status, &text) == 0 && status == 200)
		promtext_value(text, name, labels, &v);
	free(text);
	return v;
}

static const char rpc_send[] =
	"{\"jsonrpc\":\"2.0\",\"method\":\"send\",\"params\":{\"recipient\":"
	"[\"+15550001\"],\"message\":\"hi\",\"meta\":{\"deep\":{\"x_password_y\":"
	"\"pw-9\"}}},\"id\":7}";
static const char rpc_denied[] =
	"{\"jsonrpc\":\"2.0\",\"method\":\"removeAccount\",\"id\":8}";

static int rpc(const char *body, int *status)
{
	return tu_http(gw_port, "POST", "/tools/sig/api/v1/rpc",
		       "Content-Type: application/json\r\n", body, status, NULL,
		       NULL);
}

/* ---- set-up ---- */

static int write_config(void)
{
	char text[4096];
	const char *tool = getenv("CLITOOL");

	snprintf(conf_path, sizeof(conf_path), "%s/carapaced.conf", workdir);
	snprintf(audit_path, sizeof(audit_path), "%s/audit.log", workdir);
	snprintf(text, sizeof(text),
		 "{ \"listen\": [\"127.0.0.1:%d\"],\n"
		 "  \"admin_listen\": \"127.0.0.1:%d\",\n"
		 "  \"audit_log\": \"%s\",\n"
		 "  \"run_tools_as_root\": true,\n"
		 "  \"tools\": {\n"
		 "    \"sig\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      \"jsonrpc_allow_methods\": [\"send\", \"version\"],\n"
		 "      \"inject_headers\": { \"Authorization\": \"Bearer "
		 HEADER_SECRET "\" },\n"
		 "      \"audit\": { \"log_body\": true,\n"
		 "        \"redact_patterns\": [\"recipient\", \"*password*\"] } },\n"
		 "    \"web\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      \"inject_headers\": { \"X-Api-Key\": \"" HEADER_SECRET "\" },\n"
		 "      \"audit\": { \"enabled\": true } },\n"
		 "    \"quiet\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      \"audit\": { \"enabled\": false } },\n"
		 "    \"lim\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      \"rate_limit\": { \"max_requests\": 2, \"window_secs\": 3600 } },\n"
		 "    \"dead\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\" },\n"
		 "    \"ct\": { \"type\": \"cli\", \"binary\": \"%s\",\n"
		 "      \"argv_allow_patterns\": [\"println *\", \"args *\", \"env\"],\n"
		 "      \"env_inject\": { \"TOOL_TOKEN\": \"" ENV_SECRET "\" },\n"
		 "      \"audit\": { \"log_argv\": true,\n"
		 "        \"redact_patterns\": [\"--session\"] } }\n"
		 "  }\n}\n",
		 gw_port, admin_port, audit_path, up_port, up_port, up_port,
		 up_port, tu_free_port(), tool);
	return tu_write_file(conf_path, text);
}

/* Starts carapaced -f -c conf with its stderr appended to errlog; waits
 * for port. pid or -1. */
static pid_t spawn_daemon(const char *conf, int port, const char *errlog)
{
	char *argv[] = { (char *)carapaced_path, "-f", "-c", (char *)conf,
			 NULL };
	int saved = dup(2);
	int fd = open(errlog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

	if (saved < 0 || fd < 0)
		return -1;
	dup2(fd, 2);
	pid_t pid = tu_spawn(argv, NULL);
	dup2(saved, 2);
	close(saved);
	close(fd);
	if (pid > 0 && tu_wait_port(port, 10000) < 0) {
		tu_stop(pid);
		return -1;
	}
	return pid;
}

static int suite_init(void)
{
	const char *up = getenv("UPSTREAM");

	carapaced_path = getenv("CARAPACED");
	ctl_path = getenv("CARAPACECTL");
	if (up == NULL || carapaced_path == NULL || ctl_path == NULL ||
	    getenv("CLITOOL") == NULL)
		return -1;
	tu_prepare_process();
	up_pid = tu_spawn_upstream(up, &up_port);
	gw_port = tu_free_port();
	admin_port = tu_free_port();
	snprintf(errlog_path, sizeof(errlog_path), "%s/carapaced.err", workdir);
	if (up_pid < 0 || write_config() < 0)
		return -1;
	gw_pid = spawn_daemon(conf_path, gw_port, errlog_path);
	return gw_pid > 0 && tu_wait_port(admin_port, 10000) == 0 ? 0 : -1;
}

static int suite_clean(void)
{
	int rc = 0;

	if (gw_pid > 0 && tu_stop(gw_pid) != 0)
		rc = -1;
	gw_pid = -1;
	if (gw2_pid > 0)
		tu_stop(gw2_pid);
	if (up_pid > 0)
		tu_stop(up_pid);
	return rc;
}

/* ---- the live tail, read on a thread ---- */

struct tail {
	pthread_t thread;
	int fd;
	struct tu_resp resp;
	char query[200];
	atomic_int records, dropped, stop;
	atomic_int ready;
	char *raw;                      /* every data payload, joined */
	size_t raw_len, raw_cap;
	pthread_mutex_t lock;
};

static void tail_keep(struct tail *t, const char *data)
{
	size_t n = strlen(data);

	pthread_mutex_lock(&t->lock);
	if (t->raw_len + n + 2 > t->raw_cap) {
		t->raw_cap = (t->raw_len + n + 2) * 2;
		t->raw = realloc(t->raw, t->raw_cap);
	}
	memcpy(t->raw + t->raw_len, data, n);
	t->raw_len += n;
	t->raw[t->raw_len++] = '\n';
	t->raw[t->raw_len] = '\0';
	pthread_mutex_unlock(&t->lock);
}

static void *tail_main(void *arg)
{
	struct tail *t = arg;
	char data[16384];

	while (!atomic_load(&t->stop)) {
		if (tu_sse_next_event(&t->resp, data, sizeof(data), 200) < 0)
			continue;
		json_object *o = json_tokener_parse(data);
		if (int_at(o, "dropped") > 0)
			atomic_fetch_add(&t->dropped, (int)int_at(o, "dropped"));
		else if (str_at(o, "ts") != NULL)
			atomic_fetch_add(&t->records, 1);
		json_object_put(o);
		tail_keep(t, data);
	}
	return NULL;
}

/* GET /v1/audit<query> on a thread; 0 once its head has arrived. */
static int tail_start(struct tail *t, const char *query)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	snprintf(t->query, sizeof(t->query), "/v1/audit%s", query);
	t->fd = tu_connect(admin_port);
	if (t->fd < 0 ||
	    tu_send_request(t->fd, "GET", t->query, NULL, NULL, 0) < 0 ||
	    tu_read_head(&t->resp, t->fd, 5000) < 0 || t->resp.status != 200)
		return -1;
	return pthread_create(&t->thread, NULL, tail_main, t) == 0 ? 0 : -1;
}

static void tail_stop(struct tail *t)
{
	atomic_store(&t->stop, 1);
	pthread_join(t->thread, NULL);
	tu_resp_free(&t->resp);
	close(t->fd);
	free(t->raw);
	pthread_mutex_destroy(&t->lock);
}

/* Waits until the tail has accounted for want records. */
static int tail_wait(struct tail *t, int want, int limit_ms)
{
	for (int waited = 0; waited <= limit_ms; waited += 20) {
		if (atomic_load(&t->records) + atomic_load(&t->dropped) >= want)
			return 0;
		sleep_ms(20);
	}
	return -1;
}

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

static int ts_ok(const char *ts)
{
	int y, mo, d, h, mi, s, ms;
	char z;

	return ts && strlen(ts) == 24 &&
	       sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi,
		      &s, &ms, &z) == 8 &&
	       z == 'Z';
}

/* The fields every record has, right for a burst on tool sig. */
static int record_ok(json_object *o)
{
	const char *event = str_at(o, "event");
	const char *decision = str_at(o, "decision");
	json_object *stream;
	int is_end = event && strcmp(event, "stream_open") != 0;

	return ts_ok(str_at(o, "ts")) && str_at(o, "id") &&
	       strlen(str_at(o, "id")) == 16 && event &&
	       strncmp(str_at(o, "client") ? str_at(o, "client") : "",
		       "127.0.0.1:", 10) == 0 &&
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
	sleep_ms(200); /* a line too many would show up by now */
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

/* The newest record for target, once it is written; caller puts the
 * array it lives in (*records). */
static json_object *newest_for(const char *target, json_object **records)
{
	for (int waited = 0; waited <= 5000; waited += 20) {
		*records = read_records(audit_path);
		json_object *o = *records ? last_for_path(*records, target) :
					    NULL;
		if (o != NULL)
			return o;
		json_object_put(*records);
		*records = NULL;
		sleep_ms(20);
	}
	return NULL;
}

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

static atomic_int rotated_done;

static void *steady_calls(void *arg)
{
	int *ok = arg, status;

	for (int i = 0; i < 300; i++) {
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
		sleep_ms(20);
	unlink(rotated);

	atomic_store(&rotated_done, 0);
	pthread_create(&th, NULL, steady_calls, &ok);
	while (atomic_load(&rotated_done) < 100)
		sleep_ms(2);
	/* what logrotate does: rename, then the postrotate signal */
	CU_ASSERT(rename(audit_path, rotated) == 0);
	CU_ASSERT(kill(gw_pid, SIGHUP) == 0);
	pthread_join(th, NULL);
	CU_ASSERT_EQUAL(ok, 300);
	for (int waited = 0; waited < 10000; waited += 20) {
		if (count_lines(rotated) + count_lines(audit_path) >= 300)
			break;
		sleep_ms(20);
	}
	size_t old_n = count_lines(rotated), new_n = count_lines(audit_path);
	printf("\n    300 calls across a rotation: %zu lines in the renamed "
	       "file, %zu in the new one\n", old_n, new_n);
	CU_ASSERT_EQUAL(old_n + new_n, 300);
	CU_ASSERT(old_n >= 100);
	CU_ASSERT(new_n > 0);
	json_object *a = read_records(rotated), *b = read_records(audit_path);
	CU_ASSERT_FATAL(a != NULL && b != NULL);
	CU_ASSERT(unique_ids(a, b));
	json_object_put(a);
	json_object_put(b);
}

/* ---- metrics, status, streams ---- */

#define SIG_ALLOW "tool=\"sig\",decision=\"allow\""
#define SIG_DENY "tool=\"sig\",decision=\"deny\""

static void test_metrics_move(void)
{
	int status;
	char *text = NULL;

	CU_ASSERT_FATAL(admin_get("/metrics", &status, &text) == 0);
	CU_ASSERT_EQUAL(status, 200);
	char err[200];
	int valid = promtext_check(text, err, sizeof(err));
	if (valid != 0)
		fprintf(stderr, "/metrics: %s\n", err);
	CU_ASSERT_EQUAL(valid, 0);
	free(text);

	double allow0 = metric("carapace_requests_total", SIG_ALLOW);
	double deny0 = metric("carapace_requests_total", SIG_DENY);
	double out0 = metric("carapace_bytes_total",
			     "tool=\"sig\",direction=\"out\"");
	double count0 = metric("carapace_request_duration_seconds_count",
			       "tool=\"sig\"");
	for (int i = 0; i < 5; i++)
		CU_ASSERT(rpc(rpc_send, &status) == 0 && status == 200);
	for (int i = 0; i < 2; i++)
		CU_ASSERT(rpc(rpc_denied, &status) == 0 && status == 403);
	/* counted when the answer is done, which the client may see first */
	for (int w = 0; w < 250 && metric("carapace_requests_total",
					  SIG_ALLOW) < allow0 + 5; w++)
		sleep_ms(20);
	CU_ASSERT_EQUAL(metric("carapace_requests_total", SIG_ALLOW),
			allow0 + 5);
	CU_ASSERT_EQUAL(metric("carapace_requests_total", SIG_DENY), deny0 + 2);
	CU_ASSERT(metric("carapace_bytes_total",
			 "tool=\"sig\",direction=\"out\"") > out0);
	CU_ASSERT(metric("carapace_request_duration_seconds_count",
			 "tool=\"sig\"") >= count0 + 5);

	/* rate limit: 2 an hour on "lim" */
	for (int i = 0; i < 3; i++)
		tu_http(gw_port, "GET", "/tools/lim/echo", NULL, NULL, &status,
			NULL, NULL);
	CU_ASSERT_EQUAL(status, 429);
	CU_ASSERT_EQUAL(metric("carapace_rate_limited_total", "tool=\"lim\""),
			1);
	/* an upstream nobody listens on */
	CU_ASSERT(tu_http(gw_port, "GET", "/tools/dead/x", NULL, NULL, &status,
			  NULL, NULL) == 0 && status == 502);
	CU_ASSERT_EQUAL(metric("carapace_upstream_errors_total",
			       "tool=\"dead\",kind=\"unreachable\""), 1);
	CU_ASSERT_EQUAL(metric("carapace_audit_write_errors_total", ""), 0);
	CU_ASSERT_EQUAL(metric("carapace_build_info",
			       "version=\"" PACKAGE_VERSION "\""), 1);
	CU_ASSERT(metric("carapace_uptime_seconds", "") > 0);
}

/* An audit-disabled tool is counted, never written. */
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
		sleep_ms(20);
	CU_ASSERT_EQUAL(metric("carapace_requests_total",
			       "tool=\"quiet\",decision=\"allow\""),
			before + 1);
	char *text = slurp(audit_path, NULL);
	CU_ASSERT(text && strstr(text, "/tools/quiet/") == NULL);
	free(text);
}

static json_object *admin_json(const char *target)
{
	int status;
	char *text = NULL;
	json_object *o = NULL;

	if (admin_get(target, &status, &text) == 0 && status == 200)
		o = json_tokener_parse(text);
	free(text);
	return o;
}

static size_t streams_open(json_object **list)
{
	json_object *o = admin_json("/v1/streams"), *arr;

	*list = o;
	if (!json_object_object_get_ex(o, "streams", &arr))
		return (size_t)-1;
	return json_object_array_length(arr);
}

static void test_active_streams_listed(void)
{
	struct tu_resp r;
	json_object *list;
	int fd = tu_connect(gw_port);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(tu_send_request(fd, "GET",
					"/tools/sig/api/v1/events?account=x",
					NULL, NULL, 0) == 0);
	CU_ASSERT_FATAL(tu_read_head(&r, fd, 5000) == 0);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT_EQUAL(streams_open(&list), 1);
	json_object *arr, *s;
	json_object_object_get_ex(list, "streams", &arr);
	s = json_object_array_get_idx(arr, 0);
	CU_ASSERT_STRING_EQUAL(str_at(s, "tool"), "sig");
	CU_ASSERT_STRING_EQUAL(str_at(s, "path"),
			       "/tools/sig/api/v1/events?account=x");
	CU_ASSERT_STRING_EQUAL(str_at(s, "method"), "GET");
	CU_ASSERT(str_at(s, "client") &&
		  strncmp(str_at(s, "client"), "127.0.0.1:", 10) == 0);
	CU_ASSERT(ts_ok(str_at(s, "started")));
	json_object_put(list);
	CU_ASSERT_EQUAL(metric("carapace_active_streams", "tool=\"sig\""), 1);
	json_object *st = admin_json("/v1/status");
	CU_ASSERT_EQUAL(int_at(st, "active_streams"), 1);
	CU_ASSERT_EQUAL(int_at(st, "pid"), gw_pid);
	CU_ASSERT_STRING_EQUAL(str_at(st, "version"), PACKAGE_VERSION);
	CU_ASSERT_STRING_EQUAL(str_at(st, "audit_log"), audit_path);
	CU_ASSERT_STRING_EQUAL(str_at(st, "config_file"), conf_path);
	json_object *tools;
	CU_ASSERT(json_object_object_get_ex(st, "tools", &tools) &&
		  json_object_array_length(tools) == 6);
	json_object_put(st);

	tu_resp_free(&r);
	close(fd);
	size_t n = 1;
	for (int w = 0; w < 250 && n != 0; w++) {
		n = streams_open(&list);
		json_object_put(list);
		if (n != 0)
			sleep_ms(20);
	}
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(metric("carapace_active_streams", "tool=\"sig\""), 0);
	json_object *records = NULL;
	json_object *end = newest_for("/tools/sig/api/v1/events?account=x",
				      &records);
	CU_ASSERT(end && strcmp(str_at(end, "event"), "stream_end") == 0 &&
		  strcmp(str_at(end, "ended"), "client_closed") == 0);
	json_object_put(records);
}

/* ---- the live tail's filters ---- */

static void test_tail_filters(void)
{
	struct tail tail;
	int status;

	CU_ASSERT(admin_get("/v1/audit?decision=maybe", &status, NULL) == 0 &&
		  status == 400);
	CU_ASSERT(admin_get("/v1/audit?tool=nosuch", &status, NULL) == 0 &&
		  status == 404);
	CU_ASSERT_FATAL(tail_start(&tail, "?tool=ct&decision=deny") == 0);
	for (int round = 0; round < 2; round++) {
		tu_http(gw_port, "POST", "/tools/ct", NULL,
			"{\"argv\":[\"println\",\"ok\"]}", &status, NULL, NULL);
		rpc(rpc_denied, &status);
		tu_http(gw_port, "POST", "/tools/ct", NULL,
			round ? "{\"argv\":[\"rm\",\"-rf\",\"/b\"]}" :
				"{\"argv\":[\"rm\",\"-rf\",\"/a\"]}",
			&status, NULL, NULL);
		CU_ASSERT_EQUAL(status, 403);
	}
	CU_ASSERT(tail_wait(&tail, 2, 5000) == 0);
	sleep_ms(100);
	pthread_mutex_lock(&tail.lock);
	/* the comment line is not data; two records, both ct denials */
	const char *first = tail.raw ? strstr(tail.raw, "\"/a\"") : NULL;
	const char *second = tail.raw ? strstr(tail.raw, "\"/b\"") : NULL;
	CU_ASSERT(atomic_load(&tail.records) == 2);
	CU_ASSERT(first != NULL && second != NULL && first < second);
	CU_ASSERT(tail.raw && strstr(tail.raw, "\"decision\":\"allow\"") == NULL);
	CU_ASSERT(tail.raw && strstr(tail.raw, "\"tool\":\"sig\"") == NULL);
	pthread_mutex_unlock(&tail.lock);
	tail_stop(&tail);
}

/* ---- every line valid UTF-8 JSON, safe to show ---- */

/* No byte a terminal would obey: C0 (the line has no newline), DEL, and
 * C1 whether raw (0x9b is CSI to an 8-bit terminal) or UTF-8 encoded. */
static int no_terminal_controls(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0; i < len; i++) {
		if (u[i] < 0x20 || u[i] == 0x7f)
			return 0;
		if (u[i] == 0xc2 && i + 1 < len && u[i + 1] >= 0x80 &&
		    u[i + 1] <= 0x9f)
			return 0;
		if (u[i] >= 0x80 && u[i] <= 0x9f &&
		    (i == 0 || u[i - 1] < 0xc2))
			return 0; /* not a continuation of a lead byte */
	}
	return 1;
}

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

/* ---- the admin API is not on the tool listeners ---- */

static void test_admin_not_on_tool_listener(void)
{
	static const char *const targets[] = { "/metrics", "/v1/status",
					       "/v1/streams", "/v1/audit" };
	int status;

	for (size_t i = 0; i < 4; i++) {
		CU_ASSERT(tu_http(gw_port, "GET", targets[i], NULL, NULL,
				  &status, NULL, NULL) == 0);
		CU_ASSERT_EQUAL(status, 404);
	}
	CU_ASSERT(tu_http(gw_port, "POST", "/v1/reload", NULL, "", &status,
			  NULL, NULL) == 0 && status == 404);
	CU_ASSERT(tu_http(gw_port, "GET", "/tools/sig/../../metrics", NULL,
			  NULL, &status, NULL, NULL) == 0 && status == 400);
	CU_ASSERT(admin_get("/tools/sig/echo", &status, NULL) == 0 &&
		  status == 404);
}

/* ---- a log that cannot be written ---- */

static int gw2_port;
static char gw2_conf[700], gw2_sock[700], gw2_logdir[700], gw2_log[800];

/* ---- the admin API answers only its own Host, and no browser ---- */

/* One request with exactly the head given (request line, headers); the
 * status, or -1. A 403 must be the usual error object. */
static int admin_raw(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static int admin_raw(const char *fmt, ...)
{
	struct tu_resp r = { 0 };
	char head[1024], body[512];
	int fd = tu_connect(admin_port), status = -1;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(head, sizeof(head), fmt, ap);
	va_end(ap);
	if (fd < 0)
		return -1;
	if (tu_send_all(fd, head, strlen(head)) == 0 &&
	    tu_read_head(&r, fd, 5000) == 0)
		status = r.status;
	if (status == 403) {
		ssize_t n = tu_read_body(&r, body, sizeof(body) - 1, 5000);
		body[n > 0 ? n : 0] = '\0';
		json_object *o = json_tokener_parse(body), *err = NULL;
		CU_ASSERT(json_object_object_get_ex(o, "error", &err) &&
			  int_at(err, "code") == 403 &&
			  json_object_object_get_ex(err, "tool", NULL) &&
			  str_at(err, "message") != NULL);
		json_object_put(o);
	}
	tu_resp_free(&r);
	close(fd);
	return status;
}

/* pattern with each "PORT" replaced by port. */
static void with_port(const char *pattern, int port, char *out, size_t len)
{
	const char *at;
	size_t n = 0;

	for (; (at = strstr(pattern, "PORT")) != NULL && n < len;
	     pattern = at + 4)
		n += (size_t)snprintf(out + n, len - n, "%.*s%d",
				      (int)(at - pattern), pattern, port);
	if (n < len)
		snprintf(out + n, len - n, "%s", pattern);
}

static void test_admin_checks_host_and_origin(void)
{
	static const char *const bad_hosts[] = {
		"evil.example:PORT", "evil.example", "127.0.0.1",
		"localhost", "localhost.:PORT", "127.0.0.2:PORT", "[::2]:PORT",
		"127.0.0.1:PORT0", "127.0.0.1:", "127.0.0.1:PORT:1",
		"127.0.0.1 :PORT", "localhost:+PORT", "",
	};
	static const char *const good_hosts[] = {
		"127.0.0.1:PORT", "localhost:PORT", "LocalHost:PORT",
		"[::1]:PORT", "[0:0::1]:PORT",
	};
	static const char *const targets[] = { "/v1/status", "/v1/streams",
					       "/metrics", "/v1/audit",
					       "/nowhere" };
	static const char *const origins[] = {
		"http://evil.example", "null", "http://127.0.0.1:1",
	};
	char host[64];
	int p = admin_port;

	for (size_t i = 0; i < sizeof(bad_hosts) / sizeof(bad_hosts[0]);
	     i++) {
		with_port(bad_hosts[i], p, host, sizeof(host));
		for (size_t t = 0; t < sizeof(targets) / sizeof(targets[0]);
		     t++) {
			int st = admin_raw("GET %s HTTP/1.1\r\nHost: %s\r\n"
					   "Connection: close\r\n\r\n",
					   targets[t], host);
			if (st != 403)
				fprintf(stderr, "Host %s, %s: %d\n", host,
					targets[t], st);
			CU_ASSERT_EQUAL(st, 403);
		}
		CU_ASSERT_EQUAL(admin_raw("POST /v1/reload HTTP/1.1\r\nHost: %s"
					  "\r\nContent-Length: 0\r\n\r\n",
					  host),
				403);
	}
	for (size_t i = 0; i < sizeof(good_hosts) / sizeof(good_hosts[0]);
	     i++) {
		with_port(good_hosts[i], p, host, sizeof(host));
		CU_ASSERT_EQUAL(admin_raw("GET /v1/status HTTP/1.1\r\nHost: %s"
					  "\r\nConnection: close\r\n\r\n",
					  host),
				200);
	}
	/* no Host at all, or two */
	CU_ASSERT_EQUAL(admin_raw("GET /v1/status HTTP/1.0\r\n\r\n"), 403);
	int st = admin_raw("GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
			   "Host: evil.example:%d\r\n\r\n", p, p);
	CU_ASSERT(st == 403 || st == 400);
	/* a POST that carries Origin, whatever it says */
	for (size_t i = 0; i < sizeof(origins) / sizeof(origins[0]); i++)
		CU_ASSERT_EQUAL(admin_raw("POST /v1/reload HTTP/1.1\r\n"
					  "Host: 127.0.0.1:%d\r\nOrigin: %s\r\n"
					  "Content-Length: 0\r\n\r\n",
					  p, origins[i]),
				403);
	/* a GET with Origin reads nothing a page could read: answered */
	CU_ASSERT_EQUAL(admin_raw("GET /metrics HTTP/1.1\r\nHost: "
				  "localhost:%d\r\nOrigin: null\r\n"
				  "Connection: close\r\n\r\n", p),
			200);
	CU_ASSERT_EQUAL(admin_raw("POST /v1/reload HTTP/1.1\r\n"
				  "Host: localhost:%d\r\nContent-Length: 0"
				  "\r\nConnection: close\r\n\r\n", p),
			200);
}

/* A second daemon: admin on a unix socket, audit_log at log. */
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
	gw2_pid = spawn_daemon(gw2_conf, gw2_port, errlog_path);
	return gw2_pid > 0 ? 0 : -1;
}

static int stop_gw2(void)
{
	int rc = tu_stop(gw2_pid);
	gw2_pid = -1;
	return rc;
}

/* The admin API over the unix socket, through carapacectl. */
static int ctl(const char *args, char *out, size_t out_len)
{
	char cmd[2400];

	snprintf(cmd, sizeof(cmd), "'%s' %s 2>&1", ctl_path, args);
	FILE *p = popen(cmd, "r");
	if (p == NULL)
		return -1;
	size_t n = fread(out, 1, out_len - 1, p);
	out[n] = '\0';
	int status = pclose(p);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
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
	CU_ASSERT(kill(gw2_pid, SIGUSR1) == 0);
	for (int i = 0; i < 20; i++)
		CU_ASSERT_EQUAL(gw2_call(), 200);
	/* a record is written once its answer is over: the last may still
	 * be on its way when the client has read the answer */
	for (int waited = 0; waited < 5000 && gw2_write_errors() < 20;
	     waited += 50)
		sleep_ms(50);
	CU_ASSERT(gw2_write_errors() >= 20);

	/* back: records are written again, within a few retries */
	CU_ASSERT_FATAL(mkdir(gw2_logdir, 0700) == 0);
	int lines = 0;
	for (int waited = 0; waited < 5000 && lines == 0; waited += 100) {
		CU_ASSERT_EQUAL(gw2_call(), 200);
		sleep_ms(100);
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
			sleep_ms(20);
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
	char *argv[8] = { (char *)ctl_path, "--admin", admin, NULL };
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

/* Last: the daemon stops with a stream open; its end is on record. */
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

/* ---- main ---- */

static void remove_workdir(void)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", workdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", workdir);
}

int main(void)
{
	static pid_t *const children[] = { &gw_pid, &gw2_pid, &up_pid };

	tu_watchdog("test_audit", 600, children, 3);
	if (mkdtemp(workdir) == NULL ||
	    CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("audit", suite_init, suite_clean);
	CU_add_test(s, "2000 concurrent requests: exact lines",
		    test_concurrent_requests_exact_lines);
	CU_add_test(s, "redaction in body and argv",
		    test_redaction_in_body_and_argv);
	CU_add_test(s, "JSON-RPC methods: every call named",
		    test_jsonrpc_methods_all_named);
	CU_add_test(s, "secrets never logged", test_secrets_never_logged);
	CU_add_test(s, "reopen after rename loses nothing",
		    test_reopen_after_rename_loses_nothing);
	CU_add_test(s, "metrics move", test_metrics_move);
	CU_add_test(s, "audit disabled tool", test_audit_disabled_tool);
	CU_add_test(s, "every line valid UTF-8 JSON",
		    test_lines_valid_utf8);
	CU_add_test(s, "active streams listed", test_active_streams_listed);
	CU_add_test(s, "live tail filters", test_tail_filters);
	CU_add_test(s, "admin API not on tool listeners",
		    test_admin_not_on_tool_listener);
	CU_add_test(s, "admin API checks Host and Origin",
		    test_admin_checks_host_and_origin);
	CU_add_test(s, "vanished log dir", 
		    test_vanished_log_dir_does_not_stop_requests);
	CU_add_test(s, "full disk", test_full_disk_does_not_stop_requests);
	CU_add_test(s, "unopenable log refuses start",
		    test_unopenable_log_refuses_start);
	CU_add_test(s, "carapacectl status, streams",
		    test_ctl_status_and_streams);
	CU_add_test(s, "carapacectl sniff", test_ctl_sniff);
	CU_add_test(s, "carapacectl sniff shows no controls",
		    test_ctl_sniff_shows_no_controls);
	CU_add_test(s, "carapacectl check-config, errors",
		    test_ctl_check_config_and_errors);
	CU_add_test(s, "shutdown ends streams on record",
		    test_shutdown_ends_streams_on_record);
	int rc = cu_run();
	remove_workdir();
	return rc;
}
