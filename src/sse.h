/* sse — Server-Sent Events as the WHATWG HTML standard defines the
 * stream: a parser fed bytes as they arrive (carapacectl's audit tail,
 * the shim's tool output) and a writer that frames one event.
 *
 * The parser follows the standard: lines end with CRLF, LF or CR (also
 * split across feeds); one space after the field's colon is dropped if
 * present, not required; a line without a colon is a field with an empty
 * value; ':' starts a comment; unknown fields are ignored; a blank line
 * dispatches the event unless it has no data; a leading BOM is skipped.
 * Bounded: a line or an event's data over the limit is an error, never a
 * larger allocation. One owner; not thread-safe. */
#ifndef CARAPACE_SSE_H
#define CARAPACE_SSE_H

#include <stddef.h>

#include "dbuf.h"

struct sse_event {
	const char *type;   /* "message" when the event named none */
	const char *data;   /* data lines joined by "\n", NUL-terminated */
	size_t data_len;
	const char *id;     /* the last event id seen (may be "") */
};

/* Called once per dispatched event; the strings live until it returns.
 * Non-zero stops the parse: sse_feed returns that value. */
typedef int (*sse_event_fn)(const struct sse_event *ev, void *arg);

struct sse_parser {
	struct dbuf line, data, type, id;
	sse_event_fn fn;
	void *arg;
	int after_cr;       /* the last byte fed was CR: skip one LF */
	int started;        /* past the (optional) BOM */
	unsigned bom_len;   /* BOM bytes matched so far */
};

/* max bounds one line and one event's data, in bytes. */
void sse_init(struct sse_parser *p, size_t max, sse_event_fn fn, void *arg);
/* 0; the callback's non-zero value; or -1 with errno EMSGSIZE (a line or
 * the data over max) or ENOMEM. After a non-zero return the parser must
 * not be fed again. */
int sse_feed(struct sse_parser *p, const char *bytes, size_t len);
void sse_free(struct sse_parser *p);

/* Appends one event to out: "event: <type>\n" (type NULL: none), then
 * each line of data as "data: <line>\n" (CRLF, LF and CR all split), then
 * the blank line. 0, or -1 as dbuf_add. */
int sse_write(struct dbuf *out, const char *type, const char *data,
	      size_t len);

#endif
