/* The body of POST /tools/<cli-tool> (cli_request_parse), the agent's
 * bytes, then what the worker does with a parsed one before anything
 * runs: the argv policy and the audit form of the argv. A request that
 * parses has argv[0] free for exec, a NULL after the last argument, and
 * no NUL inside one (strict JSON's "\u0000" is refused). */
#include "config.h"

#include <json-c/json.h>

#include "cli_request.h"
#include "fuzz.h"
#include "policy.h"
#include "redact.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct cfg_tool *box = fuzz_tool("box");
	struct error e;
	struct cli_request *r =
		cli_request_parse(box, size & 1, (const char *)data, size, &e);

	if (r == NULL) {
		if (e.status != 400 && e.status != 500)
			abort();
		return 0;
	}
	size_t argc;
	char *const *argv = cli_request_argv(r, &argc);
	if (r->argv[argc + 1] != NULL || argv != r->argv + 1)
		abort();
	struct policy_verdict v;
	policy_check_argv(box, argv, argc, &v);
	json_object_put(redact_argv(argv, argc, &box->redact_patterns));
	cli_request_free(r);
	return 0;
}
