/*
 * reporter.h - sends item outcomes to flowd in batches.
 *
 * Outcomes are collected for up to REPORTER_WINDOW_MS after the first one
 * arrives, or until REPORTER_BATCH outcomes (or about REPORTER_BATCH_BYTES
 * of text) are waiting, then go out in one Report call. When flowd cannot
 * be reached (UNAVAILABLE, DEADLINE_EXCEEDED, ...) the batch stays in
 * memory and is retried with back-off (100 ms doubling to 5 s) for as long
 * as the worker runs; other errors are retried a few times, then the batch
 * is dropped (its leases expire and flowd re-delivers the items). A stale
 * outcome (FAILED_PRECONDITION: the lease went elsewhere) is logged and
 * dropped. Outcomes of items flowd cancelled or took away (see held.h) are
 * dropped before sending. Each reported or dropped item leaves the held
 * set. Thread-safe.
 */
#ifndef FLOW_WORKER_REPORTER_H
#define FLOW_WORKER_REPORTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "held.h"
#include "session.h"

#define REPORTER_WINDOW_MS 2
#define REPORTER_BATCH 250
#define REPORTER_BATCH_BYTES (1024 * 1024)
#define REPORTER_MAX_PERMANENT_TRIES 5

struct outcome {
	int64_t id;
	int32_t attempt;
	bool success; /* completed; else failed */
	bool retryable;
	char *notes;	      /* malloc'd or NULL */
	char *metadata;	      /* JSON text, malloc'd or NULL */
	char *error;	      /* malloc'd or NULL */
	struct outcome *next; /* the reporter's */
};

typedef struct reporter reporter;

/* outcome_free(NULL) is a no-op. */
void outcome_free(struct outcome *o);

/* Starts the reporting thread. Returns 0 or -1. s and h outlive it. */
int reporter_start(session *s, held_set *h, reporter **out);

/* Queues o for reporting; takes o and its strings. */
void reporter_add(reporter *r, struct outcome *o);

/* Waits up to timeout_ms until every queued outcome was sent or dropped;
 * returns how many are still waiting. */
size_t reporter_flush(reporter *r, int timeout_ms);

/* Stops the thread (after the call in flight, if any); outcomes still
 * waiting are logged and dropped. Frees r; reporter_stop(NULL) is a no-op. */
void reporter_stop(reporter *r);

#endif
