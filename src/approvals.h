/* approvals — requests held for a person's decision, and the grants that
 * let the same call through again (require_approval, issue 17).
 *
 * Two halves. approvals_required() is pure: whether a tool's
 * require_approval matches a request (any thread; the audit mode calls it
 * to record what would have been held). The registry holds the pending
 * requests and the grants; one per daemon, it outlives reloads (it holds
 * the config in force, given by approvals_set_cfg()) and dies with the
 * process, grants included.
 *
 * A held request is its worker waiting in approvals_hold(), in poll(2)
 * on an eventfd of its own and the client's socket (POLLRDHUP), until a
 * decision, its timeout, the client leaving or a shutdown: the decider
 * and approvals_shutdown() write the eventfd, a cancel of the stream does
 * through the stream's cancel hook (set for the wait, cleared after: the
 * proxy and cli workers set theirs only once the check is over). Never
 * on MHD's thread.
 *
 * Grants: an approval with grant_secs lets the same client make the same
 * call (tool, kind, what and digest; with the method scope, tool, kind
 * and the method, "METHOD /path" or the argv pattern that matched) until
 * it expires. A grant is dead once the tool's fingerprint (cfg.h) in the
 * config in force, or in the request's, is not the one it was made
 * under, or the tool is gone.
 *
 * Bounds: APPROVALS_MAX_PENDING requests held at once (more: 503),
 * APPROVALS_MAX_GRANTS grants, APPROVALS_MAX_FEEDS live feeds; a feed
 * that reads too slowly misses events (counted, told to it). Every
 * function is thread-safe. */
#ifndef CARAPACE_APPROVALS_H
#define CARAPACE_APPROVALS_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "audit.h"
#include "cfg.h"
#include "error.h"
#include "stream.h"

#define APPROVALS_MAX_PENDING 256u
#define APPROVALS_MAX_GRANTS 1024u
#define APPROVALS_MAX_FEEDS 8u
#define APPROVALS_MAX_GRANT_SECS 2592000u /* 30 days */
#define APPROVAL_ID_LEN 32u               /* hex of 16 random bytes */
/* The longest "what" a request may show; a longer one is refused (503)
 * rather than shown cut, which two calls could then share. */
#define APPROVAL_WHAT_MAX 65536u

enum approval_kind { APPROVAL_JSONRPC, APPROVAL_ARGV, APPROVAL_HTTP };

/* What a request asks, as the match sees it. */
struct approval_call {
	enum approval_kind kind;
	const char *const *methods;     /* JSONRPC: each call's method */
	size_t n_methods;
	char *const *argv;              /* ARGV: without argv[0] */
	size_t argc;
	const char *http_method;        /* JSONRPC and HTTP: the request's */
	const char *path;               /* the upstream path, no query */
	size_t path_len;
};

/* 1 when tool's require_approval holds call: a JSON-RPC call's method in
 * jsonrpc_methods; an argv whose joined arguments match argv_patterns;
 * for an http tool (JSON-RPC or not) a request whose method is in
 * http_methods and whose path matches paths (one of the two lists may be
 * missing: then the other alone decides; both missing: no request).
 * *rule (may be NULL) gets the argv pattern that matched, else NULL.
 * Pure; 0 when the tool has no require_approval. */
int approvals_required(const struct cfg_tool *tool,
		       const struct approval_call *call, const char **rule);

/* What a person is shown of a request (the list, the feed, the webhook,
 * the audit trail, the log) and what a method-scope grant compares:
 * the bytes as they came where they are printable UTF-8, the others
 * (controls, bytes of no character, a backslash) as \xNN, and the
 * invisible or reordering characters (C1 controls, U+200B..U+200F,
 * U+2028..U+202E, U+2066..U+2069) as \u{XXXX}: nothing can pass for a
 * line or a column of its own, and no two requests show alike. NULL on
 * out of memory. */
char *approvals_shown_text(const char *s);

/* "the same client": the configured client's name, or without clients
 * the request's source address without its port (remote as
 * httpd_client_text() writes it: "1.2.3.4:5", "[::1]:5", "unix:uid=0"),
 * as "addr:1.2.3.4". */
/* digest bound to the HTTP method and target the call came with, so
 * that a grant of a JSON-RPC call sent to one path lets the same call to
 * another through no more than a new call: digest = SHA-256(digest,
 * method, NUL, target). 0, or -1 (out of memory). */
int approvals_digest_bind(unsigned char digest[32], const char *http_method,
			  const char *target);

void approvals_client_key(const char *client, const char *remote, char *out,
			  size_t len);

struct approvals;
struct revoked;

/* audit is borrowed and outlives the registry. NULL on out of memory. */
struct approvals *approvals_new(struct audit *audit);
/* Ends what is pending (approvals_shutdown), waits for every held
 * request's worker to have let go, frees the registry. */
void approvals_free(struct approvals *ap);
/* The config in force (a reference is taken; the one before released). */
void approvals_set_cfg(struct approvals *ap, const struct cfg *cfg);
/* The revoked clients (borrowed: it outlives the registry), so that an
 * approval of a request whose client was revoked while it waited lets
 * nothing through. Before the first hold. */
void approvals_set_revoked(struct approvals *ap, struct revoked *revoked);
/* Every pending request ends (503, shutting down), and a hold from now
 * on too. */
void approvals_shutdown(struct approvals *ap);

/* Where each new pending request's record goes besides the feed (the
 * approval_webhook): fn(arg, url, json, len) on the holding worker, url
 * the approval_webhook in force. Set before requests come. */
void approvals_set_notify(struct approvals *ap,
			  void (*fn)(void *arg, const char *url,
				     const char *json, size_t len),
			  void *arg);

/* ---- the worker's side ---- */

struct approval_request {
	const struct cfg_tool *tool;    /* the request's; its config held */
	const char *client;             /* approvals_client_key() */
	const char *what;               /* "send", "a,b", "item get x",
					 * "POST /v1/x?y=1" */
	const char *rule;               /* the argv pattern matched, or NULL */
	enum approval_kind kind;
	unsigned char digest[32];       /* SHA-256 of the call's params or
					 * body (approvals_digest_*) */
	struct stream *stream;          /* the client's, watched */
};

enum approval_outcome {
	APPROVAL_GRANTED,    /* a live grant let it through (res->id) */
	APPROVAL_APPROVED,   /* held, then approved (res->id) */
	APPROVAL_DENIED,     /* 403 res->reason */
	APPROVAL_TIMED_OUT,  /* 403 res->reason */
	APPROVAL_GONE,       /* the client left: nobody to answer */
	APPROVAL_STOPPED,    /* 503 res->reason: the daemon stops */
	APPROVAL_FAILED,     /* 503 res->reason: too many pending, out of
			      * memory */
};

struct approval_result {
	enum approval_outcome outcome;
	char id[APPROVAL_ID_LEN + 1];   /* the approval's or the grant's */
	char reason[300];
};

/* A request approvals_required() holds: through by a live grant at once,
 * or held (recorded, fed, notified) until decided. Blocks the calling
 * worker; see the top of this file for what ends the wait. Always fills
 * res. */
void approvals_hold(struct approvals *ap, const struct approval_request *rq,
		    struct approval_result *res);

/* After APPROVAL_APPROVED: whether the tool of rq in the config in
 * force is still the one it was held under (fingerprint), and its client
 * (a configured one) still defined and allowed the tool. 0 same; 1
 * changed: *cfg (a reference: cfg_release it) and *now to check the
 * request again against; -1 refused now, why in why[0..len). */
int approvals_tool_now(struct approvals *ap,
		       const struct approval_request *rq,
		       const struct cfg **cfg, const struct cfg_tool **now,
		       char *why, size_t len);

/* SHA-256 of a JSON-RPC body's calls as [[method, params], ...] (no id),
 * from its checked serialisation; 0, or -1 (not parsed: out of memory). */
int approvals_digest_jsonrpc(const char *checked, size_t len,
			     unsigned char out[32]);

/* ---- the operator's side (admin_approvals.c) ---- */

/* {"pending":[...], "grants":[...]}: caller puts. */
struct json_object *approvals_list(struct approvals *ap);

struct approval_decision {
	int approve;
	unsigned grant_secs;            /* 0: no grant */
	int method_scope;
	const char *reason;             /* may be NULL */
	const char *by;                 /* "admin", "unix:uid=N" */
};

/* Decides pending request id: the answer's JSON (caller puts), or NULL
 * with err (404 unknown or decided, 409 no room for a grant, 500). */
struct json_object *approvals_decide(struct approvals *ap, const char *id,
				     const struct approval_decision *d,
				     struct error *err);

/* A live feed into s (its producer reference is taken): deliver(s, event,
 * json, len, missed) gets each new pending request ("pending") and each
 * end ("decided"), or event NULL and missed when events were lost since
 * the last one delivered; it returns as stream_offer(). Called under the
 * registry's lock: it must not call in. NULL (s released) when
 * APPROVALS_MAX_FEEDS are open or out of memory. */
struct approvals_feed;
typedef int (*approvals_feed_fn)(struct stream *s, const char *event,
				 const char *json, size_t len,
				 uint64_t missed);
struct approvals_feed *approvals_feed_new(struct approvals *ap,
					  struct stream *s,
					  approvals_feed_fn deliver);
/* The reader is gone: stop feeding, finish and release the stream. */
void approvals_feed_end(struct approvals *ap, struct approvals_feed *f);

#endif
