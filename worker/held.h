/*
 * held.h - the items this worker holds: claimed and not yet reported.
 *
 * An item is held from its claim until its outcome is reported or dropped;
 * heartbeats extend the leases of every held item. The items waiting to
 * start or running use the worker's slots (its concurrency). Items are
 * keyed by (id, attempt); flowd's heartbeat reply names ids only, so a
 * stop by id applies to every attempt held. Thread-safe (one mutex).
 */
#ifndef FLOW_WORKER_HELD_H
#define FLOW_WORKER_HELD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "runner.h"

typedef struct held_set held_set;

enum held_stop {
	HELD_KEEP = 0,	/* nothing asked */
	HELD_SHUTDOWN,	/* the worker stops: report a retryable failure */
	HELD_CANCELLED, /* flowd says cancelled: drop the outcome */
	HELD_LOST,	/* the lease went elsewhere: drop the outcome */
};

struct held_ref {
	int64_t id;
	int32_t attempt;
};

/* Returns 0, or -1 when out of memory. capacity >= 1. */
int held_new(int capacity, held_set **out);
/* held_free(NULL) is a no-op. */
void held_free(held_set *h);

/* A claimed item; it takes a slot. Returns 0, or -1 when out of memory. */
int held_add(held_set *h, int64_t id, int32_t attempt);

/*
 * The item's agent started as r: a later stop cancels it. Returns the stop
 * asked already (the caller cancels r itself then), HELD_KEEP if none.
 */
enum held_stop held_attach(held_set *h, int64_t id, int32_t attempt, runner *r);

/* The item's agent ended (or never ran): detaches it, frees the slot, and
 * returns the stop asked, if any. */
enum held_stop held_finish(held_set *h, int64_t id, int32_t attempt);

/* The stop asked for the item (HELD_KEEP also when it is not held). */
enum held_stop held_stop_asked(held_set *h, int64_t id, int32_t attempt);

/*
 * Asks every held attempt of item id to stop, cancelling a running agent.
 * A stop is never weakened (CANCELLED and LOST win over SHUTDOWN).
 * Returns how many entries it applied to.
 */
int held_stop(held_set *h, int64_t id, enum held_stop why);

/* held_stop(why) for every item that is running or waiting to run. */
void held_stop_all(held_set *h, enum held_stop why);

/* Forgets the item (reported or dropped). */
void held_remove(held_set *h, int64_t id, int32_t attempt);

/* Free slots; when there are none, waits up to wait_ms for one. */
int held_wait_free(held_set *h, int wait_ms);

/* Waits up to wait_ms until no item is running or waiting to run; returns
 * how many still are. */
int held_wait_idle(held_set *h, int wait_ms);


/*
 * Every held item flowd has not told us to drop, for a heartbeat: a
 * malloc'd array in *refs (NULL when none), *n entries. Returns 0 or -1.
 */
int held_snapshot(held_set *h, struct held_ref **refs, size_t *n);

#endif
