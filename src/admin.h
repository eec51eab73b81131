/* admin — the admin listener: GET /metrics (Prometheus text), GET
 * /v1/status, GET /v1/streams, GET /v1/audit (a live SSE tail of the audit
 * trail, ?tool= and ?decision= filters), POST /v1/reload, POST
 * /v1/revocations, and the approvals (admin_approvals.h): the only
 * request bodies it reads are those of POST /v1/approvals/ID.
 *
 * It is a listener of its own, on a loopback address or a unix socket
 * (made with mode 0600), never one of the tool listeners: no tool path
 * reaches it. Who may ask, on every request: on a loopback address only
 * "Authorization: Bearer TOKEN" whose SHA-256 is admin_token_sha256 of
 * the config in force (401 otherwise); on the unix socket whoever its
 * mode lets in, narrowed to the uids of admin_peer_uids when set (403)
 * and to the token when admin_token_sha256 is set. A thread per
 * connection (few connections, and the live tail's reader may block),
 * unlike the tool listeners. */
#ifndef CARAPACE_ADMIN_H
#define CARAPACE_ADMIN_H

#include <stddef.h>
#include <time.h>

#include "audit.h"
#include "cfg.h"
#include "ledger.h"
#include "metrics.h"

/* What the admin API reports and acts on; everything is borrowed and must
 * outlive the listener. */
struct revoked;
struct approvals;

struct admin_context {
	const char *config_file;
	struct metrics *metrics;
	struct audit *audit;
	struct ledger *ledger;
	struct revoked *revoked;        /* the clients refused (counted in
					 * /v1/status); NULL: none */
	struct approvals *approvals;    /* GET /v1/approvals, POST
					 * /v1/approvals/ID (admin_approvals.h);
					 * NULL: none */
	struct timespec started;        /* CLOCK_REALTIME */
	/* The config now in force and when it was loaded (CLOCK_REALTIME),
	 * held until given back with release. */
	const struct cfg *(*acquire)(void *arg, struct timespec *loaded);
	void (*release)(void *arg, const struct cfg *cfg);
	/* POST /v1/reload: 0 done; -1 refused, with why in e->msg. */
	int (*reload)(void *arg, struct error *e);
	/* POST /v1/revocations: revoked_clients_file read again and the
	 * streams of the clients it names ended (*ended of them); 0, or
	 * -1 with why in e->msg and the set in force unchanged. */
	int (*revocations)(void *arg, unsigned *ended, struct error *e);
	void *arg;
};

struct admin;

/* Listens on cfg->admin (which must be enabled). NULL on failure, with
 * the reason in err. */
struct admin *admin_start(const struct cfg_admin *where,
			  const struct admin_context *ctx, struct error *err);
/* Closes the listener and every admin connection (live tails end). */
void admin_stop(struct admin *a);

#endif
