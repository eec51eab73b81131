/* Unit tests of workers.c: the pool of worker threads. The live threads
 * are counted in /proc/self/task, so every assertion on the pool's size is
 * on real threads, not on its own counters alone. The tests run in order
 * on the one pool of this process; the last shuts it down. */
#include "config.h"

#include <CUnit/Basic.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "workers.h"
#include "cu_run.h"
#include "testutil.h"

#define WAIT_MS 10000

/* Live threads of this process, or -1. */
static int tasks(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static int base; /* threads of this process that are not the pool's */

static struct workers_stats stats(void)
{
	struct workers_stats st;

	workers_get_stats(&st);
	return st;
}

/* ---- jobs that block until the gate opens ---- */

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int gate_open, entered;

/* Thread-specific data whose destructor runs at the thread's very end,
 * slowly (the delay only widens the window in which a shutdown that did
 * not join would return before it): like a TLS library's per-thread
 * state, which must be freed before the library's own clean-up. */
static pthread_key_t key;
static int key_made;
static _Atomic int exits;

static void key_gone(void *value)
{
	(void)value;
	tu_sleep_ms(20);
	exits++;
}

static void blocking_job(void *arg)
{
	(void)arg;
	if (key_made)
		pthread_setspecific(key, &key_made);
	pthread_mutex_lock(&gate_lock);
	entered++;
	while (!gate_open)
		pthread_cond_wait(&gate_cond, &gate_lock);
	pthread_mutex_unlock(&gate_lock);
}

static int all_entered(void *arg)
{
	pthread_mutex_lock(&gate_lock);
	int yes = entered == *(int *)arg;
	pthread_mutex_unlock(&gate_lock);
	return yes;
}

static int none_busy(void *arg)
{
	(void)arg;
	return workers_active() == 0;
}

/* n jobs that all run at once (each its own thread), then end. */
static void burst(int n)
{
	pthread_mutex_lock(&gate_lock);
	gate_open = 0;
	entered = 0;
	pthread_mutex_unlock(&gate_lock);
	for (int i = 0; i < n; i++)
		CU_ASSERT_FATAL(workers_run(blocking_job, NULL) == 0);
	CU_ASSERT_FATAL(tu_wait_until(all_entered, &n, WAIT_MS) == 0);
	pthread_mutex_lock(&gate_lock);
	gate_open = 1;
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_lock);
	CU_ASSERT_FATAL(tu_wait_until(none_busy, NULL, WAIT_MS) == 0);
}

/* The pool holds exactly idle parked threads, in /proc too (a thread that
 * left the pool may take a moment to be gone). */
static int pool_is(void *arg)
{
	unsigned idle = *(unsigned *)arg;

	return stats().idle == idle && tasks() == base + (int)idle;
}

static int pool_settles_at(unsigned idle)
{
	if (tu_wait_until(pool_is, &idle, WAIT_MS) == 0)
		return 0;
	fprintf(stderr, "pool: %u idle, %d threads (want %u, %d)\n",
		stats().idle, tasks(), idle, base + (int)idle);
	return -1;
}

/* ---- the tests ---- */

static int ran;

static void mark(void *arg)
{
	__atomic_store_n((int *)arg, 1, __ATOMIC_SEQ_CST);
}

static int marked(void *arg)
{
	return __atomic_load_n((int *)arg, __ATOMIC_SEQ_CST);
}

/* A thread's /proc/self/task entry, written by the thread. */
static void *task_path(void *arg)
{
	snprintf(arg, 64, "/proc/self/task/%ld", (long)syscall(SYS_gettid));
	return arg;
}

static int gone(void *arg)
{
	return access(arg, F_OK) != 0;
}

static void test_job_runs(void)
{
	char path[64];
	pthread_t t;

	/* a thread made and gone first: ThreadSanitizer starts one of its
	 * own (not the pool's) at a process's first pthread_create */
	CU_ASSERT_FATAL(pthread_create(&t, NULL, task_path, path) == 0);
	pthread_join(t, NULL);
	CU_ASSERT_FATAL(tu_wait_until(gone, path, WAIT_MS) == 0);
	base = tasks();
	CU_ASSERT_EQUAL(stats().started, 0);
	CU_ASSERT_EQUAL(workers_run(mark, &ran), 0);
	CU_ASSERT_EQUAL(tu_wait_until(marked, &ran, WAIT_MS), 0);
	CU_ASSERT_EQUAL(workers_wait(WAIT_MS), 0);
	CU_ASSERT_EQUAL(stats().started, 1);
	CU_ASSERT_EQUAL(pool_settles_at(1), 0); /* parked, not gone */
}

/* A burst within the bound: every thread it needed stays parked. */
static void test_burst_parks(void)
{
	burst(8);
	CU_ASSERT_EQUAL(stats().busy, 0);
	CU_ASSERT_EQUAL(pool_settles_at(8), 0);
	CU_ASSERT_EQUAL(stats().started, 8);
}

/* A burst beyond it: the pool keeps WORKERS_IDLE_MAX, no more. */
static void test_burst_bounded(void)
{
	burst(WORKERS_IDLE_MAX + 8);
	CU_ASSERT_EQUAL(pool_settles_at(WORKERS_IDLE_MAX), 0);
	CU_ASSERT_EQUAL(stats().started, WORKERS_IDLE_MAX + 8);
}

/* A burst that fits in the parked threads creates none. */
static void test_burst_reuses(void)
{
	uint64_t before = stats().started;

	burst(WORKERS_IDLE_MAX);
	CU_ASSERT_EQUAL(stats().started, before);
	CU_ASSERT_EQUAL(pool_settles_at(WORKERS_IDLE_MAX), 0);
}

/* Idle too long, the pool shrinks to its floor, and the floor stays:
 * a burst of that size then finds its threads parked. */
static void test_idle_timeout(void)
{
	workers_set_idle_ms(50);
	CU_ASSERT_EQUAL(pool_settles_at(WORKERS_IDLE_FLOOR), 0);
	workers_set_idle_ms(WORKERS_IDLE_MS);
	uint64_t before = stats().started;
	burst(WORKERS_IDLE_FLOOR);
	CU_ASSERT_EQUAL(stats().started, before);
	CU_ASSERT_EQUAL(pool_settles_at(WORKERS_IDLE_FLOOR), 0);
}

/* What a job leaves in its thread: blocked signals, errno. */
struct trace {
	pthread_t self;
	int errno_at_start;
	int usr1_blocked;
	int done;
};

static void dirty_job(void *arg)
{
	struct trace *t = arg;
	sigset_t set;

	t->self = pthread_self();
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	errno = EIO;
	mark(&t->done);
}

static void look_job(void *arg)
{
	struct trace *t = arg;
	sigset_t set;

	t->errno_at_start = errno;
	t->self = pthread_self();
	pthread_sigmask(SIG_SETMASK, NULL, &set);
	t->usr1_blocked = sigismember(&set, SIGUSR1);
	mark(&t->done);
}

static void test_no_leak_between_jobs(void)
{
	struct trace a = { 0 }, b = { 0 };

	CU_ASSERT_FATAL(workers_run(dirty_job, &a) == 0);
	CU_ASSERT_FATAL(tu_wait_until(marked, &a.done, WAIT_MS) == 0);
	CU_ASSERT_FATAL(tu_wait_until(none_busy, NULL, WAIT_MS) == 0);
	CU_ASSERT_FATAL(workers_run(look_job, &b) == 0);
	CU_ASSERT_FATAL(tu_wait_until(marked, &b.done, WAIT_MS) == 0);
	CU_ASSERT_FATAL(tu_wait_until(none_busy, NULL, WAIT_MS) == 0);
	/* the last parked is taken first: b ran where a did */
	CU_ASSERT(pthread_equal(a.self, b.self));
	CU_ASSERT_EQUAL(b.errno_at_start, 0);
	CU_ASSERT_EQUAL(b.usr1_blocked, 0);
}

/* workers_stack_trim(): the pages a job's deep calls touched leave
 * (mincore(2) sees them resident before and gone after), once per job,
 * and the caller's own frame is kept. */
#define DEEP (64 * 1024)

struct depth {
	uintptr_t low;          /* the deepest byte the job touched */
	int before, after;      /* resident pages of that region */
	int second;             /* on the next job, the same thread */
	int done;               /* mark() */
};

/* Not instrumented by AddressSanitizer: its pad must be on the thread's
 * stack, where check-asan (detect_stack_use_after_return) would move it
 * to a "fake stack" on the heap. */
static __attribute__((noinline, no_sanitize_address)) uintptr_t
go_deep(int frames)
{
	char pad[1024];

	memset(pad, frames, sizeof(pad));
	__asm__ volatile("" : : "r"(pad) : "memory"); /* kept, written */
	if (frames > 1)
		return go_deep(frames - 1) + (pad[5] != frames);
	return (uintptr_t)pad;
}

/* Resident pages from d->low up to 16 KiB below the caller's frame. */
static int resident(const struct depth *d)
{
	long page = sysconf(_SC_PAGESIZE);
	/* the frame's address, not a local's (which may be on ASan's fake
	 * stack: go_deep) */
	uintptr_t here = (uintptr_t)__builtin_frame_address(0);
	uintptr_t lo = d->low & ~(uintptr_t)(page - 1);
	uintptr_t hi = (here - 16384) & ~(uintptr_t)(page - 1);
	unsigned char vec[DEEP / 1024 + 8];
	int n = 0;

	if (hi <= lo || (hi - lo) / page > sizeof(vec) ||
	    mincore((void *)lo, hi - lo, vec) != 0)
		return -1;
	for (size_t i = 0; i < (hi - lo) / page; i++)
		n += vec[i] & 1;
	return n;
}

static void deep_job(void *arg)
{
	struct depth *d = arg;

	d->low = go_deep(DEEP / 1024);
	d->before = resident(d);
	workers_stack_trim();
	d->after = resident(d);
	go_deep(DEEP / 1024);
	workers_stack_trim(); /* once per job: these stay */
	d->second = resident(d);
	mark(&d->done);
}

static void test_stack_trim(void)
{
	struct depth a = { 0 }, b = { 0 };

	CU_ASSERT_FATAL(workers_run(deep_job, &a) == 0);
	CU_ASSERT_FATAL(tu_wait_until(marked, &a.done, WAIT_MS) == 0);
	CU_ASSERT(a.before >= 8);
	CU_ASSERT_EQUAL(a.after, 0);
	CU_ASSERT_EQUAL(a.second, a.before);
	CU_ASSERT_FATAL(tu_wait_until(none_busy, NULL, WAIT_MS) == 0);
	CU_ASSERT_FATAL(workers_run(deep_job, &b) == 0); /* a new job: */
	CU_ASSERT_FATAL(tu_wait_until(marked, &b.done, WAIT_MS) == 0);
	CU_ASSERT(b.before >= 8);
	CU_ASSERT_EQUAL(b.after, 0);                      /* trims again */
	/* not a worker: nothing happens */
	struct depth m = { .low = go_deep(DEEP / 1024) };
	m.before = resident(&m);
	workers_stack_trim();
	CU_ASSERT(m.before >= 8);
	CU_ASSERT_EQUAL(resident(&m), m.before);
}

/* Shut down, the parked threads are gone at once (joined: their
 * thread-specific data freed), and no job is taken any more. */
static void test_shutdown(void)
{
	CU_ASSERT_FATAL(pthread_key_create(&key, key_gone) == 0);
	key_made = 1;
	burst(8);
	unsigned parked = stats().idle;
	CU_ASSERT_EQUAL(parked, 8);
	workers_shutdown();
	CU_ASSERT_EQUAL(exits, (int)parked);
	CU_ASSERT_EQUAL(stats().idle, 0);
	CU_ASSERT_EQUAL(tasks(), base);
	ran = 0;
	errno = 0;
	CU_ASSERT_EQUAL(workers_run(mark, &ran), -1);
	CU_ASSERT_EQUAL(errno, ECANCELED);
	CU_ASSERT_EQUAL(tasks(), base);
	CU_ASSERT_EQUAL(ran, 0);
}

int main(void)
{
	CU_pSuite s;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return 1;
	s = CU_add_suite("workers", NULL, NULL);
	if (s == NULL || !CU_add_test(s, "a job runs", test_job_runs) ||
	    !CU_add_test(s, "a burst stays parked", test_burst_parks) ||
	    !CU_add_test(s, "parked threads are bounded",
			 test_burst_bounded) ||
	    !CU_add_test(s, "parked threads are reused", test_burst_reuses) ||
	    !CU_add_test(s, "idle ones above the floor exit",
			 test_idle_timeout) ||
	    !CU_add_test(s, "no signal mask or errno leaks",
			 test_no_leak_between_jobs) ||
	    !CU_add_test(s, "a job's stack can be trimmed",
			 test_stack_trim) ||
	    !CU_add_test(s, "shutdown joins the parked", test_shutdown)) {
		CU_cleanup_registry();
		return 1;
	}
	return cu_run();
}
