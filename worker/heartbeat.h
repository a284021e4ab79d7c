/*
 * heartbeat.h - extends the leases of the items this worker holds.
 *
 * Every heartbeat interval (from RegisterWorker) one Heartbeat call sends
 * {id, attempt} of every held item, running or waiting to be reported.
 * Items the reply names as cancelled or lost are stopped (their agents get
 * runner_cancel) and their outcomes dropped. When flowd cannot be reached
 * the agents keep running and the call is retried with back-off (100 ms
 * doubling, never slower than the interval).
 */
#ifndef FLOW_WORKER_HEARTBEAT_H
#define FLOW_WORKER_HEARTBEAT_H

#include "held.h"
#include "session.h"

typedef struct heartbeat heartbeat;

/* Starts the heartbeat thread. Returns 0 or -1. s and h outlive it. */
int heartbeat_start(session *s, held_set *h, heartbeat **out);

/* Stops the thread (after the call in flight); frees hb. NULL is a no-op. */
void heartbeat_stop(heartbeat *hb);

#endif
