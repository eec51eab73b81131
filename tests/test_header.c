/* Unit tests of header.c: name comparison and the field check,
 * table-driven. */
#include "config.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>

#include "header.h"
#include "cu_run.h"

struct eq_case {
	const char *a, *b;
	int eq;
};

static const struct eq_case eq_cases[] = {
	{ "X-Api-Key", "X-Api-Key", 1 },
	{ "x-api-key", "X-API-KEY", 1 },
	{ "X_Api_Key", "X-Api-Key", 1 },
	{ "x_API-key", "X-Api_Key", 1 },
	{ "Authorization", "authorization", 1 },
	{ "Proxy_Authorization", "Proxy-Authorization", 1 },
	{ "", "", 1 },
	{ "X-Api-Key", "X-Api-Key2", 0 },
	{ "X-Api-Key2", "X-Api-Key", 0 },
	{ "X-Api-Key", "X-Api-Ke", 0 },
	{ "XApiKey", "X-Api-Key", 0 },
	{ "X.Api.Key", "X-Api-Key", 0 },
	{ "X Api Key", "X-Api-Key", 0 },
	{ "Authorization ", "Authorization", 0 },
	{ "", "A", 0 },
	/* only ASCII letters fold: no locale, no 8-bit tricks */
	{ "\xc9", "\xe9", 0 },
	{ "[", "{", 0 },
	{ "@", "`", 0 },
};

static void test_name_eq(void)
{
	for (size_t i = 0; i < sizeof(eq_cases) / sizeof(eq_cases[0]); i++) {
		const struct eq_case *t = &eq_cases[i];
		int ab = header_name_eq(t->a, t->b);
		int ba = header_name_eq(t->b, t->a);
		int n = header_name_eq_len(t->a, strlen(t->a), t->b);
		if (ab != t->eq || ba != t->eq || n != t->eq)
			fprintf(stderr, "\n    \"%s\" vs \"%s\": %d %d %d, "
				"want %d", t->a, t->b, ab, ba, n, t->eq);
		CU_ASSERT_EQUAL(ab, t->eq);
		CU_ASSERT_EQUAL(ba, t->eq);
		CU_ASSERT_EQUAL(n, t->eq);
	}
}

static void test_name_eq_len(void)
{
	/* a token inside a list: only len bytes count */
	CU_ASSERT(header_name_eq_len("x_api_key, X-Scope", 9, "X-Api-Key"));
	CU_ASSERT(!header_name_eq_len("x_api_key, X-Scope", 8, "X-Api-Key"));
	CU_ASSERT(!header_name_eq_len("x_api_key, X-Scope", 10,
				      "X-Api-Key"));
	CU_ASSERT(header_name_eq_len("", 0, ""));
	/* a NUL inside the bytes is a difference, not an end */
	CU_ASSERT(!header_name_eq_len("Cookie\0x", 8, "Cookie"));
}

struct prefix_case {
	const char *name, *prefix;
	int has;
};

static const struct prefix_case prefix_cases[] = {
	{ "X-Forwarded-For", "X-Forwarded-", 1 },
	{ "x_forwarded_host", "X-Forwarded-", 1 },
	{ "X-FORWARDED-", "X-Forwarded-", 1 },
	{ "X-Forwarded", "X-Forwarded-", 0 },
	{ "X-Forwardedfor", "X-Forwarded-", 0 },
	{ "Forwarded", "X-Forwarded-", 0 },
	{ "", "X-Forwarded-", 0 },
	{ "anything", "", 1 },
};

static void test_name_prefix(void)
{
	for (size_t i = 0; i < sizeof(prefix_cases) / sizeof(prefix_cases[0]);
	     i++) {
		const struct prefix_case *t = &prefix_cases[i];
		int got = header_name_has_prefix(t->name, t->prefix);
		if (got != t->has)
			fprintf(stderr, "\n    \"%s\" / \"%s\": %d, want %d",
				t->name, t->prefix, got, t->has);
		CU_ASSERT_EQUAL(got, t->has);
	}
}

struct field_case {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
	int ok;
};

#define F(n, v, ok) { n, sizeof(n) - 1, v, sizeof(v) - 1, ok }

static const struct field_case field_cases[] = {
	F("X-Foo", "bar", 1),
	F("X-Foo", "", 1),
	F("X-Foo", "a\tb", 1),                      /* HTAB is allowed */
	F("X-Foo", "caf\xc3\xa9", 1),               /* obs-text */
	F("X-Foo", "\x80\xff", 1),
	F("X-Foo", " a b ", 1),
	F("!#$%&'*+-.^_`|~0123456789AZaz", "x", 1), /* every tchar */
	F("X_Api_Key", "x", 1),
	/* values: any control byte but HTAB */
	F("X-Foo", "a\rAuthorization: Bearer x", 0),
	F("X-Foo", "a\nb", 0),
	F("X-Foo", "a\r\nb", 0),
	F("X-Foo", "a\0b", 0),
	F("X-Foo", "\001", 0),
	F("X-Foo", "\033[2J", 0),
	F("X-Foo", "a\vb", 0),
	F("X-Foo", "a\fb", 0),
	F("X-Foo", "\x1f", 0),
	F("X-Foo", "a\x7f", 0),
	/* names: tokens only */
	F("", "x", 0),
	F("Authorization ", "x", 0),                /* blank before ':' */
	F("Authorization\t", "x", 0),
	F(" Authorization", "x", 0),
	F("X Foo", "x", 0),
	F("X-Foo:", "x", 0),
	F("X-Foo(1)", "x", 0),
	F("X/Foo", "x", 0),
	F("X\"Foo", "x", 0),
	F("X,Foo", "x", 0),
	F("X;Foo", "x", 0),
	F("X=Foo", "x", 0),
	F("X@Foo", "x", 0),
	F("X[Foo]", "x", 0),
	F("X{Foo}", "x", 0),
	F("X?Foo", "x", 0),
	F("X\\Foo", "x", 0),
	F("X<Foo>", "x", 0),
	F("X\rFoo", "x", 0),
	F("X\nFoo", "x", 0),
	F("X\0Foo", "x", 0),
	F("X\001Foo", "x", 0),
	F("X\x7f", "x", 0),
	F("Caf\xc3\xa9", "x", 0),
};

static void test_field_problem(void)
{
	for (size_t i = 0; i < sizeof(field_cases) / sizeof(field_cases[0]);
	     i++) {
		const struct field_case *t = &field_cases[i];
		const char *why = header_field_problem(t->name, t->name_len,
						       t->value, t->value_len);
		if ((why == NULL) != t->ok)
			fprintf(stderr, "\n    case %zu: %s, want %s", i,
				why ? why : "ok", t->ok ? "ok" : "refused");
		CU_ASSERT_EQUAL(why == NULL, t->ok);
		if (why != NULL)
			CU_ASSERT_EQUAL(strncmp(why, "bad request: ", 13), 0);
	}
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("header", NULL, NULL);
	CU_add_test(s, "names: case and '-'/'_' folded", test_name_eq);
	CU_add_test(s, "names: counted bytes", test_name_eq_len);
	CU_add_test(s, "names: folded prefix", test_name_prefix);
	CU_add_test(s, "fields: token names, no control bytes",
		    test_field_problem);
	return cu_run();
}
