/* workers — how many worker threads (upstream transfers, CLI runs) are
 * alive, so that shutdown can wait for them. Thread-safe. */
#ifndef CARAPACE_WORKERS_H
#define CARAPACE_WORKERS_H

void workers_enter(void);   /* before pthread_create succeeds is known */
void workers_leave(void);   /* last thing a worker does; or on failure */
unsigned workers_active(void);
/* Waits until none is alive or timeout_ms passes; returns those left. */
unsigned workers_wait(int timeout_ms);

#endif
