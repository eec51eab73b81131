/* exec — run one CLI tool's child process under supervision, on the calling
 * thread (a worker's), handing its output over as it is produced.
 *
 * The child: posix_spawn(3) of an absolute binary — never a shell, never a
 * PATH lookup — with argv[0] set to the binary, exactly the environment
 * given, the working directory given (cwd_fd, else cwd, else "/"), stdin
 * fed from a
 * buffer and then closed, stdout and stderr on pipes, no other descriptor
 * inherited, and a process group of its own.
 *
 * Supervision, all of it reaching the whole process group: after timeout_ms
 * SIGTERM, then SIGKILL grace_ms later; once stdout + stderr pass
 * max_output, SIGKILL and the result says truncated; when cancel_fd turns
 * readable (the client left), SIGKILL. The child is always reaped before
 * exec_run() returns: no zombies. Output is never held back by a timer.
 *
 * Whatever else the child started, in its group or not, is killed and
 * reaped before exec_run() returns too, once contain_init() was called
 * (see contain.h); without it, only the group is. */
#ifndef CARAPACE_EXEC_H
#define CARAPACE_EXEC_H

#include <stddef.h>

struct exec_spec {
	const char *binary;        /* absolute path; borrowed */
	char *const *argv;         /* NULL-terminated; argv[0] is replaced */
	char *const *envp;         /* NULL-terminated "K=V"; the whole env */
	const char *cwd;           /* NULL: "/"; unused when cwd_fd >= 0 */
	int cwd_fd;                /* -1: none; else a directory (O_PATH
				    * will do) the child fchdir(2)s to, so
				    * that it runs in the very directory
				    * that was checked; borrowed, and
				    * close-on-exec like every other */
	const char *stdin_data;    /* may be NULL when stdin_len is 0 */
	size_t stdin_len;
	unsigned timeout_ms;       /* 0: none */
	unsigned grace_ms;         /* between SIGTERM and SIGKILL */
	size_t max_output;         /* stdout + stderr bytes; 0: unlimited */
	int cancel_fd;             /* -1: none; readable means stop */
	int client_fd;             /* -1: none; its peer closing (POLLRDHUP)
				    * means stop too */
};

enum exec_channel { EXEC_STDOUT = 1, EXEC_STDERR = 2 };

/* Called on the exec_run() thread with each piece of output as it is read
 * (at most the bytes still allowed by max_output). It may wait for room
 * until deadline_ms (CLOCK_MONOTONIC ms, the run's timeout; 0: none) and
 * no longer, so the timeout fires whatever the consumer does. Return 0
 * to go on, -1 to stop the child as if cancelled, -2 when the data could
 * not be handed over by the deadline: it and all later output are dropped
 * (res->undelivered), and the run goes on to its timeout. */
typedef int (*exec_output_fn)(void *arg, enum exec_channel channel,
			      const char *data, size_t len,
			      long long deadline_ms);

struct exec_result {
	int exit_code;     /* when it exited; -1 when a signal ended it */
	int signal;        /* the signal that ended it, or 0 */
	int timed_out;
	int truncated;
	int cancelled;
	int undelivered;   /* output dropped: see exec_output_fn */
	int spawn_errno;   /* not 0: the child never ran; the rest is unset */
};

/* 0 when the child ran (whatever its end: see res), -1 when it could not
 * be started (res->spawn_errno says why) or the supervision itself failed
 * (then the child was killed and reaped). */
int exec_run(const struct exec_spec *spec, exec_output_fn output, void *arg,
	     struct exec_result *res);

#endif
