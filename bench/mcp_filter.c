/* bench/mcp_filter — what the MCP checks cost per call, in-process, one
 * thread (issue 18): the list filter on a tools/list answer of 100 tools
 * (half of them denied), as a JSON body (mcplist_filter_json) and as one
 * event of a stream (mcplist_feed_sse, in 16 KiB pieces as curl writes,
 * and in 1 KiB pieces); the set-up per request (mcplist_new, reading the
 * list request's id from the checked body); and the body check of one
 * tools/call (policy_check_mcp) without MCP headers and with the three
 * (Mcp-Method, Mcp-Name, MCP-Protocol-Version), the base64 form too.
 *
 * usage: bench/mcp_filter [ITERATIONS]   (default 20000)
 * Prints one line per case: the median of 5 runs, µs per call. */
#include "config.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cfg.h"
#include "dbuf.h"
#include "mcplist.h"
#include "policy.h"

static const char conf[] =
    "{ \"listen\": [\"127.0.0.1:1\"], \"tools\": { \"gh\": {"
    " \"type\": \"http\", \"upstream\": \"http://127.0.0.1:2\","
    " \"mcp\": { \"tools_allow\": [\"search_*\", \"get_*\"],"
    " \"tools_deny\": [\"*delete*\"] } } } }";

static const char list_req[] =
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}";
static const char call[] =
    "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":"
    "{\"name\":\"search_code\",\"arguments\":{\"q\":\"x\"},\"_meta\":"
    "{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\"}}}";

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* A tools/list answer of 100 tools, every other one denied. */
static char *answer(void)
{
	struct dbuf b = DBUF_INIT(1 << 20);

	dbuf_addstr(&b,
		    "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[");
	for (int i = 0; i < 100; i++)
		dbuf_printf(&b,
			    "%s{\"name\":\"%s_%d\",\"description\":\"Tool "
			    "number %d of the benchmark's server.\","
			    "\"inputSchema\":{\"type\":\"object\","
			    "\"properties\":{\"q\":{\"type\":\"string\"}}}}",
			    i ? "," : "", i % 2 ? "delete" : "search", i, i);
	dbuf_addstr(&b, "]}}");
	return dbuf_detach(&b, NULL);
}

static const struct cfg_tool *tool;
static char *ans, *event;

static struct mcplist *new_list(void)
{
	struct mcplist *l = NULL;

	if (mcplist_new(tool, "gh", NULL, list_req, strlen(list_req), &l) < 0 ||
	    l == NULL)
		abort();
	return l;
}

static void run_new(void) { mcplist_free(new_list()); }

static void run_json(void)
{
	struct mcplist *l = new_list();
	char *out, why[200];
	size_t n;

	if (mcplist_filter_json(l, ans, strlen(ans), &out, &n, why,
				sizeof(why)) != 1)
		abort();
	free(out);
	mcplist_free(l);
}

static void feed(size_t piece)
{
	struct mcplist *l = new_list();
	struct dbuf out = DBUF_INIT(1 << 20);
	size_t len = strlen(event);
	char why[200];

	for (size_t i = 0; i < len; i += piece)
		if (mcplist_feed_sse(l, event + i,
				     len - i < piece ? len - i : piece, &out,
				     why, sizeof(why)) < 0)
			abort();
	if (mcplist_owed(l) != 0)
		abort();
	dbuf_free(&out);
	mcplist_free(l);
}

static void run_sse_16k(void) { feed(16384); }

static void run_sse_1k(void) { feed(1024); }

static struct policy_mcp_headers plain_h, b64_h;

static void check(const struct policy_mcp_headers *h)
{
	struct policy_verdict v;
	struct policy_calls calls;
	char *fwd = NULL, *err = NULL;
	size_t n;

	if (policy_check_mcp(tool, h, call, strlen(call), &fwd, &n, &err, &v,
			     &calls) < 0)
		abort();
	policy_calls_free(&calls);
	free(fwd);
	free(err);
}

static void run_no_headers(void) { check(NULL); }

static void run_headers(void) { check(&plain_h); }

static void run_b64_headers(void) { check(&b64_h); }

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void bench(const char *name, void (*fn)(void), long iters)
{
	double runs[5];

	for (int r = 0; r < 5; r++) {
		double t0 = now_us();
		for (long i = 0; i < iters; i++)
			fn();
		runs[r] = (now_us() - t0) / (double)iters;
	}
	qsort(runs, 5, sizeof(*runs), cmp);
	printf("%-44s %8.2f us/call (min %.2f, max %.2f)\n", name, runs[2],
	       runs[0], runs[4]);
}

int main(int argc, char **argv)
{
	long iters = argc > 1 ? strtol(argv[1], NULL, 10) : 20000;
	struct cfg *cfg;
	struct error err;

	if (iters <= 0 || cfg_load_string(conf, &cfg, &err) < 0)
		return 2;
	tool = cfg_find_tool(cfg, "gh", 2);
	ans = answer();
	size_t n = strlen(ans) + 64;
	event = malloc(n);
	snprintf(event, n, "id: 1\r\nevent: message\r\ndata: %s\r\n\r\n", ans);
	plain_h = (struct policy_mcp_headers){strdup("tools/call"),
					      strdup("search_code"),
					      strdup("2026-07-28"), 0};
	/* "search_code" in the base64 form */
	b64_h = (struct policy_mcp_headers){
	    strdup("tools/call"), strdup("=?base64?c2VhcmNoX2NvZGU=?="),
	    strdup("2026-07-28"), 0};
	printf("tools/list answer: %zu bytes, 100 tools, 50 kept; %ld "
	       "iterations, median of 5 runs\n",
	       strlen(ans), iters);
	bench("mcplist_new (list request's id)", run_new, iters);
	bench("list filter, JSON (new + filter)", run_json, iters);
	bench("list filter, SSE 16 KiB pieces (new + feed)", run_sse_16k,
	      iters);
	bench("list filter, SSE 1 KiB pieces (new + feed)", run_sse_1k, iters);
	bench("policy_check_mcp tools/call, no headers", run_no_headers,
	      iters * 5);
	bench("policy_check_mcp tools/call, 3 headers", run_headers, iters * 5);
	bench("policy_check_mcp tools/call, base64 Mcp-Name", run_b64_headers,
	      iters * 5);
	free(ans);
	free(event);
	cfg_release(cfg);
	return 0;
}
