/* cfg — see cfg.h.
 *
 * Key tables (top level, per tool, a tool's rate_limit, one of its
 * jsonrpc_param_filters) describe every key once: JSON type, bounds, string
 * check, setter, which type of tool it is for, or "later feature".  A
 * tool's type is read before its other keys, so a key for the other type
 * is refused as such.  The walker checks all that before a setter runs, so
 * setters only store, except for objects whose member names are the
 * user's (tools, filters, param allow-lists, inject_headers, env_inject),
 * checked as they are stored, and a cli tool's files (binary,
 * cwd_allowed), looked at on disk at load time.  A key the tables do not
 * know is an error, because a typo in a security policy must not pass
 * silently.  The first problem found is the one reported.  What a setter
 * makes is counted into the config at once, so cfg_free() cleans up after
 * an error anywhere. */
#include "config.h"

#include "cfg.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "header.h"

/* A policy file is a few kilobytes; megabytes mean a wrong file. */
#define CFG_MAX_BYTES ((size_t)4 << 20)
#define TOOL_NAME_MAX 64
#define DIGITS "0123456789"
#define ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" DIGITS
/* Tool names become URL path segments and log fields: keep them plain. */
#define TOOL_NAME_CHARS ALNUM "._-"
/* URL hosts: DNS names and IPv4 literals; IPv6 comes in brackets. */
#define URL_HOST_CHARS ALNUM ".-_"
/* RFC 9110 tchar: what a header name is made of. */
#define TOKEN_CHARS ALNUM "!#$%&'*+-.^_`|~"
#define HEADER_NAME_MAX 64
#define HTTP_METHOD_MAX 20
#define UPPER "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
/* Environment variable names: [A-Za-z_][A-Za-z0-9_]* */
#define ENV_NAME_CHARS ALNUM "_"
#define ENV_NAME_MAX 128

enum jtype { J_STRING, J_INT, J_STRINGS, J_OBJECT, J_BOOL };

#define KEY_REQUIRED 0x1u
#define KEY_LATER 0x2u /* a later feature's key: named, but refused */
#define KEY_HTTP 0x4u  /* a tool key for http tools only */
#define KEY_CLI 0x8u   /* a tool key for cli tools only */
#define KEY_SCOPE (KEY_HTTP | KEY_CLI)

/* Parse state: where we are (the key path) and where errors go. */
struct ctx {
	struct cfg_error *err;
	char path[sizeof(((struct cfg_error *)0)->path)];
	size_t path_len;
	unsigned scope; /* KEY_HTTP or KEY_CLI inside a tool, else 0 */
};

/* What a string must be beyond a string: NULL when s is good, else why. */
typedef const char *(*str_check)(const char *s);

struct key {
	const char *name;
	enum jtype type;
	long long min, max; /* J_INT only */
	unsigned flags;
	/* dst is the struct the table belongs to (cfg, tool, filter) */
	int (*set)(struct ctx *c, void *dst, struct json_object *v);
	str_check check; /* J_STRING and each J_STRINGS element; optional */
};

#define LATER(name, type) { name, type, 0, 0, KEY_LATER, NULL, NULL }

static int walk(struct ctx *c, const struct key *tab, void *dst,
		struct json_object *obj);
static int take_key(struct ctx *c, const struct key *tab, void *dst,
		    const char *name, struct json_object *v);
static int fail(struct ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct ctx *c, const char *fmt, ...)
{
	va_list ap;

	snprintf(c->err->path, sizeof(c->err->path), "%s", c->path);
	va_start(ap, fmt);
	vsnprintf(c->err->message, sizeof(c->err->message), fmt, ap);
	va_end(ap);
	return -1;
}

/* Paths end up on a terminal; keys are the user's bytes, so control
 * characters are shown as '?' rather than sent. */
static void path_put(struct ctx *c, const char *s)
{
	size_t room = sizeof(c->path) - 1;

	for (; *s && c->path_len < room; s++) {
		unsigned char ch = (unsigned char)*s;

		c->path[c->path_len++] = (ch < 0x20 || ch == 0x7f) ? '?' : *s;
	}
	c->path[c->path_len] = '\0';
}

static void path_cut(struct ctx *c, size_t len)
{
	c->path_len = len;
	c->path[len] = '\0';
}

/* Returns the length to give back to path_cut() when leaving the key. */
static size_t path_key(struct ctx *c, const char *name)
{
	size_t old = c->path_len;

	if (old)
		path_put(c, ".");
	path_put(c, name);
	return old;
}

static size_t path_index(struct ctx *c, size_t i)
{
	char buf[32];
	size_t old = c->path_len;

	snprintf(buf, sizeof(buf), "[%zu]", i);
	path_put(c, buf);
	return old;
}

static void path_set(struct ctx *c, const char *path)
{
	path_cut(c, 0);
	path_put(c, path);
}

/* --- addresses and URLs ------------------------------------------------ */

/* Exactly the n bytes at p: decimal 1..65535, no sign, blank or junk. */
static int parse_port(const char *p, size_t n, unsigned short *port)
{
	char *end;
	long v;

	if (n == 0 || p[0] < '0' || p[0] > '9')
		return -1;
	errno = 0;
	v = strtol(p, &end, 10);
	if (errno != 0 || end != p + n || v < 1 || v > 65535)
		return -1;
	*port = (unsigned short)v;
	return 0;
}

/* Numeric literal of family af in the n bytes at p, copied to host. */
static int parse_host(int af, const char *p, size_t n, char *host,
		      size_t size)
{
	unsigned char bin[sizeof(struct in6_addr)];

	if (n == 0 || n >= size)
		return -1;
	memcpy(host, p, n);
	host[n] = '\0';
	return inet_pton(af, host, bin) == 1 ? 0 : -1;
}

/* Splits "HOST:PORT" / "[V6]:PORT"; host is not NUL-terminated. */
static int split_hostport(const char *text, const char **host,
			  size_t *host_len, const char **port, int *is_ipv6)
{
	const char *sep;

	*is_ipv6 = text[0] == '[';
	if (*is_ipv6) {
		sep = strchr(text, ']');
		if (!sep || sep[1] != ':')
			return -1;
		*host = text + 1;
		*host_len = (size_t)(sep - *host);
		*port = sep + 2;
		return 0;
	}
	sep = strrchr(text, ':');
	if (!sep)
		return -1;
	*host = text;
	*host_len = (size_t)(sep - text);
	*port = sep + 1;
	return 0;
}

int cfg_parse_addr(const char *text, struct cfg_addr *out, const char **why)
{
	struct cfg_addr a = { .port = 0 };
	const char *host, *port, *msg;
	size_t host_len;

	msg = "expected HOST:PORT";
	if (!text || split_hostport(text, &host, &host_len, &port,
				    &a.is_ipv6) < 0)
		goto fail;
	msg = "host must be a numeric IPv4 or [IPv6] address";
	if (parse_host(a.is_ipv6 ? AF_INET6 : AF_INET, host, host_len,
		       a.host, sizeof(a.host)) < 0)
		goto fail;
	msg = "port must be 1..65535";
	if (parse_port(port, strlen(port), &a.port) < 0)
		goto fail;
	*out = a;
	return 0;
fail:
	if (why)
		*why = msg;
	return -1;
}

int cfg_addr_sockaddr(const struct cfg_addr *a, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (a->is_ipv6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(a->port);
		return inet_pton(AF_INET6, a->host, &s6->sin6_addr) == 1 ? 0 :
									  -1;
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	s4->sin_family = AF_INET;
	s4->sin_port = htons(a->port);
	return inet_pton(AF_INET, a->host, &s4->sin_addr) == 1 ? 0 : -1;
}

void cfg_format_addr(const struct cfg_addr *a, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s:%u", a->is_ipv6 ? "[" : "", a->host,
		 a->is_ipv6 ? "]" : "", a->port);
}

/* HOST[:PORT] in the n bytes at a, where HOST is a name, an IPv4 literal
 * or a bracketed IPv6 literal. */
static int url_authority_ok(const char *a, size_t n)
{
	char v6[INET6_ADDRSTRLEN + 1];
	unsigned short port;
	const char *close;
	size_t host_len;

	if (n > 0 && a[0] == '[') {
		close = memchr(a, ']', n);
		if (!close || parse_host(AF_INET6, a + 1,
					 (size_t)(close - a - 1), v6,
					 sizeof(v6)) < 0)
			return 0;
		host_len = (size_t)(close - a) + 1;
	} else {
		/* stops at ':' and '/', so never beyond n */
		host_len = strspn(a, URL_HOST_CHARS);
		if (host_len == 0)
			return 0;
	}
	if (host_len == n)
		return 1;
	return a[host_len] == ':' &&
	       parse_port(a + host_len + 1, n - host_len - 1, &port) == 0;
}

/* http(s)://HOST[:PORT][/PATH], with nothing another parser could read
 * differently: no userinfo, query, fragment, blanks or control bytes. */
static int url_ok(const char *s)
{
	const char *host;
	const char *p;

	if (strncmp(s, "http://", 7) == 0)
		host = s + 7;
	else if (strncmp(s, "https://", 8) == 0)
		host = s + 8;
	else
		return 0;
	for (p = s; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f ||
		    strchr("@?#", *p))
			return 0;
	return url_authority_ok(host, strcspn(host, "/"));
}

/* --- value checks, driven by the key tables ---------------------------- */

static int check_string(struct ctx *c, const struct key *k,
			struct json_object *v)
{
	const char *why;

	if (!json_object_is_type(v, json_type_string))
		return fail(c, "expected a string");
	/* a \u0000 inside would make C see a shorter string than JSON */
	if (strlen(json_object_get_string(v)) !=
	    (size_t)json_object_get_string_len(v))
		return fail(c, "string contains a NUL character");
	why = k->check ? k->check(json_object_get_string(v)) : NULL;
	if (why)
		return fail(c, "%s", why);
	return 0;
}

static int check_int(struct ctx *c, const struct key *k,
		     struct json_object *v)
{
	int64_t n;

	/* json_type_int only: 1.5, "30" and true are not integers */
	if (!json_object_is_type(v, json_type_int))
		return fail(c, "expected an integer");
	n = json_object_get_int64(v); /* clamps, so huge stays huge */
	if (n < k->min || n > k->max)
		return fail(c, "out of range (%lld..%lld)", k->min, k->max);
	return 0;
}

static int check_strings(struct ctx *c, const struct key *k,
			 struct json_object *v)
{
	size_t i, n, old;

	if (!json_object_is_type(v, json_type_array))
		return fail(c, "expected an array of strings");
	n = json_object_array_length(v);
	for (i = 0; i < n; i++) {
		old = path_index(c, i);
		if (check_string(c, k, json_object_array_get_idx(v, i)) < 0)
			return -1;
		path_cut(c, old);
	}
	return 0;
}

static int check_value(struct ctx *c, const struct key *k,
		       struct json_object *v)
{
	switch (k->type) {
	case J_STRING:
		return check_string(c, k, v);
	case J_INT:
		return check_int(c, k, v);
	case J_STRINGS:
		return check_strings(c, k, v);
	case J_OBJECT:
		if (!json_object_is_type(v, json_type_object))
			return fail(c, "expected an object");
		return 0;
	case J_BOOL:
		if (!json_object_is_type(v, json_type_boolean))
			return fail(c, "expected true or false");
		return 0;
	}
	return fail(c, "internal error: bad key type");
}

/* --- tool keys ---------------------------------------------------------- */

static int set_type(struct ctx *c, void *dst, struct json_object *v)
{
	struct cfg_tool *t = dst;
	const char *s = json_object_get_string(v);

	if (strcmp(s, "http") == 0) {
		t->type = CFG_TOOL_HTTP;
		return 0;
	}
	if (strcmp(s, "cli") == 0) {
		t->type = CFG_TOOL_CLI;
		return 0;
	}
	return fail(c, "unknown tool type");
}

static int set_upstream(struct ctx *c, void *dst, struct json_object *v)
{
	struct cfg_tool *t = dst;
	const char *s = json_object_get_string(v);
	size_t len = strlen(s);

	if (!url_ok(s))
		return fail(c, "not an http(s) URL");
	/* without trailing '/', joining a request path adds exactly one;
	 * url_ok() guarantees a host, so this stops before "//" */
	while (s[len - 1] == '/')
		len--;
	t->upstream = strndup(s, len); /* owned by the tool */
	if (!t->upstream)
		return fail(c, "out of memory");
	return 0;
}

static int take_addr(struct ctx *c, struct json_object *v,
		     struct cfg_addr *out)
{
	const char *why;

	if (cfg_parse_addr(json_object_get_string(v), out, &why) < 0)
		return fail(c, "%s", why);
	return 0;
}

static int set_tool_listen(struct ctx *c, void *dst, struct json_object *v)
{
	struct cfg_tool *t = dst;

	if (take_addr(c, v, &t->listen) < 0)
		return -1;
	t->has_listen = 1;
	return 0;
}

/* The table checked the range; these only store. */
static int set_timeout(struct ctx *c, void *dst, struct json_object *v)
{
	(void)c;
	((struct cfg_tool *)dst)->timeout_secs =
		(unsigned)json_object_get_int64(v);
	return 0;
}

static int set_idle(struct ctx *c, void *dst, struct json_object *v)
{
	(void)c;
	((struct cfg_tool *)dst)->stream_idle_timeout_secs =
		(unsigned)json_object_get_int64(v);
	return 0;
}

static int set_tool_max_body(struct ctx *c, void *dst, struct json_object *v)
{
	(void)c;
	((struct cfg_tool *)dst)->max_body_bytes =
		(size_t)json_object_get_int64(v);
	return 0;
}

/* --- string lists ------------------------------------------------------- */

/* The tables' check column: NULL when s is good, else why not. */
static const char *check_path_pattern(const char *s)
{
	return s[0] == '/' ? NULL : "a path pattern must start with '/'";
}

static const char *check_http_method(const char *s)
{
	size_t len = strlen(s);

	if (len >= 1 && len <= HTTP_METHOD_MAX && strspn(s, UPPER) == len)
		return NULL;
	return "not an upper-case HTTP method";
}

static const char *check_non_empty(const char *s)
{
	return s[0] ? NULL : "must not be empty";
}

static int header_name_ok(const char *s)
{
	size_t len = strlen(s);

	return len >= 1 && len <= HEADER_NAME_MAX &&
	       strspn(s, TOKEN_CHARS) == len;
}

static const char *check_header_name(const char *s)
{
	return header_name_ok(s) ? NULL : "not a header name";
}

/* "a" or "a.b.c": no empty name anywhere. */
static const char *check_dotted_path(const char *s)
{
	const char *dot;

	for (;; s = dot + 1) {
		dot = strchr(s, '.');
		if (dot == s || s[0] == '\0')
			return "field must be a dotted path of non-empty "
			       "names";
		if (!dot)
			return NULL;
	}
}

/* Copies the array v, already checked by the walker, into out. */
static int take_strings(struct ctx *c, struct json_object *v,
			struct cfg_strings *out)
{
	size_t i, n = json_object_array_length(v);
	const char *s;

	if (n == 0)
		return 0;
	out->v = calloc(n, sizeof(*out->v)); /* owned by the config */
	if (!out->v)
		return fail(c, "out of memory");
	for (i = 0; i < n; i++) {
		s = json_object_get_string(json_object_array_get_idx(v, i));
		out->v[i] = strdup(s);
		if (!out->v[i])
			return fail(c, "out of memory");
		out->n++;
	}
	return 0;
}

static int set_allow_paths(struct ctx *c, void *dst, struct json_object *v)
{
	struct cfg_tool *t = dst;

	return take_strings(c, v, &t->allow_paths);
}

static int set_allow_methods(struct ctx *c, void *dst, struct json_object *v)
{
	struct cfg_tool *t = dst;

	return take_strings(c, v, &t->allow_http_methods);
}

static int set_forward_headers(struct ctx *c, void *dst,
			       struct json_object *v)
{
	struct cfg_tool *t = dst;

	return take_strings(c, v, &t->forward_headers);
}

/* Any jsonrpc_* key, even an empty one, makes the tool a JSON-RPC tool. */
static int set_jsonrpc_allow(struct ctx *c, void *dst, struct json_object *v)
{
	struct cfg_tool *t = dst;

	t->is_jsonrpc = 1;
	return take_strings(c, v, &t->jsonrpc_allow_methods);
}

static int set_jsonrpc_deny(struct ctx *c, void *dst, struct json_object *v)
{
	struct cfg_tool *t = dst;

	t->is_jsonrpc = 1;
	return take_strings(c, v, &t->jsonrpc_deny_methods);
}

static int set_param_aliases(struct ctx *c, void *dst,
			     struct json_object *v)
{
	struct cfg_tool *t = dst;
	const char *s = json_object_get_string(v);

	t->is_jsonrpc = 1;
	if (strcmp(s, "none") == 0)
		t->param_aliases = CFG_ALIASES_NONE;
	else if (strcmp(s, "signal-cli") == 0)
		t->param_aliases = CFG_ALIASES_SIGNAL_CLI;
	else
		return fail(c, "must be \"none\" or \"signal-cli\"");
	return 0;
}

static int set_max_batch(struct ctx *c, void *dst, struct json_object *v)
{
	struct cfg_tool *t = dst;
	(void)c;

	t->is_jsonrpc = 1;
	t->jsonrpc_max_batch = (unsigned)json_object_get_int64(v);
	return 0;
}

/* --- rate_limit keys (dst is the tool) ---------------------------------- */

static int set_rate_max(struct ctx *c, void *dst, struct json_object *v)
{
	(void)c;
	((struct cfg_tool *)dst)->rate_max_requests =
		(unsigned)json_object_get_int64(v);
	return 0;
}

static int set_rate_win(struct ctx *c, void *dst, struct json_object *v)
{
	(void)c;
	((struct cfg_tool *)dst)->rate_window_secs =
		(unsigned)json_object_get_int64(v);
	return 0;
}

static const struct key rate_keys[] = {
	{ "max_requests", J_INT, 1, 100000, KEY_REQUIRED, set_rate_max, NULL },
	{ "window_secs", J_INT, 1, 86400, KEY_REQUIRED, set_rate_win, NULL },
	{ NULL, J_STRING, 0, 0, 0, NULL, NULL }
};

static int set_rate_limit(struct ctx *c, void *dst, struct json_object *v)
{
	return walk(c, rate_keys, dst, v);
}

/* --- jsonrpc_param_filters keys (dst is one filter) --------------------- */

static int set_filter_field(struct ctx *c, void *dst, struct json_object *v)
{
	struct cfg_param_filter *f = dst;

	f->field = strdup(json_object_get_string(v)); /* owned by f */
	if (!f->field)
		return fail(c, "out of memory");
	return 0;
}

static int set_filter_allow(struct ctx *c, void *dst, struct json_object *v)
{
	struct cfg_param_filter *f = dst;

	return take_strings(c, v, &f->allow_patterns);
}

static int set_filter_deny(struct ctx *c, void *dst, struct json_object *v)
{
	struct cfg_param_filter *f = dst;

	return take_strings(c, v, &f->deny_patterns);
}

static const struct key filter_keys[] = {
	{ "field", J_STRING, 0, 0, KEY_REQUIRED, set_filter_field,
	  check_dotted_path },
	{ "allow_patterns", J_STRINGS, 0, 0, 0, set_filter_allow, NULL },
	{ "deny_patterns", J_STRINGS, 0, 0, 0, set_filter_deny, NULL },
	{ NULL, J_STRING, 0, 0, 0, NULL, NULL }
};

static int take_filter(struct ctx *c, struct cfg_tool *t, const char *method,
		       struct json_object *v)
{
	struct cfg_param_filter *f = &t->param_filters[t->n_param_filters];

	if (!json_object_is_type(v, json_type_object))
		return fail(c, "expected an object");
	f->method = strdup(method);
	if (!f->method)
		return fail(c, "out of memory");
	t->n_param_filters++; /* from here on cfg_free() frees what f holds */
	if (walk(c, filter_keys, f, v) < 0)
		return -1;
	if (f->allow_patterns.n == 0 && f->deny_patterns.n == 0)
		return fail(c, "filter has no patterns");
	return 0;
}

/* One method's filters: an object, or an array of them that must all
 * pass; each becomes a filter of its own with that method. */
static int take_filters(struct ctx *c, struct cfg_tool *t,
			const char *method, struct json_object *v)
{
	size_t old = path_key(c, method), at, i, n;

	if (method[0] == '\0')
		return fail(c, "method name must not be empty");
	if (json_object_is_type(v, json_type_object)) {
		if (take_filter(c, t, method, v) < 0)
			return -1;
	} else {
		if (!json_object_is_type(v, json_type_array) ||
		    (n = json_object_array_length(v)) == 0)
			return fail(c, "expected an object or a non-empty "
				    "array of objects");
		for (i = 0; i < n; i++) {
			at = path_index(c, i);
			if (take_filter(c, t, method,
					json_object_array_get_idx(v, i)) < 0)
				return -1;
			path_cut(c, at);
		}
	}
	path_cut(c, old);
	return 0;
}

/* How many filters v (one method's value) holds; a value that is not a
 * non-empty array counts as one, for take_filters() to refuse. */
static size_t count_filters(struct json_object *v)
{
	size_t n;

	if (json_object_is_type(v, json_type_array) &&
	    (n = json_object_array_length(v)) > 0)
		return n;
	return 1;
}

static int set_filters(struct ctx *c, void *dst, struct json_object *v)
{
	struct cfg_tool *t = dst;
	size_t n = 0;

	t->is_jsonrpc = 1;
	json_object_object_foreach(v, key, val)
	{
		(void)key;
		n += count_filters(val);
	}
	if (n == 0)
		return 0;
	t->param_filters = calloc(n, sizeof(*t->param_filters));
	if (!t->param_filters) /* owned by the tool */
		return fail(c, "out of memory");
	json_object_object_foreach(v, method, one)
		if (take_filters(c, t, method, one) < 0)
			return -1;
	return 0;
}

/* --- jsonrpc_param_allow ------------------------------------------------ */

/* Names are matched against params' own keys only, never followed into
 * an object, so a dotted name would look like a rule it is not. */
static const char *check_param_name(const char *s)
{
	if (s[0] == '\0')
		return "must not be empty";
	if (strchr(s, '.'))
		return "a parameter name, not a dotted path";
	return NULL;
}

/* The walker's checks, for a value whose key is the user's. */
static const struct key param_names = { "", J_STRINGS, 0, 0, 0, NULL,
					check_param_name };

static int take_param_allow(struct ctx *c, struct cfg_tool *t,
			    const char *method, struct json_object *v)
{
	struct cfg_param_allow *a = &t->param_allow[t->n_param_allow];
	size_t old = path_key(c, method);

	if (method[0] == '\0')
		return fail(c, "method name must not be empty");
	if (check_value(c, &param_names, v) < 0)
		return -1;
	a->method = strdup(method);
	if (!a->method)
		return fail(c, "out of memory");
	t->n_param_allow++; /* from here on cfg_free() frees what a holds */
	if (take_strings(c, v, &a->params) < 0)
		return -1;
	path_cut(c, old);
	return 0;
}

static int set_param_allow(struct ctx *c, void *dst, struct json_object *v)
{
	struct cfg_tool *t = dst;
	size_t n = (size_t)json_object_object_length(v);

	t->is_jsonrpc = 1;
	if (n == 0)
		return 0;
	t->param_allow = calloc(n, sizeof(*t->param_allow));
	if (!t->param_allow) /* owned by the tool */
		return fail(c, "out of memory");
	json_object_object_foreach(v, method, names)
		if (take_param_allow(c, t, method, names) < 0)
			return -1;
	return 0;
}

/* --- inject_headers ----------------------------------------------------- */

/* Values are secrets: messages never show them. */
static int header_value_ok(struct json_object *v)
{
	const char *s = json_object_get_string(v);
	int len = json_object_get_string_len(v);
	int i;

	for (i = 0; i < len; i++)
		if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
			return 0;
	return 1;
}

static int header_taken(const struct cfg_tool *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->n_inject_headers; i++)
		if (header_name_eq(t->inject_headers[i].name, name))
			return 1;
	return 0;
}

static int take_header(struct ctx *c, struct cfg_tool *t, const char *name,
		       struct json_object *v)
{
	struct cfg_header *h = &t->inject_headers[t->n_inject_headers];
	size_t old = path_key(c, name);

	if (!header_name_ok(name))
		return fail(c, "not a header name");
	if (!header_injectable(name))
		return fail(c, "header cannot be injected");
	if (header_taken(t, name))
		return fail(c, "header given twice (names are "
			       "case-insensitive, '-' and '_' alike)");
	if (!json_object_is_type(v, json_type_string))
		return fail(c, "expected a string");
	if (!header_value_ok(v))
		return fail(c, "header value contains CR, LF or NUL");
	h->name = strdup(name);
	h->value = strdup(json_object_get_string(v));
	t->n_inject_headers++; /* cfg_free() frees what h holds */
	if (!h->name || !h->value)
		return fail(c, "out of memory");
	path_cut(c, old);
	return 0;
}

static int set_inject_headers(struct ctx *c, void *dst,
			      struct json_object *v)
{
	struct cfg_tool *t = dst;
	size_t n = (size_t)json_object_object_length(v);
	struct json_object_iterator it, end;

	if (n == 0)
		return 0;
	t->inject_headers = calloc(n, sizeof(*t->inject_headers));
	if (!t->inject_headers) /* owned by the tool */
		return fail(c, "out of memory");
	it = json_object_iter_begin(v);
	end = json_object_iter_end(v);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it))
		if (take_header(c, t, json_object_iter_peek_name(&it),
				json_object_iter_peek_value(&it)) < 0)
			return -1;
	return 0;
}

/* --- cli tools ---------------------------------------------------------- */

static const char *check_absolute(const char *s)
{
	return s[0] == '/' ? NULL : "not an absolute path";
}

/* Checked now, so that -t tells; cli.c checks again before each exec. */
static int set_binary(struct ctx *c, void *dst, struct json_object *v)
{
	struct cfg_tool *t = dst;
	const char *s = json_object_get_string(v);
	struct stat st;

	if (stat(s, &st) < 0)
		return fail(c, "not an executable file: %s", strerror(errno));
	if (!S_ISREG(st.st_mode) || access(s, X_OK) < 0)
		return fail(c, "not an executable file");
	t->binary = strdup(s); /* owned by the tool */
	if (!t->binary)
		return fail(c, "out of memory");
	return 0;
}

static int set_argv_allow(struct ctx *c, void *dst, struct json_object *v)
{
	struct cfg_tool *t = dst;

	return take_strings(c, v, &t->argv_allow_patterns);
}

static int set_argv_deny(struct ctx *c, void *dst, struct json_object *v)
{
	struct cfg_tool *t = dst;

	return take_strings(c, v, &t->argv_deny_patterns);
}

/* Each directory stored as realpath(3) gives it: no symlink, "." or "..",
 * so cli.c compares a client's directory with it byte for byte. */
static int take_dir(struct ctx *c, struct cfg_strings *out,
		    struct json_object *v)
{
	struct stat st;
	char *real = realpath(json_object_get_string(v), NULL);

	if (!real)
		return fail(c, "not a directory: %s", strerror(errno));
	if (stat(real, &st) < 0 || !S_ISDIR(st.st_mode)) {
		free(real);
		return fail(c, "not a directory");
	}
	out->v[out->n++] = real; /* owned by the config */
	return 0;
}

static int set_cwd_allowed(struct ctx *c, void *dst, struct json_object *v)
{
	struct cfg_tool *t = dst;
	size_t i, old, n = json_object_array_length(v);

	if (n == 0)
		return 0;
	t->cwd_allowed.v = calloc(n, sizeof(*t->cwd_allowed.v));
	if (!t->cwd_allowed.v) /* owned by the tool */
		return fail(c, "out of memory");
	for (i = 0; i < n; i++) {
		old = path_index(c, i);
		if (take_dir(c, &t->cwd_allowed,
			     json_object_array_get_idx(v, i)) < 0)
			return -1;
		path_cut(c, old);
	}
	return 0;
}

static int set_max_output(struct ctx *c, void *dst, struct json_object *v)
{
	(void)c;
	((struct cfg_tool *)dst)->max_output_bytes =
		(size_t)json_object_get_int64(v);
	return 0;
}

static int set_argv_deny_flags(struct ctx *c, void *dst,
			       struct json_object *v)
{
	struct cfg_tool *t = dst;

	return take_strings(c, v, &t->argv_deny_flags);
}

/* "--name" (a long option) or "-x" (one short option character). */
static const char *check_flag(const char *s)
{
	size_t n = strlen(s);

	if (n == 2 && s[0] == '-' && s[1] != '-' && s[1] != '\0')
		return NULL;
	if (n > 2 && s[0] == '-' && s[1] == '-' && strchr(s, '=') == NULL)
		return NULL;
	return "must be a long option (\"--name\") or a short one (\"-x\")";
}

static int set_max_concurrent(struct ctx *c, void *dst,
			      struct json_object *v)
{
	(void)c;
	((struct cfg_tool *)dst)->max_concurrent =
		(unsigned)json_object_get_int64(v);
	return 0;
}

static int env_name_ok(const char *s)
{
	size_t len = strlen(s);

	/* len >= 1 first: strchr() would find the NUL of "" */
	return len >= 1 && len <= ENV_NAME_MAX &&
	       strspn(s, ENV_NAME_CHARS) == len &&
	       strchr(DIGITS, s[0]) == NULL;
}

/* Values are secrets: messages never show them.  Names are unique, as
 * json-c keeps the last of two equal member names. */
static int take_env(struct ctx *c, struct cfg_tool *t, const char *name,
		    struct json_object *v)
{
	struct cfg_header *e = &t->env_inject[t->n_env_inject];
	size_t old = path_key(c, name);

	if (!env_name_ok(name))
		return fail(c, "not an environment variable name");
	if (!json_object_is_type(v, json_type_string))
		return fail(c, "expected a string");
	if (strlen(json_object_get_string(v)) !=
	    (size_t)json_object_get_string_len(v))
		return fail(c, "value contains a NUL character");
	e->name = strdup(name);
	e->value = strdup(json_object_get_string(v));
	t->n_env_inject++; /* cfg_free() frees what e holds */
	if (!e->name || !e->value)
		return fail(c, "out of memory");
	path_cut(c, old);
	return 0;
}

static int set_env_inject(struct ctx *c, void *dst, struct json_object *v)
{
	struct cfg_tool *t = dst;
	size_t n = (size_t)json_object_object_length(v);
	struct json_object_iterator it, end;

	if (n == 0)
		return 0;
	t->env_inject = calloc(n, sizeof(*t->env_inject));
	if (!t->env_inject) /* owned by the tool */
		return fail(c, "out of memory");
	it = json_object_iter_begin(v);
	end = json_object_iter_end(v);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it))
		if (take_env(c, t, json_object_iter_peek_name(&it),
			     json_object_iter_peek_value(&it)) < 0)
			return -1;
	return 0;
}

/* --- audit keys (dst is the tool) -------------------------------------- */

static int set_audit_enabled(struct ctx *c, void *dst, struct json_object *v)
{
	(void)c;
	((struct cfg_tool *)dst)->audit_enabled = json_object_get_boolean(v);
	return 0;
}

static int set_log_body(struct ctx *c, void *dst, struct json_object *v)
{
	(void)c;
	((struct cfg_tool *)dst)->audit_log_body = json_object_get_boolean(v);
	return 0;
}

static int set_log_argv(struct ctx *c, void *dst, struct json_object *v)
{
	(void)c;
	((struct cfg_tool *)dst)->audit_log_argv = json_object_get_boolean(v);
	return 0;
}

static int set_redact(struct ctx *c, void *dst, struct json_object *v)
{
	struct cfg_tool *t = dst;

	return take_strings(c, v, &t->redact_patterns);
}

static const struct key audit_keys[] = {
	{ "enabled", J_BOOL, 0, 0, 0, set_audit_enabled, NULL },
	{ "log_body", J_BOOL, 0, 0, 0, set_log_body, NULL },
	{ "log_argv", J_BOOL, 0, 0, 0, set_log_argv, NULL },
	{ "redact_patterns", J_STRINGS, 0, 0, 0, set_redact,
	  check_non_empty },
	{ NULL, J_STRING, 0, 0, 0, NULL, NULL }
};

static int set_audit(struct ctx *c, void *dst, struct json_object *v)
{
	return walk(c, audit_keys, dst, v);
}

/* --- the tool table ----------------------------------------------------- */

/* KEY_HTTP / KEY_CLI: for one type of tool only; a key with neither is
 * for both.  KEY_REQUIRED with one of them: required for that type. */
static int set_add_xff(struct ctx *c, void *dst, struct json_object *v)
{
	(void)c;
	((struct cfg_tool *)dst)->add_x_forwarded_for =
		json_object_get_boolean(v);
	return 0;
}

static int set_path_params(struct ctx *c, void *dst, struct json_object *v)
{
	(void)c;
	((struct cfg_tool *)dst)->allow_path_params =
		json_object_get_boolean(v);
	return 0;
}

static const struct key tool_keys[] = {
	{ "type", J_STRING, 0, 0, KEY_REQUIRED, set_type, NULL },
	{ "upstream", J_STRING, 0, 0, KEY_REQUIRED | KEY_HTTP, set_upstream,
	  NULL },
	{ "listen", J_STRING, 0, 0, KEY_HTTP, set_tool_listen, NULL },
	{ "timeout_secs", J_INT, 1, 86400, 0, set_timeout, NULL },
	{ "stream_idle_timeout_secs", J_INT, 0, 31536000, KEY_HTTP, set_idle,
	  NULL },
	{ "max_body_bytes", J_INT, 1, 1073741824, 0, set_tool_max_body, NULL },
	{ "allow_paths", J_STRINGS, 0, 0, KEY_HTTP, set_allow_paths,
	  check_path_pattern },
	{ "allow_http_methods", J_STRINGS, 0, 0, KEY_HTTP, set_allow_methods,
	  check_http_method },
	{ "jsonrpc_allow_methods", J_STRINGS, 0, 0, KEY_HTTP,
	  set_jsonrpc_allow, check_non_empty },
	{ "jsonrpc_deny_methods", J_STRINGS, 0, 0, KEY_HTTP, set_jsonrpc_deny,
	  check_non_empty },
	{ "jsonrpc_param_aliases", J_STRING, 0, 0, KEY_HTTP,
	  set_param_aliases, NULL },
	{ "jsonrpc_max_batch", J_INT, 1, 100000, KEY_HTTP, set_max_batch,
	  NULL },
	{ "jsonrpc_param_allow", J_OBJECT, 0, 0, KEY_HTTP, set_param_allow,
	  NULL },
	{ "jsonrpc_param_filters", J_OBJECT, 0, 0, KEY_HTTP, set_filters,
	  NULL },
	{ "inject_headers", J_OBJECT, 0, 0, KEY_HTTP, set_inject_headers,
	  NULL },
	{ "forward_headers", J_STRINGS, 0, 0, KEY_HTTP, set_forward_headers,
	  check_header_name },
	{ "add_x_forwarded_for", J_BOOL, 0, 0, KEY_HTTP, set_add_xff, NULL },
	{ "allow_path_params", J_BOOL, 0, 0, KEY_HTTP, set_path_params,
	  NULL },
	{ "rate_limit", J_OBJECT, 0, 0, 0, set_rate_limit, NULL },
	{ "audit", J_OBJECT, 0, 0, 0, set_audit, NULL },
	{ "binary", J_STRING, 0, 0, KEY_REQUIRED | KEY_CLI, set_binary,
	  check_absolute },
	{ "argv_allow_patterns", J_STRINGS, 0, 0, KEY_CLI, set_argv_allow,
	  NULL },
	{ "argv_deny_patterns", J_STRINGS, 0, 0, KEY_CLI, set_argv_deny,
	  NULL },
	{ "env_inject", J_OBJECT, 0, 0, KEY_CLI, set_env_inject, NULL },
	{ "cwd_allowed", J_STRINGS, 0, 0, KEY_CLI, set_cwd_allowed,
	  check_absolute },
	{ "max_output_bytes", J_INT, 1, 1073741824, KEY_CLI, set_max_output,
	  NULL },
	{ "argv_deny_flags", J_STRINGS, 0, 0, KEY_CLI, set_argv_deny_flags,
	  check_flag },
	{ "max_concurrent", J_INT, 1, 1024, KEY_CLI, set_max_concurrent,
	  NULL },
	{ NULL, J_STRING, 0, 0, 0, NULL, NULL }
};

/* --- top-level keys ----------------------------------------------------- */

static int tool_name_ok(const char *name)
{
	size_t len = strlen(name);

	return len >= 1 && len <= TOOL_NAME_MAX &&
	       strspn(name, TOOL_NAME_CHARS) == len &&
	       strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

static int take_tool(struct ctx *c, struct cfg *cfg, const char *name,
		     struct json_object *v)
{
	struct cfg_tool *t = &cfg->tools[cfg->n_tools];
	size_t old = path_key(c, name);
	struct json_object *type;
	int rc;

	if (!tool_name_ok(name))
		return fail(c, "invalid tool name");
	if (!json_object_is_type(v, json_type_object))
		return fail(c, "expected an object");
	t->name = strdup(name);
	if (!t->name)
		return fail(c, "out of memory");
	t->owner = cfg;
	cfg->n_tools++; /* from here on cfg_free() frees what t holds */
	t->timeout_secs = CFG_DEFAULT_TIMEOUT_SECS;
	t->jsonrpc_max_batch = CFG_DEFAULT_JSONRPC_MAX_BATCH;
	t->audit_enabled = 1;
	/* type first: which keys the tool may have depends on it */
	if (!json_object_object_get_ex(v, "type", &type)) {
		path_key(c, "type");
		return fail(c, "missing required key");
	}
	if (take_key(c, tool_keys, t, "type", type) < 0)
		return -1;
	c->scope = KEY_HTTP;
	if (t->type == CFG_TOOL_CLI) {
		c->scope = KEY_CLI;
		t->max_output_bytes = CFG_DEFAULT_MAX_OUTPUT_BYTES;
		t->max_concurrent = CFG_DEFAULT_MAX_CONCURRENT;
	}
	rc = walk(c, tool_keys, t, v);
	c->scope = 0;
	if (rc < 0)
		return -1;
	path_cut(c, old);
	return 0;
}

static int set_tools(struct ctx *c, void *dst, struct json_object *v)
{
	struct cfg *cfg = dst;
	size_t n = (size_t)json_object_object_length(v);
	struct json_object_iterator it, end;

	if (n == 0)
		return fail(c, "no tool defined");
	cfg->tools = calloc(n, sizeof(*cfg->tools)); /* owned by cfg */
	if (!cfg->tools)
		return fail(c, "out of memory");
	it = json_object_iter_begin(v);
	end = json_object_iter_end(v);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it))
		if (take_tool(c, cfg, json_object_iter_peek_name(&it),
			      json_object_iter_peek_value(&it)) < 0)
			return -1;
	return 0;
}

static int set_listen(struct ctx *c, void *dst, struct json_object *v)
{
	struct cfg *cfg = dst;
	size_t i, old, n = json_object_array_length(v);

	if (n == 0)
		return 0;
	cfg->listen = calloc(n, sizeof(*cfg->listen)); /* owned by cfg */
	if (!cfg->listen)
		return fail(c, "out of memory");
	for (i = 0; i < n; i++) {
		old = path_index(c, i);
		if (take_addr(c, json_object_array_get_idx(v, i),
			      &cfg->listen[i]) < 0)
			return -1;
		path_cut(c, old);
		cfg->n_listen++;
	}
	return 0;
}

static int set_max_body(struct ctx *c, void *dst, struct json_object *v)
{
	(void)c;
	((struct cfg *)dst)->max_body_bytes = (size_t)json_object_get_int64(v);
	return 0;
}

/* Loopback only: the admin API shows every request and reloads the
 * daemon, so it must not be reachable from another host. */
static int is_loopback(const struct cfg_addr *a)
{
	struct in_addr v4;

	if (a->is_ipv6)
		return strcmp(a->host, "::1") == 0 ||
		       strcmp(a->host, "0:0:0:0:0:0:0:1") == 0;
	return inet_pton(AF_INET, a->host, &v4) == 1 &&
	       (ntohl(v4.s_addr) >> 24) == 127;
}

static int set_admin_unix(struct ctx *c, struct cfg_admin *a,
			  const char *path)
{
	struct sockaddr_un sun;

	if (path[0] != '/')
		return fail(c, "unix socket path must be absolute");
	if (strlen(path) >= sizeof(sun.sun_path))
		return fail(c, "unix socket path too long");
	a->is_unix = 1;
	a->unix_path = strdup(path); /* owned by the config */
	return a->unix_path ? 0 : fail(c, "out of memory");
}

static int set_admin_listen(struct ctx *c, void *dst, struct json_object *v)
{
	struct cfg_admin *a = &((struct cfg *)dst)->admin;
	const char *s = json_object_get_string(v);

	a->text = strdup(s); /* owned by the config */
	if (!a->text)
		return fail(c, "out of memory");
	a->enabled = 1;
	if (strncmp(s, "unix:", 5) == 0)
		return set_admin_unix(c, a, s + 5);
	if (take_addr(c, v, &a->addr) < 0)
		return -1;
	if (!is_loopback(&a->addr))
		return fail(c, "must be a loopback address (127.0.0.0/8, "
			       "[::1]) or unix:/path");
	return 0;
}

static int set_audit_log(struct ctx *c, void *dst, struct json_object *v)
{
	struct cfg *cfg = dst;

	cfg->audit_log = strdup(json_object_get_string(v)); /* owned */
	return cfg->audit_log ? 0 : fail(c, "out of memory");
}

static int set_tools_as_root(struct ctx *c, void *dst, struct json_object *v)
{
	(void)c;
	((struct cfg *)dst)->run_tools_as_root = json_object_get_boolean(v);
	return 0;
}

static int set_max_inflight(struct ctx *c, void *dst, struct json_object *v)
{
	(void)c;
	((struct cfg *)dst)->max_inflight_body_bytes =
		(size_t)json_object_get_int64(v);
	return 0;
}

static int set_header_timeout(struct ctx *c, void *dst,
			      struct json_object *v)
{
	(void)c;
	((struct cfg *)dst)->client_header_timeout_secs =
		(unsigned)json_object_get_int64(v);
	return 0;
}

static int set_body_timeout(struct ctx *c, void *dst, struct json_object *v)
{
	(void)c;
	((struct cfg *)dst)->client_body_timeout_secs =
		(unsigned)json_object_get_int64(v);
	return 0;
}

static int set_send_timeout(struct ctx *c, void *dst, struct json_object *v)
{
	(void)c;
	((struct cfg *)dst)->client_send_timeout_secs =
		(unsigned)json_object_get_int64(v);
	return 0;
}

static int set_per_ip(struct ctx *c, void *dst, struct json_object *v)
{
	(void)c;
	((struct cfg *)dst)->max_connections_per_ip =
		(unsigned)json_object_get_int64(v);
	return 0;
}

static const struct key top_keys[] = {
	{ "listen", J_STRINGS, 0, 0, 0, set_listen, NULL },
	{ "max_body_bytes", J_INT, 1, 1073741824, 0, set_max_body, NULL },
	{ "tools", J_OBJECT, 0, 0, KEY_REQUIRED, set_tools, NULL },
	{ "admin_listen", J_STRING, 0, 0, 0, set_admin_listen, NULL },
	{ "audit_log", J_STRING, 0, 0, 0, set_audit_log, check_absolute },
	{ "run_tools_as_root", J_BOOL, 0, 0, 0, set_tools_as_root, NULL },
	{ "max_inflight_body_bytes", J_INT, 1, 1099511627776LL, 0,
	  set_max_inflight, NULL },
	{ "client_header_timeout_secs", J_INT, 1, 3600, 0, set_header_timeout,
	  NULL },
	{ "client_body_timeout_secs", J_INT, 1, 3600, 0, set_body_timeout,
	  NULL },
	{ "client_send_timeout_secs", J_INT, 1, 86400, 0, set_send_timeout,
	  NULL },
	{ "max_connections_per_ip", J_INT, 0, 1000000, 0, set_per_ip, NULL },
	LATER("clients", J_OBJECT),
	{ NULL, J_STRING, 0, 0, 0, NULL, NULL }
};

/* --- the key list, for documentation checks ----------------------------- */

#define MAX_KEYS 128

static size_t list_keys(const char **out, size_t n, const struct key *tab,
			const char *prefix, char (*buf)[96])
{
	for (; tab->name && n < MAX_KEYS; tab++) {
		snprintf(buf[n], sizeof(buf[n]), "%s%s", prefix, tab->name);
		out[n] = buf[n];
		n++;
	}
	return n;
}

static const char *known_keys[MAX_KEYS + 1];
static char known_buf[MAX_KEYS][96];

static void fill_known_keys(void)
{
	size_t n = 0;

	n = list_keys(known_keys, n, top_keys, "", known_buf);
	n = list_keys(known_keys, n, tool_keys, "tools.*.", known_buf);
	n = list_keys(known_keys, n, rate_keys, "tools.*.rate_limit.",
		      known_buf);
	n = list_keys(known_keys, n, audit_keys, "tools.*.audit.", known_buf);
	n = list_keys(known_keys, n, filter_keys,
		      "tools.*.jsonrpc_param_filters.*.", known_buf);
	known_keys[n] = NULL;
}

const char *const *cfg_known_keys(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, fill_known_keys);
	return known_keys;
}

/* --- the walker --------------------------------------------------------- */

/* Whether k may appear in the object being walked: a key for one type of
 * tool only is refused in a tool of the other type. */
static int in_scope(const struct ctx *c, const struct key *k)
{
	return !(k->flags & KEY_SCOPE) || (k->flags & c->scope);
}

static const struct key *key_find(const struct key *tab, const char *name)
{
	for (; tab->name; tab++)
		if (strcmp(tab->name, name) == 0)
			return tab;
	return NULL;
}

static int take_key(struct ctx *c, const struct key *tab, void *dst,
		    const char *name, struct json_object *v)
{
	const struct key *k = key_find(tab, name);
	size_t old = path_key(c, name);

	if (!k)
		return fail(c, "unknown key");
	if (k->flags & KEY_LATER)
		return fail(c, "not supported yet");
	if (!in_scope(c, k))
		return fail(c, "not valid for %s tool",
			    c->scope == KEY_CLI ? "a cli" : "an http");
	if (check_value(c, k, v) < 0 || k->set(c, dst, v) < 0)
		return -1;
	path_cut(c, old);
	return 0;
}

static int check_required(struct ctx *c, const struct key *tab,
			  struct json_object *obj)
{
	for (; tab->name; tab++) {
		if (!(tab->flags & KEY_REQUIRED) || !in_scope(c, tab) ||
		    json_object_object_get_ex(obj, tab->name, NULL))
			continue;
		path_key(c, tab->name);
		return fail(c, "missing required key");
	}
	return 0;
}

/* Keys in file order, so the first bad one in the file is reported. */
static int walk(struct ctx *c, const struct key *tab, void *dst,
		struct json_object *obj)
{
	struct json_object_iterator it = json_object_iter_begin(obj);
	struct json_object_iterator end = json_object_iter_end(obj);

	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it))
		if (take_key(c, tab, dst, json_object_iter_peek_name(&it),
			     json_object_iter_peek_value(&it)) < 0)
			return -1;
	return check_required(c, tab, obj);
}

/* --- whole-config checks ------------------------------------------------ */

/* Listener number i, main ones first, named as the file names it;
 * NULL past the last. */
static const struct cfg_addr *listener(const struct cfg *cfg, size_t i,
				       char *name, size_t size)
{
	size_t t;

	if (i < cfg->n_listen) {
		snprintf(name, size, "listen[%zu]", i);
		return &cfg->listen[i];
	}
	i -= cfg->n_listen;
	for (t = 0; t < cfg->n_tools; t++) {
		if (!cfg->tools[t].has_listen || i-- > 0)
			continue;
		snprintf(name, size, "tools.%s.listen", cfg->tools[t].name);
		return &cfg->tools[t].listen;
	}
	if (i == 0 && cfg->admin.enabled && !cfg->admin.is_unix) {
		snprintf(name, size, "admin_listen");
		return &cfg->admin.addr;
	}
	return NULL;
}

/* Compared as binary: "::1" and "0::1" are one address. */
static int same_addr(const struct cfg_addr *a, const struct cfg_addr *b)
{
	unsigned char x[sizeof(struct in6_addr)] = { 0 };
	unsigned char y[sizeof(struct in6_addr)] = { 0 };
	int af = a->is_ipv6 ? AF_INET6 : AF_INET;

	if (a->port != b->port || a->is_ipv6 != b->is_ipv6)
		return 0;
	if (inet_pton(af, a->host, x) != 1 || inet_pton(af, b->host, y) != 1)
		return strcmp(a->host, b->host) == 0;
	return memcmp(x, y, sizeof(x)) == 0;
}

static int check_listeners(struct ctx *c, const struct cfg *cfg)
{
	char name[sizeof(c->path)], other[sizeof(c->path)];
	const struct cfg_addr *a;
	size_t i, j;

	if (!listener(cfg, 0, name, sizeof(name)) ||
	    strcmp(name, "admin_listen") == 0) {
		path_set(c, "listen");
		return fail(c, "no listener: set listen or a tool's listen");
	}
	for (i = 1; (a = listener(cfg, i, name, sizeof(name))); i++) {
		for (j = 0; j < i; j++) {
			if (!same_addr(a, listener(cfg, j, other,
						   sizeof(other))))
				continue;
			path_set(c, name);
			return fail(c, "address already used by %s", other);
		}
	}
	return 0;
}

/* --- text to config ----------------------------------------------------- */

/* A whole-file error at byte off, placed as line and column (1-based). */
static int fail_at(struct ctx *c, const char *text, size_t off,
		   const char *what)
{
	size_t i, line = 1, line_start = 0;

	for (i = 0; i < off; i++) {
		if (text[i] == '\n') {
			line++;
			line_start = i + 1;
		}
	}
	path_set(c, "");
	return fail(c, "line %zu, column %zu: %s", line, off - line_start + 1,
		    what);
}

/* *out is the new top-level object; caller puts it. */
static int parse_json(struct ctx *c, const char *text, size_t len,
		      struct json_object **out)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *root;
	enum json_tokener_error jerr;
	size_t end;

	if (!tok)
		return fail(c, "out of memory");
	json_tokener_set_flags(tok, JSON_TOKENER_VALIDATE_UTF8);
	/* Not with the NUL: json-c 0.16 takes a NUL inside a comment for the
	 * end of the document and returns the innermost open value. */
	root = json_tokener_parse_ex(tok, text, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (jerr == json_tokener_continue) {
		/* a file may end in "// note" without a newline: add one */
		root = json_tokener_parse_ex(tok, "\n", 1);
		jerr = json_tokener_get_error(tok);
		end = len;
	}
	json_tokener_free(tok);
	if (jerr == json_tokener_continue)
		return fail_at(c, text, len, "unexpected end of input");
	if (jerr != json_tokener_success)
		return fail_at(c, text, end, json_tokener_error_desc(jerr));
	if (!json_object_is_type(root, json_type_object)) {
		/* a JSON null arrives as NULL */
		json_object_put(root);
		return fail(c, "top level must be an object");
	}
	/* json-c has eaten blanks and comments after the value; what is
	 * left is text */
	if (end < len) {
		json_object_put(root);
		return fail_at(c, text, end,
			       "unexpected text after the top-level value");
	}
	*out = root;
	return 0;
}

/* Defaults that depend on keys anywhere in the file, applied once the whole
 * file is read: the top-level max_body_bytes may follow "tools". */
static void apply_defaults(struct cfg *cfg)
{
	size_t i;

	for (i = 0; i < cfg->n_tools; i++)
		if (cfg->tools[i].max_body_bytes == 0)
			cfg->tools[i].max_body_bytes = cfg->max_body_bytes;
}

/* text is NUL-terminated at len. */
static int load(struct ctx *c, const char *text, size_t len,
		struct cfg **out)
{
	struct json_object *root = NULL;
	struct cfg *cfg = NULL;

	if (len > CFG_MAX_BYTES) {
		fail(c, "file too large");
		goto fail;
	}
	if (parse_json(c, text, len, &root) < 0)
		goto fail;
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg) {
		fail(c, "out of memory");
		goto fail;
	}
	cfg->max_body_bytes = CFG_DEFAULT_MAX_BODY_BYTES;
	cfg->max_inflight_body_bytes = CFG_DEFAULT_MAX_INFLIGHT_BODY_BYTES;
	cfg->client_header_timeout_secs =
		CFG_DEFAULT_CLIENT_HEADER_TIMEOUT_SECS;
	cfg->client_body_timeout_secs = CFG_DEFAULT_CLIENT_BODY_TIMEOUT_SECS;
	cfg->client_send_timeout_secs = CFG_DEFAULT_CLIENT_SEND_TIMEOUT_SECS;
	cfg->max_connections_per_ip = CFG_DEFAULT_MAX_CONNECTIONS_PER_IP;
	atomic_init(&cfg->refs, 1);
	if (walk(c, top_keys, cfg, root) < 0 || check_listeners(c, cfg) < 0)
		goto fail;
	apply_defaults(cfg);
	json_object_put(root);
	*out = cfg; /* caller owns it */
	return 0;
fail:
	json_object_put(root);
	cfg_free(cfg);
	return -1;
}

/* Appends up to the cap + 1 bytes from fd (one more tells "too large");
 * *buf grows as needed and stays NUL-terminated. */
static int read_all(struct ctx *c, int fd, char **buf, size_t *len)
{
	size_t size = 0;
	ssize_t n;
	char *p;

	for (;;) {
		if (*len + 1 >= size) {
			size = size ? 2 * size : 4096;
			if (size > CFG_MAX_BYTES + 2)
				size = CFG_MAX_BYTES + 2;
			p = realloc(*buf, size);
			if (!p)
				return fail(c, "out of memory");
			*buf = p;
		}
		n = read(fd, *buf + *len, size - 1 - *len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail(c, "cannot read: %s", strerror(errno));
		if (n == 0)
			break;
		*len += (size_t)n;
		if (*len > CFG_MAX_BYTES)
			return fail(c, "file too large");
	}
	(*buf)[*len] = '\0';
	return 0;
}

/* *text is a new NUL-terminated buffer; caller frees it. */
static int read_file(struct ctx *c, const char *file, char **text,
		     size_t *len)
{
	char *buf = NULL;
	size_t n = 0;
	int fd = open(file, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return fail(c, "cannot open: %s", strerror(errno));
	if (read_all(c, fd, &buf, &n) < 0)
		goto fail;
	/* C strings would end there, and json-c misreads one in a comment */
	if (memchr(buf, '\0', n)) {
		fail(c, "file contains a NUL byte");
		goto fail;
	}
	close(fd);
	*text = buf;
	*len = n;
	return 0;
fail:
	close(fd);
	free(buf);
	return -1;
}

int cfg_load_file(const char *file, struct cfg **out, struct cfg_error *err)
{
	struct cfg_error scratch;
	struct ctx c = { .err = err ? err : &scratch };
	char *text = NULL;
	size_t len = 0;
	int rc;

	c.err->path[0] = c.err->message[0] = '\0';
	if (!file)
		return fail(&c, "no file name");
	if (read_file(&c, file, &text, &len) < 0)
		return -1;
	rc = load(&c, text, len, out);
	free(text);
	return rc;
}

int cfg_load_string(const char *text, struct cfg **out,
		    struct cfg_error *err)
{
	struct cfg_error scratch;
	struct ctx c = { .err = err ? err : &scratch };

	c.err->path[0] = c.err->message[0] = '\0';
	if (!text)
		return fail(&c, "no text");
	return load(&c, text, strnlen(text, CFG_MAX_BYTES + 1), out);
}

static void free_strings(struct cfg_strings *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
}

static void free_filter(struct cfg_param_filter *f)
{
	free(f->method);
	free(f->field);
	free_strings(&f->allow_patterns);
	free_strings(&f->deny_patterns);
}

static void free_tool(struct cfg_tool *t)
{
	size_t i;

	free(t->name);
	free(t->upstream);
	free_strings(&t->allow_paths);
	free_strings(&t->allow_http_methods);
	free_strings(&t->jsonrpc_allow_methods);
	free_strings(&t->jsonrpc_deny_methods);
	for (i = 0; i < t->n_param_allow; i++) {
		free(t->param_allow[i].method);
		free_strings(&t->param_allow[i].params);
	}
	free(t->param_allow);
	for (i = 0; i < t->n_param_filters; i++)
		free_filter(&t->param_filters[i]);
	free(t->param_filters);
	for (i = 0; i < t->n_inject_headers; i++) {
		free(t->inject_headers[i].name);
		free(t->inject_headers[i].value);
	}
	free(t->inject_headers);
	free_strings(&t->forward_headers);
	free(t->binary);
	free_strings(&t->argv_allow_patterns);
	free_strings(&t->argv_deny_patterns);
	free_strings(&t->argv_deny_flags);
	for (i = 0; i < t->n_env_inject; i++) {
		free(t->env_inject[i].name);
		free(t->env_inject[i].value);
	}
	free(t->env_inject);
	free_strings(&t->cwd_allowed);
	free_strings(&t->redact_patterns);
}

const struct cfg *cfg_hold(const struct cfg *cfg)
{
	/* the count is the only mutable part of a config */
	atomic_fetch_add(&((struct cfg *)cfg)->refs, 1);
	return cfg;
}

int cfg_has_cli_tools(const struct cfg *cfg)
{
	for (size_t i = 0; i < cfg->n_tools; i++)
		if (cfg->tools[i].type == CFG_TOOL_CLI)
			return 1;
	return 0;
}

void cfg_free(const struct cfg *c)
{
	struct cfg *cfg = (struct cfg *)c;
	size_t i;

	if (!cfg || atomic_fetch_sub(&cfg->refs, 1) > 1)
		return;
	for (i = 0; i < cfg->n_tools; i++)
		free_tool(&cfg->tools[i]);
	free(cfg->tools);
	free(cfg->listen);
	free(cfg->admin.unix_path);
	free(cfg->admin.text);
	free(cfg->audit_log);
	free(cfg);
}

const struct cfg_tool *cfg_find_tool(const struct cfg *cfg, const char *name,
				     size_t name_len)
{
	size_t i;

	if (!cfg || !name)
		return NULL;
	for (i = 0; i < cfg->n_tools; i++) {
		const char *t = cfg->tools[i].name;

		if (strlen(t) == name_len && memcmp(t, name, name_len) == 0)
			return &cfg->tools[i];
	}
	return NULL;
}
