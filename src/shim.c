/* carapace-shim — run a CLI tool through carapaced as if it were local.
 *
 * Invoked as `carapace-shim TOOL ARGS...` or through a symlink named after
 * the tool (`ln -s carapace-shim /usr/local/bin/op; op item list`). Sends
 * its arguments (and its stdin when that is not a terminal, and its cwd
 * when CARAPACE_SEND_CWD=1) to POST /tools/TOOL, prints the remote stdout
 * and stderr as they arrive, and exits with the remote exit code (128+N
 * for a signal). A denial prints the policy's reason and exits 126; a
 * request the gateway cannot tie to a client (401) exits 77
 * (EX_NOPERM); an unreachable gateway prints why and exits 69
 * (EX_UNAVAILABLE).
 *
 * The gateway is http:// or https:// (verified against the system's CAs,
 * or CARAPACE_CA's); the client's token (CARAPACE_TOKEN, or "token" in
 * shim.conf) goes as "Authorization: Bearer" and is never printed. */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "dbuf.h"
#include "jsonparse.h"
#include "sse.h"
#include "text.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define SHIM_CONF SYSCONFDIR "/carapace/shim.conf"
#define EXIT_USAGE 64
#define EXIT_UNAVAILABLE 69
#define EXIT_NOPERM 77
#define EXIT_DENIED 126
#define EXIT_NOT_FOUND 127
#define MAX_STDIN (16u << 20)
/* One SSE line and one event's data; also a refusal's body. The daemon
 * sends a tool's output in pipe-sized chunks, so only a broken answer
 * comes near it. */
#define MAX_EVENT (64u << 20)

struct settings {
	char url[1024];
	char token[1024];
	char ca[PATH_MAX];      /* a PEM file of CAs for https, or "" */
};

/* The answer as it arrives. */
struct answer {
	long status;
	struct sse_parser sse;  /* a 200's events */
	int exit_code;          /* -1 until an exit event */
	struct dbuf error_body; /* a non-200 answer, kept for its message */
	const char *failure;    /* why we cut the answer short: the tool's
				 * output would be incomplete */
};

static void die(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

/* The shim is a command: a failure it cannot recover from ends it with
 * the exit code a calling script expects. */
static void die(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("carapace-shim: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

/* ---- settings: environment first, then shim.conf ---- */

/* shim.conf, or CARAPACE_SHIM_CONF's file instead (another user's
 * settings, a test's). */
static const char *conf_file(void)
{
	const char *f = getenv("CARAPACE_SHIM_CONF");

	return f && f[0] ? f : SHIM_CONF;
}

static void take(char *dst, size_t size, json_object *o, const char *key)
{
	json_object *v;

	if (!dst[0] && json_object_object_get_ex(o, key, &v) &&
	    json_object_is_type(v, json_type_string))
		snprintf(dst, size, "%s", json_object_get_string(v));
}

static void from_file(struct settings *st)
{
	json_object *o = json_object_from_file(conf_file());

	if (o == NULL)
		return;
	take(st->url, sizeof(st->url), o, "url");
	take(st->token, sizeof(st->token), o, "token");
	take(st->ca, sizeof(st->ca), o, "ca");
	json_object_put(o);
}

/* A header value cannot hold a line break or another control: such a
 * token would end the header early, or add one. */
static int token_ok(const char *t)
{
	for (; *t; t++)
		if ((unsigned char)*t < 0x21 || *t == 0x7f)
			return 0;
	return 1;
}

static void load_settings(struct settings *st)
{
	const char *url = getenv("CARAPACE_URL");
	const char *token = getenv("CARAPACE_TOKEN");
	const char *ca = getenv("CARAPACE_CA");

	snprintf(st->url, sizeof(st->url), "%s", url ? url : "");
	snprintf(st->token, sizeof(st->token), "%s", token ? token : "");
	snprintf(st->ca, sizeof(st->ca), "%s", ca ? ca : "");
	from_file(st);
	if (!st->url[0])
		die(EXIT_UNAVAILABLE, "no gateway: set CARAPACE_URL or %s",
		    conf_file());
	if (strncasecmp(st->url, "http://", 7) != 0 &&
	    strncasecmp(st->url, "https://", 8) != 0)
		die(EXIT_USAGE, "%s", "the gateway's URL must start with "
		    "http:// or https://");
	if (!token_ok(st->token))
		die(EXIT_USAGE, "%s", "the token holds a blank or a control "
		    "character");
	size_t n = strlen(st->url);
	if (n > 0 && st->url[n - 1] == '/')
		st->url[n - 1] = '\0';
}

/* ---- the request ---- */

/* All of stdin (it must be whole: a command reads it to the end). */
static char *read_stdin(size_t *len)
{
	struct dbuf in = DBUF_INIT(MAX_STDIN);
	char chunk[65536];
	ssize_t r;

	while ((r = read(0, chunk, sizeof(chunk))) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			die(EXIT_USAGE, "cannot read stdin: %s",
			    strerror(errno));
		if (dbuf_add(&in, chunk, (size_t)r) < 0 && errno == EMSGSIZE)
			die(EXIT_USAGE, "stdin is larger than %s", "16 MiB");
		if (dbuf_error(&in))
			die(EXIT_UNAVAILABLE, "%s", "out of memory");
	}
	char *buf = dbuf_detach(&in, len);
	if (buf == NULL)
		die(EXIT_UNAVAILABLE, "%s", "out of memory");
	return buf;
}

static char *request_body(int argc, char **argv)
{
	json_object *o = json_object_new_object();
	json_object *args = json_object_new_array();

	for (int i = 0; i < argc; i++)
		json_object_array_add(args, json_object_new_string(argv[i]));
	json_object_object_add(o, "argv", args);
	if (!isatty(0)) {
		size_t len;
		char *in = read_stdin(&len);
		if (!text_utf8_valid(in, len))
			die(EXIT_USAGE, "%s", "stdin is not UTF-8 text");
		json_object_object_add(o, "stdin",
				       json_object_new_string_len(in, (int)len));
		free(in);
	}
	const char *send_cwd = getenv("CARAPACE_SEND_CWD");
	char cwd[PATH_MAX];
	if (send_cwd && strcmp(send_cwd, "1") == 0 && getcwd(cwd, sizeof(cwd)))
		json_object_object_add(o, "cwd", json_object_new_string(cwd));
	char *body = strdup(json_object_to_json_string_ext(
		o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return body;
}

/* ---- the answer: SSE events ---- */

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w <= 0)
			return; /* our reader left: nothing more to do */
		p += w;
		n -= (size_t)w;
	}
}

/* Writes the output an event carries; -1 when it carries none that can
 * be read (a broken answer, or no memory to decode it). */
static int emit_output(struct answer *a, int fd, json_object *o)
{
	json_object *v;

	if (json_object_object_get_ex(o, "data", &v) &&
	    json_object_is_type(v, json_type_string)) {
		write_all(fd, json_object_get_string(v),
			  (size_t)json_object_get_string_len(v));
		return 0;
	}
	if (!json_object_object_get_ex(o, "base64", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		a->failure = "the gateway sent output that cannot be read";
		return -1;
	}
	size_t n;
	errno = 0;
	char *bytes = text_base64_decode(json_object_get_string(v),
					 (size_t)json_object_get_string_len(v),
					 &n);
	if (bytes == NULL) {
		a->failure = errno == ENOMEM ? "out of memory: the tool's "
					       "output is incomplete" :
					       "the gateway sent output that "
					       "is not base64";
		return -1;
	}
	write_all(fd, bytes, n);
	free(bytes);
	return 0;
}

static void take_exit(struct answer *a, json_object *o)
{
	json_object *v;

	if (json_object_object_get_ex(o, "signal", &v) && v != NULL)
		a->exit_code = 128 + json_object_get_int(v);
	else if (json_object_object_get_ex(o, "exit_code", &v))
		a->exit_code = json_object_get_int(v);
}

/* One event of the answer: stdout, stderr, exit; others are ignored.
 * Non-zero stops the transfer (sse_feed returns it). */
static int on_event(const struct sse_event *ev, void *arg)
{
	struct answer *a = arg;
	int fd = strcmp(ev->type, "stdout") == 0 ? 1 :
		 strcmp(ev->type, "stderr") == 0 ? 2 : 0;
	json_object *o;

	if (fd == 0 && strcmp(ev->type, "exit") != 0)
		return 0;
	if (jsonparse_strict(ev->data, ev->data_len, &o, NULL) !=
	    JSONPARSE_OK) {
		if (fd == 0)
			return 0; /* no exit code: reported at the end */
		a->failure = "the gateway sent output that cannot be read";
		return 1;
	}
	int rc = 0;
	if (fd != 0)
		rc = emit_output(a, fd, o) < 0;
	else
		take_exit(a, o);
	json_object_put(o);
	return rc;
}

static size_t on_body(char *p, size_t size, size_t nitems, void *arg)
{
	struct answer *a = arg;
	size_t n = size * nitems;

	if (a->status != 200)
		return dbuf_add(&a->error_body, p, n) == 0 ? n : 0;
	int rc = sse_feed(&a->sse, p, n);
	if (rc < 0)
		a->failure = errno == EMSGSIZE ?
			"an event of the answer is larger than 64 MiB: the "
			"tool's output is incomplete" :
			"out of memory: the tool's output is incomplete";
	return rc == 0 ? n : 0;
}

static size_t on_header(char *p, size_t size, size_t nitems, void *arg)
{
	struct answer *a = arg;

	if (size * nitems > 9 && strncmp(p, "HTTP/", 5) == 0)
		a->status = strtol(strchr(p, ' ') ? strchr(p, ' ') : p, NULL,
				   10);
	return size * nitems;
}

/* ---- outcomes ---- */

static int refused(const struct answer *a)
{
	json_object *o = NULL, *err, *msg;
	const char *text = "request refused";

	jsonparse_strict(dbuf_str(&a->error_body), dbuf_len(&a->error_body),
			 &o, NULL);
	if (o && json_object_object_get_ex(o, "error", &err) &&
	    json_object_object_get_ex(err, "message", &msg))
		text = json_object_get_string(msg);
	fprintf(stderr, "carapace-shim: %s (HTTP %ld)\n", text, a->status);
	json_object_put(o);
	switch (a->status) {
	case 401:
		return EXIT_NOPERM;
	case 403:
		return EXIT_DENIED;
	case 404:
		return EXIT_NOT_FOUND;
	case 400:
	case 405:
	case 413:
		return EXIT_USAGE;
	default:
		return EXIT_UNAVAILABLE;
	}
}

/* POST url/tools/TOOL with body, the answer's callbacks on a. */
static CURL *tool_request(const struct settings *st, const char *tool,
			  const char *body, struct answer *a,
			  struct curl_slist **h)
{
	char url[1400], auth[1100];
	CURL *c = curl_easy_init();

	if (c == NULL)
		die(EXIT_UNAVAILABLE, "%s", "cannot initialise libcurl");
	char *name = curl_easy_escape(c, tool, 0);
	if (name == NULL)
		die(EXIT_UNAVAILABLE, "%s", "out of memory");
	snprintf(url, sizeof(url), "%s/tools/%s", st->url, name);
	curl_free(name);
	*h = curl_slist_append(*h, "Content-Type: application/json");
	*h = curl_slist_append(*h, "Accept: text/event-stream");
	if (st->token[0]) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
			 st->token);
		*h = curl_slist_append(*h, auth);
		explicit_bzero(auth, sizeof(auth));
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	/* nothing but the gateway: no other scheme, no redirect */
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (st->ca[0])
		curl_easy_setopt(c, CURLOPT_CAINFO, st->ca);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, *h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, a);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	return c;
}

static int run(const struct settings *st, const char *tool, char *body)
{
	struct answer a = { .exit_code = -1,
			    .error_body = DBUF_INIT(MAX_EVENT) };
	struct curl_slist *h = NULL;

	char errbuf[CURL_ERROR_SIZE] = "";

	sse_init(&a.sse, MAX_EVENT, on_event, &a);
	CURL *c = tool_request(st, tool, body, &a, &h);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	CURLcode rc = curl_easy_perform(c);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	int code = a.exit_code;
	if (a.failure != NULL)
		die(EXIT_UNAVAILABLE, "%s", a.failure);
	if (rc != CURLE_OK && a.status == 0)
		die(EXIT_UNAVAILABLE, "gateway unreachable: %s",
		    errbuf[0] ? errbuf : curl_easy_strerror(rc));
	if (a.status != 200)
		code = refused(&a);
	else if (code < 0)
		die(EXIT_UNAVAILABLE, "%s",
		    "the gateway ended the answer before the tool's exit");
	sse_free(&a.sse);
	dbuf_free(&a.error_body);
	return code;
}

int main(int argc, char **argv)
{
	/* zeroed, although load_settings() writes every field first:
	 * cppcheck 2.10's whole-program pass takes snprintf()'s
	 * destination for a read (ctuuninitvar) */
	struct settings st = { 0 };
	const char *self = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 :
						 argv[0];
	int first = 1;

	if (strcmp(self, "carapace-shim") == 0) {
		if (argc < 2 || argv[1][0] == '-')
			die(EXIT_USAGE, "%s",
			    "usage: carapace-shim TOOL [ARGS...]");
		self = argv[1];
		first = 2;
	}
	load_settings(&st);
	curl_global_init(CURL_GLOBAL_ALL);
	char *body = request_body(argc - first, argv + first);
	if (body == NULL)
		die(EXIT_UNAVAILABLE, "%s", "out of memory");
	int code = run(&st, self, body);
	free(body);
	curl_global_cleanup();
	return code;
}
