/* identity — which configured client a request is (clients), from what
 * its connection and its head prove.
 *
 * A client matches when every credential it is configured with holds:
 *   token_sha256    the request presents a token whose SHA-256 is that
 *                   hash: "Authorization: Bearer TOKEN", or HTTP Basic
 *                   with the client's name as user and the token as
 *                   password. A client without one matches only a
 *                   request that presents no Authorization at all.
 *   allow_from      the peer is a TCP address in one of the networks.
 *   unix_peer_uids/ the peer is on a unix socket listener and its uid
 *   unix_peer_gids  is one of the uids, or its gid one of the gids.
 *   tls_client_cn   the connection's client certificate chained to the
 *                   listener's tls_client_ca, and its CN or a DNS SAN
 *                   is that name.
 * The config guarantees (cfg_client.c) that no request can match two
 * clients. Hashes are compared with secret_equal, against every client,
 * so the time taken tells nothing of which (if any) came close.
 *
 * Pure: no state, any thread. */
#ifndef CARAPACE_IDENTITY_H
#define CARAPACE_IDENTITY_H

#include <stddef.h>
#include <sys/socket.h>

#include "cfg.h"
#include "error.h"

/* What the connection proves (listener_peer() fills it). */
struct identity_peer {
	int is_unix;                   /* came on a unix socket listener */
	const struct sockaddr *addr;   /* TCP: the peer's address */
	int has_cred;                  /* unix: SO_PEERCRED answered */
	unsigned uid, gid;
	int tls;                       /* the connection is TLS */
	int cert_verified;             /* a client certificate, chained to
					* the listener's tls_client_ca */
	const char *const *cert_names; /* its CN and DNS SANs (borrowed) */
	size_t n_cert_names;
};

/* The client whose credentials the request presents: peer (above) and
 * authorization, the Authorization header as sent (NULL: none; the
 * caller refuses a request carrying two). 0 with *out set, or -1 with
 * err->status 401 and err->msg saying what failed (never the token). */
int identity_of(const struct cfg *cfg, const struct identity_peer *peer,
		const char *authorization, const struct cfg_client **out,
		struct error *err);

#endif
