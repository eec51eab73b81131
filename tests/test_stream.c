/* Unit tests of stream.c: real threads, a real socket pair for the client. */
#include "config.h"

#include <CUnit/Basic.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "stream.h"
#include "cu_run.h"

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

static struct stream_head *make_head(int status)
{
	struct stream_head *h = calloc(1, sizeof(*h));
	h->status = status;
	h->content_length = -1;
	return h;
}

static void test_bytes_in_order_then_end(void)
{
	struct stream *s = stream_new(1024);
	char buf[64];

	CU_ASSERT_EQUAL(stream_push(s, "abc", 3), 0);
	CU_ASSERT_EQUAL(stream_push(s, "defg", 4), 0);
	stream_finish(s, 1);
	CU_ASSERT_EQUAL(stream_read(s, -1, buf, 5), 5);
	CU_ASSERT_EQUAL(memcmp(buf, "abcde", 5), 0);
	CU_ASSERT_EQUAL(stream_read(s, -1, buf, sizeof(buf)), 2);
	CU_ASSERT_EQUAL(memcmp(buf, "fg", 2), 0);
	CU_ASSERT_EQUAL(stream_read(s, -1, buf, sizeof(buf)), 0);
	stream_release(s);
	stream_release(s);
}

static void test_broken_end_is_error(void)
{
	struct stream *s = stream_new(1024);
	char buf[8];

	stream_push(s, "x", 1);
	stream_finish(s, 0);
	CU_ASSERT_EQUAL(stream_read(s, -1, buf, sizeof(buf)), 1);
	CU_ASSERT_EQUAL(stream_read(s, -1, buf, sizeof(buf)), -1);
	stream_release(s);
	stream_release(s);
}

/* A broken end counts against the producer only when nobody had
 * cancelled the stream first. */
static void test_broken_unless_cancelled_first(void)
{
	struct stream *a = stream_new(64), *b = stream_new(64);

	stream_finish(a, 0);
	CU_ASSERT(stream_was_broken(a));
	stream_cancel(b);
	stream_finish(b, 0);
	CU_ASSERT(!stream_was_broken(b));
	for (int i = 0; i < 2; i++) {
		stream_release(a);
		stream_release(b);
	}
}

/* Closed by the daemon: queued bytes still come, then a clean end; the
 * producer is cancelled. */
static void test_close_is_a_clean_end(void)
{
	struct stream *s = stream_new(64);
	char buf[16];

	CU_ASSERT_EQUAL(stream_push(s, "tail", 4), 0);
	stream_close(s);
	CU_ASSERT(stream_is_cancelled(s));
	CU_ASSERT_EQUAL(stream_push(s, "more", 4), -1);
	CU_ASSERT_EQUAL(stream_read(s, -1, buf, sizeof(buf)), 4);
	CU_ASSERT_EQUAL(stream_read(s, -1, buf, sizeof(buf)), 0);
	CU_ASSERT(!stream_was_broken(s));
	stream_release(s);
	stream_release(s);
}

/* offer never waits: it refuses what would pass the capacity, takes it
 * again once read, and tells a cancelled stream apart. */
static void test_offer_never_waits(void)
{
	struct stream *s = stream_new(8);
	char buf[16];

	CU_ASSERT_EQUAL(stream_offer(s, "0123456789", 10), 0); /* empty: ok */
	CU_ASSERT_EQUAL(stream_offer(s, "x", 1), -2);
	CU_ASSERT_EQUAL(stream_read(s, -1, buf, sizeof(buf)), 10);
	CU_ASSERT_EQUAL(stream_offer(s, "abcd", 4), 0);
	CU_ASSERT_EQUAL(stream_offer(s, "efgh", 4), 0);
	CU_ASSERT_EQUAL(stream_offer(s, "i", 1), -2);
	CU_ASSERT_EQUAL(stream_read(s, -1, buf, sizeof(buf)), 8);
	CU_ASSERT_EQUAL(memcmp(buf, "abcdefgh", 8), 0);
	stream_cancel(s);
	CU_ASSERT_EQUAL(stream_offer(s, "j", 1), -1);
	stream_release(s);
	stream_release(s);
}

struct producer {
	struct stream *s;
	int delay_ms;
	int pushes;
	size_t len;
	atomic_int done;
	int failed;
};

static void *produce(void *arg)
{
	struct producer *p = arg;
	char data[256];

	memset(data, 'z', sizeof(data));
	sleep_ms(p->delay_ms);
	for (int i = 0; i < p->pushes; i++) {
		if (stream_push(p->s, data, p->len) < 0) {
			p->failed = 1;
			break;
		}
		atomic_fetch_add(&p->done, 1);
	}
	if (!p->failed)
		stream_finish(p->s, 1);
	return NULL;
}

static void test_read_waits_for_push(void)
{
	struct stream *s = stream_new(1024);
	struct producer p = { .s = s, .delay_ms = 100, .pushes = 1, .len = 10 };
	pthread_t t;
	char buf[64];
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	pthread_create(&t, NULL, produce, &p);
	CU_ASSERT_EQUAL(stream_read(s, -1, buf, sizeof(buf)), 10);
	clock_gettime(CLOCK_MONOTONIC, &b);
	long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	CU_ASSERT(ms >= 90);
	CU_ASSERT_EQUAL(stream_read(s, -1, buf, sizeof(buf)), 0);
	pthread_join(t, NULL);
	stream_release(s);
	stream_release(s);
}

static void test_full_stream_blocks_producer(void)
{
	struct stream *s = stream_new(100);
	struct producer p = { .s = s, .pushes = 10, .len = 60 };
	pthread_t t;
	char buf[1000];
	size_t total = 0;
	ssize_t n;

	pthread_create(&t, NULL, produce, &p);
	sleep_ms(150);
	/* 60 fits; 60 more would pass the capacity of 100. */
	CU_ASSERT_EQUAL(atomic_load(&p.done), 1);
	while ((n = stream_read(s, -1, buf, sizeof(buf))) > 0)
		total += (size_t)n;
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(total, 600);
	pthread_join(t, NULL);
	CU_ASSERT_EQUAL(atomic_load(&p.done), 10);
	stream_release(s);
	stream_release(s);
}

static int hook_calls;
static void count_hook(void *arg)
{
	(void)arg;
	hook_calls++;
}

static void test_cancel_wakes_blocked_producer(void)
{
	struct stream *s = stream_new(10);
	struct producer p = { .s = s, .pushes = 5, .len = 10 };
	pthread_t t;

	hook_calls = 0;
	stream_set_cancel_hook(s, count_hook, NULL);
	pthread_create(&t, NULL, produce, &p);
	sleep_ms(100);
	stream_cancel(s);
	stream_cancel(s);
	pthread_join(t, NULL);
	CU_ASSERT_EQUAL(p.failed, 1);
	CU_ASSERT_EQUAL(hook_calls, 1);
	CU_ASSERT(stream_is_cancelled(s));
	stream_release(s);
	stream_release(s);
}

static void test_client_close_cancels(void)
{
	struct stream *s = stream_new(1024);
	int sv[2];
	char buf[8];

	hook_calls = 0;
	CU_ASSERT_EQUAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	stream_set_cancel_hook(s, count_hook, NULL);
	close(sv[1]);
	CU_ASSERT_EQUAL(stream_read(s, sv[0], buf, sizeof(buf)), -1);
	CU_ASSERT(stream_is_cancelled(s));
	CU_ASSERT_EQUAL(hook_calls, 1);
	CU_ASSERT_EQUAL(stream_push(s, "x", 1), -1);
	close(sv[0]);
	stream_release(s);
	stream_release(s);
}

static void test_client_data_is_not_a_close(void)
{
	struct stream *s = stream_new(1024);
	struct producer p = { .s = s, .delay_ms = 100, .pushes = 1, .len = 4 };
	pthread_t t;
	int sv[2];
	char buf[8];

	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	CU_ASSERT_EQUAL(write(sv[1], "GET / HTTP/1.1\r\n", 16), 16);
	pthread_create(&t, NULL, produce, &p);
	CU_ASSERT_EQUAL(stream_read(s, sv[0], buf, sizeof(buf)), 4);
	pthread_join(t, NULL);
	close(sv[0]);
	close(sv[1]);
	stream_release(s);
	stream_release(s);
}

static void test_head_and_failure(void)
{
	struct stream *s = stream_new(1024);
	const struct stream_head *h = NULL;
	enum stream_failure why = STREAM_FAIL_NONE;
	char msg[64];

	CU_ASSERT_EQUAL(stream_publish_head(s, make_head(201)), 0);
	CU_ASSERT_EQUAL(stream_wait_head(s, -1, &h, &why, msg, sizeof(msg)), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(h);
	CU_ASSERT_EQUAL(h->status, 201);
	stream_release(s);
	stream_release(s);

	s = stream_new(1024);
	stream_fail(s, STREAM_FAIL_TIMEOUT, "too slow");
	CU_ASSERT_EQUAL(stream_wait_head(s, -1, &h, &why, msg, sizeof(msg)), -1);
	CU_ASSERT_EQUAL(why, STREAM_FAIL_TIMEOUT);
	CU_ASSERT_STRING_EQUAL(msg, "too slow");
	stream_release(s);
	stream_release(s);
}

static void test_publish_after_cancel_is_refused(void)
{
	struct stream *s = stream_new(1024);

	stream_cancel(s);
	CU_ASSERT_EQUAL(stream_publish_head(s, make_head(200)), -1);
	stream_release(s);
	stream_release(s);
}

int main(void)
{
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite suite = CU_add_suite("stream", NULL, NULL);
	CU_add_test(suite, "bytes in order, then end", test_bytes_in_order_then_end);
	CU_add_test(suite, "broken end is an error", test_broken_end_is_error);
	CU_add_test(suite, "offer never waits", test_offer_never_waits);
	CU_add_test(suite, "close is a clean end", test_close_is_a_clean_end);
	CU_add_test(suite, "broken unless cancelled first",
		    test_broken_unless_cancelled_first);
	CU_add_test(suite, "read waits for a push", test_read_waits_for_push);
	CU_add_test(suite, "full stream blocks the producer",
		    test_full_stream_blocks_producer);
	CU_add_test(suite, "cancel wakes a blocked producer",
		    test_cancel_wakes_blocked_producer);
	CU_add_test(suite, "client close cancels", test_client_close_cancels);
	CU_add_test(suite, "client data is not a close",
		    test_client_data_is_not_a_close);
	CU_add_test(suite, "head and failure", test_head_and_failure);
	CU_add_test(suite, "publish after cancel is refused",
		    test_publish_after_cancel_is_refused);
	return cu_run();
}
