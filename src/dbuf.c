/* dbuf — growable byte buffer with a limit; see dbuf.h. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dbuf.h"

void dbuf_init(struct dbuf *b, size_t max)
{
	*b = (struct dbuf)DBUF_INIT(max);
}

static int failed(struct dbuf *b, int err)
{
	if (b->err == 0)
		b->err = err;
	errno = b->err;
	return -1;
}

/* The allocation becomes cap bytes. */
static int resize(struct dbuf *b, size_t cap)
{
	char *mem = realloc(b->mem, cap);

	if (mem == NULL)
		return failed(b, ENOMEM);
	b->mem = mem;
	b->cap = cap;
	return 0;
}

/* Room for need more bytes and the NUL, growing by doubling. */
static int reserve(struct dbuf *b, size_t need)
{
	/* max is at most SIZE_MAX - 1 in effect: len + need + 1 never wraps */
	if (need > b->max - b->len || b->len + need == SIZE_MAX)
		return failed(b, EMSGSIZE);
	size_t want = b->len + need + 1;
	if (want <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < want)
		cap = cap > SIZE_MAX / 2 ? want : cap * 2;
	return resize(b, cap);
}

int dbuf_reserve(struct dbuf *b, size_t total)
{
	if (b->err)
		return failed(b, b->err);
	if (total > b->max || total == SIZE_MAX)
		return failed(b, EMSGSIZE);
	if (total + 1 <= b->cap)
		return 0;
	if (resize(b, total + 1) < 0)
		return -1;
	if (b->len == 0)
		b->mem[0] = '\0';
	return 0;
}

int dbuf_add(struct dbuf *b, const void *mem, size_t n)
{
	if (b->err)
		return failed(b, b->err);
	if (reserve(b, n) < 0)
		return -1;
	if (n)
		memcpy(b->mem + b->len, mem, n);
	b->len += n;
	b->mem[b->len] = '\0';
	return 0;
}

int dbuf_addstr(struct dbuf *b, const char *s)
{
	return dbuf_add(b, s, strlen(s));
}

int dbuf_printf(struct dbuf *b, const char *fmt, ...)
{
	va_list ap;

	if (b->err)
		return failed(b, b->err);
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return failed(b, ENOMEM);
	if (reserve(b, (size_t)n) < 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->mem + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

int dbuf_error(const struct dbuf *b)
{
	return b->err;
}

const char *dbuf_str(const struct dbuf *b)
{
	return b->mem ? b->mem : "";
}

size_t dbuf_len(const struct dbuf *b)
{
	return b->len;
}

char *dbuf_detach(struct dbuf *b, size_t *len)
{
	if (b->err) {
		dbuf_free(b);
		return NULL;
	}
	char *mem = b->mem ? b->mem : calloc(1, 1);
	if (len && mem)
		*len = b->len;
	*b = (struct dbuf)DBUF_INIT(b->max);
	return mem;
}

void dbuf_reset(struct dbuf *b)
{
	b->len = 0;
	b->err = 0;
	if (b->mem)
		b->mem[0] = '\0';
}

void dbuf_free(struct dbuf *b)
{
	free(b->mem);
	*b = (struct dbuf)DBUF_INIT(b->max);
}

int dbuf_fail(struct dbuf *b, int err)
{
	return failed(b, err);
}
