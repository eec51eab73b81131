/* ledger — see ledger.h. */
#include "config.h"

#include "ledger.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "dbuf.h"
#include "redact.h"
#include "text.h"

#define RECORD_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* A value a record shows, kept as its text in the record: serialised and
 * cleaned once, when it is set, on the request's worker. A body may be
 * max_body_bytes: writing its record on MHD's thread, which serves every
 * client, then costs a copy, not a serialisation. */
struct rendered {
	char *text;                     /* NULL: not shown */
	size_t len;
};

struct ledger {
	struct audit *audit;
	struct metrics *metrics;
	uint32_t id_base;               /* random per start: ids stay unique
					 * across restarts */
	atomic_uint_fast64_t next_id;
	atomic_uint in_flight;
	pthread_mutex_t lock;           /* guards the list of open streams
					 * and the idle hook */
	struct ledger_entry *streams;
	void (*on_idle)(void *);
	void *on_idle_arg;
	int (*admission)(void *, const char *, const char *,
			 enum ledger_ending *);
	void *admission_arg;
};

struct ledger_entry {
	struct ledger *ledger;
	struct ledger_entry *prev, *next; /* in ledger->streams while open */
	char id[24];
	char *remote, *method, *target; /* remote: the peer's address */
	char *client;                   /* its name (clients), or NULL */
	char *tool;                     /* NULL: no tool was found */
	const char *kind;               /* "http" or "cli" */
	int audited;
	int log_body, log_argv;
	/* the tool's, borrowed while the request is being decided: only
	 * ledger_entry_set_body and ledger_entry_set_argv use it */
	const struct cfg_strings *redact;
	struct rendered jsonrpc_methods, argv, body;
	int methods_truncated;          /* jsonrpc_methods is not all */
	uint64_t bytes_in;
	atomic_uint_fast64_t bytes_out;
	atomic_int_fast64_t last_activity_ms; /* monotonic */
	struct timespec started;        /* wall clock, for "started" */
	int64_t started_ms;             /* monotonic */
	unsigned status;
	int stream;
	void (*closer)(void *);
	void *closer_arg;
	int closed_by;                  /* 0, or 1 + an entry_ending */
	/* a dry run let it pass: METRICS_WOULD_DENY or _HOLD and the rule
	 * (owned); METRICS_ALLOW and NULL: it was not one */
	enum metrics_decision dry_run;
	char *dry_rule;
	const char *approval_key;       /* "approval_id", "grant_id", NULL */
	char approval_id[40];
};

struct ledger *ledger_new(struct audit *audit, struct metrics *metrics)
{
	struct ledger *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	l->audit = audit;
	l->metrics = metrics;
	if (getrandom(&l->id_base, sizeof(l->id_base), GRND_NONBLOCK) < 0)
		l->id_base = (uint32_t)time(NULL);
	atomic_init(&l->next_id, 1);
	atomic_init(&l->in_flight, 0);
	pthread_mutex_init(&l->lock, NULL);
	return l;
}

void ledger_free(struct ledger *l)
{
	if (l == NULL)
		return;
	pthread_mutex_destroy(&l->lock);
	free(l);
}

/* ---- entries ---- */

static void entry_free(struct ledger_entry *e)
{
	free(e->remote);
	free(e->client);
	free(e->method);
	free(e->target);
	free(e->tool);
	free(e->jsonrpc_methods.text);
	free(e->argv.text);
	free(e->body.text);
	free(e->dry_rule);
	free(e);
}

struct ledger_entry *ledger_entry_new(struct ledger *l, const char *remote,
			const char *method, const char *target)
{
	struct ledger_entry *e = calloc(1, sizeof(*e));

	if (e == NULL)
		return NULL;
	e->ledger = l;
	e->remote = strdup(remote ? remote : "");
	e->method = strdup(method ? method : "");
	e->target = strdup(target ? target : "");
	if (!e->remote || !e->method || !e->target) {
		entry_free(e);
		return NULL;
	}
	atomic_fetch_add(&l->in_flight, 1);
	snprintf(e->id, sizeof(e->id), "%08x%08llx", l->id_base,
		 (unsigned long long)atomic_fetch_add(&l->next_id, 1));
	e->kind = "http";
	e->audited = 1;
	clock_gettime(CLOCK_REALTIME, &e->started);
	e->started_ms = (int64_t)text_mono_ms();
	atomic_init(&e->bytes_out, 0);
	atomic_init(&e->last_activity_ms, e->started_ms);
	return e;
}

void ledger_entry_discard(struct ledger_entry *e)
{
	if (e == NULL)
		return;
	struct ledger *l = e->ledger;
	entry_free(e);
	if (atomic_fetch_sub(&l->in_flight, 1) != 1)
		return;
	pthread_mutex_lock(&l->lock);
	if (l->on_idle != NULL)
		l->on_idle(l->on_idle_arg);
	pthread_mutex_unlock(&l->lock);
}

unsigned ledger_in_flight(struct ledger *l)
{
	return atomic_load(&l->in_flight);
}

void ledger_on_idle(struct ledger *l, void (*fn)(void *), void *arg)
{
	pthread_mutex_lock(&l->lock);
	l->on_idle = fn;
	l->on_idle_arg = arg;
	pthread_mutex_unlock(&l->lock);
}

void ledger_entry_set_closer(struct ledger_entry *e, void (*close)(void *),
			     void *arg)
{
	e->closer = close;
	e->closer_arg = arg;
}

int ledger_entry_set_tool(struct ledger_entry *e,
			  const struct cfg_tool *tool)
{
	char *name = strdup(tool->name);

	if (name == NULL)
		return -1;
	free(e->tool);
	e->tool = name;
	e->kind = tool->type == CFG_TOOL_CLI ? "cli" : "http";
	e->audited = tool->audit_enabled;
	e->redact = &tool->redact_patterns;
	e->log_body = tool->audit_log_body;
	e->log_argv = tool->audit_log_argv;
	return 0;
}

int ledger_entry_set_client(struct ledger_entry *e, const char *name)
{
	char *copy = strdup(name);

	if (copy == NULL)
		return -1;
	free(e->client);
	e->client = copy;
	return 0;
}

/* Every string of a record may hold a client's or an upstream's bytes
 * (path, method, argv, body, reasons quoting them): each piece of a line
 * is cleaned, so that each line is valid UTF-8 JSON whatever field a
 * later change adds. A piece ends where a JSON value does, on an ASCII
 * byte, and text_json_clean works a character at a time: the pieces
 * cleaned apart read as the whole line cleaned at once. NULL on out of
 * memory. */
static char *record_clean(struct json_object *v, size_t *len)
{
	const char *text = json_object_to_json_string_length(v, RECORD_FLAGS,
							     len);

	return text ? text_json_clean(text, *len, len) : NULL;
}

/* v (put here) becomes r's text; NULL (out of memory): not shown. */
static void render(struct rendered *r, struct json_object *v)
{
	free(r->text);
	r->text = v ? record_clean(v, &r->len) : NULL;
	json_object_put(v);
}

void ledger_entry_set_body(struct ledger_entry *e, const char *body,
			   size_t len)
{
	e->bytes_in = len;
	if (!e->log_body || !e->audited || len == 0)
		return;
	render(&e->body, redact_body(body ? body : "", len, e->redact));
}

void ledger_entry_set_jsonrpc_methods(struct ledger_entry *e,
				      struct json_object *methods,
				      int truncated)
{
	render(&e->jsonrpc_methods, methods);
	e->methods_truncated = truncated;
}

static int set_dry_run(struct ledger_entry *e, enum metrics_decision d,
		       const char *rule)
{
	char *copy = strdup(rule);

	if (copy == NULL)
		return -1;
	free(e->dry_rule);
	e->dry_rule = copy;
	e->dry_run = d;
	return 0;
}

int ledger_entry_set_would_deny(struct ledger_entry *e, const char *rule)
{
	return set_dry_run(e, METRICS_WOULD_DENY, rule);
}

int ledger_entry_set_would_hold(struct ledger_entry *e, const char *rule)
{
	if (e->dry_run == METRICS_WOULD_DENY)
		return 0;
	return set_dry_run(e, METRICS_WOULD_HOLD, rule);
}

void ledger_entry_set_argv(struct ledger_entry *e, char *const *argv,
			   size_t argc)
{
	if (!e->log_argv || !e->audited)
		return;
	render(&e->argv, redact_argv(argv, argc, e->redact));
}

/* ---- records ---- */

static const char *tool_label(const struct ledger_entry *e)
{
	return e->tool ? e->tool : "";
}

static void add_str(struct json_object *o, const char *key, const char *v)
{
	json_object_object_add(o, key, v ? json_object_new_string(v) : NULL);
}

static void add_int(struct json_object *o, const char *key, int64_t v)
{
	json_object_object_add(o, key, json_object_new_int64(v));
}

/* Milliseconds as seconds with three decimals, written as such (json-c
 * would print a double with 17 digits). */
static void add_secs(struct json_object *o, const char *key, int64_t ms)
{
	char text[32];

	snprintf(text, sizeof(text), "%lld.%03lld", (long long)(ms / 1000),
		 (long long)(ms % 1000));
	json_object_object_add(o, key,
			       json_object_new_double_s((double)ms / 1000.0,
							text));
}

/* Who asked which tool for what, as a record and /v1/streams both say
 * it. */
static void add_who_what(struct json_object *o, const struct ledger_entry *e)
{
	add_str(o, "client", e->client);
	add_str(o, "remote", e->remote);
	add_str(o, "tool", e->tool);
	add_str(o, "kind", e->kind);
	add_str(o, "http_method", e->method);
	add_str(o, "path", e->target);
}

/* A record is three pieces, its fields in the order DESIGN.md lists
 * them: this head, the values the entry keeps rendered (record_join), and
 * a tail of decision, counts and ending. */
static struct json_object *record_head(const struct ledger_entry *e,
				       const char *event)
{
	struct json_object *o = json_object_new_object();
	struct timespec now;
	char ts[40];

	if (o == NULL)
		return NULL;
	clock_gettime(CLOCK_REALTIME, &now);
	text_rfc3339(&now, ts, sizeof(ts));
	add_str(o, "ts", ts);
	add_str(o, "id", e->id);
	add_str(o, "event", event);
	add_who_what(o, e);
	if (e->approval_key != NULL)
		add_str(o, e->approval_key, e->approval_id);
	return o;
}

/* The tail, begun. */
static struct json_object *record_decision(const char *decision,
					   const char *reason, unsigned status)
{
	struct json_object *o = json_object_new_object();

	if (o == NULL)
		return NULL;
	add_str(o, "decision", decision);
	add_str(o, "reason", reason);
	add_int(o, "status", status);
	return o;
}

/* What an allowed request's record says: "allow", or for one a dry run
 * let pass, "would_deny" or "would_hold" and the rule that would have
 * refused or held it. */
static const char *allowed_decision(const struct ledger_entry *e)
{
	switch (e->dry_run) {
	case METRICS_WOULD_DENY:
		return "would_deny";
	case METRICS_WOULD_HOLD:
		return "would_hold";
	default:
		return "allow";
	}
}

static struct json_object *record_allowed(const struct ledger_entry *e,
					  const char *reason, unsigned status)
{
	struct json_object *o = record_decision(
		allowed_decision(e), e->dry_rule ? e->dry_rule : reason,
		status);

	if (o != NULL && e->dry_rule != NULL)
		add_str(o, "rule", e->dry_rule);
	return o;
}

enum record_duration { WITHOUT_DURATION, WITH_DURATION };

static void record_counts(struct json_object *o,
			  const struct ledger_entry *e,
			  enum record_duration duration)
{
	if (o == NULL)
		return;
	add_int(o, "bytes_in", (int64_t)e->bytes_in);
	add_int(o, "bytes_out", (int64_t)atomic_load(&e->bytes_out));
	if (duration == WITH_DURATION)
		add_int(o, "duration_ms",
			(int64_t)text_mono_ms() - e->started_ms);
	json_object_object_add(o, "stream", json_object_new_boolean(e->stream));
}

static void add_rendered(struct dbuf *b, const char *key,
			 const struct rendered *r)
{
	if (r->text == NULL)
		return;
	dbuf_printf(b, ",\"%s\":", key);
	dbuf_add(b, r->text, r->len);
}

/* The line, as if one object held head's fields, the kept values, then
 * tail's: each piece is an object's text ("{...}", never empty), joined
 * where the first closes and the last opens. 0, or -1 out of memory. */
static int record_join(struct dbuf *b, const struct ledger_entry *e,
		       const char *head, size_t hlen, const char *tail,
		       size_t tlen)
{
	/* the keys, quotes, colons and commas added here take fewer */
	size_t extra = 96;

	dbuf_reserve(b, hlen + e->jsonrpc_methods.len + e->argv.len +
				e->body.len + tlen + extra);
	dbuf_add(b, head, hlen - 1);
	add_rendered(b, "jsonrpc_methods", &e->jsonrpc_methods);
	if (e->methods_truncated)
		dbuf_addstr(b, ",\"jsonrpc_methods_truncated\":true");
	add_rendered(b, "argv", &e->argv);
	add_rendered(b, "body", &e->body);
	dbuf_addstr(b, ",");
	dbuf_add(b, tail + 1, tlen - 1);
	return dbuf_error(b) ? -1 : 0;
}

/* Writes the record and puts head and tail. On whichever thread ends the
 * entry — MHD's, for most: the kept values, which a client may make
 * large, were rendered before, and cost a copy here. */
static void record_write(const struct ledger_entry *e,
			 struct json_object *head, struct json_object *tail,
			 const char *decision)
{
	struct dbuf line = DBUF_INIT(SIZE_MAX);
	size_t hlen = 0, tlen = 0;
	char *h = NULL, *t = NULL;

	if (e->audited && head != NULL && tail != NULL) {
		h = record_clean(head, &hlen);
		t = record_clean(tail, &tlen);
	}
	if (h != NULL && t != NULL &&
	    record_join(&line, e, h, hlen, t, tlen) == 0)
		audit_write(e->ledger->audit, dbuf_str(&line), dbuf_len(&line),
			    e->tool, decision);
	dbuf_free(&line);
	free(h);
	free(t);
	json_object_put(head);
	json_object_put(tail);
}

/* ---- endings ---- */

/* Tells metrics what happened, in one call. */
static void count(const struct ledger_entry *e,
		  enum metrics_event_kind kind,
		  enum metrics_upstream_error upstream_error)
{
	struct metrics_event ev = {
		.kind = kind,
		.tool = e->tool,
		.client = e->client,
		.status = e->status,
		.stream = e->stream,
		.bytes_in = e->bytes_in,
		.seconds = (double)((int64_t)text_mono_ms() - e->started_ms) /
			   1000.0,
		.upstream_error = upstream_error,
		.allowed_as = e->dry_run,
	};

	metrics_record(e->ledger->metrics, &ev);
}

/* A request answered with an error and nothing more: one record, one
 * event, and the entry is gone. */
static void end_refused(struct ledger_entry *e, const char *decision,
			unsigned status, const char *reason,
			enum metrics_event_kind kind,
			enum metrics_upstream_error upstream_error)
{
	struct json_object *head = record_head(e, "request");
	struct json_object *o = decision != NULL ?
		record_decision(decision, reason, status) :
		record_allowed(e, reason, status);

	if (decision == NULL)
		decision = allowed_decision(e);

	record_counts(o, e, WITH_DURATION);
	record_write(e, head, o, decision);
	e->status = status;
	count(e, kind, upstream_error);
	ledger_entry_discard(e);
}

void ledger_entry_set_approval(struct ledger_entry *e, const char *key,
			       const char *id)
{
	e->approval_key = key;
	snprintf(e->approval_id, sizeof(e->approval_id), "%s", id);
}

void ledger_entry_deny(struct ledger_entry *e, unsigned status,
		       const char *reason)
{
	end_refused(e, "deny", status, reason, METRICS_DENIED,
		    METRICS_UPSTREAM_NONE);
}

void ledger_entry_fail(struct ledger_entry *e, unsigned status,
		       const char *reason,
		       enum metrics_upstream_error upstream_error)
{
	/* allowed (or let pass by a dry run): NULL says which */
	end_refused(e, NULL, status, reason, METRICS_FAILED, upstream_error);
}

static void streams_add(struct ledger *l, struct ledger_entry *e)
{
	pthread_mutex_lock(&l->lock);
	e->prev = NULL;
	e->next = l->streams;
	if (l->streams != NULL)
		l->streams->prev = e;
	l->streams = e;
	pthread_mutex_unlock(&l->lock);
}

static void streams_remove(struct ledger *l, struct ledger_entry *e)
{
	pthread_mutex_lock(&l->lock);
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		l->streams = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	pthread_mutex_unlock(&l->lock);
}

void ledger_set_admission(struct ledger *l,
			  int (*doomed)(void *arg, const char *tool,
					const char *client,
					enum ledger_ending *why),
			  void *arg)
{
	l->admission = doomed;
	l->admission_arg = arg;
}

/* A stream just listed: ended now if what ended streams meanwhile (a
 * revocation, a reload) would have ended it. Checked after it is on the
 * list, so every ledger_close_streams either finds it or ran before
 * this check, whose answer then reflects it. */
static void admit_stream(struct ledger *l, struct ledger_entry *e)
{
	enum ledger_ending why = LEDGER_ENDED_RELOAD;

	if (l->admission == NULL ||
	    !l->admission(l->admission_arg, tool_label(e),
			  e->client ? e->client : "", &why))
		return;
	pthread_mutex_lock(&l->lock);
	if (!e->closed_by) {
		e->closed_by = 1 + (int)why;
		if (e->closer != NULL)
			e->closer(e->closer_arg);
	}
	pthread_mutex_unlock(&l->lock);
}

void ledger_entry_open(struct ledger_entry *e, unsigned status,
		       enum ledger_answer answer)
{
	e->status = status;
	e->stream = answer == LEDGER_STREAM;
	count(e, METRICS_OPENED, METRICS_UPSTREAM_NONE);
	if (!e->stream)
		return;
	struct json_object *head = record_head(e, "stream_open");
	struct json_object *o = record_allowed(e, "allowed", status);
	record_counts(o, e, WITHOUT_DURATION);
	record_write(e, head, o, allowed_decision(e));
	streams_add(e->ledger, e);
	admit_stream(e->ledger, e);
}

void ledger_entry_add_out(struct ledger_entry *e, size_t n)
{
	struct metrics_event ev = {
		.kind = METRICS_SENT,
		.tool = e->tool,
		.client = e->client,
		.bytes_out = n,
	};

	atomic_fetch_add(&e->bytes_out, n);
	atomic_store(&e->last_activity_ms, (int64_t)text_mono_ms());
	metrics_record(e->ledger->metrics, &ev);
}

static const char *ending_name(enum ledger_ending how, int stream)
{
	switch (how) {
	case LEDGER_ENDED_COMPLETE:
		return stream ? "upstream_closed" : "complete";
	case LEDGER_ENDED_CLIENT_CLOSED:
		return "client_closed";
	case LEDGER_ENDED_ERROR:
		return "error";
	case LEDGER_ENDED_RELOAD:
		return "reload";
	case LEDGER_ENDED_SHUTDOWN:
		return "shutdown";
	case LEDGER_ENDED_CLIENT_STALLED:
		return "client_stalled";
	case LEDGER_ENDED_REVOKED:
		return "revoked";
	}
	return "error";
}

/* exit_code or signal, the other null. */
static void record_exit(struct json_object *o, const struct ledger_exit *proc)
{
	int sig = proc->signal;

	json_object_object_add(o, "exit_code",
			       sig ? NULL : json_object_new_int(proc->code));
	json_object_object_add(o, "signal",
			       sig ? json_object_new_int(sig) : NULL);
}

void ledger_entry_end(struct ledger_entry *e, enum ledger_ending how,
		      const struct ledger_exit *proc)
{
	struct json_object *head = record_head(
		e, e->stream ? "stream_end" : "request");
	struct json_object *o;

	if (e->stream) {
		/* closed_by is written under the lock, by a reload or stop */
		pthread_mutex_lock(&e->ledger->lock);
		if (e->closed_by)
			how = (enum ledger_ending)(e->closed_by - 1);
		pthread_mutex_unlock(&e->ledger->lock);
	}
	o = record_allowed(e, "allowed", e->status);
	if (proc != NULL)
		record_exit(o, proc);
	record_counts(o, e, WITH_DURATION);
	add_str(o, "ended", ending_name(how, e->stream));
	record_write(e, head, o, allowed_decision(e));
	if (e->stream)
		streams_remove(e->ledger, e);
	count(e, METRICS_ENDED, how == LEDGER_ENDED_ERROR ?
					METRICS_UPSTREAM_BROKEN :
					METRICS_UPSTREAM_NONE);
	ledger_entry_discard(e);
}

/* ---- GET /v1/streams ---- */

static struct json_object *stream_json(const struct ledger_entry *e,
				       int64_t now)
{
	struct json_object *o = json_object_new_object();
	char ts[40];

	text_rfc3339(&e->started, ts, sizeof(ts));
	add_str(o, "id", e->id);
	add_who_what(o, e);
	/* the key before http_method, kept for one release: remove it in
	 * the next */
	add_str(o, "method", e->method);
	add_str(o, "started", ts);
	add_secs(o, "age_secs", now - e->started_ms);
	add_int(o, "bytes_out", (int64_t)atomic_load(&e->bytes_out));
	add_secs(o, "idle_secs", now - atomic_load(&e->last_activity_ms));
	return o;
}

unsigned ledger_close_streams(struct ledger *l,
			      int (*doomed)(void *arg, const char *tool,
					    const char *client),
			      void *arg, enum ledger_ending why)
{
	unsigned n = 0;

	pthread_mutex_lock(&l->lock);
	for (struct ledger_entry *e = l->streams; e != NULL; e = e->next) {
		if (e->closed_by ||
		    !doomed(arg, tool_label(e), e->client ? e->client : ""))
			continue;
		e->closed_by = 1 + (int)why;
		if (e->closer != NULL)
			e->closer(e->closer_arg);
		n++;
	}
	pthread_mutex_unlock(&l->lock);
	return n;
}

struct json_object *ledger_streams(struct ledger *l)
{
	struct json_object *top = json_object_new_object();
	struct json_object *arr = json_object_new_array();
	int64_t now = (int64_t)text_mono_ms();

	pthread_mutex_lock(&l->lock);
	for (const struct ledger_entry *e = l->streams; e != NULL; e = e->next)
		json_object_array_add(arr, stream_json(e, now));
	pthread_mutex_unlock(&l->lock);
	json_object_object_add(top, "streams", arr);
	return top;
}
