/* cfg_tool — the keys of one tool ("tools.NAME"), see cfg_keys.h.
 *
 * A tool's type is read before its other keys, so a key for the other
 * type is refused as such, and the defaults stored are those of its type.
 * Beyond what the table checks: objects whose member names are the
 * user's (jsonrpc_param_filters, jsonrpc_param_allow, env_inject; the
 * tools themselves) are checked as they are stored, and a cli tool's
 * files (binary, cwd_allowed) are looked at on disk at load time. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg_keys.h"
#include "secret.h"

#define TOOL_NAME_MAX 64
#define DIGITS "0123456789"
#define ALNUM "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" DIGITS
/* Tool names become URL path segments and log fields: keep them plain. */
#define TOOL_NAME_CHARS ALNUM "._-"
/* RFC 9110 tchar: what a header name is made of. */
#define TOKEN_CHARS ALNUM "!#$%&'*+-.^_`|~"
#define HEADER_NAME_MAX 64
#define HTTP_METHOD_MAX 20
#define UPPER "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
/* Environment variable names: [A-Za-z_][A-Za-z0-9_]* */
#define ENV_NAME_CHARS ALNUM "_"
#define ENV_NAME_MAX 128

/* --- the tables' check column: NULL when s is good, else why not ------- */

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

const char *cfg_check_header_name(const char *s)
{
	size_t len = strlen(s);

	if (len >= 1 && len <= HEADER_NAME_MAX &&
	    strspn(s, TOKEN_CHARS) == len)
		return NULL;
	return "not a header name";
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

const char *cfg_check_absolute(const char *s)
{
	return s[0] == '/' ? NULL : "not an absolute path";
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

/* --- http tools ---------------------------------------------------------- */

static int set_type(struct ctx *c, const struct key *k, void *dst,
		    struct json_object *v)
{
	struct cfg_tool *t = dst;
	const char *s = json_object_get_string(v);

	(void)k;
	if (strcmp(s, "http") == 0) {
		t->type = CFG_TOOL_HTTP;
		return 0;
	}
	if (strcmp(s, "cli") == 0) {
		t->type = CFG_TOOL_CLI;
		return 0;
	}
	return key_fail(c, "unknown tool type");
}

static int set_upstream(struct ctx *c, const struct key *k, void *dst,
			struct json_object *v)
{
	struct cfg_tool *t = dst;
	const char *s = json_object_get_string(v);
	size_t len = strlen(s);

	(void)k;
	if (!addr_url_ok(s))
		return key_fail(c, "not an http(s) URL");
	/* without trailing '/', joining a request path adds exactly one;
	 * addr_url_ok() guarantees a host, so this stops before "//" */
	while (s[len - 1] == '/')
		len--;
	t->http.upstream = strndup(s, len); /* owned by the tool */
	if (!t->http.upstream)
		return key_fail(c, "out of memory");
	return 0;
}

static int set_tool_listen(struct ctx *c, const struct key *k, void *dst,
			   struct json_object *v)
{
	struct cfg_tool *t = dst;

	(void)k;
	t->http.has_listen = 1; /* cfg_tool_free() frees what it holds */
	return cfg_listen_take(c, v, &t->http.listen);
}

static int set_param_aliases(struct ctx *c, const struct key *k, void *dst,
			     struct json_object *v)
{
	struct cfg_tool *t = dst;
	const char *s = json_object_get_string(v);

	(void)k;
	if (strcmp(s, "none") == 0)
		t->http.param_aliases = CFG_ALIASES_NONE;
	else if (strcmp(s, "signal-cli") == 0)
		t->http.param_aliases = CFG_ALIASES_SIGNAL_CLI;
	else
		return key_fail(c, "must be \"none\" or \"signal-cli\"");
	return 0;
}

static int set_mode(struct ctx *c, const struct key *k, void *dst,
		    struct json_object *v)
{
	struct cfg_tool *t = dst;
	const char *s = json_object_get_string(v);

	(void)k;
	if (strcmp(s, "enforce") == 0)
		t->audit_mode = 0;
	else if (strcmp(s, "audit") == 0)
		t->audit_mode = 1;
	else
		return key_fail(c, "must be \"enforce\" or \"audit\"");
	return 0;
}

/* --- jsonrpc_param_filters (dst is one filter) --------------------------- */

#define F(field) offsetof(struct cfg_param_filter, field)
static const struct key filter_keys[] = {
	{ "field", CFG_KEY_STRING, KEY_REQUIRED, ST_STR, .off = F(field),
	  .check = check_dotted_path },
	{ "allow_patterns", CFG_KEY_STRINGS, 0, ST_STRS,
	  .off = F(allow_patterns) },
	{ "deny_patterns", CFG_KEY_STRINGS, 0, ST_STRS,
	  .off = F(deny_patterns) },
	KEY_END
};
#undef F

/* Where one object of filters goes: jsonrpc_param_filters or
 * mcp.arguments, each a method (or tool) name to its filters. */
struct filter_set {
	struct cfg_param_filter **v; /* owned by the tool */
	size_t *n;
	const char *key;             /* what its keys are, for errors */
};

struct one_method {
	struct filter_set *set;
	const char *method;
};

static int take_filter(struct ctx *c, void *arg, size_t i,
		       struct json_object *v)
{
	struct one_method *m = arg;
	struct cfg_param_filter *f = &(*m->set->v)[*m->set->n];

	(void)i;
	if (!json_object_is_type(v, json_type_object))
		return key_fail(c, "expected an object");
	f->method = strdup(m->method);
	if (!f->method)
		return key_fail(c, "out of memory");
	/* from here on cfg_release() frees what f holds */
	(*m->set->n)++;
	if (key_walk(c, filter_keys, f, v) < 0)
		return -1;
	if (f->allow_patterns.n == 0 && f->deny_patterns.n == 0)
		return key_fail(c, "filter has no patterns");
	return 0;
}

/* One method's filters: an object, or an array of them that must all
 * pass; each becomes a filter of its own with that method. */
static int take_filters(struct ctx *c, void *arg, const char *method,
			struct json_object *v)
{
	struct one_method m = { arg, method };

	if (method[0] == '\0')
		return key_fail(c, "%s must not be empty", m.set->key);
	if (json_object_is_type(v, json_type_object))
		return take_filter(c, &m, 0, v);
	if (!json_object_is_type(v, json_type_array) ||
	    json_object_array_length(v) == 0)
		return key_fail(c, "expected an object or a non-empty "
			       "array of objects");
	return key_each_element(c, v, take_filter, &m);
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

static int take_filter_set(struct ctx *c, struct filter_set *set,
			   struct json_object *v)
{
	size_t n = 0;

	json_object_object_foreach(v, key, val)
	{
		(void)key;
		n += count_filters(val);
	}
	if (n == 0)
		return 0;
	*set->v = calloc(n, sizeof(**set->v));
	if (!*set->v) /* owned by the tool */
		return key_fail(c, "out of memory");
	return key_each_member(c, v, take_filters, set);
}

static int set_filters(struct ctx *c, const struct key *k, void *dst,
		       struct json_object *v)
{
	struct cfg_tool *t = dst;
	struct filter_set set = { &t->http.param_filters,
				  &t->http.n_param_filters, "method name" };

	(void)k;
	return take_filter_set(c, &set, v);
}

static int set_mcp_arguments(struct ctx *c, const struct key *k, void *dst,
			     struct json_object *v)
{
	struct cfg_tool *t = dst;
	struct filter_set set = { &t->http.mcp.arguments,
				  &t->http.mcp.n_arguments, "tool name" };

	(void)k;
	return take_filter_set(c, &set, v);
}

/* An Origin as a browser writes it: "http://" or "https://", a host and
 * perhaps a port; no path, no blank, nothing but ASCII. Compared byte
 * for byte. */
static const char *check_origin(const char *s)
{
	const char *host = strncmp(s, "https://", 8) == 0 ? s + 8 :
			   strncmp(s, "http://", 7) == 0  ? s + 7 :
							    NULL;
	size_t len = host ? strlen(host) : 0;

	if (host == NULL || len == 0 || len > 253 + 6 ||
	    strspn(host, ALNUM ".-:[]") != len)
		return "not an origin (\"https://host[:port]\", no path)";
	return NULL;
}

/* An MCP revision: "YYYY-MM-DD". */
static const char *check_protocol_version(const char *s)
{
	if (strlen(s) == 10 && strspn(s, DIGITS) == 4 && s[4] == '-' &&
	    strspn(s + 5, DIGITS) == 2 && s[7] == '-' &&
	    strspn(s + 8, DIGITS) == 2)
		return NULL;
	return "not a protocol version (\"YYYY-MM-DD\")";
}

/* --- jsonrpc_param_allow ------------------------------------------------- */

/* The walker's checks, for a value whose key is the user's. */
static const struct key param_names = { "", CFG_KEY_STRINGS,
					.check = check_param_name };

static int take_param_allow(struct ctx *c, void *arg, const char *method,
			    struct json_object *v)
{
	struct cfg_tool *t = arg;
	struct cfg_param_allow *a = &t->http.param_allow[t->http.n_param_allow];

	if (method[0] == '\0')
		return key_fail(c, "method name must not be empty");
	if (key_check(c, &param_names, v) < 0)
		return -1;
	a->method = strdup(method);
	if (!a->method)
		return key_fail(c, "out of memory");
	/* from here on cfg_release() frees what a holds */
	t->http.n_param_allow++;
	return key_take_strings(c, v, &a->params);
}

static int set_param_allow(struct ctx *c, const struct key *k, void *dst,
			   struct json_object *v)
{
	struct cfg_tool *t = dst;

	(void)k;
	if (KEY_ALLOC(c, v, t->http.param_allow) < 0)
		return -1;
	return key_each_member(c, v, take_param_allow, t);
}

/* --- cli tools ----------------------------------------------------------- */

/* Checked now, so that -t tells; cli.c checks again before each exec. */
static int set_binary(struct ctx *c, const struct key *k, void *dst,
		      struct json_object *v)
{
	struct cfg_tool *t = dst;
	const char *s = json_object_get_string(v);
	struct stat st;

	(void)k;
	if (stat(s, &st) < 0)
		return key_fail(c, "not an executable file: %s",
				strerror(errno));
	if (!S_ISREG(st.st_mode) || access(s, X_OK) < 0)
		return key_fail(c, "not an executable file");
	t->cli.binary = strdup(s); /* owned by the tool */
	if (!t->cli.binary)
		return key_fail(c, "out of memory");
	return 0;
}

/* Each directory stored as realpath(3) gives it: no symlink, "." or "..",
 * so cli.c compares a client's directory with it byte for byte. */
static int take_dir(struct ctx *c, void *arg, size_t i,
		    struct json_object *v)
{
	struct cfg_strings *out = arg;
	struct stat st;
	char *real = realpath(json_object_get_string(v), NULL);

	(void)i;
	if (!real)
		return key_fail(c, "not a directory: %s", strerror(errno));
	if (stat(real, &st) < 0 || !S_ISDIR(st.st_mode)) {
		free(real);
		return key_fail(c, "not a directory");
	}
	out->v[out->n++] = real; /* owned by the config */
	return 0;
}

static int set_cwd_allowed(struct ctx *c, const struct key *k, void *dst,
			   struct json_object *v)
{
	struct cfg_tool *t = dst;

	(void)k;
	if (KEY_ALLOC(c, v, t->cli.cwd_allowed.v) < 0)
		return -1;
	return key_each_element(c, v, take_dir, &t->cli.cwd_allowed);
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
static int take_env(struct ctx *c, void *arg, const char *name,
		    struct json_object *v)
{
	struct cfg_tool *t = arg;
	struct cfg_header *e = &t->cli.env_inject[t->cli.n_env_inject];

	if (!env_name_ok(name))
		return key_fail(c, "not an environment variable name");
	if (!json_object_is_type(v, json_type_string))
		return key_fail(c, "expected a string");
	if (strlen(json_object_get_string(v)) !=
	    (size_t)json_object_get_string_len(v))
		return key_fail(c, "value contains a NUL character");
	e->name = strdup(name);
	e->value = strdup(json_object_get_string(v));
	t->cli.n_env_inject++; /* cfg_release() frees what e holds */
	if (!e->name || !e->value)
		return key_fail(c, "out of memory");
	return 0;
}

static int set_env_inject(struct ctx *c, const struct key *k, void *dst,
			  struct json_object *v)
{
	struct cfg_tool *t = dst;

	(void)k;
	if (KEY_ALLOC(c, v, t->cli.env_inject) < 0)
		return -1;
	return key_each_member(c, v, take_env, t);
}

/* --- the tables (dst is the tool) ---------------------------------------- */

#define T(field) offsetof(struct cfg_tool, field)
#define GiB 1073741824LL

static const struct key rate_keys[] = {
	{ "max_requests", CFG_KEY_INT, KEY_REQUIRED, ST_UINT,
	  .off = T(rate_max_requests), .min = 1, .max = 100000 },
	{ "window_secs", CFG_KEY_INT, KEY_REQUIRED, ST_UINT,
	  .off = T(rate_window_secs), .min = 1, .max = 86400 },
	KEY_END
};

/* "mcp" (issue 18): stored into the tool, as rate_limit is. */
static const struct key mcp_keys[] = {
	{ "tools_allow", CFG_KEY_STRINGS, 0, ST_STRS,
	  .off = T(http.mcp.tools_allow), .check = check_non_empty },
	{ "tools_deny", CFG_KEY_STRINGS, 0, ST_STRS,
	  .off = T(http.mcp.tools_deny), .check = check_non_empty },
	{ "resources_allow", CFG_KEY_STRINGS, 0, ST_STRS,
	  .off = T(http.mcp.resources_allow), .check = check_non_empty },
	{ "prompts_allow", CFG_KEY_STRINGS, 0, ST_STRS,
	  .off = T(http.mcp.prompts_allow), .check = check_non_empty },
	{ "arguments", CFG_KEY_OBJECT, 0, .set = set_mcp_arguments },
	{ "allowed_origins", CFG_KEY_STRINGS, 0, ST_STRS,
	  .off = T(http.mcp.allowed_origins), .check = check_origin },
	{ "require_protocol_versions", CFG_KEY_STRINGS, 0, ST_STRS,
	  .off = T(http.mcp.require_protocol_versions),
	  .check = check_protocol_version },
	KEY_END
};

static const struct key audit_keys[] = {
	{ "enabled", CFG_KEY_BOOL, 0, ST_BOOL,
	  .off = T(audit_enabled), .dflt = 1 },
	{ "log_body", CFG_KEY_BOOL, 0, ST_BOOL, .off = T(audit_log_body) },
	{ "log_argv", CFG_KEY_BOOL, 0, ST_BOOL, .off = T(audit_log_argv) },
	{ "redact_patterns", CFG_KEY_STRINGS, 0, ST_STRS,
	  .off = T(redact_patterns), .check = check_non_empty },
	KEY_END
};

static const struct key approval_keys[] = {
	{ "jsonrpc_methods", CFG_KEY_STRINGS, KEY_HTTP, ST_STRS,
	  .off = T(approval.jsonrpc_methods), .check = check_non_empty },
	{ "argv_patterns", CFG_KEY_STRINGS, KEY_CLI, ST_STRS,
	  .off = T(approval.argv_patterns), .check = check_non_empty },
	{ "paths", CFG_KEY_STRINGS, KEY_HTTP, ST_STRS,
	  .off = T(approval.paths), .check = check_path_pattern },
	{ "http_methods", CFG_KEY_STRINGS, KEY_HTTP, ST_STRS,
	  .off = T(approval.http_methods), .check = check_http_method },
	{ "timeout_secs", CFG_KEY_INT, 0, ST_UINT,
	  .off = T(approval.timeout_secs), .min = 1, .max = 86400,
	  .dflt = CFG_DEFAULT_APPROVAL_TIMEOUT_SECS },
	KEY_END
};

/* KEY_HTTP / KEY_CLI: for one type of tool only; a key with neither is
 * for both.  KEY_REQUIRED with one of them: required for that type.
 * A key for one type is stored in that type's part of struct cfg_tool,
 * T(http.x) or T(cli.x); a key for both, in the common part. */
const struct key cfg_tool_keys[] = {
	{ "type", CFG_KEY_STRING, KEY_REQUIRED, .set = set_type },
	{ "upstream", CFG_KEY_STRING, KEY_REQUIRED | KEY_HTTP, ST_STR,
	  .off = T(http.upstream), .set = set_upstream },
	{ "listen", CFG_KEY_LISTEN, KEY_HTTP, .set = set_tool_listen,
	  .sub = cfg_listen_keys },
	{ "upstream_ca", CFG_KEY_STRING, KEY_HTTP, ST_STR,
	  .off = T(http.upstream_ca), .check = cfg_check_absolute },
	{ "upstream_insecure", CFG_KEY_BOOL, KEY_HTTP, ST_BOOL,
	  .off = T(http.upstream_insecure) },
	{ "timeout_secs", CFG_KEY_INT, 0, ST_UINT, .off = T(timeout_secs),
	  .min = 1, .max = 86400, .dflt = CFG_DEFAULT_TIMEOUT_SECS },
	{ "stream_idle_timeout_secs", CFG_KEY_INT, KEY_HTTP, ST_UINT,
	  .off = T(http.stream_idle_timeout_secs), .min = 0, .max = 31536000 },
	{ "sse_keepalive_secs", CFG_KEY_INT, KEY_HTTP, ST_UINT,
	  .off = T(http.sse_keepalive_secs), .min = 0, .max = 3600 },
	{ "max_body_bytes", CFG_KEY_INT, KEY_INHERIT, ST_SIZE,
	  .off = T(max_body_bytes), .min = 1, .max = GiB },
	{ "allow_paths", CFG_KEY_STRINGS, KEY_HTTP, ST_STRS,
	  .off = T(http.allow_paths), .check = check_path_pattern },
	{ "allow_http_methods", CFG_KEY_STRINGS, KEY_HTTP, ST_STRS,
	  .off = T(http.allow_http_methods), .check = check_http_method },
	{ "jsonrpc_allow_methods", CFG_KEY_STRINGS, KEY_HTTP | KEY_JSONRPC,
	  ST_STRS, .off = T(http.jsonrpc_allow_methods),
	  .check = check_non_empty },
	{ "jsonrpc_deny_methods", CFG_KEY_STRINGS, KEY_HTTP | KEY_JSONRPC,
	  ST_STRS, .off = T(http.jsonrpc_deny_methods),
	  .check = check_non_empty },
	{ "jsonrpc_param_aliases", CFG_KEY_STRING, KEY_HTTP | KEY_JSONRPC,
	  .set = set_param_aliases },
	{ "jsonrpc_max_batch", CFG_KEY_INT, KEY_HTTP | KEY_JSONRPC, ST_UINT,
	  .off = T(http.jsonrpc_max_batch), .min = 1, .max = 100000,
	  .dflt = CFG_DEFAULT_JSONRPC_MAX_BATCH },
	{ "jsonrpc_param_allow", CFG_KEY_OBJECT, KEY_HTTP | KEY_JSONRPC,
	  .set = set_param_allow },
	{ "jsonrpc_param_filters", CFG_KEY_OBJECT,
	  KEY_HTTP | KEY_JSONRPC | KEY_NAMED, .set = set_filters,
	  .sub = filter_keys },
	{ "inject_headers", CFG_KEY_OBJECT, KEY_HTTP,
	  .set = cfg_set_inject_headers },
	{ "forward_headers", CFG_KEY_STRINGS, KEY_HTTP, ST_STRS,
	  .off = T(http.forward_headers), .check = cfg_check_header_name },
	{ "add_x_forwarded_for", CFG_KEY_BOOL, KEY_HTTP, ST_BOOL,
	  .off = T(http.add_x_forwarded_for) },
	{ "allow_path_params", CFG_KEY_BOOL, KEY_HTTP, ST_BOOL,
	  .off = T(http.allow_path_params) },
	{ "mcp", CFG_KEY_OBJECT, KEY_HTTP | KEY_JSONRPC, .sub = mcp_keys },
	{ "rate_limit", CFG_KEY_OBJECT, 0, .sub = rate_keys },
	{ "audit", CFG_KEY_OBJECT, 0, .sub = audit_keys },
	{ "mode", CFG_KEY_STRING, 0, .set = set_mode },
	{ "require_approval", CFG_KEY_OBJECT, 0, .sub = approval_keys },
	{ "binary", CFG_KEY_STRING, KEY_REQUIRED | KEY_CLI, ST_STR,
	  .off = T(cli.binary),
	  .set = set_binary, .check = cfg_check_absolute },
	{ "argv_allow_patterns", CFG_KEY_STRINGS, KEY_CLI, ST_STRS,
	  .off = T(cli.argv_allow_patterns) },
	{ "argv_deny_patterns", CFG_KEY_STRINGS, KEY_CLI, ST_STRS,
	  .off = T(cli.argv_deny_patterns) },
	{ "env_inject", CFG_KEY_OBJECT, KEY_CLI, .set = set_env_inject },
	{ "cwd_allowed", CFG_KEY_STRINGS, KEY_CLI, ST_STRS,
	  .off = T(cli.cwd_allowed),
	  .set = set_cwd_allowed, .check = cfg_check_absolute },
	{ "max_output_bytes", CFG_KEY_INT, KEY_CLI, ST_SIZE,
	  .off = T(cli.max_output_bytes), .min = 1, .max = GiB,
	  .dflt = CFG_DEFAULT_MAX_OUTPUT_BYTES },
	{ "argv_deny_flags", CFG_KEY_STRINGS, KEY_CLI, ST_STRS,
	  .off = T(cli.argv_deny_flags), .check = check_flag },
	{ "max_concurrent", CFG_KEY_INT, KEY_CLI, ST_UINT,
	  .off = T(cli.max_concurrent),
	  .min = 1, .max = 1024, .dflt = CFG_DEFAULT_MAX_CONCURRENT },
	KEY_END
};
#undef T

/* --- a tool -------------------------------------------------------------- */

static int tool_name_ok(const char *name)
{
	size_t len = strlen(name);

	return len >= 1 && len <= TOOL_NAME_MAX &&
	       strspn(name, TOOL_NAME_CHARS) == len &&
	       strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

/* Any jsonrpc_* key, even an empty one, makes the tool a JSON-RPC tool. */
static int speaks_jsonrpc(struct json_object *v)
{
	const struct key *k;

	for (k = cfg_tool_keys; k->name; k++)
		if ((k->flags & KEY_JSONRPC) &&
		    json_object_object_get_ex(v, k->name, NULL))
			return 1;
	return 0;
}

/* Type first: which keys the tool may have, and their defaults, depend
 * on it. */
static int take_type(struct ctx *c, struct cfg_tool *t, struct json_object *v)
{
	struct json_object *type;

	if (!json_object_object_get_ex(v, "type", &type)) {
		key_path_add(c, "type");
		return key_fail(c, "missing required key");
	}
	if (key_take(c, cfg_tool_keys, t, "type", type) < 0)
		return -1;
	c->scope = t->type == CFG_TOOL_CLI ? KEY_CLI : KEY_HTTP;
	key_defaults(cfg_tool_keys, c->scope, t);
	return 0;
}

/* What a grant remembers of the tool's policy (cfg.h). */
static int fingerprint(struct cfg_tool *t, struct json_object *v)
{
	const char *text = json_object_to_json_string_ext(
		v, JSON_C_TO_STRING_PLAIN);

	return text ? secret_sha256(text, strlen(text), t->fingerprint) : -1;
}

static int take_tool(struct ctx *c, void *arg, const char *name,
		     struct json_object *v)
{
	struct cfg *cfg = arg;
	struct cfg_tool *t = &cfg->tools[cfg->n_tools];
	int rc;

	if (!tool_name_ok(name))
		return key_fail(c, "invalid tool name");
	if (!json_object_is_type(v, json_type_object))
		return key_fail(c, "expected an object");
	t->name = strdup(name);
	if (!t->name)
		return key_fail(c, "out of memory");
	t->owner = cfg;
	cfg->n_tools++; /* from here on cfg_release() frees what t holds */
	rc = take_type(c, t, v);
	if (rc == 0)
		rc = key_walk(c, cfg_tool_keys, t, v);
	c->scope = 0;
	t->http.is_jsonrpc = speaks_jsonrpc(v);
	t->http.has_mcp = t->type == CFG_TOOL_HTTP &&
			  json_object_object_get_ex(v, "mcp", NULL);
	/* given, even empty: an empty one matches nothing (approvals.h) */
	t->approval.enabled = json_object_object_get_ex(v, "require_approval",
							NULL);
	if (rc == 0 && fingerprint(t, v) < 0)
		return key_fail(c, "cannot hash the tool");
	return rc;
}

int cfg_tool_set_all(struct ctx *c, const struct key *k, void *dst,
		     struct json_object *v)
{
	struct cfg *cfg = dst;
	size_t n = (size_t)json_object_object_length(v);

	(void)k;
	/* none is allowed: every tool path is then 404, the safe start of
	 * a fresh install (etc/carapaced.conf) */
	if (n == 0)
		return 0;
	cfg->tools = calloc(n, sizeof(*cfg->tools)); /* owned by cfg */
	if (!cfg->tools)
		return key_fail(c, "out of memory");
	return key_each_member(c, v, take_tool, cfg);
}

void cfg_tool_free(struct cfg_tool *t)
{
	size_t i;

	key_free(cfg_tool_keys, t);
	if (t->http.has_listen)
		cfg_listen_free(&t->http.listen);
	free(t->name);
	for (i = 0; i < t->http.n_param_allow; i++) {
		free(t->http.param_allow[i].method);
		key_free_strings(&t->http.param_allow[i].params);
	}
	free(t->http.param_allow);
	for (i = 0; i < t->http.n_param_filters; i++) {
		free(t->http.param_filters[i].method);
		key_free(filter_keys, &t->http.param_filters[i]);
	}
	free(t->http.param_filters);
	for (i = 0; i < t->http.mcp.n_arguments; i++) {
		free(t->http.mcp.arguments[i].method);
		key_free(filter_keys, &t->http.mcp.arguments[i]);
	}
	free(t->http.mcp.arguments);
	for (i = 0; i < t->http.n_inject_headers; i++) {
		free(t->http.inject_headers[i].name);
		free(t->http.inject_headers[i].value);
	}
	free(t->http.inject_headers);
	for (i = 0; i < t->cli.n_env_inject; i++) {
		free(t->cli.env_inject[i].name);
		free(t->cli.env_inject[i].value);
	}
	free(t->cli.env_inject);
}
