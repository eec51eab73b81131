/* relay — what stands between an upstream's answer and its stream on
 * the proxy worker: an MCP tool's list filter (mcplist.h) and the
 * keep-alive comments of an event stream (a tool's sse_keepalive_secs).
 * proxy.c hands it the final head, each body piece and the end, and asks
 * it how long its wait may last; without a filter and without
 * keep-alives every byte goes on as it came.
 *
 * The list filter: a JSON answer (application/json) is held whole, at
 * most MCPLIST_MAX bytes, and published at its end, filtered, with
 * Cache-Control: no-store; over the limit, or unreadable, it is answered
 * 502 naming why, and the transfer ends. An event stream's head goes out
 * at once with Cache-Control: no-store; its bytes go through
 * mcplist_feed_sse; a refusal there cannot change a status already sent:
 * the stream ends broken (recorded as ended by an error) and the log
 * says why. An answer with a Content-Encoding other than identity
 * cannot be read: refused the same way at its first byte (the check
 * asked the upstream for identity, bodycheck.c).
 *
 * Keep-alives: on a text/event-stream answer with keep-alives, when the
 * client has been sent nothing for that long and its stream stands at an
 * event boundary (sse_bound), the comment of sse_bound_comment() is
 * offered (never waited for: a full stream needs none). Part-way through
 * an event nothing is written, and no timer runs: the upstream's next
 * byte wakes the worker anyway. The worker's one wait (curl_multi_wait)
 * is shortened to the next one due: no thread, no timer of its own. If a
 * keep-alive went out before the upstream's first byte, a byte-order
 * mark the upstream then starts with is dropped (a client skips one only
 * at the very start; held, at most two bytes, until it is whole or is
 * not one).
 *
 * One owner: the proxy worker. */
#ifndef CARAPACE_RELAY_H
#define CARAPACE_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "dbuf.h"
#include "mcplist.h"
#include "sse.h"
#include "stream.h"

enum relay_mode { RELAY_PASS, RELAY_JSON, RELAY_SSE };

struct relay {
	struct mcplist *list;       /* owned; NULL: no list answer owed */
	unsigned keepalive_secs;    /* 0: none */
	enum relay_mode mode;       /* what the filter does with this answer */
	int sse;                    /* the answer is an event stream */
	struct stream_head *held;   /* RELAY_JSON: the head, until the end */
	struct dbuf buf;            /* RELAY_JSON: the body so far; SSE: what
				     * the filter lets go */
	struct sse_bound bound;     /* the client's side of the stream */
	uint64_t last_sent_ms;      /* the client's last byte was queued */
	unsigned bom_held;          /* bytes of a byte-order mark held */
	int comment_first;          /* a keep-alive before the first byte */
	int unreadable;             /* compressed (or no memory for the
				     * head): refused at the first byte */
	int failed;                 /* the filter refused the answer */
};

/* list (taken, may be NULL), keepalive_secs (0: none). */
void relay_init(struct relay *rl, struct mcplist *list,
		unsigned keepalive_secs);
void relay_free(struct relay *rl);

/* The final head: 1 when it is taken (held until relay_end publishes
 * it), 0 when the caller publishes it as it is now (Cache-Control may
 * have been changed). */
int relay_head(struct relay *rl, struct stream_head *h);
/* Body bytes: 0 taken, or as stream_push_until (-1 cancelled, -2 past
 * deadline), or -3: the filter refused the answer (already answered or
 * to be ended broken): the transfer must end. */
int relay_body(struct relay *rl, struct stream *s, const char *data,
	       size_t len, uint64_t deadline_ms);
/* The upstream's answer ended (whole, or not): 1 when the relay has
 * answered (a held JSON answer published, or refused), 0 when the
 * caller finishes the stream as usual. */
int relay_end(struct relay *rl, struct stream *s, int whole);

/* How long the worker may wait before a keep-alive is due: budget_ms,
 * or less. */
int relay_budget(const struct relay *rl, int budget_ms, uint64_t now_ms);
/* After the wait: the keep-alive, when due and at a boundary. */
void relay_tick(struct relay *rl, struct stream *s, uint64_t now_ms);

#endif
