/* server — see server.h.
 *
 * A request, as MHD calls in: on_uri() makes it (request.c); once the
 * head is in, on_first_call() opens its audit entry and config, then
 * decides in this order: route (route.c), identity (identify(): which
 * configured client, then the revocations and its tools), policy on the
 * method, path and rate (check_tool_request()). Then the
 * body comes (request_append_body()), and on_request() ends in dispatch():
 * the health answer, or a CLI run or the proxy hand-off, whose worker
 * checks the body and whose stream becomes the answer (serve_stream()).
 * on_completed() releases the request. The listeners are listener.c's. */
#include "config.h"

#include "server.h"

#include <arpa/inet.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "answer.h"
#include "approvals.h"
#include "bodycheck.h"
#include "cli.h"
#include "guard.h"
#include "header.h"
#include "httpd.h"
#include "identity.h"
#include "ledger.h"
#include "listener.h"
#include "log.h"
#include "mcphead.h"
#include "policy.h"
#include "proxy.h"
#include "ratelimit.h"
#include "request.h"
#include "revoked.h"
#include "route.h"
#include "stream.h"
#include "text.h"

#define STREAM_CAPACITY (64 * 1024)
/* The largest upstream head passed on. MHD writes the head into the
 * connection's memory next to the request head; with the largest request
 * head it takes (~7.8 KiB) an 8,000-byte answer head fit and 9,000 did
 * not (measured), so past this the client would get nothing at all. */
#define MAX_RESPONSE_HEAD (7 * 1024)

struct server {
	struct listeners *listeners;    /* and the config in force */
	struct ratelimit *ratelimit;
	struct ledger *ledger;
	struct guard *guard;            /* connection limits and timers */
	atomic_int stopping;            /* new requests get 503 */
	atomic_size_t body_bytes;       /* charged for request bodies: see
					 * "the body" in request.c */
	struct revoked *revoked;        /* borrowed; NULL: none */
	struct approvals *approvals;    /* borrowed; NULL: none */
};

void server_set_revoked(struct server *srv, struct revoked *revoked)
{
	srv->revoked = revoked;
}

void server_set_approvals(struct server *srv, struct approvals *ap)
{
	srv->approvals = ap;
}

/* Who "the same client" is for a grant (approvals.h). */
static const char *client_key(const struct request *rq,
			      struct MHD_Connection *c, char *buf, size_t len)
{
	approvals_client_key(rq->client ? rq->client->name : NULL,
			     httpd_client_text(c), buf, len);
	return buf;
}

/* ---- answers ---- */

/* Refused before anything went upstream: the audit record is written
 * before the answer is queued. */
static enum MHD_Result deny(struct request *rq, struct MHD_Connection *c,
			    unsigned status, const char *reason,
			    unsigned retry_after)
{
	bodycheck_charge_refusal(rq->server->ratelimit, rq->route.tool,
				 rq->client, &rq->rate_pending);
	request_deny(rq, status, reason);
	guard_answering(rq->server->guard, listener_guard_conn(c));
	if (rq->unauthorized)
		return httpd_send_unauthorized(c, reason,
					       rq->route.tool_name);
	return httpd_send_error(c, status, reason, rq->route.tool_name,
				retry_after);
}

/* Allowed, but nothing could be started for it. */
static enum MHD_Result fail(struct request *rq, struct MHD_Connection *c,
			    unsigned status, const char *reason)
{
	request_fail(rq, status, reason, METRICS_UPSTREAM_NONE);
	return httpd_send_error(c, status, reason, rq->route.tool_name, 0);
}

static enum MHD_Result send_health(struct MHD_Connection *c)
{
	struct json_object *top = json_object_new_object();

	json_object_object_add(top, "status", json_object_new_string("ok"));
	return httpd_send_json(c, MHD_HTTP_OK, top);
}

static unsigned failure_status(enum stream_failure why)
{
	switch (why) {
	case STREAM_FAIL_UNREACHABLE:
	case STREAM_FAIL_PROTOCOL:
		return MHD_HTTP_BAD_GATEWAY;
	case STREAM_FAIL_TIMEOUT:
		return MHD_HTTP_GATEWAY_TIMEOUT;
	default:
		return MHD_HTTP_INTERNAL_SERVER_ERROR;
	}
}

/* ---- the proxy hand-off ---- */

static enum metrics_upstream_error upstream_kind(enum stream_failure why)
{
	switch (why) {
	case STREAM_FAIL_UNREACHABLE:
		return METRICS_UPSTREAM_UNREACHABLE;
	case STREAM_FAIL_TIMEOUT:
		return METRICS_UPSTREAM_TIMEOUT;
	case STREAM_FAIL_PROTOCOL:
		return METRICS_UPSTREAM_PROTOCOL;
	default:
		return METRICS_UPSTREAM_NONE;
	}
}

static void close_stream(void *s)
{
	stream_close(s);
}

/* No answer came from upstream: 502 or 504, said and recorded. */
static enum MHD_Result upstream_failed(struct request *rq,
				       struct MHD_Connection *c,
				       enum stream_failure why,
				       const char *msg)
{
	const char *tool = rq->route.tool->name;

	log_warnx("%s %s: %s", tool, rq->target, msg);
	request_fail(rq, failure_status(why), msg, upstream_kind(why));
	return httpd_send_error(c, failure_status(why), msg, tool, 0);
}

static void park_connection(void *c)
{
	MHD_suspend_connection(c);
}

static void unpark_connection(void *c)
{
	MHD_resume_connection(c);
}

/* The head is there (or the stream failed): the answer. */
static enum MHD_Result answer_head(struct request *rq,
				   struct MHD_Connection *c, struct stream *s,
				   const struct stream_head *head)
{
	if (stream_head_wire_size(head) > MAX_RESPONSE_HEAD) {
		stream_cancel(s);
		stream_release(s);
		return upstream_failed(rq, c, STREAM_FAIL_PROTOCOL,
				       "upstream response head too large");
	}
	/* a reload or a stop may end the stream early, cleanly */
	if (request_entry(rq) != NULL) {
		ledger_entry_set_closer(request_entry(rq), close_stream, s);
		ledger_entry_open(request_entry(rq), (unsigned)head->status,
				  stream_head_is_sse(head));
	}
	struct body_reader *br;
	struct MHD_Response *resp = answer_response(head, s, rq,
						    &rq->server->stopping,
						    &br);
	if (resp == NULL) {
		stream_cancel(s);
		stream_release(s);
		request_end(rq, LEDGER_ENDED_ERROR);
		return MHD_NO;
	}
	enum MHD_Result rc = MHD_queue_response(c, (unsigned)head->status,
						resp);
	/* While MHD stops, MHD_queue_response says yes and queues nothing:
	 * the reference kept until on_completed keeps the reader alive. */
	if (rc == MHD_YES) {
		rq->reader = br;
		rq->response = resp;
	} else {
		MHD_destroy_response(resp);
	}
	return rc;
}

/* Called again by MHD each time the worker resumes the connection, until
 * the head is in: no wait here, the connection is suspended meanwhile
 * (and the worker watches its client). */
static enum MHD_Result answer_stream(struct request *rq,
				     struct MHD_Connection *c)
{
	struct stream *s = rq->waiting;
	const struct stream_head *head;
	enum stream_failure why = STREAM_FAIL_NONE;
	struct error err;

	int rc = stream_try_head(s, &head, &why, &err);
	if (rc == 1)
		return MHD_YES;
	rq->waiting = NULL;
	/* the entry, back from the worker that checked the body; none came
	 * back from a refusal, which the worker recorded itself */
	struct ledger_entry *e = stream_detach(s);
	if (e != NULL)
		request_restore_entry(rq, e);
	if (rc == 0)
		return answer_head(rq, c, s, head);
	stream_cancel(s); /* this side is leaving: forget its socket */
	stream_release(s);
	if (why == STREAM_FAIL_CANCELLED) {
		request_unanswered(rq);
		return MHD_NO;
	}
	return upstream_failed(rq, c, why, err.msg);
}

/* A worker holds the producer side of s; the consumer side becomes the
 * response body once the head is in. */
static enum MHD_Result serve_stream(struct request *rq,
				    struct MHD_Connection *c,
				    struct stream *s)
{
	/* A stream may be silent for days; MHD's idle timeout is for idle
	 * keep-alive clients only and comes back on completion. */
	MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
	rq->waiting = s;
	return answer_stream(rq, c);
}

/* A client that reads nothing for client_send_timeout_secs ends it. */
static struct stream *new_stream(const struct request *rq,
				 struct MHD_Connection *c)
{
	struct stream *s = stream_new(STREAM_CAPACITY);

	if (s != NULL)
		stream_set_send_timeout(s, rq->cfg->client_send_timeout_secs);
	/* before the producer starts: it watches the client from then on */
	if (s != NULL)
		stream_set_consumer(s, httpd_client_fd(c), park_connection,
				    unpark_connection, c);
	return s;
}

/* A stream nobody started: both references are ours. */
static void stream_drop(struct stream *s)
{
	if (s != NULL) {
		stream_release(s);
		stream_release(s);
	}
}

/* The body's check, for the worker (bodycheck.h): it takes the audit
 * entry, which comes back with the upstream's head. */
static struct bodycheck *body_check(struct request *rq,
				    struct MHD_Connection *c,
				    const char *method, size_t len)
{
	char key[128];
	struct bodycheck_args a = {
		.cfg = rq->cfg,
		.tool = rq->route.tool,
		.tool_name = rq->route.tool_name,
		.client = rq->client,
		.ratelimit = rq->server->ratelimit,
		.entry = request_entry(rq),
		/* any body sent to a JSON-RPC tool, whatever the method (a
		 * PUT must not carry past the policy what a POST could
		 * not), and a POST's even when empty */
		.jsonrpc = rq->route.tool->http.is_jsonrpc &&
			   (len > 0 || strcmp(method, "POST") == 0),
		.rate_pending = rq->rate_pending,
		.approvals = rq->server->approvals,
		.http_method = method,
		.target_prefix = rq->route.upstream_prefix,
		.target = rq->route.upstream_rest,
		.client_key = client_key(rq, c, key, sizeof(key)),
		/* compared with the body on the worker */
		.mcp = rq->route.tool->http.has_mcp ? mcphead_collect(c) :
						      NULL,
	};
	struct bodycheck *bc = NULL;

	if (a.mcp != NULL || !rq->route.tool->http.has_mcp)
		bc = bodycheck_new(&a);
	if (bc == NULL)
		policy_mcp_headers_free(a.mcp);
	if (bc != NULL) {
		request_hand_entry(rq);
		rq->rate_pending = 0;
	}
	return bc;
}

/* The body, its check and the transfer go to one worker: the MHD thread
 * only builds the upstream request from the head. */
static enum MHD_Result proxy_to_tool(struct request *rq,
				     struct MHD_Connection *c,
				     const char *method)
{
	const char *tool = rq->route.tool->name;
	struct proxy_request *pr = request_upstream(rq, c, method);
	struct stream *s = pr ? new_stream(rq, c) : NULL;
	struct bodycheck *bc = NULL;
	size_t len;

	if (s != NULL) { /* its charge stays with the request */
		char *body = request_give_body(rq, &len);
		proxy_request_set_body(pr, body, len);
		bc = body_check(rq, c, method, len);
	}
	if (bc != NULL)
		proxy_request_set_check(pr, bodycheck_run, bc, bodycheck_free);
	if (bc == NULL || proxy_start(pr, s) < 0) {
		if (bc != NULL)
			request_restore_entry(rq, bodycheck_take_entry(bc));
		stream_drop(s);
		proxy_request_free(pr);
		log_warn("%s: cannot start a worker", tool);
		return fail(rq, c, MHD_HTTP_SERVICE_UNAVAILABLE,
			    "gateway at capacity");
	}
	return serve_stream(rq, c, s);
}

/* POST /tools/<cli-tool>: the body, its check (parse, argv, cwd,
 * max_concurrent) and the run go to one worker (cli.h); the MHD thread
 * only makes the stream and hands the body and the audit entry over. */
static enum MHD_Result run_cli(struct request *rq, struct MHD_Connection *c)
{
	const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							 "Accept");
	char key[128];
	struct cli_args a = {
		.cfg = rq->cfg,
		.tool = rq->route.tool,
		.tool_name = rq->route.tool_name,
		.sse = accept != NULL && strstr(accept, "text/event-stream"),
		.approvals = rq->server->approvals,
		.client_key = client_key(rq, c, key, sizeof(key)),
	};
	struct stream *s = new_stream(rq, c);

	if (s != NULL) { /* its charge stays with the request */
		a.body = request_give_body(rq, &a.len);
		a.entry = request_hand_entry(rq);
	}
	if (s == NULL || cli_start(&a, s) < 0) {
		if (s != NULL)
			request_restore_entry(rq, a.entry);
		free(a.body);
		stream_drop(s);
		log_warn("%s: cannot start a worker", rq->route.tool->name);
		return fail(rq, c, MHD_HTTP_SERVICE_UNAVAILABLE,
			    "gateway at capacity");
	}
	return serve_stream(rq, c, s);
}

/* ---- MHD callbacks ---- */

#define BODY_BUSY "gateway busy: too many request bodies in memory"

/* A refusal is answered once the request is read, so the connection can
 * stay open; with a body still to come, at once (MHD then closes). */
static enum MHD_Result refuse(struct request *rq, struct MHD_Connection *c,
			      unsigned status, const char *reason,
			      unsigned retry_after)
{
	if (httpd_has_body(c))
		return deny(rq, c, status, reason, retry_after);
	rq->refusal = status;
	snprintf(rq->refusal_reason, sizeof(rq->refusal_reason), "%s",
		 reason);
	rq->retry_after = retry_after;
	return MHD_YES;
}

static size_t body_limit(const struct request *rq)
{
	const struct cfg_tool *tool = rq->route.tool;

	if (tool != NULL && tool->max_body_bytes > 0)
		return tool->max_body_bytes;
	return rq->cfg->max_body_bytes;
}

/* Whether the rate limit counts this request's calls, once its body has
 * been checked, rather than the request: body_check() has the worker
 * check any body sent to a JSON-RPC tool, and a POST's even when empty. */
static int counts_calls(struct MHD_Connection *c, const struct cfg_tool *tool,
			const char *method)
{
	return tool->http.is_jsonrpc &&
	       (strcmp(method, "POST") == 0 || httpd_has_body(c));
}

/* The tool's rate limit and the client's, one token from each (a request
 * whose calls are counted later is refused now only when not even one
 * would fit). 0: go on; -1: refused (*answer), naming the limit. */
static int take_rate(struct request *rq, struct MHD_Connection *c,
		     const char *method, enum MHD_Result *answer)
{
	const struct cfg_tool *tool = rq->route.tool;
	char limit[128], reason[192];

	if (tool->rate_max_requests == 0 &&
	    (rq->client == NULL || rq->client->rate_max_requests == 0))
		return 0;
	int later = counts_calls(c, tool, method);
	unsigned wait = bodycheck_tokens(rq->server->ratelimit, tool,
					 rq->client, 1, !later, limit,
					 sizeof(limit));
	if (later)
		rq->rate_pending = wait == 0;
	if (wait == 0)
		return 0;
	snprintf(reason, sizeof(reason), "rate limit exceeded (%s)", limit);
	*answer = refuse(rq, c, MHD_HTTP_TOO_MANY_REQUESTS, reason, wait);
	return -1;
}

/* Method, path and rate: everything decidable before the body (a request
 * whose calls are counted later is refused now only when not even one
 * would fit). 0: go on; -1: refused, *answer says what to return to
 * MHD. */
static int check_tool_request(struct request *rq, struct MHD_Connection *c,
			      const char *method, enum MHD_Result *answer)
{
	const struct cfg_tool *tool = rq->route.tool;
	struct policy_verdict v;
	const char *path = rq->route.upstream_rest;
	size_t path_len = strcspn(path, "?");

	if (*rq->route.upstream_prefix != '\0') {
		path = "/";
		path_len = 1;
	}
	if (tool->type == CFG_TOOL_CLI) {
		if (*rq->route.upstream_rest != '\0') {
			*answer = refuse(rq, c, MHD_HTTP_NOT_FOUND,
					 "a cli tool has no paths", 0);
			return -1;
		}
		if (strcmp(method, "POST") != 0) {
			*answer = refuse(rq, c, MHD_HTTP_METHOD_NOT_ALLOWED,
					 "a cli tool is run with POST", 0);
			return -1;
		}
	} else if (mcphead_check(tool, c, counts_calls(c, tool, method), &v) <
		   0) {
		/* Origin and protocol version: enforced in a dry run too */
		*answer = refuse(rq, c, (unsigned)v.status, v.reason, 0);
		return -1;
	} else if (policy_check_request(tool, method, path, path_len, &v) < 0 &&
		   !bodycheck_dry_run(tool, request_entry(rq), &v)) {
		*answer = refuse(rq, c, (unsigned)v.status, v.reason, 0);
		return -1;
	}
	return take_rate(rq, c, method, answer);
}

/* The guard's word on the head, the audit entry, and the config in force
 * now, which serves this request to its end. -1: nothing more for this
 * connection (cut by the guard, out of memory). */
static int open_request(struct request *rq, struct MHD_Connection *c,
			const char *method, const struct cfg_tool **dropin,
			int *dropin_gone)
{
	struct server *srv = rq->server;

	rq->started = 1;
	rq->is_head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
	if (guard_head_done(srv->guard, listener_guard_conn(c),
			    httpd_has_body(c)) < 0 ||
	    request_open_entry(rq, srv->ledger, httpd_client_text(c),
			       method) < 0)
		return -1;
	rq->cfg = listener_hold_cfg(rq->listener, dropin, dropin_gone);
	return rq->cfg != NULL ? 0 : -1;
}

/* The head itself, before anything is decided on what it says. */
static const char *head_problem(const struct request *rq,
				struct MHD_Connection *c, const char *method,
				unsigned *status)
{
	const char *why;

	*status = MHD_HTTP_BAD_REQUEST;
	if (!header_is_token(method, strlen(method)))
		return "bad request: the method is not a token";
	if ((why = httpd_header_problem(c)) != NULL)
		return why;
	*status = MHD_HTTP_SERVICE_UNAVAILABLE;
	if (atomic_load(&rq->server->stopping))
		return "shutting down";
	return NULL;
}

/* Where the request goes: the drop-in listener's tool or the target's.
 * Nothing is refused yet (identity comes first: see route_refusal()).
 * 0, or -1: refused (*answer: out of memory). */
static int route(struct request *rq, struct MHD_Connection *c,
		 const struct cfg_tool *dropin, int dropin_gone,
		 enum MHD_Result *answer)
{
	if (dropin_gone) {
		rq->route = (struct route){ .kind = ROUTE_NOT_FOUND,
					    .reason = "tool removed by a "
						      "reload" };
		return 0;
	}
	if (route_request(rq->cfg, dropin, rq->target, &rq->route) ==
	    ROUTE_TOOL &&
	    ledger_entry_set_tool(request_entry(rq), rq->route.tool) < 0) {
		*answer = refuse(rq, c, MHD_HTTP_SERVICE_UNAVAILABLE,
				 "out of memory", 0);
		return -1;
	}
	return 0;
}

/* A target that names no tool (nor the health check): 404 or 400, told
 * only to an identified client. 0: a tool or the health check. */
static int route_refusal(struct request *rq, struct MHD_Connection *c,
			 enum MHD_Result *answer)
{
	unsigned status = MHD_HTTP_NOT_FOUND;

	if (rq->route.kind == ROUTE_TOOL || rq->route.kind == ROUTE_HEALTH)
		return 0;
	if (rq->route.kind == ROUTE_BAD_REQUEST)
		status = MHD_HTTP_BAD_REQUEST;
	*answer = refuse(rq, c, status, rq->route.reason, 0);
	return -1;
}

struct auth_headers {
	const char *value;
	unsigned n;
};

static enum MHD_Result count_authorization(void *cls,
					   enum MHD_ValueKind kind,
					   const char *name, const char *value)
{
	struct auth_headers *a = cls;
	(void)kind;

	if (strcasecmp(name, "Authorization") == 0) {
		a->value = value != NULL ? value : "";
		a->n++;
	}
	return MHD_YES;
}

/* Whether the request's client is revoked now (why says so). */
static int is_revoked(const struct request *rq, char *why, size_t len)
{
	struct revoked *revoked = rq->server->revoked;

	if (rq->client == NULL || revoked == NULL ||
	    !revoked_has(revoked, rq->client->name))
		return 0;
	snprintf(why, len, "client %s is revoked (revoked_clients_file)",
		 rq->client->name);
	return 1;
}

/* Who the client is, when the config has clients (every request but the
 * health check): the one client its connection and Authorization prove
 * (401 otherwise), not revoked (403). 0: go on (rq->client set, or no
 * clients); -1: refused (*answer). */
static int identify(struct request *rq, struct MHD_Connection *c,
		    enum MHD_Result *answer)
{
	struct auth_headers auth = { NULL, 0 };
	struct identity_peer peer;
	const struct cfg_client *cl;
	struct error err;

	if (!rq->cfg->has_clients || rq->route.kind == ROUTE_HEALTH)
		return 0;
	MHD_get_connection_values(c, MHD_HEADER_KIND, count_authorization,
				  &auth);
	rq->unauthorized = 1;
	if (auth.n > 1) {
		*answer = refuse(rq, c, MHD_HTTP_UNAUTHORIZED,
				 "more than one Authorization header", 0);
		return -1;
	}
	listener_peer(rq->listener, c, &peer);
	if (identity_of(rq->cfg, &peer, auth.value, &cl, &err) < 0) {
		rq->unauthorized = err.status == MHD_HTTP_UNAUTHORIZED;
		*answer = refuse(rq, c, rq->unauthorized ?
				 MHD_HTTP_UNAUTHORIZED :
				 MHD_HTTP_INTERNAL_SERVER_ERROR, err.msg, 0);
		return -1;
	}
	rq->unauthorized = 0;
	rq->client = cl;
	if (ledger_entry_set_client(request_entry(rq), cl->name) < 0) {
		*answer = refuse(rq, c, MHD_HTTP_SERVICE_UNAVAILABLE,
				 "out of memory", 0);
		return -1;
	}
	char why[128];
	if (!is_revoked(rq, why, sizeof(why)))
		return 0;
	*answer = refuse(rq, c, MHD_HTTP_FORBIDDEN, why, 0);
	return -1;
}

/* An identified client asks for a tool outside its tools: 403 naming
 * the rule. 0: allowed (or no clients). */
static int client_scope(struct request *rq, struct MHD_Connection *c,
			enum MHD_Result *answer)
{
	const struct cfg_client *cl = rq->client;
	char why[256];

	if (cl == NULL || rq->route.kind != ROUTE_TOOL ||
	    cfg_client_may_use(cl, rq->route.tool->name))
		return 0;
	snprintf(why, sizeof(why), "client %s may not use tool %s "
		 "(clients.%s.tools)", cl->name, rq->route.tool->name,
		 cl->name);
	*answer = refuse(rq, c, MHD_HTTP_FORBIDDEN, why, 0);
	return -1;
}

/* The body as declared: framed unambiguously, within the limit, and
 * within what the server may hold now. */
static enum MHD_Result check_declared_body(struct request *rq,
					   struct MHD_Connection *c)
{
	unsigned status;
	const char *why = httpd_framing_problem(c, body_limit(rq), &status);

	if (why != NULL)
		return deny(rq, c, status, why, 0);
	request_body_limit(rq, body_limit(rq), httpd_declared_length(c));
	if (rq->declared > 0 && !request_body_fits(rq, rq->declared))
		return deny(rq, c, MHD_HTTP_SERVICE_UNAVAILABLE, BODY_BUSY, 1);
	return MHD_YES;
}

/* The head is in: route, identity, policy (what can be decided before
 * the body); the body and the dispatch come in on_request(). */
static enum MHD_Result on_first_call(struct request *rq,
				     struct MHD_Connection *c,
				     const char *method)
{
	const struct cfg_tool *dropin;
	int dropin_gone;
	enum MHD_Result answer;
	unsigned status;
	const char *why;

	if (open_request(rq, c, method, &dropin, &dropin_gone) < 0)
		return MHD_NO;
	if ((why = head_problem(rq, c, method, &status)) != NULL)
		return refuse(rq, c, status, why, 0);
	if (route(rq, c, dropin, dropin_gone, &answer) < 0 ||
	    identify(rq, c, &answer) < 0 ||
	    route_refusal(rq, c, &answer) < 0 ||
	    client_scope(rq, c, &answer) < 0)
		return answer;
	if (rq->route.kind == ROUTE_TOOL &&
	    check_tool_request(rq, c, method, &answer) < 0)
		return answer;
	return check_declared_body(rq, c);
}

/* The request is read and nothing refused it on the way: answer it. */
static enum MHD_Result dispatch(struct request *rq, struct MHD_Connection *c,
				const char *method)
{
	if (rq->route.kind == ROUTE_HEALTH) {
		request_discard(rq);
		return send_health(c);
	}
	if (rq->route.tool->type == CFG_TOOL_CLI)
		return run_cli(rq, c);
	return proxy_to_tool(rq, c, method);
}

/* What was decided while the request came in, told now that it is read:
 * a refusal, a body too large or over the budget. */
static enum MHD_Result refused_on_the_way(struct request *rq,
					  struct MHD_Connection *c)
{
	if (rq->refusal != 0)
		return deny(rq, c, rq->refusal, rq->refusal_reason,
			    rq->retry_after);
	if (rq->body_too_large)
		return deny(rq, c, MHD_HTTP_CONTENT_TOO_LARGE,
			    "request body too large", 0);
	return deny(rq, c, MHD_HTTP_SERVICE_UNAVAILABLE, BODY_BUSY, 1);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct request *rq = *con_cls;
	(void)cls;
	(void)url;
	(void)version;

	if (rq == NULL)
		return MHD_NO;
	if (!rq->started)
		return on_first_call(rq, c, method);
	if (rq->waiting != NULL)
		return answer_stream(rq, c);
	struct guard *guard = rq->server->guard;
	if (*upload_size > 0) {
		guard_body_read(guard, listener_guard_conn(c));
		request_append_body(rq, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	/* the guard may have cut it between the last byte and here */
	if (guard_answering(guard, listener_guard_conn(c)) < 0)
		return MHD_NO;
	/* called again: MHD (stopping) ignored the answer queued */
	if (rq->dispatched)
		return MHD_NO;
	rq->dispatched = 1;
	if (rq->refusal != 0 || rq->body_too_large || rq->body_busy)
		return refused_on_the_way(rq, c);
	/* identified before a revocation, its body read after it */
	char why[128];
	if (is_revoked(rq, why, sizeof(why)))
		return deny(rq, c, MHD_HTTP_FORBIDDEN, why, 0);
	return dispatch(rq, c, method);
}

/* Called first, with the raw target: the only place it is seen undecoded. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct listener *l = cls;
	struct server *srv = listener_arg(l);
	(void)c;

	return request_new(srv, l, &srv->body_bytes, uri);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct request *rq = *con_cls;
	struct server *srv = listener_arg(cls);
	struct guard_conn *gc = listener_guard_conn(c);

	if (rq != NULL) {
		/* a body too slow: the guard has answered 408 */
		if (guard_cut_of(srv->guard, gc) == GUARD_CUT_BODY)
			request_deny(rq, MHD_HTTP_REQUEST_TIMEOUT,
				     "request body not received in time");
		/* MHD frees the answer's reader only after this call */
		if (rq->reader != NULL)
			answer_set_complete(rq->reader,
				toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
		if (rq->response != NULL)
			MHD_destroy_response(rq->response);
		if (rq->waiting != NULL) { /* closed before the head came */
			stream_cancel(rq->waiting);
			stream_release(rq->waiting);
		}
		request_free(rq);
		*con_cls = NULL;
	}
	guard_request_done(srv->guard, gc);
	MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT,
				  LISTENER_IDLE_TIMEOUT_SECS);
}

/* ---- the server ---- */

struct server *server_new(struct ledger *ledger, struct metrics *metrics,
			  unsigned conn_limit, void (*wake)(void *),
			  void *wake_arg)
{
	struct server *srv = calloc(1, sizeof(*srv));
	struct listener_handlers handlers = { on_uri, on_request,
					      on_completed, srv };
	/* the defaults until server_apply() gives a config's */
	struct guard_limits none = {
		CFG_DEFAULT_MAX_CONNECTIONS_PER_IP, conn_limit,
		CFG_DEFAULT_CLIENT_HEADER_TIMEOUT_SECS,
		CFG_DEFAULT_CLIENT_BODY_TIMEOUT_SECS,
	};

	if (srv == NULL || (srv->ratelimit = ratelimit_new()) == NULL ||
	    (srv->guard = guard_new(metrics, &none)) == NULL ||
	    (srv->listeners = listeners_new(&handlers, srv->guard, &none,
					    conn_limit, wake, wake_arg)) ==
		    NULL) {
		if (srv != NULL) {
			guard_free(srv->guard);
			ratelimit_free(srv->ratelimit);
		}
		free(srv);
		return NULL;
	}
	srv->ledger = ledger;
	return srv;
}

int server_apply(struct server *srv, const struct cfg *cfg, struct error *err)
{
	return listeners_apply(srv->listeners, cfg, err);
}

unsigned server_reap(struct server *srv)
{
	return listeners_reap(srv->listeners);
}

void server_quiesce(struct server *srv)
{
	atomic_store(&srv->stopping, 1);
	listeners_quiesce(srv->listeners);
}

void server_stop(struct server *srv)
{
	atomic_store(&srv->stopping, 1);
	/* MHD may not stop with a connection suspended */
	stream_close_parkable();
	listeners_free(srv->listeners);
	bodycheck_wait_idle(); /* a worker's check may still take tokens */
	guard_free(srv->guard);
	ratelimit_free(srv->ratelimit);
	free(srv);
}
