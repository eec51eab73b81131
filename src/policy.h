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

/* The checked JSON-RPC 2.0 body of a request to a JSON-RPC tool.
 * On 0 (allowed): *forward is the re-serialised body to send instead of
 * the client's (caller frees) and *forward_len its length.
 * On -1 (denied): v->status is 400 (not JSON-RPC) or 403 (a rule), and
 * *error_body is a JSON-RPC 2.0 error response naming the rule, echoing
 * each request's id (an array for a batch), caller frees.
 * methods (may be NULL) receives the comma-separated method names seen,
 * truncated to methods_len, for logs and audit. */
int policy_check_jsonrpc(const struct cfg_tool *tool, const char *body,
			 size_t len, char **forward, size_t *forward_len,
			 char **error_body, struct policy_verdict *v,
			 char *methods, size_t methods_len);

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
