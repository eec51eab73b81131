/* auditd — the audited daemon test_audit, test_admin and test_ctl share:
 * see auditd.h. */
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

#include "promtext.h"
#include "testutil.h"
#include "auditd.h"

const char *carapaced_path, *ctl_path;
char workdir[] = "/tmp/carapaced-audit-XXXXXX";
char conf_path[600], audit_path[700], errlog_path[700];
pid_t up_pid = -1, gw_pid = -1, gw2_pid = -1;
int up_port, gw_port, admin_port;

/* ---- helpers ---- */

const char *str_at(json_object *o, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) &&
		       json_object_is_type(v, json_type_string) ?
		       json_object_get_string(v) :
		       NULL;
}

int64_t int_at(json_object *o, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) &&
		       json_object_is_type(v, json_type_int) ?
		       json_object_get_int64(v) :
		       -1;
}

/* A whole file, NUL-terminated (caller frees); NULL if unreadable. */
char *slurp(const char *path, size_t *len)
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

size_t count_lines(const char *path)
{
	char *text = slurp(path, NULL);
	size_t n = 0;

	for (const char *p = text; p && *p; p++)
		n += *p == '\n';
	free(text);
	return n;
}

/* Waits until path has at least want lines; the count seen. */
struct lines {
	const char *path;
	size_t want, n;
};

static int has_lines(void *arg)
{
	struct lines *l = arg;

	return (l->n = count_lines(l->path)) >= l->want;
}

size_t wait_lines(const char *path, size_t want, int limit_ms)
{
	struct lines l = { path, want, 0 };

	tu_wait_until(has_lines, &l, (unsigned)limit_ms);
	return l.n;
}

/* Every line of path parsed; caller puts the array. NULL if a line is
 * not a JSON object (the test then fails on it). */
json_object *read_records(const char *path)
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
json_object *find_record(json_object *records, const char *id,
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
json_object *last_for_path(json_object *records, const char *target)
{
	for (size_t i = json_object_array_length(records); i-- > 0;) {
		json_object *o = json_object_array_get_idx(records, i);
		const char *p = str_at(o, "path");
		if (p && strcmp(p, target) == 0)
			return o;
	}
	return NULL;
}

int contains(const char *hay, size_t len, const char *needle)
{
	return hay != NULL && memmem(hay, len, needle, strlen(needle)) != NULL;
}

int admin_get(const char *target, int *status, char **body)
{
	return tu_http(admin_port, "GET", target, TU_ADMIN_AUTH, NULL, status,
		       body, NULL);
}

/* The value of one sample of /metrics, or -1. */
double metric(const char *name, const char *labels)
{
	int status;
	char *text = NULL;
	double v = -1;

	if (admin_get("/metrics", &status, &text) == 0 && status == 200)
		promtext_value(text, name, labels, &v);
	free(text);
	return v;
}

int rpc(const char *body, int *status)
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
		 "  \"admin_token_sha256\": \"" TU_ADMIN_TOKEN_SHA256 "\",\n"
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

int auditd_suite_init(void)
{
	const char *up = getenv("UPSTREAM");

	carapaced_path = getenv("CARAPACED");
	ctl_path = getenv("CARAPACECTL");
	if (up == NULL || carapaced_path == NULL || ctl_path == NULL ||
	    getenv("CLITOOL") == NULL)
		return -1;
	tu_prepare_process();
	/* every carapacectl the tests run asks with it */
	setenv("CARAPACE_ADMIN_TOKEN", TU_ADMIN_TOKEN, 1);
	up_pid = tu_spawn_upstream(up, &up_port);
	gw_port = tu_free_port();
	admin_port = tu_free_port();
	snprintf(errlog_path, sizeof(errlog_path), "%s/carapaced.err", workdir);
	if (up_pid < 0 || write_config() < 0)
		return -1;
	gw_pid = tu_start_daemon(&(struct tu_daemon){
		.conf = conf_path, .ports = { gw_port, admin_port },
		.errlog = errlog_path });
	return gw_pid > 0 ? 0 : -1;
}

int auditd_suite_clean(void)
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
int tail_start(struct tail *t, const char *query)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	snprintf(t->query, sizeof(t->query), "/v1/audit%s", query);
	t->fd = tu_connect(admin_port);
	if (t->fd < 0 ||
	    tu_send_request(t->fd, "GET", t->query, TU_ADMIN_AUTH, NULL,
			    0) < 0 ||
	    tu_read_head(&t->resp, t->fd, 5000) < 0 || t->resp.status != 200)
		return -1;
	return pthread_create(&t->thread, NULL, tail_main, t) == 0 ? 0 : -1;
}

void tail_stop(struct tail *t)
{
	atomic_store(&t->stop, 1);
	pthread_join(t->thread, NULL);
	tu_resp_free(&t->resp);
	close(t->fd);
	free(t->raw);
	pthread_mutex_destroy(&t->lock);
}

/* Waits until the tail has accounted for want records. */
struct tail_want {
	struct tail *t;
	int want;
};

static int tail_has(void *arg)
{
	const struct tail_want *w = arg;

	return atomic_load(&w->t->records) + atomic_load(&w->t->dropped) >=
	       w->want;
}

int tail_wait(struct tail *t, int want, int limit_ms)
{
	struct tail_want w = { t, want };

	return tu_wait_until(tail_has, &w, (unsigned)limit_ms);
}


int ts_ok(const char *ts)
{
	int y, mo, d, h, mi, s, ms;
	char z;

	return ts && strlen(ts) == 24 &&
	       sscanf(ts, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi,
		      &s, &ms, &z) == 8 &&
	       z == 'Z';
}


/* The newest record for target, once it is written; caller puts the
 * array it lives in (*records). */
struct newest {
	const char *target;
	json_object *records, *record;
};

static int has_record(void *arg)
{
	struct newest *n = arg;

	json_object_put(n->records);
	n->records = read_records(audit_path);
	n->record = n->records ? last_for_path(n->records, n->target) : NULL;
	return n->record != NULL;
}

json_object *newest_for(const char *target, json_object **records)
{
	struct newest n = { target, NULL, NULL };

	if (tu_wait_until(has_record, &n, 5000) < 0) {
		json_object_put(n.records);
		n.records = NULL;
	}
	*records = n.records;
	return n.records ? n.record : NULL;
}

/* No byte a terminal would obey: C0 (the line has no newline), DEL, and
 * C1 whether raw (0x9b is CSI to an 8-bit terminal) or UTF-8 encoded. */
int no_terminal_controls(const char *s, size_t len)
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

/* The admin API over the unix socket, through carapacectl. */
int ctl(const char *args, char *out, size_t out_len)
{
	char cmd[2400];

	snprintf(cmd, sizeof(cmd), "'%s' %s", ctl_path, args);
	return tu_run(cmd, out, out_len);
}
