/* server — the HTTP front: every listener of a config, routing, the request
 * body, error answers, and the hand-off to the proxy worker.
 *
 * libmicrohttpd runs a thread per connection (poll mode: no FD_SETSIZE
 * limit). That thread may block: it waits for the upstream's head, then
 * its content reader sleeps on the stream until bytes arrive. No reader
 * ever returns "no data yet", so MHD never spins. This is also the one
 * place that decides what a client is told and what is logged. */
#ifndef CARAPACE_SERVER_H
#define CARAPACE_SERVER_H

#include <stddef.h>

#include "cfg.h"
#include "ledger.h"

struct server;

/* Binds and starts every listener of cfg (borrowed: it must outlive the
 * server). Every request is told to ledger (borrowed, likewise).
 * conn_limit caps connections per listener. NULL on failure, with a
 * reason in err. */
struct server *server_start(const struct cfg *cfg, struct ledger *ledger,
			    unsigned conn_limit, char *err, size_t err_len);
/* Stops accepting, closes every connection (streams end, their workers are
 * cancelled) and joins the connection threads; frees srv. */
void server_stop(struct server *srv);

#endif
