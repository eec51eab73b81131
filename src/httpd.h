/* httpd — what the tool listeners (server.c, listener.c) and the admin
 * listener (admin.c) do alike with libmicrohttpd: answers with a body,
 * the one error shape, who the client is, a streamed body's reads and
 * MHD's log lines.
 *
 * Every function is called from the connection's own MHD thread, with
 * the connection MHD passed in; nothing here keeps state. */
#ifndef CARAPACE_HTTPD_H
#define CARAPACE_HTTPD_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <microhttpd.h>

#include "stream.h"

struct json_object;

/* Queues text[0..len) (copied) with Content-Type type and no-store;
 * extra_name/extra_value add one header when extra_name is not NULL. */
enum MHD_Result httpd_send_body(struct MHD_Connection *c, unsigned status,
				const char *type, const char *text, size_t len,
				const char *extra_name,
				const char *extra_value);
/* A JSON answer; obj is consumed (put), whatever happens. The text is
 * made valid UTF-8 (clients' bytes may be in it). */
enum MHD_Result httpd_send_json(struct MHD_Connection *c, unsigned status,
				struct json_object *obj);
/* {"error":{"code":..,"message":..,"tool":..}}, the only error shape;
 * tool NULL or "": null. retry_after > 0 adds Retry-After (429, 503). */
enum MHD_Result httpd_send_error(struct MHD_Connection *c, unsigned status,
				 const char *message, const char *tool,
				 unsigned retry_after);
/* 401 in that shape, with a WWW-Authenticate challenge for Bearer and
 * one for Basic (realm "carapaced"). */
enum MHD_Result httpd_send_unauthorized(struct MHD_Connection *c,
					const char *reason, const char *tool);

/* httpd_send_error's body (caller frees), for an answer made on another
 * thread (a refusal the proxy worker sends through the stream); any
 * thread. NULL on out of memory. */
char *httpd_error_text(unsigned status, const char *message,
		       const char *tool, size_t *len);

/* The client's socket, or -1 when MHD does not say. */
int httpd_client_fd(struct MHD_Connection *c);
/* The client's address as MHD has it (borrowed), or NULL. */
const struct sockaddr *httpd_client_sockaddr(struct MHD_Connection *c);
/* The client's address without its port ("127.0.0.1", "::1") into host,
 * and the port. 0, or -1 when MHD does not know it. */
int httpd_client_address(struct MHD_Connection *c, char *host, size_t len,
			 unsigned *port, int *is_ipv6);

/* "127.0.0.1:40312" or "[::1]:40312", for the audit trail; "" when
 * unknown. A buffer of the calling thread's, valid until its next call. */
const char *httpd_client_text(struct MHD_Connection *c);

/* ---- the request head ---- */

/* Whether the head says a body follows (Transfer-Encoding, or a
 * Content-Length other than 0). */
int httpd_has_body(struct MHD_Connection *c);
/* Why the body's framing is refused, or NULL: it must be unambiguous
 * (MHD 0.9.75 reads the first Content-Length of several, and a body of
 * any coding but chunked till the connection closes), and a declared
 * length not over max. *status: 400, or 413 for the length. */
const char *httpd_framing_problem(struct MHD_Connection *c, size_t max,
				  unsigned *status);
/* The Content-Length, once httpd_framing_problem() has passed it; 0 when
 * none. */
size_t httpd_declared_length(struct MHD_Connection *c);
/* Why a header of the head may not be read at all
 * (header_field_problem()), or NULL. */
const char *httpd_header_problem(struct MHD_Connection *c);

/* A content reader's read from s for the client on client_fd: the bytes
 * copied, or MHD's end-of-stream / end-with-error code. */
ssize_t httpd_stream_read(struct stream *s, int client_fd, char *buf,
			  size_t max);

/* MHD_OPTION_EXTERNAL_LOGGER for the tool listeners (cls NULL): what a
 * client leaving causes is routine (debug), the rest a warning. */
void httpd_log(void *cls, const char *fmt, va_list ap);
/* The same for the admin listener: every line at debug. */
void httpd_log_admin(void *cls, const char *fmt, va_list ap);

#endif
