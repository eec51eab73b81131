/* testutil — see testutil.h. */
#include "config.h"

#include "testutil.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define TU_FOREVER UINT64_MAX
#define TU_BUF_INIT 65536
#define TU_HEAD_MAX (1024 * 1024)
#define TU_LINE_MAX 8192
#define TU_SSE_MAX (1024 * 1024)
#define TU_HTTP_TIMEOUT_MS 10000
#define TU_HTTP_BODY_MAX ((size_t)1 << 30)

enum { RB_SIZE, RB_DATA, RB_DATA_END, RB_TRAILER, RB_DONE };

/* ---- time --------------------------------------------------------------- */

uint64_t tu_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t deadline_of(int timeout_ms)
{
	if (timeout_ms < 0)
		return TU_FOREVER;
	return tu_now_ns() + (uint64_t)timeout_ms * 1000000u;
}

/* Milliseconds left until deadline for poll(): -1 forever, 0 past. */
static int ms_left(uint64_t deadline)
{
	uint64_t now = tu_now_ns();

	if (deadline == TU_FOREVER)
		return -1;
	if (now >= deadline)
		return 0;
	return (int)((deadline - now + 999999u) / 1000000u);
}

/* Wait until fd is readable: 1 readable, 0 timeout, -1 error. */
static int wait_readable(int fd, uint64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int n = poll(&p, 1, ms_left(deadline));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		return n > 0;
	}
}

void tu_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int tu_wait_until(int (*cond)(void *), void *arg, unsigned ms)
{
	uint64_t deadline = tu_now_ns() + (uint64_t)ms * 1000000u;
	unsigned pause = 1;

	/* first looks quick (most conditions hold at once or nearly), then
	 * every 20 ms: a loaded machine is not polled harder */
	for (;;) {
		if (cond(arg))
			return 0;
		if (tu_now_ns() >= deadline)
			return cond(arg) ? 0 : -1;
		tu_sleep_ms(pause);
		if (pause < 20)
			pause *= 2;
	}
}

/* ---- ports and processes ------------------------------------------------ */

static void loopback(struct sockaddr_in *sa, int port)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

static int spawn_attrs(posix_spawnattr_t *at)
{
	sigset_t all, none;

	sigfillset(&all);
	sigemptyset(&none);
	if (posix_spawnattr_init(at) != 0)
		return -1;
	if (posix_spawnattr_setsigdefault(at, &all) != 0 ||
	    posix_spawnattr_setsigmask(at, &none) != 0 ||
	    posix_spawnattr_setflags(at, POSIX_SPAWN_SETSIGDEF |
				     POSIX_SPAWN_SETSIGMASK) != 0) {
		posix_spawnattr_destroy(at);
		return -1;
	}
	return 0;
}

pid_t tu_spawn(const char *const argv[], int *stdout_fd)
{
	/* posix_spawnp's argv is not const for historical reasons only */
	char *const *args = (char *const *)(uintptr_t)argv;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	int p[2] = { -1, -1 };
	pid_t pid = -1;

	if (stdout_fd && pipe2(p, O_CLOEXEC) != 0)
		return -1;
	if (spawn_attrs(&at) != 0)
		goto fail;
	if (posix_spawn_file_actions_init(&fa) != 0) {
		posix_spawnattr_destroy(&at);
		goto fail;
	}
	if (stdout_fd == NULL ||
	    posix_spawn_file_actions_adddup2(&fa, p[1], STDOUT_FILENO) == 0) {
		if (posix_spawnp(&pid, args[0], &fa, &at, args, environ) != 0)
			pid = -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (pid < 0)
		goto fail;
	if (stdout_fd) {
		close(p[1]);
		*stdout_fd = p[0];
	}
	return pid;
fail:
	if (stdout_fd) {
		close(p[0]);
		close(p[1]);
	}
	return -1;
}

int tu_read_line(int fd, char *buf, size_t len, int timeout_ms)
{
	uint64_t deadline = deadline_of(timeout_ms);
	size_t n = 0;

	if (len == 0)
		return -1;
	for (;;) {
		char ch;
		ssize_t got;

		if (wait_readable(fd, deadline) != 1)
			return -1;
		got = read(fd, &ch, 1);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got <= 0)
			return -1;
		if (ch == '\n')
			break;
		if (n + 1 < len)
			buf[n++] = ch;
	}
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	return (int)n;
}

static int parse_port_line(const char *line)
{
	char *end;
	long v;

	if (strncmp(line, "PORT ", 5) != 0)
		return -1;
	errno = 0;
	v = strtol(line + 5, &end, 10);
	if (errno != 0 || end == line + 5 || *end != '\0' || v < 1 ||
	    v > 65535)
		return -1;
	return (int)v;
}

pid_t tu_spawn_upstream(const char *upstream_path, int *port)
{
	const char *argv[] = { upstream_path, "-p", "0", NULL };
	char line[128];
	int fd = -1;
	int p = -1;
	pid_t pid = tu_spawn(argv, &fd);

	if (pid < 0)
		return -1;
	if (tu_read_line(fd, line, sizeof(line), 10000) >= 0)
		p = parse_port_line(line);
	close(fd);
	if (p < 0) {
		tu_stop(pid);
		return -1;
	}
	*port = p;
	return pid;
}

static int exit_code(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return -1;
}

int tu_stop(pid_t pid)
{
	uint64_t deadline = deadline_of(5000);
	int st;

	if (pid <= 0)
		return -1;
	kill(pid, SIGTERM);
	while (tu_now_ns() < deadline) {
		pid_t w = waitpid(pid, &st, WNOHANG);

		if (w == pid)
			return exit_code(st);
		if (w < 0 && errno != EINTR)
			return -1;
		tu_sleep_ms(5);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return exit_code(st);
}

int tu_wait_port(int port, int timeout_ms)
{
	uint64_t deadline = deadline_of(timeout_ms);

	for (;;) {
		int fd = tu_connect(port);

		if (fd >= 0) {
			close(fd);
			return 0;
		}
		if (tu_now_ns() >= deadline)
			return -1;
		tu_sleep_ms(10);
	}
}

/* ---- client connections ------------------------------------------------- */

int tu_connect(int port)
{
	struct sockaddr_in sa;
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	loopback(&sa, port);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		if (errno != EINTR) {
			close(fd);
			return -1;
		}
	}
	return fd;
}

int tu_send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int tu_send_request(int fd, const char *method, const char *target,
		    const char *extra_headers, const void *body,
		    size_t body_len)
{
	char cl[64] = "", host[32] = "127.0.0.1";
	const char *extra = extra_headers ? extra_headers : "";
	struct sockaddr_in peer;
	socklen_t peer_len = sizeof(peer);
	char *head;
	int n, rc;

	/* the port too, as a browser or curl would send it */
	if (getpeername(fd, (struct sockaddr *)&peer, &peer_len) == 0 &&
	    peer.sin_family == AF_INET)
		snprintf(host, sizeof(host), "127.0.0.1:%u",
			 ntohs(peer.sin_port));
	if (body)
		snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n", body_len);
	n = snprintf(NULL, 0, "%s %s HTTP/1.1\r\nHost: %s\r\n%s%s\r\n",
		     method, target, host, extra, cl);
	if (n < 0)
		return -1;
	head = malloc((size_t)n + 1);
	if (head == NULL)
		return -1;
	snprintf(head, (size_t)n + 1,
		 "%s %s HTTP/1.1\r\nHost: %s\r\n%s%s\r\n",
		 method, target, host, extra, cl);
	rc = tu_send_all(fd, head, (size_t)n);
	free(head);
	if (rc == 0 && body && body_len > 0)
		rc = tu_send_all(fd, body, body_len);
	return rc;
}

/* ---- response buffer ---------------------------------------------------- */

static size_t avail(const struct tu_resp *r)
{
	return r->buf_len - r->buf_off;
}

/* Make room for more input: compact, then grow up to limit. */
static int make_room(struct tu_resp *r, size_t limit)
{
	char *nb;
	size_t cap;

	if (r->buf_off > 0) {
		memmove(r->buf, r->buf + r->buf_off, avail(r));
		r->buf_len -= r->buf_off;
		r->buf_off = 0;
	}
	if (r->buf_len < r->buf_cap)
		return 0;
	if (r->buf_cap >= limit)
		return -1;
	cap = r->buf_cap ? r->buf_cap * 2 : TU_BUF_INIT;
	nb = realloc(r->buf, cap);
	if (nb == NULL)
		return -1;
	r->buf = nb;
	r->buf_cap = cap;
	return 0;
}

/* Read more input: > 0 bytes, 0 EOF, -1 error or timeout, -2 reset. */
static ssize_t fill(struct tu_resp *r, uint64_t deadline, size_t limit)
{
	for (;;) {
		ssize_t n;
		int w;

		if (make_room(r, limit) != 0)
			return -1;
		w = wait_readable(r->fd, deadline);
		if (w != 1)
			return -1;
		n = recv(r->fd, r->buf + r->buf_len, r->buf_cap - r->buf_len,
			 0);
		if (n > 0) {
			r->buf_len += (size_t)n;
			return n;
		}
		if (n == 0)
			return 0;
		if (errno == EINTR || errno == EAGAIN)
			continue;
		return (errno == ECONNRESET || errno == EPIPE) ? -2 : -1;
	}
}

/* Next line (terminator stripped, NUL-terminated in place) or rc of
 * fill() mapped: EOF -> -2. */
static int next_line(struct tu_resp *r, uint64_t deadline, char **line)
{
	for (;;) {
		char *s = r->buf + r->buf_off;
		char *nl = memchr(s, '\n', avail(r));
		ssize_t n;

		if (nl) {
			*nl = '\0';
			if (nl > s && nl[-1] == '\r')
				nl[-1] = '\0';
			r->buf_off += (size_t)(nl - s) + 1;
			*line = s;
			return 0;
		}
		if (avail(r) > TU_LINE_MAX)
			return -1;
		n = fill(r, deadline, TU_BUF_INIT);
		if (n <= 0)
			return n == 0 ? -2 : (int)n;
	}
}

/* ---- response head ------------------------------------------------------ */

static int parse_status(struct tu_resp *r, const char *line)
{
	char *end;
	long v;

	if (strncmp(line, "HTTP/1.", 7) != 0 || line[8] != ' ')
		return -1;
	errno = 0;
	v = strtol(line + 9, &end, 10);
	if (errno != 0 || end != line + 12 || v < 100 || v > 999 ||
	    (*end != ' ' && *end != '\0'))
		return -1;
	r->status = (int)v;
	return 0;
}

static int add_header(struct tu_resp *r, char *line)
{
	char *colon = strchr(line, ':');

	if (colon == NULL || colon == line ||
	    r->n_headers == TU_MAX_HEADERS)
		return -1;
	*colon = '\0';
	r->headers[r->n_headers].name = line;
	r->headers[r->n_headers].value = tu_trim(colon + 1);
	r->n_headers++;
	return 0;
}

/* Split r->head (n bytes, NUL-terminated) into status and headers. */
static int parse_head(struct tu_resp *r, size_t n)
{
	char *p = r->head, *line;
	int first = 1;

	while ((line = tu_head_line(&p, r->head + n)) != NULL) {
		if (first ? parse_status(r, line) : add_header(r, line))
			return -1;
		first = 0;
	}
	return first ? -1 : 0;
}

static int has_token(const char *value, const char *token)
{
	return value && strcasestr(value, token) != NULL;
}

static int set_framing(struct tu_resp *r)
{
	const char *te = tu_header(r, "Transfer-Encoding");
	const char *cl = tu_header(r, "Content-Length");
	char *end;

	r->state = RB_DATA;
	if (r->status == 204 || r->status == 304) {
		r->framing = TU_BODY_NONE;
	} else if (has_token(te, "chunked")) {
		r->framing = TU_BODY_CHUNKED;
		r->state = RB_SIZE;
	} else if (cl) {
		errno = 0;
		r->content_length = strtoull(cl, &end, 10);
		if (errno != 0 || end == cl || *end != '\0' || *cl == '-')
			return -1;
		r->framing = TU_BODY_LENGTH;
		r->left = r->content_length;
	} else {
		r->framing = TU_BODY_CLOSE;
	}
	return 0;
}

/* Read one head (interim or final) into r->head. */
static int read_one_head(struct tu_resp *r, uint64_t deadline)
{
	size_t end;

	while ((end = tu_head_end(r->buf + r->buf_off, avail(r))) == 0) {
		if (fill(r, deadline, TU_HEAD_MAX) <= 0)
			return -1;
	}
	free(r->head);
	r->head = malloc(end + 1);
	if (r->head == NULL)
		return -1;
	memcpy(r->head, r->buf + r->buf_off, end);
	r->head[end] = '\0';
	r->buf_off += end;
	r->n_headers = 0;
	return parse_head(r, end);
}

int tu_read_head(struct tu_resp *r, int fd, int timeout_ms)
{
	uint64_t deadline = deadline_of(timeout_ms);

	memset(r, 0, sizeof(*r));
	r->fd = fd;
	do {
		if (read_one_head(r, deadline) != 0)
			goto fail;
	} while (r->status >= 100 && r->status < 200 && r->status != 101);
	if (set_framing(r) != 0)
		goto fail;
	return 0;
fail:
	tu_resp_free(r);
	return -1;
}

const char *tu_header(const struct tu_resp *r, const char *name)
{
	for (size_t i = 0; i < r->n_headers; i++) {
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	}
	return NULL;
}

void tu_resp_free(struct tu_resp *r)
{
	free(r->head);
	free(r->buf);
	free(r->sse);
	memset(r, 0, sizeof(*r));
	r->fd = -1;
}

/* ---- response body ------------------------------------------------------ */

/* Copy up to want buffered bytes out; 0 if none buffered. */
static size_t take(struct tu_resp *r, void *buf, size_t want)
{
	size_t n = avail(r) < want ? avail(r) : want;

	memcpy(buf, r->buf + r->buf_off, n);
	r->buf_off += n;
	return n;
}

static ssize_t body_length(struct tu_resp *r, void *buf, size_t max,
			   uint64_t deadline)
{
	ssize_t n;

	if (r->left == 0) {
		r->state = RB_DONE;
		return 0;
	}
	if (avail(r) == 0) {
		n = fill(r, deadline, TU_BUF_INIT);
		if (n <= 0)
			return n == 0 ? -2 : n;
	}
	n = (ssize_t)take(r, buf, r->left < max ? (size_t)r->left : max);
	r->left -= (uint64_t)n;
	return n;
}

static ssize_t body_close(struct tu_resp *r, void *buf, size_t max,
			  uint64_t deadline)
{
	ssize_t n;

	if (avail(r) == 0) {
		n = fill(r, deadline, TU_BUF_INIT);
		if (n == 0)
			r->state = RB_DONE;
		if (n <= 0)
			return n;
	}
	return (ssize_t)take(r, buf, max);
}

static int chunk_size(struct tu_resp *r, const char *line)
{
	char *end;

	if (!isxdigit((unsigned char)*line))
		return -1;
	errno = 0;
	r->left = strtoull(line, &end, 16);
	while (*end == ' ' || *end == '\t')
		end++;
	if (errno != 0 || (*end != '\0' && *end != ';'))
		return -1;
	r->state = r->left ? RB_DATA : RB_TRAILER;
	return 0;
}

/* One step of the chunked framing that consumes no body data. */
static int chunk_meta(struct tu_resp *r, uint64_t deadline)
{
	char *line = NULL;
	int rc = next_line(r, deadline, &line);

	if (rc != 0)
		return rc;
	if (r->state == RB_SIZE)
		return chunk_size(r, line);
	if (r->state == RB_DATA_END) {
		r->state = RB_SIZE;
		return *line == '\0' ? 0 : -1;
	}
	if (*line == '\0')
		r->state = RB_DONE;
	return 0;
}

static ssize_t body_chunked(struct tu_resp *r, void *buf, size_t max,
			    uint64_t deadline)
{
	for (;;) {
		ssize_t n;

		if (r->state == RB_DONE)
			return 0;
		if (r->state != RB_DATA) {
			n = chunk_meta(r, deadline);
			if (n != 0)
				return n;
			continue;
		}
		if (avail(r) == 0) {
			n = fill(r, deadline, TU_BUF_INIT);
			if (n <= 0)
				return n == 0 ? -2 : n;
		}
		if (r->left < max)
			max = (size_t)r->left;
		n = (ssize_t)take(r, buf, max);
		r->left -= (uint64_t)n;
		if (r->left == 0)
			r->state = RB_DATA_END;
		return n;
	}
}

ssize_t tu_read_body(struct tu_resp *r, void *buf, size_t max,
		     int timeout_ms)
{
	uint64_t deadline = deadline_of(timeout_ms);

	if (max == 0 || r->fd < 0)
		return -1;
	if (r->state == RB_DONE)
		return 0;
	switch (r->framing) {
	case TU_BODY_NONE:
		r->state = RB_DONE;
		return 0;
	case TU_BODY_LENGTH:
		return body_length(r, buf, max, deadline);
	case TU_BODY_CHUNKED:
		return body_chunked(r, buf, max, deadline);
	case TU_BODY_CLOSE:
		return body_close(r, buf, max, deadline);
	}
	return -1;
}

/* ---- one whole exchange ------------------------------------------------- */

/* Append the rest of r's body to a new NUL-terminated buffer. */
static int read_all(struct tu_resp *r, uint64_t deadline, char **out,
		    size_t *out_len)
{
	size_t len = 0, cap = 4096;
	char *b = malloc(cap);

	while (b) {
		ssize_t n;

		if (cap - len < 2) {
			char *nb = cap < TU_HTTP_BODY_MAX ?
				   realloc(b, cap * 2) : NULL;

			if (nb == NULL)
				break;
			b = nb;
			cap *= 2;
		}
		n = tu_read_body(r, b + len, cap - len - 1, ms_left(deadline));
		if (n < 0)
			break;
		if (n == 0) {
			b[len] = '\0';
			*out = b;
			*out_len = len;
			return 0;
		}
		len += (size_t)n;
	}
	free(b);
	return -1;
}

static int exchange(int fd, const char *method, const char *target,
		    const char *extra, const char *body, int *status,
		    char **rb, size_t *rl)
{
	uint64_t deadline = deadline_of(TU_HTTP_TIMEOUT_MS);
	struct tu_resp r;
	int rc;

	if (tu_send_request(fd, method, target, extra, body,
			    body ? strlen(body) : 0) != 0)
		return -1;
	if (tu_read_head(&r, fd, ms_left(deadline)) != 0)
		return -1;
	if (strcmp(method, "HEAD") == 0)
		r.framing = TU_BODY_NONE;
	*status = r.status;
	rc = read_all(&r, deadline, rb, rl);
	tu_resp_free(&r);
	return rc;
}

int tu_http(int port, const char *method, const char *target,
	    const char *extra_headers, const char *body, int *status,
	    char **resp_body, size_t *resp_len)
{
	int fd = tu_connect(port);
	int st = 0;
	char *rb = NULL;
	size_t rl = 0;
	int rc;

	if (resp_body)
		*resp_body = NULL;
	if (fd < 0)
		return -1;
	rc = exchange(fd, method, target, extra_headers, body, &st, &rb, &rl);
	close(fd);
	if (rc != 0)
		return -1;
	if (status)
		*status = st;
	if (resp_len)
		*resp_len = rl;
	if (resp_body)
		*resp_body = rb;
	else
		free(rb);
	return 0;
}

/* ---- SSE ---------------------------------------------------------------- */

/* Length of the line at p and of its terminator; -1 if not complete (a
 * trailing CR might still be followed by LF). */
static int sse_line(const char *p, size_t n, size_t *ll, size_t *tl)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n' || p[i] == '\r') {
			if (p[i] == '\r' && i + 1 == n)
				return -1;
			*ll = i;
			*tl = (p[i] == '\r' && p[i + 1] == '\n') ? 2 : 1;
			return 0;
		}
	}
	return -1;
}

/* Append bytes to data[0..len), truncating; *out is the used length. */
static void put(char *data, size_t len, size_t *out, const char *s,
		size_t n)
{
	size_t room = len - 1 - *out;

	if (n > room)
		n = room;
	memcpy(data + *out, s, n);
	*out += n;
}

/* Add the value of a data: line to data; 1 if it was a data: line. */
static int sse_field(const char *line, size_t ll, char *data, size_t len,
		     size_t *out, int has_data)
{
	const char *v;

	if (ll < 4 || memcmp(line, "data", 4) != 0 ||
	    (ll > 4 && line[4] != ':'))
		return 0;
	v = ll > 4 ? line + 5 : line + 4;
	if (v < line + ll && *v == ' ')
		v++;
	if (has_data)
		put(data, len, out, "\n", 1);
	put(data, len, out, v, (size_t)(line + ll - v));
	return 1;
}

static void sse_consume(struct tu_resp *r, size_t n)
{
	memmove(r->sse, r->sse + n, r->sse_len - n);
	r->sse_len -= n;
}

/* Dispatch the first complete event with data from r->sse: 0, or -1 when
 * more text is needed. */
static int sse_take(struct tu_resp *r, char *data, size_t len)
{
	size_t pos = 0, out = 0, ll, tl;
	int has_data = 0;

	while (sse_line(r->sse + pos, r->sse_len - pos, &ll, &tl) == 0) {
		const char *line = r->sse + pos;

		pos += ll + tl;
		if (ll > 0) {
			has_data |= sse_field(line, ll, data, len, &out,
					      has_data);
			continue;
		}
		sse_consume(r, pos);
		pos = 0;
		if (has_data) {
			data[out] = '\0';
			return 0;
		}
		out = 0;
	}
	return -1;
}

int tu_sse_next_event(struct tu_resp *r, char *data, size_t len,
		      int timeout_ms)
{
	uint64_t deadline = deadline_of(timeout_ms);

	if (len == 0)
		return -1;
	while (sse_take(r, data, len) != 0) {
		ssize_t n;

		if (r->sse_cap - r->sse_len < 1024) {
			size_t cap = r->sse_cap ? r->sse_cap * 2 : 16384;
			char *nb = cap <= TU_SSE_MAX ? realloc(r->sse, cap)
						     : NULL;

			if (nb == NULL)
				return -1;
			r->sse = nb;
			r->sse_cap = cap;
		}
		n = tu_read_body(r, r->sse + r->sse_len,
				 r->sse_cap - r->sse_len, ms_left(deadline));
		if (n <= 0)
			return -1;
		r->sse_len += (size_t)n;
	}
	return 0;
}

int tu_open_stream(int port, const char *target, struct tu_resp *r)
{
	int fd = tu_connect(port);

	if (fd < 0)
		return -1;
	if (tu_send_request(fd, "GET", target, "Accept: text/event-stream\r\n",
			    NULL, 0) < 0 ||
	    tu_read_head(r, fd, 10000) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int tu_rpc(int port, const char *tool, const char *method)
{
	char body[256], target[128];
	int status = -1;

	snprintf(body, sizeof(body),
		 "{\"jsonrpc\":\"2.0\",\"method\":\"%s\",\"id\":1}", method);
	snprintf(target, sizeof(target), "/tools/%s/api/v1/rpc", tool);
	if (tu_http(port, "POST", target, "Content-Type: application/json\r\n",
		    body, &status, NULL, NULL) < 0) {
		fprintf(stderr, "  POST %s (%s) to port %d failed: %s\n",
			target, method, port, strerror(errno));
		return -1;
	}
	return status;
}

/* ---- /proc -------------------------------------------------------------- */

/* The number after "key:" in /proc/PID/status, or -1. */
static long status_field(pid_t pid, const char *key)
{
	char path[64], line[256];
	size_t kl = strlen(key);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *end;

		if (strncmp(line, key, kl) != 0 || line[kl] != ':')
			continue;
		errno = 0;
		v = strtol(line + kl + 1, &end, 10);
		if (errno != 0 || end == line + kl + 1)
			v = -1;
		break;
	}
	fclose(f);
	return v;
}

int tu_proc_threads(pid_t pid)
{
	return (int)status_field(pid, "Threads");
}

long tu_proc_rss_kb(pid_t pid)
{
	return status_field(pid, "VmRSS");
}

long tu_proc_hwm_kb(pid_t pid)
{
	return status_field(pid, "VmHWM");
}

int tu_proc_fds(pid_t pid)
{
	char path[64];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
	d = opendir(path);
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.')
			n++;
	}
	closedir(d);
	return n;
}

/* Whether socket inode ino is one of pid's descriptors. */
static int holds_socket(pid_t pid, unsigned long ino)
{
	char path[64], link[64], want[48];
	struct dirent *de;
	int found = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%ld/fd", (long)pid);
	snprintf(want, sizeof(want), "socket:[%lu]", ino);
	if ((d = opendir(path)) == NULL)
		return 0;
	while (!found && (de = readdir(d)) != NULL) {
		char fd_path[64 + 256];
		ssize_t n;
		snprintf(fd_path, sizeof(fd_path), "%s/%s", path, de->d_name);
		n = readlink(fd_path, link, sizeof(link) - 1);
		found = n > 0 && (link[n] = '\0', strcmp(link, want) == 0);
	}
	closedir(d);
	return found;
}

int tu_proc_tcp(pid_t pid, int local_port, int remote_port)
{
	char path[64], line[512];
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/net/tcp", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned lp, rp, st;
		unsigned long ino;
		/* sl local:port remote:port st queues tr retrnsmt uid timeout
		 * inode */
		if (sscanf(line, " %*d: %*x:%x %*x:%x %x %*x:%*x %*x:%*x %*x "
			   "%*u %*u %lu", &lp, &rp, &st, &ino) != 4 ||
		    st == 0x0a /* LISTEN */ || ino == 0)
			continue;
		if ((local_port == 0 || (int)lp == local_port) &&
		    (remote_port == 0 || (int)rp == remote_port) &&
		    holds_socket(pid, ino))
			n++;
	}
	fclose(f);
	return n;
}

int tu_processes(const char *argv0, const char *a, const char *b)
{
	char want[600];
	int len = snprintf(want, sizeof(want), "%s%c%s%c%s%c", argv0, 0, a,
			   0, b, 0);
	int n = 0;
	DIR *d = opendir("/proc");

	for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
		char file[300], buf[600];
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(file, sizeof(file), "/proc/%s/cmdline", e->d_name);
		FILE *f = fopen(file, "r");
		size_t k = f ? fread(buf, 1, sizeof(buf), f) : 0;
		if (f)
			fclose(f);
		n += k >= (size_t)len && memcmp(buf, want, (size_t)len) == 0;
	}
	if (d)
		closedir(d);
	return n;
}

/* Fields 14 and 15 (utime, stime) of /proc/PID/stat, in clock ticks. */
static int stat_times(const char *text, unsigned long long *ticks)
{
	const char *p = strrchr(text, ')');
	char *end;

	if (p == NULL)
		return -1;
	p++;
	*ticks = 0;
	for (int field = 3; field <= 15; field++) {
		unsigned long long v;

		while (*p == ' ')
			p++;
		if (field == 3) {	/* state: a letter */
			p++;
			continue;
		}
		errno = 0;
		v = strtoull(p, &end, 10);
		if (errno != 0 || end == p)
			return -1;
		if (field >= 14)
			*ticks += v;
		p = end;
	}
	return 0;
}

double tu_proc_cpu_secs(pid_t pid)
{
	char path[64], text[1024];
	unsigned long long ticks;
	long hz = sysconf(_SC_CLK_TCK);
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return -1;
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	if (hz <= 0 || stat_times(text, &ticks) != 0)
		return -1;
	return (double)ticks / (double)hz;
}

/* ---- files -------------------------------------------------------------- */

int tu_write_file(const char *path, const char *text)
{
	size_t n = strlen(text);
	FILE *f = fopen(path, "we");
	int rc = 0;

	if (f == NULL)
		return -1;
	if (fwrite(text, 1, n, f) != n)
		rc = -1;
	if (fclose(f) != 0)
		rc = -1;
	return rc;
}

/* ---- a test program's own safety ---------------------------------------- */

static const char *watch_name = "test";
static pid_t *const *watch_pids;
static size_t watch_n;

static void on_fatal(int sig)
{
	static const char msg[] = ": fatal signal or watchdog; stopping "
				  "children\n";

	for (size_t i = 0; i < watch_n; i++)
		if (*watch_pids[i] > 0)
			kill(*watch_pids[i], SIGKILL);
	if (write(2, watch_name, strlen(watch_name)) < 0 ||
	    write(2, msg, sizeof(msg) - 1) < 0)
		sig = 1;
	_exit(128 + sig);
}

void tu_watchdog(const char *name, unsigned secs, pid_t *const *pids,
		 size_t n)
{
	int sigs[] = { SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGALRM, SIGTERM,
		       SIGINT };

	watch_name = name;
	watch_pids = pids;
	watch_n = n;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], on_fatal);
	alarm(secs);
}

void tu_prepare_process(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
}

int tu_remove_tree(const char *dir)
{
	char cmd[1200];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) == 0)
		return 0;
	fprintf(stderr, "cannot remove %s\n", dir);
	return -1;
}
