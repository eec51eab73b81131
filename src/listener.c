/* listener — see listener.h. */
#include "config.h"

#include "listener.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

/* One listening address and its MHD daemon. */
struct listener {
	struct listener *next;
	struct listeners *set;
	struct addr addr;
	char *tool_name;                /* a tool's drop-in listener; NULL: a
					 * main one. Under the set's lock. */
	struct MHD_Daemon *daemon;
	atomic_int connections;
	int retired;                    /* under the set's lock */
	int fresh;                      /* started by the config being
					 * applied, not yet swapped in: it
					 * serves that one (under the lock) */
	int listen_fd;                  /* a retired listener's, shut down */
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

struct guard_conn *listener_guard_conn(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *info = MHD_get_connection_info(
		c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return info != NULL ? info->socket_context : NULL;
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
		*socket_context = guard_open(ls->guard,
					     httpd_client_sockaddr(c),
					     httpd_client_fd(c));
		/* unguarded, it could hold a thread for ever: end it now */
		if (*socket_context == NULL)
			shutdown(httpd_client_fd(c), SHUT_RDWR);
		return;
	}
	guard_close(ls->guard, *socket_context);
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

static int listener_start(struct listener *l)
{
	const struct listener_handlers *h = &l->set->handlers;
	struct sockaddr_storage ss;
	/* One epoll thread for every connection: nothing MHD calls may
	 * block; a stream with nothing to give suspends its connection and
	 * the producer resumes it (stream.h). ITC: MHD_quiesce_daemon and
	 * MHD_resume_connection need it with an internal thread. */
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD |
			 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC |
			 MHD_USE_ERROR_LOG;

	if (addr_sockaddr(&l->addr, &ss) < 0)
		return -1;
	if (l->addr.is_ipv6)
		flags |= MHD_USE_IPv6;
	l->daemon = MHD_start_daemon(
		flags, l->addr.port, on_accept, l, h->on_request, l,
		MHD_OPTION_EXTERNAL_LOGGER, httpd_log, NULL,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
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

static void listener_free(struct listener *l)
{
	if (l->daemon != NULL)
		MHD_stop_daemon(l->daemon);
	if (l->listen_fd >= 0)
		close(l->listen_fd);
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

/* Lock held. Accept nothing more; shutdown(2) makes the port refuse
 * connections at once, while the descriptor stays open until MHD has
 * stopped (its thread may still look at it). */
static void listener_retire(struct listener *l)
{
	if (l->retired)
		return;
	l->retired = 1;
	l->listen_fd = MHD_quiesce_daemon(l->daemon);
	if (l->listen_fd >= 0)
		shutdown(l->listen_fd, SHUT_RDWR);
	else
		log_warnx("cannot stop accepting on port %u", l->addr.port);
}

void listener_peer(struct listener *l, struct MHD_Connection *c,
		   struct identity_peer *out)
{
	(void)l;
	/* TCP, no TLS: what the listeners serve until they speak TLS and
	 * listen on unix sockets */
	*out = (struct identity_peer){ .addr = httpd_client_sockaddr(c) };
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

struct wanted {
	const struct addr *addr;        /* TCP: listen's address */
	const struct cfg_listen *listen;
	const char *tool_name;          /* NULL: main */
};

/* Every listener of cfg, main ones first; *n set. Caller frees. */
static struct wanted *wanted_of(const struct cfg *cfg, size_t *n)
{
	struct wanted *w = calloc(cfg->n_listen + cfg->n_tools + 1,
				  sizeof(*w));
	size_t k = 0;

	if (w == NULL)
		return NULL;
	for (size_t i = 0; i < cfg->n_listen; i++)
		w[k++] = (struct wanted){ &cfg->listen[i].addr,
					  &cfg->listen[i], NULL };
	for (size_t i = 0; i < cfg->n_tools; i++)
		if (cfg->tools[i].http.has_listen)
			w[k++] = (struct wanted){
				&cfg->tools[i].http.listen.addr,
				&cfg->tools[i].http.listen, cfg->tools[i].name };
	*n = k;
	return w;
}

/* The index of l's address in w, or n when the config drops it. */
static size_t wanted_index(const struct listener *l, const struct wanted *w,
			   size_t n)
{
	size_t i = 0;

	while (i < n && !addr_same(&l->addr, w[i].addr))
		i++;
	return i;
}

/* Lock held. Whether a live (not retired) listener is on addr. */
static int has_listener(struct listeners *ls, const struct addr *addr)
{
	for (struct listener *l = ls->list; l != NULL; l = l->next)
		if (!l->retired && addr_same(&l->addr, addr))
			return 1;
	return 0;
}

static int copy_name(char **dst, const char *name)
{
	*dst = name ? strdup(name) : NULL;
	return name != NULL && *dst == NULL ? -1 : 0;
}

static struct listener *listener_new(struct listeners *ls,
				     const struct wanted *w)
{
	struct listener *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	l->set = ls;
	l->addr = *w->addr;
	l->listen_fd = -1;
	l->fresh = 1; /* before it starts: no other thread sees it yet */
	atomic_init(&l->connections, 0);
	if (copy_name(&l->tool_name, w->tool_name) < 0 ||
	    listener_start(l) < 0) {
		int saved = errno;
		listener_free(l);
		errno = saved;
		return NULL;
	}
	return l;
}

/* Starts, off the list, a listener for each wanted address that has none;
 * they are put on *fresh. -1 (and none started) when one cannot bind. */
static int start_missing(struct listeners *ls, const struct wanted *w,
			 size_t n, struct listener **fresh, struct error *err)
{
	*fresh = NULL;
	for (size_t i = 0; i < n; i++) {
		pthread_mutex_lock(&ls->lock);
		int have = has_listener(ls, w[i].addr);
		pthread_mutex_unlock(&ls->lock);
		if (have)
			continue;
		errno = 0;
		struct listener *l = listener_new(ls, &w[i]);
		if (l == NULL) {
			char text[96];
			addr_format(w[i].addr, text, sizeof(text));
			error_set(err, 0, NULL, "cannot listen on %s: %s", text,
				  strerror(errno ? errno : ENOMEM));
			free_list(*fresh);
			*fresh = NULL;
			return -1;
		}
		l->next = *fresh;
		*fresh = l;
	}
	return 0;
}

/* The role each live listener will have: a new name (NULL: main) or
 * retirement. Made before anything changes, so that settling cannot fail
 * half way. */
struct role {
	char *name;
	int retire;
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
		size_t i = wanted_index(l, w, n_wanted);
		r[k].retire = i == n_wanted;
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
 * others, then the fresh ones join the list. */
static void settle(struct listeners *ls, struct role *r,
		   struct listener *fresh)
{
	size_t k = 0;

	for (struct listener *l = ls->list; l != NULL; l = l->next) {
		if (l->retired)
			continue;
		if (r[k].retire) {
			listener_retire(l);
		} else {
			free(l->tool_name);
			l->tool_name = r[k].name;
		}
		k++;
	}
	while (fresh != NULL) {
		struct listener *next = fresh->next;
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
	struct wanted *w = wanted_of(cfg, &n);

	if (w == NULL)
		return error_set(err, 0, NULL, "out of memory");
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
			free_list(fresh);
			error_set(err, 0, NULL, "out of memory");
		}
	}
	free(w);
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
		listener_retire(l);
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
