/* auditd — the audited daemon that test_audit, test_admin and test_ctl
 * each start once (their suite's init and clean): carapaced with an audit
 * log, an admin listener on 127.0.0.1 and these tools, in front of one
 * test upstream:
 *   sig    http, JSON-RPC methods send and version, body logged with
 *          "recipient" and "*password*" redacted, HEADER_SECRET injected
 *   web    http, audit on, HEADER_SECRET injected as X-Api-Key
 *   quiet  http, audit off
 *   lim    http, 2 requests an hour
 *   dead   http, an upstream nobody listens on
 *   ct     cli (tests/clitool), argv logged with "--session" redacted,
 *          ENV_SECRET in its environment
 * and the helpers their tests share: the records of the audit log, the
 * admin API, the live tail read on a thread, carapacectl.
 *
 * For test programs only: the globals are the fixture's state, set by
 * auditd_suite_init() (workdir by the program's mkdtemp). Single-threaded
 * except struct tail, whose counters its reader thread updates. */
#ifndef CARAPACE_AUDITD_H
#define CARAPACE_AUDITD_H

#include <json-c/json.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "testutil.h"

/* Host-side secrets: they must reach the upstream and the tool, and
 * never any log, tail, metric or status. */
#define HEADER_SECRET "SECRET-HDR-8f3a21"
#define ENV_SECRET "SECRET-ENV-77c1d9"

/* carapaced and carapacectl, from the environment */
extern const char *carapaced_path, *ctl_path;
extern char workdir[];		/* a template until the program's mkdtemp */
extern char conf_path[600], audit_path[700], errlog_path[700];
extern pid_t up_pid, gw_pid, gw2_pid;	/* gw2: test_audit's second one */
extern int up_port, gw_port, admin_port;

/* CUnit suite init and clean: upstream and daemon started, stopped. */
int auditd_suite_init(void);
int auditd_suite_clean(void);

/* o[key] if a string (borrowed) / an integer; else NULL / -1. */
const char *str_at(json_object *o, const char *key);
int64_t int_at(json_object *o, const char *key);
/* A whole file, NUL-terminated (caller frees); NULL if unreadable. */
char *slurp(const char *path, size_t *len);
size_t count_lines(const char *path);
/* Waits until path has at least want lines; the count seen. */
size_t wait_lines(const char *path, size_t want, int limit_ms);
/* Every line of path parsed; caller puts the array. NULL if a line is
 * not a JSON object. */
json_object *read_records(const char *path);
/* Borrowed from records: the record with id and event / the last one
 * whose path is target; NULL if none. */
json_object *find_record(json_object *records, const char *id,
			 const char *event);
json_object *last_for_path(json_object *records, const char *target);
/* The newest record for target once written (5 s); caller puts
 * *records, the array it lives in. */
json_object *newest_for(const char *target, json_object **records);
int contains(const char *hay, size_t len, const char *needle);
/* An RFC 3339 UTC time with milliseconds, as the audit log writes. */
int ts_ok(const char *ts);
/* No byte a terminal would obey (C0, DEL, C1 raw or UTF-8 encoded). */
int no_terminal_controls(const char *s, size_t len);

/* GET target on the admin listener (tu_http's conventions). */
int admin_get(const char *target, int *status, char **body);
/* The value of one sample of /metrics, or -1. */
double metric(const char *name, const char *labels);

/* JSON-RPC calls: one sig allows (its params hold redacted fields), one
 * it denies; rpc() POSTs body to sig. */
static const char rpc_send[] =
	"{\"jsonrpc\":\"2.0\",\"method\":\"send\",\"params\":{\"recipient\":"
	"[\"+15550001\"],\"message\":\"hi\",\"meta\":{\"deep\":{\"x_password_y\":"
	"\"pw-9\"}}},\"id\":7}";
static const char rpc_denied[] =
	"{\"jsonrpc\":\"2.0\",\"method\":\"removeAccount\",\"id\":8}";
int rpc(const char *body, int *status);

/* carapacectl ARGS (shell words), stderr with stdout in out; its exit
 * status or -1. */
int ctl(const char *args, char *out, size_t out_len);

/* The live tail GET /v1/audit<query>, read on a thread. */
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

/* 0 once the tail's head has arrived and its thread runs. */
int tail_start(struct tail *t, const char *query);
void tail_stop(struct tail *t);
/* Waits until the tail has accounted for want records: 0, or -1. */
int tail_wait(struct tail *t, int want, int limit_ms);

#endif
