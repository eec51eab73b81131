/* dbuf — the one growable byte buffer: a limit set at init, a sticky
 * error, always NUL-terminated so text can be read in place.
 *
 * A failed add leaves the contents as they were and makes every later
 * add fail the same way until dbuf_reset, so a caller may append many
 * pieces and check once (dbuf_error). Not thread-safe: one owner. */
#ifndef CARAPACE_DBUF_H
#define CARAPACE_DBUF_H

#include <stddef.h>

struct dbuf {
	char *mem;      /* owned; NULL until the first add */
	size_t len;     /* bytes held, not counting the terminating NUL */
	size_t cap;     /* bytes allocated */
	size_t max;     /* the most len may reach */
	int err;        /* 0, ENOMEM or EMSGSIZE (over max): sticky */
};

#define DBUF_INIT(limit) { NULL, 0, 0, (limit), 0 }

void dbuf_init(struct dbuf *b, size_t max);
/* Appends n bytes (NULs allowed). 0, or -1 with b's error set (and
 * errno): ENOMEM, or EMSGSIZE when len would pass max. */
int dbuf_add(struct dbuf *b, const void *mem, size_t n);
int dbuf_addstr(struct dbuf *b, const char *s);
int dbuf_printf(struct dbuf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Room for total bytes in all (and the NUL), allocated exactly, so that a
 * caller that accounts for memory holds what it counted: adds up to total
 * then allocate nothing more. 0, or -1 as dbuf_add (total over max:
 * EMSGSIZE). Never shrinks. */
int dbuf_reserve(struct dbuf *b, size_t total);
/* 0, ENOMEM or EMSGSIZE: the first failure since init or reset. */
int dbuf_error(const struct dbuf *b);
/* The contents, NUL-terminated; "" when empty. Valid until the next add,
 * take, reset or free. */
const char *dbuf_str(const struct dbuf *b);
size_t dbuf_len(const struct dbuf *b);
/* Hands the contents over (NUL-terminated, caller frees; *len may be
 * NULL) and leaves b empty with the same limit. NULL on out of memory or
 * when b's error is set (b is then reset). */
char *dbuf_detach(struct dbuf *b, size_t *len);
/* Empties b and clears its error; keeps the memory for reuse. */
void dbuf_reset(struct dbuf *b);
/* Frees the memory; b is then as after dbuf_init with the same limit. */
void dbuf_free(struct dbuf *b);
/* Sets b's error as a failed add would (err: ENOMEM or EMSGSIZE; the
 * first error sticks), for a piece the caller could not make itself, so
 * that one dbuf_error check still covers every piece. Returns -1. */
int dbuf_fail(struct dbuf *b, int err);

#endif
