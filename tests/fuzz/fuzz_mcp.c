/* The mcp block (policy_check_mcp, policy_mcp_header_decode): the agent's
 * MCP headers and body against a fixed tool (fuzz.h's "gw": every key of
 * the block). The input is three lines, the raw Mcp-Method, Mcp-Name and
 * MCP-Protocol-Version (an empty line: the header is absent), then the
 * body. A decoded value is NUL-free UTF-8, and a plain one is itself; an
 * allowed body forwards JSON that passes again with the same headers; a
 * refusal is 400 or 403 with a JSON body. */
#include "config.h"

#include <json-c/json.h>

#include "fuzz.h"
#include "policy.h"
#include "text.h"

static void must_parse(const char *s, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o = json_tokener_parse_ex(tok, s, (int)len);

	if (o == NULL)
		abort();
	json_object_put(o);
	json_tokener_free(tok);
}

/* The next line of [*p, end) as a new string, or NULL when empty. */
static char *next_line(const char **p, const char *end)
{
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));
	size_t n = (size_t)((nl ? nl : end) - *p);
	char *s = n > 0 ? strndup(*p, n) : NULL;

	*p = nl ? nl + 1 : end;
	return s;
}

static void decode(const char *raw)
{
	char *out = NULL;

	if (raw == NULL || policy_mcp_header_decode(raw, &out) < 0) {
		if (out != NULL)
			abort();
		return;
	}
	if (!text_utf8_valid(out, strlen(out)))
		abort();
	if (strncmp(raw, "=?base64?", 9) != 0 && strcmp(out, raw) != 0)
		abort();
	free(out);
}

static int check(const struct cfg_tool *tool,
		 const struct policy_mcp_headers *h, const char *body,
		 size_t len, char **fwd, size_t *fwd_len)
{
	struct policy_verdict v;
	struct policy_calls calls = { 0 };
	char *error_body = NULL;

	*fwd = NULL;
	int rc = policy_check_mcp(tool, h, body, len, fwd, fwd_len,
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
	const char *p = (const char *)data, *end = p + size;
	struct policy_mcp_headers h = { 0 };
	const struct cfg_tool *tool = fuzz_tool("gw");
	char *fwd = NULL, *fwd2 = NULL;
	size_t fwd_len, fwd2_len;

	h.method = next_line(&p, end);
	h.name = next_line(&p, end);
	h.version = next_line(&p, end);
	decode(h.method);
	decode(h.name);
	decode(h.version);
	if (check(tool, &h, p, (size_t)(end - p), &fwd, &fwd_len) == 0) {
		must_parse(fwd, fwd_len);
		/* what goes upstream passes as it stands, headers and all */
		if (check(tool, &h, fwd, fwd_len, &fwd2, &fwd2_len) < 0)
			abort();
	}
	free(fwd2);
	free(fwd);
	free(h.method);
	free(h.name);
	free(h.version);
	return 0;
}
