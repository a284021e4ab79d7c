/*
 * upkeep.h - the queue engine's background statements (store_upkeep_
 * prefix), run by the rescuer thread (jobs/rescuer.c). Each is one
 * statement on rows it locks with FOR UPDATE SKIP LOCKED, so any number of
 * flowd processes may run them at once.
 *
 * Every function runs on r->db and returns FLOW_OK or a flow code after
 * req_error() (r->message says why); counts go to the out-params.
 */
#ifndef FLOW_STORE_UPKEEP_H
#define FLOW_STORE_UPKEEP_H

#include <stdint.h>

#include "req.h"

/*
 * Rescues up to limit in-progress items whose lease has expired
 * (flow_rescue): back to queued after the backoff (base_ms * 2^(attempt-1),
 * +-50% jitter, at most max_ms) with the attempt counted, or dead after
 * their last attempt; error "lease expired (held by worker:7, attempt 2)".
 */
int store_upkeep_rescue(struct flow_req *r, int limit, int base_ms, int max_ms, int64_t *requeued,
			int64_t *dead);

/*
 * Deletes up to limit items that finished (completed, failed, cancelled,
 * dead) more than retention_s seconds ago, folding them into
 * queue_item_counters in the same statement (flow_prune), so queue
 * statistics stay exactly the same.
 */
int store_upkeep_prune(struct flow_req *r, int retention_s, int limit, int64_t *pruned);

/* Deletes workers not seen (claim, heartbeat) for idle_s seconds; they get
 * NOT_FOUND on their next call and register again. */
int store_upkeep_forget_workers(struct flow_req *r, int idle_s, int64_t *removed);

#endif
