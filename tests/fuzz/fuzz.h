/* fuzz.h — what the libFuzzer targets of tests/fuzz share: the entry
 * point's prototype, the one fixed configuration the policy, routing,
 * identity, CLI and MCP targets check bytes against, and a NUL-terminated copy
 * of an input (most parsers under test take C strings, as MHD and json-c
 * hand them over).
 *
 * Every target is a program of its own; this header holds static
 * functions, so each target has its own copy. */
#ifndef CARAPACE_FUZZ_H
#define CARAPACE_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Tokens "tokenA-0123456789" and "tokenB-0123456789" (SHA-256 below), as
 * in test_identity. The tools: sig (signal-cli's JSON-RPC policy: method
 * lists, parameter names, filters, aliases, a batch bound), mcp (a filter
 * only), gw (an MCP server: every key of the mcp block), web (paths and methods, a drop-in listener of its own), box (a
 * CLI tool with every argv rule and redaction). */
#define FUZZ_CONFIG \
	"{\"listen\":[\"127.0.0.1:1\",\"unix:/run/fuzz.sock\"]," \
	"\"tools\":{" \
	"\"sig\":{\"type\":\"http\",\"upstream\":\"http://127.0.0.1:2\"," \
	"\"jsonrpc_allow_methods\":[\"send\",\"sendTyping\",\"sendReceipt\"," \
	"\"sendReaction\",\"version\",\"list*\"]," \
	"\"jsonrpc_deny_methods\":[\"removeAccount\",\"*Account\"]," \
	"\"jsonrpc_param_aliases\":\"signal-cli\"," \
	"\"jsonrpc_param_allow\":{\"send\":[\"recipient\",\"message\"," \
	"\"groupId\",\"account\"],\"version\":[],\"list*\":[\"account\"]}," \
	"\"jsonrpc_param_filters\":{\"send*\":[{\"field\":\"recipient\"," \
	"\"allow_patterns\":[\"+1*\"],\"deny_patterns\":[\"+1900*\"]}," \
	"{\"field\":\"message\",\"deny_patterns\":[\"*http*\"]}]," \
	"\"sendReaction\":{\"field\":\"target.authorNumber\"," \
	"\"deny_patterns\":[\"+1555*\"]}}," \
	"\"jsonrpc_max_batch\":5," \
	"\"audit\":{\"log_body\":true,\"redact_patterns\":[\"*token*\"," \
	"\"pass[wW]ord\",\"message\"]}}," \
	"\"mcp\":{\"type\":\"http\",\"upstream\":\"https://mcp.example/v1\"," \
	"\"jsonrpc_param_filters\":{\"tools/call\":{\"field\":\"name\"," \
	"\"allow_patterns\":[\"search_*\"]}}}," \
	"\"gw\":{\"type\":\"http\",\"upstream\":\"http://127.0.0.1:6/mcp\"," \
	"\"jsonrpc_allow_methods\":[\"completion/complete\"]," \
	"\"jsonrpc_deny_methods\":[\"notifications/cancelled\"]," \
	"\"mcp\":{\"tools_allow\":[\"search_*\",\"create_issue\"]," \
	"\"tools_deny\":[\"*delete*\"],\"resources_allow\":[\"repo://me/*\"]," \
	"\"prompts_allow\":[\"summarize\"]," \
	"\"arguments\":{\"create_issue\":{\"field\":\"repo\"," \
	"\"allow_patterns\":[\"me/*\"]},\"search_*\":{\"field\":\"q.text\"," \
	"\"deny_patterns\":[\"*secret*\"]}}," \
	"\"allowed_origins\":[\"https://app.example.com\"]," \
	"\"require_protocol_versions\":[\"2025-03-26\",\"2025-06-18\"," \
	"\"2026-07-28\"]}}," \
	"\"web\":{\"type\":\"http\",\"upstream\":\"http://[::1]:3/base\"," \
	"\"listen\":\"127.0.0.1:4\"," \
	"\"allow_paths\":[\"/api/v1/rpc\",\"/api/v1/events\",\"/files/*\"]," \
	"\"allow_http_methods\":[\"GET\",\"POST\"]," \
	"\"forward_headers\":[\"Cookie\"],\"add_x_forwarded_for\":true," \
	"\"inject_headers\":{\"X-Api-Key\":\"k\"}}," \
	"\"semi\":{\"type\":\"http\",\"upstream\":\"http://127.0.0.1:5\"," \
	"\"allow_path_params\":true}," \
	"\"box\":{\"type\":\"cli\",\"binary\":\"/bin/true\"," \
	"\"argv_allow_patterns\":[\"item get *\",\"item list*\",\"*\"]," \
	"\"argv_deny_patterns\":[\"item delete *\",\"* --token*\"]," \
	"\"argv_deny_flags\":[\"--output\",\"-o\",\"--session\"]," \
	"\"cwd_allowed\":[\"/tmp\"]," \
	"\"audit\":{\"log_argv\":true,\"redact_patterns\":[\"--session\"," \
	"\"*token*\",\"pass*\"]}}}," \
	"\"clients\":{" \
	"\"a\":{\"token_sha256\":\"a4d0f00d0fc0a9a78fc97fa969103b33f3db63949f392af16d6513f0dd5da034\"," \
	"\"tools\":[\"sig\",\"web\"]}," \
	"\"b\":{\"token_sha256\":\"b58ea6181a49c0873f70a8732b63528dbd301b59375c3a262c1ce5f778c5a59c\"," \
	"\"allow_from\":[\"10.0.0.0/8\",\"fd00::/8\"],\"tools\":[\"box\"]}," \
	"\"addr\":{\"allow_from\":[\"192.168.1.5/32\"],\"tools\":[\"mcp\"]}," \
	"\"uid\":{\"unix_peer_uids\":[1000],\"tools\":[\"sig\"]}}}"

/* The fixed configuration, loaded once; a target cannot run without it. */
static inline const struct cfg *fuzz_config(void)
{
	static struct cfg *cfg;
	struct error err;

	if (cfg == NULL && cfg_load_string(FUZZ_CONFIG, &cfg, &err) < 0) {
		fprintf(stderr, "fuzz config: %s: %s\n", err.key, err.msg);
		abort();
	}
	return cfg;
}

static inline const struct cfg_tool *fuzz_tool(const char *name)
{
	const struct cfg_tool *t = cfg_find_tool(fuzz_config(), name,
						 strlen(name));
	if (t == NULL)
		abort();
	return t;
}

/* data as a C string (caller frees); NULL on out of memory. */
static inline char *fuzz_string(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s != NULL) {
		memcpy(s, data, size);
		s[size] = '\0';
	}
	return s;
}

#endif
