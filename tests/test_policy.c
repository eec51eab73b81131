/* Unit tests of policy.c: a table of requests and bodies against a few
 * tools, each with the verdict, the reason and what is sent on. */
#include "config.h"

#include <CUnit/Basic.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "cu_run.h"

/* The fixtures are string literals put where the config and the exec spec
 * hold writable strings (char **: the config owns and frees its own);
 * nothing here writes through them, so -Wwrite-strings' const is
 * dropped on purpose in this file. */
#pragma GCC diagnostic ignored "-Wdiscarded-qualifiers"
#pragma GCC diagnostic ignored "-Wcast-qual"

#define STRS(...) \
	{ (char *[]){ __VA_ARGS__ }, \
	  sizeof((char *[]){ __VA_ARGS__ }) / sizeof(char *) }

/* --- fixtures ----------------------------------------------------------- */

static struct cfg_param_filter sig_filters[] = {
	{ .method = "send", .field = "recipient",
	  .allow_patterns = STRS("+1*"), .deny_patterns = STRS("+1900*") },
};

/* signal-cli-like: method lists and a recipient filter */
static const struct cfg_tool sig = {
	.name = "signal-cli",
	.http.is_jsonrpc = 1,
	.http.jsonrpc_allow_methods = STRS("send", "sendTyping", "sendReceipt",
					   "sendReaction", "getAttachment",
					   "version"),
	.http.jsonrpc_deny_methods = STRS("deleteEverything", "removeAccount",
					  "unregister", "*Account"),
	.http.param_filters = sig_filters,
	.http.n_param_filters = 1,
};

static struct cfg_param_filter mcp_filters[] = {
	{ .method = "tools/call", .field = "name",
	  .allow_patterns = STRS("search_*") },
};

/* MCP-like: no method lists, only which tools may be called */
static const struct cfg_tool mcp = {
	.name = "mcp",
	.http.is_jsonrpc = 1,
	.http.param_filters = mcp_filters,
	.http.n_param_filters = 1,
};

static struct cfg_param_filter dot_filters[] = {
	{ .method = "m", .field = "a.b", .allow_patterns = STRS("ok*") },
	{ .method = "d", .field = "x.y", .deny_patterns = STRS("bad*") },
};

/* dotted fields: one allow-filter, one deny-only filter */
static const struct cfg_tool dot = {
	.name = "dot",
	.http.is_jsonrpc = 1,
	.http.param_filters = dot_filters,
	.http.n_param_filters = 2,
};

/* jsonrpc_param_allow (issue 12): send by name only, version with no
 * params, a glob key; the same lists with names exact and folded. */
static struct cfg_param_allow pa_allow[] = {
	{ .method = "send",
	  .params = STRS("recipient", "message", "groupId", "account") },
	{ .method = "version", .params = { NULL, 0 } },
	{ .method = "list*", .params = STRS("account") },
};

static const struct cfg_tool pa = {
	.name = "pa",
	.http.is_jsonrpc = 1,
	.http.param_allow = pa_allow,
	.http.n_param_allow = 3,
};

static const struct cfg_tool pa_sig = {
	.name = "pa-sig",
	.http.is_jsonrpc = 1,
	.http.param_aliases = CFG_ALIASES_SIGNAL_CLI,
	.http.param_allow = pa_allow,
	.http.n_param_allow = 3,
};

/* several filters per method, a glob key, a dashed field, a dotted one;
 * names exact and folded */
static struct cfg_param_filter mf_filters[] = {
	{ .method = "send", .field = "recipient",
	  .allow_patterns = STRS("+1*") },
	{ .method = "send", .field = "recipient",
	  .deny_patterns = STRS("+1900*") },
	{ .method = "send", .field = "message",
	  .deny_patterns = STRS("*http*") },
	{ .method = "send*", .field = "groupId",
	  .deny_patterns = STRS("bad*") },
	{ .method = "sendReceipt", .field = "receipt-type",
	  .allow_patterns = STRS("read") },
	{ .method = "sendReaction", .field = "target.authorNumber",
	  .deny_patterns = STRS("+1555*") },
};

static const struct cfg_tool mf = {
	.name = "mf",
	.http.is_jsonrpc = 1,
	.http.param_filters = mf_filters,
	.http.n_param_filters = 6,
};

static const struct cfg_tool mf_sig = {
	.name = "mf-sig",
	.http.is_jsonrpc = 1,
	.http.param_aliases = CFG_ALIASES_SIGNAL_CLI,
	.http.param_filters = mf_filters,
	.http.n_param_filters = 6,
};

/* batches of at most 3 */
static const struct cfg_tool few = {
	.name = "few",
	.http.is_jsonrpc = 1,
	.http.jsonrpc_max_batch = 3,
};

static const struct cfg_tool web = {
	.name = "web",
	.http.allow_paths = STRS("/api/v1/rpc", "/api/v1/events", "/files/*"),
	.http.allow_http_methods = STRS("GET", "POST"),
};

static struct cfg_header hdr_inject[] = {
	{ .name = "X-Api-Key", .value = "secret" },
};

static const struct cfg_tool hdr = {
	.name = "hdr",
	.http.inject_headers = hdr_inject,
	.http.n_inject_headers = 1,
	.http.forward_headers = STRS("cookie"),
};

static struct cfg_header hdr2_inject[] = {
	{ .name = "Cookie", .value = "session=host-side" },
};

/* forward_headers lists Cookie, but the host injects its own */
static const struct cfg_tool hdr2 = {
	.name = "hdr2",
	.http.inject_headers = hdr2_inject,
	.http.n_inject_headers = 1,
	.http.forward_headers = STRS("Cookie"),
};

/* lists spoofable headers, in '_' spellings; adds its own X-Forwarded-For */
static const struct cfg_tool spoof = {
	.name = "spoof",
	.http.forward_headers = STRS("X_Forwarded_Proto", "x-real-ip",
				     "X-Forwarded-For",
				     "X-HTTP-Method-Override"),
	.http.add_x_forwarded_for = 1,
};

/* names TRACE: the operator asked for it */
static const struct cfg_tool tracer = {
	.name = "tracer",
	.http.allow_http_methods = STRS("GET", "TRACE"),
};

/* 1Password-CLI-like: reads allowed, writes and --session denied */
static const struct cfg_tool op = {
	.name = "op",
	.type = CFG_TOOL_CLI,
	.cli.binary = "/usr/bin/op",
	.cli.argv_allow_patterns = STRS("item get *", "item list*",
					"vault list*", "--version"),
	.cli.argv_deny_patterns = STRS("item delete *", "item create *",
				       "* --session *"),
};

/* deny patterns only: nothing is allowed */
static const struct cfg_tool op_deny_only = {
	.name = "op-deny-only",
	.type = CFG_TOOL_CLI,
	.cli.argv_deny_patterns = STRS("item delete *"),
};

/* no patterns at all: nothing is allowed either */
static const struct cfg_tool op_bare = {
	.name = "op-bare",
	.type = CFG_TOOL_CLI,
};

/* gh-like: anything but --output and -o, in any spelling */
static const struct cfg_tool gh = {
	.name = "gh",
	.type = CFG_TOOL_CLI,
	.cli.argv_allow_patterns = STRS("*"),
	.cli.argv_deny_patterns = STRS("* --token*"),
	.cli.argv_deny_flags = STRS("--output", "-o"),
};

/* a short flag only: its long spellings are the operator's to list */
static const struct cfg_tool gh_short = {
	.name = "gh-short",
	.type = CFG_TOOL_CLI,
	.cli.argv_allow_patterns = STRS("*"),
	.cli.argv_deny_flags = STRS("-o"),
};

/* --- generated inputs --------------------------------------------------- */

/* A growing string for the generators; aborts the test on no memory. */
struct gbuf {
	char *p;
	size_t len, cap;
};

static void gadd(struct gbuf *g, const char *s)
{
	size_t n = strlen(s);

	if (g->len + n + 1 > g->cap) {
		g->cap = (g->len + n + 1) * 2;
		g->p = realloc(g->p, g->cap);
		if (g->p == NULL)
			abort();
	}
	memcpy(g->p + g->len, s, n + 1);
	g->len += n;
}

#define VERSION_WITH_PARAMS "{\"jsonrpc\":\"2.0\",\"method\":\"version\"," \
			    "\"id\":1,\"params\":"

/* params nested so that the value's depth is exactly `depth`. */
static char *nested(size_t *len, int depth)
{
	struct gbuf g = { NULL, 0, 0 };

	gadd(&g, VERSION_WITH_PARAMS);
	for (int i = 1; i < depth; i++)
		gadd(&g, "[");
	for (int i = 1; i < depth; i++)
		gadd(&g, "]");
	gadd(&g, "}");
	*len = g.len;
	return g.p;
}

static char *gen_depth_limit(size_t *len)
{
	return nested(len, 32); /* JSON_TOKENER_DEFAULT_DEPTH */
}

static char *gen_depth_over(size_t *len)
{
	return nested(len, 33);
}

static char *recipients(size_t *len, const char *last)
{
	struct gbuf g = { NULL, 0, 0 };
	char one[32];

	gadd(&g, "{\"jsonrpc\":\"2.0\",\"method\":\"send\",\"id\":9,"
		 "\"params\":{\"message\":\"hi\",\"recipient\":[");
	for (int i = 0; i < 9999; i++) {
		snprintf(one, sizeof(one), "\"+1555%07d\",", i);
		gadd(&g, one);
	}
	gadd(&g, last);
	gadd(&g, "]}}");
	*len = g.len;
	return g.p;
}

static char *gen_10k_last_bad(size_t *len)
{
	return recipients(len, "\"+447700900123\"");
}

static char *gen_10k_good(size_t *len)
{
	return recipients(len, "\"+15559999999\"");
}

/* A batch of n "version" calls. */
static char *version_batch(size_t *len, size_t n)
{
	static const char call[] = "{\"jsonrpc\":\"2.0\",\"method\":"
				   "\"version\",\"id\":1}";
	char *p = malloc(n * sizeof(call) + 2);

	if (p == NULL)
		return NULL;
	*len = 0;
	p[(*len)++] = '[';
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			p[(*len)++] = ',';
		memcpy(p + *len, call, sizeof(call) - 1);
		*len += sizeof(call) - 1;
	}
	p[(*len)++] = ']';
	p[*len] = '\0';
	return p;
}

static char *gen_batch_100(size_t *len)
{
	return version_batch(len, 100);
}

static char *gen_batch_101(size_t *len)
{
	return version_batch(len, 101);
}

static char *path_of(size_t *len, size_t n)
{
	char *p = malloc(n + 1);

	if (p == NULL)
		abort();
	memcpy(p, "/files/", 7);
	memset(p + 7, 'a', n - 7);
	p[n] = '\0';
	*len = n;
	return p;
}

static char *gen_path_8192(size_t *len)
{
	return path_of(len, 8192);
}

static char *gen_path_8193(size_t *len)
{
	return path_of(len, 8193);
}

/* --- the table ---------------------------------------------------------- */

struct pcase {
	const char *name;
	const struct cfg_tool *tool;
	const char *method;  /* HTTP method: a policy_check_request case */
	const char *input;   /* JSON-RPC body, or path */
	size_t len;          /* 0: strlen(input) */
	char *(*gen)(size_t *len); /* makes the input instead (freed) */
	int status;
	const char *reason;  /* substring of the reason; "" when allowed */
	const char *out;     /* substring of the forward or error body */
	const char *out2;    /* another one */
	const char *absent;  /* must not be in the forward or error body */
	int entries;         /* error body: an array of so many; 0 object */
	const char *methods; /* the method names joined by ',', when given */
	int truncated;       /* the names stop at jsonrpc_max_batch */
	size_t calls;        /* requests counted, when given */
};

#define RQ(m, rest) "{\"jsonrpc\":\"2.0\",\"method\":\"" m "\"" rest "}"
#define SEND(r) \
	RQ("send", ",\"params\":{\"recipient\":" r ",\"message\":\"hi\"}," \
		   "\"id\":7")
#define P(m, params) RQ(m, ",\"params\":" params ",\"id\":1")
#define CALL(n) RQ("tools/call", ",\"params\":{\"name\":" n "},\"id\":1")
#define ANOTHER "another request in this batch was denied"
#define DENIED "denied by policy: "
#define NO_ALLOW "matches no allow_patterns pattern"
#define TEN0 "0000000000"

static const struct pcase cases[] = {
	/* --- JSON-RPC: methods --- */
	{ "version allowed", &sig, NULL, RQ("version", ",\"id\":1"),
	  .out = "\"method\":\"version\"", .methods = "version" },
	{ "deny list", &sig, NULL, RQ("removeAccount", ",\"id\":1"),
	  .status = 403,
	  .reason = DENIED "method \"removeAccount\" is in "
		    "jsonrpc_deny_methods",
	  .out = "\"code\":-32000", .methods = "removeAccount" },
	{ "deny glob *Account", &sig, NULL, RQ("deleteAccount", ",\"id\":1"),
	  .status = 403,
	  .reason = "method \"deleteAccount\" is in jsonrpc_deny_methods" },
	{ "not in allow list", &sig, NULL, RQ("listContacts", ",\"id\":1"),
	  .status = 403,
	  .reason = DENIED "method \"listContacts\" is not in "
		    "jsonrpc_allow_methods" },
	{ "method names are case-sensitive", &sig, NULL,
	  RQ("Version", ",\"id\":1"), .status = 403,
	  .reason = "is not in jsonrpc_allow_methods" },
	{ "empty method name", &sig, NULL, RQ("", ",\"id\":1"), .status = 403,
	  .reason = "method \"\" is not in jsonrpc_allow_methods" },
	{ "unicode escape in method", &sig, NULL,
	  RQ("\\u0072emoveAccount", ",\"id\":1"), .status = 403,
	  .reason = "method \"removeAccount\" is in jsonrpc_deny_methods" },
	{ "NUL in method", &sig, NULL, RQ("version\\u0000removeAccount", ""),
	  .status = 400, .reason = "\"method\" contains a NUL",
	  .out = "\"code\":-32600" },
	{ "method a number", &sig, NULL,
	  "{\"jsonrpc\":\"2.0\",\"method\":42,\"id\":1}", .status = 400,
	  .reason = "\"method\" must be a string", .out = "\"id\":1" },
	{ "method missing", &sig, NULL, "{\"jsonrpc\":\"2.0\",\"id\":1}",
	  .status = 400, .reason = "\"method\" must be a string",
	  .methods = "" },
	{ "no method lists: anything goes", &mcp, NULL,
	  RQ("resources/list", ",\"id\":1"), .out = "resources/list" },
	{ "deny wins over allow", &sig, NULL, RQ("unregister", ",\"id\":1"),
	  .status = 403, .reason = "is in jsonrpc_deny_methods" },

	/* --- JSON-RPC: envelope --- */
	{ "jsonrpc 1.0", &sig, NULL,
	  "{\"jsonrpc\":\"1.0\",\"method\":\"version\",\"id\":1}",
	  .status = 400, .reason = "\"jsonrpc\" must be \"2.0\"",
	  .out = "\"code\":-32600" },
	{ "jsonrpc missing", &sig, NULL, "{\"method\":\"version\",\"id\":1}",
	  .status = 400, .reason = "\"jsonrpc\" must be \"2.0\"" },
	{ "jsonrpc a number", &sig, NULL,
	  "{\"jsonrpc\":2.0,\"method\":\"version\",\"id\":1}", .status = 400,
	  .reason = "\"jsonrpc\" must be \"2.0\"" },
	{ "jsonrpc with NUL", &sig, NULL,
	  "{\"jsonrpc\":\"2.0\\u0000\",\"method\":\"version\"}",
	  .status = 400, .reason = "\"jsonrpc\" must be \"2.0\"" },
	{ "params a string", &sig, NULL, RQ("version", ",\"params\":\"x\""),
	  .status = 400,
	  .reason = "\"params\" must be an object or an array" },
	{ "params null", &sig, NULL, RQ("version", ",\"params\":null"),
	  .status = 400, .reason = "\"params\" must be" },
	{ "id true", &sig, NULL, RQ("version", ",\"id\":true"), .status = 400,
	  .reason = "\"id\" must be a string, number or null",
	  .out = "\"id\":null" },
	{ "id an object", &sig, NULL, RQ("version", ",\"id\":{}"),
	  .status = 400, .reason = "\"id\" must be" },
	{ "notification allowed", &sig, NULL, RQ("version", ""),
	  .out = "{\"jsonrpc\":\"2.0\",\"method\":\"version\"}" },
	{ "positional params, no filter", &sig, NULL,
	  RQ("sendTyping", ",\"params\":[\"+15551234567\"],\"id\":1"),
	  .out = "[\"+15551234567\"]" },

	/* --- ids echoed --- */
	{ "string id echoed", &sig, NULL,
	  RQ("removeAccount", ",\"id\":\"abc\""),
	  .status = 403, .out = "},\"id\":\"abc\"}" },
	{ "number id echoed", &sig, NULL, RQ("removeAccount", ",\"id\":42"),
	  .status = 403, .out = "},\"id\":42}" },
	{ "fraction id echoed", &sig, NULL,
	  RQ("removeAccount", ",\"id\":1.50"),
	  .status = 403, .out = "},\"id\":1.50}" },
	{ "null id echoed", &sig, NULL, RQ("removeAccount", ",\"id\":null"),
	  .status = 403, .out = "},\"id\":null}" },
	{ "absent id (notification) denied", &sig, NULL,
	  RQ("removeAccount", ""),
	  .status = 403,
	  .out = "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32000,"
		 "\"message\":\"denied by policy: method \\\"removeAccount\\\""
		 " is in jsonrpc_deny_methods\"},\"id\":null}" },

	/* --- param filters: strings --- */
	{ "recipient allowed", &sig, NULL, SEND("\"+15551234567\""),
	  .out = "\"recipient\":\"+15551234567\"", .methods = "send" },
	{ "recipient not allowed", &sig, NULL, SEND("\"+447700900123\""),
	  .status = 403,
	  .reason = DENIED "param \"recipient\" value \"+447700900123\" "
		    NO_ALLOW,
	  .out = "\"id\":7" },
	{ "recipient denied", &sig, NULL, SEND("\"+19005551234\""),
	  .status = 403,
	  .reason = DENIED "param \"recipient\" value \"+19005551234\" "
		    "matches a deny_patterns pattern" },
	{ "recipient empty string", &sig, NULL, SEND("\"\""), .status = 403,
	  .reason = "value \"\" " NO_ALLOW },
	{ "recipient missing", &sig, NULL,
	  RQ("send", ",\"params\":{\"message\":\"hi\"},\"id\":1"),
	  .status = 403,
	  .reason = DENIED "param \"recipient\" of \"send\" is missing" },
	{ "send without params", &sig, NULL, RQ("send", ",\"id\":1"),
	  .status = 403,
	  .reason = "param \"recipient\" of \"send\" is missing" },
	{ "positional params with an allow-filter", &sig, NULL,
	  RQ("send", ",\"params\":[\"+15551234567\",\"hi\"],\"id\":1"),
	  .status = 403, .reason = "is missing" },
	{ "recipient a number", &sig, NULL, SEND("15551234567"), .status = 403,
	  .reason = DENIED "param \"recipient\" is not a string" },
	{ "recipient null", &sig, NULL, SEND("null"), .status = 403,
	  .reason = "param \"recipient\" is not a string" },
	{ "recipient an object", &sig, NULL, SEND("{\"number\":\"+1555\"}"),
	  .status = 403, .reason = "is not a string" },
	{ "recipient with NUL", &sig, NULL,
	  SEND("\"+15551234567\\u0000+4477\""),
	  .status = 400, .reason = "param \"recipient\" contains a NUL",
	  .out = "\"code\":-32600" },
	{ "recipient unicode escapes", &sig, NULL,
	  SEND("\"\\u002b\\u00315551234567\""),
	  .out = "\"recipient\":\"+15551234567\"" },
	{ "recipient with a newline", &sig, NULL, SEND("\"+44\\n1\""),
	  .status = 403, .reason = "value \"+44?1\" " NO_ALLOW },
	{ "long value capped in the reason", &sig, NULL,
	  SEND("\"+44" TEN0 TEN0 TEN0 TEN0 TEN0 TEN0 TEN0 TEN0 TEN0 "\""),
	  .status = 403,
	  .reason = "value \"+44" TEN0 TEN0 TEN0 TEN0 TEN0 "0000...\" "
		    NO_ALLOW },
	{ "filter is for send only", &sig, NULL,
	  RQ("sendReaction", ",\"params\":{\"recipient\":\"+4477\"},\"id\":1"),
	  .out = "+4477" },

	/* --- param filters: arrays --- */
	{ "recipients all allowed", &sig, NULL,
	  SEND("[\"+15551234567\",\"+15557654321\"]"),
	  .out = "[\"+15551234567\",\"+15557654321\"]" },
	{ "second recipient not allowed", &sig, NULL,
	  SEND("[\"+15551234567\",\"+447700900123\"]"), .status = 403,
	  .reason = "value \"+447700900123\" " NO_ALLOW },
	{ "second recipient denied", &sig, NULL,
	  SEND("[\"+15551234567\",\"+19005551234\"]"), .status = 403,
	  .reason = "value \"+19005551234\" matches a deny_patterns pattern" },
	{ "non-string element", &sig, NULL,
	  SEND("[\"+15551234567\",15551234]"),
	  .status = 403,
	  .reason = DENIED "param \"recipient\" has a non-string element" },
	{ "null element", &sig, NULL, SEND("[null]"), .status = 403,
	  .reason = "has a non-string element" },
	{ "nested array element", &sig, NULL, SEND("[[\"+15551234567\"]]"),
	  .status = 403, .reason = "has a non-string element" },
	{ "NUL in an element", &sig, NULL,
	  SEND("[\"+15551234567\",\"+1555\\u0000x\"]"), .status = 400,
	  .reason = "contains a NUL" },
	{ "empty recipient array", &sig, NULL, SEND("[]"), .status = 403,
	  .reason = "param \"recipient\" of \"send\" is an empty array" },
	{ "10,000 recipients, last one bad", &sig, NULL,
	  .gen = gen_10k_last_bad,
	  .status = 403, .reason = "value \"+447700900123\" " NO_ALLOW,
	  .out = "\"id\":9" },
	{ "10,000 recipients, all good", &sig, NULL, .gen = gen_10k_good,
	  .out = "\"+15559999999\"]", .out2 = "\"+15550000000\"," },

	/* --- duplicate keys: the last one counts, and only it is sent --- */
	{ "duplicate method, denied last", &sig, NULL,
	  "{\"jsonrpc\":\"2.0\",\"method\":\"version\","
	  "\"method\":\"removeAccount\",\"id\":1}",
	  .status = 403, .reason = "\"removeAccount\" is in jsonrpc_deny" },
	{ "duplicate method, allowed last", &sig, NULL,
	  "{\"jsonrpc\":\"2.0\",\"method\":\"removeAccount\","
	  "\"method\":\"version\",\"id\":1}",
	  .out = "\"method\":\"version\"", .absent = "removeAccount",
	  .methods = "version" },
	{ "duplicate recipient, bad last", &sig, NULL,
	  RQ("send", ",\"params\":{\"recipient\":\"+15551234567\","
		     "\"recipient\":\"+447700900123\"}"),
	  .status = 403, .reason = "+447700900123" },
	{ "duplicate recipient, good last", &sig, NULL,
	  RQ("send", ",\"params\":{\"recipient\":\"+447700900123\","
		     "\"recipient\":\"+15551234567\"}"),
	  .out = "{\"recipient\":\"+15551234567\"}", .absent = "+44" },
	{ "duplicate params", &sig, NULL,
	  RQ("send", ",\"params\":{\"recipient\":\"+15551234567\"},"
		     "\"params\":{\"recipient\":\"+447700900123\"}"),
	  .status = 403, .reason = "+447700900123" },

	/* --- what is forwarded is normalised --- */
	{ "whitespace normalised", &sig, NULL,
	  " {\n \"jsonrpc\" : \"2.0\" ,\t\"method\" : \"version\" } \r\n",
	  .out = "{\"jsonrpc\":\"2.0\",\"method\":\"version\"}" },
	{ "unchecked params forwarded", &sig, NULL, SEND("\"+15551234567\""),
	  .out = "\"recipient\":\"+15551234567\",\"message\":\"hi\"}" },
	{ "slash escapes dropped", &mcp, NULL,
	  RQ("x", ",\"params\":{\"u\":\"a\\/b\"}"), .out = "\"a/b\"" },
	{ "NUL in an unchecked param is kept escaped", &mcp, NULL,
	  RQ("x", ",\"params\":{\"m\":\"a\\u0000b\"}"),
	  .out = "\"a\\u0000b\"" },

	/* --- batches --- */
	{ "batch all allowed", &sig, NULL,
	  "[" RQ("version", ",\"id\":1") "," SEND("\"+15551234567\"") "]",
	  .out = "[{\"jsonrpc\":\"2.0\",\"method\":\"version\",\"id\":1},{",
	  .methods = "version,send" },
	{ "batch with one denied", &sig, NULL,
	  "[" RQ("version", ",\"id\":1") ","
	  RQ("removeAccount", ",\"id\":\"b\"") ","
	  SEND("\"+15551234567\"") "]",
	  .status = 403, .reason = "\"removeAccount\" is in jsonrpc_deny",
	  .out = "[{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32000,"
		 "\"message\":\"" DENIED ANOTHER "\"},\"id\":1},",
	  .out2 = "jsonrpc_deny_methods\"},\"id\":\"b\"},{",
	  .entries = 3, .methods = "version,removeAccount,send" },
	{ "batch, bad recipient in 2nd of 2", &sig, NULL,
	  "[" SEND("\"+15551234567\"") "," SEND("[\"+1555\",\"+4477\"]") "]",
	  .status = 403, .reason = "value \"+4477\" " NO_ALLOW,
	  .out = ANOTHER "\"},\"id\":7},", .entries = 2 },
	{ "batch of one denied", &sig, NULL, "[" RQ("unregister", "") "]",
	  .status = 403, .out = "\"id\":null}]", .entries = 1 },
	{ "batch with a non-object", &sig, NULL,
	  "[" RQ("version", ",\"id\":1") ",42]", .status = 400,
	  .reason = "invalid request: not an object",
	  .out = "{\"code\":-32600,\"message\":\"invalid request: not an "
		 "object\"},\"id\":null}]",
	  .entries = 2 },
	{ "batch: malformed makes it 400", &sig, NULL,
	  "[" RQ("removeAccount", ",\"id\":1") ",{\"id\":2}]", .status = 400,
	  .reason = "jsonrpc_deny_methods", .out = "\"code\":-32600",
	  .out2 = "\"code\":-32000", .entries = 2 },
	{ "batch, notifications", &sig, NULL,
	  "[" RQ("version", "") "," RQ("sendTyping", ",\"params\":{}") "]",
	  .out = "\"sendTyping\"", .methods = "version,sendTyping" },
	{ "empty batch", &sig, NULL, "[]", .status = 400,
	  .reason = "invalid request: empty batch",
	  .out = "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,"
		 "\"message\":\"invalid request: empty batch\"},"
		 "\"id\":null}" },
	{ "batch of jsonrpc_max_batch", &few, NULL,
	  "[" RQ("a", "") "," RQ("b", "") "," RQ("c", "") "]",
	  .out = "\"method\":\"c\"", .methods = "a,b,c", .calls = 3 },
	{ "batch over jsonrpc_max_batch", &few, NULL,
	  "[" RQ("a", "") "," RQ("b", "") "," RQ("c", "") "," RQ("d", "")
	  "]",
	  .status = 400,
	  .reason = "invalid request: a batch of 4 requests is more than "
		    "jsonrpc_max_batch (3)",
	  .out = "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,",
	  .out2 = "},\"id\":null}", .methods = "a,b,c", .truncated = 1,
	  .calls = 4 },
	{ "over jsonrpc_max_batch: refused before any is checked", &few,
	  NULL, "[42,{}," RQ("a", "") "," RQ("b", "") "]", .status = 400,
	  .reason = "is more than jsonrpc_max_batch (3)", .methods = "a",
	  .truncated = 1 },
	{ "jsonrpc_max_batch unset: 100", &sig, NULL, .gen = gen_batch_100,
	  .out = "\"method\":\"version\"", .calls = 100 },
	{ "jsonrpc_max_batch unset: 101 refused", &sig, NULL,
	  .gen = gen_batch_101, .status = 400,
	  .reason = "a batch of 101 requests is more than jsonrpc_max_batch "
		    "(100)",
	  .truncated = 1, .calls = 101 },
	{ "a method name with commas is one name", &mcp, NULL,
	  "[" RQ("a,b", "") "," RQ(",", "") "]", .methods = "a,b,,",
	  .calls = 2 },
	{ "mcp batch, one tool not allowed", &mcp, NULL,
	  "[" CALL("\"search_web\"") "," CALL("\"delete_all\"") "]",
	  .status = 403,
	  .reason = DENIED "param \"name\" value \"delete_all\" " NO_ALLOW,
	  .entries = 2 },

	/* --- not JSON, or not JSON-RPC --- */
	{ "empty body", &sig, NULL, "", .status = 400, .reason = "parse error",
	  .out = "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32700,",
	  .out2 = "},\"id\":null}", .methods = "" },
	{ "whitespace only", &sig, NULL, " \n\t ", .status = 400,
	  .reason = "parse error", .out = "-32700" },
	{ "trailing garbage", &sig, NULL, RQ("version", "") " x",
	  .status = 400, .reason = "parse error", .out = "-32700" },
	{ "two values", &sig, NULL, RQ("version", "") RQ("version", ""),
	  .status = 400, .out = "-32700" },
	{ "NUL byte after the value", &sig, NULL,
	  RQ("version", "") "\0" RQ("removeAccount", ""),
	  sizeof(RQ("version", "") "\0" RQ("removeAccount", "")) - 1,
	  .status = 400, .out = "-32700" },
	{ "raw NUL inside a string", &sig, NULL, RQ("vers\0ion", ""),
	  sizeof(RQ("vers\0ion", "")) - 1, .status = 400, .out = "-32700" },
	{ "block comment refused", &sig, NULL,
	  "{\"jsonrpc\":\"2.0\",/* c */\"method\":\"version\"}",
	  .status = 400, .out = "-32700" },
	{ "line comment refused", &sig, NULL, RQ("version", "") " // c",
	  .status = 400, .out = "-32700" },
	{ "single quotes refused", &sig, NULL,
	  "{'jsonrpc':'2.0','method':'version'}", .status = 400,
	  .out = "-32700" },
	{ "trailing comma refused", &sig, NULL,
	  "{\"jsonrpc\":\"2.0\",\"method\":\"version\",}", .status = 400,
	  .out = "-32700" },
	{ "unterminated", &sig, NULL, "{\"jsonrpc\":\"2.0\"", .status = 400,
	  .out = "-32700" },
	{ "NaN refused", &sig, NULL, RQ("version", ",\"id\":NaN"),
	  .status = 400, .out = "-32700" },
	{ "Infinity refused", &mcp, NULL, RQ("x", ",\"params\":[-Infinity]"),
	  .status = 400, .out = "-32700" },
	{ "\"1.\" refused", &mcp, NULL, RQ("x", ",\"params\":[1.]"),
	  .status = 400, .out = "-32700" },
	{ "integer beyond 64 bits refused", &mcp, NULL,
	  RQ("x", ",\"params\":[123456789012345678901234567890]"),
	  .status = 400, .reason = "out of range", .out = "-32700" },
	{ "large integer kept", &mcp, NULL,
	  RQ("x", ",\"params\":[-9223372036854775807,18446744073709551614]"),
	  .out = "[-9223372036854775807,18446744073709551614]" },
	{ "exponent kept", &mcp, NULL, RQ("x", ",\"params\":[1E+2,-0.5e-3]"),
	  .out = "[1E+2,-0.5e-3]" },
	{ "invalid UTF-8 refused", &sig, NULL, RQ("vers\xff", ""),
	  .status = 400, .out = "-32700" },
	{ "nesting at the tokener's limit", &sig, NULL, .gen = gen_depth_limit,
	  .out = "\"params\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]"
		 "]]]]]]]]]]]]]]]]}" },
	{ "nesting beyond the tokener's limit", &sig, NULL,
	  .gen = gen_depth_over, .status = 400, .reason = "nesting too deep",
	  .out = "-32700" },
	{ "top level a number", &sig, NULL, "42", .status = 400,
	  .reason = "invalid request: not an object or an array",
	  .out = "-32600" },
	{ "top level a string", &sig, NULL, "\"version\"", .status = 400,
	  .out = "-32600" },
	{ "top level null", &sig, NULL, "null", .status = 400,
	  .out = "-32600" },

	/* --- MCP-like tool --- */
	{ "mcp search allowed", &mcp, NULL, CALL("\"search_web\""),
	  .out = "\"name\":\"search_web\"", .methods = "tools/call" },
	{ "mcp other tool refused", &mcp, NULL, CALL("\"delete_all\""),
	  .status = 403,
	  .reason = DENIED "param \"name\" value \"delete_all\" " NO_ALLOW },
	{ "mcp name missing", &mcp, NULL,
	  RQ("tools/call", ",\"params\":{\"arguments\":{}}"), .status = 403,
	  .reason = DENIED "param \"name\" of \"tools/call\" is missing" },
	{ "mcp name with NUL", &mcp, NULL, CALL("\"search_\\u0000rm\""),
	  .status = 400, .reason = "contains a NUL" },
	{ "mcp name a number", &mcp, NULL, CALL("7"), .status = 403,
	  .reason = "param \"name\" is not a string" },
	{ "mcp filter matches the method exactly", &mcp, NULL,
	  RQ("tools/callx", ",\"params\":{\"name\":\"rm\"}"), .out = "rm" },
	{ "mcp name with a slash", &mcp, NULL, CALL("\"search_a/b\""),
	  .out = "search_a/b" },

	/* --- dotted fields --- */
	{ "dotted field allowed", &dot, NULL,
	  RQ("m", ",\"params\":{\"a\":{\"b\":\"okay\"}}"), .out = "okay" },
	{ "dotted field refused", &dot, NULL,
	  RQ("m", ",\"params\":{\"a\":{\"b\":\"nope\"}}"), .status = 403,
	  .reason = "param \"a.b\" value \"nope\" " NO_ALLOW },
	{ "dotted field missing", &dot, NULL,
	  RQ("m", ",\"params\":{\"a\":{}}"),
	  .status = 403, .reason = "param \"a.b\" of \"m\" is missing" },
	{ "dotted: non-object on the way", &dot, NULL,
	  RQ("m", ",\"params\":{\"a\":\"b\"}"), .status = 403,
	  .reason = "is missing" },
	{ "dotted: null on the way", &dot, NULL,
	  RQ("m", ",\"params\":{\"a\":null}"), .status = 403,
	  .reason = "is missing" },
	{ "dotted: a key with a dot is not a path", &dot, NULL,
	  RQ("m", ",\"params\":{\"a.b\":\"okay\"}"), .status = 403,
	  .reason = "is missing" },
	{ "dotted: an object at the end", &dot, NULL,
	  RQ("m", ",\"params\":{\"a\":{\"b\":{\"c\":\"ok\"}}}"), .status = 403,
	  .reason = "param \"a.b\" is not a string" },
	{ "deny-only: denied value", &dot, NULL,
	  RQ("d", ",\"params\":{\"x\":{\"y\":\"bad1\"}}"), .status = 403,
	  .reason = "param \"x.y\" value \"bad1\" matches a deny_patterns" },
	{ "deny-only: other value", &dot, NULL,
	  RQ("d", ",\"params\":{\"x\":{\"y\":\"good\"}}"), .out = "good" },
	{ "deny-only: missing is fine", &dot, NULL, RQ("d", ",\"params\":{}"),
	  .out = "\"params\":{}" },
	{ "deny-only: array on the way is missing", &dot, NULL,
	  RQ("d", ",\"params\":{\"x\":[{\"y\":\"bad\"}]}"), .out = "bad" },
	{ "deny-only: denied element", &dot, NULL,
	  RQ("d", ",\"params\":{\"x\":{\"y\":[\"fine\",\"badly\"]}}"),
	  .status = 403, .reason = "value \"badly\" matches a deny_patterns" },

	/* --- jsonrpc_param_allow --- */
	{ "allow-list: listed names pass", &pa, NULL,
	  P("send", "{\"recipient\":\"+1555\",\"message\":\"hi\"}"),
	  .out = "\"message\":\"hi\"" },
	{ "allow-list: values are not looked at", &pa, NULL,
	  P("send", "{\"message\":{\"x\":[1,null]}}"), .out = "null" },
	{ "allow-list: an extra param", &pa, NULL,
	  P("send", "{\"recipient\":\"+1555\",\"attachment\":\"/etc/x\"}"),
	  .status = 403,
	  .reason = DENIED "param \"attachment\" of \"send\" is not in "
		    "jsonrpc_param_allow",
	  .out = "\"code\":-32000", .absent = "/etc/x" },
	{ "allow-list: positional params", &pa, NULL,
	  P("send", "[\"+1555\",\"hi\"]"), .status = 403,
	  .reason = DENIED "positional params of \"send\" "
		    "(jsonrpc_param_allow names them)" },
	{ "allow-list: empty positional params", &pa, NULL, P("send", "[]"),
	  .status = 403, .reason = "positional params of \"send\"" },
	{ "allow-list: no params", &pa, NULL, RQ("send", ",\"id\":1"),
	  .out = "\"method\":\"send\"" },
	{ "allow-list: empty params", &pa, NULL, P("send", "{}"),
	  .out = "\"params\":{}" },
	{ "allow-list: an empty list, empty params", &pa, NULL,
	  P("version", "{}"), .out = "\"params\":{}" },
	{ "allow-list: an empty list, a param", &pa, NULL,
	  P("version", "{\"account\":\"+1\"}"), .status = 403,
	  .reason = "param \"account\" of \"version\" is not in" },
	{ "allow-list: an unlisted method is unaffected", &pa, NULL,
	  P("sendTyping", "{\"anything\":1}"), .out = "anything" },
	{ "allow-list: an unlisted method, positional", &pa, NULL,
	  P("sendTyping", "[1]"), .out = "[1]" },
	{ "allow-list: a glob key", &pa, NULL,
	  P("listGroups", "{\"account\":\"+1\"}"), .out = "listGroups" },
	{ "allow-list: a glob key, an extra param", &pa, NULL,
	  P("listContacts", "{\"account\":\"+1\",\"allRecipients\":true}"),
	  .status = 403,
	  .reason = "param \"allRecipients\" of \"listContacts\" is not" },
	{ "allow-list: exact key is no glob", &pa, NULL,
	  P("sendX", "{\"attachment\":\"/x\"}"), .out = "sendX" },
	{ "allow-list: one bad request denies the batch", &pa, NULL,
	  "[" P("version", "{}") "," P("send", "{\"sticker\":\"1:2\"}") "]",
	  .status = 403, .reason = "param \"sticker\" of \"send\"",
	  .entries = 2, .out = ANOTHER },
	{ "allow-list none: recipients is another name", &pa, NULL,
	  P("send", "{\"recipients\":[\"+1555\"]}"), .status = 403,
	  .reason = "param \"recipients\" of \"send\" is not in" },
	{ "allow-list none: group-id is another name", &pa, NULL,
	  P("send", "{\"group-id\":\"g\"}"), .status = 403,
	  .reason = "param \"group-id\" of \"send\" is not in" },
	{ "allow-list signal-cli: recipients", &pa_sig, NULL,
	  P("send", "{\"recipients\":[\"+1555\"],\"message\":\"hi\"}"),
	  .out = "recipients" },
	{ "allow-list signal-cli: group-id", &pa_sig, NULL,
	  P("send", "{\"group-id\":\"g\"}"), .out = "group-id" },
	{ "allow-list signal-cli: group_id", &pa_sig, NULL,
	  P("send", "{\"group_id\":\"g\"}"), .out = "group_id" },
	{ "allow-list signal-cli: groupIds", &pa_sig, NULL,
	  P("send", "{\"groupIds\":[\"g\"]}"), .out = "groupIds" },
	{ "allow-list signal-cli: group-ids", &pa_sig, NULL,
	  P("send", "{\"group-ids\":[\"g\"]}"), .out = "group-ids" },
	{ "allow-list signal-cli: case still counts", &pa_sig, NULL,
	  P("send", "{\"Recipient\":\"+1555\"}"), .status = 403,
	  .reason = "param \"Recipient\" of \"send\" is not in" },
	{ "allow-list signal-cli: groupid is not groupId", &pa_sig, NULL,
	  P("send", "{\"groupid\":\"g\"}"), .status = 403,
	  .reason = "param \"groupid\" of \"send\"" },
	{ "allow-list signal-cli: one s only", &pa_sig, NULL,
	  P("send", "{\"recipientss\":[\"+1555\"]}"), .status = 403,
	  .reason = "param \"recipientss\" of \"send\"" },
	{ "allow-list signal-cli: recipient_s is not recipients", &pa_sig,
	  NULL, P("send", "{\"recipient_s\":[\"+1555\"]}"), .status = 403,
	  .reason = "param \"recipient_s\" of \"send\"" },
	{ "allow-list signal-cli: attachments", &pa_sig, NULL,
	  P("send", "{\"attachments\":[\"/etc/shadow\"]}"), .status = 403,
	  .reason = "param \"attachments\" of \"send\" is not in" },
	{ "allow-list signal-cli: positional params", &pa_sig, NULL,
	  P("send", "[\"+1555\"]"), .status = 403,
	  .reason = "positional params of \"send\"" },

	/* --- several filters per method, glob keys, aliases --- */
	{ "filters: all pass", &mf, NULL,
	  P("send", "{\"recipient\":\"+1555\",\"message\":\"hi\"}"),
	  .out = "+1555" },
	{ "filters: the first fails", &mf, NULL,
	  P("send", "{\"recipient\":\"+44\",\"message\":\"hi\"}"),
	  .status = 403,
	  .reason = "param \"recipient\" value \"+44\" " NO_ALLOW },
	{ "filters: the second fails", &mf, NULL,
	  P("send", "{\"recipient\":\"+19005\",\"message\":\"hi\"}"),
	  .status = 403,
	  .reason = "param \"recipient\" value \"+19005\" matches a "
		    "deny_patterns" },
	{ "filters: another field's fails", &mf, NULL,
	  P("send", "{\"recipient\":\"+1555\",\"message\":\"http://x\"}"),
	  .status = 403, .reason = "param \"message\" value \"http://x\"" },
	{ "filters: a glob key applies", &mf, NULL,
	  P("sendTyping", "{\"groupId\":\"bad1\"}"), .status = 403,
	  .reason = "param \"groupId\" value \"bad1\" matches a deny" },
	{ "filters: a glob key and exact keys", &mf, NULL,
	  P("send", "{\"recipient\":\"+1555\",\"groupId\":\"bad1\"}"),
	  .status = 403, .reason = "param \"groupId\" value \"bad1\"" },
	{ "filters: a glob key, a good value", &mf, NULL,
	  P("sendTyping", "{\"groupId\":\"good\"}"), .out = "good" },
	{ "filters: a glob key, another method", &mf, NULL,
	  P("receive", "{\"groupId\":\"bad1\"}"), .out = "bad1" },
	{ "filters none: recipients is another param", &mf, NULL,
	  P("send", "{\"recipient\":\"+1555\",\"recipients\":[\"+44\"]}"),
	  .out = "+44" },
	{ "filters none: group-id is another param", &mf, NULL,
	  P("sendTyping", "{\"group-id\":\"bad1\"}"), .out = "bad1" },
	{ "filters none: a dashed field is exact", &mf, NULL,
	  P("sendReceipt", "{\"receiptType\":\"viewed\"}"), .status = 403,
	  .reason = "param \"receipt-type\" of \"sendReceipt\" is missing" },
	{ "filters none: a dotted field is exact", &mf, NULL,
	  P("sendReaction", "{\"target\":{\"author-number\":\"+1555\"}}"),
	  .out = "+1555" },
	{ "filters signal-cli: recipients", &mf_sig, NULL,
	  P("send", "{\"recipients\":[\"+44\"],\"message\":\"hi\"}"),
	  .status = 403,
	  .reason = "param \"recipient\" value \"+44\" " NO_ALLOW },
	{ "filters signal-cli: recipients satisfy allow_patterns", &mf_sig,
	  NULL, P("send", "{\"recipients\":[\"+1555\"]}"), .out = "+1555" },
	{ "filters signal-cli: recipient good, recipients bad", &mf_sig,
	  NULL,
	  P("send", "{\"recipient\":\"+1555\",\"recipients\":[\"+44\"]}"),
	  .status = 403, .reason = "value \"+44\" " NO_ALLOW },
	{ "filters signal-cli: recipients good, recipient bad", &mf_sig,
	  NULL,
	  P("send", "{\"recipients\":[\"+1555\"],\"recipient\":\"+44\"}"),
	  .status = 403, .reason = "value \"+44\" " NO_ALLOW },
	{ "filters signal-cli: recipients against the deny filter", &mf_sig,
	  NULL, P("send", "{\"recipients\":[\"+1555\",\"+19005\"]}"),
	  .status = 403, .reason = "value \"+19005\" matches a deny" },
	{ "filters signal-cli: trailing separators fold away", &mf_sig, NULL,
	  P("send", "{\"recipient\":\"+1555\",\"recipient__\":\"+44\"}"),
	  .status = 403, .reason = "value \"+44\" " NO_ALLOW },
	{ "filters signal-cli: messages", &mf_sig, NULL,
	  P("send", "{\"recipient\":\"+1555\",\"messages\":\"http://x\"}"),
	  .status = 403, .reason = "param \"message\" value \"http://x\"" },
	{ "filters signal-cli: groupId", &mf_sig, NULL,
	  P("sendTyping", "{\"groupId\":\"bad1\"}"), .status = 403,
	  .reason = "param \"groupId\" value \"bad1\" matches a deny" },
	{ "filters signal-cli: group-id", &mf_sig, NULL,
	  P("sendTyping", "{\"group-id\":\"bad1\"}"), .status = 403,
	  .reason = "param \"groupId\" value \"bad1\" matches a deny" },
	{ "filters signal-cli: group_id", &mf_sig, NULL,
	  P("sendTyping", "{\"group_id\":\"bad1\"}"), .status = 403,
	  .reason = "param \"groupId\" value \"bad1\" matches a deny" },
	{ "filters signal-cli: groupIds", &mf_sig, NULL,
	  P("sendTyping", "{\"groupIds\":[\"ok\",\"bad1\"]}"), .status = 403,
	  .reason = "param \"groupId\" value \"bad1\" matches a deny" },
	{ "filters signal-cli: group-ids", &mf_sig, NULL,
	  P("sendTyping", "{\"group-ids\":[\"bad1\"]}"), .status = 403,
	  .reason = "param \"groupId\" value \"bad1\" matches a deny" },
	{ "filters signal-cli: every spelling at once", &mf_sig, NULL,
	  P("sendTyping", "{\"groupId\":\"ok\",\"group-id\":\"ok\","
			  "\"group_id\":\"bad1\"}"),
	  .status = 403, .reason = "value \"bad1\" matches a deny" },
	{ "filters signal-cli: groupid is not a spelling", &mf_sig, NULL,
	  P("sendTyping", "{\"groupid\":\"bad1\"}"), .out = "bad1" },
	{ "filters signal-cli: case still counts", &mf_sig, NULL,
	  P("sendTyping", "{\"GroupId\":\"bad1\"}"), .out = "bad1" },
	{ "filters signal-cli: a dashed field, camelCase key", &mf_sig, NULL,
	  P("sendReceipt", "{\"receiptType\":\"viewed\"}"), .status = 403,
	  .reason = "param \"receipt-type\" value \"viewed\" " NO_ALLOW },
	{ "filters signal-cli: a dashed field, snake key", &mf_sig, NULL,
	  P("sendReceipt", "{\"receipt_type\":\"read\"}"), .out = "read" },
	{ "filters signal-cli: a dotted field, folded per component",
	  &mf_sig, NULL,
	  P("sendReaction", "{\"target\":{\"author-number\":\"+1555\"}}"),
	  .status = 403, .reason = "param \"target.authorNumber\" value" },
	{ "filters signal-cli: a dotted field, both components", &mf_sig,
	  NULL,
	  P("sendReaction", "{\"targets\":{\"author_number\":\"+15550\"},"
			    "\"target\":{\"authorNumber\":\"+1444\"}}"),
	  .status = 403, .reason = "value \"+15550\" matches a deny" },
	{ "filters signal-cli: positional params are missing", &mf_sig, NULL,
	  P("send", "[\"+44\"]"), .status = 403,
	  .reason = "param \"recipient\" of \"send\" is missing" },

	/* --- HTTP method and path --- */
	{ "GET an allowed path", &web, "GET", "/api/v1/rpc", .status = 0 },
	{ "POST an allowed path", &web, "POST", "/api/v1/events",
	  .status = 0 },
	{ "DELETE not allowed", &web, "DELETE", "/api/v1/rpc", .status = 405,
	  .reason = DENIED "method \"DELETE\" is not in allow_http_methods" },
	{ "methods are case-sensitive", &web, "get", "/api/v1/rpc",
	  .status = 405, .reason = "method \"get\" is not in" },
	{ "TRACE refused with no method list", &sig, "TRACE", "/",
	  .status = 405,
	  .reason = DENIED "method \"TRACE\" is allowed only when named in "
		    "allow_http_methods" },
	{ "TRACK refused with no method list", &sig, "TRACK", "/",
	  .status = 405, .reason = "method \"TRACK\" is allowed only" },
	{ "trace refused in any case", &sig, "trace", "/", .status = 405 },
	{ "TrAcK refused in any case", &sig, "TrAcK", "/", .status = 405 },
	{ "TRACE not in a method list", &web, "TRACE", "/api/v1/rpc",
	  .status = 405, .reason = "method \"TRACE\" is not in" },
	{ "TRACE named in the method list", &tracer, "TRACE", "/x",
	  .status = 0 },
	{ "TRACK not named beside TRACE", &tracer, "TRACK", "/x",
	  .status = 405 },
	{ "TRACES is another method", &sig, "TRACES", "/", .status = 0 },
	{ "path matches no pattern", &web, "GET", "/api/v1/other",
	  .status = 403,
	  .reason = DENIED "path \"/api/v1/other\" matches no allow_paths "
		    "pattern" },
	{ "'*' matches across '/'", &web, "GET", "/files/a/b/c.txt",
	  .status = 0 },
	{ "'*' matches nothing", &web, "GET", "/files/", .status = 0 },
	{ "prefix is not a match", &web, "GET", "/files", .status = 403 },
	{ "exact pattern, longer path", &web, "GET", "/api/v1/rpc/x",
	  .status = 403 },
	{ "paths are case-sensitive", &web, "GET", "/API/v1/rpc",
	  .status = 403 },
	{ "only path_len bytes count", &web, "GET", "/api/v1/rpcXYZ", 11,
	  .status = 0 },
	{ "only path_len bytes count, denied", &web, "GET", "/api/v1/rpXYZ",
	  10, .status = 403, .reason = "path \"/api/v1/rp\" matches no" },
	{ "control character in path", &web, "GET", "/files/a\nb",
	  .status = 400, .reason = "control character" },
	{ "DEL in path", &web, "GET", "/files/a\x7f", .status = 400 },
	{ "NUL in path", &web, "GET", "/files/a\0b", 10, .status = 400 },
	{ "8 KiB path", &web, "GET", .gen = gen_path_8192 },
	{ "8 KiB + 1 path", &web, "GET", .gen = gen_path_8193, .status = 400,
	  .reason = "longer than 8192" },
	{ "no lists: anything goes", &sig, "DELETE", "/whatever/x",
	  .status = 0 },
	{ "no lists: control characters still refused", &sig, "GET",
	  "/a\tb", .status = 400 },
	{ "method checked before path", &web, "PUT", "/nope", .status = 405 },
};

/* --- running it --------------------------------------------------------- */

static int fails(const struct pcase *c, const char *what)
{
	fprintf(stderr, "\n    case \"%s\": %s", c->name, what);
	return 1;
}

static int has(const char *hay, const char *needle)
{
	return needle == NULL || (hay != NULL && strstr(hay, needle) != NULL);
}

static int lacks(const char *hay, const char *needle)
{
	return needle == NULL || hay == NULL || strstr(hay, needle) == NULL;
}

/* The shape of an error body: an object, or an array of n objects. */
static int body_shape(const char *body, int entries)
{
	struct json_object *o = json_tokener_parse(body);
	int ok;

	if (entries == 0)
		ok = json_object_is_type(o, json_type_object);
	else
		ok = json_object_is_type(o, json_type_array) &&
		     json_object_array_length(o) == (size_t)entries;
	json_object_put(o);
	return ok;
}

static int check_out(const struct pcase *c, const char *out)
{
	int bad = 0;

	if (!has(out, c->out))
		bad = fails(c, "out lacks .out");
	if (!has(out, c->out2))
		bad = fails(c, "out lacks .out2");
	if (!lacks(out, c->absent))
		bad = fails(c, "out has .absent");
	return bad;
}

static int run_request(const struct pcase *c, const char *in, size_t len)
{
	struct policy_verdict v;
	int rc = policy_check_request(c->tool, c->method, in, len, &v);
	int bad = 0;

	if (v.status != c->status || rc != (c->status ? -1 : 0))
		bad = fails(c, v.reason[0] ? v.reason : "wrong status");
	if (!has(v.reason, c->reason ? c->reason : ""))
		bad = fails(c, v.reason);
	if (c->status == 0 && v.reason[0] != '\0')
		bad = fails(c, "a reason when allowed");
	return bad;
}

static int check_rpc_allowed(const struct pcase *c, const char *fwd,
			     size_t fwd_len, const char *err)
{
	int bad = 0;

	if (fwd == NULL || err != NULL)
		return fails(c, "allowed without forward or with an error");
	if (strlen(fwd) != fwd_len)
		bad = fails(c, "forward_len is wrong");
	if (!body_shape(fwd, 0) && !has(fwd, "["))
		bad = fails(c, "forward is not JSON");
	return bad | check_out(c, fwd);
}

static int check_rpc_denied(const struct pcase *c, const char *fwd,
			    const char *err)
{
	int bad = 0;

	if (fwd != NULL || err == NULL)
		return fails(c, "denied with forward or without an error");
	if (!body_shape(err, c->entries))
		bad = fails(c, err);
	return bad | check_out(c, err);
}

/* The method names joined by ',' (a name's own commas stay), or "!"
 * when methods is not an array of strings. */
static void join_methods(struct json_object *methods, char *out,
			 size_t cap)
{
	size_t len = 0;

	snprintf(out, cap, "!");
	if (!json_object_is_type(methods, json_type_array))
		return;
	out[0] = '\0';
	for (size_t i = 0; i < json_object_array_length(methods); i++) {
		struct json_object *m = json_object_array_get_idx(methods, i);
		if (!json_object_is_type(m, json_type_string)) {
			snprintf(out, cap, "!");
			return;
		}
		len += (size_t)snprintf(out + len, cap - len, "%s%s",
					i ? "," : "", json_object_get_string(m));
		if (len >= cap)
			return;
	}
}

static int run_rpc(const struct pcase *c, const char *in, size_t len)
{
	struct policy_verdict v;
	struct policy_calls calls;
	char *fwd = NULL, *err = NULL, methods[128];
	size_t fwd_len = 0;
	int rc, bad = 0;

	rc = policy_check_jsonrpc(c->tool, in, len, &fwd, &fwd_len, &err, &v,
				  &calls);
	if (v.status != c->status || rc != (c->status ? -1 : 0))
		bad = fails(c, v.reason[0] ? v.reason : "wrong status");
	if (!has(v.reason, c->reason ? c->reason : ""))
		bad = fails(c, v.reason);
	join_methods(calls.methods, methods, sizeof(methods));
	if (c->methods != NULL && strcmp(methods, c->methods) != 0)
		bad = fails(c, methods);
	if (calls.truncated != c->truncated)
		bad = fails(c, "wrong truncated");
	if (c->calls != 0 && calls.n != c->calls)
		bad = fails(c, "wrong count of calls");
	policy_calls_free(&calls);
	if (rc == 0)
		bad |= check_rpc_allowed(c, fwd, fwd_len, err);
	else
		bad |= check_rpc_denied(c, fwd, err);
	free(fwd);
	free(err);
	return bad;
}

static void test_policy_table(void)
{
	size_t n = sizeof(cases) / sizeof(cases[0]);

	CU_ASSERT(n >= 60);
	for (size_t i = 0; i < n; i++) {
		const struct pcase *c = &cases[i];
		size_t len = c->len ? c->len : c->input ? strlen(c->input) : 0;
		char *made = c->gen ? c->gen(&len) : NULL;
		const char *in = made ? made : c->input;
		int bad = c->method ? run_request(c, in, len) :
				      run_rpc(c, in, len);
		CU_ASSERT(!bad);
		free(made);
	}
}

/* --- cli argv ----------------------------------------------------------- */

struct acase {
	const char *name;
	const struct cfg_tool *tool;
	char *const *argv;
	size_t argc;
	int status;
	const char *reason; /* exact; "" when allowed */
};

#define ARGV(...) \
	(char *const[]){ __VA_ARGS__ }, \
	sizeof((char *const[]){ __VA_ARGS__ }) / sizeof(char *)
#define ARGV_DENY(argv, pat) \
	DENIED "argv \"" argv "\" matches argv_deny_patterns pattern \"" \
	pat "\""
#define ARGV_NO_ALLOW(argv) \
	DENIED "argv \"" argv "\" matches no argv_allow_patterns pattern"
#define A47 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define A50 A47 "aaa"

static const struct acase acases[] = {
	/* allowed */
	{ "--version", &op, ARGV("--version"), 0, "" },
	{ "item get", &op, ARGV("item", "get", "x"), 0, "" },
	{ "item list, prefix glob", &op, ARGV("item", "list"), 0, "" },
	{ "item list with options", &op,
	  ARGV("item", "list", "--vault", "Private"), 0, "" },
	{ "vault list", &op, ARGV("vault", "list"), 0, "" },
	/* An argument holding a space joins like any other (policy.h): the
	 * check sees "item get a b", which "item get *" matches.  Fine, as
	 * the binary then gets "a b" as one argument of "item get". */
	{ "argument with a space", &op, ARGV("item", "get", "a b"), 0, "" },
	/* ...and so does one argument that is the whole command line; the
	 * binary sees a single odd argument, not "item get x". */
	{ "one argument, whole line", &op, ARGV("item get x"), 0, "" },
	/* '*' matches the empty string: "item get " */
	{ "empty last argument", &op, ARGV("item", "get", ""), 0, "" },
	/* no FNM_PATHNAME / FNM_PERIOD: '*' matches '/', '.', '\n' */
	{ "newline matched literally", &op, ARGV("item", "get", "a\nb"), 0,
	  "" },
	{ "slash and dot", &op, ARGV("item", "get", "../../etc/passwd"), 0,
	  "" },
	/* no shell runs the argv: metacharacters are plain bytes */
	{ "$(id) is a plain argument", &op, ARGV("item", "get", "$(id)"), 0,
	  "" },
	{ "backquotes are plain", &op, ARGV("item", "get", "`x`"), 0, "" },
	{ "glob characters in argv", &op, ARGV("item", "get", "*", "[a-z]"),
	  0, "" },
	/* one command with ";" among its arguments: patterns are anchored,
	 * so "item delete *" does not match in the middle */
	{ "; does not start a command", &op,
	  ARGV("vault", "list", ";", "item", "delete", "x"), 0, "" },

	/* deny patterns */
	{ "item delete", &op, ARGV("item", "delete", "x"), 403,
	  ARGV_DENY("item delete x", "item delete *") },
	{ "item create", &op, ARGV("item", "create", "--title", "t"), 403,
	  ARGV_DENY("item create --title t", "item create *") },
	{ "deny wins over allow", &op,
	  ARGV("item", "get", "x", "--session", "tok"), 403,
	  ARGV_DENY("item get x --session tok", "* --session *") },
	{ "a space cannot dodge a deny pattern", &op,
	  ARGV("item", "delete x"), 403,
	  ARGV_DENY("item delete x", "item delete *") },
	{ "newline in a denied argv quoted as ?", &op,
	  ARGV("item", "delete", "a\nb"), 403,
	  ARGV_DENY("item delete a?b", "item delete *") },
	{ "escape bytes quoted as ?", &op,
	  ARGV("item", "delete", "\x1b[2J\x7f"), 403,
	  ARGV_DENY("item delete ?[2J?", "item delete *") },
	{ "deny glob * matches *", &op, ARGV("item", "delete", "*"), 403,
	  ARGV_DENY("item delete *", "item delete *") },

	/* no allow pattern matches */
	{ "item get without an item", &op, ARGV("item", "get"), 403,
	  ARGV_NO_ALLOW("item get") },
	{ "item edit", &op, ARGV("item", "edit", "x"), 403,
	  ARGV_NO_ALLOW("item edit x") },
	{ "--version with more", &op, ARGV("--version", "x"), 403,
	  ARGV_NO_ALLOW("--version x") },
	{ "case-sensitive", &op, ARGV("Item", "get", "x"), 403,
	  ARGV_NO_ALLOW("Item get x") },
	{ "$(id) alone", &op, ARGV("$(id)"), 403, ARGV_NO_ALLOW("$(id)") },
	{ "; alone", &op, ARGV(";"), 403, ARGV_NO_ALLOW(";") },
	{ "leading empty argument", &op, ARGV("", "item", "get", "x"), 403,
	  ARGV_NO_ALLOW(" item get x") },
	{ "empty argument in the middle", &op,
	  ARGV("item", "", "get", "x"), 403, ARGV_NO_ALLOW("item  get x") },
	{ "one empty argument", &op, ARGV(""), 403, ARGV_NO_ALLOW("") },
	{ "no arguments", &op, NULL, 0, 403, ARGV_NO_ALLOW("") },
	{ "long argv quoted short", &op, ARGV("item", "edit", A50 A50), 403,
	  ARGV_NO_ALLOW("item edit " A47 "...") }, /* 60 bytes in all */
	{ "deny patterns only", &op_deny_only, ARGV("--version"), 403,
	  ARGV_NO_ALLOW("--version") },
	{ "deny only, deny matches", &op_deny_only,
	  ARGV("item", "delete", "x"), 403,
	  ARGV_DENY("item delete x", "item delete *") },
	{ "no patterns", &op_bare, ARGV("--version"), 403,
	  ARGV_NO_ALLOW("--version") },
	{ "no patterns, no arguments", &op_bare, NULL, 0, 403,
	  ARGV_NO_ALLOW("") },
};

/* argv_deny_flags: every spelling getopt_long accepts (policy.h) */
#define FLAG(arg, flag) \
	DENIED "argument \"" arg "\" spells \"" flag "\" of argv_deny_flags"

static const struct acase fcases[] = {
	/* allowed: other options, operands, what follows a lone "--" */
	{ "no arguments", &gh, NULL, 0, 0, "" },
	{ "another long option", &gh, ARGV("--version"), 0, "" },
	{ "longer than the name", &gh, ARGV("--outputs"), 0, "" },
	{ "another name sharing a start", &gh, ARGV("--output-dir", "d"), 0,
	  "" },
	{ "three dashes", &gh, ARGV("---output"), 0, "" },
	{ "the flag as a value", &gh, ARGV("--format=--output"), 0, "" },
	{ "short cluster without o", &gh, ARGV("-vxf", "file"), 0, "" },
	{ "operand holding o", &gh, ARGV("repo", "foo-o"), 0, "" },
	{ "lone dash", &gh, ARGV("-", "x"), 0, "" },
	{ "after a lone --", &gh, ARGV("--", "--output", "-o"), 0, "" },
	{ "after an operand and --", &gh, ARGV("x", "--", "-o"), 0, "" },
	{ "after --name=v and --", &gh, ARGV("--title=t", "--", "-o"), 0,
	  "" },
	{ "long prefix not listed", &gh_short, ARGV("--o", "--output"), 0,
	  "" },

	{ "-W with another long name", &gh, ARGV("-W", "verbose"), 0, "" },

	/* denied: the long option */
	{ "--output", &gh, ARGV("--output", "f"), 403,
	  FLAG("--output", "--output") },
	/* getopt_long's "W;": -W name is --name */
	{ "-W output", &gh, ARGV("-W", "output=f"), 403,
	  FLAG("-W", "--output") },
	{ "-Wout", &gh, ARGV("-Wout=f"), 403, FLAG("-Wout=f", "--output") },
	{ "-vW outp", &gh, ARGV("-vW", "outp"), 403, FLAG("-vW", "--output") },
	{ "--output=FILE", &gh, ARGV("--output=/etc/x"), 403,
	  FLAG("--output=/etc/x", "--output") },
	{ "--output= empty", &gh, ARGV("--output="), 403,
	  FLAG("--output=", "--output") },
	{ "--out=FILE", &gh, ARGV("pr", "view", "--out=FILE"), 403,
	  FLAG("--out=FILE", "--output") },
	{ "--o, shortest prefix", &gh, ARGV("--o", "f"), 403,
	  FLAG("--o", "--output") },
	{ "--outp, any prefix", &gh, ARGV("--outp", "f"), 403,
	  FLAG("--outp", "--output") },
	/* getopt_long takes an empty name as a prefix of every name */
	{ "--=FILE", &gh, ARGV("--=FILE"), 403, FLAG("--=FILE", "--output") },
	{ "after an operand", &gh, ARGV("x", "--output", "f"), 403,
	  FLAG("--output", "--output") },

	/* denied: the short option, anywhere in a cluster */
	{ "-o", &gh, ARGV("-o", "f"), 403, FLAG("-o", "-o") },
	{ "-ofile", &gh, ARGV("-ofile"), 403, FLAG("-ofile", "-o") },
	{ "-mo FILE", &gh, ARGV("-mo", "FILE"), 403, FLAG("-mo", "-o") },
	{ "-vxo", &gh, ARGV("-vxo", "f"), 403, FLAG("-vxo", "-o") },
	/* fail closed: "o" may be -f's value, or -f may take none */
	{ "-fo", &gh, ARGV("-fo"), 403, FLAG("-fo", "-o") },
	{ "short only", &gh_short, ARGV("-mo"), 403, FLAG("-mo", "-o") },

	/* a "--" that may be an option's value ends nothing */
	{ "-m -- --output", &gh, ARGV("-m", "--", "--output"), 403,
	  FLAG("--output", "--output") },
	{ "--title -- -o", &gh, ARGV("--title", "--", "-o"), 403,
	  FLAG("-o", "-o") },
	{ "-- -- -o", &gh, ARGV("--", "--", "-o"), 0, "" },

	/* deny patterns are checked first; arguments are quoted */
	{ "pattern first", &gh, ARGV("x", "--token", "--out"), 403,
	  ARGV_DENY("x --token --out", "* --token*") },
	{ "quoted", &gh, ARGV("--out=\x1b[2J"), 403,
	  FLAG("--out=?[2J", "--output") },
};

static int afails(const struct acase *c, const char *what)
{
	fprintf(stderr, "\n    argv case \"%s\": %s", c->name, what);
	return 1;
}

static int run_argv(const struct acase *c)
{
	struct policy_verdict v;
	int rc, bad = 0;

	memset(&v, 'x', sizeof(v));
	rc = policy_check_argv(c->tool, c->argv, c->argc, &v);
	if (v.status != c->status || rc != (c->status ? -1 : 0))
		bad = afails(c, "wrong status");
	if (strcmp(v.reason, c->reason) != 0)
		bad = afails(c, v.reason);
	return bad;
}

static void test_argv_table(void)
{
	size_t n = sizeof(acases) / sizeof(acases[0]);

	CU_ASSERT(n >= 20);
	for (size_t i = 0; i < n; i++)
		CU_ASSERT(!run_argv(&acases[i]));
}

static void test_argv_deny_flags(void)
{
	size_t n = sizeof(fcases) / sizeof(fcases[0]);

	CU_ASSERT(n >= 20);
	for (size_t i = 0; i < n; i++)
		CU_ASSERT(!run_argv(&fcases[i]));
}

/* argv joined: at most 65536 bytes; the limit counts the spaces. */
static void test_argv_long(void)
{
	const size_t max = 65536;
	char *big = malloc(max + 2), *small[40000];
	char *argv[3] = { "item", "get", big };
	struct policy_verdict v;
	size_t i;

	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	/* "item get " + 65527 bytes = 65536 */
	memset(big, 'a', max - 9);
	big[max - 9] = '\0';
	CU_ASSERT_EQUAL(policy_check_argv(&op, argv, 3, &v), 0);
	CU_ASSERT_EQUAL(v.status, 0);
	big[max - 9] = 'a';
	big[max - 8] = '\0';
	CU_ASSERT_EQUAL(policy_check_argv(&op, argv, 3, &v), -1);
	CU_ASSERT_EQUAL(v.status, 400);
	CU_ASSERT_PTR_NOT_NULL(strstr(v.reason, "argv too long"));
	/* many short arguments: the spaces push it over */
	for (i = 0; i < 40000; i++)
		small[i] = "ab";
	CU_ASSERT_EQUAL(policy_check_argv(&op, small, 40000, &v), -1);
	CU_ASSERT_EQUAL(v.status, 400);
	CU_ASSERT_PTR_NOT_NULL(strstr(v.reason, "argv too long"));
	/* 21845 x "ab" + 21844 spaces = 65534: fits, and "item..." no */
	CU_ASSERT_EQUAL(policy_check_argv(&op, small, 21845, &v), -1);
	CU_ASSERT_EQUAL(v.status, 403);
	free(big);
}

/* What cannot be checked is denied. */
static void test_argv_bad_arguments(void)
{
	char *const with_null[] = { "item", NULL, "x" };
	char *const version[] = { "--version" };
	struct policy_verdict v;

	CU_ASSERT_EQUAL(policy_check_argv(NULL, version, 1, &v), -1);
	CU_ASSERT_EQUAL(v.status, 500);
	CU_ASSERT_EQUAL(policy_check_argv(&op, NULL, 1, &v), -1);
	CU_ASSERT_EQUAL(v.status, 500);
	CU_ASSERT_EQUAL(policy_check_argv(&op, with_null, 3, &v), -1);
	CU_ASSERT_EQUAL(v.status, 400);
	CU_ASSERT_EQUAL(policy_check_argv(&op, version, 1, &v), 0);
	CU_ASSERT_EQUAL(v.status, 0);
	CU_ASSERT_STRING_EQUAL(v.reason, "");
}

/* --- headers ------------------------------------------------------------ */

struct hcase {
	const struct cfg_tool *tool;
	const char *name;
	int forward;
};

static const struct hcase hcases[] = {
	{ &sig, "Authorization", 0 },
	{ &sig, "authorization", 0 },
	{ &sig, "AUTHORIZATION", 0 },
	{ &sig, "Proxy-Authorization", 0 },
	{ &sig, "proxy-AUTHORIZATION", 0 },
	{ &sig, "Cookie", 0 },
	{ &sig, "cookie", 0 },
	{ &sig, "Content-Type", 1 },
	{ &sig, "Accept", 1 },
	{ &sig, "X-Api-Key", 1 },
	{ &sig, "Authorization2", 1 },
	{ &hdr, "X-Api-Key", 0 },
	{ &hdr, "x-api-key", 0 },
	{ &hdr, "X-API-KEY", 0 },
	{ &hdr, "Cookie", 1 },
	{ &hdr, "COOKIE", 1 },
	{ &hdr, "Authorization", 0 },
	{ &hdr, "Proxy-Authorization", 0 },
	{ &hdr, "Set-Cookie", 1 },
	{ &hdr, "X-Api-Key-2", 1 },
	{ &hdr2, "Cookie", 0 },
	{ &hdr2, "cookie", 0 },
	{ &hdr2, "Accept", 1 },
	{ &web, "Cookie", 0 },
	{ &web, "Authorization", 0 },
	{ &web, "User-Agent", 1 },
	/* '-' and '_' fold: CGI/WSGI upstreams read both as '_' */
	{ &sig, "Proxy_Authorization", 0 },
	{ &sig, "authorization", 0 },
	{ &hdr, "X_Api_Key", 0 },
	{ &hdr, "x_API-key", 0 },
	{ &hdr, "XApiKey", 1 },
	{ &hdr, "X_Api_Key_2", 1 },
	{ &hdr2, "COOKIE", 0 },
	/* spoofable and method-changing: only when listed */
	{ &sig, "Forwarded", 0 },
	{ &sig, "X-Forwarded-For", 0 },
	{ &sig, "X_Forwarded_For", 0 },
	{ &sig, "X-Forwarded-Host", 0 },
	{ &sig, "x-forwarded-proto", 0 },
	{ &sig, "X-Forwarded-Anything", 0 },
	{ &sig, "X-Real-IP", 0 },
	{ &sig, "X_Real_Ip", 0 },
	{ &sig, "X-HTTP-Method-Override", 0 },
	{ &sig, "X-HTTP-Method", 0 },
	{ &sig, "X-Method-Override", 0 },
	{ &sig, "x_method_override", 0 },
	{ &sig, "X-Forwarded", 1 },
	{ &sig, "Forwarded-For", 1 },
	{ &spoof, "X-Forwarded-Proto", 1 },
	{ &spoof, "x_forwarded_proto", 1 },
	{ &spoof, "X-Real-IP", 1 },
	{ &spoof, "X-HTTP-Method-Override", 1 },
	{ &spoof, "X-HTTP-Method", 0 },
	{ &spoof, "X-Forwarded-Host", 0 },
	/* listed, but carapaced writes its own */
	{ &spoof, "X-Forwarded-For", 0 },
	{ &spoof, "x_forwarded_for", 0 },
	{ &spoof, "Cookie", 0 },
};

static void test_forward_header(void)
{
	for (size_t i = 0; i < sizeof(hcases) / sizeof(hcases[0]); i++) {
		const struct hcase *h = &hcases[i];
		int got = policy_forward_header(h->tool, h->name);
		if (got != h->forward)
			fprintf(stderr, "\n    header %s (%s): %d, want %d",
				h->name, h->tool->name, got, h->forward);
		CU_ASSERT_EQUAL(got, h->forward);
	}
}

/* --- odds and ends ------------------------------------------------------ */

/* Every name, however many and however long: 40 + 1 used to be cut. */
static void test_methods_complete(void)
{
	size_t len = 0, fwd_len;
	char *body = version_batch(&len, 100), *fwd = NULL, *err = NULL;
	struct policy_verdict v;
	struct policy_calls calls;

	CU_ASSERT_PTR_NOT_NULL_FATAL(body);
	/* the last of the 100 becomes a send */
	memcpy(strrchr(body, '{'), RQ("send", ",\"id\":1") "]",
	       sizeof(RQ("send", ",\"id\":1") "]"));
	CU_ASSERT_EQUAL(policy_check_jsonrpc(&mcp, body, strlen(body), &fwd,
					     &fwd_len, &err, &v, &calls),
			0);
	CU_ASSERT_EQUAL(calls.n, 100);
	CU_ASSERT_FALSE(calls.truncated);
	CU_ASSERT_EQUAL_FATAL(json_object_array_length(calls.methods), 100);
	for (size_t i = 0; i < 100; i++)
		CU_ASSERT_STRING_EQUAL(json_object_get_string(
					       json_object_array_get_idx(
						       calls.methods, i)),
				       i < 99 ? "version" : "send");
	policy_calls_free(&calls);
	CU_ASSERT_PTR_NULL(calls.methods);
	free(fwd);
	free(body);
	/* no calls wanted is fine too */
	body = (char *)RQ("version", "");
	CU_ASSERT_EQUAL(policy_check_jsonrpc(&sig, body, strlen(body), &fwd,
					     &fwd_len, &err, &v, NULL),
			0);
	free(fwd);
	/* a body that does not parse: no calls, no names */
	CU_ASSERT_EQUAL(policy_check_jsonrpc(&sig, "[", 1, &fwd, &fwd_len,
					     &err, &v, &calls),
			-1);
	CU_ASSERT_EQUAL(calls.n, 0);
	CU_ASSERT_EQUAL(json_object_array_length(calls.methods), 0);
	policy_calls_free(&calls);
	free(err);
}

/* A refusal decided after the check answers every request. */
static void test_refusal_body(void)
{
	const char *batch = "[" RQ("a", ",\"id\":1") "," RQ("b", "") ","
			    RQ("c", ",\"id\":\"x\"") "]";
	const char *one = RQ("a", ",\"id\":7");
	char *out = policy_jsonrpc_refusal(batch, strlen(batch),
					   "rate limit exceeded");

	CU_ASSERT_STRING_EQUAL(out,
			       "[{\"jsonrpc\":\"2.0\",\"error\":{\"code\":"
			       "-32000,\"message\":\"rate limit exceeded\"},"
			       "\"id\":1},{\"jsonrpc\":\"2.0\",\"error\":"
			       "{\"code\":-32000,\"message\":\"rate limit "
			       "exceeded\"},\"id\":null},{\"jsonrpc\":\"2.0\","
			       "\"error\":{\"code\":-32000,\"message\":"
			       "\"rate limit exceeded\"},\"id\":\"x\"}]");
	free(out);
	out = policy_jsonrpc_refusal(one, strlen(one), "no");
	CU_ASSERT_STRING_EQUAL(out, "{\"jsonrpc\":\"2.0\",\"error\":{"
				    "\"code\":-32000,\"message\":\"no\"},"
				    "\"id\":7}");
	free(out);
}

static void test_verdict_fields(void)
{
	struct policy_verdict v;
	char *fwd = (char *)"stale", *err = (char *)"stale";
	size_t fwd_len = 99;
	const char *body = RQ("version", "");

	memset(&v, 'x', sizeof(v));
	CU_ASSERT_EQUAL(policy_check_jsonrpc(&sig, body, strlen(body), &fwd,
					     &fwd_len, &err, &v, NULL),
			0);
	CU_ASSERT_EQUAL(v.status, 0);
	CU_ASSERT_STRING_EQUAL(v.reason, "");
	CU_ASSERT_PTR_NULL(err);
	CU_ASSERT_EQUAL(fwd_len, strlen(body));
	free(fwd);
}

/* 150,000 empty objects would cost json-c ~120 MiB: refused before
 * parsing. */
static void test_value_count_bounded(void)
{
	const size_t n = 150000;
	char *body = malloc(n * 3 + 2), *fwd = NULL, *err = NULL;
	struct policy_verdict v;
	size_t len = 0, fwd_len = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(body);
	body[len++] = '[';
	for (size_t i = 0; i < n; i++) {
		memcpy(body + len, i ? ",{}" : "{}", i ? 3 : 2);
		len += i ? 3 : 2;
	}
	body[len++] = ']';
	CU_ASSERT_EQUAL(policy_check_jsonrpc(&sig, body, len, &fwd, &fwd_len,
					     &err, &v, NULL),
			-1);
	CU_ASSERT_EQUAL(v.status, 400);
	CU_ASSERT_PTR_NOT_NULL(strstr(v.reason, "too complex"));
	CU_ASSERT_PTR_NULL(fwd);
	free(err);
	free(body);
}

/* The error body's buffer is bounded in proportion to the body it
 * answers (policy_jsonrpc.c): the bound must hold the densest answers
 * whole. Every entry echoes its id, a number written longer than it came
 * ("1e-7"), or carries a message of control characters (6 bytes each). */
static void test_error_body_whole(void)
{
	static const struct cfg_tool wide = {
		.name = "wide",
		.http.is_jsonrpc = 1,
		.http.jsonrpc_max_batch = 100000,
	};
	const size_t n = 1000; /* within jsonparse's cost */
	char *body = malloc(n * 12 + 2), *fwd = NULL, *err = NULL;
	char msg[1001];
	struct policy_verdict v;
	size_t len = 0, fwd_len = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(body);
	body[len++] = '[';
	for (size_t i = 0; i < n; i++) {
		memcpy(body + len, i ? ",{\"id\":1e-7}" : "{\"id\":1e-7}",
		       i ? 12 : 11);
		len += i ? 12 : 11;
	}
	body[len++] = ']';
	CU_ASSERT_EQUAL(policy_check_jsonrpc(&wide, body, len, &fwd, &fwd_len,
					     &err, &v, NULL),
			-1);
	CU_ASSERT_EQUAL(v.status, 400);
	CU_ASSERT_STRING_EQUAL(v.reason,
			       "invalid request: \"jsonrpc\" must be \"2.0\"");
	CU_ASSERT_PTR_NULL(fwd);
	CU_ASSERT_PTR_NOT_NULL_FATAL(err);
	json_object *all = json_tokener_parse(err);
	CU_ASSERT_FATAL(json_object_is_type(all, json_type_array));
	CU_ASSERT_EQUAL(json_object_array_length(all), n);
	json_object_put(all);
	free(err);

	memset(msg, '\x01', sizeof(msg) - 1);
	msg[sizeof(msg) - 1] = '\0';
	err = policy_jsonrpc_refusal(body, len, msg);
	CU_ASSERT_PTR_NOT_NULL_FATAL(err);
	CU_ASSERT(strlen(err) > n * 6 * (sizeof(msg) - 1));
	all = json_tokener_parse(err);
	CU_ASSERT_FATAL(json_object_is_type(all, json_type_array));
	CU_ASSERT_EQUAL(json_object_array_length(all), n);
	json_object_put(all);
	free(err);
	free(body);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("policy", NULL, NULL);
	if (s == NULL || !CU_add_test(s, "policy table", test_policy_table) ||
	    !CU_add_test(s, "forward headers", test_forward_header) ||
	    !CU_add_test(s, "methods complete", test_methods_complete) ||
	    !CU_add_test(s, "refusal body", test_refusal_body) ||
	    !CU_add_test(s, "verdict fields", test_verdict_fields) ||
	    !CU_add_test(s, "value count bounded", test_value_count_bounded) ||
	    !CU_add_test(s, "error body whole", test_error_body_whole) ||
	    !CU_add_test(s, "argv table", test_argv_table) ||
	    !CU_add_test(s, "argv_deny_flags table", test_argv_deny_flags) ||
	    !CU_add_test(s, "argv too long", test_argv_long) ||
	    !CU_add_test(s, "argv bad arguments", test_argv_bad_arguments)) {
		CU_cleanup_registry();
		return 1;
	}
	return cu_run();
}
