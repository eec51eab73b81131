/* tu_workers — carapaced's worker pool seen from outside, for tests that
 * compare the daemon's threads with a baseline. Parked worker threads
 * (src/workers.h) outlive the requests that made them, so such a test
 * reads their number from the daemon's /metrics: the threads are back
 * when they are the baseline's plus the idle workers added since. A busy
 * worker is not allowed for: one that never ends is a thread too many. */
#ifndef CARAPACE_TU_WORKERS_H
#define CARAPACE_TU_WORKERS_H

#include <sys/types.h>

/* pid's threads and its idle workers (carapace_worker_threads{state=
 * "idle"} from its admin listener on admin_port), read together: on one
 * connection, the threads between two equal idle counts, less the thread
 * that connection holds in the daemon. 0, or -1 (idle count moving). */
int tu_threads_idle(pid_t pid, int admin_port, int *threads, int *idle);

/* A baseline: tu_threads_idle() until two readings in a row agree (the
 * threads of earlier connections have gone). 0, or -1 after 5 s. */
int tu_threads_baseline(pid_t pid, int admin_port, int *threads, int *idle);

/* Whether pid's threads are exactly threads0 + idle now - idle0. *threads
 * and *want (either may be NULL) get the count and what it should be. */
int tu_threads_back(pid_t pid, int admin_port, int threads0, int idle0,
		    int *threads, int *want);

#endif
