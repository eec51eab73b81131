/* cli — one CLI tool run per worker thread, fed into a stream.
 *
 * cli_start() hands the request's body to a dedicated pool thread
 * (workers.h), never checked on the MHD thread, which serves every other
 * connection of the listener: what the check costs (a strict parse of up
 * to max_body_bytes, the redacted body and argv for the audit record, a
 * cwd walked on the file system) is the client's to choose. On that
 * thread, in this order: the body is parsed (cli_request.h: 400), the
 * body and argv recorded in the audit entry, argv checked against the
 * policy (403), the cwd (403), the hold for a person's approval when
 * require_approval matches (bodycheck_hold: 403, 503), then a
 * max_concurrent slot taken (503): a held run keeps no slot.
 * Refused: the entry is ended (deny, or fail for a 5xx) and the refusal
 * published through the stream (bodycheck_publish_refusal), as the MHD
 * thread would have answered it. Allowed: the entry goes back to the MHD
 * thread attached to the stream (stream_attach) with the head, and the
 * tool's binary runs (exec.c), its answer on the stream.
 *
 * With sse, the head (200 text/event-stream) goes at once, then each
 * piece of output as it is produced — `event: stdout` or `event:
 * stderr` whose data is {"data":"text"}, or {"base64":"..."} when the
 * bytes are not UTF-8 — and a last `event: exit` with the result.
 * Without, one JSON result once the child has ended:
 *   {"exit_code":N,"signal":null,"stdout":"..","stderr":"..",
 *    "stdout_base64":false,"stderr_base64":false,"timed_out":false,
 *    "truncated":false}
 * Cancelling the stream (the client left) kills the child's group. */
#ifndef CARAPACE_CLI_H
#define CARAPACE_CLI_H

#include <stddef.h>

#include "approvals.h"
#include "cfg.h"
#include "cli_request.h"
#include "ledger.h"
#include "stream.h"

struct cli_args {
	const struct cfg *cfg;          /* a reference is taken */
	const struct cfg_tool *tool;    /* in cfg */
	const char *tool_name;          /* as requested (copied) */
	struct ledger_entry *entry;     /* taken */
	int sse;                        /* the client accepts
					 * text/event-stream */
	char *body;                     /* taken; NULL: none */
	size_t len;
	/* require_approval (approvals.h): the registry (borrowed; it
	 * outlives every worker) or NULL, and the client (copied) */
	struct approvals *approvals;
	const char *client_key;
};

/* Starts the worker. 0: it owns what a says is taken and the producer
 * reference of s. -1: no thread; nothing is taken. */
int cli_start(const struct cli_args *a, struct stream *s);

#endif
