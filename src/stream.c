/* stream — see stream.h.
 *
 * Body bytes live in a list of chunks, one per push, so an idle stream holds
 * no buffer at all and a busy one holds at most `capacity` bytes (or one
 * larger push). The consumer sleeps in poll(2) on an eventfd and the client
 * socket; the producer writes the eventfd only when the consumer said it is
 * about to sleep, so a busy stream costs no extra system call per chunk. */
#include "config.h"

#include "stream.h"
#include "text.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct chunk {
	struct chunk *next;
	size_t len;
	size_t off;
	char data[];
};

struct stream {
	pthread_mutex_t lock;
	pthread_cond_t space;   /* signalled when the consumer reads bytes */
	pthread_cond_t client_free; /* signalled when client_holds falls */
	int wake_fd;            /* eventfd a blocking consumer sleeps on;
				 * made at its first sleep; -1 */
	void (*suspend)(void *); /* a non-blocking consumer's: */
	void (*resume)(void *);  /* park and unpark it, under the lock */
	void *consumer_arg;
	int refs;
	size_t capacity;
	size_t queued;
	struct chunk *first;
	struct chunk *last;
	struct stream_head *head;
	int finished;           /* producer is done ... */
	int finished_ok;        /* ... and the body is complete */
	enum stream_failure failure;
	char fail_msg[200];
	int cancelled;
	int closed;             /* ended by stream_close: a clean end */
	int broken;             /* finished broken, not cancelled first */
	int has_exit;
	int exit_code;
	int exit_signal;
	int consumer_sleeping;
	int producer_waiting;
	unsigned send_timeout_secs;
	int client_fd;          /* the consumer's, from its first wait until
				 * stream_cancel; -1 */
	uint64_t consumed;      /* bytes the consumer has read, in all */
	int stalled;            /* the client read nothing for too long */
	int consumer_gone;      /* stream_cancel: nobody will read again */
	unsigned client_holds;  /* the producer is using client_fd: a cancel
				 * waits for it to let go (stream_client_hold) */
	void (*cancel_hook)(void *);
	void *cancel_arg;
	void *attached;         /* stream_attach's, until detached */
	void (*drop)(void *, int); /* for it, should nobody detach it */
	struct stream *prev_parkable; /* on the parkable list: a consumer */
	struct stream *next_parkable; /* that parks; under parkable_lock */
	int on_parkable;
};

/* Every stream whose consumer may be parked (a suspended MHD connection):
 * a daemon must not stop with one suspended, so stream_close_parkable()
 * ends them all first. Lock order: parkable_lock, then a stream's. */
static pthread_mutex_t parkable_lock = PTHREAD_MUTEX_INITIALIZER;
static struct stream *parkable;
static int parking_closed;     /* stream_close_parkable() has run */

static void cancel_locked(struct stream *s);

/* A consumer that parks; closed at once after stream_close_parkable(). */
static void parkable_add(struct stream *s)
{
	pthread_mutex_lock(&parkable_lock);
	if (parking_closed) {
		pthread_mutex_lock(&s->lock);
		s->closed = 1;
		cancel_locked(s);
		pthread_mutex_unlock(&s->lock);
	} else if (!s->on_parkable) {
		s->on_parkable = 1;
		s->prev_parkable = NULL;
		s->next_parkable = parkable;
		if (parkable != NULL)
			parkable->prev_parkable = s;
		parkable = s;
	}
	pthread_mutex_unlock(&parkable_lock);
}

static void parkable_remove(struct stream *s)
{
	pthread_mutex_lock(&parkable_lock);
	if (s->on_parkable) {
		s->on_parkable = 0;
		if (s->prev_parkable != NULL)
			s->prev_parkable->next_parkable = s->next_parkable;
		else
			parkable = s->next_parkable;
		if (s->next_parkable != NULL)
			s->next_parkable->prev_parkable = s->prev_parkable;
	}
	pthread_mutex_unlock(&parkable_lock);
}

struct stream *stream_new(size_t capacity)
{
	struct stream *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->wake_fd = -1;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->space, &ca);
	pthread_cond_init(&s->client_free, NULL);
	pthread_condattr_destroy(&ca);
	s->client_fd = -1;
	s->refs = 2;
	s->capacity = capacity;
	return s;
}

void stream_head_free(struct stream_head *head)
{
	if (head == NULL)
		return;
	for (size_t i = 0; i < head->n_fields; i++) {
		free(head->fields[i].name);
		free(head->fields[i].value);
	}
	free(head->fields);
	free(head);
}

static void stream_destroy(struct stream *s)
{
	struct chunk *c = s->first;

	parkable_remove(s);
	if (s->attached != NULL && s->drop != NULL)
		s->drop(s->attached, s->closed);
	while (c != NULL) {
		struct chunk *next = c->next;
		free(c);
		c = next;
	}
	stream_head_free(s->head);
	if (s->wake_fd >= 0)
		close(s->wake_fd);
	pthread_cond_destroy(&s->space);
	pthread_cond_destroy(&s->client_free);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

void stream_release(struct stream *s)
{
	pthread_mutex_lock(&s->lock);
	int last = --s->refs == 0;
	pthread_mutex_unlock(&s->lock);
	if (last)
		stream_destroy(s);
}

/* Lock held. */
static void wake_consumer(struct stream *s)
{
	static const uint64_t one = 1;

	if (!s->consumer_sleeping)
		return;
	s->consumer_sleeping = 0;
	if (s->resume != NULL) {
		s->resume(s->consumer_arg);
		return;
	}
	/* Cannot fail short of a counter overflow, which one write per sleep
	 * never reaches. */
	if (write(s->wake_fd, &one, sizeof(one)) < 0)
		return;
}

/* Lock held. */
static void cancel_locked(struct stream *s)
{
	if (s->cancelled)
		return;
	s->cancelled = 1;
	pthread_cond_broadcast(&s->space);
	wake_consumer(s);
	if (s->cancel_hook != NULL)
		s->cancel_hook(s->cancel_arg);
}

void stream_cancel(struct stream *s)
{
	pthread_mutex_lock(&s->lock);
	/* even after a close: the queue is owed to no one now */
	s->consumer_gone = 1;
	/* from here on the consumer may let MHD close the socket */
	s->client_fd = -1;
	pthread_cond_broadcast(&s->space);
	cancel_locked(s);
	/* the connection may be gone once this returns: never resume it */
	s->suspend = NULL;
	s->resume = NULL;
	/* nor may the producer still be looking at its socket, which MHD
	 * closes once this returns (and whose number it may then reuse);
	 * cancel_locked woke it */
	while (s->client_holds > 0)
		pthread_cond_wait(&s->client_free, &s->lock);
	pthread_mutex_unlock(&s->lock);
	parkable_remove(s);
}

void stream_close(struct stream *s)
{
	pthread_mutex_lock(&s->lock);
	s->closed = 1;
	cancel_locked(s);
	pthread_mutex_unlock(&s->lock);
}

int stream_is_cancelled(struct stream *s)
{
	pthread_mutex_lock(&s->lock);
	int cancelled = s->cancelled;
	pthread_mutex_unlock(&s->lock);
	return cancelled;
}

void stream_set_exit(struct stream *s, int exit_code, int signal)
{
	pthread_mutex_lock(&s->lock);
	s->has_exit = 1;
	s->exit_code = exit_code;
	s->exit_signal = signal;
	pthread_mutex_unlock(&s->lock);
}

int stream_get_exit(struct stream *s, int *exit_code, int *signal)
{
	pthread_mutex_lock(&s->lock);
	int has = s->has_exit;
	*exit_code = s->exit_code;
	*signal = s->exit_signal;
	pthread_mutex_unlock(&s->lock);
	return has;
}

int stream_was_broken(struct stream *s)
{
	pthread_mutex_lock(&s->lock);
	int broken = s->broken;
	pthread_mutex_unlock(&s->lock);
	return broken;
}

void stream_set_cancel_hook(struct stream *s, void (*hook)(void *), void *arg)
{
	pthread_mutex_lock(&s->lock);
	s->cancel_hook = hook;
	s->cancel_arg = arg;
	pthread_mutex_unlock(&s->lock);
}

void stream_set_send_timeout(struct stream *s, unsigned secs)
{
	pthread_mutex_lock(&s->lock);
	s->send_timeout_secs = secs;
	pthread_mutex_unlock(&s->lock);
}

int stream_was_stalled(struct stream *s)
{
	pthread_mutex_lock(&s->lock);
	int stalled = s->stalled;
	pthread_mutex_unlock(&s->lock);
	return stalled;
}

/* Lock held. The client has read nothing for the send timeout: its
 * connection is shut down, which wakes MHD's thread wherever it waits. */
static void stall_locked(struct stream *s)
{
	s->stalled = 1;
	if (s->client_fd >= 0)
		shutdown(s->client_fd, SHUT_RDWR);
	cancel_locked(s);
}

/* Lock held: waits on space until deadline_ms (0: none). -1 when it
 * passed. */
static int wait_space(struct stream *s, uint64_t deadline_ms)
{
	struct timespec ts;

	if (deadline_ms == 0) {
		pthread_cond_wait(&s->space, &s->lock);
		return 0;
	}
	ts.tv_sec = (time_t)(deadline_ms / 1000);
	ts.tv_nsec = (long)(deadline_ms % 1000) * 1000000;
	return pthread_cond_timedwait(&s->space, &s->lock, &ts) == ETIMEDOUT ?
		       -1 : 0;
}

/* Lock held. Whether the consumer must read bytes before room bytes fit;
 * room SIZE_MAX: before the queue is empty (a drain), which a stream
 * ended by stream_close is still owed; a push to it is refused at once. */
static int must_wait(const struct stream *s, size_t room)
{
	int drain = room == SIZE_MAX;

	if (s->queued == 0 || s->stalled || s->consumer_gone ||
	    (s->cancelled && !drain) || (s->cancelled && !s->closed))
		return 0;
	return s->queued >= s->capacity || room > s->capacity - s->queued;
}

/* Lock held. Waits while the stream is full: 0 room (or cancelled), -1
 * the client stalled it, -2 the producer's deadline passed. */
static int wait_room(struct stream *s, size_t room, uint64_t deadline_ms)
{
	uint64_t consumed = s->consumed, stall_at = 0;

	while (must_wait(s, room)) {
		uint64_t now = text_mono_ms();
		if (stall_at == 0 || s->consumed != consumed) {
			/* the client read something: it is reading */
			consumed = s->consumed;
			stall_at = 0;
			if (s->send_timeout_secs > 0)
				stall_at = now + s->send_timeout_secs * 1000ull;
		}
		if (stall_at != 0 && now >= stall_at) {
			stall_locked(s);
			return -1;
		}
		if (deadline_ms != 0 && now >= deadline_ms)
			return -2;
		uint64_t until = stall_at;
		if (deadline_ms != 0 && (until == 0 || deadline_ms < until))
			until = deadline_ms;
		s->producer_waiting = 1;
		wait_space(s, until);
	}
	return 0;
}

int stream_publish_head(struct stream *s, struct stream_head *head)
{
	pthread_mutex_lock(&s->lock);
	int cancelled = s->cancelled;
	if (!cancelled && s->head == NULL) {
		s->head = head;
		head = NULL;
		wake_consumer(s);
	}
	pthread_mutex_unlock(&s->lock);
	stream_head_free(head);
	return cancelled ? -1 : 0;
}

/* A copy of len bytes to queue; NULL on out of memory. */
static struct chunk *chunk_new(const void *data, size_t len)
{
	struct chunk *c = malloc(sizeof(*c) + len);

	if (c == NULL)
		return NULL;
	memcpy(c->data, data, len);
	c->len = len;
	c->off = 0;
	c->next = NULL;
	return c;
}

int stream_publish_whole(struct stream *s, struct stream_head *head,
			 const void *body, size_t len)
{
	struct chunk *c = len > 0 ? chunk_new(body, len) : NULL;

	if (len > 0 && c == NULL) {
		stream_head_free(head);
		stream_cancel(s);
		return -1;
	}
	pthread_mutex_lock(&s->lock);
	int cancelled = s->cancelled || s->head != NULL;
	if (!cancelled) { /* no wake yet: stream_finish wakes once */
		s->head = head;
		head = NULL;
		if (c != NULL) {
			s->first = s->last = c;
			s->queued = len;
			c = NULL;
		}
	}
	pthread_mutex_unlock(&s->lock);
	free(c);
	stream_head_free(head);
	if (cancelled)
		return -1;
	stream_finish(s, STREAM_END_WHOLE);
	return 0;
}

int stream_push(struct stream *s, const void *data, size_t len)
{
	return stream_push_until(s, data, len, 0);
}

int stream_push_until(struct stream *s, const void *data, size_t len,
		      uint64_t deadline_ms)
{
	struct chunk *c = chunk_new(data, len);

	if (c == NULL) {
		stream_cancel(s);
		return -1;
	}
	pthread_mutex_lock(&s->lock);
	int rc = wait_room(s, len, deadline_ms);
	s->producer_waiting = 0;
	if (s->cancelled || rc < 0) {
		pthread_mutex_unlock(&s->lock);
		free(c);
		return rc == -2 ? -2 : -1;
	}
	if (s->last != NULL)
		s->last->next = c;
	else
		s->first = c;
	s->last = c;
	s->queued += len;
	wake_consumer(s);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

int stream_offer(struct stream *s, const void *data, size_t len)
{
	pthread_mutex_lock(&s->lock);
	int rc = s->cancelled ? -1 :
		 s->queued > 0 && s->queued + len > s->capacity ? -2 : 0;
	pthread_mutex_unlock(&s->lock);
	/* only this producer adds bytes, so room seen stays room */
	return rc == 0 ? stream_push(s, data, len) : rc;
}

void stream_finish(struct stream *s, enum stream_end end)
{
	int whole = end == STREAM_END_WHOLE;

	pthread_mutex_lock(&s->lock);
	s->finished = 1;
	s->finished_ok = whole;
	/* after a cancel, a broken end is the cancel's doing, not the
	 * producer's */
	s->broken = !whole && !s->cancelled;
	wake_consumer(s);
	/* The client must still read what is queued, within the send
	 * timeout: no one else is awake to see that it never does. */
	if (s->send_timeout_secs > 0)
		wait_room(s, SIZE_MAX, 0);
	s->producer_waiting = 0;
	pthread_mutex_unlock(&s->lock);
}

void stream_fail(struct stream *s, enum stream_failure why,
		 const char *message)
{
	pthread_mutex_lock(&s->lock);
	s->failure = why;
	snprintf(s->fail_msg, sizeof(s->fail_msg), "%s", message);
	s->finished = 1;
	wake_consumer(s);
	pthread_mutex_unlock(&s->lock);
}

/* Lock held; released while asleep. -1 when the client has gone. */
static int consumer_sleep(struct stream *s, int client_fd)
{
	struct pollfd fds[2] = {
		{ .fd = s->wake_fd, .events = POLLIN },
		{ .fd = client_fd, .events = POLLRDHUP },
	};
	uint64_t count;

	if (s->wake_fd < 0)
		s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->wake_fd < 0)
		return -1;
	fds[0].fd = s->wake_fd; /* made just now, on a first sleep */
	s->consumer_sleeping = 1;
	pthread_mutex_unlock(&s->lock);
	int n = poll(fds, client_fd >= 0 ? 2 : 1, -1);
	if (fds[0].revents & POLLIN) {
		if (read(s->wake_fd, &count, sizeof(count)) < 0)
			count = 0; /* EAGAIN: already drained, nothing lost */
	}
	pthread_mutex_lock(&s->lock);
	s->consumer_sleeping = 0;
	if (n < 0 && errno != EINTR)
		return -1;
	if (client_fd >= 0 && fds[1].revents != 0)
		return -1; /* RDHUP, HUP, ERR: the peer closed or reset */
	return 0;
}

/* Lock held. What a consumer waiting for the head gets now: 0 and *head,
 * -1 failed (*why, err->msg), or 1: nothing yet. */
static int head_locked(struct stream *s, const struct stream_head **head,
		       enum stream_failure *why, struct error *err)
{
	if (s->head != NULL) {
		*head = s->head;
		return 0;
	}
	if (s->cancelled) {
		*why = STREAM_FAIL_CANCELLED;
		error_set(err, 0, NULL, "client closed the connection");
		return -1;
	}
	if (!s->finished)
		return 1;
	*why = s->failure != STREAM_FAIL_NONE ? s->failure :
						STREAM_FAIL_PROTOCOL;
	error_set(err, 0, NULL, "%s", s->fail_msg);
	return -1;
}

int stream_wait_head(struct stream *s, int client_fd,
		     const struct stream_head **head, enum stream_failure *why,
		     struct error *err)
{
	int rc;

	pthread_mutex_lock(&s->lock);
	if (!s->cancelled)
		s->client_fd = client_fd;
	while ((rc = head_locked(s, head, why, err)) > 0)
		if (consumer_sleep(s, client_fd) < 0)
			cancel_locked(s);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* Lock held: moves up to max queued bytes into buf. */
static size_t dequeue(struct stream *s, char *buf, size_t max)
{
	size_t n = 0;

	while (n < max && s->first != NULL) {
		struct chunk *c = s->first;
		size_t k = c->len - c->off;
		if (k > max - n)
			k = max - n;
		memcpy(buf + n, c->data + c->off, k);
		c->off += k;
		n += k;
		if (c->off == c->len) {
			s->first = c->next;
			if (s->first == NULL)
				s->last = NULL;
			free(c);
		}
	}
	s->queued -= n;
	s->consumed += n;
	if (s->producer_waiting)
		pthread_cond_signal(&s->space);
	return n;
}

/* Lock held. What a read gets now, as stream_read returns it, or
 * STREAM_AGAIN: nothing yet. */
static ssize_t read_locked(struct stream *s, void *buf, size_t max)
{
	if (s->closed)
		return s->first ? (ssize_t)dequeue(s, buf, max) : 0;
	if (s->cancelled)
		return -1;
	if (s->first != NULL)
		return (ssize_t)dequeue(s, buf, max);
	if (s->finished)
		return s->finished_ok ? 0 : -1;
	return STREAM_AGAIN;
}

ssize_t stream_read(struct stream *s, int client_fd, void *buf, size_t max)
{
	ssize_t rc;

	pthread_mutex_lock(&s->lock);
	while ((rc = read_locked(s, buf, max)) == STREAM_AGAIN)
		if (consumer_sleep(s, client_fd) < 0)
			cancel_locked(s);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int stream_head_is_sse(const struct stream_head *head)
{
	for (size_t i = 0; i < head->n_fields; i++)
		if (strcasecmp(head->fields[i].name, "Content-Type") == 0)
			return strncasecmp(head->fields[i].value,
					   "text/event-stream", 17) == 0;
	return 0;
}

size_t stream_head_wire_size(const struct stream_head *head)
{
	size_t n = sizeof("HTTP/1.1 999 Reason\r\n") + 64; /* Date, ... */

	for (size_t i = 0; i < head->n_fields; i++)
		n += strlen(head->fields[i].name) +
		     strlen(head->fields[i].value) + 4;
	return n;
}

/* ---- the non-blocking consumer ---- */

void stream_set_consumer(struct stream *s, int client_fd,
			 void (*suspend)(void *), void (*resume)(void *),
			 void *arg)
{
	pthread_mutex_lock(&s->lock);
	if (!s->cancelled)
		s->client_fd = client_fd;
	s->suspend = suspend;
	s->resume = resume;
	s->consumer_arg = arg;
	int gone = s->cancelled;
	pthread_mutex_unlock(&s->lock);
	if (!gone)
		parkable_add(s);
}

void stream_close_parkable(void)
{
	pthread_mutex_lock(&parkable_lock);
	parking_closed = 1;
	for (struct stream *s = parkable; s != NULL; s = s->next_parkable) {
		pthread_mutex_lock(&s->lock);
		s->closed = 1;
		cancel_locked(s); /* resumes a parked consumer */
		pthread_mutex_unlock(&s->lock);
	}
	pthread_mutex_unlock(&parkable_lock);
}

int stream_client_hold(struct stream *s)
{
	pthread_mutex_lock(&s->lock);
	int fd = s->consumer_gone || s->cancelled ? -1 : s->client_fd;
	if (fd >= 0)
		s->client_holds++;
	pthread_mutex_unlock(&s->lock);
	return fd;
}

void stream_client_drop(struct stream *s)
{
	pthread_mutex_lock(&s->lock);
	if (--s->client_holds == 0)
		pthread_cond_broadcast(&s->client_free);
	pthread_mutex_unlock(&s->lock);
}

int stream_client_fd(struct stream *s)
{
	pthread_mutex_lock(&s->lock);
	int fd = s->consumer_gone ? -1 : s->client_fd;
	pthread_mutex_unlock(&s->lock);
	return fd;
}

/* Lock held: nothing to give yet; the consumer parks until a wake. */
static void consumer_park(struct stream *s)
{
	s->consumer_sleeping = 1;
	s->suspend(s->consumer_arg);
}

void stream_attach(struct stream *s, void *obj,
		   void (*drop)(void *obj, int closed))
{
	pthread_mutex_lock(&s->lock);
	s->attached = obj;
	s->drop = drop;
	pthread_mutex_unlock(&s->lock);
}

void *stream_detach(struct stream *s)
{
	pthread_mutex_lock(&s->lock);
	void *obj = s->attached;
	s->attached = NULL;
	pthread_mutex_unlock(&s->lock);
	return obj;
}

int stream_try_head(struct stream *s, const struct stream_head **head,
		    enum stream_failure *why, struct error *err)
{
	pthread_mutex_lock(&s->lock);
	int rc = head_locked(s, head, why, err);
	if (rc > 0)
		consumer_park(s);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

ssize_t stream_try_read(struct stream *s, void *buf, size_t max)
{
	pthread_mutex_lock(&s->lock);
	ssize_t rc = read_locked(s, buf, max);
	if (rc == STREAM_AGAIN)
		consumer_park(s);
	pthread_mutex_unlock(&s->lock);
	return rc;
}
