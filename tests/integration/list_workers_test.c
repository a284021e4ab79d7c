/*
 * list_workers_test.c - FlowManager.ListWorkers on a real PostgreSQL,
 * through its handler (and so store_worker_list): the connected window,
 * disconnected workers, the items each worker runs (and only those leased
 * to it), the limit and truncation, and argument checks. Who may call it
 * (admins only) is tested in integration.guard.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flow/v1/flow_manager.pb-c.h"
#include "flow/v1/worker.pb-c.h"
#include "services/handlers.h"
#include "status.h"
#include "ts_store.h"

/* ---- helpers ---- */

/* ListWorkers; seen 0 / limit 0: not given. */
static int list(int seen, bool all, int limit, Flow__V1__ListWorkersResponse **res)
{
	Flow__V1__ListWorkersRequest q = FLOW__V1__LIST_WORKERS_REQUEST__INIT;

	q.has_seen_within_s = seen != 0;
	q.seen_within_s = seen;
	q.has_include_disconnected = all;
	q.include_disconnected = all;
	q.has_limit = limit != 0;
	q.limit = limit;
	return ts_call(ts_r, h_list_workers, &q, res);
}

static Flow__V1__ListWorkersResponse *list_ok(int seen, bool all, int limit)
{
	Flow__V1__ListWorkersResponse *res = NULL;

	assert_int_equal(list(seen, all, limit, &res), FLOW_OK);
	assert_non_null(res);
	assert_true(res->has_now && res->now > 0);
	assert_true(res->has_truncated);
	assert_true(res->has_seen_within_s);
	return res;
}

/* The worker with id in res, or NULL. */
static const Flow__V1__WorkerInfo *find(const Flow__V1__ListWorkersResponse *res, int64_t id)
{
	for (size_t i = 0; i < res->n_workers; i++)
		if (res->workers[i]->id == id)
			return res->workers[i];
	return NULL;
}

/* Makes worker id last seen `ago` seconds ago. */
static void seen_ago(int64_t id, int ago)
{
	ts_sql_i64(ts_r,
		   "UPDATE workers SET last_seen_at = now() - make_interval(secs => $2::int)"
		   " WHERE id = $1",
		   2, ts_i64s(id), ts_i64s(ago));
}

static int64_t enqueue_task(int64_t queue, int64_t task)
{
	Flow__V1__EnqueueResponse *res;

	assert_int_equal(ts_enqueue_task(ts_r, queue, task, -1, &res), FLOW_OK);
	return res->items[0]->id;
}

/* Each test starts without workers (the database is shared by the group). */
static int fresh(void **state)
{
	ts_test_reset(state);
	ts_sql_i64(ts_r, "DELETE FROM workers", 0);
	ts_sql_i64(ts_r, "DELETE FROM queue_items", 0);
	return 0;
}

/* ---- tests ---- */

static void test_empty(void **state)
{
	Flow__V1__ListWorkersResponse *res = list_ok(0, false, 0);
	int64_t db_now = ts_sql_i64(ts_r, "SELECT flow_ms(now())", 0);

	(void)state;
	assert_int_equal(res->n_workers, 0);
	assert_false(res->truncated);
	assert_int_equal(res->seen_within_s, 60);
	/* the database's clock, not the client's */
	assert_true(res->now <= db_now && res->now > db_now - 60000);
	res = list_ok(0, true, 0);
	assert_int_equal(res->n_workers, 0);
}

static void test_connected_window(void **state)
{
	int64_t a = ts_register_worker(ts_r, "noop,coder");
	int64_t b = ts_register_worker(ts_r, "noop");
	int64_t c = ts_register_worker(ts_r, "coder");
	Flow__V1__ListWorkersResponse *res;
	const Flow__V1__WorkerInfo *w;

	(void)state;
	seen_ago(b, 120);
	seen_ago(c, 30);

	/* default: seen within 60 s, connected ones only, by id */
	res = list_ok(0, false, 0);
	assert_int_equal(res->n_workers, 2);
	assert_int_equal(res->workers[0]->id, a);
	assert_int_equal(res->workers[1]->id, c);
	w = res->workers[0];
	assert_string_equal(w->name, "test-worker");
	assert_int_equal(w->n_agent_ids, 2);
	assert_string_equal(w->agent_ids[0], "noop");
	assert_string_equal(w->agent_ids[1], "coder");
	assert_true(w->has_capacity && w->capacity == 4);
	assert_true(w->has_connected && w->connected);
	assert_true(w->registered_at > 0 && w->last_seen_at >= w->registered_at);
	assert_true(w->last_seen_at <= res->now);
	assert_int_equal(w->n_items, 0);
	assert_true(res->workers[1]->last_seen_at <= res->now - 29000);

	/* every worker, each with its flag */
	res = list_ok(0, true, 0);
	assert_int_equal(res->n_workers, 3);
	assert_true(find(res, a)->connected);
	assert_false(find(res, b)->connected);
	assert_true(find(res, c)->connected);

	/* a narrower window */
	res = list_ok(10, true, 0);
	assert_int_equal(res->seen_within_s, 10);
	assert_true(find(res, a)->connected);
	assert_false(find(res, c)->connected);
	res = list_ok(10, false, 0);
	assert_int_equal(res->n_workers, 1);
	assert_int_equal(res->workers[0]->id, a);

	/* a wider one */
	res = list_ok(300, false, 0);
	assert_int_equal(res->n_workers, 3);

	/* a heartbeat (here: a claim) makes a worker connected again */
	assert_int_equal(ts_claim(ts_r, b, NULL, 1, 0, 0, NULL), FLOW_OK);
	res = list_ok(0, false, 0);
	assert_int_equal(res->n_workers, 3);
}

static void test_items(void **state)
{
	int64_t p = ts_insert_project(ts_r);
	int64_t q = ts_create_queue(ts_r, p, "lw-items", 10);
	int64_t t1 = ts_insert_ticket(ts_r, p, 5, NULL, NULL);
	int64_t t2 = ts_insert_ticket(ts_r, p, 5, NULL, NULL);
	int64_t k1 = ts_insert_task(ts_r, t1, 0, "coder", NULL);
	int64_t k2 = ts_insert_task(ts_r, t1, 1, "coder", NULL);
	int64_t k3 = ts_insert_task(ts_r, t1, 2, "coder", NULL);
	int64_t i1 = enqueue_task(q, k1), i2 = enqueue_task(q, k2), i3 = enqueue_task(q, k3);
	int64_t a = ts_register_worker(ts_r, "coder");
	int64_t idle = ts_register_worker(ts_r, "coder");
	int64_t d = ts_register_worker(ts_r, "default");
	Flow__V1__ClaimResponse *cl;
	Flow__V1__EnqueueResponse *en;
	Flow__V1__ListWorkersResponse *res;
	const Flow__V1__WorkerInfo *w;
	const Flow__V1__WorkerItem *it;
	int64_t ti;

	(void)state;
	assert_int_equal(ts_claim(ts_r, a, NULL, 2, q, 0, &cl), FLOW_OK);
	assert_int_equal(cl->n_items, 2);
	/* a ticket item naming no agent goes to the worker running "default" */
	assert_int_equal(ts_enqueue_ticket(ts_r, q, t2, -1, 0, &en), FLOW_OK);
	ti = en->items[0]->id;
	assert_int_equal(ts_claim(ts_r, d, NULL, 1, q, 0, &cl), FLOW_OK);
	assert_int_equal(cl->n_items, 1);
	/* the third task, taken by an AI client (GetNext): leased to no worker */
	assert_true(ts_get_next(ts_r, q, "coder")->found);

	res = list_ok(0, false, 0);
	assert_int_equal(res->n_workers, 3);
	w = find(res, a);
	assert_int_equal(w->n_items, 2);
	it = w->items[0];
	assert_int_equal(it->queue_item_id, i1);
	assert_int_equal(w->items[1]->queue_item_id, i2);
	assert_int_equal(it->queue_id, q);
	assert_int_equal(it->ticket_id, t1);
	assert_true(it->has_task_id && it->task_id == k1);
	assert_int_equal(w->items[1]->task_id, k2);
	assert_string_equal(it->agent_id, "coder");
	assert_true(it->has_attempt && it->attempt == 1);
	assert_true(it->started_at > 0 && it->started_at <= res->now);
	assert_true(it->lease_expires_at > it->started_at);
	assert_int_equal(find(res, idle)->n_items, 0);
	w = find(res, d);
	assert_int_equal(w->n_items, 1);
	assert_int_equal(w->items[0]->queue_item_id, ti);
	assert_int_equal(w->items[0]->ticket_id, t2);
	assert_false(w->items[0]->has_task_id);
	assert_string_equal(w->items[0]->agent_id, "default");
	/* i3 is in progress, but under the processor's lease: nobody's here */
	assert_int_equal(ts_sql_i64(ts_r,
				    "SELECT count(*) FROM queue_items"
				    " WHERE id = $1 AND status = 'in_progress'",
				    1, ts_i64s(i3)),
			 1);

	/* a finished item leaves the list; so does a worker's item once re-delivered */
	assert_int_equal(ts_worker_complete(ts_r, a, i1, 1, "ok", NULL), FLOW_OK);
	ts_sql_i64(ts_r, "UPDATE queue_items SET lease_owner = 'worker:0' WHERE id = $1", 1,
		   ts_i64s(i2));
	res = list_ok(0, false, 0);
	assert_int_equal(find(res, a)->n_items, 0);
	assert_int_equal(find(res, d)->n_items, 1);

	/* a disconnected worker still shows what it holds */
	seen_ago(d, 600);
	res = list_ok(0, false, 0);
	assert_null(find(res, d));
	res = list_ok(0, true, 0);
	w = find(res, d);
	assert_false(w->connected);
	assert_int_equal(w->n_items, 1);
}

static void test_limit(void **state)
{
	int64_t ids[5];
	Flow__V1__ListWorkersResponse *res;
	int64_t p = ts_insert_project(ts_r);
	int64_t q = ts_create_queue(ts_r, p, "lw-limit", 10);
	int64_t t = ts_insert_ticket(ts_r, p, 5, NULL, NULL);

	(void)state;
	for (int i = 0; i < 5; i++)
		ids[i] = ts_register_worker(ts_r, "coder");
	/* items do not count against the limit: it is of workers */
	for (int i = 0; i < 3; i++)
		enqueue_task(q, ts_insert_task(ts_r, t, i, "coder", NULL));
	assert_int_equal(ts_claim(ts_r, ids[0], NULL, 3, q, 0, NULL), FLOW_OK);

	res = list_ok(0, false, 2);
	assert_int_equal(res->n_workers, 2);
	assert_true(res->truncated);
	assert_int_equal(res->workers[0]->id, ids[0]);
	assert_int_equal(res->workers[0]->n_items, 3);
	assert_int_equal(res->workers[1]->id, ids[1]);
	res = list_ok(0, false, 5);
	assert_int_equal(res->n_workers, 5);
	assert_false(res->truncated);
	res = list_ok(0, false, 1);
	assert_int_equal(res->n_workers, 1);
	assert_true(res->truncated);
	assert_int_equal(res->workers[0]->n_items, 3);
}

static void test_bad_arguments(void **state)
{
	(void)state;
	assert_req_error(ts_r, list(-1, false, 0, NULL), FLOW_INVALID_ARGUMENT,
			 "seenWithinS must be between 1 and 86400 (got -1)");
	assert_req_error(ts_r, list(86401, false, 0, NULL), FLOW_INVALID_ARGUMENT,
			 "seenWithinS must be between 1 and 86400 (got 86401)");
	assert_req_error(ts_r, list(0, false, 10001, NULL), FLOW_INVALID_ARGUMENT,
			 "limit must be between 1 and 10000 (got 10001)");
	assert_req_error(ts_r, list(0, false, -5, NULL), FLOW_INVALID_ARGUMENT,
			 "limit must be between 1 and 10000 (got -5)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_empty, fresh),
		cmocka_unit_test_setup(test_connected_window, fresh),
		cmocka_unit_test_setup(test_items, fresh),
		cmocka_unit_test_setup(test_limit, fresh),
		cmocka_unit_test_setup(test_bad_arguments, fresh),
	};

	return cmocka_run_group_tests(tests, ts_group_setup, ts_group_teardown);
}
