/* Unit tests of exec.c: real child processes (tests/clitool), no mocks.
 * The path of clitool comes from $CLITOOL ("./tests/clitool" without). */
#include "config.h"

#include <CUnit/Basic.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exec.h"
#include "cu_run.h"

/* The fixtures are string literals put where the config and the exec spec
 * hold writable strings (char **: the config owns and frees its own);
 * nothing here writes through them, so -Wwrite-strings' const is
 * dropped on purpose in this file. */
#pragma GCC diagnostic ignored "-Wdiscarded-qualifiers"
#pragma GCC diagnostic ignored "-Wcast-qual"

#define KEEP_MAX (4 * 1024 * 1024)  /* bytes a sink stores per channel */

static const char *clitool;
static char *plain_env[] = { "PATH=/usr/bin:/bin", NULL };

/* What a run handed to the callback. */
struct sink {
	char *out;            /* stored stdout (up to KEEP_MAX); owned */
	size_t out_len;
	char *err;            /* stored stderr (up to KEEP_MAX); owned */
	size_t err_len;
	size_t total;         /* every byte delivered, stored or not */
	int calls;
	int64_t first_ms;     /* when the first piece came; -1: none */
	int stop_after;       /* return -1 on this call; 0: never */
	int bad_len;          /* a piece of 0 bytes came */
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static void sink_init(struct sink *s)
{
	memset(s, 0, sizeof(*s));
	s->out = malloc(KEEP_MAX);
	s->err = malloc(KEEP_MAX);
	s->first_ms = -1;
}

static void sink_free(struct sink *s)
{
	free(s->out);
	free(s->err);
}

static void keep(char *buf, size_t *len, const char *data, size_t n)
{
	size_t room = KEEP_MAX - *len;

	if (n > room)
		n = room;
	memcpy(buf + *len, data, n);
	*len += n;
}

static int collect(void *arg, enum exec_channel ch, const char *data,
		   size_t len, long long deadline_ms)
{
	struct sink *s = arg;

	(void)deadline_ms;
	if (s->first_ms < 0)
		s->first_ms = now_ms();
	if (len == 0)
		s->bad_len = 1;
	s->calls++;
	s->total += len;
	if (ch == EXEC_STDOUT)
		keep(s->out, &s->out_len, data, len);
	else
		keep(s->err, &s->err_len, data, len);
	if (s->stop_after && s->calls >= s->stop_after)
		return -1;
	return 0;
}

/* Under valgrind posix_spawn() cannot report a failure in the child (its
 * clone(CLONE_VM | CLONE_VFORK) becomes a fork): the child exits 127. Under
 * valgrind, too, pidfd_open(2) is unknown, so there exec.c's waitid
 * fallback is what gets tested. */
static int under_valgrind(void)
{
	const char *p = getenv("LD_PRELOAD");

	return p && strstr(p, "vgpreload");
}

/* The run could not start, for the reason want. */
static int spawn_failed(int rc, const struct exec_result *res, int want)
{
	if (rc == -1 && res->spawn_errno == want)
		return 1;
	return under_valgrind() && rc == 0 && res->exit_code == 127;
}

static void spec_init(struct exec_spec *spec, char **argv)
{
	memset(spec, 0, sizeof(*spec));
	spec->binary = clitool;
	spec->argv = argv;
	spec->envp = plain_env;
	spec->cancel_fd = -1;
	spec->client_fd = -1;
	spec->cwd_fd = -1;
}

/* stdout of the run equals want exactly. */
static int out_is(const struct sink *s, const char *want)
{
	size_t n = strlen(want);

	return s->out_len == n && memcmp(s->out, want, n) == 0;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

static void test_argv_literal(void)
{
	char *argv[] = { "ignored", "args", "a b", "one\ntwo", "$(id)", ";",
			 "*", "'q'", "\"dq\"", "", "`x`|&>", NULL };
	char want[1024];
	struct exec_spec spec;
	struct exec_result res;
	struct sink s;

	snprintf(want, sizeof(want),
		 "11\n[%s]\n[args]\n[a b]\n[one\ntwo]\n[$(id)]\n[;]\n[*]\n"
		 "['q']\n[\"dq\"]\n[]\n[`x`|&>]\n", clitool);
	sink_init(&s);
	spec_init(&spec, argv);
	CU_ASSERT_EQUAL(exec_run(&spec, collect, &s, &res), 0);
	CU_ASSERT_EQUAL(res.spawn_errno, 0);
	CU_ASSERT_EQUAL(res.exit_code, 0);
	CU_ASSERT(out_is(&s, want));
	CU_ASSERT_EQUAL(s.err_len, 0);
	CU_ASSERT_EQUAL(s.bad_len, 0);
	sink_free(&s);
}

static void test_argv_only_binary(void)
{
	char *argv[] = { "whatever", NULL };
	struct exec_spec spec;
	struct exec_result res;

	spec_init(&spec, argv);
	CU_ASSERT_EQUAL(exec_run(&spec, NULL, NULL, &res), 0);
	CU_ASSERT_EQUAL(res.exit_code, 0);
	spec.argv = NULL;
	CU_ASSERT_EQUAL(exec_run(&spec, NULL, NULL, &res), 0);
	CU_ASSERT_EQUAL(res.exit_code, 0);
}

static void test_env_exact(void)
{
	char *argv[] = { "x", "env", NULL };
	char *env[] = { "FOO=bar baz", "EMPTY=", "HOME=/nowhere", NULL };
	char *preload[] = { "A=1", "LD_PRELOAD=", NULL };
	char *none[] = { NULL };
	struct exec_spec spec;
	struct exec_result res;
	struct sink s;

	setenv("CARAPACE_EXEC_LEAK", "secret", 1);
	spec_init(&spec, argv);
	spec.envp = env;
	sink_init(&s);
	CU_ASSERT_EQUAL(exec_run(&spec, collect, &s, &res), 0);
	CU_ASSERT(out_is(&s, "FOO=bar baz\nEMPTY=\nHOME=/nowhere\n"));
	sink_free(&s);

	spec.envp = preload;
	sink_init(&s);
	CU_ASSERT_EQUAL(exec_run(&spec, collect, &s, &res), 0);
	CU_ASSERT(out_is(&s, "A=1\nLD_PRELOAD=\n"));
	sink_free(&s);

	spec.envp = none;
	sink_init(&s);
	CU_ASSERT_EQUAL(exec_run(&spec, collect, &s, &res), 0);
	CU_ASSERT(out_is(&s, ""));
	sink_free(&s);
	unsetenv("CARAPACE_EXEC_LEAK");
}

static void test_cwd(void)
{
	char *argv[] = { "x", "cwd", NULL };
	struct exec_spec spec;
	struct exec_result res;
	struct sink s;
	int rc;

	spec_init(&spec, argv);
	sink_init(&s);
	CU_ASSERT_EQUAL(exec_run(&spec, collect, &s, &res), 0);
	CU_ASSERT(out_is(&s, "/\n"));
	sink_free(&s);

	spec.cwd = "/tmp";
	sink_init(&s);
	CU_ASSERT_EQUAL(exec_run(&spec, collect, &s, &res), 0);
	CU_ASSERT(out_is(&s, "/tmp\n"));
	sink_free(&s);

	spec.cwd = "/nonexistent/carapace-exec-test";
	sink_init(&s);
	rc = exec_run(&spec, collect, &s, &res);
	CU_ASSERT(spawn_failed(rc, &res, ENOENT));
	CU_ASSERT_EQUAL(s.calls, 0);
	sink_free(&s);
}

/* A directory descriptor wins over the path, and is not left open in the
 * child. */
static void test_cwd_fd(void)
{
	char *argv[] = { "x", "cwd", "fds", NULL };
	struct exec_spec spec;
	struct exec_result res;
	struct sink s;

	spec_init(&spec, argv);
	spec.cwd = "/nonexistent/carapace-exec-test";
	spec.cwd_fd = open("/tmp", O_PATH | O_DIRECTORY | O_CLOEXEC);
	CU_ASSERT_FATAL(spec.cwd_fd >= 0);
	sink_init(&s);
	CU_ASSERT_EQUAL(exec_run(&spec, collect, &s, &res), 0);
	CU_ASSERT(out_is(&s, "/tmp\n0\n1\n2\n"));
	sink_free(&s);
	close(spec.cwd_fd);
}

static void test_stdin_one_mib(void)
{
	char *argv[] = { "x", "cat", NULL };
	size_t len = 1024 * 1024;
	char *data = malloc(len);
	struct exec_spec spec;
	struct exec_result res;
	struct sink s;

	for (size_t i = 0; i < len; i++)
		data[i] = (char)((i * 131 + 7) ^ (i >> 9));
	spec_init(&spec, argv);
	spec.stdin_data = data;
	spec.stdin_len = len;
	sink_init(&s);
	CU_ASSERT_EQUAL(exec_run(&spec, collect, &s, &res), 0);
	CU_ASSERT_EQUAL(res.exit_code, 0);
	CU_ASSERT_EQUAL(s.out_len, len);
	CU_ASSERT(s.out_len == len && memcmp(s.out, data, len) == 0);
	sink_free(&s);
	free(data);
}

static void test_stdin_empty_and_unread(void)
{
	char *cat[] = { "x", "cat", NULL };
	char *quit[] = { "x", "print", "done", "exit", "0", NULL };
	size_t len = 1024 * 1024;
	char *data = calloc(1, len);
	struct exec_spec spec;
	struct exec_result res;
	struct sink s;

	/* No stdin: cat sees EOF at once. */
	spec_init(&spec, cat);
	spec.timeout_ms = 5000;
	sink_init(&s);
	CU_ASSERT_EQUAL(exec_run(&spec, collect, &s, &res), 0);
	CU_ASSERT_EQUAL(res.timed_out, 0);
	CU_ASSERT(out_is(&s, ""));
	sink_free(&s);

	/* A child that never reads 1 MiB of stdin: EPIPE, no SIGPIPE here
	 * (this process keeps SIGPIPE at its default). */
	spec.argv = quit;
	spec.stdin_data = data;
	spec.stdin_len = len;
	sink_init(&s);
	CU_ASSERT_EQUAL(exec_run(&spec, collect, &s, &res), 0);
	CU_ASSERT_EQUAL(res.exit_code, 0);
	CU_ASSERT_EQUAL(res.timed_out, 0);
	CU_ASSERT(out_is(&s, "done"));
	sink_free(&s);
	free(data);
}

static void test_stdout_stderr_separate(void)
{
	char *argv[] = { "x", "print", "OUT", "eprint", "ERR", "print", "MORE",
			 "eprint", "!", NULL };
	struct exec_spec spec;
	struct exec_result res;
	struct sink s;

	spec_init(&spec, argv);
	sink_init(&s);
	CU_ASSERT_EQUAL(exec_run(&spec, collect, &s, &res), 0);
	CU_ASSERT(out_is(&s, "OUTMORE"));
	CU_ASSERT(s.err_len == 4 && memcmp(s.err, "ERR!", 4) == 0);
	sink_free(&s);
}

static void test_exit_codes_and_signals(void)
{
	char *three[] = { "x", "exit", "3", NULL };
	char *nine[] = { "x", "kill", "9", NULL };
	char *segv[] = { "x", "print", "a", "kill", "11", NULL };
	struct exec_spec spec;
	struct exec_result res;

	spec_init(&spec, three);
	CU_ASSERT_EQUAL(exec_run(&spec, NULL, NULL, &res), 0);
	CU_ASSERT_EQUAL(res.exit_code, 3);
	CU_ASSERT_EQUAL(res.signal, 0);
	CU_ASSERT_EQUAL(res.timed_out + res.truncated + res.cancelled, 0);

	spec.argv = nine;
	CU_ASSERT_EQUAL(exec_run(&spec, NULL, NULL, &res), 0);
	CU_ASSERT_EQUAL(res.exit_code, -1);
	CU_ASSERT_EQUAL(res.signal, 9);
	CU_ASSERT_EQUAL(res.cancelled, 0);

	spec.argv = segv;
	CU_ASSERT_EQUAL(exec_run(&spec, NULL, NULL, &res), 0);
	CU_ASSERT_EQUAL(res.exit_code, -1);
	CU_ASSERT_EQUAL(res.signal, 11);
}

/* The caller's blocked and ignored signals are not the child's. */
static void test_signal_defaults(void)
{
	char *hup[] = { "x", "kill", "1", NULL };
	char *idle[] = { "x", "sleep", "10000", NULL };
	struct exec_spec spec;
	struct exec_result res;
	sigset_t set, old;
	struct sigaction ign, old_hup;
	int64_t t0;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigaction(SIGHUP, &ign, &old_hup);

	spec_init(&spec, hup);
	CU_ASSERT_EQUAL(exec_run(&spec, NULL, NULL, &res), 0);
	CU_ASSERT_EQUAL(res.signal, SIGHUP);

	spec.argv = idle;
	spec.timeout_ms = 200;
	spec.grace_ms = 5000;
	t0 = now_ms();
	CU_ASSERT_EQUAL(exec_run(&spec, NULL, NULL, &res), 0);
	CU_ASSERT_EQUAL(res.timed_out, 1);
	CU_ASSERT_EQUAL(res.signal, SIGTERM);
	CU_ASSERT(now_ms() - t0 < 1500);

	sigaction(SIGHUP, &old_hup, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void test_timeout_ignoring_term(void)
{
	char *argv[] = { "x", "ignore-term", "println", "up", "sleep",
			 "10000", NULL };
	struct exec_spec spec;
	struct exec_result res;
	struct sink s;
	int64_t t0, dt;

	spec_init(&spec, argv);
	spec.timeout_ms = 300;
	spec.grace_ms = 300;
	sink_init(&s);
	t0 = now_ms();
	CU_ASSERT_EQUAL(exec_run(&spec, collect, &s, &res), 0);
	dt = now_ms() - t0;
	CU_ASSERT_EQUAL(res.timed_out, 1);
	CU_ASSERT_EQUAL(res.signal, SIGKILL);
	CU_ASSERT_EQUAL(res.exit_code, -1);
	CU_ASSERT(dt >= 600);
	/* Counted from the child's first words, not from before the spawn,
	 * which is slow under valgrind. Generous: make -j2 check runs this
	 * beside 2,000 streams; the 100 MB flood test shows a missing kill. */
	CU_ASSERT(s.first_ms >= 0 && now_ms() - s.first_ms < 300 + 300 + 4000);
	CU_ASSERT(dt < 8000);
	CU_ASSERT(out_is(&s, "up\n"));
	sink_free(&s);
}

static void test_max_output_flood(void)
{
	char *argv[] = { "x", "flood", "100000000", NULL };
	struct exec_spec spec;
	struct exec_result res;
	struct sink s;
	int64_t t0;

	spec_init(&spec, argv);
	spec.max_output = 1024 * 1024;
	sink_init(&s);
	t0 = now_ms();
	CU_ASSERT_EQUAL(exec_run(&spec, collect, &s, &res), 0);
	/* Returns once the cap is hit: without the kill the child would
	 * block on a full pipe and this would hang. */
	CU_ASSERT(now_ms() - t0 < 10000);
	CU_ASSERT_EQUAL(res.truncated, 1);
	CU_ASSERT_EQUAL(s.total, 1024 * 1024);
	CU_ASSERT_EQUAL(s.out_len, 1024 * 1024);
	CU_ASSERT_EQUAL(res.cancelled, 0);
	CU_ASSERT_EQUAL(s.bad_len, 0);
	sink_free(&s);
}

static void test_max_output_edges(void)
{
	char *exact[] = { "x", "flood", "1000", NULL };
	char *over[] = { "x", "flood", "1001", NULL };
	char *both[] = { "x", "print", "12345", "eprint", "67890", NULL };
	struct exec_spec spec;
	struct exec_result res;
	struct sink s;

	spec_init(&spec, exact);
	spec.max_output = 1000;
	sink_init(&s);
	CU_ASSERT_EQUAL(exec_run(&spec, collect, &s, &res), 0);
	CU_ASSERT_EQUAL(res.truncated, 0);
	CU_ASSERT_EQUAL(res.exit_code, 0);
	CU_ASSERT_EQUAL(s.total, 1000);
	sink_free(&s);

	spec.argv = over;
	sink_init(&s);
	CU_ASSERT_EQUAL(exec_run(&spec, collect, &s, &res), 0);
	CU_ASSERT_EQUAL(res.truncated, 1);
	CU_ASSERT_EQUAL(s.total, 1000);
	sink_free(&s);

	/* stdout and stderr count together. */
	spec.argv = both;
	spec.max_output = 8;
	sink_init(&s);
	CU_ASSERT_EQUAL(exec_run(&spec, collect, &s, &res), 0);
	CU_ASSERT_EQUAL(res.truncated, 1);
	CU_ASSERT_EQUAL(s.total, 8);
	CU_ASSERT(out_is(&s, "12345"));
	CU_ASSERT(s.err_len == 3 && memcmp(s.err, "678", 3) == 0);
	sink_free(&s);
}

/* A sink that writes cancel_fd once a line of stdout has come: the
 * cancel lands while the child sleeps, however slow its start was. */
struct poke {
	struct sink s;
	int fd;
	int64_t poked_ms;     /* when it wrote; -1: not yet */
};

static int collect_then_poke(void *arg, enum exec_channel ch,
			     const char *data, size_t len,
			     long long deadline_ms)
{
	struct poke *p = arg;
	uint64_t one = 1;

	collect(&p->s, ch, data, len, deadline_ms);
	if (p->poked_ms < 0 && p->s.out_len > 0 &&
	    p->s.out[p->s.out_len - 1] == '\n') {
		if (write(p->fd, &one, sizeof(one)) != sizeof(one))
			abort();
		p->poked_ms = now_ms();
	}
	return 0;
}

static void test_cancel_fd(void)
{
	char *argv[] = { "x", "println", "hi", "sleep", "10000", NULL };
	struct exec_spec spec;
	struct exec_result res;
	struct poke p;
	int64_t dt;

	p.fd = eventfd(0, EFD_CLOEXEC);
	p.poked_ms = -1;
	CU_ASSERT_FATAL(p.fd >= 0);
	spec_init(&spec, argv);
	spec.cancel_fd = p.fd;
	sink_init(&p.s);
	CU_ASSERT_EQUAL(exec_run(&spec, collect_then_poke, &p, &res), 0);
	CU_ASSERT_FATAL(p.poked_ms >= 0);
	dt = now_ms() - p.poked_ms;
	printf("\n    ended %lld ms after the poke ", (long long)dt);
	CU_ASSERT_EQUAL(res.cancelled, 1);
	CU_ASSERT_EQUAL(res.signal, SIGKILL);
	/* the child sleeps 10 s: a cancel not acted on takes that long */
	CU_ASSERT(dt < 5000);
	CU_ASSERT(out_is(&p.s, "hi\n"));
	sink_free(&p.s);
	close(p.fd);
}

static void test_callback_stops(void)
{
	char *argv[] = { "x", "println", "one", "sleep", "10000", NULL };
	struct exec_spec spec;
	struct exec_result res;
	struct sink s;
	int64_t t0;

	spec_init(&spec, argv);
	sink_init(&s);
	s.stop_after = 1;
	t0 = now_ms();
	CU_ASSERT_EQUAL(exec_run(&spec, collect, &s, &res), 0);
	CU_ASSERT(now_ms() - t0 < 2000);
	CU_ASSERT_EQUAL(res.cancelled, 1);
	CU_ASSERT_EQUAL(res.signal, SIGKILL);
	CU_ASSERT_EQUAL(s.calls, 1);
	sink_free(&s);
}

static void test_grandchild_holding_stdout(void)
{
	char *same[] = { "x", "print", "hi", "grandchild", "10000", "exit",
			 "0", NULL };
	char *away[] = { "x", "print", "hi", "setsid-grandchild", "3000",
			 "exit", "0", NULL };
	struct exec_spec spec;
	struct exec_result res;
	struct sink s;
	int64_t t0;

	/* In the child's group: killed at the child's exit, EOF at once. */
	spec_init(&spec, same);
	sink_init(&s);
	t0 = now_ms();
	CU_ASSERT_EQUAL(exec_run(&spec, collect, &s, &res), 0);
	CU_ASSERT(now_ms() - t0 < 2000);
	CU_ASSERT_EQUAL(res.exit_code, 0);
	CU_ASSERT(out_is(&s, "hi"));
	sink_free(&s);

	/* Out of reach in a session of its own: a bounded drain. */
	spec.argv = away;
	sink_init(&s);
	t0 = now_ms();
	CU_ASSERT_EQUAL(exec_run(&spec, collect, &s, &res), 0);
	CU_ASSERT(now_ms() - t0 < 2000);
	CU_ASSERT_EQUAL(res.exit_code, 0);
	CU_ASSERT(out_is(&s, "hi"));
	sink_free(&s);
}

static void test_live_delivery(void)
{
	char *argv[] = { "x", "lines", "3", "300", NULL };
	struct exec_spec spec;
	struct exec_result res;
	struct sink s;
	int64_t t0, end;

	spec_init(&spec, argv);
	sink_init(&s);
	t0 = now_ms();
	CU_ASSERT_EQUAL(exec_run(&spec, collect, &s, &res), 0);
	end = now_ms();
	CU_ASSERT(end - t0 >= 600);
	/* Line 1 came at once, 600 ms before the child ended (the spawn
	 * itself can take a while under valgrind). */
	CU_ASSERT(s.first_ms >= 0 && s.first_ms - t0 < 5000);
	CU_ASSERT(end - s.first_ms >= 450);
	CU_ASSERT(s.calls >= 3);
	CU_ASSERT(out_is(&s, "line 1\nline 2\nline 3\n"));
	sink_free(&s);
}

/* Only 0, 1 and 2 reach the child, even an fd this process leaves open
 * across exec. */
static void test_child_gets_stdio_only(void)
{
	char *argv[] = { "x", "fds", NULL };
	struct exec_spec spec;
	struct exec_result res;
	struct sink s;
	int fd = open("/dev/null", O_RDONLY);

	CU_ASSERT(fd > 2);
	spec_init(&spec, argv);
	sink_init(&s);
	CU_ASSERT_EQUAL(exec_run(&spec, collect, &s, &res), 0);
	CU_ASSERT(out_is(&s, "0\n1\n2\n"));
	sink_free(&s);
	close(fd);
}

static void test_no_fd_leak_no_zombie(void)
{
	char *argv[] = { "x", "print", "x", "eprint", "y", "exit", "1", NULL };
	char *idle[] = { "x", "sleep", "10000", NULL };
	char *nope[] = { "x", NULL };
	char in[] = "some stdin";
	struct exec_spec spec;
	struct exec_result res;
	struct sink s;
	int before = count_fds();

	for (int i = 0; i < 50; i++) {
		spec_init(&spec, i % 10 == 9 ? idle : argv);
		spec.timeout_ms = 50;
		spec.stdin_data = in;
		spec.stdin_len = i % 2 ? sizeof(in) : 0;
		spec.max_output = i % 3 ? 0 : 1;
		if (i % 7 == 6)
			spec.cwd = "/nonexistent/dir";
		sink_init(&s);
		exec_run(&spec, collect, &s, &res);
		sink_free(&s);
	}
	spec_init(&spec, nope);
	spec.binary = "/nonexistent/binary";
	exec_run(&spec, NULL, NULL, &res);
	CU_ASSERT_EQUAL(count_fds(), before);
	errno = 0;
	CU_ASSERT_EQUAL(waitpid(-1, NULL, WNOHANG), -1);
	CU_ASSERT_EQUAL(errno, ECHILD);
}

/* A consumer that never takes anything: the callback waits as long as it
 * may (until the deadline exec gives it) and gives up. */
struct stuck {
	int calls;
	long long deadline_ms;
};

static int stuck_output(void *arg, enum exec_channel ch, const char *data,
			size_t len, long long deadline_ms)
{
	struct stuck *st = arg;
	int64_t now = now_ms();

	(void)ch;
	(void)data;
	(void)len;
	st->calls++;
	st->deadline_ms = deadline_ms;
	if (deadline_ms <= 0)
		return -1; /* it would wait for ever: fail the test */
	if (deadline_ms > now)
		sleep_ms((int)(deadline_ms - now));
	return -2;
}

static void test_timeout_with_stuck_consumer(void)
{
	char *argv[] = { "x", "flood", "100000000", NULL };
	struct exec_spec spec;
	struct exec_result res;
	struct stuck st = { 0, 0 };

	spec_init(&spec, argv);
	spec.timeout_ms = 500;
	spec.grace_ms = 5000;
	int64_t t0 = now_ms();
	CU_ASSERT_EQUAL(exec_run(&spec, stuck_output, &st, &res), 0);
	int64_t ms = now_ms() - t0;
	CU_ASSERT(res.timed_out);
	CU_ASSERT(res.undelivered);
	CU_ASSERT(!res.cancelled);
	CU_ASSERT_EQUAL(res.signal, SIGTERM);
	CU_ASSERT_EQUAL(st.calls, 1); /* nothing after the drop */
	/* the run's timeout, not timeout + grace (t0 + 5500): the margin is
	 * for exec_run's start, late on a loaded machine */
	CU_ASSERT(st.deadline_ms >= t0 + 500 && st.deadline_ms <= t0 + 4000);
	/* SIGTERM ends it: no wait for the grace */
	CU_ASSERT(ms >= 500 && ms < 5000);
}

static void test_bad_binary(void)
{
	char *argv[] = { "x", NULL };
	struct exec_spec spec;
	struct exec_result res;
	int fds = count_fds();
	int rc;

	spec_init(&spec, argv);
	spec.binary = "clitool";
	CU_ASSERT_EQUAL(exec_run(&spec, NULL, NULL, &res), -1);
	CU_ASSERT_EQUAL(res.spawn_errno, EINVAL);

	spec.binary = "bin/true";
	CU_ASSERT_EQUAL(exec_run(&spec, NULL, NULL, &res), -1);
	CU_ASSERT_EQUAL(res.spawn_errno, EINVAL);

	spec.binary = NULL;
	CU_ASSERT_EQUAL(exec_run(&spec, NULL, NULL, &res), -1);
	CU_ASSERT_EQUAL(res.spawn_errno, EINVAL);

	spec.binary = "/nonexistent/carapace-exec-test";
	rc = exec_run(&spec, NULL, NULL, &res);
	CU_ASSERT(spawn_failed(rc, &res, ENOENT));

	spec.binary = "/tmp";
	rc = exec_run(&spec, NULL, NULL, &res);
	CU_ASSERT(spawn_failed(rc, &res, EACCES));
	CU_ASSERT_EQUAL(count_fds(), fds);
}

int main(void)
{
	clitool = getenv("CLITOOL");
	if (!clitool || !*clitool)
		clitool = "./tests/clitool";
	if (clitool[0] != '/') {
		static char abs[4096];
		char cwd[2048];

		if (!getcwd(cwd, sizeof(cwd)))
			return 1;
		snprintf(abs, sizeof(abs), "%s/%s", cwd, clitool);
		clitool = abs;
	}
	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	CU_pSuite suite = CU_add_suite("exec", NULL, NULL);
	CU_add_test(suite, "argv is passed literally", test_argv_literal);
	CU_add_test(suite, "argv of the binary alone", test_argv_only_binary);
	CU_add_test(suite, "env is exactly envp", test_env_exact);
	CU_add_test(suite, "cwd honoured, missing cwd fails", test_cwd);
	CU_add_test(suite, "cwd_fd honoured, not inherited", test_cwd_fd);
	CU_add_test(suite, "1 MiB of stdin through cat", test_stdin_one_mib);
	CU_add_test(suite, "no stdin, unread stdin",
		    test_stdin_empty_and_unread);
	CU_add_test(suite, "stdout and stderr apart",
		    test_stdout_stderr_separate);
	CU_add_test(suite, "exit codes and signals",
		    test_exit_codes_and_signals);
	CU_add_test(suite, "child gets default signals", test_signal_defaults);
	CU_add_test(suite, "timeout, SIGTERM ignored",
		    test_timeout_ignoring_term);
	CU_add_test(suite, "max_output stops a flood", test_max_output_flood);
	CU_add_test(suite, "max_output edges", test_max_output_edges);
	CU_add_test(suite, "cancel_fd", test_cancel_fd);
	CU_add_test(suite, "callback -1 stops", test_callback_stops);
	CU_add_test(suite, "grandchild holding stdout",
		    test_grandchild_holding_stdout);
	CU_add_test(suite, "output delivered live", test_live_delivery);
	CU_add_test(suite, "child gets stdio only",
		    test_child_gets_stdio_only);
	CU_add_test(suite, "no fd leak, no zombie", test_no_fd_leak_no_zombie);
	CU_add_test(suite, "bad binary", test_bad_binary);
	CU_add_test(suite, "timeout with a consumer that takes nothing",
		    test_timeout_with_stuck_consumer);
	return cu_run();
}
