/* admin_approvals — see admin_approvals.h. */
#include "config.h"

#include "admin_approvals.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbuf.h"
#include "httpd.h"
#include "jsonparse.h"
#include "sse.h"

#define FEED_CAPACITY (64 * 1024)
#define REASON_MAX 200u

/* ---- GET: the list, or the feed ---- */

struct feed_reader {
	struct approvals *ap;
	struct stream *stream;          /* consumer reference */
	struct approvals_feed *feed;
	int client_fd;
};

static ssize_t read_feed(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct feed_reader *fr = cls;
	(void)pos;

	return httpd_stream_read(fr->stream, fr->client_fd, buf, max);
}

static void free_feed(void *cls)
{
	struct feed_reader *fr = cls;

	stream_cancel(fr->stream);
	if (fr->feed != NULL)
		approvals_feed_end(fr->ap, fr->feed);
	stream_release(fr->stream);
	free(fr);
}

static int feed_event(struct stream *s, const char *event, const char *json,
		      size_t len, uint64_t missed)
{
	struct dbuf ev = DBUF_INIT(len + 64);
	char note[48];

	if (event != NULL) {
		sse_write(&ev, event, json, len);
	} else {
		int n = snprintf(note, sizeof(note), "{\"dropped\":%llu}",
				 (unsigned long long)missed);
		sse_write(&ev, "dropped", note, (size_t)n);
	}
	int rc = -2;
	if (dbuf_error(&ev) == 0)
		rc = stream_offer(s, dbuf_str(&ev), dbuf_len(&ev));
	dbuf_free(&ev);
	return rc;
}

static enum MHD_Result open_feed(struct approvals *ap,
				 struct MHD_Connection *c)
{
	struct feed_reader *fr = calloc(1, sizeof(*fr));
	struct stream *s = fr ? stream_new(FEED_CAPACITY) : NULL;
	static const char hello[] = ": carapaced approvals\n\n";

	if (s == NULL) {
		free(fr);
		return httpd_send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
					"out of memory", NULL, 0);
	}
	fr->ap = ap;
	fr->stream = s;
	fr->client_fd = httpd_client_fd(c);
	/* a first comment, so the client sees the head at once */
	stream_offer(s, hello, sizeof(hello) - 1);
	fr->feed = approvals_feed_new(ap, s, feed_event);
	if (fr->feed == NULL) {
		stream_release(s);
		free(fr);
		return httpd_send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE,
					"too many approval feeds open", NULL,
					1);
	}
	struct MHD_Response *resp = MHD_create_response_from_callback(
		MHD_SIZE_UNKNOWN, 1024, read_feed, fr, free_feed);
	if (resp == NULL) {
		free_feed(fr);
		return MHD_NO;
	}
	MHD_add_response_header(resp, "Content-Type", "text/event-stream");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
	MHD_set_connection_option(c, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
	enum MHD_Result rc = MHD_queue_response(c, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return rc;
}

enum MHD_Result admin_approvals_get(struct approvals *ap,
				    struct MHD_Connection *c)
{
	const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							 "Accept");

	if (ap == NULL)
		return httpd_send_error(c, MHD_HTTP_NOT_FOUND,
					"approvals are not available", NULL,
					0);
	if (accept != NULL && strstr(accept, "text/event-stream") != NULL)
		return open_feed(ap, c);
	return httpd_send_json(c, MHD_HTTP_OK, approvals_list(ap));
}

/* ---- POST: a decision ---- */

/* Only these members, each of its type. NULL when d is filled, else
 * why not. */
static const char *member_wrong(const char *k, struct json_object *v,
				struct approval_decision *d)
{
	if (strcmp(k, "decision") == 0) {
		const char *s = json_object_get_string(v);
		if (!json_object_is_type(v, json_type_string) ||
		    (strcmp(s, "approve") != 0 && strcmp(s, "deny") != 0))
			return "decision must be \"approve\" or \"deny\"";
		d->approve = strcmp(s, "approve") == 0;
	} else if (strcmp(k, "grant_secs") == 0) {
		int64_t n = json_object_get_int64(v);
		if (!json_object_is_type(v, json_type_int) || n < 0 ||
		    n > APPROVALS_MAX_GRANT_SECS)
			return "grant_secs must be an integer, 0..2592000";
		d->grant_secs = (unsigned)n;
	} else if (strcmp(k, "scope") == 0) {
		const char *s = json_object_get_string(v);
		if (!json_object_is_type(v, json_type_string) ||
		    (strcmp(s, "call") != 0 && strcmp(s, "method") != 0))
			return "scope must be \"call\" or \"method\"";
		d->method_scope = strcmp(s, "method") == 0;
	} else if (strcmp(k, "reason") == 0) {
		if (!json_object_is_type(v, json_type_string) ||
		    strlen(json_object_get_string(v)) > REASON_MAX)
			return "reason must be a string of at most 200 bytes";
		d->reason = json_object_get_string(v);
	} else {
		return "unknown member (decision, grant_secs, scope, reason)";
	}
	return NULL;
}

/* The body as a decision (strings borrowed from *o). NULL, or why. */
static const char *parse_decision(const char *body, size_t len,
				  struct json_object **o,
				  struct approval_decision *d)
{
	const char *why = NULL;
	int has_decision = 0;

	*o = NULL;
	if (jsonparse_strict(body, len, o, NULL) != JSONPARSE_OK ||
	    !json_object_is_type(*o, json_type_object))
		return "the body must be a JSON object";
	json_object_object_foreach(*o, k, v) {
		if (why == NULL)
			why = member_wrong(k, v, d);
		has_decision |= strcmp(k, "decision") == 0;
	}
	if (why == NULL && !has_decision)
		why = "decision is required";
	if (why == NULL && !d->approve && d->grant_secs > 0)
		why = "grant_secs is for an approval";
	if (why == NULL && d->method_scope && d->grant_secs == 0)
		why = "scope \"method\" needs grant_secs";
	return why;
}

enum MHD_Result admin_approvals_post(struct approvals *ap,
				     struct MHD_Connection *c, const char *id,
				     const char *body, size_t len,
				     int too_large, const char *by)
{
	struct approval_decision d = { .by = by };
	struct json_object *o = NULL;
	struct error err;
	const char *why;

	if (ap == NULL)
		return httpd_send_error(c, MHD_HTTP_NOT_FOUND,
					"approvals are not available", NULL,
					0);
	if (too_large)
		return httpd_send_error(c, MHD_HTTP_CONTENT_TOO_LARGE,
					"request body too large", NULL, 0);
	if ((why = parse_decision(body, len, &o, &d)) != NULL) {
		json_object_put(o);
		return httpd_send_error(c, MHD_HTTP_BAD_REQUEST, why, NULL, 0);
	}
	struct json_object *answer = approvals_decide(ap, id, &d, &err);
	json_object_put(o);
	if (answer == NULL)
		return httpd_send_error(c, (unsigned)err.status, err.msg, NULL,
					0);
	return httpd_send_json(c, MHD_HTTP_OK, answer);
}
