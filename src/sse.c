/* sse — Server-Sent Events parser and writer; see sse.h. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "sse.h"

void sse_init(struct sse_parser *p, size_t max, sse_event_fn fn, void *arg)
{
	memset(p, 0, sizeof(*p));
	dbuf_init(&p->line, max);
	dbuf_init(&p->data, max);
	dbuf_init(&p->type, max);
	dbuf_init(&p->id, max);
	p->fn = fn;
	p->arg = arg;
}

void sse_free(struct sse_parser *p)
{
	dbuf_free(&p->line);
	dbuf_free(&p->data);
	dbuf_free(&p->type);
	dbuf_free(&p->id);
}

static int dispatch(struct sse_parser *p)
{
	struct dbuf *d = &p->data;

	if (dbuf_len(d) == 0) {
		dbuf_reset(&p->type);
		return 0;
	}
	d->len--;                       /* the last data line's "\n" */
	d->mem[d->len] = '\0';
	struct sse_event ev = {
		.type = dbuf_len(&p->type) ? dbuf_str(&p->type) : "message",
		.data = dbuf_str(d),
		.data_len = dbuf_len(d),
		.id = dbuf_str(&p->id),
	};
	int rc = p->fn(&ev, p->arg);
	dbuf_reset(d);
	dbuf_reset(&p->type);
	return rc;
}

static int set_field(struct dbuf *b, const char *v, size_t n)
{
	dbuf_reset(b);
	return dbuf_add(b, v, n);
}

/* One complete line (without its end). */
static int take_line(struct sse_parser *p, const char *s, size_t n)
{
	if (n == 0)
		return dispatch(p);
	if (s[0] == ':')
		return 0;
	const char *colon = memchr(s, ':', n);
	size_t name_len = colon ? (size_t)(colon - s) : n;
	const char *v = colon ? colon + 1 : s + n;
	size_t vn = (size_t)(s + n - v);
	if (vn && v[0] == ' ') {
		v++;
		vn--;
	}
	if (name_len == 4 && memcmp(s, "data", 4) == 0) {
		if (dbuf_add(&p->data, v, vn) < 0 ||
		    dbuf_add(&p->data, "\n", 1) < 0)
			return -1;
	} else if (name_len == 5 && memcmp(s, "event", 5) == 0) {
		return set_field(&p->type, v, vn);
	} else if (name_len == 2 && memcmp(s, "id", 2) == 0) {
		if (memchr(v, '\0', vn) == NULL)
			return set_field(&p->id, v, vn);
	}
	return 0;
}

/* Consumes a leading UTF-8 BOM, also one split across feeds; bytes that
 * turn out not to be one are kept as the start of the first line. */
static size_t skip_bom(struct sse_parser *p, const char *b, size_t len)
{
	static const char bom[] = "\xEF\xBB\xBF";
	size_t i = 0;

	while (!p->started && i < len) {
		if (b[i] == bom[p->bom_len]) {
			i++;
			p->started = ++p->bom_len == 3;
			continue;
		}
		p->started = 1;
		if (dbuf_add(&p->line, bom, p->bom_len) < 0)
			return len;
	}
	return i;
}

int sse_feed(struct sse_parser *p, const char *bytes, size_t len)
{
	size_t i = 0;

	if (!p->started) {
		i = skip_bom(p, bytes, len);
		if (dbuf_error(&p->line))
			return -1;
	}
	while (i < len) {
		if (p->after_cr && bytes[i] == '\n') {
			i++;
			p->after_cr = 0;
			continue;
		}
		p->after_cr = 0;
		size_t end = i;
		while (end < len && bytes[end] != '\n' && bytes[end] != '\r')
			end++;
		if (dbuf_add(&p->line, bytes + i, end - i) < 0)
			return -1;
		if (end == len)
			break;
		p->after_cr = bytes[end] == '\r';
		int rc = take_line(p, dbuf_str(&p->line), dbuf_len(&p->line));
		dbuf_reset(&p->line);
		if (rc != 0)
			return rc;
		i = end + 1;
	}
	return 0;
}

int sse_write(struct dbuf *out, const char *type, const char *data,
	      size_t len)
{
	size_t i = 0;

	if (type)
		dbuf_printf(out, "event: %s\n", type);
	for (;;) {
		size_t end = i;
		while (end < len && data[end] != '\n' && data[end] != '\r')
			end++;
		dbuf_add(out, "data: ", 6);
		dbuf_add(out, data + i, end - i);
		dbuf_add(out, "\n", 1);
		if (end == len)
			break;
		if (data[end] == '\r' && end + 1 < len && data[end + 1] == '\n')
			end++;
		i = end + 1;
	}
	return dbuf_add(out, "\n", 1);
}

/* ---- event boundaries ---- */

void sse_bound_init(struct sse_bound *b)
{
	memset(b, 0, sizeof(*b));
}

void sse_bound_feed(struct sse_bound *b, const char *bytes, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		char c = bytes[i];

		b->seen = 1;
		if (b->after_cr && c == '\n') { /* the LF of a CRLF */
			b->after_cr = 0;
			b->crlf = 1;
			continue;
		}
		b->after_cr = 0;
		if (c != '\r' && c != '\n') {
			b->line_len++;
			continue;
		}
		b->in_event = b->line_len > 0;
		b->line_len = 0;
		b->after_cr = c == '\r';
		b->crlf = 0;
	}
}

int sse_bound_at_boundary(const struct sse_bound *b)
{
	return b->line_len == 0 && !b->in_event;
}

const char *sse_bound_comment(const struct sse_bound *b, size_t *len)
{
	static const char lf[] = ": keepalive\n\n";
	static const char cr[] = ": keepalive\r\r";
	static const char crlf[] = ": keepalive\r\n\r\n";
	const char *s = b->after_cr ? cr : b->crlf ? crlf : lf;

	*len = strlen(s);
	return s;
}
