/* policy_jsonrpc — a JSON-RPC 2.0 body against a tool's rules; see
 * policy.h (policy_check_jsonrpc, policy_jsonrpc_refusal).
 *
 * A JSON-RPC body is parsed strictly into one value, checked request by
 * request, and, when allowed, re-serialised: the upstream gets exactly the
 * value that was checked, never the client's bytes.  A denied batch is
 * checked twice (once to decide, once to write each request's error), so
 * nothing per request is kept but its method name; error bodies are
 * written by hand into one dbuf rather than built as json-c objects,
 * which cost a kilobyte apiece. */
#include "config.h"

#include "policy.h"

#include <errno.h>
#include <fnmatch.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbuf.h"
#include "jsonparse.h"
#include "policy_priv.h"

#define FORWARD_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* A JSON string whose bytes hold a NUL: checks would see a prefix. */
static int has_nul(struct json_object *s)
{
	const char *p = json_object_get_string(s);

	return strlen(p) != (size_t)json_object_get_string_len(s);
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
	    json_object_get_type(o) != json_type_null &&
	    request_id(req) == NULL)
		return invalid(c, "\"id\" must be a string, number or null");
	return 0;
}

static int check_method(const struct cfg_tool *tool, const char *name,
			struct check *c)
{
	char q[QUOTE_MAX + 1];

	quote(q, name, strlen(name));
	if (glob_any(&tool->http.jsonrpc_deny_methods, name)) {
		set_check(c, 403, RPC_DENIED,
			  "denied by policy: method \"%s\" is in "
			  "jsonrpc_deny_methods",
			  q);
		return -1;
	}
	if (tool->http.has_mcp)
		return policy_mcp_method(tool, name, c);
	if (tool->http.jsonrpc_allow_methods.n > 0 &&
	    !glob_any(&tool->http.jsonrpc_allow_methods, name)) {
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
int policy_jsonrpc_key_matches(const char *key, const char *name)
{
	if (strpbrk(key, "*?[\\") != NULL)
		return fnmatch(key, name, 0) == 0;
	return strcmp(key, name) == 0;
}

static int name_listed(const struct cfg_tool *tool,
		       const struct cfg_strings *names, const char *key)
{
	for (size_t i = 0; i < names->n; i++)
		if (param_same(tool->http.param_aliases, key, strlen(key),
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

	for (size_t i = 0; i < tool->http.n_param_allow; i++) {
		const struct cfg_param_allow *a = &tool->http.param_allow[i];
		if (params == NULL ||
		    !policy_jsonrpc_key_matches(a->method, method))
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
		if (!param_same(tool->http.param_aliases, key, strlen(key),
				field, seg))
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

int policy_jsonrpc_filter(const struct cfg_tool *tool,
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
	/* a client's answer to a server's request: nothing to judge */
	if (tool->http.has_mcp && policy_mcp_response(req, c))
		return;
	if (check_shape(req, c) < 0)
		return;
	name = json_object_get_string(request_method(req));
	if (check_method(tool, name, c) < 0)
		return;
	json_object_object_get_ex(req, "params", &params);
	if (check_param_allow(tool, name, params, c) < 0)
		return;
	for (size_t i = 0; i < tool->http.n_param_filters; i++) {
		const struct cfg_param_filter *f = &tool->http.param_filters[i];
		if (policy_jsonrpc_key_matches(f->method, name) &&
		    policy_jsonrpc_filter(tool, f, params, name, c) < 0)
			return;
	}
	if (tool->http.has_mcp)
		policy_mcp_request(tool, name, params, c);
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

/* The most an error body may hold, in proportion to the body it
 * answers: one entry per request, and a request takes at least 2 bytes
 * of the body ("{}"); an entry is under 128 bytes of its own, its message
 * escaped (at most 6 bytes a byte) and its id as json-c writes it again:
 * a string no longer than it came, a number in at most 24 bytes per byte
 * of its text. It makes the buffer finite; no answer comes near it. */
static size_t error_body_max(size_t len, size_t msg_len)
{
	size_t per = msg_len < SIZE_MAX / 16 ? 152 + 6 * msg_len : SIZE_MAX;

	if (len >= SIZE_MAX / 2 / per)
		return SIZE_MAX / 2;
	return (len + 1) * per;
}

/* s as a JSON string: quotes, backslashes and controls escaped. */
static void add_json_string(struct dbuf *b, const char *s)
{
	char esc[8];

	dbuf_add(b, "\"", 1);
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\') {
			esc[0] = '\\';
			esc[1] = (char)ch;
			dbuf_add(b, esc, 2);
		} else if (ch < 0x20) {
			snprintf(esc, sizeof(esc), "\\u%04x", ch);
			dbuf_add(b, esc, 6);
		} else {
			dbuf_add(b, s, 1);
		}
	}
	dbuf_add(b, "\"", 1);
}

/* {"jsonrpc":"2.0","error":{"code":C,"message":M},"id":ID} */
static void add_error(struct dbuf *b, int code, const char *message,
		      struct json_object *id)
{
	const char *s = "null";
	size_t n = 4;

	if (id != NULL &&
	    (s = json_object_to_json_string_length(id, FORWARD_FLAGS, &n)) ==
		    NULL) {
		dbuf_fail(b, ENOMEM);
		return;
	}
	dbuf_printf(b, "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":%d", code);
	dbuf_addstr(b, ",\"message\":");
	add_json_string(b, message);
	dbuf_addstr(b, "},\"id\":");
	dbuf_add(b, s, n);
	dbuf_add(b, "}", 1);
}

/* One entry per request: its own error, or that another was denied. */
static void add_batch_errors(const struct cfg_tool *tool,
			     struct json_object *root, struct dbuf *b)
{
	size_t n = json_object_array_length(root);
	struct check c;

	dbuf_add(b, "[", 1);
	for (size_t i = 0; i < n; i++) {
		struct json_object *req = json_object_array_get_idx(root, i);
		check_request(tool, req, &c);
		if (i > 0)
			dbuf_add(b, ",", 1);
		if (c.status != 0)
			add_error(b, c.code, c.reason, request_id(req));
		else
			add_error(b, RPC_DENIED,
				  "denied by policy: another request in this "
				  "batch was denied",
				  request_id(req));
	}
	dbuf_add(b, "]", 1);
}

/* --- JSON-RPC: the whole body ------------------------------------------- */

static int check_single(const struct cfg_tool *tool, struct json_object *req,
			struct names *nm, struct check *c, struct dbuf *b)
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
		       struct names *nm, struct check *c, struct dbuf *b)
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
	return tool->http.jsonrpc_max_batch > 0 ?
		       tool->http.jsonrpc_max_batch :
		       CFG_DEFAULT_JSONRPC_MAX_BATCH;
}

/* A batch longer than jsonrpc_max_batch is refused whole, as one invalid
 * request, before any of it is checked: only the names of the first
 * jsonrpc_max_batch are noted, and the list says it is cut. */
static int check_batch_length(const struct cfg_tool *tool,
			      struct json_object *root, struct names *nm,
			      struct check *c, struct dbuf *b)
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
		      struct names *nm, struct check *c, struct dbuf *b)
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

/* One error for each message, echoing its id: an array for a batch. */
static void add_errors(struct dbuf *b, int code, const char *message,
		       struct json_object *root)
{
	size_t n;

	if (!json_object_is_type(root, json_type_array) ||
	    (n = json_object_array_length(root)) == 0) {
		add_error(b, code, message, request_id(root));
		return;
	}
	dbuf_add(b, "[", 1);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			dbuf_add(b, ",", 1);
		add_error(b, code, message,
			  request_id(json_object_array_get_idx(root, i)));
	}
	dbuf_add(b, "]", 1);
}

/* The names of a body refused whole, for the audit trail. */
static void note_all(const struct cfg_tool *tool, struct names *nm,
		     struct json_object *root)
{
	size_t n, max = max_batch(tool);

	if (!json_object_is_type(root, json_type_array)) {
		note_method(nm, root);
		return;
	}
	n = json_object_array_length(root);
	for (size_t i = 0; i < n && i < max; i++)
		note_method(nm, json_object_array_get_idx(root, i));
	nm->truncated = n > max;
}

/* An MCP tool's headers and protocol versions come first: a refusal
 * the dry run cannot lift (400) before any rule it could. */
static int check_parsed(const struct cfg_tool *tool,
			const struct policy_mcp_headers *h,
			struct json_object *root, struct names *nm,
			struct check *c, struct dbuf *b)
{
	if (tool->http.has_mcp && policy_mcp_check_body(tool, h, root, c) < 0) {
		note_all(tool, nm, root);
		add_errors(b, c->code, c->reason, root);
		return -1;
	}
	return check_root(tool, root, nm, c, b);
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
	return policy_check_mcp(tool, NULL, body, len, forward, forward_len,
				error_body, v, calls);
}

int policy_check_mcp(const struct cfg_tool *tool,
		     const struct policy_mcp_headers *h, const char *body,
		     size_t len, char **forward, size_t *forward_len,
		     char **error_body, struct policy_verdict *v,
		     struct policy_calls *calls)
{
	struct check c;
	struct names nm = { NULL, 0, 0 };
	struct dbuf b = DBUF_INIT(error_body_max(len, sizeof(c.reason)));
	struct json_object *root = NULL;
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
	rc = check_parsed(tool, h, root, &nm, &c, &b);
	if (nm.failed)
		goto fail;
	if (rc == 0) {
		if ((*forward = serialise(root, forward_len)) == NULL)
			goto fail;
		set_check(&c, 0, 0, "%s", "");
		goto out;
	}
denied:
	if ((*error_body = dbuf_detach(&b, NULL)) == NULL)
		goto fail;
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
	dbuf_free(&b);
	json_object_put(root);
	to_verdict(&c, v);
	return c.status == 0 ? 0 : -1;
}

char *policy_jsonrpc_refusal(const char *checked, size_t len,
			     const char *message)
{
	struct dbuf b = DBUF_INIT(error_body_max(len, strlen(message)));
	struct json_object *root = NULL;
	struct jsonparse_error err;

	if (jsonparse_strict(checked, len, &root, &err) != JSONPARSE_OK)
		return NULL;
	add_errors(&b, RPC_DENIED, message, root);
	json_object_put(root);
	return dbuf_detach(&b, NULL);
}
