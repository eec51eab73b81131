/* Unit tests of redact.c: JSON keys at any depth, argv flags, bodies. */
#include "config.h"

#include <CUnit/Basic.h>
#include <json-c/json.h>
#include <string.h>

#include "cu_run.h"

/* The fixtures are string literals put where the config and the exec spec
 * hold writable strings (char **: the config owns and frees its own);
 * nothing here writes through them, so -Wwrite-strings' const is
 * dropped on purpose in this file. */
#pragma GCC diagnostic ignored "-Wdiscarded-qualifiers"
#pragma GCC diagnostic ignored "-Wcast-qual"
#include "redact.h"

static const char *plain(struct json_object *v)
{
	return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
						 JSON_C_TO_STRING_NOSLASHESCAPE);
}

struct json_case {
	const char *in;
	const char *out;
};

static void test_json_depth(void)
{
	static char *pats[] = { "recipient", "*token*", "pass?ord" };
	const struct cfg_strings p = { pats, 3 };
	static const struct json_case cases[] = {
		{ "{\"recipient\":[\"+1555\"],\"message\":\"hi\"}",
		  "{\"recipient\":\"[REDACTED]\",\"message\":\"hi\"}" },
		{ "{\"params\":{\"a\":{\"b\":{\"Recipient\":\"+1\"}}}}",
		  "{\"params\":{\"a\":{\"b\":{\"Recipient\":\"[REDACTED]\"}}}}" },
		{ "[{\"x\":[{\"api_token_v2\":{\"deep\":1}}]},7]",
		  "[{\"x\":[{\"api_token_v2\":\"[REDACTED]\"}]},7]" },
		{ "{\"password\":1,\"PASSWORD\":true,\"passXord\":null}",
		  "{\"password\":\"[REDACTED]\",\"PASSWORD\":\"[REDACTED]\","
		  "\"passXord\":\"[REDACTED]\"}" },
		{ "{\"recipients\":\"kept\",\"value\":\"recipient\"}",
		  "{\"recipients\":\"kept\",\"value\":\"recipient\"}" },
		{ "\"recipient\"", "\"recipient\"" },
		{ "[]", "[]" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct json_object *v = json_tokener_parse(cases[i].in);
		CU_ASSERT_FATAL(v != NULL);
		redact_json(v, &p);
		CU_ASSERT_STRING_EQUAL(plain(v), cases[i].out);
		json_object_put(v);
	}
}

static void test_json_no_patterns(void)
{
	struct json_object *v = json_tokener_parse("{\"token\":\"s\"}");
	const struct cfg_strings none = { NULL, 0 };

	redact_json(v, &none);
	redact_json(v, NULL);
	CU_ASSERT_STRING_EQUAL(plain(v), "{\"token\":\"s\"}");
	json_object_put(v);
}

struct argv_case {
	const char *argv[6];
	size_t argc;
	const char *out;
};

static void test_argv(void)
{
	static char *pats[] = { "--session", "--*-token", "-p" };
	const struct cfg_strings p = { pats, 3 };
	static const struct argv_case cases[] = {
		{ { "item", "get", "--session", "SECRET", "x" }, 5,
		  "[\"item\",\"get\",\"--session\",\"[REDACTED]\",\"x\"]" },
		{ { "--session=SECRET", "y" }, 2,
		  "[\"--session=[REDACTED]\",\"y\"]" },
		{ { "--SESSION", "S" }, 2, "[\"--SESSION\",\"[REDACTED]\"]" },
		{ { "--api-token=a=b", "--gh-token", "T", "--session" }, 4,
		  "[\"--api-token=[REDACTED]\",\"--gh-token\",\"[REDACTED]\","
		  "\"--session\"]" },
		{ { "--session", "--session", "x" }, 3,
		  "[\"--session\",\"[REDACTED]\",\"x\"]" },
		{ { "--sessions", "kept", "=x", "-p", "" }, 5,
		  "[\"--sessions\",\"kept\",\"=x\",\"-p\",\"[REDACTED]\"]" },
		{ { "" }, 0, "[]" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct json_object *v = redact_argv(
			(char *const *)cases[i].argv, cases[i].argc, &p);
		CU_ASSERT_FATAL(v != NULL);
		CU_ASSERT_STRING_EQUAL(plain(v), cases[i].out);
		json_object_put(v);
	}
}

static void test_argv_no_patterns(void)
{
	const char *argv[] = { "--session", "S" };
	struct json_object *v = redact_argv((char *const *)argv, 2, NULL);

	CU_ASSERT_STRING_EQUAL(plain(v), "[\"--session\",\"S\"]");
	json_object_put(v);
}

static void test_body(void)
{
	static char *pats[] = { "recipient" };
	const struct cfg_strings p = { pats, 1 };
	static const struct json_case cases[] = {
		{ "{\"jsonrpc\":\"2.0\",\"method\":\"send\",\"params\":"
		  "{\"recipient\":[\"+1\"]},\"id\":1}",
		  "{\"jsonrpc\":\"2.0\",\"method\":\"send\",\"params\":"
		  "{\"recipient\":\"[REDACTED]\"},\"id\":1}" },
		{ "recipient=+1555", "\"[NOT JSON]\"" },
		{ "{\"recipient\":1} trailing", "\"[NOT JSON]\"" },
		{ "{\"recipient\":1", "\"[NOT JSON]\"" },
		{ "", "\"[NOT JSON]\"" },
		{ "{\"a\":\"\xff\"}", "\"[NOT JSON]\"" },
		{ "{\"recipient\":1} \n", "{\"recipient\":\"[REDACTED]\"}" },
		/* 33 levels: jsonparse refuses it unparsed */
		{ "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
		  "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
		  "\"[NOT PARSED: too complex]\"" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct json_object *v = redact_body(
			cases[i].in, strlen(cases[i].in), &p);
		CU_ASSERT_FATAL(v != NULL);
		CU_ASSERT_STRING_EQUAL(plain(v), cases[i].out);
		json_object_put(v);
	}
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("redact", NULL, NULL);
	CU_add_test(s, "json keys at any depth", test_json_depth);
	CU_add_test(s, "json without patterns", test_json_no_patterns);
	CU_add_test(s, "argv flags", test_argv);
	CU_add_test(s, "argv without patterns", test_argv_no_patterns);
	CU_add_test(s, "logged bodies", test_body);
	return cu_run();
}
