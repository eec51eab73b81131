/* exec — see exec.h.
 *
 * One run is one poll(2) loop on the calling thread over the write end of
 * the child's stdin, the read ends of its stdout and stderr, the caller's
 * cancel_fd and a pidfd of the child (without pidfd_open(2), waitid(2) is
 * asked every TICK_MS instead). Deadlines come from CLOCK_MONOTONIC.
 *
 * Once the child has exited, its whole group is sent SIGKILL, so that a
 * grandchild still holding a pipe dies, and the pipes are drained for at
 * most DRAIN_MS more. The exit is seen with WNOWAIT and the child reaped
 * only after that kill: while the zombie exists its pid, which is the
 * group's id, cannot be reused, so the signal never reaches a stranger.
 * The run's cgroup (contain.h) is killed at that moment too.
 *
 * A consumer that takes nothing cannot hold the loop: the output callback
 * waits no later than the timeout, so the timers, the cap and a cancel
 * still act (a cancel wakes a waiting callback through the stream).
 *
 * The read buffer is on the heap: workers run on small stacks. */
#include "config.h"

#include "exec.h"
#include "text.h"
#include "contain.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK (64 * 1024)
#define TICK_MS 50    /* waitid polling when there is no pidfd */
#define DRAIN_MS 200  /* pipe draining after the child's exit */

enum { P_IN, P_OUT, P_ERR, P_CANCEL, P_CLIENT, P_CHILD, P_COUNT };

struct run {
	const struct exec_spec *spec;
	struct contain *contain; /* every process of the run; owned */
	exec_output_fn output;
	void *arg;
	struct exec_result *res;
	char *buf;           /* READ_CHUNK bytes; owned */
	pid_t pid;           /* the child, also its group's id */
	int pidfd;           /* owned; -1: none, waitid every TICK_MS */
	int in_fd;           /* parent ends of the pipes; owned; -1: closed */
	int out_fd;
	int err_fd;
	size_t in_off;       /* stdin bytes written so far */
	size_t delivered;    /* output bytes handed to the callback */
	int64_t end_at;      /* the timeout; -1: none */
	int64_t term_at;     /* when to send SIGTERM; -1: not (any more) */
	int64_t kill_at;     /* when to send SIGKILL after it; -1: not */
	int64_t drain_until; /* set when the child has exited */
	int exited;          /* reaped (or lost: see have_status) */
	int stopped;         /* killed for cancel or truncation */
	int failed;          /* supervision failed */
	int have_status;     /* status is the child's wait status */
	int status;
};

static char *const empty_env[] = { NULL };

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

/* A close-on-exec pipe whose ends are both above stderr, so that the
 * child's dup2() actions can never clobber one another. */
static int make_pipe(int p[2])
{
	if (pipe2(p, O_CLOEXEC) < 0)
		return errno;
	for (int i = 0; i < 2; i++) {
		if (p[i] > STDERR_FILENO)
			continue;
		int fd = fcntl(p[i], F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
		if (fd < 0) {
			int err = errno;
			close(p[0]);
			close(p[1]);
			return err;
		}
		close(p[i]);
		p[i] = fd;
	}
	return 0;
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return errno;
	return 0;
}

/* argv for the child: the caller's, with [0] replaced by the binary.
 * Returns a new array (the strings are borrowed); caller frees. */
static char **copy_argv(const struct exec_spec *spec)
{
	size_t n = 0;
	char **argv;

	if (spec->argv)
		while (spec->argv[n])
			n++;
	argv = calloc(n < 1 ? 2 : n + 1, sizeof(*argv));
	if (!argv)
		return NULL;
	argv[0] = (char *)(uintptr_t)spec->binary; /* execve reads it */
	for (size_t i = 1; i < n; i++)
		argv[i] = spec->argv[i];
	return argv;
}

/* fds: the child's ends of stdin, stdout, stderr. The directory comes
 * first, before the dup2() actions could clobber a low cwd_fd, and
 * closefrom() after it; cwd_fd is close-on-exec besides. */
static int set_actions(posix_spawn_file_actions_t *fa, const int fds[3],
		       const struct exec_spec *spec)
{
	int err;

	if (spec->cwd_fd >= 0)
		err = posix_spawn_file_actions_addfchdir_np(fa, spec->cwd_fd);
	else
		err = posix_spawn_file_actions_addchdir_np(
			fa, spec->cwd ? spec->cwd : "/");
	for (int i = 0; i < 3 && !err; i++)
		err = posix_spawn_file_actions_adddup2(fa, fds[i], i);
	if (!err)
		err = posix_spawn_file_actions_addclosefrom_np(fa, 3);
	return err;
}

/* Own process group, no signal blocked, every signal at its default (the
 * daemon blocks them all and ignores SIGPIPE). */
static int set_attr(posix_spawnattr_t *attr)
{
	sigset_t set;
	int err;

	err = posix_spawnattr_setflags(attr, POSIX_SPAWN_SETPGROUP |
					     POSIX_SPAWN_SETSIGMASK |
					     POSIX_SPAWN_SETSIGDEF);
	if (!err)
		err = posix_spawnattr_setpgroup(attr, 0);
	sigemptyset(&set);
	if (!err)
		err = posix_spawnattr_setsigmask(attr, &set);
	sigfillset(&set);
	if (!err)
		err = posix_spawnattr_setsigdefault(attr, &set);
	return err;
}

/* Returns 0 or an errno value. */
static int spawn_child(struct run *r, const int fds[3])
{
	const struct exec_spec *spec = r->spec;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	char **argv;
	int err;

	argv = copy_argv(spec);
	if (!argv)
		return ENOMEM;
	err = posix_spawn_file_actions_init(&fa);
	if (err)
		goto fail_argv;
	err = posix_spawnattr_init(&attr);
	if (err)
		goto fail_actions;
	err = set_actions(&fa, fds, spec);
	if (!err)
		err = set_attr(&attr);
	if (!err)
		err = posix_spawn(&r->pid, spec->binary, &fa, &attr, argv,
				  spec->envp ? spec->envp : empty_env);
	posix_spawnattr_destroy(&attr);
fail_actions:
	posix_spawn_file_actions_destroy(&fa);
fail_argv:
	free(argv);
	return err;
}

/* Makes the pipes and starts the child; on success the parent holds only
 * its own ends. Returns 0 or an errno value. */
static int start(struct run *r)
{
	int in[2], out[2], err[2];
	int fds[3];
	int e;

	if (!r->spec->binary || r->spec->binary[0] != '/')
		return EINVAL;
	e = make_pipe(in);
	if (e)
		return e;
	e = make_pipe(out);
	if (e)
		goto fail_in;
	e = make_pipe(err);
	if (e)
		goto fail_out;
	r->in_fd = in[1];
	r->out_fd = out[0];
	r->err_fd = err[0];
	e = set_nonblock(in[1]);
	if (!e)
		e = set_nonblock(out[0]);
	if (!e)
		e = set_nonblock(err[0]);
	fds[0] = in[0];
	fds[1] = out[1];
	fds[2] = err[1];
	if (!e)
		e = spawn_child(r, fds);
	close(in[0]);
	close(out[1]);
	close(err[1]);
	return e;

fail_out:
	close(out[0]);
	close(out[1]);
fail_in:
	close(in[0]);
	close(in[1]);
	return e;
}

/* Never once the child is reaped, and never with a pid of 0 or less, which
 * would reach this very process group or every process. */
static void kill_group(struct run *r, int sig)
{
	if (!r->exited && r->pid > 0)
		kill(-r->pid, sig);
}

/* Ends the run early: the group is killed and no more output is read. */
static void stop(struct run *r)
{
	kill_group(r, SIGKILL);
	r->stopped = 1;
	close_fd(&r->in_fd);
	close_fd(&r->out_fd);
	close_fd(&r->err_fd);
}

/* write(2) that cannot raise SIGPIPE in the caller, whatever its signal
 * set-up: SIGPIPE is blocked around the write, and one the write queued is
 * taken back (unless one was pending before). */
static ssize_t write_quiet(int fd, const void *p, size_t len)
{
	struct timespec zero = { 0, 0 };
	sigset_t pipe_set, old, pending;
	int was_pending, saved;
	ssize_t n;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigemptyset(&pending);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	n = write(fd, p, len);
	saved = errno;
	if (n < 0 && saved == EPIPE && !was_pending)
		sigtimedwait(&pipe_set, NULL, &zero);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return n;
}

static void feed_stdin(struct run *r)
{
	const struct exec_spec *spec = r->spec;
	size_t left = spec->stdin_len - r->in_off;
	ssize_t n;

	n = write_quiet(r->in_fd, spec->stdin_data + r->in_off, left);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			close_fd(&r->in_fd); /* EPIPE: it stopped reading */
		return;
	}
	r->in_off += (size_t)n;
	if (r->in_off == spec->stdin_len)
		close_fd(&r->in_fd);
}

/* Hands len bytes over, as many as max_output still allows. The output
 * callback may wait for its consumer, but not past the timeout: the
 * timers must fire whatever the consumer does. Past it, what does not fit
 * at once is dropped, and so is all that follows (no holes). */
static void deliver(struct run *r, enum exec_channel ch, size_t len)
{
	size_t max = r->spec->max_output;
	int over = 0;
	int rc = 0;

	if (max && len > max - r->delivered) {
		len = max - r->delivered;
		over = 1;
	}
	r->delivered += len;
	if (len && r->output && !r->res->undelivered)
		rc = r->output(r->arg, ch, r->buf, len,
			       r->end_at < 0 ? 0 : r->end_at);
	if (rc == -2)
		r->res->undelivered = 1;
	else if (rc < 0) {
		r->res->cancelled = 1;
		stop(r);
		return;
	}
	if (over) {
		r->res->truncated = 1;
		stop(r);
	}
}

static void read_output(struct run *r, int *fd, enum exec_channel ch)
{
	ssize_t n = read(*fd, r->buf, READ_CHUNK);

	if (n > 0) {
		deliver(r, ch, (size_t)n);
	} else if (n == 0) {
		close_fd(fd);
	} else if (errno != EAGAIN && errno != EINTR) {
		close_fd(fd);
		r->failed = 1;
		stop(r);
	}
}

/* Reaps the child. Without a status to show, the run has failed. */
static void wait_child(struct run *r)
{
	pid_t w;

	do
		w = waitpid(r->pid, &r->status, 0);
	while (w < 0 && errno == EINTR);
	r->have_status = w == r->pid;
	if (!r->have_status)
		r->failed = 1;
	r->exited = 1;
}

/* Sees whether the child has exited; if so kills what is left of its
 * group, then reaps it. */
static void check_exit(struct run *r)
{
	siginfo_t si;
	int rc;

	memset(&si, 0, sizeof(si));
	rc = waitid(P_PID, (id_t)r->pid, &si, WEXITED | WNOHANG | WNOWAIT);
	if (rc < 0 && errno == EINTR)
		return;
	if (rc == 0 && si.si_pid != r->pid)
		return;
	/* what it left behind dies now, so no pipe is held open by it */
	contain_kill(r->contain);
	kill_group(r, SIGKILL);
	wait_child(r);
	r->drain_until = (int64_t)text_mono_ms() + DRAIN_MS;
	close_fd(&r->pidfd);
	close_fd(&r->in_fd);
}

static void on_timers(struct run *r, int64_t now)
{
	if (r->exited || r->stopped)
		return;
	if (r->term_at >= 0 && now >= r->term_at) {
		r->res->timed_out = 1;
		kill_group(r, SIGTERM);
		r->term_at = -1;
		r->kill_at = now + r->spec->grace_ms;
	}
	if (r->kill_at >= 0 && now >= r->kill_at) {
		kill_group(r, SIGKILL);
		r->kill_at = -1;
	}
}

static int64_t earliest(int64_t a, int64_t b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

/* Milliseconds poll(2) may sleep; -1: until an fd is ready. */
static int poll_timeout(const struct run *r, int64_t now)
{
	int64_t at = -1;

	if (r->exited) {
		at = r->drain_until;
	} else {
		if (!r->stopped)
			at = earliest(r->term_at, r->kill_at);
		if (r->pidfd < 0)
			at = earliest(at, now + TICK_MS);
	}
	if (at < 0)
		return -1;
	if (at <= now)
		return 0;
	return at - now > INT32_MAX ? INT32_MAX : (int)(at - now);
}

static void fill_pollfds(const struct run *r, struct pollfd *pfd)
{
	int watch_cancel = !r->stopped && r->spec->cancel_fd >= 0;

	memset(pfd, 0, P_COUNT * sizeof(*pfd));
	pfd[P_IN].fd = r->in_fd;
	pfd[P_IN].events = POLLOUT;
	pfd[P_OUT].fd = r->out_fd;
	pfd[P_OUT].events = POLLIN;
	pfd[P_ERR].fd = r->err_fd;
	pfd[P_ERR].events = POLLIN;
	pfd[P_CANCEL].fd = watch_cancel ? r->spec->cancel_fd : -1;
	pfd[P_CANCEL].events = POLLIN;
	/* a client that leaves while its answer waits: as a cancel */
	pfd[P_CLIENT].fd = watch_cancel ? r->spec->client_fd : -1;
	pfd[P_CLIENT].events = POLLRDHUP;
	pfd[P_CHILD].fd = r->exited ? -1 : r->pidfd;
	pfd[P_CHILD].events = POLLIN;
}

static void on_events(struct run *r, const struct pollfd *pfd)
{
	if (pfd[P_CANCEL].revents || pfd[P_CLIENT].revents) {
		r->res->cancelled = 1;
		stop(r);
	}
	if (pfd[P_IN].revents && r->in_fd >= 0)
		feed_stdin(r);
	if (pfd[P_OUT].revents && r->out_fd >= 0)
		read_output(r, &r->out_fd, EXEC_STDOUT);
	if (pfd[P_ERR].revents && r->err_fd >= 0)
		read_output(r, &r->err_fd, EXEC_STDERR);
	if (!r->exited && (r->pidfd < 0 || pfd[P_CHILD].revents))
		check_exit(r);
}

/* Runs until the child is reaped and its pipes are drained. */
static void supervise(struct run *r)
{
	struct pollfd pfd[P_COUNT];

	for (;;) {
		int64_t now = (int64_t)text_mono_ms();

		on_timers(r, now);
		if (r->exited && (now >= r->drain_until ||
				  (r->out_fd < 0 && r->err_fd < 0)))
			break;
		fill_pollfds(r, pfd);
		if (poll(pfd, P_COUNT, poll_timeout(r, now)) < 0) {
			if (errno == EINTR)
				continue;
			r->failed = 1;
			stop(r);
			break;
		}
		on_events(r, pfd);
	}
	close_fd(&r->in_fd);
	close_fd(&r->out_fd);
	close_fd(&r->err_fd);
}

/* The last word: whatever happened, the child is dead and reaped. */
static void reap(struct run *r)
{
	if (r->exited)
		return;
	contain_kill(r->contain);
	kill_group(r, SIGKILL);
	wait_child(r);
}

static void set_result(struct run *r)
{
	struct exec_result *res = r->res;

	if (!r->have_status) {
		res->exit_code = -1;
		res->signal = 0;
	} else if (WIFEXITED(r->status)) {
		res->exit_code = WEXITSTATUS(r->status);
		res->signal = 0;
	} else if (WIFSIGNALED(r->status)) {
		res->exit_code = -1;
		res->signal = WTERMSIG(r->status);
	} else {
		res->exit_code = -1;
		res->signal = 0;
	}
}

int exec_run(const struct exec_spec *spec, exec_output_fn output, void *arg,
	     struct exec_result *res)
{
	struct run r;
	int err;

	memset(res, 0, sizeof(*res));
	memset(&r, 0, sizeof(r));
	r.spec = spec;
	r.output = output;
	r.arg = arg;
	r.res = res;
	r.pidfd = r.in_fd = r.out_fd = r.err_fd = -1;
	r.end_at = r.term_at = r.kill_at = -1;
	if (spec->stdin_len && !spec->stdin_data) {
		res->spawn_errno = EINVAL;
		return -1;
	}
	r.buf = malloc(READ_CHUNK);
	if (!r.buf) {
		res->spawn_errno = ENOMEM;
		return -1;
	}
	r.contain = contain_begin();
	if (!r.contain) {
		err = ENOMEM;
		goto fail;
	}
	err = start(&r);
	contain_attach(r.contain, err ? -1 : r.pid);
	if (err)
		goto fail;
	r.pidfd = (int)syscall(SYS_pidfd_open, r.pid, 0);
	if (spec->stdin_len == 0)
		close_fd(&r.in_fd);
	if (spec->timeout_ms)
		r.end_at = r.term_at = (int64_t)text_mono_ms() + spec->timeout_ms;
	supervise(&r);
	reap(&r);
	contain_end(r.contain);
	close_fd(&r.pidfd);
	set_result(&r);
	free(r.buf);
	return r.failed ? -1 : 0;

fail:
	close_fd(&r.in_fd);
	close_fd(&r.out_fd);
	close_fd(&r.err_fd);
	free(r.buf);
	res->spawn_errno = err;
	return -1;
}
