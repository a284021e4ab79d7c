/*
 * processor.c - FlowManager processor handlers: GetNext hands out one
 * queue item (a lease owned by "processor", flow_settings.processor_lease_s
 * long), CompleteItem and FailItem finish it with a compare-and-set on its
 * status; RetryItems re-drives failed and dead items, CancelItems cancels
 * queued and running ones. SQL in store/items.c.
 */
#include <inttypes.h>
#include <string.h>

#include "flow/v1/flow_manager.pb-c.h"
#include "services/convert.h"
#include "services/handlers.h"
#include "settings.h"
#include "status.h"
#include "store/items.h"
#include "store/tasks.h"
#include "store/tickets.h"
#include "waiters.h"

/* Lease owner of the items GetNext hands out. */
#define PROCESSOR_OWNER "processor"

/* Most queue item ids RetryItems and CancelItems take at once. */
#define ITEM_IDS_MAX 1000

static bool nonempty(const char *s)
{
	return s != NULL && s[0] != '\0';
}

/* For a ticket item: all tasks of the ticket and the first one neither done
 * nor cancelled. */
static int ticket_tasks(struct flow_req *r, Flow__V1__GetNextResponse *res)
{
	int rv = store_tasks_list(r, res->ticket_id, NULL, &res->tasks, &res->n_tasks);

	if (rv != FLOW_OK)
		return rv;
	for (size_t i = 0; i < res->n_tasks; i++) {
		const Flow__V1__Task *t = res->tasks[i];

		if (!t->done && t->status != NULL && strcmp(t->status, "completed") != 0 &&
		    strcmp(t->status, "cancelled") != 0) {
			res->next_task = res->tasks[i];
			break;
		}
	}
	return FLOW_OK;
}

/* The agent to load and the files to suggest for the claimed item. */
static void pick_agent_files(Flow__V1__GetNextResponse *res)
{
	const Flow__V1__Ticket *tk = res->ticket;
	const Flow__V1__Task *t = res->task;

	if (t != NULL && nonempty(t->agent_id))
		res->agent_id = t->agent_id;
	else if (tk->n_suggested_agent_ids > 0 && nonempty(tk->suggested_agent_ids[0]))
		res->agent_id = tk->suggested_agent_ids[0];
	else
		res->agent_id = res->item->agent_id;
	if (t != NULL) {
		res->suggested_files = t->suggested_file_ids;
		res->n_suggested_files = t->n_suggested_file_ids;
	} else {
		res->suggested_files = tk->suggested_file_ids;
		res->n_suggested_files = tk->n_suggested_file_ids;
	}
}

/* Fills a found=true reply for the claimed item it. */
static int fill_found(struct flow_req *r, Flow__V1__QueueItem *it, Flow__V1__GetNextResponse *res)
{
	int rv;

	res->found = true;
	res->item = it;
	res->has_queue_item_id = res->has_ticket_id = true;
	res->queue_item_id = it->id;
	res->ticket_id = it->ticket_id;
	res->has_task_id = it->has_task_id;
	res->task_id = it->task_id;
	res->message =
	    it->has_task_id
		? arena_printf(r->arena, "claimed queue item %" PRId64 " (task %" PRId64 ")",
			       it->id, it->task_id)
		: arena_printf(r->arena, "claimed queue item %" PRId64 " (ticket %" PRId64 ")",
			       it->id, it->ticket_id);
	if ((rv = store_ticket_get(r, it->ticket_id, &res->ticket)) != FLOW_OK)
		return rv;
	if (it->has_task_id)
		rv = store_task_get(r, it->task_id, &res->task);
	else
		rv = ticket_tasks(r, res);
	if (rv != FLOW_OK)
		return rv;
	pick_agent_files(res);
	return FLOW_OK;
}

HANDLER(h_get_next)
{
	const Flow__V1__GetNextRequest *q = (const Flow__V1__GetNextRequest *)in;
	const char *agent = nonempty(q->agent_id) ? q->agent_id : NULL;
	Flow__V1__GetNextResponse *res;
	Flow__V1__QueueItem *it;
	char *why;
	int rv;

	if ((rv = convert_id(r, "queueId", q->has_queue_id, q->queue_id)) != FLOW_OK)
		return rv;
	res = SERVICE_NEW(r, Flow__V1__GetNextResponse, flow__v1__get_next_response__descriptor);
	if (res == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	res->has_found = true;
	rv = store_item_claim(r, q->queue_id, PROCESSOR_OWNER, agent,
			      flow_settings.processor_lease_s, &it);
	if (rv != FLOW_OK)
		return rv;
	if (it != NULL)
		rv = fill_found(r, it, res);
	else if ((rv = store_item_idle_reason(r, q->queue_id, agent, &why)) == FLOW_OK)
		res->message = why;
	if (rv != FLOW_OK)
		return rv;
	*out = &res->base;
	return FLOW_OK;
}

HANDLER(h_complete_item)
{
	const Flow__V1__CompleteItemRequest *q = (const Flow__V1__CompleteItemRequest *)in;
	struct store_outcome o = { 0 };
	Flow__V1__QueueItem *it;
	int rv;

	if ((rv = convert_id(r, "queueItemId", q->has_queue_item_id, q->queue_item_id)) ||
	    (rv = convert_text(r, "completionNotes", q->completion_notes, CONVERT_NOTES_MAX_CHARS,
			       false)) ||
	    (rv = convert_json(r, "metadata", q->metadata)))
		return rv;
	o.id = q->queue_item_id;
	o.success = true;
	o.notes = q->completion_notes;
	o.metadata = q->metadata;
	if ((rv = store_item_finish(r, &o, &it)) != FLOW_OK)
		return rv;
	waiters_kick_current(1); /* a queue slot is free */
	*out = &it->base;
	return FLOW_OK;
}

HANDLER(h_fail_item)
{
	const Flow__V1__FailItemRequest *q = (const Flow__V1__FailItemRequest *)in;
	struct store_outcome o = { 0 };
	Flow__V1__QueueItem *it;
	int rv;

	if ((rv = convert_id(r, "queueItemId", q->has_queue_item_id, q->queue_item_id)) != FLOW_OK)
		return rv;
	o.id = q->queue_item_id;
	o.error = q->error;
	o.retryable = q->has_retryable && q->retryable;
	if ((rv = convert_text(r, "error", q->error, CONVERT_ERROR_MAX_CHARS, true)) != FLOW_OK ||
	    (rv = store_item_finish(r, &o, &it)) != FLOW_OK)
		return rv;
	waiters_kick_current(1);
	*out = &it->base;
	return FLOW_OK;
}

/* The reply of RetryItems / CancelItems. */
static Flow__V1__ItemsResponse *items_reply(struct flow_req *r)
{
	return SERVICE_NEW(r, Flow__V1__ItemsResponse, flow__v1__items_response__descriptor);
}

HANDLER(h_retry_items)
{
	const Flow__V1__RetryItemsRequest *q = (const Flow__V1__RetryItemsRequest *)in;
	Flow__V1__ItemsResponse *res;
	int rv;

	if (q->n_queue_item_ids > 0 && q->has_queue_id)
		return req_error(r, FLOW_INVALID_ARGUMENT,
				 "give queueItemIds or queueId, not both");
	if (q->n_queue_item_ids == 0 && !q->has_queue_id)
		return req_error(r, FLOW_INVALID_ARGUMENT,
				 "give queueItemIds (the items to retry) or queueId (every failed "
				 "or dead item of the queue)");
	if ((rv = convert_ids(r, "queueItemIds", q->queue_item_ids, q->n_queue_item_ids,
			      ITEM_IDS_MAX)) ||
	    (q->has_queue_id && (rv = convert_id(r, "queueId", true, q->queue_id))))
		return rv;
	if ((res = items_reply(r)) == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	rv = store_item_retry(r, q->queue_item_ids, q->n_queue_item_ids, q->queue_id, &res->items,
			      &res->n_items);
	if (rv != FLOW_OK)
		return rv;
	*out = &res->base;
	return FLOW_OK;
}

HANDLER(h_cancel_items)
{
	const Flow__V1__CancelItemsRequest *q = (const Flow__V1__CancelItemsRequest *)in;
	Flow__V1__ItemsResponse *res;
	int rv;

	if (q->n_queue_item_ids == 0)
		return req_error(r, FLOW_INVALID_ARGUMENT, "queueItemIds is required");
	if ((rv = convert_ids(r, "queueItemIds", q->queue_item_ids, q->n_queue_item_ids,
			      ITEM_IDS_MAX)) != FLOW_OK)
		return rv;
	if ((res = items_reply(r)) == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	rv = store_item_cancel(r, q->queue_item_ids, q->n_queue_item_ids, &res->items,
			       &res->n_items);
	if (rv != FLOW_OK)
		return rv;
	waiters_kick_current((int)res->n_items); /* running ones freed their slots */
	*out = &res->base;
	return FLOW_OK;
}
