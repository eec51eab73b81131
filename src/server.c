/* server — see server.h. */
#include "config.h"

#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "guard.h"
#include "header.h"
#include "httpd.h"
#include "listener.h"
#include "ledger.h"
#include "log.h"
#include "policy.h"
#include "proxy.h"
#include "ratelimit.h"
#include "route.h"
#include "stream.h"
#include "text.h"

#define STREAM_CAPACITY (64 * 1024)
#define SMALL_BLOCK 1024
#define LARGE_BLOCK (16 * 1024)
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
	unsigned conn_limit;
	atomic_int stopping;            /* new requests get 503 */
	atomic_size_t body_bytes;       /* charged for request bodies: see
					 * "request bodies" below */
};

/* One request on a connection; MHD's con_cls. Freed on completion. */
struct request {
	struct server *server;
	struct listener *listener;      /* it came on */
	const struct cfg *cfg;          /* in force when it came; a reference */
	char *target;                   /* raw, as the client sent it */
	struct entry *entry;            /* the audit entry until it is ended or
					 * handed to the body reader */
	struct body_reader *reader;     /* the queued answer's, if any */
	int started;
	int is_head;                    /* HEAD: the answer has no body */
	struct route route;
	char *body;
	size_t body_len;
	size_t body_cap;
	size_t body_charged;            /* to the server's body_bytes */
	size_t declared;                /* Content-Length, or 0 */
	int body_too_large;
	int body_busy;                  /* max_inflight_body_bytes reached */
	unsigned refusal;               /* status to answer once read, or 0 */
	char refusal_reason[256];
	unsigned retry_after;           /* seconds, with a 429 */
	int rate_pending;               /* a JSON-RPC body's calls are yet to
					 * be counted: no token taken so far */
};

/* The content reader's state; owned by the MHD response. */
struct body_reader {
	struct stream *stream;          /* the consumer's reference */
	struct entry *entry;            /* ended when MHD drops the response */
	struct server *server;
	int client_fd;
	int complete;                   /* MHD sent it all */
};

/* ---- the connection ---- */

/* ---- answers ---- */

/* n tokens of the tool's rate limit, all or none: 0, the seconds until
 * they would fit, or RATELIMIT_NEVER. */
static unsigned take_tokens(struct request *rq, size_t n)
{
	const struct cfg_tool *tool = rq->route.tool;

	return ratelimit_take_n(rq->server->ratelimit, tool->name,
				n > UINT_MAX ? UINT_MAX : (unsigned)n,
				tool->rate_max_requests,
				tool->rate_window_secs, text_mono_ms());
}

/* A refused request costs one token, as every request did when tokens
 * were taken on arrival: refusals are not a free way to probe. Whether
 * it fit does not change the refusal. */
static void charge_refusal(struct request *rq)
{
	if (!rq->rate_pending)
		return;
	rq->rate_pending = 0;
	take_tokens(rq, 1);
}

/* Refused before anything went upstream: the audit record is written
 * before the answer is queued. */
static enum MHD_Result deny(struct request *rq, struct MHD_Connection *c,
			    unsigned status, const char *reason,
			    unsigned retry_after)
{
	charge_refusal(rq);
	if (rq->entry != NULL) {
		entry_deny(rq->entry, status, reason);
		rq->entry = NULL;
	}
	guard_answering(rq->server->guard, listener_guard_conn(c));
	return httpd_send_error(c, status, reason, rq->route.tool_name,
				retry_after);
}

/* Allowed, but nothing could be started for it. */
static enum MHD_Result fail(struct request *rq, struct MHD_Connection *c,
			    unsigned status, const char *reason)
{
	if (rq->entry != NULL) {
		entry_fail(rq->entry, status, reason, -1);
		rq->entry = NULL;
	}
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

/* ---- streaming the upstream's answer ---- */

static ssize_t read_body(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct body_reader *br = cls;
	(void)pos;

	ssize_t n = httpd_stream_read(br->stream, br->client_fd, buf, max);
	if (n > 0)
		entry_add_out(br->entry, (size_t)n);
	return n;
}

static enum entry_ending ending_of(struct body_reader *br)
{
	if (br->complete)
		return ENDED_COMPLETE;
	if (stream_was_stalled(br->stream))
		return ENDED_CLIENT_STALLED;
	if (atomic_load(&br->server->stopping))
		return ENDED_SHUTDOWN;
	return stream_was_broken(br->stream) ? ENDED_ERROR :
					       ENDED_CLIENT_CLOSED;
}

/* MHD dropped the response: the request is over, for whatever reason. */
static void free_body_reader(void *cls)
{
	struct body_reader *br = cls;
	int exit_code, signal;

	stream_cancel(br->stream);
	int has_exit = stream_get_exit(br->stream, &exit_code, &signal);
	entry_end(br->entry, ending_of(br), has_exit, exit_code, signal);
	stream_release(br->stream);
	free(br);
}

/* *reader: the new response's reader state (owned by the response). */
static struct MHD_Response *response_for(const struct stream_head *head,
					 struct stream *s, int client_fd,
					 struct request *rq,
					 struct body_reader **reader)
{
	struct body_reader *br = calloc(1, sizeof(*br));
	uint64_t size = head->content_length < 0 ?
				MHD_SIZE_UNKNOWN :
				(uint64_t)head->content_length;
	/* MHD gives a chunked body the connection's own write buffer; its
	 * block buffer serves only known-length (and HTTP/1.0) bodies. */
	size_t block = head->content_length < 0 ? SMALL_BLOCK : LARGE_BLOCK;

	if (br == NULL)
		return NULL;
	br->stream = s;
	br->client_fd = client_fd;
	br->server = rq->server;
	if (head->status == MHD_HTTP_NO_CONTENT)
		size = 0; /* MHD writes no framing for it at all */
	struct MHD_Response *resp = MHD_create_response_from_callback(
		size, block, read_body, br, free_body_reader);
	if (resp == NULL) {
		free(br);
		return NULL;
	}
	/* A HEAD or 304 answer of unknown length: MHD would frame the body
	 * that is not there as chunked. Without chunking, it writes neither
	 * Transfer-Encoding nor Content-Length (and closes after). */
	if (size == MHD_SIZE_UNKNOWN &&
	    (rq->is_head || head->status == MHD_HTTP_NOT_MODIFIED))
		MHD_set_response_options(resp,
					 MHD_RF_HTTP_1_0_COMPATIBLE_STRICT,
					 MHD_RO_END);
	br->entry = rq->entry; /* from here on, the response ends it */
	rq->entry = NULL;
	*reader = br;
	for (size_t i = 0; i < head->n_fields; i++)
		if (MHD_add_response_header(resp, head->fields[i].name,
					    head->fields[i].value) != MHD_YES)
			log_warnx("upstream header %s dropped",
				  head->fields[i].name);
	return resp;
}

/* ---- the proxy hand-off ---- */

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
	for (size_t i = 0; i < tool->n_inject_headers; i++)
		if (proxy_request_add_host_header(
			    pr, tool->inject_headers[i].name,
			    tool->inject_headers[i].value) < 0)
			return -1;
	if (tool->add_x_forwarded_for &&
	    httpd_client_address(c, host, sizeof(host), &port, &is_ipv6) == 0 &&
	    proxy_request_add_host_header(pr, "X-Forwarded-For", host) < 0)
		return -1;
	return 0;
}

static struct proxy_request *build_proxy_request(struct request *rq,
						 struct MHD_Connection *c,
						 const char *method)
{
	const struct cfg_tool *tool = rq->route.tool;
	size_t n = strlen(tool->upstream) + strlen(rq->route.upstream_rest) + 2;
	char *url = malloc(n);

	if (url == NULL)
		return NULL;
	snprintf(url, n, "%s%s%s", tool->upstream, rq->route.upstream_prefix,
		 rq->route.upstream_rest);
	struct proxy_request *pr = proxy_request_new(method, url);
	free(url);
	if (pr == NULL)
		return NULL;
	if (add_headers(pr, tool, c) < 0) {
		proxy_request_free(pr);
		return NULL;
	}
	proxy_request_set_body(pr, rq->body, rq->body_len);
	rq->body = NULL;
	proxy_request_set_timeouts(pr, tool->timeout_secs,
				   tool->stream_idle_timeout_secs);
	return pr;
}

/* nginx's number for a client that left before its answer. */
#define STATUS_CLIENT_CLOSED 499

/* The request went upstream, but the client left before the head came
 * back (or out of memory before it went out). */
static void end_unanswered(struct request *rq)
{
	if (rq->entry == NULL)
		return;
	entry_open(rq->entry, STATUS_CLIENT_CLOSED, 0);
	entry_end(rq->entry, ENDED_CLIENT_CLOSED, 0, 0, 0);
	rq->entry = NULL;
}

static int upstream_kind(enum stream_failure why)
{
	switch (why) {
	case STREAM_FAIL_UNREACHABLE:
		return METRICS_UPSTREAM_UNREACHABLE;
	case STREAM_FAIL_TIMEOUT:
		return METRICS_UPSTREAM_TIMEOUT;
	case STREAM_FAIL_PROTOCOL:
		return METRICS_UPSTREAM_PROTOCOL;
	default:
		return -1;
	}
}

static void close_stream(void *s)
{
	stream_close(s);
}

/* A long-lived answer: audited when it opens and when it ends. */
static int is_event_stream(const struct stream_head *head)
{
	for (size_t i = 0; i < head->n_fields; i++)
		if (strcasecmp(head->fields[i].name, "Content-Type") == 0)
			return strncasecmp(head->fields[i].value,
					   "text/event-stream", 17) == 0;
	return 0;
}

/* No answer came from upstream: 502 or 504, said and recorded. */
static enum MHD_Result upstream_failed(struct request *rq,
				       struct MHD_Connection *c,
				       enum stream_failure why,
				       const char *msg)
{
	const char *tool = rq->route.tool->name;

	log_warnx("%s %s: %s", tool, rq->target, msg);
	entry_fail(rq->entry, failure_status(why), msg, upstream_kind(why));
	rq->entry = NULL;
	return httpd_send_error(c, failure_status(why), msg, tool, 0);
}

/* The bytes the head will take on the wire, status line included. */
static size_t head_size(const struct stream_head *head)
{
	size_t n = sizeof("HTTP/1.1 999 Reason\r\n") + 64; /* Date, ... */

	for (size_t i = 0; i < head->n_fields; i++)
		n += strlen(head->fields[i].name) +
		     strlen(head->fields[i].value) + 4;
	return n;
}

/* A worker holds the producer side of s: wait for its head, watching the
 * client (blocking here is what this connection's thread is for), then
 * hand the consumer side to MHD as the response body. */
static enum MHD_Result serve_stream(struct request *rq,
				    struct MHD_Connection *c,
				    struct stream *s)
{
	/* A stream may be silent for days; MHD's idle timeout is for idle
	 * keep-alive clients only and comes back on completion. */
	MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, 0u);

	int fd = httpd_client_fd(c);
	const struct stream_head *head;
	enum stream_failure why = STREAM_FAIL_NONE;
	char msg[200];
	if (stream_wait_head(s, fd, &head, &why, msg, sizeof(msg)) < 0) {
		stream_cancel(s); /* this side is leaving: forget its socket */
		stream_release(s);
		if (why == STREAM_FAIL_CANCELLED) {
			end_unanswered(rq);
			return MHD_NO;
		}
		return upstream_failed(rq, c, why, msg);
	}
	if (head_size(head) > MAX_RESPONSE_HEAD) {
		stream_cancel(s);
		stream_release(s);
		return upstream_failed(rq, c, STREAM_FAIL_PROTOCOL,
				       "upstream response head too large");
	}
	/* a reload or a stop may end the stream early, cleanly */
	entry_set_closer(rq->entry, close_stream, s);
	entry_open(rq->entry, (unsigned)head->status, is_event_stream(head));
	struct body_reader *br;
	struct MHD_Response *resp = response_for(head, s, fd, rq, &br);
	if (resp == NULL) {
		stream_cancel(s);
		stream_release(s);
		entry_end(rq->entry, ENDED_ERROR, 0, 0, 0);
		rq->entry = NULL;
		return MHD_NO;
	}
	enum MHD_Result rc = MHD_queue_response(c, (unsigned)head->status,
						resp);
	if (rc == MHD_YES)
		rq->reader = br; /* MHD keeps it until after on_completed */
	MHD_destroy_response(resp);
	return rc;
}

/* A client that reads nothing for client_send_timeout_secs ends it. */
static struct stream *new_stream(const struct request *rq)
{
	struct stream *s = stream_new(STREAM_CAPACITY);

	if (s != NULL)
		stream_set_send_timeout(s, rq->cfg->client_send_timeout_secs);
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

static enum MHD_Result proxy_to_tool(struct request *rq,
				     struct MHD_Connection *c,
				     const char *method)
{
	const char *tool = rq->route.tool->name;
	struct proxy_request *pr = build_proxy_request(rq, c, method);
	struct stream *s = pr ? new_stream(rq) : NULL;

	if (s == NULL || proxy_start(pr, s) < 0) {
		stream_drop(s);
		proxy_request_free(pr);
		log_warn("%s: cannot start a worker", tool);
		return fail(rq, c, MHD_HTTP_SERVICE_UNAVAILABLE,
			    "gateway at capacity");
	}
	return serve_stream(rq, c, s);
}

/* POST /tools/<cli-tool>: parse, check argv and cwd, run. */
static enum MHD_Result run_cli(struct request *rq, struct MHD_Connection *c)
{
	const struct cfg_tool *tool = rq->route.tool;
	const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							 "Accept");
	int sse = accept != NULL && strstr(accept, "text/event-stream");
	struct policy_verdict v;
	const char *denied;
	char why[128];
	size_t argc;

	/* parsed for the run, then for the record: one tree at a time */
	struct cli_request *cr = cli_request_parse(tool, sse, rq->body,
						   rq->body_len, why,
						   sizeof(why));
	entry_set_body(rq->entry, rq->body, rq->body_len);
	if (cr == NULL)
		return deny(rq, c, MHD_HTTP_BAD_REQUEST, why, 0);
	char *const *argv = cli_request_argv(cr, &argc);
	entry_set_argv(rq->entry, argv, argc);
	if (policy_check_argv(tool, argv, argc, &v) < 0) {
		cli_request_free(cr);
		log_info("%s: denied: %s", tool->name, v.reason);
		return deny(rq, c, (unsigned)v.status, v.reason, 0);
	}
	if (cli_request_check_cwd(cr, &denied) < 0) {
		cli_request_free(cr);
		log_info("%s: denied: %s", tool->name, denied);
		return deny(rq, c, MHD_HTTP_FORBIDDEN, denied, 0);
	}
	struct stream *s = new_stream(rq);
	int rc = s ? cli_start(cr, s) : -1;
	if (rc < 0) {
		stream_drop(s);
		cli_request_free(cr);
		return fail(rq, c, MHD_HTTP_SERVICE_UNAVAILABLE,
			    rc == -2 ? "tool is at max_concurrent" :
				       "gateway at capacity");
	}
	return serve_stream(rq, c, s);
}

/* ---- MHD callbacks ---- */

struct framing {
	unsigned n_te, n_cl;
	int te_not_chunked;
};

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind,
				     const char *name, const char *value)
{
	struct framing *f = cls;
	(void)kind;

	if (strcasecmp(name, "Transfer-Encoding") == 0) {
		f->n_te++;
		f->te_not_chunked |= value == NULL ||
				     strcasecmp(value, "chunked") != 0;
	} else if (strcasecmp(name, "Content-Length") == 0) {
		f->n_cl++;
	}
	return MHD_YES;
}

/* How the body is framed must be unambiguous: MHD 0.9.75 reads the
 * first Content-Length of several, and a body of any coding but chunked
 * till the connection closes. */
static int declares_bad_framing(struct MHD_Connection *c, size_t max,
				unsigned *status, const char **why)
{
	struct framing f = { 0, 0, 0 };
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						     "Content-Length");

	MHD_get_connection_values(c, MHD_HEADER_KIND, count_framing, &f);
	*status = MHD_HTTP_BAD_REQUEST;
	if (f.n_te > 0 && f.n_cl > 0) {
		*why = "both Transfer-Encoding and Content-Length";
		return 1;
	}
	if (f.n_te > 1 || f.n_cl > 1) {
		*why = "more than one Transfer-Encoding or Content-Length";
		return 1;
	}
	if (f.te_not_chunked) {
		*why = "a Transfer-Encoding other than chunked";
		return 1;
	}
	if (cl != NULL) {
		char *end;
		errno = 0;
		unsigned long long n = strtoull(cl, &end, 10);
		if (errno == 0 && *end == '\0' && n > max) {
			*status = MHD_HTTP_CONTENT_TOO_LARGE;
			*why = "request body too large";
			return 1;
		}
	}
	return 0;
}

/* ---- request bodies ----
 *
 * Every request charges the server's body_bytes with the capacity of the
 * body buffer it holds, as the buffer grows with the bytes that come (a
 * declared Content-Length is only checked against what is free, never
 * reserved: a client that declares much and sends slowly holds only what
 * it sent), and gives it back when it ends (on_completed). The charge
 * stays for the request's whole life even when the buffer moves to the
 * proxy worker (which frees it when the
 * transfer ends) or is replaced by the policy's re-serialised body (never
 * larger, else the difference is charged too). A charge that would pass
 * max_inflight_body_bytes is refused and nothing is allocated: the
 * request is answered 503 with Retry-After. */

#define BODY_BUSY "gateway busy: too many request bodies in memory"

/* 0: n more bytes charged to rq; -1: they would pass the cap. */
static int body_charge(struct request *rq, size_t n)
{
	struct server *srv = rq->server;
	size_t cap = rq->cfg->max_inflight_body_bytes;
	size_t held = atomic_load(&srv->body_bytes);

	do {
		if (n > cap || held > cap - n)
			return -1;
	} while (!atomic_compare_exchange_weak(&srv->body_bytes, &held,
					       held + n));
	rq->body_charged += n;
	return 0;
}

static void body_release(struct request *rq)
{
	atomic_fetch_sub(&rq->server->body_bytes,
			 rq->body_charged);
	rq->body_charged = 0;
}

/* Whether n more body bytes would fit under the cap now (nothing is
 * charged). */
static int body_fits(const struct request *rq, size_t n)
{
	size_t cap = rq->cfg->max_inflight_body_bytes;
	size_t held = atomic_load(&rq->server->body_bytes);

	return n <= cap && held <= cap - n;
}

/* The buffer grows to hold need bytes, doubling from 4 KiB, never past
 * max nor past a declared length. The charge is taken first. */
static int body_grow(struct request *rq, size_t need, size_t max)
{
	size_t cap = rq->body_cap ? rq->body_cap : 4096;

	while (cap < need)
		cap *= 2;
	if (rq->declared > 0 && cap > rq->declared)
		cap = rq->declared;
	if (cap > max)
		cap = max;
	if (cap < need)
		cap = need; /* the callers never let need pass max */
	if (cap > rq->body_charged &&
	    body_charge(rq, cap - rq->body_charged) < 0) {
		rq->body_busy = 1;
		return -1;
	}
	char *body = realloc(rq->body, cap);
	if (body == NULL) {
		rq->body_too_large = 1;
		return -1;
	}
	rq->body = body;
	rq->body_cap = cap;
	return 0;
}

static void take_body(struct request *rq, size_t max, const char *data,
		      size_t len)
{
	if (rq->body_too_large || rq->body_busy)
		return; /* discarded: refused once read */
	if (rq->body_len + len > max) {
		rq->body_too_large = 1; /* discard: never buffer past max */
		return;
	}
	if (rq->body_len + len > rq->body_cap &&
	    body_grow(rq, rq->body_len + len, max) < 0)
		return;
	memcpy(rq->body + rq->body_len, data, len);
	rq->body_len += len;
}

static int has_body(struct MHD_Connection *c)
{
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						     "Content-Length");
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND,
					   "Transfer-Encoding") != NULL ||
	       (cl != NULL && strcmp(cl, "0") != 0);
}

/* The Content-Length, once declares_bad_framing() has checked it is not
 * over the body limit; 0 when none. */
static size_t declared_length(struct MHD_Connection *c)
{
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						     "Content-Length");
	char *end;

	if (cl == NULL)
		return 0;
	errno = 0;
	unsigned long long n = strtoull(cl, &end, 10);
	return errno == 0 && *end == '\0' && n <= SIZE_MAX ? (size_t)n : 0;
}

/* A refusal is answered once the request is read, so the connection can
 * stay open; with a body still to come, at once (MHD then closes). */
static enum MHD_Result refuse(struct request *rq, struct MHD_Connection *c,
			      unsigned status, const char *reason,
			      unsigned retry_after)
{
	if (has_body(c))
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
 * been checked, rather than the request: on_request() checks any body
 * sent to a JSON-RPC tool, and a POST's even when empty. */
static int counts_calls(struct MHD_Connection *c, const struct cfg_tool *tool,
			const char *method)
{
	return tool->is_jsonrpc &&
	       (strcmp(method, "POST") == 0 || has_body(c));
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
	} else if (policy_check_request(tool, method, path, path_len, &v) < 0) {
		*answer = refuse(rq, c, (unsigned)v.status, v.reason, 0);
		return -1;
	}
	if (tool->rate_max_requests == 0)
		return 0;
	struct ratelimit *rl = rq->server->ratelimit;
	unsigned wait;
	if (counts_calls(c, tool, method)) {
		wait = ratelimit_wait(rl, tool->name, 1,
				      tool->rate_max_requests,
				      tool->rate_window_secs, text_mono_ms());
		rq->rate_pending = wait == 0;
	} else {
		wait = take_tokens(rq, 1);
	}
	if (wait == 0)
		return 0;
	*answer = refuse(rq, c, MHD_HTTP_TOO_MANY_REQUESTS,
			 "rate limit exceeded", wait);
	return -1;
}

struct field_check {
	const char *problem;            /* the first one found, or NULL */
};

static enum MHD_Result check_field(void *cls, enum MHD_ValueKind kind,
				   const char *name, size_t name_len,
				   const char *value, size_t value_len)
{
	struct field_check *fc = cls;
	(void)kind;

	fc->problem = header_field_problem(name, name_len,
					   value ? value : "",
					   value ? value_len : 0);
	return fc->problem == NULL ? MHD_YES : MHD_NO;
}

/* Every header exactly as MHD kept it, counted bytes (a NUL inside is
 * seen, not a shorter string): MHD 0.9.75 passes a bare CR in a value,
 * a blank before the colon and other non-token names. Trailers of a
 * chunked body are never forwarded, so only the head is checked. NULL,
 * or why the request is refused. */
static const char *header_problem(struct MHD_Connection *c)
{
	struct field_check fc = { NULL };

	MHD_get_connection_values_n(c, MHD_HEADER_KIND, check_field, &fc);
	return fc.problem;
}

/* "127.0.0.1:40312" or "[::1]:40312", for the audit trail. */
static const char *client_of(struct MHD_Connection *c)
{
	static __thread char text[INET6_ADDRSTRLEN + 10];
	char host[INET6_ADDRSTRLEN];
	unsigned port;
	int is_ipv6;

	if (httpd_client_address(c, host, sizeof(host), &port, &is_ipv6) < 0)
		return "";
	snprintf(text, sizeof(text), is_ipv6 ? "[%s]:%u" : "%s:%u", host,
		 port);
	return text;
}

static enum MHD_Result on_first_call(struct request *rq,
				     struct MHD_Connection *c,
				     const char *method)
{
	struct server *srv = rq->server;
	const struct cfg_tool *dropin;
	int dropin_gone;
	unsigned status;
	const char *why;

	rq->started = 1;
	rq->is_head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
	/* a connection the guard cut for a slow head gets nothing more */
	if (guard_head_done(srv->guard, listener_guard_conn(c), has_body(c)) < 0)
		return MHD_NO;
	rq->entry = entry_new(srv->ledger, client_of(c), method, rq->target);
	if (rq->entry == NULL)
		return MHD_NO;
	/* the config in force now serves this request to its end; none
	 * yet in the instant a first start's listeners open before it */
	rq->cfg = listener_hold_cfg(rq->listener, &dropin, &dropin_gone);
	if (rq->cfg == NULL)
		return MHD_NO;
	/* before anything is decided on what the headers say */
	if (!header_is_token(method, strlen(method)))
		return refuse(rq, c, MHD_HTTP_BAD_REQUEST,
			      "bad request: the method is not a token", 0);
	if ((why = header_problem(c)) != NULL)
		return refuse(rq, c, MHD_HTTP_BAD_REQUEST, why, 0);
	if (atomic_load(&srv->stopping))
		return refuse(rq, c, MHD_HTTP_SERVICE_UNAVAILABLE,
			      "shutting down", 0);
	if (dropin_gone)
		return refuse(rq, c, MHD_HTTP_NOT_FOUND,
			      "tool removed by a reload", 0);
	if (route_request(rq->cfg, dropin, rq->target, &rq->route) ==
	    ROUTE_TOOL)
		entry_set_tool(rq->entry, rq->route.tool);
	switch (rq->route.kind) {
	case ROUTE_BAD_REQUEST:
		return refuse(rq, c, MHD_HTTP_BAD_REQUEST, rq->route.reason, 0);
	case ROUTE_NOT_FOUND:
		return refuse(rq, c, MHD_HTTP_NOT_FOUND, rq->route.reason, 0);
	case ROUTE_HEALTH:
		break;
	case ROUTE_TOOL: {
		enum MHD_Result answer;
		if (check_tool_request(rq, c, method, &answer) < 0)
			return answer;
		break;
	}
	}
	if (declares_bad_framing(c, body_limit(rq), &status, &why))
		return deny(rq, c, status, why, 0);
	rq->declared = declared_length(c);
	if (rq->declared > 0 && !body_fits(rq, rq->declared))
		return deny(rq, c, MHD_HTTP_SERVICE_UNAVAILABLE, BODY_BUSY, 1);
	return MHD_YES;
}

/* A JSON-RPC refusal: the audit record, then the error body the policy
 * wrote (a JSON-RPC response echoing the ids), with Retry-After when
 * retry_after > 0. */
static enum MHD_Result deny_rpc(struct request *rq, struct MHD_Connection *c,
				unsigned status, const char *reason,
				const char *body, unsigned retry_after)
{
	char secs[16];

	charge_refusal(rq);
	entry_deny(rq->entry, status, reason);
	rq->entry = NULL;
	snprintf(secs, sizeof(secs), "%u", retry_after);
	return httpd_send_body(c, status, "application/json", body,
			       strlen(body), retry_after ? "Retry-After" : NULL,
			       secs);
}

/* An allowed body of n calls takes n tokens, all or none: a batch that
 * does not fit is refused whole and nothing of it goes upstream.
 * 0: go on; -1: answered (429). */
static int take_calls(struct request *rq, struct MHD_Connection *c,
		      const char *checked, size_t len, size_t n,
		      enum MHD_Result *answer)
{
	const struct cfg_tool *tool = rq->route.tool;
	char reason[128];
	unsigned wait;

	if (!rq->rate_pending)
		return 0;
	rq->rate_pending = 0;
	if ((wait = take_tokens(rq, n > 0 ? n : 1)) == 0)
		return 0;
	if (wait == RATELIMIT_NEVER) {
		/* waiting would not help: no Retry-After */
		snprintf(reason, sizeof(reason),
			 "rate limit exceeded: %zu calls are more than "
			 "max_requests (%u)",
			 n, tool->rate_max_requests);
		wait = 0;
	} else {
		snprintf(reason, sizeof(reason), "rate limit exceeded");
	}
	char *body = policy_jsonrpc_refusal(checked, len, reason);
	if (body == NULL) {
		*answer = deny(rq, c, MHD_HTTP_TOO_MANY_REQUESTS, reason, wait);
		return -1;
	}
	*answer = deny_rpc(rq, c, MHD_HTTP_TOO_MANY_REQUESTS, reason, body,
			   wait);
	free(body);
	return -1;
}

/* A JSON-RPC tool's POST body must pass the policy, then the rate limit
 * for as many calls as it holds; what is forwarded is the checked value,
 * re-serialised. 0: go on; -1: answered (denied). */
static int check_jsonrpc_body(struct request *rq, struct MHD_Connection *c,
			      enum MHD_Result *answer)
{
	const struct cfg_tool *tool = rq->route.tool;
	struct policy_verdict v;
	struct policy_calls calls;
	char *forward = NULL, *error_body = NULL;
	size_t forward_len = 0;

	int rc = policy_check_jsonrpc(tool, rq->body ? rq->body : "",
				      rq->body_len, &forward, &forward_len,
				      &error_body, &v, &calls);
	entry_set_jsonrpc_methods(rq->entry, calls.methods, calls.truncated);
	calls.methods = NULL; /* the entry's now */
	policy_calls_free(&calls);
	if (rc < 0) {
		log_info("%s: denied: %s", tool->name, v.reason);
		if (error_body == NULL) {
			*answer = deny(rq, c, (unsigned)v.status, v.reason, 0);
			return -1;
		}
		*answer = deny_rpc(rq, c, (unsigned)v.status, v.reason,
				   error_body, 0);
		free(error_body);
		return -1;
	}
	if (take_calls(rq, c, forward, forward_len, calls.n, answer) < 0) {
		free(forward);
		return -1;
	}
	free(rq->body);
	rq->body = forward;
	rq->body_len = forward_len;
	rq->body_cap = forward_len;
	if (forward_len > rq->body_charged) {
		/* already allocated: counted, even past the cap */
		atomic_fetch_add(&rq->server->body_bytes,
				 forward_len - rq->body_charged);
		rq->body_charged = forward_len;
	}
	return 0;
}

/* A request that was to have its calls counted but carries no body to
 * check after all: one token, as any other request. 0: go on; -1:
 * answered (429). */
static int take_pending(struct request *rq, struct MHD_Connection *c,
			enum MHD_Result *answer)
{
	unsigned wait;

	if (!rq->rate_pending)
		return 0;
	rq->rate_pending = 0;
	if ((wait = take_tokens(rq, 1)) == 0)
		return 0;
	*answer = deny(rq, c, MHD_HTTP_TOO_MANY_REQUESTS,
		       "rate limit exceeded", wait);
	return -1;
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
	struct guard *guard = rq->server->guard;
	if (*upload_size > 0) {
		guard_body_read(guard, listener_guard_conn(c));
		take_body(rq, body_limit(rq), upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	/* the guard may have cut it between the last byte and here */
	if (guard_answering(guard, listener_guard_conn(c)) < 0)
		return MHD_NO;
	if (rq->refusal != 0)
		return deny(rq, c, rq->refusal, rq->refusal_reason,
			    rq->retry_after);
	if (rq->body_too_large)
		return deny(rq, c, MHD_HTTP_CONTENT_TOO_LARGE,
			    "request body too large", 0);
	if (rq->body_busy)
		return deny(rq, c, MHD_HTTP_SERVICE_UNAVAILABLE, BODY_BUSY, 1);
	if (rq->route.kind == ROUTE_HEALTH) {
		entry_discard(rq->entry);
		rq->entry = NULL;
		return send_health(c);
	}
	if (rq->route.tool->type == CFG_TOOL_CLI)
		return run_cli(rq, c);
	entry_set_body(rq->entry, rq->body, rq->body_len);
	/* Any body sent to a JSON-RPC tool is checked, whatever the method:
	 * a PUT must not carry past the policy what a POST could not. */
	enum MHD_Result answer;
	if (rq->route.tool->is_jsonrpc &&
	    (rq->body_len > 0 || strcmp(method, "POST") == 0)) {
		if (check_jsonrpc_body(rq, c, &answer) < 0)
			return answer;
	} else if (take_pending(rq, c, &answer) < 0) {
		return answer;
	}
	return proxy_to_tool(rq, c, method);
}

/* Called first, with the raw target: the only place it is seen undecoded. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct request *rq = calloc(1, sizeof(*rq));
	(void)c;

	if (rq == NULL)
		return NULL;
	rq->listener = cls;
	rq->server = listener_arg(rq->listener);
	rq->target = strdup(uri);
	if (rq->target == NULL) {
		free(rq);
		return NULL;
	}
	return rq;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct request *rq = *con_cls;
	struct server *srv = listener_arg(cls);
	struct guard_conn *gc = listener_guard_conn(c);

	if (rq != NULL) {
		/* a body too slow: the guard has answered 408 */
		if (rq->entry != NULL &&
		    guard_cut_of(srv->guard, gc) == GUARD_CUT_BODY) {
			entry_deny(rq->entry, MHD_HTTP_REQUEST_TIMEOUT,
				   "request body not received in time");
			rq->entry = NULL;
		}
		/* MHD frees the answer's reader only after this call */
		if (rq->reader != NULL)
			rq->reader->complete =
				toe == MHD_REQUEST_TERMINATED_COMPLETED_OK;
		/* the client left (or MHD gave up) before an answer */
		if (rq->entry != NULL)
			entry_deny(rq->entry, STATUS_CLIENT_CLOSED,
				   rq->refusal ? rq->refusal_reason :
						 "client closed the connection "
						 "before the request was "
						 "complete");
		cfg_free(rq->cfg);
		free(rq->target);
		free(rq->body);
		body_release(rq);
		free(rq);
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
	listeners_free(srv->listeners);
	guard_free(srv->guard);
	ratelimit_free(srv->ratelimit);
	free(srv);
}
