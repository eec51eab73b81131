/* listener — see listener.h. */
#include "config.h"

#include "listener.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "endpoint.h"
#include "httpd.h"
#include "identity.h"
#include "log.h"

#define CONN_THREAD_STACK (256 * 1024)
/* Request head plus response write buffer, per connection. 16 KiB (MHD's
 * default is 32) admits request heads of about 8 KiB, as nginx's default
 * large_client_header_buffers does, and saves 8 KiB per open stream. */
#define CONN_MEMORY (16 * 1024)
/* The guard refuses (and counts) connections past the limit; MHD's own
 * limit, a little higher, is only the backstop: at it MHD stops accepting
 * without a word. */
#define CONN_LIMIT_SLACK 16u
/* TLS 1.2 and 1.3 only, GnuTLS's defaults within them. */
static char priorities[] = "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2";

/* One listening address (or unix socket) and its MHD daemon. What it
 * listens with is fixed when it starts: a change of it starts a
 * successor (listeners_apply). */
struct listener {
	struct listener *next;
	struct listeners *set;
	enum cfg_listen_kind kind;
	struct addr addr;               /* TCP */
	char *unix_path;                /* UNIX */
	unsigned unix_mode;
	char *unix_group;
	int owns_path;                  /* unlinks unix_path when freed; not
					 * once a successor has the socket */
	struct endpoint_tls tls;        /* the bytes it serves with */
	char *tool_name;                /* a tool's drop-in listener; NULL: a
					 * main one. Under the set's lock. */
	struct MHD_Daemon *daemon;
	atomic_int connections;
	int retired;                    /* under the set's lock */
	int fresh;                      /* started by the config being
					 * applied, not yet swapped in: it
					 * serves that one (under the lock) */
	int listen_fd;                  /* a retired listener's */
};

/* What a connection's socket_context holds: the guard's record and the
 * peer facts, worked out once (listener_peer) and kept until it closes.
 * Touched by MHD's thread of the connection only. */
struct conn {
	struct guard_conn *gc;
	int peer_done;
	struct identity_peer peer;
	char **names;                   /* peer.cert_names' strings */
};

struct listeners {
	pthread_mutex_t lock;           /* cfg, the list, roles */
	const struct cfg *cfg;          /* in force; holds a reference */
	const struct cfg *applying;     /* while listeners_apply runs:
					 * what its fresh listeners serve
					 * (the caller's reference) */
	struct listener *list;
	struct listener_handlers handlers;
	struct guard *guard;            /* borrowed */
	struct guard_limits initial;    /* the guard's before any config */
	unsigned conn_limit;
	void (*wake)(void *);           /* a retired listener can be reaped */
	void *wake_arg;
};

/* ---- one listener ---- */

static struct conn *conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *info = MHD_get_connection_info(
		c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return info != NULL ? info->socket_context : NULL;
}

struct guard_conn *listener_guard_conn(struct MHD_Connection *c)
{
	struct conn *cn = conn_of(c);
	return cn != NULL ? cn->gc : NULL;
}

static struct conn *conn_open(struct listeners *ls, struct MHD_Connection *c)
{
	struct conn *cn = calloc(1, sizeof(*cn));

	if (cn == NULL)
		return NULL;
	cn->gc = guard_open(ls->guard, httpd_client_sockaddr(c),
			    httpd_client_fd(c));
	if (cn->gc == NULL) {
		free(cn);
		return NULL;
	}
	return cn;
}

static void conn_close(struct listeners *ls, struct conn *cn)
{
	if (cn == NULL) {
		guard_close(ls->guard, NULL);
		return;
	}
	guard_close(ls->guard, cn->gc);
	endpoint_names_free(cn->names);
	free(cn);
}

/* MHD tells each connection's start and end: a retired listener is
 * stopped after its last one. */
static void on_connection(void *cls, struct MHD_Connection *c,
			  void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct listener *l = cls;
	struct listeners *ls = l->set;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		atomic_fetch_add(&l->connections, 1);
		*socket_context = conn_open(ls, c);
		/* unguarded, it could hold a thread for ever: end it now */
		if (*socket_context == NULL)
			shutdown(httpd_client_fd(c), SHUT_RDWR);
		return;
	}
	conn_close(ls, *socket_context);
	*socket_context = NULL;
	if (atomic_fetch_sub(&l->connections, 1) == 1) {
		pthread_mutex_lock(&ls->lock);
		int retired = l->retired;
		pthread_mutex_unlock(&ls->lock);
		if (retired)
			ls->wake(ls->wake_arg);
	}
}

/* Before MHD makes a connection: the limits per address and in all. */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr,
				 socklen_t addrlen)
{
	struct listener *l = cls;
	(void)addrlen;

	return guard_admit(l->set->guard, addr) == 0 ? MHD_YES : MHD_NO;
}

/* Keep the URL as sent; route.c refuses what decoding would change. */
static size_t keep_escaped(void *cls, struct MHD_Connection *c, char *uri)
{
	(void)cls;
	(void)c;
	return strlen(uri);
}

/* Where l listens (an address, or the socket fd) and with what TLS, as
 * MHD options into o (room for 6); *flags gets what they need. */
static void where_options(const struct listener *l, int fd,
			  struct sockaddr_storage *ss, struct MHD_OptionItem *o,
			  unsigned *flags)
{
	size_t k = 0;

	if (fd >= 0) {
		o[k++] = (struct MHD_OptionItem){ MHD_OPTION_LISTEN_SOCKET,
						  fd, NULL };
	} else {
		o[k++] = (struct MHD_OptionItem){ MHD_OPTION_SOCK_ADDR, 0, ss };
		if (l->addr.is_ipv6)
			*flags |= MHD_USE_IPv6;
	}
	if (l->tls.cert != NULL) {
		*flags |= MHD_USE_TLS;
		o[k++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0,
						  l->tls.cert };
		o[k++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0,
						  l->tls.key };
		o[k++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES,
						  0, priorities };
	}
	/* GnuTLS then asks every client for a certificate (and goes on
	 * without one: identity decides what its absence means) */
	if (l->tls.ca != NULL)
		o[k++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_TRUST, 0,
						  l->tls.ca };
	o[k] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
}

/* fd: the listening socket to serve (a unix one, or a predecessor's
 * dup), or -1 to bind l's address. */
static int listener_start(struct listener *l, int fd)
{
	const struct listener_handlers *h = &l->set->handlers;
	struct sockaddr_storage ss;
	struct MHD_OptionItem where[7];
	/* One epoll thread for every connection: nothing MHD calls may
	 * block; a stream with nothing to give suspends its connection and
	 * the producer resumes it (stream.h). ITC: MHD_quiesce_daemon and
	 * MHD_resume_connection need it with an internal thread. */
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD |
			 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC |
			 MHD_USE_ERROR_LOG;

	if (fd < 0 && addr_sockaddr(&l->addr, &ss) < 0)
		return -1;
	where_options(l, fd, &ss, where, &flags);
	l->daemon = MHD_start_daemon(
		flags, fd < 0 ? l->addr.port : 0, on_accept, l, h->on_request,
		l, MHD_OPTION_EXTERNAL_LOGGER, httpd_log, NULL,
		MHD_OPTION_ARRAY, where,
		MHD_OPTION_CONNECTION_LIMIT,
		l->set->conn_limit + CONN_LIMIT_SLACK,
		MHD_OPTION_CONNECTION_TIMEOUT, LISTENER_IDLE_TIMEOUT_SECS,
		MHD_OPTION_THREAD_STACK_SIZE, (size_t)CONN_THREAD_STACK,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
		MHD_OPTION_LISTEN_BACKLOG_SIZE, 4096u,
		MHD_OPTION_STRICT_FOR_CLIENT, 1,
		MHD_OPTION_URI_LOG_CALLBACK, h->on_uri, l,
		MHD_OPTION_NOTIFY_COMPLETED, h->on_completed, l,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, l,
		MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL,
		MHD_OPTION_END);
	return l->daemon != NULL ? 0 : -1;
}

/* Removes the unix socket's file when this listener is the one to. Only
 * a unix listener, which has a path, owns one: the path is checked all
 * the same where unlink(2) reads it. */
static void unlink_owned(struct listener *l)
{
	if (l->owns_path && l->unix_path != NULL)
		unlink(l->unix_path);
	l->owns_path = 0;
}

static void listener_free(struct listener *l)
{
	if (l->daemon != NULL)
		MHD_stop_daemon(l->daemon);
	if (l->listen_fd >= 0)
		close(l->listen_fd);
	unlink_owned(l);
	endpoint_tls_clear(&l->tls);
	free(l->unix_path);
	free(l->unix_group);
	free(l->tool_name);
	free(l);
}

static void free_list(struct listener *l)
{
	while (l != NULL) {
		struct listener *next = l->next;
		listener_free(l);
		l = next;
	}
}

/* Lock held. Accept nothing more. shutdown(2) makes the port refuse
 * connections at once, while the descriptor stays open until MHD has
 * stopped (its thread may still look at it). handed_on: a successor
 * serves the same socket (a dup of it): no shutdown, which would end it
 * for both. */
static void listener_retire(struct listener *l, int handed_on)
{
	if (l->retired)
		return;
	l->retired = 1;
	l->listen_fd = MHD_quiesce_daemon(l->daemon);
	if (l->listen_fd < 0)
		log_warnx("cannot stop accepting on %s",
			  l->unix_path ? l->unix_path : "a port");
	else if (!handed_on)
		shutdown(l->listen_fd, SHUT_RDWR);
	/* gone now, not when reaped: a later config may make it anew */
	if (!handed_on)
		unlink_owned(l);
}

/* MHD's thread of the connection, once per connection. */
static void peer_facts(struct listener *l, struct MHD_Connection *c,
		       struct conn *cn)
{
	struct identity_peer *p = &cn->peer;

	*p = (struct identity_peer){ .tls = l->tls.cert != NULL };
	if (l->kind == CFG_LISTEN_UNIX) {
		p->is_unix = 1;
		p->has_cred = endpoint_unix_cred(httpd_client_fd(c), &p->uid,
						 &p->gid) == 0;
	} else {
		p->addr = httpd_client_sockaddr(c);
	}
	if (l->tls.ca == NULL)
		return;
	const union MHD_ConnectionInfo *info = MHD_get_connection_info(
		c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	size_t n = 0;
	if (info != NULL &&
	    endpoint_tls_names(info->tls_session, &cn->names, &n)) {
		p->cert_verified = 1;
		p->cert_names = (const char *const *)cn->names;
		p->n_cert_names = n;
	}
}

void listener_peer(struct listener *l, struct MHD_Connection *c,
		   struct identity_peer *out)
{
	struct conn *cn = conn_of(c);

	if (cn == NULL) { /* proves nothing but where it came */
		*out = (struct identity_peer){
			.is_unix = l->kind == CFG_LISTEN_UNIX,
			.tls = l->tls.cert != NULL };
		return;
	}
	if (!cn->peer_done) {
		peer_facts(l, c, cn);
		cn->peer_done = 1;
	}
	*out = cn->peer;
}

void *listener_arg(const struct listener *l)
{
	return l->set->handlers.arg;
}

const struct cfg *listener_hold_cfg(struct listener *l,
				    const struct cfg_tool **dropin,
				    int *dropin_gone)
{
	struct listeners *ls = l->set;
	const struct cfg *cfg = NULL;

	*dropin = NULL;
	*dropin_gone = 0;
	pthread_mutex_lock(&ls->lock);
	/* a listener serves from the moment it starts, before its config
	 * is swapped in: then the config that started it */
	const struct cfg *serving = l->fresh ? ls->applying : ls->cfg;
	if (serving != NULL) {
		cfg = cfg_hold(serving);
		if (l->tool_name != NULL) {
			*dropin = cfg_find_tool(cfg, l->tool_name,
						strlen(l->tool_name));
			*dropin_gone = *dropin == NULL;
		}
	}
	pthread_mutex_unlock(&ls->lock);
	return cfg;
}

/* ---- the set a config asks for ---- */

/* One listener a config names, and what is live on its place. */
struct wanted {
	const struct cfg_listen *listen;
	const char *tool_name;          /* NULL: main */
	struct endpoint_tls tls;        /* its files' bytes, read now; moved
					 * into a listener started for it */
	struct listener *keep;          /* live on it, as it is: stays */
	struct listener *succeeds;      /* live on it, set up otherwise: a
					 * new one takes its socket over */
};

static void wanted_free(struct wanted *w, size_t n)
{
	if (w == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		endpoint_tls_clear(&w[i].tls);
	free(w);
}

/* Every listener of cfg, main ones first, with its TLS files read; *n
 * set. Caller frees (wanted_free). NULL with err when a file cannot be
 * read or is not what its key says. */
static struct wanted *wanted_of(const struct cfg *cfg, size_t *n,
				struct error *err)
{
	struct wanted *w = calloc(cfg->n_listen + cfg->n_tools + 1,
				  sizeof(*w));
	size_t k = 0;

	if (w == NULL) {
		error_set(err, 0, NULL, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < cfg->n_listen; i++)
		w[k++] = (struct wanted){ .listen = &cfg->listen[i] };
	for (size_t i = 0; i < cfg->n_tools; i++)
		if (cfg->tools[i].http.has_listen)
			w[k++] = (struct wanted){
				.listen = &cfg->tools[i].http.listen,
				.tool_name = cfg->tools[i].name };
	for (size_t i = 0; i < k; i++) {
		if (endpoint_tls_load(w[i].listen, &w[i].tls, err) < 0) {
			char msg[sizeof(err->msg)];
			snprintf(msg, sizeof(msg), "%s", err->msg);
			error_set(err, 0, err->key, "listen %s: %s",
				  w[i].listen->text, msg);
			wanted_free(w, k);
			return NULL;
		}
	}
	*n = k;
	return w;
}

static int same_text(const char *a, const char *b)
{
	return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

/* Whether l listens where cl says (the address, or the socket file). */
static int same_place(const struct listener *l, const struct cfg_listen *cl)
{
	if (l->kind != cl->kind)
		return 0;
	if (cl->kind == CFG_LISTEN_UNIX)
		return strcmp(l->unix_path, cl->unix_path) == 0;
	return addr_same(&l->addr, &cl->addr);
}

/* ... and with what w asks (the same mode, group and TLS bytes). */
static int same_setup(const struct listener *l, const struct wanted *w)
{
	const struct cfg_listen *cl = w->listen;

	if (cl->kind == CFG_LISTEN_UNIX &&
	    (l->unix_mode != cl->unix_mode ||
	     !same_text(l->unix_group, cl->unix_group)))
		return 0;
	return endpoint_tls_same(&l->tls, &w->tls);
}

/* Lock held. Which live listener each wanted one keeps or succeeds. */
static void match_live(struct listeners *ls, struct wanted *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (struct listener *l = ls->list; l != NULL; l = l->next)
			if (!l->retired && same_place(l, w[i].listen)) {
				if (same_setup(l, &w[i]))
					w[i].keep = l;
				else
					w[i].succeeds = l;
			}
}

static int copy_name(char **dst, const char *name)
{
	*dst = name ? strdup(name) : NULL;
	return name != NULL && *dst == NULL ? -1 : 0;
}

/* The socket a new listener serves into *fd: a dup of its
 * predecessor's (given its new mode and group), a new unix socket, or
 * none (-1: MHD binds the address). 0, or -1 with err. */
static int listen_socket(struct listener *l, const struct wanted *w,
			 int *fd, struct error *err)
{
	const struct cfg_listen *cl = w->listen;

	*fd = -1;
	if (w->succeeds != NULL) {
		const union MHD_DaemonInfo *di = MHD_get_daemon_info(
			w->succeeds->daemon, MHD_DAEMON_INFO_LISTEN_FD);
		*fd = di != NULL ? fcntl(di->listen_fd, F_DUPFD_CLOEXEC, 0)
				 : -1;
		if (*fd < 0)
			return error_set(err, 0, NULL, "listen %s: %s",
					 cl->text, strerror(errno));
		if (cl->kind == CFG_LISTEN_UNIX &&
		    endpoint_unix_perms(cl->unix_path, cl->unix_mode,
					cl->unix_group, err) < 0) {
			close(*fd);
			*fd = -1;
			return -1;
		}
		return 0;
	}
	if (cl->kind != CFG_LISTEN_UNIX)
		return 0;
	*fd = endpoint_unix_listen(cl->unix_path, cl->unix_mode,
				   cl->unix_group, err);
	l->owns_path = *fd >= 0;
	return *fd >= 0 ? 0 : -1;
}

/* A listener for w, started, off the list; the TLS bytes move from w. */
static struct listener *listener_new(struct listeners *ls,
				     struct wanted *w, struct error *err)
{
	const struct cfg_listen *cl = w->listen;
	struct listener *l = calloc(1, sizeof(*l));
	int fd = -1;

	if (l == NULL) {
		error_set(err, 0, NULL, "out of memory");
		return NULL;
	}
	l->set = ls;
	l->kind = cl->kind;
	l->addr = cl->addr;
	l->unix_mode = cl->unix_mode;
	l->listen_fd = -1;
	l->fresh = 1; /* before it starts: no other thread sees it yet */
	atomic_init(&l->connections, 0);
	l->tls = w->tls;
	w->tls = (struct endpoint_tls){ 0 };
	if (copy_name(&l->tool_name, w->tool_name) < 0 ||
	    copy_name(&l->unix_path, cl->unix_path) < 0 ||
	    copy_name(&l->unix_group, cl->unix_group) < 0) {
		error_set(err, 0, NULL, "out of memory");
		goto fail;
	}
	if (listen_socket(l, w, &fd, err) < 0)
		goto fail;
	errno = 0;
	if (listener_start(l, fd) < 0) {
		/* MHD closed the socket it was given */
		error_set(err, 0, NULL, "cannot listen on %s: %s", cl->text,
			  strerror(errno ? errno : EINVAL));
		goto fail;
	}
	return l;
fail:
	listener_free(l);
	return NULL;
}

/* Puts back the mode and group of the unix sockets a failed apply had
 * given to successors. */
static void unwind(struct listener *fresh, const struct wanted *w, size_t n)
{
	struct error ignored = { 0 };

	for (size_t i = 0; i < n; i++) {
		const struct listener *p = w[i].succeeds;
		if (p != NULL && p->kind == CFG_LISTEN_UNIX)
			endpoint_unix_perms(p->unix_path, p->unix_mode,
					    p->unix_group, &ignored);
	}
	free_list(fresh);
}

/* Starts, off the list, a listener for each wanted one that is not kept;
 * they are put on *fresh. -1 (and none started) when one cannot. */
static int start_missing(struct listeners *ls, struct wanted *w, size_t n,
			 struct listener **fresh, struct error *err)
{
	*fresh = NULL;
	pthread_mutex_lock(&ls->lock);
	match_live(ls, w, n);
	pthread_mutex_unlock(&ls->lock);
	for (size_t i = 0; i < n; i++) {
		if (w[i].keep != NULL)
			continue;
		struct listener *l = listener_new(ls, &w[i], err);
		if (l == NULL) {
			unwind(*fresh, w, n);
			*fresh = NULL;
			return -1;
		}
		l->next = *fresh;
		*fresh = l;
	}
	return 0;
}

/* The role each live listener will have: a new name (NULL: main) or
 * retirement (handed_on: a successor took its socket). Made before
 * anything changes, so that settling cannot fail half way. */
struct role {
	char *name;
	int retire;
	int handed_on;
};

/* Lock held. One role per live listener, in list order; *n set. NULL on
 * out of memory. */
static struct role *roles_of(struct listeners *ls, const struct wanted *w,
			     size_t n_wanted, size_t *n)
{
	size_t k = 0;

	for (struct listener *l = ls->list; l != NULL; l = l->next)
		k += !l->retired;
	struct role *r = calloc(k + 1, sizeof(*r));
	if (r == NULL)
		return NULL;
	k = 0;
	for (struct listener *l = ls->list; l != NULL; l = l->next) {
		if (l->retired)
			continue;
		size_t i = 0;
		while (i < n_wanted && w[i].keep != l)
			i++;
		r[k].retire = i == n_wanted;
		for (size_t j = 0; j < n_wanted; j++)
			r[k].handed_on |= w[j].succeeds == l;
		if (!r[k].retire && copy_name(&r[k].name, w[i].tool_name) < 0) {
			while (k-- > 0)
				free(r[k].name);
			free(r);
			return NULL;
		}
		k++;
	}
	*n = k;
	return r;
}

/* Lock held; cannot fail. The roles of kept listeners, retirement of the
 * others, then the fresh ones join the list (a successor now owns its
 * unix socket file). */
static void settle(struct listeners *ls, struct role *r,
		   struct listener *fresh)
{
	size_t k = 0;

	for (struct listener *l = ls->list; l != NULL; l = l->next) {
		if (l->retired)
			continue;
		if (r[k].retire) {
			if (r[k].handed_on)
				l->owns_path = 0;
			listener_retire(l, r[k].handed_on);
		} else {
			free(l->tool_name);
			l->tool_name = r[k].name;
		}
		k++;
	}
	while (fresh != NULL) {
		struct listener *next = fresh->next;
		fresh->owns_path |= fresh->kind == CFG_LISTEN_UNIX;
		fresh->next = ls->list;
		ls->list = fresh;
		fresh = next;
	}
}

/* The guard's limits under cfg (NULL: before any config). */
static struct guard_limits limits_of(const struct listeners *ls,
				     const struct cfg *cfg)
{
	if (cfg == NULL)
		return ls->initial;
	return (struct guard_limits){
		.per_ip = cfg->max_connections_per_ip,
		.total = ls->conn_limit,
		.header_secs = cfg->client_header_timeout_secs,
		.body_secs = cfg->client_body_timeout_secs,
	};
}

/* Lock held. The roles and config cfg asks for; *old is the config that
 * was in force. -1 (nothing changed) on out of memory. */
static int swap_in(struct listeners *ls, const struct cfg *cfg,
		   const struct wanted *w, size_t n, struct listener *fresh,
		   const struct cfg **old)
{
	size_t n_roles;
	struct role *r = roles_of(ls, w, n, &n_roles);

	if (r == NULL)
		return -1;
	for (struct listener *l = fresh; l != NULL; l = l->next)
		l->fresh = 0;
	settle(ls, r, fresh);
	free(r);
	*old = ls->cfg;
	ls->cfg = cfg_hold(cfg);
	return 0;
}

int listeners_apply(struct listeners *ls, const struct cfg *cfg,
		    struct error *err)
{
	const struct cfg *old = NULL;
	struct listener *fresh;
	size_t n;
	struct wanted *w = wanted_of(cfg, &n, err);

	if (w == NULL)
		return -1;
	/* A listener serves from the moment it starts: its connections'
	 * timers must already be the ones this config asks for. */
	pthread_mutex_lock(&ls->lock);
	struct guard_limits before = limits_of(ls, ls->cfg);
	ls->applying = cfg;
	pthread_mutex_unlock(&ls->lock);
	struct guard_limits after = limits_of(ls, cfg);
	guard_set_limits(ls->guard, &after);
	int rc = start_missing(ls, w, n, &fresh, err);
	if (rc == 0) {
		pthread_mutex_lock(&ls->lock);
		rc = swap_in(ls, cfg, w, n, fresh, &old);
		pthread_mutex_unlock(&ls->lock);
		if (rc < 0) {
			unwind(fresh, w, n);
			error_set(err, 0, NULL, "out of memory");
		}
	}
	wanted_free(w, n);
	pthread_mutex_lock(&ls->lock); /* every fresh one swapped in or freed */
	ls->applying = NULL;
	pthread_mutex_unlock(&ls->lock);
	if (rc < 0) {
		guard_set_limits(ls->guard, &before);
		return -1;
	}
	cfg_release(old);
	/* a listener retired with no connection will see no last close */
	ls->wake(ls->wake_arg);
	return 0;
}

unsigned listeners_reap(struct listeners *ls)
{
	struct listener *done = NULL, **p;
	unsigned left = 0;

	pthread_mutex_lock(&ls->lock);
	for (p = &ls->list; *p != NULL;) {
		struct listener *l = *p;
		if (l->retired && atomic_load(&l->connections) == 0) {
			*p = l->next;
			l->next = done;
			done = l;
		} else {
			left += l->retired;
			p = &l->next;
		}
	}
	pthread_mutex_unlock(&ls->lock);
	free_list(done);
	return left;
}

void listeners_quiesce(struct listeners *ls)
{
	pthread_mutex_lock(&ls->lock);
	for (struct listener *l = ls->list; l != NULL; l = l->next)
		listener_retire(l, 0);
	pthread_mutex_unlock(&ls->lock);
}

struct listeners *listeners_new(const struct listener_handlers *handlers,
				struct guard *guard,
				const struct guard_limits *initial,
				unsigned conn_limit, void (*wake)(void *),
				void *wake_arg)
{
	struct listeners *ls = calloc(1, sizeof(*ls));

	if (ls == NULL)
		return NULL;
	pthread_mutex_init(&ls->lock, NULL);
	ls->handlers = *handlers;
	ls->guard = guard;
	ls->conn_limit = conn_limit;
	ls->wake = wake;
	ls->wake_arg = wake_arg;
	ls->initial = *initial;
	return ls;
}

void listeners_free(struct listeners *ls)
{
	if (ls == NULL)
		return;
	free_list(ls->list);
	cfg_release(ls->cfg);
	pthread_mutex_destroy(&ls->lock);
	free(ls);
}
