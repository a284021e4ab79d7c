/*
 * stopflag.h - a flag that is set once and wakes every thread sleeping on it.
 *
 * Threads sleep with stopflag_sleep() instead of usleep() so a shutdown
 * interrupts their back-off at once. The fields are private.
 */
#ifndef FLOW_WORKER_STOPFLAG_H
#define FLOW_WORKER_STOPFLAG_H

#include <pthread.h>
#include <stdbool.h>

struct stopflag {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool set;
};

/* Returns 0, or -1 when the mutex or condition cannot be made. */
int stopflag_init(struct stopflag *f);
void stopflag_destroy(struct stopflag *f);

/* Sets the flag and wakes every sleeper. Not async-signal-safe. */
void stopflag_set(struct stopflag *f);
bool stopflag_is_set(struct stopflag *f);

/* Sleeps ms milliseconds (< 0: until set), or less when the flag is set.
 * Returns true when the flag is set. */
bool stopflag_sleep(struct stopflag *f, int ms);

/* Milliseconds of CLOCK_MONOTONIC, for deadlines. */
long long stopflag_now_ms(void);

#endif
