/*
 * jobthread.h - the thread every background job of flowd runs on
 * (jobthread_ prefix): the rescuer and the claim marker embed one.
 *
 * It carries a copy of the database conninfo (each job opens its own
 * connection), a mutex and a condition variable that jobthread_stop
 * signals (the job may signal it for its own events too), and the stopping
 * flag, under the mutex.
 *
 * Ownership: jobthread_start copies conninfo; jobthread_stop joins the
 * thread and frees the copy. The struct itself is the embedding job's.
 */
#ifndef FLOW_JOBTHREAD_H
#define FLOW_JOBTHREAD_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct jobthread {
	char *conninfo;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool stopping; /* under mu */
};

/*
 * Checks conninfo (libpq syntax), copies it and runs fn(arg) on a new
 * thread. Returns FLOW_OK, FLOW_INVALID_ARGUMENT for a malformed conninfo,
 * FLOW_RESOURCE_EXHAUSTED or FLOW_INTERNAL; on failure nothing is left.
 */
int jobthread_start(struct jobthread *t, const char *conninfo, void *(*fn)(void *), void *arg);

/* Sets stopping, signals cond, joins the thread and frees the copy. */
void jobthread_stop(struct jobthread *t);

/* With t->mu held: waits on t->cond for up to ms (or a signal); returns as
 * pthread_cond_timedwait does. */
int jobthread_wait_ms(struct jobthread *t, int64_t ms);

#endif
