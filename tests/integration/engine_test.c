/*
 * engine_test.c - the queue engine on a real PostgreSQL: the item state
 * machine and its forbidden transitions, lease expiry and rescue with
 * backoff, dead items and re-drive, retryable failures, cancel, delayed
 * items, dependency order, agent routing, debounced ready notifications,
 * history pruning that keeps statistics identical, and the race between
 * the rescuer and workers completing items whose leases are running out.
 *
 * Handlers are called directly; the rescuer's pass (rescuer_run_once) too.
 * Projects, tickets and tasks are made with plain SQL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <poll.h>
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
#include "jobs/rescuer.h"
#include "services/handlers.h"
#include "settings.h"
#include "status.h"
#include "store/store.h"
#include "ts_store.h"

/* ---- helpers ---- */

#define ITEM_STATUS "SELECT status FROM queue_items WHERE id = $1"
#define TASK_STATUS "SELECT status FROM tasks WHERE id = $1"

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

/* A queue with the given maxParallelItems, lease and max attempts. */
static int64_t make_queue(int64_t project, const char *name, int parallel, int lease, int attempts)
{
	int64_t q = ts_create_queue(ts_r, project, name, parallel);

	ts_sql_i64(ts_r, "UPDATE queues SET lease_seconds = $2, max_attempts = $3 WHERE id = $1", 3,
		   ts_i64s(q), ts_i64s(lease), ts_i64s(attempts));
	return q;
}

static int64_t enq_task(int64_t queue, int64_t task)
{
	Flow__V1__EnqueueResponse *res;

	assert_int_equal(ts_enqueue_task(ts_r, queue, task, -1, &res), FLOW_OK);
	return res->items[0]->id;
}

/* Claims exactly one item (must be id) for worker w; returns its attempt. */
static int claim_one(int64_t w, int64_t queue, int64_t id)
{
	Flow__V1__ClaimResponse *res;

	assert_int_equal(ts_claim(ts_r, w, NULL, 1, queue, 0, &res), FLOW_OK);
	assert_int_equal(res->n_items, 1);
	assert_int_equal(res->items[0]->item->id, id);
	return res->items[0]->item->attempt;
}

static void claim_none(int64_t w, int64_t queue)
{
	Flow__V1__ClaimResponse *res;

	assert_int_equal(ts_claim(ts_r, w, NULL, 10, queue, 0, &res), FLOW_OK);
	assert_int_equal(res->n_items, 0);
}

/* Lets the item's lease run out and its retry delay pass. */
static void expire(int64_t id)
{
	ts_sql_i64(ts_r,
		   "UPDATE queue_items SET lease_expires_at = now() - interval '1 second'"
		   " WHERE id = $1 AND status = 'in_progress'",
		   1, ts_i64s(id));
}

static void make_ready(int64_t id)
{
	ts_sql_i64(ts_r, "UPDATE queue_items SET run_after = now() WHERE id = $1", 1, ts_i64s(id));
}

static struct rescuer_pass rescue(void)
{
	struct rescuer_pass p;

	assert_int_equal(rescuer_run_once(ts_r, &p), FLOW_OK);
	return p;
}

/* Milliseconds from now until the item's run_after. */
static int64_t delay_ms(int64_t id)
{
	return ts_sql_i64(
	    ts_r,
	    "SELECT (extract(epoch FROM run_after - clock_timestamp()) * 1000)::bigint"
	    " FROM queue_items WHERE id = $1",
	    1, ts_i64s(id));
}

static int retry_ids(const int64_t *ids, size_t n, int64_t queue, Flow__V1__ItemsResponse **res)
{
	Flow__V1__RetryItemsRequest q = FLOW__V1__RETRY_ITEMS_REQUEST__INIT;

	q.queue_item_ids = (int64_t *)ids;
	q.n_queue_item_ids = n;
	q.has_queue_id = queue > 0;
	q.queue_id = queue;
	return ts_call(ts_r, h_retry_items, &q, res);
}

static int cancel_ids(const int64_t *ids, size_t n, Flow__V1__ItemsResponse **res)
{
	Flow__V1__CancelItemsRequest q = FLOW__V1__CANCEL_ITEMS_REQUEST__INIT;

	q.queue_item_ids = (int64_t *)ids;
	q.n_queue_item_ids = n;
	return ts_call(ts_r, h_cancel_items, &q, res);
}

/* Runs sql (one id parameter) and asserts the database rejects it. */
static void sql_fails(const char *sql, int64_t id)
{
	const char *p[1] = { ts_i64s(id) };
	PGresult *res = PQexecParams(store_pg(ts_r->db), sql, 1, NULL, p, NULL, NULL, 0);

	assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
	PQclear(res);
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

static int group_setup(void **state)
{
	ts_group_setup(state);
	flow_settings.retry_base_ms = 200;
	flow_settings.retry_max_ms = 1000;
	flow_settings.history_retention_s = 7 * 86400;
	return 0;
}

/* ---- state machine ---- */

static void test_lifecycle_and_forbidden(void **state)
{
	int64_t p = ts_insert_project(ts_r), q, t, k, a, w, ids[1];
	Flow__V1__ItemsResponse *ir;
	Flow__V1__QueueItem *it;
	char *before;

	(void)state;
	q = make_queue(p, "life", 5, 30, 3);
	t = ts_insert_ticket(ts_r, p, 5, NULL, NULL);
	k = ts_insert_task(ts_r, t, 0, NULL, NULL);
	a = enq_task(q, k);
	w = ts_register_worker(ts_r, "noop,default");
	ids[0] = a;

	/* queued: no outcome, no retry */
	before = item_row(a);
	assert_req_error(ts_r, ts_worker_complete(ts_r, w, a, 1, NULL, &it),
			 FLOW_FAILED_PRECONDITION,
			 msg("queue item %" PRId64 " is queued, not in progress", a));
	assert_req_error(ts_r, ts_worker_fail(ts_r, w, a, 1, "x", true, &it),
			 FLOW_FAILED_PRECONDITION,
			 msg("queue item %" PRId64 " is queued, not in progress", a));
	assert_req_error(
	    ts_r, retry_ids(ids, 1, 0, &ir), FLOW_FAILED_PRECONDITION,
	    msg("queue item %" PRId64 " is queued; only failed or dead items can be retried", a));
	ts_assert_unchanged(item_row(a), before);
	free(before);

	/* queued -> in_progress: lease owner, expiry = the queue's lease */
	assert_int_equal(claim_one(w, q, a), 1);
	assert_col(ITEM_STATUS, a, "in_progress");
	assert_col(TASK_STATUS, k, "in_progress");
	assert_int_equal(ts_sql_i64(ts_r,
				    "SELECT extract(epoch FROM lease_expires_at - started_at)"
				    "::int FROM queue_items WHERE id = $1",
				    1, ts_i64s(a)),
			 30);
	assert_col("SELECT lease_owner FROM queue_items WHERE id = $1", a,
		   msg("worker:%" PRId64, w));
	assert_req_error(ts_r, retry_ids(ids, 1, 0, &ir), FLOW_FAILED_PRECONDITION,
			 msg("queue item %" PRId64
			     " is in_progress; only failed or dead items can be retried",
			     a));

	/* in_progress -> completed, then nothing more */
	assert_int_equal(ts_worker_complete(ts_r, w, a, 1, "ok", &it), FLOW_OK);
	assert_string_equal(it->status, "completed");
	assert_col(TASK_STATUS, k, "completed");
	before = item_row(a);
	assert_req_error(ts_r, cancel_ids(ids, 1, &ir), FLOW_FAILED_PRECONDITION,
			 msg("queue item %" PRId64
			     " is completed; only queued or in-progress items can be cancelled",
			     a));
	assert_req_error(ts_r, retry_ids(ids, 1, 0, &ir), FLOW_FAILED_PRECONDITION,
			 msg("queue item %" PRId64
			     " is completed; only failed or dead items can be retried",
			     a));
	assert_req_error(ts_r, ts_worker_fail(ts_r, w, a, 1, "late", false, &it),
			 FLOW_FAILED_PRECONDITION,
			 msg("queue item %" PRId64 " is completed, not in progress", a));
	ts_assert_unchanged(item_row(a), before);
	free(before);

	/* the schema refuses states outside the machine, and a running item
	 * without a lease owner */
	sql_fails("UPDATE queue_items SET status = 'paused' WHERE id = $1", a);
	sql_fails("UPDATE queue_items SET status = 'in_progress' WHERE id = $1", a);
	ids[0] = 999999;
	assert_req_error(ts_r, cancel_ids(ids, 1, &ir), FLOW_NOT_FOUND,
			 "queue item 999999 not found");
	assert_req_error(ts_r, retry_ids(ids, 1, 0, &ir), FLOW_NOT_FOUND,
			 "queue item 999999 not found");
}

static void test_retry_cancel_bad_input(void **state)
{
	int64_t ids[3] = { 5, 0, 7 }, dup[2] = { 4, 4 };
	Flow__V1__ItemsResponse *ir;

	(void)state;
	assert_req_error(ts_r, retry_ids(NULL, 0, 0, &ir), FLOW_INVALID_ARGUMENT,
			 "give queueItemIds (the items to retry) or queueId (every failed or dead "
			 "item of the queue)");
	assert_req_error(ts_r, retry_ids(ids, 1, 3, &ir), FLOW_INVALID_ARGUMENT,
			 "give queueItemIds or queueId, not both");
	assert_req_error(ts_r, retry_ids(ids, 3, 0, &ir), FLOW_INVALID_ARGUMENT,
			 "queueItemIds[1] must be a positive integer");
	assert_req_error(ts_r, retry_ids(dup, 2, 0, &ir), FLOW_INVALID_ARGUMENT,
			 "queueItemIds lists id 4 more than once");
	assert_req_error(ts_r, retry_ids(NULL, 0, 999999, &ir), FLOW_NOT_FOUND,
			 "queue 999999 not found");
	assert_req_error(ts_r, cancel_ids(NULL, 0, &ir), FLOW_INVALID_ARGUMENT,
			 "queueItemIds is required");
	assert_req_error(ts_r, cancel_ids(ids, 3, &ir), FLOW_INVALID_ARGUMENT,
			 "queueItemIds[1] must be a positive integer");
}

/* ---- leases, rescue, backoff, dead, re-drive ---- */

static void test_lease_expiry_rescue(void **state)
{
	int64_t p = ts_insert_project(ts_r), q, t, k, a, w;
	struct rescuer_pass rp;
	int64_t d;

	(void)state;
	q = make_queue(p, "rescue", 5, 30, 3);
	t = ts_insert_ticket(ts_r, p, 5, NULL, NULL);
	k = ts_insert_task(ts_r, t, 0, NULL, NULL);
	a = enq_task(q, k);
	w = ts_register_worker(ts_r, "noop,default");

	/* not expired yet: nothing to rescue */
	assert_int_equal(claim_one(w, q, a), 1);
	rp = rescue();
	assert_int_equal(rp.requeued + rp.dead, 0);

	/* attempt 1 expires: queued again after base * 2^0 +-50% */
	expire(a);
	rp = rescue();
	assert_int_equal(rp.requeued, 1);
	assert_int_equal(rp.dead, 0);
	assert_col(ITEM_STATUS, a, "queued");
	assert_col(TASK_STATUS, k, "pending");
	assert_col("SELECT error FROM queue_items WHERE id = $1", a,
		   msg("lease expired (held by worker:%" PRId64 ", attempt 1)", w));
	assert_col(
	    "SELECT (lease_owner IS NULL AND lease_expires_at IS NULL AND completed_at IS NULL)"
	    "::text FROM queue_items WHERE id = $1",
	    a, "true");
	d = delay_ms(a);
	assert_true(d > 50 && d <= 300);
	claim_none(w, q);

	/* attempt 2 expires: base * 2^1 +-50% */
	make_ready(a);
	assert_int_equal(claim_one(w, q, a), 2);
	expire(a);
	assert_int_equal(rescue().requeued, 1);
	d = delay_ms(a);
	assert_true(d > 150 && d <= 600);

	/* attempt 3 (the last) expires: dead */
	make_ready(a);
	assert_int_equal(claim_one(w, q, a), 3);
	expire(a);
	rp = rescue();
	assert_int_equal(rp.requeued, 0);
	assert_int_equal(rp.dead, 1);
	assert_col(ITEM_STATUS, a, "dead");
	assert_col(TASK_STATUS, k, "pending");
	assert_col("SELECT attempt || ' ' || (completed_at IS NOT NULL) || ' ' || error"
		   " FROM queue_items WHERE id = $1",
		   a, msg("3 true lease expired (held by worker:%" PRId64 ", attempt 3)", w));
	claim_none(w, q);
}

static void test_backoff_is_capped(void **state)
{
	int64_t p = ts_insert_project(ts_r), q, t, a, w;

	(void)state;
	q = make_queue(p, "cap", 5, 30, 100);
	t = ts_insert_ticket(ts_r, p, 5, NULL, NULL);
	a = enq_task(q, ts_insert_task(ts_r, t, 0, NULL, NULL));
	w = ts_register_worker(ts_r, "noop,default");
	assert_int_equal(claim_one(w, q, a), 1);
	ts_sql_i64(ts_r, "UPDATE queue_items SET attempt = 30 WHERE id = $1", 1, ts_i64s(a));
	expire(a);
	assert_int_equal(rescue().requeued, 1);
	assert_true(delay_ms(a) <= flow_settings.retry_max_ms);
	assert_true(delay_ms(a) > flow_settings.retry_max_ms - 100);
}

static void test_stale_complete_after_redelivery(void **state)
{
	int64_t p = ts_insert_project(ts_r), q, t, k, a, w1, w2;
	Flow__V1__QueueItem *it;
	char *before;

	(void)state;
	q = make_queue(p, "stale", 5, 30, 3);
	t = ts_insert_ticket(ts_r, p, 5, NULL, NULL);
	k = ts_insert_task(ts_r, t, 0, NULL, NULL);
	a = enq_task(q, k);
	w1 = ts_register_worker(ts_r, "noop,default");
	w2 = ts_register_worker(ts_r, "noop,default");
	assert_int_equal(claim_one(w1, q, a), 1);
	expire(a);
	assert_int_equal(rescue().requeued, 1);
	make_ready(a);
	assert_int_equal(claim_one(w2, q, a), 2);

	/* the first worker's late outcomes change nothing */
	before = item_row(a);
	assert_req_error(ts_r, ts_worker_complete(ts_r, w1, a, 1, "late", &it),
			 FLOW_FAILED_PRECONDITION,
			 msg("queue item %" PRId64 " is now leased to worker:%" PRId64
			     " (attempt 2), not to worker:%" PRId64 " (attempt 1)",
			     a, w2, w1));
	assert_req_error(ts_r, ts_worker_fail(ts_r, w1, a, 1, "late", false, &it),
			 FLOW_FAILED_PRECONDITION,
			 msg("queue item %" PRId64 " is now leased to worker:%" PRId64
			     " (attempt 2), not to worker:%" PRId64 " (attempt 1)",
			     a, w2, w1));
	/* the right worker with a wrong attempt is stale too */
	assert_int_equal(ts_worker_complete(ts_r, w2, a, 1, "late", &it), FLOW_FAILED_PRECONDITION);
	ts_assert_unchanged(item_row(a), before);
	free(before);
	assert_col(TASK_STATUS, k, "in_progress");

	assert_int_equal(ts_worker_complete(ts_r, w2, a, 2, "done", &it), FLOW_OK);
	assert_string_equal(it->status, "completed");
	assert_int_equal(it->attempt, 2);
	assert_col(TASK_STATUS, k, "completed");
}

static void test_retryable_fail_then_success(void **state)
{
	int64_t p = ts_insert_project(ts_r), q, t, k, a, w;
	Flow__V1__QueueItem *it;
	int64_t d;

	(void)state;
	q = make_queue(p, "flaky", 5, 30, 3);
	t = ts_insert_ticket(ts_r, p, 5, NULL, NULL);
	k = ts_insert_task(ts_r, t, 0, NULL, NULL);
	a = enq_task(q, k);
	w = ts_register_worker(ts_r, "noop,default");
	assert_int_equal(claim_one(w, q, a), 1);
	assert_int_equal(ts_worker_fail(ts_r, w, a, 1, "exit 75", true, &it), FLOW_OK);
	assert_string_equal(it->status, "queued");
	assert_string_equal(it->error, "exit 75");
	assert_int_equal(it->attempt, 1);
	assert_null(it->lease_owner);
	assert_false(it->has_completed_at);
	assert_col(TASK_STATUS, k, "pending");
	d = delay_ms(a);
	assert_true(d > 50 && d <= 300);
	claim_none(w, q);

	/* once the delay has passed it is handed out again and succeeds */
	usleep((useconds_t)(d + 20) * 1000);
	assert_int_equal(claim_one(w, q, a), 2);
	assert_int_equal(ts_worker_complete(ts_r, w, a, 2, "second time lucky", &it), FLOW_OK);
	assert_string_equal(it->status, "completed");
	assert_col(TASK_STATUS, k, "completed");
	assert_col("SELECT status FROM tickets WHERE id = $1", t, "closed");

	/* a permanent failure is final at once; processor FailItem retries too */
	a = enq_task(q, ts_insert_task(ts_r, t, 1, NULL, NULL));
	assert_int_equal(claim_one(w, q, a), 1);
	assert_int_equal(ts_worker_fail(ts_r, w, a, 1, "bad input", false, &it), FLOW_OK);
	assert_string_equal(it->status, "failed");
	assert_true(it->has_completed_at);
	a = enq_task(q, ts_insert_task(ts_r, t, 2, NULL, NULL));
	assert_true(ts_get_next(ts_r, q, NULL)->found);
	{
		Flow__V1__FailItemRequest f = FLOW__V1__FAIL_ITEM_REQUEST__INIT;

		f.has_queue_item_id = f.has_retryable = true;
		f.queue_item_id = a;
		f.error = "try later";
		f.retryable = true;
		assert_int_equal(ts_call(ts_r, h_fail_item, &f, &it), FLOW_OK);
		assert_string_equal(it->status, "queued");
	}
}

static void test_dead_redrive_complete(void **state)
{
	int64_t p = ts_insert_project(ts_r), q, t, k, k2, a, b, w, ids[2];
	Flow__V1__EnqueueTaskRequest e = FLOW__V1__ENQUEUE_TASK_REQUEST__INIT;
	Flow__V1__EnqueueResponse *er;
	Flow__V1__ItemsResponse *ir;
	Flow__V1__QueueItem *it;

	(void)state;
	q = make_queue(p, "dead", 5, 30, 5);
	t = ts_insert_ticket(ts_r, p, 5, NULL, NULL);
	k = ts_insert_task(ts_r, t, 0, NULL, NULL);
	w = ts_register_worker(ts_r, "noop,default");

	/* per-item maxAttempts 2 overrides the queue's 5 */
	e.has_queue_id = e.has_task_id = e.has_max_attempts = true;
	e.queue_id = q;
	e.task_id = k;
	e.max_attempts = 2;
	assert_int_equal(ts_call(ts_r, h_enqueue_task, &e, &er), FLOW_OK);
	a = er->items[0]->id;
	assert_int_equal(er->items[0]->max_attempts, 2);
	assert_int_equal(claim_one(w, q, a), 1);
	assert_int_equal(ts_worker_fail(ts_r, w, a, 1, "flaky", true, &it), FLOW_OK);
	assert_string_equal(it->status, "queued");
	make_ready(a);
	assert_int_equal(claim_one(w, q, a), 2);
	assert_int_equal(ts_worker_fail(ts_r, w, a, 2, "flaky again", true, &it), FLOW_OK);
	assert_string_equal(it->status, "dead");
	assert_true(it->has_completed_at);
	claim_none(w, q);

	/* re-drive: queued, attempts afresh, error cleared, ready now */
	ids[0] = a;
	assert_int_equal(retry_ids(ids, 1, 0, &ir), FLOW_OK);
	assert_int_equal(ir->n_items, 1);
	assert_string_equal(ir->items[0]->status, "queued");
	assert_int_equal(ir->items[0]->attempt, 0);
	assert_null(ir->items[0]->error);
	assert_false(ir->items[0]->has_completed_at || ir->items[0]->has_started_at);
	assert_int_equal(claim_one(w, q, a), 1);
	assert_int_equal(ts_worker_complete(ts_r, w, a, 1, "fixed", &it), FLOW_OK);
	assert_string_equal(it->status, "completed");
	assert_col(TASK_STATUS, k, "completed");

	/* a failed item whose task is meanwhile on a queue again: ALREADY_EXISTS */
	k2 = ts_insert_task(ts_r, t, 1, NULL, NULL);
	a = enq_task(q, k2);
	assert_int_equal(claim_one(w, q, a), 1);
	assert_int_equal(ts_worker_fail(ts_r, w, a, 1, "broken", false, &it), FLOW_OK);
	b = enq_task(q, k2);
	ids[0] = a;
	assert_req_error(
	    ts_r, retry_ids(ids, 1, 0, &ir), FLOW_ALREADY_EXISTS,
	    msg("task %" PRId64 " is already on queue %" PRId64 " (item %" PRId64 ")", k2, q, b));
	assert_col(ITEM_STATUS, a, "failed");

	/* by queue: re-drives what it can, leaves the rest */
	ids[0] = b;
	assert_int_equal(cancel_ids(ids, 1, &ir), FLOW_OK);
	assert_int_equal(retry_ids(NULL, 0, q, &ir), FLOW_OK);
	assert_int_equal(ir->n_items, 1);
	assert_int_equal(ir->items[0]->id, a);
	assert_col(ITEM_STATUS, b, "cancelled");
	assert_int_equal(retry_ids(NULL, 0, q, &ir), FLOW_OK);
	assert_int_equal(ir->n_items, 0);
}

static void test_cancel_queued(void **state)
{
	int64_t p = ts_insert_project(ts_r), q, t, a, b, w, ids[2];
	Flow__V1__ItemsResponse *ir;

	(void)state;
	q = make_queue(p, "cancel", 5, 30, 3);
	t = ts_insert_ticket(ts_r, p, 5, NULL, NULL);
	a = enq_task(q, ts_insert_task(ts_r, t, 0, NULL, NULL));
	b = enq_task(q, ts_insert_task(ts_r, t, 1, NULL, NULL));
	w = ts_register_worker(ts_r, "noop,default");
	ids[0] = b;
	ids[1] = a;
	assert_int_equal(cancel_ids(ids, 2, &ir), FLOW_OK);
	assert_int_equal(ir->n_items, 2);
	assert_int_equal(ir->items[0]->id, a);
	assert_string_equal(ir->items[0]->status, "cancelled");
	assert_true(ir->items[0]->has_completed_at);
	claim_none(w, q);
	/* all or nothing */
	assert_int_equal(cancel_ids(ids, 2, &ir), FLOW_FAILED_PRECONDITION);
}

/* ---- delays, dependencies, agents ---- */

static int enqueue_opts(int64_t q, int64_t task, int delay, int64_t run_after, int attempts,
			Flow__V1__EnqueueResponse **res)
{
	Flow__V1__EnqueueTaskRequest e = FLOW__V1__ENQUEUE_TASK_REQUEST__INIT;

	e.has_queue_id = e.has_task_id = true;
	e.queue_id = q;
	e.task_id = task;
	e.has_delay_seconds = delay >= 0;
	e.delay_seconds = delay;
	e.has_run_after = run_after != 0;
	e.run_after = run_after;
	e.has_max_attempts = attempts != 0;
	e.max_attempts = attempts;
	return ts_call(ts_r, h_enqueue_task, &e, res);
}

static void test_delayed_items(void **state)
{
	int64_t p = ts_insert_project(ts_r), q, t, k, a, w, now_ms;
	Flow__V1__EnqueueResponse *er;
	struct timespec ts;

	(void)state;
	clock_gettime(CLOCK_REALTIME, &ts);
	now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	q = make_queue(p, "delay", 5, 30, 3);
	t = ts_insert_ticket(ts_r, p, 5, NULL, NULL);
	k = ts_insert_task(ts_r, t, 0, NULL, NULL);
	w = ts_register_worker(ts_r, "noop,default");

	assert_int_equal(enqueue_opts(q, k, 1, 0, 0, &er), FLOW_OK);
	a = er->items[0]->id;
	assert_true(er->items[0]->run_after >= now_ms + 900);
	claim_none(w, q);
	assert_true(ts_get_next(ts_r, q, NULL)->found == false);
	usleep(1100 * 1000);
	assert_int_equal(claim_one(w, q, a), 1);

	/* runAfter in epoch ms */
	k = ts_insert_task(ts_r, t, 1, NULL, NULL);
	assert_int_equal(enqueue_opts(q, k, -1, now_ms + 3600 * 1000, 0, &er), FLOW_OK);
	assert_true(llabs(er->items[0]->run_after - (now_ms + 3600 * 1000)) <= 1);
	claim_none(w, q);
	k = ts_insert_task(ts_r, t, 2, NULL, NULL);
	assert_int_equal(enqueue_opts(q, k, -1, now_ms - 60000, 0, &er), FLOW_OK);
	assert_int_equal(claim_one(w, q, er->items[0]->id), 1);

	/* bad input */
	k = ts_insert_task(ts_r, t, 3, NULL, NULL);
	assert_req_error(ts_r, enqueue_opts(q, k, 5, now_ms, 0, &er), FLOW_INVALID_ARGUMENT,
			 "give delaySeconds or runAfter, not both");
	assert_req_error(ts_r, enqueue_opts(q, k, 31536001, 0, 0, &er), FLOW_INVALID_ARGUMENT,
			 "delaySeconds must be between 0 and 31536000 (got 31536001)");
	assert_req_error(
	    ts_r, enqueue_opts(q, k, -1, -5, 0, &er), FLOW_INVALID_ARGUMENT,
	    "runAfter must be a time in epoch milliseconds at most a year ahead (got -5)");
	assert_int_equal(enqueue_opts(q, k, -1, now_ms + 2 * 31536000000LL, 0, &er),
			 FLOW_INVALID_ARGUMENT);
	assert_req_error(ts_r, enqueue_opts(q, k, -1, 0, 101, &er), FLOW_INVALID_ARGUMENT,
			 "maxAttempts must be between 1 and 100 (got 101)");
	assert_req_error(ts_r, enqueue_opts(q, k, -1, 0, -1, &er), FLOW_INVALID_ARGUMENT,
			 "maxAttempts must be between 1 and 100 (got -1)");
}

static void test_dependency_order(void **state)
{
	int64_t p = ts_insert_project(ts_r), q, t, ka, kb, kc, a, b, c, w;
	Flow__V1__EnqueueResponse *er;
	Flow__V1__ClaimResponse *cr;
	Flow__V1__QueueItem *it;

	(void)state;
	q = make_queue(p, "deps", 10, 30, 3);
	t = ts_insert_ticket(ts_r, p, 5, NULL, NULL);
	ka = ts_insert_task(ts_r, t, 0, NULL, NULL);
	kb = ts_insert_task(ts_r, t, 1, NULL, NULL);
	kc = ts_insert_task(ts_r, t, 2, NULL, NULL);
	ts_sql_i64(ts_r, "UPDATE tasks SET dependencies = ARRAY[$2::bigint] WHERE id = $1", 2,
		   ts_i64s(kb), ts_i64s(ka));
	ts_sql_i64(ts_r,
		   "UPDATE tasks SET dependencies = ARRAY[$2::bigint, $3::bigint] WHERE id = $1", 3,
		   ts_i64s(kc), ts_i64s(ka), ts_i64s(kb));
	/* enqueued with include_tasks: ticket item first, tasks in order */
	assert_int_equal(ts_enqueue_ticket(ts_r, q, t, -1, 1, &er), FLOW_OK);
	assert_int_equal(er->n_items, 4);
	assert_false(er->items[0]->has_task_id);
	a = er->items[1]->id;
	b = er->items[2]->id;
	c = er->items[3]->id;
	assert_int_equal(er->items[3]->task_id, kc);
	w = ts_register_worker(ts_r, "noop,default");

	/* the ticket item and task a: b and c wait for their dependencies */
	assert_int_equal(ts_claim(ts_r, w, NULL, 10, q, 0, &cr), FLOW_OK);
	assert_int_equal(cr->n_items, 2);
	assert_int_equal(cr->items[1]->item->id, a);
	claim_none(w, q);
	assert_int_equal(ts_worker_complete(ts_r, w, a, 1, NULL, &it), FLOW_OK);
	assert_int_equal(claim_one(w, q, b), 1);
	claim_none(w, q);
	assert_int_equal(ts_worker_complete(ts_r, w, b, 1, NULL, &it), FLOW_OK);
	assert_int_equal(claim_one(w, q, c), 1);
}

static void test_agent_routing(void **state)
{
	int64_t p = ts_insert_project(ts_r), q, t1, t2, k1, k2, k3, k4, w_coder, w_any, w_other;
	Flow__V1__EnqueueResponse *er;
	Flow__V1__ClaimResponse *cr;
	Flow__V1__UpdateQueueRequest u = FLOW__V1__UPDATE_QUEUE_REQUEST__INIT;
	Flow__V1__Queue *qq;

	(void)state;
	q = make_queue(p, "agents", 10, 30, 3);
	t1 = ts_insert_ticket(ts_r, p, 5, "{planner}", NULL);
	t2 = ts_insert_ticket(ts_r, p, 5, NULL, NULL);
	k1 = ts_insert_task(ts_r, t1, 0, "coder", NULL); /* task agent */
	k2 = ts_insert_task(ts_r, t1, 1, NULL, NULL);	 /* ticket's first suggested agent */
	k3 = ts_insert_task(ts_r, t2, 0, NULL, NULL);	 /* queue default, later none */
	k4 = ts_insert_task(ts_r, t2, 1, NULL, NULL);

	assert_int_equal(ts_enqueue_task(ts_r, q, k1, -1, &er), FLOW_OK);
	assert_string_equal(er->items[0]->agent_id, "coder");
	assert_int_equal(ts_enqueue_task(ts_r, q, k2, -1, &er), FLOW_OK);
	assert_string_equal(er->items[0]->agent_id, "planner");
	u.has_queue_id = true;
	u.queue_id = q;
	u.default_agent_id = "reviewer";
	assert_int_equal(ts_call(ts_r, h_update_queue, &u, &qq), FLOW_OK);
	assert_string_equal(qq->default_agent_id, "reviewer");
	assert_int_equal(ts_enqueue_task(ts_r, q, k3, -1, &er), FLOW_OK);
	assert_string_equal(er->items[0]->agent_id, "reviewer");
	u.default_agent_id = "";
	assert_int_equal(ts_call(ts_r, h_update_queue, &u, &qq), FLOW_OK);
	assert_null(qq->default_agent_id);
	assert_int_equal(ts_enqueue_task(ts_r, q, k4, -1, &er), FLOW_OK);
	assert_null(er->items[0]->agent_id);

	/* a worker gets only items for its agents; items for no agent only a
	 * worker that runs "default" */
	w_other = ts_register_worker(ts_r, "translator");
	w_coder = ts_register_worker(ts_r, "coder");
	w_any = ts_register_worker(ts_r, "planner,reviewer");
	assert_int_equal(ts_claim(ts_r, w_other, NULL, 10, q, 0, &cr), FLOW_OK);
	assert_int_equal(cr->n_items, 0);
	assert_int_equal(ts_claim(ts_r, w_other, "translator,default", 10, q, 0, &cr), FLOW_OK);
	assert_int_equal(cr->n_items, 1);
	assert_int_equal(cr->items[0]->item->task_id, k4);
	assert_int_equal(ts_claim(ts_r, w_coder, NULL, 10, q, 0, &cr), FLOW_OK);
	assert_int_equal(cr->n_items, 1);
	assert_int_equal(cr->items[0]->item->task_id, k1);
	/* the claim's agents override the registered ones */
	assert_int_equal(ts_claim(ts_r, w_any, "planner", 10, q, 0, &cr), FLOW_OK);
	assert_int_equal(cr->n_items, 1);
	assert_int_equal(cr->items[0]->item->task_id, k2);
	assert_int_equal(ts_claim(ts_r, w_any, NULL, 10, q, 0, &cr), FLOW_OK);
	assert_int_equal(cr->n_items, 1);
	assert_int_equal(cr->items[0]->item->task_id, k3);
}

/* ---- ready notifications ---- */

/* Collects flow_ready notifications on pg for up to ms; *last the last
 * payload (an integer). */
static int notifications(PGconn *pg, int ms, int64_t *last)
{
	struct pollfd pfd = { .fd = PQsocket(pg), .events = POLLIN };
	int n = 0;

	for (;;) {
		PGnotify *nt;

		assert_int_equal(PQconsumeInput(pg), 1);
		while ((nt = PQnotifies(pg)) != NULL) {
			assert_string_equal(nt->relname, "flow_ready");
			*last = strtoll(nt->extra, NULL, 10);
			n++;
			PQfreemem(nt);
		}
		if (poll(&pfd, 1, ms) <= 0)
			return n;
	}
}

static void test_notify_debounced(void **state)
{
	struct flow_req *l = ts_req_connect(ts_db_url);
	PGconn *pg = store_pg(l->db);
	int64_t p = ts_insert_project(ts_r), q, t, w, last = 0;
	Flow__V1__EnqueueResponse *er;
	Flow__V1__ClaimResponse *cr;
	PGresult *res;

	(void)state;
	q = make_queue(p, "notify", 1000, 30, 3);
	t = ts_insert_ticket(ts_r, p, 5, NULL, NULL);
	ts_sql_i64(ts_r,
		   "INSERT INTO tasks (ticket_id, content, order_index)"
		   " SELECT $1, 'task ' || g, g FROM generate_series(1, 100) g",
		   1, ts_i64s(t));
	w = ts_register_worker(ts_r, "noop,default");
	res = PQexec(pg, "LISTEN flow_ready");
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);

	/* one statement, one notification: 1 ticket item + 100 task items */
	assert_int_equal(ts_enqueue_ticket(ts_r, q, t, -1, 1, &er), FLOW_OK);
	assert_int_equal(er->n_items, 101);
	assert_int_equal(notifications(pg, 300, &last), 1);
	assert_int_equal(last, 101);

	/* claims and outcomes that queue nothing notify nothing */
	assert_int_equal(ts_claim(ts_r, w, NULL, 50, q, 0, &cr), FLOW_OK);
	assert_int_equal(cr->n_items, 50);
	assert_int_equal(ts_worker_complete(ts_r, w, cr->items[0]->item->id, 1, NULL, NULL),
			 FLOW_OK);
	assert_int_equal(notifications(pg, 200, &last), 0);

	/* a delayed item is not ready: no notification; a retry is */
	assert_int_equal(enqueue_opts(q, ts_insert_task(ts_r, t, 200, NULL, NULL), 60, 0, 0, &er),
			 FLOW_OK);
	assert_int_equal(notifications(pg, 200, &last), 0);
	ts_sql_i64(ts_r,
		   "UPDATE queue_items SET status = 'failed', lease_owner = NULL,"
		   " lease_expires_at = NULL, completed_at = now() WHERE id = $1",
		   1, ts_i64s(cr->items[1]->item->id));
	{
		int64_t ids[1] = { cr->items[1]->item->id };
		Flow__V1__ItemsResponse *ir;

		assert_int_equal(retry_ids(ids, 1, 0, &ir), FLOW_OK);
	}
	assert_int_equal(notifications(pg, 300, &last), 1);
	assert_int_equal(last, 1);
	ts_req_close(l, NULL);
}

/* ---- history ---- */

/* The packed bytes of a stats message, for an exact comparison. */
static void *packed(const ProtobufCMessage *m, size_t *len)
{
	void *buf = malloc(protobuf_c_message_get_packed_size(m) + 1);

	assert_non_null(buf);
	*len = protobuf_c_message_pack(m, buf);
	return buf;
}

static void assert_same_message(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
	size_t la, lb;
	void *pa = packed(a, &la), *pb = packed(b, &lb);

	assert_int_equal(la, lb);
	assert_memory_equal(pa, pb, la);
	free(pa);
	free(pb);
}

static void stats_now(int64_t q, int64_t p, Flow__V1__QueueStats **s,
		      Flow__V1__GetAllQueueStatsResponse **all)
{
	Flow__V1__GetQueueStatsRequest g = FLOW__V1__GET_QUEUE_STATS_REQUEST__INIT;
	Flow__V1__GetAllQueueStatsRequest ga = FLOW__V1__GET_ALL_QUEUE_STATS_REQUEST__INIT;

	g.has_queue_id = ga.has_project_id = true;
	g.queue_id = q;
	ga.project_id = p;
	assert_int_equal(ts_call(ts_r, h_get_queue_stats, &g, s), FLOW_OK);
	assert_int_equal(ts_call(ts_r, h_get_all_queue_stats, &ga, all), FLOW_OK);
}

/* Claims every ready item of queue q for worker w into ids; returns how many. */
static size_t claim_all(int64_t w, int64_t q, int64_t *ids)
{
	Flow__V1__ClaimResponse *cr;

	assert_int_equal(ts_claim(ts_r, w, NULL, 100, q, 0, &cr), FLOW_OK);
	for (size_t i = 0; i < cr->n_items; i++)
		ids[i] = cr->items[i]->item->id;
	return cr->n_items;
}

static void test_prune_keeps_stats(void **state)
{
	static const char *const finals[] = { "completed", "failed", "cancelled", "dead" };
	int64_t p = ts_insert_project(ts_r), q, q2, t, w, before_rows, ids[40];
	Flow__V1__QueueStats *s1, *s2;
	Flow__V1__GetAllQueueStatsResponse *a1, *a2;
	struct rescuer_pass rp;
	size_t n;

	(void)state;
	q = make_queue(p, "history", 100, 30, 3);
	q2 = make_queue(p, "history-2", 100, 30, 3);
	t = ts_insert_ticket(ts_r, p, 5, NULL, NULL);
	w = ts_register_worker(ts_r, "noop,default");
	for (int i = 0; i < 40; i++)
		enq_task(i % 3 ? q : q2, ts_insert_task(ts_r, t, i, NULL, NULL));
	n = claim_all(w, q, ids);
	n += claim_all(w, q2, ids + n);
	assert_int_equal(n, 40);
	/* finish 36 of them, in every final state, with odd durations;
	 * the last 4 stay running */
	for (int i = 0; i < 36; i++)
		ts_sql_i64(
		    ts_r,
		    "UPDATE queue_items SET status = $2, lease_owner = NULL,"
		    " lease_expires_at = NULL, started_at = now() - interval '2 days',"
		    " completed_at = now() - interval '2 days' + $3::int * interval '1.2345 ms'"
		    " WHERE id = $1",
		    3, ts_i64s(ids[i]), finals[i % 4], ts_i64s(i * 7919));
	stats_now(q, p, &s1, &a1);
	assert_true(s1->completed_items > 0 && s1->average_processing_time > 0);
	before_rows = ts_sql_i64(ts_r, "SELECT count(*) FROM queue_items", 0);

	flow_settings.history_retention_s = 86400;
	rp = rescue();
	flow_settings.history_retention_s = 7 * 86400;
	assert_int_equal(rp.pruned, 36);
	assert_int_equal(ts_sql_i64(ts_r, "SELECT count(*) FROM queue_items", 0), before_rows - 36);
	stats_now(q, p, &s2, &a2);
	assert_same_message(&s1->base, &s2->base);
	assert_same_message(&a1->base, &a2->base);

	/* nothing left to prune; new history adds on top of the counters */
	assert_int_equal(rescue().pruned, 0);
	assert_int_equal(ts_worker_complete(ts_r, w, ids[36], 1, NULL, NULL), FLOW_OK);
	stats_now(q, p, &s2, &a2);
	assert_int_equal(s2->total_items + a2->queues[1]->total_items, 40);
	assert_int_equal(a2->total->completed_items, a1->total->completed_items + 1);
}

/* ---- the rescuer thread ---- */

static void test_rescuer_thread(void **state)
{
	int64_t p = ts_insert_project(ts_r), q, t, a, w, start;
	int32_t interval = flow_settings.rescue_interval_ms;
	struct rescuer *rs = NULL;
	char *status = NULL;

	(void)state;
	flow_settings.rescue_interval_ms = 50;
	assert_int_equal(rescuer_start("host='unterminated", &rs), FLOW_INVALID_ARGUMENT);
	assert_null(rs);

	/* a database that is not there: runs, retries, stops promptly */
	assert_int_equal(rescuer_start("postgresql://127.0.0.1:1/none?connect_timeout=1", &rs),
			 FLOW_OK);
	usleep(200 * 1000);
	start = req_now_ms();
	rescuer_stop(rs);
	assert_true(req_now_ms() - start < 2000);
	rescuer_stop(NULL);

	/* the real one: an expired lease is rescued within a few intervals */
	q = make_queue(p, "thread", 5, 30, 3);
	t = ts_insert_ticket(ts_r, p, 5, NULL, NULL);
	a = enq_task(q, ts_insert_task(ts_r, t, 0, NULL, NULL));
	w = ts_register_worker(ts_r, "noop,default");
	assert_int_equal(claim_one(w, q, a), 1);
	expire(a);
	assert_int_equal(rescuer_start(ts_db_url, &rs), FLOW_OK);
	for (int i = 0; i < 100; i++) {
		free(status);
		status = ts_sql_text(ts_r, ITEM_STATUS, 1, ts_i64s(a));
		if (strcmp(status, "queued") == 0)
			break;
		usleep(20 * 1000);
	}
	rescuer_stop(rs);
	flow_settings.rescue_interval_ms = interval;
	assert_string_equal(status, "queued");
	free(status);
}

/* ---- the rescuer racing workers ---- */

#define RACE_THREADS 6
#define RACE_ITEMS 240
#define RACE_SECONDS_MAX 90

static struct {
	int64_t queue, first;
	atomic_int claims[RACE_ITEMS];
	atomic_int completes[RACE_ITEMS];
	atomic_int completed, errors, stop;
	char error[600];
} R;

static int64_t race_now_s(void)
{
	return (int64_t)time(NULL);
}

/* Completes claimed item it as worker w after letting its lease run out
 * within 0-15 ms, while the rescuer is busy. */
static void race_finish(struct flow_req *r, int64_t w, const Flow__V1__QueueItem *it,
			unsigned *seed)
{
	Flow__V1__CompleteRequest c = FLOW__V1__COMPLETE_REQUEST__INIT;
	char ms[16], id[24];
	const char *p[2] = { ms, id };
	ProtobufCMessage *out;
	PGresult *res;
	int rv;

	snprintf(ms, sizeof(ms), "%u", rand_r(seed) % 15);
	snprintf(id, sizeof(id), "%" PRId64, it->id);
	res = PQexecParams(store_pg(r->db),
			   "UPDATE queue_items SET lease_expires_at = clock_timestamp()"
			   " + $1::int * interval '1 ms' WHERE id = $2 AND status = 'in_progress'",
			   2, NULL, p, NULL, NULL, 0);
	PQclear(res);
	usleep((useconds_t)(rand_r(seed) % 15) * 1000);
	c.has_worker_id = c.has_queue_item_id = c.has_attempt = true;
	c.worker_id = w;
	c.queue_item_id = it->id;
	c.attempt = it->attempt;
	rv = h_worker_complete(r, &c.base, &out);
	if (rv == FLOW_OK) {
		atomic_fetch_add(&R.completes[it->id - R.first], 1);
		atomic_fetch_add(&R.completed, 1);
	} else if (rv != FLOW_FAILED_PRECONDITION && atomic_fetch_add(&R.errors, 1) == 0) {
		snprintf(R.error, sizeof(R.error), "complete: %d %s", rv, r->message);
	}
	r->message[0] = '\0';
}

static void *race_worker(void *arg)
{
	struct flow_req *r = ts_req_connect(arg);
	Flow__V1__RegisterWorkerRequest reg = FLOW__V1__REGISTER_WORKER_REQUEST__INIT;
	Flow__V1__ClaimRequest c = FLOW__V1__CLAIM_REQUEST__INIT;
	char *agents[2] = { "noop", "default" };
	ProtobufCMessage *out;
	unsigned seed = (unsigned)(uintptr_t)r;
	int64_t w;

	reg.name = "racer";
	reg.agent_ids = agents;
	reg.n_agent_ids = 2;
	if (h_register_worker(r, &reg.base, &out) != FLOW_OK)
		goto fail;
	w = ((Flow__V1__RegisterWorkerResponse *)out)->worker_id;
	c.has_worker_id = c.has_max_items = c.has_queue_id = true;
	c.worker_id = w;
	c.max_items = 4;
	c.queue_id = R.queue;
	while (!atomic_load(&R.stop)) {
		Flow__V1__ClaimResponse *cr;

		arena_reset(r->arena);
		if (h_claim(r, &c.base, &out) != FLOW_OK)
			goto fail;
		cr = (Flow__V1__ClaimResponse *)out;
		for (size_t i = 0; i < cr->n_items; i++)
			atomic_fetch_add(&R.claims[cr->items[i]->item->id - R.first], 1);
		for (size_t i = 0; i < cr->n_items; i++)
			race_finish(r, w, cr->items[i]->item, &seed);
		if (cr->n_items == 0)
			usleep(2000);
	}
	ts_req_close(r, NULL);
	return NULL;
fail:
	if (atomic_fetch_add(&R.errors, 1) == 0)
		snprintf(R.error, sizeof(R.error), "worker: %s", r->message);
	ts_req_close(r, NULL);
	return NULL;
}

static void *race_rescuer(void *arg)
{
	struct flow_req *r = ts_req_connect(arg);
	struct rescuer_pass p;

	while (!atomic_load(&R.stop)) {
		if (rescuer_run_once(r, &p) != FLOW_OK && atomic_fetch_add(&R.errors, 1) == 0)
			snprintf(R.error, sizeof(R.error), "rescuer: %s", r->message);
		arena_reset(r->arena);
		usleep(500);
	}
	ts_req_close(r, NULL);
	return NULL;
}

static void test_rescuer_races_complete(void **state)
{
	int64_t p = ts_insert_project(ts_r), t, deadline;
	pthread_t th[RACE_THREADS + 1];
	int64_t rescued;

	(void)state;
	flow_settings.retry_base_ms = 1;
	flow_settings.retry_max_ms = 5;
	R.queue = make_queue(p, "race", 1000, 30, 100);
	t = ts_insert_ticket(ts_r, p, 5, NULL, NULL);
	for (int i = 0; i < RACE_ITEMS; i++) {
		int64_t id = enq_task(R.queue, ts_insert_task(ts_r, t, i, NULL, NULL));

		if (i == 0)
			R.first = id;
		assert_int_equal(id, R.first + i);
	}
	for (int i = 0; i < RACE_THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, race_worker, ts_db_url), 0);
	assert_int_equal(pthread_create(&th[RACE_THREADS], NULL, race_rescuer, ts_db_url), 0);
	deadline = race_now_s() + RACE_SECONDS_MAX;
	while (atomic_load(&R.completed) < RACE_ITEMS && atomic_load(&R.errors) == 0 &&
	       race_now_s() < deadline)
		usleep(10000);
	atomic_store(&R.stop, 1);
	for (int i = 0; i <= RACE_THREADS; i++)
		pthread_join(th[i], NULL);
	flow_settings.retry_base_ms = 200;
	flow_settings.retry_max_ms = 1000;
	if (atomic_load(&R.errors) > 0)
		fail_msg("%s", R.error);

	/* every item: completed exactly once, attempt = times handed out */
	assert_int_equal(atomic_load(&R.completed), RACE_ITEMS);
	for (int i = 0; i < RACE_ITEMS; i++) {
		char *row = ts_sql_text(ts_r,
					"SELECT status || ' ' || attempt || ' ' ||"
					" (lease_owner IS NULL) FROM queue_items WHERE id = $1",
					1, ts_i64s(R.first + i));
		char want[64];

		assert_int_equal(atomic_load(&R.completes[i]), 1);
		snprintf(want, sizeof(want), "completed %d true", atomic_load(&R.claims[i]));
		assert_string_equal(row, want);
		free(row);
	}
	assert_int_equal(ts_sql_i64(ts_r,
				    "SELECT count(*) FROM tasks WHERE ticket_id = $1"
				    " AND status = 'completed'",
				    1, ts_i64s(t)),
			 RACE_ITEMS);
	/* the race really happened: some items were rescued and re-delivered */
	rescued = ts_sql_i64(ts_r,
			     "SELECT count(*) FROM queue_items WHERE queue_id = $1"
			     " AND attempt > 1",
			     1, ts_i64s(R.queue));
	print_message("race: %" PRId64 " of %d items were rescued and handed out again\n", rescued,
		      RACE_ITEMS);
	assert_true(rescued > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_lifecycle_and_forbidden, ts_test_reset),
		cmocka_unit_test_setup(test_retry_cancel_bad_input, ts_test_reset),
		cmocka_unit_test_setup(test_lease_expiry_rescue, ts_test_reset),
		cmocka_unit_test_setup(test_backoff_is_capped, ts_test_reset),
		cmocka_unit_test_setup(test_stale_complete_after_redelivery, ts_test_reset),
		cmocka_unit_test_setup(test_retryable_fail_then_success, ts_test_reset),
		cmocka_unit_test_setup(test_dead_redrive_complete, ts_test_reset),
		cmocka_unit_test_setup(test_cancel_queued, ts_test_reset),
		cmocka_unit_test_setup(test_delayed_items, ts_test_reset),
		cmocka_unit_test_setup(test_dependency_order, ts_test_reset),
		cmocka_unit_test_setup(test_agent_routing, ts_test_reset),
		cmocka_unit_test_setup(test_notify_debounced, ts_test_reset),
		cmocka_unit_test_setup(test_prune_keeps_stats, ts_test_reset),
		cmocka_unit_test_setup(test_rescuer_thread, ts_test_reset),
		cmocka_unit_test_setup(test_rescuer_races_complete, ts_test_reset),
	};

	return cmocka_run_group_tests(tests, group_setup, ts_group_teardown);
}
