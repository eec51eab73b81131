/* route — which tool a request target names, and what to send upstream.
 *
 * Pure: no I/O, no allocation. The target is the raw request target as the
 * client sent it (path and query, still percent-encoded). It goes upstream
 * as it came: nothing is rewritten or resolved. The path's escapes are
 * decoded only to judge it, in one place (check_path), and anything that
 * could mean a different path to the upstream than it seems to mean here
 * is refused: dot segments, "..;", encoded dots, slashes, backslashes, NUL
 * and '%', a '%' without two hex digits, bytes that are not well-formed
 * UTF-8, and ';' in a segment unless the tool sets allow_path_params. The
 * query is data and is not judged beyond control characters. */
#ifndef CARAPACE_ROUTE_H
#define CARAPACE_ROUTE_H

#include "cfg.h"

enum route_kind {
	ROUTE_TOOL,        /* proxy to tool */
	ROUTE_HEALTH,      /* GET /healthz on a main listener */
	ROUTE_NOT_FOUND,   /* 404 */
	ROUTE_BAD_REQUEST, /* 400 */
};

struct route {
	enum route_kind kind;
	const struct cfg_tool *tool; /* borrowed from the cfg; NULL unless TOOL */
	/* The upstream request target is upstream_prefix + upstream_rest:
	 * prefix is "" or "/", rest points into the target (borrowed). */
	const char *upstream_prefix;
	const char *upstream_rest;
	const char *reason;          /* static text for 400 / 404 */
	char tool_name[65];          /* as requested, for error messages */
};

/* listener_tool: the tool whose own listen address took the request, or
 * NULL for a main listener. Always fills out; returns out->kind. */
enum route_kind route_request(const struct cfg *cfg,
			      const struct cfg_tool *listener_tool,
			      const char *target, struct route *out);

#endif
