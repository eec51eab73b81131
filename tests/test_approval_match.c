/* approval_match: which requests require_approval holds, who "the same
 * client" is, and the JSON-RPC digest a grant is bound to; the keys'
 * bounds and the tool's fingerprint as the config gives them. */
#include "config.h"

#include <CUnit/Basic.h>
#include <string.h>

#include "approvals.h"
#include "cfg.h"
#include "cu_run.h"

#define CONFIG(extra) \
	"{ \"listen\": [\"127.0.0.1:1\"], \"tools\": {\n" \
	"  \"rpc\": { \"type\": \"http\", \"upstream\": \"http://a\",\n" \
	"    \"jsonrpc_deny_methods\": [\"x\"],\n" \
	"    \"require_approval\": { \"jsonrpc_methods\": [\"send\", " \
	"\"rm*\"] } },\n" \
	"  \"web\": { \"type\": \"http\", \"upstream\": \"http://a\",\n" \
	"    \"require_approval\": { \"paths\": [\"/pay/*\"],\n" \
	"      \"http_methods\": [\"POST\"], \"timeout_secs\": 9 } },\n" \
	"  \"get\": { \"type\": \"http\", \"upstream\": \"http://a\",\n" \
	"    \"require_approval\": { \"http_methods\": [\"DELETE\"] } },\n" \
	"  \"none\": { \"type\": \"http\", \"upstream\": \"http://a\",\n" \
	"    \"require_approval\": {} },\n" \
	"  \"free\": { \"type\": \"http\", \"upstream\": \"http://a\"" \
	extra " },\n" \
	"  \"ct\": { \"type\": \"cli\", \"binary\": \"/bin/true\",\n" \
	"    \"require_approval\": { \"argv_patterns\": [\"item del *\"] } }" \
	" } }"

static struct cfg *cfg;

static const struct cfg_tool *tool(const char *name)
{
	return cfg_find_tool(cfg, name, strlen(name));
}

static int rpc(const char *tool_name, const char *m1, const char *m2)
{
	const char *methods[] = { m1, m2 };
	struct approval_call c = { .kind = APPROVAL_JSONRPC,
				   .methods = methods,
				   .n_methods = m2 ? 2 : 1,
				   .http_method = "POST", .path = "/rpc",
				   .path_len = 4 };

	return approvals_required(tool(tool_name), &c, NULL);
}

static int http(const char *tool_name, const char *method, const char *path)
{
	struct approval_call c = { .kind = APPROVAL_HTTP,
				   .http_method = method, .path = path,
				   .path_len = strcspn(path, "?") };

	return approvals_required(tool(tool_name), &c, NULL);
}

static void test_jsonrpc(void)
{
	CU_ASSERT_EQUAL(rpc("rpc", "send", NULL), 1);
	CU_ASSERT_EQUAL(rpc("rpc", "rmFile", NULL), 1);
	CU_ASSERT_EQUAL(rpc("rpc", "version", NULL), 0);
	CU_ASSERT_EQUAL(rpc("rpc", "Send", NULL), 0); /* case counts */
	/* a batch is held whole when one call is */
	CU_ASSERT_EQUAL(rpc("rpc", "version", "send"), 1);
	/* a call without a method name matches nothing */
	CU_ASSERT_EQUAL(rpc("rpc", NULL, NULL), 0);
	CU_ASSERT_EQUAL(rpc("free", "send", NULL), 0);
	CU_ASSERT_EQUAL(rpc("none", "send", NULL), 0);
}

static void test_http(void)
{
	CU_ASSERT_EQUAL(http("web", "POST", "/pay/1"), 1);
	CU_ASSERT_EQUAL(http("web", "POST", "/pay/1?x=2"), 1);
	CU_ASSERT_EQUAL(http("web", "GET", "/pay/1"), 0);
	CU_ASSERT_EQUAL(http("web", "POST", "/read"), 0);
	/* one list alone decides */
	CU_ASSERT_EQUAL(http("get", "DELETE", "/any"), 1);
	CU_ASSERT_EQUAL(http("get", "GET", "/any"), 0);
	CU_ASSERT_EQUAL(http("none", "DELETE", "/any"), 0);
	CU_ASSERT_EQUAL(tool("web")->approval.timeout_secs, 9u);
	CU_ASSERT_EQUAL(tool("get")->approval.timeout_secs, 300u);
	CU_ASSERT(tool("none")->approval.enabled);
	CU_ASSERT(!tool("free")->approval.enabled);
}

static void test_argv(void)
{
	static char item[] = "item", del[] = "del", xy[] = "x y",
		    get[] = "get", x[] = "x";
	char *yes[] = { item, del, xy }, *no[] = { item, get, x };
	struct approval_call c = { .kind = APPROVAL_ARGV, .argv = yes,
				   .argc = 3 };
	const char *rule = NULL;

	CU_ASSERT_EQUAL(approvals_required(tool("ct"), &c, &rule), 1);
	CU_ASSERT(rule && strcmp(rule, "item del *") == 0);
	c.argv = no;
	CU_ASSERT_EQUAL(approvals_required(tool("ct"), &c, &rule), 0);
	CU_ASSERT_PTR_NULL(rule);
}

static void test_client_key(void)
{
	char k[80];

	approvals_client_key("bot", "1.2.3.4:5", k, sizeof(k));
	CU_ASSERT_STRING_EQUAL(k, "bot");
	approvals_client_key(NULL, "1.2.3.4:5", k, sizeof(k));
	CU_ASSERT_STRING_EQUAL(k, "addr:1.2.3.4");
	approvals_client_key(NULL, "[::1]:40312", k, sizeof(k));
	CU_ASSERT_STRING_EQUAL(k, "addr:[::1]");
	approvals_client_key(NULL, "unix:uid=0", k, sizeof(k));
	CU_ASSERT_STRING_EQUAL(k, "addr:unix:uid=0");
}

static void digest(const char *body, unsigned char out[32])
{
	CU_ASSERT_EQUAL(approvals_digest_jsonrpc(body, strlen(body), out), 0);
}

static void test_digest(void)
{
	unsigned char a[32], b[32], c[32], d[32], e[32];

	digest("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"send\","
	       "\"params\":{\"to\":\"A\"}}", a);
	digest("{\"jsonrpc\":\"2.0\",\"id\":77,\"method\":\"send\","
	       "\"params\":{\"to\":\"A\"}}", b);
	digest("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"send\","
	       "\"params\":{\"to\":\"B\"}}", c);
	digest("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"send\","
	       "\"params\":{\"to\":\"A\"}}]", d);
	digest("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sendX\","
	       "\"params\":{\"to\":\"A\"}}", e);
	CU_ASSERT(memcmp(a, b, 32) == 0); /* the id is not the call */
	CU_ASSERT(memcmp(a, c, 32) != 0);
	CU_ASSERT(memcmp(a, d, 32) == 0); /* a batch of one: the same */
	CU_ASSERT(memcmp(a, e, 32) != 0);
}

static void test_fingerprint_and_bounds(void)
{
	struct cfg *other = NULL;
	struct error err;

	CU_ASSERT_EQUAL_FATAL(cfg_load_string(CONFIG(", \"timeout_secs\": 9"),
					      &other, &err), 0);
	const struct cfg_tool *f = cfg_find_tool(other, "free", 4);
	CU_ASSERT(memcmp(f->fingerprint, tool("free")->fingerprint, 32) != 0);
	CU_ASSERT(memcmp(cfg_find_tool(other, "rpc", 3)->fingerprint,
			 tool("rpc")->fingerprint, 32) == 0);
	cfg_release(other);
	other = NULL;
	CU_ASSERT_EQUAL(cfg_load_string(
		"{\"listen\":[\"127.0.0.1:1\"],\"tools\":{\"t\":{\"type\":"
		"\"http\",\"upstream\":\"http://a\",\"require_approval\":"
		"{\"timeout_secs\":0}}}}", &other, &err), -1);
	CU_ASSERT(strstr(err.key, "require_approval.timeout_secs") != NULL);
	CU_ASSERT_EQUAL(cfg_load_string(
		"{\"listen\":[\"127.0.0.1:1\"],\"tools\":{\"t\":{\"type\":"
		"\"cli\",\"binary\":\"/bin/true\",\"require_approval\":"
		"{\"paths\":[\"/x\"]}}}}", &other, &err), -1);
	CU_ASSERT_EQUAL(cfg_load_string(
		"{\"listen\":[\"127.0.0.1:1\"],\"approval_webhook\":\"ftp://x\","
		"\"tools\":{\"t\":{\"type\":\"http\",\"upstream\":\"http://a\""
		"}}}", &other, &err), -1);
	CU_ASSERT_STRING_EQUAL(err.key, "approval_webhook");
}

static int suite_init(void)
{
	struct error err;

	return cfg_load_string(CONFIG(""), &cfg, &err);
}

static int suite_clean(void)
{
	cfg_release(cfg);
	return 0;
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("approval_match", suite_init, suite_clean);
	CU_add_test(s, "JSON-RPC methods", test_jsonrpc);
	CU_add_test(s, "HTTP paths and methods", test_http);
	CU_add_test(s, "argv patterns", test_argv);
	CU_add_test(s, "the same client", test_client_key);
	CU_add_test(s, "the JSON-RPC digest leaves the id out", test_digest);
	CU_add_test(s, "fingerprints and the keys' bounds",
		    test_fingerprint_and_bounds);
	return cu_run();
}
