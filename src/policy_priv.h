/* policy_priv — what policy.c, policy_argv.c and policy_jsonrpc.c share;
 * for those three files only (policy.h is the module's public face).
 * Small helpers, static inline so that none is exported. Pure, as the
 * module is. */
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

#endif
