/* A tool's dry run ("mode": "audit", issue 17) against the real
 * carapaced: a request the tool's rules would refuse (a path, an HTTP
 * method, a JSON-RPC method, a cli argv) reaches the upstream or runs
 * anyway, its record says "decision": "would_deny" with the rule, and
 * carapace_requests_total counts it under decision="would_deny"; what is
 * not a rule stays enforced (a body that is not JSON-RPC, a client's
 * tool list is not involved here); a tool in enforce mode beside it
 * still refuses; /v1/status and carapacectl status show the mode; the
 * daemon warns of the mode at start and at reload. A call
 * require_approval matches is not held: it goes on at once, recorded
 * "would_hold" and counted apart. Paths from the
 * environment (make check sets them): CARAPACED, CARAPACECTL, UPSTREAM,
 * CLITOOL. */
#include "config.h"

#include <CUnit/Basic.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cu_run.h"
#include "testutil.h"
#include "tu_json.h"

static char workdir[] = "/tmp/carapaced-dryrun-XXXXXX";
static char conf[700], audit[700], errlog[700], jail[700];
static const char *carapaced, *ctl_path, *clitool;
static pid_t up_pid = -1, gw_pid = -1;
static int up_port, gw_port, admin_port;

static int write_conf(void)
{
	char text[4096], ct[1024];

	if (tu_cli_ct_tool(ct, sizeof(ct), clitool, jail, NULL) < 0)
		return -1;
	/* ct in audit mode: its allow list, deny patterns and deny flags
	 * are reported only; "mode" goes before the closing brace */
	ct[strlen(ct) - 1] = '\0';
	snprintf(text, sizeof(text),
		 "{ \"listen\": [\"127.0.0.1:%d\"],\n"
		 "  \"admin_listen\": \"127.0.0.1:%d\",\n"
		 "  \"admin_token_sha256\": \"" TU_ADMIN_TOKEN_SHA256 "\",\n"
		 "  \"audit_log\": \"%s\",\n"
		 "  \"run_tools_as_root\": true,\n"
		 "  \"tools\": {\n"
		 "    \"web\": { \"type\": \"http\", \"mode\": \"audit\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      \"allow_paths\": [\"/echo\"],\n"
		 "      \"allow_http_methods\": [\"GET\"] },\n"
		 "    \"strict\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      \"allow_paths\": [\"/echo\"] },\n"
		 "    \"rpc\": { \"type\": \"http\", \"mode\": \"audit\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      \"jsonrpc_allow_methods\": [\"version\"],\n"
		 "      \"jsonrpc_deny_methods\": [\"removeAccount\"],\n"
		 "      \"require_approval\": { \"jsonrpc_methods\": "
		 "[\"version\"], \"timeout_secs\": 60 } },\n"
		 "    %s, \"mode\": \"audit\",\n"
		 "      \"require_approval\": { \"argv_patterns\": "
		 "[\"println held*\"], \"timeout_secs\": 60 } } } }\n",
		 gw_port, admin_port, audit, up_port, up_port, up_port, ct);
	return tu_write_file(conf, text);
}

static int upstream_requests(void)
{
	return tu_upstream_stat(up_port, "requests");
}

/* The nth record of the audit log whose path is target (caller puts),
 * waited for: the record of a plain answer is written as it ends, which
 * may be after the client has read the answer. */
static json_object *record_of(const char *target, int nth)
{
	uint64_t deadline = tu_now_ns() + 10000000000ull;

	do {
		char *text = tu_slurp(audit);
		json_object *found = NULL;
		int seen = 0;

		for (char *line = text ? strtok(text, "\n") : NULL; line;
		     line = strtok(NULL, "\n")) {
			json_object *o = json_tokener_parse(line);
			const char *p = json_str_at(o, "path");

			if (p != NULL && strcmp(p, target) == 0 &&
			    ++seen == nth) {
				found = o;
			} else {
				json_object_put(o);
			}
		}
		free(text);
		if (found != NULL)
			return found;
		tu_sleep_ms(20);
	} while (tu_now_ns() < deadline);
	return NULL;
}

/* Its decision is want, and (would_deny) its rule holds rule_part. */
static void check_record(const char *target, int nth, const char *want,
			 const char *rule_part)
{
	json_object *o = record_of(target, nth);
	const char *decision = json_str_at(o, "decision");
	const char *rule = json_str_at(o, "rule");

	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	CU_ASSERT_STRING_EQUAL(decision ? decision : "(none)", want);
	if (rule_part != NULL) {
		CU_ASSERT(rule != NULL && strstr(rule, rule_part) != NULL);
		if (rule == NULL || strstr(rule, rule_part) == NULL)
			fprintf(stderr, "rule: %s\n", rule ? rule : "(none)");
	} else {
		CU_ASSERT_PTR_NULL(rule);
	}
	json_object_put(o);
}

static void test_path_and_method_would_deny(void)
{
	int status = 0, before = upstream_requests();

	/* a path outside allow_paths, then a method outside
	 * allow_http_methods: both reach the upstream */
	CU_ASSERT_EQUAL(tu_http(gw_port, "GET", "/tools/web/raw/outside",
				NULL, NULL, &status, NULL, NULL), 0);
	CU_ASSERT_EQUAL(status, 200);
	CU_ASSERT_EQUAL(tu_http(gw_port, "DELETE", "/tools/web/echo/x", NULL,
				NULL, &status, NULL, NULL), 0);
	CU_ASSERT_EQUAL(status, 200);
	CU_ASSERT_EQUAL(upstream_requests(), before + 2);
	check_record("/tools/web/raw/outside", 1, "would_deny", "allow_paths");
	check_record("/tools/web/echo/x", 1, "would_deny", "DELETE");
	/* allowed: an allow record, no rule */
	CU_ASSERT_EQUAL(tu_http(gw_port, "GET", "/tools/web/echo", NULL, NULL,
				&status, NULL, NULL), 0);
	CU_ASSERT_EQUAL(status, 200);
	check_record("/tools/web/echo", 1, "allow", NULL);
}

static void test_enforcing_tool_beside_it_refuses(void)
{
	int status = 0, before = upstream_requests();

	CU_ASSERT_EQUAL(tu_http(gw_port, "GET", "/tools/strict/raw/outside",
				NULL, NULL, &status, NULL, NULL), 0);
	CU_ASSERT_EQUAL(status, 403);
	CU_ASSERT_EQUAL(upstream_requests(), before);
	check_record("/tools/strict/raw/outside", 1, "deny", NULL);
}

static int rpc(const char *body, int *status, char **answer)
{
	return tu_http(gw_port, "POST", "/tools/rpc/api/v1/rpc",
		       "Content-Type: application/json\r\n", body, status,
		       answer, NULL);
}

static void test_jsonrpc_would_deny(void)
{
	int status = 0, before = upstream_requests();
	char *answer = NULL;

	/* denied by name, and not on the allow list: forwarded as sent */
	CU_ASSERT_EQUAL(rpc("{\"jsonrpc\":\"2.0\",\"id\":7,"
			    "\"method\":\"removeAccount\",\"params\":{}}",
			    &status, &answer), 0);
	CU_ASSERT_EQUAL(status, 200);
	CU_ASSERT(answer && strstr(answer, "removeAccount") &&
		  !strstr(answer, "\"error\""));
	free(answer);
	answer = NULL;
	CU_ASSERT_EQUAL(upstream_requests(), before + 1);
	check_record("/tools/rpc/api/v1/rpc", 1, "would_deny",
		     "jsonrpc_deny_methods");
	/* not JSON-RPC at all: a 400 in this mode too, nothing forwarded */
	CU_ASSERT_EQUAL(rpc("{\"not\":\"rpc\"", &status, &answer), 0);
	CU_ASSERT_EQUAL(status, 400);
	free(answer);
	CU_ASSERT_EQUAL(upstream_requests(), before + 1);
	check_record("/tools/rpc/api/v1/rpc", 2, "deny", NULL);
}

static int run_ct(const char *argv_json, char **answer)
{
	char body[512];
	int status = 0;

	snprintf(body, sizeof(body), "{\"argv\":%s}", argv_json);
	if (tu_http(gw_port, "POST", "/tools/ct",
		    "Content-Type: application/json\r\n", body, &status,
		    answer, NULL) < 0)
		return -1;
	return status;
}

static void test_cli_argv_would_deny(void)
{
	char *answer = NULL;

	/* matches argv_deny_patterns ("* secret*"): runs all the same */
	CU_ASSERT_EQUAL(run_ct("[\"println\",\"secret-ish\"]", &answer), 200);
	CU_ASSERT(answer && strstr(answer, "secret-ish") &&
		  strstr(answer, "\"exit_code\":0"));
	free(answer);
	answer = NULL;
	check_record("/tools/ct", 1, "would_deny", "argv_deny_patterns");
	/* a flag in argv_deny_flags */
	CU_ASSERT_EQUAL(run_ct("[\"args\",\"--output=x\"]", &answer), 200);
	free(answer);
	answer = NULL;
	check_record("/tools/ct", 2, "would_deny", "argv_deny_flags");
	/* cwd_allowed is not a rule a dry run relaxes */
	CU_ASSERT_EQUAL(run_ct("[\"cwd\"],\"cwd\":\"/\"", &answer), 403);
	free(answer);
	check_record("/tools/ct", 3, "deny", NULL);
}

/* carapace_requests_total{tool,decision} of /metrics */
static long long decision_count(const char *tool, const char *decision)
{
	char *body = NULL, series[128];
	int status = 0;
	long long n = -1;

	snprintf(series, sizeof(series),
		 "carapace_requests_total{tool=\"%s\",decision=\"%s\"} ",
		 tool, decision);
	if (tu_http(admin_port, "GET", "/metrics", TU_ADMIN_AUTH, NULL,
		    &status, &body, NULL) == 0 && status == 200) {
		const char *p = strstr(body, series);
		n = p ? atoll(p + strlen(series)) : 0;
	}
	free(body);
	return n;
}

static long long would_deny_count(const char *tool)
{
	return decision_count(tool, "would_deny");
}

static int approval_records(void)
{
	char *text = tu_slurp(audit);
	int n = 0;

	for (char *p = text; p && (p = strstr(p, "\"approval_")); p++)
		n++;
	free(text);
	return n;
}

/* A call require_approval matches goes on at once (a hold would answer
 * 403 after 60 s), recorded would_hold with the rule, counted apart;
 * nothing is pending. */
static void test_would_hold(void)
{
	int status = 0, before = upstream_requests();
	char *answer = NULL;

	CU_ASSERT_EQUAL(rpc("{\"jsonrpc\":\"2.0\",\"id\":8,"
			    "\"method\":\"version\"}", &status, &answer), 0);
	CU_ASSERT_EQUAL(status, 200);
	CU_ASSERT(answer && strstr(answer, "version") &&
		  !strstr(answer, "\"error\""));
	free(answer);
	answer = NULL;
	CU_ASSERT_EQUAL(upstream_requests(), before + 1);
	check_record("/tools/rpc/api/v1/rpc", 3, "would_hold",
		     "require_approval");
	CU_ASSERT_EQUAL(run_ct("[\"println\",\"held-here\"]", &answer), 200);
	CU_ASSERT(answer && strstr(answer, "held-here"));
	free(answer);
	check_record("/tools/ct", 4, "would_hold", "println held*");
	CU_ASSERT_EQUAL(decision_count("rpc", "would_hold"), 1);
	CU_ASSERT_EQUAL(decision_count("ct", "would_hold"), 1);
	CU_ASSERT_EQUAL(decision_count("web", "would_hold"), 0);
	/* no approval_pending (nor any approval record) was written */
	CU_ASSERT_EQUAL(approval_records(), 0);
}

static void test_metrics_count_apart(void)
{
	long long web = would_deny_count("web");
	int status = 0;

	CU_ASSERT(web >= 2);
	CU_ASSERT(would_deny_count("rpc") >= 1);
	CU_ASSERT(would_deny_count("ct") >= 2);
	CU_ASSERT_EQUAL(would_deny_count("strict"), 0);
	CU_ASSERT_EQUAL(tu_http(gw_port, "GET", "/tools/web/raw/again", NULL,
				NULL, &status, NULL, NULL), 0);
	CU_ASSERT_EQUAL(would_deny_count("web"), web + 1);
}

/* The live tail's decision=would_deny: only what a dry run let pass. */
static void test_tail_of_would_deny(void)
{
	struct tu_resp r = { 0 };
	char data[8192];
	int status = 0, fd = tu_connect(admin_port);

	CU_ASSERT_EQUAL(tu_http(admin_port, "GET", "/v1/audit?decision=maybe",
				TU_ADMIN_AUTH, NULL, &status, NULL, NULL), 0);
	CU_ASSERT_EQUAL(status, 400);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(tu_send_request(fd, "GET",
					"/v1/audit?decision=would_deny",
					TU_ADMIN_AUTH, NULL, 0) == 0);
	CU_ASSERT_FATAL(tu_read_head(&r, fd, 10000) == 0);
	CU_ASSERT_EQUAL(r.status, 200);
	/* allowed first, then the one a dry run lets pass: only it comes */
	CU_ASSERT_EQUAL(tu_http(gw_port, "GET", "/tools/web/echo", NULL, NULL,
				&status, NULL, NULL), 0);
	CU_ASSERT_EQUAL(tu_http(gw_port, "GET", "/tools/web/raw/tailed", NULL,
				NULL, &status, NULL, NULL), 0);
	CU_ASSERT_EQUAL_FATAL(tu_sse_next_event(&r, data, sizeof(data), 10000),
			      0);
	CU_ASSERT(strstr(data, "\"path\":\"/tools/web/raw/tailed\"") != NULL);
	CU_ASSERT(strstr(data, "\"decision\":\"would_deny\"") != NULL);
	tu_resp_free(&r);
	close(fd);
}

static void test_status_shows_the_mode(void)
{
	char cmd[1600], out[8192];

	snprintf(cmd, sizeof(cmd), "CARAPACE_ADMIN_TOKEN='" TU_ADMIN_TOKEN
		 "' '%s' -c '%s' status", ctl_path, conf);
	CU_ASSERT_EQUAL(tu_run(cmd, out, sizeof(out)), 0);
	CU_ASSERT(strstr(out, "MODE") != NULL);
	/* each tool's row names its mode */
	char *web = strstr(out, "\nweb "), *strict = strstr(out, "\nstrict ");
	CU_ASSERT(web && strstr(web, "audit") &&
		  strstr(web, "audit") < strchr(web + 1, '\n'));
	CU_ASSERT(strict && strstr(strict, "enforce") &&
		  strstr(strict, "enforce") < strchr(strict + 1, '\n'));
}

/* the warning at start, and again at reload */
static int warnings(void)
{
	char *t = tu_slurp(errlog);
	int n = 0;

	for (char *p = t; p && (p = strstr(p, "tools.web: mode \"audit\""));
	     p++)
		n++;
	free(t);
	return n;
}

static int two_warnings(void *arg)
{
	(void)arg;
	return warnings() >= 2;
}

static void test_warned_at_start_and_reload(void)
{
	CU_ASSERT_EQUAL(warnings(), 1);
	CU_ASSERT_EQUAL(kill(gw_pid, SIGHUP), 0);
	CU_ASSERT_EQUAL(tu_wait_until(two_warnings, NULL, 10000), 0);
}

static int suite_init(void)
{
	const char *up = getenv("UPSTREAM");

	carapaced = getenv("CARAPACED");
	ctl_path = getenv("CARAPACECTL");
	clitool = getenv("CLITOOL");
	if (up == NULL || carapaced == NULL || ctl_path == NULL ||
	    clitool == NULL)
		return -1;
	tu_prepare_process();
	snprintf(conf, sizeof(conf), "%s/carapaced.conf", workdir);
	snprintf(audit, sizeof(audit), "%s/audit.log", workdir);
	snprintf(errlog, sizeof(errlog), "%s/stderr.log", workdir);
	snprintf(jail, sizeof(jail), "%s/jail", workdir);
	if (mkdir(jail, 0755) < 0)
		return -1;
	up_pid = tu_spawn_upstream(up, &up_port);
	gw_port = tu_free_port();
	admin_port = tu_free_port();
	if (up_pid < 0 || write_conf() < 0)
		return -1;
	gw_pid = tu_start_daemon(&(struct tu_daemon){
		.conf = conf, .errlog = errlog,
		.ports = { gw_port, admin_port } });
	return gw_pid > 0 ? 0 : -1;
}

static int suite_clean(void)
{
	int rc = gw_pid > 0 && tu_stop_daemon(gw_pid) != 0 ? -1 : 0;

	if (up_pid > 0)
		tu_stop(up_pid);
	return rc;
}

int main(void)
{
	static pid_t *const children[] = { &gw_pid, &up_pid };

	tu_watchdog("test_dryrun", 300, children, 2);
	if (mkdtemp(workdir) == NULL ||
	    CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("dry run", suite_init, suite_clean);
	CU_add_test(s, "a path and a method the rules refuse go upstream",
		    test_path_and_method_would_deny);
	CU_add_test(s, "a tool in enforce mode beside it still refuses",
		    test_enforcing_tool_beside_it_refuses);
	CU_add_test(s, "a JSON-RPC method denied goes upstream as sent",
		    test_jsonrpc_would_deny);
	CU_add_test(s, "a cli argv denied runs; cwd_allowed holds",
		    test_cli_argv_would_deny);
	CU_add_test(s, "require_approval in audit mode: would_hold, not held",
		    test_would_hold);
	CU_add_test(s, "metrics count would_deny apart",
		    test_metrics_count_apart);
	CU_add_test(s, "the live tail of would_deny records",
		    test_tail_of_would_deny);
	CU_add_test(s, "carapacectl status shows the mode",
		    test_status_shows_the_mode);
	CU_add_test(s, "a warning at start and at reload",
		    test_warned_at_start_and_reload);
	int rc = cu_run();
	tu_remove_tree(workdir);
	return rc;
}
