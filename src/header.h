/* header — how carapaced reads HTTP header names and values. Pure: no
 * I/O, no state, safe from any thread.
 *
 * Every place that blocks, strips or injects a header by name compares
 * names with header_name_eq(): ASCII case-insensitive, with '-' and '_'
 * the same, because CGI, WSGI and the servers built on them map both to
 * '_' (an upstream reads X_Api_Key as X-Api-Key). */
#ifndef CARAPACE_HEADER_H
#define CARAPACE_HEADER_H

#include <stddef.h>

/* Whether a and b name one header, as above. */
int header_name_eq(const char *a, const char *b);

/* The same for a[0..a_len) (no NUL needed) against b. */
int header_name_eq_len(const char *a, size_t a_len, const char *b);

/* Whether name begins with prefix, compared as header_name_eq() does. */
int header_name_has_prefix(const char *name, const char *prefix);

/* Whether s[0..len) is a non-empty RFC 9110 token (a method must be one:
 * MHD 0.9.75 takes anything up to the first space, and Python's servers
 * read "TRACE\v" as TRACE). */
int header_is_token(const char *s, size_t len);

/* Whether a client's header may be read at all: its name[0..name_len) an
 * RFC 9110 token (letters, digits, !#$%&'*+-.^_`|~; so no blank, colon,
 * control or 8-bit byte) and its value[0..value_len) free of control
 * bytes but HTAB (no CR, LF, NUL, DEL; 8-bit bytes are allowed). A bare
 * CR in a value, forwarded, is a line break to lenient servers. NULL when
 * it may; else why not (a static string naming neither name nor value). */
const char *header_field_problem(const char *name, size_t name_len,
				 const char *value, size_t value_len);

#endif
