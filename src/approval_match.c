/* approval_match — the pure half of approvals.h: which requests a tool's
 * require_approval holds, who "the same client" is, and the digest that
 * makes a grant bound to one call. No state, any thread. */
#include "config.h"

#include "approvals.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dbuf.h"
#include "jsonparse.h"
#include "secret.h"
#include "text.h"

static const char *glob_match(const struct cfg_strings *globs,
			      const char *s)
{
	for (size_t i = 0; i < globs->n; i++)
		if (fnmatch(globs->v[i], s, 0) == 0)
			return globs->v[i];
	return NULL;
}

/* HTTP methods compare without case: "post" must not slip past "POST"
 * (a hold list fails open where an allow list would fail closed). */
static int listed(const struct cfg_strings *names, const char *s)
{
	for (size_t i = 0; i < names->n; i++)
		if (strcasecmp(names->v[i], s) == 0)
			return 1;
	return 0;
}

/* The path as an upstream may read it: %XX decoded, runs of '/' made
 * one, and with cut_params each segment's ";..." cut. NULL on out of
 * memory. */
static char *path_as_read(const char *raw, size_t len, int cut_params)
{
	char *out = malloc(len + 1);
	size_t n = 0;
	int in_params = 0;

	for (size_t i = 0; out != NULL && i < len; i++) {
		char c = raw[i];
		if (c == '%' && i + 2 < len &&
		    text_hex_digit(raw[i + 1]) >= 0 &&
		    text_hex_digit(raw[i + 2]) >= 0) {
			c = (char)(text_hex_digit(raw[i + 1]) * 16 +
				   text_hex_digit(raw[i + 2]));
			i += 2;
		}
		if (c == '/')
			in_params = 0;
		else if (c == ';' && cut_params)
			in_params = 1;
		if (in_params || (c == '/' && n > 0 && out[n - 1] == '/'))
			continue;
		out[n++] = c;
	}
	if (out != NULL)
		out[n] = '\0';
	return out;
}

/* Whether any glob matches the path as sent or as an upstream may read
 * it. Out of memory: held. */
static int path_held(const struct cfg_strings *globs, const char *raw,
		     size_t len)
{
	char *forms[3] = { strndup(raw, len), path_as_read(raw, len, 0),
			   path_as_read(raw, len, 1) };
	int hit = 0;

	for (size_t i = 0; i < 3; i++)
		hit |= forms[i] == NULL || glob_match(globs, forms[i]) != NULL;
	for (size_t i = 0; i < 3; i++)
		free(forms[i]);
	return hit;
}

/* paths x http_methods: both lists that are given must match. */
static int http_rule(const struct cfg_approval *a,
		     const struct approval_call *call)
{
	if (a->paths.n == 0 && a->http_methods.n == 0)
		return 0;
	if (a->http_methods.n > 0 &&
	    (call->http_method == NULL ||
	     !listed(&a->http_methods, call->http_method)))
		return 0;
	if (a->paths.n == 0)
		return 1;
	if (call->path == NULL)
		return 0;
	return path_held(&a->paths, call->path, call->path_len);
}

/* The arguments joined by single spaces, as policy_check_argv joins
 * them; NULL on out of memory. */
static char *join_argv(char *const *argv, size_t argc)
{
	struct dbuf b = DBUF_INIT(SIZE_MAX);

	for (size_t i = 0; i < argc; i++) {
		if (i > 0)
			dbuf_add(&b, " ", 1);
		dbuf_add(&b, argv[i], strlen(argv[i]));
	}
	if (dbuf_error(&b) != 0) {
		dbuf_free(&b);
		return NULL;
	}
	char *joined = strdup(dbuf_str(&b)); /* "" for no arguments */
	dbuf_free(&b);
	return joined;
}

static int argv_rule(const struct cfg_approval *a,
		     const struct approval_call *call, const char **rule)
{
	if (a->argv_patterns.n == 0)
		return 0;
	char *joined = join_argv(call->argv, call->argc);
	if (joined == NULL)
		return 1; /* fails closed: held */
	const char *hit = glob_match(&a->argv_patterns, joined);
	free(joined);
	if (hit != NULL && rule != NULL)
		*rule = hit;
	return hit != NULL;
}

int approvals_required(const struct cfg_tool *tool,
		       const struct approval_call *call, const char **rule)
{
	const struct cfg_approval *a = &tool->approval;

	if (rule != NULL)
		*rule = NULL;
	if (!a->enabled)
		return 0;
	switch (call->kind) {
	case APPROVAL_ARGV:
		return argv_rule(a, call, rule);
	case APPROVAL_JSONRPC:
		for (size_t i = 0; i < call->n_methods; i++)
			if (call->methods[i] != NULL &&
			    glob_match(&a->jsonrpc_methods, call->methods[i]))
				return 1;
		return http_rule(a, call);
	default:
		return http_rule(a, call);
	}
}

void approvals_client_key(const char *client, const char *remote, char *out,
			  size_t len)
{
	size_t n;

	if (client != NULL) {
		snprintf(out, len, "%s", client);
		return;
	}
	if (remote == NULL)
		remote = "";
	if (remote[0] == '[')
		n = strcspn(remote, "]") + 1;
	else if (strncmp(remote, "unix:", 5) == 0)
		n = strlen(remote);
	else
		n = strcspn(remote, ":");
	if (n > strlen(remote))
		n = strlen(remote);
	snprintf(out, len, "addr:%.*s", (int)n, remote);
}

/* [method, params] of one call; params null when absent. */
static struct json_object *call_pair(struct json_object *call)
{
	struct json_object *pair = json_object_new_array(), *m, *p;

	if (pair == NULL)
		return NULL;
	json_object_object_get_ex(call, "method", &m);
	if (!json_object_object_get_ex(call, "params", &p))
		p = NULL;
	json_object_array_add(pair, json_object_get(m));
	json_object_array_add(pair, json_object_get(p));
	return pair;
}

int approvals_digest_jsonrpc(const char *checked, size_t len,
			     unsigned char out[32])
{
	struct json_object *v = NULL, *pairs = json_object_new_array();
	int rc = -1;

	if (pairs == NULL ||
	    jsonparse_strict(checked, len, &v, NULL) != JSONPARSE_OK)
		goto done;
	if (json_object_is_type(v, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(v); i++)
			json_object_array_add(pairs, call_pair(
				json_object_array_get_idx(v, i)));
	} else {
		json_object_array_add(pairs, call_pair(v));
	}
	const char *text = json_object_to_json_string_ext(
		pairs, JSON_C_TO_STRING_PLAIN);
	rc = text ? secret_sha256(text, strlen(text), out) : -1;
done:
	json_object_put(v);
	json_object_put(pairs);
	return rc;
}

char *approvals_shown_text(const char *s)
{
	struct dbuf b = DBUF_INIT(APPROVAL_WHAT_MAX * 6 + 1);
	size_t len = strlen(s), n;
	uint32_t cp;

	for (size_t i = 0; i < len; i += n) {
		n = text_utf8_char(s + i, len - i, &cp);
		if (n == 0 || cp < 0x20 || cp == 0x7f || cp == '\\') {
			dbuf_printf(&b, "\\x%02x", (unsigned char)s[i]);
			n = 1;
		} else if ((cp >= 0x80 && cp <= 0x9f) ||
			   (cp >= 0x200b && cp <= 0x200f) ||
			   (cp >= 0x2028 && cp <= 0x202e) ||
			   (cp >= 0x2066 && cp <= 0x2069)) {
			dbuf_printf(&b, "\\u{%04x}", (unsigned)cp);
		} else {
			dbuf_add(&b, s + i, n);
		}
	}
	char *out = dbuf_error(&b) ? NULL : strdup(dbuf_str(&b));
	dbuf_free(&b);
	return out;
}

int approvals_digest_bind(unsigned char digest[32], const char *http_method,
			  const char *target)
{
	struct dbuf b = DBUF_INIT(SIZE_MAX);

	dbuf_add(&b, (const char *)digest, 32);
	dbuf_addstr(&b, http_method);
	dbuf_add(&b, "", 1);
	dbuf_addstr(&b, target);
	int rc = dbuf_error(&b) ? -1 :
		 secret_sha256(dbuf_str(&b), dbuf_len(&b), digest);
	dbuf_free(&b);
	return rc;
}
