/* tls_probe — the client of bench/tls: latency through a TLS-terminating
 * proxy (or plain, for the floor), one connection, blocking I/O, GnuTLS.
 *
 * usage: tls_probe sse|rpc|hs --port P --path PATH --upstream-port UP
 *                  [--ca CA.pem] [--n N] [--warmup W] [--interval-ms MS]
 *                  [--priority GNUTLS-PRIORITIES] [--raw FILE]
 *
 *   sse  one SSE stream (GET PATH) held open; N rounds of: POST
 *        /_upstream/broadcast to the upstream (plain, keep-alive) and the
 *        arrival of that event's "sent_ns" on the stream. A sample is the
 *        arrival (CLOCK_MONOTONIC, read when the recv that completed the
 *        stamp returns) minus sent_ns, which bench/upstream.py takes just
 *        before its send(): one-way delivery. MS ms between rounds (10).
 *   rpc  N JSON-RPC calls (POST PATH) one after the other on one keep-alive
 *        connection opened (and handshaken) before the first: round trip,
 *        no handshake in it.
 *   hs   N times: connect, full TLS handshake (no resumption), one JSON-RPC
 *        call, close: the round trip with the handshake.
 * With --ca the connection is TLS (verified against CA.pem, name
 * 127.0.0.1), else plain. The first W samples (N / 10) are a warm-up and
 * not counted. Prints one line:
 *   RESULT n=.. p50_us=.. p90_us=.. p99_us=.. max_us=.. proto=.. cipher=..
 * (proto and cipher "plain" without --ca).
 *
 * Libc and GnuTLS only; build: cc -std=c11 -D_GNU_SOURCE -O2 ... -lgnutls */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE     /* memmem */
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE 65536
#define IO_TIMEOUT_SECS 20
#define RPC_BODY "{\"jsonrpc\":\"2.0\",\"method\":\"send\",\"params\":" \
	"{\"recipient\":[\"+15550002\"],\"message\":\"hello\"},\"id\":1}"

struct io {
	int fd;
	gnutls_session_t tls;   /* NULL: plain */
	char buf[BUF_SIZE + 1];  /* always NUL-terminated at len */
	size_t off, len;        /* unconsumed bytes: buf[off..len) */
	int64_t last_read;      /* CLOCK_MONOTONIC ns after the newest recv */
};

static struct {
	const char *mode, *path, *ca, *priority, *raw;
	int port, up_port, n, warmup, interval_ms;
} opt = { .priority = "NORMAL", .n = 1000, .warmup = -1,
	  .interval_ms = 10 };
static gnutls_certificate_credentials_t creds;
static char proto[64] = "plain", cipher[128] = "plain";

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("tls_probe: ", stderr);
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

static int tcp_connect(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct timeval tv = { IO_TIMEOUT_SECS, 0 };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket: %s", strerror(errno));
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		die("connect 127.0.0.1:%d: %s", port, strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* a stuck proxy ends the run instead of hanging it */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static void io_open(struct io *io, int port, int tls)
{
	int r;

	memset(io, 0, sizeof(*io));
	io->fd = tcp_connect(port);
	if (!tls)
		return;
	if (gnutls_init(&io->tls, GNUTLS_CLIENT) < 0 ||
	    gnutls_priority_set_direct(io->tls, opt.priority, NULL) < 0 ||
	    gnutls_credentials_set(io->tls, GNUTLS_CRD_CERTIFICATE, creds) < 0)
		die("gnutls session set-up failed (priority %s)", opt.priority);
	gnutls_session_set_verify_cert(io->tls, "127.0.0.1", 0);
	gnutls_transport_set_int(io->tls, io->fd);
	do {
		r = gnutls_handshake(io->tls);
	} while (r < 0 && gnutls_error_is_fatal(r) == 0);
	if (r < 0)
		die("TLS handshake with :%d: %s", port, gnutls_strerror(r));
	snprintf(proto, sizeof(proto), "%s", gnutls_protocol_get_name(
			 gnutls_protocol_get_version(io->tls)));
	snprintf(cipher, sizeof(cipher), "%s", gnutls_cipher_get_name(
			 gnutls_cipher_get(io->tls)));
}

static void io_close(struct io *io)
{
	if (io->tls != NULL) {
		gnutls_bye(io->tls, GNUTLS_SHUT_WR);
		gnutls_deinit(io->tls);
	}
	close(io->fd);
}

static void io_write(struct io *io, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = io->tls != NULL ? gnutls_record_send(io->tls, p, n)
					    : send(io->fd, p, n, MSG_NOSIGNAL);

		if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED ||
		    (io->tls == NULL && w < 0 && errno == EINTR))
			continue;
		if (w <= 0)
			die("send: %s", io->tls != NULL ?
			    gnutls_strerror((int)w) : strerror(errno));
		p += w;
		n -= (size_t)w;
	}
}

/* One recv into the buffer (compacted first); stamps last_read. */
static void io_fill(struct io *io)
{
	int64_t t0 = now_ns();
	ssize_t r;

	if (io->off > 0) {
		memmove(io->buf, io->buf + io->off, io->len - io->off);
		io->len -= io->off;
		io->off = 0;
	}
	if (io->len == BUF_SIZE)
		die("a line or head longer than %d bytes", BUF_SIZE);
	for (;;) {
		r = io->tls != NULL ?
			gnutls_record_recv(io->tls, io->buf + io->len,
					   BUF_SIZE - io->len) :
			recv(io->fd, io->buf + io->len, BUF_SIZE - io->len, 0);
		io->last_read = now_ns();
		/* GnuTLS answers AGAIN after a TLS 1.3 post-handshake message
		 * (a session ticket) too: again, until SO_RCVTIMEO's worth */
		if (io->tls != NULL && (r == GNUTLS_E_AGAIN ||
					r == GNUTLS_E_INTERRUPTED) &&
		    io->last_read - t0 < (int64_t)IO_TIMEOUT_SECS * 1000000000)
			continue;
		if (io->tls == NULL && r < 0 && errno == EINTR)
			continue;
		break;
	}
	if (r == 0)
		die("the connection was closed");
	if (r < 0)
		die("recv: %s", io->tls != NULL ? gnutls_strerror((int)r)
						 : strerror(errno));
	io->len += (size_t)r;
	io->buf[io->len] = '\0';
}

/* The offset just past the next "\r\n" from io->off on, reading as
 * needed; the line is buf[off..result-2). */
static size_t io_line(struct io *io)
{
	for (;;) {
		char *p = memmem(io->buf + io->off, io->len - io->off, "\r\n", 2);

		if (p != NULL)
			return (size_t)(p - io->buf) + 2;
		io_fill(io);
	}
}

static void io_need(struct io *io, size_t n)
{
	while (io->len - io->off < n)
		io_fill(io);
}

/* Reads one response head; returns its status, *clen (-1: chunked). */
static int read_head(struct io *io, long *clen)
{
	int status = 0;
	size_t e = io_line(io);

	if (sscanf(io->buf + io->off, "HTTP/1.%*d %d", &status) != 1)
		die("not an HTTP response: %.40s", io->buf + io->off);
	io->off = e;
	*clen = 0;
	for (;;) {
		char *l;

		e = io_line(io);
		l = io->buf + io->off;
		if (e - io->off == 2) {
			io->off = e;
			return status;
		}
		if (strncasecmp(l, "content-length:", 15) == 0)
			*clen = strtol(l + 15, NULL, 10);
		else if (strncasecmp(l, "transfer-encoding:", 18) == 0 &&
			 memmem(l, e - io->off, "chunked", 7) != NULL)
			*clen = -1;
		io->off = e;
	}
}

/* Reads one whole response (Content-Length or chunked); its status. A
 * Content-Length body is left at buf[off - *blen .. off) (*blen 0 when
 * chunked), until the next read. */
static int read_response(struct io *io, size_t *blen)
{
	long clen;
	int status = read_head(io, &clen);

	*blen = 0;
	if (clen >= 0) {
		io_need(io, (size_t)clen);
		io->off += (size_t)clen;
		*blen = (size_t)clen;
		return status;
	}
	for (;;) {
		size_t e = io_line(io);
		unsigned long size = strtoul(io->buf + io->off, NULL, 16);

		io->off = e;
		io_need(io, size + 2);  /* the data and its CRLF; no trailers */
		io->off += size + 2;
		if (size == 0)
			return status;
	}
}

static void request(struct io *io, const char *method, const char *path,
		    const char *body)
{
	char req[1024];
	int n = snprintf(req, sizeof(req),
			 "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			 "Content-Type: application/json\r\n"
			 "Content-Length: %zu\r\n\r\n%s",
			 method, path, strlen(body), body);

	io_write(io, req, (size_t)n);
}

static long upstream_open_streams(struct io *ctl)
{
	const char *k;
	size_t blen;

	request(ctl, "GET", "/_upstream/stats", "");
	if (read_response(ctl, &blen) != 200)
		die("GET /_upstream/stats: not 200");
	k = memmem(ctl->buf + ctl->off - blen, blen, "\"open_streams\":", 15);
	if (k == NULL)
		die("no open_streams in the upstream's stats");
	return strtol(k + 15, NULL, 10);
}

/* The next event's sent_ns on the stream; its arrival in *got. */
static int64_t next_stamp(struct io *s, int64_t *got)
{
	for (;;) {
		char *k = memmem(s->buf + s->off, s->len - s->off,
				 "\"sent_ns\":", 10);
		char *end;
		long long v;

		if (k != NULL) {
			v = strtoll(k + 10, &end, 10);
			if (end < s->buf + s->len) {   /* the number is whole */
				*got = s->last_read;
				s->off = (size_t)(end - s->buf);
				return v;
			}
		} else if (s->len - s->off > 16) {
			s->off = s->len - 16;   /* keep a split key's start */
		}
		io_fill(s);
	}
}

static int64_t *samples;
static int n_samples;

static void sample(int i, int64_t ns)
{
	if (i >= opt.warmup)
		samples[n_samples++] = ns;
}

static void run_sse(void)
{
	struct io *ctl = malloc(sizeof(*ctl)), *s = malloc(sizeof(*s));
	long base, clen;
	size_t blen;
	int64_t deadline = now_ns() + (int64_t)IO_TIMEOUT_SECS * 1000000000;

	if (ctl == NULL || s == NULL)
		die("out of memory");
	io_open(ctl, opt.up_port, 0);
	base = upstream_open_streams(ctl);
	io_open(s, opt.port, opt.ca != NULL);
	request(s, "GET", opt.path, "");
	if (read_head(s, &clen) != 200)
		die("GET %s: not 200", opt.path);
	/* the upstream counts the stream once the proxy has opened it */
	while (upstream_open_streams(ctl) <= base) {
		if (now_ns() > deadline)
			die("the upstream never saw the stream open");
		sleep_ms(10);
	}
	for (int i = 0; i < opt.n + opt.warmup; i++) {
		int64_t sent, got;

		request(ctl, "POST", "/_upstream/broadcast", "");
		sent = next_stamp(s, &got);
		if (read_response(ctl, &blen) != 200)
			die("POST /_upstream/broadcast: not 200");
		sample(i, got - sent);
		sleep_ms(opt.interval_ms);
	}
	io_close(s);
	io_close(ctl);
	free(s);
	free(ctl);
}

static void one_call(struct io *io)
{
	size_t blen;

	request(io, "POST", opt.path, RPC_BODY);
	if (read_response(io, &blen) != 200)
		die("POST %s: not 200", opt.path);
}

static void run_rpc(int handshake)
{
	struct io *io = malloc(sizeof(*io));

	if (io == NULL)
		die("out of memory");
	if (!handshake)
		io_open(io, opt.port, opt.ca != NULL);
	for (int i = 0; i < opt.n + opt.warmup; i++) {
		int64_t t0 = now_ns();

		if (handshake)
			io_open(io, opt.port, opt.ca != NULL);
		one_call(io);
		sample(i, now_ns() - t0);
		if (handshake)
			io_close(io);
	}
	if (!handshake)
		io_close(io);
	free(io);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* nearest rank, in µs */
static double pct(double p)
{
	int k = (int)(p * n_samples + 0.999999) - 1;

	if (k < 0)
		k = 0;
	return samples[k] / 1000.0;
}

static void usage(void)
{
	fputs("usage: tls_probe sse|rpc|hs --port P --path PATH "
	      "--upstream-port UP [--ca CA.pem] [--n N] [--warmup W] "
	      "[--interval-ms MS] [--priority P] [--raw FILE]\n", stderr);
	exit(2);
}

static void parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "port", 1, NULL, 'p' }, { "path", 1, NULL, 'P' },
		{ "upstream-port", 1, NULL, 'u' }, { "ca", 1, NULL, 'c' },
		{ "n", 1, NULL, 'n' }, { "warmup", 1, NULL, 'w' },
		{ "interval-ms", 1, NULL, 'i' }, { "priority", 1, NULL, 'r' },
		{ "raw", 1, NULL, 'R' }, { NULL, 0, NULL, 0 }
	};
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'p': opt.port = atoi(optarg); break;
		case 'P': opt.path = optarg; break;
		case 'u': opt.up_port = atoi(optarg); break;
		case 'c': opt.ca = optarg; break;
		case 'n': opt.n = atoi(optarg); break;
		case 'w': opt.warmup = atoi(optarg); break;
		case 'i': opt.interval_ms = atoi(optarg); break;
		case 'r': opt.priority = optarg; break;
		case 'R': opt.raw = optarg; break;
		default: usage();
		}
	}
	if (optind + 1 != argc || opt.port <= 0 || opt.path == NULL ||
	    opt.n <= 0)
		usage();
	opt.mode = argv[optind];
	if (strcmp(opt.mode, "sse") == 0 && opt.up_port <= 0)
		usage();
	if (opt.warmup < 0)
		opt.warmup = opt.n / 10;
}

int main(int argc, char **argv)
{
	parse_args(argc, argv);
	samples = calloc((size_t)opt.n, sizeof(*samples));
	if (samples == NULL)
		die("out of memory");
	if (opt.ca != NULL) {
		if (gnutls_certificate_allocate_credentials(&creds) < 0 ||
		    gnutls_certificate_set_x509_trust_file(
			    creds, opt.ca, GNUTLS_X509_FMT_PEM) <= 0)
			die("%s: no CA certificate read", opt.ca);
	}
	if (strcmp(opt.mode, "sse") == 0)
		run_sse();
	else if (strcmp(opt.mode, "rpc") == 0 || strcmp(opt.mode, "hs") == 0)
		run_rpc(strcmp(opt.mode, "hs") == 0);
	else
		usage();
	if (opt.raw != NULL) {
		FILE *f = fopen(opt.raw, "w");

		if (f == NULL)
			die("%s: %s", opt.raw, strerror(errno));
		for (int i = 0; i < n_samples; i++)
			fprintf(f, "%.1f\n", samples[i] / 1000.0);
		fclose(f);
	}
	qsort(samples, (size_t)n_samples, sizeof(*samples), cmp_i64);
	printf("RESULT n=%d p50_us=%.0f p90_us=%.0f p99_us=%.0f max_us=%.0f "
	       "proto=%s cipher=%s\n", n_samples, pct(0.50), pct(0.90),
	       pct(0.99), samples[n_samples - 1] / 1000.0, proto, cipher);
	return 0;
}
