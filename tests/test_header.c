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

/* One row per name: what each predicate says of it. The table in
 * header.c is the one place these are decided; this pins every answer
 * (the lists it replaced: proxy.c's two, cfg.c's, policy.c's). */
struct rule_case {
	const char *name;
	int hop, response_hop, injectable;
	enum header_forward forward;
};

#define FWD HEADER_FORWARD
#define NEV HEADER_NEVER
#define LST HEADER_IF_LISTED

static const struct rule_case rule_cases[] = {
	{ "Connection", 1, 1, 0, FWD },
	{ "keep_alive", 1, 1, 0, FWD },
	{ "Proxy-Connection", 1, 1, 0, FWD },
	{ "Proxy-Authenticate", 1, 1, 1, FWD },
	{ "Proxy-Authorization", 1, 0, 1, NEV },
	{ "te", 1, 1, 0, FWD },
	{ "Trailer", 1, 1, 0, FWD },
	{ "Transfer-Encoding", 1, 1, 0, FWD },
	{ "Upgrade", 1, 1, 0, FWD },
	{ "HOST", 1, 0, 0, FWD },
	{ "Content-Length", 1, 1, 0, FWD },
	{ "Expect", 1, 0, 1, FWD },
	{ "Authorization", 0, 0, 1, NEV },
	{ "cookie", 0, 0, 1, LST },
	{ "Forwarded", 0, 0, 1, LST },
	{ "X-Forwarded-For", 0, 0, 1, LST },
	{ "x_forwarded_proto", 0, 0, 1, LST },
	{ "X-Forwarded-Anything", 0, 0, 1, LST },
	{ "X-Forwarded", 0, 0, 1, FWD },
	{ "X-Real-IP", 0, 0, 1, LST },
	{ "True-Client-IP", 0, 0, 1, LST },
	{ "X-Client-IP", 0, 0, 1, LST },
	{ "CF-Connecting-IP", 0, 0, 1, LST },
	{ "X-Cluster-Client-IP", 0, 0, 1, LST },
	{ "X-ProxyUser-IP", 0, 0, 1, LST },
	{ "X-Original-Forwarded-For", 0, 0, 1, LST },
	{ "Via", 0, 0, 1, LST },
	{ "X-Host", 0, 0, 1, LST },
	{ "X-HTTP-Method-Override", 0, 0, 1, LST },
	{ "X-HTTP-Method", 0, 0, 1, LST },
	{ "X-Method-Override", 0, 0, 1, LST },
	{ "X-Original-Method", 0, 0, 1, LST },
	{ "X-Original-URL", 0, 0, 1, LST },
	{ "X-Rewrite-URL", 0, 0, 1, LST },
	{ "Accept", 0, 0, 1, FWD },
	{ "Content-Type", 0, 0, 1, FWD },
	{ "X-Api-Key", 0, 0, 1, FWD },
	{ "Hostname", 0, 0, 1, FWD },
	{ "Connections", 0, 0, 1, FWD },
	{ "", 0, 0, 1, FWD },
};

static void test_rules(void)
{
	for (size_t i = 0; i < sizeof(rule_cases) / sizeof(rule_cases[0]);
	     i++) {
		const struct rule_case *t = &rule_cases[i];
		int hop = header_hop_by_hop(t->name);
		int rhop = header_response_hop_by_hop(t->name, strlen(t->name));
		int inj = header_injectable(t->name);
		enum header_forward fwd = header_forwardable(t->name);
		if (hop != t->hop || rhop != t->response_hop ||
		    inj != t->injectable || fwd != t->forward)
			fprintf(stderr, "\n    %s: hop %d response %d "
				"injectable %d forward %d", t->name, hop, rhop,
				inj, (int)fwd);
		CU_ASSERT_EQUAL(hop, t->hop);
		CU_ASSERT_EQUAL(rhop, t->response_hop);
		CU_ASSERT_EQUAL(inj, t->injectable);
		CU_ASSERT_EQUAL(fwd, t->forward);
	}
	/* an answer's name is counted bytes: a longer one is another name */
	CU_ASSERT(header_response_hop_by_hop("Connection: x", 10));
	CU_ASSERT(!header_response_hop_by_hop("Connection: x", 11));
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
	CU_add_test(s, "rules: which names go upstream", test_rules);
	return cu_run();
}
