/* carapacectl — the operator's view of a running carapaced.
 *
 * Talks HTTP to the daemon's admin listener (admin_listen of
 * carapaced.conf: a loopback address or a unix socket), the way `nginx -s`
 * talks to nginx: status, the open streams, the audit trail as it
 * happens, reload. check-config needs no daemon: it validates a file as
 * `carapaced -t` does. A failure travels back to main as a return value;
 * main alone picks the exit status (0 done, 1 failed, 2 usage). */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <time.h>

#include "cfg.h"
#include "text.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define DEFAULT_CONFIG SYSCONFDIR "/carapace/carapaced.conf"
#define CONNECT_TIMEOUT_SECS 5L
#define TOTAL_TIMEOUT_SECS 30L
#define MAX_ANSWER (16u << 20)  /* status, streams, reload */
#define MAX_EVENT (16u << 20)   /* one SSE line, one event's data */
#define MAX_METHODS_SHOWN 4     /* of a JSON-RPC batch, on a sniff line */
#define MAX_COLS 8

enum outcome { DONE, FAILED, BAD_USAGE };

/* Where the admin listener is. */
struct target {
	char base[600];      /* URL prefix, e.g. http://127.0.0.1:8766 */
	char unix_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char shown[620];     /* for messages, as an operator writes it */
};

struct ctx {
	const char *config;
	int config_given;
	const char *admin;   /* --admin, parsed into to at once */
	int json;
	struct target to;
};

struct command {
	const char *name;
	enum outcome (*run)(struct ctx *cx, int argc, char **argv);
};

static int complain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Returns -1 so that a caller can end with `return complain(...)`. */
static int complain(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout); /* what was printed so far comes first */
	fputs("carapacectl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: carapacectl [-c FILE | --admin URL] [-j] COMMAND [ARGS]\n"
		"       carapacectl -V | --help\n"
		"\n"
		"commands:\n"
		"  status                 the daemon, its counters and tools\n"
		"  streams                the open streams\n"
		"  sniff [--tool T] [--denied]\n"
		"                         follow the audit trail until ^C\n"
		"  reload                 reload the configuration\n"
		"  check-config [FILE]    check a configuration file (no "
		"daemon needed)\n"
		"\n"
		"  -c, --config FILE    read admin_listen from FILE\n"
		"                       (default %s)\n"
		"      --admin URL      http://HOST:PORT or unix:/PATH instead\n"
		"  -j, --json           print the daemon's JSON as received\n"
		"  -V, --version        print the version and exit\n"
		"  -h, --help           print this help and exit\n",
		DEFAULT_CONFIG);
}

/* ---- growing strings ---- */

struct sb {
	char *p;
	size_t len, cap;
	int oom;             /* a failed append: the text is incomplete */
};

static void sb_add(struct sb *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 128;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (p == NULL) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_printf(struct sb *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void sb_printf(struct sb *b, const char *fmt, ...)
{
	char small[256];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = 1;
	} else if ((size_t)n < sizeof(small)) {
		sb_add(b, small, (size_t)n);
	} else {
		char *big = malloc((size_t)n + 1);
		if (big == NULL) {
			b->oom = 1;
			return;
		}
		va_start(ap, fmt);
		vsnprintf(big, (size_t)n + 1, fmt, ap);
		va_end(ap);
		sb_add(b, big, (size_t)n);
		free(big);
	}
}

/* Paths, reasons and method names come from the gateway's clients: an
 * escape sequence in one must not reach the operator's terminal. C0, DEL,
 * C1 (U+0080..U+009F) and bytes that are not well-formed UTF-8 (a lone
 * 0x9b is CSI to an 8-bit terminal) are shown as \xNN, byte by byte. */
static void sb_clean(struct sb *b, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t n = strlen(s), i = 0, start = 0;

	while (i < n) {
		uint32_t cp = 0;
		size_t k = text_utf8_char(u + i, n - i, &cp);
		if (k > 0 && cp >= 0x20 && cp != 0x7f &&
		    (cp < 0x80 || cp > 0x9f)) {
			i += k;
			continue;
		}
		sb_add(b, s + start, i - start);
		for (size_t j = 0; j < (k ? k : 1); j++)
			sb_printf(b, "\\x%02x", u[i + j]);
		i += k ? k : 1;
		start = i;
	}
	sb_add(b, s + start, i - start);
}

static const char *sb_str(const struct sb *b)
{
	return b->p ? b->p : "";
}

static void sb_free(struct sb *b)
{
	free(b->p);
	*b = (struct sb){ 0 };
}

/* ---- reading the daemon's JSON: absent and null alike ---- */

static json_object *jget(json_object *o, const char *key)
{
	json_object *v = NULL;

	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

static const char *jstr(json_object *o, const char *key)
{
	json_object *v = jget(o, key);

	return json_object_is_type(v, json_type_string) ?
		       json_object_get_string(v) : NULL;
}

static int jnum(json_object *o, const char *key, double *out)
{
	json_object *v = jget(o, key);

	if (!json_object_is_type(v, json_type_int) &&
	    !json_object_is_type(v, json_type_double))
		return -1;
	*out = json_object_get_double(v);
	return 0;
}

static int jint(json_object *o, const char *key, int64_t *out)
{
	json_object *v = jget(o, key);

	if (!json_object_is_type(v, json_type_int) &&
	    !json_object_is_type(v, json_type_double))
		return -1;
	*out = json_object_get_int64(v);
	return 0;
}

/* Element i of an array as text: "" for null, JSON for the rest. */
static const char *jitem(json_object *arr, size_t i)
{
	const char *s =
		json_object_get_string(json_object_array_get_idx(arr, i));

	return s ? s : "";
}

/* Exactly one JSON object and nothing after it but blanks. */
static json_object *parse_object(const struct sb *b)
{
	json_tokener *tok = json_tokener_new();
	json_object *o;

	if (tok == NULL || b->p == NULL || b->len > INT32_MAX) {
		json_tokener_free(tok);
		return NULL;
	}
	o = json_tokener_parse_ex(tok, b->p, (int)b->len);
	size_t end = json_tokener_get_parse_end(tok);
	if (json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(o, json_type_object) ||
	    b->p[end + strspn(b->p + end, " \t\r\n")] != '\0') {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

/* ---- formats ---- */

/* 12s, 3m04s, 2h05m, 3d04h: precise when it matters, short always. */
static const char *fmt_age(double secs, char *buf, size_t size)
{
	if (!(secs >= 0) || secs > 1e12)
		return "-";
	unsigned long long s = (unsigned long long)secs;
	if (s < 60)
		snprintf(buf, size, "%llus", s);
	else if (s < 3600)
		snprintf(buf, size, "%llum%02llus", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, size, "%lluh%02llum", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, size, "%llud%02lluh", s / 86400, s % 86400 / 3600);
	return buf;
}

static const char *fmt_ms(double ms, char *buf, size_t size)
{
	if (!(ms >= 0))
		return "-";
	if (ms < 1000)
		snprintf(buf, size, "%.0fms", ms);
	else if (ms < 60000)
		snprintf(buf, size, "%.1fs", ms / 1000);
	else
		return fmt_age(ms / 1000, buf, size);
	return buf;
}

static const char *fmt_bytes(int64_t n, char *buf, size_t size)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	size_t i = 0;

	if (n < 0)
		return "-";
	while (v >= 1024 && i + 1 < sizeof(unit) / sizeof(unit[0])) {
		v /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(buf, size, "%" PRId64 "B", n);
	else
		snprintf(buf, size, v < 10 ? "%.1f%s" : "%.0f%s", v, unit[i]);
	return buf;
}

/* The daemon writes RFC 3339 in UTC with milliseconds; offsets and other
 * precisions are taken too. */
static int parse_time(const char *s, time_t *t, int *ms)
{
	struct tm tm = { 0 };
	int n = 0, off = 0, oh, om;

	if (s == NULL ||
	    sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &tm.tm_year,
		   &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
		   &tm.tm_sec, &n) != 6 || n == 0)
		return -1;
	s += n;
	*ms = 0;
	if (*s == '.') {
		for (int place = 100; *++s >= '0' && *s <= '9'; place /= 10)
			*ms += (*s - '0') * place;
	}
	if ((*s == '+' || *s == '-') &&
	    sscanf(s + 1, "%2d:%2d", &oh, &om) == 2)
		off = (*s == '-' ? -1 : 1) * (oh * 3600 + om * 60);
	else if (*s != 'Z' && *s != 'z')
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*t = timegm(&tm) - off;
	return 0;
}

static const char *fmt_date(const char *ts, char *buf, size_t size)
{
	struct tm tm;
	time_t t;
	int ms;

	if (ts == NULL)
		return "-";
	if (parse_time(ts, &t, &ms) < 0 || localtime_r(&t, &tm) == NULL ||
	    strftime(buf, size, "%Y-%m-%d %H:%M:%S %Z", &tm) == 0)
		return ts;
	return buf;
}

static const char *fmt_clock(const char *ts, char *buf, size_t size)
{
	struct tm tm;
	time_t t;
	int ms;

	if (parse_time(ts, &t, &ms) < 0 || localtime_r(&t, &tm) == NULL)
		return "??:??:??.???";
	snprintf(buf, size, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min,
		 tm.tm_sec, ms);
	return buf;
}

/* The value of key for a table cell; "-" when absent or null. */
static const char *cell_str(json_object *o, const char *key)
{
	const char *s = jstr(o, key);

	return s ? s : "-";
}

static const char *cell_int(json_object *o, const char *key, char *buf,
			    size_t size)
{
	int64_t n;

	if (jint(o, key, &n) < 0)
		return "-";
	snprintf(buf, size, "%" PRId64, n);
	return buf;
}

static const char *cell_age(json_object *o, const char *key, char *buf,
			    size_t size)
{
	double secs;

	return jnum(o, key, &secs) < 0 ? "-" : fmt_age(secs, buf, size);
}

static const char *cell_bytes(json_object *o, const char *key, char *buf,
			      size_t size)
{
	int64_t n;

	return jint(o, key, &n) < 0 ? "-" : fmt_bytes(n, buf, size);
}

/* ---- aligned columns ---- */

struct table {
	size_t ncols;
	unsigned right;      /* bit i: column i holds numbers, aligned right */
	char **cell;         /* row-major, cleaned */
	size_t ncells, cap;
	int oom;
};

static void table_row(struct table *t, const char *const *v)
{
	if (t->ncells + t->ncols > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16 * t->ncols;
		char **grown = realloc(t->cell, cap * sizeof(*grown));
		if (grown == NULL) {
			t->oom = 1;
			return;
		}
		t->cell = grown;
		t->cap = cap;
	}
	for (size_t i = 0; i < t->ncols; i++) {
		struct sb b = { 0 };
		sb_clean(&b, v[i]);
		sb_add(&b, "", 0);
		t->oom |= b.oom;
		t->cell[t->ncells++] = b.p;
	}
}

/* Columns line up on a terminal: count characters, not UTF-8 bytes. */
static size_t width(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

static int table_print(const struct table *t)
{
	size_t w[MAX_COLS] = { 0 };

	if (t->oom)
		return complain("%s", "out of memory");
	for (size_t i = 0; i < t->ncells; i++)
		if (width(t->cell[i]) > w[i % t->ncols])
			w[i % t->ncols] = width(t->cell[i]);
	for (size_t i = 0; i < t->ncells; i++) {
		size_t col = i % t->ncols, pad = w[col] - width(t->cell[i]);
		int last = col + 1 == t->ncols, right = t->right >> col & 1;
		printf("%*s%s%*s%s", right ? (int)pad : 0, "", t->cell[i],
		       right || last ? 0 : (int)pad, "", last ? "\n" : "  ");
	}
	return 0;
}

static void table_free(struct table *t)
{
	for (size_t i = 0; i < t->ncells; i++)
		free(t->cell[i]);
	free(t->cell);
}

/* ---- where the daemon is ---- */

static size_t scheme_len(const char *url)
{
	if (strncasecmp(url, "http://", 7) == 0)
		return 7;
	return strncasecmp(url, "https://", 8) == 0 ? 8 : 0;
}

static int target_from_url(struct target *t, const char *url)
{
	size_t n = strlen(url);

	if (strncmp(url, "unix:", 5) == 0) {
		if (url[5] != '/' || n - 5 >= sizeof(t->unix_path))
			return -1;
		snprintf(t->unix_path, sizeof(t->unix_path), "%s", url + 5);
		snprintf(t->base, sizeof(t->base), "http://localhost");
		snprintf(t->shown, sizeof(t->shown), "%s", url);
		return 0;
	}
	size_t scheme = scheme_len(url);
	if (scheme == 0 || n == scheme || n >= sizeof(t->base) ||
	    strpbrk(url, "?# ") != NULL)
		return -1;
	while (n > scheme + 1 && url[n - 1] == '/')
		n--;
	snprintf(t->base, sizeof(t->base), "%.*s", (int)n, url);
	snprintf(t->shown, sizeof(t->shown), "%s", t->base);
	t->unix_path[0] = '\0';
	return 0;
}

static void target_from_admin(struct target *t, const struct cfg_admin *a)
{
	if (a->is_unix) {
		snprintf(t->unix_path, sizeof(t->unix_path), "%s",
			 a->unix_path);
		snprintf(t->base, sizeof(t->base), "http://localhost");
		snprintf(t->shown, sizeof(t->shown), "unix:%s", a->unix_path);
		return;
	}
	snprintf(t->base, sizeof(t->base),
		 a->addr.is_ipv6 ? "http://[%s]:%u" : "http://%s:%u",
		 a->addr.host, a->addr.port);
	snprintf(t->shown, sizeof(t->shown), "%s", t->base);
	t->unix_path[0] = '\0';
}

/* As `carapaced -t` says it, so both point at the same key. */
static int load_config(const char *file, struct cfg **cfg)
{
	struct error err;

	if (cfg_load_file(file, cfg, &err) == 0)
		return 0;
	if (err.key[0] != '\0')
		return complain("%s: %s: %s", file, err.key, err.msg);
	return complain("%s: %s", file, err.msg);
}

static int resolve_target(struct ctx *cx)
{
	struct cfg *cfg;

	if (cx->admin != NULL)
		return 0;
	if (load_config(cx->config, &cfg) < 0)
		return -1;
	if (!cfg->admin.enabled) {
		cfg_free(cfg);
		return complain("%s has no admin_listen: carapaced has no "
				"admin listener to talk to", cx->config);
	}
	target_from_admin(&cx->to, &cfg->admin);
	cfg_free(cfg);
	return 0;
}

/* ---- one request, one JSON answer ---- */

struct answer {
	struct sb body;
	int too_big;
};

static size_t keep_body(char *p, size_t size, size_t nitems, void *arg)
{
	struct answer *a = arg;
	size_t n = size * nitems;

	if (a->body.len + n > MAX_ANSWER) {
		a->too_big = 1;
		return 0;
	}
	sb_add(&a->body, p, n);
	return a->body.oom ? 0 : n;
}

/* A handle on path of the admin listener. Proxies are never right for
 * it: it is on this host, and http_proxy in an operator's environment
 * would otherwise send the request elsewhere. */
static CURL *admin_handle(const struct target *t, const char *path,
			  char *errbuf)
{
	char url[2048];
	CURL *c;

	if ((size_t)snprintf(url, sizeof(url), "%s%s", t->base, path) >=
		    sizeof(url) ||
	    (c = curl_easy_init()) == NULL)
		return NULL;
	curl_easy_setopt(c, CURLOPT_URL, url);
	if (t->unix_path[0] != '\0')
		curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, t->unix_path);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_SECS);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "carapacectl/" PACKAGE_VERSION);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	errbuf[0] = '\0';
	return c;
}

/* For a unix socket, curl's own text names "localhost port 80": the
 * system's reason (no such file, permission denied) says more. */
static int unreachable(const struct target *t, CURL *c, CURLcode rc,
		       const char *errbuf)
{
	long os_errno = 0;

	curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
	if (t->unix_path[0] != '\0' && os_errno != 0)
		return complain("cannot reach carapaced at %s: %s", t->shown,
				strerror((int)os_errno));
	return complain("cannot reach carapaced at %s: %s", t->shown,
			errbuf[0] ? errbuf : curl_easy_strerror(rc));
}

/* The daemon's own words for a refusal: {"error":{"message":...}}. */
static int refused(const struct target *t, long status, const struct sb *body)
{
	json_object *o = parse_object(body);
	const char *msg = jstr(jget(o, "error"), "message");
	struct sb b = { 0 };

	if (msg != NULL) {
		sb_clean(&b, msg);
		complain("%s (HTTP %ld)", sb_str(&b), status);
	} else {
		complain("carapaced at %s answered HTTP %ld", t->shown, status);
	}
	sb_free(&b);
	json_object_put(o);
	return -1;
}

static int judge(const struct target *t, CURL *c, const char *what,
		 CURLcode rc, const char *errbuf, struct answer *a,
		 json_object **out)
{
	long status = 0;

	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (a->too_big)
		return complain("%s: the answer is larger than 16 MiB", what);
	if (rc != CURLE_OK && status == 0)
		return unreachable(t, c, rc, errbuf);
	if (rc != CURLE_OK)
		return complain("%s at %s: %s", what, t->shown,
				errbuf[0] ? errbuf : curl_easy_strerror(rc));
	if (status < 200 || status > 299)
		return refused(t, status, &a->body);
	if ((*out = parse_object(&a->body)) == NULL)
		return complain("%s: the answer of %s is not a JSON object",
				what, t->shown);
	return 0;
}

/* method is GET or POST; on success *out is the answer and raw, when
 * given, its text as received (for --json). */
static int call(const struct target *t, const char *method, const char *path,
		json_object **out, struct sb *raw)
{
	char errbuf[CURL_ERROR_SIZE], what[128];
	struct answer a = { 0 };
	CURL *c = admin_handle(t, path, errbuf);

	if (c == NULL)
		return complain("%s", "cannot initialise libcurl");
	snprintf(what, sizeof(what), "%s %s", method, path);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, TOTAL_TIMEOUT_SECS);
	if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
	}
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
	CURLcode rc = curl_easy_perform(c);
	int r = judge(t, c, what, rc, errbuf, &a, out);
	curl_easy_cleanup(c);
	if (r == 0 && raw != NULL)
		*raw = a.body;
	else
		sb_free(&a.body);
	return r;
}

/* ---- options after the command ---- */

static int bad_option(const char *cmd, char **argv, int ch)
{
	if (ch == ':')
		return complain("%s: %s needs a value", cmd, argv[optind - 1]);
	if (optopt != 0)
		return complain("%s: unknown option -%c", cmd, optopt);
	return complain("%s: unknown option %s", cmd, argv[optind - 1]);
}

/* --json may follow any command too; returns the index of the first
 * operand, or -1. */
static int plain_options(struct ctx *cx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	optind = 0; /* glibc: start afresh on this argv */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:j", longopts, NULL)) != -1) {
		if (ch != 'j')
			return bad_option(argv[0], argv, ch);
		cx->json = 1;
	}
	return optind;
}

static int no_operands(struct ctx *cx, int argc, char **argv)
{
	int first = plain_options(cx, argc, argv);

	if (first < 0)
		return -1;
	if (first < argc)
		return complain("%s takes no arguments", argv[0]);
	return 0;
}

/* ---- status, streams, reload ---- */

/* JSON as the daemon sent it, but never a terminal control: DEL, C1 and
 * bytes that are not UTF-8 in its strings are written as \u escapes. */
static void put_json(const char *text, size_t len)
{
	size_t n = 0;
	char *clean = text_json_clean(text, len, &n);

	if (clean == NULL) {
		complain("%s", "out of memory");
		return;
	}
	fwrite(clean, 1, n, stdout);
	if (n == 0 || clean[n - 1] != '\n')
		putchar('\n');
	free(clean);
}

static int print_raw(const struct sb *raw)
{
	put_json(raw->p ? raw->p : "", raw->len);
	return 0;
}

static const char *joined(json_object *arr, struct sb *b)
{
	size_t n = json_object_is_type(arr, json_type_array) ?
			   json_object_array_length(arr) : 0;

	for (size_t i = 0; i < n; i++)
		sb_printf(b, "%s%s", i ? ", " : "", jitem(arr, i));
	return b->len ? sb_str(b) : "-";
}

static int status_tools(json_object *tools)
{
	static const char *const head[] = { "NAME",     "TYPE",   "LISTEN",
					    "REQUESTS", "DENIED", "STREAMS" };
	struct table t = { .ncols = 6, .right = 070 };
	size_t n = json_object_is_type(tools, json_type_array) ?
			   json_object_array_length(tools) : 0;

	table_row(&t, head);
	for (size_t i = 0; i < n; i++) {
		json_object *o = json_object_array_get_idx(tools, i);
		char r[24], d[24], s[24];
		const char *row[] = {
			cell_str(o, "name"),
			cell_str(o, "type"),
			cell_str(o, "listen"),
			cell_int(o, "requests_total", r, sizeof(r)),
			cell_int(o, "denied_total", d, sizeof(d)),
			cell_int(o, "active_streams", s, sizeof(s)),
		};
		table_row(&t, row);
	}
	putchar('\n');
	int r = n == 0 ? puts("no tools") : table_print(&t);
	table_free(&t);
	return r < 0 ? -1 : 0;
}

static int print_status(json_object *o)
{
	char pid[24], started[64], up[24], loaded[64], errs[24], req[24],
		den[24], act[24];
	struct sb listen = { 0 };
	const char *audit = jstr(o, "audit_log");
	const char *kv[][2] = {
		{ "version:", cell_str(o, "version") },
		{ "pid:", cell_int(o, "pid", pid, sizeof(pid)) },
		{ "started:", fmt_date(jstr(o, "started"), started,
				       sizeof(started)) },
		{ "uptime:", cell_age(o, "uptime_secs", up, sizeof(up)) },
		{ "config file:", cell_str(o, "config_file") },
		{ "config loaded:", fmt_date(jstr(o, "config_loaded"), loaded,
					     sizeof(loaded)) },
		{ "listen:", joined(jget(o, "listen"), &listen) },
		{ "admin listen:", cell_str(o, "admin_listen") },
		{ "audit log:", audit ? audit : "off" },
		{ "audit write errors:",
		  cell_int(o, "audit_write_errors", errs, sizeof(errs)) },
		{ "requests:", cell_int(o, "requests_total", req, sizeof(req)) },
		{ "denied:", cell_int(o, "denied_total", den, sizeof(den)) },
		{ "active streams:",
		  cell_int(o, "active_streams", act, sizeof(act)) },
	};
	struct table t = { .ncols = 2 };

	for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
		table_row(&t, kv[i]);
	int r = table_print(&t);
	table_free(&t);
	sb_free(&listen);
	return r < 0 ? -1 : status_tools(jget(o, "tools"));
}

static int print_streams(json_object *o)
{
	static const char *const head[] = { "ID",     "CLIENT", "TOOL",
					    "METHOD", "PATH",   "AGE",
					    "BYTES",  "IDLE" };
	json_object *list = jget(o, "streams");
	struct table t = { .ncols = 8, .right = 0340 };

	if (!json_object_is_type(list, json_type_array))
		return complain("%s", "the answer of GET /v1/streams has no "
				      "\"streams\" list");
	size_t n = json_object_array_length(list);
	if (n == 0) {
		puts("no open streams");
		return 0;
	}
	table_row(&t, head);
	for (size_t i = 0; i < n; i++) {
		json_object *s = json_object_array_get_idx(list, i);
		char age[24], bytes[24], idle[24];
		const char *row[] = {
			cell_str(s, "id"),
			cell_str(s, "client"),
			cell_str(s, "tool"),
			cell_str(s, "method"),
			cell_str(s, "path"),
			cell_age(s, "age_secs", age, sizeof(age)),
			cell_bytes(s, "bytes_out", bytes, sizeof(bytes)),
			cell_age(s, "idle_secs", idle, sizeof(idle)),
		};
		table_row(&t, row);
	}
	int r = table_print(&t);
	table_free(&t);
	return r;
}

static enum outcome show(struct ctx *cx, int argc, char **argv,
			 const char *path, int (*print)(json_object *))
{
	struct sb raw = { 0 };
	json_object *o;

	if (no_operands(cx, argc, argv) < 0)
		return BAD_USAGE;
	if (resolve_target(cx) < 0 ||
	    call(&cx->to, "GET", path, &o, &raw) < 0)
		return FAILED;
	int r = cx->json ? print_raw(&raw) : print(o);
	json_object_put(o);
	sb_free(&raw);
	return r < 0 ? FAILED : DONE;
}

static enum outcome cmd_status(struct ctx *cx, int argc, char **argv)
{
	return show(cx, argc, argv, "/v1/status", print_status);
}

static enum outcome cmd_streams(struct ctx *cx, int argc, char **argv)
{
	return show(cx, argc, argv, "/v1/streams", print_streams);
}

static enum outcome cmd_reload(struct ctx *cx, int argc, char **argv)
{
	struct sb raw = { 0 };
	json_object *o;
	int r = 0;

	if (no_operands(cx, argc, argv) < 0)
		return BAD_USAGE;
	if (resolve_target(cx) < 0 ||
	    call(&cx->to, "POST", "/v1/reload", &o, &raw) < 0)
		return FAILED;
	if (cx->json)
		print_raw(&raw);
	if (!json_object_get_boolean(jget(o, "reloaded"))) {
		r = complain("%s", "the daemon answered without reloading");
	} else if (!cx->json) {
		struct sb b = { 0 };
		sb_clean(&b, cell_str(o, "config_file"));
		printf("reloaded %s\n", sb_str(&b));
		sb_free(&b);
	}
	json_object_put(o);
	sb_free(&raw);
	return r < 0 ? FAILED : DONE;
}

static enum outcome cmd_check_config(struct ctx *cx, int argc, char **argv)
{
	int first = plain_options(cx, argc, argv);
	struct cfg *cfg;

	if (first < 0)
		return BAD_USAGE;
	if (argc - first > 1) {
		complain("%s", "check-config takes one FILE");
		return BAD_USAGE;
	}
	const char *file = first < argc ? argv[first] : cx->config;
	if (load_config(file, &cfg) < 0)
		return FAILED;
	cfg_free(cfg);
	printf("carapacectl: configuration file %s test is successful\n",
	       file);
	return DONE;
}

/* ---- sniff: the audit trail as server-sent events ---- */

static volatile sig_atomic_t stopping;

static void on_stop(int sig)
{
	(void)sig;
	stopping = 1;
}

/* Not SA_RESTART: libcurl's poll() returns early and the progress
 * callback below ends the transfer within a loop turn. */
static void catch_stop_signals(void)
{
	struct sigaction sa = { .sa_handler = on_stop };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static int check_stop(void *arg, curl_off_t dltotal, curl_off_t dlnow,
		      curl_off_t ultotal, curl_off_t ulnow)
{
	(void)arg;
	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return stopping;
}

struct sniff {
	CURL *curl;
	int json;
	int looked;          /* status and Content-Type seen */
	long status;
	const char *why;     /* we ended the transfer, and why */
	struct sb error;     /* a non-2xx answer, for its message */
	struct sb line;      /* lines not yet taken, the last unfinished */
	size_t scanned;      /* of line: bytes known to hold no '\n' */
	char event[32];
	struct sb data;
	int has_data;
	size_t tool_width;   /* widest tool so far: columns settle fast */
};

/* Quoted as a shell would need it, so that the line reads as the
 * command that ran; escaped after, as a whole. */
static void put_argv(struct sb *b, json_object *argv)
{
	size_t n = json_object_is_type(argv, json_type_array) ?
			   json_object_array_length(argv) : 0;
	struct sb q = { 0 };

	for (size_t i = 0; i < n; i++) {
		const char *a = jitem(argv, i), *quote;
		if (a[0] != '\0' && strpbrk(a, " \t'\"\\$`*?;&|<>()") == NULL) {
			sb_printf(&q, " %s", a);
			continue;
		}
		sb_add(&q, " '", 2);
		for (; (quote = strchr(a, '\'')) != NULL; a = quote + 1) {
			sb_add(&q, a, (size_t)(quote - a));
			sb_add(&q, "'\\''", 4);
		}
		sb_printf(&q, "%s'", a);
	}
	sb_clean(b, n > 0 ? sb_str(&q) : " -");
	b->oom |= q.oom;
	sb_free(&q);
}

static void put_methods(struct sb *b, json_object *methods)
{
	size_t n = json_object_is_type(methods, json_type_array) ?
			   json_object_array_length(methods) : 0;

	for (size_t i = 0; i < n && i < MAX_METHODS_SHOWN; i++) {
		sb_add(b, i ? "," : " [", i ? 1 : 2);
		sb_clean(b, jitem(methods, i));
	}
	if (n > MAX_METHODS_SHOWN)
		sb_printf(b, ",+%zu", n - MAX_METHODS_SHOWN);
	if (n > 0)
		sb_add(b, "]", 1);
}

static void put_what(struct sb *b, json_object *r)
{
	const char *kind = jstr(r, "kind");

	if (kind != NULL && strcmp(kind, "cli") == 0) {
		put_argv(b, jget(r, "argv"));
		return;
	}
	sb_add(b, " ", 1);
	sb_clean(b, cell_str(r, "http_method"));
	sb_add(b, " ", 1);
	sb_clean(b, cell_str(r, "path"));
	put_methods(b, jget(r, "jsonrpc_methods"));
}

static void put_cost(struct sb *b, json_object *r)
{
	char buf[32];
	double ms;
	int64_t n;

	if (jnum(r, "duration_ms", &ms) == 0)
		sb_printf(b, " %s", fmt_ms(ms, buf, sizeof(buf)));
	if (jint(r, "bytes_out", &n) == 0)
		sb_printf(b, " %s", fmt_bytes(n, buf, sizeof(buf)));
}

static void put_outcome(struct sb *b, json_object *r, const char *label)
{
	int64_t n;

	if (strcmp(label, "END") == 0) {
		if (jstr(r, "ended") != NULL) {
			sb_add(b, " (", 2);
			sb_clean(b, jstr(r, "ended"));
			sb_add(b, ")", 1);
		}
		put_cost(b, r);
	} else {
		if (jint(r, "status", &n) == 0)
			sb_printf(b, " %" PRId64, n);
		if (jint(r, "exit_code", &n) == 0)
			sb_printf(b, " exit %" PRId64, n);
		if (strcmp(label, "ALLOW") == 0)
			put_cost(b, r);
	}
	if (jstr(r, "reason") != NULL) {
		sb_add(b, " ", 1);
		sb_clean(b, jstr(r, "reason"));
	}
}

static const char *label_of(json_object *r)
{
	const char *ev = cell_str(r, "event"), *d = cell_str(r, "decision");

	if (strcmp(ev, "stream_open") == 0)
		return "OPEN";
	if (strcmp(ev, "stream_end") == 0)
		return "END";
	if (strcmp(d, "deny") == 0)
		return "DENY";
	return strcmp(d, "allow") == 0 ? "ALLOW" : "?";
}

/* 16:18:19.123 DENY  sig  POST /api/v1/rpc [removeAccount] 403 reason */
static void show_record(struct sniff *s, json_object *r)
{
	const char *label = label_of(r);
	struct sb b = { 0 }, tool = { 0 };
	char clock[32];

	sb_clean(&tool, cell_str(r, "tool"));
	if (width(sb_str(&tool)) > s->tool_width)
		s->tool_width = width(sb_str(&tool));
	sb_printf(&b, "%s %-5s %s%*s ",
		  fmt_clock(jstr(r, "ts"), clock, sizeof(clock)), label,
		  sb_str(&tool), (int)(s->tool_width - width(sb_str(&tool))),
		  "");
	put_what(&b, r);
	put_outcome(&b, r, label);
	sb_add(&b, "\n", 1);
	if (!b.oom)
		fputs(b.p, stdout);
	sb_free(&b);
	sb_free(&tool);
}

static void show_audit(struct sniff *s)
{
	const int flags = JSON_C_TO_STRING_PLAIN |
			  JSON_C_TO_STRING_NOSLASHESCAPE;
	const char *text;
	size_t len = 0;
	json_object *r;

	if (s->json && memchr(s->data.p, '\n', s->data.len) == NULL) {
		put_json(s->data.p, s->data.len);
	} else if ((r = parse_object(&s->data)) == NULL) {
		complain("%s", "an audit record that is not a JSON object");
	} else {
		if (!s->json)
			show_record(s, r);
		else if ((text = json_object_to_json_string_length(
				  r, flags, &len)) != NULL)
			put_json(text, len);
		json_object_put(r);
	}
	fflush(stdout); /* a pipe reader wants each line now */
}

/* The daemon dropped records for us: say so where a `| grep` leaves it
 * visible. */
static void show_dropped(struct sniff *s)
{
	json_object *o = parse_object(&s->data);
	int64_t n = 0;

	jint(o, "dropped", &n);
	complain("%" PRId64 " audit records dropped: this reader fell behind",
		 n);
	json_object_put(o);
}

static void dispatch(struct sniff *s)
{
	if (s->has_data && !s->data.oom) {
		if (strcmp(s->event, "audit") == 0)
			show_audit(s);
		else if (strcmp(s->event, "dropped") == 0)
			show_dropped(s);
	}
	s->event[0] = '\0';
	s->data.len = 0;
	s->data.oom = 0;
	s->has_data = 0;
}

/* One line of the stream, per the SSE rules: "field: value", "field"
 * alone, ":comment", and a blank line that ends an event. */
static void take_line(struct sniff *s, char *line, size_t len)
{
	if (len > 0 && line[len - 1] == '\r')
		line[--len] = '\0';
	if (len == 0) {
		dispatch(s);
		return;
	}
	if (line[0] == ':')
		return;
	char *value = strchr(line, ':');
	if (value == NULL)
		value = line + len;
	else
		*value++ = '\0';
	if (*value == ' ')
		value++;
	if (strcmp(line, "event") == 0) {
		snprintf(s->event, sizeof(s->event), "%s", value);
	} else if (strcmp(line, "data") == 0) {
		if (s->has_data)
			sb_add(&s->data, "\n", 1);
		sb_add(&s->data, value, strlen(value));
		sb_add(&s->data, "", 0);
		s->has_data = 1;
	}
}

/* Lines arrive cut anywhere: keep the unfinished tail, and look for '\n'
 * only in bytes not yet looked at, so a long data: line costs one pass. */
static int take_lines(struct sniff *s, const char *p, size_t n)
{
	sb_add(&s->line, p, n);
	if (s->line.oom)
		return -1;
	char *start = s->line.p, *end = s->line.p + s->line.len;
	char *from = s->line.p + s->scanned, *nl;
	while ((nl = memchr(from, '\n', (size_t)(end - from))) != NULL) {
		*nl = '\0';
		take_line(s, start, (size_t)(nl - start));
		start = from = nl + 1;
	}
	s->line.len = (size_t)(end - start);
	memmove(s->line.p, start, s->line.len + 1);
	s->scanned = s->line.len;
	return s->line.len > MAX_EVENT || s->data.len > MAX_EVENT ? -1 : 0;
}

/* A 2xx that is not an event stream is not carapaced's audit. */
static void look(struct sniff *s)
{
	char *type = NULL;

	s->looked = 1;
	curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &s->status);
	curl_easy_getinfo(s->curl, CURLINFO_CONTENT_TYPE, &type);
	if (s->status >= 200 && s->status <= 299 &&
	    (type == NULL || strncasecmp(type, "text/event-stream", 17) != 0))
		s->why = "the answer of GET /v1/audit is not an event stream";
}

static size_t sniff_body(char *p, size_t size, size_t nitems, void *arg)
{
	struct sniff *s = arg;
	size_t n = size * nitems;

	if (!s->looked)
		look(s);
	if (s->why != NULL)
		return 0;
	if (s->status < 200 || s->status > 299) {
		if (s->error.len + n <= MAX_ANSWER)
			sb_add(&s->error, p, n);
		return n;
	}
	if (take_lines(s, p, n) < 0) {
		s->why = "an audit event is larger than 16 MiB";
		return 0;
	}
	return n;
}

static int audit_path(const char *tool, int denied, char *buf, size_t size)
{
	char *esc = tool ? curl_easy_escape(NULL, tool, 0) : NULL;

	if (tool != NULL && esc == NULL)
		return -1;
	int n = snprintf(buf, size, "/v1/audit%s%s%s%s", tool ? "?tool=" : "",
			 tool ? esc : "", denied ? (tool ? "&" : "?") : "",
			 denied ? "decision=deny" : "");
	curl_free(esc);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* The stream never ends well unless we were told to stop. */
static int how_it_ended(const struct sniff *s, const struct target *t,
			CURLcode rc, const char *errbuf)
{
	if (stopping)
		return 0;
	if (s->why != NULL)
		return complain("%s", s->why);
	if (s->status == 0)
		return unreachable(t, s->curl, rc, errbuf);
	if (s->status < 200 || s->status > 299)
		return refused(t, s->status, &s->error);
	return complain("%s", "the daemon closed the stream");
}

static int follow(struct sniff *s, const struct target *t, const char *path)
{
	char errbuf[CURL_ERROR_SIZE];
	struct curl_slist *h = curl_slist_append(NULL,
						 "Accept: text/event-stream");
	CURL *c = admin_handle(t, path, errbuf);

	if (c == NULL || h == NULL) {
		curl_easy_cleanup(c);
		curl_slist_free_all(h);
		return complain("%s", "cannot initialise libcurl");
	}
	s->curl = c;
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sniff_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, check_stop);
	CURLcode rc = curl_easy_perform(c);
	if (!s->looked)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &s->status);
	int r = how_it_ended(s, t, rc, errbuf);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	return r;
}

static int sniff_options(struct ctx *cx, int argc, char **argv,
			 const char **tool, int *denied)
{
	static const struct option longopts[] = {
		{ "tool", required_argument, NULL, 't' },
		{ "denied", no_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:j", longopts, NULL)) != -1) {
		switch (ch) {
		case 't': *tool = optarg; break;
		case 'd': *denied = 1; break;
		case 'j': cx->json = 1; break;
		default: return bad_option(argv[0], argv, ch);
		}
	}
	if (optind < argc)
		return complain("%s", "sniff takes only options");
	return 0;
}

static enum outcome cmd_sniff(struct ctx *cx, int argc, char **argv)
{
	const char *tool = NULL;
	int denied = 0;
	char path[512];
	struct sniff s = { 0 };

	if (sniff_options(cx, argc, argv, &tool, &denied) < 0)
		return BAD_USAGE;
	if (audit_path(tool, denied, path, sizeof(path)) < 0) {
		complain("%s", "--tool: name too long");
		return BAD_USAGE;
	}
	if (resolve_target(cx) < 0)
		return FAILED;
	s.json = cx->json;
	catch_stop_signals();
	int r = follow(&s, &cx->to, path);
	sb_free(&s.error);
	sb_free(&s.line);
	sb_free(&s.data);
	return r < 0 ? FAILED : DONE;
}

/* ---- main ---- */

static const struct command commands[] = {
	{ "status", cmd_status },
	{ "streams", cmd_streams },
	{ "sniff", cmd_sniff },
	{ "reload", cmd_reload },
	{ "check-config", cmd_check_config },
};

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* 0: run a command; 1: exit 0 now; -1: a usage error. */
static int parse_options(int argc, char **argv, struct ctx *cx)
{
	enum { OPT_ADMIN = 256 };
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "admin", required_argument, NULL, OPT_ADMIN },
		{ "json", no_argument, NULL, 'j' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	cx->config = DEFAULT_CONFIG;
	while ((ch = getopt_long(argc, argv, "+c:jVh", longopts, NULL)) !=
	       -1) {
		switch (ch) {
		case 'c': cx->config = optarg; cx->config_given = 1; break;
		case OPT_ADMIN: cx->admin = optarg; break;
		case 'j': cx->json = 1; break;
		case 'V': printf("carapacectl %s\n", PACKAGE_VERSION); return 1;
		case 'h': usage(stdout); return 1;
		default: return -1;
		}
	}
	if (cx->admin != NULL && cx->config_given)
		return complain("%s", "-c and --admin exclude each other");
	if (cx->admin != NULL && target_from_url(&cx->to, cx->admin) < 0)
		return complain("--admin %s: expected http://HOST:PORT or "
				"unix:/PATH", cx->admin);
	if (optind >= argc)
		return complain("%s", "no command");
	return 0;
}

int main(int argc, char **argv)
{
	struct ctx cx = { 0 };

	int rc = parse_options(argc, argv, &cx);
	if (rc != 0) {
		if (rc < 0)
			usage(stderr);
		return rc > 0 ? 0 : 2;
	}
	const struct command *cmd = find_command(argv[optind]);
	if (cmd == NULL) {
		complain("unknown command %s", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK) {
		complain("%s", "cannot initialise libcurl");
		return 1;
	}
	enum outcome out = cmd->run(&cx, argc - optind, argv + optind);
	curl_global_cleanup();
	if (out == BAD_USAGE)
		usage(stderr);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "carapacectl: standard output: %s\n",
			strerror(errno));
		return 1;
	}
	return out == DONE ? 0 : out == FAILED ? 1 : 2;
}
