/* tu_json — the three json-c look-ups the integration tests share.
 * Header only (static inline): a test program that includes it links
 * json-c anyway. Nothing here is strict: a test asserts what it needs. */
#ifndef CARAPACE_TU_JSON_H
#define CARAPACE_TU_JSON_H

#include <json-c/json.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

/* text parsed, or NULL (text NULL too); caller puts. */
static inline json_object *parse_json(const char *text)
{
	return text ? json_tokener_parse(text) : NULL;
}

/* o[key] as an integer, or -1 when absent. */
static inline int64_t json_int_at(json_object *o, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v)
						      : -1;
}

/* o[key] as a string (borrowed from o), or NULL when absent. */
static inline const char *json_str_at(json_object *o, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v)
						      : NULL;
}

/* Whether headers, the test upstream's [[name, value], ...] echo, has
 * name (any case) with value (NULL: any). */
static inline int has_header_pair(json_object *headers, const char *name,
				  const char *value)
{
	size_t n = json_object_array_length(headers);

	for (size_t i = 0; i < n; i++) {
		json_object *pair = json_object_array_get_idx(headers, i);
		const char *k = json_object_get_string(
			json_object_array_get_idx(pair, 0));
		const char *v = json_object_get_string(
			json_object_array_get_idx(pair, 1));
		if (strcasecmp(k, name) == 0 &&
		    (value == NULL || strcmp(v, value) == 0))
			return 1;
	}
	return 0;
}

#endif
