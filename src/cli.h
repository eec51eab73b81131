/* cli — one CLI tool run per worker thread, fed into a stream.
 *
 * The server parses and checks the request (cli_request.h); cli_start()
 * runs the tool's binary on a dedicated pool thread (workers.h, exec.c) and
 * answers on the stream. With sse, the head (200 text/event-stream) goes at once, then
 * each piece of output as it is produced — `event: stdout` or `event:
 * stderr` whose data is {"data":"text"}, or {"base64":"..."} when the
 * bytes are not UTF-8 — and a last `event: exit` with the result. Without,
 * one JSON result once the child has ended:
 *   {"exit_code":N,"signal":null,"stdout":"..","stderr":"..",
 *    "stdout_base64":false,"stderr_base64":false,"timed_out":false,
 *    "truncated":false}
 * Cancelling the stream (the client left) kills the child's group. */
#ifndef CARAPACE_CLI_H
#define CARAPACE_CLI_H

#include <stddef.h>

#include "cli_request.h"
#include "stream.h"

/* Starts the worker. 0: it owns r and the producer reference of s.
 * -1: no thread; -2: the tool already runs max_concurrent children.
 * Nothing is taken on failure. */
int cli_start(struct cli_request *r, struct stream *s);

#endif
