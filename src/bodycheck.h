/* bodycheck — the policy on a proxied request's body, run on the request's
 * proxy worker (a proxy_check_fn), never on the MHD thread: what it costs
 * (a strict parse of up to max_body_bytes, the re-serialisation, the
 * redacted copy for the audit record) is the client's to choose, and one
 * MHD thread serves every other connection of the listener meanwhile.
 *
 * The check records the body in the audit entry; for a JSON-RPC tool it
 * checks the body against the policy and takes a rate token per call,
 * for any other a token still owed (a request whose calls were to be
 * counted). Refused: the entry is ended (ledger_entry_deny: the audit
 * record and the metrics, before the answer goes out) and the refusal
 * (status, JSON body, Retry-After) is published through the stream as a
 * head and a body, which the MHD thread answers like any other; a
 * refusal's head carries no audit entry back. Allowed: the checked body
 * replaces the request's, and the entry goes back to the MHD thread
 * attached to the stream (stream_attach), to be opened with the
 * upstream's head.
 *
 * Ownership: bodycheck_new() takes the request's audit entry and holds a
 * reference to the config (the tool and its redaction patterns live in
 * it); handed to proxy_request_set_check(), the check is the proxy
 * request's, so its worker's alone. The ratelimit is borrowed: the
 * server frees it only after bodycheck_wait_idle(). The body's charge
 * to the server's budget stays with the request (request.c); the
 * re-serialised body that replaces it is not charged again: a check
 * outlives the server's budget (its worker may run on after the server
 * stops), and the re-serialisation is no longer than what was received
 * but for a number json-c writes longer (a few bytes). */
#ifndef CARAPACE_BODYCHECK_H
#define CARAPACE_BODYCHECK_H

#include <stddef.h>

#include "approvals.h"
#include "cfg.h"
#include "ledger.h"
#include "policy.h"
#include "proxy.h"
#include "ratelimit.h"
#include "stream.h"

struct bodycheck_args {
	const struct cfg *cfg;          /* a reference is taken */
	const struct cfg_tool *tool;    /* in cfg */
	const struct cfg_client *client; /* in cfg; NULL: no clients */
	const char *tool_name;          /* as requested (copied) */
	struct ratelimit *ratelimit;    /* borrowed, see above */
	struct ledger_entry *entry;     /* taken */
	int jsonrpc;                    /* check the body as JSON-RPC */
	int rate_pending;               /* the calls' tokens are owed */
	/* require_approval (approvals.h): the registry (borrowed, it
	 * outlives every worker) or NULL, and what the hold needs to know
	 * of the request (copied) */
	struct approvals *approvals;
	const char *http_method;
	const char *target_prefix;      /* "" or "/", then */
	const char *target;             /* the upstream path and query */
	const char *client_key;         /* approvals_client_key() */
	struct policy_mcp_headers *mcp; /* an MCP tool's headers, taken
					 * (NULL: none) */
};

struct bodycheck;

/* NULL on out of memory: nothing taken (a->mcp stays the caller's). */
struct bodycheck *bodycheck_new(const struct bodycheck_args *a);
/* For proxy_request_set_check(arg = the bodycheck). */
int bodycheck_run(void *arg, struct proxy_request *r, struct stream *s);
/* The entry, back, from a check that will never run (proxy_start
 * failed); the caller still frees the check (through its request). */
struct ledger_entry *bodycheck_take_entry(struct bodycheck *bc);
/* For proxy_request_set_check(free_arg): a check that never ran records
 * its entry as a client that left before the request was complete. */
void bodycheck_free(void *arg);

/* Waits until no check made by bodycheck_new() is still deciding (they
 * use the ratelimit and the ledger): before the server frees them. */
void bodycheck_wait_idle(void);

/* ---- for any worker that decides a request's fate (cli.c's too) ---- */

/* n tokens of tool's rate limit and, with a client, of the client's
 * (one bucket per client, shared by its tools), all or none: 0, the
 * seconds until they would fit, or RATELIMIT_NEVER; nothing is taken
 * unless commit. A refusal names the limit in limit[0..limit_len)
 * ("tools.X.rate_limit", "clients.Y.rate_limit"; limit may be NULL). */
unsigned bodycheck_tokens(struct ratelimit *rl, const struct cfg_tool *tool,
			  const struct cfg_client *client, size_t n,
			  int commit, char *limit, size_t limit_len);
/* A refused request whose calls' tokens are still owed (*pending) costs
 * one, as every request did when tokens were taken on arrival: refusals
 * are not a free way to probe. Whether it fit does not change the
 * refusal. Clears *pending. */
void bodycheck_charge_refusal(struct ratelimit *rl,
			      const struct cfg_tool *tool,
			      const struct cfg_client *client, int *pending);

/* A dry run ("mode": "audit"): whether the tool's rule that refused
 * with v (403 or 405: a rule, not a body that cannot be parsed) lets the
 * request pass after all, recorded in entry as would_deny. 1: go on as
 * if allowed; 0: enforce the refusal (also when out of memory). */
int bodycheck_dry_run(const struct cfg_tool *tool, struct ledger_entry *entry,
		      const struct policy_verdict *v);

/* A head as httpd_send_body() writes one: status, Content-Length len
 * (-1: none), Content-Type type, Cache-Control no-store, and Retry-After
 * when retry_after > 0. NULL on out of memory. */
struct stream_head *bodycheck_head(unsigned status, const char *type,
				   long long len, unsigned retry_after);
/* Publishes a refusal on s as its whole answer, the one httpd_send_error
 * gives on the MHD thread: status, Content-Type application/json,
 * Cache-Control no-store, Retry-After when retry_after > 0, and body
 * (taken), or when NULL the one error shape for status, reason and
 * tool_name (as requested). The record is the caller's, made before. */
void bodycheck_publish_refusal(struct stream *s, unsigned status,
			       const char *reason, const char *tool_name,
			       char *body, unsigned retry_after);
/* The hold (approvals_hold) of a request approvals_required() matched,
 * for any worker: 0 go on (entry names the approval or grant); else the
 * status to refuse with (403, 503, or STATUS_CLIENT_CLOSED when the
 * client left) and why in reason. An approval of a request whose tool a
 * reload changed (or removed, or whose client it took away or revoked)
 * while it was held is 403: the request was built, its cwd checked and
 * its upstream chosen by the tool as it was, so it is sent again rather
 * than run half under each. A tool in a dry run ("mode": "audit") holds
 * nothing: entry records would_hold, and it is 0 at once. */
unsigned bodycheck_hold(struct approvals *ap,
			const struct approval_request *rq,
			struct ledger_entry *entry, char *reason,
			size_t reason_len);

/* For stream_attach(drop): an entry that no consumer took back belongs
 * to a request the policy allowed, which may have gone upstream (or run)
 * before its stream was cancelled: recorded as allowed and answered 499,
 * ended by the client or, closed, by a shutdown (as request_unanswered()
 * records a client gone before the head), never as refused. */
void bodycheck_drop_entry(void *entry, int closed);

#endif
