/* Unit tests of route.c: a table of request targets and what they mean. */
#include "config.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>

#include "route.h"
#include "cu_run.h"

static struct cfg_tool tools[] = {
	{ .name = "signal-cli", .upstream = "http://127.0.0.1:18080" },
	{ .name = "mcp", .upstream = "http://127.0.0.1:9000/base" },
};
static struct cfg cfg = { .tools = tools, .n_tools = 2 };

struct route_case {
	int own_listener;            /* request came to tools[0]'s listen */
	const char *target;
	enum route_kind kind;
	const char *tool;            /* expected tool, or NULL */
	const char *upstream;        /* expected upstream target */
};

static const struct route_case cases[] = {
	{ 0, "/healthz", ROUTE_HEALTH, NULL, NULL },
	{ 0, "/healthz?x=1", ROUTE_HEALTH, NULL, NULL },
	{ 0, "/healthzz", ROUTE_NOT_FOUND, NULL, NULL },
	{ 0, "/", ROUTE_NOT_FOUND, NULL, NULL },
	{ 0, "/tools/", ROUTE_NOT_FOUND, NULL, NULL },
	{ 0, "/tools", ROUTE_NOT_FOUND, NULL, NULL },
	{ 0, "/tools/nope/x", ROUTE_NOT_FOUND, NULL, NULL },
	{ 0, "/tools/signal-clix/x", ROUTE_NOT_FOUND, NULL, NULL },
	{ 0, "/tools/signal/x", ROUTE_NOT_FOUND, NULL, NULL },
	{ 0, "/tools/SIGNAL-CLI/x", ROUTE_NOT_FOUND, NULL, NULL },
	{ 0, "/api/v1/rpc", ROUTE_NOT_FOUND, NULL, NULL },
	{ 0, "/tools/signal-cli/api/v1/rpc", ROUTE_TOOL, "signal-cli",
	  "/api/v1/rpc" },
	{ 0, "/tools/signal-cli/api/v1/events?account=%2B1555",
	  ROUTE_TOOL, "signal-cli", "/api/v1/events?account=%2B1555" },
	{ 0, "/tools/signal-cli", ROUTE_TOOL, "signal-cli", "/" },
	{ 0, "/tools/signal-cli/", ROUTE_TOOL, "signal-cli", "/" },
	{ 0, "/tools/signal-cli?a=b", ROUTE_TOOL, "signal-cli", "/?a=b" },
	{ 0, "/tools/mcp/mcp", ROUTE_TOOL, "mcp", "/mcp" },
	{ 0, "/tools/signal-cli/a/../b", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "/tools/signal-cli/..", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "/tools/signal-cli/./x", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "/tools/../admin", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "/tools/signal-cli/%2e%2e/x", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "/tools/signal-cli/%2E/x", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "/tools/signal-cli/a%2fb", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "/tools/signal-cli/a%5Cb", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "/tools/signal-cli/a%00b", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "/tools/signal-cli/a\\b", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "/tools/signal-cli/a\tb", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "/tools/signal-cli/a\x7f", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "/tools/signal-cli/a#frag", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "http://evil/tools/signal-cli/x", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "*", ROUTE_BAD_REQUEST, NULL, NULL },
	/* dots that are not segments are ordinary names */
	{ 0, "/tools/signal-cli/a..b/.x/...", ROUTE_TOOL, "signal-cli",
	  "/a..b/.x/..." },
	/* the query is not a path: dots and escapes there are data */
	{ 0, "/tools/signal-cli/x?p=../%2e", ROUTE_TOOL, "signal-cli",
	  "/x?p=../%2e" },
	/* a tool's own listener serves its upstream paths at / */
	{ 1, "/api/v1/events", ROUTE_TOOL, "signal-cli", "/api/v1/events" },
	{ 1, "/", ROUTE_TOOL, "signal-cli", "/" },
	{ 1, "/healthz", ROUTE_TOOL, "signal-cli", "/healthz" },
	{ 1, "/tools/mcp/x", ROUTE_TOOL, "signal-cli", "/tools/mcp/x" },
	{ 1, "/a/../b", ROUTE_BAD_REQUEST, NULL, NULL },
};

static void test_route_table(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct route_case *c = &cases[i];
		struct route r;
		char upstream[256];
		enum route_kind k = route_request(
			&cfg, c->own_listener ? &tools[0] : NULL, c->target, &r);
		if (k != c->kind)
			fprintf(stderr, "case %zu (%s): kind %d, want %d\n",
				i, c->target, k, c->kind);
		CU_ASSERT_EQUAL(k, c->kind);
		CU_ASSERT_EQUAL(r.kind, k);
		if (k == ROUTE_BAD_REQUEST || k == ROUTE_NOT_FOUND)
			CU_ASSERT_PTR_NOT_NULL(r.reason);
		if (c->tool == NULL) {
			CU_ASSERT(k != ROUTE_TOOL || c->kind != k);
			continue;
		}
		CU_ASSERT_PTR_NOT_NULL_FATAL(r.tool);
		CU_ASSERT_STRING_EQUAL(r.tool->name, c->tool);
		snprintf(upstream, sizeof(upstream), "%s%s", r.upstream_prefix,
			 r.upstream_rest);
		if (strcmp(upstream, c->upstream) != 0)
			fprintf(stderr, "case %zu (%s): upstream %s, want %s\n",
				i, c->target, upstream, c->upstream);
		CU_ASSERT_STRING_EQUAL(upstream, c->upstream);
	}
}

static void test_unknown_tool_name_is_reported(void)
{
	struct route r;

	route_request(&cfg, NULL, "/tools/nope/x", &r);
	CU_ASSERT_STRING_EQUAL(r.tool_name, "nope");
	CU_ASSERT_STRING_EQUAL(r.reason, "unknown tool");
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite suite = CU_add_suite("route", NULL, NULL);
	CU_add_test(suite, "route table", test_route_table);
	CU_add_test(suite, "unknown tool name is reported",
		    test_unknown_tool_name_is_reported);
	return cu_run();
}
