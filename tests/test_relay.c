/* Unit tests of relay.c (between an upstream's answer and its stream):
 * on a real stream, one thread, read back after the end. Keep-alives:
 * due after keepalive_secs of silence, only at an event boundary, in the
 * stream's line ends, never part-way through an event (and the wait is
 * not shortened then); a byte-order mark after a keep-alive at the start
 * is dropped, a byte that only looked like one is kept. The list filter:
 * a JSON answer held and published filtered with Cache-Control: no-store
 * and its new length; over the limit or compressed, 502; broken off, a
 * failed stream; an event stream's head made no-store at once; a tool
 * without a list owed passes the head as it came. */
#include "config.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "cu_run.h"
#include "dbuf.h"
#include "mcplist.h"
#include "relay.h"
#include "stream.h"
#include "text.h"

static struct cfg *cfg;
static const struct cfg_tool *gh;

static int setup(void)
{
	struct error err;

	if (cfg_load_string("{ \"listen\": [\"127.0.0.1:1\"], \"tools\": {"
			    " \"gh\": { \"type\": \"http\", \"upstream\": "
			    "\"http://127.0.0.1:2\", \"mcp\": { "
			    "\"tools_allow\": [\"search_*\"] } } } }",
			    &cfg, &err) < 0)
		return 1;
	gh = cfg_find_tool(cfg, "gh", 2);
	return gh == NULL;
}

static int teardown(void)
{
	cfg_release(cfg);
	return 0;
}

static void add(struct stream_head *h, const char *name, const char *value)
{
	h->fields = realloc(h->fields, (h->n_fields + 1) * sizeof(*h->fields));
	h->fields[h->n_fields].name = strdup(name);
	h->fields[h->n_fields].value = strdup(value);
	h->n_fields++;
}

/* A 200 head of type, Cache-Control: max-age=5, and encoding (or NULL). */
static struct stream_head *head(const char *type, const char *encoding)
{
	struct stream_head *h = calloc(1, sizeof(*h));

	h->status = 200;
	h->content_length = -1;
	add(h, "Content-Type", type);
	add(h, "Cache-Control", "max-age=5");
	if (encoding != NULL)
		add(h, "Content-Encoding", encoding);
	return h;
}

static const char *field(const struct stream_head *h, const char *name)
{
	for (size_t i = 0; i < h->n_fields; i++)
		if (strcmp(h->fields[i].name, name) == 0)
			return h->fields[i].value;
	return "";
}

/* Everything the stream holds, after its end (caller frees). */
static char *drain(struct stream *s, size_t *len)
{
	struct dbuf b = DBUF_INIT(1 << 20);
	char buf[4096];
	ssize_t n;

	while ((n = stream_read(s, -1, buf, sizeof(buf))) > 0)
		dbuf_add(&b, buf, (size_t)n);
	char *out = dbuf_detach(&b, len);
	dbuf_free(&b);
	return out;
}

/* The upstream's head through the relay, then to the stream (which owns
 * it from there), as proxy.c does unless the relay holds it. */
static void open_head(struct relay *rl, struct stream *s, const char *type)
{
	struct stream_head *h = head(type, NULL);

	if (relay_head(rl, h) == 0)
		stream_publish_head(s, h);
}

static struct mcplist *list(void)
{
	static const char rq[] =
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}";
	struct mcplist *l = NULL;

	CU_ASSERT_EQUAL_FATAL(mcplist_new(gh, "gh", NULL, rq, sizeof(rq) - 1,
					  &l), 0);
	return l;
}

static int body(struct relay *rl, struct stream *s, const char *text)
{
	return relay_body(rl, s, text, strlen(text), 0);
}

/* --- keep-alives ---------------------------------------------------------- */

static void test_keepalive_boundaries(void)
{
	struct stream *s = stream_new(1 << 16);
	struct relay rl;
	uint64_t t0;
	size_t len;

	relay_init(&rl, NULL, 1);
	open_head(&rl, s, "text/event-stream");
	t0 = rl.last_sent_ms;
	/* due a second after the head, not before; the wait says so */
	CU_ASSERT(relay_budget(&rl, 100000, t0) <= 1000);
	CU_ASSERT_EQUAL(relay_budget(&rl, 100000, t0 + 1000), 0);
	relay_tick(&rl, s, t0 + 999);
	relay_tick(&rl, s, t0 + 1000);
	/* part-way through an event: none, and no shortened wait */
	CU_ASSERT_EQUAL(body(&rl, s, "data: x\r\n"), 0);
	CU_ASSERT_EQUAL(relay_budget(&rl, 100000, t0 + 99999), 100000);
	relay_tick(&rl, s, t0 + 99999);
	/* its blank line ends in CR: a comment with CRs */
	CU_ASSERT_EQUAL(body(&rl, s, "\r"), 0);
	relay_tick(&rl, s, rl.last_sent_ms + 1000);
	CU_ASSERT_EQUAL(body(&rl, s, "\n"), 0);
	stream_finish(s, STREAM_END_WHOLE);
	char *got = drain(s, &len);
	CU_ASSERT_STRING_EQUAL(got, ": keepalive\n\ndata: x\r\n\r"
				    ": keepalive\r\r\n");
	free(got);
	relay_free(&rl);
	stream_release(s);
	stream_release(s);
}

/* Not an event stream, or no keep-alives: the wait is the caller's. */
static void test_keepalive_off(void)
{
	static const struct {
		const char *type;
		unsigned secs;
	} cases[] = { { "application/json", 1 }, { "text/event-stream", 0 } };

	for (size_t i = 0; i < 2; i++) {
		struct stream *s = stream_new(1 << 16);
		struct relay rl;

		relay_init(&rl, NULL, cases[i].secs);
		open_head(&rl, s, cases[i].type);
		CU_ASSERT_EQUAL(relay_budget(&rl, 5000,
					     rl.last_sent_ms + 9000), 5000);
		relay_free(&rl);
		stream_release(s);
		stream_release(s);
	}
}

/* A keep-alive went first: the upstream's byte-order mark, one byte at a
 * time, is dropped; a byte that only began like one is kept. */
static void test_keepalive_then_bom(void)
{
	static const struct {
		const char *pieces[3];
		const char *out;
	} cases[] = {
		{ { "\xEF", "\xBB", "\xBF" "data: y\n\n" },
		  ": keepalive\n\ndata: y\n\n" },
		{ { "\xEF\xBB\xBF", "data: y\n\n", "" },
		  ": keepalive\n\ndata: y\n\n" },
		{ { "\xEF", "A\n\n", "" }, ": keepalive\n\n\xEF" "A\n\n" },
		{ { "\xEF\xBB", "\n\n", "" },
		  ": keepalive\n\n\xEF\xBB\n\n" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct stream *s = stream_new(1 << 16);
		struct relay rl;
		size_t len;

		relay_init(&rl, NULL, 1);
		open_head(&rl, s, "text/event-stream");
		relay_tick(&rl, s, rl.last_sent_ms + 1000);
		for (int j = 0; j < 3; j++)
			CU_ASSERT_EQUAL(body(&rl, s, cases[i].pieces[j]), 0);
		stream_finish(s, STREAM_END_WHOLE);
		char *got = drain(s, &len);
		if (got == NULL || strcmp(got, cases[i].out) != 0) {
			fprintf(stderr, "\n  case %zu: [%s]\n", i,
				got ? got : "");
			CU_FAIL("bom case");
		}
		free(got);
		relay_free(&rl);
		stream_release(s);
		stream_release(s);
	}
}

/* --- the list filter ------------------------------------------------------ */

/* The answer to tools/list through a relay: its head (status, the
 * Cache-Control and length) and body, or status -1 when it failed. */
struct result {
	int status;
	char cc[64];
	long long length;
	char *body;
};

static void run(const char *type, const char *encoding,
		const char *const *pieces, int whole, struct result *r)
{
	struct stream *s = stream_new(1 << 20);
	const struct stream_head *h;
	enum stream_failure why;
	struct error err;
	struct relay rl;
	size_t len;

	memset(r, 0, sizeof(*r));
	relay_init(&rl, list(), 0);
	struct stream_head *up = head(type, encoding);
	if (relay_head(&rl, up) == 0)
		stream_publish_head(s, up);
	for (; *pieces != NULL; pieces++)
		if (body(&rl, s, *pieces) < 0)
			whole = 0;
	if (!relay_end(&rl, s, whole))
		stream_finish(s, whole ? STREAM_END_WHOLE : STREAM_END_BROKEN);
	if (stream_wait_head(s, -1, &h, &why, &err) < 0) {
		r->status = -1;
	} else {
		r->status = h->status;
		snprintf(r->cc, sizeof(r->cc), "%s", field(h, "Cache-Control"));
		r->length = h->content_length;
		r->body = drain(s, &len);
	}
	relay_free(&rl);
	stream_release(s);
	stream_release(s);
}

#define ANSWER(tools) "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":" \
	tools "}}"

static void test_json_filtered(void)
{
	static const char *const pieces[] = {
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":",
		"\"search_a\"},{\"name\":\"drop\"}]}}", NULL };
	static const char want[] = ANSWER("[{\"name\":\"search_a\"}]");
	struct result r;

	run("application/json; charset=utf-8", NULL, pieces, 1, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT_STRING_EQUAL(r.cc, "no-store");
	CU_ASSERT_EQUAL(r.length, (long long)strlen(want));
	CU_ASSERT_STRING_EQUAL(r.body ? r.body : "", want);
	free(r.body);
}

/* Not a list answer (an error): as it came, head and all. */
static void test_json_passed(void)
{
	static const char *const pieces[] = {
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1,"
		"\"message\":\"x\"}}", NULL };
	struct result r;

	run("application/json", NULL, pieces, 1, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT_STRING_EQUAL(r.cc, "max-age=5");
	CU_ASSERT_STRING_EQUAL(r.body ? r.body : "", pieces[0]);
	free(r.body);
}

static void test_json_refused(void)
{
	static const char *const answer[] = {
		ANSWER("[{\"name\":\"search_a\"}]"), NULL };
	static const char *const cut[] = { "{\"jsonrpc\":", NULL };
	char *big = malloc(MCPLIST_MAX + 2);
	const char *over[] = { big, NULL };
	struct result r;

	run("application/json", "gzip", answer, 1, &r);
	CU_ASSERT_EQUAL(r.status, 502);
	CU_ASSERT(r.body && strstr(r.body, "compressed"));
	free(r.body);
	memset(big, ' ', MCPLIST_MAX + 1);
	big[MCPLIST_MAX + 1] = '\0';
	run("application/json", NULL, over, 1, &r);
	CU_ASSERT_EQUAL(r.status, 502);
	CU_ASSERT(r.body && strstr(r.body, "larger than 4194304"));
	free(r.body);
	run("application/json", NULL, cut, 0, &r); /* broken off */
	CU_ASSERT_EQUAL(r.status, -1);
	free(big);
}

static void test_sse_head(void)
{
	static const char *const pieces[] = {
		"data: " ANSWER("[{\"name\":\"drop\"}]") "\n\n", NULL };
	struct result r;

	run("text/event-stream", NULL, pieces, 1, &r);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT_STRING_EQUAL(r.cc, "no-store");
	CU_ASSERT_STRING_EQUAL(r.body ? r.body : "",
			       "data: " ANSWER("[]") "\n\n");
	free(r.body);
	/* another type: not read, not changed */
	run("text/plain", NULL, pieces, 1, &r);
	CU_ASSERT_STRING_EQUAL(r.cc, "max-age=5");
	CU_ASSERT_STRING_EQUAL(r.body ? r.body : "", pieces[0]);
	free(r.body);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("relay", setup, teardown);
	if (s == NULL ||
	    !CU_add_test(s, "keep-alive boundaries",
			 test_keepalive_boundaries) ||
	    !CU_add_test(s, "keep-alive off", test_keepalive_off) ||
	    !CU_add_test(s, "keep-alive, then a BOM", test_keepalive_then_bom) ||
	    !CU_add_test(s, "json filtered", test_json_filtered) ||
	    !CU_add_test(s, "json passed", test_json_passed) ||
	    !CU_add_test(s, "json refused", test_json_refused) ||
	    !CU_add_test(s, "sse head", test_sse_head)) {
		CU_cleanup_registry();
		return 1;
	}
	return cu_run();
}
