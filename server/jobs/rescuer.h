/*
 * rescuer.h - the queue engine's background thread (rescuer_ prefix).
 *
 * Every flow_settings.rescue_interval_ms it
 *  - returns in-progress items whose lease expired to queued (attempt
 *    counted, retry backoff flow_settings.retry_base_ms / retry_max_ms) or,
 *    after their last attempt, to dead;
 *  - prunes items that finished more than flow_settings.history_retention_s
 *    ago, folding them into the per-queue counters (statistics unchanged);
 *  - forgets workers not seen for a day (they register again);
 *  - removes revoked access tokens past their expiry and refresh tokens
 *    expired more than a day ago (store_auth_cleanup);
 * each in batches, until nothing is left or a pass's budget is spent, and
 * logs what it did. Expired leases are also counted in the metrics
 * (flowd_leases_expired_total, metrics.h). It has its own database connection; while the database
 * is unreachable it logs once and retries every interval. Every statement
 * skips rows other transactions hold (FOR UPDATE SKIP LOCKED), so every
 * flowd process may run a rescuer against the same database.
 *
 * Ownership: rescuer_start copies conninfo; the struct rescuer is owned by
 * the caller until rescuer_stop, which joins the thread and frees it.
 */
#ifndef FLOW_RESCUER_H
#define FLOW_RESCUER_H

#include <stdint.h>

#include "req.h"

struct rescuer;

/* What one pass did. */
struct rescuer_pass {
	int64_t requeued; /* expired leases back to queued */
	int64_t dead;	  /* expired leases after their last attempt */
	int64_t pruned;	  /* finished items folded into the counters */
	int64_t workers;  /* idle workers forgotten */
	int tokens;       /* expired revoked-token and refresh-token rows removed */
};

/*
 * Starts the thread. Returns FLOW_OK, FLOW_INVALID_ARGUMENT for a
 * malformed conninfo, or FLOW_RESOURCE_EXHAUSTED / FLOW_INTERNAL when the
 * thread cannot be created. An unreachable database is not an error: the
 * thread connects when it can.
 */
int rescuer_start(const char *conninfo, struct rescuer **out);

/* Wakes the thread, waits for its current pass to end and frees it.
 * rescuer_stop(NULL) is a no-op. */
void rescuer_stop(struct rescuer *rs);

/*
 * One pass on r->db (what the thread does every interval; tests call it
 * directly). *out counts what was done, also when a statement failed
 * part-way: then the failing statement's code is returned.
 */
int rescuer_run_once(struct flow_req *r, struct rescuer_pass *out);

#endif
