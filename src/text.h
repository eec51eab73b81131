/* text — byte-string helpers shared by the daemon, carapacectl and the
 * shim: is it UTF-8 (so it can travel as a JSON string), base64 when it is
 * not, JSON text made safe to store and show, and the one way times are
 * written. Pure; any thread. */
#ifndef CARAPACE_TEXT_H
#define CARAPACE_TEXT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Well-formed UTF-8: no overlong forms, surrogates or code points past
 * U+10FFFF. */
int text_utf8_valid(const void *data, size_t len);
/* The length (1..4) of the well-formed UTF-8 character that data starts
 * with, its code point in *cp (may be NULL); 0 when it starts with none
 * (or len is 0). */
size_t text_utf8_char(const void *data, size_t len, uint32_t *cp);

/* JSON text as json-c writes it, made valid UTF-8 that is safe to show on
 * a terminal. json-c escapes C0 controls but copies every other byte of a
 * string as it is; here each byte that is not part of well-formed UTF-8
 * becomes \ufffd (U+FFFD, one per byte), and DEL and the C1 controls
 * (U+007F..U+009F) become \u escapes. Outside its strings JSON text is
 * ASCII without DEL, so only string contents change. NUL-terminated; caller
 * frees; NULL on out of memory. */
char *text_json_clean(const char *json, size_t len, size_t *out_len);
/* NUL-terminated base64 (RFC 4648, padded); caller frees; NULL on OOM. */
char *text_base64_encode(const void *data, size_t len, size_t *out_len);
/* Decoded bytes (NUL-terminated for convenience); caller frees; NULL when
 * the input is not padded base64 or on OOM. */
void *text_base64_decode(const char *text, size_t len, size_t *out_len);

/* Milliseconds of CLOCK_MONOTONIC: for deadlines and durations. */
uint64_t text_mono_ms(void);

/* RFC 3339, UTC, milliseconds: "2026-11-24T16:18:19.123Z" (24 bytes and
 * the NUL; buf always terminated). */
void text_rfc3339(const struct timespec *ts, char *buf, size_t len);

/* The value of hex digit c (either case), or -1. */
int text_hex_digit(char c);

#endif
