/* Unit tests of text.c: UTF-8 validation and base64, table-driven. */
#include "config.h"

#include <CUnit/Basic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"
#include "cu_run.h"

struct utf8_case {
	const char *bytes;
	size_t len;
	int valid;
};

#define U(s, v) { s, sizeof(s) - 1, v }
static const struct utf8_case utf8_cases[] = {
	U("", 1),
	U("plain ascii\n", 1),
	U("gr\xc3\xbc\xc3\x9f" "e \xe2\x82\xac \xe6\x97\xa5", 1),
	U("\xf0\x9f\x98\x80", 1),                 /* U+1F600 */
	U("\xf4\x8f\xbf\xbf", 1),                 /* U+10FFFF */
	U("a\0b", 1),                             /* NUL is UTF-8 */
	U("\xff", 0),
	U("\x80", 0),                             /* lone continuation */
	U("\xc3", 0),                             /* cut short */
	U("\xe2\x82", 0),
	U("\xc0\xaf", 0),                         /* overlong '/' */
	U("\xe0\x80\xaf", 0),                     /* overlong */
	U("\xed\xa0\x80", 0),                     /* surrogate U+D800 */
	U("\xf4\x90\x80\x80", 0),                 /* past U+10FFFF */
	U("\xf8\x88\x80\x80\x80", 0),             /* 5-byte form */
	U("ok\xc3(", 0),                          /* bad continuation */
};

static void test_utf8(void)
{
	for (size_t i = 0; i < sizeof(utf8_cases) / sizeof(utf8_cases[0]);
	     i++) {
		const struct utf8_case *c = &utf8_cases[i];
		CU_ASSERT_EQUAL(text_utf8_valid(c->bytes, c->len), c->valid);
	}
}

/* json-c's output with a client's raw bytes in a string, and the line
 * the audit log gets. */
struct clean_case {
	const char *in;
	size_t len;
	const char *out;
	size_t out_len;
};

#define C(s, o) { s, sizeof(s) - 1, o, sizeof(o) - 1 }
static const struct clean_case clean_cases[] = {
	C("{\"a\":\"plain \\u001b[31m \\\"q\\\"\"}",
	  "{\"a\":\"plain \\u001b[31m \\\"q\\\"\"}"),
	C("\"gr\xc3\xbc\xc3\x9f\xe2\x82\xac\xf0\x9f\x98\x80\"",
	  "\"gr\xc3\xbc\xc3\x9f\xe2\x82\xac\xf0\x9f\x98\x80\""),
	C("\"/x/\xff\xfe\"", "\"/x/\\ufffd\\ufffd\""),
	C("\"\xc0\xae\"", "\"\\ufffd\\ufffd\""),  /* overlong */
	C("\"\xed\xa0\x80\"", "\"\\ufffd\\ufffd\\ufffd\""),
	C("\"\xe2\x82\"", "\"\\ufffd\\ufffd\""),  /* cut short */
	C("\"\x9b" "31m\"", "\"\\ufffd" "31m\""),   /* raw C1 byte */
	C("\"\xc2\x9b" "31m\xc2\x85\"", "\"\\u009b" "31m\\u0085\""),
	C("\"\x7f\xc2\xa0\"", "\"\\u007f\xc2\xa0\""),  /* DEL, NBSP */
	C("\"a\0b\"", "\"a\0b\""),
};

static void test_json_clean(void)
{
	for (size_t i = 0; i < sizeof(clean_cases) / sizeof(clean_cases[0]);
	     i++) {
		const struct clean_case *c = &clean_cases[i];
		size_t n = 0;
		char *out = text_json_clean(c->in, c->len, &n);
		CU_ASSERT_PTR_NOT_NULL_FATAL(out);
		CU_ASSERT_EQUAL(n, c->out_len);
		CU_ASSERT_EQUAL(memcmp(out, c->out, c->out_len), 0);
		CU_ASSERT(text_utf8_valid(out, n));
		free(out);
	}
}

/* Every byte value after every other: the result is always well-formed
 * UTF-8 with no DEL or C1 left in it. */
static void test_json_clean_all_bytes(void)
{
	unsigned char in[256 * 2];
	size_t n = 0;

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i % 2 ? i / 2 : 255 - i / 2);
	char *out = text_json_clean((const char *)in, sizeof(in), &n);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out);
	CU_ASSERT(text_utf8_valid(out, n));
	for (size_t i = 0, k; i < n; i += k) {
		uint32_t cp = 0;
		k = text_utf8_char(out + i, n - i, &cp);
		CU_ASSERT_FATAL(k > 0);
		CU_ASSERT(cp != 0x7f && (cp < 0x80 || cp > 0x9f));
	}
	free(out);
}

static const char *const b64[][2] = {
	{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

static void test_base64_vectors(void)
{
	for (size_t i = 0; i < sizeof(b64) / sizeof(b64[0]); i++) {
		size_t n = 0;
		char *e = text_base64_encode(b64[i][0], strlen(b64[i][0]), &n);
		CU_ASSERT_STRING_EQUAL(e, b64[i][1]);
		CU_ASSERT_EQUAL(n, strlen(b64[i][1]));
		char *d = text_base64_decode(b64[i][1], strlen(b64[i][1]), &n);
		CU_ASSERT_PTR_NOT_NULL_FATAL(d);
		CU_ASSERT_EQUAL(n, strlen(b64[i][0]));
		CU_ASSERT_EQUAL(memcmp(d, b64[i][0], n), 0);
		free(e);
		free(d);
	}
}

static void test_base64_round_trip_all_bytes(void)
{
	unsigned char bytes[256 * 3 + 2];
	size_t n, m;

	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (unsigned char)(i * 7);
	for (size_t len = 0; len <= sizeof(bytes); len += 37) {
		char *e = text_base64_encode(bytes, len, &n);
		unsigned char *d = text_base64_decode(e, n, &m);
		CU_ASSERT_PTR_NOT_NULL_FATAL(d);
		CU_ASSERT_EQUAL(m, len);
		CU_ASSERT_EQUAL(memcmp(d, bytes, len), 0);
		free(e);
		free(d);
	}
}

static void test_base64_rejects(void)
{
	static const char *const bad[] = { "Zg=", "Z===", "Zm9v!A==", "Zm 9",
					   "=Zm9" };
	size_t n;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT_PTR_NULL(text_base64_decode(bad[i], strlen(bad[i]),
						      &n));
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("text", NULL, NULL);
	CU_add_test(s, "UTF-8 validation", test_utf8);
	CU_add_test(s, "JSON text cleaned", test_json_clean);
	CU_add_test(s, "JSON text cleaned, every byte",
		    test_json_clean_all_bytes);
	CU_add_test(s, "base64 vectors (RFC 4648)", test_base64_vectors);
	CU_add_test(s, "base64 round trip", test_base64_round_trip_all_bytes);
	CU_add_test(s, "base64 rejects malformed input", test_base64_rejects);
	return cu_run();
}
