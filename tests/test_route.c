/* Unit tests of route.c: a table of request targets and what they mean. */
#include "config.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>

#include "route.h"
#include "cu_run.h"

static struct cfg_tool tools[] = {
	{ .name = (char[]){ "signal-cli" },
	  .http.upstream = (char[]){ "http://127.0.0.1:18080" } },
	{ .name = (char[]){ "mcp" },
	  .http.upstream = (char[]){ "http://127.0.0.1:9000/base" } },
	{ .name = (char[]){ "params" },
	  .http.upstream = (char[]){ "http://127.0.0.1:9001" },
	  .http.allow_path_params = 1 },
};
static struct cfg cfg = { .tools = tools, .n_tools = 3 };

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
	/* paths that mean something else to a servlet container, a server
	 * that decodes twice, IIS or a lenient UTF-8 decoder */
	{ 0, "/tools/signal-cli/a/..;/b", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "/tools/signal-cli/..;", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "/tools/signal-cli/.;/x", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "/tools/signal-cli/..;x=1/b", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "/tools/params/a/..;/b", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "/tools/params/.;x/b", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "/tools/params/..%3b/b", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 1, "/..;/admin", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "/tools/signal-cli/%252e%252e/x", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "/tools/signal-cli/a%25", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "/tools/signal-cli/%u002e%u002e/x", ROUTE_BAD_REQUEST, NULL,
	  NULL },
	{ 0, "/tools/signal-cli/a%", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "/tools/signal-cli/a%4", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "/tools/signal-cli/a%g1", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "/tools/signal-cli/%c0%ae%c0%ae/x", ROUTE_BAD_REQUEST, NULL,
	  NULL },
	{ 0, "/tools/signal-cli/%C1%9C", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "/tools/signal-cli/%e0%80%ae", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "/tools/signal-cli/%f0%80%80%ae", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "/tools/signal-cli/%ed%a0%80", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "/tools/signal-cli/%f5%80%80%80", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "/tools/signal-cli/%ff", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "/tools/signal-cli/%80", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "/tools/signal-cli/%c3", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "/tools/signal-cli/%c3/", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "/tools/signal-cli/%c3%a9%a9", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "/tools/signal-cli/\xc0\xae", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "/tools/signal-cli/\xc3%a9\xa9", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "/tools/signal-cli/\x85", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 1, "/a\xff", ROUTE_BAD_REQUEST, NULL, NULL },
	/* ';' in a segment only where the tool allows path parameters */
	{ 0, "/tools/signal-cli/a;x=1/b", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "/tools/signal-cli/a;", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "/tools/signal-cli/a%3Bx", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "/tools/signal-cli;x/a", ROUTE_NOT_FOUND, NULL, NULL },
	{ 1, "/api/v1/rpc;x", ROUTE_BAD_REQUEST, NULL, NULL },
	{ 0, "/tools/params/a;jsessionid=1/b", ROUTE_TOOL, "params",
	  "/a;jsessionid=1/b" },
	{ 0, "/tools/params/...;x", ROUTE_TOOL, "params", "/...;x" },
	/* well-formed UTF-8, raw or escaped, is a name like any other */
	{ 0, "/tools/signal-cli/caf%C3%A9/%e2%82%ac/%F0%9F%98%80",
	  ROUTE_TOOL, "signal-cli", "/caf%C3%A9/%e2%82%ac/%F0%9F%98%80" },
	{ 0, "/tools/signal-cli/caf\xc3\xa9/\xc3%a9", ROUTE_TOOL,
	  "signal-cli", "/caf\xc3\xa9/\xc3%a9" },
	{ 0, "/tools/signal-cli/a%20b%3a%2B", ROUTE_TOOL, "signal-cli",
	  "/a%20b%3a%2B" },
	/* the query is not a path: none of this applies there */
	{ 0, "/tools/signal-cli/x?a=%25;b=%u1&c=%c0%ae&d=..;/", ROUTE_TOOL,
	  "signal-cli", "/x?a=%25;b=%u1&c=%c0%ae&d=..;/" },
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
			/* a case that names no tool routes to none */
			CU_ASSERT_NOT_EQUAL(k, ROUTE_TOOL);
			CU_ASSERT_PTR_NULL(r.tool);
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
