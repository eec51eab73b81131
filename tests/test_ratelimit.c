/* Unit tests of ratelimit.c: the clock is driven by hand, never slept. */
#include "config.h"

#include <CUnit/Basic.h>
#include <pthread.h>
#include <stdio.h>

#include "ratelimit.h"
#include "cu_run.h"

#define T0 1000000u /* an arbitrary monotonic start, in ms */

static void test_exact_max(void)
{
	struct ratelimit *rl = ratelimit_new();

	CU_ASSERT_PTR_NOT_NULL_FATAL(rl);
	for (unsigned i = 0; i < 5; i++)
		CU_ASSERT_EQUAL(ratelimit_admit(rl, "sig", 5, 60, T0 + i), 0);
	/* first admission at T0, so one is free at T0 + 60 s */
	CU_ASSERT_EQUAL(ratelimit_admit(rl, "sig", 5, 60, T0 + 10), 60);
	CU_ASSERT_EQUAL(ratelimit_admit(rl, "sig", 5, 60, T0 + 30000), 30);
	CU_ASSERT_EQUAL(ratelimit_admit(rl, "sig", 5, 60, T0 + 59001), 1);
	CU_ASSERT_EQUAL(ratelimit_admit(rl, "sig", 5, 60, T0 + 59999), 1);
	ratelimit_free(rl);
}

static void test_recovery(void)
{
	struct ratelimit *rl = ratelimit_new();

	CU_ASSERT_PTR_NOT_NULL_FATAL(rl);
	CU_ASSERT_EQUAL(ratelimit_admit(rl, "k", 2, 10, T0), 0);
	CU_ASSERT_EQUAL(ratelimit_admit(rl, "k", 2, 10, T0 + 4000), 0);
	CU_ASSERT_EQUAL(ratelimit_admit(rl, "k", 2, 10, T0 + 5000), 5);
	/* the window is (now - 10 s, now]: T0 leaves it at T0 + 10 s */
	CU_ASSERT_EQUAL(ratelimit_admit(rl, "k", 2, 10, T0 + 10000), 0);
	CU_ASSERT_EQUAL(ratelimit_admit(rl, "k", 2, 10, T0 + 10001), 4);
	CU_ASSERT_EQUAL(ratelimit_admit(rl, "k", 2, 10, T0 + 14000), 0);
	CU_ASSERT_NOT_EQUAL(ratelimit_admit(rl, "k", 2, 10, T0 + 14000), 0);
	/* long idle: everything expired, a full window again */
	CU_ASSERT_EQUAL(ratelimit_admit(rl, "k", 2, 10, T0 + 100000), 0);
	CU_ASSERT_EQUAL(ratelimit_admit(rl, "k", 2, 10, T0 + 100000), 0);
	CU_ASSERT_EQUAL(ratelimit_admit(rl, "k", 2, 10, T0 + 100000), 10);
	ratelimit_free(rl);
}

static void test_independent_keys(void)
{
	struct ratelimit *rl = ratelimit_new();

	CU_ASSERT_PTR_NOT_NULL_FATAL(rl);
	CU_ASSERT_EQUAL(ratelimit_admit(rl, "a", 1, 60, T0), 0);
	CU_ASSERT_NOT_EQUAL(ratelimit_admit(rl, "a", 1, 60, T0), 0);
	CU_ASSERT_EQUAL(ratelimit_admit(rl, "b", 1, 60, T0), 0);
	CU_ASSERT_NOT_EQUAL(ratelimit_admit(rl, "b", 1, 60, T0), 0);
	CU_ASSERT_EQUAL(ratelimit_admit(rl, "c", 1, 1, T0), 0);
	/* c expires and is dropped while a is looked up; a still limited */
	CU_ASSERT_NOT_EQUAL(ratelimit_admit(rl, "a", 1, 60, T0 + 2000), 0);
	CU_ASSERT_EQUAL(ratelimit_admit(rl, "c", 1, 1, T0 + 2000), 0);
	CU_ASSERT_EQUAL(ratelimit_admit(rl, "a", 1, 60, T0 + 60000), 0);
	CU_ASSERT_EQUAL(ratelimit_admit(rl, "b", 1, 60, T0 + 60000), 0);
	ratelimit_free(rl);
}

static void test_max_changes(void)
{
	struct ratelimit *rl = ratelimit_new();

	CU_ASSERT_PTR_NOT_NULL_FATAL(rl);
	for (unsigned i = 0; i < 3; i++)
		CU_ASSERT_EQUAL(ratelimit_admit(rl, "k", 3, 60, T0 + i * 1000),
				0);
	CU_ASSERT_NOT_EQUAL(ratelimit_admit(rl, "k", 3, 60, T0 + 3000), 0);
	/* raised: room for two more, the three old ones still count */
	CU_ASSERT_EQUAL(ratelimit_admit(rl, "k", 5, 60, T0 + 4000), 0);
	CU_ASSERT_EQUAL(ratelimit_admit(rl, "k", 5, 60, T0 + 5000), 0);
	CU_ASSERT_EQUAL(ratelimit_admit(rl, "k", 5, 60, T0 + 6000), 54);
	/* lowered to 2: the newest two (T0+4 s, T0+5 s) decide */
	CU_ASSERT_EQUAL(ratelimit_admit(rl, "k", 2, 60, T0 + 7000), 57);
	CU_ASSERT_EQUAL(ratelimit_admit(rl, "k", 2, 60, T0 + 64000), 0);
	CU_ASSERT_EQUAL(ratelimit_admit(rl, "k", 2, 60, T0 + 64500), 1);
	/* max 0 admits nothing */
	CU_ASSERT_NOT_EQUAL(ratelimit_admit(rl, "z", 0, 60, T0), 0);
	ratelimit_free(rl);
}

static void test_clock_backwards(void)
{
	struct ratelimit *rl = ratelimit_new();

	CU_ASSERT_PTR_NOT_NULL_FATAL(rl);
	CU_ASSERT_EQUAL(ratelimit_admit(rl, "k", 2, 10, T0 + 5000), 0);
	/* a take that read the clock earlier but locked later */
	CU_ASSERT_EQUAL(ratelimit_admit(rl, "k", 2, 10, T0 + 4000), 0);
	CU_ASSERT_EQUAL(ratelimit_admit(rl, "k", 2, 10, T0 + 5000), 10);
	CU_ASSERT_EQUAL(ratelimit_admit(rl, "k", 2, 10, T0 + 15000), 0);
	ratelimit_free(rl);
}

#define THREADS 8
#define TRIES 5000
#define HAMMER_MAX 1000

struct hammer {
	struct ratelimit *rl;
	unsigned admitted;
};

static void *hammer(void *arg)
{
	struct hammer *h = arg;

	for (unsigned i = 0; i < TRIES; i++)
		if (ratelimit_admit(h->rl, "shared", HAMMER_MAX, 60, T0) == 0)
			h->admitted++;
	return NULL;
}

/* A batch of n takes n, all or none; its wait is until n would fit. */
static void test_take_n(void)
{
	struct ratelimit *rl = ratelimit_new();

	CU_ASSERT_PTR_NOT_NULL_FATAL(rl);
	CU_ASSERT_EQUAL(ratelimit_admit_n(rl, "k", 3, 5, 60, T0), 0);
	CU_ASSERT_EQUAL(ratelimit_admit_n(rl, "k", 1, 5, 60, T0 + 10000), 0);
	/* 4 in the window: 2 do not fit, and taking them takes nothing */
	CU_ASSERT_EQUAL(ratelimit_admit_n(rl, "k", 2, 5, 60, T0 + 20000), 40);
	CU_ASSERT_EQUAL(ratelimit_admit_n(rl, "k", 2, 5, 60, T0 + 20000), 40);
	/* 4 need the three of T0 to leave; 5 the one of T0 + 10 s too */
	CU_ASSERT_EQUAL(ratelimit_admit_n(rl, "k", 4, 5, 60, T0 + 20000), 40);
	CU_ASSERT_EQUAL(ratelimit_admit_n(rl, "k", 5, 5, 60, T0 + 20000), 50);
	/* the fifth is still free */
	CU_ASSERT_EQUAL(ratelimit_admit_n(rl, "k", 1, 5, 60, T0 + 20000), 0);
	CU_ASSERT_EQUAL(ratelimit_admit(rl, "k", 5, 60, T0 + 20000), 40);
	/* T0's three leave: 3 fit, a fourth does not */
	CU_ASSERT_EQUAL(ratelimit_admit_n(rl, "k", 4, 5, 60, T0 + 60000), 10);
	CU_ASSERT_EQUAL(ratelimit_admit_n(rl, "k", 3, 5, 60, T0 + 60000), 0);
	CU_ASSERT_EQUAL(ratelimit_admit(rl, "k", 5, 60, T0 + 60000), 10);
	/* more than max never fits; zero always does and takes nothing */
	CU_ASSERT_EQUAL(ratelimit_admit_n(rl, "k", 6, 5, 60, T0 + 999999),
			RATELIMIT_NEVER);
	CU_ASSERT_EQUAL(ratelimit_admit_n(rl, "new", 6, 5, 60, T0),
			RATELIMIT_NEVER);
	CU_ASSERT_EQUAL(ratelimit_admit_n(rl, "z", 0, 1, 60, T0), 0);
	CU_ASSERT_EQUAL(ratelimit_admit_n(rl, "z", 1, 1, 60, T0), 0);
	CU_ASSERT_EQUAL(ratelimit_admit_n(rl, "z", 0, 1, 60, T0), 0);
	/* exactly max at once, into an empty window */
	CU_ASSERT_EQUAL(ratelimit_admit_n(rl, "m", 5, 5, 60, T0), 0);
	CU_ASSERT_EQUAL(ratelimit_admit(rl, "m", 5, 60, T0), 60);
	ratelimit_free(rl);
}

/* ratelimit_wait answers as a take would, and takes nothing. */
static void test_wait_takes_nothing(void)
{
	struct ratelimit *rl = ratelimit_new();

	CU_ASSERT_PTR_NOT_NULL_FATAL(rl);
	for (int i = 0; i < 10; i++)
		CU_ASSERT_EQUAL(ratelimit_wait(rl, "k", 2, 2, 60, T0), 0);
	CU_ASSERT_EQUAL(ratelimit_admit_n(rl, "k", 2, 2, 60, T0), 0);
	CU_ASSERT_EQUAL(ratelimit_wait(rl, "k", 1, 2, 60, T0 + 1000), 59);
	CU_ASSERT_EQUAL(ratelimit_wait(rl, "k", 3, 2, 60, T0),
			RATELIMIT_NEVER);
	CU_ASSERT_EQUAL(ratelimit_admit(rl, "k", 2, 60, T0 + 60000), 0);
	ratelimit_free(rl);
}

/* Batches from many threads never admit more than max calls. */
#define BATCH_THREADS 8
#define BATCH_MAX 1000

static void *batcher(void *arg)
{
	struct hammer *h = arg;

	for (unsigned n = 1; n < 200; n++)
		if (ratelimit_admit_n(h->rl, "b", n % 7 + 1, BATCH_MAX, 60,
				      T0) == 0)
			h->admitted += n % 7 + 1;
	return NULL;
}

static void test_threads(void)
{
	struct ratelimit *rl = ratelimit_new();
	struct hammer h[THREADS];
	pthread_t th[THREADS];
	unsigned total = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(rl);
	for (int i = 0; i < THREADS; i++) {
		h[i].rl = rl;
		h[i].admitted = 0;
		CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, hammer,
						     &h[i]),
				      0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		total += h[i].admitted;
	}
	CU_ASSERT_EQUAL(total, HAMMER_MAX);
	CU_ASSERT_EQUAL(ratelimit_admit(rl, "shared", HAMMER_MAX, 60, T0), 60);
	ratelimit_free(rl);
}

static void test_threads_batches(void)
{
	struct ratelimit *rl = ratelimit_new();
	struct hammer h[BATCH_THREADS];
	pthread_t th[BATCH_THREADS];
	unsigned total = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(rl);
	for (int i = 0; i < BATCH_THREADS; i++) {
		h[i].rl = rl;
		h[i].admitted = 0;
		CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, batcher,
						     &h[i]),
				      0);
	}
	for (int i = 0; i < BATCH_THREADS; i++) {
		pthread_join(th[i], NULL);
		total += h[i].admitted;
	}
	/* all-or-none: the window holds exactly what was admitted */
	CU_ASSERT(total <= BATCH_MAX);
	CU_ASSERT_EQUAL(ratelimit_admit_n(rl, "b", BATCH_MAX - total,
					  BATCH_MAX, 60, T0),
			0);
	CU_ASSERT_EQUAL(ratelimit_admit(rl, "b", BATCH_MAX, 60, T0), 60);
	ratelimit_free(rl);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("ratelimit", NULL, NULL);
	if (s == NULL ||
	    !CU_add_test(s, "exactly max per window", test_exact_max) ||
	    !CU_add_test(s, "recovery after the window", test_recovery) ||
	    !CU_add_test(s, "independent keys", test_independent_keys) ||
	    !CU_add_test(s, "max changes between calls", test_max_changes) ||
	    !CU_add_test(s, "clock read before the lock",
			 test_clock_backwards) ||
	    !CU_add_test(s, "n at once, all or none", test_take_n) ||
	    !CU_add_test(s, "wait takes nothing", test_wait_takes_nothing) ||
	    !CU_add_test(s, "8 threads on one key", test_threads) ||
	    !CU_add_test(s, "8 threads of batches", test_threads_batches)) {
		CU_cleanup_registry();
		return 1;
	}
	return cu_run();
}
