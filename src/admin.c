/* admin — see admin.h. */
#include "config.h"

#include "admin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "admin_approvals.h"
#include "dbuf.h"
#include "endpoint.h"
#include "httpd.h"
#include "log.h"
#include "revoked.h"
#include "secret.h"
#include "sse.h"
#include "text.h"

#define CONN_THREAD_STACK (256 * 1024)
#define TAIL_CAPACITY (256 * 1024)
#define ADMIN_CONN_LIMIT 64u
#define IDLE_TIMEOUT_SECS 60u
/* What a 401 asks for (RFC 6750). */
#define ADMIN_CHALLENGE "Bearer realm=\"carapaced-admin\""

struct admin {
	struct admin_context ctx;
	struct MHD_Daemon *daemon;
	char *unix_path;                /* to unlink at stop */
	struct addr addr;               /* where it listens, unless unix */
};

/* The live tail's reader; owned by the MHD response. */
struct tail_reader {
	struct admin *admin;
	struct stream *stream;          /* consumer reference */
	struct audit_tail *tail;
	int client_fd;
};

/* ---- answers ---- */

/* An admin error names no tool. */
static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status,
				  const char *message)
{
	return httpd_send_error(c, status, message, NULL, 0);
}

static double seconds_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return (double)(now.tv_sec - t->tv_sec) +
	       (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

/* ---- GET /metrics ---- */

static enum MHD_Result get_metrics(struct admin *a, struct MHD_Connection *c)
{
	struct timespec loaded;
	const struct cfg *cfg = a->ctx.acquire(a->ctx.arg, &loaded);
	a->ctx.release(a->ctx.arg, cfg);
	struct metrics_info info = {
		.version = PACKAGE_VERSION,
		.uptime_secs = seconds_since(&a->ctx.started),
		.audit_write_errors = audit_write_errors(a->ctx.audit),
		.audit_dropped = audit_dropped(a->ctx.audit),
		.config_load_time = (double)loaded.tv_sec +
				    (double)loaded.tv_nsec / 1e9,
	};
	size_t len;
	char *text = metrics_render(a->ctx.metrics, &info, &len);
	if (text == NULL)
		return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
				  "out of memory");
	enum MHD_Result rc = httpd_send_body(c, MHD_HTTP_OK,
					     "text/plain; version=0.0.4; "
					     "charset=utf-8",
					     text, len, NULL, NULL);
	free(text);
	return rc;
}

/* ---- GET /v1/status ---- */

static void add_u64(struct json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_int64((int64_t)v));
}

/* A listener as the file wrote its address. */
static struct json_object *listen_json(const struct cfg_listen *l)
{
	return json_object_new_string(l->text);
}

static struct json_object *tool_json(struct admin *a,
				     const struct cfg_tool *t)
{
	struct json_object *o = json_object_new_object();
	uint64_t requests, denied;
	int64_t streams;

	metrics_totals(a->ctx.metrics, t->name, &requests, &denied, &streams);
	json_object_object_add(o, "name", json_object_new_string(t->name));
	json_object_object_add(o, "type", json_object_new_string(
				       t->type == CFG_TOOL_CLI ? "cli" :
								 "http"));
	json_object_object_add(o, "mode", json_object_new_string(
				       t->audit_mode ? "audit" : "enforce"));
	if (t->http.upstream != NULL)
		json_object_object_add(o, "upstream", json_object_new_string(
					       t->http.upstream));
	if (t->cli.binary != NULL)
		json_object_object_add(o, "binary",
				       json_object_new_string(t->cli.binary));
	json_object_object_add(o, "listen",
			       t->http.has_listen ?
				       listen_json(&t->http.listen) :
				       NULL);
	add_u64(o, "requests_total", requests);
	add_u64(o, "denied_total", denied);
	json_object_object_add(o, "active_streams",
			       json_object_new_int64(streams));
	return o;
}

/* "revoked_clients_file" and "revoked_clients": how many clients the
 * set in force holds (what the daemon refuses, which a file edited but
 * not yet read may not say). */
static void add_revoked(struct admin *a, struct json_object *o,
			const struct cfg *cfg)
{
	int64_t n = a->ctx.revoked ? (int64_t)revoked_count(a->ctx.revoked) : -1;

	json_object_object_add(o, "revoked_clients_file",
			       cfg->revoked_clients_file ?
				       json_object_new_string(
					       cfg->revoked_clients_file) :
				       NULL);
	json_object_object_add(o, "revoked_clients",
			       n >= 0 ? json_object_new_int64(n) : NULL);
}

static void add_config(struct admin *a, struct json_object *o,
		       const struct cfg *cfg, const struct timespec *loaded)
{
	struct json_object *listen = json_object_new_array();
	struct json_object *tools = json_object_new_array();
	char ts[40];

	text_rfc3339(loaded, ts, sizeof(ts));
	json_object_object_add(o, "config_file",
			       json_object_new_string(a->ctx.config_file));
	json_object_object_add(o, "config_loaded", json_object_new_string(ts));
	for (size_t i = 0; i < cfg->n_listen; i++)
		json_object_array_add(listen, listen_json(&cfg->listen[i]));
	json_object_object_add(o, "listen", listen);
	json_object_object_add(o, "admin_listen",
			       json_object_new_string(cfg->admin.text));
	char path_buf[4096];
	const char *audit_log = audit_path(a->ctx.audit, path_buf,
					   sizeof(path_buf));
	json_object_object_add(o, "audit_log",
			       audit_log ? json_object_new_string(audit_log) :
					   NULL);
	for (size_t i = 0; i < cfg->n_tools; i++)
		json_object_array_add(tools, tool_json(a, &cfg->tools[i]));
	json_object_object_add(o, "tools", tools);
	add_revoked(a, o, cfg);
}

static enum MHD_Result get_status(struct admin *a, struct MHD_Connection *c)
{
	struct json_object *o = json_object_new_object();
	struct timespec loaded;
	uint64_t requests, denied;
	int64_t streams;
	char ts[40];

	text_rfc3339(&a->ctx.started, ts, sizeof(ts));
	json_object_object_add(o, "version",
			       json_object_new_string(PACKAGE_VERSION));
	json_object_object_add(o, "pid", json_object_new_int(getpid()));
	json_object_object_add(o, "started", json_object_new_string(ts));
	json_object_object_add(o, "uptime_secs",
			       json_object_new_double(
				       (double)(long long)(seconds_since(
					       &a->ctx.started) * 1000) /
				       1000));
	const struct cfg *cfg = a->ctx.acquire(a->ctx.arg, &loaded);
	add_config(a, o, cfg, &loaded);
	a->ctx.release(a->ctx.arg, cfg);
	add_u64(o, "audit_write_errors", audit_write_errors(a->ctx.audit));
	metrics_totals(a->ctx.metrics, NULL, &requests, &denied, &streams);
	add_u64(o, "requests_total", requests);
	add_u64(o, "denied_total", denied);
	json_object_object_add(o, "active_streams",
			       json_object_new_int64(streams));
	return httpd_send_json(c, MHD_HTTP_OK, o);
}

/* ---- GET /v1/audit ---- */

static ssize_t read_tail(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct tail_reader *tr = cls;
	(void)pos;

	return httpd_stream_read(tr->stream, tr->client_fd, buf, max);
}

/* An audit record as the event "audit", a gap as "dropped" with the
 * count: SSE, one event per record (a record is one line of JSON). */
static int tail_event(struct stream *s, const char *record, size_t len,
		      uint64_t missed)
{
	struct dbuf ev = DBUF_INIT(len + 64);
	char note[48];

	if (record != NULL) {
		sse_write(&ev, "audit", record, len);
	} else {
		int n = snprintf(note, sizeof(note), "{\"dropped\":%llu}",
				 (unsigned long long)missed);
		sse_write(&ev, "dropped", note, (size_t)n);
	}
	int rc = -2; /* no memory: missed, as a full stream would */
	if (dbuf_error(&ev) == 0)
		rc = stream_offer(s, dbuf_str(&ev), dbuf_len(&ev));
	dbuf_free(&ev);
	return rc;
}

static void free_tail(void *cls)
{
	struct tail_reader *tr = cls;

	stream_cancel(tr->stream);
	if (tr->tail != NULL)
		audit_tail_end(tr->admin->ctx.audit, tr->tail);
	stream_release(tr->stream);
	free(tr);
}

/* A typo in ?tool= would tail nothing, silently. */
static int tool_known(struct admin *a, const char *tool)
{
	struct timespec loaded;
	const struct cfg *cfg = a->ctx.acquire(a->ctx.arg, &loaded);
	int known = cfg_find_tool(cfg, tool, strlen(tool)) != NULL;

	a->ctx.release(a->ctx.arg, cfg);
	return known;
}

static enum MHD_Result get_audit(struct admin *a, struct MHD_Connection *c)
{
	const char *tool = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND,
						       "tool");
	const char *decision = MHD_lookup_connection_value(
		c, MHD_GET_ARGUMENT_KIND, "decision");

	if (decision != NULL && strcmp(decision, "allow") != 0 &&
	    strcmp(decision, "deny") != 0 &&
	    strcmp(decision, "would_deny") != 0 &&
	    strcmp(decision, "would_hold") != 0)
		return send_error(c, MHD_HTTP_BAD_REQUEST,
				  "decision must be allow, deny, would_deny "
				  "or would_hold");
	if (tool != NULL && !tool_known(a, tool))
		return send_error(c, MHD_HTTP_NOT_FOUND, "unknown tool");
	struct tail_reader *tr = calloc(1, sizeof(*tr));
	struct stream *s = tr ? stream_new(TAIL_CAPACITY) : NULL;
	if (s == NULL) {
		free(tr);
		return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
				  "out of memory");
	}
	tr->admin = a;
	tr->stream = s;
	tr->client_fd = httpd_client_fd(c);
	/* a first comment, so the client sees the head at once */
	static const char hello[] = ": carapaced audit tail\n\n";
	stream_offer(s, hello, sizeof(hello) - 1);
	tr->tail = audit_tail_new(a->ctx.audit, tool, decision, s,
				  tail_event);
	struct MHD_Response *resp = tr->tail ? MHD_create_response_from_callback(
		MHD_SIZE_UNKNOWN, 1024, read_tail, tr, free_tail) : NULL;
	if (resp == NULL) {
		free_tail(tr);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "text/event-stream");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
	enum MHD_Result rc = MHD_queue_response(c, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return rc;
}

/* ---- POST /v1/reload ---- */

static enum MHD_Result post_reload(struct admin *a, struct MHD_Connection *c)
{
	struct error e;

	if (a->ctx.reload(a->ctx.arg, &e) < 0)
		return send_error(c, MHD_HTTP_CONFLICT, e.msg);
	struct json_object *o = json_object_new_object();
	struct timespec loaded;
	char ts[40];
	const struct cfg *cfg = a->ctx.acquire(a->ctx.arg, &loaded);
	a->ctx.release(a->ctx.arg, cfg);
	text_rfc3339(&loaded, ts, sizeof(ts));
	json_object_object_add(o, "reloaded", json_object_new_boolean(1));
	json_object_object_add(o, "config_file",
			       json_object_new_string(a->ctx.config_file));
	json_object_object_add(o, "config_loaded", json_object_new_string(ts));
	return httpd_send_json(c, MHD_HTTP_OK, o);
}

/* ---- POST /v1/revocations ---- */

/* revoked_clients_file read again (carapacectl revoke and unrevoke have
 * just written it) and the revoked clients' streams ended. A file that
 * cannot be read leaves the set in force as it was: the daemon's
 * fault as far as the caller can tell, so 500. */
static enum MHD_Result post_revocations(struct admin *a,
					struct MHD_Connection *c)
{
	struct error e;
	unsigned ended = 0;
	char msg[sizeof(e.msg) + 32];

	error_clear(&e);
	if (a->ctx.revocations == NULL)
		return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
				  "revocations are not available");
	if (a->ctx.revocations(a->ctx.arg, &ended, &e) < 0) {
		snprintf(msg, sizeof(msg), "revocations not read: %s", e.msg);
		return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, msg);
	}
	struct json_object *o = json_object_new_object();
	struct timespec loaded;
	const struct cfg *cfg = a->ctx.acquire(a->ctx.arg, &loaded);
	int64_t n = a->ctx.revoked ? (int64_t)revoked_count(a->ctx.revoked) : -1;
	json_object_object_add(o, "revoked",
			       n >= 0 ? json_object_new_int64(n) : NULL);
	add_u64(o, "streams_ended", ended);
	json_object_object_add(o, "revoked_clients_file",
			       cfg->revoked_clients_file ?
				       json_object_new_string(
					       cfg->revoked_clients_file) :
				       NULL);
	a->ctx.release(a->ctx.arg, cfg);
	return httpd_send_json(c, MHD_HTTP_OK, o);
}

/* ---- who may ask ---- */

/* A Host value "HOST" or "HOST:PORT" (HOST may be "[IPv6]"), split;
 * *port 0 when none is given. -1: not that shape. */
static int split_host(const char *v, char *host, size_t host_len,
		      unsigned *port)
{
	const char *end = v[0] == '[' ? strchr(v, ']') : v + strcspn(v, ":");

	if (end == NULL)
		return -1;
	end += v[0] == '[';
	size_t n = (size_t)(end - v);
	if (n == 0 || n >= host_len)
		return -1;
	memcpy(host, v, n);
	host[n] = '\0';
	*port = 0;
	if (*end == '\0')
		return 0;
	size_t digits = strspn(end + 1, "0123456789");
	if (*end != ':' || digits == 0 || digits > 5 || end[1 + digits] != '\0')
		return -1;
	unsigned long val = strtoul(end + 1, NULL, 10);
	if (val == 0 || val > 65535)
		return -1;
	*port = (unsigned)val;
	return 0;
}

/* localhost, the loopback addresses, or the address it listens on;
 * addresses compared as addresses, names only as written (no trailing
 * dot, no other name for the host). */
static int host_is_ours(const struct admin *a, const char *host)
{
	unsigned char got[16], own[16];
	char v6[64];
	size_t n = strlen(host);

	if (strcasecmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, got) == 1)
		return memcmp(got, "\x7f\0\0\x01", 4) == 0 ||
		       (a->unix_path == NULL && !a->addr.is_ipv6 &&
			inet_pton(AF_INET, a->addr.host, own) == 1 &&
			memcmp(got, own, 4) == 0);
	if (host[0] != '[' || host[n - 1] != ']' || n - 2 >= sizeof(v6))
		return 0;
	memcpy(v6, host + 1, n - 2);
	v6[n - 2] = '\0';
	if (inet_pton(AF_INET6, v6, got) != 1)
		return 0;
	return IN6_IS_ADDR_LOOPBACK((struct in6_addr *)got) ||
	       (a->unix_path == NULL && a->addr.is_ipv6 &&
		inet_pton(AF_INET6, a->addr.host, own) == 1 &&
		memcmp(got, own, 16) == 0);
}

/* How many times a header comes in a request. */
struct header_count {
	const char *name;
	int n;
};

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind,
				    const char *key, const char *value)
{
	struct header_count *hc = cls;
	(void)kind;
	(void)value;
	hc->n += strcasecmp(key, hc->name) == 0;
	return MHD_YES;
}

static int header_times(struct MHD_Connection *c, const char *name)
{
	struct header_count hc = { name, 0 };

	MHD_get_connection_values(c, MHD_HEADER_KIND, count_header, &hc);
	return hc.n;
}

/* DNS rebinding: a page in a local browser whose name now resolves to
 * 127.0.0.1 reaches this listener with that name in Host. Only the
 * listener's own names pass, with its port (none given means 80). On a
 * unix socket, which no browser reaches, any port or none. */
static int host_allowed(const struct admin *a, struct MHD_Connection *c)
{
	const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_HOST);
	char host[80];
	unsigned port;

	if (v == NULL || header_times(c, MHD_HTTP_HEADER_HOST) != 1 ||
	    split_host(v, host, sizeof(host), &port) < 0 ||
	    !host_is_ours(a, host))
		return 0;
	if (a->unix_path != NULL)
		return 1;
	return port == a->addr.port || (port == 0 && a->addr.port == 80);
}

/* A browser sends Origin with every POST, and a page of any origin may
 * send one here; no client of the admin API is a browser. */
static int from_a_browser(struct MHD_Connection *c, const char *method)
{
	return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
	       MHD_lookup_connection_value(c, MHD_HEADER_KIND,
					   MHD_HTTP_HEADER_ORIGIN) != NULL;
}

/* The token of "Authorization: Bearer TOKEN" (one such header, the
 * scheme in any case), or NULL. */
static const char *bearer_token(struct MHD_Connection *c)
{
	const char *v = MHD_lookup_connection_value(
		c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);

	if (v == NULL || header_times(c, MHD_HTTP_HEADER_AUTHORIZATION) != 1 ||
	    strncasecmp(v, "Bearer ", 7) != 0)
		return NULL;
	v += 7;
	while (*v == ' ')
		v++;
	return *v != '\0' ? v : NULL;
}

/* Whether token hashes to the admin_token_sha256 in force. Fails
 * closed: no hash configured matches nothing. The comparison of the
 * hashes takes the same time wherever they differ. */
static int token_matches(const struct cfg_admin *adm, const char *token)
{
	unsigned char got[SECRET_HASH_LEN];

	return adm->has_token &&
	       secret_sha256(token, strlen(token), got) == 0 &&
	       secret_equal(got, adm->token_sha256, SECRET_HASH_LEN);
}

/* On the unix socket with admin_peer_uids: whether the peer's uid is
 * listed (SO_PEERCRED, what the kernel says of the process that
 * connected). Without the list, the socket's mode decides. */
static int peer_listed(const struct cfg_admin *adm, struct MHD_Connection *c,
		       char *why, size_t len)
{
	struct ucred cr;
	socklen_t n = sizeof(cr);
	int fd = httpd_client_fd(c);

	if (adm->n_peer_uids == 0)
		return 1;
	if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &n) < 0) {
		snprintf(why, len, "the peer's uid cannot be told");
		return 0;
	}
	for (size_t i = 0; i < adm->n_peer_uids; i++)
		if (adm->peer_uids[i] == (unsigned)cr.uid)
			return 1;
	snprintf(why, len, "uid %u is not in admin_peer_uids",
		 (unsigned)cr.uid);
	return 0;
}

/* 401 with the challenge a client needs to know what to send. */
static enum MHD_Result send_unauthorized(struct MHD_Connection *c,
					 const char *message)
{
	size_t len;
	char *text = httpd_error_text(MHD_HTTP_UNAUTHORIZED, message, NULL,
				      &len);

	if (text == NULL)
		return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
				  "out of memory");
	enum MHD_Result rc = httpd_send_body(c, MHD_HTTP_UNAUTHORIZED,
					     "application/json", text, len,
					     "WWW-Authenticate",
					     ADMIN_CHALLENGE);
	free(text);
	return rc;
}

/* Every request, whatever its path: on TCP the token (admin_token_
 * sha256, required there), on the unix socket the peer's uid when
 * admin_peer_uids is set and the token when admin_token_sha256 is.
 * Judged by the config in force, so that a reload rotates the token.
 * 0: go on; -1: refused, the answer queued in *rc. */
static int refuse_stranger(struct admin *a, struct MHD_Connection *c,
			   enum MHD_Result *rc)
{
	struct timespec loaded;
	const struct cfg *cfg = a->ctx.acquire(a->ctx.arg, &loaded);
	const struct cfg_admin *adm = &cfg->admin;
	const char *token = bearer_token(c);
	char why[96];
	int verdict = 0;

	if (a->unix_path != NULL && !peer_listed(adm, c, why, sizeof(why)))
		verdict = MHD_HTTP_FORBIDDEN;
	else if ((a->unix_path == NULL || adm->has_token) &&
		 (token == NULL || !token_matches(adm, token)))
		verdict = MHD_HTTP_UNAUTHORIZED;
	a->ctx.release(a->ctx.arg, cfg);
	if (verdict == 0)
		return 0;
	if (verdict == MHD_HTTP_FORBIDDEN) {
		log_warnx("admin API: refused on %s: %s", a->unix_path, why);
		*rc = send_error(c, MHD_HTTP_FORBIDDEN, why);
		return -1;
	}
	if (token != NULL)
		log_warnx("admin API: a wrong token from %s",
			  httpd_client_text(c));
	*rc = send_unauthorized(c, token == NULL ?
		"the admin API needs Authorization: Bearer with the token "
		"of admin_token_sha256" : "the admin token is wrong");
	return -1;
}

/* ---- dispatch ---- */

struct admin_route {
	const char *method;
	const char *path;
	enum MHD_Result (*handler)(struct admin *a, struct MHD_Connection *c);
};

static enum MHD_Result get_streams(struct admin *a, struct MHD_Connection *c)
{
	return httpd_send_json(c, MHD_HTTP_OK, ledger_streams(a->ctx.ledger));
}

static enum MHD_Result get_approvals(struct admin *a,
				     struct MHD_Connection *c)
{
	return admin_approvals_get(a->ctx.approvals, c);
}

/* A POST /v1/approvals/ID's body, kept until the request is complete. */
struct post_body {
	struct dbuf body;
	int too_large;
};

/* Who decides, for the audit trail: the token's holder, or the unix
 * peer by its uid. */
static void decider(const struct admin *a, struct MHD_Connection *c,
		    char *by, size_t len)
{
	struct ucred cr;
	socklen_t n = sizeof(cr);
	int fd = httpd_client_fd(c);

	snprintf(by, len, "admin");
	if (a->unix_path != NULL && fd >= 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &n) == 0)
		snprintf(by, len, "unix:uid=%u", (unsigned)cr.uid);
}

static enum MHD_Result post_approval(struct admin *a,
				     struct MHD_Connection *c,
				     const char *url, struct post_body *pb)
{
	char by[48];

	decider(a, c, by, sizeof(by));
	return admin_approvals_post(a->ctx.approvals, c,
				    url + strlen(ADMIN_APPROVALS_PREFIX),
				    pb ? dbuf_str(&pb->body) : "",
				    pb ? dbuf_len(&pb->body) : 0,
				    pb ? pb->too_large : 0, by);
}

static const struct admin_route routes[] = {
	{ "GET", "/metrics", get_metrics },
	{ "GET", "/v1/status", get_status },
	{ "GET", "/v1/streams", get_streams },
	{ "GET", "/v1/audit", get_audit },
	{ "GET", "/v1/approvals", get_approvals },
	{ "POST", "/v1/reload", post_reload },
	{ "POST", "/v1/revocations", post_revocations },
};

static enum MHD_Result dispatch(struct admin *a, struct MHD_Connection *c,
				const char *method, const char *url,
				struct post_body *pb)
{
	int path_known = 0;
	enum MHD_Result rc;

	if (!host_allowed(a, c))
		return send_error(c, MHD_HTTP_FORBIDDEN,
				  "Host is not the admin listener's address");
	if (from_a_browser(c, method))
		return send_error(c, MHD_HTTP_FORBIDDEN,
				  "a request with Origin is refused (only GET "
				  "and HEAD may carry one)");
	if (refuse_stranger(a, c, &rc) < 0)
		return rc;
	if (strncmp(url, ADMIN_APPROVALS_PREFIX,
		    strlen(ADMIN_APPROVALS_PREFIX)) == 0)
		return strcmp(method, "POST") == 0 ?
			       post_approval(a, c, url, pb) :
			       send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED,
					  "method not allowed");
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(url, routes[i].path) != 0)
			continue;
		path_known = 1;
		if (strcmp(method, routes[i].method) != 0)
			continue;
		return routes[i].handler(a, c);
	}
	if (path_known)
		return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED,
				  "method not allowed");
	return send_error(c, MHD_HTTP_NOT_FOUND, "not found");
}

static int started;

/* The admin API takes no request bodies but a decision's (bounded, kept
 * only from a POST to ADMIN_APPROVALS_PREFIX): anything else sent is
 * ignored, and the answer comes once the request is read. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct post_body *pb = *con_cls != &started ? *con_cls : NULL;
	(void)version;

	if (*con_cls == NULL) {
		*con_cls = &started;
		if (strcmp(method, "POST") == 0 &&
		    strncmp(url, ADMIN_APPROVALS_PREFIX,
			    strlen(ADMIN_APPROVALS_PREFIX)) == 0 &&
		    (pb = calloc(1, sizeof(*pb))) != NULL) {
			dbuf_init(&pb->body, ADMIN_APPROVALS_MAX_BODY);
			*con_cls = pb;
		}
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (pb != NULL && dbuf_add(&pb->body, upload, *upload_size) < 0)
			pb->too_large = 1;
		*upload_size = 0;
		return MHD_YES;
	}
	return dispatch(cls, c, method, url, pb);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct post_body *pb = *con_cls;
	(void)cls;
	(void)toe;

	if (pb != NULL && *con_cls != &started) {
		dbuf_free(&pb->body);
		free(pb);
	}
	*con_cls = NULL;
	MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT,
				  IDLE_TIMEOUT_SECS);
}

/* ---- the listener ---- */

/* Where it listens: a bound unix socket (listen_fd), or an address. */
static struct MHD_Daemon *start_daemon(struct admin *a,
				       const struct cfg_admin *where,
				       int listen_fd)
{
	unsigned flags = MHD_USE_THREAD_PER_CONNECTION |
			 MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
			 MHD_USE_ERROR_LOG;
	struct sockaddr_storage ss;
	struct MHD_OptionItem where_opt[] = {
		{ MHD_OPTION_LISTEN_SOCKET, listen_fd, NULL },
		{ MHD_OPTION_END, 0, NULL },
	};

	if (listen_fd < 0) {
		if (addr_sockaddr(&where->addr, &ss) < 0)
			return NULL;
		where_opt[0] = (struct MHD_OptionItem){ MHD_OPTION_SOCK_ADDR, 0,
							&ss };
		if (where->addr.is_ipv6)
			flags |= MHD_USE_IPv6;
	}
	return MHD_start_daemon(
		flags, listen_fd < 0 ? where->addr.port : 0, NULL, NULL,
		on_request, a, MHD_OPTION_ARRAY, where_opt,
		MHD_OPTION_EXTERNAL_LOGGER, httpd_log_admin, NULL,
		MHD_OPTION_CONNECTION_LIMIT, ADMIN_CONN_LIMIT,
		MHD_OPTION_CONNECTION_TIMEOUT, IDLE_TIMEOUT_SECS,
		MHD_OPTION_THREAD_STACK_SIZE, (size_t)CONN_THREAD_STACK,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, a,
		MHD_OPTION_END);
}

struct admin *admin_start(const struct cfg_admin *where,
			  const struct admin_context *ctx, struct error *err)
{
	struct admin *a = calloc(1, sizeof(*a));
	int fd = -1;

	error_clear(err);
	if (a == NULL) {
		error_set(err, 0, NULL, "out of memory");
		return NULL;
	}
	a->ctx = *ctx;
	a->addr = where->addr;
	if (where->is_unix) {
		/* mode 0600 from the moment it exists; a stale file of a
		 * dead daemon replaced, a live one's left alone */
		fd = endpoint_unix_listen(where->unix_path, 0600, NULL, err);
		a->unix_path = fd >= 0 ? strdup(where->unix_path) : NULL;
		if (a->unix_path == NULL)
			goto fail;
	}
	a->daemon = start_daemon(a, where, fd);
	if (a->daemon == NULL)
		goto fail;
	return a;
fail:
	if (err->msg[0] == '\0')
		error_set(err, 0, NULL, "cannot listen on %s (admin_listen)",
			 where->text);
	if (fd >= 0)
		close(fd);
	if (a->unix_path != NULL)
		unlink(a->unix_path);
	free(a->unix_path);
	free(a);
	return NULL;
}

void admin_stop(struct admin *a)
{
	if (a == NULL)
		return;
	MHD_stop_daemon(a->daemon);
	if (a->unix_path != NULL)
		unlink(a->unix_path);
	free(a->unix_path);
	free(a);
}
