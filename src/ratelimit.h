/* ratelimit — sliding-window request limits, one window per key.
 *
 * At most max requests are admitted in any window_secs long interval
 * (exactly: a log of admission times per key, bounded by max). Thread-safe.
 * Keys are copied; a key's state is dropped once its window is empty. */
#ifndef CARAPACE_RATELIMIT_H
#define CARAPACE_RATELIMIT_H

#include <stdint.h>

struct ratelimit;

struct ratelimit *ratelimit_new(void);      /* NULL on out of memory */
void ratelimit_free(struct ratelimit *rl);

/* Admit one request for key at now_ms (a monotonic clock). 0: admitted.
 * Otherwise the whole seconds (>= 1) until one would be: Retry-After. */
unsigned ratelimit_take(struct ratelimit *rl, const char *key, unsigned max,
			unsigned window_secs, uint64_t now_ms);

#endif
