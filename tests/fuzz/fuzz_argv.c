/* The argv policy (policy_check_argv) of the box tool (fuzz.h): deny
 * patterns, the flag-aware deny of argv_deny_flags (every spelling
 * getopt_long reads) and allow patterns, then the argv's audit form
 * (redact_argv). The input is the arguments, NUL-separated, as a JSON
 * body's strings arrive (cli_request refuses a NUL inside one). An argv
 * that spells a denied flag plainly must be refused. */
#include "config.h"

#include <json-c/json.h>

#include "fuzz.h"
#include "policy.h"
#include "redact.h"

#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = fuzz_string(data, size);
	char *argv[MAX_ARGS + 1];
	size_t argc = 0;
	int plain_flag = 0;

	if (buf == NULL)
		return 0;
	for (char *s = buf; s <= buf + size && argc < MAX_ARGS;
	     s += strlen(s) + 1) {
		argv[argc++] = s;
		/* before any "--", an argument that is the flag itself */
		if (strcmp(s, "--") == 0)
			break;
		plain_flag |= strcmp(s, "--output") == 0 ||
			      strcmp(s, "-o") == 0;
	}
	size_t n = argc;
	argv[n] = NULL;
	/* the remaining arguments after a break */
	for (char *s = argv[n - 1] + strlen(argv[n - 1]) + 1;
	     s <= buf + size && n < MAX_ARGS; s += strlen(s) + 1)
		argv[n++] = s;
	argv[n] = NULL;

	const struct cfg_tool *box = fuzz_tool("box");
	struct policy_verdict v;
	int rc = policy_check_argv(box, argv, n, &v);
	if (rc == 0 && plain_flag)
		abort();
	if (rc < 0 && v.status != 403 && v.status != 400)
		abort();
	struct json_object *logged = redact_argv(argv, n,
						 &box->redact_patterns);
	if (logged != NULL && json_object_array_length(logged) != n)
		abort();
	json_object_put(logged);
	free(buf);
	return 0;
}
