/* policy — see policy.h. This file: the plain HTTP request (method,
 * path) and the header rules; policy_argv.c checks a CLI tool's argv,
 * policy_jsonrpc.c a JSON-RPC body; policy_priv.h holds what the three
 * share. */
#include "config.h"

#include "policy.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "header.h"
#include "policy_priv.h"

#define PATH_MAX_BYTES 8192

/* --- plain HTTP requests ------------------------------------------------ */

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
	if (tool->http.allow_paths.n == 0)
		return 0;
	memcpy(copy, path, path_len);
	copy[path_len] = '\0';
	if (glob_any(&tool->http.allow_paths, copy))
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
	} else if (tool->http.allow_http_methods.n > 0 &&
		   !listed(&tool->http.allow_http_methods, method)) {
		quote(q, method, strlen(method));
		set_check(&c, 405, 0,
			  "denied by policy: method \"%s\" is not in "
			  "allow_http_methods",
			  q);
	} else if (tool->http.allow_http_methods.n == 0 && is_trace(method)) {
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
	for (size_t i = 0; i < tool->http.n_inject_headers; i++)
		if (header_name_eq(name, tool->http.inject_headers[i].name))
			return 0;
	if (tool->http.add_x_forwarded_for &&
	    header_name_eq(name, "X-Forwarded-For"))
		return 0;
	if (rule == HEADER_IF_LISTED)
		return listed_header(&tool->http.forward_headers, name);
	return 1;
}
