/* Policy end to end: the shipped signal-cli example (every method and
 * spelling, paths, its events stream), MCP tool filters, JSON-RPC bodies,
 * rate limits, credentials injected and per-tool body limits, through the
 * real carapaced to the real test upstream over 127.0.0.1. Paths come
 * from the environment (make check sets them): CARAPACED, UPSTREAM,
 * SRCDIR (for etc/signal-cli.conf.example). */
#include "config.h"

#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <dirent.h>
#include <limits.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "text.h"
#include "cu_run.h"
#include "tu_json.h"
#include "tu_assert.h"


#define MS (1000000ull)

static char workdir[] = "/tmp/carapaced-policy-XXXXXX";

/* ==== policy: the shipped signal-cli example, and generic rules ==== */

static pid_t pol_up_pid = -1, sig_pid = -1, pol_pid = -1;
static int pol_up_port, sig_main_port, sig_port, pol_port, pol_port2;
static char sig_conf[600], pol_conf[600];

/* text with every `from` replaced by `to`; caller frees. */
static char *replace_all(const char *text, const char *from, const char *to)
{
	size_t n = 0, fl = strlen(from), tl = strlen(to);

	for (const char *p = text; (p = strstr(p, from)) != NULL; p += fl)
		n++;
	char *out = malloc(strlen(text) + n * (tl > fl ? tl - fl : 0) + 1);
	char *o = out;
	for (const char *p = text, *q; out != NULL; p = q + fl) {
		q = strstr(p, from);
		size_t k = q ? (size_t)(q - p) : strlen(p);
		memcpy(o, p, k);
		o += k;
		if (q == NULL)
			break;
		memcpy(o, to, tl);
		o += tl;
	}
	if (out != NULL)
		*o = '\0';
	return out;
}

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = f ? calloc(1, 65536) : NULL;

	if (buf != NULL && fread(buf, 1, 65535, f) == 0) {
		free(buf);
		buf = NULL;
	}
	if (f != NULL)
		fclose(f);
	return buf;
}

/* The example as shipped, with this test's ports. */
static int write_signal_example(void)
{
	const char *srcdir = getenv("SRCDIR");
	char path[512], addr[3][32];

	snprintf(path, sizeof(path), "%s/etc/signal-cli.conf.example",
		 srcdir ? srcdir : ".");
	snprintf(addr[0], sizeof(addr[0]), "127.0.0.1:%d\"", pol_up_port);
	snprintf(addr[1], sizeof(addr[1]), "\"127.0.0.1:%d\"", sig_port);
	snprintf(addr[2], sizeof(addr[2]), "\"127.0.0.1:%d\"", sig_main_port);
	char *a = read_text(path);
	char *b = a ? replace_all(a, "127.0.0.1:18080\"", addr[0]) : NULL;
	char *c = b ? replace_all(b, "\"127.0.0.1:8080\"", addr[1]) : NULL;
	char *d = c ? replace_all(c, "\"127.0.0.1:8765\"", addr[2]) : NULL;
	/* the tests here try the policy many times a minute: a rate limit
	 * of its own must not answer for it */
	char *e = d ? replace_all(d, "\"max_requests\": 120,",
				  "\"max_requests\": 100000,") :
		      NULL;
	snprintf(sig_conf, sizeof(sig_conf), "%s/signal-cli.conf", workdir);
	int rc = e && strstr(e, addr[0]) && strstr(e, addr[1]) &&
			 strstr(e, "100000") ?
			 tu_write_file(sig_conf, e) :
			 -1;
	free(a);
	free(b);
	free(c);
	free(d);
	free(e);
	return rc;
}

static int write_policy_config(void)
{
	char text[3072];

	snprintf(pol_conf, sizeof(pol_conf), "%s/policy.conf", workdir);
	snprintf(text, sizeof(text),
		 "{ \"listen\": [\"127.0.0.1:%d\", \"127.0.0.1:%d\"],\n"
		 "  \"tools\": {\n"
		 "    \"mcp\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      \"jsonrpc_param_filters\": { \"tools/call\":\n"
		 "        { \"field\": \"name\",\n"
		 "          \"allow_patterns\": [\"search_*\"] } } },\n"
		 "    \"limited\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      \"rate_limit\": { \"max_requests\": 5,\n"
		 "                      \"window_secs\": 2 } },\n"
		 "    \"creds\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      \"inject_headers\": { \"Authorization\":\n"
		 "          \"Bearer host-secret\", \"X-Api-Key\": \"k1\" },\n"
		 "      \"forward_headers\": [\"Cookie\"] },\n"
		 "    \"plain\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      \"max_body_bytes\": 100 },\n"
		 "    \"params\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      \"allow_path_params\": true },\n"
		 "    \"batched\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      \"jsonrpc_max_batch\": 8,\n"
		 "      \"rate_limit\": { \"max_requests\": 6,\n"
		 "                      \"window_secs\": 3600 } }\n"
		 "  }\n}\n",
		 pol_port, pol_port2, pol_up_port, pol_up_port, pol_up_port,
		 pol_up_port, pol_up_port, pol_up_port);
	return tu_write_file(pol_conf, text);
}

static int policy_suite_init(void)
{
	pol_up_pid = tu_spawn_upstream(getenv("UPSTREAM"), &pol_up_port);
	sig_main_port = tu_free_port();
	sig_port = tu_free_port();
	pol_port = tu_free_port();
	pol_port2 = tu_free_port();
	if (pol_up_pid < 0 || write_signal_example() < 0 ||
	    write_policy_config() < 0)
		return -1;
	sig_pid = tu_start_daemon(&(struct tu_daemon){
		.conf = sig_conf, .ports = { sig_port, sig_main_port } });
	pol_pid = tu_start_daemon(&(struct tu_daemon){
		.conf = pol_conf, .ports = { pol_port, pol_port2 } });
	return sig_pid < 0 || pol_pid < 0 ? -1 : 0;
}

static int policy_suite_clean(void)
{
	int rc = 0;

	if (sig_pid > 0 && tu_stop(sig_pid) != 0)
		rc = -1;
	if (pol_pid > 0 && tu_stop(pol_pid) != 0)
		rc = -1;
	if (pol_up_pid > 0)
		tu_stop(pol_up_pid);
	return rc;
}

/* The requests the policy upstream has received, oldest first. */
static json_object *upstream_log(void)
{
	int status = 0;
	char *body = NULL;

	if (tu_http(pol_up_port, "GET", "/_upstream/requests", NULL, NULL,
		    &status, &body, NULL) < 0)
		return NULL;
	json_object *o = parse_json(body);
	free(body);
	return o;
}

static size_t upstream_log_len(void)
{
	json_object *o = upstream_log();
	size_t n = o ? json_object_array_length(o) : (size_t)-1;

	json_object_put(o);
	return n;
}

static int rpc(int port, const char *target, const char *body, int *status,
	       char **resp)
{
	return tu_http(port, "POST", target,
		       "Content-Type: application/json\r\n", body, status, resp,
		       NULL);
}

/* What was checked is what is forwarded: re-serialised, compact. */
static void test_example_allowed_call_reserialised(void)
{
	int status = 0;
	char *resp = NULL;
	const char *sent = "{ \"jsonrpc\" : \"2.0\", \"method\":\"send\", "
			   "\"params\": {\"recipient\": [\"+15550001\"],"
			   " \"message\": \"\\u0068i\", \"message\": \"hi\"},"
			   " \"id\": \"a1\" }";

	tu_http(pol_up_port, "POST", "/_upstream/reset", NULL, "", &status,
		NULL, NULL);
	CU_ASSERT_EQUAL_FATAL(rpc(sig_port, "/api/v1/rpc", sent, &status,
				  &resp),
			      0);
	CU_ASSERT_EQUAL(status, 200);
	CU_ASSERT_PTR_NOT_NULL(resp && strstr(resp, "\"id\":\"a1\""));
	free(resp);
	json_object *log = upstream_log();
	CU_ASSERT_EQUAL_FATAL(json_object_array_length(log), 1);
	json_object *req = json_object_array_get_idx(log, 0);
	CU_ASSERT_STRING_EQUAL(json_str_at(req, "body"),
			       "{\"jsonrpc\":\"2.0\",\"method\":\"send\","
			       "\"params\":{\"recipient\":[\"+15550001\"],"
			       "\"message\":\"hi\"},\"id\":\"a1\"}");
	json_object_put(log);
}

static void expect_rpc_denied(const char *body, int want, const char *rule,
			      const char *id)
{
	int status = 0;
	char *resp = NULL;
	size_t before = upstream_log_len();

	CU_ASSERT_EQUAL_FATAL(rpc(sig_port, "/api/v1/rpc", body, &status,
				  &resp),
			      0);
	CU_ASSERT_EQUAL(status, want);
	CU_ASSERT_PTR_NOT_NULL(resp && strstr(resp, "\"jsonrpc\":\"2.0\""));
	CU_ASSERT_PTR_NOT_NULL(resp && strstr(resp, rule));
	if (id != NULL)
		CU_ASSERT_PTR_NOT_NULL(resp && strstr(resp, id));
	if (resp == NULL || strstr(resp, rule) == NULL)
		fprintf(stderr, "  %s -> %d %s\n", body, status,
			resp ? resp : "");
	free(resp);
	/* never reached the upstream */
	CU_ASSERT_EQUAL(upstream_log_len(), before);
}

static void test_example_denials_never_reach_upstream(void)
{
	expect_rpc_denied("{\"jsonrpc\":\"2.0\",\"method\":\"removeAccount\","
			  "\"id\":7}",
			  403, "jsonrpc_deny_methods", "\"id\":7");
	expect_rpc_denied("{\"jsonrpc\":\"2.0\",\"method\":"
			  "\"\\u0072emoveAccount\",\"id\":8}",
			  403, "jsonrpc_deny_methods", "\"id\":8");
	/* the example names every method it does not allow */
	expect_rpc_denied("{\"jsonrpc\":\"2.0\",\"method\":\"listContacts\","
			  "\"id\":\"x\"}",
			  403, "jsonrpc_deny_methods", "\"id\":\"x\"");
	expect_rpc_denied("{\"jsonrpc\":\"2.0\",\"method\":\"send\",\"params\":"
			  "{\"recipient\":[\"+15550001\",\"+447700900123\"]},"
			  "\"id\":9}",
			  403, "+447700900123", "\"id\":9");
	/* jsonrpc_param_aliases: the plural is the same field, checked
	 * beside the singular */
	expect_rpc_denied("{\"jsonrpc\":\"2.0\",\"method\":\"send\","
			  "\"params\":{\"recipient\":[\"+15550001\"],"
			  "\"recipients\":[\"+447700900123\"]},\"id\":10}",
			  403, "+447700900123", "\"id\":10");
	expect_rpc_denied("[{\"jsonrpc\":\"2.0\",\"method\":\"version\","
			  "\"id\":1},{\"jsonrpc\":\"2.0\",\"method\":"
			  "\"unregister\",\"id\":2}]",
			  403, "another request in this batch", "\"id\":2");
	expect_rpc_denied("{\"jsonrpc\":\"2.0\",\"method\":", 400,
			  "parse error", NULL);
	expect_rpc_denied("[]", 400, "\"error\"", NULL);
}

/* Every JSON-RPC method signal-cli 0.13 and 0.14 serve (command names with
 * a JSON-RPC form, and the subscription calls). */
static const char *const signal_cli_methods[] = {
	"acceptCall", "addDevice", "addStickerPack", "block",
	"deleteLocalAccountData", "finishChangeNumber", "finishLink",
	"getAttachment", "getAvatar", "getSticker", "getUserStatus",
	"hangupCall", "joinGroup", "listAccounts", "listCalls",
	"listContacts", "listDevices", "listGroups", "listIdentities",
	"listStickerPacks", "quitGroup", "receive", "register", "rejectCall",
	"remoteDelete", "removeContact", "removeDevice", "removePin", "send",
	"sendAdminDelete", "sendContacts", "sendMessageRequestResponse",
	"sendPaymentNotification", "sendPinMessage", "sendPollCreate",
	"sendPollTerminate", "sendPollVote", "sendReaction", "sendReceipt",
	"sendStory", "sendSyncRequest", "sendTyping", "sendUnpinMessage",
	"setPin", "startCall", "startChangeNumber", "startLink",
	"submitRateLimitChallenge", "subscribeCallEvents", "subscribeReceive",
	"trust", "unblock", "unregister", "unsubscribeCallEvents",
	"unsubscribeReceive", "updateAccount", "updateConfiguration",
	"updateContact", "updateDevice", "updateGroup", "updateProfile",
	"uploadStickerPack", "verify", "version",
};

static int example_allows(const char *method)
{
	static const char *const allowed[] = { "send", "sendTyping",
					       "sendReceipt", "sendReaction",
					       "version" };

	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if (strcmp(method, allowed[i]) == 0)
			return 1;
	return 0;
}

/* POSTs one call to the shipped example: its status; the upstream's log
 * must not grow when it is refused. */
static int example_call(const char *method, const char *params)
{
	char body[1024];
	int status = 0;
	char *resp = NULL;
	size_t before = upstream_log_len();

	snprintf(body, sizeof(body),
		 "{\"jsonrpc\":\"2.0\",\"method\":\"%s\"%s%s,\"id\":1}",
		 method, params ? ",\"params\":" : "", params ? params : "");
	if (rpc(sig_port, "/api/v1/rpc", body, &status, &resp) < 0)
		return -1;
	free(resp);
	if (status != 200 && upstream_log_len() != before)
		return -2; /* refused, yet it reached the upstream */
	return status;
}

/* The shipped drop-in, unchanged but for its addresses: every method it
 * does not allow, every way signal-cli addresses a message but the listed
 * recipients (each spelling), attachments and the account: refused, and
 * the upstream hears of none of it. What OpenClaw needs still passes. */
static void test_example_is_tight(void)
{
	static const struct {
		const char *method, *params;
	} refused[] = {
		/* a group, a username, note-to-self, in every spelling */
		{ "send", "{\"groupId\":\"Z3I=\",\"message\":\"m\"}" },
		{ "send", "{\"group-id\":\"Z3I=\",\"message\":\"m\"}" },
		{ "send", "{\"group_id\":\"Z3I=\",\"message\":\"m\"}" },
		{ "send", "{\"groupIds\":[\"Z3I=\"],\"message\":\"m\"}" },
		{ "send", "{\"recipient\":[\"+15550001\"],"
			  "\"group-ids\":[\"Z3I=\"],\"message\":\"m\"}" },
		{ "send", "{\"username\":\"u.01\",\"message\":\"m\"}" },
		{ "send", "{\"usernames\":[\"u.01\"],\"message\":\"m\"}" },
		{ "send", "{\"noteToSelf\":true,\"message\":\"m\"}" },
		{ "send", "{\"note-to-self\":true,\"message\":\"m\"}" },
		{ "send", "{\"note_to_self\":true,\"message\":\"m\"}" },
		/* another recipient, in every spelling */
		{ "send", "{\"recipient\":[\"+447700900123\"],"
			  "\"message\":\"m\"}" },
		{ "send", "{\"recipient\":\"+447700900123\",\"message\":\"m\"}" },
		{ "send", "{\"recipients\":[\"+447700900123\"],"
			  "\"message\":\"m\"}" },
		{ "send", "{\"recipient\":[\"+15550001\"],\"recipients\":"
			  "[\"+447700900123\"],\"message\":\"m\"}" },
		{ "send", "{\"message\":\"m\"}" },
		/* a file of this host */
		{ "send", "{\"recipient\":[\"+15550001\"],\"message\":\"m\","
			  "\"attachment\":[\"/etc/carapace/carapaced.conf\"]}" },
		{ "send", "{\"recipient\":[\"+15550001\"],\"message\":\"m\","
			  "\"attachments\":[\"/etc/passwd\"]}" },
		{ "send", "{\"recipient\":[\"+15550001\"],"
			  "\"previewImage\":\"/etc/passwd\",\"message\":\"m\"}" },
		/* positional params */
		{ "send", "[\"+15550001\",\"m\"]" },
		/* typing, receipts, reactions: only to the listed ones */
		{ "sendTyping", "{\"recipient\":[\"+447700900123\"]}" },
		{ "sendTyping", "{\"groupId\":\"Z3I=\"}" },
		{ "sendReceipt", "{\"recipients\":[\"+447700900123\"],"
				 "\"targetTimestamp\":1}" },
		{ "sendReaction", "{\"recipients\":[\"+15550001\"],"
				  "\"groupIds\":[\"Z3I=\"],\"emoji\":\"x\","
				  "\"targetAuthor\":\"+15550001\","
				  "\"targetTimestamp\":1}" },
		{ "sendReaction", "{\"recipients\":[\"+15550001\"],"
				  "\"emoji\":\"x\",\"targetAuthor\":"
				  "\"+447700900123\",\"targetTimestamp\":1}" },
		{ "version", "{\"account\":\"+15550001111\"}" },
	};
	static const struct {
		const char *method, *params;
	} allowed[] = {
		{ "send", "{\"recipient\":[\"+15550001\"],\"message\":\"m\","
			  "\"account\":\"+15550001111\"}" },
		{ "send", "{\"recipients\":[\"+15550002\"],\"message\":\"m\","
			  "\"text-style\":[\"0:1:BOLD\"]}" },
		{ "sendTyping", "{\"recipient\":[\"+15550001\"],\"stop\":true}" },
		{ "sendReceipt", "{\"recipient\":\"+15550002\","
				 "\"targetTimestamp\":1,\"type\":\"read\"}" },
		{ "sendReaction", "{\"recipients\":[\"+15550001\"],"
				  "\"emoji\":\"x\",\"targetAuthor\":"
				  "\"+15550001\",\"targetTimestamp\":1}" },
		{ "version", NULL },
	};
	char batch[4096];
	size_t n = 0;
	int status = 0;
	char *resp = NULL;

	for (size_t i = 0; i < sizeof(signal_cli_methods) /
				       sizeof(signal_cli_methods[0]); i++) {
		const char *m = signal_cli_methods[i];
		if (example_allows(m))
			continue;
		int st = example_call(m, "{}");
		CU_ASSERT_EQUAL(st, 403);
		if (st != 403)
			fprintf(stderr, "  %s -> %d\n", m, st);
	}
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		int st = example_call(refused[i].method, refused[i].params);
		CU_ASSERT(st == 403 || st == 400);
		if (st != 403 && st != 400)
			fprintf(stderr, "  %s %s -> %d\n", refused[i].method,
				refused[i].params, st);
	}
	/* a batch longer than the example's 20 */
	n += (size_t)snprintf(batch, sizeof(batch), "[");
	for (int i = 0; i < 21; i++)
		n += (size_t)snprintf(batch + n, sizeof(batch) - n,
				      "%s{\"jsonrpc\":\"2.0\",\"method\":"
				      "\"version\",\"id\":%d}",
				      i ? "," : "", i);
	snprintf(batch + n, sizeof(batch) - n, "]");
	size_t before = upstream_log_len();
	CU_ASSERT_EQUAL(rpc(sig_port, "/api/v1/rpc", batch, &status, &resp),
			0);
	CU_ASSERT_EQUAL(status, 400);
	free(resp);
	CU_ASSERT_EQUAL(upstream_log_len(), before);
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		int st = example_call(allowed[i].method, allowed[i].params);
		CU_ASSERT_EQUAL(st, 200);
		if (st != 200)
			fprintf(stderr, "  %s %s -> %d\n", allowed[i].method,
				allowed[i].params ? allowed[i].params : "",
				st);
	}
}

static void test_example_paths_and_methods(void)
{
	size_t before = upstream_log_len();

	expect_error(sig_port, "GET", "/api/v1/other", NULL, NULL, 403,
		     "signal-cli");
	expect_error(sig_port, "DELETE", "/api/v1/rpc", NULL, NULL, 405,
		     "signal-cli");
	expect_error(sig_port, "GET", "/api/v1/%2e%2e/x", NULL, NULL, 400,
		     "signal-cli");
	expect_error(sig_main_port, "GET", "/tools/signal-cli/admin", NULL,
		     NULL, 403, "signal-cli");
	CU_ASSERT_EQUAL(upstream_log_len(), before);
}

/* Targets that a servlet container, a server that decodes twice, IIS or
 * a lenient UTF-8 decoder would read as another path: 400, on main and
 * drop-in listeners, and the upstream never hears of them. */
static void test_paths_meaning_else_upstream(void)
{
	static const char *const main_bad[] = {
		"/tools/plain/echo/..;/x", "/tools/plain/..;/echo",
		"/tools/plain/echo/.;/x", "/tools/plain/echo/..;x=1/y",
		"/tools/plain/echo/%252e%252e/x", "/tools/plain/echo/a%25",
		"/tools/plain/echo/%u002e%u002e/x", "/tools/plain/echo/a%zz",
		"/tools/plain/echo/%c0%ae%c0%ae/x", "/tools/plain/echo/%c1%9c",
		"/tools/plain/echo/%e0%80%ae", "/tools/plain/echo/%ed%a0%80",
		"/tools/plain/echo/%f5%80%80%80", "/tools/plain/echo/\xc0\xae",
		"/tools/plain/echo/\xff", "/tools/plain/echo/a;jsessionid=1",
		"/tools/plain/echo/a%3bx", "/tools/params/echo/..;/x",
		"/tools/params/echo/.;x/y",
	};
	static const char *const dropin_bad[] = {
		"/api/v1/..;/rpc", "/api/v1/rpc;x=1", "/api/v1/%2561dmin",
		"/api/v1/%c0%ae%c0%ae/rpc",
	};
	int status = 0;
	char *body = NULL;

	tu_http(pol_up_port, "POST", "/_upstream/reset", NULL, "", &status,
		NULL, NULL);
	for (size_t i = 0; i < sizeof(main_bad) / sizeof(main_bad[0]); i++)
		expect_error(pol_port, "GET", main_bad[i], NULL, NULL, 400,
			     strncmp(main_bad[i], "/tools/plain/", 13) == 0 ?
				     "plain" : "params");
	for (size_t i = 0; i < sizeof(dropin_bad) / sizeof(dropin_bad[0]);
	     i++)
		expect_error(sig_port, "POST", dropin_bad[i],
			     "Content-Type: application/json\r\n", "{}", 400,
			     "signal-cli");
	CU_ASSERT_EQUAL(upstream_log_len(), 0);
	/* what these rules leave alone goes through */
	CU_ASSERT_EQUAL(tu_http(pol_port, "GET",
				"/tools/params/echo/a;v=1/b?q=..;/%25",
				NULL, NULL, &status, &body, NULL),
			0);
	CU_ASSERT_EQUAL(status, 200);
	free(body);
	CU_ASSERT_EQUAL(tu_http(pol_port, "GET",
				"/tools/plain/echo/caf%C3%A9/\xe2\x82\xac",
				NULL, NULL, &status, &body, NULL),
			0);
	CU_ASSERT_EQUAL(status, 200);
	free(body);
	json_object *log = upstream_log();
	CU_ASSERT_EQUAL_FATAL(json_object_array_length(log), 2);
	CU_ASSERT_STRING_EQUAL(
		json_str_at(json_object_array_get_idx(log, 0), "target"),
		"/echo/a;v=1/b?q=..;/%25");
	CU_ASSERT_STRING_EQUAL(
		json_str_at(json_object_array_get_idx(log, 1), "target"),
		"/echo/caf%C3%A9/%e2%82%ac"); /* libcurl escapes raw bytes */
	json_object_put(log);
}

static void test_example_events_stream(void)
{
	struct tu_resp r = { 0 };
	char data[256];
	int fd = tu_open_stream(sig_port, "/api/v1/events?schedule=0.2&end=1",
			     &r);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT_EQUAL(tu_sse_next_event(&r, data, sizeof(data), 5000), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(data, "\"seq\":1"));
	tu_resp_free(&r);
	close(fd);
}

/* An MCP server: only search_* tools, and the SSE answer streams. */
static void test_mcp_tool_filter_and_stream(void)
{
	int fd = tu_connect(pol_port);
	struct tu_resp r = { 0 };
	char data[512];
	const char *call = "{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\","
			   "\"params\":{\"name\":\"search_web\"},\"id\":3}";

	CU_ASSERT_FATAL(fd >= 0);
	tu_send_request(fd, "POST", "/tools/mcp/mcp",
			"Content-Type: application/json\r\n"
			"Accept: application/json, text/event-stream\r\n",
			call, strlen(call));
	CU_ASSERT_EQUAL_FATAL(tu_read_head(&r, fd, 10000), 0);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT_STRING_EQUAL(tu_header(&r, "Content-Type"),
			       "text/event-stream");
	CU_ASSERT_EQUAL_FATAL(tu_sse_next_event(&r, data, sizeof(data), 5000),
			      0);
	uint64_t first_at = tu_now_ns();
	json_object *o = parse_json(data), *params = NULL;
	CU_ASSERT_FATAL(o && json_object_object_get_ex(o, "params", &params));
	uint64_t sent = (uint64_t)json_int_at(params, "sent_ns");
	CU_ASSERT(first_at - sent < 250 * MS);
	json_object_put(o);
	CU_ASSERT_EQUAL_FATAL(tu_sse_next_event(&r, data, sizeof(data), 5000),
			      0);
	o = parse_json(data);
	json_object *result = NULL;
	CU_ASSERT_FATAL(o && json_object_object_get_ex(o, "result", &result));
	/* the first message arrived before the second was even sent */
	CU_ASSERT(first_at < (uint64_t)json_int_at(result, "sent_ns"));
	CU_ASSERT_EQUAL(json_int_at(o, "id"), 3);
	json_object_put(o);
	tu_resp_free(&r);
	close(fd);

	int status = 0;
	char *resp = NULL;
	CU_ASSERT_EQUAL(rpc(pol_port, "/tools/mcp/mcp",
			    "{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\","
			    "\"params\":{\"name\":\"delete_repo\"},\"id\":4}",
			    &status, &resp),
			0);
	CU_ASSERT_EQUAL(status, 403);
	CU_ASSERT_PTR_NOT_NULL(resp && strstr(resp, "allow_patterns"));
	free(resp);
}

/* Any body to a JSON-RPC tool is checked, not only a POST's. */
static void test_jsonrpc_body_checked_whatever_the_method(void)
{
	size_t before = upstream_log_len();
	int status = 0;
	char *resp = NULL;

	CU_ASSERT_EQUAL(tu_http(pol_port, "PUT", "/tools/mcp/mcp",
				"Content-Type: application/json\r\n",
				"{\"jsonrpc\":\"2.0\",\"method\":"
				"\"tools/call\",\"params\":{\"name\":"
				"\"delete_repo\"},\"id\":5}",
				&status, &resp, NULL),
			0);
	CU_ASSERT_EQUAL(status, 403);
	free(resp);
	CU_ASSERT_EQUAL(tu_http(pol_port, "PATCH", "/tools/mcp/mcp", NULL,
				"not json", &status, NULL, NULL),
			0);
	CU_ASSERT_EQUAL(status, 400);
	CU_ASSERT_EQUAL(upstream_log_len(), before);
}

/* A batch of n "version" calls with ids 1..n (caller frees). */
static char *version_batch(size_t n)
{
	size_t cap = n * 48 + 3, len = 0;
	char *p = malloc(cap);

	if (p == NULL)
		return NULL;
	p[len++] = '[';
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(p + len, cap - len,
					"%s{\"jsonrpc\":\"2.0\",\"method\":"
					"\"version\",\"id\":%zu}",
					i ? "," : "", i + 1);
	p[len++] = ']';
	p[len] = '\0';
	return p;
}

/* POST a batch of n calls to the "batched" tool (max 6 calls an hour,
 * batches of at most 8): the status, Retry-After (0: none), whether the
 * answer is JSON-RPC and whether the upstream saw the request. */
static int post_batch(size_t n, int *retry_after, int *rpc, int *reached)
{
	char *body = version_batch(n), *resp = NULL;
	size_t before = upstream_log_len();
	struct tu_resp r = { 0 };
	int status = -1, fd = tu_connect(pol_port);

	*retry_after = -1;
	*rpc = 0;
	if (body != NULL && fd >= 0 &&
	    tu_send_request(fd, "POST", "/tools/batched/api/v1/rpc",
			    "Content-Type: application/json\r\n", body,
			    strlen(body)) == 0 &&
	    tu_read_head(&r, fd, 10000) == 0) {
		const char *ra = tu_header(&r, "Retry-After");
		status = r.status;
		*retry_after = ra ? (int)strtol(ra, NULL, 10) : 0;
		resp = calloc(1, 4096);
		if (resp != NULL && tu_read_body(&r, resp, 4095, 10000) > 0)
			*rpc = strstr(resp, "\"jsonrpc\":\"2.0\"") != NULL;
	}
	tu_resp_free(&r);
	if (fd >= 0)
		close(fd);
	*reached = upstream_log_len() != before;
	free(resp);
	free(body);
	return status;
}

/* A batch of N calls takes N tokens, all or none; a batch longer than
 * jsonrpc_max_batch is refused before it costs more than one. */
static void test_rate_limit_counts_calls(void)
{
	int ra = -1, rpc = -1, reached = -1, status = 0;

	/* 9 > jsonrpc_max_batch 8: 400; a refusal takes one token (5 left) */
	CU_ASSERT_EQUAL(post_batch(9, &ra, &rpc, &reached), 400);
	CU_ASSERT_TRUE(rpc);
	CU_ASSERT_FALSE(reached);
	/* more calls than the limit ever admits: 429, no point retrying */
	CU_ASSERT_EQUAL(post_batch(7, &ra, &rpc, &reached), 429);
	CU_ASSERT_EQUAL(ra, 0);
	CU_ASSERT_TRUE(rpc);
	CU_ASSERT_FALSE(reached);
	CU_ASSERT_EQUAL(post_batch(3, &ra, &rpc, &reached), 200); /* 2 left */
	CU_ASSERT_TRUE(reached);
	/* does not fit: refused whole, nothing taken, nothing sent */
	CU_ASSERT_EQUAL(post_batch(3, &ra, &rpc, &reached), 429);
	CU_ASSERT(ra >= 3500 && ra <= 3600);
	CU_ASSERT_TRUE(rpc);
	CU_ASSERT_FALSE(reached);
	CU_ASSERT_EQUAL(post_batch(2, &ra, &rpc, &reached), 200); /* 0 left */
	CU_ASSERT_TRUE(reached);
	/* the window is full: refused before the body, with or without one */
	CU_ASSERT_EQUAL(tu_http(pol_port, "GET",
				"/tools/batched/api/v1/check", NULL, NULL,
				&status, NULL, NULL),
			0);
	CU_ASSERT_EQUAL(status, 429);
	CU_ASSERT_EQUAL(post_batch(1, &ra, &rpc, &reached), 429);
	CU_ASSERT(ra >= 3500 && ra <= 3600);
	CU_ASSERT_FALSE(reached);
}

static void test_rate_limit(void)
{
	int status = 0;
	char *resp = NULL;
	int fd, retry = 0;

	for (int i = 0; i < 5; i++) {
		CU_ASSERT_EQUAL(tu_http(pol_port, "GET",
					"/tools/limited/api/v1/check", NULL,
					NULL, &status, NULL, NULL),
				0);
		CU_ASSERT_EQUAL(status, 200);
	}
	struct tu_resp r = { 0 };
	fd = tu_connect(pol_port);
	tu_send_request(fd, "GET", "/tools/limited/api/v1/check", NULL, NULL,
			0);
	CU_ASSERT_EQUAL_FATAL(tu_read_head(&r, fd, 10000), 0);
	CU_ASSERT_EQUAL(r.status, 429);
	const char *ra = tu_header(&r, "Retry-After");
	CU_ASSERT_PTR_NOT_NULL_FATAL(ra);
	retry = (int)strtol(ra, NULL, 10);
	CU_ASSERT(retry >= 1 && retry <= 2);
	tu_resp_free(&r);
	close(fd);
	tu_sleep_ms(retry * 1000 + 50);
	CU_ASSERT_EQUAL(tu_http(pol_port, "GET", "/tools/limited/api/v1/check",
				NULL, NULL, &status, &resp, NULL),
			0);
	CU_ASSERT_EQUAL(status, 200);
	free(resp);
}

static json_object *echo_headers(const char *tool, const char *headers)
{
	char target[64], *body = NULL;
	int status = 0;

	snprintf(target, sizeof(target), "/tools/%s/echo", tool);
	if (tu_http(pol_port, "GET", target, headers, NULL, &status, &body,
		    NULL) < 0 || status != 200) {
		free(body);
		return NULL;
	}
	json_object *o = parse_json(body), *h = NULL;
	free(body);
	if (o && json_object_object_get_ex(o, "headers", &h))
		json_object_get(h);
	json_object_put(o);
	return h;
}

static int count_header(json_object *headers, const char *name)
{
	int n = 0;

	for (size_t i = 0; i < json_object_array_length(headers); i++) {
		json_object *pair = json_object_array_get_idx(headers, i);
		n += strcasecmp(json_object_get_string(
					json_object_array_get_idx(pair, 0)),
				name) == 0;
	}
	return n;
}

static void test_credentials_injected_not_forwarded(void)
{
	const char *client = "Authorization: Bearer client-token\r\n"
			     "Proxy-Authorization: Basic eA==\r\n"
			     "X-Api-Key: from-client\r\n"
			     "Cookie: session=1\r\n";
	json_object *h = echo_headers("creds", client);

	CU_ASSERT_PTR_NOT_NULL_FATAL(h);
	CU_ASSERT(has_header_pair(h, "Authorization", "Bearer host-secret"));
	CU_ASSERT_EQUAL(count_header(h, "Authorization"), 1);
	CU_ASSERT(has_header_pair(h, "X-Api-Key", "k1"));
	CU_ASSERT_EQUAL(count_header(h, "X-Api-Key"), 1);
	CU_ASSERT(has_header_pair(h, "Cookie", "session=1"));
	CU_ASSERT_EQUAL(count_header(h, "Proxy-Authorization"), 0);
	json_object_put(h);

	h = echo_headers("plain", client);
	CU_ASSERT_PTR_NOT_NULL_FATAL(h);
	CU_ASSERT_EQUAL(count_header(h, "Authorization"), 0);
	CU_ASSERT_EQUAL(count_header(h, "Proxy-Authorization"), 0);
	CU_ASSERT_EQUAL(count_header(h, "Cookie"), 0);
	CU_ASSERT(has_header_pair(h, "X-Api-Key", "from-client"));
	json_object_put(h);
}

static void test_per_tool_body_limit(void)
{
	char body[201];

	memset(body, 'b', 200);
	body[200] = '\0';
	expect_error(pol_port, "POST", "/tools/plain/echo", NULL, body, 413,
		     "plain");
	body[99] = '\0';
	int status = 0;
	CU_ASSERT_EQUAL(tu_http(pol_port, "POST", "/tools/plain/echo", NULL,
				body, &status, NULL, NULL),
			0);
	CU_ASSERT_EQUAL(status, 200);
}


int main(void)
{
	static pid_t *const children[] = { &pol_up_pid, &sig_pid, &pol_pid };

	tu_watchdog("test_policy_e2e", 900, children, 3);
	if (mkdtemp(workdir) == NULL ||
	    CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite p = CU_add_suite("policy", policy_suite_init,
				   policy_suite_clean);
	CU_add_test(p, "signal-cli example: allowed call re-serialised",
		    test_example_allowed_call_reserialised);
	CU_add_test(p, "signal-cli example: denials never reach upstream",
		    test_example_denials_never_reach_upstream);
	CU_add_test(p, "signal-cli example: paths and methods",
		    test_example_paths_and_methods);
	CU_add_test(p, "paths that mean something else upstream: 400",
		    test_paths_meaning_else_upstream);
	CU_add_test(p, "signal-cli example: tight against every method "
		       "and spelling", test_example_is_tight);
	CU_add_test(p, "signal-cli example: events stream",
		    test_example_events_stream);
	CU_add_test(p, "MCP: tool filter, SSE answer streams",
		    test_mcp_tool_filter_and_stream);
	CU_add_test(p, "JSON-RPC body checked whatever the method",
		    test_jsonrpc_body_checked_whatever_the_method);
	CU_add_test(p, "rate limit", test_rate_limit);
	CU_add_test(p, "rate limit counts JSON-RPC calls",
		    test_rate_limit_counts_calls);
	CU_add_test(p, "credentials injected, never forwarded",
		    test_credentials_injected_not_forwarded);
	CU_add_test(p, "per-tool body limit", test_per_tool_body_limit);
	int rc = cu_run();
	tu_remove_tree(workdir);
	return rc;
}
