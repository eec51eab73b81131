/* policy — what a tool's rules allow. Pure: no I/O, no global state, safe
 * from any thread. Deny wins; what cannot be parsed or checked is denied.
 *
 * Globs are fnmatch(3) with no flags (case-sensitive, '*' matches '/').
 * Every denial fills a verdict whose reason names the rule, e.g.
 *   denied by policy: method "removeAccount" is in jsonrpc_deny_methods */
#ifndef CARAPACE_POLICY_H
#define CARAPACE_POLICY_H

#include <stddef.h>

#include "cfg.h"

struct json_object;

struct policy_verdict {
	int status;        /* 0: allowed; else the HTTP status to answer */
	char reason[256];
};

/* Method against allow_http_methods (405 when not listed; TRACE and
 * TRACK, in any case, are 405 unless listed) and the raw path (no query;
 * route.c has already refused encodings and dot segments) against
 * allow_paths (403 when no glob matches). 0 allowed, -1 denied. */
int policy_check_request(const struct cfg_tool *tool, const char *method,
			 const char *path, size_t path_len,
			 struct policy_verdict *v);

/* Whether a client header may be forwarded upstream: never Authorization,
 * Proxy-Authorization, a header named in inject_headers, or
 * X-Forwarded-For when add_x_forwarded_for is set; Cookie, Forwarded,
 * X-Forwarded-*, X-Real-IP and the method overrides (X-HTTP-Method-
 * Override, X-HTTP-Method, X-Method-Override) only when forward_headers
 * names them. Names compare as header_name_eq() does (case and '-'/'_'
 * folded). Hop-by-hop headers are proxy.c's. */
int policy_forward_header(const struct cfg_tool *tool, const char *name);

/* What a JSON-RPC body asks for: how many calls (for the rate limit) and
 * their names (for the audit trail). Filled by policy_check_jsonrpc,
 * allowed or not; release it with policy_calls_free(). */
struct policy_calls {
	size_t n;                    /* requests in the body: 1 for one
				      * object, the array's length for a
				      * batch; 0 when it did not parse */
	struct json_object *methods; /* a json-c array with each request's
				      * method name, in order; a request
				      * with no string "method" has none;
				      * empty when the body did not parse.
				      * Owned: steal it (set it NULL) or
				      * let policy_calls_free() put it */
	int truncated;               /* methods names only the first
				      * jsonrpc_max_batch requests of a
				      * longer (refused) batch */
};

void policy_calls_free(struct policy_calls *calls);

/* The checked JSON-RPC 2.0 body of a request to a JSON-RPC tool.
 * Each request: its method against the method lists; then, for every
 * jsonrpc_param_allow entry whose key matches the method, params must be
 * absent or an object whose every name is listed; then every filter whose
 * key matches the method.  A key holding one of "*?[\\" is a glob, any
 * other is the exact name; a method no key matches is unaffected.  Param
 * names compare under tool->http.param_aliases: exactly ("none"), or
 * ("signal-cli") as one field when their camelCase spellings ('-'/'_'
 * removed, the next letter upper-cased) are equal or one is the other's
 * plus "s"; a filter checks every spelling present.
 * On 0 (allowed): *forward is the re-serialised body to send instead of
 * the client's (caller frees) and *forward_len its length.
 * On -1 (denied): v->status is 400 (not JSON-RPC, or a batch of more than
 * jsonrpc_max_batch requests: refused before any is checked) or 403 (a
 * rule), and *error_body is a JSON-RPC 2.0 error response naming the
 * rule, echoing each request's id (an array for a batch), caller frees.
 * calls (may be NULL) receives what the body asks for; the caller
 * releases it with policy_calls_free() whatever the result. */
int policy_check_jsonrpc(const struct cfg_tool *tool, const char *body,
			 size_t len, char **forward, size_t *forward_len,
			 char **error_body, struct policy_verdict *v,
			 struct policy_calls *calls);

/* A JSON-RPC 2.0 error response (code -32000, message) refusing every
 * request of a body policy_check_jsonrpc allowed — its *forward —, each
 * echoing its id (an array for a batch): for a refusal decided after the
 * check, e.g. by the rate limit. NULL on out of memory; caller frees. */
char *policy_jsonrpc_refusal(const char *checked, size_t len,
			     const char *message);

/* ---- MCP (a tool with an "mcp" block; policy_mcp.c) ----
 *
 * On top of the JSON-RPC rules above, both must allow. Methods: with the
 * block, the allowed set is exhaustive: initialize, ping, server/discover,
 * notifications/<anything>, tools/list, prompts/list, resources/list and
 * resources/templates/list pass as they are; tools/call, resources/read,
 * resources/subscribe, resources/unsubscribe and prompts/get pass when
 * the block's rules say (below); any other method only when
 * jsonrpc_allow_methods names it; jsonrpc_deny_methods refuses any.
 * tools/call: params.name against tools_deny (a match: 403), then
 * tools_allow when set (no match: 403), then every mcp.arguments filter
 * whose key matches the tool's name over params.arguments, as
 * jsonrpc_param_filters over params. resources/read, /subscribe and
 * /unsubscribe: params.uri must match resources_allow (unset: 403);
 * prompts/get: params.name must match prompts_allow (unset: 403). A
 * missing or non-string name or uri is 400 (-32602).
 * A body without "method" holding "result" or "error" and an id is a
 * client's response to a server's request: it passes unjudged (in a
 * batch too, beside requests each judged). */

/* The MCP headers of a request, as the client sent them (raw: a value
 * in the "=?base64?...?=" form is decoded by the check). */
struct policy_mcp_headers {
	char *method;  /* Mcp-Method; NULL: absent */
	char *name;    /* Mcp-Name */
	char *version; /* MCP-Protocol-Version */
	int repeated;  /* one of them came more than once */
};

/* Frees h and what it holds; NULL is a no-op. */
void policy_mcp_headers_free(struct policy_mcp_headers *h);

#define POLICY_MCP_HEADER_MAX 4096 /* bytes of a header value, raw */
#define POLICY_MCP_DEFAULT_VERSION "2025-03-26"
#define POLICY_MCP_META_VERSION "io.modelcontextprotocol/protocolVersion"

/* A header value as MCP 2026-07-28 writes it: printable ASCII (0x20 to
 * 0x7e) as it is, or "=?base64?B64?=", B64 padded canonical base64
 * (RFC 4648, standard alphabet) of UTF-8 without NUL. 0 and *out (caller
 * frees, NUL-terminated), or -1: malformed, longer than
 * POLICY_MCP_HEADER_MAX, or out of memory (*out NULL). */
int policy_mcp_header_decode(const char *raw, char **out);

/* What MHD's thread decides of an MCP tool's request from its head:
 * an Origin header (origin; n_origin how many came) must be one of
 * allowed_origins, byte for byte (403; none listed: any Origin is 403;
 * two Origin headers: 403); without a body to check (body_checked 0),
 * the protocol version, version or POLICY_MCP_DEFAULT_VERSION when
 * absent, must be in require_protocol_versions when that is set (400).
 * 0 allowed (always, for a tool without the block), -1 denied (v). */
int policy_mcp_check_head(const struct cfg_tool *tool, const char *origin,
			  unsigned n_origin, const char *version,
			  int body_checked, struct policy_verdict *v);

/* policy_check_jsonrpc, and for a tool with the block, first: the
 * headers h (may be NULL: none) against the body, 400 with JSON-RPC
 * error -32020 on any mismatch or malformed value: Mcp-Method must equal
 * the method, Mcp-Name params.name (tools/call, prompts/get) or
 * params.uri (resources/read, /subscribe, /unsubscribe; for any other
 * method name, else uri), MCP-Protocol-Version each message's
 * params._meta["io.modelcontextprotocol/protocolVersion"] where one is
 * given; Mcp-Method or Mcp-Name with a batch or a response is a
 * mismatch. Then each message's version (the header, else its _meta
 * version, else POLICY_MCP_DEFAULT_VERSION) must be in
 * require_protocol_versions when set (400, -32600). The policy then
 * decides on the body alone. Results as policy_check_jsonrpc's. */
int policy_check_mcp(const struct cfg_tool *tool,
		     const struct policy_mcp_headers *h, const char *body,
		     size_t len, char **forward, size_t *forward_len,
		     char **error_body, struct policy_verdict *v,
		     struct policy_calls *calls);

/* The lists an MCP client may ask for, and what of their entries the
 * block lets it see (mcplist.c filters the answers): which list a method
 * asks for (its "result" key, e.g. "tools" for tools/list), or NULL
 * when method asks for none. */
const char *policy_mcp_list_key(const char *method);
/* Whether one entry of the answer to method (a list method) stays: a
 * tool whose "name" tools/call would allow by tools_deny and tools_allow
 * (mcp.arguments are for calls, not for the list); a prompt whose "name"
 * matches prompts_allow; a resource whose "uri", and a resource template
 * whose "uriTemplate" as written (braces and all: "file:///docs/{name}"
 * matches the glob "file:///docs/" followed by '*'), matches
 * resources_allow. An entry that is not an object, or lacks that member
 * as a string without NUL, does not stay; an unset allow list keeps
 * nothing of its kind. 1 stays, 0 removed. */
int policy_mcp_list_keeps(const struct cfg_tool *tool, const char *method,
			  struct json_object *entry);

/* A CLI tool's argv (without argv[0]) against its rules: the arguments
 * joined by single spaces are matched with fnmatch(3), flags 0, against
 * argv_deny_patterns (a match: 403); then each argument against
 * argv_deny_flags (403 when one spells a listed option the way
 * getopt_long would read it: "--output" as "--output", "--output=V", any
 * prefix "--o[=V]" and "--=V"; "-o" anywhere in a cluster "-mo", "-ofile";
 * nothing after a lone "--" unless that "--" may be the value of the
 * option before it); then the joined arguments against argv_allow_patterns
 * (no match: 403). An argument containing a space joins like any other, so
 * "item get *" also matches {"item", "get", "a b"}. 0 allowed, -1 denied. */
int policy_check_argv(const struct cfg_tool *tool, char *const *argv,
		      size_t argc, struct policy_verdict *v);

#endif
