/* text — byte-string helpers shared by the daemon and the shim: is it
 * UTF-8 (so it can travel as a JSON string), base64 when it is not, and
 * the one way times are written. */
#ifndef CARAPACE_TEXT_H
#define CARAPACE_TEXT_H

#include <stddef.h>
#include <time.h>

/* Well-formed UTF-8: no overlong forms, surrogates or code points past
 * U+10FFFF. */
int text_utf8_valid(const void *data, size_t len);
/* NUL-terminated base64 (RFC 4648, padded); caller frees; NULL on OOM. */
char *text_base64_encode(const void *data, size_t len, size_t *out_len);
/* Decoded bytes (NUL-terminated for convenience); caller frees; NULL when
 * the input is not padded base64 or on OOM. */
void *text_base64_decode(const char *text, size_t len, size_t *out_len);

/* RFC 3339, UTC, milliseconds: "2026-11-24T16:18:19.123Z" (24 bytes and
 * the NUL; buf always terminated). */
void text_rfc3339(const struct timespec *ts, char *buf, size_t len);

#endif
