/* jsonparse — the one parse of untrusted JSON text (request bodies: the
 * JSON-RPC policy, CLI requests, audit redaction).
 *
 * Strict: exactly one RFC 8259 value, nothing but whitespace around it,
 * valid UTF-8, no raw control character in a string, numbers that are
 * real JSON and fit 64 bits. Bounded before
 * json-c allocates anything: a scan of the bytes refuses a value nested
 * deeper than JSONPARSE_MAX_DEPTH, or one whose json-c tree would cost
 * more than JSONPARSE_MAX_COST bytes (json-c spends ~800 bytes on an
 * empty object, so a 1 MiB body of "{}," would otherwise cost 270 MiB).
 * The cost counts what json-c spends per value; string bytes are not
 * counted (they are at most the text's own length, which the caller
 * bounds).
 *
 * Pure: no I/O, no global state, no daemon dependency; any thread. */
#ifndef CARAPACE_JSONPARSE_H
#define CARAPACE_JSONPARSE_H

#include <json-c/json.h>
#include <stddef.h>

/* json-c's own default depth; a deeper value is refused by the scan. */
#define JSONPARSE_MAX_DEPTH 32
/* Estimated json-c heap per parse: 2 MiB admits ~2600 objects, ~26000
 * numbers, a batch of ~480 signal-cli sends; ten such parses at once and
 * their 1 MiB bodies keep the daemon under 100 MiB (tests/test_limits). */
#define JSONPARSE_MAX_COST ((size_t)2 << 20)

enum jsonparse_code {
	JSONPARSE_OK = 0,
	JSONPARSE_INVALID = -1,     /* not exactly one strict JSON value */
	JSONPARSE_TOO_COMPLEX = -2, /* too deep or too costly: not parsed */
	JSONPARSE_NOMEM = -3,
};

struct jsonparse_error {
	enum jsonparse_code code;
	char message[96];           /* "nesting too deep (over 32 levels)" */
};

/* Parses text[0..len) (NUL bytes included; text need not be terminated).
 * JSONPARSE_OK: *out is the value (caller puts; NULL for JSON null).
 * Else the code, *out NULL and err (may be NULL) says why. */
int jsonparse_strict(const char *text, size_t len, struct json_object **out,
		     struct jsonparse_error *err);

/* The same with another cost cap, for a caller that parses one large
 * answer at a time (carapacectl: /v1/streams with thousands of streams)
 * rather than many bodies at once as the daemon does. */
int jsonparse_strict_max(const char *text, size_t len, size_t max_cost,
			 struct json_object **out, struct jsonparse_error *err);

/* What the scan estimates text would cost json-c, in bytes; stops
 * counting once past limit. For tests and for the man page's figures. */
size_t jsonparse_cost(const char *text, size_t len, size_t limit);

#endif
