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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "flow/v1/flow_manager.pb-c.h"
#include "services/handlers.h"
#include "status.h"
#include "store/store.h"
#include "ts_store.h"

static struct flow_req *R;
static char url[512];

/* ---- helpers ---- */

/* Decimal text of v in one of a few rotating buffers (for SQL params). */
static const char *I(int64_t v)
{
	static char buf[8][24];
	static int k;

	k = (k + 1) % 8;
	snprintf(buf[k], sizeof(buf[k]), "%" PRId64, v);
	return buf[k];
}

static PGresult *sqlv(const char *q, int n, va_list ap)
{
	const char *p[8];
	PGresult *res;
	ExecStatusType st;

	for (int i = 0; i < n; i++)
		p[i] = va_arg(ap, const char *);
	res = PQexecParams(store_pg(R->db), q, n, NULL, p, NULL, NULL, 0);
	st = PQresultStatus(res);
	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
		fail_msg("SQL failed: %s: %s", q, PQerrorMessage(store_pg(R->db)));
	return res;
}

/* Runs q with n text params; the first column of the first row (0: none). */
static int64_t q_i64(const char *q, int n, ...)
{
	va_list ap;
	PGresult *res;
	int64_t v = 0;

	va_start(ap, n);
	res = sqlv(q, n, ap);
	va_end(ap);
	if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
		v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return v;
}

/* Like q_i64 for text; a malloc'ed copy ("<null>" for NULL) the caller frees. */
static char *q_text(const char *q, int n, ...)
{
	va_list ap;
	PGresult *res;
	char *v;

	va_start(ap, n);
	res = sqlv(q, n, ap);
	va_end(ap);
	if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0))
		v = strdup("<null>");
	else
		v = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

static int call(service_handler fn, const void *in, void *out)
{
	ProtobufCMessage *m = NULL;
	int rv;

	R->message[0] = '\0';
	rv = fn(R, (const ProtobufCMessage *)in, &m);
	if (out != NULL)
		*(ProtobufCMessage **)out = rv == FLOW_OK ? m : NULL;
	return rv;
}

/* Asserts that the last call failed with code and exactly message msg. */
#define assert_error(rv, code, msg)                                                                \
	do {                                                                                       \
		assert_int_equal((rv), (code));                                                    \
		assert_string_equal(R->message, msg);                                              \
	} while (0)

/* Asserts that the fingerprint now (freed here) equals before. */
static void assert_unchanged(char *now, const char *before)
{
	assert_string_equal(now, before);
	free(now);
}

static int64_t mk_project(void)
{
	return q_i64("INSERT INTO projects (name) VALUES ('p') RETURNING id", 0);
}

/* agents / files: PostgreSQL array literals or NULL. */
static int64_t mk_ticket(int64_t project, int priority, const char *agents, const char *files)
{
	return q_i64("INSERT INTO tickets (project_id, title, priority, suggested_agent_ids,"
		     " suggested_file_ids) VALUES ($1, 'a ticket', $2,"
		     " coalesce($3::text[], '{}'), coalesce($4::text[], '{}')) RETURNING id",
		     4, I(project), I(priority), agents, files);
}

/* status NULL: pending. */
static int64_t mk_task(int64_t ticket, int order, const char *agent, const char *status)
{
	return q_i64("INSERT INTO tasks (ticket_id, content, order_index, agent_id, status)"
		     " VALUES ($1, 'a task', $2, $3, coalesce($4, 'pending')) RETURNING id",
		     4, I(ticket), I(order), agent, status);
}

static int64_t mk_queue(int64_t project, const char *name, int max_parallel)
{
	Flow__V1__CreateQueueRequest q = FLOW__V1__CREATE_QUEUE_REQUEST__INIT;
	Flow__V1__Queue *res;

	q.has_project_id = true;
	q.project_id = project;
	q.name = (char *)name;
	q.has_max_parallel_items = max_parallel > 0;
	q.max_parallel_items = max_parallel;
	assert_int_equal(call(h_create_queue, &q, &res), FLOW_OK);
	return res->id;
}

static int64_t count_items(void)
{
	return q_i64("SELECT count(*) FROM queue_items", 0);
}

/* A fingerprint of a queue row, to check a rejected call changed nothing. */
static int enqueue_task(int64_t queue, int64_t task, int priority, Flow__V1__EnqueueResponse **res)
{
	Flow__V1__EnqueueTaskRequest q = FLOW__V1__ENQUEUE_TASK_REQUEST__INIT;

	q.has_queue_id = q.has_task_id = true;
	q.queue_id = queue;
	q.task_id = task;
	q.has_priority = priority >= 0;
	q.priority = priority;
	return call(h_enqueue_task, &q, res);
}

static int64_t enq_task(int64_t queue, int64_t task, int priority)
{
	Flow__V1__EnqueueResponse *res;

	assert_int_equal(enqueue_task(queue, task, priority, &res), FLOW_OK);
	return res->items[0]->id;
}

static int64_t enq_ticket(int64_t queue, int64_t ticket)
{
	Flow__V1__EnqueueTicketRequest q = FLOW__V1__ENQUEUE_TICKET_REQUEST__INIT;
	Flow__V1__EnqueueResponse *res;

	q.has_queue_id = q.has_ticket_id = true;
	q.queue_id = queue;
	q.ticket_id = ticket;
	assert_int_equal(call(h_enqueue_ticket, &q, &res), FLOW_OK);
	return res->items[0]->id;
}

/* GetNext, which must succeed; agent NULL: any. */
static Flow__V1__GetNextResponse *next(int64_t queue, const char *agent)
{
	Flow__V1__GetNextRequest q = FLOW__V1__GET_NEXT_REQUEST__INIT;
	Flow__V1__GetNextResponse *res;

	q.has_queue_id = true;
	q.queue_id = queue;
	q.agent_id = (char *)agent;
	assert_int_equal(call(h_get_next, &q, &res), FLOW_OK);
	assert_true(res->has_found);
	assert_non_null(res->message);
	return res;
}

/* GetNext must hand out exactly item id. */
static Flow__V1__GetNextResponse *next_is(int64_t queue, const char *agent, int64_t id)
{
	Flow__V1__GetNextResponse *res = next(queue, agent);

	assert_true(res->found);
	assert_true(res->has_queue_item_id);
	assert_int_equal(res->queue_item_id, id);
	assert_int_equal(res->item->id, id);
	return res;
}

/* GetNext must hand out nothing, saying msg. */
static void next_none(int64_t queue, const char *agent, const char *msg)
{
	Flow__V1__GetNextResponse *res = next(queue, agent);

	assert_false(res->found);
	assert_null(res->item);
	assert_string_equal(res->message, msg);
}

static int complete(int64_t item, const char *notes, const char *metadata,
		    Flow__V1__QueueItem **out)
{
	Flow__V1__CompleteItemRequest q = FLOW__V1__COMPLETE_ITEM_REQUEST__INIT;

	q.has_queue_item_id = item != 0;
	q.queue_item_id = item;
	q.completion_notes = (char *)notes;
	q.metadata = (char *)metadata;
	return call(h_complete_item, &q, out);
}

static int fail_item(int64_t item, const char *error, Flow__V1__QueueItem **out)
{
	Flow__V1__FailItemRequest q = FLOW__V1__FAIL_ITEM_REQUEST__INIT;

	q.has_queue_item_id = item != 0;
	q.queue_item_id = item;
	q.error = (char *)error;
	return call(h_fail_item, &q, out);
}

static char *item_row(int64_t id)
{
	return q_text("SELECT i::text FROM queue_items i WHERE id = $1", 1, I(id));
}

/* Asserts the text column col of row id of table (a constant) equals want. */
static void assert_col(const char *sql, int64_t id, const char *want)
{
	char *got = q_text(sql, 1, I(id));

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
	assert_int_equal(call(h_update_queue, &u, NULL), FLOW_OK);
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* ---- tests ---- */

static void test_priority_then_fifo(void **state)
{
	static const int prio[4] = { 5, 10, 8, 10 };
	int64_t p = mk_project(), q, t, item[4];

	(void)state;
	q = mk_queue(p, "prio", 10);
	t = mk_ticket(p, 5, NULL, NULL);
	for (int i = 0; i < 4; i++)
		item[i] = enq_task(q, mk_task(t, i, NULL, NULL), prio[i]);
	assert_int_equal(next_is(q, NULL, item[1])->item->priority, 10);
	assert_int_equal(next_is(q, NULL, item[3])->item->priority, 10);
	assert_int_equal(next_is(q, NULL, item[2])->item->priority, 8);
	assert_int_equal(next_is(q, NULL, item[0])->item->priority, 5);
	next_none(q, NULL, arena_printf(R->arena, "queue %" PRId64 " has no queued items", q));
}

static void test_paused_queue(void **state)
{
	int64_t p = mk_project(), q, t, item;
	char *before;

	(void)state;
	q = mk_queue(p, "paused", 0);
	t = mk_ticket(p, 5, NULL, NULL);
	item = enq_task(q, mk_task(t, 0, NULL, NULL), -1);
	set_active(q, false);
	before = item_row(item);
	next_none(q, NULL, arena_printf(R->arena, "queue %" PRId64 " is paused", q));
	next_none(q, "any-agent", arena_printf(R->arena, "queue %" PRId64 " is paused", q));
	assert_unchanged(item_row(item), before);
	free(before);
	assert_col(TICKET_STATUS, t, "open");
	set_active(q, true);
	assert_int_equal(next_is(q, NULL, item)->item->attempt, 1);
}

static void test_capacity(void **state)
{
	int64_t p = mk_project(), q, t, a, b, c;
	Flow__V1__QueueItem *done;

	(void)state;
	q = mk_queue(p, "cap", 1);
	t = mk_ticket(p, 5, NULL, NULL);
	a = enq_task(q, mk_task(t, 0, NULL, NULL), -1);
	b = enq_task(q, mk_task(t, 1, NULL, NULL), -1);
	c = enq_task(q, mk_task(t, 2, NULL, NULL), -1);
	next_is(q, NULL, a);
	next_none(q, NULL,
		  arena_printf(R->arena,
			       "queue %" PRId64 " already has 1 item in progress "
			       "(maxParallelItems 1)",
			       q));
	assert_col(ITEM_STATUS, b, "queued");
	assert_int_equal(complete(a, NULL, NULL, &done), FLOW_OK);
	next_is(q, NULL, b);

	/* raising the limit lets the next one out; then two are in progress */
	q_i64("UPDATE queues SET max_parallel_items = 2 WHERE id = $1", 1, I(q));
	next_is(q, NULL, c);
	enq_task(q, mk_task(t, 3, NULL, NULL), -1);
	next_none(q, NULL,
		  arena_printf(R->arena,
			       "queue %" PRId64 " already has 2 items in progress "
			       "(maxParallelItems 2)",
			       q));
	assert_int_equal(q_i64("SELECT count(*) FROM queue_items WHERE queue_id = $1"
			       " AND status = 'in_progress'",
			       1, I(q)),
			 2);
}

static void test_complete_fail_cas(void **state)
{
	int64_t p = mk_project(), q, t, k1, k2, a, b, c, d;
	char *notes_long = repeat('x', 262145), *err_long = repeat('e', 65537);
	Flow__V1__QueueItem *it;
	char *before;

	(void)state;
	q = mk_queue(p, "cas", 5);
	t = mk_ticket(p, 5, NULL, NULL);
	k1 = mk_task(t, 0, NULL, NULL);
	k2 = mk_task(t, 1, NULL, NULL);
	a = enq_task(q, k1, -1);
	b = enq_task(q, k2, -1);
	c = enq_task(q, mk_task(t, 2, NULL, NULL), -1);
	next_is(q, NULL, a);
	next_is(q, NULL, b);
	next_is(q, NULL, c);

	assert_int_equal(
	    complete(a, "'); DROP TABLE tasks; --", "{\"tokens\": 12, \"ok\": true}", &it),
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
	assert_error(
	    complete(a, "again", NULL, &it), FLOW_FAILED_PRECONDITION,
	    arena_printf(R->arena, "queue item %" PRId64 " is completed, not in progress", a));
	assert_error(
	    fail_item(a, "late failure", &it), FLOW_FAILED_PRECONDITION,
	    arena_printf(R->arena, "queue item %" PRId64 " is completed, not in progress", a));
	assert_unchanged(item_row(a), before);
	free(before);
	assert_col("SELECT completion_notes FROM tasks WHERE id = $1", k1,
		   "'); DROP TABLE tasks; --");

	/* fail: the task goes back to pending */
	assert_col(TASK_STATUS, k2, "in_progress/false");
	assert_int_equal(fail_item(b, "agent crashed", &it), FLOW_OK);
	assert_string_equal(it->status, "failed");
	assert_string_equal(it->error, "agent crashed");
	assert_true(it->has_completed_at);
	assert_null(it->lease_owner);
	assert_false(it->has_lease_expires);
	assert_col(TASK_STATUS, k2, "pending/false");
	assert_error(
	    complete(b, NULL, NULL, &it), FLOW_FAILED_PRECONDITION,
	    arena_printf(R->arena, "queue item %" PRId64 " is failed, not in progress", b));
	assert_col(ITEM_STATUS, b, "failed");

	/* a queued item cannot complete either */
	d = enq_task(q, k2, -1);
	assert_error(
	    complete(d, NULL, NULL, &it), FLOW_FAILED_PRECONDITION,
	    arena_printf(R->arena, "queue item %" PRId64 " is queued, not in progress", d));
	assert_col(ITEM_STATUS, d, "queued");
	assert_error(complete(999999, NULL, NULL, &it), FLOW_NOT_FOUND,
		     "queue item 999999 not found");
	assert_error(fail_item(999999, "x", &it), FLOW_NOT_FOUND, "queue item 999999 not found");

	/* bad input leaves c in progress */
	before = item_row(c);
	assert_error(complete(0, NULL, NULL, &it), FLOW_INVALID_ARGUMENT,
		     "queueItemId must be a positive integer");
	assert_error(complete(-c, NULL, NULL, &it), FLOW_INVALID_ARGUMENT,
		     "queueItemId must be a positive integer");
	assert_error(complete(c, notes_long, NULL, &it), FLOW_INVALID_ARGUMENT,
		     "completionNotes is longer than 262144 characters");
	assert_int_equal(complete(c, NULL, "{bad", &it), FLOW_INVALID_ARGUMENT);
	assert_memory_equal(R->message, "metadata is not valid JSON: ", 28);
	assert_int_equal(complete(c, NULL, "", &it), FLOW_INVALID_ARGUMENT);
	assert_memory_equal(R->message, "metadata is not valid JSON: ", 28);
	assert_int_equal(complete(c, NULL, "{\"a\": 1} trailing", &it), FLOW_INVALID_ARGUMENT);
	assert_error(fail_item(0, "x", &it), FLOW_INVALID_ARGUMENT,
		     "queueItemId must be a positive integer");
	assert_error(fail_item(c, NULL, &it), FLOW_INVALID_ARGUMENT, "error is required");
	assert_error(fail_item(c, "", &it), FLOW_INVALID_ARGUMENT, "error is required");
	assert_error(fail_item(c, err_long, &it), FLOW_INVALID_ARGUMENT,
		     "error is longer than 65536 characters");
	assert_unchanged(item_row(c), before);
	free(before);

	/* any JSON value is metadata; 262144 characters of notes are fine */
	notes_long[262144] = '\0';
	assert_int_equal(complete(c, notes_long, "42", &it), FLOW_OK);
	assert_string_equal(it->metadata, "42");
	assert_int_equal(strlen(it->completion_notes), 262144);
	free(notes_long);
	free(err_long);
}

static void test_last_task_closes_ticket(void **state)
{
	int64_t p = mk_project(), q, t, k1, k2, a, b;
	Flow__V1__QueueItem *it;

	(void)state;
	q = mk_queue(p, "close", 5);
	t = mk_ticket(p, 5, NULL, NULL);
	k1 = mk_task(t, 0, NULL, NULL);
	k2 = mk_task(t, 1, NULL, NULL);
	a = enq_task(q, k1, -1);
	b = enq_task(q, k2, -1);
	assert_col(TICKET_STATUS, t, "open");
	next_is(q, NULL, a);
	assert_col(TICKET_STATUS, t, "in_progress");
	assert_col(TASK_STATUS, k1, "in_progress/false");
	assert_int_equal(complete(a, "first", NULL, &it), FLOW_OK);
	assert_col(TICKET_STATUS, t, "in_progress");
	next_is(q, NULL, b);
	assert_int_equal(complete(b, "second", NULL, &it), FLOW_OK);
	assert_col(TASK_STATUS, k1, "completed/true");
	assert_col(TASK_STATUS, k2, "completed/true");
	assert_col(TICKET_STATUS, t, "closed");
}

static void test_ticket_item_reply(void **state)
{
	int64_t p = mk_project(), q, t, k0, k1, k2, k3, item;
	Flow__V1__GetNextResponse *n;
	Flow__V1__QueueItem *it;

	(void)state;
	q = mk_queue(p, "tickets", 0);
	t = mk_ticket(p, 6, "{planner,coder}", "{src/a.c,src/b.c}");
	k3 = mk_task(t, 3, NULL, NULL);
	k2 = mk_task(t, 2, "coder", NULL);
	k0 = mk_task(t, 0, NULL, "completed");
	k1 = mk_task(t, 1, NULL, "cancelled");
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
	assert_int_equal(n->item->lease_expires - n->item->started_at, 30000);
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

	assert_int_equal(complete(item, "ticket done", NULL, &it), FLOW_OK);
	assert_col(TICKET_STATUS, t, "closed");
	assert_string_equal(it->item_type, "ticket");
}

static void test_task_item_reply(void **state)
{
	int64_t p = mk_project(), q, t, k, k2, t3, k3, a, b, c;
	Flow__V1__GetNextResponse *n;

	(void)state;
	q = mk_queue(p, "tasks", 5);
	t = mk_ticket(p, 5, "{planner}", "{ticket.c}");
	k = mk_task(t, 0, "coder", NULL);
	q_i64("UPDATE tasks SET suggested_file_ids = '{x.c,y.c}' WHERE id = $1", 1, I(k));
	k2 = mk_task(t, 1, NULL, NULL);
	t3 = mk_ticket(p, 5, NULL, NULL);
	k3 = mk_task(t3, 0, NULL, NULL);
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
	int64_t p = mk_project(), q, t, ka, kb, a, b;
	Flow__V1__QueueItem *it;

	(void)state;
	q = mk_queue(p, "deps", 5);
	t = mk_ticket(p, 5, NULL, NULL);
	ka = mk_task(t, 0, NULL, NULL);
	kb = mk_task(t, 1, NULL, NULL);
	q_i64("UPDATE tasks SET dependencies = ARRAY[$2::bigint] WHERE id = $1", 2, I(kb), I(ka));
	b = enq_task(q, kb, 10);
	a = enq_task(q, ka, 1);
	next_is(q, NULL, a);
	next_none(q, NULL,
		  arena_printf(R->arena,
			       "queue %" PRId64 " has 1 queued item but none is ready now "
			       "(unfinished task dependencies or a retry delay)",
			       q));
	assert_col(ITEM_STATUS, b, "queued");
	assert_int_equal(complete(a, NULL, NULL, &it), FLOW_OK);
	next_is(q, NULL, b);
}

static void test_agent_filter(void **state)
{
	int64_t p = mk_project(), q, t, x, y, z;

	(void)state;
	q = mk_queue(p, "agents", 10);
	t = mk_ticket(p, 5, NULL, NULL);
	x = enq_task(q, mk_task(t, 0, "alpha", NULL), -1);
	y = enq_task(q, mk_task(t, 1, "beta", NULL), -1);
	z = enq_task(q, mk_task(t, 2, NULL, NULL), -1);
	assert_string_equal(next_is(q, "beta", y)->agent_id, "beta");
	next_is(q, "beta", z);
	next_none(q, "beta",
		  arena_printf(R->arena,
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
	assert_error(call(h_get_next, &q, &res), FLOW_INVALID_ARGUMENT,
		     "queueId must be a positive integer");
	q.has_queue_id = true;
	q.queue_id = 0;
	assert_error(call(h_get_next, &q, &res), FLOW_INVALID_ARGUMENT,
		     "queueId must be a positive integer");
	q.queue_id = -5;
	assert_error(call(h_get_next, &q, &res), FLOW_INVALID_ARGUMENT,
		     "queueId must be a positive integer");
	q.queue_id = 999999;
	assert_error(call(h_get_next, &q, &res), FLOW_NOT_FOUND, "queue 999999 not found");
	q.agent_id = "'); DROP TABLE queue_items; --";
	assert_error(call(h_get_next, &q, &res), FLOW_NOT_FOUND, "queue 999999 not found");
	assert_int_equal(count_items(), items);
}

static int setup(void **state)
{
	(void)state;
	R = ts_req_open(url, sizeof(url));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ts_req_close(R, url);
	return 0;
}

static int reset(void **state)
{
	(void)state;
	ts_req_reset(R);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_priority_then_fifo, reset),
		cmocka_unit_test_setup(test_paused_queue, reset),
		cmocka_unit_test_setup(test_capacity, reset),
		cmocka_unit_test_setup(test_complete_fail_cas, reset),
		cmocka_unit_test_setup(test_last_task_closes_ticket, reset),
		cmocka_unit_test_setup(test_ticket_item_reply, reset),
		cmocka_unit_test_setup(test_task_item_reply, reset),
		cmocka_unit_test_setup(test_dependencies, reset),
		cmocka_unit_test_setup(test_agent_filter, reset),
		cmocka_unit_test_setup(test_get_next_bad_input, reset),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
