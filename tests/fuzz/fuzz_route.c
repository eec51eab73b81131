/* The request target (route_request), as the client sent it, on a main
 * listener and on the web tool's own, then the path policy of the tool it
 * names (policy_check_request). What is routed to a tool must go upstream
 * as it came: prefix + rest is a suffix of the target. The first byte
 * picks the listener and the method. */
#include "config.h"

#include "fuzz.h"
#include "policy.h"
#include "route.h"

static const char *const methods[] = { "GET", "POST", "TRACE", "PUT" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const struct cfg_tool *own = data[0] & 1 ? fuzz_tool("web") : NULL;
	const char *method = methods[(data[0] >> 1) & 3];
	char *target = fuzz_string(data + 1, size - 1);
	struct route r;

	if (target == NULL)
		return 0;
	enum route_kind k = route_request(fuzz_config(), own, target, &r);
	if (k != r.kind || memchr(r.tool_name, '\0', sizeof(r.tool_name)) ==
				   NULL)
		abort();
	if (k == ROUTE_TOOL) {
		size_t rest = strlen(r.upstream_rest);
		if (r.tool == NULL || r.upstream_prefix == NULL ||
		    r.upstream_rest < target ||
		    r.upstream_rest + rest != target + strlen(target))
			abort();
		/* the path judged, as server.c takes it */
		const char *path = r.upstream_rest;
		size_t path_len = strcspn(path, "?");
		if (*r.upstream_prefix != '\0') {
			path = "/";
			path_len = 1;
		}
		struct policy_verdict v;
		if (r.tool->type == CFG_TOOL_HTTP)
			policy_check_request(r.tool, method, path, path_len,
					     &v);
	} else if (k != ROUTE_HEALTH && r.reason == NULL) {
		abort();
	}
	free(target);
	return 0;
}
