/*
 * items.h - queue items (store_item_ prefix): enqueue, dequeue, claim,
 * complete, fail, and queue statistics.
 *
 * Queue state lives only in queue_items. Every operation that changes more
 * than one row is one plpgsql function call (migration 0002), so it is one
 * round trip and one transaction.
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

#include "flow/v1/model.pb-c.h"
#include "req.h"

/* Priority argument meaning "the ticket's priority". */
#define STORE_ITEM_DEFAULT_PRIORITY (-1)

/*
 * Puts a ticket on a queue and, with include_tasks, each of its tasks that
 * is neither completed, cancelled nor already active on a queue, in
 * order_index order - all in one transaction. *out holds the *n new items,
 * the ticket item first. Errors: FLOW_NOT_FOUND (queue, ticket),
 * FLOW_FAILED_PRECONDITION (other project, ticket closed),
 * FLOW_ALREADY_EXISTS "ticket 5 is already on queue 3 (item 17)".
 */
int store_item_enqueue_ticket(struct flow_req *r, int64_t queue_id, int64_t ticket_id, int priority,
			      bool include_tasks, Flow__V1__QueueItem ***out, size_t *n);

/* Puts one task on a queue; like store_item_enqueue_ticket, and
 * FLOW_FAILED_PRECONDITION when the task is completed or cancelled. */
int store_item_enqueue_task(struct flow_req *r, int64_t queue_id, int64_t task_id, int priority,
			    Flow__V1__QueueItem **out);

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
 * Claims the next ready item of the queue for lease owner `owner` (one
 * round trip: flow_claim). agent NULL: any item; else items for that agent
 * or for no agent. *out is the claimed item, or NULL when nothing was
 * handed out (paused, at capacity, nothing ready): that is FLOW_OK.
 * FLOW_NOT_FOUND "queue 3 not found".
 */
int store_item_claim(struct flow_req *r, int64_t queue_id, const char *owner, const char *agent,
		     Flow__V1__QueueItem **out);

/* After a claim gave nothing: why, as a message for people
 * ("queue 3 is paused"). FLOW_NOT_FOUND when the queue is gone. */
int store_item_idle_reason(struct flow_req *r, int64_t queue_id, const char *agent, char **why);

/*
 * Compare-and-set in_progress -> completed. notes and metadata (JSON text,
 * validated by the caller) may be NULL. Completes the task of a task item
 * (the ticket closes after its last task) or closes the ticket of a ticket
 * item. FLOW_NOT_FOUND "queue item 9 not found"; FLOW_FAILED_PRECONDITION
 * "queue item 9 is completed, not in progress" - then nothing changed.
 */
int store_item_complete(struct flow_req *r, int64_t id, const char *notes, const char *metadata,
			Flow__V1__QueueItem **out);

/* Compare-and-set in_progress -> failed with error; the task of a task item
 * goes back to pending. Errors as store_item_complete. */
int store_item_fail(struct flow_req *r, int64_t id, const char *error, Flow__V1__QueueItem **out);

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
