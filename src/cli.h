/* cli — one CLI tool run per worker thread, fed into a stream.
 *
 * The server parses and checks the request; cli_start() runs the tool's
 * binary on a dedicated, detached thread (exec.c) and answers on the
 * stream. With sse, the head (200 text/event-stream) goes at once, then
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

#include "cfg.h"
#include "stream.h"

struct cli_request;

/* tool is borrowed; the request holds a reference to its config
 * (tool->owner) until it is freed, by the caller or by the run. */
struct cli_request *cli_request_new(const struct cfg_tool *tool, int sse);
/* Copies; argv without argv[0]. 0 or -1 (out of memory). */
int cli_request_add_arg(struct cli_request *r, const char *arg);
/* Takes ownership of data (malloc'd). */
void cli_request_set_stdin(struct cli_request *r, char *data, size_t len);
/* Copies; NULL: "/". 0 or -1. */
int cli_request_set_cwd(struct cli_request *r, const char *cwd);
void cli_request_free(struct cli_request *r);
/* The arguments, for the policy check; borrowed. */
char *const *cli_request_argv(const struct cli_request *r, size_t *argc);

/* The body of POST /tools/<cli-tool>: {"argv":[..],"stdin":"..","cwd":".."}
 * (strict JSON; argv strings without NUL; stdin and cwd optional; no other
 * keys). A new request (caller frees), or NULL with the reason in why. */
struct cli_request *cli_request_parse(const struct cfg_tool *tool, int sse,
				      const char *body, size_t len,
				      char *why, size_t why_len);

/* Opens the requested cwd, an absolute path, one component at a time
 * without following any symlink (one in the path refuses it), and checks
 * that the directory opened is one of the tool's cwd_allowed or lies below
 * one, by identity (device and inode), not by name. 0: the request holds
 * that directory open, and the child is started in it (fchdir), so what
 * was checked is what is used. -1: refused, why says so (static text).
 * A request without a cwd passes (it runs in "/"), and so does one whose
 * cwd is never checked: cli_start() uses only a checked directory. */
int cli_request_check_cwd(struct cli_request *r, const char **why);

/* Starts the worker. 0: it owns r and the producer reference of s.
 * -1: no thread; -2: the tool already runs max_concurrent children.
 * Nothing is taken on failure. */
int cli_start(struct cli_request *r, struct stream *s);

#endif
