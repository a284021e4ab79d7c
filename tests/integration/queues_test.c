/*
 * queues_test.c - queue CRUD, enqueue/dequeue and queue statistics on a real
 * PostgreSQL, through the FlowManager handlers. Projects, tickets and tasks
 * are made with plain SQL so these tests do not depend on their handlers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "flow/v1/flow_manager.pb-c.h"
#include "services/handlers.h"
#include "status.h"
#include "ts_store.h"

/* ---- helpers ---- */

static int64_t count_items(void)
{
	return ts_sql_i64(ts_r, "SELECT count(*) FROM queue_items", 0);
}

static int64_t count_queues(int64_t project)
{
	return ts_sql_i64(ts_r, "SELECT count(*) FROM queues WHERE project_id = $1", 1,
			  ts_i64s(project));
}

/* A fingerprint of a queue row, to check a rejected call changed nothing. */
static char *queue_row(int64_t id)
{
	return ts_sql_text(ts_r, "SELECT q::text FROM queues q WHERE id = $1", 1, ts_i64s(id));
}

static char *items_rows(void)
{
	return ts_sql_text(
	    ts_r, "SELECT coalesce(string_agg(i::text, ';' ORDER BY id), '') FROM queue_items i",
	    0);
}

/* ---- queue CRUD ---- */

static void test_queue_crud(void **state)
{
	int64_t p = ts_insert_project(ts_r);
	Flow__V1__CreateQueueRequest c = FLOW__V1__CREATE_QUEUE_REQUEST__INIT;
	Flow__V1__UpdateQueueRequest u = FLOW__V1__UPDATE_QUEUE_REQUEST__INIT;
	Flow__V1__GetQueueRequest g = FLOW__V1__GET_QUEUE_REQUEST__INIT;
	Flow__V1__ListQueuesRequest l = FLOW__V1__LIST_QUEUES_REQUEST__INIT;
	Flow__V1__DeleteQueueRequest d = FLOW__V1__DELETE_QUEUE_REQUEST__INIT;
	Flow__V1__Queue *q, *q2;
	Flow__V1__ListQueuesResponse *lr;
	Flow__V1__DeleteResponse *dr;
	int64_t id;

	(void)state;
	c.has_project_id = true;
	c.project_id = p;
	c.name = "Security Hardening";
	assert_int_equal(ts_call(ts_r, h_create_queue, &c, &q), FLOW_OK);
	assert_true(q->has_id && q->id > 0);
	assert_true(q->has_project_id && q->has_max_parallel_items && q->has_is_active);
	assert_true(q->has_lease_seconds && q->has_max_attempts && q->has_created &&
		    q->has_updated);
	assert_int_equal(q->project_id, p);
	assert_string_equal(q->name, "Security Hardening");
	assert_string_equal(q->description, "");
	assert_int_equal(q->max_parallel_items, 1);
	assert_true(q->is_active);
	assert_int_equal(q->lease_seconds, 30);
	assert_int_equal(q->max_attempts, 3);
	assert_true(q->created > 1600000000000LL);
	id = q->id;

	/* explicit settings; SQL metacharacters are stored verbatim */
	c.name = "'); DROP TABLE queues; --";
	c.description = "quotes ' \" and \\ backslash";
	c.has_max_parallel_items = c.has_lease_seconds = c.has_max_attempts = true;
	c.max_parallel_items = 10000;
	c.lease_seconds = 86400;
	c.max_attempts = 100;
	assert_int_equal(ts_call(ts_r, h_create_queue, &c, &q2), FLOW_OK);
	assert_string_equal(q2->name, "'); DROP TABLE queues; --");
	assert_string_equal(q2->description, "quotes ' \" and \\ backslash");
	assert_int_equal(q2->max_parallel_items, 10000);
	assert_int_equal(q2->lease_seconds, 86400);
	assert_int_equal(q2->max_attempts, 100);

	g.has_queue_id = true;
	g.queue_id = q2->id;
	assert_int_equal(ts_call(ts_r, h_get_queue, &g, &q), FLOW_OK);
	assert_string_equal(q->name, "'); DROP TABLE queues; --");
	assert_int_equal(q->id, q2->id);

	l.has_project_id = true;
	l.project_id = p;
	assert_int_equal(ts_call(ts_r, h_list_queues, &l, &lr), FLOW_OK);
	assert_int_equal(lr->n_queues, 2);
	assert_int_equal(lr->queues[0]->id, id);
	assert_int_equal(lr->queues[1]->id, q2->id);

	/* update: only present fields change */
	u.has_queue_id = true;
	u.queue_id = id;
	u.description = "new description";
	u.has_max_parallel_items = true;
	u.max_parallel_items = 4;
	assert_int_equal(ts_call(ts_r, h_update_queue, &u, &q), FLOW_OK);
	assert_string_equal(q->name, "Security Hardening");
	assert_string_equal(q->description, "new description");
	assert_int_equal(q->max_parallel_items, 4);
	assert_int_equal(q->lease_seconds, 30);
	assert_true(q->is_active);

	/* pause, resume */
	u = (Flow__V1__UpdateQueueRequest)FLOW__V1__UPDATE_QUEUE_REQUEST__INIT;
	u.has_queue_id = u.has_is_active = true;
	u.queue_id = id;
	u.is_active = false;
	assert_int_equal(ts_call(ts_r, h_update_queue, &u, &q), FLOW_OK);
	assert_false(q->is_active);
	assert_int_equal(q->max_parallel_items, 4);
	assert_false(
	    ts_sql_i64(ts_r, "SELECT is_active::int FROM queues WHERE id = $1", 1, ts_i64s(id)));
	u.is_active = true;
	assert_int_equal(ts_call(ts_r, h_update_queue, &u, &q), FLOW_OK);
	assert_true(q->is_active);

	/* rename, then the other settings */
	u.has_is_active = false;
	u.name = "Renamed";
	u.has_lease_seconds = u.has_max_attempts = true;
	u.lease_seconds = 1;
	u.max_attempts = 1;
	assert_int_equal(ts_call(ts_r, h_update_queue, &u, &q), FLOW_OK);
	assert_string_equal(q->name, "Renamed");
	assert_int_equal(q->lease_seconds, 1);
	assert_int_equal(q->max_attempts, 1);

	/* delete cascades the items */
	ts_enqueue_ticket(ts_r, id, ts_insert_ticket(ts_r, p, 5, NULL, NULL), -1, false, NULL);
	assert_int_equal(ts_sql_i64(ts_r, "SELECT count(*) FROM queue_items WHERE queue_id = $1", 1,
				    ts_i64s(id)),
			 1);
	d.has_queue_id = true;
	d.queue_id = id;
	assert_int_equal(ts_call(ts_r, h_delete_queue, &d, &dr), FLOW_OK);
	assert_true(dr->has_deleted && dr->deleted);
	assert_true(dr->has_id);
	assert_int_equal(dr->id, id);
	assert_int_equal(ts_sql_i64(ts_r, "SELECT count(*) FROM queue_items WHERE queue_id = $1", 1,
				    ts_i64s(id)),
			 0);
	g.queue_id = id;
	assert_req_error(ts_r, ts_call(ts_r, h_get_queue, &g, &q), FLOW_NOT_FOUND,
			 arena_printf(ts_r->arena, "queue %" PRId64 " not found", id));
	assert_req_error(ts_r, ts_call(ts_r, h_delete_queue, &d, &dr), FLOW_NOT_FOUND,
			 arena_printf(ts_r->arena, "queue %" PRId64 " not found", id));
	assert_int_equal(count_queues(p), 1);
}

static void test_queue_duplicate_name(void **state)
{
	int64_t p = ts_insert_project(ts_r), p2 = ts_insert_project(ts_r), a, b;
	Flow__V1__CreateQueueRequest c = FLOW__V1__CREATE_QUEUE_REQUEST__INIT;
	Flow__V1__UpdateQueueRequest u = FLOW__V1__UPDATE_QUEUE_REQUEST__INIT;
	Flow__V1__Queue *q;
	char *before;

	(void)state;
	a = ts_create_queue(ts_r, p, "dup", 0);
	c.has_project_id = true;
	c.project_id = p;
	c.name = "dup";
	c.description = "second";
	assert_req_error(ts_r, ts_call(ts_r, h_create_queue, &c, &q), FLOW_ALREADY_EXISTS,
			 arena_printf(ts_r->arena,
				      "a queue named \"dup\" already exists in project %" PRId64,
				      p));
	assert_int_equal(count_queues(p), 1);
	assert_int_equal(
	    ts_sql_i64(ts_r, "SELECT count(*) FROM queues WHERE description = 'second'", 0), 0);

	/* the same name in another project is fine */
	assert_true(ts_create_queue(ts_r, p2, "dup", 0) > a);

	/* renaming onto a taken name */
	b = ts_create_queue(ts_r, p, "other", 0);
	before = queue_row(b);
	u.has_queue_id = true;
	u.queue_id = b;
	u.name = "dup";
	assert_req_error(ts_r, ts_call(ts_r, h_update_queue, &u, &q), FLOW_ALREADY_EXISTS,
			 arena_printf(ts_r->arena,
				      "a queue named \"dup\" already exists in project %" PRId64,
				      p));
	ts_assert_unchanged(queue_row(b), before);
	free(before);
}

static void test_queue_bad_input(void **state)
{
	int64_t p = ts_insert_project(ts_r), qid = ts_create_queue(ts_r, p, "q", 0);
	Flow__V1__CreateQueueRequest c = FLOW__V1__CREATE_QUEUE_REQUEST__INIT;
	Flow__V1__UpdateQueueRequest u = FLOW__V1__UPDATE_QUEUE_REQUEST__INIT;
	Flow__V1__GetQueueRequest g = FLOW__V1__GET_QUEUE_REQUEST__INIT;
	Flow__V1__ListQueuesRequest l = FLOW__V1__LIST_QUEUES_REQUEST__INIT;
	Flow__V1__DeleteQueueRequest d = FLOW__V1__DELETE_QUEUE_REQUEST__INIT;
	Flow__V1__ListQueuesResponse *lr;
	char *long_name = ts_repeat("n", 201), *long_desc = ts_repeat("d", 65537);
	char *ok_name = ts_repeat("n", 200), *before = queue_row(qid);
	char name200[801];
	Flow__V1__Queue *q;

	(void)state;
	/* create */
	c.name = "x";
	assert_req_error(ts_r, ts_call(ts_r, h_create_queue, &c, &q), FLOW_INVALID_ARGUMENT,
			 "projectId must be a positive integer");
	c.has_project_id = true;
	c.project_id = 0;
	assert_req_error(ts_r, ts_call(ts_r, h_create_queue, &c, &q), FLOW_INVALID_ARGUMENT,
			 "projectId must be a positive integer");
	c.project_id = -3;
	assert_req_error(ts_r, ts_call(ts_r, h_create_queue, &c, &q), FLOW_INVALID_ARGUMENT,
			 "projectId must be a positive integer");
	c.project_id = 999999;
	assert_req_error(ts_r, ts_call(ts_r, h_create_queue, &c, &q), FLOW_NOT_FOUND,
			 "project 999999 not found");
	c.project_id = p;
	c.name = NULL;
	assert_req_error(ts_r, ts_call(ts_r, h_create_queue, &c, &q), FLOW_INVALID_ARGUMENT,
			 "name is required");
	c.name = "";
	assert_req_error(ts_r, ts_call(ts_r, h_create_queue, &c, &q), FLOW_INVALID_ARGUMENT,
			 "name is required");
	c.name = "  \t ";
	assert_req_error(ts_r, ts_call(ts_r, h_create_queue, &c, &q), FLOW_INVALID_ARGUMENT,
			 "name is required");
	c.name = long_name;
	assert_req_error(ts_r, ts_call(ts_r, h_create_queue, &c, &q), FLOW_INVALID_ARGUMENT,
			 "name is longer than 200 characters");
	c.name = "fine";
	c.description = long_desc;
	assert_req_error(ts_r, ts_call(ts_r, h_create_queue, &c, &q), FLOW_INVALID_ARGUMENT,
			 "description is longer than 65536 characters");
	c.description = NULL;
	c.has_max_parallel_items = true;
	c.max_parallel_items = 0;
	assert_req_error(ts_r, ts_call(ts_r, h_create_queue, &c, &q), FLOW_INVALID_ARGUMENT,
			 "maxParallelItems must be between 1 and 10000 (got 0)");
	c.max_parallel_items = 10001;
	assert_req_error(ts_r, ts_call(ts_r, h_create_queue, &c, &q), FLOW_INVALID_ARGUMENT,
			 "maxParallelItems must be between 1 and 10000 (got 10001)");
	c.max_parallel_items = 2;
	c.has_lease_seconds = true;
	c.lease_seconds = 0;
	assert_req_error(ts_r, ts_call(ts_r, h_create_queue, &c, &q), FLOW_INVALID_ARGUMENT,
			 "leaseSeconds must be between 1 and 86400 (got 0)");
	c.lease_seconds = 86401;
	assert_req_error(ts_r, ts_call(ts_r, h_create_queue, &c, &q), FLOW_INVALID_ARGUMENT,
			 "leaseSeconds must be between 1 and 86400 (got 86401)");
	c.lease_seconds = 60;
	c.has_max_attempts = true;
	c.max_attempts = 0;
	assert_req_error(ts_r, ts_call(ts_r, h_create_queue, &c, &q), FLOW_INVALID_ARGUMENT,
			 "maxAttempts must be between 1 and 100 (got 0)");
	c.max_attempts = 101;
	assert_req_error(ts_r, ts_call(ts_r, h_create_queue, &c, &q), FLOW_INVALID_ARGUMENT,
			 "maxAttempts must be between 1 and 100 (got 101)");
	assert_int_equal(count_queues(p), 1);
	/* 200 characters is fine, counted as characters, not bytes */
	c.max_attempts = 100;
	c.name = ok_name;
	assert_int_equal(ts_call(ts_r, h_create_queue, &c, &q), FLOW_OK);
	name200[0] = '\0';
	for (int i = 0; i < 200; i++)
		strcat(name200, "\xc3\xa9"); /* é */
	c.name = name200;
	assert_int_equal(ts_call(ts_r, h_create_queue, &c, &q), FLOW_OK);
	assert_string_equal(q->name, name200);
	assert_int_equal(count_queues(p), 3);

	/* list, get, delete */
	assert_req_error(ts_r, ts_call(ts_r, h_list_queues, &l, &lr), FLOW_INVALID_ARGUMENT,
			 "projectId must be a positive integer");
	l.has_project_id = true;
	l.project_id = 999999;
	assert_req_error(ts_r, ts_call(ts_r, h_list_queues, &l, &lr), FLOW_NOT_FOUND,
			 "project 999999 not found");
	l.project_id = ts_insert_project(ts_r);
	assert_int_equal(ts_call(ts_r, h_list_queues, &l, &lr), FLOW_OK);
	assert_int_equal(lr->n_queues, 0);
	assert_req_error(ts_r, ts_call(ts_r, h_get_queue, &g, &q), FLOW_INVALID_ARGUMENT,
			 "queueId must be a positive integer");
	g.has_queue_id = true;
	g.queue_id = -1;
	assert_req_error(ts_r, ts_call(ts_r, h_get_queue, &g, &q), FLOW_INVALID_ARGUMENT,
			 "queueId must be a positive integer");
	g.queue_id = 999999;
	assert_req_error(ts_r, ts_call(ts_r, h_get_queue, &g, &q), FLOW_NOT_FOUND,
			 "queue 999999 not found");
	assert_req_error(ts_r, ts_call(ts_r, h_delete_queue, &d, NULL), FLOW_INVALID_ARGUMENT,
			 "queueId must be a positive integer");
	d.has_queue_id = true;
	d.queue_id = 999999;
	assert_req_error(ts_r, ts_call(ts_r, h_delete_queue, &d, NULL), FLOW_NOT_FOUND,
			 "queue 999999 not found");

	/* update */
	assert_req_error(ts_r, ts_call(ts_r, h_update_queue, &u, &q), FLOW_INVALID_ARGUMENT,
			 "queueId must be a positive integer");
	u.has_queue_id = true;
	u.queue_id = qid;
	assert_req_error(ts_r, ts_call(ts_r, h_update_queue, &u, &q), FLOW_INVALID_ARGUMENT,
			 "nothing to update: give at least one of name, description, "
			 "maxParallelItems, isActive, leaseSeconds, maxAttempts, defaultAgentId");
	u.name = "";
	assert_req_error(ts_r, ts_call(ts_r, h_update_queue, &u, &q), FLOW_INVALID_ARGUMENT,
			 "name is required");
	u.name = long_name;
	assert_req_error(ts_r, ts_call(ts_r, h_update_queue, &u, &q), FLOW_INVALID_ARGUMENT,
			 "name is longer than 200 characters");
	u.name = NULL;
	u.description = long_desc;
	assert_req_error(ts_r, ts_call(ts_r, h_update_queue, &u, &q), FLOW_INVALID_ARGUMENT,
			 "description is longer than 65536 characters");
	u.description = NULL;
	u.has_max_parallel_items = true;
	u.max_parallel_items = -5;
	assert_req_error(ts_r, ts_call(ts_r, h_update_queue, &u, &q), FLOW_INVALID_ARGUMENT,
			 "maxParallelItems must be between 1 and 10000 (got -5)");
	u.has_max_parallel_items = false;
	u.has_lease_seconds = true;
	u.lease_seconds = 0;
	assert_req_error(ts_r, ts_call(ts_r, h_update_queue, &u, &q), FLOW_INVALID_ARGUMENT,
			 "leaseSeconds must be between 1 and 86400 (got 0)");
	u.has_lease_seconds = false;
	u.has_max_attempts = true;
	u.max_attempts = 1000;
	assert_req_error(ts_r, ts_call(ts_r, h_update_queue, &u, &q), FLOW_INVALID_ARGUMENT,
			 "maxAttempts must be between 1 and 100 (got 1000)");
	u.max_attempts = 2;
	u.queue_id = 999999;
	assert_req_error(ts_r, ts_call(ts_r, h_update_queue, &u, &q), FLOW_NOT_FOUND,
			 "queue 999999 not found");
	ts_assert_unchanged(queue_row(qid), before);
	free(long_name);
	free(long_desc);
	free(ok_name);
	free(before);
}

/* ---- enqueue ---- */

static void test_enqueue_ticket_with_tasks(void **state)
{
	int64_t p = ts_insert_project(ts_r), qid, t, k1, k2;
	Flow__V1__UpdateQueueRequest u = FLOW__V1__UPDATE_QUEUE_REQUEST__INIT;
	Flow__V1__EnqueueResponse *res;
	Flow__V1__QueueItem *it;

	(void)state;
	qid = ts_create_queue(ts_r, p, "work", 0);
	u.has_queue_id = u.has_max_attempts = true;
	u.queue_id = qid;
	u.max_attempts = 7;
	assert_int_equal(ts_call(ts_r, h_update_queue, &u, NULL), FLOW_OK);
	t = ts_insert_ticket(ts_r, p, 7, "{planner,reviewer}", NULL);
	k1 = ts_insert_task(ts_r, t, 2, "coder", NULL);
	k2 = ts_insert_task(ts_r, t, 1, NULL, NULL);
	ts_insert_task(ts_r, t, 0, NULL, "completed");
	ts_insert_task(ts_r, t, 3, NULL, "cancelled");

	assert_int_equal(ts_enqueue_ticket(ts_r, qid, t, -1, true, &res), FLOW_OK);
	assert_int_equal(res->n_items, 3);
	it = res->items[0];
	assert_true(it->has_id && it->has_queue_id && it->has_ticket_id && it->has_priority);
	assert_true(it->has_attempt && it->has_max_attempts && it->has_run_after);
	assert_true(it->has_enqueued_at);
	assert_false(it->has_task_id);
	assert_false(it->has_started_at || it->has_completed_at || it->has_lease_expires);
	assert_string_equal(it->item_type, "ticket");
	assert_int_equal(it->queue_id, qid);
	assert_int_equal(it->ticket_id, t);
	assert_int_equal(it->priority, 7);
	assert_string_equal(it->status, "queued");
	assert_int_equal(it->attempt, 0);
	assert_int_equal(it->max_attempts, 7);
	assert_string_equal(it->agent_id, "planner");
	assert_null(it->lease_owner);
	/* tasks in order_index order; completed and cancelled ones left out */
	it = res->items[1];
	assert_string_equal(it->item_type, "task");
	assert_true(it->has_task_id);
	assert_int_equal(it->task_id, k2);
	assert_int_equal(it->ticket_id, t);
	assert_int_equal(it->priority, 7);
	assert_string_equal(it->agent_id, "planner");
	assert_int_equal(it->max_attempts, 7);
	it = res->items[2];
	assert_int_equal(it->task_id, k1);
	assert_string_equal(it->agent_id, "coder");
	assert_true(res->items[0]->id < res->items[1]->id);
	assert_true(res->items[1]->id < res->items[2]->id);
	assert_int_equal(ts_sql_i64(ts_r, "SELECT count(*) FROM queue_items WHERE ticket_id = $1",
				    1, ts_i64s(t)),
			 3);

	/* a ticket without suggested agents: no agent; explicit priority */
	t = ts_insert_ticket(ts_r, p, 2, NULL, NULL);
	assert_int_equal(ts_enqueue_ticket(ts_r, qid, t, 9, false, &res), FLOW_OK);
	assert_int_equal(res->n_items, 1);
	assert_null(res->items[0]->agent_id);
	assert_int_equal(res->items[0]->priority, 9);
	assert_int_equal(ts_sql_i64(ts_r, "SELECT priority FROM queue_items WHERE id = $1", 1,
				    ts_i64s(res->items[0]->id)),
			 9);
}

static void test_enqueue_already_exists(void **state)
{
	int64_t p = ts_insert_project(ts_r), q1, q2, t, k1, k2, t2, k3, k4, item;
	Flow__V1__EnqueueResponse *res;
	char *before;

	(void)state;
	q1 = ts_create_queue(ts_r, p, "one", 0);
	q2 = ts_create_queue(ts_r, p, "two", 0);
	t = ts_insert_ticket(ts_r, p, 5, NULL, NULL);
	k1 = ts_insert_task(ts_r, t, 1, NULL, NULL);
	k2 = ts_insert_task(ts_r, t, 2, NULL, NULL);
	assert_int_equal(ts_enqueue_ticket(ts_r, q1, t, -1, true, &res), FLOW_OK);
	assert_int_equal(res->n_items, 3);
	item = res->items[0]->id;
	before = items_rows();

	assert_req_error(ts_r, ts_enqueue_ticket(ts_r, q1, t, -1, true, &res), FLOW_ALREADY_EXISTS,
			 arena_printf(ts_r->arena,
				      "ticket %" PRId64 " is already on queue %" PRId64
				      " (item %" PRId64 ")",
				      t, q1, item));
	assert_req_error(ts_r, ts_enqueue_ticket(ts_r, q2, t, -1, false, &res), FLOW_ALREADY_EXISTS,
			 arena_printf(ts_r->arena,
				      "ticket %" PRId64 " is already on queue %" PRId64
				      " (item %" PRId64 ")",
				      t, q1, item));
	item = ts_sql_i64(ts_r, "SELECT id FROM queue_items WHERE task_id = $1", 1, ts_i64s(k2));
	assert_req_error(ts_r, ts_enqueue_task(ts_r, q2, k2, -1, &res), FLOW_ALREADY_EXISTS,
			 arena_printf(ts_r->arena,
				      "task %" PRId64 " is already on queue %" PRId64
				      " (item %" PRId64 ")",
				      k2, q1, item));
	ts_assert_unchanged(items_rows(), before);
	free(before);
	assert_int_equal(
	    ts_sql_i64(ts_r, "SELECT count(*) FROM queue_items WHERE task_id = $1", 1, ts_i64s(k1)),
	    1);

	/* include_tasks skips tasks that are already active elsewhere */
	t2 = ts_insert_ticket(ts_r, p, 5, NULL, NULL);
	k3 = ts_insert_task(ts_r, t2, 1, NULL, NULL);
	k4 = ts_insert_task(ts_r, t2, 2, NULL, NULL);
	assert_int_equal(ts_enqueue_task(ts_r, q2, k3, -1, &res), FLOW_OK);
	assert_int_equal(ts_enqueue_ticket(ts_r, q1, t2, -1, true, &res), FLOW_OK);
	assert_int_equal(res->n_items, 2);
	assert_false(res->items[0]->has_task_id);
	assert_int_equal(res->items[1]->task_id, k4);
	assert_int_equal(
	    ts_sql_i64(ts_r, "SELECT queue_id FROM queue_items WHERE task_id = $1", 1, ts_i64s(k3)),
	    q2);

	/* once the item is finished, the ticket can go on a queue again */
	ts_sql_i64(
	    ts_r,
	    "UPDATE queue_items SET status = 'completed' WHERE ticket_id = $1 AND task_id IS NULL",
	    1, ts_i64s(t2));
	assert_int_equal(ts_enqueue_ticket(ts_r, q2, t2, -1, false, &res), FLOW_OK);
	assert_int_equal(res->items[0]->queue_id, q2);
}

static void test_enqueue_task(void **state)
{
	int64_t p = ts_insert_project(ts_r), qid, t, k1, k2, k3, k4;
	Flow__V1__EnqueueResponse *res;
	Flow__V1__QueueItem *it;

	(void)state;
	qid = ts_create_queue(ts_r, p, "tasks", 0);
	t = ts_insert_ticket(ts_r, p, 8, "{planner}", NULL);
	k1 = ts_insert_task(ts_r, t, 1, "coder", NULL);
	k2 = ts_insert_task(ts_r, t, 2, NULL, "in_progress");
	k3 = ts_insert_task(ts_r, t, 3, NULL, "completed");
	k4 = ts_insert_task(ts_r, t, 4, NULL, "cancelled");

	assert_int_equal(ts_enqueue_task(ts_r, qid, k1, -1, &res), FLOW_OK);
	assert_int_equal(res->n_items, 1);
	it = res->items[0];
	assert_string_equal(it->item_type, "task");
	assert_int_equal(it->task_id, k1);
	assert_int_equal(it->ticket_id, t);
	assert_int_equal(it->priority, 8);
	assert_string_equal(it->agent_id, "coder");
	assert_int_equal(it->max_attempts, 3);
	assert_string_equal(it->status, "queued");

	assert_int_equal(ts_enqueue_task(ts_r, qid, k2, 0, &res), FLOW_OK);
	assert_int_equal(res->items[0]->priority, 0);
	assert_string_equal(res->items[0]->agent_id, "planner");

	assert_req_error(ts_r, ts_enqueue_task(ts_r, qid, k3, -1, &res), FLOW_FAILED_PRECONDITION,
			 arena_printf(ts_r->arena,
				      "task %" PRId64 " is completed; only pending or in-progress "
				      "tasks can be enqueued",
				      k3));
	assert_req_error(ts_r, ts_enqueue_task(ts_r, qid, k4, -1, &res), FLOW_FAILED_PRECONDITION,
			 arena_printf(ts_r->arena,
				      "task %" PRId64 " is cancelled; only pending or in-progress "
				      "tasks can be enqueued",
				      k4));
	assert_int_equal(ts_sql_i64(ts_r, "SELECT count(*) FROM queue_items WHERE ticket_id = $1",
				    1, ts_i64s(t)),
			 2);
}

static void test_enqueue_bad_input(void **state)
{
	int64_t p = ts_insert_project(ts_r), p2 = ts_insert_project(ts_r), qid, t, k, t2, k2, tc,
		kc;
	Flow__V1__EnqueueTicketRequest et = FLOW__V1__ENQUEUE_TICKET_REQUEST__INIT;
	Flow__V1__EnqueueTaskRequest ek = FLOW__V1__ENQUEUE_TASK_REQUEST__INIT;
	Flow__V1__EnqueueResponse *res;
	int64_t items = count_items();

	(void)state;
	qid = ts_create_queue(ts_r, p, "q", 0);
	t = ts_insert_ticket(ts_r, p, 5, NULL, NULL);
	k = ts_insert_task(ts_r, t, 1, NULL, NULL);
	t2 = ts_insert_ticket(ts_r, p2, 5, NULL, NULL);
	k2 = ts_insert_task(ts_r, t2, 1, NULL, NULL);
	tc = ts_insert_ticket(ts_r, p, 5, NULL, NULL);
	kc = ts_insert_task(ts_r, tc, 1, NULL, NULL);
	ts_sql_i64(ts_r, "UPDATE tickets SET status = 'closed' WHERE id = $1", 1, ts_i64s(tc));

	assert_req_error(ts_r, ts_call(ts_r, h_enqueue_ticket, &et, &res), FLOW_INVALID_ARGUMENT,
			 "queueId must be a positive integer");
	et.has_queue_id = true;
	et.queue_id = qid;
	assert_req_error(ts_r, ts_call(ts_r, h_enqueue_ticket, &et, &res), FLOW_INVALID_ARGUMENT,
			 "ticketId must be a positive integer");
	et.has_ticket_id = true;
	et.ticket_id = -t;
	assert_req_error(ts_r, ts_call(ts_r, h_enqueue_ticket, &et, &res), FLOW_INVALID_ARGUMENT,
			 "ticketId must be a positive integer");
	et.ticket_id = t;
	et.has_priority = true;
	et.priority = 11;
	assert_req_error(ts_r, ts_call(ts_r, h_enqueue_ticket, &et, &res), FLOW_INVALID_ARGUMENT,
			 "priority must be between 0 and 10 (got 11)");
	et.priority = -1;
	assert_req_error(ts_r, ts_call(ts_r, h_enqueue_ticket, &et, &res), FLOW_INVALID_ARGUMENT,
			 "priority must be between 0 and 10 (got -1)");
	assert_req_error(ts_r, ts_enqueue_ticket(ts_r, 999999, t, -1, true, &res), FLOW_NOT_FOUND,
			 "queue 999999 not found");
	assert_req_error(ts_r, ts_enqueue_ticket(ts_r, qid, 999999, -1, true, &res), FLOW_NOT_FOUND,
			 "ticket 999999 not found");
	assert_req_error(ts_r, ts_enqueue_ticket(ts_r, qid, t2, -1, true, &res),
			 FLOW_FAILED_PRECONDITION,
			 arena_printf(ts_r->arena,
				      "ticket %" PRId64 " belongs to project %" PRId64
				      ", but queue %" PRId64 " belongs to project %" PRId64,
				      t2, p2, qid, p));
	assert_req_error(ts_r, ts_enqueue_ticket(ts_r, qid, tc, -1, true, &res),
			 FLOW_FAILED_PRECONDITION,
			 arena_printf(ts_r->arena,
				      "ticket %" PRId64 " is closed; reopen it before enqueuing it "
				      "or its tasks",
				      tc));

	assert_req_error(ts_r, ts_call(ts_r, h_enqueue_task, &ek, &res), FLOW_INVALID_ARGUMENT,
			 "queueId must be a positive integer");
	ek.has_queue_id = true;
	ek.queue_id = qid;
	assert_req_error(ts_r, ts_call(ts_r, h_enqueue_task, &ek, &res), FLOW_INVALID_ARGUMENT,
			 "taskId must be a positive integer");
	ek.has_task_id = true;
	ek.task_id = k;
	ek.has_priority = true;
	ek.priority = 99;
	assert_req_error(ts_r, ts_call(ts_r, h_enqueue_task, &ek, &res), FLOW_INVALID_ARGUMENT,
			 "priority must be between 0 and 10 (got 99)");
	assert_req_error(ts_r, ts_enqueue_task(ts_r, 999999, k, -1, &res), FLOW_NOT_FOUND,
			 "queue 999999 not found");
	assert_req_error(ts_r, ts_enqueue_task(ts_r, qid, 999999, -1, &res), FLOW_NOT_FOUND,
			 "task 999999 not found");
	assert_req_error(ts_r, ts_enqueue_task(ts_r, qid, k2, -1, &res), FLOW_FAILED_PRECONDITION,
			 arena_printf(ts_r->arena,
				      "ticket %" PRId64 " belongs to project %" PRId64
				      ", but queue %" PRId64 " belongs to project %" PRId64,
				      t2, p2, qid, p));
	assert_req_error(ts_r, ts_enqueue_task(ts_r, qid, kc, -1, &res), FLOW_FAILED_PRECONDITION,
			 arena_printf(ts_r->arena,
				      "ticket %" PRId64 " is closed; reopen it before enqueuing it "
				      "or its tasks",
				      tc));
	assert_int_equal(count_items(), items);
}

/* ---- dequeue ---- */

static void test_dequeue(void **state)
{
	int64_t p = ts_insert_project(ts_r), qid, t, k1, k2, done_item;
	Flow__V1__DequeueTicketRequest dt = FLOW__V1__DEQUEUE_TICKET_REQUEST__INIT;
	Flow__V1__DequeueTaskRequest dk = FLOW__V1__DEQUEUE_TASK_REQUEST__INIT;
	Flow__V1__DequeueResponse *res;
	Flow__V1__EnqueueResponse *er;
	char *before;

	(void)state;
	qid = ts_create_queue(ts_r, p, "q", 5);
	t = ts_insert_ticket(ts_r, p, 5, NULL, NULL);
	k1 = ts_insert_task(ts_r, t, 1, NULL, NULL);
	k2 = ts_insert_task(ts_r, t, 2, NULL, NULL);
	assert_int_equal(ts_enqueue_ticket(ts_r, qid, t, -1, true, &er), FLOW_OK);
	assert_int_equal(er->n_items, 3);

	/* without its tasks: only the ticket item goes */
	dt.has_ticket_id = dt.has_include_tasks = true;
	dt.ticket_id = t;
	dt.include_tasks = false;
	assert_int_equal(ts_call(ts_r, h_dequeue_ticket, &dt, &res), FLOW_OK);
	assert_true(res->has_removed);
	assert_int_equal(res->removed, 1);
	assert_int_equal(ts_sql_i64(ts_r, "SELECT count(*) FROM queue_items WHERE ticket_id = $1",
				    1, ts_i64s(t)),
			 2);
	assert_int_equal(ts_sql_i64(ts_r,
				    "SELECT count(*) FROM queue_items WHERE ticket_id = $1"
				    " AND task_id IS NULL",
				    1, ts_i64s(t)),
			 0);

	/* task dequeue */
	dk.has_task_id = true;
	dk.task_id = k1;
	assert_int_equal(ts_call(ts_r, h_dequeue_task, &dk, &res), FLOW_OK);
	assert_int_equal(res->removed, 1);
	assert_req_error(ts_r, ts_call(ts_r, h_dequeue_task, &dk, &res), FLOW_NOT_FOUND,
			 arena_printf(ts_r->arena, "task %" PRId64 " is not on any queue", k1));

	/* default include_tasks = true removes the rest, in-progress items too */
	assert_int_equal(ts_enqueue_ticket(ts_r, qid, t, -1, false, &er), FLOW_OK);
	assert_true(ts_get_next(ts_r, qid, NULL)->found);
	assert_int_equal(ts_sql_i64(ts_r,
				    "SELECT count(*) FROM queue_items WHERE status = 'in_progress'"
				    " AND ticket_id = $1",
				    1, ts_i64s(t)),
			 1);
	dt.has_include_tasks = false;
	assert_int_equal(ts_call(ts_r, h_dequeue_ticket, &dt, &res), FLOW_OK);
	assert_int_equal(res->removed, 2);
	assert_int_equal(ts_sql_i64(ts_r, "SELECT count(*) FROM queue_items WHERE ticket_id = $1",
				    1, ts_i64s(t)),
			 0);
	assert_req_error(ts_r, ts_call(ts_r, h_dequeue_ticket, &dt, &res), FLOW_NOT_FOUND,
			 arena_printf(ts_r->arena, "ticket %" PRId64 " is not on any queue", t));

	/* finished items are history: dequeue leaves them */
	assert_int_equal(ts_enqueue_task(ts_r, qid, k2, -1, &er), FLOW_OK);
	done_item = er->items[0]->id;
	assert_true(ts_get_next(ts_r, qid, NULL)->found);
	assert_int_equal(ts_complete_item(ts_r, done_item, NULL, NULL, NULL), FLOW_OK);
	before = items_rows();
	dk.task_id = k2;
	assert_req_error(ts_r, ts_call(ts_r, h_dequeue_task, &dk, &res), FLOW_NOT_FOUND,
			 arena_printf(ts_r->arena, "task %" PRId64 " is not on any queue", k2));
	ts_assert_unchanged(items_rows(), before);

	/* bad input */
	dt.ticket_id = 999999;
	assert_req_error(ts_r, ts_call(ts_r, h_dequeue_ticket, &dt, &res), FLOW_NOT_FOUND,
			 "ticket 999999 not found");
	dt.ticket_id = 0;
	assert_req_error(ts_r, ts_call(ts_r, h_dequeue_ticket, &dt, &res), FLOW_INVALID_ARGUMENT,
			 "ticketId must be a positive integer");
	dt.has_ticket_id = false;
	assert_req_error(ts_r, ts_call(ts_r, h_dequeue_ticket, &dt, &res), FLOW_INVALID_ARGUMENT,
			 "ticketId must be a positive integer");
	dk.task_id = 999999;
	assert_req_error(ts_r, ts_call(ts_r, h_dequeue_task, &dk, &res), FLOW_NOT_FOUND,
			 "task 999999 not found");
	dk.task_id = -2;
	assert_req_error(ts_r, ts_call(ts_r, h_dequeue_task, &dk, &res), FLOW_INVALID_ARGUMENT,
			 "taskId must be a positive integer");
	ts_assert_unchanged(items_rows(), before);
	free(before);
}

/* ---- stats ---- */

static Flow__V1__QueueStats *stats(int64_t queue)
{
	Flow__V1__GetQueueStatsRequest q = FLOW__V1__GET_QUEUE_STATS_REQUEST__INIT;
	Flow__V1__QueueStats *s;

	q.has_queue_id = true;
	q.queue_id = queue;
	assert_int_equal(ts_call(ts_r, h_get_queue_stats, &q, &s), FLOW_OK);
	return s;
}

static void assert_counts(const Flow__V1__QueueStats *s, int64_t total, int64_t queued,
			  int64_t running, int64_t completed, int64_t failed, int64_t cancelled,
			  int64_t dead)
{
	assert_true(s->has_total_items && s->has_queued_items && s->has_in_progress_items);
	assert_true(s->has_completed_items && s->has_failed_items && s->has_cancelled_items);
	assert_true(s->has_dead_items && s->has_average_processing_time && s->has_success_rate);
	assert_true(s->has_queue_id && s->has_is_active && s->has_max_parallel_items);
	assert_int_equal(s->total_items, total);
	assert_int_equal(s->queued_items, queued);
	assert_int_equal(s->in_progress_items, running);
	assert_int_equal(s->completed_items, completed);
	assert_int_equal(s->failed_items, failed);
	assert_int_equal(s->cancelled_items, cancelled);
	assert_int_equal(s->dead_items, dead);
}

/* Sets an item's processing window: started at a fixed time, done ms later. */
static void set_window(int64_t item, int ms)
{
	ts_sql_i64(ts_r,
		   "UPDATE queue_items SET started_at = '2024-01-01 00:00:00+00',"
		   " completed_at = '2024-01-01 00:00:00+00'::timestamptz + make_interval(secs => "
		   "$2::int / 1000.0)"
		   " WHERE id = $1",
		   2, ts_i64s(item), ts_i64s(ms));
}

static void test_stats(void **state)
{
	int64_t p = ts_insert_project(ts_r), qid, q2, t, k[7], it[7];
	Flow__V1__GetAllQueueStatsRequest ga = FLOW__V1__GET_ALL_QUEUE_STATS_REQUEST__INIT;
	Flow__V1__GetAllQueueStatsResponse *all;
	Flow__V1__EnqueueResponse *er;
	Flow__V1__QueueStats *s;

	(void)state;
	qid = ts_create_queue(ts_r, p, "stats", 10);
	s = stats(qid);
	assert_counts(s, 0, 0, 0, 0, 0, 0, 0);
	assert_true(s->average_processing_time == 0.0);
	assert_true(s->success_rate == 0.0);
	assert_int_equal(s->n_current_agents, 0);
	assert_string_equal(s->queue_name, "stats");
	assert_int_equal(s->max_parallel_items, 10);
	assert_true(s->is_active);

	t = ts_insert_ticket(ts_r, p, 5, NULL, NULL);
	for (int i = 0; i < 7; i++) {
		k[i] = ts_insert_task(ts_r, t, i, i == 3 ? "agent-d" : (i == 4 ? "agent-e" : NULL),
				      NULL);
		assert_int_equal(ts_enqueue_task(ts_r, qid, k[i], -1, &er), FLOW_OK);
		it[i] = er->items[0]->id;
	}
	for (int i = 0; i < 5; i++)
		assert_int_equal(ts_get_next(ts_r, qid, NULL)->queue_item_id, it[i]);
	assert_int_equal(ts_complete_item(ts_r, it[0], NULL, NULL, NULL), FLOW_OK);
	assert_int_equal(ts_complete_item(ts_r, it[1], NULL, NULL, NULL), FLOW_OK);
	assert_int_equal(ts_fail_item(ts_r, it[2], "boom", NULL), FLOW_OK);
	/* it[3] stays in progress; it[4] is dead, it[5] queued, it[6] cancelled */
	ts_sql_i64(ts_r, "UPDATE queue_items SET status = 'dead', lease_owner = NULL WHERE id = $1",
		   1, ts_i64s(it[4]));
	ts_sql_i64(ts_r, "UPDATE queue_items SET status = 'cancelled' WHERE id = $1", 1,
		   ts_i64s(it[6]));
	set_window(it[0], 1500);
	set_window(it[1], 2500);

	s = stats(qid);
	assert_counts(s, 7, 1, 1, 2, 1, 1, 1);
	assert_true(s->average_processing_time == 2000.0);
	assert_true(s->success_rate == 0.5);
	assert_int_equal(s->n_current_agents, 1);
	assert_string_equal(s->current_agents[0], "agent-d");
	assert_int_equal(s->queue_id, qid);

	/* project-wide: a second queue with one completed item of 5 s */
	q2 = ts_create_queue(ts_r, p, "second", 3);
	t = ts_insert_ticket(ts_r, p, 5, "{agent-z}", NULL);
	assert_int_equal(ts_enqueue_ticket(ts_r, q2, t, -1, false, &er), FLOW_OK);
	assert_int_equal(ts_get_next(ts_r, q2, NULL)->queue_item_id, er->items[0]->id);
	assert_int_equal(ts_complete_item(ts_r, er->items[0]->id, NULL, NULL, NULL), FLOW_OK);
	set_window(er->items[0]->id, 5000);
	ts_create_queue(ts_r, p, "empty", 0);
	ga.has_project_id = true;
	ga.project_id = p;
	assert_int_equal(ts_call(ts_r, h_get_all_queue_stats, &ga, &all), FLOW_OK);
	assert_int_equal(all->n_queues, 3);
	assert_int_equal(all->queues[0]->queue_id, qid);
	assert_counts(all->queues[0], 7, 1, 1, 2, 1, 1, 1);
	assert_true(all->queues[0]->average_processing_time == 2000.0);
	assert_int_equal(all->queues[1]->queue_id, q2);
	assert_counts(all->queues[1], 1, 0, 0, 1, 0, 0, 0);
	assert_true(all->queues[1]->average_processing_time == 5000.0);
	assert_true(all->queues[1]->success_rate == 1.0);
	assert_string_equal(all->queues[2]->queue_name, "empty");
	assert_counts(all->queues[2], 0, 0, 0, 0, 0, 0, 0);
	assert_non_null(all->total);
	assert_counts(all->total, 8, 1, 1, 3, 1, 1, 1);
	assert_true(all->total->average_processing_time == 3000.0);
	assert_true(all->total->success_rate == 0.6);
	assert_int_equal(all->total->max_parallel_items, 14);
	assert_int_equal(all->total->n_current_agents, 1);
	assert_string_equal(all->total->current_agents[0], "agent-d");

	/* a project without queues; a missing project; bad ids */
	ga.project_id = ts_insert_project(ts_r);
	assert_int_equal(ts_call(ts_r, h_get_all_queue_stats, &ga, &all), FLOW_OK);
	assert_int_equal(all->n_queues, 0);
	assert_counts(all->total, 0, 0, 0, 0, 0, 0, 0);
	assert_true(all->total->success_rate == 0.0);
	ga.project_id = 999999;
	assert_req_error(ts_r, ts_call(ts_r, h_get_all_queue_stats, &ga, &all), FLOW_NOT_FOUND,
			 "project 999999 not found");
	ga.project_id = 0;
	assert_req_error(ts_r, ts_call(ts_r, h_get_all_queue_stats, &ga, &all),
			 FLOW_INVALID_ARGUMENT, "projectId must be a positive integer");
	{
		Flow__V1__GetQueueStatsRequest g = FLOW__V1__GET_QUEUE_STATS_REQUEST__INIT;

		assert_req_error(ts_r, ts_call(ts_r, h_get_queue_stats, &g, &s),
				 FLOW_INVALID_ARGUMENT, "queueId must be a positive integer");
		g.has_queue_id = true;
		g.queue_id = 999999;
		assert_req_error(ts_r, ts_call(ts_r, h_get_queue_stats, &g, &s), FLOW_NOT_FOUND,
				 "queue 999999 not found");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_queue_crud, ts_test_reset),
		cmocka_unit_test_setup(test_queue_duplicate_name, ts_test_reset),
		cmocka_unit_test_setup(test_queue_bad_input, ts_test_reset),
		cmocka_unit_test_setup(test_enqueue_ticket_with_tasks, ts_test_reset),
		cmocka_unit_test_setup(test_enqueue_already_exists, ts_test_reset),
		cmocka_unit_test_setup(test_enqueue_task, ts_test_reset),
		cmocka_unit_test_setup(test_enqueue_bad_input, ts_test_reset),
		cmocka_unit_test_setup(test_dequeue, ts_test_reset),
		cmocka_unit_test_setup(test_stats, ts_test_reset),
	};

	return cmocka_run_group_tests(tests, ts_group_setup, ts_group_teardown);
}
