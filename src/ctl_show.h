/* ctl_show — what carapacectl tells the operator, and how: messages on
 * stderr, the daemon's JSON read leniently (absent and null alike) and
 * shown as aligned tables, short durations and sizes, local times, and
 * text from the gateway's clients made safe for a terminal.
 *
 * The daemon's answers are untrusted bytes: ctl_parse_object is strict
 * and bounded, and every string from them goes through ctl_clean (or
 * ctl_put_json) before it is printed. One thread; writes to stdout and
 * stderr. */
#ifndef CARAPACE_CTL_SHOW_H
#define CARAPACE_CTL_SHOW_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "dbuf.h"

/* One line or cell built for the terminal: 4x the 16 MiB an answer may
 * hold, as \xNN escaping can quadruple it. */
#define CTL_MAX_TEXT (64u << 20)

/* "carapacectl: <message>" on stderr, after what stdout holds so far.
 * Returns -1, so a caller can end with `return ctl_complain(...)`. */
int ctl_complain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Exactly one JSON object (strict, bounded; blanks around it allowed);
 * caller puts. NULL for anything else. */
json_object *ctl_parse_object(const char *text, size_t len);

/* Member key of an object; NULL when o is no object, key is absent or
 * null. Borrowed from o. */
json_object *ctl_jget(json_object *o, const char *key);
/* A string member, or NULL. */
const char *ctl_jstr(json_object *o, const char *key);
/* A number member: 0, or -1 when it is absent or not a number. */
int ctl_jnum(json_object *o, const char *key, double *out);
int ctl_jint(json_object *o, const char *key, int64_t *out);
/* Element i of an array as text: "" for null, JSON for the rest. */
const char *ctl_jitem(json_object *arr, size_t i);
/* The string member key for a table cell: "-" when there is none. */
const char *ctl_cell_str(json_object *o, const char *key);

/* Appends s with every terminal control written as \xNN: C0, DEL, C1
 * and bytes that are not well-formed UTF-8. */
void ctl_clean(struct dbuf *b, const char *s);
/* Characters, not bytes, of UTF-8 text: what a terminal column takes. */
size_t ctl_width(const char *s);

/* Formats write into buf and return it, or a constant ("-", a fallback)
 * when there is nothing to format. */
const char *ctl_fmt_ms(double ms, char *buf, size_t size);
const char *ctl_fmt_bytes(int64_t n, char *buf, size_t size);
/* The local time of day of an RFC 3339 time: "16:18:19.123". */
const char *ctl_fmt_clock(const char *ts, char *buf, size_t size);

/* JSON text as the daemon sent it, but DEL, C1 and bytes that are not
 * UTF-8 in its strings as \u escapes; then a newline unless it ends in
 * one. */
void ctl_put_json(const char *text, size_t len);

/* The answers of GET /v1/status and /v1/streams as tables on stdout.
 * 0, or -1 after a complaint. */
int ctl_print_status(json_object *o);
int ctl_print_streams(json_object *o);

#endif
