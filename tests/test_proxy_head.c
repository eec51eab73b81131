/* Tests for proxy.c's reading of an upstream's response head: the
 * header callback libcurl calls with each line of it (on_header), which
 * is static, so this program compiles proxy.c itself (as
 * tests/fuzz/fuzz_uphead.c does) and calls it as curl would. The end to
 * end behaviour (what a client receives) is test_proxy's.
 *
 * Table-driven: a head, line by line, and the Content-Length it leaves
 * in the head being collected (-1: none). Each line is passed in a
 * buffer of its exact size followed by a NUL that is not part of it (as
 * curl's dynbuf happens to have): a parse that reads past the line sees
 * the NUL, not a fault, and shows by its answer that it did. */
#include "config.h"

#include <CUnit/Basic.h>

#include "../src/proxy.c"

#include "cu_run.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static const struct {
	const char *line;    /* after "HTTP/1.1 200 OK\r\n" */
	long long length;
} length_cases[] = {
	{ "Content-Length: 5\r\n", 5 },
	{ "content-length:5\n", 5 },
	{ "Content-Length: \t 12 \t\r\n", 12 },
	{ "Content-Length: 0\r\n", 0 },
	/* found by tests/fuzz/fuzz_uphead: strtoll skipped the CR LF and
	 * read past the line; an empty value was taken for 0 */
	{ "Content-Length:\r\n", -1 },
	{ "Content-Length: \r\n", -1 },
	{ "Content-Length:\n", -1 },
	{ "Content-Length: +5\r\n", -1 },
	{ "Content-Length: -1\r\n", -1 },
	{ "Content-Length: 5 5\r\n", -1 },
	{ "Content-Length: 0x10\r\n", -1 },
	{ "Content-Length: 99999999999999999999\r\n", -1 },
	{ "Content-Length: \v5\r\n", -1 },
};

/* One line to on_header, as curl passes it; whether it was taken. */
static int feed(struct worker *w, const char *line)
{
	size_t len = strlen(line);
	char *copy = malloc(len + 1);

	if (copy == NULL)
		return 0;
	memcpy(copy, line, len + 1);
	size_t took = on_header(copy, 1, len, w);
	free(copy);
	return took == len;
}

static void test_content_length(void)
{
	for (size_t i = 0; i < N_ELEMS(length_cases); i++) {
		struct worker w = { .upstream_fd = -1 };

		CU_ASSERT_FATAL(feed(&w, "HTTP/1.1 200 OK\r\n"));
		CU_ASSERT(feed(&w, length_cases[i].line));
		CU_ASSERT_PTR_NOT_NULL_FATAL(w.head);
		if (w.head->content_length != length_cases[i].length)
			fprintf(stderr, "\n  %s: %lld\n", length_cases[i].line,
				w.head->content_length);
		CU_ASSERT_EQUAL(w.head->content_length,
				length_cases[i].length);
		stream_head_free(w.head);
	}
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("proxy_head", NULL, NULL);
	CU_add_test(s, "Content-Length of an upstream's head",
		    test_content_length);
	return cu_run();
}
