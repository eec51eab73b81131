/* answer — the MHD response whose body is a stream's consumer side.
 *
 * The content reader never blocks (one MHD thread serves every
 * connection): with nothing queued it parks the connection through the
 * stream (stream_try_read suspends it; the producer resumes it). When MHD
 * drops the response the stream is cancelled and released and the
 * request's audit entry ended, with how the body ended. Called on the
 * connection's MHD thread. */
#ifndef CARAPACE_ANSWER_H
#define CARAPACE_ANSWER_H

#include <microhttpd.h>
#include <stdatomic.h>

#include "request.h"
#include "stream.h"

struct body_reader;

/* A response for head whose body is read from s (the consumer's
 * reference, which the response takes); the request's audit entry, if
 * it still holds one, moves to it (none: the worker refused the request
 * and wrote its record; the answer is then recorded nowhere else).
 * stopping: the server's flag, read when the body ends early.
 * *reader: the reader's state, for answer_set_complete. NULL on out of
 * memory (nothing taken). */
struct MHD_Response *answer_response(const struct stream_head *head,
				     struct stream *s, struct request *rq,
				     const atomic_int *stopping,
				     struct body_reader **reader);
/* From MHD's completion callback, before MHD drops the response: whether
 * MHD sent the whole body. */
void answer_set_complete(struct body_reader *br, int complete);

#endif
