/*
 * metrics.h - flowd's own metrics (metrics_ prefix) and their Prometheus
 * text exposition (format 0.0.4), built in memory per scrape.
 *
 * Recording is lock-free and allocation-free: relaxed atomic adds on
 * static arrays, callable from any thread (service threads, nng callbacks,
 * the waiters and rescuer threads). metrics_render() reads the counters
 * while they move, so a scrape is a near-instant rather than an atomic
 * view; a histogram's _count is always the sum of its buckets (+Inf).
 *
 * Label values come only from fixed sets: method is the path of a method
 * flowd serves ("unknown" for anything else a client sends), code a gRPC
 * code name, queue and project numeric ids, status a queue item status,
 * version the build's. No label value is taken from a request, so none
 * can carry a token, a password or a user name.
 *
 * Metric list and meaning: docs/operations.md, "Health and metrics".
 */
#ifndef FLOW_METRICS_H
#define FLOW_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "store/metrics.h"

/* flowd_workers_connected counts workers seen within this many seconds
 * (workers heartbeat at least every 10 s, idle ones also claim). */
#define METRICS_WORKERS_WINDOW_S 60

/* The method id of "unknown". */
#define METRICS_METHOD_UNKNOWN 0

/* Builds the method table (once; later calls do nothing) and records the
 * start time. Called by main before any thread starts; the functions below
 * also call it. */
void metrics_init(void);

/* The method id of a path ("/flow.v1.FlowManager/CreateTicket"); NULL or
 * a path flowd does not serve: METRICS_METHOD_UNKNOWN. */
int metrics_method(const char *path);

/* One RPC answered (or dropped: code FLOW_CANCELLED) after duration_us of
 * handling, waiting for a thread included, parked time excluded. */
void metrics_rpc(int method, int code, int64_t duration_us);

/* A request (new, or a parked one woken) waited wait_us in the queue for a
 * free service thread. */
void metrics_pool_wait(int64_t wait_us);

/* A service thread opened (+1) or closed (-1) its database connection. */
void metrics_pool_open(int delta);

/* A service thread with a connection started (+1) or finished (-1)
 * handling a request. */
void metrics_pool_busy(int delta);

/* A long-poll request was parked (+1) or left the waiters list (-1). */
void metrics_parked(int delta);

/* The rescuer found n expired leases (requeued + dead). */
void metrics_leases_expired(int64_t n);

struct metrics_info {
	const char *version; /* label of flowd_build_info */
	int schema;	     /* the schema version this binary expects */
	int pool_size;	     /* service threads: connections at most */
	/* Figures from PostgreSQL; NULL when they could not be read, which
	 * gives flowd_up{component="database"} 0 and none of them. */
	const struct store_metrics_snapshot *db;
};

/*
 * The exposition as one NUL-terminated malloc'd string *out (length *len;
 * freed by the caller). Returns 0, or -1 when out of memory (*out NULL).
 */
int metrics_render(const struct metrics_info *info, char **out, size_t *len);

/* Zeroes every counter and gauge (tests). */
void metrics_reset(void);

#endif
