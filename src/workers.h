/* workers — the pool of worker threads that run upstream transfers and
 * CLI runs: one dedicated thread per job for as long as the job lasts
 * (a stream may hold its thread for days), then the thread parks for the
 * next job instead of exiting, so a request costs no thread creation.
 *
 * Bounded: at most WORKERS_IDLE_MAX threads are kept parked; one that
 * would be more exits at once. Parked threads beyond WORKERS_IDLE_FLOOR
 * exit after WORKERS_IDLE_MS without a job, so the pool shrinks when
 * the daemon is idle. A parked thread sleeps in one condition wait (a
 * timed one only while it is above the floor): no polling.
 *
 * A job starts with errno 0 and the signal mask its thread was created
 * with (its creator's: in carapaced, every signal the main thread takes
 * is blocked), whatever the job before it left.
 *
 * Threads have a WORKERS_STACK_SIZE stack. Those that leave on their own
 * are detached; parked ones are joined by workers_shutdown(). All
 * functions are thread-safe. */
#ifndef CARAPACE_WORKERS_H
#define CARAPACE_WORKERS_H

#include <stdint.h>

/* 64: more than the connections a busy client keeps (bench/rpc_rps uses
 * 50), so steady load never creates a thread, while what is kept idle
 * stays small: a parked thread holds the stack pages it touched, at most
 * 256 KiB, and its libc and TLS-library caches, 64 of them a few MiB. */
#define WORKERS_IDLE_MAX 64
#define WORKERS_IDLE_FLOOR 4
#define WORKERS_IDLE_MS 60000
#define WORKERS_STACK_SIZE (256 * 1024)

typedef void workers_fn(void *arg);

/* Runs fn(arg) on a parked thread, or on a new one when none is parked.
 * 0, or -1 with errno set when no thread can be had (or after
 * workers_shutdown()): fn will not run, arg is still the caller's. */
int workers_run(workers_fn *fn, void *arg);

/* On a worker thread, once per job (later calls are free): gives the
 * kernel back the stack pages below the caller's frame. A long job (a
 * stream) calls it from its shallow wait loop once set up: the deep calls
 * of its set-up (libcurl's formatting alone takes about 10 KiB) would
 * otherwise stay resident for the job's whole life. The pages come back,
 * zeroed, when touched again. Does nothing on any other thread. */
void workers_stack_trim(void);

/* Jobs running now. */
unsigned workers_active(void);
/* Waits until no job runs or timeout_ms passes; returns those left. */
unsigned workers_wait(int timeout_ms);

/* Parked threads exit and are joined; workers_run fails from now on, and
 * a job still running lets its thread exit when it ends. For the end of
 * the process, after workers_wait(). */
void workers_shutdown(void);

struct workers_stats {
	unsigned idle;          /* threads parked */
	unsigned busy;          /* threads running a job */
	uint64_t started;       /* threads ever created */
};
void workers_get_stats(struct workers_stats *st);

/* For tests: the idle time after which a parked thread above the floor
 * exits (WORKERS_IDLE_MS until set); parked threads re-arm at once. */
void workers_set_idle_ms(unsigned ms);

#endif
