/*
 * concurrency_test.c - maxParallelItems and exactly-once hand-out under
 * concurrent claimers.
 *
 * 8 threads, each with its own database connection and flow_req, loop
 * GetNext / CompleteItem on one queue (maxParallelItems 3) holding 300 task
 * items, keeping each item for 0-2 ms. Meanwhile a checker thread on a
 * ninth connection counts the in-progress rows. Asserted: never more than 3
 * items held at once (by the threads' own counter and by the database), no
 * item handed out twice, every item completed exactly once.
 *
 * cmocka's assertions are not thread-safe, so the threads only record what
 * they saw; the main thread asserts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "flow/v1/flow_manager.pb-c.h"
#include "services/handlers.h"
#include "status.h"
#include "store/store.h"
#include "ts_store.h"

#define THREADS 8
#define TICKETS 30
#define TASKS_PER_TICKET 10
#define ITEMS (TICKETS * TASKS_PER_TICKET)
#define LIMIT 3
#define RUN_SECONDS_MAX 120

/* What the threads share. */
static struct {
	int64_t queue;
	int64_t first_item; /* item ids are first_item .. first_item + ITEMS - 1 */
	pthread_mutex_t mu;
	unsigned char seen[ITEMS]; /* under mu: times each item was handed out */
	char error[512];	   /* under mu: the first error */
	atomic_int held;	   /* items between GetNext and CompleteItem */
	atomic_int max_held;
	atomic_int completed;
	atomic_int duplicates;
	atomic_int errors;
	atomic_int done;
	atomic_int db_max_running; /* the checker's highest count */
	atomic_int db_samples;
} S = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void record_error(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&S.mu);
	if (atomic_fetch_add(&S.errors, 1) == 0) {
		va_start(ap, fmt);
		vsnprintf(S.error, sizeof(S.error), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&S.mu);
}

static void raise_max(atomic_int *max, int v)
{
	int cur = atomic_load(max);

	while (v > cur && !atomic_compare_exchange_weak(max, &cur, v))
		;
}

static void mark_seen(int64_t id)
{
	int64_t k = id - S.first_item;

	pthread_mutex_lock(&S.mu);
	if (k < 0 || k >= ITEMS || S.seen[k]++ != 0)
		atomic_fetch_add(&S.duplicates, 1);
	pthread_mutex_unlock(&S.mu);
}

/* One claim / hold / complete round; returns 1 when an item was handled,
 * 0 when there was none, -1 on error. */
static int one_round(struct flow_req *r, unsigned *seed)
{
	Flow__V1__GetNextRequest gq = FLOW__V1__GET_NEXT_REQUEST__INIT;
	Flow__V1__CompleteItemRequest cq = FLOW__V1__COMPLETE_ITEM_REQUEST__INIT;
	Flow__V1__GetNextResponse *next;
	ProtobufCMessage *m = NULL;
	int held, rv;

	gq.has_queue_id = true;
	gq.queue_id = S.queue;
	if ((rv = h_get_next(r, &gq.base, &m)) != FLOW_OK) {
		record_error("GetNext failed: %d %s", rv, r->message);
		return -1;
	}
	next = (Flow__V1__GetNextResponse *)m;
	if (!next->found)
		return 0;
	held = atomic_fetch_add(&S.held, 1) + 1;
	raise_max(&S.max_held, held);
	mark_seen(next->queue_item_id);
	usleep((useconds_t)(rand_r(seed) % 2001));
	/* Released before completing: once CompleteItem commits another
	 * claim may succeed at once, and must not be counted against this. */
	atomic_fetch_sub(&S.held, 1);
	cq.has_queue_item_id = true;
	cq.queue_item_id = next->queue_item_id;
	cq.completion_notes = "done by a test thread";
	if ((rv = h_complete_item(r, &cq.base, &m)) != FLOW_OK) {
		record_error("CompleteItem %" PRId64 " failed: %d %s", next->queue_item_id, rv,
			     r->message);
		return -1;
	}
	atomic_fetch_add(&S.completed, 1);
	return 1;
}

static void *worker(void *arg)
{
	struct flow_req *r = ts_req_connect(ts_db_url);
	unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u;
	time_t until = time(NULL) + RUN_SECONDS_MAX;
	int rv = 0;

	while (rv >= 0 && atomic_load(&S.completed) < ITEMS && time(NULL) < until) {
		ts_req_reset(r);
		if ((rv = one_round(r, &seed)) == 0)
			usleep(200);
	}
	ts_req_close(r, NULL);
	return NULL;
}

/* Counts in-progress rows of the queue from its own connection. */
static void *checker(void *arg)
{
	struct flow_req *r = ts_req_connect(ts_db_url);
	char qid[24];
	const char *p[1] = { qid };

	(void)arg;
	snprintf(qid, sizeof(qid), "%" PRId64, S.queue);
	while (!atomic_load(&S.done)) {
		PGresult *res = PQexecParams(store_pg(r->db),
					     "SELECT count(*) FROM queue_items"
					     " WHERE queue_id = $1 AND status = 'in_progress'",
					     1, NULL, p, NULL, NULL, 0);

		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			record_error("checker: %s", PQerrorMessage(store_pg(r->db)));
			PQclear(res);
			break;
		}
		raise_max(&S.db_max_running, atoi(PQgetvalue(res, 0, 0)));
		atomic_fetch_add(&S.db_samples, 1);
		PQclear(res);
	}
	ts_req_close(r, NULL);
	return NULL;
}

/* 30 tickets of 10 tasks, each task enqueued on a queue with maxParallelItems 3. */
static void fill_queue(void)
{
	Flow__V1__EnqueueResponse *res;
	int64_t project, task;

	project = ts_sql_i64(ts_r, "INSERT INTO projects (name) VALUES ('load') RETURNING id", 0);
	ts_sql_i64(ts_r,
		   "INSERT INTO tickets (project_id, title) SELECT $1, 'ticket ' || g"
		   " FROM generate_series(1, 30) g",
		   1, ts_i64s(project));
	ts_sql_i64(ts_r,
		   "INSERT INTO tasks (ticket_id, content, order_index)"
		   " SELECT t.id, 'task ' || g, g FROM tickets t, generate_series(1, 10) g"
		   " WHERE t.project_id = $1",
		   1, ts_i64s(project));
	S.queue = ts_create_queue(ts_r, project, "load", LIMIT);
	task = ts_sql_i64(ts_r, "SELECT min(id) FROM tasks", 0);
	for (int i = 0; i < ITEMS; i++) {
		assert_int_equal(ts_enqueue_task(ts_r, S.queue, task + i, -1, &res), FLOW_OK);
		if (i == 0)
			S.first_item = res->items[0]->id;
		ts_req_reset(ts_r);
	}
}

static void test_parallel_limit_and_exactly_once(void **state)
{
	pthread_t th[THREADS], chk;
	int handed = 0;

	(void)state;
	fill_queue();
	assert_int_equal(ts_sql_i64(ts_r,
				    "SELECT count(*) FROM queue_items WHERE queue_id = $1"
				    " AND status = 'queued'",
				    1, ts_i64s(S.queue)),
			 ITEMS);
	assert_int_equal(pthread_create(&chk, NULL, checker, NULL), 0);
	for (uintptr_t i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, worker, (void *)(i + 1)), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	atomic_store(&S.done, 1);
	pthread_join(chk, NULL);

	printf("# %d checker samples; at most %d in progress in the database, %d held by "
	       "the threads\n",
	       atomic_load(&S.db_samples), atomic_load(&S.db_max_running),
	       atomic_load(&S.max_held));
	if (atomic_load(&S.errors) != 0)
		fail_msg("%d errors; first: %s", atomic_load(&S.errors), S.error);
	assert_int_equal(atomic_load(&S.duplicates), 0);
	for (int i = 0; i < ITEMS; i++)
		handed += S.seen[i];
	assert_int_equal(handed, ITEMS);
	assert_int_equal(atomic_load(&S.completed), ITEMS);
	/* the limit held; the database reached it, so the claimers did compete */
	assert_in_range(atomic_load(&S.max_held), 1, LIMIT);
	assert_true(atomic_load(&S.db_samples) > 0);
	assert_int_equal(atomic_load(&S.db_max_running), LIMIT);

	/* the database agrees: all completed, each on its first attempt */
	assert_int_equal(ts_sql_i64(ts_r,
				    "SELECT count(*) FROM queue_items WHERE queue_id = $1"
				    " AND status = 'completed' AND attempt = 1"
				    " AND completed_at IS NOT NULL AND lease_owner IS NULL",
				    1, ts_i64s(S.queue)),
			 ITEMS);
	assert_int_equal(ts_sql_i64(ts_r, "SELECT count(*) FROM queue_items WHERE queue_id = $1", 1,
				    ts_i64s(S.queue)),
			 ITEMS);
	assert_int_equal(
	    ts_sql_i64(ts_r, "SELECT count(*) FROM tasks WHERE status = 'completed' AND done", 0),
	    ITEMS);
	assert_int_equal(
	    ts_sql_i64(ts_r, "SELECT count(*) FROM tickets WHERE status = 'closed'", 0), TICKETS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parallel_limit_and_exactly_once),
	};

	return cmocka_run_group_tests(tests, ts_group_setup, ts_group_teardown);
}
