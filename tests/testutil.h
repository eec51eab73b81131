/* testutil — helpers for carapaced's integration tests: child processes,
 * plain HTTP/1.1 client connections on loopback, SSE parsing, /proc probes.
 *
 * Everything talks to 127.0.0.1 only. Errors: -1 (and, for tu_read_body,
 * -2), never a message; no function prints (tu_remove_tree excepted). All functions may be called
 * from any thread; a struct tu_resp belongs to one thread at a time.
 * Timeouts are in milliseconds; a negative timeout waits forever. */
#ifndef CARAPACE_TESTUTIL_H
#define CARAPACE_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

/* TU_ASAN is 1 when this program (and so the whole tree: make check-asan
 * builds everything alike) is built with AddressSanitizer: gcc says so
 * with __SANITIZE_ADDRESS__, clang with __has_feature. A test whose
 * claim ASan changes (memory, address space) says how it measures then. */
#if defined(__SANITIZE_ADDRESS__)
#define TU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TU_ASAN 1
#endif
#endif
#ifndef TU_ASAN
#define TU_ASAN 0
#endif
/* TU_TSAN likewise for ThreadSanitizer (make check-tsan); TU_SANITIZED
 * for either: a process then starts larger (the sanitizer's shadow
 * memory), and a memory bound is on its growth over a baseline. */
#if defined(__SANITIZE_THREAD__)
#define TU_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TU_TSAN 1
#endif
#endif
#ifndef TU_TSAN
#define TU_TSAN 0
#endif
#define TU_SANITIZED (TU_ASAN || TU_TSAN)

/* Byte i of the pattern the test upstream serves on /bytes and /abort. */
static inline unsigned char tu_pattern_byte(uint64_t i)
{
	return (unsigned char)(((i * 131 + 7) >> 3) ^ i);
}

/* Offset just past the blank line ("\n\n" or "\n\r\n") that ends an HTTP
 * head in p[0..n), or 0 if it has not arrived yet. */
static inline size_t tu_head_end(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] != '\n')
			continue;
		if (i + 1 < n && p[i + 1] == '\n')
			return i + 2;
		if (i + 2 < n && p[i + 1] == '\r' && p[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* s without its leading and trailing blanks (spaces, tabs), which are cut
 * off in place: a header value, as tu_read_head() and tests/upstream store
 * it. */
static inline char *tu_trim(char *s)
{
	size_t n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

/* The next line of an HTTP head at *p (before limit), NUL-terminated in
 * place without its "\n" or "\r\n", and *p moved past it; NULL at the
 * blank line that ends the head or when no whole line is left. Shared with
 * tests/upstream, which reads requests the way tu_read_head() responses. */
static inline char *tu_head_line(char **p, char *limit)
{
	char *line = *p, *nl;

	if (line >= limit)
		return NULL;
	nl = memchr(line, '\n', (size_t)(limit - line));
	if (nl == NULL)
		return NULL;
	*nl = '\0';
	if (nl > line && nl[-1] == '\r')
		nl[-1] = '\0';
	*p = nl + 1;
	return *line == '\0' ? NULL : line;
}

/* The exact bytes the test upstream serves on GET /sse-exact (320 bytes).
 * Read event by event (tu_sse_next_event) it yields five data payloads:
 *   1. {"seq":1,"text":"hello"}           (id 1, event: receive, CRLF)
 *   2. first line\nsecond line\nthird line (id 2, three data: lines)
 *   3. grüße € 日本                        (id 3, UTF-8)
 *   4. (empty)                             (id 4, a bare "data:")
 *   5. {"seq":5,"done":true}              (event: receive)
 * The retry: block and the ": keepalive" comments dispatch nothing. */
#define TU_SSE_FIXTURE \
	": carapaced test fixture\r\n" \
	"retry: 3000\n" \
	"\n" \
	"id: 1\r\n" \
	"event: receive\r\n" \
	"data: {\"seq\":1,\"text\":\"hello\"}\r\n" \
	"\r\n" \
	": keepalive\n" \
	"\n" \
	"id: 2\n" \
	"data: first line\n" \
	"data: second line\r\n" \
	"data: third line\n" \
	"\n" \
	"id: 3\r\n" \
	"data: gr\xc3\xbc\xc3\x9f" "e \xe2\x82\xac " \
	"\xe6\x97\xa5\xe6\x9c\xac\r\n" \
	"\r\n" \
	": keepalive\r\n" \
	"\r\n" \
	"id: 4\n" \
	"data:\n" \
	"\n" \
	": a comment between events, then a last one\n" \
	"event: receive\n" \
	"data: {\"seq\":5,\"done\":true}\n" \
	"\n"

/* The test upstream's POST /mcp-list (test_mcp_stream): an MCP server
 * answering tools/list with TU_MCP_TOOLS as its result, as JSON or, with
 * ?sse=1, as the message between TU_MCP_SSE_HEAD and TU_MCP_SSE_TAIL of
 * an event stream (ids, retry, comments, CRLF and LF) sent 1-3 bytes at
 * a time. */
#define TU_MCP_TOOLS \
	"{\"tools\":[{\"name\":\"search_code\"},{\"name\":" \
	"\"drop_table\"},{\"name\":\"search_delete\"},{\"name\":" \
	"\"create_issue\"}]}"
#define TU_MCP_SSE_HEAD \
	": mcp list fixture\r\n" \
	"retry: 2000\r\n" \
	"\r\n" \
	"id: ev-1\r\n" \
	"event: message\r\n" \
	"data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"," \
	"\"params\":{\"progress\":1}}\r\n" \
	"\r\n" \
	": between\n" \
	"\n" \
	"id: ev-2\r\n" \
	"event: message\r\n" \
	"data: "
#define TU_MCP_SSE_TAIL \
	"\r\n" \
	"\r\n" \
	"id: ev-3\n" \
	"data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"," \
	"\"params\":{}}\n" \
	"\n"

/* The test upstream's GET /sse-pause?ms=N: TU_SSE_PAUSE_1 (a whole
 * event), N ms of silence, TU_SSE_PAUSE_2 (half an event, CRLF), N ms,
 * TU_SSE_PAUSE_3 (its end), and the end of the body. */
#define TU_SSE_PAUSE_1 "id: 1\ndata: first\n\n"
#define TU_SSE_PAUSE_2 "id: 2\r\ndata: hal"
#define TU_SSE_PAUSE_3 "f\r\n\r\n"

/* ---- time, ports, processes --------------------------------------------- */

uint64_t tu_now_ns(void);			/* CLOCK_MONOTONIC */

/* Sleeps ms milliseconds (resumed after a signal). Not a way to wait for
 * something to happen: that is tu_wait_until(). */
void tu_sleep_ms(unsigned ms);

/* Calls cond(arg) until it returns non-zero, at growing intervals up to
 * 20 ms, for at most ms milliseconds (and once more at the deadline):
 * 0 when it did, -1 when time ran out. */
int tu_wait_until(int (*cond)(void *), void *arg, unsigned ms);

/* A port of 127.0.0.1 for a daemon to listen on, or -1: bindable now,
 * below the kernel's ephemeral range (no bind(0) or connect() is given
 * it) and locked for this process's life under $TMPDIR, so that no other
 * test program running at the same time gets it (tu_daemon.c says why). */
int tu_free_port(void);

/* How to start carapaced for a test: `carapaced -f -c conf`. */
/* The admin token every test daemon's config names (admin_token_sha256
 * is its SHA-256): a TCP admin listener needs one. */
#define TU_ADMIN_TOKEN "carapace-test-admin-token"
#define TU_ADMIN_TOKEN_SHA256 \
	"a786b6ca5575006030902a18fd13f8f62db1c8a0e388227ccc459f139ad34446"
/* The header every request to such an admin listener carries (the
 * extra_headers of tu_http() and tu_send_request()). */
#define TU_ADMIN_AUTH "Authorization: Bearer " TU_ADMIN_TOKEN "\r\n"

#define TU_DAEMON_PORTS 4
struct tu_daemon {
	const char *conf;
	int ports[TU_DAEMON_PORTS];	/* each waited for (10 s); 0 ends */
	const char *errlog;	/* its stderr appended there; NULL: ours */
	const char *prlimit;	/* run as `prlimit PRLIMIT carapaced ...` */
};

/* The one way tests start the daemon: $CARAPACED (make check sets it)
 * with d, waited for until each port accepts a connection and checked to
 * be still running then. Its pid (stop it with tu_stop()), or -1: the
 * daemon, if it started, is stopped. */
pid_t tu_start_daemon(const struct tu_daemon *d);

/* How an integration suite starts: $CARAPACED into *carapaced, the process
 * prepared (tu_prepare_process()) and the test upstream ($UPSTREAM)
 * started, its port in *up_port. Its pid, or -1 (either variable unset,
 * or the upstream did not start). */
pid_t tu_suite_upstream(const char **carapaced, int *up_port);

/* One number of the test upstream's GET /_upstream/stats on up_port
 * ("open_streams", "closed_streams", "requests"), or -1. */
int tu_upstream_stat(int up_port, const char *key);

/* tu_stop() of a daemon that must exit 0 on SIGTERM: 0, or -1 and a line
 * on stderr saying it did not. */
int tu_stop_daemon(pid_t pid);

/* The CLI tool "ct" that test_cli and test_shim_e2e configure, as
 * `"ct": { ... }` in buf: tests/clitool at tool, the argv patterns their
 * tests run (and more_allow, when not NULL), its cwd confined to jail, 2 s,
 * 1 MiB of output, two at once. 0, or -1 when it does not fit in len. */
int tu_cli_ct_tool(char *buf, size_t len, const char *tool, const char *jail,
		   const char *more_allow);

/* Start argv[0] (searched in PATH when it has no '/') with argv, the
 * caller's environment, default signal dispositions and an empty signal
 * mask. stderr is inherited. If stdout_fd is non-NULL the child's stdout is
 * a pipe whose read end (close-on-exec) is stored there: the caller owns
 * and closes it; otherwise stdout is inherited. Returns the pid or -1. */
pid_t tu_spawn(const char *const argv[], int *stdout_fd);

/* Read one line from fd, one byte at a time (nothing past the newline is
 * consumed). Stores it without "\n" / "\r\n", NUL-terminated, truncated
 * to len - 1 bytes. Returns the stored length, or -1 on EOF before a
 * newline, error or timeout (the whole line must arrive in timeout_ms). */
int tu_read_line(int fd, char *buf, size_t len, int timeout_ms);

/* Start the test upstream (`upstream_path -p 0`) and wait up to 10 s for
 * its "PORT n" line. Returns its pid and sets *port, or -1 (the child, if
 * any, is stopped). Stop it with tu_stop(). */
pid_t tu_spawn_upstream(const char *upstream_path, int *port);

/* SIGTERM, wait up to 5 s, then SIGKILL; reaps the child. Returns its exit
 * code, 128 + signal number if a signal ended it (137 after our SIGKILL),
 * or -1 if pid could not be waited for. */
int tu_stop(pid_t pid);

/* Retry connecting to 127.0.0.1:port until it succeeds: 0, or -1 when
 * timeout_ms passed. */
int tu_wait_port(int port, int timeout_ms);

/* ---- client connections ------------------------------------------------- */

/* A blocking TCP socket connected to 127.0.0.1:port, TCP_NODELAY and
 * close-on-exec set. Caller closes it. -1 on failure. */
int tu_connect(int port);

/* Write all of buf (MSG_NOSIGNAL: a closed peer gives -1, not SIGPIPE). */
int tu_send_all(int fd, const void *buf, size_t len);

/* Send "METHOD TARGET HTTP/1.1", "Host: 127.0.0.1:PORT" (the port fd is
 * connected to), extra_headers as given (each line ending in "\r\n", may
 * be NULL), "Content-Length: body_len" when body is non-NULL, the blank
 * line and the body. For a chunked body
 * pass body = NULL, "Transfer-Encoding: chunked\r\n" in extra_headers and
 * send the chunks with tu_send_all. 0 or -1. */
int tu_send_request(int fd, const char *method, const char *target,
		    const char *extra_headers, const void *body,
		    size_t body_len);

/* ---- responses ---------------------------------------------------------- */

#define TU_MAX_HEADERS 64

enum tu_framing {
	TU_BODY_NONE,		/* 204, 304; set it yourself after a HEAD */
	TU_BODY_LENGTH,		/* Content-Length */
	TU_BODY_CHUNKED,	/* Transfer-Encoding: chunked */
	TU_BODY_CLOSE		/* ends when the server closes */
};

struct tu_header {
	const char *name;	/* borrowed: valid until tu_resp_free() */
	const char *value;	/* leading and trailing blanks removed */
};

/* One response being read from a connection. Filled by tu_read_head();
 * the public fields are read-only except framing (see TU_BODY_NONE). */
struct tu_resp {
	int fd;			/* borrowed: the caller's; never closed */
	int status;
	size_t n_headers;
	struct tu_header headers[TU_MAX_HEADERS];	/* in arrival order */
	enum tu_framing framing;
	uint64_t content_length;	/* TU_BODY_LENGTH only */

	/* internal: owned buffers and de-framing state */
	char *head;
	char *buf;
	size_t buf_off, buf_len, buf_cap;
	uint64_t left;
	int state;
	char *sse;
	size_t sse_len, sse_cap;
};

/* Read a response head from fd (skipping any 1xx interim response) into
 * *r, which is (re)initialised: whatever it held is lost, so call
 * tu_resp_free() before reusing one. 0, or -1 on error, timeout or a
 * malformed head (then *r holds nothing to free). Body bytes that arrived
 * with the head stay buffered for tu_read_body(). */
int tu_read_head(struct tu_resp *r, int fd, int timeout_ms);

/* Value of the first header called name (case-insensitive), borrowed
 * until tu_resp_free(); NULL if absent. */
const char *tu_header(const struct tu_resp *r, const char *name);

/* Next de-framed body bytes, as soon as any are available (max > 0):
 * returns > 0 bytes stored in buf; 0 at the clean end of the body (chunked
 * terminator and trailers read, Content-Length reached, EOF for a
 * close-delimited body) and on every later call; -1 on error, malformed
 * framing or timeout (may be retried after a timeout); -2 when the
 * connection ended (EOF or reset) before the body was complete. After the
 * clean end the connection may carry the next response. */
ssize_t tu_read_body(struct tu_resp *r, void *buf, size_t max,
		     int timeout_ms);

/* Free what r owns (not r itself; not r->fd). Safe on a zeroed struct. */
void tu_resp_free(struct tu_resp *r);

/* One request on a fresh connection, whole response read, connection
 * closed; 10 s timeout in all. body (may be NULL) is sent with its strlen
 * as Content-Length. On 0: *status set, and if resp_body is non-NULL
 * *resp_body is a new NUL-terminated copy of the body (caller frees) and
 * *resp_len (if non-NULL) its length. -1 on any failure, nothing to free.
 * A "HEAD" request reads no body. */
int tu_http(int port, const char *method, const char *target,
	    const char *extra_headers, const char *body, int *status,
	    char **resp_body, size_t *resp_len);

/* Read r's body until the next complete SSE event that has at least one
 * data: field (blank-line terminated; CRLF, LF and CR line ends; comment
 * and data-less blocks are skipped) and store its data, the data: lines
 * joined with "\n" as the SSE spec does, NUL-terminated and truncated to
 * len - 1 bytes. 0, or -1 on timeout, error or the end of the body. Keeps
 * undispatched text in r between calls; do not mix with tu_read_body(). */
int tu_sse_next_event(struct tu_resp *r, char *data, size_t len,
		      int timeout_ms);

/* GET target on a new connection to port with "Accept: text/event-stream"
 * and the response head read into *r (10 s): the connection (caller
 * closes it, and frees r), or -1 with nothing open. */
int tu_open_stream(int port, const char *target, struct tu_resp *r);

/* POST a JSON-RPC call of method (no params, id 1) to the daemon on port
 * at /tools/TOOL/api/v1/rpc: the answer's status, or -1 (and a line on
 * stderr saying why) when the request failed. */
int tu_rpc(int port, const char *tool, const char *method);

/* ---- a test program's own safety ---------------------------------------- */

/* A crash, SIGINT or a hang must not leave daemons behind or stall the
 * suite: on SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGINT, SIGTERM, or when
 * secs have passed, every pid *pids[i] (read then, when > 0) is killed
 * and the program exits 128 + the signal. pids is kept, not copied. */
void tu_watchdog(const char *name, unsigned secs, pid_t *const *pids,
		 size_t n);

/* The soft RLIMIT_NOFILE raised to the hard one (thousands of sockets),
 * and SIGPIPE ignored (a peer that closes gives EPIPE, not death). */
void tu_prepare_process(void);

/* ---- another process, from /proc ---------------------------------------- */

/* Descriptors of one upstream handle carapaced parks for reuse: its
 * connection (its multi handle has no wake-up pair). A request may take
 * a parked handle and, if it ends uncleanly (cancelled) or its connection was
 * closed meanwhile, close it instead of parking it again. */
#define TU_PARKED_HANDLE_FDS 1

/* Whether a daemon's descriptor count now is back to want, less whole
 * parked handles: a leak can only show as more. */
static inline int tu_fds_back(int now, int want)
{
	return now <= want && (want - now) % TU_PARKED_HANDLE_FDS == 0;
}

/* The same when whether one handle was parked at the baseline is left to
 * timing (a known-length answer reaches its client before its worker has
 * parked the handle): back, or one parked handle more. */
static inline int tu_fds_back_or_parked(int now, int want)
{
	return tu_fds_back(now, want) || now == want + TU_PARKED_HANDLE_FDS;
}

int tu_proc_threads(pid_t pid);		/* "Threads:" of status, or -1 */
int tu_proc_fds(pid_t pid);		/* entries of /proc/PID/fd, or -1 */
/* TCP sockets of pid that are not listening, with that local port and
 * that remote port (0: any), or -1. */
int tu_proc_tcp(pid_t pid, int local_port, int remote_port);
/* Processes, anywhere, whose command line begins with argv0 a b (their
 * whole argv: a fork keeps the command line of its parent). */
int tu_processes(const char *argv0, const char *a, const char *b);
long tu_proc_rss_kb(pid_t pid);		/* "VmRSS:" in kB, or -1 */
long tu_proc_hwm_kb(pid_t pid);		/* "VmHWM:", the peak RSS, in kB */
double tu_proc_cpu_secs(pid_t pid);	/* utime + stime in s, or -1 */

/* ---- files -------------------------------------------------------------- */

/* Create or truncate path and write text into it. 0 or -1. */
int tu_write_file(const char *path, const char *text);

/* rm -rf dir (a test's work directory); says so on stderr if it cannot.
 * 0 or -1. */
int tu_remove_tree(const char *dir);

/* ---- commands, and processes that are not our children (tu_run.c) ------ */

/* Run cmd with sh -c; its stdout, NUL-terminated and truncated to len - 1
 * bytes, in out. Its exit status, or -1 (it could not be run, or a signal
 * ended it). */
int tu_popen_read(const char *cmd, char *out, size_t len);

/* tu_popen_read() of `cmd 2>&1`: stderr and stdout in out. */
int tu_run(const char *cmd, char *out, size_t len);

/* The first MiB of a file, NUL-terminated (caller frees), or NULL. */
char *tu_slurp(const char *path);

/* The pid written in a pidfile, or 0 if there is none. */
pid_t tu_read_pid(const char *pidfile);

/* Whether pid (> 0) is a process we may signal. */
int tu_alive(pid_t pid);

/* Wait up to limit_ms for a process that is not our child (a daemon in
 * the background) to be gone, or a zombie nobody of ours will reap: 0, or
 * -1 when time ran out. */
int tu_wait_gone(pid_t pid, int limit_ms);

#endif
