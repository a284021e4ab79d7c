/*
 * workers.c - WorkerService handlers: RegisterWorker, Claim (long poll:
 * FLOW_PARKED while nothing is ready), Heartbeat, Complete, Fail and
 * Report; and FlowManager's ListWorkers, the operators' view of them.
 * Validation here, SQL in store/workers.c and store/items.c.
 *
 * A worker's leases are owned by "worker:<id>"; Complete, Fail and Report
 * are compare-and-set on (status in_progress, that owner, the attempt), so
 * a worker whose lease expired and whose item went elsewhere gets
 * FAILED_PRECONDITION and changes nothing.
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "flow/v1/flow_manager.pb-c.h"
#include "flow/v1/worker.pb-c.h"
#include "log.h"
#include "services/convert.h"
#include "services/handlers.h"
#include "settings.h"
#include "status.h"
#include "store/items.h"
#include "store/workers.h"
#include "waiters.h"

#define NAME_MAX_CHARS 200
#define AGENT_MAX_CHARS 200
#define AGENTS_MAX 100
#define CAPACITY_MAX 1024
#define CLAIM_MAX_ITEMS 500
/* Most items one Heartbeat or Report names (a worker's largest capacity). */
#define BATCH_MAX 1024
/* Heartbeat interval bounds (a third of the shortest lease in between). */
#define HEARTBEAT_MIN_MS 1000
#define HEARTBEAT_MAX_MS 10000
/* A parked claim answers this long before its caller's deadline. */
#define CLAIM_DEADLINE_MARGIN_MS 100

/* An optional int32 in lo..hi; absent: dflt. */
static int int_field(struct flow_req *r, const char *field, protobuf_c_boolean has, int32_t v,
		     int lo, int hi, int dflt, int *out)
{
	if (!has) {
		*out = dflt;
		return FLOW_OK;
	}
	if (v < lo || v > hi)
		return req_error(r, FLOW_INVALID_ARGUMENT, "%s must be between %d and %d (got %d)",
				 field, lo, hi, v);
	*out = v;
	return FLOW_OK;
}

/* A required positive attempt number. */
static int need_attempt(struct flow_req *r, const char *field, protobuf_c_boolean has, int32_t v)
{
	if (!has || v <= 0)
		return req_error(r, FLOW_INVALID_ARGUMENT, "%s must be a positive integer", field);
	return FLOW_OK;
}

/* ---- RegisterWorker ---- */

HANDLER(h_register_worker)
{
	const Flow__V1__RegisterWorkerRequest *q = (const Flow__V1__RegisterWorkerRequest *)in;
	Flow__V1__RegisterWorkerResponse *res;
	int capacity = 1, min_lease = 30, rv;
	int64_t id, hb;

	if ((rv = convert_line(r, "name", q->name, NAME_MAX_CHARS, true)) ||
	    (rv = int_field(r, "capacity", q->has_capacity, q->capacity, 1, CAPACITY_MAX, 1,
			    &capacity)))
		return rv;
	if (q->n_agent_ids == 0)
		return req_error(r, FLOW_INVALID_ARGUMENT, "agentIds must name at least one agent");
	if ((rv = convert_strs(r, "agentIds", q->agent_ids, q->n_agent_ids, AGENTS_MAX,
			       AGENT_MAX_CHARS)) != FLOW_OK)
		return rv;
	res = SERVICE_NEW(r, Flow__V1__RegisterWorkerResponse,
			  flow__v1__register_worker_response__descriptor);
	if (res == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	rv = store_worker_register(r, q->name, q->agent_ids, q->n_agent_ids, capacity, &id,
				   &min_lease);
	if (rv != FLOW_OK)
		return rv;
	hb = (int64_t)min_lease * 1000 / 3;
	hb = hb < HEARTBEAT_MIN_MS   ? HEARTBEAT_MIN_MS
	     : hb > HEARTBEAT_MAX_MS ? HEARTBEAT_MAX_MS
				     : hb;
	res->has_worker_id = res->has_heartbeat_ms = true;
	res->worker_id = id;
	res->heartbeat_ms = (int32_t)hb;
	*out = &res->base;
	return FLOW_OK;
}

/* ---- Claim ---- */

/* Checks a claim request into c; *wait_ms is its long-poll wait. */
static int claim_args(struct flow_req *r, const Flow__V1__ClaimRequest *q, struct store_claim *c,
		      int *wait_ms)
{
	int rv;

	if ((rv = convert_id(r, "workerId", q->has_worker_id, q->worker_id)) ||
	    (rv = convert_strs(r, "agentIds", q->agent_ids, q->n_agent_ids, AGENTS_MAX,
			       AGENT_MAX_CHARS)) ||
	    (rv = int_field(r, "maxItems", q->has_max_items, q->max_items, 1, CLAIM_MAX_ITEMS, 1,
			    &c->max_items)) ||
	    (rv = int_field(r, "waitMs", q->has_wait_ms, q->wait_ms, 0, INT32_MAX, 0, wait_ms)) ||
	    (q->has_queue_id && (rv = convert_id(r, "queueId", true, q->queue_id))))
		return rv;
	c->worker_id = q->worker_id;
	c->agents = q->agent_ids;
	c->n_agents = q->n_agent_ids;
	c->queue_id = q->has_queue_id ? q->queue_id : 0;
	return FLOW_OK;
}

/*
 * Nothing was claimed: park until the wait (capped by --claim-max-wait and
 * the caller's deadline) runs out, counted from when the request first
 * arrived; once it has, or when flowd is shutting down, answer empty
 * (FLOW_OK).
 */
static int claim_park(struct flow_req *r, int wait_ms)
{
	int64_t wait =
	    wait_ms < flow_settings.claim_max_wait_ms ? wait_ms : flow_settings.claim_max_wait_ms;
	int64_t until = r->received_ms + wait;

	if (r->deadline_ms > 0 && until > r->deadline_ms - CLAIM_DEADLINE_MARGIN_MS)
		until = r->deadline_ms - CLAIM_DEADLINE_MARGIN_MS;
	if (wait <= 0 || r->no_park || until <= req_now_ms())
		return FLOW_OK;
	r->park_until_ms = until;
	return FLOW_PARKED;
}

/*
 * Claims of this flowd running in the database at once: one. Claims of a queue
 * serialise on its row lock; more of them at once would only hold service
 * threads (and their connections) waiting for it, while reports and other
 * calls queue behind them. A claim beyond the lanes is parked ahead of the
 * other parked calls and woken when a running claim ends (or when its wait
 * runs out: then it is answered empty, as any long poll).
 */
#define CLAIM_LANES 1

static atomic_int claims_running;
static atomic_int claims_waiting; /* parked for a lane */

static bool claim_lane_enter(struct flow_req *r, int wait_ms)
{
	if (atomic_fetch_add(&claims_running, 1) < CLAIM_LANES)
		return true;
	atomic_fetch_sub(&claims_running, 1);
	if (claim_park(r, wait_ms) != FLOW_PARKED) {
		atomic_fetch_add(&claims_running, 1); /* may not wait: run anyway */
		return true;
	}
	r->park_first = true;
	atomic_fetch_add(&claims_waiting, 1);
	return false;
}

static void claim_lane_leave(void)
{
	int n = atomic_load(&claims_waiting);

	atomic_fetch_sub(&claims_running, 1);
	while (n > 0 && !atomic_compare_exchange_weak(&claims_waiting, &n, n - 1))
		;
	if (n > 0)
		waiters_kick_current(1);
}

/* Room in a reply for the RpcResponse envelope around the ClaimResponse. */
#define REPLY_ENVELOPE_SLACK 1024

/*
 * Every claimed item carries its ticket, task and project, so a large claim
 * of items with long texts can outgrow the message limit, and a reply the
 * worker cannot receive would strand its items until their leases expired,
 * again and again. The items that do not fit (always keeping the first)
 * are put back at once, for this or another worker's next claim.
 */
static int claim_fit(struct flow_req *r, int64_t worker_id, Flow__V1__ClaimResponse *res)
{
	size_t budget, used = 0, keep = 0, n_back;
	int64_t *ids;

	if (r->reply_max == 0 || res->n_items < 2 ||
	    protobuf_c_message_get_packed_size(&res->base) + REPLY_ENVELOPE_SLACK <= r->reply_max)
		return FLOW_OK;
	budget = r->reply_max > REPLY_ENVELOPE_SLACK ? r->reply_max - REPLY_ENVELOPE_SLACK : 0;
	for (; keep < res->n_items; keep++) {
		/* the item, its field tag and length prefix */
		size_t sz = protobuf_c_message_get_packed_size(&res->items[keep]->base) + 11;

		if (keep > 0 && used + sz > budget)
			break;
		used += sz;
	}
	if (keep == res->n_items)
		return FLOW_OK;
	n_back = res->n_items - keep;
	if ((ids = arena_alloc(r->arena, sizeof(*ids) * n_back)) == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	for (size_t i = 0; i < n_back; i++)
		ids[i] = res->items[keep + i]->item->id;
	log_info("claim.trimmed",
		 "worker=%lld: %zu of %zu claimed items fit in a %zu-byte reply; the rest are "
		 "queued again",
		 (long long)worker_id, keep, res->n_items, r->reply_max);
	res->n_items = keep;
	if (store_worker_release(r, worker_id, ids, n_back) != FLOW_OK) {
		/* the kept items still go out; the others wait for their leases */
		log_warn("claim.release_failed", "worker=%lld: putting back %zu items: %s",
			 (long long)worker_id, n_back, r->message);
		r->message[0] = '\0';
	}
	return FLOW_OK;
}

HANDLER(h_claim)
{
	const Flow__V1__ClaimRequest *q = (const Flow__V1__ClaimRequest *)in;
	struct store_claim c = { 0 };
	Flow__V1__ClaimResponse *res;
	int wait_ms = 0, rv;

	if ((rv = claim_args(r, q, &c, &wait_ms)) != FLOW_OK)
		return rv;
	res = SERVICE_NEW(r, Flow__V1__ClaimResponse, flow__v1__claim_response__descriptor);
	if (res == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	if (!claim_lane_enter(r, wait_ms))
		return FLOW_PARKED;
	rv = store_worker_claim(r, &c, &res->items, &res->n_items);
	claim_lane_leave();
	if (rv == FLOW_OK)
		rv = claim_fit(r, c.worker_id, res);
	if (rv != FLOW_OK)
		return rv;
	if (res->n_items == 0 && (rv = claim_park(r, wait_ms)) != FLOW_OK)
		return rv;
	*out = &res->base;
	return FLOW_OK;
}

/* ---- Heartbeat ---- */

/* Each held item names a positive id (once) and a positive attempt. */
static int check_held(struct flow_req *r, Flow__V1__HeldItem *const *v, size_t n)
{
	int64_t *ids;
	char field[64];
	int rv;

	if (n > BATCH_MAX)
		return req_error(r, FLOW_INVALID_ARGUMENT,
				 "items has %zu entries; at most %d are allowed", n, BATCH_MAX);
	if ((ids = arena_alloc(r->arena, sizeof(int64_t) * (n + 1))) == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	for (size_t i = 0; i < n; i++) {
		snprintf(field, sizeof(field), "items[%zu].queueItemId", i);
		if ((rv = convert_id(r, field, v[i]->has_queue_item_id, v[i]->queue_item_id)))
			return rv;
		snprintf(field, sizeof(field), "items[%zu].attempt", i);
		if ((rv = need_attempt(r, field, v[i]->has_attempt, v[i]->attempt)))
			return rv;
		ids[i] = v[i]->queue_item_id;
	}
	return convert_ids(r, "items", ids, n, BATCH_MAX);
}

HANDLER(h_heartbeat)
{
	const Flow__V1__HeartbeatRequest *q = (const Flow__V1__HeartbeatRequest *)in;
	Flow__V1__HeartbeatResponse *res;
	int rv;

	if ((rv = convert_id(r, "workerId", q->has_worker_id, q->worker_id)) ||
	    (rv = check_held(r, q->items, q->n_items)))
		return rv;
	res = SERVICE_NEW(r, Flow__V1__HeartbeatResponse, flow__v1__heartbeat_response__descriptor);
	if (res == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	if ((rv = store_worker_heartbeat(r, q->worker_id, q->items, q->n_items, res)) != FLOW_OK)
		return rv;
	*out = &res->base;
	return FLOW_OK;
}

/* ---- Complete, Fail ---- */

/* Applies one outcome of worker worker_id. */
static int finish_one(struct flow_req *r, int64_t worker_id, struct store_outcome *o,
		      ProtobufCMessage **out)
{
	Flow__V1__QueueItem *it;
	int rv;

	if ((o->owner = store_worker_owner(r, worker_id)) == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	if ((rv = store_item_finish(r, o, &it)) != FLOW_OK)
		return rv;
	waiters_kick_current(1); /* a queue slot is free */
	*out = &it->base;
	return FLOW_OK;
}

HANDLER(h_worker_complete)
{
	const Flow__V1__CompleteRequest *q = (const Flow__V1__CompleteRequest *)in;
	struct store_outcome o = { 0 };
	int rv;

	if ((rv = convert_id(r, "workerId", q->has_worker_id, q->worker_id)) ||
	    (rv = convert_id(r, "queueItemId", q->has_queue_item_id, q->queue_item_id)) ||
	    (rv = need_attempt(r, "attempt", q->has_attempt, q->attempt)) ||
	    (rv = convert_text(r, "completionNotes", q->completion_notes, CONVERT_NOTES_MAX_CHARS,
			       false)) ||
	    (rv = convert_json(r, "metadata", q->metadata)))
		return rv;
	o.id = q->queue_item_id;
	o.attempt = q->attempt;
	o.success = true;
	o.notes = q->completion_notes;
	o.metadata = q->metadata;
	return finish_one(r, q->worker_id, &o, out);
}

HANDLER(h_worker_fail)
{
	const Flow__V1__FailRequest *q = (const Flow__V1__FailRequest *)in;
	struct store_outcome o = { 0 };
	int rv;

	if ((rv = convert_id(r, "workerId", q->has_worker_id, q->worker_id)) ||
	    (rv = convert_id(r, "queueItemId", q->has_queue_item_id, q->queue_item_id)) ||
	    (rv = need_attempt(r, "attempt", q->has_attempt, q->attempt)) ||
	    (rv = convert_text(r, "error", q->error, CONVERT_ERROR_MAX_CHARS, true)))
		return rv;
	o.id = q->queue_item_id;
	o.attempt = q->attempt;
	o.error = q->error;
	o.retryable = q->has_retryable && q->retryable;
	return finish_one(r, q->worker_id, &o, out);
}

/* ---- Report ---- */

/* Checks outcome k (field prefix "outcomes[k].") into o. */
static int check_outcome(struct flow_req *r, size_t k, const Flow__V1__ItemOutcome *x,
			 struct store_outcome *o)
{
	char f[5][64];
	int rv;

	snprintf(f[0], sizeof(f[0]), "outcomes[%zu].queueItemId", k);
	snprintf(f[1], sizeof(f[1]), "outcomes[%zu].attempt", k);
	snprintf(f[2], sizeof(f[2]), "outcomes[%zu].completionNotes", k);
	snprintf(f[3], sizeof(f[3]), "outcomes[%zu].metadata", k);
	snprintf(f[4], sizeof(f[4]), "outcomes[%zu].error", k);
	if ((rv = convert_id(r, f[0], x->has_queue_item_id, x->queue_item_id)) ||
	    (rv = need_attempt(r, f[1], x->has_attempt, x->attempt)))
		return rv;
	if (!x->has_success)
		return req_error(r, FLOW_INVALID_ARGUMENT, "outcomes[%zu].success is required", k);
	if ((rv = convert_text(r, f[2], x->completion_notes, CONVERT_NOTES_MAX_CHARS, false)) ||
	    (x->success && (rv = convert_json(r, f[3], x->metadata))) ||
	    (!x->success && (rv = convert_text(r, f[4], x->error, CONVERT_ERROR_MAX_CHARS, true))))
		return rv;
	*o = (struct store_outcome){ .id = x->queue_item_id,
				     .attempt = x->attempt,
				     .success = x->success,
				     .notes = x->completion_notes,
				     .metadata = x->metadata,
				     .error = x->error,
				     .retryable = x->has_retryable && x->retryable };
	if (o->success)
		o->error = NULL;
	else
		o->notes = o->metadata = NULL;
	return FLOW_OK;
}

/*
 * Allocates the n results of a report and checks every outcome: a bad one
 * gets its INVALID_ARGUMENT result now; the good ones go to *todo (with
 * their results in *todo_res), *n_todo of them.
 */
static int report_prepare(struct flow_req *r, const Flow__V1__ReportRequest *q,
			  Flow__V1__ReportResponse *res, struct store_outcome *todo,
			  Flow__V1__OutcomeResult **todo_res, size_t *n_todo)
{
	for (size_t k = 0; k < q->n_outcomes; k++) {
		Flow__V1__OutcomeResult *x = arena_alloc(r->arena, sizeof(*x));
		int rv;

		if (x == NULL)
			return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
		flow__v1__outcome_result__init(x);
		res->results[k] = x;
		x->has_queue_item_id = q->outcomes[k]->has_queue_item_id;
		x->queue_item_id = q->outcomes[k]->queue_item_id;
		rv = check_outcome(r, k, q->outcomes[k], &todo[*n_todo]);
		if (rv == FLOW_RESOURCE_EXHAUSTED)
			return rv;
		if (rv != FLOW_OK) {
			x->has_code = true;
			x->code = (Flow__V1__Code)rv;
			x->message = arena_strdup(r->arena, r->message);
			r->message[0] = '\0';
			continue;
		}
		todo_res[(*n_todo)++] = x;
	}
	res->n_results = q->n_outcomes;
	return FLOW_OK;
}

/* How many outcomes of res were applied (each freed a queue slot). */
static int applied(const Flow__V1__ReportResponse *res)
{
	int n = 0;

	for (size_t i = 0; i < res->n_results; i++)
		n += res->results[i]->has_code && res->results[i]->code == FLOW__V1__CODE__OK;
	return n;
}

HANDLER(h_report)
{
	const Flow__V1__ReportRequest *q = (const Flow__V1__ReportRequest *)in;
	Flow__V1__ReportResponse *res;
	Flow__V1__OutcomeResult **todo_res;
	struct store_outcome *todo;
	size_t n = q->n_outcomes, n_todo = 0;
	int rv;

	if ((rv = convert_id(r, "workerId", q->has_worker_id, q->worker_id)) != FLOW_OK)
		return rv;
	if (n > BATCH_MAX)
		return req_error(r, FLOW_INVALID_ARGUMENT,
				 "outcomes has %zu entries; at most %d are allowed", n, BATCH_MAX);
	res = SERVICE_NEW(r, Flow__V1__ReportResponse, flow__v1__report_response__descriptor);
	todo = arena_alloc(r->arena, sizeof(*todo) * (n + 1));
	todo_res = arena_alloc(r->arena, sizeof(*todo_res) * (n + 1));
	if (res == NULL || todo == NULL || todo_res == NULL ||
	    (res->results = arena_alloc(r->arena, sizeof(*res->results) * (n + 1))) == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	if ((rv = report_prepare(r, q, res, todo, todo_res, &n_todo)) != FLOW_OK)
		return rv;
	if (n_todo > 0 && (rv = store_worker_report(r, q->worker_id, todo, n_todo, todo_res)))
		return rv;
	waiters_kick_current(applied(res));
	*out = &res->base;
	return FLOW_OK;
}

/* ---- ListWorkers (FlowManager; admins only, see auth.c) ---- */

/* Connected: seen within this many seconds, unless the request says. A
 * live worker heartbeats every 1-10 s (HEARTBEAT_MIN_MS..MAX_MS). */
#define LIST_SEEN_DEFAULT_S 60
#define LIST_SEEN_MAX_S 86400
#define LIST_LIMIT_DEFAULT 1000
#define LIST_LIMIT_MAX 10000

HANDLER(h_list_workers)
{
	const Flow__V1__ListWorkersRequest *q = (const Flow__V1__ListWorkersRequest *)in;
	struct store_worker_filter f = { 0 };
	Flow__V1__ListWorkersResponse *res;
	int rv;

	if ((rv = int_field(r, "seenWithinS", q->has_seen_within_s, q->seen_within_s, 1,
			    LIST_SEEN_MAX_S, LIST_SEEN_DEFAULT_S, &f.seen_within_s)) ||
	    (rv = int_field(r, "limit", q->has_limit, q->limit, 1, LIST_LIMIT_MAX,
			    LIST_LIMIT_DEFAULT, &f.limit)))
		return rv;
	f.include_disconnected = q->has_include_disconnected && q->include_disconnected;
	res = SERVICE_NEW(r, Flow__V1__ListWorkersResponse,
			  flow__v1__list_workers_response__descriptor);
	if (res == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	if ((rv = store_worker_list(r, &f, res)) != FLOW_OK)
		return rv;
	res->has_seen_within_s = true;
	res->seen_within_s = f.seen_within_s;
	*out = &res->base;
	return FLOW_OK;
}
