/* ledger — what each request did, told once to everyone who keeps count:
 * the audit trail (audit.c), the counters (metrics.c) and the list of open
 * streams (GET /v1/streams).
 *
 * The server opens an entry per request and fills it as the request goes
 * (tool, body, argv, JSON-RPC methods); the entry then ends in exactly one
 * of three ways, each of which writes its audit record and frees it:
 * entry_deny (refused before forwarding), entry_fail (allowed, but the
 * upstream or tool gave no answer) or entry_open + entry_end (an answer
 * went out). A stream — a text/event-stream answer — is audited twice:
 * when it opens and when it ends. Every other request once, at its end.
 * An entry keeps copies of what it shows: it never borrows the config. */
#ifndef CARAPACE_LEDGER_H
#define CARAPACE_LEDGER_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "audit.h"
#include "cfg.h"
#include "metrics.h"

enum entry_ending {
	ENDED_COMPLETE,      /* the answer was whole ("upstream_closed" for
			      * a stream) */
	ENDED_CLIENT_CLOSED, /* the client left first */
	ENDED_ERROR,         /* the upstream broke the body off */
	ENDED_RELOAD,        /* a reload removed the stream's tool */
	ENDED_SHUTDOWN,      /* the daemon stopped */
	ENDED_CLIENT_STALLED, /* the client read nothing for
			       * client_send_timeout_secs */
};

struct ledger;
struct entry;

/* audit and metrics are borrowed and must outlive the ledger. */
struct ledger *ledger_new(struct audit *audit, struct metrics *metrics);
void ledger_free(struct ledger *l);
/* {"streams":[{id, client, tool, kind, method, path, started, age_secs,
 * bytes_out, idle_secs}, ...]}; caller puts. */
struct json_object *ledger_streams(struct ledger *l);

/* Requests under way: entries made and not yet ended. */
unsigned ledger_in_flight(struct ledger *l);
/* fn(arg) runs (on the thread ending an entry) each time the count of
 * requests under way falls to 0; NULL stops it. For a shutdown's drain. */
void ledger_on_idle(struct ledger *l, void (*fn)(void *), void *arg);
/* Ends, through their closers, the open streams for which doomed(arg,
 * tool) is true (tool "" for none); their records say why. Returns how
 * many. The streams end on their own threads, soon after. */
unsigned ledger_close_streams(struct ledger *l,
			      int (*doomed)(void *arg, const char *tool),
			      void *arg, enum entry_ending why);

/* A new request; strings are copied. NULL on out of memory. */
struct entry *entry_new(struct ledger *l, const char *client,
			const char *method, const char *target);
/* Routed to tool (borrowed only during the call). */
void entry_set_tool(struct entry *e, const struct cfg_tool *tool);
/* The request body as received; logged (redacted) when the tool says
 * log_body. */
void entry_set_body(struct entry *e, const char *body, size_t len);
/* The body's JSON-RPC method names: a json-c array of strings (see
 * struct policy_calls), recorded whole as "jsonrpc_methods"; truncated
 * adds "jsonrpc_methods_truncated": true. Takes over the caller's
 * reference to methods (NULL: none). */
void entry_set_jsonrpc_methods(struct entry *e, struct json_object *methods,
			       int truncated);
/* A cli tool's arguments; logged (redacted) when the tool says log_argv. */
void entry_set_argv(struct entry *e, char *const *argv, size_t argc);

/* Refused with status for reason (a 429 also counts as rate limited). */
void entry_deny(struct entry *e, unsigned status, const char *reason);
/* Allowed, but no answer came: status (502, 503, 504) and why;
 * upstream_error is METRICS_UPSTREAM_NONE when not the upstream's
 * fault. */
void entry_fail(struct entry *e, unsigned status, const char *reason,
		enum metrics_upstream_error upstream_error);
/* The answer's head goes out; stream: a long-lived answer. */
void entry_open(struct entry *e, unsigned status, int stream);
/* How the daemon can end this stream early (stream_close on it): set
 * before entry_open; called under the ledger's lock, so it must not
 * block or call back. */
void entry_set_closer(struct entry *e, void (*close)(void *), void *arg);
/* Body bytes sent to the client; any thread. */
void entry_add_out(struct entry *e, size_t n);
/* A request nobody audits (GET /healthz): freed, nothing written. */
void entry_discard(struct entry *e);
/* The answer is over. exit_code/signal: a cli tool's end (has_exit). A
 * stream ended by ledger_close_streams records that reason instead of
 * how. */
void entry_end(struct entry *e, enum entry_ending how, int has_exit,
	       int exit_code, int signal);

#endif
