/* server — the HTTP front: what a request on a tool listener gets (route,
 * identity, policy, then the health answer, a CLI run or the hand-off to
 * the proxy worker); the listeners themselves are listener.c's.
 *
 * libmicrohttpd runs one epoll thread for all the connections of a
 * listener, so nothing here may block or cost what a client chooses: a
 * request waiting for its answer suspends its connection, and the worker
 * that checks its body and runs its transfer resumes it when there is
 * something to send (stream.h, the parking consumer). This is also the one
 * place that decides what a client is told and what is logged. */
#ifndef CARAPACE_SERVER_H
#define CARAPACE_SERVER_H

#include <stddef.h>

#include "cfg.h"
#include "error.h"
#include "ledger.h"

struct server;

/* A server with no listener yet. Every request is told to ledger, and
 * every connection refused or cut by the front to metrics (both borrowed:
 * they must outlive the server). conn_limit caps connections in all, over
 * every listener (the daemon sizes it so streams keep descriptors).
 * wake(wake_arg) is called, from any thread, when a retired listener has
 * lost its last connection: call server_reap() then. NULL on out of
 * memory. */
struct server *server_new(struct ledger *ledger, struct metrics *metrics,
			  unsigned conn_limit, void (*wake)(void *),
			  void *wake_arg);
struct revoked;
/* The revoked clients (borrowed: it must outlive the server), refused
 * whatever their credentials. Before the first server_apply. */
void server_set_revoked(struct server *srv, struct revoked *revoked);

struct approvals;
/* The registry of requests held for approval (borrowed: it must outlive
 * the server); NULL: nothing is held. Before the first server_apply. */
void server_set_approvals(struct server *srv, struct approvals *ap);

/* Puts cfg in force (the server takes a reference): starts the listeners
 * it names that are not open yet, gives kept ones their new role, and
 * retires the others (they accept nothing more; their open connections,
 * streams included, go on). New requests use cfg at once; those under way
 * keep the config they started with. Every new listener is started
 * before anything else changes: 0, or -1 with the reason in err and
 * nothing changed (an address cannot be bound, out of memory). Main
 * thread only. */
int server_apply(struct server *srv, const struct cfg *cfg,
		 struct error *err);
/* Stops the retired listeners that have no connection left; returns how
 * many retired ones remain. Main thread only. */
unsigned server_reap(struct server *srv);
/* The first step of a stop: every listener is retired, and a request
 * that still comes on an open connection is answered 503. */
void server_quiesce(struct server *srv);
/* Closes every listener and connection (streams and requests still under
 * way end; their workers are cancelled) and frees srv. */
void server_stop(struct server *srv);

#endif
