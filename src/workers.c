/* workers — see workers.h. */
#include "config.h"

#include "workers.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gone = PTHREAD_COND_INITIALIZER;
static unsigned active;

void workers_enter(void)
{
	pthread_mutex_lock(&lock);
	active++;
	pthread_mutex_unlock(&lock);
}

void workers_leave(void)
{
	pthread_mutex_lock(&lock);
	if (--active == 0)
		pthread_cond_broadcast(&gone);
	pthread_mutex_unlock(&lock);
}

unsigned workers_active(void)
{
	pthread_mutex_lock(&lock);
	unsigned n = active;
	pthread_mutex_unlock(&lock);
	return n;
}

unsigned workers_wait(int timeout_ms)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&lock);
	while (active > 0 &&
	       pthread_cond_timedwait(&gone, &lock, &until) != ETIMEDOUT)
		;
	unsigned n = active;
	pthread_mutex_unlock(&lock);
	return n;
}
