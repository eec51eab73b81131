/* httpd — see httpd.h. */
#include "config.h"

#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdint.h>
#include <strings.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"
#include "header.h"
#include "log.h"
#include "text.h"

/* ---- answers ---- */

enum MHD_Result httpd_send_body(struct MHD_Connection *c, unsigned status,
				const char *type, const char *text, size_t len,
				const char *extra_name,
				const char *extra_value)
{
	/* MUST_COPY: MHD copies text and never writes it; its API has no
	 * const for this mode in 0.9.75 */
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		len, (void *)(uintptr_t)text, MHD_RESPMEM_MUST_COPY);

	if (resp == NULL)
		return MHD_NO;
	MHD_add_response_header(resp, "Content-Type", type);
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	if (extra_name != NULL)
		MHD_add_response_header(resp, extra_name, extra_value);
	enum MHD_Result rc = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return rc;
}

/* obj as compact JSON, valid UTF-8 (caller frees); NULL on out of
 * memory. */
static char *json_text(struct json_object *obj, size_t *len)
{
	const char *raw = json_object_to_json_string_length(
		obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
		len);

	return raw ? text_json_clean(raw, *len, len) : NULL;
}

enum MHD_Result httpd_send_json(struct MHD_Connection *c, unsigned status,
				struct json_object *obj)
{
	size_t len = 0;
	char *text = json_text(obj, &len);
	enum MHD_Result rc = text ? httpd_send_body(c, status,
						    "application/json", text,
						    len, NULL, NULL) :
				    MHD_NO;

	free(text);
	json_object_put(obj);
	return rc;
}

char *httpd_error_text(unsigned status, const char *message,
		       const char *tool, size_t *len)
{
	struct json_object *err = json_object_new_object();
	struct json_object *top = json_object_new_object();

	json_object_object_add(err, "code", json_object_new_int((int)status));
	json_object_object_add(err, "message", json_object_new_string(message));
	/* the tool as requested is the client's bytes, valid UTF-8 or not */
	json_object_object_add(err, "tool",
			       tool && *tool ? json_object_new_string(tool) :
					       NULL);
	json_object_object_add(top, "error", err);
	*len = 0;
	char *text = json_text(top, len);
	json_object_put(top);
	return text;
}

enum MHD_Result httpd_send_error(struct MHD_Connection *c, unsigned status,
				 const char *message, const char *tool,
				 unsigned retry_after)
{
	char secs[16];
	size_t len;
	char *text = httpd_error_text(status, message, tool, &len);

	if (text == NULL)
		return MHD_NO;
	snprintf(secs, sizeof(secs), "%u", retry_after);
	enum MHD_Result rc = httpd_send_body(
		c, status, "application/json", text, len,
		retry_after ? "Retry-After" : NULL, secs);
	free(text);
	return rc;
}

/* 401: the one error shape, and the schemes a client may use (RFC 9110
 * 11.6.1: a header per challenge, so clients that read only the first
 * still find one they know). */
enum MHD_Result httpd_send_unauthorized(struct MHD_Connection *c,
					const char *reason, const char *tool)
{
	size_t len;
	char *text = httpd_error_text(MHD_HTTP_UNAUTHORIZED, reason, tool,
				      &len);
	struct MHD_Response *resp =
		text ? MHD_create_response_from_buffer(len, text,
						       MHD_RESPMEM_MUST_FREE) :
		       NULL;

	if (resp == NULL) {
		free(text);
		return MHD_NO;
	}
	if (MHD_add_response_header(resp, "Content-Type",
				    "application/json") != MHD_YES ||
	    MHD_add_response_header(resp, "Cache-Control", "no-store") !=
		    MHD_YES ||
	    MHD_add_response_header(resp, "WWW-Authenticate",
				    "Bearer realm=\"carapaced\"") != MHD_YES ||
	    MHD_add_response_header(resp, "WWW-Authenticate",
				    "Basic realm=\"carapaced\"") != MHD_YES) {
		MHD_destroy_response(resp);
		return MHD_NO;
	}
	enum MHD_Result rc = MHD_queue_response(c, MHD_HTTP_UNAUTHORIZED,
						resp);
	MHD_destroy_response(resp);
	return rc;
}

/* ---- the client ---- */

int httpd_client_fd(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *info = MHD_get_connection_info(
		c, MHD_CONNECTION_INFO_CONNECTION_FD);
	return info != NULL ? info->connect_fd : -1;
}

const struct sockaddr *httpd_client_sockaddr(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *info = MHD_get_connection_info(
		c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	return info != NULL ? info->client_addr : NULL;
}

int httpd_client_address(struct MHD_Connection *c, char *host, size_t len,
			 unsigned *port, int *is_ipv6)
{
	const struct sockaddr *sa = httpd_client_sockaddr(c);

	if (sa == NULL)
		return -1;
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		*port = ntohs(s6->sin6_port);
		*is_ipv6 = 1;
		return inet_ntop(AF_INET6, &s6->sin6_addr, host,
				 (socklen_t)len) ? 0 : -1;
	}
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;
		*port = ntohs(s4->sin_port);
		*is_ipv6 = 0;
		return inet_ntop(AF_INET, &s4->sin_addr, host,
				 (socklen_t)len) ? 0 : -1;
	}
	return -1;
}

const char *httpd_client_text(struct MHD_Connection *c)
{
	static __thread char text[INET6_ADDRSTRLEN + 10];
	char host[INET6_ADDRSTRLEN];
	unsigned port;
	int is_ipv6;

	const struct sockaddr *sa = httpd_client_sockaddr(c);
	unsigned uid, gid;

	/* a unix socket's peer has no address: who it runs as */
	if (sa != NULL && sa->sa_family == AF_UNIX) {
		if (endpoint_unix_cred(httpd_client_fd(c), &uid, &gid) < 0)
			return "unix:";
		snprintf(text, sizeof(text), "unix:uid=%u", uid);
		return text;
	}
	if (httpd_client_address(c, host, sizeof(host), &port, &is_ipv6) < 0)
		return "";
	snprintf(text, sizeof(text), is_ipv6 ? "[%s]:%u" : "%s:%u", host,
		 port);
	return text;
}

/* ---- the request head ---- */

int httpd_has_body(struct MHD_Connection *c)
{
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						     "Content-Length");
	return MHD_lookup_connection_value(c, MHD_HEADER_KIND,
					   "Transfer-Encoding") != NULL ||
	       (cl != NULL && strcmp(cl, "0") != 0);
}

struct framing {
	unsigned n_te, n_cl;
	int te_not_chunked;
};

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind,
				     const char *name, const char *value)
{
	struct framing *f = cls;
	(void)kind;

	if (strcasecmp(name, "Transfer-Encoding") == 0) {
		f->n_te++;
		f->te_not_chunked |= value == NULL ||
				     strcasecmp(value, "chunked") != 0;
	} else if (strcasecmp(name, "Content-Length") == 0) {
		f->n_cl++;
	}
	return MHD_YES;
}

/* The Content-Length value as a number: 0, or -1 when it is not one. */
static int content_length(struct MHD_Connection *c, unsigned long long *n)
{
	const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						     "Content-Length");
	char *end;

	if (cl == NULL)
		return -1;
	errno = 0;
	*n = strtoull(cl, &end, 10);
	return errno == 0 && *end == '\0' ? 0 : -1;
}

const char *httpd_framing_problem(struct MHD_Connection *c, size_t max,
				  unsigned *status)
{
	struct framing f = { 0, 0, 0 };
	unsigned long long n;

	MHD_get_connection_values(c, MHD_HEADER_KIND, count_framing, &f);
	*status = MHD_HTTP_BAD_REQUEST;
	if (f.n_te > 0 && f.n_cl > 0)
		return "both Transfer-Encoding and Content-Length";
	if (f.n_te > 1 || f.n_cl > 1)
		return "more than one Transfer-Encoding or Content-Length";
	if (f.te_not_chunked)
		return "a Transfer-Encoding other than chunked";
	if (content_length(c, &n) == 0 && n > max) {
		*status = MHD_HTTP_CONTENT_TOO_LARGE;
		return "request body too large";
	}
	return NULL;
}

size_t httpd_declared_length(struct MHD_Connection *c)
{
	unsigned long long n;

	if (content_length(c, &n) < 0)
		return 0;
	return n <= SIZE_MAX ? (size_t)n : 0;
}

struct field_check {
	const char *problem;            /* the first one found, or NULL */
};

static enum MHD_Result check_field(void *cls, enum MHD_ValueKind kind,
				   const char *name, size_t name_len,
				   const char *value, size_t value_len)
{
	struct field_check *fc = cls;
	(void)kind;

	fc->problem = header_field_problem(name, name_len,
					   value ? value : "",
					   value ? value_len : 0);
	return fc->problem == NULL ? MHD_YES : MHD_NO;
}

/* Every header exactly as MHD kept it, counted bytes (a NUL inside is
 * seen, not a shorter string): MHD 0.9.75 passes a bare CR in a value,
 * a blank before the colon and other non-token names. Trailers of a
 * chunked body are never forwarded, so only the head is checked. */
const char *httpd_header_problem(struct MHD_Connection *c)
{
	struct field_check fc = { NULL };

	MHD_get_connection_values_n(c, MHD_HEADER_KIND, check_field, &fc);
	return fc.problem;
}

/* ---- streamed bodies ---- */

ssize_t httpd_stream_read(struct stream *s, int client_fd, char *buf,
			  size_t max)
{
	ssize_t n = stream_read(s, client_fd, buf, max);

	if (n > 0)
		return n;
	return n == 0 ? MHD_CONTENT_READER_END_OF_STREAM :
			MHD_CONTENT_READER_END_WITH_ERROR;
}

/* ---- MHD's log ---- */

/* MHD reports every request the application ends with an error; for a
 * gateway that is mostly a client leaving (mid-stream, or while the
 * upstream is still thinking), which is routine: debug, not a warning. */
static int is_routine_mhd_message(const char *line)
{
	static const char *const routine[] = {
		"Closing connection (application error",
		"Closing connection (application reported error",
		"Application reported internal error, closing connection",
		"Failed to send the response body for the request",
		/* a client that left mid-head, or one the guard cut */
		"Connection socket is closed when reading request",
		"Connection was closed by remote side with incomplete",
		/* a TLS client that does not speak TLS 1.2+ (or TLS) */
		"Error: received handshake message out of context",
	};

	for (size_t i = 0; i < sizeof(routine) / sizeof(routine[0]); i++)
		if (strncmp(line, routine[i], strlen(routine[i])) == 0)
			return 1;
	return 0;
}

void httpd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	(void)cls;

	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	if (is_routine_mhd_message(line))
		log_debug("httpd: %s", line);
	else
		log_warnx("httpd: %s", line);
}

void httpd_log_admin(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	(void)cls;

	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	log_debug("admin httpd: %s", line);
}
