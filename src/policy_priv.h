/* policy_priv — what policy.c, policy_argv.c, policy_jsonrpc.c and
 * policy_mcp.c share; for those files only (policy.h is the module's
 * public face). Small helpers, static inline so that none is exported,
 * and the few functions policy_jsonrpc.c and policy_mcp.c call in each
 * other. Pure, as the module is. */
#ifndef CARAPACE_POLICY_PRIV_H
#define CARAPACE_POLICY_PRIV_H

#include <fnmatch.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cfg.h"
#include "policy.h"

#define QUOTE_MAX 60 /* bytes of a client's value shown in a reason */

/* JSON-RPC error codes of the answers the policy writes */
#define RPC_PARSE_ERROR (-32700)
#define RPC_INVALID_REQUEST (-32600)
#define RPC_INVALID_PARAMS (-32602)
#define RPC_DENIED (-32000)
#define RPC_HEADER_MISMATCH (-32020) /* MCP 2026-07-28 */

struct json_object;

/* The verdict on one request (or on the whole body). */
struct check {
	int status; /* 0 allowed, 400 malformed, 403 denied, 500 */
	int code;   /* JSON-RPC error code when status != 0 */
	char reason[sizeof(((struct policy_verdict *)0)->reason)];
};

__attribute__((format(printf, 4, 5))) static inline void
set_check(struct check *c, int status, int code, const char *fmt, ...)
{
	va_list ap;

	c->status = status;
	c->code = code;
	va_start(ap, fmt);
	vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
	va_end(ap);
}

static inline void to_verdict(const struct check *c,
			      struct policy_verdict *v)
{
	v->status = c->status;
	snprintf(v->reason, sizeof(v->reason), "%s", c->reason);
}

/* A client's bytes made fit for a reason: printable ASCII only (anything
 * else becomes '?'), at most QUOTE_MAX bytes, "..." when cut. */
static inline void quote(char out[QUOTE_MAX + 1], const char *s,
			 size_t len)
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

static inline int glob_any(const struct cfg_strings *globs, const char *s)
{
	for (size_t i = 0; i < globs->n; i++)
		if (fnmatch(globs->v[i], s, 0) == 0)
			return 1;
	return 0;
}

/* ---- policy_jsonrpc.c, for policy_mcp.c ---- */

/* Whether a rule's key (a name, or a glob when it holds one of
 * "*?[\\") covers name. */
int policy_jsonrpc_key_matches(const char *key, const char *name);
/* One jsonrpc_param_filters filter over params (an object, or NULL),
 * method naming the call in reasons. 0, or -1 and c says why. */
int policy_jsonrpc_filter(const struct cfg_tool *tool,
			  const struct cfg_param_filter *f,
			  struct json_object *params, const char *method,
			  struct check *c);

/* ---- policy_mcp.c, for policy_jsonrpc.c (tools with an mcp block) ---- */

/* Whether req is a client's JSON-RPC response (an object with no
 * "method" but "result" or "error"): 1 and c says whether it is a
 * well-formed one, or 0: not a response. */
int policy_mcp_response(struct json_object *req, struct check *c);
/* The method lists as the block changes them (policy.h); deny lists are
 * the caller's. 0 or -1 (c). */
int policy_mcp_method(const struct cfg_tool *tool, const char *name,
		      struct check *c);
/* The block's rule for method name, if it has one. 0 or -1 (c). */
int policy_mcp_request(const struct cfg_tool *tool, const char *name,
		       struct json_object *params, struct check *c);
/* Headers against the parsed body, then the protocol versions. 0, or -1
 * (c: 400, with RPC_HEADER_MISMATCH or RPC_INVALID_REQUEST). */
int policy_mcp_check_body(const struct cfg_tool *tool,
			  const struct policy_mcp_headers *h,
			  struct json_object *root, struct check *c);

#endif
