/* test_curl_nopair — the socketpair() that src/curl_nopair.c defines:
 * libcurl's wake-up pair is refused inside curl_nopair_multi_init() only
 * (0 descriptors for such a handle), the real call everywhere else, and
 * the libcurl behaviour it relies on is still there (a plain multi handle
 * costs exactly the pair; one without it still waits). */
#include "config.h"

#include <CUnit/Basic.h>
#include <curl/curl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cu_run.h"
#include "curl_nopair.h"
#include "testutil.h"

static int fds(void)
{
	return tu_proc_fds(getpid());
}

static void test_nopair_costs_nothing(void)
{
	int before = fds();
	CURLM *m = curl_nopair_multi_init();

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	CU_ASSERT_EQUAL(fds(), before);
	/* no pair to wake it by: the capability given up */
	CU_ASSERT_NOT_EQUAL(curl_multi_wakeup(m), CURLM_OK);
	curl_multi_cleanup(m);
	CU_ASSERT_EQUAL(fds(), before);
}

/* Why the module exists: should a libcurl stop making the pair, this
 * fails and the interposition can go. */
static void test_plain_costs_the_pair(void)
{
	int before = fds();
	CURLM *m = curl_multi_init();

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	CU_ASSERT_EQUAL(fds(), before + 2);
	CU_ASSERT_EQUAL(curl_multi_wakeup(m), CURLM_OK);
	curl_multi_cleanup(m);
	CU_ASSERT_EQUAL(fds(), before);
}

/* Outside curl_nopair_multi_init(), socketpair() is the system call. */
static void test_socketpair_is_real(void)
{
	int sv[2];
	char c = 0;

	curl_multi_cleanup(curl_nopair_multi_init()); /* the flag came down */
	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	CU_ASSERT_EQUAL(write(sv[0], "x", 1), 1);
	CU_ASSERT_EQUAL(read(sv[1], &c, 1), 1);
	CU_ASSERT_EQUAL(c, 'x');
	close(sv[0]);
	close(sv[1]);
}

static void *make_pair(void *arg)
{
	int *sv = arg;

	return (void *)(long)socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
}

/* ... on other threads too (the flag is the calling thread's). */
static void test_socketpair_on_a_thread(void)
{
	int sv[2] = { -1, -1 };
	pthread_t t;
	void *rc = (void *)-1L;

	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, make_pair, sv), 0);
	pthread_join(t, &rc);
	CU_ASSERT_EQUAL(rc, NULL);
	CU_ASSERT(sv[0] >= 0 && sv[1] >= 0);
	close(sv[0]);
	close(sv[1]);
}

/* curl_multi_wait on a handle without the pair still waits on the fds it
 * is given (the worker's watch of its client). */
static void test_nopair_waits(void)
{
	int sv[2], n = -1;
	CURLM *m = curl_nopair_multi_init();

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	CU_ASSERT_EQUAL(write(sv[0], "x", 1), 1);
	struct curl_waitfd w = { .fd = sv[1], .events = CURL_WAIT_POLLIN };
	CU_ASSERT_EQUAL(curl_multi_wait(m, &w, 1, 5000, &n), CURLM_OK);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT(w.revents & CURL_WAIT_POLLIN);
	curl_multi_cleanup(m);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	CU_pSuite s;

	if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK ||
	    CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("curl_nopair", NULL, NULL);
	if (s == NULL ||
	    !CU_add_test(s, "a multi handle without the pair: 0 fds",
			 test_nopair_costs_nothing) ||
	    !CU_add_test(s, "a plain one costs the pair (libcurl 7.88)",
			 test_plain_costs_the_pair) ||
	    !CU_add_test(s, "socketpair() outside is the real one",
			 test_socketpair_is_real) ||
	    !CU_add_test(s, "socketpair() on another thread",
			 test_socketpair_on_a_thread) ||
	    !CU_add_test(s, "curl_multi_wait without the pair",
			 test_nopair_waits)) {
		CU_cleanup_registry();
		return 1;
	}
	int rc = cu_run();
	curl_global_cleanup();
	return rc;
}
