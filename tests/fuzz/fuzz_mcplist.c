/* The MCP list filter (mcplist.c) over an upstream's answer to a fixed
 * batch of list requests to fuzz.h's "gw" (tools/list id 1,
 * resources/templates/list id "a", prompts/list id 2.5). The first byte
 * picks the piece size (1 + byte % 16); the rest is the answer. As JSON:
 * a filtered answer is JSON. As an event stream: fed whole and fed in
 * pieces it gives the same verdict and, accepted, the same bytes out;
 * and out of a stream that held no list answer come the bytes in, but
 * for an unfinished last event that could not be read (dropped). */
#include "config.h"

#include <json-c/json.h>

#include "dbuf.h"
#include "fuzz.h"
#include "mcplist.h"

static const char request[] =
	"[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"},"
	"{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":"
	"\"resources/templates/list\"},"
	"{\"jsonrpc\":\"2.0\",\"id\":2.5,\"method\":\"prompts/list\"}]";

static struct mcplist *make(void)
{
	struct mcplist *l = NULL;

	if (mcplist_new(fuzz_tool("gw"), "gw", NULL, request,
			sizeof(request) - 1, &l) < 0 || l == NULL)
		abort();
	return l;
}

static void json(const char *p, size_t n)
{
	struct mcplist *l = make();
	char *out = NULL, why[200];
	size_t out_len = 0;

	if (mcplist_filter_json(l, p, n, &out, &out_len, why,
				sizeof(why)) > 0) {
		struct json_tokener *tok = json_tokener_new();
		struct json_object *o = json_tokener_parse_ex(tok, out,
							      (int)out_len);
		if (o == NULL || out_len != strlen(out))
			abort();
		json_object_put(o);
		json_tokener_free(tok);
	}
	free(out);
	mcplist_free(l);
}

/* The stream in pieces of step bytes: 0 and *out, or -1 refused. */
static int sse(const char *p, size_t n, size_t step, struct dbuf *out,
	       size_t *owed)
{
	struct mcplist *l = make();
	char why[200];
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < n; i += step)
		rc = mcplist_feed_sse(l, p + i, n - i < step ? n - i : step,
				      out, why, sizeof(why));
	if (rc == 0)
		mcplist_finish_sse(l, out);
	*owed = mcplist_owed(l);
	mcplist_free(l);
	return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dbuf whole = DBUF_INIT((size_t)64 << 20);
	struct dbuf split = DBUF_INIT((size_t)64 << 20);
	size_t owed1, owed2;

	if (size == 0)
		return 0;
	const char *p = (const char *)data + 1;
	size_t n = size - 1, step = 1 + data[0] % 16;

	json(p, n);
	int a = sse(p, n, n > 0 ? n : 1, &whole, &owed1);
	int b = sse(p, n, step, &split, &owed2);
	if (a != b || owed1 != owed2)
		abort();
	if (a == 0 && (dbuf_len(&whole) != dbuf_len(&split) ||
		       memcmp(dbuf_str(&whole), dbuf_str(&split),
			      dbuf_len(&whole)) != 0))
		abort();
	/* nothing answered: every byte went on as it came */
	if (a == 0 && owed1 == 3 && (dbuf_len(&whole) > n ||
				     memcmp(dbuf_str(&whole), p,
					    dbuf_len(&whole)) != 0))
		abort();
	dbuf_free(&whole);
	dbuf_free(&split);
	return 0;
}
