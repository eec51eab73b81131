/* proxy_pool — see proxy_pool.h.
 *
 * A finished transfer's multi handle keeps its upstream connection in its
 * connection cache. Parking the (multi, easy) pair lets the next request
 * to the same origin skip the connect and curl's set-up. Only cleanly
 * finished transfers are parked; a handle is used by one worker at a time
 * (libcurl-thread(3): handles may move between threads, never be shared). */
#include "config.h"

#include "proxy_pool.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "curl_nopair.h"
#include "proxy.h"

#define POOL_MAX_IDLE 64

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct proxy_handle *pool;
static unsigned pool_idle;

static void origin_of(const char *url, char *out, size_t len)
{
	const char *host = strstr(url, "://");
	size_t n = host ? (size_t)(host + 3 - url) + strcspn(host + 3, "/?#") :
			  strlen(url);

	snprintf(out, len, "%.*s", (int)n, url);
}

static void handle_destroy(struct proxy_handle *h)
{
	curl_easy_cleanup(h->easy);
	curl_multi_cleanup(h->multi);
	free(h);
}

struct proxy_handle *proxy_pool_take(const char *url)
{
	char origin[256];
	struct proxy_handle *h = NULL;

	origin_of(url, origin, sizeof(origin));
	pthread_mutex_lock(&pool_lock);
	for (struct proxy_handle **p = &pool; *p != NULL; p = &(*p)->next) {
		if (strcmp((*p)->origin, origin) == 0) {
			h = *p;
			*p = h->next;
			pool_idle--;
			break;
		}
	}
	pthread_mutex_unlock(&pool_lock);
	if (h != NULL) {
		curl_easy_reset(h->easy); /* options go, the connection stays */
		return h;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	snprintf(h->origin, sizeof(h->origin), "%s", origin);
	h->opened_fd = -1;
	h->multi = curl_nopair_multi_init();
	h->easy = curl_easy_init();
	if (h->multi == NULL || h->easy == NULL) {
		handle_destroy(h);
		return NULL;
	}
	return h;
}

void proxy_pool_give(struct proxy_handle *h, int reusable)
{
	if (reusable) {
		pthread_mutex_lock(&pool_lock);
		if (pool_idle < POOL_MAX_IDLE) {
			h->next = pool;
			pool = h;
			pool_idle++;
			h = NULL;
		}
		pthread_mutex_unlock(&pool_lock);
	}
	if (h != NULL)
		handle_destroy(h);
}

void proxy_pool_drain(void)
{
	pthread_mutex_lock(&pool_lock);
	struct proxy_handle *h = pool;
	pool = NULL;
	pool_idle = 0;
	pthread_mutex_unlock(&pool_lock);
	while (h != NULL) {
		struct proxy_handle *next = h->next;
		handle_destroy(h);
		h = next;
	}
}

