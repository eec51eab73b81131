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
