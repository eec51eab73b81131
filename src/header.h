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

/* ---- which request headers go upstream ----
 *
 * Every list of header names carapaced acts on is one table in header.c,
 * so the proxy, the policy and the config checks cannot disagree. */

/* Whether a request header is the proxy's to drop, whoever sent it: RFC
 * 9110 7.6.1's hop-by-hop names, Host and the framing it writes itself
 * (Content-Length, Expect). Proxy-Authorization is one too. */
int header_hop_by_hop(const char *name);

/* The same for an upstream's answer, name[0..len): the hop-by-hop names
 * and those MHD writes itself (framing). Host, Expect and
 * Proxy-Authorization are not among them. */
int header_response_hop_by_hop(const char *name, size_t len);

/* Whether inject_headers may name it: not a hop-by-hop or framing header
 * (the proxy writes those). */
int header_injectable(const char *name);

/* What a client's header needs to go upstream, before the tool's own
 * settings (inject_headers, add_x_forwarded_for) are applied. */
enum header_forward {
	HEADER_FORWARD,         /* passed on */
	HEADER_NEVER,           /* credentials: the host's to send */
	HEADER_IF_LISTED,       /* only when forward_headers names it: Cookie,
				 * and names that pass a client for another
				 * address, host, scheme, method or path
				 * (X-Forwarded-*, Forwarded, X-Real-IP, ...) */
};
enum header_forward header_forwardable(const char *name);

#endif
