/* The "mcp" block (issue 18, part A) against the real carapaced and
 * tests/upstream: tools/call allowed and denied (the id echoed, nothing
 * upstream), an argument filter, the methods the block implies, the
 * header/body comparison (400, -32020, audited as a deny; the base64
 * form), Origin (403; allowed), a client's JSON-RPC response forwarded
 * (alone and in a batch), GET and DELETE forwarded, Mcp-Session-Id,
 * Last-Event-ID and Mcp-Param-* both ways, a 202 without a body, the
 * protocol versions, and a tool in dry run: a rule's refusal goes
 * upstream, a header mismatch and an Origin do not. Paths from the
 * environment (make check sets them): CARAPACED, UPSTREAM, SRCDIR (for
 * etc/mcp.conf.example, which must pass carapaced -t). */
#include "config.h"

#include <CUnit/Basic.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cu_run.h"
#include "testutil.h"
#include "tu_json.h"

static char workdir[] = "/tmp/carapaced-mcp-XXXXXX";
static char conf[700], audit[700], errlog[700];
static const char *carapaced;
static pid_t up_pid = -1, gw_pid = -1;
static int up_port, gw_port;

#define JSON_HDR "Content-Type: application/json\r\n" \
		 "Accept: application/json, text/event-stream\r\n"
#define V25 "MCP-Protocol-Version: 2025-06-18\r\n"

#define MCP_BLOCK \
	"\"allow_http_methods\": [\"GET\", \"POST\", \"DELETE\"],\n" \
	"      \"mcp\": {\n" \
	"        \"tools_allow\": [\"search_*\", \"create_issue\"],\n" \
	"        \"tools_deny\": [\"*delete*\"],\n" \
	"        \"arguments\": {\"create_issue\": {\"field\": \"repo\", " \
	"\"allow_patterns\": [\"me/*\"]}},\n" \
	"        \"allowed_origins\": [\"https://app.example.com\"],\n" \
	"        \"require_protocol_versions\": [\"2025-03-26\", " \
	"\"2025-06-18\", \"2025-11-25\", \"2026-07-28\"] }"

static int write_conf(void)
{
	char text[4096];

	snprintf(text, sizeof(text),
		 "{ \"listen\": [\"127.0.0.1:%d\"],\n"
		 "  \"audit_log\": \"%s\",\n"
		 "  \"tools\": {\n"
		 "    \"mcp\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      " MCP_BLOCK " },\n"
		 "    \"dry\": { \"type\": \"http\", \"mode\": \"audit\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      " MCP_BLOCK " } } }\n",
		 gw_port, audit, up_port, up_port);
	return tu_write_file(conf, text);
}

static int upstream_requests(void)
{
	return tu_upstream_stat(up_port, "requests");
}

/* One request to the daemon; the answer's status, body (caller frees)
 * and, when want_header, that header's value (copied into hv). */
static int ask(const char *method, const char *target, const char *headers,
	       const char *body, char **answer, const char *want_header,
	       char *hv, size_t hv_len)
{
	struct tu_resp r = { 0 };
	char buf[65536];
	size_t len = 0;
	ssize_t n;
	int fd = tu_connect(gw_port), status = -1;

	if (fd < 0)
		return -1;
	if (tu_send_request(fd, method, target, headers, body,
			    body ? strlen(body) : 0) < 0 ||
	    tu_read_head(&r, fd, 10000) < 0)
		goto out;
	status = r.status;
	if (want_header != NULL) {
		const char *v = tu_header(&r, want_header);
		snprintf(hv, hv_len, "%s", v ? v : "");
	}
	while ((n = tu_read_body(&r, buf + len, sizeof(buf) - 1 - len,
				 10000)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	if (answer != NULL)
		*answer = strdup(buf);
	if (n < 0)
		status = -1;
out:
	tu_resp_free(&r);
	close(fd);
	return status;
}

static int post(const char *tool_path, const char *headers, const char *body,
		char **answer)
{
	return ask("POST", tool_path, headers, body, answer, NULL, NULL, 0);
}

#define CALL(id, name, args) \
	"{\"jsonrpc\":\"2.0\",\"id\":" id ",\"method\":\"tools/call\"," \
	"\"params\":{\"name\":\"" name "\",\"arguments\":" args "}}"

/* The answer has all of the pieces (NULL ends them). */
static int has_all(const char *answer, ...)
{
	va_list ap;
	const char *p;
	int ok = answer != NULL;

	va_start(ap, answer);
	while ((p = va_arg(ap, const char *)) != NULL)
		if (ok && strstr(answer, p) == NULL) {
			fprintf(stderr, "  missing %s in %s\n", p, answer);
			ok = 0;
		}
	va_end(ap);
	return ok;
}

/* --- tools --------------------------------------------------------------- */

static void test_allowed_call(void)
{
	int before = upstream_requests();
	char *a = NULL;

	CU_ASSERT_EQUAL(post("/tools/mcp/mcp", JSON_HDR V25,
			     CALL("3", "search_code", "{\"q\":\"x\"}"), &a),
			200);
	/* the test upstream answers a tools/call as a stream */
	CU_ASSERT(has_all(a, "event:", "\"id\":3", "\"result\"", NULL));
	CU_ASSERT_EQUAL(upstream_requests(), before + 1);
	free(a);
}

/* A denial echoes the id, names the rule, and sends nothing upstream. */
static void deny_case(const char *body, const char *id, const char *rule)
{
	int before = upstream_requests();
	char *a = NULL;

	CU_ASSERT_EQUAL(post("/tools/mcp/mcp", JSON_HDR V25, body, &a), 403);
	CU_ASSERT(has_all(a, "\"jsonrpc\":\"2.0\"", id, rule, "-32000",
			  NULL));
	CU_ASSERT_EQUAL(upstream_requests(), before);
	free(a);
}

static void test_denied_calls(void)
{
	deny_case(CALL("9", "drop_table", "{}"), "\"id\":9",
		  "tool \\\"drop_table\\\" is not in mcp.tools_allow");
	deny_case(CALL("\"x\"", "search_delete", "{}"), "\"id\":\"x\"",
		  "mcp.tools_deny");
	deny_case(CALL("10", "create_issue", "{\"repo\":\"them/r\"}"),
		  "\"id\":10", "mcp.arguments");
	deny_case("{\"jsonrpc\":\"2.0\",\"id\":11,\"method\":"
		  "\"logging/setLevel\",\"params\":{\"level\":\"debug\"}}",
		  "\"id\":11", "jsonrpc_allow_methods");
}

static void test_argument_allowed(void)
{
	char *a = NULL;

	CU_ASSERT_EQUAL(post("/tools/mcp/mcp", JSON_HDR V25,
			     CALL("12", "create_issue", "{\"repo\":\"me/r\"}"),
			     &a),
			200);
	free(a);
}

/* initialize, its notification, ping and the lists: none listed. */
static void test_implied_methods(void)
{
	static const char *const bodies[] = {
		"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\","
		"\"params\":{\"protocolVersion\":\"2025-06-18\"}}",
		"{\"jsonrpc\":\"2.0\",\"method\":"
		"\"notifications/initialized\"}",
		"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}",
		"{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/list\"}",
		"{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"prompts/list\"}",
		"{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"resources/list\"}",
		"{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":"
		"\"resources/templates/list\"}",
	};
	int before = upstream_requests();

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		char *a = NULL;
		int st = post("/tools/mcp/mcp", JSON_HDR V25, bodies[i], &a);
		CU_ASSERT_EQUAL(st, 200);
		if (st != 200)
			fprintf(stderr, "  %s -> %d %s\n", bodies[i], st,
				a ? a : "");
		free(a);
	}
	CU_ASSERT_EQUAL(upstream_requests(),
			before + (int)(sizeof(bodies) / sizeof(bodies[0])));
}

/* --- headers against the body -------------------------------------------- */

/* The audit record whose reason holds piece, waited for: its decision. */
static char *decision_with_reason(const char *piece)
{
	uint64_t deadline = tu_now_ns() + 10000000000ull;

	do {
		char *text = tu_slurp(audit), *found = NULL;
		for (char *line = text ? strtok(text, "\n") : NULL;
		     line && !found; line = strtok(NULL, "\n")) {
			json_object *o = json_tokener_parse(line);
			const char *r = json_str_at(o, "reason");
			const char *d = json_str_at(o, "decision");
			if (r && d && strstr(r, piece))
				found = strdup(d);
			json_object_put(o);
		}
		free(text);
		if (found != NULL)
			return found;
		tu_sleep_ms(20);
	} while (tu_now_ns() < deadline);
	return NULL;
}

static void test_header_mismatch(void)
{
	int before = upstream_requests();
	char *a = NULL, *d;

	CU_ASSERT_EQUAL(post("/tools/mcp/mcp",
			     JSON_HDR V25 "Mcp-Method: tools/list\r\n"
			     "Mcp-Name: search_code\r\n",
			     CALL("21", "search_code", "{}"), &a),
			400);
	CU_ASSERT(has_all(a, "-32020", "\"id\":21", "Mcp-Method", NULL));
	free(a);
	/* Mcp-Name names another tool than the one called (allowed or not:
	 * the mismatch is said first) */
	CU_ASSERT_EQUAL(post("/tools/mcp/mcp",
			     JSON_HDR "MCP-Protocol-Version: 2026-07-28\r\n"
			     "Mcp-Method: tools/call\r\n"
			     "Mcp-Name: search_code\r\n",
			     CALL("22", "drop_table", "{}"), &a),
			400);
	CU_ASSERT(has_all(a, "-32020", "\"id\":22", "Mcp-Name", NULL));
	free(a);
	/* the header's version against the body's _meta */
	CU_ASSERT_EQUAL(post("/tools/mcp/mcp",
			     JSON_HDR "MCP-Protocol-Version: 2025-11-25\r\n",
			     "{\"jsonrpc\":\"2.0\",\"id\":23,\"method\":"
			     "\"tools/list\",\"params\":{\"_meta\":{"
			     "\"io.modelcontextprotocol/protocolVersion\":"
			     "\"2026-07-28\"}}}", &a),
			400);
	CU_ASSERT(has_all(a, "-32020", "\"id\":23", NULL));
	free(a);
	CU_ASSERT_EQUAL(upstream_requests(), before);
	d = decision_with_reason("header mismatch: Mcp-Method");
	CU_ASSERT_PTR_NOT_NULL(d);
	CU_ASSERT_STRING_EQUAL(d ? d : "", "deny");
	free(d);
}

/* A matching base64 Mcp-Name passes; the headers go upstream as sent,
 * Mcp-Param-* with them. */
static void test_base64_name_and_params_forwarded(void)
{
	char *a = NULL;
	/* "search_é" */
	const char *body = CALL("24", "search_\\u00e9", "{\"repo\":\"me/r\"}");

	CU_ASSERT_EQUAL(post("/tools/mcp/echo",
			     JSON_HDR "MCP-Protocol-Version: 2026-07-28\r\n"
			     "Mcp-Method: tools/call\r\n"
			     "Mcp-Name: =?base64?c2VhcmNoX8Op?=\r\n"
			     "Mcp-Param-Repo: me/r\r\n",
			     body, &a),
			200);
	json_object *o = parse_json(a), *h = NULL;
	CU_ASSERT_FATAL(o && json_object_object_get_ex(o, "headers", &h));
	CU_ASSERT(has_header_pair(h, "Mcp-Name", "=?base64?c2VhcmNoX8Op?="));
	CU_ASSERT(has_header_pair(h, "Mcp-Param-Repo", "me/r"));
	CU_ASSERT(has_header_pair(h, "Mcp-Method", "tools/call"));
	CU_ASSERT(has_header_pair(h, "MCP-Protocol-Version", "2026-07-28"));
	json_object_put(o);
	free(a);
	/* the same name, not canonical base64: malformed */
	CU_ASSERT_EQUAL(post("/tools/mcp/echo",
			     JSON_HDR "MCP-Protocol-Version: 2026-07-28\r\n"
			     "Mcp-Name: =?base64?c2VhcmNoX8Oq?=\r\n",
			     body, &a),
			400);
	CU_ASSERT(has_all(a, "-32020", NULL));
	free(a);
}

/* --- Origin -------------------------------------------------------------- */

static void test_origin(void)
{
	int before = upstream_requests();
	char *a = NULL;

	CU_ASSERT_EQUAL(post("/tools/mcp/mcp",
			     JSON_HDR V25 "Origin: https://evil.example\r\n",
			     CALL("31", "search_x", "{}"), &a),
			403);
	CU_ASSERT(has_all(a, "\"error\"", "mcp.allowed_origins", NULL));
	free(a);
	CU_ASSERT_EQUAL(ask("GET", "/tools/mcp/echo",
			    V25 "Origin: http://localhost:8080\r\n", NULL, &a,
			    NULL, NULL, 0),
			403);
	free(a);
	CU_ASSERT_EQUAL(upstream_requests(), before);
	CU_ASSERT_EQUAL(post("/tools/mcp/mcp",
			     JSON_HDR V25 "Origin: https://app.example.com\r\n",
			     CALL("32", "search_x", "{}"), &a),
			200);
	free(a);
	CU_ASSERT_EQUAL(upstream_requests(), before + 1);
}

/* --- both eras pass intact ----------------------------------------------- */

/* A client's answer to a server's elicitation request is forwarded; in
 * a batch beside requests, those are judged. */
static void test_client_response_forwarded(void)
{
	const char *resp = "{\"jsonrpc\":\"2.0\",\"id\":\"srv-1\",\"result\":"
			   "{\"action\":\"accept\",\"content\":{}}}";
	int before = upstream_requests();
	char *a = NULL;

	CU_ASSERT_EQUAL(post("/tools/mcp/echo", JSON_HDR V25, resp, &a), 200);
	json_object *o = parse_json(a);
	const char *sent = json_str_at(o, "body");
	CU_ASSERT(sent != NULL && strstr(sent, "\"srv-1\"") &&
		  strstr(sent, "\"accept\""));
	json_object_put(o);
	free(a);
	CU_ASSERT_EQUAL(post("/tools/mcp/echo", JSON_HDR V25,
			     "[{\"jsonrpc\":\"2.0\",\"id\":\"srv-2\","
			     "\"result\":{}}," CALL("41", "search_x", "{}")
			     "]", &a),
			200);
	free(a);
	CU_ASSERT_EQUAL(upstream_requests(), before + 2);
	CU_ASSERT_EQUAL(post("/tools/mcp/echo", JSON_HDR V25,
			     "[{\"jsonrpc\":\"2.0\",\"id\":\"srv-3\","
			     "\"result\":{}}," CALL("42", "drop_x", "{}")
			     "]", &a),
			403);
	CU_ASSERT(has_all(a, "\"id\":42", "\"id\":\"srv-3\"", NULL));
	free(a);
	CU_ASSERT_EQUAL(upstream_requests(), before + 2);
}

/* GET (the server's stream) and DELETE (the end of a session) go up,
 * with Mcp-Session-Id and Last-Event-ID; the session id comes back. */
static void test_get_delete_session(void)
{
	char *a = NULL, sid[256];
	json_object *o, *h = NULL;

	CU_ASSERT_EQUAL(ask("POST", "/tools/mcp/mcp-session", JSON_HDR V25,
			    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":"
			    "\"initialize\",\"params\":{}}", &a,
			    "Mcp-Session-Id", sid, sizeof(sid)),
			200);
	CU_ASSERT_STRING_EQUAL(sid, "up-session-1");
	free(a);
	CU_ASSERT_EQUAL(ask("GET", "/tools/mcp/mcp-session",
			    "Accept: text/event-stream\r\n" V25
			    "Mcp-Session-Id: s-77\r\nLast-Event-ID: ev-5\r\n",
			    NULL, &a, "Mcp-Session-Id", sid, sizeof(sid)),
			200);
	CU_ASSERT_STRING_EQUAL(sid, "s-77");
	o = parse_json(a);
	CU_ASSERT_FATAL(o && json_object_object_get_ex(o, "headers", &h));
	CU_ASSERT(has_header_pair(h, "Mcp-Session-Id", "s-77"));
	CU_ASSERT(has_header_pair(h, "Last-Event-ID", "ev-5"));
	CU_ASSERT_STRING_EQUAL(json_str_at(o, "method"), "GET");
	json_object_put(o);
	free(a);
	CU_ASSERT_EQUAL(ask("DELETE", "/tools/mcp/mcp-session",
			    V25 "Mcp-Session-Id: s-77\r\n", NULL, &a,
			    "Mcp-Session-Id", sid, sizeof(sid)),
			200);
	o = parse_json(a);
	CU_ASSERT_STRING_EQUAL(o ? json_str_at(o, "method") : "", "DELETE");
	json_object_put(o);
	free(a);
	/* a method allow_http_methods does not name is still 405 */
	CU_ASSERT_EQUAL(ask("PUT", "/tools/mcp/mcp-session", V25, NULL, &a,
			    NULL, NULL, 0),
			405);
	free(a);
}

/* A notification's answer, 202 with no body, passes as 202. */
static void test_202_passes(void)
{
	char *a = NULL;

	CU_ASSERT_EQUAL(post("/tools/mcp/nobody?status=202&length=0",
			     JSON_HDR V25,
			     "{\"jsonrpc\":\"2.0\",\"method\":"
			     "\"notifications/initialized\"}", &a),
			202);
	CU_ASSERT_STRING_EQUAL(a ? a : "(none)", "");
	free(a);
}

/* --- protocol versions --------------------------------------------------- */

static void test_protocol_versions(void)
{
	int before = upstream_requests();
	char *a = NULL;

	/* no header: 2025-03-26, which the tool accepts */
	CU_ASSERT_EQUAL(ask("GET", "/tools/mcp/echo", NULL, NULL, &a, NULL,
			    NULL, 0),
			200);
	free(a);
	CU_ASSERT_EQUAL(ask("GET", "/tools/mcp/echo",
			    "MCP-Protocol-Version: 2099-01-01\r\n", NULL, &a,
			    NULL, NULL, 0),
			400);
	CU_ASSERT(has_all(a, "2099-01-01", "require_protocol_versions", NULL));
	free(a);
	CU_ASSERT_EQUAL(post("/tools/mcp/mcp",
			     JSON_HDR "MCP-Protocol-Version: 2099-01-01\r\n",
			     CALL("51", "search_x", "{}"), &a),
			400);
	CU_ASSERT(has_all(a, "\"id\":51", "-32600", "2099-01-01", NULL));
	free(a);
	CU_ASSERT_EQUAL(upstream_requests(), before + 1);
}

/* --- a dry run ----------------------------------------------------------- */

static void test_dry_run(void)
{
	int before = upstream_requests();
	char *a = NULL, *d;

	/* a rule's refusal goes upstream, recorded would_deny */
	CU_ASSERT_EQUAL(post("/tools/dry/mcp", JSON_HDR V25,
			     CALL("61", "drop_dry", "{}"), &a),
			200);
	free(a);
	CU_ASSERT_EQUAL(upstream_requests(), before + 1);
	d = decision_with_reason("tool \"drop_dry\" is not in "
				 "mcp.tools_allow");
	CU_ASSERT_STRING_EQUAL(d ? d : "", "would_deny");
	free(d);
	/* a mismatch and an Origin are enforced */
	CU_ASSERT_EQUAL(post("/tools/dry/mcp",
			     JSON_HDR V25 "Mcp-Method: ping\r\n",
			     CALL("62", "search_x", "{}"), &a),
			400);
	free(a);
	CU_ASSERT_EQUAL(post("/tools/dry/mcp",
			     JSON_HDR V25 "Origin: https://evil.example\r\n",
			     CALL("63", "search_x", "{}"), &a),
			403);
	free(a);
	CU_ASSERT_EQUAL(upstream_requests(), before + 1);
}

/* The example as shipped passes carapaced -t. */
static void test_example_checks(void)
{
	const char *srcdir = getenv("SRCDIR");
	char cmd[1024], out[4096];

	snprintf(cmd, sizeof(cmd), "'%s' -t -c '%s/etc/mcp.conf.example'",
		 carapaced, srcdir ? srcdir : ".");
	int rc = tu_run(cmd, out, sizeof(out));
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "test is successful"));
	if (rc != 0)
		fprintf(stderr, "  %s: %s\n", cmd, out);
}

static int suite_init(void)
{
	const char *up = getenv("UPSTREAM");

	carapaced = getenv("CARAPACED");
	if (up == NULL || carapaced == NULL)
		return -1;
	tu_prepare_process();
	snprintf(conf, sizeof(conf), "%s/carapaced.conf", workdir);
	snprintf(audit, sizeof(audit), "%s/audit.log", workdir);
	snprintf(errlog, sizeof(errlog), "%s/stderr.log", workdir);
	up_pid = tu_spawn_upstream(up, &up_port);
	gw_port = tu_free_port();
	if (up_pid < 0 || write_conf() < 0)
		return -1;
	gw_pid = tu_start_daemon(&(struct tu_daemon){
		.conf = conf, .errlog = errlog, .ports = { gw_port } });
	return gw_pid > 0 ? 0 : -1;
}

static int suite_clean(void)
{
	int rc = gw_pid > 0 && tu_stop_daemon(gw_pid) != 0 ? -1 : 0;

	gw_pid = -1;
	if (up_pid > 0)
		tu_stop(up_pid);
	up_pid = -1;
	return rc;
}

int main(void)
{
	static pid_t *const children[] = { &gw_pid, &up_pid };

	tu_watchdog("test_mcp", 300, children, 2);
	if (mkdtemp(workdir) == NULL ||
	    CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("mcp", suite_init, suite_clean);
	CU_add_test(s, "an allowed tools/call goes upstream",
		    test_allowed_call);
	CU_add_test(s, "denied calls: id echoed, rule named, nothing "
		    "upstream", test_denied_calls);
	CU_add_test(s, "an argument the filter allows", test_argument_allowed);
	CU_add_test(s, "the methods the block implies", test_implied_methods);
	CU_add_test(s, "a header/body mismatch: 400, -32020, audited",
		    test_header_mismatch);
	CU_add_test(s, "base64 Mcp-Name; MCP headers forwarded",
		    test_base64_name_and_params_forwarded);
	CU_add_test(s, "Origin refused and allowed", test_origin);
	CU_add_test(s, "a client's JSON-RPC response is forwarded",
		    test_client_response_forwarded);
	CU_add_test(s, "GET, DELETE, Mcp-Session-Id and Last-Event-ID",
		    test_get_delete_session);
	CU_add_test(s, "202 without a body passes", test_202_passes);
	CU_add_test(s, "protocol versions", test_protocol_versions);
	CU_add_test(s, "dry run: rules reported, headers and Origin "
		    "enforced", test_dry_run);
	CU_add_test(s, "etc/mcp.conf.example passes carapaced -t",
		    test_example_checks);
	int rc = cu_run();
	tu_remove_tree(workdir);
	return rc;
}
