/* relay — see relay.h. */
#include "config.h"

#include "relay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bodycheck.h"
#include "log.h"
#include "text.h"

void relay_init(struct relay *rl, struct mcplist *list, unsigned keepalive_secs)
{
	memset(rl, 0, sizeof(*rl));
	rl->list = list;
	rl->keepalive_secs = keepalive_secs;
	dbuf_init(&rl->buf, MCPLIST_MAX);
	sse_bound_init(&rl->bound);
}

void relay_free(struct relay *rl)
{
	mcplist_free(rl->list);
	stream_head_free(rl->held);
	dbuf_free(&rl->buf);
	memset(rl, 0, sizeof(*rl));
}

/* ---- the head ---- */

static struct stream_field *field(struct stream_head *h, const char *name)
{
	for (size_t i = 0; i < h->n_fields; i++)
		if (strcasecmp(h->fields[i].name, name) == 0)
			return &h->fields[i];
	return NULL;
}

/* A JSON answer: a media type naming json (application/json, and the
 * +json types): what a client would read a JSON-RPC answer from. */
static int is_json(struct stream_head *h)
{
	struct stream_field *f = field(h, "Content-Type");
	size_t n = f ? strcspn(f->value, "; \t") : 0;

	for (size_t i = 0; i + 4 <= n; i++)
		if (strncasecmp(f->value + i, "json", 4) == 0)
			return 1;
	return 0;
}

/* Cache-Control: no-store, in place of any the upstream sent (the
 * other Cache-Control fields stay, and no-store wins over them). */
static int no_store(struct stream_head *h)
{
	struct stream_field *f = field(h, "Cache-Control");
	char *v = strdup("no-store");

	if (v == NULL)
		return -1;
	if (f != NULL) {
		free(f->value);
		f->value = v;
		return 0;
	}
	f = realloc(h->fields, (h->n_fields + 1) * sizeof(*f));
	if (f == NULL ||
	    (f[h->n_fields].name = strdup("Cache-Control")) == NULL) {
		if (f != NULL)
			h->fields = f;
		free(v);
		return -1;
	}
	h->fields = f;
	f[h->n_fields++].value = v;
	return 0;
}

/* A Content-Encoding other than identity: bytes the filter cannot read
 * (asked for none, the upstream sent them anyway). */
static int is_encoded(struct stream_head *h)
{
	struct stream_field *f = field(h, "Content-Encoding");

	return f != NULL && f->value[0] != '\0' &&
	       strcasecmp(f->value, "identity") != 0;
}

int relay_head(struct relay *rl, struct stream_head *h)
{
	rl->sse = stream_head_is_sse(h);
	rl->last_sent_ms = text_mono_ms();
	if (rl->list == NULL || mcplist_owed(rl->list) == 0)
		return 0;
	if (rl->sse) {
		rl->mode = RELAY_SSE;
		/* either ends the stream at its first byte */
		rl->unreadable = no_store(h) < 0 || is_encoded(h);
		return 0;
	}
	if (!is_json(h))
		return 0;
	rl->mode = RELAY_JSON;
	rl->held = h;
	rl->unreadable = is_encoded(h); /* refused at its first byte */
	return 1;
}

/* ---- the body ---- */

/* What goes to the client: a byte-order mark after a keep-alive held
 * or dropped, the bytes tracked, then pushed. */
static int to_client(struct relay *rl, struct stream *s, const char *p,
		     size_t n, uint64_t deadline_ms)
{
	static const char bom[] = "\xEF\xBB\xBF";

	/* no keep-alives: no boundary or clock to keep on every chunk */
	if (rl->keepalive_secs == 0)
		return n > 0 ? stream_push_until(s, p, n, deadline_ms) : 0;
	if (rl->comment_first && !rl->bound.seen) {
		while (n > 0 && rl->bom_held < 3 && *p == bom[rl->bom_held]) {
			rl->bom_held++;
			p++;
			n--;
		}
		if (n == 0 && rl->bom_held < 3)
			return 0; /* maybe a mark still: held */
		if (rl->bom_held < 3 && rl->bom_held > 0) {
			sse_bound_feed(&rl->bound, bom, rl->bom_held);
			if (stream_push_until(s, bom, rl->bom_held,
					      deadline_ms) < 0)
				return -1;
		}
		rl->comment_first = 0;
	}
	if (n == 0)
		return 0;
	if (rl->sse)
		sse_bound_feed(&rl->bound, p, n);
	int rc = stream_push_until(s, p, n, deadline_ms);
	if (rc == 0)
		rl->last_sent_ms = text_mono_ms();
	return rc;
}

static int refused(struct relay *rl, struct stream *s, const char *why)
{
	const char *tool = mcplist_tool_name(rl->list);

	rl->failed = 1;
	log_warnx("%s: list answer refused: %s", tool, why);
	if (rl->mode == RELAY_JSON)
		bodycheck_publish_refusal(s, 502, why, tool, NULL, 0);
	return -3;
}

static int unreadable(struct relay *rl, struct stream *s)
{
	return refused(rl, s,
		       "the answer to a list request is compressed "
		       "(Content-Encoding), or the gateway is out of memory");
}

int relay_body(struct relay *rl, struct stream *s, const char *data, size_t len,
	       uint64_t deadline_ms)
{
	char why[200];

	if (rl->unreadable && !rl->failed)
		return unreadable(rl, s);
	if (rl->failed)
		return -3;
	if (rl->mode == RELAY_JSON) {
		if (dbuf_add(&rl->buf, data, len) == 0)
			return 0;
		snprintf(why, sizeof(why),
			 "the answer to a list request is "
			 "larger than %zu bytes (the limit of a list answer)",
			 MCPLIST_MAX);
		return refused(rl, s, why);
	}
	if (rl->mode != RELAY_SSE)
		return to_client(rl, s, data, len, deadline_ms);
	dbuf_reset(&rl->buf);
	if (mcplist_feed_sse(rl->list, data, len, &rl->buf, why, sizeof(why)) <
	    0)
		return refused(rl, s, why);
	return to_client(rl, s, dbuf_str(&rl->buf), dbuf_len(&rl->buf),
			 deadline_ms);
}

/* The held JSON answer, filtered, in one publish. */
static void publish_json(struct relay *rl, struct stream *s)
{
	char why[200], *out = NULL;
	size_t out_len = 0;
	struct stream_head *h = rl->held;
	int rc = dbuf_len(&rl->buf) == 0
		     ? 0
		     : mcplist_filter_json(rl->list, dbuf_str(&rl->buf),
					   dbuf_len(&rl->buf), &out, &out_len,
					   why, sizeof(why));

	if (rc > 0 && no_store(h) < 0) {
		snprintf(why, sizeof(why), "out of memory");
		rc = -1;
	}
	if (rc < 0) {
		refused(rl, s, why);
		free(out);
		return;
	}
	rl->held = NULL;
	if (rc > 0)
		h->content_length = (long long)out_len;
	stream_publish_whole(s, h, rc > 0 ? out : dbuf_str(&rl->buf),
			     rc > 0 ? out_len : dbuf_len(&rl->buf));
	free(out);
}

int relay_end(struct relay *rl, struct stream *s, int whole)
{
	if (rl->mode == RELAY_JSON) {
		if (rl->unreadable && !rl->failed)
			unreadable(rl, s);
		if (rl->failed)
			return 1;
		if (!whole)
			stream_fail(s, STREAM_FAIL_PROTOCOL,
				    "upstream broke its answer off");
		else
			publish_json(rl, s);
		return 1;
	}
	if (rl->mode == RELAY_SSE && whole && !rl->failed) {
		dbuf_reset(&rl->buf);
		mcplist_finish_sse(rl->list, &rl->buf);
		to_client(rl, s, dbuf_str(&rl->buf), dbuf_len(&rl->buf), 0);
	}
	return 0;
}

/* ---- keep-alives ---- */

static int keeps_alive(const struct relay *rl)
{
	return rl->keepalive_secs > 0 && rl->sse && !rl->failed &&
	       sse_bound_at_boundary(&rl->bound);
}

int relay_budget(const struct relay *rl, int budget_ms, uint64_t now_ms)
{
	uint64_t due = rl->last_sent_ms + rl->keepalive_secs * 1000ull;

	if (!keeps_alive(rl))
		return budget_ms;
	if (due <= now_ms)
		return 0;
	return due - now_ms < (uint64_t)budget_ms ? (int)(due - now_ms)
						  : budget_ms;
}

void relay_tick(struct relay *rl, struct stream *s, uint64_t now_ms)
{
	size_t len;
	const char *c;

	if (!keeps_alive(rl) ||
	    now_ms < rl->last_sent_ms + rl->keepalive_secs * 1000ull)
		return;
	c = sse_bound_comment(&rl->bound, &len);
	rl->last_sent_ms = now_ms; /* sent, or the stream is not idle */
	if (stream_offer(s, c, len) == 0 && !rl->bound.seen)
		rl->comment_first = 1;
}
