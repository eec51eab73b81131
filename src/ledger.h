/* ledger — what each request did, told once to everyone who keeps count:
 * the audit trail (audit.c), the counters (metrics.c, one metrics_record
 * per event) and the list of open streams (GET /v1/streams).
 *
 * The server opens an entry per request and fills it as the request goes
 * (tool, body, argv, JSON-RPC methods); the entry then ends in exactly one
 * of three ways, each of which writes its audit record and frees it:
 * ledger_entry_deny (refused before forwarding), ledger_entry_fail
 * (allowed, but the upstream or tool gave no answer) or ledger_entry_open
 * + ledger_entry_end (an answer went out). A stream — a text/event-stream
 * answer — is audited twice: when it opens and when it ends. Every other
 * request once, at its end.
 *
 * An entry keeps copies of the strings its records show. The one thing it
 * borrows from the config is the routed tool's redaction patterns, from
 * ledger_entry_set_tool until the body and argv are set: the caller holds
 * the config that long.
 *
 * What a client makes large — the body, argv, the JSON-RPC methods — is
 * redacted and rendered as record text where it is set, on the request's
 * worker; writing a record (an ending, on MHD's thread for most) then
 * costs a copy of that text and its write(2), whatever its size. Call
 * the setters off MHD's thread. */
#ifndef CARAPACE_LEDGER_H
#define CARAPACE_LEDGER_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "audit.h"
#include "cfg.h"
#include "metrics.h"

enum ledger_ending {
	LEDGER_ENDED_COMPLETE,       /* the answer was whole
				      * ("upstream_closed" for a stream) */
	LEDGER_ENDED_CLIENT_CLOSED,  /* the client left first */
	LEDGER_ENDED_ERROR,          /* the upstream broke the body off */
	LEDGER_ENDED_RELOAD,         /* a reload removed the stream's tool */
	LEDGER_ENDED_SHUTDOWN,       /* the daemon stopped */
	LEDGER_ENDED_CLIENT_STALLED, /* the client read nothing for
				      * client_send_timeout_secs */
	LEDGER_ENDED_REVOKED,        /* its client was revoked */
};

/* What kind of answer ledger_entry_open starts. */
enum ledger_answer {
	LEDGER_PLAIN,  /* audited once, at its end */
	LEDGER_STREAM, /* long-lived: audited when it opens and when it ends,
			* listed by ledger_streams meanwhile */
};

/* How a cli tool's process ended, for ledger_entry_end. */
struct ledger_exit {
	int code;   /* its exit status, when signal is 0 */
	int signal; /* the signal that killed it, or 0 */
};

struct ledger;
struct ledger_entry;

/* audit and metrics are borrowed and must outlive the ledger. */
struct ledger *ledger_new(struct audit *audit, struct metrics *metrics);
void ledger_free(struct ledger *l);
/* {"streams":[{id, client, remote, tool, kind, http_method, method, path,
 * started, age_secs, bytes_out, idle_secs}, ...]}; "method" repeats
 * http_method, for clients of the last release, and goes in the next.
 * Caller puts. */
struct json_object *ledger_streams(struct ledger *l);

/* Requests under way: entries made and not yet ended. */
unsigned ledger_in_flight(struct ledger *l);
/* fn(arg) runs (on the thread ending an entry) each time the count of
 * requests under way falls to 0; NULL stops it. For a shutdown's drain. */
void ledger_on_idle(struct ledger *l, void (*fn)(void *), void *arg);
/* Ends, through their closers, the open streams for which doomed(arg,
 * tool, client) is true (tool "" for none, client "" for no client
 * name); their records say why. Returns how many. The streams end on
 * their own threads, soon after. doomed runs under the ledger's lock. */
unsigned ledger_close_streams(struct ledger *l,
			      int (*doomed)(void *arg, const char *tool,
					    const char *client),
			      void *arg, enum ledger_ending why);

/* What ledger_close_streams would now end, asked again of each stream
 * as it registers (ledger_entry_open), after it is on the list: a
 * stream decided before a revocation or reload but opening after its
 * ledger_close_streams ran is ended all the same, with the reason
 * doomed sets in *why. One checker (NULL: none); set before requests
 * come; it runs on the stream's thread, not under the ledger's lock. */
void ledger_set_admission(struct ledger *l,
			  int (*doomed)(void *arg, const char *tool,
					const char *client,
					enum ledger_ending *why),
			  void *arg);

/* Entries: one thread at a time, the request's, except where said. */

/* A new request from remote (the peer's address as text: "client"
 * before issue 15, now "remote" in records); strings are copied. NULL on
 * out of memory. */
struct ledger_entry *ledger_entry_new(struct ledger *l, const char *remote,
				      const char *method, const char *target);
/* The client the request proved to be (clients); records show it as
 * "client", null until set. 0, or -1 on out of memory (unchanged). */
int ledger_entry_set_client(struct ledger_entry *e, const char *name);
/* Routed to tool (its name is copied; its redaction patterns borrowed, see
 * above). 0, or -1 on out of memory with the entry unchanged: it still
 * names no tool. */
int ledger_entry_set_tool(struct ledger_entry *e,
			  const struct cfg_tool *tool);
/* The request body as received; logged (redacted) when the tool says
 * log_body: up to a serialisation of the whole body, here. */
void ledger_entry_set_body(struct ledger_entry *e, const char *body,
			   size_t len);
/* The body's JSON-RPC method names: a json-c array of strings (see
 * struct policy_calls), recorded whole as "jsonrpc_methods"; truncated
 * adds "jsonrpc_methods_truncated": true. Takes over the caller's
 * reference to methods (NULL: none). */
void ledger_entry_set_jsonrpc_methods(struct ledger_entry *e,
				      struct json_object *methods,
				      int truncated);
/* A dry run ("mode": "audit") let pass a request rule (copied) would
 * have refused: its records say "decision": "would_deny" with the rule,
 * and metrics count it apart. 0, or -1 on out of memory (unchanged). */
int ledger_entry_set_would_deny(struct ledger_entry *e, const char *rule);
/* The same for a request require_approval would have held:
 * "decision": "would_hold". A would_deny set before stays. */
int ledger_entry_set_would_hold(struct ledger_entry *e, const char *rule);
/* A cli tool's arguments; logged (redacted) when the tool says log_argv. */
void ledger_entry_set_argv(struct ledger_entry *e, char *const *argv,
			   size_t argc);

/* The approval that let the request through or ended it (key
 * "approval_id"), or the grant it used ("grant_id"): the id is recorded
 * under key in every later record of the entry. key is a literal. */
void ledger_entry_set_approval(struct ledger_entry *e, const char *key,
			       const char *id);

/* Refused with status for reason (a 429 also counts as rate limited). */
void ledger_entry_deny(struct ledger_entry *e, unsigned status,
		       const char *reason);
/* Allowed, but no answer came: status (502, 503, 504) and why;
 * upstream_error is METRICS_UPSTREAM_NONE when not the upstream's
 * fault. */
void ledger_entry_fail(struct ledger_entry *e, unsigned status,
		       const char *reason,
		       enum metrics_upstream_error upstream_error);
/* The answer's head goes out. */
void ledger_entry_open(struct ledger_entry *e, unsigned status,
		       enum ledger_answer answer);
/* How the daemon can end this stream early (stream_close on it): set
 * before ledger_entry_open; called under the ledger's lock, so it must
 * not block or call back. */
void ledger_entry_set_closer(struct ledger_entry *e, void (*close)(void *),
			     void *arg);
/* Body bytes sent to the client; any thread. */
void ledger_entry_add_out(struct ledger_entry *e, size_t n);
/* A request nobody audits (GET /healthz): freed, nothing written. */
void ledger_entry_discard(struct ledger_entry *e);
/* The answer is over. exit: a cli tool's end, or NULL (copied). A
 * stream ended by ledger_close_streams records that reason instead of
 * how. */
void ledger_entry_end(struct ledger_entry *e, enum ledger_ending how,
		      const struct ledger_exit *proc);

#endif
