/* The audit record's redaction (redact_body): a logged request body, the
 * agent's bytes, parsed strictly and searched for the sig tool's secret
 * names. What comes back is a JSON value (or one of the markers) in which
 * no member a pattern names keeps its value. */
#include "config.h"

#include <fnmatch.h>
#include <json-c/json.h>

#include "fuzz.h"
#include "redact.h"

/* No member matching a pattern holds anything but "[REDACTED]". */
static void check_clean(struct json_object *v, const struct cfg_strings *p)
{
	if (json_object_is_type(v, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(v); i++)
			check_clean(json_object_array_get_idx(v, i), p);
		return;
	}
	if (!json_object_is_type(v, json_type_object))
		return;
	json_object_object_foreach(v, key, val) {
		for (size_t i = 0; i < p->n; i++)
			if (fnmatch(p->v[i], key, FNM_CASEFOLD) == 0 &&
			    (!json_object_is_type(val, json_type_string) ||
			     strcmp(json_object_get_string(val), REDACTED)))
				abort();
		check_clean(val, p);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct cfg_strings *p = &fuzz_tool("sig")->redact_patterns;
	struct json_object *logged = redact_body((const char *)data, size, p);

	if (logged == NULL)
		return 0;
	check_clean(logged, p);
	/* the record is written out as JSON text */
	json_object_to_json_string_ext(logged, JSON_C_TO_STRING_PLAIN);
	json_object_put(logged);
	return 0;
}
