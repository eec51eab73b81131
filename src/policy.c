/* policy — see policy.h.
 *
 * A JSON-RPC body is parsed strictly into one value, checked request by
 * request, and, when allowed, re-serialised: the upstream gets exactly the
 * value that was checked, never the client's bytes.  A denied batch is
 * checked twice (once to decide, once to write each request's error), so
 * nothing per request is kept but its method name; error bodies are
 * written by hand into one growing buffer rather than built as json-c
 * objects, which cost a kilobyte apiece. */
#include "config.h"

#include "policy.h"

#include <fnmatch.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "header.h"
#include "jsonparse.h"

#define PATH_MAX_BYTES 8192
#define ARGV_MAX_BYTES 65536 /* a cli tool's argv, joined */
#define QUOTE_MAX 60 /* bytes of a client's value shown in a reason */

#define RPC_PARSE_ERROR (-32700)
#define RPC_INVALID_REQUEST (-32600)
#define RPC_DENIED (-32000)

#define FORWARD_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* The verdict on one request (or on the whole body). */
struct check {
	int status; /* 0 allowed, 400 malformed, 403 denied, 500 */
	int code;   /* JSON-RPC error code when status != 0 */
	char reason[sizeof(((struct policy_verdict *)0)->reason)];
};

/* A growing output buffer; failed sticks once an allocation fails. */
struct buf {
	char *p;
	size_t len, cap;
	int failed;
};

/* --- small helpers ------------------------------------------------------ */

__attribute__((format(printf, 4, 5))) static void
set_check(struct check *c, int status, int code, const char *fmt, ...)
{
	va_list ap;

	c->status = status;
	c->code = code;
	va_start(ap, fmt);
	vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
	va_end(ap);
}

static void to_verdict(const struct check *c, struct policy_verdict *v)
{
	v->status = c->status;
	snprintf(v->reason, sizeof(v->reason), "%s", c->reason);
}

/* A client's bytes made fit for a reason: printable ASCII only (anything
 * else becomes '?'), at most QUOTE_MAX bytes, "..." when cut. */
static void quote(char out[QUOTE_MAX + 1], const char *s, size_t len)
{
	size_t n = len > QUOTE_MAX ? QUOTE_MAX - 3 : len;
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		out[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	if (n < len) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
}

static int glob_any(const struct cfg_strings *globs, const char *s)
{
	for (size_t i = 0; i < globs->n; i++)
		if (fnmatch(globs->v[i], s, 0) == 0)
			return 1;
	return 0;
}

static int listed(const struct cfg_strings *list, const char *s)
{
	for (size_t i = 0; i < list->n; i++)
		if (strcmp(list->v[i], s) == 0)
			return 1;
	return 0;
}

static int listed_header(const struct cfg_strings *list, const char *name)
{
	for (size_t i = 0; i < list->n; i++)
		if (header_name_eq(list->v[i], name))
			return 1;
	return 0;
}

/* A JSON string whose bytes hold a NUL: checks would see a prefix. */
static int has_nul(struct json_object *s)
{
	const char *p = json_object_get_string(s);

	return strlen(p) != (size_t)json_object_get_string_len(s);
}

/* --- plain HTTP requests ------------------------------------------------ */

static int has_ctl(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 1;
	return 0;
}

static int check_path(const struct cfg_tool *tool, const char *path,
		      size_t path_len, struct check *c)
{
	char copy[PATH_MAX_BYTES + 1], q[QUOTE_MAX + 1];

	if (path_len > PATH_MAX_BYTES) {
		set_check(c, 400, 0, "bad request: path longer than %d bytes",
			  PATH_MAX_BYTES);
		return -1;
	}
	if (has_ctl(path, path_len)) {
		set_check(c, 400, 0, "bad request: control character in path");
		return -1;
	}
	if (tool->allow_paths.n == 0)
		return 0;
	memcpy(copy, path, path_len);
	copy[path_len] = '\0';
	if (glob_any(&tool->allow_paths, copy))
		return 0;
	quote(q, path, path_len);
	set_check(c, 403, 0,
		  "denied by policy: path \"%s\" matches no allow_paths "
		  "pattern",
		  q);
	return -1;
}

/* TRACE and TRACK answer with the request as received: a reflecting
 * upstream would hand the client the very headers injected to keep from
 * it. Any case: some servers read methods case-insensitively. */
static int is_trace(const char *method)
{
	return strcasecmp(method, "TRACE") == 0 ||
	       strcasecmp(method, "TRACK") == 0;
}

int policy_check_request(const struct cfg_tool *tool, const char *method,
			 const char *path, size_t path_len,
			 struct policy_verdict *v)
{
	struct check c = { 0, 0, "" };
	char q[QUOTE_MAX + 1];

	if (tool == NULL || method == NULL || path == NULL) {
		set_check(&c, 400, 0, "bad request: no method or path");
	} else if (tool->allow_http_methods.n > 0 &&
		   !listed(&tool->allow_http_methods, method)) {
		quote(q, method, strlen(method));
		set_check(&c, 405, 0,
			  "denied by policy: method \"%s\" is not in "
			  "allow_http_methods",
			  q);
	} else if (tool->allow_http_methods.n == 0 && is_trace(method)) {
		quote(q, method, strlen(method));
		set_check(&c, 405, 0,
			  "denied by policy: method \"%s\" is allowed only "
			  "when named in allow_http_methods",
			  q);
	} else {
		check_path(tool, path, path_len, &c);
	}
	to_verdict(&c, v);
	return c.status == 0 ? 0 : -1;
}

/* The names are header.c's (one table); what a tool adds here is its own
 * say: what it injects or writes itself is never the client's, and
 * forward_headers opens the ones kept back. */
int policy_forward_header(const struct cfg_tool *tool, const char *name)
{
	if (tool == NULL || name == NULL)
		return 0;
	enum header_forward rule = header_forwardable(name);
	if (rule == HEADER_NEVER)
		return 0;
	for (size_t i = 0; i < tool->n_inject_headers; i++)
		if (header_name_eq(name, tool->inject_headers[i].name))
			return 0;
	if (tool->add_x_forwarded_for &&
	    header_name_eq(name, "X-Forwarded-For"))
		return 0;
	if (rule == HEADER_IF_LISTED)
		return listed_header(&tool->forward_headers, name);
	return 1;
}

/* --- CLI argv ----------------------------------------------------------- */

/* Joins argv with single spaces into out (ARGV_MAX_BYTES + 1 bytes);
 * -1 when the result would not fit. */
static int join_argv(char *const *argv, size_t argc, char *out)
{
	size_t len = 0, n;

	out[0] = '\0';
	for (size_t i = 0; i < argc; i++) {
		n = strlen(argv[i]);
		if (n + (i > 0) > ARGV_MAX_BYTES - len)
			return -1;
		if (i > 0)
			out[len++] = ' ';
		memcpy(out + len, argv[i], n);
		len += n;
	}
	out[len] = '\0';
	return 0;
}

static const char *glob_first(const struct cfg_strings *globs,
			      const char *s)
{
	for (size_t i = 0; i < globs->n; i++)
		if (fnmatch(globs->v[i], s, 0) == 0)
			return globs->v[i];
	return NULL;
}

/* Whether arg, an argument that getopt_long may read as options, spells
 * flag ("--name" or "-x", as cfg.c checked). A long option "--x[=v]"
 * spells "--name" when x is a prefix of name, even the empty one:
 * getopt_long takes any unambiguous prefix, and whether another option
 * makes it ambiguous is the program's to know, not ours. A short option
 * spells "-x" when x is anywhere in a cluster "-abc": which letters take
 * a value (ending the cluster) we do not know either. */
static int spells_flag(const char *arg, const char *flag)
{
	if (arg[0] != '-' || arg[1] == '\0')
		return 0; /* an operand, or "-" (stdin, by custom) */
	if (arg[1] == '-') {
		size_t n = strcspn(arg + 2, "=");
		return flag[1] == '-' && n <= strlen(flag + 2) &&
		       strncmp(arg + 2, flag + 2, n) == 0;
	}
	return flag[1] != '-' && strchr(arg + 1, flag[1]) != NULL;
}

/* Whether name[=v] names the long option flag by a prefix, as
 * "--name[=v]" would. */
static int spells_long(const char *name, const char *flag)
{
	size_t n = strcspn(name, "=");

	return flag[1] == '-' && n > 0 && n <= strlen(flag + 2) &&
	       strncmp(name, flag + 2, n) == 0;
}

/* getopt_long reads "-W name" (and "-Wname") as "--name" when the short
 * options include "W;". Which programs do is not known here, so every
 * cluster holding W is read that way too (fail closed): the long name it
 * would give, or NULL. */
static const char *w_value(char *const *argv, size_t argc, size_t i)
{
	const char *arg = argv[i];
	const char *w = arg[0] == '-' && arg[1] != '-' && arg[1] != '\0' ?
				strchr(arg + 1, 'W') :
				NULL;

	if (w == NULL)
		return NULL;
	if (w[1] != '\0')
		return w + 1;
	return i + 1 < argc ? argv[i + 1] : NULL;
}

/* Whether arg is an option that may take the next argument as its value:
 * a cluster (its last letter may want one) or "--name" without "=". */
static int may_take_value(const char *arg)
{
	if (arg[0] != '-' || arg[1] == '\0')
		return 0;
	return arg[1] != '-' || strchr(arg, '=') == NULL;
}

/* The first argument spelling a flag of argv_deny_flags (its flag in
 * *flag), or NULL. A lone "--" ends the options, unless it follows an
 * option that may take it as its value: getopt_long then reads what
 * comes after as options still ("-m -- --output f" writes to f). */
static const char *denied_flag(const struct cfg_strings *flags,
			       char *const *argv, size_t argc,
			       const char **flag)
{
	for (size_t i = 0; flags->n > 0 && i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			if (i == 0 || !may_take_value(argv[i - 1]))
				break;
			continue;
		}
		const char *w = w_value(argv, argc, i);
		for (size_t j = 0; j < flags->n; j++) {
			if (spells_flag(argv[i], flags->v[j]) ||
			    (w != NULL && spells_long(w, flags->v[j]))) {
				*flag = flags->v[j];
				return argv[i];
			}
		}
	}
	return NULL;
}

int policy_check_argv(const struct cfg_tool *tool, char *const *argv,
		      size_t argc, struct policy_verdict *v)
{
	struct check c = { 0, 0, "" };
	char q[QUOTE_MAX + 1], qp[QUOTE_MAX + 1];
	char *joined = NULL;
	const char *pat, *arg, *flag = NULL;

	if (tool == NULL || (argv == NULL && argc > 0)) {
		set_check(&c, 500, 0, "internal error: no tool or argv");
		goto out;
	}
	for (size_t i = 0; i < argc; i++) {
		if (argv[i] == NULL) {
			set_check(&c, 400, 0, "bad request: argv has a null");
			goto out;
		}
	}
	joined = malloc(ARGV_MAX_BYTES + 1);
	if (joined == NULL) {
		set_check(&c, 500, 0, "internal error: out of memory");
		goto out;
	}
	if (join_argv(argv, argc, joined) < 0) {
		set_check(&c, 400, 0, "bad request: argv too long (more than "
			  "%d bytes joined)", ARGV_MAX_BYTES);
		goto out;
	}
	quote(q, joined, strlen(joined));
	if ((pat = glob_first(&tool->argv_deny_patterns, joined)) != NULL) {
		quote(qp, pat, strlen(pat));
		set_check(&c, 403, 0,
			  "denied by policy: argv \"%s\" matches "
			  "argv_deny_patterns pattern \"%s\"",
			  q, qp);
	} else if ((arg = denied_flag(&tool->argv_deny_flags, argv, argc,
				      &flag)) != NULL) {
		quote(q, arg, strlen(arg));
		quote(qp, flag, strlen(flag));
		set_check(&c, 403, 0,
			  "denied by policy: argument \"%s\" spells \"%s\" "
			  "of argv_deny_flags",
			  q, qp);
	} else if (!glob_any(&tool->argv_allow_patterns, joined)) {
		set_check(&c, 403, 0,
			  "denied by policy: argv \"%s\" matches no "
			  "argv_allow_patterns pattern",
			  q);
	}
out:
	free(joined);
	to_verdict(&c, v);
	return c.status == 0 ? 0 : -1;
}

/* --- JSON-RPC: parsing -------------------------------------------------- */

/* Exactly one JSON value (*root; NULL for null), bounded by jsonparse.
 * 0, or -1 and c says why. */
static int parse_body(const char *body, size_t len, struct json_object **root,
		      struct check *c)
{
	struct jsonparse_error err;

	if (jsonparse_strict(body, len, root, &err) == JSONPARSE_OK)
		return 0;
	set_check(c, 400, RPC_PARSE_ERROR, "parse error: %s", err.message);
	return -1;
}

/* --- JSON-RPC: one request ---------------------------------------------- */

static int invalid(struct check *c, const char *why)
{
	set_check(c, 400, RPC_INVALID_REQUEST, "invalid request: %s", why);
	return -1;
}

/* The request's "id" when it is a valid one, else NULL (echoed as null). */
static struct json_object *request_id(struct json_object *req)
{
	struct json_object *id;

	if (!json_object_is_type(req, json_type_object) ||
	    !json_object_object_get_ex(req, "id", &id))
		return NULL;
	switch (json_object_get_type(id)) {
	case json_type_string:
	case json_type_int:
	case json_type_double:
		return id;
	default:
		return NULL;
	}
}

/* The method name of a well-formed-enough request, else NULL. */
static struct json_object *request_method(struct json_object *req)
{
	struct json_object *m;

	if (!json_object_is_type(req, json_type_object) ||
	    !json_object_object_get_ex(req, "method", &m) ||
	    !json_object_is_type(m, json_type_string))
		return NULL;
	return m;
}

static int check_shape(struct json_object *req, struct check *c)
{
	struct json_object *o;
	json_type t;

	if (!json_object_is_type(req, json_type_object))
		return invalid(c, "not an object");
	if (!json_object_object_get_ex(req, "jsonrpc", &o) ||
	    !json_object_is_type(o, json_type_string) ||
	    json_object_get_string_len(o) != 3 ||
	    memcmp(json_object_get_string(o), "2.0", 3) != 0)
		return invalid(c, "\"jsonrpc\" must be \"2.0\"");
	if ((o = request_method(req)) == NULL)
		return invalid(c, "\"method\" must be a string");
	if (has_nul(o))
		return invalid(c, "\"method\" contains a NUL character");
	if (json_object_object_get_ex(req, "params", &o) &&
	    (t = json_object_get_type(o)) != json_type_object &&
	    t != json_type_array)
		return invalid(c, "\"params\" must be an object or an array");
	if (json_object_object_get_ex(req, "id", &o) &&
	    (t = json_object_get_type(o)) != json_type_null &&
	    request_id(req) == NULL)
		return invalid(c, "\"id\" must be a string, number or null");
	return 0;
}

static int check_method(const struct cfg_tool *tool, const char *name,
			struct check *c)
{
	char q[QUOTE_MAX + 1];

	quote(q, name, strlen(name));
	if (glob_any(&tool->jsonrpc_deny_methods, name)) {
		set_check(c, 403, RPC_DENIED,
			  "denied by policy: method \"%s\" is in "
			  "jsonrpc_deny_methods",
			  q);
		return -1;
	}
	if (tool->jsonrpc_allow_methods.n > 0 &&
	    !glob_any(&tool->jsonrpc_allow_methods, name)) {
		set_check(c, 403, RPC_DENIED,
			  "denied by policy: method \"%s\" is not in "
			  "jsonrpc_allow_methods",
			  q);
		return -1;
	}
	return 0;
}

/* --- JSON-RPC: parameter names ----------------------------------------- */

/* A parameter name, read a byte at a time in its canonical spelling, so
 * that names of any length compare without a copy.  Under "signal-cli"
 * that is what signal-cli's Util.dashSeparatedToCamelCaseString() makes
 * of a name, splitting at '_' as well as '-': the first piece kept as it
 * is, each later non-empty piece with its first byte upper-cased and the
 * rest lower-cased (ASCII), so group-id, group_id and groupId are all
 * groupId.  Under "none" it is the name itself. */
struct spelling {
	const char *p, *end;
	int fold;  /* "signal-cli" */
	int later; /* past a separator */
	int fresh; /* the next byte begins a piece */
};

static int spelling_next(struct spelling *s)
{
	unsigned char ch;

	while (s->fold && s->p < s->end && (*s->p == '-' || *s->p == '_')) {
		s->p++;
		s->later = s->fresh = 1;
	}
	if (s->p == s->end)
		return -1;
	ch = (unsigned char)*s->p++;
	if (s->later && s->fresh && ch >= 'a' && ch <= 'z')
		ch = (unsigned char)(ch - 'a' + 'A');
	else if (s->later && !s->fresh && ch >= 'A' && ch <= 'Z')
		ch = (unsigned char)(ch - 'A' + 'a');
	s->fresh = 0;
	return ch;
}

/* Whether names a and b (a_len, b_len bytes) are one field under mode:
 * the same canonical spelling or, under "signal-cli", one of them the
 * other's plus "s", because signal-cli's getList(dest) falls back to
 * dest + "s" (recipient, recipients).  The one comparison behind both
 * jsonrpc_param_allow and jsonrpc_param_filters, so the two cannot
 * disagree on what a name covers. */
static int param_same(enum cfg_param_aliases mode, const char *a,
		      size_t a_len, const char *b, size_t b_len)
{
	int fold = mode == CFG_ALIASES_SIGNAL_CLI;
	struct spelling x = { a, a + a_len, fold, 0, 0 };
	struct spelling y = { b, b + b_len, fold, 0, 0 };
	int cx, cy;

	do {
		cx = spelling_next(&x);
		cy = spelling_next(&y);
	} while (cx == cy && cx >= 0);
	if (cx == cy)
		return 1;
	if (!fold || (cx >= 0 && cy >= 0))
		return 0;
	if (cx < 0)
		return cy == 's' && spelling_next(&y) < 0;
	return cx == 's' && spelling_next(&x) < 0;
}

/* A rule's method key is a glob only when it holds a glob character, so
 * a plain name (even "tools/call") keeps meaning exactly that name. */
static int method_matches(const char *key, const char *name)
{
	if (strpbrk(key, "*?[\\") != NULL)
		return fnmatch(key, name, 0) == 0;
	return strcmp(key, name) == 0;
}

static int name_listed(const struct cfg_tool *tool,
		       const struct cfg_strings *names, const char *key)
{
	for (size_t i = 0; i < names->n; i++)
		if (param_same(tool->param_aliases, key, strlen(key),
			       names->v[i], strlen(names->v[i])))
			return 1;
	return 0;
}

/* Every jsonrpc_param_allow entry for the method: params by name, each
 * name listed.  Positional params are refused outright: what a position
 * means is the upstream's, not a name this check could look at. */
static int check_param_allow(const struct cfg_tool *tool, const char *method,
			     struct json_object *params, struct check *c)
{
	char qm[QUOTE_MAX + 1], qk[QUOTE_MAX + 1];

	for (size_t i = 0; i < tool->n_param_allow; i++) {
		const struct cfg_param_allow *a = &tool->param_allow[i];
		if (params == NULL || !method_matches(a->method, method))
			continue;
		quote(qm, method, strlen(method));
		if (!json_object_is_type(params, json_type_object)) {
			set_check(c, 403, RPC_DENIED,
				  "denied by policy: positional params of "
				  "\"%s\" (jsonrpc_param_allow names them)",
				  qm);
			return -1;
		}
		json_object_object_foreach(params, key, val)
		{
			(void)val;
			if (name_listed(tool, &a->params, key))
				continue;
			quote(qk, key, strlen(key));
			set_check(c, 403, RPC_DENIED,
				  "denied by policy: param \"%s\" of \"%s\" "
				  "is not in jsonrpc_param_allow",
				  qk, qm);
			return -1;
		}
	}
	return 0;
}

static int deny_value(const struct cfg_param_filter *f, const char *s,
		      const char *what, struct check *c)
{
	char q[QUOTE_MAX + 1];

	quote(q, s, strlen(s));
	set_check(c, 403, RPC_DENIED,
		  "denied by policy: param \"%.64s\" value \"%s\" matches %s",
		  f->field, q, what);
	return -1;
}

static int check_value(const struct cfg_param_filter *f,
		       struct json_object *str, struct check *c)
{
	const char *s = json_object_get_string(str);

	if (has_nul(str)) {
		set_check(c, 400, RPC_INVALID_REQUEST,
			  "invalid request: param \"%.64s\" contains a NUL "
			  "character",
			  f->field);
		return -1;
	}
	if (glob_any(&f->deny_patterns, s))
		return deny_value(f, s, "a deny_patterns pattern", c);
	if (f->allow_patterns.n > 0 && !glob_any(&f->allow_patterns, s))
		return deny_value(f, s, "no allow_patterns pattern", c);
	return 0;
}

static int deny_param(const struct cfg_param_filter *f, const char *method,
		      const char *what, struct check *c)
{
	char q[QUOTE_MAX + 1];

	quote(q, method, strlen(method));
	set_check(c, 403, RPC_DENIED,
		  "denied by policy: param \"%.64s\" of \"%s\" %s", f->field,
		  q, what);
	return -1;
}

/* Every element a string that passes; with allow_patterns, an empty
 * array is refused like a missing field (it names nobody allowed). */
static int check_elements(const struct cfg_param_filter *f,
			  struct json_object *arr, const char *method,
			  struct check *c)
{
	size_t n = json_object_array_length(arr);

	if (n == 0 && f->allow_patterns.n > 0)
		return deny_param(f, method, "is an empty array", c);
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);
		if (!json_object_is_type(e, json_type_string)) {
			set_check(c, 403, RPC_DENIED,
				  "denied by policy: param \"%.64s\" has a "
				  "non-string element",
				  f->field);
			return -1;
		}
		if (check_value(f, e, c) < 0)
			return -1;
	}
	return 0;
}

/* One value the filter's field led to. */
static int check_found(const struct cfg_param_filter *f,
		       struct json_object *val, const char *method,
		       struct check *c)
{
	switch (json_object_get_type(val)) {
	case json_type_string:
		return check_value(f, val, c);
	case json_type_array:
		return check_elements(f, val, method, c);
	default:
		set_check(c, 403, RPC_DENIED,
			  "denied by policy: param \"%.64s\" is not a string",
			  f->field);
		return -1;
	}
}

/* Follows the dotted field through objects only, every component
 * matched with param_same(): where several spellings of one field are
 * present, each is followed and each value checked, since which one the
 * upstream reads is its business.  *found counts the values.  Recursion
 * goes one object deeper each time, so the parser's depth bounds it. */
static int check_field(const struct cfg_tool *tool,
		       const struct cfg_param_filter *f, struct json_object *o,
		       const char *field, const char *method, size_t *found,
		       struct check *c)
{
	size_t seg = strcspn(field, ".");

	if (!json_object_is_type(o, json_type_object))
		return 0;
	json_object_object_foreach(o, key, val)
	{
		if (!param_same(tool->param_aliases, key, strlen(key), field,
				seg))
			continue;
		if (field[seg] != '\0') {
			if (check_field(tool, f, val, field + seg + 1, method,
					found, c) < 0)
				return -1;
		} else {
			(*found)++;
			if (check_found(f, val, method, c) < 0)
				return -1;
		}
	}
	return 0;
}

static int check_filter(const struct cfg_tool *tool,
			const struct cfg_param_filter *f,
			struct json_object *params, const char *method,
			struct check *c)
{
	size_t found = 0;

	if (check_field(tool, f, params, f->field, method, &found, c) < 0)
		return -1;
	if (found == 0 && f->allow_patterns.n > 0)
		return deny_param(f, method, "is missing", c);
	return 0;
}

/* Shape, methods, the method's parameter names, then every filter for
 * it; deny wins. */
static void check_request(const struct cfg_tool *tool,
			  struct json_object *req, struct check *c)
{
	struct json_object *params = NULL;
	const char *name;

	set_check(c, 0, 0, "%s", "");
	if (check_shape(req, c) < 0)
		return;
	name = json_object_get_string(request_method(req));
	if (check_method(tool, name, c) < 0)
		return;
	json_object_object_get_ex(req, "params", &params);
	if (check_param_allow(tool, name, params, c) < 0)
		return;
	for (size_t i = 0; i < tool->n_param_filters; i++) {
		const struct cfg_param_filter *f = &tool->param_filters[i];
		if (method_matches(f->method, name) &&
		    check_filter(tool, f, params, name, c) < 0)
			return;
	}
}

/* --- JSON-RPC: output --------------------------------------------------- */

/* The method names seen, for the audit trail: every one, as sent (the
 * audit cleans what it writes). A batch is bounded by jsonrpc_max_batch
 * before any name is noted, so the list is too. */
struct names {
	struct json_object *arr; /* NULL: not wanted */
	int truncated;
	int failed;              /* out of memory: the check fails */
};

static void note_method(struct names *nm, struct json_object *req)
{
	struct json_object *m = request_method(req), *s;

	if (nm->arr == NULL || m == NULL)
		return;
	s = json_object_new_string_len(json_object_get_string(m),
				       json_object_get_string_len(m));
	if (s == NULL || json_object_array_add(nm->arr, s) != 0) {
		json_object_put(s);
		nm->failed = 1;
	}
}

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->failed)
		return;
	if (n >= b->cap - b->len) {
		size_t cap = b->cap ? b->cap : 256;
		char *p;
		while (cap - b->len <= n && cap < SIZE_MAX / 2)
			cap *= 2;
		if (cap - b->len <= n || (p = realloc(b->p, cap)) == NULL) {
			b->failed = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

/* s as a JSON string: quotes, backslashes and controls escaped. */
static void buf_json_string(struct buf *b, const char *s)
{
	char esc[8];

	buf_add(b, "\"", 1);
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\') {
			esc[0] = '\\';
			esc[1] = (char)ch;
			buf_add(b, esc, 2);
		} else if (ch < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", ch);
			buf_add(b, esc, 6);
		} else {
			buf_add(b, s, 1);
		}
	}
	buf_add(b, "\"", 1);
}

/* {"jsonrpc":"2.0","error":{"code":C,"message":M},"id":ID} */
static void add_error(struct buf *b, int code, const char *message,
		      struct json_object *id)
{
	char num[16];
	const char *s = "null";
	size_t n = 4;

	if (id != NULL &&
	    (s = json_object_to_json_string_length(id, FORWARD_FLAGS, &n)) ==
		    NULL)
		b->failed = 1;
	snprintf(num, sizeof(num), "%d", code);
	buf_str(b, "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":");
	buf_str(b, num);
	buf_str(b, ",\"message\":");
	buf_json_string(b, message);
	buf_str(b, "},\"id\":");
	buf_add(b, s ? s : "", s ? n : 0);
	buf_add(b, "}", 1);
}

/* One entry per request: its own error, or that another was denied. */
static void add_batch_errors(const struct cfg_tool *tool,
			     struct json_object *root, struct buf *b)
{
	size_t n = json_object_array_length(root);
	struct check c;

	buf_add(b, "[", 1);
	for (size_t i = 0; i < n; i++) {
		struct json_object *req = json_object_array_get_idx(root, i);
		check_request(tool, req, &c);
		if (i > 0)
			buf_add(b, ",", 1);
		if (c.status != 0)
			add_error(b, c.code, c.reason, request_id(req));
		else
			add_error(b, RPC_DENIED,
				  "denied by policy: another request in this "
				  "batch was denied",
				  request_id(req));
	}
	buf_add(b, "]", 1);
}

/* --- JSON-RPC: the whole body ------------------------------------------- */

static int check_single(const struct cfg_tool *tool, struct json_object *req,
			struct names *nm, struct check *c, struct buf *b)
{
	check_request(tool, req, c);
	note_method(nm, req);
	if (c->status == 0)
		return 0;
	add_error(b, c->code, c->reason, request_id(req));
	return -1;
}

/* Allowed only if every request is; c gets the first denial, with status
 * 400 if any request was malformed. */
static int check_batch(const struct cfg_tool *tool, struct json_object *root,
		       struct names *nm, struct check *c, struct buf *b)
{
	size_t n = json_object_array_length(root);
	int malformed = 0;
	struct check one;

	set_check(c, 0, 0, "%s", "");
	for (size_t i = 0; i < n; i++) {
		struct json_object *req = json_object_array_get_idx(root, i);
		check_request(tool, req, &one);
		note_method(nm, req);
		if (one.status != 0 && c->status == 0)
			*c = one;
		if (one.status == 400)
			malformed = 1;
	}
	if (c->status == 0)
		return 0;
	if (malformed)
		c->status = 400;
	add_batch_errors(tool, root, b);
	return -1;
}

static unsigned max_batch(const struct cfg_tool *tool)
{
	/* 0 only in a tool not made by cfg.c: the default, not unbounded */
	return tool->jsonrpc_max_batch > 0 ? tool->jsonrpc_max_batch :
					     CFG_DEFAULT_JSONRPC_MAX_BATCH;
}

/* A batch longer than jsonrpc_max_batch is refused whole, as one invalid
 * request, before any of it is checked: only the names of the first
 * jsonrpc_max_batch are noted, and the list says it is cut. */
static int check_batch_length(const struct cfg_tool *tool,
			      struct json_object *root, struct names *nm,
			      struct check *c, struct buf *b)
{
	size_t n = json_object_array_length(root), max = max_batch(tool);

	if (n <= max)
		return 0;
	for (size_t i = 0; i < max; i++)
		note_method(nm, json_object_array_get_idx(root, i));
	nm->truncated = 1;
	set_check(c, 400, RPC_INVALID_REQUEST,
		  "invalid request: a batch of %zu requests is more than "
		  "jsonrpc_max_batch (%zu)",
		  n, max);
	add_error(b, c->code, c->reason, NULL);
	return -1;
}

static int check_root(const struct cfg_tool *tool, struct json_object *root,
		      struct names *nm, struct check *c, struct buf *b)
{
	if (json_object_is_type(root, json_type_object))
		return check_single(tool, root, nm, c, b);
	if (json_object_is_type(root, json_type_array) &&
	    json_object_array_length(root) > 0) {
		if (check_batch_length(tool, root, nm, c, b) < 0)
			return -1;
		return check_batch(tool, root, nm, c, b);
	}
	invalid(c, json_object_is_type(root, json_type_array) ?
			   "empty batch" :
			   "not an object or an array");
	add_error(b, c->code, c->reason, NULL);
	return -1;
}

/* A copy of the checked value's plain serialisation (caller frees). */
static char *serialise(struct json_object *root, size_t *len)
{
	const char *s = json_object_to_json_string_length(root, FORWARD_FLAGS,
							  len);
	char *copy;

	if (s == NULL || (copy = malloc(*len + 1)) == NULL)
		return NULL;
	memcpy(copy, s, *len + 1);
	return copy;
}

void policy_calls_free(struct policy_calls *calls)
{
	if (calls == NULL)
		return;
	json_object_put(calls->methods);
	calls->methods = NULL;
}

/* How many requests a parsed body holds: one unless it is a batch. */
static size_t count_calls(struct json_object *root)
{
	if (json_object_is_type(root, json_type_array))
		return json_object_array_length(root);
	return 1;
}

int policy_check_jsonrpc(const struct cfg_tool *tool, const char *body,
			 size_t len, char **forward, size_t *forward_len,
			 char **error_body, struct policy_verdict *v,
			 struct policy_calls *calls)
{
	struct names nm = { NULL, 0, 0 };
	struct buf b = { NULL, 0, 0, 0 };
	struct json_object *root = NULL;
	struct check c;
	int rc;

	*forward = NULL;
	*forward_len = 0;
	*error_body = NULL;
	if (calls != NULL)
		memset(calls, 0, sizeof(*calls));
	if (tool == NULL) {
		set_check(&c, 500, 0, "internal error: no tool");
		goto out;
	}
	if (calls != NULL && (nm.arr = json_object_new_array()) == NULL)
		goto fail;
	if (parse_body(body, len, &root, &c) < 0) {
		add_error(&b, c.code, c.reason, NULL);
		goto denied;
	}
	if (calls != NULL)
		calls->n = count_calls(root);
	rc = check_root(tool, root, &nm, &c, &b);
	if (nm.failed)
		goto fail;
	if (rc == 0) {
		if ((*forward = serialise(root, forward_len)) == NULL)
			goto fail;
		set_check(&c, 0, 0, "%s", "");
		goto out;
	}
denied:
	if (b.failed)
		goto fail;
	*error_body = b.p;
	b.p = NULL;
	goto out;
fail:
	free(*forward);
	*forward = NULL;
	*forward_len = 0;
	set_check(&c, 500, 0, "internal error: out of memory");
out:
	if (calls != NULL) {
		calls->methods = nm.arr;
		calls->truncated = nm.truncated;
	} else {
		json_object_put(nm.arr);
	}
	free(b.p);
	json_object_put(root);
	to_verdict(&c, v);
	return c.status == 0 ? 0 : -1;
}

char *policy_jsonrpc_refusal(const char *checked, size_t len,
			     const char *message)
{
	struct buf b = { NULL, 0, 0, 0 };
	struct json_object *root = NULL;
	struct jsonparse_error err;

	if (jsonparse_strict(checked, len, &root, &err) != JSONPARSE_OK)
		return NULL;
	if (json_object_is_type(root, json_type_array)) {
		size_t n = json_object_array_length(root);
		buf_add(&b, "[", 1);
		for (size_t i = 0; i < n; i++) {
			if (i > 0)
				buf_add(&b, ",", 1);
			add_error(&b, RPC_DENIED, message,
				  request_id(json_object_array_get_idx(root,
								       i)));
		}
		buf_add(&b, "]", 1);
	} else {
		add_error(&b, RPC_DENIED, message, request_id(root));
	}
	json_object_put(root);
	if (b.failed) {
		free(b.p);
		return NULL;
	}
	return b.p;
}
