/* ratelimit — see ratelimit.h.
 *
 * Per key, a ring of the last admission times (at most max of them): n
 * requests are admitted when at most max - n of them lie in the window
 * (now - window, now], and then n copies of now are logged.  Keys are
 * few (tools x clients), so they live in a plain list under one mutex;
 * walking it to find a key also drops every key whose admissions have all
 * expired. */
#include "config.h"

#include "ratelimit.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct rl_key {
	struct rl_key *next;
	char *name;         /* owned copy */
	uint64_t *t;        /* ring of admission times, oldest at head */
	unsigned cap;       /* the max it was sized for */
	unsigned head;
	unsigned count;
	uint64_t window_ms; /* of the last admission, to expire it lazily */
};

struct ratelimit {
	pthread_mutex_t lock; /* guards keys and everything they hold */
	struct rl_key *keys;
};

struct ratelimit *ratelimit_new(void)
{
	struct ratelimit *rl = calloc(1, sizeof(*rl));

	if (rl == NULL)
		return NULL;
	if (pthread_mutex_init(&rl->lock, NULL) != 0) {
		free(rl);
		return NULL;
	}
	return rl;
}

static void key_free(struct rl_key *k)
{
	free(k->name);
	free(k->t);
	free(k);
}

void ratelimit_free(struct ratelimit *rl)
{
	struct rl_key *k, *next;

	if (rl == NULL)
		return;
	for (k = rl->keys; k != NULL; k = next) {
		next = k->next;
		key_free(k);
	}
	pthread_mutex_destroy(&rl->lock);
	free(rl);
}

static uint64_t newest(const struct rl_key *k)
{
	return k->t[(k->head + k->count - 1) % k->cap];
}

/* Times never run backwards within a key: callers read the clock before
 * taking the lock, so a later admission can carry an earlier now. */
static uint64_t key_now(const struct rl_key *k, uint64_t now)
{
	if (k->count > 0 && newest(k) > now)
		return newest(k);
	return now;
}

/* Drop the admissions that have left (now - window, now]. */
static void expire(struct rl_key *k, uint64_t now)
{
	while (k->count > 0 && now - k->t[k->head] >= k->window_ms) {
		k->head = (k->head + 1) % k->cap;
		k->count--;
	}
}

/* Resize the ring for a new max, keeping the newest admissions. */
static int resize(struct rl_key *k, unsigned max)
{
	uint64_t *t = malloc((size_t)max * sizeof(*t));
	unsigned keep = k->count < max ? k->count : max;
	unsigned skip = k->count - keep;

	if (t == NULL)
		return -1;
	for (unsigned i = 0; i < keep; i++)
		t[i] = k->t[(k->head + skip + i) % k->cap];
	free(k->t);
	k->t = t;
	k->cap = max;
	k->head = 0;
	k->count = keep;
	return 0;
}

static struct rl_key *key_new(const char *name, unsigned max)
{
	struct rl_key *k = calloc(1, sizeof(*k));

	if (k == NULL)
		return NULL;
	if ((k->name = strdup(name)) == NULL ||
	    (k->t = malloc((size_t)max * sizeof(*k->t))) == NULL)
		goto fail;
	k->cap = max;
	return k;
fail:
	key_free(k);
	return NULL;
}

/* Find name, unlinking and freeing on the way every other key that has
 * nothing left in its window. */
static struct rl_key *find(struct ratelimit *rl, const char *name,
			   uint64_t now)
{
	struct rl_key **pp = &rl->keys, *found = NULL;

	while (*pp != NULL) {
		struct rl_key *k = *pp;
		if (strcmp(k->name, name) == 0) {
			found = k;
		} else {
			expire(k, key_now(k, now));
			if (k->count == 0) {
				*pp = k->next;
				key_free(k);
				continue;
			}
		}
		pp = &k->next;
	}
	return found;
}

static struct rl_key *get_key(struct ratelimit *rl, const char *name,
			      unsigned max, uint64_t now)
{
	struct rl_key *k = find(rl, name, now);

	if (k == NULL) {
		if ((k = key_new(name, max)) == NULL)
			return NULL;
		k->next = rl->keys;
		rl->keys = k;
	} else if (k->cap != max && resize(k, max) < 0) {
		return NULL;
	}
	return k;
}

/* Whole seconds, rounded up and at least 1, until the need oldest
 * admissions (1 <= need <= count) have expired. Never RATELIMIT_NEVER. */
static unsigned retry_after(const struct rl_key *k, unsigned need,
			    uint64_t now)
{
	uint64_t last = k->t[(k->head + need - 1) % k->cap];
	uint64_t ms = last + k->window_ms - now;
	uint64_t secs = (ms + 999) / 1000;

	if (secs == 0)
		return 1;
	return secs >= RATELIMIT_NEVER ? RATELIMIT_NEVER - 1 : (unsigned)secs;
}

/* Whether admit() logs what it admits, or only says whether it would. */
enum admission { PEEK, COMMIT };

/* n (1 <= n <= max) at now, all or none. */
static unsigned admit(struct ratelimit *rl, const char *key, unsigned n,
		      unsigned max, uint64_t window_ms, uint64_t now,
		      enum admission how)
{
	struct rl_key *k = get_key(rl, key, max, now);

	if (k == NULL)
		return 1; /* out of memory: refuse, fail closed */
	now = key_now(k, now);
	k->window_ms = window_ms;
	expire(k, now);
	if (k->count > max - n)
		return retry_after(k, k->count - (max - n), now);
	for (unsigned i = 0; how == COMMIT && i < n; i++) {
		k->t[(k->head + k->count) % k->cap] = now;
		k->count++;
	}
	return 0;
}

static unsigned admit_or_peek(struct ratelimit *rl, const char *key,
			      unsigned n, unsigned max, unsigned window_secs,
			      uint64_t now_ms, enum admission how)
{
	unsigned wait;

	if (rl == NULL || key == NULL)
		return 1;
	if (max == 0) /* nothing may be admitted (callers skip 0 = off) */
		return window_secs > 0 ? window_secs : 1;
	if (n > max)
		return RATELIMIT_NEVER;
	if (n == 0)
		return 0;
	pthread_mutex_lock(&rl->lock);
	wait = admit(rl, key, n, max, (uint64_t)window_secs * 1000, now_ms,
		     how);
	pthread_mutex_unlock(&rl->lock);
	return wait;
}

unsigned ratelimit_admit(struct ratelimit *rl, const char *key,
			 unsigned max, unsigned window_secs, uint64_t now_ms)
{
	return admit_or_peek(rl, key, 1, max, window_secs, now_ms, COMMIT);
}

unsigned ratelimit_admit_n(struct ratelimit *rl, const char *key,
			   unsigned n, unsigned max, unsigned window_secs,
			   uint64_t now_ms)
{
	return admit_or_peek(rl, key, n, max, window_secs, now_ms, COMMIT);
}

unsigned ratelimit_wait(struct ratelimit *rl, const char *key, unsigned n,
			unsigned max, unsigned window_secs, uint64_t now_ms)
{
	return admit_or_peek(rl, key, n, max, window_secs, now_ms, PEEK);
}

unsigned ratelimit_admit_all(struct ratelimit *rl,
			     const struct ratelimit_limit *lim, size_t count,
			     unsigned n, int commit, uint64_t now_ms,
			     size_t *refused)
{
	unsigned worst = 0;
	size_t i;

	if (rl == NULL)
		return 1;
	for (i = 0; i < count; i++)
		if (lim[i].max > 0 && n > lim[i].max) {
			if (refused != NULL)
				*refused = i;
			return RATELIMIT_NEVER;
		}
	if (n == 0)
		return 0;
	pthread_mutex_lock(&rl->lock);
	for (i = 0; i < count; i++) {
		unsigned w = lim[i].max == 0 ? 0 :
			admit(rl, lim[i].key, n, lim[i].max,
			      (uint64_t)lim[i].window_secs * 1000, now_ms,
			      PEEK);
		if (w > worst) {
			worst = w;
			if (refused != NULL)
				*refused = i;
		}
	}
	/* a peek may have dropped an empty key that the commit makes again:
	 * out of memory then refuses (what is logged stays, failing closed) */
	for (i = 0; worst == 0 && commit && i < count; i++)
		if (lim[i].max > 0)
			worst = admit(rl, lim[i].key, n, lim[i].max,
				      (uint64_t)lim[i].window_secs * 1000,
				      now_ms, COMMIT);
	pthread_mutex_unlock(&rl->lock);
	return worst;
}
