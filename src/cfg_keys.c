/* cfg_keys — see cfg_keys.h.
 *
 * The walker checks everything a row says (type, bounds, string check,
 * scope, required) before a setter runs, so the generic setters only
 * store.  What a setter makes is put into the config at once, so
 * cfg_release() cleans up after an error anywhere.  A key the tables do not
 * know is an error: a typo in a security policy must not pass silently.
 * The first problem found, in file order, is the one reported. */
#include "config.h"

#include "cfg_keys.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int key_fail(struct ctx *c, const char *fmt, ...)
{
	char msg[sizeof(c->err->msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return error_set(c->err, 0, c->path, "%s", msg);
}

/* --- the key path ------------------------------------------------------- */

/* Paths end up on a terminal; keys are the user's bytes, so control
 * characters are shown as '?' rather than sent. */
static void path_put(struct ctx *c, const char *s)
{
	size_t room = sizeof(c->path) - 1;

	for (; *s && c->path_len < room; s++) {
		unsigned char ch = (unsigned char)*s;

		c->path[c->path_len++] = (ch < 0x20 || ch == 0x7f) ? '?' : *s;
	}
	c->path[c->path_len] = '\0';
}

void key_path_cut(struct ctx *c, size_t len)
{
	c->path_len = len;
	c->path[len] = '\0';
}

size_t key_path_add(struct ctx *c, const char *name)
{
	size_t old = c->path_len;

	if (old)
		path_put(c, ".");
	path_put(c, name);
	return old;
}

size_t key_path_index(struct ctx *c, size_t i)
{
	char buf[32];
	size_t old = c->path_len;

	snprintf(buf, sizeof(buf), "[%zu]", i);
	path_put(c, buf);
	return old;
}

void key_path_set(struct ctx *c, const char *path)
{
	key_path_cut(c, 0);
	path_put(c, path);
}

/* --- iterating ---------------------------------------------------------- */

int key_each_member(struct ctx *c, struct json_object *obj, member_fn fn,
		    void *arg)
{
	struct json_object_iterator it = json_object_iter_begin(obj);
	struct json_object_iterator end = json_object_iter_end(obj);
	const char *name;
	size_t old;

	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		name = json_object_iter_peek_name(&it);
		old = key_path_add(c, name);
		if (fn(c, arg, name, json_object_iter_peek_value(&it)) < 0)
			return -1;
		key_path_cut(c, old);
	}
	return 0;
}

static size_t count_of(struct json_object *v)
{
	if (json_object_is_type(v, json_type_array))
		return json_object_array_length(v);
	if (json_object_is_type(v, json_type_object))
		return (size_t)json_object_object_length(v);
	return 0;
}

void *key_calloc_for(struct json_object *v, size_t size)
{
	size_t n = count_of(v);

	return n ? calloc(n, size) : NULL;
}

int key_alloc_check(struct ctx *c, struct json_object *v, const void *got)
{
	if (got == NULL && count_of(v) > 0)
		return key_fail(c, "out of memory");
	return 0;
}

int key_each_element(struct ctx *c, struct json_object *arr, element_fn fn,
		     void *arg)
{
	size_t i, old, n = json_object_array_length(arr);

	for (i = 0; i < n; i++) {
		old = key_path_index(c, i);
		if (fn(c, arg, i, json_object_array_get_idx(arr, i)) < 0)
			return -1;
		key_path_cut(c, old);
	}
	return 0;
}

/* --- value checks ------------------------------------------------------- */

static int check_string(struct ctx *c, const struct key *k,
			struct json_object *v)
{
	const char *why;

	if (!json_object_is_type(v, json_type_string))
		return key_fail(c, "expected a string");
	/* a \u0000 inside would make C see a shorter string than JSON */
	if (strlen(json_object_get_string(v)) !=
	    (size_t)json_object_get_string_len(v))
		return key_fail(c, "string contains a NUL character");
	why = k->check ? k->check(json_object_get_string(v)) : NULL;
	if (why)
		return key_fail(c, "%s", why);
	return 0;
}

static int check_int(struct ctx *c, const struct key *k,
		     struct json_object *v)
{
	int64_t n;

	/* json_type_int only: 1.5, "30" and true are not integers */
	if (!json_object_is_type(v, json_type_int))
		return key_fail(c, "expected an integer");
	n = json_object_get_int64(v); /* clamps, so huge stays huge */
	if (n < k->min || n > k->max)
		return key_fail(c, "out of range (%lld..%lld)", k->min,
				k->max);
	return 0;
}

static int check_element(struct ctx *c, void *k, size_t i,
			 struct json_object *v)
{
	(void)i;
	return check_string(c, k, v);
}

int key_check(struct ctx *c, const struct key *k, struct json_object *v)
{
	switch (k->type) {
	case CFG_KEY_STRING:
		return check_string(c, k, v);
	case CFG_KEY_INT:
		return check_int(c, k, v);
	case CFG_KEY_STRINGS:
		if (!json_object_is_type(v, json_type_array))
			return key_fail(c, "expected an array of strings");
		return key_each_element(c, v, check_element,
					(void *)(uintptr_t)k); /* read only */
	case CFG_KEY_OBJECT:
		if (!json_object_is_type(v, json_type_object))
			return key_fail(c, "expected an object");
		return 0;
	case CFG_KEY_BOOL:
		if (!json_object_is_type(v, json_type_boolean))
			return key_fail(c, "expected true or false");
		return 0;
	case CFG_KEY_ARRAY:
		if (!json_object_is_type(v, json_type_array))
			return key_fail(c, "expected an array");
		return 0;
	case CFG_KEY_LISTEN:
		if (!json_object_is_type(v, json_type_string) &&
		    !json_object_is_type(v, json_type_object))
			return key_fail(c, "expected an address string or an "
				       "object");
		return 0;
	}
	return key_fail(c, "internal error: bad key type");
}

/* --- storing ------------------------------------------------------------ */

static void *slot(const struct key *k, void *dst)
{
	return (char *)dst + k->off;
}

static void store_number(const struct key *k, void *dst, long long n)
{
	if (k->store == ST_UINT)
		*(unsigned *)slot(k, dst) = (unsigned)n;
	else if (k->store == ST_SIZE)
		*(size_t *)slot(k, dst) = (size_t)n;
	else if (k->store == ST_BOOL)
		*(int *)slot(k, dst) = n != 0;
}

int key_take_strings(struct ctx *c, struct json_object *v,
		     struct cfg_strings *out)
{
	size_t i, n = json_object_array_length(v);
	const char *s;

	if (n == 0)
		return 0;
	out->v = calloc(n, sizeof(*out->v)); /* owned by the config */
	if (!out->v)
		return key_fail(c, "out of memory");
	for (i = 0; i < n; i++) {
		s = json_object_get_string(json_object_array_get_idx(v, i));
		out->v[i] = strdup(s);
		if (!out->v[i])
			return key_fail(c, "out of memory");
		out->n++;
	}
	return 0;
}

/* The row says it all: store v as the row's store column says. */
static int store(struct ctx *c, const struct key *k, void *dst,
		 struct json_object *v)
{
	char **s;

	switch (k->store) {
	case ST_UINT:
	case ST_SIZE:
		store_number(k, dst, (long long)json_object_get_int64(v));
		return 0;
	case ST_BOOL:
		store_number(k, dst, json_object_get_boolean(v));
		return 0;
	case ST_STR:
		s = slot(k, dst);
		*s = strdup(json_object_get_string(v)); /* owned by dst */
		return *s ? 0 : key_fail(c, "out of memory");
	case ST_STRS:
		return key_take_strings(c, v, slot(k, dst));
	case ST_NONE:
		break;
	}
	if (k->sub)
		return key_walk(c, k->sub, dst, v);
	return key_fail(c, "internal error: key without a setter");
}

/* --- the walker --------------------------------------------------------- */

/* Whether k may appear in the object being walked: a key for one type of
 * tool only is refused in a tool of the other type. */
static int in_scope(unsigned scope, const struct key *k)
{
	return !(k->flags & KEY_SCOPE) || (k->flags & scope);
}

static const struct key *key_find(const struct key *tab, const char *name)
{
	for (; tab->name; tab++)
		if (strcmp(tab->name, name) == 0)
			return tab;
	return NULL;
}

/* The path names the key already. */
static int take(struct ctx *c, const struct key *tab, void *dst,
		const char *name, struct json_object *v)
{
	const struct key *k = key_find(tab, name);

	if (!k)
		return key_fail(c, "unknown key");
	if (k->flags & KEY_LATER)
		return key_fail(c, "not supported yet");
	if (!in_scope(c->scope, k))
		return key_fail(c, "not valid for %s tool",
				c->scope == KEY_CLI ? "a cli" : "an http");
	if (key_check(c, k, v) < 0)
		return -1;
	return k->set ? k->set(c, k, dst, v) : store(c, k, dst, v);
}

int key_take(struct ctx *c, const struct key *tab, void *dst,
	     const char *name, struct json_object *v)
{
	size_t old = key_path_add(c, name);

	if (take(c, tab, dst, name, v) < 0)
		return -1;
	key_path_cut(c, old);
	return 0;
}

static int check_required(struct ctx *c, const struct key *tab,
			  struct json_object *obj)
{
	for (; tab->name; tab++) {
		if (!(tab->flags & KEY_REQUIRED) || !in_scope(c->scope, tab) ||
		    json_object_object_get_ex(obj, tab->name, NULL))
			continue;
		key_path_add(c, tab->name);
		return key_fail(c, "missing required key");
	}
	return 0;
}

struct walk {
	const struct key *tab;
	void *dst;
};

static int walk_member(struct ctx *c, void *arg, const char *name,
		       struct json_object *v)
{
	struct walk *w = arg;

	return take(c, w->tab, w->dst, name, v);
}

/* Keys in file order, so the first bad one in the file is reported. */
int key_walk(struct ctx *c, const struct key *tab, void *dst,
	     struct json_object *obj)
{
	struct walk w = { tab, dst };

	if (key_each_member(c, obj, walk_member, &w) < 0)
		return -1;
	return check_required(c, tab, obj);
}

/* --- defaults and freeing ----------------------------------------------- */

/* A sub-table stored into the same struct (audit, rate_limit), as opposed
 * to one under user-picked names or filled by a setter of its own. */
static int same_dst(const struct key *k)
{
	return k->sub && !k->set && !(k->flags & KEY_NAMED);
}

void key_defaults(const struct key *tab, unsigned scope, void *dst)
{
	for (; tab->name; tab++) {
		if (!in_scope(scope, tab) ||
		    (tab->flags & (KEY_REQUIRED | KEY_INHERIT)))
			continue;
		if (same_dst(tab))
			key_defaults(tab->sub, scope, dst);
		else
			store_number(tab, dst, tab->dflt);
	}
}

void key_free_strings(struct cfg_strings *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
}

void key_free(const struct key *tab, void *dst)
{
	for (; tab->name; tab++) {
		if (tab->store == ST_STR)
			free(*(char **)slot(tab, dst));
		else if (tab->store == ST_STRS)
			key_free_strings(slot(tab, dst));
		else if (same_dst(tab))
			key_free(tab->sub, dst);
	}
}
