/* ctl_sniff — the audit trail as it happens; see ctl_sniff.h. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ctl_show.h"
#include "ctl_sniff.h"
#include "sse.h"

#define MAX_EVENT (16u << 20)   /* one SSE line, one event's data */
#define MAX_METHODS_SHOWN 4     /* of a JSON-RPC batch, on a sniff line */

static volatile sig_atomic_t stopping;

static void on_stop(int sig)
{
	(void)sig;
	stopping = 1;
}

/* Not SA_RESTART: libcurl's poll() returns early and the progress
 * callback below ends the transfer within a loop turn. */
static void catch_stop_signals(void)
{
	struct sigaction sa = { .sa_handler = on_stop };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static int check_stop(void *arg, curl_off_t dltotal, curl_off_t dlnow,
		      curl_off_t ultotal, curl_off_t ulnow)
{
	(void)arg;
	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return stopping;
}

struct sniff {
	CURL *curl;
	int json;
	int looked;          /* status and Content-Type seen */
	long status;
	const char *why;     /* we ended the transfer, and why */
	struct dbuf error;   /* a non-2xx answer, for its message */
	struct sse_parser sse;
	size_t tool_width;   /* widest tool so far: columns settle fast */
	ctl_event_fn show;   /* NULL: the audit trail's records */
	void *show_arg;
};

/* ---- one record, one line ---- */

/* Quoted as a shell would need it, so that the line reads as the
 * command that ran; escaped after, as a whole. -1 when it did not fit. */
static int put_argv(struct dbuf *b, json_object *argv)
{
	size_t n = json_object_is_type(argv, json_type_array) ?
			   json_object_array_length(argv) : 0;
	struct dbuf q = DBUF_INIT(CTL_MAX_TEXT);

	for (size_t i = 0; i < n; i++) {
		const char *a = ctl_jitem(argv, i), *quote;
		if (a[0] != '\0' && strpbrk(a, " \t'\"\\$`*?;&|<>()") == NULL) {
			dbuf_printf(&q, " %s", a);
			continue;
		}
		dbuf_add(&q, " '", 2);
		for (; (quote = strchr(a, '\'')) != NULL; a = quote + 1) {
			dbuf_add(&q, a, (size_t)(quote - a));
			dbuf_add(&q, "'\\''", 4);
		}
		dbuf_printf(&q, "%s'", a);
	}
	int failed = dbuf_error(&q) != 0;
	ctl_clean(b, n > 0 ? dbuf_str(&q) : " -");
	dbuf_free(&q);
	return failed ? -1 : 0;
}

static void put_methods(struct dbuf *b, json_object *methods)
{
	size_t n = json_object_is_type(methods, json_type_array) ?
			   json_object_array_length(methods) : 0;

	for (size_t i = 0; i < n && i < MAX_METHODS_SHOWN; i++) {
		dbuf_add(b, i ? "," : " [", i ? 1 : 2);
		ctl_clean(b, ctl_jitem(methods, i));
	}
	if (n > MAX_METHODS_SHOWN)
		dbuf_printf(b, ",+%zu", n - MAX_METHODS_SHOWN);
	if (n > 0)
		dbuf_add(b, "]", 1);
}

static int put_what(struct dbuf *b, json_object *r)
{
	const char *kind = ctl_jstr(r, "kind");

	if (kind != NULL && strcmp(kind, "cli") == 0)
		return put_argv(b, ctl_jget(r, "argv"));
	dbuf_add(b, " ", 1);
	ctl_clean(b, ctl_cell_str(r, "http_method"));
	dbuf_add(b, " ", 1);
	ctl_clean(b, ctl_cell_str(r, "path"));
	put_methods(b, ctl_jget(r, "jsonrpc_methods"));
	return 0;
}

static void put_cost(struct dbuf *b, json_object *r)
{
	char buf[32];
	double ms;
	int64_t n;

	if (ctl_jnum(r, "duration_ms", &ms) == 0)
		dbuf_printf(b, " %s", ctl_fmt_ms(ms, buf, sizeof(buf)));
	if (ctl_jint(r, "bytes_out", &n) == 0)
		dbuf_printf(b, " %s", ctl_fmt_bytes(n, buf, sizeof(buf)));
}

static void put_outcome(struct dbuf *b, json_object *r, const char *label)
{
	int64_t n;

	if (strcmp(label, "END") == 0) {
		if (ctl_jstr(r, "ended") != NULL) {
			dbuf_add(b, " (", 2);
			ctl_clean(b, ctl_jstr(r, "ended"));
			dbuf_add(b, ")", 1);
		}
		put_cost(b, r);
	} else {
		if (ctl_jint(r, "status", &n) == 0)
			dbuf_printf(b, " %" PRId64, n);
		if (ctl_jint(r, "exit_code", &n) == 0)
			dbuf_printf(b, " exit %" PRId64, n);
		if (strcmp(label, "ALLOW") == 0)
			put_cost(b, r);
	}
	if (ctl_jstr(r, "reason") != NULL) {
		dbuf_add(b, " ", 1);
		ctl_clean(b, ctl_jstr(r, "reason"));
	}
}

static const char *label_of(json_object *r)
{
	const char *ev = ctl_cell_str(r, "event");
	const char *d = ctl_cell_str(r, "decision");

	if (strcmp(ev, "stream_open") == 0)
		return "OPEN";
	if (strcmp(ev, "stream_end") == 0)
		return "END";
	if (strcmp(ev, "checkpoint") == 0)
		return "SIGN"; /* the audit chain's signed checkpoint */
	if (strcmp(d, "deny") == 0)
		return "DENY";
	if (strcmp(d, "would_deny") == 0)
		return "WOULD"; /* a dry run let it pass */
	if (strcmp(d, "would_hold") == 0)
		return "WHOLD"; /* a dry run did not hold it */
	return strcmp(d, "allow") == 0 ? "ALLOW" : "?";
}

/* 16:18:19.123 DENY  sig  POST /api/v1/rpc [removeAccount] 403 reason */
static void show_record(struct sniff *s, json_object *r)
{
	const char *label = label_of(r);
	struct dbuf b = DBUF_INIT(CTL_MAX_TEXT), tool = DBUF_INIT(CTL_MAX_TEXT);
	char clock[32];

	ctl_clean(&tool, ctl_cell_str(r, "tool"));
	size_t w = ctl_width(dbuf_str(&tool));
	if (w > s->tool_width)
		s->tool_width = w;
	dbuf_printf(&b, "%s %-5s %s%*s ",
		    ctl_fmt_clock(ctl_jstr(r, "ts"), clock, sizeof(clock)),
		    label, dbuf_str(&tool), (int)(s->tool_width - w), "");
	int failed = put_what(&b, r) < 0 || dbuf_error(&tool) != 0;
	put_outcome(&b, r, label);
	dbuf_add(&b, "\n", 1);
	if (failed || dbuf_error(&b))
		ctl_complain("%s", "an audit record too large to show");
	else
		fputs(dbuf_str(&b), stdout);
	dbuf_free(&b);
	dbuf_free(&tool);
}

/* ---- the events ---- */

static void show_audit(struct sniff *s, const char *data, size_t len)
{
	const int flags = JSON_C_TO_STRING_PLAIN |
			  JSON_C_TO_STRING_NOSLASHESCAPE;
	const char *text;
	size_t n = 0;
	json_object *r;

	if (s->json && memchr(data, '\n', len) == NULL) {
		ctl_put_json(data, len);
	} else if ((r = ctl_parse_object(data, len)) == NULL) {
		ctl_complain("%s", "an audit record that is not a JSON object");
	} else {
		if (!s->json)
			show_record(s, r);
		else if ((text = json_object_to_json_string_length(
				  r, flags, &n)) != NULL)
			ctl_put_json(text, n);
		json_object_put(r);
	}
	fflush(stdout); /* a pipe reader wants each line now */
}

/* The daemon dropped records for us: say so where a `| grep` leaves it
 * visible. */
static void show_dropped(const char *data, size_t len)
{
	json_object *o = ctl_parse_object(data, len);
	int64_t n = 0;

	ctl_jint(o, "dropped", &n);
	ctl_complain("%" PRId64 " audit records dropped: this reader fell "
		     "behind", n);
	json_object_put(o);
}

static int on_event(const struct sse_event *ev, void *arg)
{
	struct sniff *s = arg;

	if (s->show != NULL)
		return s->show(ev->type, ev->data, ev->data_len, s->show_arg);
	if (strcmp(ev->type, "audit") == 0)
		show_audit(s, ev->data, ev->data_len);
	else if (strcmp(ev->type, "dropped") == 0)
		show_dropped(ev->data, ev->data_len);
	return 0;
}

/* ---- the transfer ---- */

/* A 2xx that is not an event stream is not carapaced's audit. */
static void look(struct sniff *s)
{
	char *type = NULL;

	s->looked = 1;
	curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &s->status);
	curl_easy_getinfo(s->curl, CURLINFO_CONTENT_TYPE, &type);
	if (s->status >= 200 && s->status <= 299 &&
	    (type == NULL || strncasecmp(type, "text/event-stream", 17) != 0))
		s->why = s->show ? "the answer is not an event stream" :
			 "the answer of GET /v1/audit is not an event stream";
}

static size_t sniff_body(char *p, size_t size, size_t nitems, void *arg)
{
	struct sniff *s = arg;
	size_t n = size * nitems;

	if (!s->looked)
		look(s);
	if (s->why != NULL)
		return 0;
	if (s->status < 200 || s->status > 299) {
		dbuf_add(&s->error, p, n); /* a longer one is cut */
		return n;
	}
	if (sse_feed(&s->sse, p, n) != 0) {
		s->why = errno == EMSGSIZE ?
				 "an event is larger than 16 MiB" :
				 "out of memory";
		return 0;
	}
	return n;
}

/* The stream never ends well unless we were told to stop. */
static int how_it_ended(const struct sniff *s, const struct ctl_target *t,
			CURLcode rc, const char *errbuf)
{
	if (stopping)
		return 0;
	if (s->why != NULL)
		return ctl_complain("%s", s->why);
	if (s->status == 0)
		return ctl_unreachable(t, s->curl, rc, errbuf);
	if (s->status < 200 || s->status > 299)
		return ctl_refused(t, s->status, &s->error);
	return ctl_complain("%s", "the daemon closed the stream");
}

static int follow(struct sniff *s, const struct ctl_target *t,
		  const char *path)
{
	char errbuf[CURL_ERROR_SIZE];
	struct curl_slist *h = curl_slist_append(NULL,
						 "Accept: text/event-stream");
	CURL *c = ctl_handle(t, path, errbuf);

	if (c == NULL || h == NULL) {
		curl_easy_cleanup(c);
		curl_slist_free_all(h);
		return ctl_complain("%s", "cannot initialise libcurl");
	}
	s->curl = c;
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sniff_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, check_stop);
	CURLcode rc = curl_easy_perform(c);
	if (!s->looked)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &s->status);
	int r = how_it_ended(s, t, rc, errbuf);
	curl_easy_cleanup(c);
	curl_slist_free_all(h);
	return r;
}

int ctl_sniff(const struct ctl_target *t, const char *path, int json)
{
	return ctl_follow(t, path, json, NULL, NULL);
}

int ctl_follow(const struct ctl_target *t, const char *path, int json,
	       ctl_event_fn show, void *arg)
{
	struct sniff s = { .json = json,
			   .error = DBUF_INIT(CTL_MAX_ANSWER),
			   .show = show, .show_arg = arg };

	sse_init(&s.sse, MAX_EVENT, on_event, &s);
	catch_stop_signals();
	int r = follow(&s, t, path);
	sse_free(&s.sse);
	dbuf_free(&s.error);
	return r;
}
