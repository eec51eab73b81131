/* policy_mcp — MCP's rules on a JSON-RPC tool (the "mcp" block, issue
 * 18); see policy.h for what they are. policy_jsonrpc.c parses and walks
 * the body and calls in here for each message; this file knows MCP's
 * method names, its headers and its version rules.
 *
 * The headers are compared, never believed: what is allowed is decided
 * on the body alone, and a header that disagrees with the body is
 * refused before the policy looks (an upstream or a router that trusts
 * the header must not see a call other than the one checked). */
#include "config.h"

#include "policy.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "policy_priv.h"
#include "text.h"

#define B64_OPEN "=?base64?"
#define B64_CLOSE "?="

/* --- methods ------------------------------------------------------------- */

/* What a client needs to use what the block allows: passes as it is. */
static const char *const implied[] = {
	"initialize", "ping", "server/discover", "tools/list",
	"prompts/list", "resources/list", "resources/templates/list",
};

enum judged { NOT_JUDGED, JUDGE_TOOL, JUDGE_RESOURCE, JUDGE_PROMPT };

static enum judged judged_by(const char *name)
{
	if (strcmp(name, "tools/call") == 0)
		return JUDGE_TOOL;
	if (strcmp(name, "resources/read") == 0 ||
	    strcmp(name, "resources/subscribe") == 0 ||
	    strcmp(name, "resources/unsubscribe") == 0)
		return JUDGE_RESOURCE;
	if (strcmp(name, "prompts/get") == 0)
		return JUDGE_PROMPT;
	return NOT_JUDGED;
}

static int is_implied(const char *name)
{
	if (strncmp(name, "notifications/", 14) == 0)
		return 1;
	for (size_t i = 0; i < sizeof(implied) / sizeof(implied[0]); i++)
		if (strcmp(name, implied[i]) == 0)
			return 1;
	return 0;
}

int policy_mcp_method(const struct cfg_tool *tool, const char *name,
		      struct check *c)
{
	char q[QUOTE_MAX + 1];

	if (is_implied(name) || judged_by(name) != NOT_JUDGED ||
	    glob_any(&tool->http.jsonrpc_allow_methods, name))
		return 0;
	quote(q, name, strlen(name));
	set_check(c, 403, RPC_DENIED,
		  "denied by policy: method \"%s\" is neither one the mcp "
		  "block allows nor in jsonrpc_allow_methods",
		  q);
	return -1;
}

/* --- a client's response ------------------------------------------------- */

static int bad_response(struct check *c, const char *why)
{
	set_check(c, 400, RPC_INVALID_REQUEST, "invalid response: %s", why);
	return 1;
}

int policy_mcp_response(struct json_object *req, struct check *c)
{
	struct json_object *o, *id, *error = NULL;
	int has_result;

	if (!json_object_is_type(req, json_type_object) ||
	    json_object_object_get_ex(req, "method", NULL))
		return 0;
	has_result = json_object_object_get_ex(req, "result", NULL);
	json_object_object_get_ex(req, "error", &error);
	if (!has_result && error == NULL)
		return 0;
	set_check(c, 0, 0, "%s", "");
	if (!json_object_object_get_ex(req, "jsonrpc", &o) ||
	    !json_object_is_type(o, json_type_string) ||
	    strcmp(json_object_get_string(o), "2.0") != 0)
		return bad_response(c, "\"jsonrpc\" must be \"2.0\"");
	if (has_result && error != NULL)
		return bad_response(c, "both \"result\" and \"error\"");
	if (error != NULL && !json_object_is_type(error, json_type_object))
		return bad_response(c, "\"error\" must be an object");
	if (!json_object_object_get_ex(req, "id", &id))
		return bad_response(c, "no \"id\"");
	json_type t = json_object_get_type(id);
	if (t != json_type_string && t != json_type_int &&
	    t != json_type_double && !(t == json_type_null && error != NULL))
		return bad_response(c, "\"id\" must be a string or a number");
	return 1;
}

/* --- the block's rules --------------------------------------------------- */

/* params.<key> as a string without NUL, else NULL. */
static const char *param_string(struct json_object *params, const char *key)
{
	struct json_object *s;

	if (!json_object_is_type(params, json_type_object) ||
	    !json_object_object_get_ex(params, key, &s) ||
	    !json_object_is_type(s, json_type_string) ||
	    strlen(json_object_get_string(s)) !=
		    (size_t)json_object_get_string_len(s))
		return NULL;
	return json_object_get_string(s);
}

static int no_param(const char *method, const char *key, struct check *c)
{
	set_check(c, 400, RPC_INVALID_PARAMS,
		  "invalid params: %s needs params.%s, a string without NUL",
		  method, key);
	return -1;
}

/* An allow list the block may leave unset: then nothing of its kind. */
static int check_listed(const struct cfg_strings *allow, const char *what,
			const char *rule, const char *s, struct check *c)
{
	char q[QUOTE_MAX + 1];

	if (allow->n > 0 && glob_any(allow, s))
		return 0;
	quote(q, s, strlen(s));
	if (allow->n == 0)
		set_check(c, 403, RPC_DENIED,
			  "denied by policy: %s \"%s\": mcp.%s is not set",
			  what, q, rule);
	else
		set_check(c, 403, RPC_DENIED,
			  "denied by policy: %s \"%s\" is not in mcp.%s", what,
			  q, rule);
	return -1;
}

/* A filter's refusal, said to come from mcp.arguments. */
static void name_arguments(struct check *c, const char *key)
{
	size_t n = strlen(c->reason);
	char q[QUOTE_MAX + 1];

	quote(q, key, strlen(key));
	snprintf(c->reason + n, sizeof(c->reason) - n,
		 " (mcp.arguments \"%s\")", q);
}

static int check_arguments(const struct cfg_tool *tool, const char *name,
			   struct json_object *params, struct check *c)
{
	const struct cfg_mcp *m = &tool->http.mcp;
	struct json_object *args = NULL;

	json_object_object_get_ex(params, "arguments", &args);
	if (args != NULL && !json_object_is_type(args, json_type_object)) {
		set_check(c, 400, RPC_INVALID_PARAMS,
			  "invalid params: params.arguments of tools/call "
			  "must be an object");
		return -1;
	}
	for (size_t i = 0; i < m->n_arguments; i++) {
		const struct cfg_param_filter *f = &m->arguments[i];
		if (!policy_jsonrpc_key_matches(f->method, name))
			continue;
		if (policy_jsonrpc_filter(tool, f, args, name, c) < 0) {
			name_arguments(c, f->method);
			return -1;
		}
	}
	return 0;
}

static int check_tool(const struct cfg_tool *tool, struct json_object *params,
		      struct check *c)
{
	const struct cfg_mcp *m = &tool->http.mcp;
	const char *name = param_string(params, "name");
	char q[QUOTE_MAX + 1];

	if (name == NULL)
		return no_param("tools/call", "name", c);
	quote(q, name, strlen(name));
	if (glob_any(&m->tools_deny, name)) {
		set_check(c, 403, RPC_DENIED,
			  "denied by policy: tool \"%s\" is in mcp.tools_deny",
			  q);
		return -1;
	}
	if (m->tools_allow.n > 0 && !glob_any(&m->tools_allow, name)) {
		set_check(c, 403, RPC_DENIED,
			  "denied by policy: tool \"%s\" is not in "
			  "mcp.tools_allow",
			  q);
		return -1;
	}
	return check_arguments(tool, name, params, c);
}

int policy_mcp_request(const struct cfg_tool *tool, const char *name,
		       struct json_object *params, struct check *c)
{
	const struct cfg_mcp *m = &tool->http.mcp;
	const char *s;

	switch (judged_by(name)) {
	case JUDGE_TOOL:
		return check_tool(tool, params, c);
	case JUDGE_RESOURCE:
		if ((s = param_string(params, "uri")) == NULL)
			return no_param(name, "uri", c);
		return check_listed(&m->resources_allow, "resource",
				    "resources_allow", s, c);
	case JUDGE_PROMPT:
		if ((s = param_string(params, "name")) == NULL)
			return no_param(name, "name", c);
		return check_listed(&m->prompts_allow, "prompt",
				    "prompts_allow", s, c);
	default:
		return 0;
	}
}

/* --- list answers ------------------------------------------------------- */

static const struct {
	const char *method, *key, *member;
} lists[] = {
	{ "tools/list", "tools", "name" },
	{ "prompts/list", "prompts", "name" },
	{ "resources/list", "resources", "uri" },
	{ "resources/templates/list", "resourceTemplates", "uriTemplate" },
};

static int list_index(const char *method)
{
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		if (strcmp(method, lists[i].method) == 0)
			return (int)i;
	return -1;
}

const char *policy_mcp_list_key(const char *method)
{
	int i = list_index(method);

	return i < 0 ? NULL : lists[i].key;
}

int policy_mcp_list_keeps(const struct cfg_tool *tool, const char *method,
			  struct json_object *entry)
{
	const struct cfg_mcp *m = &tool->http.mcp;
	int i = list_index(method);
	const char *s = i < 0 ? NULL : param_string(entry, lists[i].member);

	if (s == NULL)
		return 0;
	switch (i) {
	case 0:
		return !glob_any(&m->tools_deny, s) &&
		       (m->tools_allow.n == 0 || glob_any(&m->tools_allow, s));
	case 1:
		return glob_any(&m->prompts_allow, s);
	default:
		return glob_any(&m->resources_allow, s);
	}
}

/* --- headers ------------------------------------------------------------- */

void policy_mcp_headers_free(struct policy_mcp_headers *h)
{
	if (h == NULL)
		return;
	free(h->method);
	free(h->name);
	free(h->version);
	free(h);
}

static int is_printable(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

/* The payload of the base64 form, strictly: canonical (re-encoding the
 * bytes gives it back, so one value has one spelling), UTF-8, no NUL. */
static char *decode_b64(const char *b64, size_t len)
{
	size_t n = 0, back_len = 0;
	char *out = text_base64_decode(b64, len, &n), *back = NULL;

	if (out != NULL)
		back = text_base64_encode(out, n, &back_len);
	if (back == NULL || back_len != len || memcmp(back, b64, len) != 0 ||
	    strlen(out) != n || !text_utf8_valid(out, n)) {
		free(out);
		out = NULL;
	}
	free(back);
	return out;
}

int policy_mcp_header_decode(const char *raw, char **out)
{
	size_t len = strlen(raw), open = strlen(B64_OPEN);

	*out = NULL;
	if (len > POLICY_MCP_HEADER_MAX || !is_printable(raw, len))
		return -1;
	if (len >= open + 2 && strncmp(raw, B64_OPEN, open) == 0 &&
	    strcmp(raw + len - 2, B64_CLOSE) == 0)
		*out = decode_b64(raw + open, len - open - 2);
	else
		*out = strdup(raw);
	return *out != NULL ? 0 : -1;
}

/* --- protocol versions --------------------------------------------------- */

static int version_allowed(const struct cfg_tool *tool, const char *version,
			   struct check *c)
{
	const struct cfg_strings *req =
		&tool->http.mcp.require_protocol_versions;
	char q[QUOTE_MAX + 1];

	if (req->n == 0)
		return 0;
	for (size_t i = 0; i < req->n; i++)
		if (strcmp(req->v[i], version) == 0)
			return 0;
	quote(q, version, strlen(version));
	set_check(c, 400, RPC_INVALID_REQUEST,
		  "bad request: MCP protocol version \"%s\" is not in "
		  "mcp.require_protocol_versions",
		  q);
	return -1;
}

static int check_origin(const struct cfg_tool *tool, const char *origin,
			unsigned n_origin, struct check *c)
{
	const struct cfg_strings *allowed = &tool->http.mcp.allowed_origins;
	char q[QUOTE_MAX + 1];

	if (n_origin == 0)
		return 0;
	if (n_origin > 1) {
		set_check(c, 403, 0, "denied by policy: more than one Origin "
			  "header");
		return -1;
	}
	for (size_t i = 0; i < allowed->n; i++)
		if (strcmp(allowed->v[i], origin) == 0)
			return 0;
	quote(q, origin, strlen(origin));
	set_check(c, 403, 0, "denied by policy: Origin \"%s\" is not in "
		  "mcp.allowed_origins", q);
	return -1;
}

int policy_mcp_check_head(const struct cfg_tool *tool, const char *origin,
			  unsigned n_origin, const char *version,
			  int body_checked, struct policy_verdict *v)
{
	struct check c = { 0, 0, "" };

	if (tool != NULL && tool->http.has_mcp &&
	    check_origin(tool, origin ? origin : "", n_origin, &c) == 0 &&
	    !body_checked)
		version_allowed(tool, version ? version :
				POLICY_MCP_DEFAULT_VERSION, &c);
	to_verdict(&c, v);
	return c.status == 0 ? 0 : -1;
}

/* --- headers against the body -------------------------------------------- */

static int mismatch(struct check *c, const char *header, const char *sent,
		    const char *body)
{
	char qs[QUOTE_MAX + 1], qb[QUOTE_MAX + 1];

	quote(qs, sent, strlen(sent));
	quote(qb, body ? body : "", body ? strlen(body) : 0);
	if (body == NULL)
		set_check(c, 400, RPC_HEADER_MISMATCH,
			  "header mismatch: %s \"%s\" but the body has none",
			  header, qs);
	else
		set_check(c, 400, RPC_HEADER_MISMATCH,
			  "header mismatch: %s \"%s\" but the body says "
			  "\"%s\"",
			  header, qs, qb);
	return -1;
}

/* The value a header must equal, decoded; -1 (c) when malformed. */
static int decoded(const char *header, const char *raw, char **out,
		   struct check *c)
{
	if (policy_mcp_header_decode(raw, out) == 0)
		return 0;
	set_check(c, 400, RPC_HEADER_MISMATCH,
		  "header mismatch: %s is not a valid value (printable "
		  "ASCII, or =?base64?...?= of UTF-8, at most %d bytes)",
		  header, POLICY_MCP_HEADER_MAX);
	return -1;
}

/* What Mcp-Name mirrors for method: params.name or params.uri. */
static const char *body_name(const char *method, struct json_object *params)
{
	switch (judged_by(method)) {
	case JUDGE_TOOL:
	case JUDGE_PROMPT:
		return param_string(params, "name");
	case JUDGE_RESOURCE:
		return param_string(params, "uri");
	default: {
		const char *s = param_string(params, "name");
		return s ? s : param_string(params, "uri");
	}
	}
}

static int compare(const char *header, const char *raw, const char *body,
		   struct check *c)
{
	char *want = NULL;
	int rc = 0;

	if (decoded(header, raw, &want, c) < 0)
		return -1;
	if (body == NULL || strcmp(want, body) != 0)
		rc = mismatch(c, header, want, body);
	free(want);
	return rc;
}

/* Mcp-Method and Mcp-Name name one request: the body must be one. */
static int check_names(const struct policy_mcp_headers *h,
		       struct json_object *root, struct check *c)
{
	struct json_object *m = NULL, *params = NULL;
	const char *method = NULL;

	if (h->method == NULL && h->name == NULL)
		return 0;
	if (json_object_is_type(root, json_type_object) &&
	    json_object_object_get_ex(root, "method", &m) &&
	    json_object_is_type(m, json_type_string))
		method = json_object_get_string(m);
	if (method != NULL && strlen(method) !=
			(size_t)json_object_get_string_len(m))
		method = NULL;
	if (h->method != NULL &&
	    compare("Mcp-Method", h->method, method, c) < 0)
		return -1;
	if (h->name == NULL)
		return 0;
	if (method == NULL)
		return mismatch(c, "Mcp-Name", h->name, NULL);
	json_object_object_get_ex(root, "params", &params);
	return compare("Mcp-Name", h->name, body_name(method, params), c);
}

/* The message's own version: 1 and *out (borrowed), 0 none, -1 (c) one
 * that is not a string. */
static int meta_version(struct json_object *msg, const char **out,
			struct check *c)
{
	struct json_object *params, *meta, *ver;

	if (!json_object_is_type(msg, json_type_object) ||
	    !json_object_object_get_ex(msg, "params", &params) ||
	    !json_object_is_type(params, json_type_object) ||
	    !json_object_object_get_ex(params, "_meta", &meta) ||
	    !json_object_is_type(meta, json_type_object) ||
	    !json_object_object_get_ex(meta, POLICY_MCP_META_VERSION, &ver))
		return 0;
	*out = param_string(meta, POLICY_MCP_META_VERSION);
	if (*out != NULL)
		return 1;
	set_check(c, 400, RPC_INVALID_REQUEST,
		  "invalid request: _meta \"%s\" must be a string",
		  POLICY_MCP_META_VERSION);
	return -1;
}

/* One message: its _meta version against the header (decoded, or
 * NULL), then the version it speaks against the required ones. */
static int check_version(const struct cfg_tool *tool, const char *header,
			 struct json_object *msg, struct check *c)
{
	const char *meta = NULL;
	int rc = meta_version(msg, &meta, c);

	if (rc < 0)
		return -1;
	if (header != NULL && rc == 1 && strcmp(header, meta) != 0)
		return mismatch(c, "MCP-Protocol-Version", header, meta);
	return version_allowed(tool, header ? header : rc == 1 ? meta :
				     POLICY_MCP_DEFAULT_VERSION, c);
}

static int check_versions(const struct cfg_tool *tool,
			  const struct policy_mcp_headers *h,
			  struct json_object *root, struct check *c)
{
	char *header = NULL;
	int rc = 0;

	if (h != NULL && h->version != NULL &&
	    decoded("MCP-Protocol-Version", h->version, &header, c) < 0)
		return -1;
	if (!json_object_is_type(root, json_type_array)) {
		rc = check_version(tool, header, root, c);
	} else {
		size_t n = json_object_array_length(root);
		for (size_t i = 0; i < n && rc == 0; i++)
			rc = check_version(tool, header,
					   json_object_array_get_idx(root, i),
					   c);
	}
	free(header);
	return rc;
}

int policy_mcp_check_body(const struct cfg_tool *tool,
			  const struct policy_mcp_headers *h,
			  struct json_object *root, struct check *c)
{
	set_check(c, 0, 0, "%s", "");
	if (h != NULL && h->repeated) {
		set_check(c, 400, RPC_HEADER_MISMATCH,
			  "header mismatch: Mcp-Method, Mcp-Name or "
			  "MCP-Protocol-Version given more than once");
		return -1;
	}
	if (h != NULL && check_names(h, root, c) < 0)
		return -1;
	return check_versions(tool, h, root, c);
}
