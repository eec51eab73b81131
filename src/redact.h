/* redact — what an audit record may show of a request's body and argv.
 *
 * Pure: no I/O, no global state. Patterns are fnmatch(3) globs matched
 * case-insensitively (FNM_CASEFOLD): "Password" and "password" are one
 * secret, and a miss here would put it in a log. */
#ifndef CARAPACE_REDACT_H
#define CARAPACE_REDACT_H

#include <json-c/json.h>
#include <stddef.h>

#include "cfg.h"

#define REDACTED "[REDACTED]"
#define NOT_JSON "[NOT JSON]"
/* too deep or too costly for jsonparse: never parsed */
#define NOT_PARSED "[NOT PARSED: too complex]"

/* Replaces, in place, the value of every object member whose name matches
 * a pattern, at any depth (inside arrays too), with "[REDACTED]". */
void redact_json(struct json_object *value, const struct cfg_strings *patterns);

/* argv as a new JSON array of strings (caller puts; NULL on out of
 * memory). An argument matching a pattern keeps its name and hides the
 * next argument ("--session" "X" -> "--session" "[REDACTED]"); one written
 * NAME=VALUE whose NAME matches hides VALUE ("--session=[REDACTED]"). */
struct json_object *redact_argv(char *const *argv, size_t argc,
				const struct cfg_strings *patterns);

/* A logged request body: the parsed JSON (jsonparse_strict) with
 * redact_json applied (caller puts), or the string "[NOT JSON]" when it
 * does not parse, "[NOT PARSED: too complex]" when jsonparse would not
 * parse it — a body that cannot be searched for secrets is not logged.
 * NULL: out of memory. */
struct json_object *redact_body(const char *body, size_t len,
				const struct cfg_strings *patterns);

#endif
