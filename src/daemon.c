/* daemon — see daemon.h. */
#include "config.h"

#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"

/* The last byte the daemon sends its launcher: "I am serving". */
#define READY_BYTE '\006'

/* ---- the background ---- */

/* The launcher: relays the daemon's report, then exits. */
static void wait_for_report(int fd, pid_t child)
{
	char buf[4096];
	int ready = 0;
	ssize_t n;

	waitpid(child, NULL, 0); /* the intermediate process, gone at once */
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		ready = buf[n - 1] == READY_BYTE;
		if (ready)
			n--;
		if (n > 0 && write(2, buf, (size_t)n) < 0)
			break;
	}
	_exit(ready ? 0 : 1);
}

int daemon_background(int *report)
{
	int fds[2];

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	pid_t child = fork();
	if (child < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (child > 0) {
		close(fds[1]);
		wait_for_report(fds[0], child);
	}
	close(fds[0]);
	/* a new session, then a child that is not its leader, so no
	 * terminal can ever be acquired */
	if (setsid() < 0 || (child = fork()) < 0)
		_exit(1);
	if (child > 0)
		_exit(0);
	if (chdir("/") < 0)
		_exit(1);
	*report = fds[1];
	return 0;
}

void daemon_ready(int report)
{
	static const char ready = READY_BYTE;
	int null = open("/dev/null", O_RDWR);

	/* a launcher that is gone has nobody to tell: ignore a failure */
	ssize_t told = write(report, &ready, 1);
	(void)told;
	close(report);
	if (null < 0)
		return;
	dup2(null, 0);
	dup2(null, 1);
	dup2(null, 2);
	if (null > 2)
		close(null);
}

/* ---- the pidfile ---- */

static pid_t pidfile_read(const char *path)
{
	char buf[32];
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	long pid = strtol(buf, NULL, 10);
	return pid > 0 && pid < (1L << 22) ? (pid_t)pid : 0;
}

int daemon_pidfile_check(const char *path, struct error *err)
{
	pid_t pid = pidfile_read(path);

	if (pid <= 0 || pid == getpid())
		return 0;
	if (kill(pid, 0) == 0 || errno == EPERM) {
		error_set(err, 0, NULL, "already running (pid %ld, from %s)",
			 (long)pid, path);
		return -1;
	}
	return 0;
}

int daemon_pidfile_write(const char *path, struct error *err)
{
	char text[32];
	int n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		      0644);

	if (fd < 0 || write(fd, text, (size_t)n) != n) {
		error_set(err, 0, NULL, "cannot write pidfile %s: %s", path,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

void daemon_pidfile_remove(const char *path, int fd)
{
	char text[32];

	if (fd < 0)
		return;
	ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
	text[n > 0 ? n : 0] = '\0';
	/* only while it still names us: another daemon may own it now */
	if (pidfile_read(path) == getpid() && unlink(path) == 0) {
		close(fd);
		return;
	}
	/* after -u the directory may not be ours to write: an empty file
	 * names no process */
	if (strtol(text, NULL, 10) == (long)getpid() && ftruncate(fd, 0) < 0)
		log_warn("cannot remove or empty the pidfile %s", path);
	close(fd);
}

/* ---- privileges ---- */

/* getpwnam_r() and getgrnam_r() write an entry's strings into a buffer
 * of ours: a group with many members needs more than any fixed size, so
 * it doubles while they say ERANGE, up to this. The reentrant calls, so
 * that no other thread's look-up can overwrite a static result. */
#define ENTRY_BUF_MAX (1024 * 1024)

static int lookup_user(const char *name, struct daemon_user *u)
{
	struct passwd pw, *found = NULL;
	char *buf = NULL;
	int rc = ERANGE;

	for (size_t size = 1024; rc == ERANGE && size <= ENTRY_BUF_MAX;
	     size *= 2) {
		char *b = realloc(buf, size);

		if (b == NULL)
			break;
		buf = b;
		rc = getpwnam_r(name, &pw, buf, size, &found);
	}
	if (found != NULL) {
		u->uid = pw.pw_uid;
		u->gid = pw.pw_gid;
		snprintf(u->name, sizeof(u->name), "%s", pw.pw_name);
	}
	free(buf);
	return found != NULL ? 0 : -1;
}

static int lookup_group(const char *name, gid_t *gid)
{
	struct group g, *found = NULL;
	char *buf = NULL, *end;
	int rc = ERANGE;

	for (size_t size = 1024; rc == ERANGE && size <= ENTRY_BUF_MAX;
	     size *= 2) {
		char *b = realloc(buf, size);

		if (b == NULL)
			break;
		buf = b;
		rc = getgrnam_r(name, &g, buf, size, &found);
	}
	free(buf);
	if (found != NULL) {
		*gid = g.gr_gid;
		return 0;
	}
	unsigned long n = strtoul(name, &end, 10);
	if (*name == '\0' || *end != '\0')
		return -1;
	*gid = (gid_t)n;
	return 0;
}

int daemon_parse_user(const char *spec, struct daemon_user *u, struct error *err)
{
	char user[64];
	const char *colon = strchr(spec, ':');
	size_t len = colon ? (size_t)(colon - spec) : strlen(spec);

	if (len == 0 || len >= sizeof(user)) {
		error_set(err, 0, NULL, "bad user: %s", spec);
		return -1;
	}
	memcpy(user, spec, len);
	user[len] = '\0';
	if (lookup_user(user, u) < 0) {
		error_set(err, 0, NULL, "no such user: %s", user);
		return -1;
	}
	if (colon != NULL && lookup_group(colon + 1, &u->gid) < 0) {
		error_set(err, 0, NULL, "no such group: %s", colon + 1);
		return -1;
	}
	return 0;
}

int daemon_drop(const struct daemon_user *u, struct error *err)
{
	if (initgroups(u->name, u->gid) < 0 || setgid(u->gid) < 0 ||
	    setuid(u->uid) < 0) {
		error_set(err, 0, NULL, "cannot become %s: %s", u->name,
			 strerror(errno));
		return -1;
	}
	if (u->uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
		error_set(err, 0, NULL, "root privileges could be regained");
		return -1;
	}
	return 0;
}
