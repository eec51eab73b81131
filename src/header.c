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

/* ---- the one table of names ---- */

enum {
	HOP = 1,                /* a request's hop-by-hop (or framing) header */
	RESPONSE_HOP = 2,       /* an answer's: MHD or the upstream hop's */
	NOT_INJECTABLE = 4,     /* refused in inject_headers */
	NEVER = 8,              /* a client's credential: never forwarded */
	IF_LISTED = 16,         /* forwarded only when forward_headers says */
};

static const struct {
	const char *name;
	unsigned flags;
} names[] = {
	/* RFC 9110 7.6.1, and what the proxy itself writes */
	{ "Connection", HOP | RESPONSE_HOP | NOT_INJECTABLE },
	{ "Keep-Alive", HOP | RESPONSE_HOP | NOT_INJECTABLE },
	{ "Proxy-Connection", HOP | RESPONSE_HOP | NOT_INJECTABLE },
	{ "Proxy-Authenticate", HOP | RESPONSE_HOP },
	{ "Proxy-Authorization", HOP | NEVER },
	{ "TE", HOP | RESPONSE_HOP | NOT_INJECTABLE },
	{ "Trailer", HOP | RESPONSE_HOP | NOT_INJECTABLE },
	{ "Transfer-Encoding", HOP | RESPONSE_HOP | NOT_INJECTABLE },
	{ "Upgrade", HOP | RESPONSE_HOP | NOT_INJECTABLE },
	{ "Host", HOP | NOT_INJECTABLE },
	{ "Content-Length", HOP | RESPONSE_HOP | NOT_INJECTABLE },
	{ "Expect", HOP },
	/* the client's credentials and cookies */
	{ "Authorization", NEVER },
	{ "Cookie", IF_LISTED },
	/* who the client is ("X-Forwarded-" names: see below) */
	{ "Forwarded", IF_LISTED },
	{ "X-Real-IP", IF_LISTED },
	{ "True-Client-IP", IF_LISTED },
	{ "X-Client-IP", IF_LISTED },
	{ "CF-Connecting-IP", IF_LISTED },
	{ "X-Cluster-Client-IP", IF_LISTED },
	{ "X-ProxyUser-IP", IF_LISTED },
	{ "X-Original-Forwarded-For", IF_LISTED },
	{ "Via", IF_LISTED },
	{ "X-Host", IF_LISTED },
	/* another method or path than the one the policy checked */
	{ "X-HTTP-Method-Override", IF_LISTED },
	{ "X-HTTP-Method", IF_LISTED },
	{ "X-Method-Override", IF_LISTED },
	{ "X-Original-Method", IF_LISTED },
	{ "X-Original-URL", IF_LISTED },
	{ "X-Rewrite-URL", IF_LISTED },
};

/* Names with this prefix (X-Forwarded-For, -Host, -Proto, ...) are
 * IF_LISTED too, whatever follows. */
#define SPOOFABLE_PREFIX "X-Forwarded-"

static unsigned flags_of(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (header_name_eq_len(name, len, names[i].name))
			return names[i].flags;
	return 0;
}

int header_hop_by_hop(const char *name)
{
	return (flags_of(name, strlen(name)) & HOP) != 0;
}

int header_response_hop_by_hop(const char *name, size_t len)
{
	return (flags_of(name, len) & RESPONSE_HOP) != 0;
}

int header_injectable(const char *name)
{
	return (flags_of(name, strlen(name)) & NOT_INJECTABLE) == 0;
}

enum header_forward header_forwardable(const char *name)
{
	unsigned flags = flags_of(name, strlen(name));

	if (flags & NEVER)
		return HEADER_NEVER;
	if ((flags & IF_LISTED) ||
	    header_name_has_prefix(name, SPOOFABLE_PREFIX))
		return HEADER_IF_LISTED;
	return HEADER_FORWARD;
}
