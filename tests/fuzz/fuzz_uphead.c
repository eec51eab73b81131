/* The upstream's response head, as carapaced reads it: libcurl parses
 * the status line's framing and the transfer, and hands each line of the
 * head to proxy.c's header callback (on_header: the status, each field
 * with Content-Length and the hop-by-hop names, the blank line that
 * publishes the head or holds a short body back), then the body to
 * on_body. Those are static, so this program compiles proxy.c itself and
 * calls them as curl would: one line a call, ending in its LF (CRLF when
 * the input has it), in a buffer of exactly that size (curl's is not
 * NUL-terminated, CURLOPT_HEADERFUNCTION(3)), then what follows the head
 * as body in one call. No network, no curl transfer. */
#include "config.h"

#include "fuzz.h"

#include "../../src/proxy.c"

#define STREAM_CAPACITY ((size_t)1 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct worker w = { .upstream_fd = -1 };
	const char *s = (const char *)data, *end = s + size;

	w.req = proxy_request_new("GET", "http://127.0.0.1:1/");
	w.stream = stream_new(STREAM_CAPACITY);
	if (w.req == NULL || w.stream == NULL)
		abort();
	while (s < end && !w.published) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t len = nl ? (size_t)(nl + 1 - s) : (size_t)(end - s);
		char *line = malloc(len);
		if (line == NULL)
			abort();
		memcpy(line, s, len);
		size_t took = on_header(line, 1, len, &w);
		free(line);
		s += len;
		if (took != len)
			break; /* curl ends the transfer */
	}
	if (w.published && s < end) {
		size_t len = (size_t)(end - s);
		char *body = malloc(len);
		if (body == NULL)
			abort();
		memcpy(body, s, len);
		on_body(body, 1, len, &w);
		free(body);
	}
	release_held(&w);
	stream_head_free(w.head);
	stream_head_free(w.held);
	free(w.held_body);
	stream_release(w.stream);
	stream_release(w.stream);
	proxy_request_free(w.req);
	return 0;
}
