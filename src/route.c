/* route — see route.h. */
#include "config.h"

#include "route.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define TOOLS_PREFIX "/tools/"

static enum route_kind refuse(struct route *out, enum route_kind kind,
			      const char *reason)
{
	out->kind = kind;
	out->tool = NULL;
	out->reason = reason;
	return kind;
}

/* A dot segment is "." or ".." between slashes, or at the path's end. */
static int has_dot_segment(const char *path, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (path[i] != '/')
			continue;
		size_t j = i + 1;
		while (j < len && path[j] == '.')
			j++;
		size_t dots = j - i - 1;
		if ((dots == 1 || dots == 2) && (j == len || path[j] == '/'))
			return 1;
	}
	return 0;
}

/* Escapes that decode to a dot, a slash, a backslash or NUL let a path mean
 * one thing here and another upstream. */
static int has_sneaky_escape(const char *path, size_t len)
{
	static const char *const bad[] = { "%2e", "%2f", "%5c", "%00" };

	for (size_t i = 0; i + 3 <= len; i++) {
		if (path[i] != '%')
			continue;
		for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
			if (strncasecmp(path + i, bad[k], 3) == 0)
				return 1;
	}
	return 0;
}

static const char *check_target(const char *target, size_t *path_len)
{
	if (target[0] != '/')
		return "request target must start with '/'";
	for (const unsigned char *p = (const unsigned char *)target; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == ' ')
			return "control character in request target";
	*path_len = strcspn(target, "?#");
	if (target[*path_len] == '#')
		return "fragment in request target";
	if (memchr(target, '\\', *path_len) != NULL)
		return "backslash in path";
	if (has_dot_segment(target, *path_len))
		return "dot segment in path";
	if (has_sneaky_escape(target, *path_len))
		return "encoded dot, slash, backslash or NUL in path";
	return NULL;
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

	memset(out, 0, sizeof(*out));
	out->upstream_prefix = "";
	out->upstream_rest = "";
	name_tool(listener_tool, target, out);
	const char *bad = check_target(target, &path_len);
	if (bad != NULL)
		return refuse(out, ROUTE_BAD_REQUEST, bad);
	if (listener_tool == NULL)
		return route_main(cfg, target, path_len, out);
	out->tool = listener_tool;
	out->upstream_rest = target;
	out->kind = ROUTE_TOOL;
	return out->kind;
}
