/* mcplist — see mcplist.h. The decision on each entry is the policy's
 * (policy_mcp_list_keeps); this file finds the answers and rewrites
 * them. */
#include "config.h"

#include "mcplist.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonparse.h"

#define WRITE_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
#define PRIVATE_VERSION "2026-07-28" /* its lists say their cache scope */

/* One list request whose answer has not come yet. */
struct owed {
	struct json_object *id; /* a reference */
	const char *method;	/* a list method: policy_mcp_list_key */
	int private_scope;	/* "cacheScope": "private" whatever */
};

struct mcplist {
	const struct cfg *cfg; /* a reference: the tool lives in it */
	const struct cfg_tool *tool;
	char *tool_name;
	struct owed *owed;
	size_t n_owed;
	/* the event stream */
	struct dbuf event; /* the line being read, or the message held
			   * from its first data: line */
	int holding;       /* a data: line came in this event */
	size_t line_len;   /* bytes of its current line so far */
	int after_cr;	   /* the last byte was CR */
	unsigned bom;	   /* bytes of a leading BOM seen */
	int started;	   /* past where a BOM could be */
};

static const char *const list_methods[] = {
    "tools/list",
    "prompts/list",
    "resources/list",
    "resources/templates/list",
};

/* The list method name as a static string, or NULL. */
static const char *list_method(const char *name)
{
	for (size_t i = 0; i < sizeof(list_methods) / sizeof(*list_methods);
	     i++)
		if (strcmp(name, list_methods[i]) == 0)
			return list_methods[i];
	return NULL;
}

int mcplist_wanted(struct json_object *methods)
{
	size_t n = methods ? json_object_array_length(methods) : 0;

	for (size_t i = 0; i < n; i++) {
		const char *s = json_object_get_string(
		    json_object_array_get_idx(methods, i));
		if (s != NULL && list_method(s) != NULL)
			return 1;
	}
	return 0;
}

/* ---- the requests ---- */

static const char *get_string(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* The version a message speaks: the header's, else its _meta's. */
static const char *message_version(struct json_object *msg, const char *header)
{
	struct json_object *params, *meta;

	if (header != NULL)
		return header;
	if (!json_object_object_get_ex(msg, "params", &params) ||
	    !json_object_object_get_ex(params, "_meta", &meta))
		return NULL;
	return get_string(meta, POLICY_MCP_META_VERSION);
}

static int note_request(struct mcplist *l, struct json_object *msg,
			const char *version)
{
	struct json_object *id;
	const char *m = get_string(msg, "method");

	if (m == NULL || (m = list_method(m)) == NULL ||
	    !json_object_object_get_ex(msg, "id", &id) ||
	    (!json_object_is_type(id, json_type_string) &&
	     !json_object_is_type(id, json_type_int) &&
	     !json_object_is_type(id, json_type_double)))
		return 0;
	struct owed *o = realloc(l->owed, (l->n_owed + 1) * sizeof(*o));
	if (o == NULL)
		return -1;
	l->owed = o;
	version = message_version(msg, version);
	o[l->n_owed].id = json_object_get(id);
	o[l->n_owed].method = m;
	o[l->n_owed].private_scope =
	    version != NULL && strcmp(version, PRIVATE_VERSION) == 0;
	l->n_owed++;
	return 0;
}

static int note_requests(struct mcplist *l, struct json_object *root,
			 const char *version)
{
	if (!json_object_is_type(root, json_type_array))
		return note_request(l, root, version);
	for (size_t i = 0; i < json_object_array_length(root); i++)
		if (note_request(l, json_object_array_get_idx(root, i),
				 version) < 0)
			return -1;
	return 0;
}

void mcplist_free(struct mcplist *l)
{
	if (l == NULL)
		return;
	for (size_t i = 0; i < l->n_owed; i++)
		json_object_put(l->owed[i].id);
	free(l->owed);
	free(l->tool_name);
	dbuf_free(&l->event);
	cfg_release(l->cfg);
	free(l);
}

/* The header's version decoded (caller frees), or NULL: none given (a
 * malformed one was refused by the check before). */
static char *header_version(const struct policy_mcp_headers *h)
{
	char *v = NULL;

	if (h != NULL && h->version != NULL &&
	    policy_mcp_header_decode(h->version, &v) < 0)
		return NULL;
	return v;
}

int mcplist_new(const struct cfg_tool *tool, const char *tool_name,
		const struct policy_mcp_headers *h, const char *body,
		size_t len, struct mcplist **out)
{
	struct mcplist *l = calloc(1, sizeof(*l));
	struct json_object *root = NULL;
	char *version = header_version(h);
	int rc = -1;

	*out = NULL;
	if (l == NULL || (l->tool_name = strdup(tool_name)) == NULL ||
	    jsonparse_strict(body, len, &root, NULL) != JSONPARSE_OK) {
		free(l != NULL ? l->tool_name : NULL);
		free(l);
		free(version);
		return -1;
	}
	l->cfg = cfg_hold(tool->owner);
	l->tool = tool;
	dbuf_init(&l->event, MCPLIST_MAX);
	if (note_requests(l, root, version) == 0) {
		rc = 0;
		if (l->n_owed > 0) {
			*out = l;
			l = NULL;
		}
	}
	json_object_put(root);
	free(version);
	mcplist_free(l);
	return rc;
}

const char *mcplist_tool_name(const struct mcplist *l) { return l->tool_name; }

size_t mcplist_owed(const struct mcplist *l) { return l->n_owed; }

/* ---- the answers ---- */

/* Two ids as JSON values: strings by their bytes, numbers by value. */
static int same_id(struct json_object *a, struct json_object *b)
{
	json_type ta = json_object_get_type(a), tb = json_object_get_type(b);

	if (ta == json_type_string || tb == json_type_string)
		return ta == tb &&
		       json_object_get_string_len(a) ==
			   json_object_get_string_len(b) &&
		       memcmp(json_object_get_string(a),
			      json_object_get_string(b),
			      (size_t)json_object_get_string_len(a)) == 0;
	if ((ta != json_type_int && ta != json_type_double) ||
	    (tb != json_type_int && tb != json_type_double))
		return 0;
	if (ta == json_type_int && tb == json_type_int)
		return json_object_get_int64(a) == json_object_get_int64(b);
	return json_object_get_double(a) == json_object_get_double(b);
}

/* The owed request msg answers, taken off the list: 1 and *o, or 0. */
static int answered(struct mcplist *l, struct json_object *msg, struct owed *o)
{
	struct json_object *id;

	if (!json_object_is_type(msg, json_type_object) ||
	    json_object_object_get_ex(msg, "method", NULL) ||
	    !json_object_object_get_ex(msg, "id", &id))
		return 0;
	for (size_t i = 0; i < l->n_owed; i++) {
		if (!same_id(l->owed[i].id, id))
			continue;
		*o = l->owed[i];
		l->owed[i] = l->owed[--l->n_owed];
		return 1;
	}
	return 0;
}

/* The entries of result the policy keeps; a list that is not an array
 * is emptied (fail closed). 0, or -1 on out of memory. */
static int filter_result(const struct mcplist *l, const struct owed *o,
			 struct json_object *result)
{
	const char *key = policy_mcp_list_key(o->method);
	struct json_object *list, *scope;

	if (json_object_object_get_ex(result, key, &list) &&
	    !json_object_is_type(list, json_type_array) &&
	    json_object_object_add(result, key, json_object_new_array()) < 0)
		return -1;
	if (json_object_object_get_ex(result, key, &list))
		for (size_t i = json_object_array_length(list); i-- > 0;)
			if (!policy_mcp_list_keeps(
				l->tool, o->method,
				json_object_array_get_idx(list, i)))
				json_object_array_del_idx(list, i, 1);
	if (!o->private_scope &&
	    !json_object_object_get_ex(result, "cacheScope", &scope))
		return 0;
	return json_object_object_add(result, "cacheScope",
				      json_object_new_string("private"));
}

/* One message: 1 a list answer (filtered in place), 0 not, -1 out of
 * memory. An error answer passes as it is, its request answered. */
static int filter_message(struct mcplist *l, struct json_object *msg)
{
	struct owed o;
	struct json_object *result;
	int rc = 0;

	if (!answered(l, msg, &o))
		return 0;
	if (json_object_object_get_ex(msg, "result", &result) &&
	    json_object_is_type(result, json_type_object))
		rc = filter_result(l, &o, result) < 0 ? -1 : 1;
	json_object_put(o.id);
	return rc;
}

/* Every message of root (one, or a batch): how many were list answers,
 * or -1 on out of memory. */
static int filter_root(struct mcplist *l, struct json_object *root)
{
	int n = 0, rc;

	if (!json_object_is_type(root, json_type_array))
		return filter_message(l, root);
	for (size_t i = 0; i < json_object_array_length(root); i++) {
		rc = filter_message(l, json_object_array_get_idx(root, i));
		if (rc < 0)
			return -1;
		n += rc;
	}
	return n;
}

/* text read, filtered and, when it held a list answer, written again
 * into *out: as mcplist_filter_json. what names the text in reasons. */
static int filter_text(struct mcplist *l, const char *text, size_t len,
		       const char *what, struct dbuf *out, char *why,
		       size_t why_len)
{
	struct json_object *root = NULL;
	struct jsonparse_error err;
	size_t n = 0;
	int rc;

	if (jsonparse_strict_max(text, len, MCPLIST_MAX_COST, &root, &err) !=
	    JSONPARSE_OK) {
		snprintf(why, why_len,
			 "%s to a list request is not JSON the "
			 "gateway can read: %s",
			 what, err.message);
		return -1;
	}
	rc = filter_root(l, root);
	if (rc > 0) {
		const char *s =
		    json_object_to_json_string_length(root, WRITE_FLAGS, &n);
		if (s == NULL || dbuf_add(out, s, n) < 0)
			rc = -1;
	}
	json_object_put(root);
	if (rc < 0)
		snprintf(why, why_len, "out of memory");
	return rc > 0 ? 1 : rc;
}

static void too_large(char *why, size_t why_len, const char *what)
{
	snprintf(why, why_len,
		 "%s to a list request is larger than %zu "
		 "bytes (the limit of a list answer)",
		 what, MCPLIST_MAX);
}

int mcplist_filter_json(struct mcplist *l, const char *body, size_t len,
			char **out, size_t *out_len, char *why, size_t why_len)
{
	struct dbuf b = DBUF_INIT((size_t)-1 / 2);
	int rc;

	*out = NULL;
	if (len > MCPLIST_MAX) {
		too_large(why, why_len, "the answer");
		return -1;
	}
	rc = filter_text(l, body, len, "the answer", &b, why, why_len);
	if (rc > 0 && (*out = dbuf_detach(&b, out_len)) == NULL) {
		snprintf(why, why_len, "out of memory");
		rc = -1;
	}
	dbuf_free(&b);
	return rc;
}

/* ---- the event stream ---- */

/* The line at ev[i..), its length without its end (*text) and with it. */
static size_t next_line(const char *ev, size_t len, size_t i, size_t *text)
{
	size_t e = i;

	while (e < len && ev[e] != '\r' && ev[e] != '\n')
		e++;
	*text = e - i;
	if (e < len && ev[e] == '\r' && e + 1 < len && ev[e + 1] == '\n')
		return e + 2 - i;
	return e < len ? e + 1 - i : e - i;
}

/* A data: line's value (the standard's reading: one space dropped), or
 * NULL when the line is another field, a comment or blank. */
static const char *data_value(const char *line, size_t n, size_t *vn)
{
	if (n < 4 || memcmp(line, "data", 4) != 0 || (n > 4 && line[4] != ':'))
		return NULL;
	size_t skip = n > 4 ? 5 : 4;
	if (skip < n && line[skip] == ' ')
		skip++;
	*vn = n - skip;
	return line + skip;
}

/* The event's data: its data: lines joined by "\n"; 0 none (or only
 * blanks: no message, so no answer, a client could read), 1 some, -1
 * too large. */
static int event_data(const char *ev, size_t len, struct dbuf *data)
{
	size_t i = 0, text, vn, step;
	int lines = 0;

	while (i < len) {
		step = next_line(ev, len, i, &text);
		const char *v = data_value(ev + i, text, &vn);
		if (v != NULL &&
		    ((lines++ > 0 && dbuf_add(data, "\n", 1) < 0) ||
		     dbuf_add(data, v, vn) < 0))
			return -1;
		i += step;
	}
	const char *d = dbuf_str(data);
	return lines > 0 && d[strspn(d, " \t\r\n")] != '\0';
}

/* The event again with its data: lines replaced by one holding json,
 * where the first was, with that line's end. */
static int rewrite_event(const char *ev, size_t len, const char *json,
			 size_t json_len, struct dbuf *out)
{
	size_t i = 0, text, vn, step;
	int first = 1;

	while (i < len) {
		step = next_line(ev, len, i, &text);
		if (data_value(ev + i, text, &vn) == NULL) {
			dbuf_add(out, ev + i, step);
		} else if (first) {
			first = 0;
			dbuf_add(out, "data: ", 6);
			dbuf_add(out, json, json_len);
			dbuf_add(out, ev + i + text, step - text);
		}
		i += step;
	}
	return dbuf_error(out) ? -1 : 0;
}

/* The held event is whole (or the stream ended): out it goes. */
static int event_end(struct mcplist *l, struct dbuf *out, char *why,
		     size_t why_len)
{
	struct dbuf data = DBUF_INIT(MCPLIST_MAX);
	struct dbuf json = DBUF_INIT((size_t)-1 / 2);
	const char *ev = dbuf_str(&l->event);
	size_t len = dbuf_len(&l->event);
	int rc = event_data(ev, len, &data);

	snprintf(why, why_len, "out of memory"); /* unless said below */
	if (rc < 0)
		too_large(why, why_len, "an event of the answer");
	if (rc > 0)
		rc = filter_text(l, dbuf_str(&data), dbuf_len(&data),
				 "an event of the answer", &json, why, why_len);
	if (rc == 0 && dbuf_add(out, ev, len) < 0)
		rc = -1;
	else if (rc > 0)
		rc = rewrite_event(ev, len, dbuf_str(&json), dbuf_len(&json),
				   out);
	dbuf_free(&data);
	dbuf_free(&json);
	dbuf_reset(&l->event);
	l->line_len = 0;
	l->holding = 0;
	return rc < 0 ? -1 : 0;
}

/* A leading byte-order mark goes on at once: a client skips it, and it
 * is no part of the first line. How many bytes of p it took. */
static size_t pass_bom(struct mcplist *l, const char *p, size_t n,
		       struct dbuf *out)
{
	static const char bom[] = "\xEF\xBB\xBF";
	size_t i = 0;

	while (!l->started && i < n && p[i] == bom[l->bom]) {
		dbuf_add(out, p + i++, 1);
		l->started = ++l->bom == 3;
	}
	if (i < n)
		l->started = 1;
	return i;
}

/* One line end at p[0] (CR or LF): an empty line ends the event. */
static int line_end(struct mcplist *l, char c, struct dbuf *out, char *why,
		    size_t why_len)
{
	int blank = l->line_len == 0;
	size_t vn, n = dbuf_len(&l->event);

	l->line_len = 0;
	l->after_cr = c == '\r';
	if (l->holding)
		return blank ? event_end(l, out, why, why_len) : 0;
	/* not holding: the buffer is this one line, with its end */
	if (!blank && data_value(dbuf_str(&l->event), n - 1, &vn) != NULL) {
		l->holding = 1; /* a message begins: held to its end */
		return 0;
	}
	dbuf_add(out, dbuf_str(&l->event), n);
	dbuf_reset(&l->event);
	return 0;
}

int mcplist_feed_sse(struct mcplist *l, const char *p, size_t n,
		     struct dbuf *out, char *why, size_t why_len)
{
	size_t i = l->started ? 0 : pass_bom(l, p, n, out);

	while (i < n) {
		if (l->n_owed == 0 && dbuf_len(&l->event) == 0) {
			dbuf_add(out, p + i, n - i); /* none owed */
			break;
		}
		if (l->after_cr && p[i] == '\n') { /* the LF of a CRLF */
			l->after_cr = 0;
			dbuf_add(dbuf_len(&l->event) ? &l->event : out, "\n",
				 1);
			i++;
			continue;
		}
		l->after_cr = 0;
		size_t e = i;
		while (e < n && p[e] != '\r' && p[e] != '\n')
			e++;
		l->line_len += e - i;
		if (dbuf_add(&l->event, p + i, e == n ? e - i : e + 1 - i) <
		    0) {
			too_large(why, why_len, "an event of the answer");
			return -1;
		}
		if (e < n && line_end(l, p[e], out, why, why_len) < 0)
			return -1;
		i = e == n ? n : e + 1;
	}
	if (dbuf_error(out))
		snprintf(why, why_len, "out of memory");
	return dbuf_error(out) ? -1 : 0;
}

void mcplist_finish_sse(struct mcplist *l, struct dbuf *out)
{
	char why[8];

	if (!l->holding) /* part of a line that holds no message */
		dbuf_add(out, dbuf_str(&l->event), dbuf_len(&l->event));
	else if (event_end(l, out, why, sizeof(why)) < 0)
		dbuf_reset(&l->event);
}
