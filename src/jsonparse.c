/* jsonparse — see jsonparse.h. */
#include "config.h"

#include "jsonparse.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define TOKENER_FLAGS (JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8)

/* Bytes of heap json-c 0.16 (x86_64, glibc) holds per parsed value,
 * malloc overhead and the parent's slot included, measured by parsing
 * 100000 of each in an array, then rounded up:
 *   {}   792: the object and its 16-entry hash table
 *   []   152
 *   ""    88  (a short string is stored inline; a long one adds its
 *              length, not counted here)
 *   0     72; true 72; null 8 (no object)
 *   1.5  104, and 80 more once numbers_ok() serialises it
 *   a member of a large object: its hash entry, which the table's growth
 *        (load 0.66, doubling; old and new table live together while it
 *        moves) makes up to ~180 bytes, and the key's copy (32).
 * A member's key is also charged as a string. */
#define COST_OBJECT 800
#define COST_ARRAY 160
#define COST_STRING 96
#define COST_MEMBER 128
#define COST_LITERAL 80   /* true, false, null, an integer */
#define COST_DOUBLE 192

struct scan {
	size_t cost;
	int too_deep;
	int raw_control;        /* in a string: RFC 8259 wants it escaped,
				 * json-c takes it */
};

static int token_char(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
	       (ch >= 'A' && ch <= 'Z') || ch == '-' || ch == '+' || ch == '.';
}

/* A double, as json-c would parse it: a fraction, an exponent, NaN,
 * Infinity. */
static int double_char(char ch)
{
	return ch == '.' || ch == 'e' || ch == 'E' || ch == 'N' || ch == 'I';
}

/* One pass over the bytes, strings skipped: what json-c would spend on
 * them, whether they nest too deep. It over-counts rather than under:
 * invalid text is charged as far as json-c could get before it fails. */
static void scan(const char *s, size_t len, size_t limit, struct scan *r)
{
	int depth = 0, in_token = 0, is_number = 0, is_double = 0;

	r->cost = 0;
	r->too_deep = 0;
	r->raw_control = 0;
	for (size_t i = 0; i < len && r->cost <= limit; i++) {
		char ch = s[i];
		if (in_token && token_char(ch)) {
			if (is_number && !is_double && double_char(ch)) {
				is_double = 1;
				r->cost += COST_DOUBLE - COST_LITERAL;
			}
			continue;
		}
		in_token = 0;
		switch (ch) {
		case '"':
			r->cost += COST_STRING;
			for (i++; i < len && s[i] != '"'; i++) {
				if ((unsigned char)s[i] < 0x20)
					r->raw_control = 1;
				else if (s[i] == '\\')
					i++;
			}
			continue;
		case '{':
		case '[':
			r->cost += ch == '{' ? COST_OBJECT : COST_ARRAY;
			if (++depth > JSONPARSE_MAX_DEPTH) {
				r->too_deep = 1;
				return;
			}
			continue;
		case '}':
		case ']':
			if (depth > 0)
				depth--;
			continue;
		case ':':
			r->cost += COST_MEMBER;
			continue;
		}
		if (token_char(ch)) {
			in_token = 1;
			is_number = strchr("tfn", ch) == NULL;
			is_double = is_number && double_char(ch);
			r->cost += is_double ? COST_DOUBLE : COST_LITERAL;
		}
	}
}

size_t jsonparse_cost(const char *text, size_t len, size_t limit)
{
	struct scan r;

	scan(text, len, limit, &r);
	return r.cost;
}

/* RFC 8259 number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static const char *skip_digits(const char *s, int need)
{
	const char *start = s;

	while (*s >= '0' && *s <= '9')
		s++;
	return s - start >= need ? s : NULL;
}

static int json_number(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if ((s = skip_digits(s, 1)) == NULL)
		return 0;
	if (*s == '.' && (s = skip_digits(s + 1, 1)) == NULL)
		return 0;
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if ((s = skip_digits(s, 1)) == NULL)
			return 0;
	}
	return *s == '\0';
}

/* json-c (even strict) takes NaN, Infinity and "1.", and clamps integers
 * beyond 64 bits: refuse those rather than pass on something that is not
 * JSON, or a number other than the client's. */
static int numbers_ok(struct json_object *o, int depth)
{
	if (depth > JSONPARSE_MAX_DEPTH)
		return 0; /* the scan made sure a parsed value never is */
	switch (json_object_get_type(o)) {
	case json_type_double:
		return json_number(json_object_to_json_string_ext(o, 0));
	case json_type_int:
		return json_object_get_int64(o) != INT64_MIN &&
		       json_object_get_uint64(o) != UINT64_MAX;
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(o); i++)
			if (!numbers_ok(json_object_array_get_idx(o, i),
					depth + 1))
				return 0;
		return 1;
	case json_type_object: {
		json_object_object_foreach(o, key, val)
		{
			(void)key;
			if (!numbers_ok(val, depth + 1))
				return 0;
		}
		return 1;
	}
	default:
		return 1;
	}
}

static int only_space(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' &&
		    s[i] != '\r')
			return 0;
	return 1;
}

__attribute__((format(printf, 3, 4))) static int
failed(struct jsonparse_error *err, enum jsonparse_code code,
       const char *fmt, ...)
{
	va_list ap;

	if (err != NULL) {
		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
		va_end(ap);
	}
	return code;
}

static int parse(const char *text, size_t len, size_t max_cost,
		 struct json_object **out, struct jsonparse_error *err)
{
	struct json_tokener *tok;
	enum json_tokener_error jerr;
	struct json_object *v;
	struct scan sc;

	*out = NULL;
	if (text == NULL || only_space(text, len))
		return failed(err, JSONPARSE_INVALID, "empty");
	if (len > INT_MAX)
		return failed(err, JSONPARSE_TOO_COMPLEX, "too long");
	scan(text, len, max_cost, &sc);
	if (sc.too_deep)
		return failed(err, JSONPARSE_TOO_COMPLEX,
			      "nesting too deep (over %d levels)",
			      JSONPARSE_MAX_DEPTH);
	if (sc.cost > max_cost)
		return failed(err, JSONPARSE_TOO_COMPLEX,
			      "too complex: more than %zu KiB to parse",
			      max_cost >> 10);
	if (sc.raw_control)
		return failed(err, JSONPARSE_INVALID,
			      "control character in a string");
	if ((tok = json_tokener_new_ex(JSONPARSE_MAX_DEPTH)) == NULL)
		return failed(err, JSONPARSE_NOMEM, "out of memory");
	json_tokener_set_flags(tok, TOKENER_FLAGS);
	v = json_tokener_parse_ex(tok, text, (int)len);
	jerr = json_tokener_get_error(tok);
	if (jerr == json_tokener_continue) {
		/* all consumed; a bare number or literal ends at EOF */
		v = json_tokener_parse_ex(tok, "", 1);
		jerr = json_tokener_get_error(tok);
	} else if (jerr == json_tokener_success) {
		size_t end = json_tokener_get_parse_end(tok);
		if (end > len || !only_space(text + end, len - end))
			jerr = json_tokener_error_parse_unexpected;
	}
	json_tokener_free(tok);
	if (jerr != json_tokener_success) {
		json_object_put(v);
		return failed(err, JSONPARSE_INVALID, "%s",
			      json_tokener_error_desc(jerr));
	}
	if (!numbers_ok(v, 0)) {
		json_object_put(v);
		return failed(err, JSONPARSE_INVALID,
			      "number is not JSON or out of range");
	}
	*out = v;
	if (err != NULL) {
		err->code = JSONPARSE_OK;
		err->message[0] = '\0';
	}
	return JSONPARSE_OK;
}

int jsonparse_strict(const char *text, size_t len, struct json_object **out,
		     struct jsonparse_error *err)
{
	return parse(text, len, JSONPARSE_MAX_COST, out, err);
}

int jsonparse_strict_max(const char *text, size_t len, size_t max_cost,
			 struct json_object **out, struct jsonparse_error *err)
{
	return parse(text, len, max_cost, out, err);
}
