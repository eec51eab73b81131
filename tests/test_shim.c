/* test_shim — the real carapace-shim against a small HTTP server of the
 * test's own on 127.0.0.1 (port 0): how it reads the gateway's SSE answer
 * (the standard's syntax, events cut anywhere between TCP writes) and
 * that output it cannot hold or read ends it loudly, never silently cut.
 *
 * The server is this process: it accepts the shim's one connection,
 * reads the request and writes a canned answer piece by piece. A piece
 * may wait for the shim to have printed what the earlier pieces hold,
 * so the next one reaches it in a read of its own. SHIM (set by make
 * check) is the binary. */
#include "config.h"

#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cu_run.h"
#include "testutil.h"

#define MS 1000000ull
#define DEADLINE_MS 20000
#define SHIM_MAX_EVENT (64u << 20) /* the shim's bound: MAX_EVENT */

static const char head_200[] = "HTTP/1.1 200 OK\r\n"
			       "Content-Type: text/event-stream\r\n"
			       "Connection: close\r\n\r\n";

/* One shim run: its pid, the ends of its stdout and stderr, what they
 * held so far. */
struct run {
	pid_t pid;
	int out_fd, err_fd;
	char out[4096], err[4096];
	size_t out_len, err_len;
	int status;             /* its exit status once reaped, else -1 */
};

/* A loopback listener on a port the kernel picks. */
static int listen_any(int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(fd, 4) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

/* "NAME=value" settings for the next shim runs (NULL ends), after the
 * defaults; a test sets and clears it. */
static const char *const *extra_env;

/* Limits the memory of this process, about to exec the shim, to vm bytes
 * of address space. Under AddressSanitizer (make check-asan) an address
 * space limit cannot be had: ASan reserves terabytes of it for its shadow
 * at start, and fails to under any such cap. There the limit is on what
 * the shim can allocate instead: no block of more than vm / 4 (the
 * address space of half as much again as the shim runs in cannot hold a
 * block larger either), and malloc returning NULL beyond it rather than
 * ending the process, as malloc does under a real cap. ASan warns of each
 * such NULL: to the shim's stderr, which the test reads, rather than to
 * make check-asan's reports (log_path), where it would count as one; an
 * error report (abort_on_error) would still end the shim by SIGABRT,
 * which the test sees in its exit status. */
static int limit_memory(rlim_t vm)
{
	struct rlimit as = { vm, vm };
	char opts[1024];
	const char *o = getenv("ASAN_OPTIONS");

	if (!TU_ASAN)
		return setrlimit(RLIMIT_AS, &as);
	snprintf(opts, sizeof(opts),
		 "%s:allocator_may_return_null=1:max_allocation_size_mb=%lu"
		 ":log_path=stderr",
		 o ? o : "", (unsigned long)(vm >> 20) / 4);
	return setenv("ASAN_OPTIONS", opts, 1);
}

/* `carapace-shim ct ARGS` with CARAPACE_URL at port, stdin /dev/null;
 * its memory limited to vm bytes unless vm is 0 (limit_memory()). */
static int start_shim(struct run *r, int port, rlim_t vm)
{
	int out[2], err[2];
	char url[64];

	memset(r, 0, sizeof(*r));
	r->status = -1;
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
		return -1;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
	r->pid = fork();
	if (r->pid == 0) {
		int in = open("/dev/null", O_RDONLY);
		if (in < 0 || dup2(in, 0) < 0 || dup2(out[1], 1) < 0 ||
		    dup2(err[1], 2) < 0 || (vm && limit_memory(vm)))
			_exit(99);
		signal(SIGPIPE, SIG_DFL); /* ignored here: not for the shim */
		setenv("CARAPACE_URL", url, 1);
		unsetenv("CARAPACE_TOKEN");
		unsetenv("CARAPACE_SEND_CWD");
		unsetenv("CARAPACE_CA");
		setenv("CARAPACE_SHIM_CONF", "/nonexistent", 1);
		for (size_t i = 0; extra_env && extra_env[i]; i++)
			putenv(strdup(extra_env[i]));
		execl(getenv("SHIM"), "carapace-shim", "ct", "hello", NULL);
		_exit(98);
	}
	close(out[1]);
	close(err[1]);
	r->out_fd = out[0];
	r->err_fd = err[0];
	return r->pid > 0 ? 0 : -1;
}

/* Reads what the shim wrote to fd (non-blocking after poll said so). */
static void drain(int *fd, char *buf, size_t *len, size_t size)
{
	char scratch[65536];
	size_t room = size - 1 - *len;
	ssize_t n = read(*fd, room ? buf + *len : scratch,
			 room ? room : sizeof(scratch));

	if (n <= 0) {
		close(*fd);
		*fd = -1;
		return;
	}
	if (room) {
		*len += (size_t)n;
		buf[*len] = '\0';
	}
}

/* Waits until the shim's stdout holds want, or both its pipes end;
 * 0 when it holds want. want NULL: until both end. */
static int await_output(struct run *r, const char *want)
{
	uint64_t until = tu_now_ns() + DEADLINE_MS * MS;

	for (;;) {
		if (want && strstr(r->out, want) != NULL)
			return 0;
		if ((r->out_fd < 0 && r->err_fd < 0) || tu_now_ns() > until)
			return want ? -1 : 0;
		struct pollfd p[2] = { { r->out_fd, POLLIN, 0 },
				       { r->err_fd, POLLIN, 0 } };
		if (poll(p, 2, 100) <= 0)
			continue;
		if (p[0].revents)
			drain(&r->out_fd, r->out, &r->out_len,
			      sizeof(r->out));
		if (p[1].revents)
			drain(&r->err_fd, r->err, &r->err_len,
			      sizeof(r->err));
	}
}

/* Its exit status (128 + N for a signal), once its pipes ended. */
static int finish_shim(struct run *r)
{
	uint64_t until = tu_now_ns() + DEADLINE_MS * MS;
	int st;

	await_output(r, NULL);
	for (;;) {
		pid_t w = waitpid(r->pid, &st, WNOHANG);
		if (w == r->pid)
			break;
		if (w < 0 || tu_now_ns() > until) {
			kill(r->pid, SIGKILL);
			waitpid(r->pid, &st, 0);
			break;
		}
		poll(NULL, 0, 10);
	}
	if (r->out_fd >= 0)
		close(r->out_fd);
	if (r->err_fd >= 0)
		close(r->err_fd);
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	return r->status;
}

/* The head of the last request take_request read. */
static char last_head[8192];

/* Accepts the shim's connection and reads its request to the end of
 * the body; returns the connection, the request line in line. */
static int take_request(int lfd, char *line, size_t size)
{
	struct pollfd p = { lfd, POLLIN, 0 };
	char buf[65536];
	size_t n = 0, head;

	if (poll(&p, 1, DEADLINE_MS) != 1)
		return -1;
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	while (fd >= 0 && (head = tu_head_end(buf, n)) == 0) {
		ssize_t k = n < sizeof(buf) ? recv(fd, buf + n,
						   sizeof(buf) - n, 0) : -1;
		if (k <= 0) {
			close(fd);
			return -1;
		}
		n += (size_t)k;
	}
	if (fd < 0)
		return -1;
	snprintf(line, size, "%.*s", (int)strcspn(buf, "\r\n"), buf);
	snprintf(last_head, sizeof(last_head), "%.*s", (int)head, buf);
	const char *cl = strcasestr(buf, "\r\nContent-Length:");
	size_t body = cl && cl < buf + head ? strtoul(cl + 17, NULL, 10) : 0;
	while (n < head + body) {
		ssize_t k = recv(fd, buf, sizeof(buf), 0);
		if (k <= 0)
			break;
		n += (size_t)k;
	}
	return fd;
}

/* A piece of the answer, and what the shim must have printed once it
 * has read it (NULL: nothing to wait for). */
struct piece {
	const char *bytes;
	const char *await;
};

/* Serves head and the pieces to one shim run and reaps it. */
static void serve(struct run *r, const struct piece *pieces, size_t n)
{
	char line[256];
	int port, lfd = listen_any(&port);

	CU_ASSERT_FATAL(lfd >= 0);
	CU_ASSERT_FATAL(start_shim(r, port, 0) == 0);
	int fd = take_request(lfd, line, sizeof(line));
	CU_ASSERT(fd >= 0);
	CU_ASSERT_STRING_EQUAL(line, "POST /tools/ct HTTP/1.1");
	if (fd >= 0 && tu_send_all(fd, head_200, strlen(head_200)) == 0) {
		for (size_t i = 0; i < n; i++) {
			CU_ASSERT(tu_send_all(fd, pieces[i].bytes,
					      strlen(pieces[i].bytes)) == 0);
			if (pieces[i].await)
				CU_ASSERT(await_output(r, pieces[i].await) ==
					  0);
		}
	}
	if (fd >= 0)
		close(fd);
	close(lfd);
	finish_shim(r);
}

/* (a) "data:x" is x: the space after the colon is optional. */
static void test_no_space(void)
{
	static const struct piece answer[] = {
		{ "event:stdout\ndata:{\"data\":\"x\"}\n\n"
		  "event:stderr\ndata:{\"data\":\"e\"}\n\n"
		  "event:exit\ndata:{\"exit_code\":3}\n\n", NULL },
	};
	struct run r;

	serve(&r, answer, 1);
	CU_ASSERT_EQUAL(r.status, 3);
	CU_ASSERT_STRING_EQUAL(r.out, "x");
	CU_ASSERT_STRING_EQUAL(r.err, "e");
}

/* (b) Pieces cut inside a field name ("ev|ent") and between CR and LF,
 * after a data line (the LF must not end the event) and after the blank
 * line; an event's data in two data: lines is joined with "\n". Each
 * piece is sent once the shim printed the event before the cut. */
static void test_split(void)
{
	static const struct piece answer[] = {
		{ "event: stdout\r\ndata: {\"data\":\"one\\n\"}\r\n\r\nev",
		  "one\n" },
		{ "ent: stdout\r\ndata: {\"data\":\"two\\n\"}\r\n\r\n"
		  "event: stdout\r\ndata: {\"data\":\r",
		  "one\ntwo\n" },
		{ "\ndata: \"three\\n\"}\r\n\r\n"
		  "event: exit\r\nda", "one\ntwo\nthree\n" },
		{ "ta: {\"exit_code\":0}\r\n\r", NULL },
		{ "\n", NULL },
	};
	struct run r;

	serve(&r, answer, sizeof(answer) / sizeof(answer[0]));
	CU_ASSERT_EQUAL(r.status, 0);
	CU_ASSERT_STRING_EQUAL(r.out, "one\ntwo\nthree\n");
	CU_ASSERT_STRING_EQUAL(r.err, "");
}

/* Sends an event's data: line of total bytes (never ended) until the
 * shim hangs up; returns the bytes sent. */
static size_t flood(int fd, size_t total)
{
	static char chunk[1 << 20];
	const char *start = "event: stdout\ndata: {\"data\":\"";
	size_t sent = strlen(start);

	memset(chunk, 'x', sizeof(chunk));
	if (tu_send_all(fd, start, sent) < 0)
		return 0;
	while (sent < total && tu_send_all(fd, chunk, sizeof(chunk)) == 0)
		sent += sizeof(chunk);
	return sent;
}

/* (c) An event over the shim's bound: it says so and exits 69 (the
 * gateway failing, as man/carapace-shim.1 puts it), printing nothing of
 * that event. */
static void test_over_bound(void)
{
	static const struct piece before[] = {
		{ "event: stdout\ndata: {\"data\":\"first\\n\"}\n\n",
		  "first\n" },
	};
	char line[256];
	struct run r;
	int port, lfd = listen_any(&port);

	CU_ASSERT_FATAL(lfd >= 0);
	CU_ASSERT_FATAL(start_shim(&r, port, 0) == 0);
	int fd = take_request(lfd, line, sizeof(line));
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(tu_send_all(fd, head_200, strlen(head_200)) == 0);
	CU_ASSERT(tu_send_all(fd, before[0].bytes,
			      strlen(before[0].bytes)) == 0);
	CU_ASSERT(await_output(&r, before[0].await) == 0);
	/* the shim hangs up once past its bound: far less than this */
	size_t sent = flood(fd, (size_t)SHIM_MAX_EVENT + (16u << 20));
	close(fd);
	close(lfd);
	finish_shim(&r);
	CU_ASSERT(sent > SHIM_MAX_EVENT);
	CU_ASSERT(sent < (size_t)SHIM_MAX_EVENT + (16u << 20));
	CU_ASSERT_EQUAL(r.status, 69);
	CU_ASSERT_STRING_EQUAL(r.out, "first\n");
	CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "carapace-shim: "));
	CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "larger than 64 MiB"));
}

/* An event within the bound that the shim has no memory for: it says so
 * and exits 69 rather than print what it could hold (it runs in 20 MiB;
 * this event needs two 64 MiB buffers, so 128 MiB cannot hold it). */
static void test_out_of_memory(void)
{
	char line[256];
	struct run r;
	int port, lfd = listen_any(&port);

	CU_ASSERT_FATAL(lfd >= 0);
	CU_ASSERT_FATAL(start_shim(&r, port, (rlim_t)128 << 20) == 0);
	int fd = take_request(lfd, line, sizeof(line));
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(tu_send_all(fd, head_200, strlen(head_200)) == 0);
	size_t sent = flood(fd, (size_t)48 << 20);
	const char *end = "\"}\n\nevent: exit\ndata: {\"exit_code\":0}\n\n";
	if (sent >= (size_t)48 << 20)
		tu_send_all(fd, end, strlen(end));
	close(fd);
	close(lfd);
	finish_shim(&r);
	CU_ASSERT_EQUAL(r.status, 69);
	CU_ASSERT_STRING_EQUAL(r.out, "");
	CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "out of memory"));
}

/* Output the shim cannot decode is an error too, not a silent gap; so
 * is an answer that ends before the tool's exit. */
static void test_unreadable(void)
{
	static const struct piece bad_base64[] = {
		{ "event: stdout\ndata: {\"data\":\"a\"}\n\n"
		  "event: stdout\ndata: {\"base64\":\"!!!\"}\n\n"
		  "event: exit\ndata: {\"exit_code\":0}\n\n", NULL },
	};
	static const struct piece not_json[] = {
		{ "event: stdout\ndata: {\"data\":\n\n"
		  "event: exit\ndata: {\"exit_code\":0}\n\n", NULL },
	};
	static const struct piece no_exit[] = {
		{ "event: stdout\ndata: {\"data\":\"a\"}\n\n", NULL },
	};
	struct run r;

	serve(&r, bad_base64, 1);
	CU_ASSERT_EQUAL(r.status, 69);
	CU_ASSERT_STRING_EQUAL(r.out, "a");
	CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "not base64"));
	serve(&r, not_json, 1);
	CU_ASSERT_EQUAL(r.status, 69);
	CU_ASSERT_STRING_EQUAL(r.out, "");
	CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "cannot be read"));
	serve(&r, no_exit, 1);
	CU_ASSERT_EQUAL(r.status, 69);
	CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "before the tool's exit"));
}

/* ---- the token ---- */

static const struct piece exit0[] = {
	{ "event: stdout\ndata: {\"data\":\"ok\"}\n\n"
	  "event: exit\ndata: {\"exit_code\":0}\n\n", NULL },
};

static void test_token(void)
{
	static const char *const env_token[] = {
		"CARAPACE_TOKEN=tok-from-env", NULL };
	static char conf_env[700];
	const char *const file_token[] = { conf_env, NULL };
	const char *const both[] = { "CARAPACE_TOKEN=tok-from-env", conf_env,
				     NULL };
	char conf[600];
	struct run r;

	serve(&r, exit0, 1); /* none: no Authorization at all */
	CU_ASSERT_EQUAL(r.status, 0);
	CU_ASSERT(strcasestr(last_head, "Authorization") == NULL);
	extra_env = env_token;
	serve(&r, exit0, 1);
	CU_ASSERT_EQUAL(r.status, 0);
	CU_ASSERT(strstr(last_head,
			 "\r\nAuthorization: Bearer tok-from-env\r\n") != NULL);
	snprintf(conf, sizeof(conf), "/tmp/test_shim-%d.conf", (int)getpid());
	snprintf(conf_env, sizeof(conf_env), "CARAPACE_SHIM_CONF=%s", conf);
	CU_ASSERT_FATAL(tu_write_file(conf, "{\"url\":\"http://192.0.2.1:1\","
					    "\"token\":\"tok-from-file\"}") ==
			0);
	extra_env = file_token; /* the environment's URL wins */
	serve(&r, exit0, 1);
	CU_ASSERT_EQUAL(r.status, 0);
	CU_ASSERT(strstr(last_head,
			 "\r\nAuthorization: Bearer tok-from-file\r\n") != NULL);
	extra_env = both;
	serve(&r, exit0, 1);
	CU_ASSERT(strstr(last_head, "Bearer tok-from-env\r\n") != NULL);
	CU_ASSERT(strstr(r.out, "tok-") == NULL &&
		  strstr(r.err, "tok-") == NULL);
	extra_env = NULL;
	unlink(conf);
}

/* A 401: exit 77 with the gateway's reason, no token shown. */
static void test_unauthorized(void)
{
	static const char *const env_token[] = {
		"CARAPACE_TOKEN=tok-secret-1", NULL };
	static const char answer[] =
		"HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json"
		"\r\nWWW-Authenticate: Bearer realm=\"carapaced\"\r\n"
		"Connection: close\r\n\r\n{\"error\":{\"code\":401,"
		"\"message\":\"no client matches\",\"tool\":null}}";
	char line[256];
	struct run r;
	int port, lfd = listen_any(&port);

	CU_ASSERT_FATAL(lfd >= 0);
	extra_env = env_token;
	CU_ASSERT_FATAL(start_shim(&r, port, 0) == 0);
	extra_env = NULL;
	int fd = take_request(lfd, line, sizeof(line));
	CU_ASSERT(fd >= 0 && tu_send_all(fd, answer, strlen(answer)) == 0);
	if (fd >= 0)
		close(fd);
	close(lfd);
	finish_shim(&r);
	CU_ASSERT_EQUAL(r.status, 77);
	CU_ASSERT(strstr(r.err, "no client matches (HTTP 401)") != NULL);
	CU_ASSERT(strstr(r.err, "tok-secret") == NULL);
}

/* ---- https, with a CA of the test's ---- */

static char tls_dir[] = "/tmp/test_shim-tls-XXXXXX";

/* A CA and a certificate for localhost and 127.0.0.1 that it signed. */
static int make_certs(void)
{
	char cmd[2048], out[4096];

	if (mkdtemp(tls_dir) == NULL)
		return -1;
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && "
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
		 "-nodes -keyout ca.key -out ca.pem -subj /CN=test-ca -days 2 &&"
		 " openssl req -new -newkey ec -pkeyopt "
		 "ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.csr "
		 "-subj /CN=localhost && "
		 "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' >ext && "
		 "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key "
		 "-CAcreateserial -out srv.pem -days 2 -extfile ext", tls_dir);
	return tu_run(cmd, out, sizeof(out)) == 0 ? 0 : -1;
}

/* openssl s_server on port with the certificate: its pid, its stdin
 * (what it sends the client) and stdout (what it says and receives). */
static pid_t start_s_server(int port, int *in_fd, int *out_fd)
{
	int in[2], out[2];
	char accept_arg[16], cert[700], key[700];

	snprintf(accept_arg, sizeof(accept_arg), "%d", port);
	snprintf(cert, sizeof(cert), "%s/srv.pem", tls_dir);
	snprintf(key, sizeof(key), "%s/srv.key", tls_dir);
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0)
			_exit(99);
		execlp("openssl", "openssl", "s_server", "-accept", accept_arg,
		       "-cert", cert, "-key", key, "-naccept", "1", NULL);
		_exit(98);
	}
	close(in[0]);
	close(out[1]);
	*in_fd = in[1];
	*out_fd = out[0];
	return pid;
}

/* Reads fd until its text so far holds want: 0, or -1. */
static int await_text(int fd, const char *want, char *buf, size_t size)
{
	size_t n = strlen(buf);
	uint64_t until = tu_now_ns() + DEADLINE_MS * MS;

	while (strstr(buf, want) == NULL) {
		struct pollfd p = { fd, POLLIN, 0 };
		if (tu_now_ns() > until || n + 1 >= size)
			return -1;
		if (poll(&p, 1, 100) <= 0)
			continue;
		ssize_t k = read(fd, buf + n, size - 1 - n);
		if (k <= 0)
			return -1;
		n += (size_t)k;
		buf[n] = '\0';
	}
	return 0;
}

/* One shim run against s_server: its exit status, what it printed. */
static int https_run(int with_ca, struct run *r, char *seen, size_t size)
{
	static char url_env[64], ca_env[700];
	const char *const env[] = { url_env, "CARAPACE_TOKEN=tok-tls",
				    with_ca ? ca_env : NULL, NULL };
	int port = tu_free_port(), in_fd, out_fd;
	pid_t srv = start_s_server(port, &in_fd, &out_fd);

	seen[0] = '\0';
	if (srv < 0 || await_text(out_fd, "ACCEPT", seen, size) < 0)
		return -1;
	snprintf(url_env, sizeof(url_env), "CARAPACE_URL=https://localhost:%d",
		 port);
	snprintf(ca_env, sizeof(ca_env), "CARAPACE_CA=%s/ca.pem", tls_dir);
	extra_env = env;
	start_shim(r, 1, 0);
	extra_env = NULL;
	/* the answer once the request is in (s_server prints it), then
	 * the end of its input closes the connection; without the CA no
	 * request comes, and its input stays open (its end would close
	 * the connection before the handshake fails) */
	if (with_ca && await_text(out_fd, "\"argv\"", seen, size) == 0) {
		const char *ans = "HTTP/1.1 200 OK\r\nContent-Type: "
				  "text/event-stream\r\nConnection: close\r\n\r\n"
				  "event: stdout\ndata: {\"data\":\"over tls\"}\n\n"
				  "event: exit\ndata: {\"exit_code\":5}\n\n";
		/* a pipe: write(2), not tu_send_all's send(2) */
		CU_ASSERT(write(in_fd, ans, strlen(ans)) ==
			  (ssize_t)strlen(ans));
		close(in_fd);
		in_fd = -1;
	}
	int st = finish_shim(r);
	if (in_fd >= 0)
		close(in_fd);
	await_text(out_fd, "\n@@never@@", seen, size); /* the rest, to EOF */
	close(out_fd);
	tu_stop(srv);
	return st;
}

static void test_https(void)
{
	char seen[16384];
	struct run r;

	if (make_certs() < 0) {
		CU_FAIL("openssl could not make the test's certificates");
		return;
	}
	int st = https_run(1, &r, seen, sizeof(seen));
	if (st != 5)
		fprintf(stderr, "https: %d, shim said: %s\ns_server: %s\n", st,
			r.err, seen);
	CU_ASSERT_EQUAL(st, 5);
	CU_ASSERT_STRING_EQUAL(r.out, "over tls");
	CU_ASSERT(strstr(seen, "Authorization: Bearer tok-tls") != NULL);
	/* without the CA, the certificate is not trusted */
	CU_ASSERT_EQUAL(https_run(0, &r, seen, sizeof(seen)), 69);
	CU_ASSERT(strstr(r.err, "unreachable") != NULL);
	CU_ASSERT(strcasestr(r.err, "certificate") != NULL);
	tu_remove_tree(tls_dir);
}

int main(void)
{
	if (getenv("SHIM") == NULL) {
		fprintf(stderr, "test_shim: SHIM is not set\n");
		return 1;
	}
	tu_prepare_process();
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("carapace-shim", NULL, NULL);
	CU_add_test(s, "data: without a space", test_no_space);
	CU_add_test(s, "events split across writes", test_split);
	CU_add_test(s, "an event over the bound fails loudly",
		    test_over_bound);
	CU_add_test(s, "out of memory fails loudly", test_out_of_memory);
	CU_add_test(s, "unreadable output fails loudly", test_unreadable);
	CU_add_test(s, "the token, from the environment or the file",
		    test_token);
	CU_add_test(s, "a 401 exits 77", test_unauthorized);
	CU_add_test(s, "https with CARAPACE_CA", test_https);
	return cu_run();
}
