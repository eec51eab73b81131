/* route — see route.h. */
#include "config.h"

#include "route.h"

#include <stdio.h>
#include <string.h>

#include "text.h"

#define TOOLS_PREFIX "/tools/"

static enum route_kind refuse(struct route *out, enum route_kind kind,
			      const char *reason)
{
	out->kind = kind;
	out->tool = NULL;
	out->reason = reason;
	return kind;
}

/* The byte at path[*i] with a percent-escape decoded; *i moves past it.
 * -1: a '%' not followed by two hex digits ("%u002e" is one). */
static int next_byte(const char *path, size_t len, size_t *i, int *escaped)
{
	size_t at = *i;

	*escaped = path[at] == '%';
	if (!*escaped) {
		*i = at + 1;
		return (unsigned char)path[at];
	}
	int hi = at + 2 < len ? text_hex_digit(path[at + 1]) : -1;
	int lo = hi >= 0 ? text_hex_digit(path[at + 2]) : -1;
	if (lo < 0)
		return -1;
	*i = at + 3;
	return hi << 4 | lo;
}

/* A byte >= 0x80 (b) at the start of a character: the rest of it is read
 * from path (escaped or not) and the whole must be well-formed UTF-8,
 * which rules out overlong forms (%c0%ae), surrogates and bytes that are
 * never UTF-8. 0, or -1. */
static int utf8_char_ok(int b, const char *path, size_t len, size_t *i)
{
	unsigned char ch[4] = { (unsigned char)b };
	size_t n = 1;

	while (n < sizeof(ch) && *i < len) {
		size_t at = *i;
		int escaped, c = next_byte(path, len, &at, &escaped);
		if (c < 0x80 || c > 0xbf)
			break;
		ch[n++] = (unsigned char)c;
		*i = at;
	}
	return text_utf8_char(ch, n, NULL) == n ? 0 : -1;
}

/* One judgement of the path (the target up to '?'), escapes decoded,
 * for every way it could mean another path to an upstream than it means
 * here: Tomcat and Spring read "/..;/" as "/../", a server that decodes
 * twice reads "%252e" as ".", IIS reads "%u002e" as ".", and a lenient
 * UTF-8 decoder reads "%c0%ae" as ".". *params: a segment holds ';'
 * (raw or escaped), which only the tool may allow. NULL, or why not. */
static const char *check_path(const char *path, size_t len, int *params)
{
	size_t dots = 0;     /* leading dots of the segment so far */
	int only_dots = 1;   /* the segment so far is dots */

	*params = 0;
	for (size_t i = 0; i < len;) {
		int escaped, b = next_byte(path, len, &i, &escaped);
		if (b < 0)
			return "'%' not followed by two hex digits in path";
		if (escaped && (b == '.' || b == '/' || b == '\\' || b == 0))
			return "encoded dot, slash, backslash or NUL in path";
		if (escaped && b == '%')
			return "encoded '%' in path (double encoding)";
		if (b == '\\')
			return "backslash in path";
		if (b >= 0x80 && utf8_char_ok(b, path, len, &i) < 0)
			return "path is not valid UTF-8";
		if (b == '/' || b == ';') {
			/* "..", and "..;x" that Tomcat reads as ".." */
			if (only_dots && (dots == 1 || dots == 2))
				return "dot segment in path";
			if (b == ';')
				*params = 1;
		}
		if (b == '/') {
			dots = 0;
			only_dots = 1;
		} else if (b == '.' && only_dots) {
			dots++;
		} else {
			only_dots = 0;
		}
	}
	if (only_dots && (dots == 1 || dots == 2))
		return "dot segment in path";
	return NULL;
}

/* The checks of the whole target; those of its path are check_path's. */
static const char *check_target(const char *target, size_t *path_len,
				int *params)
{
	if (target[0] != '/')
		return "request target must start with '/'";
	for (const unsigned char *p = (const unsigned char *)target; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == ' ')
			return "control character in request target";
	*path_len = strcspn(target, "?#");
	if (target[*path_len] == '#')
		return "fragment in request target";
	return check_path(target, *path_len, params);
}

static enum route_kind route_main(const struct cfg *cfg, const char *target,
				  size_t path_len, struct route *out)
{
	size_t plen = strlen(TOOLS_PREFIX);

	if (path_len == 8 && strncmp(target, "/healthz", 8) == 0) {
		out->kind = ROUTE_HEALTH;
		return out->kind;
	}
	if (path_len <= plen || strncmp(target, TOOLS_PREFIX, plen) != 0)
		return refuse(out, ROUTE_NOT_FOUND, "no such endpoint");
	const char *name = target + plen;
	size_t name_len = strcspn(name, "/?");
	out->tool = cfg_find_tool(cfg, name, name_len);
	if (out->tool == NULL)
		return refuse(out, ROUTE_NOT_FOUND, "unknown tool");
	out->upstream_rest = name + name_len;
	out->upstream_prefix = *out->upstream_rest == '/' ? "" : "/";
	out->kind = ROUTE_TOOL;
	return out->kind;
}

/* The tool the client meant, for error messages, even if refused. */
static void name_tool(const struct cfg_tool *listener_tool,
		      const char *target, struct route *out)
{
	size_t plen = strlen(TOOLS_PREFIX);

	if (listener_tool != NULL) {
		snprintf(out->tool_name, sizeof(out->tool_name), "%s",
			 listener_tool->name);
	} else if (strncmp(target, TOOLS_PREFIX, plen) == 0) {
		const char *name = target + plen;
		size_t len = strcspn(name, "/?#");
		snprintf(out->tool_name, sizeof(out->tool_name), "%.*s",
			 (int)(len < 64 ? len : 64), name);
	}
}

enum route_kind route_request(const struct cfg *cfg,
			      const struct cfg_tool *listener_tool,
			      const char *target, struct route *out)
{
	size_t path_len = 0;
	int params = 0;

	memset(out, 0, sizeof(*out));
	out->upstream_prefix = "";
	out->upstream_rest = "";
	name_tool(listener_tool, target, out);
	const char *bad = check_target(target, &path_len, &params);
	if (bad != NULL)
		return refuse(out, ROUTE_BAD_REQUEST, bad);
	if (listener_tool == NULL) {
		route_main(cfg, target, path_len, out);
	} else {
		out->tool = listener_tool;
		out->upstream_rest = target;
		out->kind = ROUTE_TOOL;
	}
	/* the rest of check_path's judgement, now that the tool is known */
	if (out->kind == ROUTE_TOOL && params &&
	    !out->tool->http.allow_path_params)
		return refuse(out, ROUTE_BAD_REQUEST,
			      "';' in a path segment (allow_path_params is "
			      "off)");
	return out->kind;
}
