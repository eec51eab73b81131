/* request — one request on a tool listener and everything it owns: the
 * config it started under (a reference), its raw target, its route
 * (which borrows from those two), its audit entry and its body, with the
 * body's charge to the server's in-flight budget. request_free() is the
 * one release path; the entry is ended once, by the request_* verb that
 * decides its fate, or handed on by request_hand_entry().
 *
 * A request belongs to its connection's MHD thread (it is MHD's
 * con_cls); nothing here is thread-safe but the budget, an atomic shared
 * by every request of a server. What a worker needs moves to it whole
 * (the body, the audit entry while it checks the body: see
 * bodycheck.h), never shared. */
#ifndef CARAPACE_REQUEST_H
#define CARAPACE_REQUEST_H

#include <stdatomic.h>
#include <stddef.h>

#include "cfg.h"
#include "dbuf.h"
#include "ledger.h"
#include "route.h"

struct server;
struct listener;
struct body_reader;
struct stream;

/* nginx's number for a client that left before its answer. */
#define STATUS_CLIENT_CLOSED 499

struct request {
	struct server *server;          /* borrowed */
	struct listener *listener;      /* it came on; borrowed */
	const struct cfg *cfg;          /* in force when it came; a reference
					 * (NULL until the head is in) */
	char *target;                   /* raw, as the client sent it */
	struct route route;             /* borrows from cfg and target */
	const struct cfg_client *client; /* who it proved to be (in cfg);
					  * NULL: no clients configured */
	int unauthorized;               /* its refusal is a 401: the answer
					 * says how to authenticate */
	struct body_reader *reader;     /* the queued answer's, if any */
	struct MHD_Response *response;  /* its response: a reference held
					 * until on_completed */
	int dispatched;                 /* answered, or being: never twice */
	struct stream *waiting;         /* the consumer's reference while the
					 * connection waits for the head */
	int started;
	int is_head;                    /* HEAD: the answer has no body */
	size_t declared;                /* Content-Length, or 0 */
	int body_too_large;
	int body_busy;                  /* max_inflight_body_bytes reached */
	unsigned refusal;               /* status to answer once read, or 0 */
	char refusal_reason[512];
	unsigned retry_after;           /* seconds, with a 429 */
	int rate_pending;               /* a JSON-RPC body's calls are yet to
					 * be counted: no token taken so far */
	/* owned; through the functions below only */
	struct ledger_entry *entry;     /* until ended or handed on */
	struct dbuf body;               /* as received */
	size_t body_charged;            /* to *budget */
	atomic_size_t *budget;          /* the server's body bytes */
};

/* A request for target (copied) on l of srv, charging its body to
 * budget. NULL on out of memory. */
struct request *request_new(struct server *srv, struct listener *l,
			    atomic_size_t *budget, const char *target);
/* The one release path: an entry still held is recorded as the client
 * having left before an answer (or with the refusal it was to get), the
 * body and its charge are given back, the config released. NULL: no-op. */
void request_free(struct request *rq);

/* ---- the audit entry ---- */

/* Opens the entry. 0, or -1 on out of memory. */
int request_open_entry(struct request *rq, struct ledger *ledger,
		       const char *client, const char *method);
/* The entry, borrowed, for its setters (never to end it); NULL once it
 * has been ended or handed on. */
struct ledger_entry *request_entry(struct request *rq);
/* Each ends the entry held, if any, as the ledger's verb of that name. */
void request_deny(struct request *rq, unsigned status, const char *reason);
void request_fail(struct request *rq, unsigned status, const char *reason,
		  enum metrics_upstream_error upstream_kind);
void request_discard(struct request *rq);
/* An answer that opened but never reached the client. */
void request_end(struct request *rq, enum ledger_ending how);
/* Went upstream, but the client left before the head came back. */
void request_unanswered(struct request *rq);
/* The entry moves on: to the proxy worker that checks the body (which
 * ends it on a refusal, or gives it back through the stream with the
 * upstream's head), or to the answer's body reader, which ends it when
 * MHD drops the response; the caller owns what is returned. */
struct ledger_entry *request_hand_entry(struct request *rq);
/* An entry handed on comes back (taken; the request holds none). */
void request_restore_entry(struct request *rq, struct ledger_entry *e);

/* ---- the body ---- */

/* Once the route is known: the body may hold max bytes; declared is the
 * Content-Length (0: none). */
void request_body_limit(struct request *rq, size_t max, size_t declared);
/* Whether n more bytes would fit in the budget now (nothing charged). */
int request_body_fits(const struct request *rq, size_t n);
/* Appends what arrived; past the limit it sets body_too_large, past the
 * budget body_busy, and from then on discards (refused once read). */
void request_append_body(struct request *rq, const char *data, size_t len);
/* The body to send, for the proxy request (caller frees; NULL with *len
 * 0 when there is none or no memory). Its charge stays with rq. */
char *request_give_body(struct request *rq, size_t *len);

/* ---- what goes upstream ---- */

struct MHD_Connection;
struct proxy_request;

/* The upstream request of a routed http tool call, from the head of c
 * (MHD's thread; bounded by the head): the tool's URL joined with the
 * route's prefix and rest, the client's headers the tool's policy
 * forwards (never Authorization: header.c), then the host's own. No
 * body yet. NULL on out of memory. */
struct proxy_request *request_upstream(const struct request *rq,
				       struct MHD_Connection *c,
				       const char *method);

#endif
