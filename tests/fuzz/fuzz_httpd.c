/* httpd's checks of a request head: httpd_header_problem (every field,
 * counted), httpd_framing_problem (Transfer-Encoding, Content-Length and
 * the body limit), httpd_declared_length and httpd_has_body.
 *
 * They read the head through libmicrohttpd's accessors, and MHD parses a
 * head only from a socket; so this program defines the three accessors
 * httpd.c calls (MHD_get_connection_values, _n and
 * MHD_lookup_connection_value: the linker takes an executable's own
 * definitions before the shared library's) over a head of its own: the
 * input's lines, each "name:value" split at the first ':' with the blanks
 * after it dropped, as MHD 0.9.75 stores a field. What is fuzzed is our
 * handling of what MHD hands over (NULs, bare CRs, repeats, any bytes),
 * not MHD's own parse of the wire. */
#include "config.h"

#include <microhttpd.h>

#include "fuzz.h"
#include "httpd.h"

#define MAX_FIELDS 64

struct fake_field {
	char *name, *value;   /* NUL-terminated copies */
	size_t name_len, value_len; /* counted: NULs inside are kept */
};

/* The connection the accessors read: httpd.c only passes it through. */
struct MHD_Connection {
	struct fake_field f[MAX_FIELDS];
	size_t n;
};

static int caseless_eq(const char *a, const char *b)
{
	for (; *a && *b; a++, b++) {
		char x = *a >= 'A' && *a <= 'Z' ? (char)(*a + 32) : *a;
		char y = *b >= 'A' && *b <= 'Z' ? (char)(*b + 32) : *b;
		if (x != y)
			return 0;
	}
	return *a == *b;
}

const char *MHD_lookup_connection_value(struct MHD_Connection *c,
					enum MHD_ValueKind kind,
					const char *key)
{
	if (kind != MHD_HEADER_KIND)
		return NULL;
	for (size_t i = 0; i < c->n; i++)
		if (caseless_eq(c->f[i].name, key))
			return c->f[i].value;
	return NULL;
}

int MHD_get_connection_values(struct MHD_Connection *c,
			      enum MHD_ValueKind kind,
			      MHD_KeyValueIterator it, void *cls)
{
	int n = 0;

	if (kind != MHD_HEADER_KIND)
		return 0;
	for (size_t i = 0; i < c->n; i++) {
		n++;
		if (it != NULL && it(cls, kind, c->f[i].name, c->f[i].value) !=
					  MHD_YES)
			break;
	}
	return n;
}

int MHD_get_connection_values_n(struct MHD_Connection *c,
				enum MHD_ValueKind kind,
				MHD_KeyValueIteratorN it, void *cls)
{
	int n = 0;

	if (kind != MHD_HEADER_KIND)
		return 0;
	for (size_t i = 0; i < c->n; i++) {
		n++;
		if (it != NULL &&
		    it(cls, kind, c->f[i].name, c->f[i].name_len,
		       c->f[i].value, c->f[i].value_len) != MHD_YES)
			break;
	}
	return n;
}

static void parse_head(struct MHD_Connection *c, const char *s, size_t size)
{
	const char *end = s + size;

	while (s < end && c->n < MAX_FIELDS) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *line_end = nl ? nl : end;
		const char *colon = memchr(s, ':', (size_t)(line_end - s));
		if (colon != NULL) {
			const char *v = colon + 1;
			while (v < line_end && (*v == ' ' || *v == '\t'))
				v++;
			struct fake_field *f = &c->f[c->n++];
			f->name_len = (size_t)(colon - s);
			f->value_len = (size_t)(line_end - v);
			f->name = fuzz_string((const uint8_t *)s, f->name_len);
			f->value = fuzz_string((const uint8_t *)v, f->value_len);
			if (f->name == NULL || f->value == NULL)
				abort();
		}
		s = nl ? nl + 1 : end;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct MHD_Connection c = { .n = 0 };
	const size_t max = 1048576;
	unsigned status;

	parse_head(&c, (const char *)data, size);
	httpd_header_problem(&c);
	const char *framing = httpd_framing_problem(&c, max, &status);
	size_t declared = httpd_declared_length(&c);
	int has_body = httpd_has_body(&c);
	/* a head that passes declares no more than the limit */
	if (framing == NULL && declared > max)
		abort();
	if (framing != NULL && status != 400 && status != 413)
		abort();
	(void)has_body;
	for (size_t i = 0; i < c.n; i++) {
		free(c.f[i].name);
		free(c.f[i].value);
	}
	return 0;
}
