/* The JSON-RPC policy (policy_check_jsonrpc): a request body, the agent's
 * bytes, against two fixed tools (fuzz.h: signal-cli's rules with aliases
 * and a batch bound; an MCP filter). What it forwards must be JSON that
 * checks the same again (the re-serialised body is what goes upstream),
 * and a refusal's body must be JSON. The first byte picks the tool. */
#include "config.h"

#include <json-c/json.h>

#include "fuzz.h"
#include "jsonparse.h"
#include "policy.h"

static void must_parse(const char *s, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o = json_tokener_parse_ex(tok, s, (int)len);

	if (o == NULL)
		abort();
	json_object_put(o);
	json_tokener_free(tok);
}

static int check(const struct cfg_tool *tool, const char *body, size_t len,
		 char **fwd, size_t *fwd_len)
{
	struct policy_verdict v;
	struct policy_calls calls = { 0 };
	char *error_body = NULL;

	*fwd = NULL;
	int rc = policy_check_jsonrpc(tool, body, len, fwd, fwd_len,
				      &error_body, &v, &calls);
	if (rc == 0 && (*fwd == NULL || v.status != 0))
		abort();
	if (rc < 0 && (error_body == NULL ||
		       (v.status != 400 && v.status != 403)))
		abort();
	if (error_body != NULL)
		must_parse(error_body, strlen(error_body));
	free(error_body);
	policy_calls_free(&calls);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const struct cfg_tool *tool = fuzz_tool(data[0] & 1 ? "mcp" : "sig");
	char *fwd, *fwd2;
	size_t fwd_len, fwd2_len;

	if (check(tool, (const char *)data + 1, size - 1, &fwd, &fwd_len) < 0)
		return 0;
	must_parse(fwd, fwd_len);
	/* what goes upstream is allowed as it stands */
	if (check(tool, fwd, fwd_len, &fwd2, &fwd2_len) < 0)
		abort();
	char *refusal = policy_jsonrpc_refusal(fwd, fwd_len, "rate limited");
	if (refusal != NULL)
		must_parse(refusal, strlen(refusal));
	free(refusal);
	free(fwd2);
	free(fwd);
	return 0;
}
