/* The Server-Sent Events parser (sse_feed) of carapacectl's audit tail
 * and the shim: an upstream's or the daemon's bytes, fed in pieces as
 * they arrive. The first byte sets the piece size (1..16 bytes, or all
 * at once), since a line may be split anywhere, a CRLF too. Every event
 * has its data NUL-terminated at data_len, a type and an id; and what
 * sse_write frames of it parses back to the same data. */
#include "config.h"

#include "dbuf.h"
#include "fuzz.h"
#include "sse.h"

#define MAX_EVENT 4096

struct seen {
	char data[MAX_EVENT + 1];
	size_t len;
	int n;
};

static int on_event(const struct sse_event *ev, void *arg)
{
	struct seen *s = arg;

	if (ev->type == NULL || ev->id == NULL || ev->data == NULL ||
	    ev->data[ev->data_len] != '\0' || ev->data_len > MAX_EVENT)
		abort();
	memcpy(s->data, ev->data, ev->data_len + 1);
	s->len = ev->data_len;
	s->n++;
	return 0;
}

/* Framed again by sse_write, the last event's data parses back as is. */
static void round_trip(const struct seen *first)
{
	struct dbuf out = DBUF_INIT(4 * MAX_EVENT + 64);
	struct seen again = { .n = 0 };
	struct sse_parser p;
	size_t i, j;

	if (sse_write(&out, "t", first->data, first->len) < 0)
		abort();
	sse_init(&p, 4 * MAX_EVENT, on_event, &again);
	if (sse_feed(&p, dbuf_str(&out), dbuf_len(&out)) != 0)
		abort();
	/* the writer splits at CR, LF and CRLF: they come back as LF */
	for (i = 0, j = 0; i < first->len; i++, j++) {
		char c = first->data[i];
		if (c == '\r' && i + 1 < first->len &&
		    first->data[i + 1] == '\n')
			i++;
		if (again.n != 1 || j >= again.len ||
		    again.data[j] != (c == '\r' ? '\n' : c))
			abort();
	}
	if (again.n != 1 || again.len != j)
		abort();
	sse_free(&p);
	dbuf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct seen seen;
	struct sse_parser p;

	if (size < 1)
		return 0;
	size_t piece = data[0] & 0x10 ? size : (size_t)(data[0] & 0x0f) + 1;
	seen.n = 0;
	sse_init(&p, MAX_EVENT, on_event, &seen);
	int rc = 0;
	for (size_t i = 1; i < size && rc == 0; i += piece) {
		size_t n = size - i < piece ? size - i : piece;
		rc = sse_feed(&p, (const char *)data + i, n);
	}
	sse_free(&p);
	if (seen.n > 0 && seen.len > 0 && memchr(seen.data, '\0', seen.len) == NULL)
		round_trip(&seen);
	return 0;
}
