/* sse_client — the load generator and probe of bench/sse_latency.
 *
 * Opens N Server-Sent-Event streams (GET PATH on 127.0.0.1:PORT), waits
 * until the test upstream (tests/upstream on 127.0.0.1:UPSTREAM_PORT)
 * reports N open streams, optionally measures the CPU time and RSS of some
 * processes while every stream sits idle, then runs K broadcast rounds: one
 * POST /_upstream/broadcast, and the arrival of that event on every stream.
 * The upstream stamps each event with CLOCK_MONOTONIC just before its
 * send() to that stream ("sent_ns"); the client stamps the recv() that
 * brought the event's data line, so a sample is the one-way delivery time of
 * one event to one stream, through whatever sits between. Per round it
 * also notes when the upstream answered the POST (its send loop is over)
 * and when the last stream got the event (the whole fan-out).
 *
 * Libc only; build: cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror. */
#ifdef HAVE_CONFIG_H
#include "config.h"	/* bench/sse_latency builds it alone */
#endif

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h" /* tu_head_end */

#define MAX_PIDS 64
#define HEAD_MAX 16384
#define LINE_MAX_LEN 1024
#define RECV_BLOCK 65536
#define ROUND_TIMEOUT_MS 20000
#define STATS_TIMEOUT_MS 30000
#define CTL_BUF 65536

/* ---- options ------------------------------------------------------------ */

struct opts {
	int port;
	const char *path;
	int upstream_port;
	int streams;
	int events;
	int interval_ms;
	double idle_secs;
	double settle_secs;
	pid_t pids[MAX_PIDS];
	int n_pids;
	const char *label;
	int hold;
};

/* ---- one stream --------------------------------------------------------- */

enum body_mode { BODY_IDENTITY, BODY_CHUNKED };
enum chunk_state { CH_SIZE, CH_EXT, CH_DATA, CH_DATA_CR, CH_DATA_LF,
		   CH_DONE };

struct conn {
	int fd;
	int head_done;
	char *head;                     /* head bytes until head_done */
	size_t head_len;
	enum body_mode mode;
	enum chunk_state cs;
	uint64_t chunk_left;
	int size_digits;
	char line[LINE_MAX_LEN];        /* the SSE line being collected */
	size_t line_len;
	int line_overflow;
	uint64_t last_seq;              /* highest seq seen */
	int dead;
};

static struct opts opt;
static struct conn *conns;
static int64_t *samples;                /* latency in ns */
static size_t n_samples, cap_samples;
static long unexpected_events;          /* seq out of order / duplicate */
static uint64_t cur_round;
static int64_t last_arrival;            /* newest recorded arrival */
/* per round, from sending the POST: its answer, the last stream's event */
static int64_t *round_reply, *round_all;

/* ---- helpers ------------------------------------------------------------ */

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sse_client[%s]: ", opt.label ? opt.label : "?");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static long parse_long(const char *s, const char *what, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		die("bad %s: %s", what, s);
	return v;
}

static void raise_nofile(int need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < (rlim_t)need) {
		struct rlimit want = { (rlim_t)need, (rlim_t)need };

		if (setrlimit(RLIMIT_NOFILE, &want) == 0)  /* root only */
			return;
	}
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		perror("sse_client: setrlimit");
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)need)
		die("RLIMIT_NOFILE %llu is below the %d descriptors needed",
		    (unsigned long long)rl.rlim_cur, need);
}

static int tcp_connect(int port)
{
	struct sockaddr_in sa;
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket: %s", strerror(errno));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		if (errno == EINTR)
			continue;
		die("connect 127.0.0.1:%d: %s", port, strerror(errno));
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			sleep_ms(1);
			continue;
		}
		if (w <= 0)
			die("send: %s", strerror(errno));
		p += w;
		n -= (size_t)w;
	}
}

/* Case-insensitive search of needle in p[0..n). */
static const char *memcasemem(const char *p, size_t n, const char *needle)
{
	size_t k = strlen(needle);

	for (size_t i = 0; i + k <= n; i++)
		if (strncasecmp(p + i, needle, k) == 0)
			return p + i;
	return NULL;
}

/* "HTTP/1.x NNN ..." -> NNN, or -1. */
static int status_of(const char *head, size_t n)
{
	if (n < 12 || strncmp(head, "HTTP/1.", 7) != 0 || head[8] != ' ' ||
	    !isdigit((unsigned char)head[9]) ||
	    !isdigit((unsigned char)head[10]) ||
	    !isdigit((unsigned char)head[11]))
		return -1;
	return (head[9] - '0') * 100 + (head[10] - '0') * 10 + (head[11] - '0');
}

/* Value of header name (NUL-terminated copy into out) in head[0..n). */
static int header_value(const char *head, size_t n, const char *name,
			char *out, size_t outlen)
{
	size_t nl = strlen(name);
	const char *p = memchr(head, '\n', n);

	while (p != NULL && (size_t)(p + 1 - head) < n) {
		const char *line = p + 1;
		size_t left = n - (size_t)(line - head);
		const char *eol = memchr(line, '\n', left);
		size_t len = eol ? (size_t)(eol - line) : left;

		if (len > nl && strncasecmp(line, name, nl) == 0 &&
		    line[nl] == ':') {
			const char *v = line + nl + 1;
			size_t vl = len - nl - 1;

			while (vl > 0 && (*v == ' ' || *v == '\t')) {
				v++;
				vl--;
			}
			while (vl > 0 && (v[vl - 1] == '\r' ||
					  v[vl - 1] == ' ' || v[vl - 1] == '\t'))
				vl--;
			if (vl >= outlen)
				vl = outlen - 1;
			memcpy(out, v, vl);
			out[vl] = '\0';
			return 0;
		}
		p = eol;
	}
	return -1;
}

/* ---- the control connection to the upstream ----------------------------- */

static int ctl_fd = -1;
static char ctl_buf[CTL_BUF];
static size_t ctl_len;
static int64_t ctl_stamp;               /* when ctl_buf last grew */

/* A complete response in ctl_buf: its status and body (NUL-terminated copy
 * in body), consumed from the buffer; 0 if not complete yet. */
static int ctl_take_response(int *status, char *body, size_t bodylen)
{
	size_t he = tu_head_end(ctl_buf, ctl_len);
	char cl[32];
	long long len;

	if (he == 0) {
		if (ctl_len == sizeof(ctl_buf))
			die("upstream response head too large");
		return 0;
	}
	if (header_value(ctl_buf, he, "Content-Length", cl, sizeof(cl)) != 0)
		die("upstream response without Content-Length");
	len = atoll(cl);
	if (len < 0 || (size_t)len > sizeof(ctl_buf) - he)
		die("upstream response body too large");
	if (ctl_len < he + (size_t)len)
		return 0;
	*status = status_of(ctl_buf, he);
	if (body != NULL) {
		size_t k = (size_t)len < bodylen - 1 ? (size_t)len : bodylen - 1;

		memcpy(body, ctl_buf + he, k);
		body[k] = '\0';
	}
	memmove(ctl_buf, ctl_buf + he + len, ctl_len - he - (size_t)len);
	ctl_len -= he + (size_t)len;
	return 1;
}

/* Read what the control socket has (non-blocking); -1 on EOF/error. */
static int ctl_fill(int blocking)
{
	for (;;) {
		ssize_t n;

		if (ctl_len == sizeof(ctl_buf))
			die("upstream response too large");
		n = recv(ctl_fd, ctl_buf + ctl_len, sizeof(ctl_buf) - ctl_len,
			 blocking ? 0 : MSG_DONTWAIT);
		if (n > 0) {
			ctl_len += (size_t)n;
			ctl_stamp = now_ns();
			if (blocking)
				return 0;
			continue;
		}
		if (n == 0)
			return -1;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		return -1;
	}
}

static void ctl_request(const char *method, const char *path)
{
	char req[512];
	int n = snprintf(req, sizeof(req),
			 "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
			 "Content-Length: 0\r\n\r\n",
			 method, path, opt.upstream_port);

	if (ctl_fd < 0)
		ctl_fd = tcp_connect(opt.upstream_port);
	send_all(ctl_fd, req, (size_t)n);
}

/* One blocking request/response on the control connection. */
static void ctl_call(const char *method, const char *path, char *body,
		     size_t bodylen)
{
	int status;

	ctl_request(method, path);
	while (!ctl_take_response(&status, body, bodylen))
		if (ctl_fill(1) < 0)
			die("upstream closed the control connection");
	if (status != 200)
		die("%s %s: status %d", method, path, status);
}

static long json_long(const char *body, const char *key)
{
	char k[64];
	const char *p;

	snprintf(k, sizeof(k), "\"%s\":", key);
	p = strstr(body, k);
	if (p == NULL)
		die("no %s in %s", key, body);
	return strtol(p + strlen(k), NULL, 10);
}

static long open_streams(void)
{
	char body[1024];

	ctl_call("GET", "/_upstream/stats", body, sizeof(body));
	return json_long(body, "open_streams");
}

/* Poll the upstream until it has `want` open streams. */
static void wait_open_streams(long want, const char *why)
{
	int64_t deadline = now_ns() + (int64_t)STATS_TIMEOUT_MS * 1000000;
	long have;

	while ((have = open_streams()) != want) {
		if (now_ns() > deadline)
			die("%s: the upstream has %ld open streams, want %ld",
			    why, have, want);
		sleep_ms(20);
	}
}

/* ---- stream input ------------------------------------------------------- */

static void record(struct conn *c, uint64_t seq, int64_t sent, int64_t got)
{
	if (seq != c->last_seq + 1 || seq > cur_round) {
		unexpected_events++;
		if (seq > c->last_seq)
			c->last_seq = seq;
		return;
	}
	c->last_seq = seq;
	if (n_samples == cap_samples)
		die("more samples than expected");
	samples[n_samples++] = got - sent;
	if (got > last_arrival)
		last_arrival = got;
}

/* One complete SSE line (no terminator). */
static void sse_line(struct conn *c, int64_t t)
{
	const char *p, *q;
	uint64_t seq, sent;

	if (c->line_len < 5 || strncmp(c->line, "data:", 5) != 0)
		return;
	c->line[c->line_len] = '\0';
	p = strstr(c->line, "\"seq\":");
	q = strstr(c->line, "\"sent_ns\":");
	if (p == NULL || q == NULL)
		return;
	seq = strtoull(p + 6, NULL, 10);
	sent = strtoull(q + 10, NULL, 10);
	record(c, seq, (int64_t)sent, t);
}

/* Decoded body bytes. */
static void sse_bytes(struct conn *c, const char *p, size_t n, int64_t t)
{
	for (size_t i = 0; i < n; i++) {
		char ch = p[i];

		if (ch == '\n') {
			if (c->line_len > 0 && c->line[c->line_len - 1] == '\r')
				c->line_len--;
			if (!c->line_overflow)
				sse_line(c, t);
			c->line_len = 0;
			c->line_overflow = 0;
		} else if (c->line_len < sizeof(c->line) - 1) {
			c->line[c->line_len++] = ch;
		} else {
			c->line_overflow = 1;
		}
	}
}

static int hexdigit(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = (char)tolower((unsigned char)ch);
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* Raw body bytes: undo the chunked framing. */
static void body_bytes(struct conn *c, const char *p, size_t n, int64_t t)
{
	size_t i = 0;

	if (c->mode == BODY_IDENTITY) {
		sse_bytes(c, p, n, t);
		return;
	}
	while (i < n) {
		char ch = p[i];

		switch (c->cs) {
		case CH_SIZE:
			if (hexdigit(ch) >= 0) {
				if (++c->size_digits > 15)
					die("chunk size too long");
				c->chunk_left = c->chunk_left * 16 +
						(uint64_t)hexdigit(ch);
				i++;
				break;
			}
			if (c->size_digits == 0)
				die("bad chunk size line (byte 0x%02x)",
				    (unsigned char)ch);
			c->cs = CH_EXT;
			break;
		case CH_EXT:            /* ";ext", spaces, CR: skip to LF */
			if (ch == '\n')
				c->cs = c->chunk_left ? CH_DATA : CH_DONE;
			i++;
			break;
		case CH_DATA: {
			size_t k = n - i;

			if (k > c->chunk_left)
				k = (size_t)c->chunk_left;
			sse_bytes(c, p + i, k, t);
			i += k;
			c->chunk_left -= k;
			if (c->chunk_left == 0)
				c->cs = CH_DATA_CR;
			break;
		}
		case CH_DATA_CR:
			if (ch == '\r') {
				c->cs = CH_DATA_LF;
				i++;
				break;
			}
			c->cs = CH_DATA_LF;     /* a bare LF is tolerated */
			break;
		case CH_DATA_LF:
			if (ch != '\n')
				die("missing CRLF after a chunk");
			i++;
			c->cs = CH_SIZE;
			c->size_digits = 0;
			break;
		case CH_DONE:
			die("the stream ended (last chunk)");
		}
	}
}

/* Head bytes; switches to body mode once the head is complete. */
static void head_bytes(struct conn *c, const char *p, size_t n, int64_t t)
{
	size_t he;
	char te[128];
	int st;

	if (c->head_len + n > HEAD_MAX)
		die("response head too large");
	memcpy(c->head + c->head_len, p, n);
	c->head_len += n;
	he = tu_head_end(c->head, c->head_len);
	if (he == 0)
		return;
	st = status_of(c->head, he);
	if (st != 200) {
		size_t show = he < 200 ? he : 200;

		die("stream answered %d: %.*s", st, (int)show, c->head);
	}
	c->mode = BODY_IDENTITY;
	if (header_value(c->head, he, "Transfer-Encoding", te,
			 sizeof(te)) == 0 && memcasemem(te, strlen(te),
							"chunked"))
		c->mode = BODY_CHUNKED;
	c->head_done = 1;
	if (c->head_len > he)
		body_bytes(c, c->head + he, c->head_len - he, t);
	free(c->head);
	c->head = NULL;
}

/* Read a ready stream socket once; a short read needs no second look. */
static void conn_read(struct conn *c)
{
	static char buf[RECV_BLOCK];

	for (;;) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		int64_t t = now_ns();

		if (n > 0) {
			if (c->head_done)
				body_bytes(c, buf, (size_t)n, t);
			else
				head_bytes(c, buf, (size_t)n, t);
			/* level-triggered epoll reports what is left */
			return;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		die("stream %ld %s", (long)(c - conns),
		    n == 0 ? "closed by the server" : strerror(errno));
	}
}

/* ---- measurements ------------------------------------------------------- */

static unsigned long long cpu_ticks(pid_t pid)
{
	char path[64], buf[4096];
	FILE *f;
	size_t n;
	char *p;
	unsigned long long ut = 0, st = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		die("%s: %s", path, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');      /* comm may hold spaces */
	if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u "
				"%*u %*u %llu %llu", &ut, &st) != 2)
		die("cannot parse %s", path);
	return ut + st;
}

/* A "Key:   N kB" field of /proc/PID/status or smaps_rollup, in KiB. */
static long proc_kib(pid_t pid, const char *file, const char *key)
{
	char path[64], line[256];
	size_t kl = strlen(key);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
			v = strtol(line + kl + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static long proc_threads(pid_t pid)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "Threads:", 8) == 0) {
			v = strtol(line + 8, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* This process's CPU time so far (user + system), in seconds. */
static double self_cpu_secs(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[0..n), in µs. */
static double pct_of(const int64_t *v, size_t n, double p)
{
	size_t rank;

	if (n == 0)
		return 0;
	rank = (size_t)(p / 100.0 * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return (double)v[rank - 1] / 1000.0;
}

static double pct_us(double p)
{
	return pct_of(samples, n_samples, p);
}

/* --hold: the streams stay open while the caller looks at the server (its
 * descriptors, memory, other requests) until our standard input ends; then
 * every stream must still be there (conn_read dies on one the server
 * closed). */
static void hold_streams(void)
{
	char buf[256];

	printf("HOLDING\n");
	fflush(stdout);
	for (;;) {
		ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

		if (n <= 0 && !(n < 0 && errno == EINTR))
			break;
	}
	for (int i = 0; i < opt.streams; i++)
		conn_read(&conns[i]);
}

/* ---- main --------------------------------------------------------------- */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: sse_client --port P --path PATH --upstream-port U "
		"[--streams N]\n"
		"                  [--events K] [--interval-ms I] "
		"[--idle-secs S] [--settle-secs T]\n"
		"                  [--pid PID[,PID...]] [--label L] [--hold]\n"
		"\n"
		"Opens N SSE streams on 127.0.0.1:P (GET PATH), waits until the\n"
		"test upstream on 127.0.0.1:U counts N open streams; with\n"
		"--idle-secs, waits T s (default 1) more and then measures the\n"
		"CPU use (%% of one core) of the --pid processes over S idle\n"
		"seconds and their summed VmRSS; then K rounds of one broadcast\n"
		"event to every stream, I ms apart, each event's latency being\n"
		"its arrival time minus the upstream's send time (sent_ns).\n"
		"With --pid, the CPU time those processes use during the\n"
		"rounds is reported too. The last line of output is\n"
		"\"RESULT key=value ...\". With --hold, it then prints\n"
		"\"HOLDING\" and keeps every stream open until its standard\n"
		"input ends, and fails if the server closed one meanwhile.\n");
}

static void parse_pids(const char *s)
{
	char *copy = strdup(s), *save = NULL;

	if (copy == NULL)
		die("out of memory");
	for (char *t = strtok_r(copy, ",", &save); t != NULL;
	     t = strtok_r(NULL, ",", &save)) {
		if (opt.n_pids == MAX_PIDS)
			die("too many pids");
		opt.pids[opt.n_pids++] = (pid_t)parse_long(t, "pid", 1,
							   INT_MAX);
	}
	free(copy);
}

static void parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "path", required_argument, NULL, 'P' },
		{ "upstream-port", required_argument, NULL, 'u' },
		{ "streams", required_argument, NULL, 'n' },
		{ "events", required_argument, NULL, 'k' },
		{ "interval-ms", required_argument, NULL, 'i' },
		{ "idle-secs", required_argument, NULL, 's' },
		{ "settle-secs", required_argument, NULL, 'S' },
		{ "pid", required_argument, NULL, 'x' },
		{ "label", required_argument, NULL, 'l' },
		{ "hold", no_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;
	char *end;

	opt.path = "/api/v1/events";
	opt.streams = 1;
	opt.events = 100;
	opt.interval_ms = 10;
	opt.label = "run";
	opt.settle_secs = 1;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 'p': opt.port = (int)parse_long(optarg, "port", 1, 65535);
			  break;
		case 'P': opt.path = optarg; break;
		case 'u': opt.upstream_port = (int)parse_long(optarg,
					"upstream port", 1, 65535);
			  break;
		case 'n': opt.streams = (int)parse_long(optarg, "streams", 1,
							1000000);
			  break;
		case 'k': opt.events = (int)parse_long(optarg, "events", 0,
						       10000000);
			  break;
		case 'i': opt.interval_ms = (int)parse_long(optarg,
					"interval", 0, 3600000);
			  break;
		case 's':
			errno = 0;
			opt.idle_secs = strtod(optarg, &end);
			if (errno || end == optarg || *end ||
			    !(opt.idle_secs >= 0) || opt.idle_secs > 86400)
				die("bad idle secs: %s", optarg);
			break;
		case 'S':
			errno = 0;
			opt.settle_secs = strtod(optarg, &end);
			if (errno || end == optarg || *end ||
			    !(opt.settle_secs >= 0) || opt.settle_secs > 3600)
				die("bad settle secs: %s", optarg);
			break;
		case 'x': parse_pids(optarg); break;
		case 'l': opt.label = optarg; break;
		case 'H': opt.hold = 1; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(2);
		}
	}
	if (optind != argc || opt.port == 0 || opt.upstream_port == 0) {
		usage(stderr);
		exit(2);
	}
	if (opt.idle_secs > 0 && opt.n_pids == 0)
		die("--idle-secs needs --pid");
}

static void open_streams_all(int ep)
{
	char req[2048];
	int n = snprintf(req, sizeof(req),
			 "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
			 "Accept: text/event-stream\r\n"
			 "Cache-Control: no-cache\r\n\r\n", opt.path, opt.port);

	if (n < 0 || (size_t)n >= sizeof(req))
		die("path too long");
	for (int i = 0; i < opt.streams; i++) {
		struct conn *c = &conns[i];
		struct epoll_event ev = { .events = EPOLLIN,
					  .data.u32 = (uint32_t)i };

		c->fd = tcp_connect(opt.port);
		c->head = malloc(HEAD_MAX);
		if (c->head == NULL)
			die("out of memory");
		send_all(c->fd, req, (size_t)n);
		if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
			die("epoll_ctl: %s", strerror(errno));
	}
}

/* Read until every stream has its head (and seq up to cur_round) and, if
 * want_ctl, the broadcast answer has come; returns its "sent" count. */
static long pump(int ep, int want_ctl, const char *what, int64_t *reply_at)
{
	static struct epoll_event evs[1024];
	int64_t deadline = now_ns() + (int64_t)ROUND_TIMEOUT_MS * 1000000;
	int pending;
	long sent = -1;
	int i;

	for (;;) {
		pending = 0;
		if (want_ctl && sent < 0) {
			int status;
			char body[256];

			if (ctl_take_response(&status, body, sizeof(body))) {
				if (status != 200)
					die("broadcast: status %d", status);
				sent = json_long(body, "sent");
				if (reply_at != NULL)
					*reply_at = ctl_stamp;
			} else {
				pending++;
			}
		}
		for (i = 0; i < opt.streams; i++)
			if (!conns[i].head_done ||
			    conns[i].last_seq < cur_round) {
				pending++;
				break;
			}
		if (pending == 0)
			return sent;
		if (now_ns() > deadline) {
			long missing = 0;

			for (i = 0; i < opt.streams; i++)
				missing += !conns[i].head_done ||
					   conns[i].last_seq < cur_round;
			die("%s: timed out, %ld of %d streams incomplete%s",
			    what, missing, opt.streams,
			    want_ctl && sent < 0 ? ", no broadcast answer" : "");
		}
		int k = epoll_wait(ep, evs, 1024, 100);

		if (k < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		for (i = 0; i < k; i++) {
			uint32_t id = evs[i].data.u32;

			if (id == UINT32_MAX) {
				if (ctl_fill(0) < 0)
					die("upstream closed the control "
					    "connection");
			} else {
				conn_read(&conns[id]);
			}
		}
	}
}

int main(int argc, char **argv)
{
	int ep;
	double idle_cpu = -1, rss_mib = -1, pss_mib = -1, busy_cpu_ms = -1;
	unsigned long long busy_t0 = 0;
	double self_t0 = 0, self_cpu_ms = -1;
	long threads = -1;
	struct epoll_event cev = { .events = EPOLLIN, .data.u32 = UINT32_MAX };

	setvbuf(stdout, NULL, _IOLBF, 0);
	parse_args(argc, argv);
	raise_nofile(opt.streams + 64);
	conns = calloc((size_t)opt.streams, sizeof(*conns));
	cap_samples = (size_t)opt.streams * (size_t)opt.events;
	samples = malloc((cap_samples ? cap_samples : 1) * sizeof(*samples));
	round_reply = calloc((size_t)opt.events + 1, sizeof(*round_reply));
	round_all = calloc((size_t)opt.events + 1, sizeof(*round_all));
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (conns == NULL || samples == NULL || round_reply == NULL ||
	    round_all == NULL || ep < 0)
		die("out of memory");

	/* a clean start: no streams left over from an earlier run */
	wait_open_streams(0, "before the run");
	open_streams_all(ep);
	pump(ep, 0, "response heads", NULL);
	wait_open_streams(opt.streams, "after opening the streams");

	if (opt.idle_secs > 0) {
		unsigned long long t0 = 0, t1 = 0;
		long hz = sysconf(_SC_CLK_TCK);
		long rss = 0, pss = 0;
		int64_t w0, w1;

		threads = 0;
		/* let the start-up of the streams die down first */
		sleep_ms((long)(opt.settle_secs * 1000));
		for (int i = 0; i < opt.n_pids; i++)
			t0 += cpu_ticks(opt.pids[i]);
		w0 = now_ns();
		sleep_ms((long)(opt.idle_secs * 1000));
		for (int i = 0; i < opt.n_pids; i++)
			t1 += cpu_ticks(opt.pids[i]);
		w1 = now_ns();
		for (int i = 0; i < opt.n_pids; i++) {
			long r = proc_kib(opt.pids[i], "status", "VmRSS");
			long s = proc_kib(opt.pids[i], "smaps_rollup", "Pss");

			if (r < 0)
				die("no VmRSS for pid %d", (int)opt.pids[i]);
			rss += r;
			pss += s > 0 ? s : 0;
			threads += proc_threads(opt.pids[i]);
		}
		idle_cpu = (double)(t1 - t0) / (double)hz /
			   ((double)(w1 - w0) / 1e9) * 100.0;
		rss_mib = (double)rss / 1024.0;
		pss_mib = (double)pss / 1024.0;
		/* every stream must still be there */
		for (int i = 0; i < opt.streams; i++)
			conn_read(&conns[i]);
	}

	if (opt.events > 0 && opt.n_pids > 0)
		for (int i = 0; i < opt.n_pids; i++)
			busy_t0 += cpu_ticks(opt.pids[i]);
	if (opt.events > 0)
		self_t0 = self_cpu_secs();
	if (opt.events > 0) {
		if (ctl_fd < 0)
			ctl_fd = tcp_connect(opt.upstream_port);
		if (epoll_ctl(ep, EPOLL_CTL_ADD, ctl_fd, &cev) != 0)
			die("epoll_ctl: %s", strerror(errno));
	}
	for (int r = 1; r <= opt.events; r++) {
		char what[64];
		long sent;

		int64_t t0, reply_at = 0;

		cur_round = (uint64_t)r;
		t0 = now_ns();
		ctl_request("POST", "/_upstream/broadcast");
		snprintf(what, sizeof(what), "round %d", r);
		sent = pump(ep, 1, what, &reply_at);
		round_reply[r - 1] = reply_at - t0;
		round_all[r - 1] = last_arrival - t0;
		if (sent < opt.streams)
			die("%s: the upstream sent %ld events for %d streams",
			    what, sent, opt.streams);
		if (opt.interval_ms > 0 && r < opt.events)
			sleep_ms(opt.interval_ms);
	}

	if (opt.events > 0)
		self_cpu_ms = (self_cpu_secs() - self_t0) * 1000.0;
	if (opt.events > 0 && opt.n_pids > 0) {
		unsigned long long t1 = 0;

		for (int i = 0; i < opt.n_pids; i++)
			t1 += cpu_ticks(opt.pids[i]);
		busy_cpu_ms = (double)(t1 - busy_t0) * 1000.0 /
			      (double)sysconf(_SC_CLK_TCK);
	}
	qsort(samples, n_samples, sizeof(*samples), cmp_i64);
	qsort(round_reply, (size_t)opt.events, sizeof(*round_reply), cmp_i64);
	qsort(round_all, (size_t)opt.events, sizeof(*round_all), cmp_i64);
	if (unexpected_events > 0)
		fprintf(stderr, "sse_client[%s]: %ld unexpected events\n",
			opt.label, unexpected_events);

	printf("%s: %d streams, %zu samples", opt.label, opt.streams,
	       n_samples);
	if (n_samples > 0)
		printf(", latency p50 %.1f µs, p90 %.1f µs, p99 %.1f µs, "
		       "max %.1f µs; a round (POST to the last stream's event) "
		       "p50 %.1f µs, max %.1f µs", pct_us(50), pct_us(90),
		       pct_us(99), pct_us(100),
		       pct_of(round_all, (size_t)opt.events, 50),
		       pct_of(round_all, (size_t)opt.events, 100));
	if (idle_cpu >= 0)
		printf(", idle CPU %.2f%% of a core, RSS %.1f MiB "
		       "(PSS %.1f MiB, %ld threads)", idle_cpu, rss_mib,
		       pss_mib, threads);
	if (busy_cpu_ms >= 0 && n_samples > 0)
		printf(", CPU during the rounds %.0f ms (%.1f µs per event)",
		       busy_cpu_ms, busy_cpu_ms * 1000.0 / (double)n_samples);
	printf("\n");

	printf("RESULT label=%s streams=%d samples=%zu", opt.label,
	       opt.streams, n_samples);
	if (n_samples > 0)
		printf(" p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f"
		       " round_p50_us=%.1f round_max_us=%.1f"
		       " reply_p50_us=%.1f reply_max_us=%.1f",
		       pct_us(50), pct_us(90), pct_us(99), pct_us(100),
		       pct_of(round_all, (size_t)opt.events, 50),
		       pct_of(round_all, (size_t)opt.events, 100),
		       pct_of(round_reply, (size_t)opt.events, 50),
		       pct_of(round_reply, (size_t)opt.events, 100));
	if (idle_cpu >= 0)
		printf(" idle_cpu_pct=%.2f rss_mib=%.1f pss_mib=%.1f "
		       "threads=%ld", idle_cpu, rss_mib, pss_mib, threads);
	if (busy_cpu_ms >= 0 && n_samples > 0)
		printf(" busy_cpu_ms=%.0f cpu_us_per_event=%.1f", busy_cpu_ms,
		       busy_cpu_ms * 1000.0 / (double)n_samples);
	if (self_cpu_ms >= 0 && n_samples > 0)
		printf(" client_cpu_us_per_event=%.1f",
		       self_cpu_ms * 1000.0 / (double)n_samples);
	printf(" unexpected=%ld\n", unexpected_events);
	if (opt.hold)
		hold_streams();

	for (int i = 0; i < opt.streams; i++)
		close(conns[i].fd);
	if (ctl_fd >= 0)
		close(ctl_fd);
	return unexpected_events > 0 ? 1 : 0;
}
