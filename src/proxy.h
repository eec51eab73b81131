/* proxy — one upstream HTTP transfer per worker thread, fed into a stream.
 *
 * The server builds a request, then proxy_start() runs it with libcurl on
 * a thread of the worker pool (workers.h), dedicated to it while it runs:
 * first its check (the body's policy: proxy_request_set_check), then the
 * transfer, one hand-off from the MHD thread in all. From proxy_start()
 * on, the request and everything it owns are the worker's alone.
 * The worker publishes the upstream's status and end-to-end headers the
 * moment they arrive, pushes every body byte as it is received (never
 * timed, never re-framed) and ends the stream when the upstream does.
 * Cancelling the stream aborts the transfer at once: the worker sleeps in
 * curl_multi_wait on the upstream socket and the client's (the MHD
 * connection is suspended meanwhile and sees nothing of its client), and
 * a cancel from another thread shuts the upstream socket down. A transfer
 * costs the two sockets and no other descriptor (curl_nopair.h). See
 * src/README, "The event loop". */
#ifndef CARAPACE_PROXY_H
#define CARAPACE_PROXY_H

#include <stddef.h>

#include "stream.h"

struct proxy_request;
struct mcplist;

/* Once, before any other thread starts / after all have stopped. */
int proxy_global_init(void);
void proxy_global_cleanup(void);

/* method and url are copied. NULL on out of memory. */
struct proxy_request *proxy_request_new(const char *method, const char *url);
/* A client header; hop-by-hop ones, Host and framing headers are dropped
 * here (Host becomes the upstream's own), and so is one that the client's
 * Connection names or that the host sends itself. Names compare as
 * header_name_eq() does. 0, or -1 on out of memory. */
int proxy_request_add_header(struct proxy_request *r, const char *name,
			     const char *value);
/* A header of the host's (inject_headers, X-Forwarded-For): sent whatever
 * the client's headers say. Hop-by-hop names are still dropped. */
int proxy_request_add_host_header(struct proxy_request *r, const char *name,
				  const char *value);
/* Takes ownership of body (malloc'd; may be NULL when len is 0). */
void proxy_request_set_body(struct proxy_request *r, char *body, size_t len);
/* The body, borrowed (NULL with *len 0: none). */
const char *proxy_request_body(const struct proxy_request *r, size_t *len);

/* What must pass before the request goes upstream (the policy on its
 * body), run on the worker before anything else, so that its cost delays
 * this request only, never the MHD thread's other connections. It may
 * read and replace r's body. 0: the transfer starts, on the same thread;
 * -1: it has answered through s itself (a refusal's head and body, or
 * stream_fail) and nothing goes upstream. */
typedef int proxy_check_fn(void *arg, struct proxy_request *r,
			   struct stream *s);
/* arg belongs to r from here on: free_arg(arg) when r is freed, whether
 * the check ran or not (free_arg NULL: nothing to free). */
void proxy_request_set_check(struct proxy_request *r, proxy_check_fn *check,
			     void *arg, void (*free_arg)(void *));
/* The MCP list filter (mcplist.h) for the answer, taken; the check sets
 * it once it has read the client's list requests. NULL: none. */
void proxy_request_set_list_filter(struct proxy_request *r,
				   struct mcplist *list);
/* A text/event-stream answer silent for secs gets a keep-alive comment
 * at an event boundary (relay.h); 0: never. */
void proxy_request_set_keepalive(struct proxy_request *r, unsigned secs);
/* The upstream's TLS (a tool's upstream_ca, upstream_insecure): ca a PEM
 * file its certificate must chain to (copied; NULL: curl's CA store);
 * insecure: neither its certificate nor its name is checked. 0, or -1 on
 * out of memory. */
int proxy_request_set_tls(struct proxy_request *r, const char *ca,
			  int insecure);
/* head: seconds for connect + response head; idle: seconds without a body
 * byte before the transfer is cut (0: never). */
void proxy_request_set_timeouts(struct proxy_request *r, unsigned head,
				unsigned idle);
void proxy_request_free(struct proxy_request *r);

/* Starts the worker. 0: it owns r and the producer reference of s.
 * -1: nothing was taken (no thread could be made). */
int proxy_start(struct proxy_request *r, struct stream *s);

/* Closes the upstream connections kept for reuse. Call once no worker
 * runs (before proxy_global_cleanup). */
void proxy_pool_drain(void);

#endif
