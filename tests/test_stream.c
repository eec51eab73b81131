/* Unit tests of stream.c: real threads, a real socket pair for the client. */
#include "config.h"

#include <CUnit/Basic.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "stream.h"
#include "cu_run.h"
#include "testutil.h"

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
	stream_finish(s, STREAM_END_WHOLE);
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
	stream_finish(s, STREAM_END_BROKEN);
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

	stream_finish(a, STREAM_END_BROKEN);
	CU_ASSERT(stream_was_broken(a));
	stream_cancel(b);
	stream_finish(b, STREAM_END_BROKEN);
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
	atomic_int tid;		/* the producer thread's, once it runs */
};

static void *produce(void *arg)
{
	struct producer *p = arg;
	char data[256];

	memset(data, 'z', sizeof(data));
	atomic_store(&p->tid, (int)gettid());
	tu_sleep_ms(p->delay_ms);
	for (int i = 0; i < p->pushes; i++) {
		if (stream_push(p->s, data, p->len) < 0) {
			p->failed = 1;
			break;
		}
		atomic_fetch_add(&p->done, 1);
	}
	if (!p->failed)
		stream_finish(p->s, STREAM_END_WHOLE);
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

/* Whether the producer has made its first push and sleeps: blocked in
 * the next one (the only place it can sleep then). */
static int producer_blocked(void *arg)
{
	struct producer *p = arg;
	char path[64], stat[256];
	int tid = atomic_load(&p->tid);
	FILE *f;

	if (tid == 0 || atomic_load(&p->done) < 1)
		return 0;
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", tid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	size_t n = fread(stat, 1, sizeof(stat) - 1, f);
	fclose(f);
	stat[n] = '\0';
	const char *state = strrchr(stat, ')');
	return state != NULL && state[1] == ' ' && state[2] == 'S';
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
	CU_ASSERT(tu_wait_until(producer_blocked, &p, 10000) == 0);
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
	CU_ASSERT(tu_wait_until(producer_blocked, &p, 10000) == 0);
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
	struct error msg;

	CU_ASSERT_EQUAL(stream_publish_head(s, make_head(201)), 0);
	CU_ASSERT_EQUAL(stream_wait_head(s, -1, &h, &why, &msg), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(h);
	CU_ASSERT_EQUAL(h->status, 201);
	stream_release(s);
	stream_release(s);

	s = stream_new(1024);
	stream_fail(s, STREAM_FAIL_TIMEOUT, "too slow");
	CU_ASSERT_EQUAL(stream_wait_head(s, -1, &h, &why, &msg), -1);
	CU_ASSERT_EQUAL(why, STREAM_FAIL_TIMEOUT);
	CU_ASSERT_STRING_EQUAL(msg.msg, "too slow");
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

/* ---- the send timeout and the producer's deadline ---- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static const char fill[256];

/* One producer call on its own thread, so that a test can wait for it
 * with a deadline instead of hanging when it never returns. */
enum call_kind { CALL_PUSH, CALL_FINISH };

struct call {
	struct stream *s;
	enum call_kind kind;
	size_t len;           /* CALL_PUSH: bytes, at most sizeof(fill) */
	uint64_t deadline_ms; /* CALL_PUSH: for stream_push_until */
	int rc;               /* CALL_PUSH: what it returned */
	uint64_t start_ms;
	uint64_t end_ms;
	atomic_int done;
	pthread_t t;
};

static void *run_call(void *arg)
{
	struct call *c = arg;

	if (c->kind == CALL_PUSH)
		c->rc = stream_push_until(c->s, fill, c->len, c->deadline_ms);
	else
		stream_finish(c->s, STREAM_END_WHOLE);
	c->end_ms = now_ms();
	atomic_store(&c->done, 1);
	return NULL;
}

static void call_start(struct call *c)
{
	c->start_ms = now_ms();
	CU_ASSERT_EQUAL_FATAL(pthread_create(&c->t, NULL, run_call, c), 0);
}

/* 1 when the call returned within ms. Else 0, and the stream is
 * cancelled to free the call. Joins its thread either way. */
static int call_done(void *arg)
{
	return atomic_load(&((struct call *)arg)->done);
}

static int call_wait(struct call *c, unsigned ms)
{
	tu_wait_until(call_done, c, ms);
	int done = atomic_load(&c->done);
	if (!done)
		stream_cancel(c->s);
	pthread_join(c->t, NULL);
	return done;
}

/* A consumer thread: after delay_ms, reads up to chunk (<= 256) bytes
 * every every_ms until it has want bytes (0: until stop), the stream ends
 * or stop is set. */
struct reader {
	struct stream *s;
	int delay_ms;
	int every_ms;
	size_t chunk;
	size_t want;
	atomic_int stop;
	size_t total;
	pthread_t t;
};

static void *consume(void *arg)
{
	struct reader *r = arg;
	char buf[256];

	tu_sleep_ms(r->delay_ms);
	while (!atomic_load(&r->stop) &&
	       (r->want == 0 || r->total < r->want)) {
		ssize_t n = stream_read(r->s, -1, buf, r->chunk);
		if (n <= 0)
			break;
		r->total += (size_t)n;
		tu_sleep_ms(r->every_ms);
	}
	return NULL;
}

static void reader_start(struct reader *r)
{
	CU_ASSERT_EQUAL_FATAL(pthread_create(&r->t, NULL, consume, r), 0);
}

/* A push into a full stream that nobody reads gives up at its deadline
 * with -2 and queues nothing; that is the producer's timer, not a stall.
 * Also when a (longer) send timeout is set. */
static void test_push_deadline_gives_up(void)
{
	static const unsigned send_timeouts[] = { 0, 5 };

	for (size_t i = 0; i < 2; i++) {
		struct stream *s = stream_new(100);
		char buf[256];

		stream_set_send_timeout(s, send_timeouts[i]);
		CU_ASSERT_EQUAL(stream_push(s, fill, 128), 0);
		struct call c = { .s = s, .kind = CALL_PUSH, .len = 1 };
		c.deadline_ms = now_ms() + 300;
		call_start(&c);
		CU_ASSERT(call_wait(&c, 10000));
		CU_ASSERT_EQUAL(c.rc, -2);
		CU_ASSERT(c.end_ms >= c.deadline_ms);
		/* the push's own deadline, not the 5 s send timeout */
		CU_ASSERT(c.end_ms < c.deadline_ms + 4000);
		CU_ASSERT_EQUAL(stream_was_stalled(s), 0);
		CU_ASSERT_EQUAL(stream_is_cancelled(s), 0);
		/* only the first push is queued */
		stream_close(s);
		CU_ASSERT_EQUAL(stream_read(s, -1, buf, sizeof(buf)), 128);
		stream_release(s);
		stream_release(s);
	}
}

/* Deadline 0 is none: the push waits for the reader, however long. */
static void test_push_without_deadline_waits(void)
{
	struct stream *s = stream_new(100);
	struct reader r = { .s = s, .delay_ms = 200, .chunk = 256, .want = 1 };
	char buf[8];

	CU_ASSERT_EQUAL(stream_push(s, fill, 128), 0);
	struct call c = { .s = s, .kind = CALL_PUSH, .len = 1 };
	call_start(&c);
	reader_start(&r);
	CU_ASSERT(call_wait(&c, 10000));
	CU_ASSERT_EQUAL(c.rc, 0);
	CU_ASSERT(c.end_ms >= c.start_ms + 150);
	pthread_join(r.t, NULL);
	CU_ASSERT_EQUAL(r.total, 128);
	stream_close(s); /* reads what is queued, then never waits */
	CU_ASSERT_EQUAL(stream_read(s, -1, buf, sizeof(buf)), 1);
	stream_release(s);
	stream_release(s);
}

/* A client that takes nothing from a full stream for the send timeout
 * stalls it: the push fails, the stream is cancelled and the client's
 * socket is shut down, so its peer sees the end. */
/* A stream with a 1 s send timeout whose consumer waits with sv[0] as
 * its client socket (a socketpair: sv[1] is the client's end). */
static struct stream *stream_with_client(size_t capacity, int sv[2])
{
	struct stream *s = stream_new(capacity);
	const struct stream_head *h = NULL;
	enum stream_failure why = STREAM_FAIL_NONE;
	struct error msg;

	CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	stream_set_send_timeout(s, 1);
	CU_ASSERT_EQUAL(stream_publish_head(s, make_head(200)), 0);
	CU_ASSERT_EQUAL(stream_wait_head(s, sv[0], &h, &why, &msg),
			0);
	return s;
}

/* The client's end sees the end: the stream shut its socket down. Closes
 * both ends and releases both references of s. */
static void expect_client_shut_down(struct stream *s, int sv[2])
{
	struct pollfd pfd = { .fd = sv[1], .events = POLLIN };
	char byte;

	CU_ASSERT_EQUAL(poll(&pfd, 1, 5000), 1);
	CU_ASSERT_EQUAL(recv(sv[1], &byte, 1, MSG_DONTWAIT), 0);
	close(sv[0]);
	close(sv[1]);
	stream_release(s);
	stream_release(s);
}

static void test_silent_client_stalls(void)
{
	int sv[2];
	struct stream *s = stream_with_client(100, sv);

	CU_ASSERT_EQUAL(stream_push(s, fill, 128), 0);
	struct call c = { .s = s, .kind = CALL_PUSH, .len = 1 };
	call_start(&c);
	CU_ASSERT(call_wait(&c, 10000));
	CU_ASSERT_EQUAL(c.rc, -1);
	CU_ASSERT(c.end_ms >= c.start_ms + 900);
	CU_ASSERT_EQUAL(stream_was_stalled(s), 1);
	CU_ASSERT_EQUAL(stream_is_cancelled(s), 1);
	expect_client_shut_down(s, sv);
}

/* The send timer restarts whenever the client takes bytes: a client
 * taking 8 bytes every 300 ms never stalls, although each push waits
 * longer than the 1 s send timeout for room. */
static void test_reading_client_never_stalls(void)
{
	struct stream *s = stream_new(48);
	struct reader r = { .s = s, .every_ms = 300, .chunk = 8 };
	uint64_t start = now_ms(), longest = 0;
	int failed = 0;

	stream_set_send_timeout(s, 1);
	reader_start(&r);
	while (!failed && now_ms() < start + 3000) {
		uint64_t t = now_ms();
		failed = stream_push(s, fill, 48) != 0;
		if (now_ms() - t > longest)
			longest = now_ms() - t;
	}
	CU_ASSERT_EQUAL(failed, 0);
	CU_ASSERT_EQUAL(stream_was_stalled(s), 0);
	CU_ASSERT(longest >= 1200); /* the timer did have to restart */
	atomic_store(&r.stop, 1);
	stream_cancel(s); /* frees a reader waiting for bytes */
	pthread_join(r.t, NULL);
	stream_release(s);
	stream_release(s);
}

/* With a send timeout, finish returns once the client has taken every
 * queued byte (here in two reads, at ~300 and ~600 ms). */
static void test_finish_waits_for_drain(void)
{
	struct stream *s = stream_new(1024);
	struct reader r = { .s = s, .delay_ms = 300, .every_ms = 300,
			    .chunk = 50, .want = 100 };
	char buf[8];

	stream_set_send_timeout(s, 1);
	CU_ASSERT_EQUAL(stream_push(s, fill, 100), 0);
	struct call c = { .s = s, .kind = CALL_FINISH };
	call_start(&c);
	reader_start(&r);
	CU_ASSERT(call_wait(&c, 10000));
	CU_ASSERT(c.end_ms >= c.start_ms + 550);
	CU_ASSERT_EQUAL(stream_was_stalled(s), 0);
	pthread_join(r.t, NULL);
	CU_ASSERT_EQUAL(r.total, 100);
	CU_ASSERT_EQUAL(stream_read(s, -1, buf, sizeof(buf)), 0);
	stream_release(s);
	stream_release(s);
}

/* ... and stalls the stream when the client takes nothing for it. */
static void test_finish_stalls_on_silent_client(void)
{
	struct stream *s = stream_new(1024);

	stream_set_send_timeout(s, 1);
	CU_ASSERT_EQUAL(stream_push(s, fill, 100), 0);
	struct call c = { .s = s, .kind = CALL_FINISH };
	call_start(&c);
	CU_ASSERT(call_wait(&c, 10000));
	CU_ASSERT(c.end_ms >= c.start_ms + 900);
	CU_ASSERT_EQUAL(stream_was_stalled(s), 1);
	stream_release(s);
	stream_release(s);
}

/* A stream the daemon closed (reload, stop) still owes its client the
 * queue; a client that takes none of it is stalled all the same, and its
 * socket shut down, so its connection cannot hang on. */
static void test_closed_stream_stalls_silent_client(void)
{
	int sv[2];
	struct stream *s = stream_with_client(1024, sv);

	CU_ASSERT_EQUAL(stream_push(s, fill, 100), 0);
	stream_close(s);
	struct call c = { .s = s, .kind = CALL_FINISH };
	call_start(&c);
	CU_ASSERT(call_wait(&c, 10000));
	CU_ASSERT_EQUAL(stream_was_stalled(s), 1);
	expect_client_shut_down(s, sv);
}

/* Without a send timeout, finish never waits for the client. */
static void test_finish_without_timeout_never_waits(void)
{
	struct stream *s = stream_new(1024);
	char buf[256];

	CU_ASSERT_EQUAL(stream_push(s, fill, 100), 0);
	struct call c = { .s = s, .kind = CALL_FINISH };
	call_start(&c);
	CU_ASSERT(call_wait(&c, 2000));
	CU_ASSERT_EQUAL(stream_was_stalled(s), 0);
	CU_ASSERT_EQUAL(stream_read(s, -1, buf, sizeof(buf)), 100);
	CU_ASSERT_EQUAL(stream_read(s, -1, buf, sizeof(buf)), 0);
	stream_release(s);
	stream_release(s);
}

/* ---- the parking consumer ---- */

static int parks, unparks;

static void park(void *arg)
{
	(void)arg;
	parks++;
}

static void unpark(void *arg)
{
	(void)arg;
	unparks++;
}

/* A whole short answer wakes a parked consumer once, and the consumer
 * then takes the head, every byte and the end without parking again. */
static void test_publish_whole_one_resume(void)
{
	struct stream *s = stream_new(8);
	const struct stream_head *head;
	enum stream_failure why;
	struct error err;
	char buf[64];

	parks = unparks = 0;
	stream_set_consumer(s, -1, park, unpark, NULL);
	CU_ASSERT_EQUAL(stream_try_head(s, &head, &why, &err), 1);
	/* longer than the capacity: the producer bounds it, not the queue */
	CU_ASSERT_EQUAL(stream_publish_whole(s, make_head(200),
					     "0123456789abcdef", 16), 0);
	CU_ASSERT_EQUAL(unparks, 1);
	CU_ASSERT_EQUAL(stream_try_head(s, &head, &why, &err), 0);
	CU_ASSERT_EQUAL(stream_try_read(s, buf, sizeof(buf)), 16);
	CU_ASSERT_EQUAL(stream_try_read(s, buf, sizeof(buf)), 0);
	CU_ASSERT_EQUAL(parks, 1);
	CU_ASSERT_EQUAL(unparks, 1);
	stream_cancel(s);
	stream_release(s);
	/* a cancelled stream takes nothing (the head is freed) */
	CU_ASSERT_EQUAL(stream_publish_whole(s, make_head(200), "x", 1), -1);
	stream_release(s);
}

/* An object attached by the producer is the consumer's once detached,
 * else dropped with the stream. */
static int dropped;

static void drop(void *obj, int closed)
{
	(void)obj;
	(void)closed;
	dropped++;
}

static void test_attach_detach_or_drop(void)
{
	struct stream *s = stream_new(8);
	int a, b;

	dropped = 0;
	stream_attach(s, &a, drop);
	CU_ASSERT_PTR_EQUAL(stream_detach(s), &a);
	CU_ASSERT_PTR_NULL(stream_detach(s));
	stream_attach(s, &b, drop);
	stream_release(s);
	CU_ASSERT_EQUAL(dropped, 0);
	stream_release(s);
	CU_ASSERT_EQUAL(dropped, 1);
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
	CU_add_test(suite, "push deadline gives up",
		    test_push_deadline_gives_up);
	CU_add_test(suite, "push without deadline waits",
		    test_push_without_deadline_waits);
	CU_add_test(suite, "silent client stalls", test_silent_client_stalls);
	CU_add_test(suite, "reading client never stalls",
		    test_reading_client_never_stalls);
	CU_add_test(suite, "finish waits for the drain",
		    test_finish_waits_for_drain);
	CU_add_test(suite, "finish stalls on a silent client",
		    test_finish_stalls_on_silent_client);
	CU_add_test(suite, "a closed stream's silent client is stalled",
		    test_closed_stream_stalls_silent_client);
	CU_add_test(suite, "publish whole: one resume",
		    test_publish_whole_one_resume);
	CU_add_test(suite, "attach: detached or dropped",
		    test_attach_detach_or_drop);
	CU_add_test(suite, "finish without a timeout never waits",
		    test_finish_without_timeout_never_waits);
	return cu_run();
}
