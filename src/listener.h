/* listener — the tool listeners: one libmicrohttpd daemon per address a
 * config names (the main listen addresses and tools' drop-in ones), and
 * their life across reloads.
 *
 * A reload keeps the listeners whose address stays (their role may
 * change), starts new ones and retires the others: a retired listener
 * accepts nothing more and is stopped once its last connection has
 * closed, so no request or stream on it is cut. The set also holds the
 * config in force, under the same lock as the roles, so a request sees
 * one consistent pair. The guard (borrowed) admits and times every
 * connection. Requests are the handlers' (server.c): MHD calls them with
 * the struct listener as cls, from the connection's thread. */
#ifndef CARAPACE_LISTENER_H
#define CARAPACE_LISTENER_H

#include <microhttpd.h>

#include "cfg.h"
#include "error.h"
#include "guard.h"

/* An idle keep-alive client is closed after this long; a request that
 * suspends the timeout (a stream) sets it back to this on completion. */
#define LISTENER_IDLE_TIMEOUT_SECS 60u

struct listener;
struct listeners;

/* MHD's request callbacks; each gets the struct listener as cls. arg is
 * given back by listener_arg(). */
struct listener_handlers {
	void *(*on_uri)(void *cls, const char *uri, struct MHD_Connection *c);
	MHD_AccessHandlerCallback on_request;
	MHD_RequestCompletedCallback on_completed;
	void *arg;
};

/* No listener and no config yet. conn_limit caps connections over every
 * listener; wake(wake_arg) is called, from any thread, when a retired
 * listener has lost its last connection: call listeners_reap() then.
 * guard's limits are set from each config applied; initial are the ones
 * it has now (put back when a first apply fails). NULL on out of
 * memory. */
struct listeners *listeners_new(const struct listener_handlers *handlers,
				struct guard *guard,
				const struct guard_limits *initial,
				unsigned conn_limit, void (*wake)(void *),
				void *wake_arg);
/* Puts cfg in force (takes a reference): every listener it names that is
 * not open yet is started first; only when all have started are kept
 * ones given their new role, the others retired and cfg swapped in. 0,
 * or -1 with the reason in err and nothing changed. Main thread only. */
int listeners_apply(struct listeners *ls, const struct cfg *cfg,
		    struct error *err);
/* Stops the retired listeners that have no connection left; returns how
 * many retired ones remain. Main thread only. */
unsigned listeners_reap(struct listeners *ls);
/* Retires every listener (accept nothing more). */
void listeners_quiesce(struct listeners *ls);
/* Closes every listener and connection and frees ls (and its config). */
void listeners_free(struct listeners *ls);

/* The handlers' arg. Any thread. */
void *listener_arg(const struct listener *l);
/* The config l serves, held for the caller (cfg_release() it): the one
 * in force, or, for a listener an apply has started and not yet swapped
 * in, that apply's (a listener serves from the moment it starts).
 * *dropin: the tool whose drop-in listener l is (NULL: a main one);
 * *dropin_gone: it is, but a reload removed that tool. Any thread. */
const struct cfg *listener_hold_cfg(struct listener *l,
				    const struct cfg_tool **dropin,
				    int *dropin_gone);
struct identity_peer;
/* What connection c of l proves of its peer (identity.h): the address,
 * a unix peer's uid and gid, a TLS client certificate's verified names.
 * What it borrows lives as long as the connection. MHD's thread. */
void listener_peer(struct listener *l, struct MHD_Connection *c,
		   struct identity_peer *out);

/* The guard's record of connection c (NULL only before it was made). */
struct guard_conn *listener_guard_conn(struct MHD_Connection *c);

#endif
