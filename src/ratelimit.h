/* ratelimit — sliding-window request limits, one window per key.
 *
 * At most max requests are admitted in any window_secs long interval
 * (exactly: a log of admission times per key, bounded by max); n
 * requests are admitted all at once or none. Thread-safe.
 * Keys are copied; a key's state is dropped once its window is empty. */
#ifndef CARAPACE_RATELIMIT_H
#define CARAPACE_RATELIMIT_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

struct ratelimit;

struct ratelimit *ratelimit_new(void);      /* NULL on out of memory */
void ratelimit_free(struct ratelimit *rl);

/* Never admitted, however long one waits: more than max at once. */
#define RATELIMIT_NEVER UINT_MAX

/* Admit one request for key at now_ms (a monotonic clock). 0: admitted.
 * Otherwise the whole seconds (>= 1) until one would be: Retry-After. */
unsigned ratelimit_admit(struct ratelimit *rl, const char *key,
			 unsigned max, unsigned window_secs, uint64_t now_ms);

/* Admit n requests at once (a JSON-RPC batch of n calls), all or none:
 * 0 when all n were admitted; else none is and the result is the
 * whole seconds (>= 1) until n would fit, or RATELIMIT_NEVER when n > max.
 * n == 0 is admitted and logs nothing. */
unsigned ratelimit_admit_n(struct ratelimit *rl, const char *key,
			   unsigned n, unsigned max, unsigned window_secs,
			   uint64_t now_ms);

/* What ratelimit_admit_n would answer, admitting nothing: to refuse early,
 * before a body whose size in calls is not known yet is read. */
unsigned ratelimit_wait(struct ratelimit *rl, const char *key, unsigned n,
			unsigned max, unsigned window_secs, uint64_t now_ms);

/* One limit a request counts against: its tool's, its client's. */
struct ratelimit_limit {
	const char *key;
	unsigned max;          /* 0: no limit, skipped */
	unsigned window_secs;
};

/* n requests on every limit of lim[0..count), all or none, under one
 * lock: 0 when admitted on all (logged only when commit). Otherwise
 * nothing is logged, the result is the longest wait among the limits
 * that refused (RATELIMIT_NEVER when n is more than one's max) and
 * *refused (may be NULL) is that limit's index. n == 0 is admitted. */
unsigned ratelimit_admit_all(struct ratelimit *rl,
			     const struct ratelimit_limit *lim, size_t count,
			     unsigned n, int commit, uint64_t now_ms,
			     size_t *refused);

#endif
