#include "stopflag.h"

#include <errno.h>
#include <time.h>

int stopflag_init(struct stopflag *f)
{
	pthread_condattr_t ca;

	f->set = false;
	if (pthread_mutex_init(&f->mu, NULL) != 0)
		return -1;
	if (pthread_condattr_init(&ca) != 0)
		goto undo_mutex;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (pthread_cond_init(&f->cv, &ca) != 0) {
		pthread_condattr_destroy(&ca);
		goto undo_mutex;
	}
	pthread_condattr_destroy(&ca);
	return 0;
undo_mutex:
	pthread_mutex_destroy(&f->mu);
	return -1;
}

void stopflag_destroy(struct stopflag *f)
{
	pthread_cond_destroy(&f->cv);
	pthread_mutex_destroy(&f->mu);
}

void stopflag_set(struct stopflag *f)
{
	pthread_mutex_lock(&f->mu);
	f->set = true;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
}

bool stopflag_is_set(struct stopflag *f)
{
	bool set;

	pthread_mutex_lock(&f->mu);
	set = f->set;
	pthread_mutex_unlock(&f->mu);
	return set;
}

long long stopflag_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool stopflag_sleep(struct stopflag *f, int ms)
{
	struct timespec until;
	bool set;

	clock_gettime(CLOCK_MONOTONIC, &until);
	if (ms > 0) {
		until.tv_sec += ms / 1000;
		until.tv_nsec += (long)(ms % 1000) * 1000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
	}
	pthread_mutex_lock(&f->mu);
	while (!f->set && ms != 0) {
		int rv = ms < 0 ? pthread_cond_wait(&f->cv, &f->mu)
				: pthread_cond_timedwait(&f->cv, &f->mu, &until);

		if (rv == ETIMEDOUT)
			break;
	}
	set = f->set;
	pthread_mutex_unlock(&f->mu);
	return set;
}
