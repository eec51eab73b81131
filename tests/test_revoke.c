/* Revocation through carapacectl against the real carapaced: revoke
 * appends to revoked_clients_file and tells the daemon (POST
 * /v1/revocations), unrevoke rewrites the file without the name, an
 * unknown name is refused, a daemon that is down hears of it at its next
 * start; the file is read at reload and at start. With the identity
 * layer (branch i15-identity): a revoked client is refused after a
 * reload and a restart, and its open stream ends within 1 s with an
 * audit record ended "revoked"; a request held for approval whose
 * client is revoked while it waits is refused when approved. Paths from
 * the environment (make check sets them): CARAPACED, CARAPACECTL,
 * UPSTREAM. */
#include "config.h"

#include <CUnit/Basic.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cu_run.h"
#include "testutil.h"

static char workdir[] = "/tmp/carapaced-revoke-XXXXXX";
static char conf[700], revoked[700], audit[700];
static const char *carapaced, *ctl_path;
static pid_t up_pid = -1, gw_pid = -1;
static int up_port, gw_port, admin_port;

static int write_conf(void)
{
	char text[2048];

	snprintf(text, sizeof(text),
		 "{ \"listen\": [\"127.0.0.1:%d\"],\n"
		 "  \"admin_listen\": \"127.0.0.1:%d\",\n"
		 "  \"admin_token_sha256\": \"" TU_ADMIN_TOKEN_SHA256 "\",\n"
		 "  \"audit_log\": \"%s\",\n"
		 "  \"revoked_clients_file\": \"%s\",\n"
		 "  \"clients\": {\n"
		 "    \"lo\": { \"allow_from\": [\"127.0.0.0/8\"],\n"
		 "            \"tools\": [\"sig\", \"held\"] },\n"
		 "    \"far\": { \"allow_from\": [\"192.0.2.0/24\"],\n"
		 "             \"tools\": [\"sig\"] } },\n"
		 "  \"tools\": { \"sig\": { \"type\": \"http\",\n"
		 "    \"upstream\": \"http://127.0.0.1:%d\" },\n"
		 "    \"held\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"http://127.0.0.1:%d\",\n"
		 "      \"require_approval\": { \"http_methods\": [\"POST\"] } } } }\n",
		 gw_port, admin_port, audit, revoked, up_port, up_port);
	return tu_write_file(conf, text);
}

static int start_gw(void)
{
	gw_pid = tu_start_daemon(&(struct tu_daemon){
		.conf = conf, .ports = { gw_port, admin_port } });
	return gw_pid > 0 ? 0 : -1;
}

/* carapacectl -c conf ARGS with the admin token: its exit status,
 * stdout and stderr in out. */
static int ctl(const char *args, char *out, size_t len)
{
	char cmd[2400];

	snprintf(cmd, sizeof(cmd), "CARAPACE_ADMIN_TOKEN='" TU_ADMIN_TOKEN
		 "' '%s' -c '%s' %s", ctl_path, conf, args);
	return tu_run(cmd, out, len);
}

/* An admin request with the token: the answer as JSON (caller puts),
 * or NULL unless it is a 200. */
static json_object *admin(const char *method, const char *target)
{
	int status;
	char *body = NULL;
	json_object *o = NULL;

	if (tu_http(admin_port, method, target, TU_ADMIN_AUTH,
		    strcmp(method, "POST") == 0 ? "" : NULL, &status, &body,
		    NULL) == 0 && status == 200)
		o = json_tokener_parse(body);
	free(body);
	return o;
}

static int64_t num(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return -1;
	return json_object_get_int64(v);
}

/* revoked_clients of /v1/status: what the file names now */
static int64_t status_revoked(void)
{
	json_object *o = admin("GET", "/v1/status");
	int64_t n = num(o, "revoked_clients");

	json_object_put(o);
	return n;
}

static char *file_text(void)
{
	char *t = tu_slurp(revoked);
	return t ? t : strdup("");
}

/* ---- the file, and the daemon told ---- */

static void test_revoke_and_unrevoke(void)
{
	char out[4096];
	struct stat st;

	unlink(revoked);
	CU_ASSERT_EQUAL(ctl("revoke far", out, sizeof(out)), 0);
	CU_ASSERT(strstr(out, "revoked far: 1 revoked in all, 0 streams "
			 "ended") != NULL);
	char *t = file_text();
	CU_ASSERT_STRING_EQUAL(t, "far\n");
	free(t);
	CU_ASSERT(stat(revoked, &st) == 0 && (st.st_mode & 07777) == 0640);
	CU_ASSERT_EQUAL(status_revoked(), 1);
	/* twice: on file once */
	CU_ASSERT_EQUAL(ctl("revoke far", out, sizeof(out)), 0);
	t = file_text();
	CU_ASSERT_STRING_EQUAL(t, "far\n");
	free(t);
	/* the daemon's own answer */
	json_object *o = admin("POST", "/v1/revocations");
	CU_ASSERT(num(o, "revoked") == 1 && num(o, "streams_ended") == 0);
	json_object_put(o);

	/* unrevoke keeps the other lines as they were */
	CU_ASSERT_FATAL(tu_write_file(revoked, "# by hand\nlo\n  far  # x\n"
					       "far\nfarther\n") == 0);
	CU_ASSERT_FATAL(chmod(revoked, 0600) == 0);
	CU_ASSERT_EQUAL(ctl("unrevoke far", out, sizeof(out)), 0);
	CU_ASSERT(strstr(out, "unrevoked far: 2 revoked in all") != NULL);
	t = file_text();
	CU_ASSERT_STRING_EQUAL(t, "# by hand\nlo\nfarther\n");
	free(t);
	CU_ASSERT(stat(revoked, &st) == 0 && (st.st_mode & 07777) == 0600);
	CU_ASSERT_EQUAL(ctl("unrevoke far", out, sizeof(out)), 1);
	CU_ASSERT(strstr(out, "far is not revoked") != NULL);
	CU_ASSERT_EQUAL(ctl("unrevoke lo", out, sizeof(out)), 0);
	CU_ASSERT_EQUAL(status_revoked(), 1); /* "farther": no client */
	/* a last line without its newline is not joined */
	CU_ASSERT_FATAL(tu_write_file(revoked, "lo") == 0);
	CU_ASSERT_EQUAL(ctl("revoke far", out, sizeof(out)), 0);
	t = file_text();
	CU_ASSERT_STRING_EQUAL(t, "lo\nfar\n");
	free(t);
	CU_ASSERT_EQUAL(ctl("unrevoke lo", out, sizeof(out)), 0);
	CU_ASSERT_EQUAL(ctl("unrevoke far", out, sizeof(out)), 0);
	CU_ASSERT_EQUAL(status_revoked(), 0);
	unlink(revoked);
}

static void test_revoke_unknown(void)
{
	static const char *const bad[] = { "revoke nosuch", "revoke 'a b'",
					   "revoke ''", "unrevoke 'x y'" };
	char out[4096];

	CU_ASSERT_FATAL(tu_write_file(revoked, "# nobody\n") == 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT_EQUAL(ctl(bad[i], out, sizeof(out)), 1);
	CU_ASSERT_EQUAL(ctl("revoke nosuch", out, sizeof(out)), 1);
	CU_ASSERT(strstr(out, "defines no client nosuch") != NULL);
	CU_ASSERT_EQUAL(ctl("revoke", out, sizeof(out)), 2);
	char *t = file_text();
	CU_ASSERT_STRING_EQUAL(t, "# nobody\n");
	free(t);
	unlink(revoked);
}

/* Read at reload and at start: a file that cannot be read refuses
 * both; a revocation made while the daemon is down is on file. */
static void test_revoke_read_at_reload_and_start(void)
{
	char out[4096];
	int status;

	CU_ASSERT_FATAL(mkdir(revoked, 0700) == 0); /* unreadable as a file */
	CU_ASSERT(tu_http(admin_port, "POST", "/v1/reload", TU_ADMIN_AUTH, "",
			  &status, NULL, NULL) == 0 && status == 409);
	CU_ASSERT(tu_http(admin_port, "POST", "/v1/revocations",
			  TU_ADMIN_AUTH, "", &status, NULL, NULL) == 0 &&
		  status == 500);
	CU_ASSERT_EQUAL(ctl("reload", out, sizeof(out)), 1);
	rmdir(revoked);

	CU_ASSERT_EQUAL(tu_stop_daemon(gw_pid), 0);
	gw_pid = -1;
	CU_ASSERT_EQUAL(ctl("revoke far", out, sizeof(out)), 1);
	CU_ASSERT(strstr(out, "is on file in") && strstr(out, "next starts"));
	char *t = file_text();
	CU_ASSERT_STRING_EQUAL(t, "far\n");
	free(t);
	CU_ASSERT_FATAL(start_gw() == 0);
	CU_ASSERT_EQUAL(status_revoked(), 1);
	CU_ASSERT_EQUAL(ctl("unrevoke far", out, sizeof(out)), 0);
	CU_ASSERT_EQUAL(status_revoked(), 0);
}

/* ---- with the identity layer ---- */

static int events_status(void)
{
	int status = -1;

	tu_http(gw_port, "GET", "/tools/sig/api/v1/events?schedule=0&end=1",
		NULL, NULL, &status, NULL, NULL);
	return status;
}

/* lo (every 127.0.0.0/8 address) revoked: refused after a reload and a
 * restart; unrevoked: served again. */
static void test_revoked_client_refused(void)
{
	char out[4096];

	CU_ASSERT_EQUAL(events_status(), 200);
	CU_ASSERT_EQUAL(ctl("revoke lo", out, sizeof(out)), 0);
	int st = events_status();
	CU_ASSERT(st == 401 || st == 403);
	CU_ASSERT_EQUAL(ctl("reload", out, sizeof(out)), 0);
	st = events_status();
	CU_ASSERT(st == 401 || st == 403);
	CU_ASSERT_EQUAL(tu_stop_daemon(gw_pid), 0);
	CU_ASSERT_FATAL(start_gw() == 0);
	st = events_status();
	CU_ASSERT(st == 401 || st == 403);
	CU_ASSERT_EQUAL(ctl("unrevoke lo", out, sizeof(out)), 0);
	CU_ASSERT_EQUAL(events_status(), 200);
}

/* The stream_end record of client lo's stream of path, or NULL (caller
 * puts): the stream's own, not an earlier test's whose record a slow
 * run may write late. */
static json_object *stream_end_of_lo(const char *path)
{
	char *text = tu_slurp(audit);
	json_object *found = NULL;

	for (char *line = text ? strtok(text, "\n") : NULL; line;
	     line = strtok(NULL, "\n")) {
		json_object *o = json_tokener_parse(line), *v;
		if (json_object_object_get_ex(o, "event", &v) &&
		    strcmp(json_object_get_string(v), "stream_end") == 0 &&
		    json_object_object_get_ex(o, "client", &v) &&
		    v != NULL && strcmp(json_object_get_string(v), "lo") == 0 &&
		    json_object_object_get_ex(o, "path", &v) && v != NULL &&
		    strcmp(json_object_get_string(v), path) == 0) {
			json_object_put(found);
			found = o;
		} else {
			json_object_put(o);
		}
	}
	free(text);
	return found;
}

static void test_revoke_ends_stream(void)
{
	struct tu_resp r;
	char buf[4096], out[4096];
	const char *path = "/tools/sig/api/v1/events?keepalive=0.1";
	int fd = tu_connect(gw_port);

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(tu_send_request(fd, "GET", path,
					NULL, NULL, 0) == 0);
	CU_ASSERT_FATAL(tu_read_head(&r, fd, 5000) == 0);
	CU_ASSERT_EQUAL(r.status, 200);
	CU_ASSERT_EQUAL(ctl("revoke lo", out, sizeof(out)), 0);
	CU_ASSERT(strstr(out, "1 streams ended") != NULL);
	uint64_t t0 = tu_now_ns();
	ssize_t n;
	/* ended at once by the revocation, not by a timer (none under a
	 * minute here): under 1 s on a quiet machine; the bound is a
	 * deadline that a loaded run (sanitizers, nice 19) cannot cross by
	 * accident, and the time is printed */
	while ((n = tu_read_body(&r, buf, sizeof(buf), 1000)) > 0 &&
	       tu_now_ns() - t0 < 10000000000ull)
		;
	CU_ASSERT(n == 0 || n == -2); /* ended, not timed out */
	CU_ASSERT(tu_now_ns() - t0 < 5000000000ull);
	fprintf(stderr, "\n  the revoked stream ended after %llu ms\n",
		(unsigned long long)((tu_now_ns() - t0) / 1000000));
	tu_resp_free(&r);
	close(fd);
	json_object *end = NULL, *v;
	/* its record is written once the stream is over: a deadline, not a
	 * count of tries, which a slow run would use up sooner */
	uint64_t deadline = tu_now_ns() + 10000000000ull;
	while ((end = stream_end_of_lo(path)) == NULL &&
	       tu_now_ns() < deadline)
		tu_sleep_ms(20);
	CU_ASSERT(end && json_object_object_get_ex(end, "ended", &v) &&
		  strcmp(json_object_get_string(v), "revoked") == 0);
	json_object_put(end);
	CU_ASSERT_EQUAL(ctl("unrevoke lo", out, sizeof(out)), 0);
}

/* The id of the one pending request of GET /v1/approvals into id, or
 * 0 when there is none yet. */
struct pending_id {
	char id[64];
};

static int found_pending(void *arg)
{
	struct pending_id *p = arg;
	json_object *o = admin("GET", "/v1/approvals"), *l, *v;

	if (json_object_object_get_ex(o, "pending", &l) &&
	    json_object_array_length(l) == 1 &&
	    json_object_object_get_ex(json_object_array_get_idx(l, 0), "id",
				      &v))
		snprintf(p->id, sizeof(p->id), "%s", json_object_get_string(v));
	json_object_put(o);
	return p->id[0] != '\0';
}

/* Revoked while held, then approved: 403 naming the revocation, and
 * nothing reaches the upstream (the approval alone would let it). */
static void test_revoked_while_held(void)
{
	struct pending_id p = { "" };
	struct tu_resp r = { 0 };
	char out[4096], target[128], body[1024];
	int status = -1, fd = tu_connect(gw_port);
	int before = tu_upstream_stat(up_port, "requests");

	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(tu_send_request(fd, "POST", "/tools/held/echo", NULL,
					"x", 1) == 0);
	CU_ASSERT_FATAL(tu_wait_until(found_pending, &p, 10000) == 0);
	CU_ASSERT_EQUAL(ctl("revoke lo", out, sizeof(out)), 0);
	snprintf(target, sizeof(target), "/v1/approvals/%s", p.id);
	CU_ASSERT_EQUAL(tu_http(admin_port, "POST", target, TU_ADMIN_AUTH,
				"{\"decision\":\"approve\"}", &status, NULL,
				NULL), 0);
	CU_ASSERT_EQUAL(status, 200);
	CU_ASSERT_FATAL(tu_read_head(&r, fd, 10000) == 0);
	CU_ASSERT_EQUAL(r.status, 403);
	ssize_t n = tu_read_body(&r, body, sizeof(body) - 1, 10000);
	body[n > 0 ? n : 0] = '\0';
	CU_ASSERT(strstr(body, "revoked") != NULL);
	CU_ASSERT_EQUAL(tu_upstream_stat(up_port, "requests"), before);
	tu_resp_free(&r);
	close(fd);
	CU_ASSERT_EQUAL(ctl("unrevoke lo", out, sizeof(out)), 0);
}

static int suite_init(void)
{
	const char *up = getenv("UPSTREAM");

	carapaced = getenv("CARAPACED");
	ctl_path = getenv("CARAPACECTL");
	if (up == NULL || carapaced == NULL || ctl_path == NULL)
		return -1;
	tu_prepare_process();
	snprintf(conf, sizeof(conf), "%s/carapaced.conf", workdir);
	snprintf(revoked, sizeof(revoked), "%s/revoked", workdir);
	snprintf(audit, sizeof(audit), "%s/audit.log", workdir);
	up_pid = tu_spawn_upstream(up, &up_port);
	gw_port = tu_free_port();
	admin_port = tu_free_port();
	if (up_pid < 0 || write_conf() < 0)
		return -1;
	return start_gw();
}

static int suite_clean(void)
{
	int rc = gw_pid > 0 && tu_stop(gw_pid) != 0 ? -1 : 0;

	if (up_pid > 0)
		tu_stop(up_pid);
	return rc;
}

int main(void)
{
	static pid_t *const children[] = { &gw_pid, &up_pid };

	tu_watchdog("test_revoke", 300, children, 2);
	if (mkdtemp(workdir) == NULL ||
	    CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite s = CU_add_suite("revoke", suite_init, suite_clean);
	CU_add_test(s, "revoke and unrevoke", test_revoke_and_unrevoke);
	CU_add_test(s, "an unknown name is refused", test_revoke_unknown);
	CU_add_test(s, "read at reload and start",
		    test_revoke_read_at_reload_and_start);
	CU_pSuite id = CU_add_suite("revoke, with identity (i15-identity)",
				    suite_init, suite_clean);
	CU_add_test(id, "a revoked client is refused, after reload and "
		    "restart", test_revoked_client_refused);
	CU_add_test(id, "revoke ends the client's stream within 1 s",
		    test_revoke_ends_stream);
	CU_add_test(id, "revoked while held for approval: refused",
		    test_revoked_while_held);
	int rc = cu_run();
	tu_remove_tree(workdir);
	return rc;
}
