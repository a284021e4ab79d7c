/*
 * worker_service_test.c - WorkerService on a real PostgreSQL, through its
 * handlers: RegisterWorker, Claim (context, order, filters, long-poll
 * parking), Heartbeat (only matching leases), Complete / Fail (compare and
 * set), Report (a batch with good, stale and bad outcomes), cancelling a
 * running item, and maxParallelItems under 8 concurrent claimers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "flow/v1/flow_manager.pb-c.h"
#include "flow/v1/worker.pb-c.h"
#include "services/handlers.h"
#include "settings.h"
#include "status.h"
#include "store/store.h"
#include "ts_store.h"

/* ---- helpers ---- */

#define ITEM_STATUS "SELECT status FROM queue_items WHERE id = $1"

static void assert_col(const char *sql, int64_t id, const char *want)
{
	char *got = ts_sql_text(ts_r, sql, 1, ts_i64s(id));

	assert_string_equal(got, want);
	free(got);
}

static char *item_row(int64_t id)
{
	return ts_sql_text(ts_r, "SELECT i::text FROM queue_items i WHERE id = $1", 1, ts_i64s(id));
}

static const char *msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *msg(const char *fmt, ...)
{
	static char buf[4][512];
	static int k;
	va_list ap;

	k = (k + 1) % 4;
	va_start(ap, fmt);
	vsnprintf(buf[k], sizeof(buf[k]), fmt, ap);
	va_end(ap);
	return buf[k];
}

static int64_t make_queue(int64_t project, const char *name, int parallel, int lease)
{
	int64_t q = ts_create_queue(ts_r, project, name, parallel);

	ts_sql_i64(ts_r, "UPDATE queues SET lease_seconds = $2 WHERE id = $1", 2, ts_i64s(q),
		   ts_i64s(lease));
	return q;
}

static int64_t enq_task(int64_t queue, int64_t task, int priority)
{
	Flow__V1__EnqueueResponse *res;

	assert_int_equal(ts_enqueue_task(ts_r, queue, task, priority, &res), FLOW_OK);
	return res->items[0]->id;
}

static int register_req(const char *name, char **agents, size_t n, int capacity,
			Flow__V1__RegisterWorkerResponse **res)
{
	Flow__V1__RegisterWorkerRequest q = FLOW__V1__REGISTER_WORKER_REQUEST__INIT;

	q.name = (char *)name;
	q.agent_ids = agents;
	q.n_agent_ids = n;
	q.has_capacity = capacity != 0;
	q.capacity = capacity;
	return ts_call(ts_r, h_register_worker, &q, res);
}

static Flow__V1__HeldItem *held(int64_t id, int attempt)
{
	Flow__V1__HeldItem *h = arena_alloc(ts_r->arena, sizeof(*h));

	assert_non_null(h);
	flow__v1__held_item__init(h);
	h->has_queue_item_id = h->has_attempt = true;
	h->queue_item_id = id;
	h->attempt = attempt;
	return h;
}

static int heartbeat(int64_t w, Flow__V1__HeldItem **items, size_t n,
		     Flow__V1__HeartbeatResponse **res)
{
	Flow__V1__HeartbeatRequest q = FLOW__V1__HEARTBEAT_REQUEST__INIT;

	q.has_worker_id = true;
	q.worker_id = w;
	q.items = items;
	q.n_items = n;
	return ts_call(ts_r, h_heartbeat, &q, res);
}

static int cancel_one(int64_t id)
{
	Flow__V1__CancelItemsRequest q = FLOW__V1__CANCEL_ITEMS_REQUEST__INIT;
	int64_t ids[1] = { id };

	q.queue_item_ids = ids;
	q.n_queue_item_ids = 1;
	return ts_call(ts_r, h_cancel_items, &q, NULL);
}

/* Seconds from now until the item's lease runs out. */
static int64_t lease_left_s(int64_t id)
{
	return ts_sql_i64(ts_r,
			  "SELECT round(extract(epoch FROM lease_expires_at - clock_timestamp()))"
			  " FROM queue_items WHERE id = $1",
			  1, ts_i64s(id));
}

/* ---- RegisterWorker ---- */

static void test_register(void **state)
{
	char *agents[2] = { "noop", "code-reviewer" }, *bad[2] = { "noop", "" };
	char *long_name = ts_repeat("n", 201), *long_agent = ts_repeat("a", 201);
	Flow__V1__RegisterWorkerResponse *res;
	int64_t p = ts_insert_project(ts_r), first;

	(void)state;
	/* no queues yet: the default 30 s lease, a heartbeat every 10 s */
	assert_int_equal(register_req("host-1/flow-worker-1", agents, 2, 8, &res), FLOW_OK);
	assert_true(res->has_worker_id && res->worker_id > 0);
	assert_int_equal(res->heartbeat_ms, 10000);
	first = res->worker_id;
	assert_col("SELECT name || ' ' || array_to_string(agent_ids, ',') || ' ' || capacity"
		   " FROM workers WHERE id = $1",
		   first, "host-1/flow-worker-1 noop,code-reviewer 8");

	/* a third of the shortest lease, at least 1 s */
	make_queue(p, "six", 1, 6);
	assert_int_equal(register_req("w", agents, 1, 0, &res), FLOW_OK);
	assert_int_equal(res->heartbeat_ms, 2000);
	assert_true(res->worker_id > first);
	assert_col("SELECT capacity FROM workers WHERE id = $1", res->worker_id, "1");
	make_queue(p, "one", 1, 1);
	assert_int_equal(register_req("w", agents, 1, 0, &res), FLOW_OK);
	assert_int_equal(res->heartbeat_ms, 1000);

	assert_req_error(ts_r, register_req(NULL, agents, 1, 1, &res), FLOW_INVALID_ARGUMENT,
			 "name is required");
	assert_req_error(ts_r, register_req(long_name, agents, 1, 1, &res), FLOW_INVALID_ARGUMENT,
			 "name is longer than 200 characters");
	assert_req_error(ts_r, register_req("w", agents, 0, 1, &res), FLOW_INVALID_ARGUMENT,
			 "agentIds must name at least one agent");
	assert_int_equal(register_req("w", bad, 2, 1, &res), FLOW_INVALID_ARGUMENT);
	assert_non_null(strstr(ts_r->message, "agentIds[1]"));
	bad[1] = long_agent;
	assert_int_equal(register_req("w", bad, 2, 1, &res), FLOW_INVALID_ARGUMENT);
	assert_non_null(strstr(ts_r->message, "agentIds[1]"));
	assert_req_error(ts_r, register_req("w", agents, 1, 1025, &res), FLOW_INVALID_ARGUMENT,
			 "capacity must be between 1 and 1024 (got 1025)");
	assert_req_error(ts_r, register_req("w", agents, 1, -1, &res), FLOW_INVALID_ARGUMENT,
			 "capacity must be between 1 and 1024 (got -1)");
	free(long_name);
	free(long_agent);
}

/* ---- Claim ---- */

static void test_claim_items_and_context(void **state)
{
	int64_t p = ts_insert_project(ts_r), q1, q2, t1, t2, k1, k2, a, b, c, d, w;
	Flow__V1__ClaimResponse *cr;
	Flow__V1__ClaimedItem *ci;

	(void)state;
	q1 = make_queue(p, "claim-1", 10, 45);
	q2 = make_queue(p, "claim-2", 10, 20);
	t1 = ts_insert_ticket(ts_r, p, 5, "{planner}", "{a.c}");
	t2 = ts_insert_ticket(ts_r, p, 5, NULL, NULL);
	k1 = ts_insert_task(ts_r, t1, 0, "coder", NULL);
	k2 = ts_insert_task(ts_r, t1, 1, NULL, NULL);
	a = enq_task(q1, k1, 3);
	b = enq_task(q2, k2, 9);
	c = enq_task(q1, ts_insert_task(ts_r, t2, 0, NULL, NULL), 9);
	assert_int_equal(ts_enqueue_ticket(ts_r, q2, t2, 1, -1, NULL), FLOW_OK);
	d = ts_sql_i64(ts_r, "SELECT id FROM queue_items WHERE ticket_id = $1 AND task_id IS NULL",
		       1, ts_i64s(t2));
	w = ts_register_worker(ts_r, "coder,planner,default");
	ts_sql_i64(ts_r,
		   "UPDATE workers SET last_seen_at = now() - interval '1 hour' WHERE id = $1", 1,
		   ts_i64s(w));

	/* across both queues: priority 9 (b, c by id), then 3 (a); d is prio 1 */
	assert_int_equal(ts_claim(ts_r, w, NULL, 3, 0, 0, &cr), FLOW_OK);
	assert_int_equal(cr->n_items, 3);
	assert_int_equal(cr->items[0]->item->id, b);
	assert_int_equal(cr->items[1]->item->id, c);
	assert_int_equal(cr->items[2]->item->id, a);
	assert_col("SELECT (last_seen_at > now() - interval '1 minute')::text FROM workers"
		   " WHERE id = $1",
		   w, "true");

	/* everything an agent needs */
	ci = cr->items[2];
	assert_string_equal(ci->item->status, "in_progress");
	assert_string_equal(ci->item->lease_owner, msg("worker:%" PRId64, w));
	assert_int_equal(ci->item->attempt, 1);
	assert_true(ci->has_lease_seconds);
	assert_int_equal(ci->lease_seconds, 45);
	assert_int_equal(ci->item->lease_expires - ci->item->started_at, 45000);
	assert_string_equal(ci->item->agent_id, "coder");
	assert_non_null(ci->ticket);
	assert_int_equal(ci->ticket->id, t1);
	assert_string_equal(ci->ticket->status, "in_progress");
	assert_int_equal(ci->ticket->n_suggested_agent_ids, 1);
	assert_non_null(ci->task);
	assert_int_equal(ci->task->id, k1);
	assert_string_equal(ci->task->status, "in_progress");
	assert_string_equal(ci->task->agent_id, "coder");
	assert_non_null(ci->project);
	assert_int_equal(ci->project->id, p);
	assert_string_equal(ci->project->name, "p");
	assert_int_equal(cr->items[0]->lease_seconds, 20);
	assert_int_equal(cr->items[0]->task->id, k2);
	assert_int_equal(cr->items[1]->ticket->id, t2);

	/* a ticket item has no task; queueId filters */
	assert_int_equal(ts_claim(ts_r, w, NULL, 5, q1, 0, &cr), FLOW_OK);
	assert_int_equal(cr->n_items, 0);
	assert_int_equal(ts_claim(ts_r, w, NULL, 5, q2, 0, &cr), FLOW_OK);
	assert_int_equal(cr->n_items, 1);
	assert_int_equal(cr->items[0]->item->id, d);
	assert_null(cr->items[0]->task);
	assert_int_equal(cr->items[0]->ticket->id, t2);
	assert_int_equal(cr->items[0]->project->id, p);
}

static void test_claim_paused_and_errors(void **state)
{
	int64_t p = ts_insert_project(ts_r), q, t, a, w;
	Flow__V1__ClaimRequest c = FLOW__V1__CLAIM_REQUEST__INIT;
	Flow__V1__ClaimResponse *cr;
	char *bad_agents[1] = { "" };

	(void)state;
	q = make_queue(p, "paused", 10, 30);
	t = ts_insert_ticket(ts_r, p, 5, NULL, NULL);
	a = enq_task(q, ts_insert_task(ts_r, t, 0, NULL, NULL), -1);
	w = ts_register_worker(ts_r, "noop,default");
	ts_sql_i64(ts_r, "UPDATE queues SET is_active = false WHERE id = $1", 1, ts_i64s(q));
	assert_int_equal(ts_claim(ts_r, w, NULL, 5, q, 0, &cr), FLOW_OK);
	assert_int_equal(cr->n_items, 0);
	ts_sql_i64(ts_r, "UPDATE queues SET is_active = true WHERE id = $1", 1, ts_i64s(q));

	assert_req_error(ts_r, ts_claim(ts_r, 999999, NULL, 5, q, 0, &cr), FLOW_NOT_FOUND,
			 "worker 999999 is not registered");
	assert_req_error(ts_r, ts_claim(ts_r, w, NULL, 5, 999999, 0, &cr), FLOW_NOT_FOUND,
			 "queue 999999 not found");
	assert_req_error(ts_r, ts_claim(ts_r, w, NULL, 0, q, 0, &cr), FLOW_INVALID_ARGUMENT,
			 "maxItems must be between 1 and 500 (got 0)");
	assert_req_error(ts_r, ts_claim(ts_r, w, NULL, 501, q, 0, &cr), FLOW_INVALID_ARGUMENT,
			 "maxItems must be between 1 and 500 (got 501)");
	assert_req_error(ts_r, ts_claim(ts_r, 0, NULL, 1, q, 0, &cr), FLOW_INVALID_ARGUMENT,
			 "workerId must be a positive integer");
	c.has_worker_id = c.has_wait_ms = true;
	c.worker_id = w;
	c.wait_ms = -1;
	assert_req_error(ts_r, ts_call(ts_r, h_claim, &c, &cr), FLOW_INVALID_ARGUMENT,
			 "waitMs must be between 0 and 2147483647 (got -1)");
	c.wait_ms = 0;
	c.has_queue_id = true;
	c.queue_id = -3;
	assert_req_error(ts_r, ts_call(ts_r, h_claim, &c, &cr), FLOW_INVALID_ARGUMENT,
			 "queueId must be a positive integer");
	c.has_queue_id = false;
	c.agent_ids = bad_agents;
	c.n_agent_ids = 1;
	assert_int_equal(ts_call(ts_r, h_claim, &c, &cr), FLOW_INVALID_ARGUMENT);
	assert_col(ITEM_STATUS, a, "queued");

	/* maxItems defaults to 1 */
	c.n_agent_ids = 0;
	c.has_queue_id = true;
	c.queue_id = q;
	assert_int_equal(ts_call(ts_r, h_claim, &c, &cr), FLOW_OK);
	assert_int_equal(cr->n_items, 1);
}

static void test_claim_parks(void **state)
{
	int64_t p = ts_insert_project(ts_r), q, t, a, w;
	int32_t max_wait = flow_settings.claim_max_wait_ms;
	Flow__V1__ClaimResponse *cr;
	int64_t now;

	(void)state;
	q = make_queue(p, "park", 10, 30);
	t = ts_insert_ticket(ts_r, p, 5, NULL, NULL);
	w = ts_register_worker(ts_r, "noop,default");
	flow_settings.claim_max_wait_ms = 30000;

	/* nothing to claim, a wait: parked until received + wait */
	now = req_now_ms();
	ts_r->received_ms = now;
	ts_r->park_until_ms = 0;
	assert_int_equal(ts_claim(ts_r, w, NULL, 5, q, 500, &cr), FLOW_PARKED);
	assert_null(cr);
	assert_int_equal(ts_r->park_until_ms, now + 500);

	/* capped by --claim-max-wait, and by the caller's deadline */
	flow_settings.claim_max_wait_ms = 200;
	assert_int_equal(ts_claim(ts_r, w, NULL, 5, q, 5000, &cr), FLOW_PARKED);
	assert_int_equal(ts_r->park_until_ms, now + 200);
	flow_settings.claim_max_wait_ms = 30000;
	ts_r->deadline_ms = now + 1000;
	assert_int_equal(ts_claim(ts_r, w, NULL, 5, q, 5000, &cr), FLOW_PARKED);
	assert_int_equal(ts_r->park_until_ms, now + 900);
	ts_r->deadline_ms = 0;

	/* called again after the park time: an empty reply */
	ts_r->received_ms = req_now_ms() - 600;
	assert_int_equal(ts_claim(ts_r, w, NULL, 5, q, 500, &cr), FLOW_OK);
	assert_int_equal(cr->n_items, 0);
	/* no wait: answered at once */
	ts_r->received_ms = req_now_ms();
	assert_int_equal(ts_claim(ts_r, w, NULL, 5, q, 0, &cr), FLOW_OK);
	assert_int_equal(cr->n_items, 0);

	/* a wake-up with work: the items, not parked */
	a = enq_task(q, ts_insert_task(ts_r, t, 0, NULL, NULL), -1);
	assert_int_equal(ts_claim(ts_r, w, NULL, 5, q, 500, &cr), FLOW_OK);
	assert_int_equal(cr->n_items, 1);
	assert_int_equal(cr->items[0]->item->id, a);
	ts_r->received_ms = 0;
	flow_settings.claim_max_wait_ms = max_wait;
}

/* ---- Heartbeat ---- */

static void test_heartbeat(void **state)
{
	int64_t p = ts_insert_project(ts_r), q, t, x, y, z, o, w, w2;
	Flow__V1__HeartbeatResponse *hr;
	Flow__V1__ClaimResponse *cr;
	Flow__V1__HeldItem *items[5];
	char *before;

	(void)state;
	q = make_queue(p, "hb", 10, 60);
	t = ts_insert_ticket(ts_r, p, 5, NULL, NULL);
	x = enq_task(q, ts_insert_task(ts_r, t, 0, NULL, NULL), 9);
	y = enq_task(q, ts_insert_task(ts_r, t, 1, NULL, NULL), 8);
	z = enq_task(q, ts_insert_task(ts_r, t, 2, NULL, NULL), 7);
	o = enq_task(q, ts_insert_task(ts_r, t, 3, NULL, NULL), 6);
	w = ts_register_worker(ts_r, "noop,default");
	w2 = ts_register_worker(ts_r, "noop,default");
	assert_int_equal(ts_claim(ts_r, w, NULL, 3, q, 0, &cr), FLOW_OK);
	assert_int_equal(cr->n_items, 3);
	assert_int_equal(ts_claim(ts_r, w2, NULL, 1, q, 0, &cr), FLOW_OK);
	assert_int_equal(cr->items[0]->item->id, o);
	ts_sql_i64(ts_r,
		   "UPDATE queue_items SET lease_expires_at = now() + interval '5 seconds'"
		   " WHERE queue_id = $1",
		   1, ts_i64s(q));
	assert_int_equal(cancel_one(z), FLOW_OK);
	ts_sql_i64(ts_r,
		   "UPDATE workers SET last_seen_at = now() - interval '1 hour' WHERE id = $1", 1,
		   ts_i64s(w));

	/* x: extended; y: wrong attempt (lost); z: cancelled; o: another
	 * worker's (lost); 999999: gone (lost) */
	before = item_row(y);
	items[0] = held(z, 1);
	items[1] = held(x, 1);
	items[2] = held(y, 2);
	items[3] = held(o, 1);
	items[4] = held(999999, 1);
	assert_int_equal(heartbeat(w, items, 5, &hr), FLOW_OK);
	assert_int_equal(hr->n_extended, 1);
	assert_int_equal(hr->extended[0], x);
	assert_int_equal(hr->n_cancelled, 1);
	assert_int_equal(hr->cancelled[0], z);
	assert_int_equal(hr->n_lost, 3);
	assert_int_equal(hr->lost[0], y);
	assert_int_equal(hr->lost[1], o);
	assert_int_equal(hr->lost[2], 999999);
	assert_int_equal(lease_left_s(x), 60);
	assert_true(lease_left_s(o) <= 5);
	ts_assert_unchanged(item_row(y), before);
	free(before);
	assert_col("SELECT (last_seen_at > now() - interval '1 minute')::text FROM workers"
		   " WHERE id = $1",
		   w, "true");

	/* nothing held: still a sign of life */
	assert_int_equal(heartbeat(w, NULL, 0, &hr), FLOW_OK);
	assert_int_equal(hr->n_extended + hr->n_cancelled + hr->n_lost, 0);

	assert_req_error(ts_r, heartbeat(999999, items, 1, &hr), FLOW_NOT_FOUND,
			 "worker 999999 is not registered");
	items[1] = held(z, 1);
	assert_req_error(ts_r, heartbeat(w, items, 2, &hr), FLOW_INVALID_ARGUMENT,
			 msg("items lists id %" PRId64 " more than once", z));
	items[1] = held(x, 0);
	assert_req_error(ts_r, heartbeat(w, items, 2, &hr), FLOW_INVALID_ARGUMENT,
			 "items[1].attempt must be a positive integer");
	items[1] = held(0, 1);
	assert_req_error(ts_r, heartbeat(w, items, 2, &hr), FLOW_INVALID_ARGUMENT,
			 "items[1].queueItemId must be a positive integer");
}

/* ---- Complete, Fail, cancel ---- */

static void test_cancel_running(void **state)
{
	int64_t p = ts_insert_project(ts_r), q, t, k, a, w;
	Flow__V1__HeartbeatResponse *hr;
	Flow__V1__ClaimResponse *cr;
	Flow__V1__HeldItem *items[1];
	Flow__V1__QueueItem *it;

	(void)state;
	q = make_queue(p, "cancel-running", 10, 30);
	t = ts_insert_ticket(ts_r, p, 5, NULL, NULL);
	k = ts_insert_task(ts_r, t, 0, NULL, NULL);
	a = enq_task(q, k, -1);
	w = ts_register_worker(ts_r, "noop,default");
	assert_int_equal(ts_claim(ts_r, w, NULL, 1, q, 0, &cr), FLOW_OK);
	assert_int_equal(cr->items[0]->item->id, a);
	assert_int_equal(cancel_one(a), FLOW_OK);
	assert_col("SELECT status || ' ' || (lease_owner IS NULL) FROM queue_items WHERE id = $1",
		   a, "cancelled true");
	assert_col("SELECT status FROM tasks WHERE id = $1", k, "pending");

	items[0] = held(a, 1);
	assert_int_equal(heartbeat(w, items, 1, &hr), FLOW_OK);
	assert_int_equal(hr->n_cancelled, 1);
	assert_int_equal(hr->cancelled[0], a);
	assert_req_error(ts_r, ts_worker_complete(ts_r, w, a, 1, "late", &it),
			 FLOW_FAILED_PRECONDITION,
			 msg("queue item %" PRId64 " is cancelled, not in progress", a));
	assert_req_error(ts_r, ts_worker_fail(ts_r, w, a, 1, "late", true, &it),
			 FLOW_FAILED_PRECONDITION,
			 msg("queue item %" PRId64 " is cancelled, not in progress", a));
	assert_col(ITEM_STATUS, a, "cancelled");
}

static void test_complete_fail_input(void **state)
{
	int64_t p = ts_insert_project(ts_r), q, t, a, w;
	Flow__V1__CompleteRequest c = FLOW__V1__COMPLETE_REQUEST__INIT;
	Flow__V1__FailRequest f = FLOW__V1__FAIL_REQUEST__INIT;
	Flow__V1__ClaimResponse *cr;
	Flow__V1__QueueItem *it;
	char *before;

	(void)state;
	q = make_queue(p, "input", 10, 30);
	t = ts_insert_ticket(ts_r, p, 5, NULL, NULL);
	a = enq_task(q, ts_insert_task(ts_r, t, 0, NULL, NULL), -1);
	w = ts_register_worker(ts_r, "noop,default");
	assert_int_equal(ts_claim(ts_r, w, NULL, 1, q, 0, &cr), FLOW_OK);
	before = item_row(a);

	c.has_worker_id = c.has_queue_item_id = true;
	c.worker_id = w;
	c.queue_item_id = a;
	assert_req_error(ts_r, ts_call(ts_r, h_worker_complete, &c, &it), FLOW_INVALID_ARGUMENT,
			 "attempt must be a positive integer");
	c.has_attempt = true;
	c.attempt = 1;
	c.metadata = "{oops";
	assert_int_equal(ts_call(ts_r, h_worker_complete, &c, &it), FLOW_INVALID_ARGUMENT);
	assert_memory_equal(ts_r->message, "metadata is not valid JSON: ", 28);
	c.worker_id = 0;
	assert_req_error(ts_r, ts_call(ts_r, h_worker_complete, &c, &it), FLOW_INVALID_ARGUMENT,
			 "workerId must be a positive integer");
	f.has_worker_id = f.has_queue_item_id = f.has_attempt = true;
	f.worker_id = w;
	f.queue_item_id = a;
	f.attempt = 1;
	assert_req_error(ts_r, ts_call(ts_r, h_worker_fail, &f, &it), FLOW_INVALID_ARGUMENT,
			 "error is required");
	assert_req_error(ts_r, ts_worker_complete(ts_r, w, 999999, 1, NULL, &it), FLOW_NOT_FOUND,
			 "queue item 999999 not found");
	ts_assert_unchanged(item_row(a), before);
	free(before);

	c.worker_id = w;
	c.metadata = "{\"tokens\": 7}";
	c.completion_notes = "all done";
	assert_int_equal(ts_call(ts_r, h_worker_complete, &c, &it), FLOW_OK);
	assert_string_equal(it->status, "completed");
	assert_string_equal(it->completion_notes, "all done");
	assert_string_equal(it->metadata, "{\"tokens\": 7}");
	assert_null(it->lease_owner);
}

/* A claim whose contexts outgrow the reply limit hands out what fits and
 * puts the rest back at once, as if never claimed. */
static void test_claim_reply_bounded(void **state)
{
	int64_t p = ts_insert_project(ts_r), q, t, id[6], w;
	Flow__V1__ClaimResponse *cr;
	size_t total = 0, first;

	(void)state;
	q = make_queue(p, "bounded", 10, 30);
	t = ts_insert_ticket(ts_r, p, 5, NULL, NULL);
	/* each claimed item carries the ticket: ~30 KB of overview apiece */
	assert_int_equal(ts_sql_i64(ts_r,
				    "WITH u AS (UPDATE tickets SET overview = repeat('o', 30000)"
				    " WHERE id = $1 RETURNING 1) SELECT count(*) FROM u",
				    1, ts_i64s(t)),
			 1);
	for (int i = 0; i < 6; i++)
		id[i] = enq_task(q, ts_insert_task(ts_r, t, i, NULL, NULL), 5);
	w = ts_register_worker(ts_r, "noop,default");
	ts_r->reply_max = 100000;
	assert_int_equal(ts_claim(ts_r, w, NULL, 6, q, 0, &cr), FLOW_OK);
	ts_r->reply_max = 0;
	assert_true(cr->n_items >= 1 && cr->n_items < 6);
	for (size_t i = 0; i < cr->n_items; i++) {
		assert_int_equal(cr->items[i]->item->id, id[i]);
		assert_string_equal(cr->items[i]->item->status, "in_progress");
	}
	total = protobuf_c_message_get_packed_size(&cr->base);
	print_message("%zu of 6 items in %zu bytes\n", cr->n_items, total);
	assert_true(total <= 100000);
	/* the rest are queued again, their attempt not counted, their tasks pending */
	for (size_t i = cr->n_items; i < 6; i++) {
		assert_col("SELECT status || ' ' || attempt || ' ' || (lease_owner IS NULL)"
			   " || ' ' || (started_at IS NULL) FROM queue_items WHERE id = $1",
			   id[i], "queued 0 true true");
		assert_col("SELECT k.status FROM tasks k JOIN queue_items i ON i.task_id = k.id"
			   " WHERE i.id = $1",
			   id[i], "pending");
	}
	assert_col("SELECT k.status FROM tasks k JOIN queue_items i ON i.task_id = k.id"
		   " WHERE i.id = $1",
		   id[0], "in_progress");
	/* without the limit the next claim takes them */
	first = cr->n_items;
	assert_int_equal(ts_claim(ts_r, w, NULL, 6, q, 0, &cr), FLOW_OK);
	assert_int_equal(cr->n_items, 6 - first);
	assert_int_equal(cr->items[0]->item->id, id[first]);
	assert_int_equal(cr->items[0]->item->attempt, 1);
}

/* ---- Report ---- */

static Flow__V1__ItemOutcome *outcome(int64_t id, int attempt, bool success, const char *text)
{
	Flow__V1__ItemOutcome *o = arena_alloc(ts_r->arena, sizeof(*o));

	assert_non_null(o);
	flow__v1__item_outcome__init(o);
	o->has_queue_item_id = o->has_attempt = o->has_success = true;
	o->queue_item_id = id;
	o->attempt = attempt;
	o->success = success;
	if (success)
		o->completion_notes = (char *)text;
	else
		o->error = (char *)text;
	return o;
}

static void assert_result(const Flow__V1__OutcomeResult *x, int64_t id, int code,
			  const char *message, const char *status)
{
	assert_int_equal(x->queue_item_id, id);
	assert_true(x->has_code);
	assert_int_equal(x->code, code);
	if (message == NULL)
		assert_null(x->message);
	else
		assert_string_equal(x->message, message);
	if (status == NULL)
		assert_null(x->status);
	else
		assert_string_equal(x->status, status);
}

static void test_report_batch(void **state)
{
	int64_t p = ts_insert_project(ts_r), q, t, id[5], task[5], w, w2;
	Flow__V1__ReportRequest rq = FLOW__V1__REPORT_REQUEST__INIT;
	Flow__V1__ReportResponse *rr;
	Flow__V1__ClaimResponse *cr;
	Flow__V1__ItemOutcome *o[8];
	char *before_c, *before_d;

	(void)state;
	q = make_queue(p, "report", 10, 30);
	t = ts_insert_ticket(ts_r, p, 5, NULL, NULL);
	for (int i = 0; i < 5; i++)
		id[i] = enq_task(q, task[i] = ts_insert_task(ts_r, t, i, NULL, NULL), 9 - i);
	w = ts_register_worker(ts_r, "noop,default");
	w2 = ts_register_worker(ts_r, "noop,default");
	assert_int_equal(ts_claim(ts_r, w, NULL, 4, q, 0, &cr), FLOW_OK);
	assert_int_equal(cr->n_items, 4);
	assert_int_equal(ts_claim(ts_r, w2, NULL, 1, q, 0, &cr), FLOW_OK);
	before_c = item_row(id[2]);
	before_d = item_row(id[3]);

	o[0] = outcome(id[0], 1, true, "done");
	o[0]->metadata = "[1, 2]";
	o[1] = outcome(id[1], 1, false, "exit 75");
	o[1]->has_retryable = o[1]->retryable = true;
	o[2] = outcome(id[2], 2, true, "stale attempt");
	o[3] = outcome(id[4], 1, true, "not mine");
	o[4] = outcome(999999, 1, false, "gone");
	o[5] = outcome(id[3], 1, true, "bad metadata");
	o[5]->metadata = "{";
	o[6] = outcome(0, 1, true, NULL);
	o[7] = outcome(id[0], 1, true, "twice");
	rq.has_worker_id = true;
	rq.worker_id = w;
	rq.outcomes = o;
	rq.n_outcomes = 8;
	assert_int_equal(ts_call(ts_r, h_report, &rq, &rr), FLOW_OK);
	assert_int_equal(rr->n_results, 8);
	assert_result(rr->results[0], id[0], FLOW_OK, NULL, "completed");
	assert_result(rr->results[1], id[1], FLOW_OK, NULL, "queued");
	assert_result(rr->results[2], id[2], FLOW_FAILED_PRECONDITION,
		      msg("queue item %" PRId64 " is now leased to worker:%" PRId64 " (attempt 1),"
			  " not to worker:%" PRId64 " (attempt 2)",
			  id[2], w, w),
		      "in_progress");
	assert_result(rr->results[3], id[4], FLOW_FAILED_PRECONDITION,
		      msg("queue item %" PRId64 " is now leased to worker:%" PRId64 " (attempt 1),"
			  " not to worker:%" PRId64 " (attempt 1)",
			  id[4], w2, w),
		      "in_progress");
	assert_result(rr->results[4], 999999, FLOW_NOT_FOUND, "queue item 999999 not found", NULL);
	assert_int_equal(rr->results[5]->code, FLOW_INVALID_ARGUMENT);
	assert_memory_equal(rr->results[5]->message,
			    "outcomes[5].metadata is not valid JSON: ", 40);
	assert_result(rr->results[6], 0, FLOW_INVALID_ARGUMENT,
		      "outcomes[6].queueItemId must be a positive integer", NULL);
	assert_result(rr->results[7], id[0], FLOW_FAILED_PRECONDITION,
		      msg("queue item %" PRId64 " is completed, not in progress", id[0]),
		      "completed");

	/* the good ones applied, the others untouched */
	assert_col("SELECT status || ' ' || completion_notes || ' ' || metadata::text"
		   " FROM queue_items WHERE id = $1",
		   id[0], "completed done [1, 2]");
	assert_col("SELECT status || ' ' || error FROM queue_items WHERE id = $1", id[1],
		   "queued exit 75");
	ts_assert_unchanged(item_row(id[2]), before_c);
	ts_assert_unchanged(item_row(id[3]), before_d);
	free(before_c);
	free(before_d);
	assert_col(ITEM_STATUS, id[4], "in_progress");
	/* the tasks follow: done, back to pending, still running; the ticket stays open */
	assert_col("SELECT status || ' ' || done || ' ' || completion_notes FROM tasks WHERE id = $1",
		   task[0], "completed true done");
	assert_col("SELECT status FROM tasks WHERE id = $1", task[1], "pending");
	assert_col("SELECT status FROM tasks WHERE id = $1", task[2], "in_progress");
	assert_col("SELECT status FROM tickets WHERE id = $1", t, "in_progress");

	/* request-level errors */
	rq.worker_id = 0;
	assert_req_error(ts_r, ts_call(ts_r, h_report, &rq, &rr), FLOW_INVALID_ARGUMENT,
			 "workerId must be a positive integer");
	rq.worker_id = w;
	rq.n_outcomes = 0;
	assert_int_equal(ts_call(ts_r, h_report, &rq, &rr), FLOW_OK);
	assert_int_equal(rr->n_results, 0);
	o[0] = outcome(id[2], 1, false, NULL);
	o[0]->has_success = false;
	rq.n_outcomes = 1;
	assert_int_equal(ts_call(ts_r, h_report, &rq, &rr), FLOW_OK);
	assert_result(rr->results[0], id[2], FLOW_INVALID_ARGUMENT,
		      "outcomes[0].success is required", NULL);
	o[0] = outcome(id[2], 1, false, NULL);
	assert_int_equal(ts_call(ts_r, h_report, &rq, &rr), FLOW_OK);
	assert_result(rr->results[0], id[2], FLOW_INVALID_ARGUMENT, "outcomes[0].error is required",
		      NULL);
	o[0] = outcome(id[2], 1, false, "permanent");
	assert_int_equal(ts_call(ts_r, h_report, &rq, &rr), FLOW_OK);
	assert_result(rr->results[0], id[2], FLOW_OK, NULL, "failed");
}

/* ---- maxParallelItems under concurrent claimers ---- */

#define THREADS 8
#define ITEMS 150
#define LIMIT 3
#define RUN_SECONDS_MAX 120

static struct {
	int64_t queue;
	atomic_int held, max_held, completed, errors, done, db_max, db_samples;
	char error[600];
} S;

static void raise_max(atomic_int *max, int v)
{
	int cur = atomic_load(max);

	while (v > cur && !atomic_compare_exchange_weak(max, &cur, v))
		;
}

static void record_error(const char *what, const struct flow_req *r)
{
	if (atomic_fetch_add(&S.errors, 1) == 0)
		snprintf(S.error, sizeof(S.error), "%s: %s", what, r->message);
}

/* Reports the claimed items of cr as done, in one Report. */
static void report_all(struct flow_req *r, int64_t w, const Flow__V1__ClaimResponse *cr)
{
	Flow__V1__ReportRequest rq = FLOW__V1__REPORT_REQUEST__INIT;
	Flow__V1__ItemOutcome *o[5], oo[5];
	ProtobufCMessage *out;

	for (size_t i = 0; i < cr->n_items; i++) {
		flow__v1__item_outcome__init(&oo[i]);
		oo[i].has_queue_item_id = oo[i].has_attempt = oo[i].has_success = true;
		oo[i].queue_item_id = cr->items[i]->item->id;
		oo[i].attempt = cr->items[i]->item->attempt;
		oo[i].success = true;
		o[i] = &oo[i];
	}
	rq.has_worker_id = true;
	rq.worker_id = w;
	rq.outcomes = o;
	rq.n_outcomes = cr->n_items;
	atomic_fetch_sub(&S.held, (int)cr->n_items);
	if (h_report(r, &rq.base, &out) != FLOW_OK) {
		record_error("report", r);
		return;
	}
	for (size_t i = 0; i < cr->n_items; i++) {
		if (((Flow__V1__ReportResponse *)out)->results[i]->code == FLOW__V1__CODE__OK)
			atomic_fetch_add(&S.completed, 1);
		else
			record_error("report result", r);
	}
}

static void *claimer(void *arg)
{
	struct flow_req *r = ts_req_connect(arg);
	Flow__V1__RegisterWorkerRequest reg = FLOW__V1__REGISTER_WORKER_REQUEST__INIT;
	Flow__V1__ClaimRequest c = FLOW__V1__CLAIM_REQUEST__INIT;
	char *agents[2] = { "noop", "default" };
	unsigned seed = (unsigned)(uintptr_t)r;
	ProtobufCMessage *out;

	reg.name = "claimer";
	reg.agent_ids = agents;
	reg.n_agent_ids = 2;
	if (h_register_worker(r, &reg.base, &out) != FLOW_OK) {
		record_error("register", r);
		goto out;
	}
	c.has_worker_id = c.has_max_items = c.has_queue_id = true;
	c.worker_id = ((Flow__V1__RegisterWorkerResponse *)out)->worker_id;
	c.max_items = 5;
	c.queue_id = S.queue;
	while (!atomic_load(&S.done) && atomic_load(&S.errors) == 0) {
		Flow__V1__ClaimResponse *cr;

		arena_reset(r->arena);
		if (h_claim(r, &c.base, &out) != FLOW_OK) {
			record_error("claim", r);
			break;
		}
		cr = (Flow__V1__ClaimResponse *)out;
		raise_max(&S.max_held,
			  atomic_fetch_add(&S.held, (int)cr->n_items) + (int)cr->n_items);
		usleep((useconds_t)(rand_r(&seed) % 2000));
		if (cr->n_items > 0)
			report_all(r, c.worker_id, cr);
	}
out:
	ts_req_close(r, NULL);
	return NULL;
}

static void *checker(void *arg)
{
	struct flow_req *r = ts_req_connect(arg);
	char q[24];
	const char *p[1] = { q };

	snprintf(q, sizeof(q), "%" PRId64, S.queue);
	while (!atomic_load(&S.done)) {
		PGresult *res = PQexecParams(store_pg(r->db),
					     "SELECT count(*) FROM queue_items WHERE queue_id = $1"
					     " AND status = 'in_progress'",
					     1, NULL, p, NULL, NULL, 0);

		if (PQresultStatus(res) == PGRES_TUPLES_OK) {
			raise_max(&S.db_max, atoi(PQgetvalue(res, 0, 0)));
			atomic_fetch_add(&S.db_samples, 1);
		}
		PQclear(res);
	}
	ts_req_close(r, NULL);
	return NULL;
}

static void test_max_parallel_concurrent(void **state)
{
	int64_t p = ts_insert_project(ts_r), t;
	pthread_t th[THREADS + 1];
	time_t deadline;

	(void)state;
	S.queue = make_queue(p, "parallel", LIMIT, 30);
	t = ts_insert_ticket(ts_r, p, 5, NULL, NULL);
	ts_sql_i64(ts_r,
		   "INSERT INTO tasks (ticket_id, content, order_index)"
		   " SELECT $1, 'task ' || g, g FROM generate_series(1, $2::int) g",
		   2, ts_i64s(t), ts_i64s(ITEMS));
	assert_int_equal(ts_enqueue_ticket(ts_r, S.queue, t, -1, 1, NULL), FLOW_OK);
	assert_int_equal(pthread_create(&th[THREADS], NULL, checker, ts_db_url), 0);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, claimer, ts_db_url), 0);
	deadline = time(NULL) + RUN_SECONDS_MAX;
	while (atomic_load(&S.completed) < ITEMS + 1 && atomic_load(&S.errors) == 0 &&
	       time(NULL) < deadline)
		usleep(10000);
	atomic_store(&S.done, 1);
	for (int i = 0; i <= THREADS; i++)
		pthread_join(th[i], NULL);
	if (atomic_load(&S.errors) > 0)
		fail_msg("%s", S.error);
	print_message("parallel: held at most %d, the database saw at most %d in %d samples\n",
		      atomic_load(&S.max_held), atomic_load(&S.db_max), atomic_load(&S.db_samples));
	assert_int_equal(atomic_load(&S.completed), ITEMS + 1);
	assert_true(atomic_load(&S.max_held) <= LIMIT);
	assert_true(atomic_load(&S.db_max) <= LIMIT);
	assert_true(atomic_load(&S.db_samples) > 0);
	assert_int_equal(ts_sql_i64(ts_r,
				    "SELECT count(*) FROM queue_items WHERE queue_id = $1"
				    " AND status = 'completed' AND attempt = 1",
				    1, ts_i64s(S.queue)),
			 ITEMS + 1);
	assert_col("SELECT status FROM tickets WHERE id = $1", t, "closed");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_register, ts_test_reset),
		cmocka_unit_test_setup(test_claim_items_and_context, ts_test_reset),
		cmocka_unit_test_setup(test_claim_paused_and_errors, ts_test_reset),
		cmocka_unit_test_setup(test_claim_parks, ts_test_reset),
		cmocka_unit_test_setup(test_claim_reply_bounded, ts_test_reset),
		cmocka_unit_test_setup(test_heartbeat, ts_test_reset),
		cmocka_unit_test_setup(test_cancel_running, ts_test_reset),
		cmocka_unit_test_setup(test_complete_fail_input, ts_test_reset),
		cmocka_unit_test_setup(test_report_batch, ts_test_reset),
		cmocka_unit_test_setup(test_max_parallel_concurrent, ts_test_reset),
	};

	return cmocka_run_group_tests(tests, ts_group_setup, ts_group_teardown);
}
