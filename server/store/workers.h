/*
 * workers.h - the worker path of the queue engine (store_worker_ prefix):
 * registration, claims of several items with their context, batched
 * heartbeats and batched outcomes, and the operators' list of workers with
 * the items they run. The plpgsql functions are in
 * migrations/0004_queue_engine.sql.
 *
 * A worker's leases are owned by "worker:<id>" (store_worker_owner). Every
 * function runs on r->db and returns FLOW_OK or a flow code after
 * req_error() (r->message says why). Results live in r->arena (nothing to
 * free); on failure the out-params are left untouched. Arguments are
 * expected validated by the service layer (ids > 0, bounds, no duplicates).
 */
#ifndef FLOW_STORE_WORKERS_H
#define FLOW_STORE_WORKERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow/v1/flow_manager.pb-c.h"
#include "flow/v1/worker.pb-c.h"
#include "req.h"
#include "store/items.h"

/* "worker:<id>" in r->arena; NULL when out of memory. */
const char *store_worker_owner(struct flow_req *r, int64_t worker_id);

/*
 * Registers a worker. *id is its id; *min_lease_s the shortest lease of
 * any queue (30 when there is none), for the heartbeat interval.
 */
int store_worker_register(struct flow_req *r, const char *name, char **agents, size_t n_agents,
			  int capacity, int64_t *id, int *min_lease_s);

/* What a claim asks for. */
struct store_claim {
	int64_t worker_id;
	char **agents; /* the agents it runs; n_agents 0: those it registered */
	size_t n_agents;
	int max_items;	  /* 1..500 */
	int64_t queue_id; /* 0: any queue */
};

/*
 * Puts claimed items of worker_id back (queued, the attempt not counted, no
 * lease) when they cannot be handed out after all; items no longer in
 * progress under that worker are left alone.
 */
int store_worker_release(struct flow_req *r, int64_t worker_id, const int64_t *ids, size_t n);

/*
 * Claims up to c->max_items ready items across every active queue (or
 * c->queue_id) (flow_claim_worker), then reads their tickets, tasks and
 * projects, in one round trip. *out holds *n items, highest priority
 * first; none is FLOW_OK. FLOW_NOT_FOUND "worker 7 is not registered" /
 * "queue 3 not found". Marking the items' tasks and tickets in progress is
 * left to r->after_reply: to r->marker when there is one, else done then.
 */
int store_worker_claim(struct flow_req *r, const struct store_claim *c,
		       Flow__V1__ClaimedItem ***out, size_t *n);

/*
 * Marks the tasks and tickets of the items ids (a bigint[] literal) that
 * owner ("worker:7") still holds in progress as in progress, in a
 * transaction of its own that does not wait for its WAL flush
 * (flow_claimed_mark_running).
 */
int store_worker_claim_mark(struct flow_req *r, const char *owner, const char *ids);

/*
 * Records that the worker is alive and, in one statement, extends the
 * leases of the held items still in progress under its name and the same
 * attempt, each by its queue's lease. Fills out's extended, cancelled
 * (status cancelled) and lost (anything else) id lists (arena arrays).
 * FLOW_NOT_FOUND "worker 7 is not registered".
 */
int store_worker_heartbeat(struct flow_req *r, int64_t worker_id, Flow__V1__HeldItem *const *items,
			   size_t n, Flow__V1__HeartbeatResponse *out);

/*
 * Applies n outcomes of the worker's items in one transaction (one
 * flow_report call), each a compare-and-set as store_item_finish (owner
 * and attempt are the worker's; o[k].owner is ignored). res[k] (allocated
 * and initialised by the caller) gets o[k]'s code, message and the item's
 * status afterwards; a rejected outcome changes nothing and does not undo
 * the others.
 */
int store_worker_report(struct flow_req *r, int64_t worker_id, const struct store_outcome *o,
			size_t n, Flow__V1__OutcomeResult *const *res);

/* What ListWorkers asks for (checked by the service layer). */
struct store_worker_filter {
	int seen_within_s;	   /* connected: seen within this many seconds (> 0) */
	bool include_disconnected; /* else only the connected ones */
	int limit;		   /* at most this many workers, by id (> 0) */
};

/*
 * The workers matching f, by id, each with the items in progress under its
 * lease (by id), in one statement. Fills out's workers, now (the database
 * clock, epoch ms) and truncated (more than f->limit matched); arena arrays.
 */
int store_worker_list(struct flow_req *r, const struct store_worker_filter *f,
		      Flow__V1__ListWorkersResponse *out);

#endif
