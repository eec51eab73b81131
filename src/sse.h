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

/* Where a stream of bytes stands in the event framing, for a writer that
 * adds comments to a stream it relays (sse_keepalive_secs): at an event
 * boundary (nothing yet, or just past the blank line that ends an event,
 * with CRLF, LF or CR line ends, also split across feeds), or part-way
 * through an event, where a comment line would be harmless to the
 * standard's parser but would sit inside the upstream's event for any
 * reader that splits on blank lines. */
struct sse_bound {
	size_t line_len;    /* bytes of the current line so far */
	int in_event;       /* a line since the last blank line */
	int after_cr;       /* the last byte was CR: an LF may pair it */
	int crlf;           /* the last line end was CRLF */
	int seen;           /* any byte at all */
};

void sse_bound_init(struct sse_bound *b);
void sse_bound_feed(struct sse_bound *b, const char *bytes, size_t len);
/* 1 at an event boundary: a comment written now ends no event early
 * and joins none. */
int sse_bound_at_boundary(const struct sse_bound *b);
/* The comment to write there (static): ": keepalive" and a blank line,
 * in the line ends the stream last used (a CR still unpaired gets CRs:
 * an LF the upstream sends next then pairs with the comment's last CR,
 * as it would have with its own). */
const char *sse_bound_comment(const struct sse_bound *b, size_t *len);

#endif
