/*
 * queues.c - FlowManager queue handlers: queue CRUD, enqueue/dequeue of
 * tickets and tasks, queue statistics. Validation here, SQL in
 * store/queues.c and store/items.c.
 */
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "flow/v1/flow_manager.pb-c.h"
#include "services/convert.h"
#include "services/handlers.h"
#include "status.h"
#include "store/items.h"
#include "store/queues.h"
#include "store/store.h"
#include "waiters.h"

#define NAME_MAX_CHARS 200
#define DESCRIPTION_MAX_CHARS 65536
#define AGENT_MAX_CHARS 200
/* runAfter: epoch ms, at most a year ahead (as delaySeconds). */
#define RUN_AFTER_MAX_AHEAD_MS (31536000LL * 1000)

/* Bounds of the numeric queue settings (the schema checks them too). */
struct bound {
	const char *field;
	int lo, hi, dflt;
};

static const struct bound b_parallel = { "maxParallelItems", 1, 10000, 1 };
static const struct bound b_lease = { "leaseSeconds", 1, 86400, 30 };
static const struct bound b_attempts = { "maxAttempts", 1, 100, 3 };
static const struct bound b_priority = { "priority", 0, 10, STORE_ITEM_DEFAULT_PRIORITY };
static const struct bound b_delay = { "delaySeconds", 0, 31536000, 0 };
static const struct bound b_item_attempts = { "maxAttempts", 1, 100, 0 };

/* name: 1..200 characters, not blank; when !required NULL is absent. */
static int need_name(struct flow_req *r, const char *name, bool required)
{
	if (name == NULL && !required)
		return FLOW_OK;
	return convert_line(r, "name", name, NAME_MAX_CHARS, true);
}

static int max_chars(struct flow_req *r, const char *s, const char *field, size_t max)
{
	return convert_text(r, field, s, max, false);
}

/* Checks an optional int against b; *v is the value or b's default. */
static int in_range(struct flow_req *r, protobuf_c_boolean has, int32_t got, const struct bound *b,
		    int *v)
{
	if (!has) {
		*v = b->dflt;
		return FLOW_OK;
	}
	if (got < b->lo || got > b->hi)
		return req_error(r, FLOW_INVALID_ARGUMENT, "%s must be between %d and %d (got %d)",
				 b->field, b->lo, b->hi, got);
	*v = got;
	return FLOW_OK;
}

HANDLER(h_create_queue)
{
	const Flow__V1__CreateQueueRequest *q = (const Flow__V1__CreateQueueRequest *)in;
	struct store_queue_new nq = { 0 };
	Flow__V1__Queue *res;
	int rv;

	if ((rv = convert_id(r, "projectId", q->has_project_id, q->project_id)) ||
	    (rv = need_name(r, q->name, true)) ||
	    (rv = max_chars(r, q->description, "description", DESCRIPTION_MAX_CHARS)) ||
	    (rv = in_range(r, q->has_max_parallel_items, q->max_parallel_items, &b_parallel,
			   &nq.max_parallel_items)) ||
	    (rv = in_range(r, q->has_lease_seconds, q->lease_seconds, &b_lease,
			   &nq.lease_seconds)) ||
	    (rv = in_range(r, q->has_max_attempts, q->max_attempts, &b_attempts,
			   &nq.max_attempts)) ||
	    (rv = convert_line(r, "defaultAgentId", q->default_agent_id,
			       AGENT_MAX_CHARS, false)))
		return rv;
	nq.project_id = q->project_id;
	nq.name = q->name;
	nq.description = q->description;
	nq.default_agent_id = q->default_agent_id;
	if ((rv = store_queue_create(r, &nq, &res)) != FLOW_OK)
		return rv;
	*out = &res->base;
	return FLOW_OK;
}

HANDLER(h_list_queues)
{
	const Flow__V1__ListQueuesRequest *q = (const Flow__V1__ListQueuesRequest *)in;
	Flow__V1__ListQueuesResponse *res;
	int rv;

	if ((rv = convert_id(r, "projectId", q->has_project_id, q->project_id)) != FLOW_OK)
		return rv;
	res = SERVICE_NEW(r, Flow__V1__ListQueuesResponse,
			  flow__v1__list_queues_response__descriptor);
	if (res == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	if ((rv = store_queues_list(r, q->project_id, &res->queues, &res->n_queues)) != FLOW_OK)
		return rv;
	*out = &res->base;
	return FLOW_OK;
}

HANDLER(h_get_queue)
{
	const Flow__V1__GetQueueRequest *q = (const Flow__V1__GetQueueRequest *)in;
	Flow__V1__Queue *res;
	int rv;

	if ((rv = convert_id(r, "queueId", q->has_queue_id, q->queue_id)) != FLOW_OK ||
	    (rv = store_queue_get(r, q->queue_id, &res)) != FLOW_OK)
		return rv;
	*out = &res->base;
	return FLOW_OK;
}

/* Validates the present fields of an update into c. */
static int queue_change(struct flow_req *r, const Flow__V1__UpdateQueueRequest *q,
			struct store_queue_change *c)
{
	int rv;

	if (q->name == NULL && q->description == NULL && !q->has_max_parallel_items &&
	    !q->has_is_active && !q->has_lease_seconds && !q->has_max_attempts &&
	    q->default_agent_id == NULL)
		return req_error(r, FLOW_INVALID_ARGUMENT,
				 "nothing to update: give at least one of name, description, "
				 "maxParallelItems, isActive, leaseSeconds, maxAttempts, "
				 "defaultAgentId");
	if ((rv = need_name(r, q->name, false)) ||
	    (rv = max_chars(r, q->description, "description", DESCRIPTION_MAX_CHARS)) ||
	    (rv = in_range(r, q->has_max_parallel_items, q->max_parallel_items, &b_parallel,
			   &c->max_parallel_items)) ||
	    (rv = in_range(r, q->has_lease_seconds, q->lease_seconds, &b_lease,
			   &c->lease_seconds)) ||
	    (rv = in_range(r, q->has_max_attempts, q->max_attempts, &b_attempts,
			   &c->max_attempts)) ||
	    (rv = convert_line(r, "defaultAgentId", q->default_agent_id,
			       AGENT_MAX_CHARS, false)))
		return rv;
	c->default_agent_id = q->default_agent_id;
	c->name = q->name;
	c->description = q->description;
	c->has_max_parallel_items = q->has_max_parallel_items;
	c->has_lease_seconds = q->has_lease_seconds;
	c->has_max_attempts = q->has_max_attempts;
	c->has_is_active = q->has_is_active;
	c->is_active = q->is_active;
	return FLOW_OK;
}

HANDLER(h_update_queue)
{
	const Flow__V1__UpdateQueueRequest *q = (const Flow__V1__UpdateQueueRequest *)in;
	struct store_queue_change c = { 0 };
	Flow__V1__Queue *res;
	int rv;

	if ((rv = convert_id(r, "queueId", q->has_queue_id, q->queue_id)) != FLOW_OK ||
	    (rv = queue_change(r, q, &c)) != FLOW_OK ||
	    (rv = store_queue_update(r, q->queue_id, &c, &res)) != FLOW_OK)
		return rv;
	*out = &res->base;
	return FLOW_OK;
}

HANDLER(h_delete_queue)
{
	const Flow__V1__DeleteQueueRequest *q = (const Flow__V1__DeleteQueueRequest *)in;
	Flow__V1__DeleteResponse *res;
	int rv;

	if ((rv = convert_id(r, "queueId", q->has_queue_id, q->queue_id)) != FLOW_OK)
		return rv;
	res = SERVICE_NEW(r, Flow__V1__DeleteResponse, flow__v1__delete_response__descriptor);
	if (res == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	if ((rv = store_queue_delete(r, q->queue_id)) != FLOW_OK)
		return rv;
	res->has_deleted = res->has_id = true;
	res->deleted = true;
	res->id = q->queue_id;
	*out = &res->base;
	return FLOW_OK;
}

/* runAfter: a positive epoch-ms time at most a year ahead. */
static int check_run_after(struct flow_req *r, int64_t v)
{
	struct timespec now;
	int64_t now_ms;

	clock_gettime(CLOCK_REALTIME, &now);
	now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
	if (v <= 0 || v > now_ms + RUN_AFTER_MAX_AHEAD_MS)
		return req_error(r, FLOW_INVALID_ARGUMENT,
				 "runAfter must be a time in epoch milliseconds at most a year "
				 "ahead (got %" PRId64 ")",
				 v);
	return FLOW_OK;
}

/* The enqueue fields shared by EnqueueTicket and EnqueueTask, checked into o. */
static int enqueue_opts(struct flow_req *r, protobuf_c_boolean has_prio, int32_t prio,
			protobuf_c_boolean has_delay, int32_t delay, protobuf_c_boolean has_after,
			int64_t after, protobuf_c_boolean has_attempts, int32_t attempts,
			struct store_enqueue_opts *o)
{
	int rv;

	if (has_delay && has_after)
		return req_error(r, FLOW_INVALID_ARGUMENT,
				 "give delaySeconds or runAfter, not both");
	if ((rv = in_range(r, has_prio, prio, &b_priority, &o->priority)) ||
	    (rv = in_range(r, has_delay, delay, &b_delay, &o->delay_s)) ||
	    (rv = in_range(r, has_attempts, attempts, &b_item_attempts, &o->max_attempts)) ||
	    (has_after && (rv = check_run_after(r, after))))
		return rv;
	o->run_after = has_after ? after : 0;
	return FLOW_OK;
}

/* Wakes parked claims for the items just enqueued that are ready now, without
 * waiting for the notification of their insert to come back from PostgreSQL
 * (which then wakes no one more: waiters_kick_own). */
static void wake_for_ready(struct flow_req *r, Flow__V1__QueueItem *const *items, size_t n)
{
	int ready = 0;

	for (size_t i = 0; i < n; i++)
		if (strcmp(items[i]->status, "queued") == 0 &&
		    items[i]->run_after <= items[i]->enqueued_at)
			ready++;
	waiters_kick_own(PQbackendPID(store_pg(r->db)), ready);
}

HANDLER(h_enqueue_ticket)
{
	const Flow__V1__EnqueueTicketRequest *q = (const Flow__V1__EnqueueTicketRequest *)in;
	struct store_enqueue_opts o = { 0 };
	Flow__V1__EnqueueResponse *res;
	int rv;

	if ((rv = convert_id(r, "queueId", q->has_queue_id, q->queue_id)) ||
	    (rv = convert_id(r, "ticketId", q->has_ticket_id, q->ticket_id)) ||
	    (rv = enqueue_opts(r, q->has_priority, q->priority, q->has_delay_seconds,
			       q->delay_seconds, q->has_run_after, q->run_after,
			       q->has_max_attempts, q->max_attempts, &o)))
		return rv;
	o.include_tasks = q->has_include_tasks && q->include_tasks;
	res = SERVICE_NEW(r, Flow__V1__EnqueueResponse, flow__v1__enqueue_response__descriptor);
	if (res == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	rv =
	    store_item_enqueue_ticket(r, q->queue_id, q->ticket_id, &o, &res->items, &res->n_items);
	if (rv != FLOW_OK)
		return rv;
	wake_for_ready(r, res->items, res->n_items);
	*out = &res->base;
	return FLOW_OK;
}

HANDLER(h_enqueue_task)
{
	const Flow__V1__EnqueueTaskRequest *q = (const Flow__V1__EnqueueTaskRequest *)in;
	struct store_enqueue_opts o = { 0 };
	Flow__V1__EnqueueResponse *res;
	int rv;

	if ((rv = convert_id(r, "queueId", q->has_queue_id, q->queue_id)) ||
	    (rv = convert_id(r, "taskId", q->has_task_id, q->task_id)) ||
	    (rv = enqueue_opts(r, q->has_priority, q->priority, q->has_delay_seconds,
			       q->delay_seconds, q->has_run_after, q->run_after,
			       q->has_max_attempts, q->max_attempts, &o)))
		return rv;
	res = SERVICE_NEW(r, Flow__V1__EnqueueResponse, flow__v1__enqueue_response__descriptor);
	if (res == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	res->items = arena_alloc(r->arena, sizeof(*res->items));
	if (res->items == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	rv = store_item_enqueue_task(r, q->queue_id, q->task_id, &o, &res->items[0]);
	if (rv != FLOW_OK)
		return rv;
	res->n_items = 1;
	wake_for_ready(r, res->items, 1);
	*out = &res->base;
	return FLOW_OK;
}

static int dequeue_reply(struct flow_req *r, int64_t removed, ProtobufCMessage **out)
{
	Flow__V1__DequeueResponse *res =
	    SERVICE_NEW(r, Flow__V1__DequeueResponse, flow__v1__dequeue_response__descriptor);

	if (res == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	res->has_removed = true;
	res->removed = removed;
	*out = &res->base;
	return FLOW_OK;
}

HANDLER(h_dequeue_ticket)
{
	const Flow__V1__DequeueTicketRequest *q = (const Flow__V1__DequeueTicketRequest *)in;
	bool tasks = q->has_include_tasks ? q->include_tasks : true;
	int64_t removed;
	int rv;

	if ((rv = convert_id(r, "ticketId", q->has_ticket_id, q->ticket_id)) != FLOW_OK ||
	    (rv = store_item_dequeue_ticket(r, q->ticket_id, tasks, &removed)) != FLOW_OK)
		return rv;
	return dequeue_reply(r, removed, out);
}

HANDLER(h_dequeue_task)
{
	const Flow__V1__DequeueTaskRequest *q = (const Flow__V1__DequeueTaskRequest *)in;
	int64_t removed;
	int rv;

	if ((rv = convert_id(r, "taskId", q->has_task_id, q->task_id)) != FLOW_OK ||
	    (rv = store_item_dequeue_task(r, q->task_id, &removed)) != FLOW_OK)
		return rv;
	return dequeue_reply(r, removed, out);
}

HANDLER(h_get_queue_stats)
{
	const Flow__V1__GetQueueStatsRequest *q = (const Flow__V1__GetQueueStatsRequest *)in;
	Flow__V1__QueueStats *res;
	int rv;

	if ((rv = convert_id(r, "queueId", q->has_queue_id, q->queue_id)) != FLOW_OK ||
	    (rv = store_item_stats(r, q->queue_id, &res)) != FLOW_OK)
		return rv;
	*out = &res->base;
	return FLOW_OK;
}

HANDLER(h_get_all_queue_stats)
{
	const Flow__V1__GetAllQueueStatsRequest *q = (const Flow__V1__GetAllQueueStatsRequest *)in;
	Flow__V1__GetAllQueueStatsResponse *res;
	int rv;

	if ((rv = convert_id(r, "projectId", q->has_project_id, q->project_id)) != FLOW_OK)
		return rv;
	res = SERVICE_NEW(r, Flow__V1__GetAllQueueStatsResponse,
			  flow__v1__get_all_queue_stats_response__descriptor);
	if (res == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	rv = store_item_stats_project(r, q->project_id, &res->queues, &res->n_queues, &res->total);
	if (rv != FLOW_OK)
		return rv;
	*out = &res->base;
	return FLOW_OK;
}
