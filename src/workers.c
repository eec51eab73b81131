/* workers — see workers.h.
 *
 * A parked thread waits on a condition variable of its own, so that
 * workers_run() hands a job to one chosen thread with one signal and no
 * thundering herd. The parked ones form a stack: the thread parked last
 * (its stack and caches warm) is taken first, and the ones at the bottom
 * are those that time out when the load falls. */
#include "config.h"

#include "workers.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

struct thread {
	struct thread *next;       /* in the idle stack, while parked */
	pthread_t tid;             /* set by the thread before it parks */
	pthread_cond_t wake;       /* a job, a stop, or a new idle time */
	workers_fn *fn;            /* the job handed over; NULL: none */
	void *arg;
	struct timespec parked_at; /* CLOCK_MONOTONIC */
	int stop;                  /* workers_shutdown() joins it */
	int last_idle;             /* it left the pool at its floor */
	atomic_int refs;           /* the thread's own (or its joiner's),
				    * and one per hand-over still signalling */
};

/* Everything below but started is under lock. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gone = PTHREAD_COND_INITIALIZER; /* busy fell to 0 */
static struct thread *idle_stack;
static unsigned n_idle, n_busy;
static unsigned idle_ms = WORKERS_IDLE_MS;
static int stopping;
static _Atomic uint64_t started;

/* The calling worker's stack: its lowest usable byte (0 on a thread not
 * ours, or when unknown), and whether this job has trimmed it already. */
static _Thread_local uintptr_t stack_low;
static _Thread_local uintptr_t stack_high; /* one past its highest byte */
static _Thread_local int stack_trimmed;

static void thread_free(struct thread *t)
{
	pthread_cond_destroy(&t->wake);
	free(t);
}

static void thread_put(struct thread *t)
{
	if (atomic_fetch_sub(&t->refs, 1) == 1)
		thread_free(t);
}

static void unlink_idle(struct thread *t)
{
	struct thread **p;

	for (p = &idle_stack; *p != t; p = &(*p)->next)
		;
	*p = t->next;
	n_idle--;
}

static struct timespec add_ms(struct timespec t, unsigned ms)
{
	t.tv_sec += ms / 1000;
	t.tv_nsec += (long)(ms % 1000) * 1000000;
	if (t.tv_nsec >= 1000000000) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000;
	}
	return t;
}

static struct timespec idle_deadline(const struct thread *t)
{
	return add_ms(t->parked_at, idle_ms);
}

static int reached(const struct timespec *until)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > until->tv_sec ||
	       (now.tv_sec == until->tv_sec && now.tv_nsec >= until->tv_nsec);
}

/* Under lock, t parked: 1 when a job was handed over (in t->fn), 0 when
 * t is to exit (stopped, or idle too long above the floor). Only a thread
 * above the floor has a deadline: the floor sleeps untimed. */
static int await_job(struct thread *t)
{
	for (;;) {
		if (t->fn != NULL)
			return 1;
		if (t->stop)
			return 0;
		if (n_idle <= WORKERS_IDLE_FLOOR) {
			pthread_cond_wait(&t->wake, &lock);
			continue;
		}
		struct timespec until = idle_deadline(t);
		if (reached(&until)) {
			unlink_idle(t);
			t->last_idle = n_idle == WORKERS_IDLE_FLOOR;
			return 0;
		}
		pthread_cond_timedwait(&t->wake, &lock, &until);
	}
}

/* Under lock, t's job over: parks t until the next job, whose function
 * it returns (t->fn, never NULL), or NULL when t is to exit. */
static workers_fn *park(struct thread *t)
{
	if (--n_busy == 0)
		pthread_cond_broadcast(&gone);
	if (stopping || n_idle >= WORKERS_IDLE_MAX)
		return NULL;
	t->next = idle_stack;
	idle_stack = t;
	n_idle++;
	clock_gettime(CLOCK_MONOTONIC, &t->parked_at);
	return await_job(t) ? t->fn : NULL;
}

static void note_stack(void)
{
	pthread_attr_t a;
	/* initialised for cppcheck 2.10 only: its posix.cfg marks the
	 * out-arguments of pthread_attr_getstack() not-uninit (a mistake) */
	void *low = NULL;
	size_t size = 0;

	if (pthread_getattr_np(pthread_self(), &a) != 0)
		return;
	if (pthread_attr_getstack(&a, &low, &size) == 0) {
		stack_low = (uintptr_t)low; /* above the guard */
		stack_high = stack_low + size;
	}
	pthread_attr_destroy(&a);
}

void workers_stack_trim(void)
{
	if (stack_low == 0 || stack_trimmed) /* the common case: a test */
		return;
	stack_trimmed = 1;

	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	/* This frame's address, not a local's: AddressSanitizer may put a
	 * local on a "fake stack" on the heap (detect_stack_use_after_return),
	 * and the range would then run from the stack to there, over other
	 * threads' memory. A margin below it for madvise's own (a few words). */
	uintptr_t here = (uintptr_t)__builtin_frame_address(0);
	uintptr_t high = (here - 512) & ~(page - 1);

	if (high > stack_low && here < stack_high)
		madvise((void *)stack_low, high - stack_low, MADV_DONTNEED);
}

static void *thread_main(void *arg)
{
	struct thread *t = arg;
	sigset_t mask;

	pthread_sigmask(SIG_SETMASK, NULL, &mask);
	/* not the name of the thread that made it (MHD's, often): top -H
	 * and perf then tell the workers from the front */
	pthread_setname_np(pthread_self(), "carapace-worker");
	note_stack();
	pthread_mutex_lock(&lock);
	t->tid = pthread_self();
	workers_fn *fn = t->fn; /* the first job, given by start_thread() */
	do {
		void *job = t->arg;

		t->fn = NULL;
		pthread_mutex_unlock(&lock);
		errno = 0;
		stack_trimmed = 0;
		fn(job);
		pthread_sigmask(SIG_SETMASK, &mask, NULL);
		pthread_mutex_lock(&lock);
	} while ((fn = park(t)) != NULL);
	int joined = t->stop, last_idle = t->last_idle;
	pthread_mutex_unlock(&lock);
	/* The pool is back at its floor after a load: give the memory its
	 * jobs left free in malloc's arenas back to the system (glibc keeps
	 * it otherwise, one arena per few threads), once, not per job. */
	if (last_idle)
		malloc_trim(0);
	if (!joined) {
		pthread_detach(pthread_self());
		thread_put(t);
	}
	return NULL;
}

/* A new thread for the job: 0 or an error number. */
static int start_thread(workers_fn *fn, void *arg)
{
	struct thread *t = calloc(1, sizeof(*t));
	pthread_condattr_t ca;
	pthread_attr_t attr;
	pthread_t tid;
	int rc;

	if (t == NULL)
		return ENOMEM;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	rc = pthread_cond_init(&t->wake, &ca);
	pthread_condattr_destroy(&ca);
	if (rc != 0) {
		free(t);
		return rc;
	}
	t->fn = fn;
	t->arg = arg;
	atomic_init(&t->refs, 1);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, WORKERS_STACK_SIZE);
	rc = pthread_create(&tid, &attr, thread_main, t);
	pthread_attr_destroy(&attr);
	if (rc != 0)
		thread_free(t);
	else
		atomic_fetch_add(&started, 1);
	return rc;
}

int workers_run(workers_fn *fn, void *arg)
{
	struct thread *t;

	pthread_mutex_lock(&lock);
	if (stopping) {
		pthread_mutex_unlock(&lock);
		errno = ECANCELED;
		return -1;
	}
	n_busy++;
	if ((t = idle_stack) != NULL) {
		idle_stack = t->next;
		n_idle--;
		t->fn = fn;
		t->arg = arg;
		/* signalled after the unlock: woken under the lock, t would
		 * at once block on it again (measured: 5 % of the daemon's
		 * CPU under JSON-RPC load). t may meanwhile run the job,
		 * woken by its timeout, and exit: the reference keeps it. */
		atomic_fetch_add(&t->refs, 1);
		pthread_mutex_unlock(&lock);
		pthread_cond_signal(&t->wake);
		thread_put(t);
		return 0;
	}
	pthread_mutex_unlock(&lock);
	int rc = start_thread(fn, arg);
	if (rc == 0)
		return 0;
	pthread_mutex_lock(&lock);
	if (--n_busy == 0)
		pthread_cond_broadcast(&gone);
	pthread_mutex_unlock(&lock);
	errno = rc;
	return -1;
}

unsigned workers_active(void)
{
	pthread_mutex_lock(&lock);
	unsigned n = n_busy;
	pthread_mutex_unlock(&lock);
	return n;
}

unsigned workers_wait(int timeout_ms)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	struct timespec until = add_ms(now, timeout_ms > 0 ? (unsigned)timeout_ms : 0);
	pthread_mutex_lock(&lock);
	while (n_busy > 0 &&
	       pthread_cond_timedwait(&gone, &lock, &until) != ETIMEDOUT)
		;
	unsigned n = n_busy;
	pthread_mutex_unlock(&lock);
	return n;
}

void workers_shutdown(void)
{
	pthread_mutex_lock(&lock);
	stopping = 1;
	struct thread *t = idle_stack;
	idle_stack = NULL;
	n_idle = 0;
	for (struct thread *p = t; p != NULL; p = p->next) {
		p->stop = 1;
		pthread_cond_signal(&p->wake);
	}
	pthread_mutex_unlock(&lock);
	while (t != NULL) {
		struct thread *next = t->next;
		pthread_join(t->tid, NULL);
		thread_put(t);
		t = next;
	}
}

void workers_get_stats(struct workers_stats *st)
{
	pthread_mutex_lock(&lock);
	st->idle = n_idle;
	st->busy = n_busy;
	pthread_mutex_unlock(&lock);
	st->started = atomic_load(&started);
}

void workers_set_idle_ms(unsigned ms)
{
	pthread_mutex_lock(&lock);
	idle_ms = ms;
	for (struct thread *t = idle_stack; t != NULL; t = t->next)
		pthread_cond_signal(&t->wake);
	pthread_mutex_unlock(&lock);
}
