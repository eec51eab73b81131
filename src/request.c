/* request — see request.h. */
#include "config.h"

#include "request.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpd.h"
#include "policy.h"
#include "proxy.h"

struct request *request_new(struct server *srv, struct listener *l,
			    atomic_size_t *budget, const char *target)
{
	struct request *rq = calloc(1, sizeof(*rq));

	if (rq == NULL)
		return NULL;
	rq->server = srv;
	rq->listener = l;
	rq->budget = budget;
	dbuf_init(&rq->body, 0);
	rq->target = strdup(target);
	if (rq->target == NULL) {
		free(rq);
		return NULL;
	}
	return rq;
}

static void body_release(struct request *rq)
{
	atomic_fetch_sub(rq->budget, rq->body_charged);
	rq->body_charged = 0;
}

void request_free(struct request *rq)
{
	if (rq == NULL)
		return;
	/* the client left (or MHD gave up) before an answer */
	request_deny(rq, STATUS_CLIENT_CLOSED,
		     rq->refusal ? rq->refusal_reason :
				   "client closed the connection before the "
				   "request was complete");
	cfg_release(rq->cfg);
	free(rq->target);
	dbuf_free(&rq->body);
	body_release(rq);
	free(rq);
}

/* ---- the audit entry ---- */

int request_open_entry(struct request *rq, struct ledger *ledger,
		       const char *client, const char *method)
{
	rq->entry = ledger_entry_new(ledger, client, method, rq->target);
	return rq->entry != NULL ? 0 : -1;
}

struct ledger_entry *request_entry(struct request *rq)
{
	return rq->entry;
}

/* The one place the entry leaves the request. */
struct ledger_entry *request_hand_entry(struct request *rq)
{
	struct ledger_entry *e = rq->entry;

	rq->entry = NULL;
	return e;
}

void request_restore_entry(struct request *rq, struct ledger_entry *e)
{
	rq->entry = e;
}

void request_deny(struct request *rq, unsigned status, const char *reason)
{
	struct ledger_entry *e = request_hand_entry(rq);

	if (e != NULL)
		ledger_entry_deny(e, status, reason);
}

void request_fail(struct request *rq, unsigned status, const char *reason,
		  enum metrics_upstream_error upstream_kind)
{
	struct ledger_entry *e = request_hand_entry(rq);

	if (e != NULL)
		ledger_entry_fail(e, status, reason, upstream_kind);
}

void request_discard(struct request *rq)
{
	struct ledger_entry *e = request_hand_entry(rq);

	if (e != NULL)
		ledger_entry_discard(e);
}

void request_end(struct request *rq, enum ledger_ending how)
{
	struct ledger_entry *e = request_hand_entry(rq);

	if (e != NULL)
		ledger_entry_end(e, how, NULL);
}

void request_unanswered(struct request *rq)
{
	if (rq->entry == NULL)
		return;
	ledger_entry_open(rq->entry, STATUS_CLIENT_CLOSED, LEDGER_PLAIN);
	request_end(rq, LEDGER_ENDED_CLIENT_CLOSED);
}

/* ---- the body ----
 *
 * Every request charges the server's budget with the capacity its body
 * buffer is given, as it grows with the bytes that come: doubling from
 * 4 KiB, never past the limit nor past a declared length (a declared
 * Content-Length is only checked against what is free, never reserved: a
 * client that declares much and sends slowly holds only what it sent).
 * It gives the charge back when it ends (request_free). The charge stays
 * for the request's whole life even when the body moves to the proxy
 * worker (which frees it when the transfer ends, and whose check may
 * replace it by the policy's re-serialised body: see bodycheck.h). A
 * charge that would pass max_inflight_body_bytes is
 * refused and nothing is added: the request is answered 503 with
 * Retry-After. */

#define FIRST_CHARGE 4096

/* 0: n more bytes charged to rq; -1: they would pass the cap. */
static int body_charge(struct request *rq, size_t n)
{
	size_t cap = rq->cfg->max_inflight_body_bytes;
	size_t held = atomic_load(rq->budget);

	do {
		if (n > cap || held > cap - n)
			return -1;
	} while (!atomic_compare_exchange_weak(rq->budget, &held, held + n));
	rq->body_charged += n;
	return 0;
}

int request_body_fits(const struct request *rq, size_t n)
{
	size_t cap = rq->cfg->max_inflight_body_bytes;
	size_t held = atomic_load(rq->budget);

	return n <= cap && held <= cap - n;
}

void request_body_limit(struct request *rq, size_t max, size_t declared)
{
	dbuf_init(&rq->body, max);
	rq->declared = declared;
}

/* The charge grows to cover need bytes, in the steps above, and the
 * buffer to what is charged. 0; -1 over max_inflight_body_bytes; 1 out of
 * memory. */
static int charge_for(struct request *rq, size_t need)
{
	size_t cap = rq->body_charged ? rq->body_charged : FIRST_CHARGE;

	if (need <= rq->body_charged)
		return 0;
	while (cap < need)
		cap *= 2;
	if (rq->declared > 0 && cap > rq->declared)
		cap = rq->declared;
	if (cap > rq->body.max)
		cap = rq->body.max;
	if (cap < need)
		cap = need; /* the caller never lets need pass max */
	if (body_charge(rq, cap - rq->body_charged) < 0)
		return -1;
	/* what is charged is what is allocated: the buffer grows to it */
	return dbuf_reserve(&rq->body, cap) < 0 ? 1 : 0;
}

void request_append_body(struct request *rq, const char *data, size_t len)
{
	size_t held = dbuf_len(&rq->body);

	if (rq->body_too_large || rq->body_busy)
		return; /* discarded: refused once read */
	if (len > rq->body.max - held) {
		rq->body_too_large = 1; /* discard: never buffer past max */
		return;
	}
	int charged = charge_for(rq, held + len);
	if (charged < 0) {
		rq->body_busy = 1;
		return;
	}
	if (charged > 0) {
		rq->body_too_large = 1; /* out of memory */
		return;
	}
	if (dbuf_add(&rq->body, data, len) < 0)
		rq->body_too_large = 1; /* out of memory */
}

char *request_give_body(struct request *rq, size_t *len)
{
	char *body = NULL;

	*len = 0;
	if (dbuf_len(&rq->body) > 0)
		body = dbuf_detach(&rq->body, len);
	if (body == NULL)
		*len = 0;
	return body;
}

/* ---- the upstream request of a routed tool call ----
 *
 * The tool's upstream URL joined with the route's prefix and rest; the
 * client's head headers that the tool's policy forwards
 * (policy_forward_header; trailers never), then the tool's
 * inject_headers and, with add_x_forwarded_for, X-Forwarded-For: the
 * client's address; the tool's timeouts. No body yet. Made on the MHD
 * thread from the head: bounded by it. */

struct header_sink {
	struct proxy_request *pr;
	const struct cfg_tool *tool;
	int failed;                     /* out of memory: MHD stops early */
};

static enum MHD_Result add_client_header(void *cls, enum MHD_ValueKind kind,
					 const char *name, const char *value)
{
	struct header_sink *sink = cls;
	(void)kind;

	if (!policy_forward_header(sink->tool, name))
		return MHD_YES;
	if (proxy_request_add_header(sink->pr, name, value ? value : "") < 0) {
		sink->failed = 1;
		return MHD_NO;
	}
	return MHD_YES;
}

/* The client's allowed headers, then the host's own, which nothing the
 * client sends can remove. Only the head's headers: trailers of a chunked
 * body (MHD_FOOTER_KIND) are never forwarded, as the body goes upstream
 * whole, with a Content-Length. */
static int add_headers(struct proxy_request *pr, const struct cfg_tool *tool,
		       struct MHD_Connection *c)
{
	struct header_sink sink = { pr, tool, 0 };
	char host[INET6_ADDRSTRLEN];
	unsigned port;
	int is_ipv6;

	if (MHD_get_connection_values(c, MHD_HEADER_KIND, add_client_header,
				      &sink) < 0 ||
	    sink.failed)
		return -1;
	for (size_t i = 0; i < tool->http.n_inject_headers; i++)
		if (proxy_request_add_host_header(
			    pr, tool->http.inject_headers[i].name,
			    tool->http.inject_headers[i].value) < 0)
			return -1;
	if (tool->http.add_x_forwarded_for &&
	    httpd_client_address(c, host, sizeof(host), &port, &is_ipv6) == 0 &&
	    proxy_request_add_host_header(pr, "X-Forwarded-For", host) < 0)
		return -1;
	return 0;
}

struct proxy_request *request_upstream(const struct request *rq,
				       struct MHD_Connection *c,
				       const char *method)
{
	const struct route *route = &rq->route;
	const struct cfg_tool *tool = route->tool;
	size_t n = strlen(tool->http.upstream) +
		   strlen(route->upstream_prefix) +
		   strlen(route->upstream_rest) + 1;
	char *url = malloc(n);

	if (url == NULL)
		return NULL;
	snprintf(url, n, "%s%s%s", tool->http.upstream, route->upstream_prefix,
		 route->upstream_rest);
	struct proxy_request *pr = proxy_request_new(method, url);
	free(url);
	if (pr == NULL)
		return NULL;
	if (add_headers(pr, tool, c) < 0 ||
	    proxy_request_set_tls(pr, tool->http.upstream_ca,
				  tool->http.upstream_insecure) < 0) {
		proxy_request_free(pr);
		return NULL;
	}
	proxy_request_set_timeouts(pr, tool->timeout_secs,
				   tool->http.stream_idle_timeout_secs);
	proxy_request_set_keepalive(pr, tool->http.sse_keepalive_secs);
	return pr;
}
