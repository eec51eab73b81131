/* clitool — a child process for test_exec: does what its arguments say,
 * left to right.
 *
 *   print TEXT        TEXT on stdout, no newline added
 *   println TEXT      TEXT and a newline on stdout
 *   eprint TEXT       TEXT on stderr
 *   sleep MS          sleep MS milliseconds
 *   flood BYTES       BYTES of 'x' on stdout, fast; stops quietly on EPIPE
 *   cat               stdin to stdout until EOF
 *   env               the environment, one entry a line
 *   cwd               the working directory and a newline
 *   fds               the open descriptors, one a line
 *   args ...          argc, then each argv element as "[arg]", one a line;
 *                     the words after it are data, not commands
 *   exit N            exit with status N
 *   kill SIG          raise signal SIG
 *   ignore-term       ignore SIGTERM from here on
 *   grandchild MS     fork a child that holds stdout for MS ms; go on
 *   setsid-grandchild MS   the same, in a session (and group) of its own
 *   lines N MS        N lines "line i\n", MS ms apart
 *   detach MS         leave a process behind the way a daemon does (fork,
 *                     setsid, fork, the middle one exits): it holds
 *                     stdout for MS ms; "detached PID\n" names it; go on
 *   hop MS            leave a process behind that also leaves its cgroup
 *                     for the parent one, then forks anew every 100 ms
 *                     (so it always looks young) for MS ms; "hopper
 *                     PID\n" names the first; go on
 *
 * Uses libc only (config.h only for the feature macros: it builds on its
 * own). A bad command line exits with status 2. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void usage(const char *why)
{
	fprintf(stderr, "clitool: %s\n", why);
	exit(2);
}

static long number(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end)
		usage("bad number");
	return v;
}

/* Writes it all; returns -1 on error (errno set). */
static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void out(int fd, const char *p, size_t len)
{
	if (write_all(fd, p, len) < 0)
		exit(1);
}

static void outs(const char *s)
{
	out(STDOUT_FILENO, s, strlen(s));
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void do_flood(long bytes)
{
	static char buf[65536];

	signal(SIGPIPE, SIG_IGN);
	memset(buf, 'x', sizeof(buf));
	while (bytes > 0) {
		size_t n = bytes < (long)sizeof(buf) ? (size_t)bytes
						      : sizeof(buf);
		if (write_all(STDOUT_FILENO, buf, n) < 0) {
			if (errno == EPIPE)
				exit(0);
			exit(1);
		}
		bytes -= (long)n;
	}
}

static void do_cat(void)
{
	static char buf[65536];
	ssize_t n;

	for (;;) {
		n = read(STDIN_FILENO, buf, sizeof(buf));
		if (n == 0)
			return;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			exit(1);
		}
		out(STDOUT_FILENO, buf, (size_t)n);
	}
}

static void do_env(void)
{
	for (char **e = environ; *e; e++) {
		outs(*e);
		outs("\n");
	}
}

static void do_cwd(void)
{
	char buf[4096];

	if (!getcwd(buf, sizeof(buf)))
		exit(1);
	outs(buf);
	outs("\n");
}

static void do_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	if (!d)
		exit(1);
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (number(de->d_name) == dirfd(d))
			continue;
		outs(de->d_name);
		outs("\n");
	}
	closedir(d);
}

static void do_args(int argc, char **argv)
{
	char line[32];

	snprintf(line, sizeof(line), "%d\n", argc);
	outs(line);
	for (int i = 0; i < argc; i++) {
		outs("[");
		outs(argv[i]);
		outs("]\n");
	}
}

static void do_grandchild(long ms, int own_session)
{
	pid_t pid = fork();

	if (pid < 0)
		exit(1);
	if (pid == 0) {
		if (own_session)
			setsid();
		sleep_ms(ms);
		_exit(0);
	}
}

/* The middle process says who is left behind and exits, so the one left
 * is re-parented (to init, or to a subreaper). */
/* Moves the calling process into the parent of its cgroup v2 (best
 * effort: a test sees whether it got out). */
static void leave_cgroup(void)
{
	char line[4096], cg[4096] = "", mnt[4096] = "", path[8300];
	FILE *f = fopen("/proc/self/cgroup", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "0::", 3))
			sscanf(line + 3, "%4095s", cg);
	if (f)
		fclose(f);
	f = fopen("/proc/self/mountinfo", "r");
	while (f && !mnt[0] && fgets(line, sizeof(line), f))
		if (strstr(line, " - cgroup2 ") &&
		    sscanf(line, "%*s %*s %*s %*s %4095s", mnt) != 1)
			mnt[0] = '\0';
	if (f)
		fclose(f);
	char *slash = strrchr(cg, '/');
	if (!mnt[0] || slash == NULL || slash == cg)
		return;
	*slash = '\0';
	snprintf(path, sizeof(path), "%s%s/cgroup.procs", mnt, cg);
	f = fopen(path, "w");
	if (f) {
		fprintf(f, "%d\n", (int)getpid());
		fclose(f);
	}
}

static void do_hop(long ms)
{
	pid_t first = fork();

	if (first < 0)
		exit(1);
	if (first > 0) {
		char line[32];
		snprintf(line, sizeof(line), "hopper %d\n", (int)first);
		out(STDOUT_FILENO, line, strlen(line));
		return;
	}
	setsid();
	leave_cgroup();
	int null = open("/dev/null", O_RDWR);
	for (int fd = 0; fd < 3 && null >= 0; fd++)
		dup2(null, fd);
	for (long left = ms; left > 0; left -= 100) {
		sleep_ms(100);
		pid_t next = fork();
		if (next != 0)
			_exit(0); /* the parent goes (or the fork failed) */
	}
	_exit(0);
}

static void do_detach(long ms)
{
	pid_t mid = fork();

	if (mid < 0)
		exit(1);
	if (mid == 0) {
		char line[32];
		pid_t pid;

		setsid();
		pid = fork();
		if (pid < 0)
			_exit(1);
		if (pid == 0) {
			sleep_ms(ms);
			_exit(0);
		}
		snprintf(line, sizeof(line), "detached %d\n", (int)pid);
		out(STDOUT_FILENO, line, strlen(line));
		_exit(0);
	}
	while (waitpid(mid, NULL, 0) < 0 && errno == EINTR)
		;
}

static void do_lines(long n, long ms)
{
	char line[32];

	for (long i = 1; i <= n; i++) {
		snprintf(line, sizeof(line), "line %ld\n", i);
		outs(line);
		if (i < n)
			sleep_ms(ms);
	}
}

/* Every byte value once, 0 to 255: output that is not UTF-8. */
static void do_bytes(void)
{
	unsigned char all[256];

	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	fwrite(all, 1, sizeof(all), stdout);
	fflush(stdout);
}

/* Runs a command without argument; returns 0 if cmd is not one. */
static int command0(const char *cmd)
{
	if (!strcmp(cmd, "cat"))
		do_cat();
	else if (!strcmp(cmd, "env"))
		do_env();
	else if (!strcmp(cmd, "cwd"))
		do_cwd();
	else if (!strcmp(cmd, "fds"))
		do_fds();
	else if (!strcmp(cmd, "bytes"))
		do_bytes();
	else if (!strcmp(cmd, "ignore-term"))
		signal(SIGTERM, SIG_IGN);
	else
		return 0;
	return 1;
}

/* Runs the command at argv[i]; returns how many words it took. */
static int command(int argc, char **argv, int i)
{
	const char *cmd = argv[i];
	int left = argc - i - 1;
	const char *a = left > 0 ? argv[i + 1] : NULL;

	if (!strcmp(cmd, "args")) {
		do_args(argc, argv);
		return argc - i;
	}
	if (command0(cmd))
		return 1;
	if (!a)
		usage("missing argument");
	if (!strcmp(cmd, "print")) {
		outs(a);
	} else if (!strcmp(cmd, "println")) {
		outs(a);
		outs("\n");
	} else if (!strcmp(cmd, "eprint")) {
		out(STDERR_FILENO, a, strlen(a));
	} else if (!strcmp(cmd, "sleep")) {
		sleep_ms(number(a));
	} else if (!strcmp(cmd, "flood")) {
		do_flood(number(a));
	} else if (!strcmp(cmd, "exit")) {
		exit((int)number(a));
	} else if (!strcmp(cmd, "kill")) {
		raise((int)number(a));
	} else if (!strcmp(cmd, "grandchild")) {
		do_grandchild(number(a), 0);
	} else if (!strcmp(cmd, "setsid-grandchild")) {
		do_grandchild(number(a), 1);
	} else if (!strcmp(cmd, "detach")) {
		do_detach(number(a));
	} else if (!strcmp(cmd, "hop")) {
		do_hop(number(a));
	} else if (!strcmp(cmd, "lines")) {
		if (left < 2)
			usage("missing argument");
		do_lines(number(a), number(argv[i + 2]));
		return 3;
	} else {
		usage("unknown command");
	}
	return 2;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc;)
		i += command(argc, argv, i);
	return 0;
}
