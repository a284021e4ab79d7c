/* jobthread.c - a background job's thread. See jobthread.h. */
#include "jobs/jobthread.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "status.h"

int jobthread_start(struct jobthread *t, const char *conninfo, void *(*fn)(void *), void *arg)
{
	char *perr = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo ? conninfo : "", &perr);

	if (opts == NULL) {
		PQfreemem(perr);
		return FLOW_INVALID_ARGUMENT;
	}
	PQconninfoFree(opts);
	if ((t->conninfo = strdup(conninfo ? conninfo : "")) == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	t->stopping = false;
	pthread_mutex_init(&t->mu, NULL);
	pthread_cond_init(&t->cond, NULL);
	if (pthread_create(&t->thread, NULL, fn, arg) != 0) {
		pthread_cond_destroy(&t->cond);
		pthread_mutex_destroy(&t->mu);
		free(t->conninfo);
		t->conninfo = NULL;
		return FLOW_INTERNAL;
	}
	return FLOW_OK;
}

void jobthread_stop(struct jobthread *t)
{
	pthread_mutex_lock(&t->mu);
	t->stopping = true;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->mu);
	pthread_join(t->thread, NULL);
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->mu);
	free(t->conninfo);
	t->conninfo = NULL;
}

int jobthread_wait_ms(struct jobthread *t, int64_t ms)
{
	struct timespec until; /* the condition variable's clock: CLOCK_REALTIME */

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	return pthread_cond_timedwait(&t->cond, &t->mu, &until);
}
