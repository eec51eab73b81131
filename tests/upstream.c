/* upstream — the test upstream for carapaced's integration tests.
 *
 * usage: upstream [-p PORT]
 *
 * A small HTTP/1.1 server on 127.0.0.1 (raw sockets, keep-alive, one
 * detached thread per connection) that looks like signal-cli's HTTP daemon
 * and offers fixtures for the gateway's tests. Once listening it prints
 * "PORT <n>" on stdout. SIGTERM or SIGINT ends it with status 0.
 *
 *   GET  /api/v1/check            200, empty body
 *   POST /api/v1/rpc              JSON-RPC 2.0 echo (object or batch)
 *   ANY  /echo, /echo/...         the request as JSON
 *   ANY  /raw, /raw/...           {"raw": the exact bytes of the request
 *                                 head, request line to blank line}
 *   GET  /status/NNN              that status, {"status":NNN}
 *   GET  /bytes?n=N[&chunked=1][&chunk=K]     N pattern bytes
 *   GET  /api/v1/events?[schedule=S,..][&end=1][&keepalive=S]
 *                       [&headers_delay_ms=N]  SSE (broadcast group when
 *                                              there is no schedule)
 *   GET  /sse-exact               TU_SSE_FIXTURE in 1-3 byte chunks
 *   GET  /abort?after=N           N pattern bytes, then a TCP reset
 *   GET  /slow-headers?ms=N       "late\n" after N ms
 *   ANY  /nobody?status=N[&length=L|&chunked=1]
 *                                 a head with that framing and no body
 *                                 (what HEAD, 204 and 304 answers are)
 *   POST /mcp-list?[sse=1][&big=1][&scope=1]   an MCP server's tools/list
 *                                 (TU_MCP_TOOLS; JSON, or in an event
 *                                 stream; big: a 5 MiB tool more; scope:
 *                                 "cacheScope": "shared"); anything else
 *                                 as /api/v1/rpc
 *   GET  /sse-pause?ms=N          an event, N ms, half an event, N ms,
 *                                 its end (TU_SSE_PAUSE_*)
 *   ANY  /mcp-session             the request as JSON, as /echo, with an
 *                                 Mcp-Session-Id header: the request's,
 *                                 or "up-session-1" (an MCP server's
 *                                 session, both ways)
 *   GET  /big-head?bytes=N        200 whose head carries N bytes of X-Pad
 *   POST /_upstream/broadcast     one event to every broadcast stream
 *   GET  /_upstream/stats         {"open_streams","closed_streams","requests"}
 *   GET  /_upstream/requests      the request log (JSON array)
 *   POST /_upstream/reset         clear the log and closed_streams
 *
 * /raw parses leniently, as real servers do: a header line it cannot
 * parse is skipped, not refused, so the gateway's tests can see (and
 * assert on) whatever bytes reached it, not what a strict parser kept.
 *
 * Requests to /_upstream/ are neither logged nor counted. The log keeps
 * the newest 10,000 requests (and at most 256 MiB of them). A stream whose
 * socket accepts nothing for 10 s is dropped (SO_SNDTIMEO), so one stalled
 * reader cannot hold up /_upstream/broadcast for ever. */
#include "config.h"

#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define UP_STACK_SIZE (128 * 1024)
#define UP_BACKLOG 4096
#define UP_BUF_INIT 4096
#define UP_MAX_HEAD (64 * 1024)
#define UP_MAX_HEADERS 100
#define UP_MAX_BODY ((size_t)64 << 20)
#define UP_LOG_MAX 10000
#define UP_LOG_BYTES_MAX ((size_t)256 << 20)
#define UP_MAX_SCHEDULE 1024
#define UP_DEFAULT_CHUNK 16384
#define UP_MAX_CHUNK (16 << 20)
#define UP_IO_BLOCK 65536
#define UP_SNDTIMEO_SECS 10
#define UP_DRAIN_MS 5000
#define UP_FOREVER UINT64_MAX
#define UP_JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* One client connection; owned by its thread. */
struct conn {
	int fd;
	char *buf;		/* unread input: buf[off..len) */
	size_t cap, off, len;
};

struct header {
	char *name;
	char *value;
};

/* One parsed request; every pointer is owned by it (req_free). */
struct req {
	char *head;		/* the head, split in place by NULs */
	char *raw;		/* the head as received (raw_len bytes) */
	size_t raw_len;
	char *method;
	char *target;		/* raw request target, query included */
	char *path;		/* target up to '?' (own copy) */
	const char *query;	/* after '?' in target, or "" */
	struct header hdr[UP_MAX_HEADERS];
	size_t n_hdr;
	char *body;		/* NUL-terminated */
	size_t body_len;
	int keep_alive;
	int head_only;
};

/* An open event stream. Shared by its connection thread and broadcasts:
 * reference counted (refs under streams_lock); lock serialises writes,
 * seq and broken. */
struct stream {
	int fd;
	pthread_mutex_t lock;
	uint64_t seq;
	int broken;
	int refs;
	int in_group;
	struct stream *next;	/* broadcast group; under streams_lock */
};

/* writev's iovec is not const; what it is given here is only read */
static void *unconst(const void *p)
{
	return (void *)(uintptr_t)p;
}

static pthread_mutex_t streams_lock = PTHREAD_MUTEX_INITIALIZER;
static struct stream *group;		/* broadcast group */
static long n_group, open_streams, closed_streams;

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char *log_ring[UP_LOG_MAX];	/* JSON texts, oldest at log_first */
static size_t log_first, log_count, log_bytes;
static unsigned long long n_requests;

static int sig_pipe[2] = { -1, -1 };

/* ---- small helpers ------------------------------------------------------ */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / 1000000000u),
			       (long)(ns % 1000000000u) };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Parse all of s as a decimal in [lo, hi]. */
static int parse_ll(const char *s, long long lo, long long hi,
		    long long *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* Parse all of s as seconds >= 0 (at most a day) into ns. */
static int parse_secs(const char *s, uint64_t *ns)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= 0) ||
	    v > 86400)
		return -1;
	*ns = (uint64_t)(v * 1e9);
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode s[0..n) into out (len bytes, NUL-terminated). */
static int url_decode(const char *s, size_t n, char *out, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '+')
			c = ' ';
		if (c == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 &&
		    hexval(s[i + 2]) >= 0) {
			c = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		}
		if (o + 1 >= len)
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

/* Value of query parameter name (decoded into out), 0; -1 if absent. */
static int query_get(const struct req *rq, const char *name, char *out,
		     size_t len)
{
	size_t nl = strlen(name);
	const char *p = rq->query;

	while (*p) {
		const char *amp = strchr(p, '&');
		size_t pl = amp ? (size_t)(amp - p) : strlen(p);

		if (pl > nl && strncmp(p, name, nl) == 0 && p[nl] == '=')
			return url_decode(p + nl + 1, pl - nl - 1, out, len);
		if (pl == nl && strncmp(p, name, nl) == 0)
			return url_decode("", 0, out, len);
		p += pl + (amp != NULL);
	}
	return -1;
}

/* Integer query parameter: 0 set, 1 absent (*out = def), -1 invalid. */
static int query_ll(const struct req *rq, const char *name, long long lo,
		    long long hi, long long def, long long *out)
{
	char v[64];

	*out = def;
	if (query_get(rq, name, v, sizeof(v)) != 0)
		return 1;
	return parse_ll(v, lo, hi, out) == 0 ? 0 : -1;
}

static const char *req_header(const struct req *rq, const char *name)
{
	for (size_t i = 0; i < rq->n_hdr; i++) {
		if (strcasecmp(rq->hdr[i].name, name) == 0)
			return rq->hdr[i].value;
	}
	return NULL;
}

/* ---- output ------------------------------------------------------------- */

/* Write every iovec fully (the array is modified). */
static int sendv_all(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };
		ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

static int send_all(int fd, const void *p, size_t n)
{
	struct iovec iov = { unconst(p), n };

	return sendv_all(fd, &iov, 1);
}

/* One chunk of a chunked body in one sendmsg; n == 0 ends the body. */
static int send_chunk(int fd, const void *p, size_t n)
{
	char size[32];
	struct iovec iov[3];

	if (n == 0)
		return send_all(fd, "0\r\n\r\n", 5);
	snprintf(size, sizeof(size), "%zx\r\n", n);
	iov[0] = (struct iovec){ size, strlen(size) };
	iov[1] = (struct iovec){ unconst(p), n };
	iov[2] = (struct iovec){ unconst("\r\n"), 2 };
	return sendv_all(fd, iov, 3);
}

static const char *reason(int status)
{
	static const struct {
		int status;
		const char *text;
	} tab[] = {
		{ 200, "OK" }, { 201, "Created" }, { 202, "Accepted" },
		{ 204, "No Content" }, { 301, "Moved Permanently" },
		{ 302, "Found" }, { 304, "Not Modified" },
		{ 400, "Bad Request" }, { 401, "Unauthorized" },
		{ 403, "Forbidden" }, { 404, "Not Found" },
		{ 405, "Method Not Allowed" }, { 408, "Request Timeout" },
		{ 413, "Content Too Large" }, { 429, "Too Many Requests" },
		{ 431, "Request Header Fields Too Large" },
		{ 500, "Internal Server Error" }, { 501, "Not Implemented" },
		{ 502, "Bad Gateway" }, { 503, "Service Unavailable" },
		{ 504, "Gateway Timeout" },
	};

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		if (tab[i].status == status)
			return tab[i].text;
	}
	return "Status";
}

static int no_body_status(int status)
{
	return status == 204 || status == 304;
}

/* Format a response head; clen < 0 means chunked. Returns its length. */
static int format_head(char *out, size_t len, const struct req *rq,
		       int status, const char *ctype, const char *extra,
		       long long clen)
{
	char framing[64] = "";
	char type[160] = "";
	int n;

	if (clen < 0)
		snprintf(framing, sizeof(framing),
			 "Transfer-Encoding: chunked\r\n");
	else if (!no_body_status(status))
		snprintf(framing, sizeof(framing), "Content-Length: %lld\r\n",
			 clen);
	if (ctype)
		snprintf(type, sizeof(type), "Content-Type: %s\r\n", ctype);
	n = snprintf(out, len, "HTTP/1.1 %d %s\r\n%s%s%s%s\r\n", status,
		     reason(status), type, framing, extra ? extra : "",
		     rq->keep_alive ? "" : "Connection: close\r\n");
	return (n < 0 || (size_t)n >= len) ? -1 : n;
}

static int send_head(int fd, const struct req *rq, int status,
		     const char *ctype, const char *extra, long long clen)
{
	char head[1024];
	int n = format_head(head, sizeof(head), rq, status, ctype, extra,
			    clen);

	return n < 0 ? -1 : send_all(fd, head, (size_t)n);
}

/* A whole response with Content-Length; head and body in one sendmsg. */
static int send_resp(struct conn *c, const struct req *rq, int status,
		     const char *ctype, const char *extra, const char *body,
		     size_t len)
{
	char head[1024];
	struct iovec iov[2];
	int n = format_head(head, sizeof(head), rq, status, ctype, extra,
			    (long long)len);

	if (n < 0)
		return -1;
	iov[0] = (struct iovec){ head, (size_t)n };
	iov[1] = (struct iovec){ unconst(body), len };
	if (rq->head_only || no_body_status(status))
		return sendv_all(c->fd, iov, 1);
	return sendv_all(c->fd, iov, 2);
}

/* Send obj as an application/json response; takes obj. */
static int send_json(struct conn *c, const struct req *rq, int status,
		     json_object *obj, const char *extra)
{
	const char *s = json_object_to_json_string_ext(obj, UP_JSON_FLAGS);
	int rc = send_resp(c, rq, status, "application/json", extra, s,
			   strlen(s));

	json_object_put(obj);
	return rc;
}

static int send_error(struct conn *c, const struct req *rq, int status,
		      const char *msg)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "error", json_object_new_string(msg));
	return send_json(c, rq, status, o, NULL);
}

/* ---- input -------------------------------------------------------------- */

static size_t c_avail(const struct conn *c)
{
	return c->len - c->off;
}

/* Read more input: > 0, 0 EOF, -1 error, -2 buffer would exceed limit. */
static ssize_t conn_fill(struct conn *c, size_t limit)
{
	ssize_t n;

	if (c->off > 0) {
		memmove(c->buf, c->buf + c->off, c_avail(c));
		c->len -= c->off;
		c->off = 0;
	}
	if (c->len == c->cap) {
		size_t cap = c->cap * 2;
		char *nb;

		if (c->cap >= limit)
			return -2;
		nb = realloc(c->buf, cap);
		if (nb == NULL)
			return -1;
		c->buf = nb;
		c->cap = cap;
	}
	do
		n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		c->len += (size_t)n;
	return n;
}

/* Copy n bytes of input to dst: buffered ones first, then straight. */
static int conn_read_exact(struct conn *c, char *dst, size_t n)
{
	size_t have = c_avail(c) < n ? c_avail(c) : n;

	memcpy(dst, c->buf + c->off, have);
	c->off += have;
	while (have < n) {
		ssize_t got = recv(c->fd, dst + have, n - have, 0);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return -1;
		have += (size_t)got;
	}
	return 0;
}

/* Next input line, terminator stripped, NUL-terminated in the buffer
 * (valid until the next read). */
static int conn_line(struct conn *c, char **line)
{
	for (;;) {
		char *s = c->buf + c->off;
		char *nl = memchr(s, '\n', c_avail(c));

		if (nl) {
			*nl = '\0';
			if (nl > s && nl[-1] == '\r')
				nl[-1] = '\0';
			c->off += (size_t)(nl - s) + 1;
			*line = s;
			return 0;
		}
		if (conn_fill(c, UP_MAX_HEAD) <= 0)
			return -1;
	}
}

/* "METHOD SP TARGET SP HTTP/1.x" */
static int parse_request_line(struct req *rq, char *line)
{
	char *sp1 = strchr(line, ' ');
	char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	char *q;

	if (sp1 == NULL || sp2 == NULL || sp1 == line || sp2 == sp1 + 1 ||
	    strncmp(sp2 + 1, "HTTP/1.", 7) != 0 || strlen(sp2 + 1) != 8)
		return -1;
	*sp1 = *sp2 = '\0';
	rq->method = line;
	rq->target = sp1 + 1;
	q = strchr(rq->target, '?');
	rq->path = strndup(rq->target, q ? (size_t)(q - rq->target)
					 : strlen(rq->target));
	rq->query = q ? q + 1 : "";
	rq->keep_alive = sp2[8] == '1';
	rq->head_only = strcmp(rq->method, "HEAD") == 0;
	return rq->path ? 0 : -1;
}

static int parse_header(struct req *rq, char *line)
{
	char *colon = strchr(line, ':');

	if (colon == NULL || colon == line || *line == ' ' ||
	    *line == '\t' || colon[-1] == ' ' ||
	    rq->n_hdr == UP_MAX_HEADERS)
		return -1;
	*colon = '\0';
	rq->hdr[rq->n_hdr].name = line;
	rq->hdr[rq->n_hdr].value = tu_trim(colon + 1);
	rq->n_hdr++;
	return 0;
}

static void set_keep_alive(struct req *rq)
{
	const char *conn = req_header(rq, "Connection");

	if (conn && strcasestr(conn, "close"))
		rq->keep_alive = 0;
	else if (conn && strcasestr(conn, "keep-alive"))
		rq->keep_alive = 1;
}

/* /raw answers what it received, however malformed its headers. */
static int is_raw(const struct req *rq)
{
	return strcmp(rq->path, "/raw") == 0 ||
	       strncmp(rq->path, "/raw/", 5) == 0;
}

/* Split rq->head (n bytes) into request line and headers. */
static int parse_head(struct req *rq, size_t n)
{
	char *p = rq->head, *line;
	int first = 1;

	while ((line = tu_head_line(&p, rq->head + n)) != NULL) {
		if (first ? parse_request_line(rq, line) :
			    parse_header(rq, line) && !is_raw(rq))
			return -1;
		first = 0;
	}
	if (first)
		return -1;
	set_keep_alive(rq);
	return 0;
}

/* Read and parse a head: 0, -1 closed, or an HTTP error status. */
static int read_head(struct conn *c, struct req *rq)
{
	size_t end;

	while ((end = tu_head_end(c->buf + c->off, c_avail(c))) == 0) {
		ssize_t n = conn_fill(c, UP_MAX_HEAD);

		if (n == -2)
			return 431;
		if (n <= 0)
			return -1;
	}
	rq->head = malloc(end + 1);
	rq->raw = malloc(end);
	if (rq->head == NULL || rq->raw == NULL)
		return -1;
	memcpy(rq->head, c->buf + c->off, end);
	rq->head[end] = '\0';
	memcpy(rq->raw, rq->head, end);
	rq->raw_len = end;
	c->off += end;
	return parse_head(rq, end) == 0 ? 0 : 400;
}

static int read_fixed(struct conn *c, struct req *rq, size_t n)
{
	rq->body = malloc(n + 1);
	if (rq->body == NULL)
		return -1;
	if (conn_read_exact(c, rq->body, n) != 0)
		return -1;
	rq->body[n] = '\0';
	rq->body_len = n;
	return 0;
}

/* Size line of a chunk: 0 and *n, or -1. */
static int chunk_size_line(struct conn *c, size_t *n)
{
	char *line, *end;
	unsigned long long v;

	if (conn_line(c, &line) != 0 || hexval(*line) < 0)
		return -1;
	errno = 0;
	v = strtoull(line, &end, 16);
	while (*end == ' ' || *end == '\t')
		end++;
	if (errno != 0 || (*end != '\0' && *end != ';') || v > UP_MAX_BODY)
		return -1;
	*n = (size_t)v;
	return 0;
}

/* Append one chunk of n bytes (and its CRLF) to rq->body. */
static int read_chunk(struct conn *c, struct req *rq, size_t n)
{
	char *nb, *line;

	if (rq->body_len + n > UP_MAX_BODY)
		return 413;
	nb = realloc(rq->body, rq->body_len + n + 1);
	if (nb == NULL)
		return -1;
	rq->body = nb;
	if (conn_read_exact(c, rq->body + rq->body_len, n) != 0)
		return -1;
	rq->body_len += n;
	rq->body[rq->body_len] = '\0';
	if (conn_line(c, &line) != 0 || *line != '\0')
		return 400;
	return 0;
}

static int read_chunked(struct conn *c, struct req *rq)
{
	char *line;
	size_t n;
	int rc;

	rq->body = calloc(1, 1);
	if (rq->body == NULL)
		return -1;
	for (;;) {
		if (chunk_size_line(c, &n) != 0)
			return 400;
		if (n == 0)
			break;
		rc = read_chunk(c, rq, n);
		if (rc != 0)
			return rc;
	}
	do {			/* trailers, up to the blank line */
		if (conn_line(c, &line) != 0)
			return 400;
	} while (*line != '\0');
	return 0;
}

static void maybe_continue(struct conn *c, const struct req *rq)
{
	const char *e = req_header(rq, "Expect");

	if (e && strcasecmp(e, "100-continue") == 0 && c_avail(c) == 0)
		send_all(c->fd, "HTTP/1.1 100 Continue\r\n\r\n", 25);
}

/* Read the body: 0, -1 closed, or an HTTP error status. */
static int read_body(struct conn *c, struct req *rq)
{
	const char *te = req_header(rq, "Transfer-Encoding");
	const char *cl = req_header(rq, "Content-Length");
	long long n = 0;

	if (te && cl)
		return 400;
	if (te) {
		if (strcasecmp(te, "chunked") != 0)
			return 501;
		maybe_continue(c, rq);
		return read_chunked(c, rq);
	}
	if (cl && parse_ll(cl, 0, LLONG_MAX, &n) != 0)
		return 400;
	if ((unsigned long long)n > UP_MAX_BODY)
		return 413;
	if (n > 0)
		maybe_continue(c, rq);
	return read_fixed(c, rq, (size_t)n);
}

static void req_free(struct req *rq)
{
	free(rq->head);
	free(rq->raw);
	free(rq->path);
	free(rq->body);
	memset(rq, 0, sizeof(*rq));
}

/* ---- request log -------------------------------------------------------- */

/* {"method","target","headers":[[n,v],..],"body"}; new object. */
static json_object *req_json(const struct req *rq)
{
	json_object *o = json_object_new_object();
	json_object *h = json_object_new_array();

	for (size_t i = 0; i < rq->n_hdr; i++) {
		json_object *pair = json_object_new_array();
		const struct header *hd = &rq->hdr[i];

		json_object_array_add(pair, json_object_new_string(hd->name));
		json_object_array_add(pair, json_object_new_string(hd->value));
		json_object_array_add(h, pair);
	}
	json_object_object_add(o, "method",
			       json_object_new_string(rq->method));
	json_object_object_add(o, "target",
			       json_object_new_string(rq->target));
	json_object_object_add(o, "headers", h);
	json_object_object_add(o, "body",
			       json_object_new_string_len(rq->body,
							  (int)rq->body_len));
	return o;
}

static void log_drop_oldest(void)
{
	log_bytes -= strlen(log_ring[log_first]);
	free(log_ring[log_first]);
	log_ring[log_first] = NULL;
	log_first = (log_first + 1) % UP_LOG_MAX;
	log_count--;
}

static void log_request(const struct req *rq)
{
	json_object *o = req_json(rq);
	char *text = strdup(json_object_to_json_string_ext(o, UP_JSON_FLAGS));
	size_t len = text ? strlen(text) : 0;

	json_object_put(o);
	pthread_mutex_lock(&log_lock);
	n_requests++;
	while (log_count > 0 && (log_count == UP_LOG_MAX ||
				 log_bytes + len > UP_LOG_BYTES_MAX))
		log_drop_oldest();
	if (text) {
		log_ring[(log_first + log_count) % UP_LOG_MAX] = text;
		log_count++;
		log_bytes += len;
	}
	pthread_mutex_unlock(&log_lock);
}

/* The log as a JSON array text; new string, caller frees. */
static char *log_dump(void)
{
	char *out, *p;

	pthread_mutex_lock(&log_lock);
	out = malloc(log_bytes + log_count + 3);
	p = out;
	if (out) {
		*p++ = '[';
		for (size_t i = 0; i < log_count; i++) {
			const char *e = log_ring[(log_first + i) % UP_LOG_MAX];
			size_t n = strlen(e);

			if (i > 0)
				*p++ = ',';
			memcpy(p, e, n);
			p += n;
		}
		*p++ = ']';
		*p = '\0';
	}
	pthread_mutex_unlock(&log_lock);
	return out;
}

static void log_reset(void)
{
	pthread_mutex_lock(&log_lock);
	while (log_count > 0)
		log_drop_oldest();
	log_first = 0;
	pthread_mutex_unlock(&log_lock);
	pthread_mutex_lock(&streams_lock);
	closed_streams = 0;
	pthread_mutex_unlock(&streams_lock);
}

/* ---- streams ------------------------------------------------------------ */

static struct stream *stream_new(int fd)
{
	struct stream *s = calloc(1, sizeof(*s));
	struct timeval tv = { UP_SNDTIMEO_SECS, 0 };

	if (s == NULL)
		return NULL;
	s->fd = fd;
	s->refs = 1;
	pthread_mutex_init(&s->lock, NULL);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return s;
}

static void stream_release(struct stream *s)
{
	int last;

	pthread_mutex_lock(&streams_lock);
	last = --s->refs == 0;
	pthread_mutex_unlock(&streams_lock);
	if (!last)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static void group_join(struct stream *s)
{
	pthread_mutex_lock(&streams_lock);
	s->next = group;
	group = s;
	s->in_group = 1;
	n_group++;
	pthread_mutex_unlock(&streams_lock);
}

static void group_leave(struct stream *s)
{
	struct stream **pp;

	pthread_mutex_lock(&streams_lock);
	for (pp = &group; *pp; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			n_group--;
			break;
		}
	}
	s->in_group = 0;
	pthread_mutex_unlock(&streams_lock);
}

/* The group members, each with a reference; *n set. New array. */
static struct stream **group_snapshot(size_t *n)
{
	struct stream **v;
	size_t i = 0;

	pthread_mutex_lock(&streams_lock);
	v = malloc(((size_t)n_group + 1) * sizeof(*v));
	for (struct stream *s = group; v && s; s = s->next) {
		s->refs++;
		v[i++] = s;
	}
	pthread_mutex_unlock(&streams_lock);
	*n = i;
	return v;
}

static void count_stream(int opened)
{
	pthread_mutex_lock(&streams_lock);
	if (opened) {
		open_streams++;
	} else {
		open_streams--;
		closed_streams++;
	}
	pthread_mutex_unlock(&streams_lock);
}

/* Send one chunk on s under its lock; a failure breaks the stream and
 * shuts its socket so its own thread wakes and ends. Caller holds lock. */
static int stream_write_locked(struct stream *s, const char *p, size_t n)
{
	if (s->broken)
		return -1;
	if (send_chunk(s->fd, p, n) == 0)
		return 0;
	s->broken = 1;
	shutdown(s->fd, SHUT_RDWR);
	return -1;
}

/* The next event of s, stamped just before it is sent. */
static int stream_event(struct stream *s)
{
	char data[128];
	int n, rc;

	pthread_mutex_lock(&s->lock);
	s->seq++;
	n = snprintf(data, sizeof(data),
		     "event: receive\ndata: {\"seq\":%llu,\"sent_ns\":%llu}"
		     "\n\n", (unsigned long long)s->seq,
		     (unsigned long long)now_ns());
	rc = stream_write_locked(s, data, (size_t)n);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

static int stream_text(struct stream *s, const char *text)
{
	int rc;

	pthread_mutex_lock(&s->lock);
	rc = stream_write_locked(s, text, strlen(text));
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* 1 if the peer is gone. Data the peer sent is left unread; *events then
 * drops POLLIN so the wait does not spin. */
static int peer_gone(int fd, short rev, short *events)
{
	char b;
	ssize_t n;

	if (rev & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL))
		return 1;
	if (!(rev & POLLIN))
		return 0;
	n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == 0)
		return 1;
	if (n < 0 && errno != EAGAIN && errno != EINTR)
		return 1;
	if (n > 0)
		*events = POLLRDHUP;
	return 0;
}

/* Sleep until deadline (ns, CLOCK_MONOTONIC; UP_FOREVER = no deadline)
 * while watching fd: 0 at the deadline, 1 as soon as the peer leaves. */
static int wait_until(int fd, uint64_t deadline)
{
	short events = POLLIN | POLLRDHUP;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		struct timespec ts, *tp = NULL;
		uint64_t now = now_ns();
		int n;

		if (deadline != UP_FOREVER) {
			if (now >= deadline)
				return 0;
			ts.tv_sec = (time_t)((deadline - now) / 1000000000u);
			ts.tv_nsec = (long)((deadline - now) % 1000000000u);
			tp = &ts;
		}
		n = ppoll(&p, 1, tp, NULL);
		if (n < 0 && errno != EINTR)
			return 1;
		if (n > 0 && peer_gone(fd, p.revents, &events))
			return 1;
	}
}

/* ---- /api/v1/events ----------------------------------------------------- */

struct ev_opts {
	uint64_t sched[UP_MAX_SCHEDULE];	/* ns after the head */
	size_t n_sched;
	int has_sched;
	int end;
	uint64_t keepalive;			/* ns, 0 = none */
	long long headers_delay_ms;
};

static int parse_schedule(const char *list, struct ev_opts *o)
{
	const char *p = list;

	o->has_sched = 1;
	while (*p) {
		char item[64];
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);

		if (n == 0 || n >= sizeof(item) ||
		    o->n_sched == UP_MAX_SCHEDULE)
			return -1;
		memcpy(item, p, n);
		item[n] = '\0';
		if (parse_secs(item, &o->sched[o->n_sched++]) != 0)
			return -1;
		p += n + (comma != NULL);
	}
	return 0;
}

static int ev_parse(const struct req *rq, struct ev_opts *o)
{
	char v[8192];
	long long end;

	memset(o, 0, sizeof(*o));
	if (query_get(rq, "schedule", v, sizeof(v)) == 0 &&
	    parse_schedule(v, o) != 0)
		return -1;
	if (query_get(rq, "keepalive", v, sizeof(v)) == 0 &&
	    (parse_secs(v, &o->keepalive) != 0 || o->keepalive == 0))
		return -1;
	if (query_ll(rq, "end", 0, 1, 0, &end) < 0)
		return -1;
	o->end = (int)end;
	return query_ll(rq, "headers_delay_ms", 0, 3600000, 0,
			&o->headers_delay_ms) < 0 ? -1 : 0;
}

/* Events and keep-alives until the client leaves (-1), the stream broke
 * (-1) or a schedule with end=1 is done (0). */
static int ev_loop(struct stream *s, const struct ev_opts *o, uint64_t t0)
{
	uint64_t next_ka = o->keepalive ? t0 + o->keepalive : UP_FOREVER;
	size_t i = 0;

	for (;;) {
		uint64_t next_ev = i < o->n_sched ? t0 + o->sched[i]
						  : UP_FOREVER;
		uint64_t now;

		if (o->has_sched && i == o->n_sched && o->end)
			return stream_text(s, "") == 0 ? 0 : -1;
		if (wait_until(s->fd, next_ev < next_ka ? next_ev : next_ka))
			return -1;
		now = now_ns();
		if (now >= next_ev && stream_event(s) != 0)
			return -1;
		if (now >= next_ev)
			i++;
		if (now >= next_ka && stream_text(s, ": keepalive\n\n") != 0)
			return -1;
		if (now >= next_ka)
			next_ka += o->keepalive;
	}
}

static int ev_run(struct conn *c, const struct req *rq,
		  const struct ev_opts *o)
{
	struct stream *s;
	int rc;

	if (o->headers_delay_ms > 0 &&
	    wait_until(c->fd, now_ns() + (uint64_t)o->headers_delay_ms *
			      1000000u))
		return -1;
	s = stream_new(c->fd);
	if (s == NULL)
		return -1;
	pthread_mutex_lock(&s->lock);	/* no broadcast before the head */
	if (!o->has_sched)
		group_join(s);
	rc = send_head(c->fd, rq, 200, "text/event-stream",
		       "Cache-Control: no-cache\r\n", -1);
	pthread_mutex_unlock(&s->lock);
	if (rc == 0)
		rc = ev_loop(s, o, now_ns());
	if (!o->has_sched)
		group_leave(s);
	stream_release(s);
	return rc;
}

static int h_events(struct conn *c, struct req *rq)
{
	struct ev_opts *o = malloc(sizeof(*o));
	int rc;

	if (o == NULL)
		return -1;
	if (ev_parse(rq, o) != 0) {
		free(o);
		return send_error(c, rq, 400, "bad query");
	}
	count_stream(1);
	rc = ev_run(c, rq, o);
	count_stream(0);
	free(o);
	return rc;
}

static int h_broadcast(struct conn *c, struct req *rq)
{
	size_t n;
	struct stream **v = group_snapshot(&n);
	json_object *o = json_object_new_object();
	int sent = 0;

	for (size_t i = 0; i < n; i++) {
		if (stream_event(v[i]) == 0)
			sent++;
		stream_release(v[i]);
	}
	free(v);
	json_object_object_add(o, "sent", json_object_new_int(sent));
	return send_json(c, rq, 200, o, NULL);
}

/* ---- other fixtures ----------------------------------------------------- */

static int h_check(struct conn *c, struct req *rq)
{
	return send_resp(c, rq, 200, NULL, NULL, "", 0);
}

/* The answer to one JSON-RPC request (any JSON value); new object. */
static json_object *rpc_answer(json_object *rq)
{
	json_object *out = json_object_new_object();
	json_object *res = json_object_new_object();
	json_object *m = NULL, *p = NULL, *id = NULL;

	if (json_object_is_type(rq, json_type_object)) {
		json_object_object_get_ex(rq, "method", &m);
		json_object_object_get_ex(rq, "params", &p);
		json_object_object_get_ex(rq, "id", &id);
	}
	json_object_object_add(res, "method", json_object_get(m));
	json_object_object_add(res, "params", json_object_get(p));
	json_object_object_add(out, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(out, "result", res);
	json_object_object_add(out, "id", json_object_get(id));
	return out;
}

/* Parse all of text as JSON (trailing blanks allowed); NULL if not. */
static json_object *parse_json(const char *text, size_t len)
{
	json_tokener *tok = json_tokener_new();
	json_object *o;
	size_t end;

	if (tok == NULL || len > INT32_MAX) {
		if (tok)
			json_tokener_free(tok);
		return NULL;
	}
	o = json_tokener_parse_ex(tok, text, (int)len);
	end = json_tokener_get_parse_end(tok);
	if (json_tokener_get_error(tok) != json_tokener_success) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	while (o && end < len && strchr(" \t\r\n", text[end]))
		end++;
	if (o && end != len) {
		json_object_put(o);
		o = NULL;
	}
	return o;
}

static int h_rpc(struct conn *c, struct req *rq)
{
	json_object *in = parse_json(rq->body, rq->body_len);
	json_object *out;

	if (in == NULL || !(json_object_is_type(in, json_type_object) ||
			    json_object_is_type(in, json_type_array))) {
		json_object_put(in);
		return send_error(c, rq, 400, "bad json");
	}
	if (json_object_is_type(in, json_type_object)) {
		out = rpc_answer(in);
	} else {
		out = json_object_new_array();
		for (size_t i = 0; i < json_object_array_length(in); i++)
			json_object_array_add(out, rpc_answer(
				json_object_array_get_idx(in, i)));
	}
	json_object_put(in);
	return send_json(c, rq, 200, out, NULL);
}

/* An MCP server over Streamable HTTP: "tools/call" asked with Accept:
 * text/event-stream is answered as an SSE stream of JSON-RPC messages, a
 * progress notification at once and the result 300 ms later, each stamped
 * (sent_ns) just before it is sent; anything else as one JSON answer. */
static int send_text_chunk(int fd, const char *text, int n, size_t cap)
{
	return n < 0 || (size_t)n >= cap ? -1 : send_chunk(fd, text, (size_t)n);
}

static int mcp_stream(struct conn *c, const struct req *rq, json_object *id)
{
	const char *id_text = id ? json_object_to_json_string(id) : "null";
	char text[512];
	int n;

	if (send_head(c->fd, rq, 200, "text/event-stream",
		      "Cache-Control: no-cache\r\n", -1) < 0)
		return -1;
	n = snprintf(text, sizeof(text),
		     "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":"
		     "\"notifications/progress\",\"params\":{\"progress\":1,"
		     "\"sent_ns\":%llu}}\n\n",
		     (unsigned long long)now_ns());
	if (send_text_chunk(c->fd, text, n, sizeof(text)) < 0 ||
	    wait_until(c->fd, now_ns() + 300000000u) != 0)
		return -1;
	n = snprintf(text, sizeof(text),
		     "event: message\ndata: {\"jsonrpc\":\"2.0\",\"result\":"
		     "{\"content\":[{\"type\":\"text\",\"text\":\"done\"}],"
		     "\"sent_ns\":%llu},\"id\":%s}\n\n",
		     (unsigned long long)now_ns(), id_text);
	if (send_text_chunk(c->fd, text, n, sizeof(text)) < 0)
		return -1;
	return send_chunk(c->fd, "", 0);
}

static int h_mcp(struct conn *c, struct req *rq)
{
	json_object *in = parse_json(rq->body, rq->body_len);
	json_object *m = NULL, *id = NULL;
	const char *accept = req_header(rq, "Accept");
	int rc;

	if (in == NULL || !json_object_is_type(in, json_type_object)) {
		json_object_put(in);
		return send_error(c, rq, 400, "bad json");
	}
	json_object_object_get_ex(in, "method", &m);
	json_object_object_get_ex(in, "id", &id);
	if (accept && strstr(accept, "text/event-stream") && m &&
	    strcmp(json_object_get_string(m), "tools/call") == 0)
		rc = mcp_stream(c, rq, id);
	else
		rc = send_json(c, rq, 200, rpc_answer(in), NULL);
	json_object_put(in);
	return rc;
}

static int h_echo(struct conn *c, struct req *rq)
{
	return send_json(c, rq, 200, req_json(rq),
			 "X-Upstream: test\r\nCache-Control: no-store\r\n");
}

/* ---- MCP lists and pauses (test_mcp_stream) ---- */

static uint32_t next_rand(uint32_t *x);

/* text sent 1-3 bytes a chunk, 1 ms apart, as /sse-exact; past its
 * first 4 KiB (a big answer), in chunks of UP_IO_BLOCK. */
static int send_dribble(int fd, const char *text, size_t total)
{
	uint32_t seed = 0x9e3779b9u;

	for (size_t off = 0, n; off < total; off += n) {
		n = off < 4096 ? 1 + next_rand(&seed) % 3 : UP_IO_BLOCK;
		if (n > total - off)
			n = total - off;
		if (off > 0 && off < 4096)
			sleep_ns(1000000);
		if (send_chunk(fd, text + off, n) != 0)
			return -1;
	}
	return 0;
}

/* The tools/list result (caller frees): TU_MCP_TOOLS, with a 5 MiB tool
 * more (big) or "cacheScope": "shared" (scope). */
static char *mcp_list_result(long long big, long long scope)
{
	size_t pad = big ? (size_t)5 << 20 : 0, n = pad + 256;
	char *out = malloc(n);

	if (out == NULL)
		return NULL;
	snprintf(out, n, "%.*s%s", (int)strlen(TU_MCP_TOOLS) - 2,
		 TU_MCP_TOOLS, big ? ",{\"name\":\"search_pad\","
		 "\"description\":\"" : scope ? "],\"cacheScope\":"
		 "\"shared\"}" : "]}");
	if (big) {
		size_t at = strlen(out);
		memset(out + at, 'x', pad);
		snprintf(out + at + pad, n - at - pad, "\"}]}");
	}
	return out;
}

static int h_mcp_list(struct conn *c, struct req *rq)
{
	json_object *in = parse_json(rq->body, rq->body_len), *m, *id;
	long long sse, big, scope;
	int rc = -1;

	if (in == NULL || !json_object_object_get_ex(in, "method", &m) ||
	    strcmp(json_object_get_string(m), "tools/list") != 0 ||
	    !json_object_object_get_ex(in, "id", &id)) {
		json_object_put(in);
		return h_rpc(c, rq);
	}
	char *result = NULL, *msg = NULL;
	if (query_ll(rq, "sse", 0, 1, 0, &sse) < 0 ||
	    query_ll(rq, "big", 0, 1, 0, &big) < 0 ||
	    query_ll(rq, "scope", 0, 1, 0, &scope) < 0 ||
	    (result = mcp_list_result(big, scope)) == NULL ||
	    asprintf(&msg, "%s{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":"
		     "%s}%s", sse ? TU_MCP_SSE_HEAD : "",
		     json_object_to_json_string_ext(id, UP_JSON_FLAGS), result,
		     sse ? TU_MCP_SSE_TAIL : "") < 0)
		msg = NULL;
	if (msg != NULL && !sse)
		rc = send_resp(c, rq, 200, "application/json",
			       "Cache-Control: max-age=60\r\n", msg,
			       strlen(msg));
	else if (msg != NULL)
		rc = send_head(c->fd, rq, 200, "text/event-stream",
			       "Cache-Control: no-cache\r\n", -1) ||
		     send_dribble(c->fd, msg, strlen(msg)) ||
		     send_chunk(c->fd, NULL, 0) ? -1 : 0;
	else
		rc = send_error(c, rq, 400, "bad query");
	free(result);
	free(msg);
	json_object_put(in);
	return rc;
}

static int h_sse_pause(struct conn *c, struct req *rq)
{
	static const char *const part[] = { TU_SSE_PAUSE_1, TU_SSE_PAUSE_2,
					    TU_SSE_PAUSE_3 };
	long long ms;

	if (query_ll(rq, "ms", 0, 60000, 0, &ms) < 0)
		return send_error(c, rq, 400, "bad query");
	if (send_head(c->fd, rq, 200, "text/event-stream",
		      "Cache-Control: no-cache\r\n", -1) != 0)
		return -1;
	for (int i = 0; i < 3; i++) {
		if ((i > 0 && wait_until(c->fd, now_ns() +
					 (uint64_t)ms * 1000000u) != 0) ||
		    send_chunk(c->fd, part[i], strlen(part[i])) != 0)
			return -1;
	}
	return send_chunk(c->fd, NULL, 0);
}

/* ---- MCP sessions (test_mcp) ---- */

/* An MCP server's session id, as 2025-03-26..2025-11-25 servers hand it
 * out: the client's back, or a fresh one for a request without. */
static int h_mcp_session(struct conn *c, struct req *rq)
{
	const char *sid = req_header(rq, "Mcp-Session-Id");
	char extra[256];

	if (sid == NULL || strlen(sid) > 128 || strpbrk(sid, "\r\n"))
		sid = "up-session-1";
	snprintf(extra, sizeof(extra),
		 "Mcp-Session-Id: %s\r\nCache-Control: no-store\r\n", sid);
	return send_json(c, rq, 200, req_json(rq), extra);
}

/* JSON escapes every control byte, NUL included: the test gets them all. */
static int h_raw(struct conn *c, struct req *rq)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "raw",
			       json_object_new_string_len(rq->raw,
							  (int)rq->raw_len));
	return send_json(c, rq, 200, o, "Cache-Control: no-store\r\n");
}

static int h_status(struct conn *c, struct req *rq)
{
	long long st;
	json_object *o;

	if (parse_ll(rq->path + strlen("/status/"), 200, 599, &st) != 0)
		return send_error(c, rq, 400, "bad status");
	o = json_object_new_object();
	json_object_object_add(o, "status", json_object_new_int((int)st));
	return send_json(c, rq, (int)st, o, NULL);
}

/* Send pattern bytes [0, n), chunked in chunks of `chunk` or plain. */
static int send_pattern(int fd, uint64_t n, size_t chunk, int chunked)
{
	size_t block = chunked ? chunk : UP_IO_BLOCK;
	unsigned char *b = malloc(block);
	uint64_t i = 0;
	int rc = b ? 0 : -1;

	while (rc == 0 && i < n) {
		size_t k = n - i < block ? (size_t)(n - i) : block;

		for (size_t j = 0; j < k; j++)
			b[j] = tu_pattern_byte(i + j);
		rc = chunked ? send_chunk(fd, b, k) : send_all(fd, b, k);
		i += k;
	}
	free(b);
	return rc;
}

static int h_bytes(struct conn *c, struct req *rq)
{
	long long n, chunked, chunk;
	int rc;

	if (query_ll(rq, "n", 0, 1LL << 40, 0, &n) != 0 ||
	    query_ll(rq, "chunked", 0, 1, 0, &chunked) < 0 ||
	    query_ll(rq, "chunk", 1, UP_MAX_CHUNK, UP_DEFAULT_CHUNK,
		     &chunk) < 0)
		return send_error(c, rq, 400, "bad query");
	rc = send_head(c->fd, rq, 200, "application/octet-stream", NULL,
		       chunked ? -1 : n);
	if (rc != 0 || rq->head_only)
		return rc;
	rc = send_pattern(c->fd, (uint64_t)n, (size_t)chunk, (int)chunked);
	if (rc == 0 && chunked)
		rc = send_chunk(c->fd, NULL, 0);
	return rc;
}

/* Wait (bounded) until the peer has acknowledged everything we sent. */
static void drain_output(int fd)
{
	uint64_t deadline = now_ns() + (uint64_t)UP_DRAIN_MS * 1000000u;
	int queued;

	while (ioctl(fd, SIOCOUTQ, &queued) == 0 && queued > 0 &&
	       now_ns() < deadline)
		sleep_ns(1000000);
}

static int h_abort(struct conn *c, struct req *rq)
{
	struct linger lg = { 1, 0 };
	long long n;

	if (query_ll(rq, "after", 0, 1LL << 40, 0, &n) < 0)
		return send_error(c, rq, 400, "bad query");
	if (send_head(c->fd, rq, 200, "application/octet-stream", NULL,
		      -1) == 0 &&
	    send_pattern(c->fd, (uint64_t)n, UP_DEFAULT_CHUNK, 1) == 0)
		drain_output(c->fd);
	setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(c->fd);
	c->fd = -1;
	return -1;
}

/* xorshift32: fixed-seed piece sizes for /sse-exact. */
static uint32_t next_rand(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

static int h_sse_exact(struct conn *c, struct req *rq)
{
	static const char fixture[] = TU_SSE_FIXTURE;
	size_t total = sizeof(fixture) - 1, off = 0;
	uint32_t seed = 0x2545f491u;

	if (send_head(c->fd, rq, 200, "text/event-stream",
		      "Cache-Control: no-cache\r\n", -1) != 0)
		return -1;
	while (off < total) {
		size_t n = 1 + next_rand(&seed) % 3;

		if (n > total - off)
			n = total - off;
		if (off > 0)
			sleep_ns(1000000);
		if (send_chunk(c->fd, fixture + off, n) != 0)
			return -1;
		off += n;
	}
	return send_chunk(c->fd, NULL, 0);
}

/* The head alone, framed as asked: a body-less answer the way real
 * servers write one (HEAD, 204, 304). */
static int h_nobody(struct conn *c, struct req *rq)
{
	long long st, len, chunked;
	char head[512];

	if (query_ll(rq, "status", 200, 599, 200, &st) < 0 ||
	    query_ll(rq, "length", 0, 1LL << 40, -1, &len) < 0 ||
	    query_ll(rq, "chunked", 0, 1, 0, &chunked) < 0)
		return send_error(c, rq, 400, "bad query");
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %lld %s\r\nETag: \"v1\"\r\n", st,
			 reason((int)st));
	if (len >= 0)
		n += snprintf(head + n, sizeof(head) - (size_t)n,
			      "Content-Length: %lld\r\n", len);
	else if (chunked)
		n += snprintf(head + n, sizeof(head) - (size_t)n,
			      "Transfer-Encoding: chunked\r\n");
	n += snprintf(head + n, sizeof(head) - (size_t)n, "%s\r\n",
		      rq->keep_alive ? "" : "Connection: close\r\n");
	return send_all(c->fd, head, (size_t)n);
}

/* A 200 whose head holds about `bytes` bytes of X-Pad-N fields. */
static int h_big_head(struct conn *c, struct req *rq)
{
	long long bytes;

	if (query_ll(rq, "bytes", 0, 1 << 20, 0, &bytes) != 0)
		return send_error(c, rq, 400, "bad query");
	size_t cap = (size_t)bytes + 256, n = 0;
	char *head = malloc(cap);
	if (head == NULL)
		return -1;
	n += (size_t)snprintf(head, cap, "HTTP/1.1 200 OK\r\n");
	for (int i = 0; n + 100 < (size_t)bytes + 20; i++)
		n += (size_t)snprintf(head + n, cap - n, "X-Pad-%d: %.*s\r\n",
				      i, 80, "0123456789012345678901234567890"
				      "123456789012345678901234567890123456"
				      "789012345678901234567890");
	n += (size_t)snprintf(head + n, cap - n,
			      "Content-Length: 3\r\n\r\nok\n");
	int rc = send_all(c->fd, head, n);
	free(head);
	return rc;
}

static int h_slow_headers(struct conn *c, struct req *rq)
{
	long long ms;

	if (query_ll(rq, "ms", 0, 3600000, 0, &ms) < 0)
		return send_error(c, rq, 400, "bad query");
	if (wait_until(c->fd, now_ns() + (uint64_t)ms * 1000000u))
		return -1;
	return send_resp(c, rq, 200, "text/plain", NULL, "late\n", 5);
}

static int h_stats(struct conn *c, struct req *rq)
{
	json_object *o = json_object_new_object();
	long n_open, n_closed;
	unsigned long long reqs;

	pthread_mutex_lock(&streams_lock);
	n_open = open_streams;
	n_closed = closed_streams;
	pthread_mutex_unlock(&streams_lock);
	pthread_mutex_lock(&log_lock);
	reqs = n_requests;
	pthread_mutex_unlock(&log_lock);
	json_object_object_add(o, "open_streams",
			       json_object_new_int64(n_open));
	json_object_object_add(o, "closed_streams",
			       json_object_new_int64(n_closed));
	json_object_object_add(o, "requests",
			       json_object_new_int64((int64_t)reqs));
	return send_json(c, rq, 200, o, NULL);
}

static int h_requests(struct conn *c, struct req *rq)
{
	char *text = log_dump();
	int rc;

	if (text == NULL)
		return send_error(c, rq, 500, "out of memory");
	rc = send_resp(c, rq, 200, "application/json", NULL, text,
		       strlen(text));
	free(text);
	return rc;
}

static int h_reset(struct conn *c, struct req *rq)
{
	log_reset();
	return send_json(c, rq, 200, json_object_new_object(), NULL);
}

/* ---- routing and connections -------------------------------------------- */

typedef int (*handler_fn)(struct conn *c, struct req *rq);

static const struct route {
	const char *method;	/* NULL: any */
	const char *path;
	int prefix;		/* path is a prefix */
	handler_fn fn;
} routes[] = {
	{ "GET", "/api/v1/check", 0, h_check },
	{ "POST", "/api/v1/rpc", 0, h_rpc },
	{ "POST", "/mcp", 0, h_mcp },
	{ "GET", "/api/v1/events", 0, h_events },
	{ NULL, "/echo", 0, h_echo },
	{ NULL, "/echo/", 1, h_echo },
	{ NULL, "/raw", 0, h_raw },
	{ NULL, "/raw/", 1, h_raw },
	{ "GET", "/status/", 1, h_status },
	{ "GET", "/bytes", 0, h_bytes },
	{ "GET", "/sse-exact", 0, h_sse_exact },
	{ "GET", "/abort", 0, h_abort },
	{ "GET", "/slow-headers", 0, h_slow_headers },
	{ NULL, "/nobody", 0, h_nobody },
	{ NULL, "/mcp-session", 0, h_mcp_session },
	{ "POST", "/mcp-list", 0, h_mcp_list },
	{ "GET", "/sse-pause", 0, h_sse_pause },
	{ "GET", "/big-head", 0, h_big_head },
	{ "POST", "/_upstream/broadcast", 0, h_broadcast },
	{ "GET", "/_upstream/stats", 0, h_stats },
	{ "GET", "/_upstream/requests", 0, h_requests },
	{ "POST", "/_upstream/reset", 0, h_reset },
};

static int route_matches(const struct route *r, const struct req *rq)
{
	if (r->method && strcmp(r->method, rq->method) != 0)
		return 0;
	if (r->prefix)
		return strncmp(rq->path, r->path, strlen(r->path)) == 0;
	return strcmp(rq->path, r->path) == 0;
}

/* Answer rq: 0 if the connection may carry another request. */
static int dispatch(struct conn *c, struct req *rq)
{
	if (strncmp(rq->path, "/_upstream/", 11) != 0)
		log_request(rq);
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (route_matches(&routes[i], rq))
			return routes[i].fn(c, rq);
	}
	return send_error(c, rq, 404, "not found");
}

/* Read one request and answer it: 0 to go on, -1 to close. */
static int serve_one(struct conn *c)
{
	struct req rq;
	int rc;

	memset(&rq, 0, sizeof(rq));
	rc = read_head(c, &rq);
	if (rc == 0)
		rc = read_body(c, &rq);
	if (rc > 0) {
		rq.keep_alive = 0;
		rq.head_only = 0;
		send_error(c, &rq, rc, "bad request");
		rc = -1;
	} else if (rc == 0) {
		rc = dispatch(c, &rq);
		if (rc == 0 && !rq.keep_alive)
			rc = -1;
	}
	req_free(&rq);
	return rc;
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;

	while (serve_one(c) == 0)
		;
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	free(c);
	return NULL;
}

static void start_conn(int fd)
{
	struct conn *c = calloc(1, sizeof(*c));
	pthread_attr_t at;
	pthread_t t;
	int rc = -1;

	if (c)
		c->buf = malloc(UP_BUF_INIT);
	if (c && c->buf && pthread_attr_init(&at) == 0) {
		c->fd = fd;
		c->cap = UP_BUF_INIT;
		pthread_attr_setstacksize(&at, UP_STACK_SIZE);
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		rc = pthread_create(&t, &at, conn_main, c);
		pthread_attr_destroy(&at);
	}
	if (rc != 0) {
		close(fd);
		if (c)
			free(c->buf);
		free(c);
	}
}

/* ---- main --------------------------------------------------------------- */

static void on_signal(int sig)
{
	int saved = errno;
	char b = (char)sig;

	if (write(sig_pipe[1], &b, 1) < 0) {
		/* nothing to do: one pending byte is enough */
	}
	errno = saved;
}

static int setup_signals(void)
{
	struct sigaction sa;

	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) != 0 ||
	    sigaction(SIGINT, &sa, NULL) != 0)
		return -1;
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* A listening socket on 127.0.0.1:port; *bound gets the real port. */
static int listen_on(int port, int *bound)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(fd, UP_BACKLOG) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
		close(fd);
		return -1;
	}
	*bound = ntohs(sa.sin_port);
	return fd;
}

static void accept_one(int lfd)
{
	int one = 1;
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOMEM)
			sleep_ns(10000000);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	start_conn(fd);
}

/* Accept until SIGTERM/SIGINT (0) or a failure (-1). */
static int accept_loop(int lfd)
{
	struct pollfd p[2] = {
		{ .fd = lfd, .events = POLLIN },
		{ .fd = sig_pipe[0], .events = POLLIN },
	};

	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			perror("upstream: poll");
			return -1;
		}
		if (p[1].revents)
			return 0;
		if (p[0].revents & POLLIN)
			accept_one(lfd);
	}
}

static int parse_args(int argc, char **argv, int *port)
{
	long long v;
	int ch;

	while ((ch = getopt(argc, argv, "p:")) != -1) {
		if (ch != 'p' || parse_ll(optarg, 0, 65535, &v) != 0) {
			fprintf(stderr, "usage: upstream [-p PORT]\n");
			return -1;
		}
		*port = (int)v;
	}
	if (optind != argc) {
		fprintf(stderr, "usage: upstream [-p PORT]\n");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int port = 0, bound, lfd;

	if (parse_args(argc, argv, &port) != 0)
		return 2;
	raise_nofile();
	if (setup_signals() != 0) {
		perror("upstream: signals");
		return 1;
	}
	lfd = listen_on(port, &bound);
	if (lfd < 0) {
		perror("upstream: listen");
		return 1;
	}
	printf("PORT %d\n", bound);
	fflush(stdout);
	return accept_loop(lfd) == 0 ? 0 : 1;
}
