/* test_tls — TLS and unix socket listeners (listener.c, endpoint.c).
 *
 * Certificates are made at test time (tests/mkcerts.sh, the openssl CLI).
 * Two suites:
 *   peer     the listeners of listener.c in this process, each a real MHD
 *            daemon, answering with what listener_peer() says of the
 *            connection; real clients (curl, curl as nobody through
 *            setpriv, openssl s_client) connect to them.
 *   daemon   the real carapaced with a TLS and a unix listener before the
 *            test upstream: an SSE stream and JSON-RPC through https, TLS
 *            1.1 refused, a certificate renewal by reload while a stream
 *            flows, a client leaving a silent TLS stream, a unix listener
 *            removed by reload.
 * Runs as root (the suite does, in CI): the unix peer test needs a second
 * uid. */
#include "config.h"

#include <CUnit/Basic.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"
#include "cu_run.h"
#include "guard.h"
#include "identity.h"
#include "listener.h"
#include "testutil.h"

static char workdir[] = "/tmp/carapaced-tls-XXXXXX";
static const char *carapaced_path;
static pid_t up_pid = -1, fg_pid = -1, stream_pid = -1;
static int up_port;

/* ---- helpers ---- */

/* sh -c cmd (stderr with stdout) into out: its exit status. */
static int run(char *out, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int run(char *out, size_t len, const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return tu_run(cmd, out, len);
}

/* GET https://127.0.0.1:port/ with our CA and curl's extra arguments. */
static int https_get(int port, const char *extra, char *out, size_t len)
{
	return run(out, len,
		   "curl -sS --max-time 10 --cacert %s/ca.pem %s "
		   "https://127.0.0.1:%d/",
		   workdir, extra, port);
}

/* The subject CN a new connection to port is served. */
static int served_cn(int port, char *cn, size_t len)
{
	char out[8192];

	if (run(out, sizeof(out),
		"openssl s_client -connect 127.0.0.1:%d </dev/null 2>&1 | "
		"openssl x509 -noout -subject -nameopt RFC2253",
		port) != 0)
		return -1;
	size_t n = strnlen(out, len - 1);
	memcpy(cn, out, n);
	cn[n] = '\0';
	return 0;
}

static int copy_file(const char *from, const char *to)
{
	char out[512], path[512], text[8192];

	snprintf(path, sizeof(path), "%s/%s", workdir, from);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	snprintf(out, sizeof(out), "%s/%s", workdir, to);
	return tu_write_file(out, text);
}

/* The certificate files a listener serves: server.pem/.key as "live"
 * (first the one for serial 1001, after a renewal server2's). */
static int install_cert(const char *name)
{
	char a[64], b[64];

	snprintf(a, sizeof(a), "%s.pem", name);
	snprintf(b, sizeof(b), "%s.key", name);
	return copy_file(a, "live.pem") == 0 && copy_file(b, "live.key") == 0
		       ? 0
		       : -1;
}

/* ---- suite "peer": listener_peer through a real MHD daemon ---- */

static struct guard *guard;
static struct listeners *set;
static int peer_port;

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	(void)cls;
	(void)uri;
	(void)c;
	return NULL;
}

/* Answers with the facts: "unix=1 cred=1 uid=0 tls=0 verified=0
 * names=a,b,". */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *data,
				  size_t *size, void **ctx)
{
	struct identity_peer p;
	char text[1024];
	(void)url, (void)method, (void)version, (void)data, (void)size;
	(void)ctx;

	listener_peer(cls, c, &p);
	int k = snprintf(text, sizeof(text),
			 "unix=%d cred=%d uid=%u tls=%d verified=%d "
			 "addr=%d names=",
			 p.is_unix, p.has_cred, p.uid, p.tls, p.cert_verified,
			 p.addr != NULL);
	for (size_t i = 0; i < p.n_cert_names && k < 900; i++)
		k += snprintf(text + k, sizeof(text) - (size_t)k, "%s,",
			      p.cert_names[i]);
	struct MHD_Response *r = MHD_create_response_from_buffer(
		(size_t)k, text, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rc = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return rc;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **ctx,
			 enum MHD_RequestTerminationCode code)
{
	(void)cls, (void)c, (void)ctx, (void)code;
}

static void wake(void *arg)
{
	(void)arg;
}

/* The peer suite's config: a TLS listener asking for client certificates
 * and, with_unix, a unix one of mode 0666. key: the tls_key file. */
static struct cfg *peer_cfg(int with_unix, const char *key)
{
	char text[2048];
	struct cfg *cfg = NULL;
	struct error err = { 0 };

	snprintf(text, sizeof(text),
		 "{ \"listen\": [ { \"address\": \"127.0.0.1:%d\",\n"
		 "    \"tls_cert\": \"%s/live.pem\", \"tls_key\": \"%s/%s\",\n"
		 "    \"tls_client_ca\": \"%s/clientca.pem\" }%s%s%s ],\n"
		 "  \"tools\": { \"up\": { \"type\": \"http\",\n"
		 "    \"upstream\": \"http://127.0.0.1:9\" } } }\n",
		 peer_port, workdir, workdir, key, workdir,
		 with_unix ? ", { \"address\": \"unix:" : "",
		 with_unix ? workdir : "",
		 with_unix ? "/peer.sock\", \"unix_mode\": \"0666\" }" : "");
	if (cfg_load_string(text, &cfg, &err) < 0)
		fprintf(stderr, "\n    config: %s\n", err.msg);
	return cfg;
}

static int peer_apply(struct cfg *cfg, struct error *err)
{
	int rc = cfg != NULL ? listeners_apply(set, cfg, err) : -1;
	cfg_release(cfg);
	return rc;
}

static int peer_init(void)
{
	const struct listener_handlers h = { on_uri, on_request,
					     on_completed, NULL };
	const struct guard_limits limits = { 0, 64, 10, 10 };
	struct error err = { 0 };

	peer_port = tu_free_port();
	if (peer_port < 0 || install_cert("server") < 0)
		return -1;
	guard = guard_new(NULL, &limits);
	set = guard ? listeners_new(&h, guard, &limits, 64, wake, NULL) : NULL;
	if (set == NULL || peer_apply(peer_cfg(1, "live.key"), &err) < 0) {
		fprintf(stderr, "\n    apply: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int peer_clean(void)
{
	listeners_free(set);
	guard_free(guard);
	return 0;
}

static void test_peer_tls(void)
{
	char out[4096], arg[512];

	/* no certificate: the handshake completes, nothing is proven */
	CU_ASSERT_EQUAL(https_get(peer_port, "", out, sizeof(out)), 0);
	CU_ASSERT(strstr(out, "unix=0 cred=0 uid=0 tls=1 verified=0 addr=1 "
			      "names=") != NULL);
	CU_ASSERT(strstr(out, "names=agent") == NULL);
	/* signed by the client CA: its CN and DNS SAN */
	snprintf(arg, sizeof(arg), "--cert %s/client.pem --key %s/client.key",
		 workdir, workdir);
	CU_ASSERT_EQUAL(https_get(peer_port, arg, out, sizeof(out)), 0);
	CU_ASSERT(strstr(out, "tls=1 verified=1 addr=1 "
			      "names=agent-7.example,agent-7.alt,") != NULL);
	/* the same names from another CA: not verified, no names */
	snprintf(arg, sizeof(arg),
		 "--cert %s/stranger.pem --key %s/stranger.key", workdir,
		 workdir);
	CU_ASSERT_EQUAL(https_get(peer_port, arg, out, sizeof(out)), 0);
	CU_ASSERT(strstr(out, "verified=0 addr=1 names=") != NULL);
	CU_ASSERT(strstr(out, "agent-7") == NULL);
	/* plain HTTP is not answered on it */
	CU_ASSERT(run(out, sizeof(out),
		      "curl -sS --max-time 5 http://127.0.0.1:%d/",
		      peer_port) != 0);
}

static void test_peer_unix(void)
{
	char out[4096], path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/peer.sock", workdir);
	CU_ASSERT_FATAL(stat(path, &st) == 0);
	CU_ASSERT(S_ISSOCK(st.st_mode));
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0666);
	CU_ASSERT_EQUAL(run(out, sizeof(out),
			    "curl -sS --max-time 10 --unix-socket %s "
			    "http://localhost/", path), 0);
	CU_ASSERT(strstr(out, "unix=1 cred=1 uid=0 tls=0 verified=0 addr=0")
		  != NULL);
	CU_ASSERT_EQUAL(run(out, sizeof(out),
			    "setpriv --reuid=nobody --regid=nogroup "
			    "--clear-groups curl -sS --max-time 10 "
			    "--unix-socket %s http://localhost/", path), 0);
	CU_ASSERT(strstr(out, "unix=1 cred=1 uid=65534 tls=0") != NULL);
	if (strstr(out, "uid=65534") == NULL)
		fprintf(stderr, "\n    as nobody: %s\n", out);
}

static int reaped(void *arg)
{
	(void)arg;
	return listeners_reap(set) == 0;
}

static void test_peer_reload(void)
{
	char cn[512], path[256], missing[256];
	struct error err = { 0 };
	struct stat st;

	snprintf(path, sizeof(path), "%s/peer.sock", workdir);
	/* a key file that cannot be read: refused, naming it; nothing
	 * changes */
	snprintf(missing, sizeof(missing), "%s/absent.key", workdir);
	CU_ASSERT_EQUAL(peer_apply(peer_cfg(0, "absent.key"), &err), -1);
	CU_ASSERT(strstr(err.msg, "tls_key") != NULL &&
		  strstr(err.msg, missing) != NULL);
	CU_ASSERT(stat(path, &st) == 0);
	CU_ASSERT(served_cn(peer_port, cn, sizeof(cn)) == 0 &&
		  strstr(cn, "CN=127.0.0.1") != NULL);
	/* renewed files, the same address: new connections get the new
	 * certificate; the unix listener, removed, is gone */
	CU_ASSERT_FATAL(install_cert("server2") == 0);
	CU_ASSERT_EQUAL(peer_apply(peer_cfg(0, "live.key"), &err), 0);
	CU_ASSERT(served_cn(peer_port, cn, sizeof(cn)) == 0 &&
		  strstr(cn, "CN=renewed.localhost") != NULL);
	CU_ASSERT(tu_wait_until(reaped, NULL, 10000) == 0);
	CU_ASSERT(stat(path, &st) < 0);
	CU_ASSERT_FATAL(install_cert("server") == 0);
}

/* ---- suite "daemon": carapaced ---- */

static char conf[512];
static int tls_port, admin_port;

static int write_conf(int with_unix)
{
	char text[2048];

	snprintf(text, sizeof(text),
		 "{ \"listen\": [ { \"address\": \"127.0.0.1:%d\",\n"
		 "    \"tls_cert\": \"%s/live.pem\",\n"
		 "    \"tls_key\": \"%s/live.key\" }%s%s%s ],\n"
		 "  \"admin_listen\": \"127.0.0.1:%d\",\n"
		 "  \"admin_token_sha256\": \"" TU_ADMIN_TOKEN_SHA256 "\",\n"
		 "  \"tools\": { \"up\": { \"type\": \"http\",\n"
		 "    \"upstream\": \"http://127.0.0.1:%d\" } } }\n",
		 tls_port, workdir, workdir,
		 with_unix ? ", \"unix:" : "", with_unix ? workdir : "",
		 with_unix ? "/api.sock\"" : "", admin_port, up_port);
	return tu_write_file(conf, text);
}

static int daemon_init(void)
{
	up_pid = tu_suite_upstream(&carapaced_path, &up_port);
	tls_port = tu_free_port();
	admin_port = tu_free_port();
	snprintf(conf, sizeof(conf), "%s/tls.conf", workdir);
	if (up_pid < 0 || tls_port < 0 || admin_port < 0 ||
	    install_cert("server") < 0 || write_conf(1) < 0)
		return -1;
	const struct tu_daemon d = { .conf = conf,
				     .ports = { tls_port, admin_port } };
	fg_pid = tu_start_daemon(&d);
	return fg_pid > 0 ? 0 : -1;
}

static int daemon_clean(void)
{
	if (stream_pid > 0)
		tu_stop(stream_pid);
	if (fg_pid > 0 && tu_stop_daemon(fg_pid) < 0)
		return -1;
	if (up_pid > 0)
		tu_stop(up_pid);
	up_pid = -1;
	return 0;
}

static int open_streams_is(void *want)
{
	return tu_upstream_stat(up_port, "open_streams") == *(int *)want;
}

static int broadcast(void)
{
	int status = 0;
	return tu_http(up_port, "POST", "/_upstream/broadcast", NULL, "",
		       &status, NULL, NULL) == 0 && status == 200 ? 0 : -1;
}

/* The next "data:" line curl prints of the stream, within 5 s. */
static int next_data(int fd, char *line, size_t len)
{
	for (int i = 0; i < 50; i++) {
		if (tu_read_line(fd, line, len, 5000) < 0)
			return -1;
		if (strncmp(line, "data:", 5) == 0)
			return 0;
	}
	return -1;
}

static int renewed(void *arg)
{
	char cn[512];
	(void)arg;
	return served_cn(tls_port, cn, sizeof(cn)) == 0 &&
	       strstr(cn, "CN=renewed.localhost") != NULL;
}

static int original(void *arg)
{
	char cn[512];
	(void)arg;
	return served_cn(tls_port, cn, sizeof(cn)) == 0 &&
	       strstr(cn, "CN=127.0.0.1") != NULL;
}

static int sock_gone(void *path)
{
	struct stat st;
	return stat(path, &st) < 0;
}

static void test_https_stream_and_renewal(void)
{
	char url[256], ca[256], line[1024];
	int fd = -1, one = 1, none = 0;

	snprintf(url, sizeof(url),
		 "https://127.0.0.1:%d/tools/up/api/v1/events", tls_port);
	snprintf(ca, sizeof(ca), "%s/ca.pem", workdir);
	const char *argv[] = { "curl", "-sSN", "--cacert", ca, url, NULL };
	stream_pid = tu_spawn(argv, &fd);
	CU_ASSERT_FATAL(stream_pid > 0);
	CU_ASSERT_FATAL(tu_wait_until(open_streams_is, &one, 10000) == 0);
	CU_ASSERT(broadcast() == 0);
	CU_ASSERT(next_data(fd, line, sizeof(line)) == 0);

	/* renewal: new files, SIGHUP; new connections get them */
	CU_ASSERT_FATAL(install_cert("server2") == 0);
	CU_ASSERT(kill(fg_pid, SIGHUP) == 0);
	CU_ASSERT(tu_wait_until(renewed, NULL, 10000) == 0);
	/* the stream opened before flows on */
	CU_ASSERT(tu_upstream_stat(up_port, "open_streams") == 1);
	CU_ASSERT(broadcast() == 0);
	CU_ASSERT(next_data(fd, line, sizeof(line)) == 0);

	/* the client leaves the silent stream: seen through TLS at once */
	uint64_t t0 = tu_now_ns();
	kill(stream_pid, SIGKILL);
	tu_stop(stream_pid);
	stream_pid = -1;
	/* the stream is silent: unnoticed, it would never end */
	CU_ASSERT(tu_wait_until(open_streams_is, &none, 10000) == 0);
	fprintf(stderr, "  the client's leaving seen in %llu ms\n",
		(unsigned long long)((tu_now_ns() - t0) / 1000000));
	close(fd);
	CU_ASSERT_FATAL(install_cert("server") == 0);
	CU_ASSERT(kill(fg_pid, SIGHUP) == 0);
	CU_ASSERT(tu_wait_until(original, NULL, 10000) == 0);
}

static void test_https_rpc_and_versions(void)
{
	char out[8192];

	CU_ASSERT_EQUAL(run(out, sizeof(out),
			    "curl -sS --max-time 10 --cacert %s/ca.pem "
			    "-H 'Content-Type: application/json' "
			    "-d '{\"jsonrpc\":\"2.0\",\"method\":\"ping\","
			    "\"id\":7}' "
			    "https://127.0.0.1:%d/tools/up/api/v1/rpc",
			    workdir, tls_port), 0);
	CU_ASSERT(strstr(out, "\"id\":7") != NULL);
	/* TLS 1.2 is served, 1.1 is not (the client would speak it) */
	CU_ASSERT_EQUAL(run(out, sizeof(out),
			    "openssl s_client -connect 127.0.0.1:%d -tls1_2 "
			    "</dev/null", tls_port), 0);
	CU_ASSERT(strstr(out, "TLSv1.2") != NULL);
	CU_ASSERT_NOT_EQUAL(run(out, sizeof(out),
				"openssl s_client -connect 127.0.0.1:%d "
				"-tls1_1 -cipher DEFAULT@SECLEVEL=0 "
				"</dev/null", tls_port), 0);
	CU_ASSERT(strstr(out, "Cipher is (NONE)") != NULL);
	CU_ASSERT(strstr(out, "New, TLSv1.1") == NULL);
}

static void test_unix_listener(void)
{
	char out[4096], path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/api.sock", workdir);
	CU_ASSERT_FATAL(stat(path, &st) == 0);
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0660); /* the default */
	CU_ASSERT_EQUAL(run(out, sizeof(out),
			    "curl -sS --max-time 10 -o /dev/null "
			    "-w '%%{http_code}' --unix-socket %s "
			    "http://localhost/tools/up/api/v1/check", path), 0);
	CU_ASSERT_STRING_EQUAL(out, "200");
	/* removed by reload: the file goes */
	CU_ASSERT_FATAL(write_conf(0) == 0);
	CU_ASSERT(kill(fg_pid, SIGHUP) == 0);
	CU_ASSERT(tu_wait_until(sock_gone, path, 10000) == 0);
	CU_ASSERT_NOT_EQUAL(run(out, sizeof(out),
				"curl -sS --max-time 5 --unix-socket %s "
				"http://localhost/tools/up/api/v1/check",
				path), 0);
}

/* ---- suite "upstream": an https upstream, and -t ---- */

static pid_t sserver_pid = -1, up_daemon_pid = -1;
static int sserver_port, front_port;

static int upstream_init(void)
{
	char cert[256], key[256], accept[16], conf_path[256], text[2048];

	if (carapaced_path == NULL)
		carapaced_path = getenv("CARAPACED");
	sserver_port = tu_free_port();
	front_port = tu_free_port();
	snprintf(cert, sizeof(cert), "%s/server.pem", workdir);
	snprintf(key, sizeof(key), "%s/server.key", workdir);
	snprintf(accept, sizeof(accept), "%d", sserver_port);
	/* openssl's test server: any GET gets a 200 status page */
	const char *const argv[] = { "openssl", "s_server", "-quiet", "-www",
				     "-accept", accept, "-cert", cert,
				     "-key", key, NULL };
	sserver_pid = tu_spawn(argv, NULL);
	if (sserver_pid < 0 || tu_wait_port(sserver_port, 10000) < 0)
		return -1;
	snprintf(conf_path, sizeof(conf_path), "%s/upstream.conf", workdir);
	snprintf(text, sizeof(text),
		 "{ \"listen\": [\"127.0.0.1:%d\"],\n"
		 "  \"tools\": {\n"
		 "    \"verified\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"https://127.0.0.1:%d\",\n"
		 "      \"upstream_ca\": \"%s/ca.pem\" },\n"
		 "    \"unknown_ca\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"https://127.0.0.1:%d\" },\n"
		 "    \"insecure\": { \"type\": \"http\",\n"
		 "      \"upstream\": \"https://127.0.0.1:%d\",\n"
		 "      \"upstream_insecure\": true } } }\n",
		 front_port, sserver_port, workdir, sserver_port,
		 sserver_port);
	if (tu_write_file(conf_path, text) < 0)
		return -1;
	static char conf_copy[256];
	snprintf(conf_copy, sizeof(conf_copy), "%s", conf_path);
	const struct tu_daemon d = { .conf = conf_copy,
				     .ports = { front_port } };
	up_daemon_pid = tu_start_daemon(&d);
	return up_daemon_pid > 0 ? 0 : -1;
}

static int upstream_clean(void)
{
	int rc = 0;

	if (up_daemon_pid > 0 && tu_stop_daemon(up_daemon_pid) < 0)
		rc = -1;
	if (sserver_pid > 0)
		tu_stop(sserver_pid);
	return rc;
}

static int status_of(const char *tool)
{
	char target[128];
	int status = 0;

	snprintf(target, sizeof(target), "/tools/%s/", tool);
	if (tu_http(front_port, "GET", target, NULL, NULL, &status, NULL,
		    NULL) < 0)
		return -1;
	return status;
}

/* upstream_ca verifies against a private CA; without it curl's store
 * does not know that CA (502); upstream_insecure checks nothing. */
static void test_upstream_tls(void)
{
	CU_ASSERT_EQUAL(status_of("verified"), 200);
	CU_ASSERT_EQUAL(status_of("unknown_ca"), 502);
	CU_ASSERT_EQUAL(status_of("insecure"), 200);
}

/* carapaced -t reads the TLS files a start would read. */
static void test_check_tls_files(void)
{
	char path[256], text[1024], out[2048];

	snprintf(path, sizeof(path), "%s/badkey.conf", workdir);
	snprintf(text, sizeof(text),
		 "{ \"listen\": [ { \"address\": \"127.0.0.1:1\",\n"
		 "    \"tls_cert\": \"%s/server.pem\",\n"
		 "    \"tls_key\": \"%s/absent.key\" } ],\n"
		 "  \"tools\": { \"t\": { \"type\": \"http\",\n"
		 "    \"upstream\": \"http://127.0.0.1:1\" } } }\n",
		 workdir, workdir);
	CU_ASSERT_FATAL(tu_write_file(path, text) == 0);
	CU_ASSERT_NOT_EQUAL(run(out, sizeof(out), "'%s' -t -c '%s'",
				carapaced_path, path), 0);
	CU_ASSERT(strstr(out, "tls_key") != NULL &&
		  strstr(out, "absent.key") != NULL);
	snprintf(text, sizeof(text),
		 "{ \"listen\": [ { \"address\": \"127.0.0.1:1\",\n"
		 "    \"tls_cert\": \"%s/server.pem\",\n"
		 "    \"tls_key\": \"%s/server.key\" } ],\n"
		 "  \"tools\": { \"t\": { \"type\": \"http\",\n"
		 "    \"upstream\": \"http://127.0.0.1:1\" } } }\n",
		 workdir, workdir);
	CU_ASSERT_FATAL(tu_write_file(path, text) == 0);
	CU_ASSERT_EQUAL(run(out, sizeof(out), "'%s' -t -c '%s'",
			    carapaced_path, path), 0);
}

/* ---- suite "clients": who a TLS or unix peer is, end to end ---- */

static pid_t id_daemon_pid = -1;
static int mtls_port;
static char audit_file[256], id_sock[256];

static int clients_init(void)
{
	char conf_path[256], text[3072];

	up_pid = tu_suite_upstream(&carapaced_path, &up_port);
	mtls_port = tu_free_port();
	if (up_pid < 0 || mtls_port < 0)
		return -1;
	snprintf(audit_file, sizeof(audit_file), "%s/clients-audit.log",
		 workdir);
	snprintf(id_sock, sizeof(id_sock), "%s/id.sock", workdir);
	snprintf(conf_path, sizeof(conf_path), "%s/clients.conf", workdir);
	snprintf(text, sizeof(text),
		 "{ \"listen\": [ { \"address\": \"127.0.0.1:%d\",\n"
		 "    \"tls_cert\": \"%s/server.pem\",\n"
		 "    \"tls_key\": \"%s/server.key\",\n"
		 "    \"tls_client_ca\": \"%s/clientca.pem\" },\n"
		 "    { \"address\": \"unix:%s\", \"unix_mode\": \"0666\" } ],\n"
		 "  \"audit_log\": \"%s\",\n"
		 "  \"clients\": {\n"
		 "    \"box\": { \"unix_peer_uids\": [0], \"tools\": [\"up\"] },\n"
		 "    \"remote\": { \"tls_client_cn\": \"agent-7.example\",\n"
		 "                \"tools\": [\"up\"] } },\n"
		 "  \"tools\": { \"up\": { \"type\": \"http\",\n"
		 "    \"upstream\": \"http://127.0.0.1:%d\" } } }\n",
		 mtls_port, workdir, workdir, workdir, id_sock, audit_file,
		 up_port);
	if (tu_write_file(conf_path, text) < 0)
		return -1;
	static char conf_copy[256];
	snprintf(conf_copy, sizeof(conf_copy), "%s", conf_path);
	const struct tu_daemon d = { .conf = conf_copy,
				     .ports = { mtls_port } };
	id_daemon_pid = tu_start_daemon(&d);
	return id_daemon_pid > 0 ? 0 : -1;
}

static int clients_clean(void)
{
	int rc = id_daemon_pid > 0 ? tu_stop_daemon(id_daemon_pid) : 0;

	id_daemon_pid = -1;
	if (up_pid > 0)
		tu_stop(up_pid);
	up_pid = -1;
	return rc;
}

/* The HTTP status curl printed, with args before the URL. */
static int curl_status(const char *args, const char *url)
{
	char out[256];

	if (run(out, sizeof(out), "curl -s --max-time 10 -o /dev/null "
		"-w '%%{http_code}' %s '%s'", args, url) < 0)
		return -1;
	return atoi(out);
}

/* Whether the audit log's last record names client (NULL: null) and
 * remote starts with remote_prefix. */
struct want_record {
	const char *client, *remote_prefix;
};

static int last_record_now(void *arg)
{
	const struct want_record *w = arg;
	char out[8192], want_client[96], want_remote[96];
	const char *client = w->client, *remote_prefix = w->remote_prefix;

	if (run(out, sizeof(out), "tail -n 1 '%s'", audit_file) != 0)
		return 0;
	if (client != NULL)
		snprintf(want_client, sizeof(want_client), "\"client\":\"%s\"",
			 client);
	else
		snprintf(want_client, sizeof(want_client), "\"client\":null");
	snprintf(want_remote, sizeof(want_remote), "\"remote\":\"%s",
		 remote_prefix);
	return strstr(out, want_client) != NULL &&
	       strstr(out, want_remote) != NULL;
}

/* Whether the audit log's last record comes to be the request's: it is
 * written once the answer is over, so it may still be on its way when
 * the client has the answer (each check here expects another record
 * than the one before it). */
static int last_record_is(const char *client, const char *remote_prefix)
{
	struct want_record w = { client, remote_prefix };

	return tu_wait_until(last_record_now, &w, 10000) == 0;
}

/* Mutual TLS: a certificate from the clients' CA with the client's name
 * is "remote"; none, or one from another CA with the same name, is no
 * client; nothing of the refused reaches the upstream. */
static void test_clients_mtls(void)
{
	char url[256], good[512], other[512], ca[256];
	int before = tu_upstream_stat(up_port, "requests");

	snprintf(url, sizeof(url),
		 "https://127.0.0.1:%d/tools/up/api/v1/check", mtls_port);
	snprintf(ca, sizeof(ca), "--cacert %s/ca.pem", workdir);
	snprintf(good, sizeof(good), "%s --cert %s/client.pem --key %s/client.key",
		 ca, workdir, workdir);
	snprintf(other, sizeof(other),
		 "%s --cert %s/stranger.pem --key %s/stranger.key", ca, workdir,
		 workdir);
	CU_ASSERT_EQUAL(curl_status(ca, url), 401);
	CU_ASSERT(last_record_is(NULL, "127.0.0.1:"));
	CU_ASSERT_EQUAL(curl_status(other, url), 401);
	CU_ASSERT_EQUAL(tu_upstream_stat(up_port, "requests"), before);
	CU_ASSERT_EQUAL(curl_status(good, url), 200);
	CU_ASSERT(last_record_is("remote", "127.0.0.1:"));
	CU_ASSERT_EQUAL(tu_upstream_stat(up_port, "requests"), before + 1);
}

/* A unix socket peer is who it runs as: root is "box", nobody is no
 * client. */
static void test_clients_unix_uid(void)
{
	char args[512];
	const char *url = "http://localhost/tools/up/api/v1/check";
	int before = tu_upstream_stat(up_port, "requests");

	snprintf(args, sizeof(args), "--unix-socket %s", id_sock);
	CU_ASSERT_EQUAL(curl_status(args, url), 200);
	CU_ASSERT(last_record_is("box", "unix:uid=0"));
	char out[256];
	CU_ASSERT_EQUAL(run(out, sizeof(out),
			    "setpriv --reuid=nobody --regid=nogroup "
			    "--clear-groups curl -s --max-time 10 -o /dev/null "
			    "-w '%%{http_code}' %s '%s'", args, url), 0);
	CU_ASSERT_STRING_EQUAL(out, "401");
	CU_ASSERT(last_record_is(NULL, "unix:uid=65534"));
	CU_ASSERT_EQUAL(tu_upstream_stat(up_port, "requests"), before + 1);
}

int main(void)
{
	static pid_t *const children[] = { &fg_pid, &up_pid, &stream_pid,
					   &sserver_pid, &up_daemon_pid,
					   &id_daemon_pid };
	char out[1024];

	tu_watchdog("test_tls", 180, children, 6);
	tu_prepare_process();
	if (mkdtemp(workdir) == NULL || chmod(workdir, 0755) < 0 ||
	    run(out, sizeof(out), "sh %s/tests/mkcerts.sh %s",
		getenv("SRCDIR") ? getenv("SRCDIR") : ".", workdir) != 0 ||
	    CU_initialize_registry() != CUE_SUCCESS) {
		fprintf(stderr, "test_tls: set-up failed: %s\n", out);
		return 1;
	}
	CU_pSuite p = CU_add_suite("peer", peer_init, peer_clean);
	CU_add_test(p, "TLS: client certificate facts", test_peer_tls);
	CU_add_test(p, "unix: mode and peer uid (root, nobody)",
		    test_peer_unix);
	CU_add_test(p, "reload: refused file, renewal, unix removed",
		    test_peer_reload);
	CU_pSuite d = CU_add_suite("daemon", daemon_init, daemon_clean);
	CU_add_test(d, "https SSE stream across a renewal; client leaving",
		    test_https_stream_and_renewal);
	CU_add_test(d, "JSON-RPC over TLS; TLS 1.1 refused",
		    test_https_rpc_and_versions);
	CU_add_test(d, "unix listener serves, reload removes its file",
		    test_unix_listener);
	CU_pSuite cl = CU_add_suite("clients", clients_init, clients_clean);
	CU_add_test(cl, "mutual TLS: the client's certificate, none, another CA",
		    test_clients_mtls);
	CU_add_test(cl, "unix peer by uid: root is box, nobody is no one",
		    test_clients_unix_uid);
	CU_pSuite u = CU_add_suite("upstream", upstream_init, upstream_clean);
	CU_add_test(u, "https upstream: upstream_ca, unknown CA, insecure",
		    test_upstream_tls);
	CU_add_test(u, "-t reads the TLS files", test_check_tls_files);
	int rc = cu_run();
	tu_remove_tree(workdir);
	return rc;
}
