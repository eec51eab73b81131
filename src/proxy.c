/* proxy — see proxy.h.
 *
 * Each worker drives its own curl multi handle rather than
 * curl_easy_perform(), for one reason: curl_multi_wait() takes extra
 * descriptors, so the worker watches its client's socket too (the MHD
 * connection is suspended while the stream is empty and sees nothing of
 * it): a client that leaves a silent stream aborts the upstream transfer
 * at once. A cancel from another thread (reload, shutdown, MHD dropping
 * the answer) wakes the worker by shutdown(2) of the upstream socket, not
 * through a wake-up pipe. Backpressure needs no pause API: the write
 * callback blocks in stream_push() and the TCP window does the rest. */
#include "config.h"

#include "proxy.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "curl_nopair.h"
#include "proxy_pool.h"
#include "relay.h"
#include "header.h"
#include "log.h"
#include "workers.h"
#include "text.h"

#define MAX_HEAD_BYTES (64 * 1024)
/* A head whose whole body is no longer than this is held back while its
 * bytes come in the same pass of curl_multi_perform: head, body and end
 * then reach the client in one resume of its connection, not one per
 * piece. Nothing is held across a wait (release_held() before each), so
 * bytes still flow as they arrive; an event stream is never held. */
#define HOLD_MAX (64 * 1024)
/* The longest a worker sleeps while its client has pipelined bytes
 * unread (see check_client): how late such a client's close is noticed. */
#define UNREAD_POLL_MS 1000
/* The longest a worker sleeps holding its client's socket with no
 * upstream socket open for a cancel to shut down: how long a cancel (on
 * MHD's thread) may wait for it, at worst. */
#define HELD_POLL_MS 50

/* A header to send. The host's own (injected by the configuration, or
 * written by carapaced) are kept apart from the client's: the client's
 * Connection tokens and headers never remove or shadow them. */
struct field {
	char *name;
	char *value;
	int from_host;
};

struct proxy_request {
	char *method;
	char *url;
	struct field *fields;
	size_t n_fields;
	char *connection;       /* the client's Connection tokens, if any */
	char *body;
	size_t body_len;
	unsigned head_timeout_secs;
	unsigned idle_timeout_secs;
	char *upstream_ca;      /* CURLOPT_CAINFO, or NULL: curl's store */
	int upstream_insecure;  /* no verification of the upstream */
	proxy_check_fn *check;  /* run first, on the worker; or NULL */
	void *check_arg;
	void (*free_check_arg)(void *);
	struct mcplist *list;   /* the list filter, for the relay */
	unsigned keepalive_secs; /* an event stream's keep-alives */
};

struct worker {
	struct proxy_request *req;
	struct stream *stream;
	CURLM *multi;
	struct stream_head *head;  /* being collected; NULL once published */
	struct stream_head *held;  /* received, not yet published: HOLD_MAX */
	char *held_body;           /* its body so far (content_length) */
	size_t held_len;
	int published;
	size_t head_bytes;
	int protocol_error;
	int head_too_large;
	int idle_expired;          /* a push outlasted the idle timeout */
	uint64_t last_byte_ms;
	pthread_mutex_t wait_lock; /* the two below, for the cancel hook */
	int waiting;               /* in curl_multi_wait ... */
	int upstream_fd;           /* ... on this upstream socket, or -1 */
	int *opened_fd;            /* its handle's socket being connected */
	int client_unread;         /* the client pipelined bytes: its socket
				    * is polled for a close, not watched */
	struct relay relay;        /* the list filter, keep-alives */
};

int proxy_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_ALL) == CURLE_OK ? 0 : -1;
}

void proxy_global_cleanup(void)
{
	curl_global_cleanup();
}

/* ---- request building ---- */

struct proxy_request *proxy_request_new(const char *method, const char *url)
{
	struct proxy_request *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->method = strdup(method);
	r->url = strdup(url);
	if (r->method == NULL || r->url == NULL) {
		proxy_request_free(r);
		return NULL;
	}
	r->head_timeout_secs = 30;
	return r;
}

void proxy_request_free(struct proxy_request *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->n_fields; i++) {
		free(r->fields[i].name);
		free(r->fields[i].value);
	}
	free(r->fields);
	free(r->method);
	free(r->url);
	free(r->upstream_ca);
	free(r->connection);
	free(r->body);
	mcplist_free(r->list);
	if (r->free_check_arg != NULL)
		r->free_check_arg(r->check_arg);
	free(r);
}

/* Connection may name more hop-by-hop headers; they are dropped when the
 * request is built, whatever order they came in. */
static int note_connection_tokens(struct proxy_request *r, const char *value)
{
	size_t old = r->connection ? strlen(r->connection) : 0;
	char *joined = realloc(r->connection, old + strlen(value) + 2);

	if (joined == NULL)
		return -1;
	snprintf(joined + old, strlen(value) + 2, ",%s", value);
	r->connection = joined;
	return 0;
}

static int add_field(struct proxy_request *r, const char *name,
		     const char *value, int from_host)
{
	if (header_hop_by_hop(name))
		return 0;
	struct field *f =
		realloc(r->fields, (r->n_fields + 1) * sizeof(*f));
	if (f == NULL)
		return -1;
	r->fields = f;
	f += r->n_fields;
	f->name = strdup(name);
	f->value = strdup(value);
	f->from_host = from_host;
	if (f->name == NULL || f->value == NULL) {
		free(f->name);
		free(f->value);
		return -1;
	}
	r->n_fields++;
	return 0;
}

int proxy_request_add_header(struct proxy_request *r, const char *name,
			     const char *value)
{
	if (header_name_eq(name, "Connection"))
		return note_connection_tokens(r, value);
	return add_field(r, name, value, 0);
}

int proxy_request_add_host_header(struct proxy_request *r, const char *name,
				  const char *value)
{
	return add_field(r, name, value, 1);
}

void proxy_request_set_body(struct proxy_request *r, char *body, size_t len)
{
	free(r->body);
	r->body = body;
	r->body_len = len;
}

const char *proxy_request_body(const struct proxy_request *r, size_t *len)
{
	*len = r->body_len;
	return r->body;
}

void proxy_request_set_check(struct proxy_request *r, proxy_check_fn *check,
			     void *arg, void (*free_arg)(void *))
{
	r->check = check;
	r->check_arg = arg;
	r->free_check_arg = free_arg;
}

void proxy_request_set_list_filter(struct proxy_request *r,
				   struct mcplist *list)
{
	mcplist_free(r->list);
	r->list = list;
}

void proxy_request_set_keepalive(struct proxy_request *r, unsigned secs)
{
	r->keepalive_secs = secs;
}

int proxy_request_set_tls(struct proxy_request *r, const char *ca,
			  int insecure)
{
	free(r->upstream_ca);
	r->upstream_ca = ca != NULL ? strdup(ca) : NULL;
	r->upstream_insecure = insecure;
	return ca != NULL && r->upstream_ca == NULL ? -1 : 0;
}

void proxy_request_set_timeouts(struct proxy_request *r, unsigned head,
				unsigned idle)
{
	r->head_timeout_secs = head;
	r->idle_timeout_secs = idle;
}

static struct curl_slist *append_line(struct curl_slist *list,
				      const char *name, const char *value,
				      int *failed)
{
	/* curl drops "Name:" with an empty value; "Name;" sends it empty. */
	size_t len = strlen(name) + strlen(value) + 3;
	char *line = malloc(len);

	if (line == NULL) {
		*failed = 1;
		return list;
	}
	if (value[0] == '\0')
		snprintf(line, len, "%s;", name);
	else
		snprintf(line, len, "%s: %s", name, value);
	struct curl_slist *next = curl_slist_append(list, line);
	free(line);
	if (next == NULL)
		*failed = 1;
	return next != NULL ? next : list;
}

static int named_by_connection(const struct proxy_request *r,
			       const char *name)
{
	for (const char *p = r->connection; p != NULL && *p != '\0';) {
		p += strspn(p, ", \t");
		size_t tok = strcspn(p, ", \t");
		if (tok > 0 && header_name_eq_len(p, tok, name))
			return 1;
		p += tok;
	}
	return 0;
}

static int named_by_host(const struct proxy_request *r, const char *name)
{
	for (size_t i = 0; i < r->n_fields; i++)
		if (r->fields[i].from_host &&
		    header_name_eq(r->fields[i].name, name))
			return 1;
	return 0;
}

/* A host header always; a client one unless its Connection names it or
 * the host sends its own of that name. */
static int is_sent(const struct proxy_request *r, const struct field *f)
{
	return f->from_host || (!named_by_connection(r, f->name) &&
				!named_by_host(r, f->name));
}

static int sends(const struct proxy_request *r, const char *name)
{
	for (size_t i = 0; i < r->n_fields; i++)
		if (header_name_eq(r->fields[i].name, name) &&
		    is_sent(r, &r->fields[i]))
			return 1;
	return 0;
}

/* The end-to-end headers, and blanks for those curl would invent. */
static struct curl_slist *build_headers(const struct proxy_request *r)
{
	struct curl_slist *list = NULL;
	int failed = 0;

	for (size_t i = 0; i < r->n_fields; i++)
		if (is_sent(r, &r->fields[i]))
			list = append_line(list, r->fields[i].name,
					   r->fields[i].value, &failed);
	list = curl_slist_append(list, "Expect:");
	if (!sends(r, "Accept"))
		list = curl_slist_append(list, "Accept:");
	if (!sends(r, "Content-Type"))
		list = curl_slist_append(list, "Content-Type:");
	if (failed || list == NULL) {
		curl_slist_free_all(list);
		return NULL;
	}
	return list;
}

/* ---- response head ---- */

static int head_add_field(struct stream_head *h, const char *name,
			  size_t name_len, const char *value, size_t value_len)
{
	struct stream_field *f =
		realloc(h->fields, (h->n_fields + 1) * sizeof(*f));
	if (f == NULL)
		return -1;
	h->fields = f;
	f[h->n_fields].name = strndup(name, name_len);
	f[h->n_fields].value = strndup(value, value_len);
	if (f[h->n_fields].name == NULL || f[h->n_fields].value == NULL) {
		free(f[h->n_fields].name);
		free(f[h->n_fields].value);
		return -1;
	}
	h->n_fields++;
	return 0;
}

static int head_start(struct worker *w, const char *line, size_t len)
{
	stream_head_free(w->head);
	w->head = calloc(1, sizeof(*w->head));
	if (w->head == NULL)
		return -1;
	w->head->content_length = -1;
	/* "HTTP/1.1 200 OK": the code follows the first space. */
	const char *sp = memchr(line, ' ', len);
	if (sp == NULL || line + len - sp < 4)
		return -1;
	int code = 0;
	for (int i = 1; i <= 3; i++) {
		if (sp[i] < '0' || sp[i] > '9')
			return -1;
		code = code * 10 + (sp[i] - '0');
	}
	if (code < 100)
		return -1;
	w->head->status = code;
	return 0;
}

/* A Content-Length value, v[0..end): digits only, read within the line
 * (curl's is not NUL-terminated: strtoll would read on past it, skipping
 * its CR LF as blanks and taking an empty value for 0). -1 when it is not
 * a length: empty, a sign, a blank inside, over LLONG_MAX. The head then
 * has none, and the body goes on as it comes. */
static long long length_of(const char *v, const char *end)
{
	long long n = 0;

	if (v == end)
		return -1;
	for (; v < end; v++) {
		if (*v < '0' || *v > '9' || n > (LLONG_MAX - 9) / 10)
			return -1;
		n = n * 10 + (*v - '0');
	}
	return n;
}

static int head_field(struct worker *w, const char *line, size_t len)
{
	const char *colon = memchr(line, ':', len);

	if (w->head == NULL || colon == NULL || colon == line)
		return -1;
	size_t name_len = (size_t)(colon - line);
	const char *v = colon + 1;
	const char *end = line + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (name_len == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
		long long cl = length_of(v, end);
		if (cl >= 0)
			w->head->content_length = cl;
		return 0;
	}
	if (header_response_hop_by_hop(line, name_len))
		return 0;
	return head_add_field(w->head, line, name_len, v, (size_t)(end - v));
}

/* The blank line: a final head goes to the client now; 1xx ones are
 * swallowed (MHD speaks for itself to its client). */
static int head_end(struct worker *w)
{
	if (w->head == NULL)
		return -1;
	if (w->head->status < 200) {
		stream_head_free(w->head);
		w->head = NULL;
		return 0;
	}
	struct stream_head *h = w->head;
	w->head = NULL;
	w->published = 1;
	w->last_byte_ms = text_mono_ms();
	if (relay_head(&w->relay, h) > 0)
		return 0; /* held by the list filter */
	if (h->content_length >= 0 && h->content_length <= HOLD_MAX &&
	    !stream_head_is_sse(h)) {
		w->held_body = malloc(h->content_length > 0 ?
					      (size_t)h->content_length : 1);
		if (w->held_body != NULL) {
			w->held = h;
			return 0;
		}
	}
	return stream_publish_head(w->stream, h);
}

/* What is held goes to the stream now, as it would have without the
 * hold. 0, or -1 when the stream is cancelled. */
static int release_held(struct worker *w)
{
	struct stream_head *h = w->held;

	if (h == NULL)
		return 0;
	w->held = NULL;
	int rc = stream_publish_head(w->stream, h);
	/* no wait: it fits the empty stream (HOLD_MAX <= its capacity) */
	if (rc == 0 && w->held_len > 0)
		rc = stream_push(w->stream, w->held_body, w->held_len);
	free(w->held_body);
	w->held_body = NULL;
	w->held_len = 0;
	return rc;
}

/* Bytes of a held body: kept while the body is not longer than its head
 * said (curl passes no more), else the hold ends. 1 kept, 0 not held,
 * -1 cancelled. */
static int hold_body(struct worker *w, const char *data, size_t len)
{
	if (w->held == NULL)
		return 0;
	if (len > (size_t)w->held->content_length - w->held_len)
		return release_held(w);
	memcpy(w->held_body + w->held_len, data, len);
	w->held_len += len;
	w->last_byte_ms = text_mono_ms();
	return 1;
}

static size_t on_header(char *data, size_t size, size_t nitems, void *arg)
{
	struct worker *w = arg;
	size_t len = size * nitems;
	size_t line_len = len;

	if (w->published)
		return len; /* trailers: not forwarded */
	w->head_bytes += len;
	if (w->head_bytes > MAX_HEAD_BYTES) {
		w->protocol_error = 1;
		w->head_too_large = 1;
		return 0;
	}
	while (line_len > 0 && (data[line_len - 1] == '\n' ||
				data[line_len - 1] == '\r'))
		line_len--;
	int rc;
	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0)
		rc = head_start(w, data, line_len);
	else if (line_len == 0)
		rc = head_end(w);
	else
		rc = head_field(w, data, line_len);
	if (rc < 0 && !w->published)
		w->protocol_error = !stream_is_cancelled(w->stream);
	return rc < 0 ? 0 : len;
}

static size_t on_body(char *data, size_t size, size_t nitems, void *arg)
{
	struct worker *w = arg;
	size_t len = size * nitems;

	unsigned idle = w->req->idle_timeout_secs;
	/* the idle timer runs on while a client that does not read keeps
	 * the stream full */
	uint64_t deadline = idle ? w->last_byte_ms + idle * 1000ull : 0;

	if (!w->published)
		return CURL_WRITEFUNC_ERROR;
	int rc = hold_body(w, data, len);
	if (rc != 0)
		return rc > 0 ? len : CURL_WRITEFUNC_ERROR;
	rc = relay_body(&w->relay, w->stream, data, len, deadline);
	if (rc < 0) {
		w->idle_expired = rc == -2;
		return CURL_WRITEFUNC_ERROR;
	}
	w->last_byte_ms = text_mono_ms();
	return len;
}

/* ---- the transfer ---- */

/* The cancel hook (under the stream's lock): a worker asleep in
 * curl_multi_wait wakes when its upstream socket is shut down. The socket
 * cannot be closed meanwhile: only the worker's own curl calls close it. */
static void wake_worker(void *arg)
{
	struct worker *w = arg;

	pthread_mutex_lock(&w->wait_lock);
	if (w->waiting && w->upstream_fd >= 0)
		shutdown(w->upstream_fd, SHUT_RDWR);
	pthread_mutex_unlock(&w->wait_lock);
}

/* The client's socket became readable: closed (or reset), or bytes
 * pipelined behind this request, which MHD reads once the answer is over.
 * Those would wake curl_multi_wait again and again: the socket is then
 * not watched but asked after its close at each wake (client_left), the
 * sleep capped at UNREAD_POLL_MS, since a FIN behind unread bytes makes
 * it no more readable than it was. A client that half-closes
 * (shutdown(SHUT_WR)) after its request reads 0 here, or shows POLLRDHUP
 * there, and is taken for gone: HTTP/1.1 allows the half-close, but most
 * proxies (nginx, proxy_ignore_client_abort off) take it for an abort
 * too. Until the stream is cancelled the client's descriptor cannot be
 * closed (MHD holds the connection suspended); a cancel waits for the
 * worker to let go of the socket (stream_client_hold) before MHD may
 * close it, so the worker never looks at a number MHD reused. 1: the
 * client left. */
static int check_client(struct worker *w, int fd)
{
	char c;
	ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

	if (n > 0)
		w->client_unread = 1;
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR);
}

/* 1 when the client closed or reset its socket, unread bytes or not
 * (curl_multi_wait's extra descriptors know no POLLRDHUP). */
static int client_left(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLRDHUP };

	return poll(&p, 1, 0) > 0 &&
	       (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)) != 0;
}

/* Sleeps in curl_multi_wait up to budget ms, watching the client. The
 * client's socket is held meanwhile (a cancel waits for the wait, which
 * it ends by shutting the upstream socket down: with none open yet, the
 * wait is kept short), and the stream cancelled only once let go. */
static void wait_events(struct worker *w, CURL *easy, int budget)
{
	int fd = stream_client_hold(w->stream);
	struct curl_waitfd extra = { .fd = fd, .events = CURL_WAIT_POLLIN };
	int watch = fd >= 0 && !w->client_unread, gone = 0;
	curl_socket_t sock = CURL_SOCKET_BAD;

	if (curl_easy_getinfo(easy, CURLINFO_ACTIVESOCKET, &sock) != CURLE_OK)
		sock = CURL_SOCKET_BAD;
	if (sock == CURL_SOCKET_BAD) /* still connecting */
		sock = *w->opened_fd;
	pthread_mutex_lock(&w->wait_lock);
	w->waiting = 1;
	w->upstream_fd = sock == CURL_SOCKET_BAD ? -1 : (int)sock;
	pthread_mutex_unlock(&w->wait_lock);
	/* after waiting is set: a cancel from here on shuts the socket */
	if (w->client_unread && budget > UNREAD_POLL_MS)
		budget = UNREAD_POLL_MS;
	if (fd >= 0 && sock == CURL_SOCKET_BAD && budget > HELD_POLL_MS)
		budget = HELD_POLL_MS;
	if (!stream_is_cancelled(w->stream))
		curl_multi_wait(w->multi, &extra, watch, budget, NULL);
	pthread_mutex_lock(&w->wait_lock);
	w->waiting = 0;
	w->upstream_fd = -1;
	pthread_mutex_unlock(&w->wait_lock);
	if (watch && extra.revents != 0)
		gone = check_client(w, fd);
	if (fd >= 0 && w->client_unread && !gone)
		gone = client_left(fd);
	if (fd >= 0)
		stream_client_drop(w->stream);
	if (gone)
		stream_cancel(w->stream);
}

/* The socket curl opens, recorded in its handle (clientp) until curl
 * closes it, so that a cancel can shut it down while it connects, before
 * CURLINFO_ACTIVESOCKET knows it. The record lives in the handle, not the
 * worker: curl keeps these callbacks with a cached connection, which may
 * be closed by the handle's next user. Both run on the thread that holds
 * the handle, inside its curl calls. */
static curl_socket_t open_socket(void *clientp, curlsocktype purpose,
				 struct curl_sockaddr *a)
{
	int *opened = clientp;
	int fd = socket(a->family, a->socktype, a->protocol);

	(void)purpose;
	if (fd >= 0)
		*opened = fd;
	return fd >= 0 ? (curl_socket_t)fd : CURL_SOCKET_BAD;
}

static int close_socket(void *clientp, curl_socket_t fd)
{
	int *opened = clientp;

	if (*opened == (int)fd)
		*opened = -1;
	return close((int)fd);
}

static int setup_easy(CURL *easy, struct worker *w, struct curl_slist *hdrs)
{
	const struct proxy_request *r = w->req;
	int bad = 0;

#define SET(opt, val) bad |= curl_easy_setopt(easy, opt, val) != CURLE_OK
	SET(CURLOPT_URL, r->url);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_PROXY, "");          /* never an *_proxy from the env */
	SET(CURLOPT_PATH_AS_IS, 1L);     /* forward the path that was checked */
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	SET(CURLOPT_CONNECTTIMEOUT, (long)r->head_timeout_secs);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_HTTPHEADER, hdrs);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, w);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, w);
	SET(CURLOPT_OPENSOCKETFUNCTION, open_socket);
	SET(CURLOPT_OPENSOCKETDATA, w->opened_fd);
	SET(CURLOPT_CLOSESOCKETFUNCTION, close_socket);
	SET(CURLOPT_CLOSESOCKETDATA, w->opened_fd);
	if (r->upstream_ca != NULL)
		SET(CURLOPT_CAINFO, r->upstream_ca);
	if (r->upstream_insecure) { /* carapaced.c warns of it */
		SET(CURLOPT_SSL_VERIFYPEER, 0L);
		SET(CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (strcmp(r->method, "GET") == 0 && r->body_len == 0) {
		SET(CURLOPT_HTTPGET, 1L);
	} else if (strcmp(r->method, "HEAD") == 0) {
		SET(CURLOPT_NOBODY, 1L);
	} else {
		if (r->body_len > 0 || strcmp(r->method, "POST") == 0 ||
		    strcmp(r->method, "PUT") == 0 ||
		    strcmp(r->method, "PATCH") == 0) {
			SET(CURLOPT_POSTFIELDSIZE_LARGE,
			    (curl_off_t)r->body_len);
			SET(CURLOPT_POSTFIELDS, r->body ? r->body : "");
		}
		if (strcmp(r->method, "POST") != 0)
			SET(CURLOPT_CUSTOMREQUEST, r->method);
	}
#undef SET
	return bad ? -1 : 0;
}

enum outcome { DONE, CANCELLED, HEAD_TIMEOUT, IDLE_TIMEOUT };

/* How long curl_multi_wait may sleep; 0 when a deadline has passed. */
static int poll_budget(const struct worker *w, uint64_t start,
		       enum outcome *expired)
{
	uint64_t now = text_mono_ms(), deadline = UINT64_MAX;
	const struct proxy_request *r = w->req;

	if (!w->published) {
		deadline = start + r->head_timeout_secs * 1000ull;
		*expired = HEAD_TIMEOUT;
	} else if (r->idle_timeout_secs > 0) {
		deadline = w->last_byte_ms + r->idle_timeout_secs * 1000ull;
		*expired = IDLE_TIMEOUT;
	}
	if (deadline == UINT64_MAX)
		return 24 * 3600 * 1000; /* woken by data or a cancel */
	if (now >= deadline)
		return 0;
	return deadline - now > 3600000 ? 3600000 : (int)(deadline - now);
}

static enum outcome drive(struct worker *w, CURL *easy, CURLcode *result)
{
	uint64_t start = text_mono_ms();
	int running = 1;

	*result = CURLE_OK;
	for (;;) {
		/* before each perform: a stream cancelled while the body was
		 * checked (a client gone, a stop) sends nothing upstream */
		if (stream_is_cancelled(w->stream))
			return CANCELLED;
		curl_multi_perform(w->multi, &running);
		if (!running)
			break;
		if (stream_is_cancelled(w->stream))
			return CANCELLED;
		enum outcome expired = DONE;
		int budget = poll_budget(w, start, &expired);
		if (budget == 0)
			return expired;
		budget = relay_budget(&w->relay, budget, text_mono_ms());
		release_held(w); /* nothing held across a wait */
		if (w->published) /* a long body or a stream: set up */
			workers_stack_trim();
		wait_events(w, easy, budget);
		relay_tick(&w->relay, w->stream, text_mono_ms());
	}
	int left;
	CURLMsg *msg = curl_multi_info_read(w->multi, &left);
	if (msg != NULL && msg->msg == CURLMSG_DONE)
		*result = msg->data.result;
	return stream_is_cancelled(w->stream) ? CANCELLED : DONE;
}

static void report(struct worker *w, enum outcome how, CURLcode result)
{
	struct stream *s = w->stream;

	if (w->published) {
		int ok = how == DONE && result == CURLE_OK;
		if (relay_end(&w->relay, s, ok))
			return; /* a held list answer, answered */
		if (ok && w->held != NULL) { /* one resume for it all */
			stream_publish_whole(s, w->held, w->held_body,
					     w->held_len);
			w->held = NULL;
			return;
		}
		release_held(w);
		if (how == IDLE_TIMEOUT)
			log_info("%s: no data for %us, stream closed",
				 w->req->url, w->req->idle_timeout_secs);
		stream_finish(s, ok ? STREAM_END_WHOLE : STREAM_END_BROKEN);
		return;
	}
	if (how == CANCELLED)
		stream_fail(s, STREAM_FAIL_CANCELLED, "client went away");
	else if (how == HEAD_TIMEOUT || result == CURLE_OPERATION_TIMEDOUT)
		stream_fail(s, STREAM_FAIL_TIMEOUT,
			    "upstream did not answer in time");
	else if (result == CURLE_COULDNT_CONNECT ||
		 result == CURLE_COULDNT_RESOLVE_HOST)
		stream_fail(s, STREAM_FAIL_UNREACHABLE,
			    "upstream unreachable");
	else if (w->head_too_large)
		stream_fail(s, STREAM_FAIL_PROTOCOL,
			    "upstream response head too large");
	else if (w->protocol_error || result != CURLE_OK)
		stream_fail(s, STREAM_FAIL_PROTOCOL,
			    result != CURLE_OK ? curl_easy_strerror(result) :
						 "malformed upstream response");
	else
		stream_fail(s, STREAM_FAIL_PROTOCOL,
			    "upstream sent no response head");
}

static void run_worker(struct worker *w)
{
	struct curl_slist *hdrs = build_headers(w->req);
	struct proxy_handle *h = hdrs ? proxy_pool_take(w->req->url) : NULL;
	CURLcode result = CURLE_FAILED_INIT;
	enum outcome how = DONE;

	if (h != NULL)
		w->opened_fd = &h->opened_fd;
	if (h == NULL || setup_easy(h->easy, w, hdrs) < 0 ||
	    curl_multi_add_handle(h->multi, h->easy) != CURLM_OK) {
		stream_fail(w->stream, STREAM_FAIL_INTERNAL,
			    "cannot set up the upstream transfer");
		if (h != NULL)
			proxy_pool_give(h, 0);
		curl_slist_free_all(hdrs);
		return;
	}
	w->multi = h->multi;
	relay_init(&w->relay, w->req->list, w->req->keepalive_secs);
	w->req->list = NULL; /* the relay's */
	stream_set_cancel_hook(w->stream, wake_worker, w);
	how = drive(w, h->easy, &result);
	if (w->idle_expired)
		how = IDLE_TIMEOUT;
	stream_set_cancel_hook(w->stream, NULL, NULL);
	curl_multi_remove_handle(h->multi, h->easy);
	/* parked before the stream ends (which may wait for the client to
	 * drain it): the client's next request finds the connection */
	proxy_pool_give(h, how == DONE && result == CURLE_OK);
	report(w, how, result);
	relay_free(&w->relay);
	curl_slist_free_all(hdrs);
}

static void worker_main(void *arg)
{
	struct worker *w = arg;
	struct proxy_request *r = w->req;

	if (r->check == NULL || r->check(r->check_arg, r, w->stream) == 0)
		run_worker(w);
	stream_head_free(w->head);
	stream_head_free(w->held);
	free(w->held_body);
	stream_release(w->stream);
	proxy_request_free(w->req);
	pthread_mutex_destroy(&w->wait_lock);
	free(w);
}

int proxy_start(struct proxy_request *r, struct stream *s)
{
	struct worker *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return -1;
	w->req = r;
	w->stream = s;
	/* a fresh worker per job: the pooled thread that runs it carries
	 * nothing of the job before (wait_lock, upstream_fd) */
	w->upstream_fd = -1;
	pthread_mutex_init(&w->wait_lock, NULL);
	if (workers_run(worker_main, w) < 0) {
		int saved = errno;
		pthread_mutex_destroy(&w->wait_lock);
		free(w);
		errno = saved;
		return -1;
	}
	return 0;
}
