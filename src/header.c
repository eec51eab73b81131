/* header — see header.h. */
#include "config.h"

#include "header.h"

#include <string.h>

static int fold(unsigned char ch)
{
	if (ch == '_')
		return '-';
	return ch >= 'A' && ch <= 'Z' ? ch + ('a' - 'A') : ch;
}

/* a[0..a_len) against b: 0 equal; else which differs. prefix: b may be
 * shorter than a. */
static int folded_cmp(const char *a, size_t a_len, const char *b,
		      int prefix)
{
	size_t i;

	for (i = 0; i < a_len && b[i] != '\0'; i++)
		if (fold((unsigned char)a[i]) != fold((unsigned char)b[i]))
			return 1;
	if (b[i] != '\0')
		return 1;
	return i == a_len || prefix ? 0 : 1;
}

int header_name_eq(const char *a, const char *b)
{
	return folded_cmp(a, strlen(a), b, 0) == 0;
}

int header_name_eq_len(const char *a, size_t a_len, const char *b)
{
	return folded_cmp(a, a_len, b, 0) == 0;
}

int header_name_has_prefix(const char *name, const char *prefix)
{
	return folded_cmp(name, strlen(name), prefix, 1) == 0;
}

/* RFC 9110 5.6.2 tchar. */
static int is_tchar(unsigned char ch)
{
	if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
	    (ch >= 'A' && ch <= 'Z'))
		return 1;
	return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

int header_is_token(const char *s, size_t len)
{
	if (len == 0)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!is_tchar((unsigned char)s[i]))
			return 0;
	return 1;
}

const char *header_field_problem(const char *name, size_t name_len,
				 const char *value, size_t value_len)
{
	if (name_len == 0)
		return "bad request: empty header name";
	for (size_t i = 0; i < name_len; i++)
		if (!is_tchar((unsigned char)name[i]))
			return "bad request: a header name is not a token";
	for (size_t i = 0; i < value_len; i++) {
		unsigned char ch = (unsigned char)value[i];
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return "bad request: control character in a header "
			       "value";
	}
	return NULL;
}
