/* cli — see cli.h. */
#include "config.h"

#include "cli.h"

#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bodycheck.h"
#include "dbuf.h"
#include "exec.h"
#include "log.h"
#include "policy.h"
#include "redact.h"
#include "secret.h"
#include "sse.h"
#include "text.h"
#include "workers.h"

#define KILL_GRACE_MS 2000
#define DEFAULT_PATH "PATH=/usr/local/bin:/usr/bin:/bin"
/* One event of output: a read of exec's (64 KiB at most) as JSON, whose
 * escapes take at most 6 bytes a byte, and its framing. */
#define EVENT_MAX ((size_t)1 << 20)

struct job {
	const struct cfg *cfg;          /* a reference */
	const struct cfg_tool *tool;    /* in cfg */
	char *tool_name;                /* as requested */
	struct ledger_entry *entry;     /* until ended or attached */
	int sse;
	char *body;                     /* until parsed and recorded */
	size_t len;
	struct cli_request *req;        /* once parsed */
	struct stream *stream;
	int cancel_fd;
	struct approvals *approvals;    /* NULL: nothing is held */
	char *client_key;
	unsigned char digest[32];       /* the body's SHA-256, for a hold */
	int digest_rc;
	/* output kept for the JSON answer, stdout and stderr: each bounded
	 * by max_output_bytes, which exec enforces on the two together; an
	 * add that fails (out of memory) sticks, and stops the run */
	struct dbuf out[2];
};

/* ---- max_concurrent: children running per tool ---- */

/* Keyed by the tool's name, not its object: a reload makes new objects
 * while the old runs go on, and those still count against the limit of
 * the tool that replaces theirs. */
struct running {
	struct running *next;
	char *name;         /* owned */
	unsigned n;
};

static pthread_mutex_t running_lock = PTHREAD_MUTEX_INITIALIZER;
static struct running *running;

static struct running *running_find(const char *name)
{
	struct running *r;

	for (r = running; r != NULL && strcmp(r->name, name) != 0;
	     r = r->next)
		;
	return r;
}

static int running_take(const struct cfg_tool *tool)
{
	struct running *r;
	int ok = 0;

	pthread_mutex_lock(&running_lock);
	r = running_find(tool->name);
	if (r == NULL && (r = calloc(1, sizeof(*r))) != NULL) {
		if ((r->name = strdup(tool->name)) == NULL) {
			free(r);
			r = NULL;
		} else {
			r->next = running;
			running = r;
		}
	}
	if (r != NULL && r->n < tool->cli.max_concurrent) {
		r->n++;
		ok = 1;
	}
	/* only a fresh entry, at the head, can be at 0 (max_concurrent 0):
	 * the table keeps no entry without a run */
	if (r != NULL && r->n == 0) {
		running = r->next;
		free(r->name);
		free(r);
	}
	pthread_mutex_unlock(&running_lock);
	return ok;
}

/* An entry lives while its name has children running, so the table holds
 * no more than the runs going on. */
static void running_give(const struct cfg_tool *tool)
{
	pthread_mutex_lock(&running_lock);
	for (struct running **p = &running; *p != NULL; p = &(*p)->next) {
		struct running *r = *p;
		if (strcmp(r->name, tool->name) != 0)
			continue;
		if (r->n > 0)
			r->n--;
		if (r->n == 0) {
			*p = r->next;
			free(r->name);
			free(r);
		}
		break;
	}
	pthread_mutex_unlock(&running_lock);
}

/* ---- text: UTF-8 or base64 ---- */

static json_object *base64_of(const void *s, size_t n)
{
	size_t len;
	char *b64 = text_base64_encode(s, n, &len);
	json_object *js = b64 ? json_object_new_string_len(b64, (int)len) :
				NULL;

	free(b64);
	return js;
}

/* Adds name (text or base64) and name_base64 to obj. */
static void add_text(json_object *obj, const char *name, const char *data,
		     size_t len)
{
	char flag[32];
	int text = text_utf8_valid(data, len);

	snprintf(flag, sizeof(flag), "%s_base64", name);
	json_object_object_add(
		obj, name,
		text ? json_object_new_string_len(data, (int)len) :
		       base64_of(data, len));
	json_object_object_add(obj, flag, json_object_new_boolean(!text));
}

/* ---- answers ---- */

static int publish_head(struct stream *s, const char *content_type,
			long long length)
{
	struct stream_head *h = bodycheck_head(200, content_type, length, 0);

	return h != NULL ? stream_publish_head(s, h) : -1;
}

/* One SSE event whose data is a single line of JSON (plain json-c text
 * has no line break); waits for room no later than deadline_ms (0: no
 * limit but the stream's send timeout). 0, -1 cancelled or out of
 * memory, -2 not queued by the deadline. */
static int push_event(struct stream *s, const char *event,
		      json_object *obj, long long deadline_ms)
{
	size_t len;
	const char *json = json_object_to_json_string_length(
		obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
		&len);
	struct dbuf text = DBUF_INIT(EVENT_MAX);

	if (json == NULL || sse_write(&text, event, json, len) < 0) {
		dbuf_free(&text);
		return -1;
	}
	uint64_t until = deadline_ms > 0 ? (uint64_t)deadline_ms : 0;
	int rc = stream_push_until(s, dbuf_str(&text), dbuf_len(&text), until);
	dbuf_free(&text);
	return rc;
}

static json_object *result_json(const struct exec_result *res)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "exit_code",
			       res->signal ? NULL :
					     json_object_new_int(res->exit_code));
	json_object_object_add(o, "signal",
			       res->signal ? json_object_new_int(res->signal) :
					     NULL);
	json_object_object_add(o, "timed_out",
			       json_object_new_boolean(res->timed_out));
	json_object_object_add(o, "truncated",
			       json_object_new_boolean(res->truncated));
	return o;
}

static int on_output(void *arg, enum exec_channel channel, const char *data,
		     size_t len, long long deadline_ms)
{
	struct job *j = arg;
	const char *name = channel == EXEC_STDOUT ? "stdout" : "stderr";

	if (!j->req->sse) {
		return dbuf_add(&j->out[channel == EXEC_STDERR], data, len);
	}
	json_object *o = json_object_new_object();
	if (text_utf8_valid(data, len))
		json_object_object_add(o, "data",
				       json_object_new_string_len(data,
								  (int)len));
	else
		json_object_object_add(
			o, "base64",
			base64_of(data, len));
	int rc = push_event(j->stream, name, o, deadline_ms);
	json_object_put(o);
	return rc;
}

/* The JSON answer, whole: head with its length, body, end. */
static void answer_json(struct job *j, const struct exec_result *res)
{
	json_object *o = result_json(res);

	add_text(o, "stdout", dbuf_str(&j->out[0]), dbuf_len(&j->out[0]));
	add_text(o, "stderr", dbuf_str(&j->out[1]), dbuf_len(&j->out[1]));
	const char *text = json_object_to_json_string_ext(
		o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t len = strlen(text);
	if (publish_head(j->stream, "application/json", (long long)len) < 0 ||
	    stream_push(j->stream, text, len) < 0)
		stream_finish(j->stream, STREAM_END_BROKEN);
	else
		stream_finish(j->stream, STREAM_END_WHOLE);
	json_object_put(o);
}

/* ---- the worker ---- */

static void wake_cancel(void *arg)
{
	static const uint64_t one = 1;
	struct job *j = arg;

	if (write(j->cancel_fd, &one, sizeof(one)) < 0)
		return; /* the counter is already set: the child is stopping */
}

/* env_inject plus a fixed PATH (unless env_inject sets one): nothing from
 * the client, nothing from carapaced's own environment. */
static char **build_env(const struct cfg_tool *tool)
{
	char **env = calloc(tool->cli.n_env_inject + 2, sizeof(*env));
	size_t n = 0;
	int has_path = 0;

	if (env == NULL)
		return NULL;
	for (size_t i = 0; i < tool->cli.n_env_inject; i++) {
		const struct cfg_header *e = &tool->cli.env_inject[i];
		size_t len = strlen(e->name) + strlen(e->value) + 2;
		if ((env[n] = malloc(len)) == NULL)
			goto fail;
		snprintf(env[n++], len, "%s=%s", e->name, e->value);
		has_path |= strcmp(e->name, "PATH") == 0;
	}
	if (!has_path && (env[n++] = strdup(DEFAULT_PATH)) == NULL)
		goto fail;
	return env;
fail:
	for (size_t i = 0; i < n; i++)
		free(env[i]);
	free(env);
	return NULL;
}

static void free_env(char **env)
{
	for (size_t i = 0; env != NULL && env[i] != NULL; i++)
		free(env[i]);
	free(env);
}

/* What the client is told once the child has ended (rc and res from
 * exec_run). */
static void answer_end(struct job *j, int rc, const struct exec_result *res)
{
	const struct cfg_tool *tool = j->req->tool;

	if (res->undelivered)
		log_info("%s: the client took too little; output after the "
			 "timeout dropped", tool->name);
	if (rc < 0 && res->spawn_errno != 0) {
		log_warnx("%s: cannot run %s: %s", tool->name, tool->cli.binary,
			  strerror(res->spawn_errno));
		if (j->req->sse)
			stream_finish(j->stream, STREAM_END_BROKEN);
		else
			stream_fail(j->stream, STREAM_FAIL_INTERNAL,
				    "cannot run the tool");
		return;
	}
	stream_set_exit(j->stream, res->exit_code, res->signal);
	if (!j->req->sse) {
		answer_json(j, res);
		return;
	}
	/* After dropped output, the exit event goes only if it fits now, and
	 * the body ends broken: the client must not take it for whole. */
	json_object *o = result_json(res);
	int ok = push_event(j->stream, "exit", o,
			    res->undelivered ? 1 : 0) == 0;
	stream_finish(j->stream, rc == 0 && ok && !res->undelivered);
	json_object_put(o);
}

static void run_job(struct job *j)
{
	const struct cfg_tool *tool = j->req->tool;
	char **env = build_env(tool);
	struct exec_result res;
	struct exec_spec spec = {
		.binary = tool->cli.binary,
		.argv = j->req->argv,
		.envp = env,
		.cwd_fd = j->req->cwd_fd, /* -1, no cwd asked: "/" */
		.stdin_data = j->req->stdin_data,
		.stdin_len = j->req->stdin_len,
		.timeout_ms = tool->timeout_secs * 1000u,
		.grace_ms = KILL_GRACE_MS,
		.max_output = tool->cli.max_output_bytes,
		.cancel_fd = j->cancel_fd,
		.client_fd = stream_client_fd(j->stream),
	};

	j->req->argv[0] = (char *)tool->cli.binary;
	if (env == NULL ||
	    (j->req->sse &&
	     publish_head(j->stream, "text/event-stream", -1) < 0)) {
		stream_fail(j->stream, STREAM_FAIL_INTERNAL, "out of memory");
		free_env(env);
		running_give(tool);
		return;
	}
	stream_set_cancel_hook(j->stream, wake_cancel, j);
	/* a cancel before the hook (the client left, or a stop, while the
	 * body was checked) has called no hook */
	if (stream_is_cancelled(j->stream))
		wake_cancel(j);
	int rc = exec_run(&spec, on_output, j, &res);
	stream_set_cancel_hook(j->stream, NULL, NULL);
	j->req->argv[0] = NULL;
	free_env(env);
	/* max_concurrent counts children: the slot is free once ours is
	 * gone, however long the client then takes over the answer */
	running_give(tool);
	answer_end(j, rc, &res);
}

/* ---- the check, on the worker ---- */

/* Refused: the record first (a 5xx is ours, not the client's fault: a
 * failure), then the answer. Always -1. */
static int refuse(struct job *j, unsigned status, const char *reason)
{
	if (status >= 500)
		ledger_entry_fail(j->entry, status, reason,
				  METRICS_UPSTREAM_NONE);
	else
		ledger_entry_deny(j->entry, status, reason);
	j->entry = NULL;
	bodycheck_publish_refusal(j->stream, status, reason, j->tool_name,
				  NULL, 0);
	return -1;
}

/* The body parsed for the run, then recorded (the redacted copy for the
 * audit: one tree at a time), then freed; argv recorded. 0, or -1
 * answered (400, or 500 out of memory). */
static int parse_job(struct job *j)
{
	struct error err;
	size_t argc;

	j->req = cli_request_parse(j->tool, j->sse, j->body ? j->body : "",
				   j->len, &err);
	ledger_entry_set_body(j->entry, j->body ? j->body : "", j->len);
	if (j->approvals != NULL)
		j->digest_rc = secret_sha256(j->body ? j->body : "", j->len,
					     j->digest);
	free(j->body);
	j->body = NULL;
	if (j->req == NULL)
		return refuse(j, (unsigned)err.status, err.msg);
	char *const *argv = cli_request_argv(j->req, &argc);
	ledger_entry_set_argv(j->entry, argv, argc);
	return 0;
}

/* Held for a person's approval when require_approval says so (a slot
 * is not taken meanwhile). 0: go on; -1 refused and answered. */
static int hold_job(struct job *j)
{
	size_t argc;
	char *const *argv = cli_request_argv(j->req, &argc);
	struct approval_call call = { .kind = APPROVAL_ARGV, .argv = argv,
				      .argc = argc };
	struct approval_request rq = {
		.tool = j->tool, .client = j->client_key,
		.kind = APPROVAL_ARGV, .stream = j->stream,
	};
	struct dbuf what = DBUF_INIT(APPROVAL_WHAT_MAX);
	char reason[320];

	if (!approvals_required(j->tool, &call, &rq.rule))
		return 0;
	/* shown to the approver, the feed, the audit trail: redacted as
	 * log_argv would be (the digest still tells calls apart) */
	struct json_object *shown = redact_argv(argv, argc,
						&j->tool->redact_patterns);
	size_t n = shown ? json_object_array_length(shown) : 0;
	for (size_t i = 0; i < n; i++)
		dbuf_printf(&what, "%s%s", i ? " " : "",
			    json_object_get_string(
				    json_object_array_get_idx(shown, i)));
	if (shown == NULL)
		dbuf_fail(&what, ENOMEM);
	json_object_put(shown);
	rq.what = dbuf_str(&what);
	memcpy(rq.digest, j->digest, sizeof(rq.digest));
	unsigned status = 503;
	snprintf(reason, sizeof(reason), "%s", dbuf_error(&what) ?
		 "too much to hold for approval" : "out of memory");
	if (j->digest_rc == 0 && !dbuf_error(&what))
		status = bodycheck_hold(j->approvals, &rq, j->entry, reason,
					sizeof(reason));
	dbuf_free(&what);
	if (status == 0)
		return 0;
	if (status >= 500)
		log_info("%s: not run: %s", j->tool->name, reason);
	return refuse(j, status, reason);
}

/* What the MHD thread once decided before the run, in the same order:
 * the body, argv, the cwd, max_concurrent. 0: allowed, a slot taken and
 * the entry attached to the stream; -1: refused and answered. */
static int check_job(struct job *j)
{
	const struct cfg_tool *tool = j->tool;
	struct policy_verdict v;
	struct error err;
	size_t argc;

	if (parse_job(j) < 0)
		return -1;
	char *const *argv = cli_request_argv(j->req, &argc);
	if (policy_check_argv(tool, argv, argc, &v) < 0 &&
	    !bodycheck_dry_run(tool, j->entry, &v)) {
		log_info("%s: denied: %s", tool->name, v.reason);
		return refuse(j, (unsigned)v.status, v.reason);
	}
	if (cli_request_check_cwd(j->req, &err) < 0) {
		log_info("%s: denied: %s", tool->name, err.msg);
		return refuse(j, (unsigned)err.status, err.msg);
	}
	if (j->approvals != NULL && hold_job(j) < 0)
		return -1;
	if (!running_take(tool))
		return refuse(j, 503, "tool is at max_concurrent");
	/* back to the MHD thread with the head (or the failure) */
	stream_attach(j->stream, j->entry, bodycheck_drop_entry);
	j->entry = NULL;
	return 0;
}

static void cli_main(void *arg)
{
	struct job *j = arg;

	if (check_job(j) == 0)
		run_job(j);
	close(j->cancel_fd);
	dbuf_free(&j->out[0]);
	dbuf_free(&j->out[1]);
	stream_release(j->stream);
	cli_request_free(j->req); /* the entry: ended or attached */
	free(j->tool_name);
	free(j->client_key);
	cfg_release(j->cfg);
	free(j);
}

int cli_start(const struct cli_args *a, struct stream *s)
{
	struct job *j = calloc(1, sizeof(*j));

	if (j == NULL || (j->tool_name = strdup(a->tool_name)) == NULL)
		goto fail;
	/* exec stops the child at max_output_bytes (0: none, in a tool not
	 * made by cfg.c), so neither channel ever holds more */
	for (int i = 0; i < 2; i++)
		dbuf_init(&j->out[i], a->tool->cli.max_output_bytes ?
					      a->tool->cli.max_output_bytes :
					      SIZE_MAX);
	j->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (j->cancel_fd < 0)
		goto fail;
	j->cfg = cfg_hold(a->cfg);
	j->tool = a->tool;
	j->entry = a->entry;
	j->sse = a->sse;
	j->body = a->body;
	j->len = a->len;
	j->stream = s;
	j->approvals = a->approvals;
	if (a->approvals != NULL && a->tool->approval.enabled &&
	    (j->client_key = strdup(a->client_key)) == NULL)
		goto release;
	if (!a->tool->approval.enabled)
		j->approvals = NULL;
	if (workers_run(cli_main, j) == 0)
		return 0;
release:
	free(j->client_key);
	cfg_release(j->cfg);
	close(j->cancel_fd);
fail:
	if (j != NULL)
		free(j->tool_name);
	free(j);
	return -1;
}
