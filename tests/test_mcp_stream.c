/* MCP list answers filtered to the policy, and keep-alives at event
 * boundaries (issue 18 items 2 and 6), against the real carapaced and
 * tests/upstream: tools/list through a tool with an "mcp" block lists
 * only allowed tools, as JSON and as a message of an event stream (every
 * other byte of which, ids, retry, comments, CRLF, comes as it was sent);
 * Cache-Control: no-store; "cacheScope": "private"; a list answer over
 * 4 MiB is 502 as JSON, and in an event stream ends the stream (audited
 * "ended": "error") with nothing of the message passed; a tool without
 * the block passes the list untouched; an
 * event stream silent for longer than sse_keepalive_secs gets comments,
 * between events only, never inside the half event the upstream paused
 * in. Paths from the environment (make check sets them): CARAPACED,
 * UPSTREAM. */
#include "config.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cu_run.h"
#include "sse.h"
#include "testutil.h"

static char workdir[] = "/tmp/carapaced-mcpstream-XXXXXX";
static char conf[700], audit[700];
static const char *carapaced;
static pid_t up_pid = -1, gw_pid = -1;
static int up_port, gw_port;

#define KEEPALIVE ": keepalive\n\n"
#define PAUSE_MS 2500 /* over two keep-alive periods of 1 s */
#define JSON_HDR "Content-Type: application/json\r\n" \
		 "Accept: application/json, text/event-stream\r\n"
#define LIST_REQ(id) \
	"{\"jsonrpc\":\"2.0\",\"id\":" id ",\"method\":\"tools/list\"}"
#define ALLOWED "{\"tools\":[{\"name\":\"search_code\"},{\"name\":" \
	"\"create_issue\"}]}"

#define RULES "{ \"tools_allow\": [\"search_*\", \"create_issue\"], " \
	"\"tools_deny\": [\"*delete*\"] }"

static int write_conf(void)
{
	char text[3072];

	snprintf(text, sizeof(text),
		 "{ \"listen\": [\"127.0.0.1:%d\"],\n"
		 "  \"audit_log\": \"%s\",\n"
		 "  \"tools\": {\n"
		 "    \"mcp\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      \"mcp\": " RULES " },\n"
		 "    \"mcpka\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      \"sse_keepalive_secs\": 1,\n"
		 "      \"mcp\": " RULES " },\n"
		 "    \"plain\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      \"sse_keepalive_secs\": 1 } } }\n",
		 gw_port, audit, up_port, up_port, up_port);
	return tu_write_file(conf, text);
}

/* One request; the status, the whole body (caller frees; *len its
 * length) and the value of want (copied into hv). -1 on failure. */
static int ask(const char *method, const char *target, const char *headers,
	       const char *body, char **answer, size_t *len,
	       const char *want, char *hv, size_t hv_len)
{
	struct tu_resp r = { 0 };
	size_t cap = (size_t)8 << 20, n = 0;
	char *buf = malloc(cap + 1);
	ssize_t got = 0;
	int fd = tu_connect(gw_port), status = -1;

	if (fd < 0 || buf == NULL)
		goto out;
	if (tu_send_request(fd, method, target, headers, body,
			    body ? strlen(body) : 0) < 0 ||
	    tu_read_head(&r, fd, 10000) < 0)
		goto out;
	status = r.status;
	if (want != NULL) {
		const char *v = tu_header(&r, want);
		snprintf(hv, hv_len, "%s", v ? v : "");
	}
	while (n < cap && (got = tu_read_body(&r, buf + n, cap - n,
					      10000)) > 0)
		n += (size_t)got;
	if (got < 0)
		status = -1;
	buf[n] = '\0';
	*answer = buf;
	*len = n;
	buf = NULL;
out:
	free(buf);
	tu_resp_free(&r);
	if (fd >= 0)
		close(fd);
	return status;
}

/* tools/list as JSON through tool: the body and Cache-Control wanted. */
static void json_list(const char *tool, const char *want, const char *cc)
{
	char target[64], *a = NULL, got[128];
	size_t len = 0;

	snprintf(target, sizeof(target), "/tools/%s/mcp-list", tool);
	CU_ASSERT_EQUAL(ask("POST", target, JSON_HDR, LIST_REQ("5"), &a, &len,
			    "Cache-Control", got, sizeof(got)), 200);
	CU_ASSERT_STRING_EQUAL(a ? a : "", want);
	CU_ASSERT_STRING_EQUAL(got, cc);
	free(a);
}

static void test_json_list(void)
{
	/* the upstream said max-age=60 */
	json_list("mcp", "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":" ALLOWED
		  "}", "no-store");
}

/* Only a tool with an "mcp" block is touched. */
static void test_json_list_without_block(void)
{
	json_list("plain", "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":"
		  TU_MCP_TOOLS "}", "max-age=60");
}

/* A request owing a list answer asks the upstream for no compression
 * (the filter reads the answer), whatever the client accepts. */
static void test_identity_encoding(void)
{
	char *a = NULL, *log = NULL;
	size_t len = 0;
	int status = 0;

	CU_ASSERT_EQUAL(tu_http(up_port, "POST", "/_upstream/reset", NULL, "",
				&status, NULL, NULL), 0);
	CU_ASSERT_EQUAL(ask("POST", "/tools/mcp/mcp-list", JSON_HDR
			    "Accept-Encoding: gzip\r\n", LIST_REQ("5"), &a,
			    &len, NULL, NULL, 0), 200);
	CU_ASSERT_EQUAL(tu_http(up_port, "GET", "/_upstream/requests", NULL,
				NULL, &status, &log, NULL), 0);
	CU_ASSERT(log != NULL &&
		  strstr(log, "[\"Accept-Encoding\",\"identity\"]") &&
		  !strstr(log, "gzip"));
	free(log);
	free(a);
}

static void test_cache_scope(void)
{
	char *a = NULL, cc[128];
	size_t len = 0;

	CU_ASSERT_EQUAL(ask("POST", "/tools/mcp/mcp-list", JSON_HDR
			    "MCP-Protocol-Version: 2026-07-28\r\n",
			    LIST_REQ("\"v26\""), &a, &len, NULL, cc,
			    sizeof(cc)), 200);
	CU_ASSERT_STRING_EQUAL(a ? a : "",
			       "{\"jsonrpc\":\"2.0\",\"id\":\"v26\",\"result\":"
			       "{\"tools\":[{\"name\":\"search_code\"},"
			       "{\"name\":\"create_issue\"}],\"cacheScope\":"
			       "\"private\"}}");
	free(a);
	a = NULL;
	CU_ASSERT_EQUAL(ask("POST", "/tools/mcp/mcp-list?scope=1", JSON_HDR
			    "MCP-Protocol-Version: 2025-06-18\r\n",
			    LIST_REQ("6"), &a, &len, NULL, cc, sizeof(cc)),
			200);
	CU_ASSERT(a != NULL && strstr(a, "\"cacheScope\":\"private\"") &&
		  !strstr(a, "shared") && !strstr(a, "drop_table"));
	free(a);
}

/* The list answer rewritten inside the stream, every other byte as the
 * upstream sent it, 1-3 bytes at a time. */
static void test_sse_list(void)
{
	static const char want[] =
		TU_MCP_SSE_HEAD "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":"
		ALLOWED "}" TU_MCP_SSE_TAIL;
	char *a = NULL, cc[128];
	size_t len = 0;

	CU_ASSERT_EQUAL(ask("POST", "/tools/mcp/mcp-list?sse=1", JSON_HDR,
			    LIST_REQ("7"), &a, &len, "Cache-Control", cc,
			    sizeof(cc)), 200);
	CU_ASSERT_EQUAL(len, strlen(want));
	CU_ASSERT_STRING_EQUAL(a ? a : "", want);
	CU_ASSERT_STRING_EQUAL(cc, "no-store"); /* was no-cache */
	free(a);
}

static void test_oversize(void)
{
	char *a = NULL;
	size_t len = 0;

	CU_ASSERT_EQUAL(ask("POST", "/tools/mcp/mcp-list?big=1", JSON_HDR,
			    LIST_REQ("8"), &a, &len, NULL, NULL, 0), 502);
	CU_ASSERT(a != NULL && strstr(a, "larger than 4194304 bytes") &&
		  strstr(a, "\"tool\":\"mcp\""));
	free(a);
	/* unfiltered, without the block: the whole 5 MiB */
	a = NULL;
	CU_ASSERT_EQUAL(ask("POST", "/tools/plain/mcp-list?big=1", JSON_HDR,
			    LIST_REQ("8"), &a, &len, NULL, NULL, 0), 200);
	CU_ASSERT(len > ((size_t)5 << 20));
	free(a);
}

/* s without its keep-alive comments, in place; its new length. */
static size_t without_keepalives(char *s)
{
	char *p;

	if (s == NULL)
		return 0;
	while ((p = strstr(s, KEEPALIVE)) != NULL)
		memmove(p, p + strlen(KEEPALIVE),
			strlen(p + strlen(KEEPALIVE)) + 1);
	return strlen(s);
}

static int audited_error(void *arg)
{
	char *log = tu_slurp(audit);
	int found = log != NULL && strstr(log, "\"ended\":\"error\"") != NULL;

	(void)arg;
	free(log);
	return found;
}

/* An event over 4 MiB while the list is owed: the status went out with
 * the head, so the stream is cut short (not whole: a chunked client sees
 * no last chunk), nothing of the message is passed (the event's lines
 * before its data: line are), and the record says it ended by an
 * error. */
static void test_sse_oversize(void)
{
	char *a = NULL;
	size_t len = 0;

	CU_ASSERT_FALSE(audited_error(NULL)); /* none before */
	CU_ASSERT_EQUAL(ask("POST", "/tools/mcpka/mcp-list?sse=1&big=1",
			    JSON_HDR, LIST_REQ("9"), &a, &len, NULL, NULL, 0),
			-1);
	/* what came before the message, and nothing of it (the tool's
	 * keep-alives aside, if the event took more than 1 s to come:
	 * between events, the client's side stands at a boundary) */
	static const char head[] = TU_MCP_SSE_HEAD;
	size_t before = strlen(head) - strlen("data: "); /* its id: too */
	len = without_keepalives(a);
	CU_ASSERT(a != NULL && len == before && strncmp(a, head, before) == 0);
	CU_ASSERT_EQUAL(tu_wait_until(audited_error, NULL, 10000), 0);
	free(a);
}

/* Whether got[i..) is want[j..) with keep-alive comments (in any of
 * their line ends) inserted only where want stands at an event boundary
 * (b: where want[..j) stands). want has comments of that text too: at a
 * boundary both readings are tried. */
static int want_plus_keepalives(const char *got, size_t got_len, size_t i,
				const char *want, size_t want_len, size_t j,
				struct sse_bound b)
{
	static const char *const forms[] = { ": keepalive\n\n",
					     ": keepalive\r\n\r\n",
					     ": keepalive\r\r" };

	for (; i < got_len; i++, j++) {
		for (size_t k = 0; sse_bound_at_boundary(&b) && k < 3; k++)
			if (strncmp(got + i, forms[k], strlen(forms[k])) == 0 &&
			    want_plus_keepalives(got, got_len,
						 i + strlen(forms[k]), want,
						 want_len, j, b))
				return 1;
		if (j >= want_len || got[i] != want[j])
			return 0;
		sse_bound_feed(&b, want + j, 1);
	}
	return j == want_len;
}

/* Through a tool with keep-alives, TU_SSE_FIXTURE (ids, retry,
 * comments, CRLF, LF, 1-3 bytes at a time) comes byte for byte, but
 * for comments between its events. */
static void test_sse_fidelity(void)
{
	static const char want[] = TU_SSE_FIXTURE;
	char *a = NULL;
	size_t len = 0;

	CU_ASSERT_EQUAL(ask("GET", "/tools/plain/sse-exact", NULL, NULL, &a,
			    &len, NULL, NULL, 0), 200);
	struct sse_bound b;

	sse_bound_init(&b);
	int ok = a != NULL && want_plus_keepalives(a, len, 0, want,
						   sizeof(want) - 1, 0, b);
	if (!ok && a != NULL) {
		fprintf(stderr, "\n  got %zu bytes:\n", len);
		fwrite(a, 1, len, stderr);
	}
	CU_ASSERT(ok);
	free(a);
}

/* What came, with the comments taken out where they may be: between the
 * whole event and the half one, nowhere else. */
static void test_keepalive_between_events(void)
{
	static const char first[] = TU_SSE_PAUSE_1;
	static const char rest[] = TU_SSE_PAUSE_2 TU_SSE_PAUSE_3;
	char target[64], *a = NULL, *p;
	size_t len = 0, k = 0;

	snprintf(target, sizeof(target), "/tools/plain/sse-pause?ms=%d",
		 PAUSE_MS);
	CU_ASSERT_EQUAL_FATAL(ask("GET", target, NULL, NULL, &a, &len, NULL,
				  NULL, 0), 200);
	p = a;
	CU_ASSERT_FATAL(strncmp(p, first, strlen(first)) == 0);
	p += strlen(first);
	while (strncmp(p, KEEPALIVE, strlen(KEEPALIVE)) == 0) {
		p += strlen(KEEPALIVE);
		k++;
	}
	if (strcmp(p, rest) != 0)
		fprintf(stderr, "\n  after %zu keep-alives: [%s]\n", k, p);
	CU_ASSERT_STRING_EQUAL(p, rest); /* none inside the half event */
	CU_ASSERT(k >= 1);               /* 2.5 s silent at a boundary */
	free(a);
}

/* An MCP server's GET stream through the tool with the block: no list
 * owed, nothing held, keep-alives as on any tool. */
static void test_keepalive_on_mcp_get(void)
{
	char target[64], *a = NULL;
	size_t len = 0;

	snprintf(target, sizeof(target), "/tools/mcpka/sse-pause?ms=%d", 1500);
	CU_ASSERT_EQUAL(ask("GET", target, NULL, NULL, &a, &len, NULL, NULL,
			    0), 200);
	CU_ASSERT(a != NULL && strstr(a, KEEPALIVE) != NULL);
	free(a);
}

static int suite_init(void)
{
	static pid_t *const pids[] = { &up_pid, &gw_pid };

	tu_watchdog("test_mcp_stream", 120, pids, 2);
	if (mkdtemp(workdir) == NULL)
		return -1;
	snprintf(conf, sizeof(conf), "%s/c.conf", workdir);
	snprintf(audit, sizeof(audit), "%s/audit.log", workdir);
	if ((up_pid = tu_suite_upstream(&carapaced, &up_port)) < 0 ||
	    (gw_port = tu_free_port()) < 0 || write_conf() < 0)
		return -1;
	struct tu_daemon d = { .conf = conf, .ports = { gw_port } };
	gw_pid = tu_start_daemon(&d);
	return gw_pid < 0 ? -1 : 0;
}

static int suite_clean(void)
{
	int rc = 0;

	if (gw_pid > 0 && tu_stop_daemon(gw_pid) != 0)
		rc = -1;
	if (up_pid > 0)
		tu_stop(up_pid);
	tu_remove_tree(workdir);
	return rc;
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("mcp_stream", suite_init, suite_clean);
	if (s == NULL || !CU_add_test(s, "json list", test_json_list) ||
	    !CU_add_test(s, "json list, no block",
			 test_json_list_without_block) ||
	    !CU_add_test(s, "cacheScope", test_cache_scope) ||
	    !CU_add_test(s, "identity encoding", test_identity_encoding) ||
	    !CU_add_test(s, "sse list", test_sse_list) ||
	    !CU_add_test(s, "sse fidelity", test_sse_fidelity) ||
	    !CU_add_test(s, "oversize", test_oversize) ||
	    !CU_add_test(s, "sse oversize", test_sse_oversize) ||
	    !CU_add_test(s, "keep-alives between events",
			 test_keepalive_between_events) ||
	    !CU_add_test(s, "keep-alives on a GET stream",
			 test_keepalive_on_mcp_get)) {
		CU_cleanup_registry();
		return 1;
	}
	return cu_run();
}
