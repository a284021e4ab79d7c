/*
 * store/metrics.h - what flowd's HTTP endpoints ask PostgreSQL
 * (store_metrics_ prefix): the schema version for /readyz, and the queue,
 * item and worker figures of /metrics.
 *
 * These run on a connection of their own (store_metrics_conn), held by the
 * HTTP thread (http.c), never on a service thread's: a scrape or a probe
 * never takes a connection from an RPC. The connection is made on first
 * use and again after any failure. Every connect and every statement is
 * bounded by timeout_ms twice: on the client (libpq's asynchronous API and
 * poll(); a statement that runs late drops the connection) and on the
 * server (statement_timeout), so a stuck database costs a probe at most
 * about timeout_ms, never a hang.
 *
 * Ownership: store_metrics_open copies conninfo; the caller owns the conn
 * until store_metrics_close (NULL is a no-op). A snapshot's arrays are
 * malloc'd and freed by store_metrics_snapshot_free.
 */
#ifndef FLOW_STORE_METRICS_H
#define FLOW_STORE_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct store_metrics_conn store_metrics_conn;

/* The statuses of a queue item, in the order of store_item_status_names. */
enum store_item_status {
	STORE_ITEM_QUEUED,
	STORE_ITEM_IN_PROGRESS,
	STORE_ITEM_COMPLETED,
	STORE_ITEM_FAILED,
	STORE_ITEM_CANCELLED,
	STORE_ITEM_DEAD,
	STORE_ITEM_N_STATUS
};

/* "queued", "in_progress", ... as stored in queue_items.status. */
extern const char *const store_item_status_names[STORE_ITEM_N_STATUS];

/* One queue's items by status: the rows in queue_items plus, for the
 * finished statuses, the pruned history in queue_item_counters - the same
 * figures as GetQueueStats. */
struct store_queue_counts {
	int64_t queue_id;
	int64_t project_id;
	int64_t n[STORE_ITEM_N_STATUS];
};

struct store_metrics_snapshot {
	int schema;			   /* the database's schema version */
	int64_t workers;		   /* workers seen (claim, heartbeat) within the window */
	struct store_queue_counts *queues; /* by queue id; malloc'd */
	size_t n_queues;
};

/* Prepares a connection (not made yet). FLOW_OK, FLOW_INVALID_ARGUMENT for
 * a malformed conninfo, FLOW_RESOURCE_EXHAUSTED; err says why. */
int store_metrics_open(const char *conninfo, int timeout_ms, store_metrics_conn **out, char *err,
		       size_t errlen);

void store_metrics_close(store_metrics_conn *c);

/*
 * The database's schema version (max(schema_migrations.version)).
 * FLOW_OK, or FLOW_UNAVAILABLE (cannot connect, connection lost),
 * FLOW_DEADLINE_EXCEEDED (over timeout_ms), FLOW_INTERNAL (the statement
 * failed); err says why.
 */
int store_metrics_schema(store_metrics_conn *c, int *version, char *err, size_t errlen);

/*
 * Fills *out (zeroed first) with the schema version, the workers seen in
 * the last window_s seconds and every queue's item counts: two statements,
 * one GROUP BY over queue_items. Codes as store_metrics_schema; on failure
 * *out holds nothing to free.
 */
int store_metrics_collect(store_metrics_conn *c, int window_s, struct store_metrics_snapshot *out,
			  char *err, size_t errlen);

void store_metrics_snapshot_free(struct store_metrics_snapshot *s);

#endif
