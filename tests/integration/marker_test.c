/*
 * marker_test.c - the deferred marking of claimed tasks and tickets
 * (jobs/marker.h) on a real PostgreSQL: a claimed task shows in_progress
 * only after the delay; an item finished within the delay never marks its
 * task (a trigger of this test records every task status change); stopping
 * runs what is pending; an unreachable database neither blocks the claim
 * path nor the stop.
 *
 * Claims go through the real handler (ts_claim), whose after-reply hook
 * hands the marking to ts_r->marker.
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

#include "flow/v1/worker.pb-c.h"
#include "jobs/marker.h"
#include "req.h"
#include "status.h"
#include "testsupport.h"
#include "ts_store.h"

#define TASK_STATUS "SELECT status FROM tasks WHERE id = $1"
#define TICKET_STATUS "SELECT status FROM tickets WHERE id = $1"

static char *text(const char *sql, int64_t id)
{
	return ts_sql_text(ts_r, sql, 1, ts_i64s(id));
}

static void assert_status(const char *sql, int64_t id, const char *want)
{
	char *got = text(sql, id);

	assert_string_equal(got, want);
	free(got);
}

/* Waits up to ms for the row's status to become want. */
static bool wait_status(const char *sql, int64_t id, const char *want, int ms)
{
	for (int waited = 0; waited <= ms; waited += 20) {
		char *got = text(sql, id);
		bool ok = strcmp(got, want) == 0;

		free(got);
		if (ok)
			return true;
		ts_sleep_ms(20);
	}
	return false;
}

static int64_t mono_ms(void)
{
	return req_now_ms();
}

struct setup {
	int64_t queue, ticket, task, item, worker;
};

/* A queue with one task item enqueued, and a worker. */
static void make(struct setup *s)
{
	int64_t p = ts_insert_project(ts_r);
	Flow__V1__EnqueueResponse *er;

	s->queue = ts_create_queue(ts_r, p, "marked", 10);
	s->ticket = ts_insert_ticket(ts_r, p, 5, NULL, NULL);
	s->task = ts_insert_task(ts_r, s->ticket, 0, NULL, NULL);
	assert_int_equal(ts_enqueue_task(ts_r, s->queue, s->task, -1, &er), FLOW_OK);
	s->item = er->items[0]->id;
	s->worker = ts_register_worker(ts_r, "noop,default");
}

/* Claims s's item through the handler with ts_r->marker = m. */
static void claim(struct setup *s, struct marker *m)
{
	Flow__V1__ClaimResponse *res;

	ts_r->marker = m;
	assert_int_equal(ts_claim(ts_r, s->worker, NULL, 10, s->queue, 0, &res), FLOW_OK);
	ts_r->marker = NULL;
	assert_int_equal(res->n_items, 1);
	assert_int_equal(res->items[0]->item->id, s->item);
	/* the reply shows the task as the marking will leave it */
	assert_string_equal(res->items[0]->task->status, "in_progress");
}

static void test_marked_after_the_delay(void **state)
{
	struct marker *m;
	struct setup s;
	int64_t t0;

	assert_int_equal(marker_start(ts_db_url, 300, &m), FLOW_OK);
	make(&s);
	t0 = mono_ms();
	claim(&s, m);
	assert_status(TASK_STATUS, s.task, "pending"); /* not yet */
	assert_status(TICKET_STATUS, s.ticket, "open");
	assert_true(wait_status(TASK_STATUS, s.task, "in_progress", 5000));
	assert_true(mono_ms() - t0 >= 300);
	assert_status(TICKET_STATUS, s.ticket, "in_progress");
	marker_stop(m);
}

static void test_finished_within_the_delay_is_not_marked(void **state)
{
	struct marker *m;
	struct setup s;
	Flow__V1__QueueItem *it;

	ts_sql_i64(ts_r, "CREATE TABLE task_log (id bigint, old text, new text)", 0);
	ts_sql_i64(ts_r,
		   "CREATE FUNCTION task_log() RETURNS trigger LANGUAGE plpgsql AS $$"
		   " BEGIN INSERT INTO task_log VALUES (NEW.id, OLD.status, NEW.status);"
		   " RETURN NULL; END $$",
		   0);
	ts_sql_i64(ts_r,
		   "CREATE TRIGGER task_log AFTER UPDATE OF status ON tasks"
		   " FOR EACH ROW EXECUTE FUNCTION task_log()",
		   0);
	assert_int_equal(marker_start(ts_db_url, 300, &m), FLOW_OK);
	make(&s);
	claim(&s, m);
	assert_int_equal(ts_worker_complete(ts_r, s.worker, s.item, 1, "done", &it), FLOW_OK);
	marker_stop(m); /* runs the pending marking now: the item is finished */
	assert_status(TASK_STATUS, s.task, "completed");
	assert_status("SELECT string_agg(old || '>' || new, ',') FROM task_log WHERE id = $1",
		      s.task, "pending>completed");
	ts_sql_i64(ts_r, "DROP FUNCTION task_log() CASCADE", 0);
	ts_sql_i64(ts_r, "DROP TABLE task_log", 0);
}

static void test_stop_runs_what_is_pending(void **state)
{
	struct marker *m;
	struct setup s;

	assert_int_equal(marker_start(ts_db_url, 600000, &m), FLOW_OK);
	make(&s);
	claim(&s, m);
	assert_status(TASK_STATUS, s.task, "pending");
	marker_stop(m);
	assert_status(TASK_STATUS, s.task, "in_progress");
	assert_status(TICKET_STATUS, s.ticket, "in_progress");
}

static void test_without_marker_marks_at_once(void **state)
{
	struct setup s;

	make(&s);
	claim(&s, NULL);
	assert_status(TASK_STATUS, s.task, "in_progress");
	assert_false(marker_add(NULL, "worker:1", "{1}"));
}

static void test_unreachable_database(void **state)
{
	struct marker *m;
	int64_t t0;

	/* a port nothing listens on (this test's own server is elsewhere) */
	assert_int_equal(marker_start("postgresql://127.0.0.1:9/none?connect_timeout=2", 10, &m),
			 FLOW_OK);
	for (int i = 0; i < 100; i++)
		assert_true(marker_add(m, "worker:1", "{1,2,3}"));
	ts_sleep_ms(200);
	t0 = mono_ms();
	marker_stop(m); /* one failed attempt, the rest dropped */
	assert_true(mono_ms() - t0 < 3000);
	assert_int_equal(marker_start("not a conninfo = =", 10, &m), FLOW_INVALID_ARGUMENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_marked_after_the_delay, ts_test_reset),
		cmocka_unit_test_setup(test_finished_within_the_delay_is_not_marked, ts_test_reset),
		cmocka_unit_test_setup(test_stop_runs_what_is_pending, ts_test_reset),
		cmocka_unit_test_setup(test_without_marker_marks_at_once, ts_test_reset),
		cmocka_unit_test_setup(test_unreachable_database, ts_test_reset),
	};

	return cmocka_run_group_tests(tests, ts_group_setup, ts_group_teardown);
}
