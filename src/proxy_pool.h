/* proxy_pool — the upstream handles proxy.c parks between transfers: a
 * (multi, easy) pair whose multi handle keeps its upstream connection, so
 * the next request to the same origin skips the connect and curl's
 * set-up. Only cleanly finished transfers are parked; a handle is used by
 * one worker at a time. All functions are thread-safe. */
#ifndef CARAPACE_PROXY_POOL_H
#define CARAPACE_PROXY_POOL_H

#include <curl/curl.h>

struct proxy_handle {
	struct proxy_handle *next;
	char origin[256];          /* scheme://host:port of its connection */
	CURLM *multi;
	CURL *easy;
	int opened_fd;             /* see proxy.c's open_socket(); -1 */
};

/* A parked handle for url's origin (its options reset), or a new one;
 * NULL on out of memory. */
struct proxy_handle *proxy_pool_take(const char *url);
/* Parks h when reusable (and the pool has room), else frees it. */
void proxy_pool_give(struct proxy_handle *h, int reusable);

#endif
