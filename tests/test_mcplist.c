/* Unit tests of mcplist.c (issue 18: list answers filtered to the
 * policy) on a tool made by the real config parser. Table-driven: a
 * table of JSON answers (the request, the answer, what must come out or
 * that it passes or is refused), and a table of event streams, each fed
 * whole, byte by byte and in pieces of 2 to 7 bytes: every way must give
 * the same bytes out, the expected ones. Also: the bounds (an answer and
 * an event over MCPLIST_MAX are refused), which bodies owe a list answer,
 * and the policy's decision on one entry (policy_mcp_list_keeps). */
#include "config.h"

#include <CUnit/Basic.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "cu_run.h"
#include "mcplist.h"
#include "policy.h"

static struct cfg *cfg;
static const struct cfg_tool *gh;

static const char conf[] =
	"{ \"listen\": [\"127.0.0.1:1\"], \"tools\": {\n"
	"  \"gh\": { \"type\": \"http\",\n"
	"    \"upstream\": \"http://127.0.0.1:2\",\n"
	"    \"mcp\": {\n"
	"      \"tools_allow\": [\"search_*\", \"create_issue\"],\n"
	"      \"tools_deny\": [\"*delete*\"],\n"
	"      \"resources_allow\": [\"file:///docs/*\"],\n"
	"      \"prompts_allow\": [\"summarize\"] } } } }\n";

static int setup(void)
{
	struct error err;

	if (cfg_load_string(conf, &cfg, &err) < 0) {
		fprintf(stderr, "config: %s: %s\n", err.key, err.msg);
		return 1;
	}
	gh = cfg_find_tool(cfg, "gh", 2);
	return gh == NULL;
}

static int teardown(void)
{
	cfg_release(cfg);
	return 0;
}

#define REQ(id, m) "{\"jsonrpc\":\"2.0\",\"id\":" id ",\"method\":\"" m "\"}"
#define ANS(id, result) "{\"jsonrpc\":\"2.0\",\"id\":" id ",\"result\":" \
	result "}"
#define TOOLS_IN "{\"tools\":[{\"name\":\"search_code\"}," \
	"{\"name\":\"drop_table\"},{\"name\":\"search_delete\"}," \
	"{\"name\":\"create_issue\",\"x\":1},{\"nam\":\"search_x\"},7]}"
#define TOOLS_OUT "{\"tools\":[{\"name\":\"search_code\"}," \
	"{\"name\":\"create_issue\",\"x\":1}]}"
#define NOTE "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"," \
	"\"params\":{\"progress\":1}}"

static struct mcplist *make(const char *request, const char *version)
{
	struct policy_mcp_headers h = { NULL, NULL, NULL, 0 };
	struct mcplist *l = NULL;

	h.version = version ? strdup(version) : NULL;
	CU_ASSERT_EQUAL_FATAL(mcplist_new(gh, "gh", &h, request,
					  strlen(request), &l), 0);
	free(h.version);
	return l;
}

/* --- JSON answers -------------------------------------------------------- */

struct jcase {
	const char *name;
	const char *request, *version; /* the MCP-Protocol-Version header */
	const char *answer;
	int rc;                        /* 1 filtered, 0 passes, -1 refused */
	const char *out;               /* when filtered */
};

static const struct jcase jcases[] = {
	{ "tools", REQ("1", "tools/list"), NULL, ANS("1", TOOLS_IN), 1,
	  ANS("1", TOOLS_OUT) },
	{ "string id", REQ("\"a\"", "tools/list"), NULL,
	  ANS("\"a\"", TOOLS_IN), 1, ANS("\"a\"", TOOLS_OUT) },
	{ "3 answered as 3.0", REQ("3", "tools/list"), NULL,
	  ANS("3.0", TOOLS_IN), 1, ANS("3.0", TOOLS_OUT) },
	{ "\"1\" is not 1", REQ("\"1\"", "tools/list"), NULL,
	  ANS("1", TOOLS_IN), 0, NULL },
	{ "another id", REQ("1", "tools/list"), NULL, ANS("2", TOOLS_IN), 0,
	  NULL },
	{ "an error passes", REQ("1", "tools/list"), NULL,
	  "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-1,"
	  "\"message\":\"no\"}}", 0, NULL },
	{ "a request from the server", REQ("1", "tools/list"), NULL,
	  "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\",\"result\":"
	  TOOLS_IN "}", 0, NULL },
	{ "prompts", REQ("1", "prompts/list"), NULL,
	  ANS("1", "{\"prompts\":[{\"name\":\"summarize\"},{\"name\":"
	      "\"leak\"}],\"nextCursor\":\"c\"}"), 1,
	  ANS("1", "{\"prompts\":[{\"name\":\"summarize\"}],"
	      "\"nextCursor\":\"c\"}") },
	{ "resources", REQ("1", "resources/list"), NULL,
	  ANS("1", "{\"resources\":[{\"uri\":\"file:///etc/passwd\"},"
	      "{\"uri\":\"file:///docs/a\",\"name\":\"a\"}]}"), 1,
	  ANS("1", "{\"resources\":[{\"uri\":\"file:///docs/a\","
	      "\"name\":\"a\"}]}") },
	{ "templates", REQ("1", "resources/templates/list"), NULL,
	  ANS("1", "{\"resourceTemplates\":[{\"uriTemplate\":"
	      "\"file:///docs/{name}\"},{\"uriTemplate\":"
	      "\"file:///{path}\"},{\"uri\":\"file:///docs/x\"}]}"), 1,
	  ANS("1", "{\"resourceTemplates\":[{\"uriTemplate\":"
	      "\"file:///docs/{name}\"}]}") },
	{ "not an array: emptied", REQ("1", "tools/list"), NULL,
	  ANS("1", "{\"tools\":{\"name\":\"drop_table\"}}"), 1,
	  ANS("1", "{\"tools\":[]}") },
	{ "cacheScope made private", REQ("1", "tools/list"), NULL,
	  ANS("1", "{\"tools\":[],\"cacheScope\":\"shared\"}"), 1,
	  ANS("1", "{\"tools\":[],\"cacheScope\":\"private\"}") },
	{ "2026-07-28 by header", REQ("1", "tools/list"), "2026-07-28",
	  ANS("1", "{\"tools\":[]}"), 1,
	  ANS("1", "{\"tools\":[],\"cacheScope\":\"private\"}") },
	{ "2026-07-28 by _meta",
	  "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\","
	  "\"params\":{\"_meta\":{\"io.modelcontextprotocol/"
	  "protocolVersion\":\"2026-07-28\"}}}", NULL,
	  ANS("1", "{\"tools\":[]}"), 1,
	  ANS("1", "{\"tools\":[],\"cacheScope\":\"private\"}") },
	{ "2025-06-18: no cacheScope", REQ("1", "tools/list"), "2025-06-18",
	  ANS("1", "{\"tools\":[]}"), 1, ANS("1", "{\"tools\":[]}") },
	{ "a batch", "[" REQ("1", "tools/list") "," REQ("2", "ping") "]",
	  NULL, "[" ANS("2", "{}") "," ANS("1", TOOLS_IN) "]", 1,
	  "[" ANS("2", "{}") "," ANS("1", TOOLS_OUT) "]" },
	{ "not JSON: refused", REQ("1", "tools/list"), NULL,
	  "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[", -1, NULL },
	{ "invalid UTF-8: refused", REQ("1", "tools/list"), NULL,
	  ANS("1", "{\"tools\":[{\"name\":\"\xff\"}]}"), -1, NULL },
};

static void test_json_table(void)
{
	for (size_t i = 0; i < sizeof(jcases) / sizeof(*jcases); i++) {
		const struct jcase *c = &jcases[i];
		struct mcplist *l = make(c->request, c->version);
		char *out = NULL, why[200] = "";
		size_t out_len = 0;
		int rc;

		CU_ASSERT_PTR_NOT_NULL_FATAL(l);
		rc = mcplist_filter_json(l, c->answer, strlen(c->answer), &out,
					 &out_len, why, sizeof(why));
		if (rc != c->rc || (c->out && (out == NULL ||
					       strcmp(out, c->out) != 0))) {
			fprintf(stderr, "\n  case %s: rc %d, %s (%s)\n",
				c->name, rc, out ? out : "-", why);
			CU_FAIL("json case");
		}
		if (rc == 1)
			CU_ASSERT_EQUAL(out_len, strlen(out));
		if (rc < 0)
			CU_ASSERT(strstr(why, "not JSON") != NULL);
		free(out);
		mcplist_free(l);
	}
}

static void test_json_oversize(void)
{
	struct mcplist *l = make(REQ("1", "tools/list"), NULL);
	size_t n = MCPLIST_MAX + 1;
	char *big = malloc(n), *out = NULL, why[200] = "";
	size_t out_len;

	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	memset(big, ' ', n);
	CU_ASSERT_EQUAL(mcplist_filter_json(l, big, n, &out, &out_len, why,
					    sizeof(why)), -1);
	CU_ASSERT(strstr(why, "larger than 4194304 bytes") != NULL);
	/* at the limit it is read (and, all blanks, is not JSON) */
	CU_ASSERT_EQUAL(mcplist_filter_json(l, big, n - 1, &out, &out_len,
					    why, sizeof(why)), -1);
	CU_ASSERT(strstr(why, "not JSON") != NULL);
	free(big);
	mcplist_free(l);
}

/* Which bodies owe a list answer: a request with an id, not a
 * notification, not another method. */
static void test_owed(void)
{
	static const struct {
		const char *body;
		size_t owed;
	} cases[] = {
		{ REQ("1", "tools/list"), 1 },
		{ "{\"jsonrpc\":\"2.0\",\"method\":\"tools/list\"}", 0 },
		{ REQ("null", "tools/list"), 0 },
		{ REQ("1", "tools/call"), 0 },
		{ "[" REQ("1", "tools/list") "," REQ("2", "prompts/list") ","
		  REQ("3", "resources/list") "," REQ("4",
		  "resources/templates/list") "," REQ("5", "ping") "]", 4 },
	};
	struct json_object *m = json_object_new_array();

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct mcplist *l = NULL;
		CU_ASSERT_EQUAL(mcplist_new(gh, "gh", NULL, cases[i].body,
					    strlen(cases[i].body), &l), 0);
		CU_ASSERT_EQUAL(l ? mcplist_owed(l) : 0, cases[i].owed);
		mcplist_free(l);
	}
	json_object_array_add(m, json_object_new_string("ping"));
	CU_ASSERT_FALSE(mcplist_wanted(m));
	json_object_array_add(m, json_object_new_string("prompts/list"));
	CU_ASSERT_TRUE(mcplist_wanted(m));
	json_object_put(m);
}

/* --- event streams ------------------------------------------------------- */

struct scase {
	const char *name;
	const char *request;
	const char *in, *out;  /* out NULL: refused (-1) */
};

#define LIST_IN ANS("1", TOOLS_IN)
#define LIST_OUT ANS("1", TOOLS_OUT)

static const struct scase scases[] = {
	{ "LF", REQ("1", "tools/list"),
	  "id: 7\nevent: message\ndata: " LIST_IN "\n\n",
	  "id: 7\nevent: message\ndata: " LIST_OUT "\n\n" },
	{ "CRLF, with what passes around it", REQ("1", "tools/list"),
	  ": hello\r\nretry: 1000\r\n\r\nevent: message\r\ndata: " NOTE
	  "\r\n\r\nid: 9\r\ndata: " LIST_IN "\r\n\r\n: after\r\n\r\n"
	  "data: " LIST_IN "\r\n\r\n",
	  ": hello\r\nretry: 1000\r\n\r\nevent: message\r\ndata: " NOTE
	  "\r\n\r\nid: 9\r\ndata: " LIST_OUT "\r\n\r\n: after\r\n\r\n"
	  "data: " LIST_IN "\r\n\r\n" },
	{ "CR", REQ("1", "tools/list"),
	  ":x\rid: 1\rdata: " LIST_IN "\r\r: y\r\r",
	  ":x\rid: 1\rdata: " LIST_OUT "\r\r: y\r\r" },
	{ "data in many lines, no space", REQ("1", "tools/list"),
	  "event: message\ndata:{\"jsonrpc\":\"2.0\",\r\ndata:  \"id\":1,\n"
	  "id: 5\ndata: \"result\":" TOOLS_IN "}\n\n",
	  "event: message\ndata: " LIST_OUT "\r\nid: 5\n\n" },
	{ "a non-list stream passes byte for byte", REQ("1", "tools/list"),
	  "retry: 5\n\n: c\r\ndata: " NOTE "\r\n\r\nid: 1\n"
	  "data: " ANS("2", TOOLS_IN) "\n\ndata\n\n",
	  "retry: 5\n\n: c\r\ndata: " NOTE "\r\n\r\nid: 1\n"
	  "data: " ANS("2", TOOLS_IN) "\n\ndata\n\n" },
	{ "a byte-order mark", REQ("1", "tools/list"),
	  "\xEF\xBB\xBF" "data: " LIST_IN "\n\n",
	  "\xEF\xBB\xBF" "data: " LIST_OUT "\n\n" },
	{ "unfinished at the end", REQ("1", "tools/list"),
	  "data: " LIST_IN "\n", "data: " LIST_OUT "\n" },
	{ "data that is not JSON", REQ("1", "tools/list"),
	  "data: {\"jsonrpc\":\n\n", NULL },
	{ "a batch of two lists", "[" REQ("1", "tools/list") ","
	  REQ("2", "prompts/list") "]",
	  "data: " LIST_IN "\n\ndata: " ANS("2", "{\"prompts\":[{\"name\":"
	  "\"x\"}]}") "\n\ndata: " LIST_IN "\n\n",
	  "data: " LIST_OUT "\n\ndata: " ANS("2", "{\"prompts\":[]}")
	  "\n\ndata: " LIST_IN "\n\n" },
};

/* The stream fed in pieces of step bytes (0: growing 2..7); what came
 * out, or NULL when refused. */
static char *feed(const struct scase *c, size_t step)
{
	struct mcplist *l = make(c->request, NULL);
	struct dbuf out = DBUF_INIT((size_t)64 << 20);
	size_t len = strlen(c->in), i = 0, n, k = 2;
	char why[200];
	int rc = 0;

	while (rc == 0 && i < len) {
		n = step ? step : k;
		k = k == 7 ? 2 : k + 1;
		if (n > len - i)
			n = len - i;
		rc = mcplist_feed_sse(l, c->in + i, n, &out, why, sizeof(why));
		i += n;
	}
	if (rc == 0)
		mcplist_finish_sse(l, &out);
	mcplist_free(l);
	char *s = rc == 0 ? dbuf_detach(&out, NULL) : NULL;
	dbuf_free(&out);
	return s;
}

static void test_sse_table(void)
{
	static const size_t steps[] = { 100000, 1, 0 };

	for (size_t i = 0; i < sizeof(scases) / sizeof(*scases); i++) {
		for (size_t j = 0; j < 3; j++) {
			char *got = feed(&scases[i], steps[j]);
			int ok = scases[i].out == NULL ?
					 got == NULL :
					 got && strcmp(got, scases[i].out) == 0;
			if (!ok) {
				fprintf(stderr, "\n  case %s, step %zu: %s\n",
					scases[i].name, steps[j],
					got ? got : "(refused)");
				CU_FAIL("sse case");
			}
			free(got);
		}
	}
}

static int feed_str(struct mcplist *l, const char *s, struct dbuf *out)
{
	char why[200];

	return mcplist_feed_sse(l, s, strlen(s), out, why, sizeof(why));
}

/* While a list answer is owed, lines that are not data: lines pass
 * once whole, a message is held to its event's end; once the answer
 * went by, bytes pass as they come: part of an event comes out at
 * once. */
static void test_sse_unheld_after(void)
{
	struct mcplist *l = make(REQ("1", "tools/list"), NULL);
	struct dbuf out = DBUF_INIT(1 << 20);
	const char *first = "data: " LIST_IN "\n\n", *half = "data: {\"ha";
	char why[200];

	/* owed: lines before a data: line go on once whole */
	CU_ASSERT_EQUAL(feed_str(l, "id: 4\r\nevent: m", &out), 0);
	CU_ASSERT_STRING_EQUAL(dbuf_str(&out), "id: 4\r\n");
	CU_ASSERT_EQUAL(feed_str(l, "\r", &out), 0);
	CU_ASSERT_STRING_EQUAL(dbuf_str(&out), "id: 4\r\nevent: m\r");
	dbuf_reset(&out);
	/* from the data: line on, held to the event's end */
	CU_ASSERT_EQUAL(feed_str(l, "\ndata: {}\n: c\n", &out), 0);
	CU_ASSERT_STRING_EQUAL(dbuf_str(&out), "\n");
	dbuf_reset(&out);
	CU_ASSERT_EQUAL(feed_str(l, "\n", &out), 0);
	CU_ASSERT_STRING_EQUAL(dbuf_str(&out), "data: {}\n: c\n\n");
	dbuf_reset(&out);
	CU_ASSERT_EQUAL(mcplist_feed_sse(l, "data: {", 7, &out, why,
					 sizeof(why)), 0);
	CU_ASSERT_EQUAL(dbuf_len(&out), 0); /* held: a list answer owed */
	dbuf_reset(&out);
	mcplist_free(l);
	l = make(REQ("1", "tools/list"), NULL);
	CU_ASSERT_EQUAL(mcplist_feed_sse(l, first, strlen(first), &out, why,
					 sizeof(why)), 0);
	CU_ASSERT_EQUAL(mcplist_owed(l), 0);
	dbuf_reset(&out);
	CU_ASSERT_EQUAL(mcplist_feed_sse(l, half, strlen(half), &out, why,
					 sizeof(why)), 0);
	CU_ASSERT_STRING_EQUAL(dbuf_str(&out), half);
	dbuf_free(&out);
	mcplist_free(l);
}

static void test_sse_oversize(void)
{
	struct mcplist *l = make(REQ("1", "tools/list"), NULL);
	struct dbuf out = DBUF_INIT((size_t)64 << 20);
	size_t n = 65536, sent = 0;
	char *chunk = malloc(n), why[200] = "";
	int rc = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(chunk);
	memset(chunk, 'x', n);
	memcpy(chunk, "data: ", 6);
	while (rc == 0 && sent <= MCPLIST_MAX) {
		rc = mcplist_feed_sse(l, chunk, n, &out, why, sizeof(why));
		sent += n;
	}
	CU_ASSERT_EQUAL(rc, -1);
	CU_ASSERT(strstr(why, "larger than 4194304 bytes") != NULL);
	CU_ASSERT_EQUAL(dbuf_len(&out), 0);
	free(chunk);
	dbuf_free(&out);
	mcplist_free(l);
}

/* --- the policy on one entry --------------------------------------------- */

static void test_keeps(void)
{
	static const struct {
		const char *method, *entry;
		int keeps;
	} cases[] = {
		{ "tools/list", "{\"name\":\"search_x\"}", 1 },
		{ "tools/list", "{\"name\":\"search_delete\"}", 0 },
		{ "tools/list", "{\"name\":\"other\"}", 0 },
		{ "tools/list", "{\"name\":7}", 0 },
		{ "tools/list", "\"search_x\"", 0 },
		{ "prompts/list", "{\"name\":\"summarize\"}", 1 },
		{ "prompts/list", "{\"name\":\"summarize2\"}", 0 },
		{ "resources/list", "{\"uri\":\"file:///docs/a/b\"}", 1 },
		{ "resources/list", "{\"name\":\"file:///docs/a\"}", 0 },
		{ "resources/templates/list",
		  "{\"uriTemplate\":\"file:///docs/{x}\"}", 1 },
		{ "resources/templates/list", "{\"uriTemplate\":\"{x}\"}", 0 },
		{ "ping", "{\"name\":\"search_x\"}", 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct json_object *e = json_tokener_parse(cases[i].entry);
		if (policy_mcp_list_keeps(gh, cases[i].method, e) !=
		    cases[i].keeps) {
			fprintf(stderr, "\n  keeps %s %s\n", cases[i].method,
				cases[i].entry);
			CU_FAIL("keeps");
		}
		json_object_put(e);
	}
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("mcplist", setup, teardown);
	if (s == NULL || !CU_add_test(s, "json table", test_json_table) ||
	    !CU_add_test(s, "json oversize", test_json_oversize) ||
	    !CU_add_test(s, "owed", test_owed) ||
	    !CU_add_test(s, "sse table", test_sse_table) ||
	    !CU_add_test(s, "sse unheld after", test_sse_unheld_after) ||
	    !CU_add_test(s, "sse oversize", test_sse_oversize) ||
	    !CU_add_test(s, "keeps", test_keeps)) {
		CU_cleanup_registry();
		return 1;
	}
	return cu_run();
}
