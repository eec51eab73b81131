/* daemon — the Unix side of running as a daemon: going to the background
 * so that an init script still sees start-up errors, the pidfile, and
 * dropping privileges. Called by main only, before threads start (except
 * daemon_pidfile_remove, at the end). Errors are returned with a reason,
 * but for two exceptions: daemon_background's other processes exit rather
 * than return (see there), and daemon_pidfile_remove, which has nobody
 * to tell, logs. */
#ifndef CARAPACE_DAEMON_H
#define CARAPACE_DAEMON_H

#include <stddef.h>
#include <sys/types.h>

#include "error.h"

/* Goes to the background (fork, setsid, fork, chdir "/"). Returns 0 in
 * the daemon, with *report a pipe to the launching process: start-up
 * errors go there (log_also_to), then daemon_ready(). Three processes
 * exit here instead of returning: the launching process waits for that
 * report, prints the errors on stderr and exits 0 once the daemon is
 * ready, 1 if it is not (or dies first); the intermediate process exits
 * at once; and a child whose setsid, fork or chdir fails exits 1, which
 * its launcher reports by exiting 1. -1 (in the launching process) if
 * the pipe or the first fork failed. */
int daemon_background(int *report);
/* Serving: the launching process may exit 0. Closes report and points
 * stdin, stdout and stderr at /dev/null. */
void daemon_ready(int report);

/* 0 when path does not name a live process; -1 with why in err->msg. */
int daemon_pidfile_check(const char *path, struct error *err);
/* Writes our pid to path. The descriptor it returns stays open (caller
 * closes it in daemon_pidfile_remove) so the file can still be emptied
 * once privileges are gone. -1 with why in err->msg. */
int daemon_pidfile_write(const char *path, struct error *err);
/* Removes path if it still names us; emptied through fd when the
 * directory is no longer ours to write (logged when neither works).
 * Closes fd. */
void daemon_pidfile_remove(const char *path, int fd);

struct daemon_user {
	uid_t uid;
	gid_t gid;
	char name[64];
};

/* "USER" or "USER:GROUP" (names or numbers); GROUP defaults to the
 * user's primary group. 0 or -1 with why in err->msg. */
int daemon_parse_user(const char *spec, struct daemon_user *u, struct error *err);
/* setgroups (the user's supplementary groups), setgid, setuid; and checks
 * root cannot be regained. 0 or -1 with why in err->msg. */
int daemon_drop(const struct daemon_user *u, struct error *err);

#endif
