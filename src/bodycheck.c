/* bodycheck — see bodycheck.h. What the MHD thread did in dispatch()
 * until the check moved here: the same decisions, the same records, the
 * same answers, only published through the stream. */
#include "config.h"

#include "bodycheck.h"

#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "dbuf.h"
#include "httpd.h"
#include "log.h"
#include "mcplist.h"
#include "policy.h"
#include "request.h"
#include "secret.h"
#include "text.h"

/* How long a held request ended by a stop waits for its answer to go. */
#define STOP_ANSWER_MS 5000

struct bodycheck {
	const struct cfg *cfg;          /* a reference */
	const struct cfg_tool *tool;
	const struct cfg_client *client; /* in cfg, or NULL */
	char *tool_name;
	struct ratelimit *ratelimit;
	struct ledger_entry *entry;     /* until ended or attached */
	int jsonrpc;
	int rate_pending;
	struct policy_mcp_headers *mcp; /* compared with the body */
	int deciding;                   /* counted in `deciding` below */
	struct approvals *approvals;    /* NULL: nothing is held */
	char *http_method, *target, *client_key;
};

/* Checks made and not yet decided: server_stop waits for none. */
static pthread_mutex_t idle_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle_cond = PTHREAD_COND_INITIALIZER;
static unsigned deciding;

static void decided(struct bodycheck *bc)
{
	if (!bc->deciding)
		return;
	bc->deciding = 0;
	pthread_mutex_lock(&idle_lock);
	if (--deciding == 0)
		pthread_cond_broadcast(&idle_cond);
	pthread_mutex_unlock(&idle_lock);
}

void bodycheck_wait_idle(void)
{
	pthread_mutex_lock(&idle_lock);
	while (deciding > 0)
		pthread_cond_wait(&idle_cond, &idle_lock);
	pthread_mutex_unlock(&idle_lock);
}

static void free_strings(struct bodycheck *bc)
{
	free(bc->tool_name);
	free(bc->http_method);
	free(bc->target);
	free(bc->client_key);
}

/* What the hold needs, for a tool that may hold (else nothing). */
static int copy_hold_args(struct bodycheck *bc, const struct bodycheck_args *a)
{
	if (a->approvals == NULL || !a->tool->approval.enabled)
		return 0;
	bc->approvals = a->approvals;
	bc->http_method = strdup(a->http_method);
	size_t n = strlen(a->target_prefix) + strlen(a->target) + 1;
	if ((bc->target = malloc(n)) != NULL)
		snprintf(bc->target, n, "%s%s", a->target_prefix, a->target);
	bc->client_key = strdup(a->client_key);
	return bc->http_method && bc->target && bc->client_key ? 0 : -1;
}

struct bodycheck *bodycheck_new(const struct bodycheck_args *a)
{
	struct bodycheck *bc = calloc(1, sizeof(*bc));

	if (bc == NULL || (bc->tool_name = strdup(a->tool_name)) == NULL ||
	    copy_hold_args(bc, a) < 0) {
		if (bc != NULL)
			free_strings(bc);
		free(bc);
		return NULL;
	}
	bc->cfg = cfg_hold(a->cfg);
	bc->tool = a->tool;
	bc->client = a->client;
	bc->ratelimit = a->ratelimit;
	bc->entry = a->entry;
	bc->jsonrpc = a->jsonrpc;
	bc->rate_pending = a->rate_pending;
	bc->mcp = a->mcp;
	bc->deciding = 1;
	pthread_mutex_lock(&idle_lock);
	deciding++;
	pthread_mutex_unlock(&idle_lock);
	return bc;
}

struct ledger_entry *bodycheck_take_entry(struct bodycheck *bc)
{
	struct ledger_entry *e = bc->entry;

	bc->entry = NULL;
	return e;
}

/* A check's entry that never ran: nothing was decided nor forwarded. */
static void drop_undecided(struct ledger_entry *e)
{
	ledger_entry_deny(e, STATUS_CLIENT_CLOSED,
			  "client closed the connection before the request "
			  "was complete");
}

/* An allowed request's entry nobody took back. */
void bodycheck_drop_entry(void *e, int closed)
{
	ledger_entry_open(e, STATUS_CLIENT_CLOSED, LEDGER_PLAIN);
	ledger_entry_end(e, closed ? LEDGER_ENDED_SHUTDOWN :
				     LEDGER_ENDED_CLIENT_CLOSED, NULL);
}

void bodycheck_free(void *arg)
{
	struct bodycheck *bc = arg;

	if (bc == NULL)
		return;
	if (bc->entry != NULL)
		drop_undecided(bc->entry);
	decided(bc);
	cfg_release(bc->cfg);
	free_strings(bc);
	policy_mcp_headers_free(bc->mcp);
	free(bc);
}

/* ---- the rate limit ---- */

unsigned bodycheck_tokens(struct ratelimit *rl, const struct cfg_tool *tool,
			  const struct cfg_client *client, size_t n,
			  int commit, char *limit, size_t limit_len)
{
	char client_key[80];
	struct ratelimit_limit lim[2] = {
		{ tool->name, tool->rate_max_requests, tool->rate_window_secs },
		{ client_key, 0, 0 },
	};
	size_t refused = 0;

	if (client != NULL) {
		/* "/" is in no tool's name: the keys cannot meet */
		snprintf(client_key, sizeof(client_key), "clients/%s",
			 client->name);
		lim[1].max = client->rate_max_requests;
		lim[1].window_secs = client->rate_window_secs;
	}
	unsigned wait = ratelimit_admit_all(
		rl, lim, 2, n > UINT_MAX ? UINT_MAX : (unsigned)n, commit,
		text_mono_ms(), &refused);
	/* without a client, lim[1] has no max and refuses nothing; said
	 * here too, where client is dereferenced */
	int by_client = refused == 1 && client != NULL;

	if (wait != 0 && limit != NULL)
		snprintf(limit, limit_len, "%s.%s.rate_limit",
			 by_client ? "clients" : "tools",
			 by_client ? client->name : tool->name);
	return wait;
}

void bodycheck_charge_refusal(struct ratelimit *rl,
			      const struct cfg_tool *tool,
			      const struct cfg_client *client, int *pending)
{
	if (!*pending)
		return;
	*pending = 0;
	bodycheck_tokens(rl, tool, client, 1, 1, NULL, 0);
}

static unsigned take_tokens(struct bodycheck *bc, size_t n, char *limit,
			    size_t limit_len)
{
	return bodycheck_tokens(bc->ratelimit, bc->tool, bc->client, n, 1,
				limit, limit_len);
}

int bodycheck_dry_run(const struct cfg_tool *tool, struct ledger_entry *entry,
		      const struct policy_verdict *v)
{
	if (!tool->audit_mode || (v->status != 403 && v->status != 405))
		return 0;
	if (ledger_entry_set_would_deny(entry, v->reason) < 0)
		return 0;
	log_info("%s: would deny (mode audit): %s", tool->name, v->reason);
	return 1;
}

/* ---- the refusal, through the stream ---- */

static int add_field(struct stream_head *h, const char *name,
		     const char *value)
{
	struct stream_field *f = &h->fields[h->n_fields];

	f->name = strdup(name);
	f->value = strdup(value);
	h->n_fields++; /* freed with the head, even half made */
	return f->name && f->value ? 0 : -1;
}

struct stream_head *bodycheck_head(unsigned status, const char *type,
				   long long len, unsigned retry_after)
{
	struct stream_head *h = calloc(1, sizeof(*h));
	char secs[16];

	if (h == NULL || (h->fields = calloc(3, sizeof(*h->fields))) == NULL) {
		free(h);
		return NULL;
	}
	h->status = (int)status;
	h->content_length = len;
	snprintf(secs, sizeof(secs), "%u", retry_after);
	if (add_field(h, "Content-Type", type) < 0 ||
	    add_field(h, "Cache-Control", "no-store") < 0 ||
	    (retry_after > 0 && add_field(h, "Retry-After", secs) < 0)) {
		stream_head_free(h);
		return NULL;
	}
	return h;
}

/* The answer: one publish, so the parked connection is resumed once. */
void bodycheck_publish_refusal(struct stream *s, unsigned status,
			       const char *reason, const char *tool_name,
			       char *body, unsigned retry_after)
{
	size_t len = 0;

	if (body == NULL)
		body = httpd_error_text(status, reason, tool_name, &len);
	else
		len = strlen(body);
	struct stream_head *h = body ? bodycheck_head(status,
						      "application/json",
						      (long long)len,
						      retry_after) :
				       NULL;
	if (h == NULL)
		stream_fail(s, STREAM_FAIL_INTERNAL, "out of memory");
	else
		stream_publish_whole(s, h, body, len);
	free(body);
}

/* Refused: the record first, then the answer, body (taken) or, when
 * NULL, the one error shape. Always -1: answered. */
static int refuse(struct bodycheck *bc, struct stream *s, unsigned status,
		  const char *reason, char *body, unsigned retry_after)
{
	bodycheck_charge_refusal(bc->ratelimit, bc->tool, bc->client,
				 &bc->rate_pending);
	ledger_entry_deny(bc->entry, status, reason);
	bc->entry = NULL;
	decided(bc);
	bodycheck_publish_refusal(s, status, reason, bc->tool_name, body,
				  retry_after);
	return -1;
}

/* ---- require_approval ---- */

static void wake_fd(void *arg)
{
	static const uint64_t one = 1;

	if (write(*(int *)arg, &one, sizeof(one)) < 0)
		return; /* set already */
}

/* A held request ended by a stop: the answer before the record, this
 * once. The stop's drain waits for requests under way, and this one is
 * under way until its record; so the record waits until the connection
 * is done with the answer (its reader, freed, cancels the stream), or
 * STOP_ANSWER_MS, and the listeners cannot close before it went out.
 * The caller's own publish then finds the stream answered. */
static void answer_before_stop(const struct approval_request *rq,
			       const char *reason)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct pollfd p = { fd, POLLIN, 0 };

	bodycheck_publish_refusal(rq->stream, MHD_HTTP_SERVICE_UNAVAILABLE,
				  reason, rq->tool->name, NULL, 0);
	if (fd < 0)
		return;
	stream_set_cancel_hook(rq->stream, wake_fd, &fd);
	if (!stream_is_cancelled(rq->stream))
		poll(&p, 1, STOP_ANSWER_MS);
	stream_set_cancel_hook(rq->stream, NULL, NULL);
	close(fd);
}

/* A dry run records what it would have held; 0, or -1 on out of memory
 * (then it is held: fail closed). */
static int would_hold(const struct approval_request *rq,
		      struct ledger_entry *entry)
{
	char rule[300];

	snprintf(rule, sizeof(rule), "require_approval%s%s%s",
		 rq->rule ? ": argv pattern \"" : "", rq->rule ? rq->rule : "",
		 rq->rule ? "\"" : "");
	if (ledger_entry_set_would_hold(entry, rule) < 0)
		return -1;
	log_info("%s: would hold for approval (mode audit): %s",
		 rq->tool->name, rq->what ? rq->what : "");
	return 0;
}

unsigned bodycheck_hold(struct approvals *ap,
			const struct approval_request *rq,
			struct ledger_entry *entry, char *reason,
			size_t reason_len)
{
	struct approval_result res;
	const struct cfg *cfg;
	const struct cfg_tool *now;

	if (rq->tool->audit_mode && would_hold(rq, entry) == 0)
		return 0;
	approvals_hold(ap, rq, &res);
	if (res.id[0] != '\0')
		ledger_entry_set_approval(entry,
					  res.outcome == APPROVAL_GRANTED ?
						  "grant_id" : "approval_id",
					  res.id);
	snprintf(reason, reason_len, "%s", res.reason);
	switch (res.outcome) {
	case APPROVAL_GRANTED:
		return 0;
	case APPROVAL_DENIED:
	case APPROVAL_TIMED_OUT:
		return MHD_HTTP_FORBIDDEN;
	case APPROVAL_GONE:
		return STATUS_CLIENT_CLOSED;
	case APPROVAL_STOPPED:
		answer_before_stop(rq, reason);
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	case APPROVAL_FAILED:
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	default: /* approved: and the tool, the client still as they were */
		break;
	}
	int changed = approvals_tool_now(ap, rq, &cfg, &now, reason,
					 reason_len);
	if (changed == 0)
		return 0;
	if (changed > 0) {
		cfg_release(cfg);
		snprintf(reason, reason_len, "approved, but a reload changed "
			 "tool %s while the request was held: send it again",
			 rq->tool->name);
	}
	return MHD_HTTP_FORBIDDEN;
}

/* The calls' methods, as the match and "what" take them (borrowed from
 * methods); NULL on out of memory. */
static const char **method_names(struct json_object *methods, size_t *n,
				 struct dbuf *what)
{
	*n = methods ? json_object_array_length(methods) : 0;
	const char **names = calloc(*n + 1, sizeof(*names));

	for (size_t i = 0; names != NULL && i < *n; i++) {
		names[i] = json_object_get_string(
			json_object_array_get_idx(methods, i));
		if (i > 0)
			dbuf_add(what, ",", 1);
		dbuf_addstr(what, names[i] ? names[i] : "");
	}
	return names;
}

/* After the policy and the rate limit: held when require_approval says
 * so. 0: go on; -1 answered. */
static int hold_jsonrpc(struct bodycheck *bc, struct stream *s,
			struct json_object *methods, char **forward,
			size_t *forward_len)
{
	struct dbuf what = DBUF_INIT(APPROVAL_WHAT_MAX);
	size_t n;
	const char **names = method_names(methods, &n, &what);
	struct approval_call call = {
		.kind = APPROVAL_JSONRPC, .methods = names, .n_methods = n,
		.http_method = bc->http_method, .path = bc->target,
		.path_len = strcspn(bc->target, "?"),
	};
	struct approval_request rq = {
		.tool = bc->tool, .client = bc->client_key,
		.what = dbuf_str(&what), .kind = APPROVAL_JSONRPC,
		.stream = s,
	};
	char reason[320];
	unsigned status = MHD_HTTP_SERVICE_UNAVAILABLE;

	snprintf(reason, sizeof(reason), "%s", dbuf_error(&what) ?
		 "too much to hold for approval" : "out of memory");
	if (names != NULL && !approvals_required(bc->tool, &call, NULL))
		status = 0;
	else if (names != NULL && !dbuf_error(&what) &&
		 approvals_digest_jsonrpc(*forward, *forward_len,
					  rq.digest) == 0 &&
		 approvals_digest_bind(rq.digest, bc->http_method,
				       bc->target) == 0)
		status = bodycheck_hold(bc->approvals, &rq, bc->entry, reason,
					sizeof(reason));
	free(names);
	dbuf_free(&what);
	if (status == 0)
		return 0;
	return refuse(bc, s, status, reason,
		      status == MHD_HTTP_FORBIDDEN ?
			      policy_jsonrpc_refusal(*forward, *forward_len,
						     reason) : NULL, 0);
}

/* A request that is not JSON-RPC: its method, path and body. */
static int hold_http(struct bodycheck *bc, struct stream *s,
		     const char *body, size_t len)
{
	struct approval_call call = {
		.kind = APPROVAL_HTTP, .http_method = bc->http_method,
		.path = bc->target, .path_len = strcspn(bc->target, "?"),
	};
	struct dbuf what = DBUF_INIT(APPROVAL_WHAT_MAX);
	struct approval_request rq = {
		.tool = bc->tool, .client = bc->client_key,
		.kind = APPROVAL_HTTP, .stream = s,
	};
	char reason[320];
	unsigned status = MHD_HTTP_SERVICE_UNAVAILABLE;

	if (!approvals_required(bc->tool, &call, NULL))
		return 0;
	snprintf(reason, sizeof(reason), "out of memory");
	dbuf_printf(&what, "%s %s", bc->http_method, bc->target);
	rq.what = dbuf_str(&what);
	if (dbuf_error(&what))
		snprintf(reason, sizeof(reason), "too much to hold for "
			 "approval");
	else if (secret_sha256(body, len, rq.digest) == 0)
		status = bodycheck_hold(bc->approvals, &rq, bc->entry, reason,
					sizeof(reason));
	dbuf_free(&what);
	return status == 0 ? 0 : refuse(bc, s, status, reason, NULL, 0);
}

/* ---- the checks ---- */

/* An allowed body of n calls takes n tokens, all or none: a batch that
 * does not fit is refused whole and nothing of it goes upstream.
 * 0: go on; -1: answered (429). */
static int take_calls(struct bodycheck *bc, struct stream *s,
		      const char *checked, size_t len, size_t n)
{
	char reason[256], limit[128];
	unsigned wait;

	if (!bc->rate_pending)
		return 0;
	bc->rate_pending = 0;
	if ((wait = take_tokens(bc, n > 0 ? n : 1, limit, sizeof(limit))) ==
	    0)
		return 0;
	if (wait == RATELIMIT_NEVER) {
		/* waiting would not help: no Retry-After */
		snprintf(reason, sizeof(reason),
			 "rate limit exceeded: %zu calls are more than "
			 "%s.max_requests",
			 n, limit);
		wait = 0;
	} else {
		snprintf(reason, sizeof(reason), "rate limit exceeded (%s)",
			 limit);
	}
	return refuse(bc, s, MHD_HTTP_TOO_MANY_REQUESTS, reason,
		      policy_jsonrpc_refusal(checked, len, reason), wait);
}

/* An MCP tool's list requests (mcplist.h): their answers are filtered
 * on the way back; not in a dry run, which enforces nothing. 0, or -1
 * answered (out of memory: nothing goes unfiltered). */
static int list_filter(struct bodycheck *bc, struct proxy_request *r,
		       struct stream *s, struct json_object *methods,
		       const char *forward, size_t forward_len)
{
	struct mcplist *list = NULL;

	if (!bc->tool->http.has_mcp || bc->tool->audit_mode ||
	    !mcplist_wanted(methods))
		return 0;
	/* an answer the filter can read: not compressed (the host's
	 * header replaces the client's Accept-Encoding) */
	if (mcplist_new(bc->tool, bc->tool_name, bc->mcp, forward,
			forward_len, &list) < 0 ||
	    (list != NULL && proxy_request_add_host_header(
				     r, "Accept-Encoding", "identity") < 0)) {
		mcplist_free(list);
		return refuse(bc, s, MHD_HTTP_SERVICE_UNAVAILABLE,
			      "out of memory", NULL, 0);
	}
	proxy_request_set_list_filter(r, list);
	return 0;
}

/* A JSON-RPC tool's body must pass the policy, then the rate limit for
 * as many calls as it holds. 0: go on; -1: answered (denied). */
static int check_jsonrpc(struct bodycheck *bc, struct proxy_request *r,
			 struct stream *s, const char *body, size_t len)
{
	struct policy_verdict v;
	struct policy_calls calls;
	char *forward = NULL, *error_body = NULL;
	size_t forward_len = 0;

	/* an MCP tool's headers first, against the body (policy.h) */
	int rc = policy_check_mcp(bc->tool, bc->mcp, body, len, &forward,
				  &forward_len, &error_body, &v, &calls);
	/* the names, for the hold too */
	struct json_object *methods = json_object_get(calls.methods);
	ledger_entry_set_jsonrpc_methods(bc->entry, calls.methods,
					 calls.truncated);
	calls.methods = NULL; /* the entry's now */
	policy_calls_free(&calls);
	if (rc < 0 && bodycheck_dry_run(bc->tool, bc->entry, &v)) {
		/* the client's body goes on as it came, unchecked */
		json_object_put(methods);
		free(error_body);
		return take_calls(bc, s, body, len, calls.n);
	}
	if (rc < 0) {
		json_object_put(methods);
		log_info("%s: denied: %s", bc->tool->name, v.reason);
		return refuse(bc, s, (unsigned)v.status, v.reason, error_body,
			      0);
	}
	if (take_calls(bc, s, forward, forward_len, calls.n) < 0 ||
	    (bc->approvals != NULL &&
	     hold_jsonrpc(bc, s, methods, &forward, &forward_len) < 0) ||
	    list_filter(bc, r, s, methods, forward, forward_len) < 0) {
		json_object_put(methods);
		free(forward);
		return -1;
	}
	json_object_put(methods);
	/* what goes upstream is the checked value, re-serialised */
	proxy_request_set_body(r, forward, forward_len);
	return 0;
}

/* A request that was to have its calls counted but carries no body to
 * check after all: one token, as any other request. */
static int take_pending(struct bodycheck *bc, struct stream *s)
{
	char reason[256], limit[128];
	unsigned wait;

	if (!bc->rate_pending)
		return 0;
	bc->rate_pending = 0;
	if ((wait = take_tokens(bc, 1, limit, sizeof(limit))) == 0)
		return 0;
	snprintf(reason, sizeof(reason), "rate limit exceeded (%s)", limit);
	return refuse(bc, s, MHD_HTTP_TOO_MANY_REQUESTS, reason, NULL, wait);
}

int bodycheck_run(void *arg, struct proxy_request *r, struct stream *s)
{
	struct bodycheck *bc = arg;
	size_t len;
	const char *body = proxy_request_body(r, &len);
	int rc;

	if (body == NULL)
		body = "";
	ledger_entry_set_body(bc->entry, body, len);
	if (bc->jsonrpc)
		rc = check_jsonrpc(bc, r, s, body, len);
	else if ((rc = take_pending(bc, s)) == 0 && bc->approvals != NULL)
		rc = hold_http(bc, s, body, len);
	if (rc == 0) {
		/* back to the MHD thread, with the upstream's head */
		stream_attach(s, bc->entry, bodycheck_drop_entry);
		bc->entry = NULL;
		decided(bc);
	}
	return rc;
}
