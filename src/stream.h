/* stream — the one-way pipe from a producer to a client connection.
 *
 * Two threads share a stream. The producer (a proxy worker relaying an
 * upstream's answer, a cli job relaying a tool's output, or the audit log
 * feeding a live tail) publishes the response head once, pushes body bytes
 * and finishes, or fails before a head. The consumer takes the head, then
 * reads, in one of two ways:
 *
 *  - parking (the tool listeners: one MHD epoll thread for all their
 *    connections): stream_try_head / stream_try_read never wait; with
 *    nothing to give they suspend the MHD connection, and the producer's
 *    next publish, push, finish, fail or cancel resumes it, exactly once.
 *    A parked connection sees nothing of its client, so the producer
 *    watches the client's socket (stream_client_fd) and cancels the
 *    stream when the client leaves. Costs no descriptor of its own.
 *  - blocking (admin's live tail, on a thread-per-connection daemon):
 *    stream_wait_head / stream_read sleep on the stream's eventfd (made
 *    for that consumer only) and the client's socket.
 *
 * Nothing is buffered for time: bytes are readable the moment they are
 * pushed. Memory is bounded: a push into a stream holding `capacity` bytes
 * waits until the consumer has read (backpressure), and, with a send
 * timeout, no longer than that while the client reads nothing. A client
 * that leaves is noticed at once, even on a silent stream (by the
 * blocking consumer's wait, or by the producer's watch of a parked one);
 * that cancels the stream, which wakes a waiting producer and calls the
 * producer's cancel hook (to wake a transfer blocked elsewhere: the proxy
 * worker shuts its upstream socket down).
 *
 * Reference counted: stream_new() returns two references, one per side; each
 * side calls stream_release() once. All functions are thread-safe. */
#ifndef CARAPACE_STREAM_H
#define CARAPACE_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

/* Why a stream failed before it had a head; the server maps it to a status. */
enum stream_failure {
	STREAM_FAIL_NONE,
	STREAM_FAIL_UNREACHABLE, /* could not connect upstream */
	STREAM_FAIL_TIMEOUT,     /* connect or response head too late */
	STREAM_FAIL_PROTOCOL,    /* upstream answered, but not usable HTTP */
	STREAM_FAIL_INTERNAL,    /* out of memory, thread, ... */
	STREAM_FAIL_CANCELLED,   /* the client left */
};

/* How the producer ends the body, for stream_finish. */
enum stream_end {
	STREAM_END_BROKEN, /* cut short: the client must not take it for
			    * whole */
	STREAM_END_WHOLE,  /* every byte was pushed */
};

struct stream_field {
	char *name;
	char *value;
};

/* A response head. Built by the producer, owned by the stream once
 * published, borrowed by the consumer until it releases the stream. */
struct stream_head {
	int status;
	long long content_length; /* -1: unknown (sent chunked) */
	size_t n_fields;
	struct stream_field *fields;
};

struct stream;

/* NULL on failure (errno set). */
struct stream *stream_new(size_t capacity);
/* A client that reads nothing from a full stream for secs (0: never)
 * stalls it: the stream is cancelled, the producer's push fails, and the
 * client's socket (the one the consumer waits with) is shut down, so its
 * connection ends even while MHD waits to write to it. Set it before the
 * producer starts. */
void stream_set_send_timeout(struct stream *s, unsigned secs);
void stream_release(struct stream *s);

/* --- producer side --- */

/* Hook run (under the stream's lock, so it must not block or call back)
 * when the stream is cancelled; NULL clears it. */
void stream_set_cancel_hook(struct stream *s, void (*hook)(void *), void *arg);
/* Takes ownership of head (freed with the stream, or at once when
 * cancelled). 0, or -1 if cancelled. */
int stream_publish_head(struct stream *s, struct stream_head *head);
/* A whole short answer at once: the head, len body bytes (copied; any
 * length, past the capacity too: the caller bounds it) and a whole end,
 * as stream_publish_head, stream_push and stream_finish would, but
 * waking a parked consumer once instead of three times. Only for bytes
 * the producer already has: holding them back to send them together
 * would be timed buffering. 0, or -1 if cancelled (head freed). */
int stream_publish_whole(struct stream *s, struct stream_head *head,
			 const void *body, size_t len);
/* Copies len bytes in; waits while full. 0, or -1 if cancelled. A wait
 * longer than the send timeout ends the stream as stalled (-1). */
int stream_push(struct stream *s, const void *data, size_t len);
/* stream_push that also gives up at deadline_ms (CLOCK_MONOTONIC ms; 0:
 * none), the producer's own timer: -2 then, and nothing was queued. */
int stream_push_until(struct stream *s, const void *data, size_t len,
		      uint64_t deadline_ms);
/* Like stream_push, but never waits: 0 pushed, -1 cancelled, -2 no room
 * (nothing was queued). For producers that must not block, such as the
 * audit log feeding a live tail. */
int stream_offer(struct stream *s, const void *data, size_t len);
/* No more bytes: the body is whole or broken. With a send timeout, it
 * waits until the client has read every queued byte, or stalls the
 * stream when the client reads nothing for that long. */
void stream_finish(struct stream *s, enum stream_end end);
/* Ends a stream that never got a head; message is copied. */
void stream_fail(struct stream *s, enum stream_failure why,
		 const char *message);
int stream_is_cancelled(struct stream *s);
/* How a process producing the body ended (cli tools), for the consumer's
 * audit record; set before stream_finish(). */
void stream_set_exit(struct stream *s, int exit_code, int signal);

/* One object the producer passes to the consumer with the head (the
 * proxy worker gives back the request's audit entry, which it held while
 * it checked the body): attached before the head is published or the
 * stream failed, so the consumer finds it once stream_try_head or
 * stream_wait_head has returned 0 or -1, and detaches it (NULL: none).
 * One nobody detached (the consumer left first) is given to drop() when
 * the stream is freed, on the thread releasing it last, with closed 1
 * when the daemon ended the stream (stream_close, stream_close_parkable)
 * rather than its client. */
void stream_attach(struct stream *s, void *obj,
		   void (*drop)(void *obj, int closed));
void *stream_detach(struct stream *s);

/* --- consumer side; client_fd is watched for the peer's close --- */

/* Waits for the head. 0 and *head set (borrowed), or -1 with *why set and
 * the failure message in err->msg. */
int stream_wait_head(struct stream *s, int client_fd,
		     const struct stream_head **head, enum stream_failure *why,
		     struct error *err);
/* Waits for bytes. >0 bytes copied; 0 at a clean end; -1 when the body
 * broke, the stream was cancelled or the client left. */
ssize_t stream_read(struct stream *s, int client_fd, void *buf, size_t max);
/* 1 and *exit_code, *signal when the producer set them, else 0. */
int stream_get_exit(struct stream *s, int *exit_code, int *signal);
/* 1 when the producer ended the body broken (STREAM_END_BROKEN) before
 * anyone cancelled the stream. */
int stream_was_broken(struct stream *s);
/* 1 when the client stalled the stream (see stream_set_send_timeout). */
int stream_was_stalled(struct stream *s);
/* The client is gone: wake and abort the producer (a stream ended by
 * stream_close included: what it still queues is owed to no one). */
void stream_cancel(struct stream *s);
/* The daemon ends the stream (reload, shutdown): the producer is
 * cancelled, and the consumer gets what is already queued, then a clean
 * end (0), so the client sees a whole response, not a broken one. */
void stream_close(struct stream *s);

void stream_head_free(struct stream_head *head);

/* --- the non-blocking consumer (an MHD connection in an event loop) ---
 *
 * Instead of sleeping, the consumer parks: stream_try_head/try_read call
 * suspend(arg) under the stream's lock when there is nothing to give, and
 * the producer's next publish, push, finish or fail calls resume(arg),
 * under the same lock, once per suspend. stream_cancel() forgets both
 * (the connection may be freed after it). While parked the consumer sees
 * nothing of its client: the producer watches client_fd
 * (stream_client_fd) and cancels the stream when the client leaves. */
#define STREAM_AGAIN (-2)

void stream_set_consumer(struct stream *s, int client_fd,
			 void (*suspend)(void *), void (*resume)(void *),
			 void *arg);
/* Closes (stream_close) every stream whose consumer parks, so that no
 * connection stays suspended: before an MHD daemon stops. Every stream
 * given such a consumer from then on is closed at once too (a request the
 * MHD thread was already taking when the stop came must not park its
 * connection after): once per process, which stops after it. */
void stream_close_parkable(void);
/* The client's socket for the producer to watch; -1: none, or gone. */
int stream_client_fd(struct stream *s);
/* The same, held: until stream_client_drop(), stream_cancel() does not
 * return, so MHD does not close the socket (nor reuse its number) while
 * the producer polls or peeks at it. -1 (nothing held): none, gone or
 * cancelled. Hold it only across non-blocking calls and a wait that the
 * cancel hook ends, and never call stream_cancel() while holding it. */
int stream_client_hold(struct stream *s);
void stream_client_drop(struct stream *s);
/* 0 and *head set; -1 failed (*why, err->msg); 1: parked. */
int stream_try_head(struct stream *s, const struct stream_head **head,
		    enum stream_failure *why, struct error *err);
/* As stream_read, or STREAM_AGAIN: parked. */
ssize_t stream_try_read(struct stream *s, void *buf, size_t max);

/* --- the head --- */

/* Whether it answers with Server-Sent Events (Content-Type
 * text/event-stream): such an answer is audited when it opens as well as
 * when it ends. */
int stream_head_is_sse(const struct stream_head *head);
/* About the bytes it takes on the wire, status line and Date included. */
size_t stream_head_wire_size(const struct stream_head *head);

#endif
