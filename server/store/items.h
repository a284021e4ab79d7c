/*
 * items.h - queue items (store_item_ prefix): enqueue, dequeue, claim,
 * complete, fail, retry, cancel, and queue statistics.
 *
 * Queue state lives only in queue_items. Every operation that changes more
 * than one row is one plpgsql function call (migrations 0002 and 0004), so
 * it is one round trip and one transaction. Statistics add the counters of
 * pruned history (queue_item_counters), so they do not change when
 * finished items are pruned.
 *
 * Every function runs on r->db and returns FLOW_OK or a flow code after
 * req_error() (r->message says why). Messages and strings returned through
 * out-params are allocated in r->arena (not owned by the caller; they live
 * until the arena is reset). On failure the out-params are left untouched.
 * Arguments are expected validated by the service layer (ids > 0, bounds).
 */
#ifndef FLOW_STORE_ITEMS_H
#define FLOW_STORE_ITEMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "flow/v1/model.pb-c.h"
#include "req.h"

/* Priority argument meaning "the ticket's priority". */
#define STORE_ITEM_DEFAULT_PRIORITY (-1)

/* The columns store_item_from_row reads, from queue_items aliased i. */
#define STORE_ITEM_COLS                                                                            \
	"i.id, i.queue_id, i.ticket_id, i.task_id, i.priority, i.status, i.attempt, "              \
	"i.max_attempts, flow_ms(i.run_after) AS run_after, i.lease_owner, "                       \
	"flow_ms(i.lease_expires_at) AS lease_expires, i.agent_id, i.error, "                      \
	"i.completion_notes, i.metadata::text AS metadata, "                                       \
	"flow_ms(i.enqueued_at) AS enqueued_at, flow_ms(i.started_at) AS started_at, "             \
	"flow_ms(i.completed_at) AS completed_at"

/* Row `row` of res (selected with STORE_ITEM_COLS) as a message in r->arena;
 * NULL when out of memory. */
Flow__V1__QueueItem *store_item_from_row(struct flow_req *r, const PGresult *res, int row);

/* How new items are enqueued. */
struct store_enqueue_opts {
	int priority;	    /* 0..10, or STORE_ITEM_DEFAULT_PRIORITY */
	bool include_tasks; /* EnqueueTicket: the ticket's open tasks too */
	int64_t run_after;  /* not before this epoch ms; 0: see delay_s */
	int delay_s;	    /* not before now + this many seconds; 0: now */
	int max_attempts;   /* 1..100; 0: the queue's */
};

/*
 * Puts a ticket on a queue and, with o->include_tasks, each of its tasks
 * that is neither completed, cancelled nor already active on a queue, in
 * order_index order - one INSERT statement, so one ready notification. An
 * item's agent is the task's agent, else the ticket's first suggested
 * agent, else the queue's default agent, else none. *out holds the *n new
 * items, the ticket item first. Errors: FLOW_NOT_FOUND (queue, ticket),
 * FLOW_FAILED_PRECONDITION (other project, ticket closed),
 * FLOW_ALREADY_EXISTS "ticket 5 is already on queue 3 (item 17)".
 */
int store_item_enqueue_ticket(struct flow_req *r, int64_t queue_id, int64_t ticket_id,
			      const struct store_enqueue_opts *o, Flow__V1__QueueItem ***out,
			      size_t *n);

/* Puts one task on a queue; like store_item_enqueue_ticket, and
 * FLOW_FAILED_PRECONDITION when the task is completed or cancelled. */
int store_item_enqueue_task(struct flow_req *r, int64_t queue_id, int64_t task_id,
			    const struct store_enqueue_opts *o, Flow__V1__QueueItem **out);

/*
 * Deletes the ticket's active (queued or in-progress) item and, with
 * include_tasks, its tasks' active items. *removed counts the deleted rows.
 * FLOW_NOT_FOUND "ticket 5 not found", or "ticket 5 is not on any queue"
 * when nothing was removed.
 */
int store_item_dequeue_ticket(struct flow_req *r, int64_t ticket_id, bool include_tasks,
			      int64_t *removed);
/* The same for a task's active item. */
int store_item_dequeue_task(struct flow_req *r, int64_t task_id, int64_t *removed);

/*
 * Claims the next ready item of the queue for lease owner `owner` with a
 * lease of lease_s seconds (0: the queue's) - one round trip: flow_claim.
 * agent NULL: any item; else items for that agent or for no agent. *out is
 * the claimed item, or NULL when nothing was handed out (paused, at
 * capacity, nothing ready): that is FLOW_OK. FLOW_NOT_FOUND "queue 3 not
 * found".
 */
int store_item_claim(struct flow_req *r, int64_t queue_id, const char *owner, const char *agent,
		     int lease_s, Flow__V1__QueueItem **out);

/* After a claim gave nothing: why, as a message for people
 * ("queue 3 is paused"). FLOW_NOT_FOUND when the queue is gone. */
int store_item_idle_reason(struct flow_req *r, int64_t queue_id, const char *agent, char **why);

/* The outcome of an in-progress item (strings are read, not kept). */
struct store_outcome {
	int64_t id;
	const char *owner; /* lease owner compared; NULL: any */
	int attempt;	   /* attempt compared; 0: any */
	bool success;
	const char *notes;    /* success; may be NULL */
	const char *metadata; /* success: JSON text validated by the caller; may be NULL */
	const char *error;    /* failure */
	bool retryable;	      /* failure: queue again with backoff while attempts remain */
};

/*
 * Compare-and-set of an in-progress item on its status, and on lease owner
 * and attempt when given. Success: completed; completes the task of a task
 * item (the ticket closes after its last task) or closes the ticket of a
 * ticket item. Failure: retryable with attempts left -> queued after the
 * backoff (flow_settings.retry_base_ms / retry_max_ms); retryable without
 * -> dead; else failed; the task goes back to pending. FLOW_NOT_FOUND
 * "queue item 9 not found"; FLOW_FAILED_PRECONDITION "queue item 9 is
 * completed, not in progress" or "... is now leased to worker:8 (attempt
 * 2), not to worker:7 (attempt 1)" - then nothing changed.
 */
int store_item_finish(struct flow_req *r, const struct store_outcome *o, Flow__V1__QueueItem **out);

/*
 * Re-drives failed or dead items: back to queued, ready now, attempt 0,
 * error cleared. With n > 0 the listed ids, all or nothing:
 * FLOW_NOT_FOUND, FLOW_FAILED_PRECONDITION (not failed/dead, ticket closed,
 * task finished), FLOW_ALREADY_EXISTS (the ticket or task is meanwhile
 * active on a queue). With n == 0 every such item of queue_id that can be
 * re-driven (FLOW_NOT_FOUND when the queue is gone). *out: the re-driven
 * items by id.
 */
int store_item_retry(struct flow_req *r, const int64_t *ids, size_t n, int64_t queue_id,
		     Flow__V1__QueueItem ***out, size_t *n_out);

/*
 * Cancels queued or in-progress items, all or nothing: FLOW_NOT_FOUND,
 * FLOW_FAILED_PRECONDITION "queue item 9 is completed; only queued or
 * in-progress items can be cancelled". *out: the cancelled items by id.
 */
int store_item_cancel(struct flow_req *r, const int64_t *ids, size_t n, Flow__V1__QueueItem ***out,
		      size_t *n_out);

/* Statistics of one queue (one statement). FLOW_NOT_FOUND. */
int store_item_stats(struct flow_req *r, int64_t queue_id, Flow__V1__QueueStats **out);

/*
 * Statistics of every queue of a project (one statement), by queue id, and
 * their total: counts summed, current agents merged, average processing
 * time weighted by the completed items it averages. FLOW_NOT_FOUND
 * "project 7 not found".
 */
int store_item_stats_project(struct flow_req *r, int64_t project_id, Flow__V1__QueueStats ***out,
			     size_t *n, Flow__V1__QueueStats **total);

#endif
