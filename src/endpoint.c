/* endpoint — see endpoint.h. */
#include "config.h"

#include "endpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

/* No PEM file of ours is near this: a larger one is a mistake. */
#define PEM_MAX (1024 * 1024)
/* Names one certificate may give (CNs and DNS SANs together). */
#define NAMES_MAX 64

/* ---- TLS material ---- */

/* The whole file, NUL-terminated, into *buf. 0, or -1 with errno. */
static int read_pem(const char *path, char **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	char *p = NULL;
	size_t n = 0;

	if (fd < 0)
		return -1;
	if ((p = malloc(PEM_MAX + 1)) == NULL)
		goto fail;
	for (;;) {
		ssize_t r = read(fd, p + n, PEM_MAX + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			goto fail;
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > PEM_MAX) {
			errno = EFBIG;
			goto fail;
		}
	}
	close(fd);
	p[n] = '\0';
	*buf = p;
	*len = n;
	return 0;
fail:;
	int saved = errno;
	if (p != NULL) {
		explicit_bzero(p, n);
		free(p);
	}
	close(fd);
	errno = saved;
	return -1;
}

static int load_one(const char *key, const char *path, char **buf,
		    size_t *len, struct error *err)
{
	if (read_pem(path, buf, len) < 0)
		return error_set(err, 0, key, "%s %s: %s", key, path,
				 strerror(errno));
	return 0;
}

/* What GnuTLS (as MHD will use it) makes of the files, said before any
 * daemon is started with them. */
static int check_material(const struct cfg_listen *cl,
			  const struct endpoint_tls *t, struct error *err)
{
	gnutls_certificate_credentials_t cred;
	gnutls_datum_t cert = { (unsigned char *)t->cert,
				(unsigned)t->cert_len };
	gnutls_datum_t key = { (unsigned char *)t->key, (unsigned)t->key_len };
	int rc = -1;

	if (gnutls_certificate_allocate_credentials(&cred) < 0)
		return error_set(err, 0, NULL, "out of memory");
	int r = gnutls_certificate_set_x509_key_mem(cred, &cert, &key,
						    GNUTLS_X509_FMT_PEM);
	if (r < 0) {
		error_set(err, 0, "tls_cert", "tls_cert %s / tls_key %s: %s",
			  cl->tls_cert, cl->tls_key, gnutls_strerror(r));
		goto out;
	}
	if (t->ca != NULL) {
		gnutls_datum_t ca = { (unsigned char *)t->ca,
				      (unsigned)t->ca_len };
		r = gnutls_certificate_set_x509_trust_mem(cred, &ca,
							  GNUTLS_X509_FMT_PEM);
		if (r <= 0) {
			error_set(err, 0, "tls_client_ca", "tls_client_ca %s: %s",
				  cl->tls_client_ca,
				  r < 0 ? gnutls_strerror(r) : "no certificate");
			goto out;
		}
	}
	rc = 0;
out:
	gnutls_certificate_free_credentials(cred);
	return rc;
}

int endpoint_tls_load(const struct cfg_listen *cl, struct endpoint_tls *out,
		      struct error *err)
{
	*out = (struct endpoint_tls){ 0 };
	if (cl->tls_cert == NULL)
		return 0;
	if (load_one("tls_cert", cl->tls_cert, &out->cert, &out->cert_len,
		     err) < 0 ||
	    load_one("tls_key", cl->tls_key, &out->key, &out->key_len,
		     err) < 0 ||
	    (cl->tls_client_ca != NULL &&
	     load_one("tls_client_ca", cl->tls_client_ca, &out->ca,
		      &out->ca_len, err) < 0) ||
	    check_material(cl, out, err) < 0) {
		endpoint_tls_clear(out);
		return -1;
	}
	return 0;
}

void endpoint_tls_clear(struct endpoint_tls *t)
{
	if (t->key != NULL)
		explicit_bzero(t->key, t->key_len);
	free(t->cert);
	free(t->key);
	free(t->ca);
	*t = (struct endpoint_tls){ 0 };
}

static int same_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
	if (a == NULL || b == NULL)
		return a == b;
	return alen == blen && memcmp(a, b, alen) == 0;
}

int endpoint_tls_same(const struct endpoint_tls *a,
		      const struct endpoint_tls *b)
{
	return same_bytes(a->cert, a->cert_len, b->cert, b->cert_len) &&
	       same_bytes(a->key, a->key_len, b->key, b->key_len) &&
	       same_bytes(a->ca, a->ca_len, b->ca, b->ca_len);
}

/* ---- unix sockets ---- */

/* A socket file left by a daemon that died is removed; one that still
 * answers belongs to a running process and is left alone. */
static int clear_stale(const char *path, struct error *err)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return error_set(err, 0, NULL, "unix:%s: %s", path,
				 strerror(errno));
	}
	if (!S_ISSOCK(st.st_mode))
		return error_set(err, 0, NULL,
				 "unix:%s exists and is not a socket", path);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int live = fd >= 0 &&
		   connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
	if (fd >= 0)
		close(fd);
	if (live)
		return error_set(err, 0, NULL,
				 "unix:%s is in use by another process", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return error_set(err, 0, NULL, "unix:%s: %s", path,
				 strerror(errno));
	return 0;
}

int endpoint_unix_perms(const char *path, unsigned mode, const char *group,
			struct error *err)
{
	if (group != NULL) {
		struct group gr, *found = NULL;
		char buf[4096];
		int e = getgrnam_r(group, &gr, buf, sizeof(buf), &found);
		if (found == NULL)
			return error_set(err, 0, "unix_group",
					 "unix_group %s: %s", group,
					 e ? strerror(e) : "no such group");
		if (chown(path, (uid_t)-1, gr.gr_gid) < 0)
			return error_set(err, 0, "unix_group",
					 "unix:%s: unix_group %s: %s", path,
					 group, strerror(errno));
	}
	if (chmod(path, (mode_t)mode) < 0)
		return error_set(err, 0, "unix_mode", "unix:%s: unix_mode: %s",
				 path, strerror(errno));
	return 0;
}

int endpoint_unix_listen(const char *path, unsigned mode, const char *group,
			 struct error *err)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = -1;

	if (strlen(path) >= sizeof(sun.sun_path))
		return error_set(err, 0, NULL, "unix:%s: path too long", path);
	if (clear_stale(path, err) < 0)
		return -1;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		goto fail;
	/* nobody may connect before the mode and group are set */
	mode_t old = umask(0177);
	int rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (rc < 0)
		goto fail;
	if (endpoint_unix_perms(path, mode, group, err) < 0 ||
	    listen(fd, 4096) < 0) {
		unlink(path);
		goto fail;
	}
	return fd;
fail:
	if (err->msg[0] == '\0')
		error_set(err, 0, NULL, "cannot listen on unix:%s: %s", path,
			  strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

int endpoint_unix_cred(int fd, unsigned *uid, unsigned *gid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (fd < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
	    len != sizeof(cred))
		return -1;
	*uid = (unsigned)cred.uid;
	*gid = (unsigned)cred.gid;
	return 0;
}

/* ---- a TLS client's certificate ---- */

/* Appends a copy of d when it is a name without a NUL inside. */
static int add_name(char **names, size_t *n, const char *d, size_t len)
{
	if (len == 0 || memchr(d, '\0', len) != NULL || *n >= NAMES_MAX)
		return 0;
	char *s = strndup(d, len);
	if (s == NULL)
		return -1;
	names[(*n)++] = s;
	return 0;
}

/* The CNs and DNS SANs of crt into names. 0, or -1 out of memory. */
static int names_of(gnutls_x509_crt_t crt, char **names, size_t *n)
{
	char buf[1024];

	for (unsigned i = 0;; i++) {
		size_t len = sizeof(buf);
		if (gnutls_x509_crt_get_dn_by_oid(crt,
						  GNUTLS_OID_X520_COMMON_NAME,
						  i, 0, buf, &len) < 0)
			break;
		if (add_name(names, n, buf, len) < 0)
			return -1;
	}
	for (unsigned i = 0;; i++) {
		size_t len = sizeof(buf);
		int type = gnutls_x509_crt_get_subject_alt_name(crt, i, buf,
								&len, NULL);
		if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
			break;
		if (type == GNUTLS_SAN_DNSNAME &&
		    add_name(names, n, buf, len) < 0)
			return -1;
	}
	return 0;
}

/* Whether the peer's chain verifies against the session's trusted CAs,
 * for a TLS client (an extended key usage, when present, must allow it). */
static int peer_verifies(gnutls_session_t s)
{
	static unsigned char client_use[] = GNUTLS_KP_TLS_WWW_CLIENT;
	gnutls_typed_vdata_st purpose = {
		.type = GNUTLS_DT_KEY_PURPOSE_OID,
		.data = client_use,
	};
	unsigned status = 1;

	return gnutls_certificate_verify_peers(s, &purpose, 1, &status) == 0 &&
	       status == 0;
}

int endpoint_tls_names(void *session, char ***names, size_t *n)
{
	gnutls_session_t s = session;
	const gnutls_datum_t *chain;
	unsigned n_chain = 0;
	gnutls_x509_crt_t crt = NULL;
	char **out = NULL;

	*names = NULL;
	*n = 0;
	if (s == NULL || gnutls_certificate_type_get(s) != GNUTLS_CRT_X509)
		return 0;
	chain = gnutls_certificate_get_peers(s, &n_chain);
	if (chain == NULL || n_chain == 0 || !peer_verifies(s))
		return 0;
	if (gnutls_x509_crt_init(&crt) < 0 ||
	    gnutls_x509_crt_import(crt, &chain[0], GNUTLS_X509_FMT_DER) < 0 ||
	    (out = calloc(NAMES_MAX + 1, sizeof(*out))) == NULL ||
	    names_of(crt, out, n) < 0) {
		endpoint_names_free(out);
		*n = 0;
		if (crt != NULL)
			gnutls_x509_crt_deinit(crt);
		return 0;
	}
	gnutls_x509_crt_deinit(crt);
	*names = out;
	return 1;
}

void endpoint_names_free(char **names)
{
	if (names == NULL)
		return;
	for (char **p = names; *p != NULL; p++)
		free(*p);
	free(names);
}
