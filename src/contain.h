/* contain — no process a cli run starts outlives the run, however it
 * detaches (setsid, double fork, a new process group).
 *
 * Two mechanisms, both set up by contain_init():
 *
 * - A cgroup v2 per run, where carapaced can make one: a child of its own
 *   cgroup (under systemd, Delegate=yes gives it that subtree). The run's
 *   child is moved there right after it is spawned; at the end the
 *   cgroup is killed whole (cgroup.kill, or SIGKILL to each member on a
 *   kernel before 5.14), emptied and removed.
 * - carapaced is a child subreaper (PR_SET_CHILD_SUBREAPER), so whatever
 *   a run leaves behind is re-parented to carapaced, not to init. When a
 *   run ends, every such orphan that no run still running can have
 *   started (it started before any of them did) is killed with its
 *   descendants, and reaped. Without a writable cgroup this is the whole
 *   mechanism; with one it catches what forked in the instant between
 *   the spawn and the move.
 *
 * Without contain_init() (a program that only runs exec_run) nothing is
 * done beyond what exec does itself. All functions are thread-safe. */
#ifndef CARAPACE_CONTAIN_H
#define CARAPACE_CONTAIN_H

#include <sys/types.h>

struct contain;

/* Main thread, once, before the first run: makes carapaced a subreaper
 * and finds its cgroup v2 directory. Logs which mechanism runs use. */
void contain_init(void);

/* Before a run's child is spawned. Holds the spawn lock until
 * contain_attach(), so no sweep mistakes the new child for an orphan.
 * NULL when out of memory: the run must not start. */
struct contain *contain_begin(void);
/* pid: the child just spawned, or -1 when the spawn failed (then c is
 * freed). Moves the child into the run's cgroup; releases the lock. */
void contain_attach(struct contain *c, pid_t pid);
/* Kills every process of the run that its cgroup holds (nothing without
 * a cgroup: the caller kills the child's process group). */
void contain_kill(struct contain *c);
/* After the child is reaped: kills what is left of the run, waits for it
 * and reaps it, removes the cgroup, sweeps the orphans; frees c. */
void contain_end(struct contain *c);

#endif
