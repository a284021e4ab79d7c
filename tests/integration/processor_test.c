/*
 * processor_test.c - GetNext / CompleteItem / FailItem on a real PostgreSQL:
 * claim order, paused and full queues, compare-and-set completion, ticket
 * closing, the GetNext reply, task dependencies and the agent filter.
 * Projects, tickets and tasks are made with plain SQL.
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
#include "settings.h"
#include "status.h"
#include "ts_store.h"

/* ---- helpers ---- */

static int64_t count_items(void)
{
	return ts_sql_i64(ts_r, "SELECT count(*) FROM queue_items", 0);
}

static int64_t enq_task(int64_t queue, int64_t task, int priority)
{
	Flow__V1__EnqueueResponse *res;

	assert_int_equal(ts_enqueue_task(ts_r, queue, task, priority, &res), FLOW_OK);
	return res->items[0]->id;
}

static int64_t enq_ticket(int64_t queue, int64_t ticket)
{
	Flow__V1__EnqueueResponse *res;

	assert_int_equal(ts_enqueue_ticket(ts_r, queue, ticket, -1, -1, &res), FLOW_OK);
	return res->items[0]->id;
}

/* GetNext must hand out exactly item id. */
static Flow__V1__GetNextResponse *next_is(int64_t queue, const char *agent, int64_t id)
{
	Flow__V1__GetNextResponse *res = ts_get_next(ts_r, queue, agent);

	assert_true(res->found);
	assert_true(res->has_queue_item_id);
	assert_int_equal(res->queue_item_id, id);
	assert_int_equal(res->item->id, id);
	return res;
}

/* GetNext must hand out nothing, saying msg. */
static void next_none(int64_t queue, const char *agent, const char *msg)
{
	Flow__V1__GetNextResponse *res = ts_get_next(ts_r, queue, agent);

	assert_false(res->found);
	assert_null(res->item);
	assert_string_equal(res->message, msg);
}

static char *item_row(int64_t id)
{
	return ts_sql_text(ts_r, "SELECT i::text FROM queue_items i WHERE id = $1", 1, ts_i64s(id));
}

/* Asserts the text column col of row id of table (a constant) equals want. */
static void assert_col(const char *sql, int64_t id, const char *want)
{
	char *got = ts_sql_text(ts_r, sql, 1, ts_i64s(id));

	assert_string_equal(got, want);
	free(got);
}

#define TICKET_STATUS "SELECT status FROM tickets WHERE id = $1"
#define TASK_STATUS "SELECT status || '/' || done FROM tasks WHERE id = $1"
#define ITEM_STATUS "SELECT status FROM queue_items WHERE id = $1"

static void set_active(int64_t queue, bool active)
{
	Flow__V1__UpdateQueueRequest u = FLOW__V1__UPDATE_QUEUE_REQUEST__INIT;

	u.has_queue_id = u.has_is_active = true;
	u.queue_id = queue;
	u.is_active = active;
	assert_int_equal(ts_call(ts_r, h_update_queue, &u, NULL), FLOW_OK);
}

/* ---- tests ---- */

static void test_priority_then_fifo(void **state)
{
	static const int prio[4] = { 5, 10, 8, 10 };
	int64_t p = ts_insert_project(ts_r), q, t, item[4];

	(void)state;
	q = ts_create_queue(ts_r, p, "prio", 10);
	t = ts_insert_ticket(ts_r, p, 5, NULL, NULL);
	for (int i = 0; i < 4; i++)
		item[i] = enq_task(q, ts_insert_task(ts_r, t, i, NULL, NULL), prio[i]);
	assert_int_equal(next_is(q, NULL, item[1])->item->priority, 10);
	assert_int_equal(next_is(q, NULL, item[3])->item->priority, 10);
	assert_int_equal(next_is(q, NULL, item[2])->item->priority, 8);
	assert_int_equal(next_is(q, NULL, item[0])->item->priority, 5);
	next_none(q, NULL, arena_printf(ts_r->arena, "queue %" PRId64 " has no queued items", q));
}

static void test_paused_queue(void **state)
{
	int64_t p = ts_insert_project(ts_r), q, t, item;
	char *before;

	(void)state;
	q = ts_create_queue(ts_r, p, "paused", 0);
	t = ts_insert_ticket(ts_r, p, 5, NULL, NULL);
	item = enq_task(q, ts_insert_task(ts_r, t, 0, NULL, NULL), -1);
	set_active(q, false);
	before = item_row(item);
	next_none(q, NULL, arena_printf(ts_r->arena, "queue %" PRId64 " is paused", q));
	next_none(q, "any-agent", arena_printf(ts_r->arena, "queue %" PRId64 " is paused", q));
	ts_assert_unchanged(item_row(item), before);
	free(before);
	assert_col(TICKET_STATUS, t, "open");
	set_active(q, true);
	assert_int_equal(next_is(q, NULL, item)->item->attempt, 1);
}

static void test_capacity(void **state)
{
	int64_t p = ts_insert_project(ts_r), q, t, a, b, c;
	Flow__V1__QueueItem *done;

	(void)state;
	q = ts_create_queue(ts_r, p, "cap", 1);
	t = ts_insert_ticket(ts_r, p, 5, NULL, NULL);
	a = enq_task(q, ts_insert_task(ts_r, t, 0, NULL, NULL), -1);
	b = enq_task(q, ts_insert_task(ts_r, t, 1, NULL, NULL), -1);
	c = enq_task(q, ts_insert_task(ts_r, t, 2, NULL, NULL), -1);
	next_is(q, NULL, a);
	next_none(q, NULL,
		  arena_printf(ts_r->arena,
			       "queue %" PRId64 " already has 1 item in progress "
			       "(maxParallelItems 1)",
			       q));
	assert_col(ITEM_STATUS, b, "queued");
	assert_int_equal(ts_complete_item(ts_r, a, NULL, NULL, &done), FLOW_OK);
	next_is(q, NULL, b);

	/* raising the limit lets the next one out; then two are in progress */
	ts_sql_i64(ts_r, "UPDATE queues SET max_parallel_items = 2 WHERE id = $1", 1, ts_i64s(q));
	next_is(q, NULL, c);
	enq_task(q, ts_insert_task(ts_r, t, 3, NULL, NULL), -1);
	next_none(q, NULL,
		  arena_printf(ts_r->arena,
			       "queue %" PRId64 " already has 2 items in progress "
			       "(maxParallelItems 2)",
			       q));
	assert_int_equal(ts_sql_i64(ts_r,
				    "SELECT count(*) FROM queue_items WHERE queue_id = $1"
				    " AND status = 'in_progress'",
				    1, ts_i64s(q)),
			 2);
}

static void test_complete_fail_cas(void **state)
{
	int64_t p = ts_insert_project(ts_r), q, t, k1, k2, a, b, c, d;
	char *notes_long = ts_repeat("x", 262145), *err_long = ts_repeat("e", 65537);
	Flow__V1__QueueItem *it;
	char *before;

	(void)state;
	q = ts_create_queue(ts_r, p, "cas", 5);
	t = ts_insert_ticket(ts_r, p, 5, NULL, NULL);
	k1 = ts_insert_task(ts_r, t, 0, NULL, NULL);
	k2 = ts_insert_task(ts_r, t, 1, NULL, NULL);
	a = enq_task(q, k1, -1);
	b = enq_task(q, k2, -1);
	c = enq_task(q, ts_insert_task(ts_r, t, 2, NULL, NULL), -1);
	next_is(q, NULL, a);
	next_is(q, NULL, b);
	next_is(q, NULL, c);

	assert_int_equal(ts_complete_item(ts_r, a, "'); DROP TABLE tasks; --",
					  "{\"tokens\": 12, \"ok\": true}", &it),
			 FLOW_OK);
	assert_int_equal(it->id, a);
	assert_string_equal(it->status, "completed");
	assert_string_equal(it->completion_notes, "'); DROP TABLE tasks; --");
	assert_string_equal(it->metadata, "{\"ok\": true, \"tokens\": 12}");
	assert_true(it->has_completed_at && it->has_started_at);
	assert_true(it->completed_at >= it->started_at);
	assert_null(it->lease_owner);
	assert_false(it->has_lease_expires);
	assert_int_equal(it->attempt, 1);
	assert_col(TASK_STATUS, k1, "completed/true");
	assert_col("SELECT completion_notes FROM tasks WHERE id = $1", k1,
		   "'); DROP TABLE tasks; --");

	/* completing twice: rejected, nothing changes */
	before = item_row(a);
	assert_req_error(
	    ts_r, ts_complete_item(ts_r, a, "again", NULL, &it), FLOW_FAILED_PRECONDITION,
	    arena_printf(ts_r->arena, "queue item %" PRId64 " is completed, not in progress", a));
	assert_req_error(
	    ts_r, ts_fail_item(ts_r, a, "late failure", &it), FLOW_FAILED_PRECONDITION,
	    arena_printf(ts_r->arena, "queue item %" PRId64 " is completed, not in progress", a));
	ts_assert_unchanged(item_row(a), before);
	free(before);
	assert_col("SELECT completion_notes FROM tasks WHERE id = $1", k1,
		   "'); DROP TABLE tasks; --");

	/* fail: the task goes back to pending */
	assert_col(TASK_STATUS, k2, "in_progress/false");
	assert_int_equal(ts_fail_item(ts_r, b, "agent crashed", &it), FLOW_OK);
	assert_string_equal(it->status, "failed");
	assert_string_equal(it->error, "agent crashed");
	assert_true(it->has_completed_at);
	assert_null(it->lease_owner);
	assert_false(it->has_lease_expires);
	assert_col(TASK_STATUS, k2, "pending/false");
	assert_req_error(
	    ts_r, ts_complete_item(ts_r, b, NULL, NULL, &it), FLOW_FAILED_PRECONDITION,
	    arena_printf(ts_r->arena, "queue item %" PRId64 " is failed, not in progress", b));
	assert_col(ITEM_STATUS, b, "failed");

	/* a queued item cannot complete either */
	d = enq_task(q, k2, -1);
	assert_req_error(
	    ts_r, ts_complete_item(ts_r, d, NULL, NULL, &it), FLOW_FAILED_PRECONDITION,
	    arena_printf(ts_r->arena, "queue item %" PRId64 " is queued, not in progress", d));
	assert_col(ITEM_STATUS, d, "queued");
	assert_req_error(ts_r, ts_complete_item(ts_r, 999999, NULL, NULL, &it), FLOW_NOT_FOUND,
			 "queue item 999999 not found");
	assert_req_error(ts_r, ts_fail_item(ts_r, 999999, "x", &it), FLOW_NOT_FOUND,
			 "queue item 999999 not found");

	/* bad input leaves c in progress */
	before = item_row(c);
	assert_req_error(ts_r, ts_complete_item(ts_r, 0, NULL, NULL, &it), FLOW_INVALID_ARGUMENT,
			 "queueItemId must be a positive integer");
	assert_req_error(ts_r, ts_complete_item(ts_r, -c, NULL, NULL, &it), FLOW_INVALID_ARGUMENT,
			 "queueItemId must be a positive integer");
	assert_req_error(ts_r, ts_complete_item(ts_r, c, notes_long, NULL, &it),
			 FLOW_INVALID_ARGUMENT, "completionNotes is longer than 262144 characters");
	assert_int_equal(ts_complete_item(ts_r, c, NULL, "{bad", &it), FLOW_INVALID_ARGUMENT);
	assert_memory_equal(ts_r->message, "metadata is not valid JSON: ", 28);
	assert_int_equal(ts_complete_item(ts_r, c, NULL, "", &it), FLOW_INVALID_ARGUMENT);
	assert_memory_equal(ts_r->message, "metadata is not valid JSON: ", 28);
	assert_int_equal(ts_complete_item(ts_r, c, NULL, "{\"a\": 1} trailing", &it),
			 FLOW_INVALID_ARGUMENT);
	assert_req_error(ts_r, ts_fail_item(ts_r, 0, "x", &it), FLOW_INVALID_ARGUMENT,
			 "queueItemId must be a positive integer");
	assert_req_error(ts_r, ts_fail_item(ts_r, c, NULL, &it), FLOW_INVALID_ARGUMENT,
			 "error is required");
	assert_req_error(ts_r, ts_fail_item(ts_r, c, "", &it), FLOW_INVALID_ARGUMENT,
			 "error is required");
	assert_req_error(ts_r, ts_fail_item(ts_r, c, err_long, &it), FLOW_INVALID_ARGUMENT,
			 "error is longer than 65536 characters");
	ts_assert_unchanged(item_row(c), before);
	free(before);

	/* any JSON value is metadata; 262144 characters of notes are fine */
	notes_long[262144] = '\0';
	assert_int_equal(ts_complete_item(ts_r, c, notes_long, "42", &it), FLOW_OK);
	assert_string_equal(it->metadata, "42");
	assert_int_equal(strlen(it->completion_notes), 262144);
	free(notes_long);
	free(err_long);
}

static void test_last_task_closes_ticket(void **state)
{
	int64_t p = ts_insert_project(ts_r), q, t, k1, k2, a, b;
	Flow__V1__QueueItem *it;

	(void)state;
	q = ts_create_queue(ts_r, p, "close", 5);
	t = ts_insert_ticket(ts_r, p, 5, NULL, NULL);
	k1 = ts_insert_task(ts_r, t, 0, NULL, NULL);
	k2 = ts_insert_task(ts_r, t, 1, NULL, NULL);
	a = enq_task(q, k1, -1);
	b = enq_task(q, k2, -1);
	assert_col(TICKET_STATUS, t, "open");
	next_is(q, NULL, a);
	assert_col(TICKET_STATUS, t, "in_progress");
	assert_col(TASK_STATUS, k1, "in_progress/false");
	assert_int_equal(ts_complete_item(ts_r, a, "first", NULL, &it), FLOW_OK);
	assert_col(TICKET_STATUS, t, "in_progress");
	next_is(q, NULL, b);
	assert_int_equal(ts_complete_item(ts_r, b, "second", NULL, &it), FLOW_OK);
	assert_col(TASK_STATUS, k1, "completed/true");
	assert_col(TASK_STATUS, k2, "completed/true");
	assert_col(TICKET_STATUS, t, "closed");
}

static void test_ticket_item_reply(void **state)
{
	int64_t p = ts_insert_project(ts_r), q, t, k0, k1, k2, k3, item;
	Flow__V1__GetNextResponse *n;
	Flow__V1__QueueItem *it;

	(void)state;
	q = ts_create_queue(ts_r, p, "tickets", 0);
	t = ts_insert_ticket(ts_r, p, 6, "{planner,coder}", "{src/a.c,src/b.c}");
	k3 = ts_insert_task(ts_r, t, 3, NULL, NULL);
	k2 = ts_insert_task(ts_r, t, 2, "coder", NULL);
	k0 = ts_insert_task(ts_r, t, 0, NULL, "completed");
	k1 = ts_insert_task(ts_r, t, 1, NULL, "cancelled");
	item = enq_ticket(q, t);

	n = next_is(q, NULL, item);
	assert_string_equal(n->item->item_type, "ticket");
	assert_false(n->item->has_task_id);
	assert_false(n->has_task_id);
	assert_true(n->has_ticket_id);
	assert_int_equal(n->ticket_id, t);
	assert_string_equal(n->item->status, "in_progress");
	assert_string_equal(n->item->lease_owner, "processor");
	assert_int_equal(n->item->attempt, 1);
	assert_true(n->item->has_started_at && n->item->has_lease_expires);
	/* a processor claim's lease is --processor-lease, not the queue's */
	assert_int_equal(n->item->lease_expires - n->item->started_at,
			 (int64_t)flow_settings.processor_lease_s * 1000);
	assert_non_null(n->ticket);
	assert_int_equal(n->ticket->id, t);
	assert_string_equal(n->ticket->title, "a ticket");
	assert_string_equal(n->ticket->status, "in_progress");
	assert_null(n->task);
	assert_int_equal(n->n_tasks, 4);
	assert_int_equal(n->tasks[0]->id, k0);
	assert_int_equal(n->tasks[1]->id, k1);
	assert_int_equal(n->tasks[2]->id, k2);
	assert_int_equal(n->tasks[3]->id, k3);
	assert_non_null(n->next_task);
	assert_int_equal(n->next_task->id, k2);
	assert_string_equal(n->agent_id, "planner");
	assert_int_equal(n->n_suggested_files, 2);
	assert_string_equal(n->suggested_files[0], "src/a.c");
	assert_string_equal(n->suggested_files[1], "src/b.c");
	assert_col(TICKET_STATUS, t, "in_progress");

	assert_int_equal(ts_complete_item(ts_r, item, "ticket done", NULL, &it), FLOW_OK);
	assert_col(TICKET_STATUS, t, "closed");
	assert_string_equal(it->item_type, "ticket");
}

static void test_task_item_reply(void **state)
{
	int64_t p = ts_insert_project(ts_r), q, t, k, k2, t3, k3, a, b, c;
	Flow__V1__GetNextResponse *n;

	(void)state;
	q = ts_create_queue(ts_r, p, "tasks", 5);
	t = ts_insert_ticket(ts_r, p, 5, "{planner}", "{ticket.c}");
	k = ts_insert_task(ts_r, t, 0, "coder", NULL);
	ts_sql_i64(ts_r, "UPDATE tasks SET suggested_file_ids = '{x.c,y.c}' WHERE id = $1", 1,
		   ts_i64s(k));
	k2 = ts_insert_task(ts_r, t, 1, NULL, NULL);
	t3 = ts_insert_ticket(ts_r, p, 5, NULL, NULL);
	k3 = ts_insert_task(ts_r, t3, 0, NULL, NULL);
	a = enq_task(q, k, 9);
	b = enq_task(q, k2, 5);
	c = enq_task(q, k3, 1);

	n = next_is(q, NULL, a);
	assert_true(n->has_task_id);
	assert_int_equal(n->task_id, k);
	assert_int_equal(n->ticket_id, t);
	assert_non_null(n->task);
	assert_int_equal(n->task->id, k);
	assert_string_equal(n->task->status, "in_progress");
	assert_int_equal(n->ticket->id, t);
	assert_int_equal(n->n_tasks, 0);
	assert_null(n->next_task);
	assert_string_equal(n->agent_id, "coder");
	assert_int_equal(n->n_suggested_files, 2);
	assert_string_equal(n->suggested_files[0], "x.c");
	assert_string_equal(n->suggested_files[1], "y.c");

	/* no task agent: the ticket's first suggested agent; the task's files */
	n = next_is(q, NULL, b);
	assert_string_equal(n->agent_id, "planner");
	assert_int_equal(n->n_suggested_files, 0);

	/* no agent anywhere */
	n = next_is(q, NULL, c);
	assert_null(n->agent_id);
	assert_null(n->item->agent_id);
}

static void test_dependencies(void **state)
{
	int64_t p = ts_insert_project(ts_r), q, t, ka, kb, a, b;
	Flow__V1__QueueItem *it;

	(void)state;
	q = ts_create_queue(ts_r, p, "deps", 5);
	t = ts_insert_ticket(ts_r, p, 5, NULL, NULL);
	ka = ts_insert_task(ts_r, t, 0, NULL, NULL);
	kb = ts_insert_task(ts_r, t, 1, NULL, NULL);
	ts_sql_i64(ts_r, "UPDATE tasks SET dependencies = ARRAY[$2::bigint] WHERE id = $1", 2,
		   ts_i64s(kb), ts_i64s(ka));
	b = enq_task(q, kb, 10);
	a = enq_task(q, ka, 1);
	next_is(q, NULL, a);
	next_none(q, NULL,
		  arena_printf(ts_r->arena,
			       "queue %" PRId64 " has 1 queued item but none is ready now "
			       "(unfinished task dependencies or a retry delay)",
			       q));
	assert_col(ITEM_STATUS, b, "queued");
	assert_int_equal(ts_complete_item(ts_r, a, NULL, NULL, &it), FLOW_OK);
	next_is(q, NULL, b);
}

static void test_agent_filter(void **state)
{
	int64_t p = ts_insert_project(ts_r), q, t, x, y, z;

	(void)state;
	q = ts_create_queue(ts_r, p, "agents", 10);
	t = ts_insert_ticket(ts_r, p, 5, NULL, NULL);
	x = enq_task(q, ts_insert_task(ts_r, t, 0, "alpha", NULL), -1);
	y = enq_task(q, ts_insert_task(ts_r, t, 1, "beta", NULL), -1);
	z = enq_task(q, ts_insert_task(ts_r, t, 2, NULL, NULL), -1);
	assert_string_equal(next_is(q, "beta", y)->agent_id, "beta");
	next_is(q, "beta", z);
	next_none(q, "beta",
		  arena_printf(ts_r->arena,
			       "queue %" PRId64 " has 1 queued item but none is ready for agent "
			       "\"beta\" now (other agents, unfinished task dependencies or a "
			       "retry delay)",
			       q));
	next_is(q, "", x);
}

static void test_get_next_bad_input(void **state)
{
	Flow__V1__GetNextRequest q = FLOW__V1__GET_NEXT_REQUEST__INIT;
	Flow__V1__GetNextResponse *res;
	int64_t items = count_items();

	(void)state;
	assert_req_error(ts_r, ts_call(ts_r, h_get_next, &q, &res), FLOW_INVALID_ARGUMENT,
			 "queueId must be a positive integer");
	q.has_queue_id = true;
	q.queue_id = 0;
	assert_req_error(ts_r, ts_call(ts_r, h_get_next, &q, &res), FLOW_INVALID_ARGUMENT,
			 "queueId must be a positive integer");
	q.queue_id = -5;
	assert_req_error(ts_r, ts_call(ts_r, h_get_next, &q, &res), FLOW_INVALID_ARGUMENT,
			 "queueId must be a positive integer");
	q.queue_id = 999999;
	assert_req_error(ts_r, ts_call(ts_r, h_get_next, &q, &res), FLOW_NOT_FOUND,
			 "queue 999999 not found");
	q.agent_id = "'); DROP TABLE queue_items; --";
	assert_req_error(ts_r, ts_call(ts_r, h_get_next, &q, &res), FLOW_NOT_FOUND,
			 "queue 999999 not found");
	assert_int_equal(count_items(), items);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_priority_then_fifo, ts_test_reset),
		cmocka_unit_test_setup(test_paused_queue, ts_test_reset),
		cmocka_unit_test_setup(test_capacity, ts_test_reset),
		cmocka_unit_test_setup(test_complete_fail_cas, ts_test_reset),
		cmocka_unit_test_setup(test_last_task_closes_ticket, ts_test_reset),
		cmocka_unit_test_setup(test_ticket_item_reply, ts_test_reset),
		cmocka_unit_test_setup(test_task_item_reply, ts_test_reset),
		cmocka_unit_test_setup(test_dependencies, ts_test_reset),
		cmocka_unit_test_setup(test_agent_filter, ts_test_reset),
		cmocka_unit_test_setup(test_get_next_bad_input, ts_test_reset),
	};

	return cmocka_run_group_tests(tests, ts_group_setup, ts_group_teardown);
}
