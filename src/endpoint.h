/* endpoint — what a tool listener listens with beyond an address: its
 * unix socket, its TLS material (the bytes of its PEM files), and what a
 * connection's unix peer or TLS session proves of the client.
 *
 * The material is read from the files when a listener starts (the main
 * thread: at start, as root before privileges drop, and at each reload)
 * and checked then, so a bad file fails that start or reload with its key
 * and path named, before anything changes. Two listeners whose material
 * is the same bytes need not be restarted (endpoint_tls_same). */
#ifndef CARAPACE_ENDPOINT_H
#define CARAPACE_ENDPOINT_H

#include <stddef.h>

#include "cfg.h"
#include "error.h"

/* A listener's TLS files, each NUL-terminated as MHD wants them; all NULL
 * for a plain listener, ca NULL without tls_client_ca. Owned; cleared
 * (the key's bytes zeroed) by endpoint_tls_clear. */
struct endpoint_tls {
	char *cert, *key, *ca;
	size_t cert_len, key_len, ca_len;
};

/* Reads and checks cl's tls_cert, tls_key (a pair that matches) and
 * tls_client_ca (at least one CA). 0, or -1 with err naming the key and
 * the file ("tls_key /etc/x.pem: Permission denied"), *out empty. */
int endpoint_tls_load(const struct cfg_listen *cl, struct endpoint_tls *out,
		      struct error *err);
void endpoint_tls_clear(struct endpoint_tls *t);
/* Whether a and b are the same bytes (both plain counts as same). */
int endpoint_tls_same(const struct endpoint_tls *a,
		      const struct endpoint_tls *b);

/* A listening unix socket at path: a stale socket file (no one answers on
 * it) is removed first; the file gets mode and, when group is not NULL,
 * that group. The descriptor, or -1 with err saying why. */
int endpoint_unix_listen(const char *path, unsigned mode, const char *group,
			 struct error *err);
/* Gives the existing socket file at path mode and group (a reload that
 * changes them). 0, or -1 with err. */
int endpoint_unix_perms(const char *path, unsigned mode, const char *group,
			struct error *err);

/* What a unix peer is: SO_PEERCRED of the client's socket fd. 0, or -1. */
int endpoint_unix_cred(int fd, unsigned *uid, unsigned *gid);

/* The names a TLS session's client certificate proves: when it sent one
 * that verifies against the session's trusted CAs (the listener's
 * tls_client_ca) for client use, its subject CNs and DNS SANs into
 * *names (a NULL-ended array the caller frees with endpoint_names_free),
 * *n set, and 1 returned. 0 when it sent none or it does not verify
 * (*names NULL): never a name that is not proven. session is a
 * gnutls_session_t, as MHD gives it. MHD's thread of the connection. */
int endpoint_tls_names(void *session, char ***names, size_t *n);
void endpoint_names_free(char **names);

#endif
