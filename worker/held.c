#include "held.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

enum state { ST_WAITING, ST_RUNNING, ST_DONE };

struct entry {
	int64_t id;
	int32_t attempt;
	enum state st;
	enum held_stop stop;
	runner *run;
};

struct held_set {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* slots freed */
	struct entry *v;
	size_t n, cap;
	int capacity;
	int busy; /* entries waiting or running */
};

int held_new(int capacity, held_set **out)
{
	held_set *h = calloc(1, sizeof(*h));
	pthread_condattr_t ca;

	if (h == NULL)
		return -1;
	h->capacity = capacity > 0 ? capacity : 1;
	pthread_mutex_init(&h->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&h->cv, &ca);
	pthread_condattr_destroy(&ca);
	*out = h;
	return 0;
}

void held_free(held_set *h)
{
	if (h == NULL)
		return;
	pthread_cond_destroy(&h->cv);
	pthread_mutex_destroy(&h->mu);
	free(h->v);
	free(h);
}

static struct entry *find(held_set *h, int64_t id, int32_t attempt)
{
	for (size_t i = 0; i < h->n; i++)
		if (h->v[i].id == id && h->v[i].attempt == attempt)
			return &h->v[i];
	return NULL;
}

int held_add(held_set *h, int64_t id, int32_t attempt)
{
	int rv = 0;

	pthread_mutex_lock(&h->mu);
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 16;
		struct entry *v = realloc(h->v, cap * sizeof(*v));

		if (v == NULL) {
			rv = -1;
			goto out;
		}
		h->v = v;
		h->cap = cap;
	}
	h->v[h->n++] = (struct entry){ id, attempt, ST_WAITING, HELD_KEEP, NULL };
	h->busy++;
out:
	pthread_mutex_unlock(&h->mu);
	return rv;
}

enum held_stop held_attach(held_set *h, int64_t id, int32_t attempt, runner *r)
{
	enum held_stop why = HELD_KEEP;
	struct entry *e;

	pthread_mutex_lock(&h->mu);
	if ((e = find(h, id, attempt)) != NULL) {
		e->st = ST_RUNNING;
		e->run = r;
		why = e->stop;
	}
	pthread_mutex_unlock(&h->mu);
	return why;
}

enum held_stop held_finish(held_set *h, int64_t id, int32_t attempt)
{
	enum held_stop why = HELD_KEEP;
	struct entry *e;

	pthread_mutex_lock(&h->mu);
	if ((e = find(h, id, attempt)) != NULL) {
		if (e->st != ST_DONE)
			h->busy--;
		e->st = ST_DONE;
		e->run = NULL;
		why = e->stop;
		pthread_cond_broadcast(&h->cv);
	}
	pthread_mutex_unlock(&h->mu);
	return why;
}

enum held_stop held_stop_asked(held_set *h, int64_t id, int32_t attempt)
{
	enum held_stop why = HELD_KEEP;
	struct entry *e;

	pthread_mutex_lock(&h->mu);
	if ((e = find(h, id, attempt)) != NULL)
		why = e->stop;
	pthread_mutex_unlock(&h->mu);
	return why;
}

/* Under the mutex. */
static void stop_entry(struct entry *e, enum held_stop why)
{
	if (why > e->stop)
		e->stop = why;
	if (e->run != NULL)
		runner_cancel(e->run);
}

int held_stop(held_set *h, int64_t id, enum held_stop why)
{
	int n = 0;

	pthread_mutex_lock(&h->mu);
	for (size_t i = 0; i < h->n; i++) {
		if (h->v[i].id != id)
			continue;
		stop_entry(&h->v[i], why);
		n++;
	}
	pthread_mutex_unlock(&h->mu);
	return n;
}

void held_stop_all(held_set *h, enum held_stop why)
{
	pthread_mutex_lock(&h->mu);
	for (size_t i = 0; i < h->n; i++)
		if (h->v[i].st != ST_DONE)
			stop_entry(&h->v[i], why);
	pthread_mutex_unlock(&h->mu);
}

void held_remove(held_set *h, int64_t id, int32_t attempt)
{
	struct entry *e;

	pthread_mutex_lock(&h->mu);
	if ((e = find(h, id, attempt)) != NULL) {
		if (e->st != ST_DONE) {
			h->busy--;
			pthread_cond_broadcast(&h->cv);
		}
		*e = h->v[--h->n];
	}
	pthread_mutex_unlock(&h->mu);
}

static struct timespec deadline_after(int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	return ts;
}

int held_wait_free(held_set *h, int wait_ms)
{
	struct timespec until = deadline_after(wait_ms);
	int free_slots;

	pthread_mutex_lock(&h->mu);
	while (h->busy >= h->capacity && wait_ms > 0)
		if (pthread_cond_timedwait(&h->cv, &h->mu, &until) == ETIMEDOUT)
			break;
	free_slots = h->capacity - h->busy;
	pthread_mutex_unlock(&h->mu);
	return free_slots > 0 ? free_slots : 0;
}

int held_wait_idle(held_set *h, int wait_ms)
{
	struct timespec until = deadline_after(wait_ms);
	int busy;

	pthread_mutex_lock(&h->mu);
	while (h->busy > 0 && wait_ms > 0)
		if (pthread_cond_timedwait(&h->cv, &h->mu, &until) == ETIMEDOUT)
			break;
	busy = h->busy;
	pthread_mutex_unlock(&h->mu);
	return busy;
}

int held_snapshot(held_set *h, struct held_ref **refs, size_t *n)
{
	struct held_ref *r = NULL;
	size_t k = 0;
	int rv = 0;

	pthread_mutex_lock(&h->mu);
	if (h->n > 0 && (r = malloc(h->n * sizeof(*r))) == NULL)
		rv = -1;
	for (size_t i = 0; r && i < h->n; i++)
		if (h->v[i].stop != HELD_CANCELLED && h->v[i].stop != HELD_LOST)
			r[k++] = (struct held_ref){ h->v[i].id, h->v[i].attempt };
	pthread_mutex_unlock(&h->mu);
	*refs = r;
	*n = k;
	return rv;
}
