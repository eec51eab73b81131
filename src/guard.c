/* guard — see guard.h.
 *
 * Connections are kept in one list, counts per address in a small hash
 * table, both under one lock. The thread sweeps the list once a second,
 * and sleeps without a timeout while no connection needs watching (only
 * answers, streams among them, are under way), so idle streams cost no
 * wake-ups.
 *
 * An idle keep-alive connection is not yet reading a head: MHD's own idle
 * timeout governs it. The head timer starts when its next request's first
 * bytes arrive, which the kernel tells (TCP_INFO's bytes received), as
 * nginx starts client_header_timeout after keepalive_timeout. */
#include "config.h"

#include "guard.h"
#include "text.h"

#include <errno.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define IP_BUCKETS 1024
#define SWEEP_MS 1000

enum phase { HEAD, BODY, ANSWER, IDLE, CUT };

/* A client address as a key: 4 bytes for IPv4 (and v4-mapped IPv6), the
 * /64 prefix for IPv6, 0 for anything else (not limited per address). */
struct ipkey {
	unsigned char b[16];
	size_t len;
};

struct ipcount {
	struct ipcount *next;
	struct ipkey key;
	unsigned count;
};

struct guard_conn {
	struct guard_conn *prev, *next;
	struct ipkey key;
	int fd;
	enum phase phase;
	uint64_t deadline_ms;      /* HEAD, BODY */
	uint64_t idle_mark;        /* IDLE: bytes received when it began */
	enum guard_cut cut;
};

struct guard {
	pthread_mutex_t lock;
	pthread_cond_t wake;       /* a connection needs watching, or stop */
	pthread_t thread;
	int stop;
	struct guard_limits limits;
	struct metrics *metrics;
	struct guard_conn *conns;
	unsigned open;             /* connections in all */
	unsigned watched;          /* in HEAD, BODY or IDLE */
	struct ipcount *ips[IP_BUCKETS];
};

static uint64_t deadline_in(unsigned secs)
{
	return text_mono_ms() + secs * 1000ull;
}

/* ---- addresses ---- */

static void key_of(const struct sockaddr *sa, struct ipkey *k)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0,
						  0, 0, 0, 0, 0xff, 0xff };

	k->len = 0;
	if (sa == NULL)
		return;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;
		memcpy(k->b, &s4->sin_addr, 4);
		k->len = 4;
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		const unsigned char *a = s6->sin6_addr.s6_addr;
		int is_v4 = memcmp(a, mapped, sizeof(mapped)) == 0;
		/* one host has a whole /64 to pick addresses from */
		memcpy(k->b, is_v4 ? a + 12 : a, is_v4 ? 4 : 8);
		k->len = is_v4 ? 4 : 8;
	}
}

static struct ipcount **ip_slot(struct guard *g, const struct ipkey *k)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (size_t i = 0; i < k->len; i++)
		h = (h ^ k->b[i]) * 16777619u;
	struct ipcount **p = &g->ips[h % IP_BUCKETS];
	while (*p != NULL && ((*p)->key.len != k->len ||
			      memcmp((*p)->key.b, k->b, k->len) != 0))
		p = &(*p)->next;
	return p;
}

static unsigned ip_count(struct guard *g, const struct ipkey *k)
{
	struct ipcount *c = *ip_slot(g, k);

	return c != NULL ? c->count : 0;
}

static int ip_add(struct guard *g, const struct ipkey *k)
{
	struct ipcount **p = ip_slot(g, k);

	if (*p == NULL) {
		if ((*p = calloc(1, sizeof(**p))) == NULL)
			return -1;
		(*p)->key = *k;
	}
	(*p)->count++;
	return 0;
}

static void ip_remove(struct guard *g, const struct ipkey *k)
{
	struct ipcount **p = ip_slot(g, k), *c = *p;

	if (c != NULL && --c->count == 0) {
		*p = c->next;
		free(c);
	}
}

/* ---- phases ---- */

static int is_watched(enum phase p)
{
	return p == HEAD || p == BODY || p == IDLE;
}

/* Lock held. */
static void set_phase(struct guard *g, struct guard_conn *gc, enum phase p)
{
	int was = is_watched(gc->phase), now = is_watched(p);

	gc->phase = p;
	if (was == now)
		return;
	if (now && g->watched++ == 0)
		pthread_cond_signal(&g->wake);
	else if (!now)
		g->watched--;
}

static uint64_t bytes_received(int fd, int *ok)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	*ok = getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
	      len >= offsetof(struct tcp_info, tcpi_bytes_received) +
			     sizeof(ti.tcpi_bytes_received);
	return ti.tcpi_bytes_received;
}

/* Lock held. The answer goes out in one send that cannot block (it fits
 * any socket buffer); a client that does not read it loses nothing it
 * was owed. */
static void cut(struct guard *g, struct guard_conn *gc, enum guard_cut why)
{
	static const char head_msg[] =
		"{\"error\":{\"code\":408,\"message\":\"request head not "
		"received in time\",\"tool\":null}}";
	static const char body_msg[] =
		"{\"error\":{\"code\":408,\"message\":\"request body not "
		"received in time\",\"tool\":null}}";
	const char *msg = why == GUARD_CUT_HEADER ? head_msg : body_msg;
	char answer[512];

	/* counted first: whoever reads the 408 finds it counted */
	metrics_connection_refused(g->metrics,
				   why == GUARD_CUT_HEADER ?
					   METRICS_REFUSED_HEADER_TIMEOUT :
					   METRICS_REFUSED_BODY_TIMEOUT);
	int n = snprintf(answer, sizeof(answer),
			 "HTTP/1.1 408 Request Timeout\r\n"
			 "Content-Type: application/json\r\n"
			 "Cache-Control: no-store\r\n"
			 "Content-Length: %zu\r\n"
			 "Connection: close\r\n\r\n%s",
			 strlen(msg), msg);
	if (send(gc->fd, answer, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		(void)errno; /* the peer may be gone: it is cut all the same */
	shutdown(gc->fd, SHUT_RDWR);
	gc->cut = why;
	set_phase(g, gc, CUT);
}

/* Lock held. */
static void sweep(struct guard *g, uint64_t now)
{
	int ok;

	for (struct guard_conn *gc = g->conns; gc != NULL; gc = gc->next) {
		switch (gc->phase) {
		case HEAD:
			if (now >= gc->deadline_ms)
				cut(g, gc, GUARD_CUT_HEADER);
			break;
		case BODY:
			if (now >= gc->deadline_ms)
				cut(g, gc, GUARD_CUT_BODY);
			break;
		case IDLE:
			if (bytes_received(gc->fd, &ok) == gc->idle_mark && ok)
				break;
			gc->deadline_ms =
				deadline_in(g->limits.header_secs);
			set_phase(g, gc, HEAD);
			break;
		default:
			break;
		}
	}
}

static void *guard_main(void *arg)
{
	struct guard *g = arg;

	pthread_mutex_lock(&g->lock);
	while (!g->stop) {
		if (g->watched == 0) {
			pthread_cond_wait(&g->wake, &g->lock);
		} else {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += SWEEP_MS / 1000;
			pthread_cond_timedwait(&g->wake, &g->lock, &ts);
		}
		sweep(g, text_mono_ms());
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

/* ---- the guard ---- */

struct guard *guard_new(struct metrics *metrics,
			const struct guard_limits *limits)
{
	struct guard *g = calloc(1, sizeof(*g));
	pthread_condattr_t ca;

	if (g == NULL)
		return NULL;
	pthread_mutex_init(&g->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->wake, &ca);
	pthread_condattr_destroy(&ca);
	g->metrics = metrics;
	g->limits = *limits;
	if (pthread_create(&g->thread, NULL, guard_main, g) != 0) {
		pthread_cond_destroy(&g->wake);
		pthread_mutex_destroy(&g->lock);
		free(g);
		return NULL;
	}
	return g;
}

void guard_set_limits(struct guard *g, const struct guard_limits *limits)
{
	pthread_mutex_lock(&g->lock);
	g->limits = *limits;
	pthread_mutex_unlock(&g->lock);
}

void guard_free(struct guard *g)
{
	if (g == NULL)
		return;
	pthread_mutex_lock(&g->lock);
	g->stop = 1;
	pthread_cond_signal(&g->wake);
	pthread_mutex_unlock(&g->lock);
	pthread_join(g->thread, NULL);
	while (g->conns != NULL) {
		struct guard_conn *gc = g->conns;
		g->conns = gc->next;
		free(gc);
	}
	for (size_t i = 0; i < IP_BUCKETS; i++)
		while (g->ips[i] != NULL) {
			struct ipcount *c = g->ips[i];
			g->ips[i] = c->next;
			free(c);
		}
	pthread_cond_destroy(&g->wake);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

int guard_admit(struct guard *g, const struct sockaddr *addr)
{
	struct ipkey k;
	int refused = -1;

	key_of(addr, &k);
	pthread_mutex_lock(&g->lock);
	if (g->limits.total > 0 && g->open >= g->limits.total)
		refused = METRICS_REFUSED_TOTAL;
	else if (g->limits.per_ip > 0 && k.len > 0 &&
		 ip_count(g, &k) >= g->limits.per_ip)
		refused = METRICS_REFUSED_PER_IP;
	pthread_mutex_unlock(&g->lock);
	if (refused < 0)
		return 0;
	metrics_connection_refused(g->metrics, refused);
	return -1;
}

struct guard_conn *guard_open(struct guard *g, const struct sockaddr *addr,
			      int fd)
{
	struct guard_conn *gc = calloc(1, sizeof(*gc));

	if (gc == NULL)
		return NULL;
	key_of(addr, &gc->key);
	gc->fd = fd;
	gc->phase = ANSWER; /* set_phase below counts it as watched */
	pthread_mutex_lock(&g->lock);
	if (gc->key.len > 0 && ip_add(g, &gc->key) < 0) {
		pthread_mutex_unlock(&g->lock);
		free(gc);
		return NULL;
	}
	g->open++;
	gc->next = g->conns;
	if (g->conns != NULL)
		g->conns->prev = gc;
	g->conns = gc;
	gc->deadline_ms = deadline_in(g->limits.header_secs);
	set_phase(g, gc, HEAD);
	pthread_mutex_unlock(&g->lock);
	return gc;
}

void guard_close(struct guard *g, struct guard_conn *gc)
{
	if (gc == NULL)
		return;
	pthread_mutex_lock(&g->lock);
	set_phase(g, gc, CUT);
	if (gc->key.len > 0)
		ip_remove(g, &gc->key);
	g->open--;
	if (gc->prev != NULL)
		gc->prev->next = gc->next;
	else
		g->conns = gc->next;
	if (gc->next != NULL)
		gc->next->prev = gc->prev;
	pthread_mutex_unlock(&g->lock);
	free(gc);
}

int guard_head_done(struct guard *g, struct guard_conn *gc, int body)
{
	int rc = 0;

	if (gc == NULL)
		return -1;
	pthread_mutex_lock(&g->lock);
	if (gc->phase == CUT) {
		rc = -1;
	} else if (body) {
		gc->deadline_ms = deadline_in(g->limits.body_secs);
		set_phase(g, gc, BODY);
	} else {
		set_phase(g, gc, ANSWER);
	}
	pthread_mutex_unlock(&g->lock);
	return rc;
}

void guard_body_read(struct guard *g, struct guard_conn *gc)
{
	if (gc == NULL)
		return;
	pthread_mutex_lock(&g->lock);
	if (gc->phase == BODY)
		gc->deadline_ms = deadline_in(g->limits.body_secs);
	pthread_mutex_unlock(&g->lock);
}

int guard_answering(struct guard *g, struct guard_conn *gc)
{
	int rc = 0;

	if (gc == NULL)
		return 0;
	pthread_mutex_lock(&g->lock);
	if (gc->phase != CUT)
		set_phase(g, gc, ANSWER);
	else
		rc = -1;
	pthread_mutex_unlock(&g->lock);
	return rc;
}

void guard_request_done(struct guard *g, struct guard_conn *gc)
{
	int ok;

	if (gc == NULL)
		return;
	uint64_t mark = bytes_received(gc->fd, &ok);

	pthread_mutex_lock(&g->lock);
	if (gc->phase != CUT) {
		gc->idle_mark = mark;
		set_phase(g, gc, IDLE);
	}
	pthread_mutex_unlock(&g->lock);
}

enum guard_cut guard_cut_of(struct guard *g, struct guard_conn *gc)
{
	if (gc == NULL)
		return GUARD_CUT_NONE;
	pthread_mutex_lock(&g->lock);
	enum guard_cut why = gc->cut;
	pthread_mutex_unlock(&g->lock);
	return why;
}
