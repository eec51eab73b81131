/* Unit tests of policy_mcp.c (the "mcp" block, issue 18 part A), on tools
 * made by the real config parser: a table of bodies with their headers
 * against the block's rules (methods it implies, tools, resources,
 * prompts, arguments, a client's responses, the jsonrpc_* keys beside
 * it), the header/body comparison (-32020), the protocol versions; a
 * table of header values and their decoding; a table of heads (Origin,
 * version without a body). */
#include "config.h"

#include <CUnit/Basic.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "cu_run.h"
#include "policy.h"

static struct cfg *cfg;
static const struct cfg_tool *gh, *open_tool;

static const char conf[] =
	"{ \"listen\": [\"127.0.0.1:1\"], \"tools\": {\n"
	"  \"gh\": { \"type\": \"http\",\n"
	"    \"upstream\": \"http://127.0.0.1:2\",\n"
	"    \"jsonrpc_allow_methods\": [\"completion/complete\"],\n"
	"    \"jsonrpc_deny_methods\": [\"notifications/cancelled\"],\n"
	"    \"jsonrpc_param_filters\": {\"tools/call\": {\"field\": "
	"\"arguments.body\", \"deny_patterns\": [\"*token*\"]}},\n"
	"    \"mcp\": {\n"
	"      \"tools_allow\": [\"list_*\", \"get_*\", \"create_issue\","
	" \"get_secret\"],\n"
	"      \"tools_deny\": [\"*secret*\"],\n"
	"      \"resources_allow\": [\"repo://me/*\"],\n"
	"      \"prompts_allow\": [\"summarize\"],\n"
	"      \"arguments\": {\"create_issue\": [{\"field\": \"repo\", "
	"\"allow_patterns\": [\"me/*\"]}], \"get_*\": {\"field\": \"ref\", "
	"\"deny_patterns\": [\"refs/secret/*\"]}},\n"
	"      \"allowed_origins\": [\"https://app.example.com\"],\n"
	"      \"require_protocol_versions\": [\"2025-06-18\", \"2025-11-25\","
	" \"2026-07-28\"] } },\n"
	"  \"open\": { \"type\": \"http\",\n"
	"    \"upstream\": \"http://127.0.0.1:2\", \"mcp\": {} } } }\n";

/* --- bodies -------------------------------------------------------------- */

struct bcase {
	const char *name;
	const struct cfg_tool **tool;
	const char *h_method, *h_name, *h_version; /* raw headers, or NULL */
	const char *body;
	int status;       /* 0 allowed */
	int code;         /* the error body's first code (0: allowed) */
	const char *reason; /* a piece of the reason */
};

#define CALL(tool_args) \
	"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\"," \
	"\"params\":" tool_args "}"
#define META(v) "\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"" \
	v "\"}"
#define V25 "2025-06-18"
#define V26 "2026-07-28"

static const struct bcase bcases[] = {
	/* methods the block implies, and the jsonrpc_* keys beside it */
	{ "initialize", &gh, NULL, NULL, V25,
	  "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\","
	  "\"params\":{}}", 0, 0, NULL },
	{ "ping", &gh, NULL, NULL, V25,
	  "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", 0, 0, NULL },
	{ "a notification", &gh, NULL, NULL, V25,
	  "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}",
	  0, 0, NULL },
	{ "lists", &gh, NULL, NULL, V25,
	  "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"},"
	  "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"prompts/list\"},"
	  "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"resources/list\"},"
	  "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":"
	  "\"resources/templates/list\"},"
	  "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"server/discover\"}]",
	  0, 0, NULL },
	{ "jsonrpc_allow_methods adds one", &gh, NULL, NULL, V25,
	  "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"completion/complete\"}",
	  0, 0, NULL },
	{ "any other method", &gh, NULL, NULL, V25,
	  "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"logging/setLevel\"}",
	  403, -32000, "neither one the mcp block allows" },
	{ "jsonrpc_deny_methods wins", &gh, NULL, NULL, V25,
	  "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\"}",
	  403, -32000, "jsonrpc_deny_methods" },
	/* tools */
	{ "an allowed tool", &gh, NULL, NULL, V25,
	  CALL("{\"name\":\"list_issues\",\"arguments\":{}}"), 0, 0, NULL },
	{ "a tool not allowed", &gh, NULL, NULL, V25,
	  CALL("{\"name\":\"delete_repo\"}"), 403, -32000,
	  "tool \"delete_repo\" is not in mcp.tools_allow" },
	{ "deny wins over allow", &gh, NULL, NULL, V25,
	  CALL("{\"name\":\"get_secret\"}"), 403, -32000,
	  "is in mcp.tools_deny" },
	{ "no tool name", &gh, NULL, NULL, V25, CALL("{}"), 400, -32602,
	  "needs params.name" },
	{ "a tool name not a string", &gh, NULL, NULL, V25,
	  CALL("{\"name\":3}"), 400, -32602, "needs params.name" },
	{ "a tool name with NUL", &gh, NULL, NULL, V25,
	  CALL("{\"name\":\"list_\\u0000x\"}"), 400, -32602, "NUL" },
	{ "argument allowed", &gh, NULL, NULL, V25,
	  CALL("{\"name\":\"create_issue\",\"arguments\":{\"repo\":"
	       "\"me/a\"}}"), 0, 0, NULL },
	{ "argument denied", &gh, NULL, NULL, V25,
	  CALL("{\"name\":\"create_issue\",\"arguments\":{\"repo\":"
	       "\"them/a\"}}"), 403, -32000,
	  "no allow_patterns pattern (mcp.arguments \"create_issue\")" },
	{ "argument missing", &gh, NULL, NULL, V25,
	  CALL("{\"name\":\"create_issue\"}"), 403, -32000, "is missing" },
	{ "an argument glob key", &gh, NULL, NULL, V25,
	  CALL("{\"name\":\"get_file\",\"arguments\":{\"ref\":"
	       "\"refs/secret/x\"}}"), 403, -32000, "mcp.arguments \"get_*\"" },
	{ "arguments not an object", &gh, NULL, NULL, V25,
	  CALL("{\"name\":\"list_x\",\"arguments\":[1]}"), 400, -32602,
	  "must be an object" },
	{ "jsonrpc_param_filters apply too", &gh, NULL, NULL, V25,
	  CALL("{\"name\":\"list_x\",\"arguments\":{\"body\":\"my token\"}}"),
	  403, -32000, "deny_patterns" },
	{ "no tools_allow: any tool", &open_tool, NULL, NULL, NULL,
	  CALL("{\"name\":\"anything\"}"), 0, 0, NULL },
	/* resources and prompts */
	{ "a resource allowed", &gh, NULL, NULL, V25,
	  "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/read\","
	  "\"params\":{\"uri\":\"repo://me/x\"}}", 0, 0, NULL },
	{ "a resource not allowed", &gh, NULL, NULL, V25,
	  "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/subscribe\","
	  "\"params\":{\"uri\":\"repo://them/x\"}}", 403, -32000,
	  "not in mcp.resources_allow" },
	{ "no resources_allow: no resource", &open_tool, NULL, NULL, NULL,
	  "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/read\","
	  "\"params\":{\"uri\":\"file:///etc/passwd\"}}", 403, -32000,
	  "mcp.resources_allow is not set" },
	{ "a resource without uri", &gh, NULL, NULL, V25,
	  "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/read\","
	  "\"params\":{}}", 400, -32602, "needs params.uri" },
	{ "a prompt allowed", &gh, NULL, NULL, V25,
	  "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"prompts/get\","
	  "\"params\":{\"name\":\"summarize\"}}", 0, 0, NULL },
	{ "a prompt not allowed", &gh, NULL, NULL, V25,
	  "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"prompts/get\","
	  "\"params\":{\"name\":\"jailbreak\"}}", 403, -32000,
	  "not in mcp.prompts_allow" },
	/* a client's responses */
	{ "a response", &gh, NULL, NULL, V25,
	  "{\"jsonrpc\":\"2.0\",\"id\":\"s1\",\"result\":{\"action\":"
	  "\"accept\"}}", 0, 0, NULL },
	{ "an error response", &gh, NULL, NULL, V25,
	  "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-1,"
	  "\"message\":\"no\"}}", 0, 0, NULL },
	{ "a response and a request", &gh, NULL, NULL, V25,
	  "[{\"jsonrpc\":\"2.0\",\"id\":4,\"result\":{}},"
	  CALL("{\"name\":\"list_x\"}") "]", 0, 0, NULL },
	{ "a response beside a denied request", &gh, NULL, NULL, V25,
	  "[{\"jsonrpc\":\"2.0\",\"id\":4,\"result\":{}},"
	  CALL("{\"name\":\"drop_db\"}") "]", 403, -32000, "drop_db" },
	{ "a response without id", &gh, NULL, NULL, V25,
	  "{\"jsonrpc\":\"2.0\",\"result\":{}}", 400, -32600, "no \"id\"" },
	{ "an error not an object", &gh, NULL, NULL, V25,
	  "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":\"x\"}", 400, -32600,
	  "must be an object" },
	{ "a result with a null id", &gh, NULL, NULL, V25,
	  "{\"jsonrpc\":\"2.0\",\"id\":null,\"result\":{}}", 400, -32600,
	  "\"id\" must be" },
	{ "result and error", &gh, NULL, NULL, V25,
	  "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{},\"error\":{}}", 400,
	  -32600, "both" },
	{ "a response is not JSON-RPC without the block", &open_tool, NULL,
	  NULL, NULL, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":5}", 0, 0,
	  NULL },
	/* headers against the body */
	{ "headers that match", &gh, "tools/call", "list_x", V26,
	  CALL("{\"name\":\"list_x\"," META(V26) "}"), 0, 0, NULL },
	{ "Mcp-Method mismatch", &gh, "tools/list", NULL, V26,
	  CALL("{\"name\":\"list_x\"}"), 400, -32020,
	  "Mcp-Method \"tools/list\" but the body says \"tools/call\"" },
	{ "Mcp-Name mismatch", &gh, "tools/call", "list_x", V26,
	  CALL("{\"name\":\"delete_repo\"}"), 400, -32020, "Mcp-Name" },
	{ "a mismatch comes before a denial", &gh, "tools/call", "list_x",
	  V26, CALL("{\"name\":\"delete_repo\"}"), 400, -32020, NULL },
	{ "Mcp-Name of a resource is its uri", &gh, "resources/read",
	  "repo://me/x", V26,
	  "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"resources/read\","
	  "\"params\":{\"uri\":\"repo://me/x\"}}", 0, 0, NULL },
	{ "base64 Mcp-Name", &gh, "tools/call", "=?base64?bGlzdF/DqQ==?=",
	  V26, CALL("{\"name\":\"list_\\u00e9\"}"), 0, 0, NULL },
	{ "base64 Mcp-Name mismatch", &gh, NULL, "=?base64?bGlzdF95?=", V26,
	  CALL("{\"name\":\"list_x\"}"), 400, -32020, "\"list_y\"" },
	{ "bad base64", &gh, NULL, "=?base64?bGl*dF95?=", V26,
	  CALL("{\"name\":\"list_x\"}"), 400, -32020, "not a valid value" },
	{ "a raw 8-bit header", &gh, "tools/call", "list_\xc3\xa9", V26,
	  CALL("{\"name\":\"list_\\u00e9\"}"), 400, -32020,
	  "not a valid value" },
	{ "Mcp-Name without one in the body", &gh, NULL, "x", V25,
	  "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}", 400,
	  -32020, "the body has none" },
	{ "Mcp-Method with a batch", &gh, "tools/list", NULL, V25,
	  "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}]", 400,
	  -32020, "Mcp-Method" },
	{ "Mcp-Method with a response", &gh, "tools/call", NULL, V25,
	  "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}", 400, -32020,
	  "the body has none" },
	{ "version header against _meta", &gh, NULL, NULL, V25,
	  CALL("{\"name\":\"list_x\"," META(V26) "}"), 400, -32020,
	  "MCP-Protocol-Version \"2025-06-18\" but the body says "
	  "\"2026-07-28\"" },
	{ "_meta version not a string", &gh, NULL, NULL, NULL,
	  CALL("{\"name\":\"list_x\",\"_meta\":{"
	       "\"io.modelcontextprotocol/protocolVersion\":1}}"), 400, -32600,
	  "must be a string" },
	/* protocol versions */
	{ "no header: 2025-03-26, not required", &gh, NULL, NULL, NULL,
	  CALL("{\"name\":\"list_x\"}"), 400, -32600,
	  "\"2025-03-26\" is not in mcp.require_protocol_versions" },
	{ "no header, _meta version", &gh, NULL, NULL, NULL,
	  CALL("{\"name\":\"list_x\"," META(V26) "}"), 0, 0, NULL },
	{ "a version not required", &gh, NULL, NULL, "2024-11-05",
	  CALL("{\"name\":\"list_x\"}"), 400, -32600, "2024-11-05" },
	{ "no requirement", &open_tool, NULL, NULL, "1999-01-01",
	  CALL("{\"name\":\"x\"}"), 0, 0, NULL },
	{ "headers checked without the version list", &open_tool,
	  "tools/list", NULL, NULL, CALL("{\"name\":\"x\"}"), 400, -32020,
	  NULL },
	/* what the JSON-RPC check still refuses */
	{ "not JSON", &gh, NULL, NULL, V25, "{", 400, -32700, "parse error" },
	{ "neither request nor response", &gh, NULL, NULL, V25,
	  "{\"jsonrpc\":\"2.0\",\"id\":1}", 400, -32600, "\"method\"" },
};

static int has(const char *s, const char *piece)
{
	return piece == NULL || strstr(s, piece) != NULL;
}

/* The first error's code in an error body (an object or an array). */
static int first_code(const char *err)
{
	struct json_object *o = json_tokener_parse(err), *e, *code;
	int n = 0;

	e = json_object_is_type(o, json_type_array) ?
		    json_object_array_get_idx(o, 0) :
		    o;
	if (json_object_object_get_ex(e, "error", &e) &&
	    json_object_object_get_ex(e, "code", &code))
		n = json_object_get_int(code);
	json_object_put(o);
	return n;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int run_body(const struct bcase *c)
{
	struct policy_mcp_headers *h = calloc(1, sizeof(*h));
	struct policy_verdict v;
	struct policy_calls calls;
	char *fwd = NULL, *err = NULL;
	size_t fwd_len = 0;
	int bad = 0;

	h->method = dup_or_null(c->h_method);
	h->name = dup_or_null(c->h_name);
	h->version = dup_or_null(c->h_version);
	int rc = policy_check_mcp(*c->tool, h, c->body, strlen(c->body), &fwd,
				  &fwd_len, &err, &v, &calls);
	if (rc != (c->status ? -1 : 0) || v.status != c->status ||
	    !has(v.reason, c->reason))
		bad = 1;
	if (c->status != 0 && (err == NULL || first_code(err) != c->code))
		bad = 1;
	if (c->status == 0 && (fwd == NULL || err != NULL))
		bad = 1;
	if (bad)
		fprintf(stderr, "case \"%s\": status %d, reason \"%s\", "
			"error %s\n", c->name, v.status, v.reason,
			err ? err : "-");
	policy_calls_free(&calls);
	policy_mcp_headers_free(h);
	free(fwd);
	free(err);
	return bad;
}

static void test_body_table(void)
{
	size_t n = sizeof(bcases) / sizeof(bcases[0]);
	unsigned failed = 0;

	CU_ASSERT_FATAL(gh != NULL && open_tool != NULL);
	for (size_t i = 0; i < n; i++)
		failed += (unsigned)run_body(&bcases[i]);
	CU_ASSERT_EQUAL(failed, 0);
	CU_ASSERT(n >= 50);
}

/* A denial echoes the id; a batch's, each id. */
static void test_error_echoes_ids(void)
{
	char list[] = "tools/list";
	struct policy_mcp_headers h = { list, NULL, NULL, 0 };
	struct policy_verdict v;
	char *fwd = NULL, *err = NULL;
	size_t fwd_len;
	const char *one = CALL("{\"name\":\"nope\"}");
	const char *two = "[" CALL("{\"name\":\"list_a\"}") ","
			  "{\"jsonrpc\":\"2.0\",\"id\":\"b\",\"method\":"
			  "\"ping\"}]";

	CU_ASSERT_EQUAL(policy_check_mcp(open_tool, &h, one, strlen(one),
					 &fwd, &fwd_len, &err, &v, NULL),
			-1);
	CU_ASSERT_PTR_NOT_NULL(err && strstr(err, "\"id\":7"));
	CU_ASSERT_PTR_NOT_NULL(err && strstr(err, "-32020"));
	free(err);
	err = NULL;
	h.method = NULL;
	h.repeated = 1;
	CU_ASSERT_EQUAL(policy_check_mcp(open_tool, &h, two, strlen(two),
					 &fwd, &fwd_len, &err, &v, NULL),
			-1);
	CU_ASSERT_EQUAL(v.status, 400);
	CU_ASSERT_PTR_NOT_NULL(err && strstr(err, "\"id\":7") &&
			       strstr(err, "\"id\":\"b\"") && err[0] == '[');
	free(err);
}

/* --- header values ------------------------------------------------------- */

static const struct {
	const char *raw, *want; /* want NULL: refused */
} decodes[] = {
	{ "tools/call", "tools/call" },
	{ "", "" },
	{ "a b", "a b" },
	{ "=?base64?dG9vbHMvY2FsbA==?=", "tools/call" },
	{ "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=", "=?base64?literal?=" },
	{ "=?base64?w6k=?=", "\xc3\xa9" },
	{ "=?base64?\?=", "" },
	{ "=?base64?dG9vbHMvY2FsbA?=", NULL },   /* unpadded */
	{ "=?base64?dG9vbHMvY2FsbB==?=", NULL }, /* not canonical */
	{ "=?base64?AA==?=", NULL },             /* a NUL */
	{ "=?base64?/w==?=", NULL },             /* not UTF-8 */
	{ "=?base64?dG9v bHM=?=", NULL },
	{ "=?BASE64?dG9vbHM=?=", "=?BASE64?dG9vbHM=?=" }, /* not the form */
	{ "=?base64?dG9vbHM=", "=?base64?dG9vbHM=" },
	{ "caf\xc3\xa9", NULL },                /* 8-bit, raw */
	{ "a\tb", NULL },
	{ "a\x7f", NULL },
};

static void test_decode_table(void)
{
	for (size_t i = 0; i < sizeof(decodes) / sizeof(decodes[0]); i++) {
		char *out = (char *)1;
		int rc = policy_mcp_header_decode(decodes[i].raw, &out);
		if (decodes[i].want == NULL) {
			CU_ASSERT_EQUAL(rc, -1);
			CU_ASSERT_PTR_NULL(out);
		} else {
			CU_ASSERT_EQUAL(rc, 0);
			CU_ASSERT_PTR_NOT_NULL_FATAL(out);
			CU_ASSERT_STRING_EQUAL(out, decodes[i].want);
		}
		if (rc != (decodes[i].want ? 0 : -1))
			fprintf(stderr, "decode \"%s\": %d\n", decodes[i].raw,
				rc);
		free(out);
	}
}

static void test_decode_bound(void)
{
	char *raw = malloc(POLICY_MCP_HEADER_MAX + 2), *out;

	memset(raw, 'a', POLICY_MCP_HEADER_MAX + 1);
	raw[POLICY_MCP_HEADER_MAX] = '\0';
	CU_ASSERT_EQUAL(policy_mcp_header_decode(raw, &out), 0);
	free(out);
	raw[POLICY_MCP_HEADER_MAX] = 'a';
	raw[POLICY_MCP_HEADER_MAX + 1] = '\0';
	CU_ASSERT_EQUAL(policy_mcp_header_decode(raw, &out), -1);
	free(raw);
}

/* --- heads --------------------------------------------------------------- */

static const struct {
	const struct cfg_tool **tool;
	const char *origin;
	unsigned n_origin;
	const char *version;
	int body_checked, status;
	const char *reason;
} heads[] = {
	{ &gh, NULL, 0, NULL, 1, 0, NULL },
	{ &gh, "https://app.example.com", 1, V25, 1, 0, NULL },
	{ &gh, "https://evil.example", 1, V25, 1, 403,
	  "Origin \"https://evil.example\" is not in mcp.allowed_origins" },
	{ &gh, "https://APP.example.com", 1, V25, 1, 403, NULL },
	{ &gh, "https://app.example.com/", 1, V25, 1, 403, NULL },
	{ &gh, "null", 1, V25, 1, 403, NULL },
	{ &gh, "https://app.example.com", 2, V25, 1, 403, "more than one" },
	{ &open_tool, "http://localhost", 1, NULL, 0, 403, NULL },
	{ &open_tool, NULL, 0, NULL, 0, 0, NULL },
	/* a GET or DELETE: the version from the head alone */
	{ &gh, NULL, 0, V25, 0, 0, NULL },
	{ &gh, NULL, 0, NULL, 0, 400, "\"2025-03-26\"" },
	{ &gh, NULL, 0, "2099-01-01", 0, 400, "require_protocol_versions" },
	/* with a body, the worker decides (against _meta too) */
	{ &gh, NULL, 0, "2099-01-01", 1, 0, NULL },
};

static void test_head_table(void)
{
	struct policy_verdict v;

	for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
		int rc = policy_mcp_check_head(*heads[i].tool, heads[i].origin,
					       heads[i].n_origin,
					       heads[i].version,
					       heads[i].body_checked, &v);
		CU_ASSERT_EQUAL(v.status, heads[i].status);
		CU_ASSERT_EQUAL(rc, heads[i].status ? -1 : 0);
		CU_ASSERT(has(v.reason, heads[i].reason));
		if (v.status != heads[i].status)
			fprintf(stderr, "head %zu: %d %s\n", i, v.status,
				v.reason);
	}
}

/* The block's keys as carapaced -t reads them. */
static void test_config_errors(void)
{
	static const struct {
		const char *mcp, *key;
	} bad[] = {
		{ "{\"allowed_origins\": [\"app.example.com\"]}",
		  "tools.t.mcp.allowed_origins[0]" },
		{ "{\"allowed_origins\": [\"https://a/b\"]}",
		  "tools.t.mcp.allowed_origins[0]" },
		{ "{\"require_protocol_versions\": [\"latest\"]}",
		  "tools.t.mcp.require_protocol_versions[0]" },
		{ "{\"tools_allow\": [\"\"]}", "tools.t.mcp.tools_allow[0]" },
		{ "{\"arguments\": {\"x\": {\"field\": \"a\"}}}",
		  "tools.t.mcp.arguments.x" },
		{ "{\"arguments\": {\"x\": {\"field\": \"a\", "
		  "\"allow\": []}}}", "tools.t.mcp.arguments.x.allow" },
		{ "{\"tools\": []}", "tools.t.mcp.tools" },
		{ "[]", "tools.t.mcp" },
	};
	char text[1024];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cfg *c = NULL;
		struct error err;
		snprintf(text, sizeof(text),
			 "{\"listen\": [\"127.0.0.1:1\"], \"tools\": {\"t\": "
			 "{\"type\": \"http\", \"upstream\": "
			 "\"http://127.0.0.1:2\", \"mcp\": %s}}}",
			 bad[i].mcp);
		CU_ASSERT_EQUAL(cfg_load_string(text, &c, &err), -1);
		if (strncmp(err.key, bad[i].key, strlen(bad[i].key)) != 0) {
			fprintf(stderr, "config %zu: %s: %s\n", i, err.key,
				err.msg);
			CU_FAIL("wrong key");
		}
	}
	CU_ASSERT(gh->http.is_jsonrpc && gh->http.has_mcp);
	CU_ASSERT_EQUAL(gh->http.mcp.n_arguments, 2);
}

static int setup(void)
{
	struct error err;

	if (cfg_load_string(conf, &cfg, &err) < 0) {
		fprintf(stderr, "config: %s: %s\n", err.key, err.msg);
		return 1;
	}
	gh = cfg_find_tool(cfg, "gh", 2);
	open_tool = cfg_find_tool(cfg, "open", 4);
	return 0;
}

static int teardown(void)
{
	cfg_release(cfg);
	return 0;
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("policy_mcp", setup, teardown);
	if (s == NULL || !CU_add_test(s, "body table", test_body_table) ||
	    !CU_add_test(s, "errors echo ids", test_error_echoes_ids) ||
	    !CU_add_test(s, "header decoding", test_decode_table) ||
	    !CU_add_test(s, "header bound", test_decode_bound) ||
	    !CU_add_test(s, "head table", test_head_table) ||
	    !CU_add_test(s, "config errors", test_config_errors)) {
		CU_cleanup_registry();
		return 1;
	}
	return cu_run();
}
