/* redact — see redact.h. */
#include "config.h"

#include "redact.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "jsonparse.h"

/* jsonparse nests no deeper than JSONPARSE_MAX_DEPTH (32), so a body never
 * reaches this; the bound only keeps a hand-made value from recursing
 * without end. */
#define MAX_DEPTH 64

static int matches(const struct cfg_strings *patterns, const char *s)
{
	for (size_t i = 0; i < patterns->n; i++)
		if (fnmatch(patterns->v[i], s, FNM_CASEFOLD) == 0)
			return 1;
	return 0;
}

static void redact_at(struct json_object *v, const struct cfg_strings *p,
		      int depth);

static void redact_object(struct json_object *obj,
			  const struct cfg_strings *p, int depth)
{
	json_object_object_foreach(obj, name, member) {
		if (matches(p, name))
			json_object_object_add(obj, name,
					       json_object_new_string(REDACTED));
		else
			redact_at(member, p, depth + 1);
	}
}

static void redact_at(struct json_object *v, const struct cfg_strings *p,
		      int depth)
{
	if (depth > MAX_DEPTH)
		return;
	if (json_object_is_type(v, json_type_object)) {
		redact_object(v, p, depth);
	} else if (json_object_is_type(v, json_type_array)) {
		size_t n = json_object_array_length(v);
		for (size_t i = 0; i < n; i++)
			redact_at(json_object_array_get_idx(v, i), p,
				  depth + 1);
	}
}

void redact_json(struct json_object *value, const struct cfg_strings *patterns)
{
	if (value != NULL && patterns != NULL && patterns->n > 0)
		redact_at(value, patterns, 0);
}

/* "NAME=VALUE" with a matching NAME: a new "NAME=[REDACTED]" string. */
static struct json_object *redact_assignment(const char *arg,
					     const struct cfg_strings *p)
{
	const char *eq = strchr(arg, '=');

	if (eq == NULL || eq == arg)
		return NULL;
	size_t len = (size_t)(eq - arg);
	char *out = malloc(len + sizeof("=" REDACTED));
	if (out == NULL)
		return NULL;
	memcpy(out, arg, len);
	out[len] = '\0';
	struct json_object *item = NULL;
	if (matches(p, out)) {
		memcpy(out + len, "=" REDACTED, sizeof("=" REDACTED));
		item = json_object_new_string(out);
	}
	free(out);
	return item;
}

struct json_object *redact_argv(char *const *argv, size_t argc,
				const struct cfg_strings *patterns)
{
	static const struct cfg_strings none = { NULL, 0 };
	struct json_object *arr = json_object_new_array();
	int hide_next = 0;

	if (arr == NULL)
		return NULL;
	if (patterns == NULL)
		patterns = &none;
	for (size_t i = 0; i < argc; i++) {
		struct json_object *item;
		if (hide_next) {
			item = json_object_new_string(REDACTED);
			hide_next = 0;
		} else if ((item = redact_assignment(argv[i], patterns)) ==
			   NULL) {
			hide_next = matches(patterns, argv[i]);
			item = json_object_new_string(argv[i]);
		}
		if (item == NULL || json_object_array_add(arr, item) < 0) {
			json_object_put(item);
			json_object_put(arr);
			return NULL;
		}
	}
	return arr;
}

struct json_object *redact_body(const char *body, size_t len,
				const struct cfg_strings *patterns)
{
	struct json_object *v;

	switch (jsonparse_strict(body, len, &v, NULL)) {
	case JSONPARSE_OK:
		if (v != NULL) {
			redact_json(v, patterns);
			return v;
		}
		/* json-c has no object for a JSON null: as before */
		return json_object_new_string(NOT_JSON);
	case JSONPARSE_INVALID:
		return json_object_new_string(NOT_JSON);
	case JSONPARSE_TOO_COMPLEX:
		return json_object_new_string(NOT_PARSED);
	default:
		return NULL;
	}
}
