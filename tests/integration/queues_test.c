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

static int64_t count_queues(int64_t project)
{
	return q_i64("SELECT count(*) FROM queues WHERE project_id = $1", 1, I(project));
}

/* A fingerprint of a queue row, to check a rejected call changed nothing. */
static char *queue_row(int64_t id)
{
	return q_text("SELECT q::text FROM queues q WHERE id = $1", 1, I(id));
}

static char *items_rows(void)
{
	return q_text(
	    "SELECT coalesce(string_agg(i::text, ';' ORDER BY id), '') FROM queue_items i", 0);
}

static int enqueue_ticket(int64_t queue, int64_t ticket, int priority, bool tasks,
			  Flow__V1__EnqueueResponse **res)
{
	Flow__V1__EnqueueTicketRequest q = FLOW__V1__ENQUEUE_TICKET_REQUEST__INIT;

	q.has_queue_id = q.has_ticket_id = true;
	q.queue_id = queue;
	q.ticket_id = ticket;
	q.has_priority = priority >= 0;
	q.priority = priority;
	q.has_include_tasks = true;
	q.include_tasks = tasks;
	return call(h_enqueue_ticket, &q, res);
}

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

static Flow__V1__GetNextResponse *get_next(int64_t queue)
{
	Flow__V1__GetNextRequest q = FLOW__V1__GET_NEXT_REQUEST__INIT;
	Flow__V1__GetNextResponse *res;

	q.has_queue_id = true;
	q.queue_id = queue;
	assert_int_equal(call(h_get_next, &q, &res), FLOW_OK);
	return res;
}

static int complete(int64_t item)
{
	Flow__V1__CompleteItemRequest q = FLOW__V1__COMPLETE_ITEM_REQUEST__INIT;
	Flow__V1__QueueItem *res;

	q.has_queue_item_id = true;
	q.queue_item_id = item;
	return call(h_complete_item, &q, &res);
}

static int fail_item(int64_t item, const char *error)
{
	Flow__V1__FailItemRequest q = FLOW__V1__FAIL_ITEM_REQUEST__INIT;
	Flow__V1__QueueItem *res;

	q.has_queue_item_id = true;
	q.queue_item_id = item;
	q.error = (char *)error;
	return call(h_fail_item, &q, &res);
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* ---- queue CRUD ---- */

static void test_queue_crud(void **state)
{
	int64_t p = mk_project();
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
	assert_int_equal(call(h_create_queue, &c, &q), FLOW_OK);
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
	assert_int_equal(call(h_create_queue, &c, &q2), FLOW_OK);
	assert_string_equal(q2->name, "'); DROP TABLE queues; --");
	assert_string_equal(q2->description, "quotes ' \" and \\ backslash");
	assert_int_equal(q2->max_parallel_items, 10000);
	assert_int_equal(q2->lease_seconds, 86400);
	assert_int_equal(q2->max_attempts, 100);

	g.has_queue_id = true;
	g.queue_id = q2->id;
	assert_int_equal(call(h_get_queue, &g, &q), FLOW_OK);
	assert_string_equal(q->name, "'); DROP TABLE queues; --");
	assert_int_equal(q->id, q2->id);

	l.has_project_id = true;
	l.project_id = p;
	assert_int_equal(call(h_list_queues, &l, &lr), FLOW_OK);
	assert_int_equal(lr->n_queues, 2);
	assert_int_equal(lr->queues[0]->id, id);
	assert_int_equal(lr->queues[1]->id, q2->id);

	/* update: only present fields change */
	u.has_queue_id = true;
	u.queue_id = id;
	u.description = "new description";
	u.has_max_parallel_items = true;
	u.max_parallel_items = 4;
	assert_int_equal(call(h_update_queue, &u, &q), FLOW_OK);
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
	assert_int_equal(call(h_update_queue, &u, &q), FLOW_OK);
	assert_false(q->is_active);
	assert_int_equal(q->max_parallel_items, 4);
	assert_false(q_i64("SELECT is_active::int FROM queues WHERE id = $1", 1, I(id)));
	u.is_active = true;
	assert_int_equal(call(h_update_queue, &u, &q), FLOW_OK);
	assert_true(q->is_active);

	/* rename, then the other settings */
	u.has_is_active = false;
	u.name = "Renamed";
	u.has_lease_seconds = u.has_max_attempts = true;
	u.lease_seconds = 1;
	u.max_attempts = 1;
	assert_int_equal(call(h_update_queue, &u, &q), FLOW_OK);
	assert_string_equal(q->name, "Renamed");
	assert_int_equal(q->lease_seconds, 1);
	assert_int_equal(q->max_attempts, 1);

	/* delete cascades the items */
	enqueue_ticket(id, mk_ticket(p, 5, NULL, NULL), -1, false, NULL);
	assert_int_equal(q_i64("SELECT count(*) FROM queue_items WHERE queue_id = $1", 1, I(id)),
			 1);
	d.has_queue_id = true;
	d.queue_id = id;
	assert_int_equal(call(h_delete_queue, &d, &dr), FLOW_OK);
	assert_true(dr->has_deleted && dr->deleted);
	assert_true(dr->has_id);
	assert_int_equal(dr->id, id);
	assert_int_equal(q_i64("SELECT count(*) FROM queue_items WHERE queue_id = $1", 1, I(id)),
			 0);
	g.queue_id = id;
	assert_error(call(h_get_queue, &g, &q), FLOW_NOT_FOUND,
		     arena_printf(R->arena, "queue %" PRId64 " not found", id));
	assert_error(call(h_delete_queue, &d, &dr), FLOW_NOT_FOUND,
		     arena_printf(R->arena, "queue %" PRId64 " not found", id));
	assert_int_equal(count_queues(p), 1);
}

static void test_queue_duplicate_name(void **state)
{
	int64_t p = mk_project(), p2 = mk_project(), a, b;
	Flow__V1__CreateQueueRequest c = FLOW__V1__CREATE_QUEUE_REQUEST__INIT;
	Flow__V1__UpdateQueueRequest u = FLOW__V1__UPDATE_QUEUE_REQUEST__INIT;
	Flow__V1__Queue *q;
	char *before;

	(void)state;
	a = mk_queue(p, "dup", 0);
	c.has_project_id = true;
	c.project_id = p;
	c.name = "dup";
	c.description = "second";
	assert_error(
	    call(h_create_queue, &c, &q), FLOW_ALREADY_EXISTS,
	    arena_printf(R->arena, "a queue named \"dup\" already exists in project %" PRId64, p));
	assert_int_equal(count_queues(p), 1);
	assert_int_equal(q_i64("SELECT count(*) FROM queues WHERE description = 'second'", 0), 0);

	/* the same name in another project is fine */
	assert_true(mk_queue(p2, "dup", 0) > a);

	/* renaming onto a taken name */
	b = mk_queue(p, "other", 0);
	before = queue_row(b);
	u.has_queue_id = true;
	u.queue_id = b;
	u.name = "dup";
	assert_error(
	    call(h_update_queue, &u, &q), FLOW_ALREADY_EXISTS,
	    arena_printf(R->arena, "a queue named \"dup\" already exists in project %" PRId64, p));
	assert_unchanged(queue_row(b), before);
	free(before);
}

static void test_queue_bad_input(void **state)
{
	int64_t p = mk_project(), qid = mk_queue(p, "q", 0);
	Flow__V1__CreateQueueRequest c = FLOW__V1__CREATE_QUEUE_REQUEST__INIT;
	Flow__V1__UpdateQueueRequest u = FLOW__V1__UPDATE_QUEUE_REQUEST__INIT;
	Flow__V1__GetQueueRequest g = FLOW__V1__GET_QUEUE_REQUEST__INIT;
	Flow__V1__ListQueuesRequest l = FLOW__V1__LIST_QUEUES_REQUEST__INIT;
	Flow__V1__DeleteQueueRequest d = FLOW__V1__DELETE_QUEUE_REQUEST__INIT;
	Flow__V1__ListQueuesResponse *lr;
	char *long_name = repeat('n', 201), *long_desc = repeat('d', 65537);
	char *ok_name = repeat('n', 200), *before = queue_row(qid);
	char name200[801];
	Flow__V1__Queue *q;

	(void)state;
	/* create */
	c.name = "x";
	assert_error(call(h_create_queue, &c, &q), FLOW_INVALID_ARGUMENT,
		     "projectId must be a positive integer");
	c.has_project_id = true;
	c.project_id = 0;
	assert_error(call(h_create_queue, &c, &q), FLOW_INVALID_ARGUMENT,
		     "projectId must be a positive integer");
	c.project_id = -3;
	assert_error(call(h_create_queue, &c, &q), FLOW_INVALID_ARGUMENT,
		     "projectId must be a positive integer");
	c.project_id = 999999;
	assert_error(call(h_create_queue, &c, &q), FLOW_NOT_FOUND, "project 999999 not found");
	c.project_id = p;
	c.name = NULL;
	assert_error(call(h_create_queue, &c, &q), FLOW_INVALID_ARGUMENT, "name is required");
	c.name = "";
	assert_error(call(h_create_queue, &c, &q), FLOW_INVALID_ARGUMENT, "name is required");
	c.name = "  \t ";
	assert_error(call(h_create_queue, &c, &q), FLOW_INVALID_ARGUMENT, "name is required");
	c.name = long_name;
	assert_error(call(h_create_queue, &c, &q), FLOW_INVALID_ARGUMENT,
		     "name is longer than 200 characters");
	c.name = "fine";
	c.description = long_desc;
	assert_error(call(h_create_queue, &c, &q), FLOW_INVALID_ARGUMENT,
		     "description is longer than 65536 characters");
	c.description = NULL;
	c.has_max_parallel_items = true;
	c.max_parallel_items = 0;
	assert_error(call(h_create_queue, &c, &q), FLOW_INVALID_ARGUMENT,
		     "maxParallelItems must be between 1 and 10000 (got 0)");
	c.max_parallel_items = 10001;
	assert_error(call(h_create_queue, &c, &q), FLOW_INVALID_ARGUMENT,
		     "maxParallelItems must be between 1 and 10000 (got 10001)");
	c.max_parallel_items = 2;
	c.has_lease_seconds = true;
	c.lease_seconds = 0;
	assert_error(call(h_create_queue, &c, &q), FLOW_INVALID_ARGUMENT,
		     "leaseSeconds must be between 1 and 86400 (got 0)");
	c.lease_seconds = 86401;
	assert_error(call(h_create_queue, &c, &q), FLOW_INVALID_ARGUMENT,
		     "leaseSeconds must be between 1 and 86400 (got 86401)");
	c.lease_seconds = 60;
	c.has_max_attempts = true;
	c.max_attempts = 0;
	assert_error(call(h_create_queue, &c, &q), FLOW_INVALID_ARGUMENT,
		     "maxAttempts must be between 1 and 100 (got 0)");
	c.max_attempts = 101;
	assert_error(call(h_create_queue, &c, &q), FLOW_INVALID_ARGUMENT,
		     "maxAttempts must be between 1 and 100 (got 101)");
	assert_int_equal(count_queues(p), 1);
	/* 200 characters is fine, counted as characters, not bytes */
	c.max_attempts = 100;
	c.name = ok_name;
	assert_int_equal(call(h_create_queue, &c, &q), FLOW_OK);
	name200[0] = '\0';
	for (int i = 0; i < 200; i++)
		strcat(name200, "\xc3\xa9"); /* é */
	c.name = name200;
	assert_int_equal(call(h_create_queue, &c, &q), FLOW_OK);
	assert_string_equal(q->name, name200);
	assert_int_equal(count_queues(p), 3);

	/* list, get, delete */
	assert_error(call(h_list_queues, &l, &lr), FLOW_INVALID_ARGUMENT,
		     "projectId must be a positive integer");
	l.has_project_id = true;
	l.project_id = 999999;
	assert_error(call(h_list_queues, &l, &lr), FLOW_NOT_FOUND, "project 999999 not found");
	l.project_id = mk_project();
	assert_int_equal(call(h_list_queues, &l, &lr), FLOW_OK);
	assert_int_equal(lr->n_queues, 0);
	assert_error(call(h_get_queue, &g, &q), FLOW_INVALID_ARGUMENT,
		     "queueId must be a positive integer");
	g.has_queue_id = true;
	g.queue_id = -1;
	assert_error(call(h_get_queue, &g, &q), FLOW_INVALID_ARGUMENT,
		     "queueId must be a positive integer");
	g.queue_id = 999999;
	assert_error(call(h_get_queue, &g, &q), FLOW_NOT_FOUND, "queue 999999 not found");
	assert_error(call(h_delete_queue, &d, NULL), FLOW_INVALID_ARGUMENT,
		     "queueId must be a positive integer");
	d.has_queue_id = true;
	d.queue_id = 999999;
	assert_error(call(h_delete_queue, &d, NULL), FLOW_NOT_FOUND, "queue 999999 not found");

	/* update */
	assert_error(call(h_update_queue, &u, &q), FLOW_INVALID_ARGUMENT,
		     "queueId must be a positive integer");
	u.has_queue_id = true;
	u.queue_id = qid;
	assert_error(call(h_update_queue, &u, &q), FLOW_INVALID_ARGUMENT,
		     "nothing to update: give at least one of name, description, "
		     "maxParallelItems, isActive, leaseSeconds, maxAttempts");
	u.name = "";
	assert_error(call(h_update_queue, &u, &q), FLOW_INVALID_ARGUMENT, "name is required");
	u.name = long_name;
	assert_error(call(h_update_queue, &u, &q), FLOW_INVALID_ARGUMENT,
		     "name is longer than 200 characters");
	u.name = NULL;
	u.description = long_desc;
	assert_error(call(h_update_queue, &u, &q), FLOW_INVALID_ARGUMENT,
		     "description is longer than 65536 characters");
	u.description = NULL;
	u.has_max_parallel_items = true;
	u.max_parallel_items = -5;
	assert_error(call(h_update_queue, &u, &q), FLOW_INVALID_ARGUMENT,
		     "maxParallelItems must be between 1 and 10000 (got -5)");
	u.has_max_parallel_items = false;
	u.has_lease_seconds = true;
	u.lease_seconds = 0;
	assert_error(call(h_update_queue, &u, &q), FLOW_INVALID_ARGUMENT,
		     "leaseSeconds must be between 1 and 86400 (got 0)");
	u.has_lease_seconds = false;
	u.has_max_attempts = true;
	u.max_attempts = 1000;
	assert_error(call(h_update_queue, &u, &q), FLOW_INVALID_ARGUMENT,
		     "maxAttempts must be between 1 and 100 (got 1000)");
	u.max_attempts = 2;
	u.queue_id = 999999;
	assert_error(call(h_update_queue, &u, &q), FLOW_NOT_FOUND, "queue 999999 not found");
	assert_unchanged(queue_row(qid), before);
	free(long_name);
	free(long_desc);
	free(ok_name);
	free(before);
}

/* ---- enqueue ---- */

static void test_enqueue_ticket_with_tasks(void **state)
{
	int64_t p = mk_project(), qid, t, k1, k2;
	Flow__V1__UpdateQueueRequest u = FLOW__V1__UPDATE_QUEUE_REQUEST__INIT;
	Flow__V1__EnqueueResponse *res;
	Flow__V1__QueueItem *it;

	(void)state;
	qid = mk_queue(p, "work", 0);
	u.has_queue_id = u.has_max_attempts = true;
	u.queue_id = qid;
	u.max_attempts = 7;
	assert_int_equal(call(h_update_queue, &u, NULL), FLOW_OK);
	t = mk_ticket(p, 7, "{planner,reviewer}", NULL);
	k1 = mk_task(t, 2, "coder", NULL);
	k2 = mk_task(t, 1, NULL, NULL);
	mk_task(t, 0, NULL, "completed");
	mk_task(t, 3, NULL, "cancelled");

	assert_int_equal(enqueue_ticket(qid, t, -1, true, &res), FLOW_OK);
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
	assert_int_equal(q_i64("SELECT count(*) FROM queue_items WHERE ticket_id = $1", 1, I(t)),
			 3);

	/* a ticket without suggested agents: no agent; explicit priority */
	t = mk_ticket(p, 2, NULL, NULL);
	assert_int_equal(enqueue_ticket(qid, t, 9, false, &res), FLOW_OK);
	assert_int_equal(res->n_items, 1);
	assert_null(res->items[0]->agent_id);
	assert_int_equal(res->items[0]->priority, 9);
	assert_int_equal(
	    q_i64("SELECT priority FROM queue_items WHERE id = $1", 1, I(res->items[0]->id)), 9);
}

static void test_enqueue_already_exists(void **state)
{
	int64_t p = mk_project(), q1, q2, t, k1, k2, t2, k3, k4, item;
	Flow__V1__EnqueueResponse *res;
	char *before;

	(void)state;
	q1 = mk_queue(p, "one", 0);
	q2 = mk_queue(p, "two", 0);
	t = mk_ticket(p, 5, NULL, NULL);
	k1 = mk_task(t, 1, NULL, NULL);
	k2 = mk_task(t, 2, NULL, NULL);
	assert_int_equal(enqueue_ticket(q1, t, -1, true, &res), FLOW_OK);
	assert_int_equal(res->n_items, 3);
	item = res->items[0]->id;
	before = items_rows();

	assert_error(enqueue_ticket(q1, t, -1, true, &res), FLOW_ALREADY_EXISTS,
		     arena_printf(R->arena,
				  "ticket %" PRId64 " is already on queue %" PRId64
				  " (item %" PRId64 ")",
				  t, q1, item));
	assert_error(enqueue_ticket(q2, t, -1, false, &res), FLOW_ALREADY_EXISTS,
		     arena_printf(R->arena,
				  "ticket %" PRId64 " is already on queue %" PRId64
				  " (item %" PRId64 ")",
				  t, q1, item));
	item = q_i64("SELECT id FROM queue_items WHERE task_id = $1", 1, I(k2));
	assert_error(enqueue_task(q2, k2, -1, &res), FLOW_ALREADY_EXISTS,
		     arena_printf(R->arena,
				  "task %" PRId64 " is already on queue %" PRId64 " (item %" PRId64
				  ")",
				  k2, q1, item));
	assert_unchanged(items_rows(), before);
	free(before);
	assert_int_equal(q_i64("SELECT count(*) FROM queue_items WHERE task_id = $1", 1, I(k1)), 1);

	/* include_tasks skips tasks that are already active elsewhere */
	t2 = mk_ticket(p, 5, NULL, NULL);
	k3 = mk_task(t2, 1, NULL, NULL);
	k4 = mk_task(t2, 2, NULL, NULL);
	assert_int_equal(enqueue_task(q2, k3, -1, &res), FLOW_OK);
	assert_int_equal(enqueue_ticket(q1, t2, -1, true, &res), FLOW_OK);
	assert_int_equal(res->n_items, 2);
	assert_false(res->items[0]->has_task_id);
	assert_int_equal(res->items[1]->task_id, k4);
	assert_int_equal(q_i64("SELECT queue_id FROM queue_items WHERE task_id = $1", 1, I(k3)),
			 q2);

	/* once the item is finished, the ticket can go on a queue again */
	q_i64(
	    "UPDATE queue_items SET status = 'completed' WHERE ticket_id = $1 AND task_id IS NULL",
	    1, I(t2));
	assert_int_equal(enqueue_ticket(q2, t2, -1, false, &res), FLOW_OK);
	assert_int_equal(res->items[0]->queue_id, q2);
}

static void test_enqueue_task(void **state)
{
	int64_t p = mk_project(), qid, t, k1, k2, k3, k4;
	Flow__V1__EnqueueResponse *res;
	Flow__V1__QueueItem *it;

	(void)state;
	qid = mk_queue(p, "tasks", 0);
	t = mk_ticket(p, 8, "{planner}", NULL);
	k1 = mk_task(t, 1, "coder", NULL);
	k2 = mk_task(t, 2, NULL, "in_progress");
	k3 = mk_task(t, 3, NULL, "completed");
	k4 = mk_task(t, 4, NULL, "cancelled");

	assert_int_equal(enqueue_task(qid, k1, -1, &res), FLOW_OK);
	assert_int_equal(res->n_items, 1);
	it = res->items[0];
	assert_string_equal(it->item_type, "task");
	assert_int_equal(it->task_id, k1);
	assert_int_equal(it->ticket_id, t);
	assert_int_equal(it->priority, 8);
	assert_string_equal(it->agent_id, "coder");
	assert_int_equal(it->max_attempts, 3);
	assert_string_equal(it->status, "queued");

	assert_int_equal(enqueue_task(qid, k2, 0, &res), FLOW_OK);
	assert_int_equal(res->items[0]->priority, 0);
	assert_string_equal(res->items[0]->agent_id, "planner");

	assert_error(enqueue_task(qid, k3, -1, &res), FLOW_FAILED_PRECONDITION,
		     arena_printf(R->arena,
				  "task %" PRId64 " is completed; only pending or in-progress "
				  "tasks can be enqueued",
				  k3));
	assert_error(enqueue_task(qid, k4, -1, &res), FLOW_FAILED_PRECONDITION,
		     arena_printf(R->arena,
				  "task %" PRId64 " is cancelled; only pending or in-progress "
				  "tasks can be enqueued",
				  k4));
	assert_int_equal(q_i64("SELECT count(*) FROM queue_items WHERE ticket_id = $1", 1, I(t)),
			 2);
}

static void test_enqueue_bad_input(void **state)
{
	int64_t p = mk_project(), p2 = mk_project(), qid, t, k, t2, k2, tc, kc;
	Flow__V1__EnqueueTicketRequest et = FLOW__V1__ENQUEUE_TICKET_REQUEST__INIT;
	Flow__V1__EnqueueTaskRequest ek = FLOW__V1__ENQUEUE_TASK_REQUEST__INIT;
	Flow__V1__EnqueueResponse *res;
	int64_t items = count_items();

	(void)state;
	qid = mk_queue(p, "q", 0);
	t = mk_ticket(p, 5, NULL, NULL);
	k = mk_task(t, 1, NULL, NULL);
	t2 = mk_ticket(p2, 5, NULL, NULL);
	k2 = mk_task(t2, 1, NULL, NULL);
	tc = mk_ticket(p, 5, NULL, NULL);
	kc = mk_task(tc, 1, NULL, NULL);
	q_i64("UPDATE tickets SET status = 'closed' WHERE id = $1", 1, I(tc));

	assert_error(call(h_enqueue_ticket, &et, &res), FLOW_INVALID_ARGUMENT,
		     "queueId must be a positive integer");
	et.has_queue_id = true;
	et.queue_id = qid;
	assert_error(call(h_enqueue_ticket, &et, &res), FLOW_INVALID_ARGUMENT,
		     "ticketId must be a positive integer");
	et.has_ticket_id = true;
	et.ticket_id = -t;
	assert_error(call(h_enqueue_ticket, &et, &res), FLOW_INVALID_ARGUMENT,
		     "ticketId must be a positive integer");
	et.ticket_id = t;
	et.has_priority = true;
	et.priority = 11;
	assert_error(call(h_enqueue_ticket, &et, &res), FLOW_INVALID_ARGUMENT,
		     "priority must be between 0 and 10 (got 11)");
	et.priority = -1;
	assert_error(call(h_enqueue_ticket, &et, &res), FLOW_INVALID_ARGUMENT,
		     "priority must be between 0 and 10 (got -1)");
	assert_error(enqueue_ticket(999999, t, -1, true, &res), FLOW_NOT_FOUND,
		     "queue 999999 not found");
	assert_error(enqueue_ticket(qid, 999999, -1, true, &res), FLOW_NOT_FOUND,
		     "ticket 999999 not found");
	assert_error(enqueue_ticket(qid, t2, -1, true, &res), FLOW_FAILED_PRECONDITION,
		     arena_printf(R->arena,
				  "ticket %" PRId64 " belongs to project %" PRId64
				  ", but queue %" PRId64 " belongs to project %" PRId64,
				  t2, p2, qid, p));
	assert_error(enqueue_ticket(qid, tc, -1, true, &res), FLOW_FAILED_PRECONDITION,
		     arena_printf(R->arena,
				  "ticket %" PRId64 " is closed; reopen it before enqueuing it "
				  "or its tasks",
				  tc));

	assert_error(call(h_enqueue_task, &ek, &res), FLOW_INVALID_ARGUMENT,
		     "queueId must be a positive integer");
	ek.has_queue_id = true;
	ek.queue_id = qid;
	assert_error(call(h_enqueue_task, &ek, &res), FLOW_INVALID_ARGUMENT,
		     "taskId must be a positive integer");
	ek.has_task_id = true;
	ek.task_id = k;
	ek.has_priority = true;
	ek.priority = 99;
	assert_error(call(h_enqueue_task, &ek, &res), FLOW_INVALID_ARGUMENT,
		     "priority must be between 0 and 10 (got 99)");
	assert_error(enqueue_task(999999, k, -1, &res), FLOW_NOT_FOUND, "queue 999999 not found");
	assert_error(enqueue_task(qid, 999999, -1, &res), FLOW_NOT_FOUND, "task 999999 not found");
	assert_error(enqueue_task(qid, k2, -1, &res), FLOW_FAILED_PRECONDITION,
		     arena_printf(R->arena,
				  "ticket %" PRId64 " belongs to project %" PRId64
				  ", but queue %" PRId64 " belongs to project %" PRId64,
				  t2, p2, qid, p));
	assert_error(enqueue_task(qid, kc, -1, &res), FLOW_FAILED_PRECONDITION,
		     arena_printf(R->arena,
				  "ticket %" PRId64 " is closed; reopen it before enqueuing it "
				  "or its tasks",
				  tc));
	assert_int_equal(count_items(), items);
}

/* ---- dequeue ---- */

static void test_dequeue(void **state)
{
	int64_t p = mk_project(), qid, t, k1, k2, done_item;
	Flow__V1__DequeueTicketRequest dt = FLOW__V1__DEQUEUE_TICKET_REQUEST__INIT;
	Flow__V1__DequeueTaskRequest dk = FLOW__V1__DEQUEUE_TASK_REQUEST__INIT;
	Flow__V1__DequeueResponse *res;
	Flow__V1__EnqueueResponse *er;
	char *before;

	(void)state;
	qid = mk_queue(p, "q", 5);
	t = mk_ticket(p, 5, NULL, NULL);
	k1 = mk_task(t, 1, NULL, NULL);
	k2 = mk_task(t, 2, NULL, NULL);
	assert_int_equal(enqueue_ticket(qid, t, -1, true, &er), FLOW_OK);
	assert_int_equal(er->n_items, 3);

	/* without its tasks: only the ticket item goes */
	dt.has_ticket_id = dt.has_include_tasks = true;
	dt.ticket_id = t;
	dt.include_tasks = false;
	assert_int_equal(call(h_dequeue_ticket, &dt, &res), FLOW_OK);
	assert_true(res->has_removed);
	assert_int_equal(res->removed, 1);
	assert_int_equal(q_i64("SELECT count(*) FROM queue_items WHERE ticket_id = $1", 1, I(t)),
			 2);
	assert_int_equal(q_i64("SELECT count(*) FROM queue_items WHERE ticket_id = $1"
			       " AND task_id IS NULL",
			       1, I(t)),
			 0);

	/* task dequeue */
	dk.has_task_id = true;
	dk.task_id = k1;
	assert_int_equal(call(h_dequeue_task, &dk, &res), FLOW_OK);
	assert_int_equal(res->removed, 1);
	assert_error(call(h_dequeue_task, &dk, &res), FLOW_NOT_FOUND,
		     arena_printf(R->arena, "task %" PRId64 " is not on any queue", k1));

	/* default include_tasks = true removes the rest, in-progress items too */
	assert_int_equal(enqueue_ticket(qid, t, -1, false, &er), FLOW_OK);
	assert_true(get_next(qid)->found);
	assert_int_equal(q_i64("SELECT count(*) FROM queue_items WHERE status = 'in_progress'"
			       " AND ticket_id = $1",
			       1, I(t)),
			 1);
	dt.has_include_tasks = false;
	assert_int_equal(call(h_dequeue_ticket, &dt, &res), FLOW_OK);
	assert_int_equal(res->removed, 2);
	assert_int_equal(q_i64("SELECT count(*) FROM queue_items WHERE ticket_id = $1", 1, I(t)),
			 0);
	assert_error(call(h_dequeue_ticket, &dt, &res), FLOW_NOT_FOUND,
		     arena_printf(R->arena, "ticket %" PRId64 " is not on any queue", t));

	/* finished items are history: dequeue leaves them */
	assert_int_equal(enqueue_task(qid, k2, -1, &er), FLOW_OK);
	done_item = er->items[0]->id;
	assert_true(get_next(qid)->found);
	assert_int_equal(complete(done_item), FLOW_OK);
	before = items_rows();
	dk.task_id = k2;
	assert_error(call(h_dequeue_task, &dk, &res), FLOW_NOT_FOUND,
		     arena_printf(R->arena, "task %" PRId64 " is not on any queue", k2));
	assert_unchanged(items_rows(), before);

	/* bad input */
	dt.ticket_id = 999999;
	assert_error(call(h_dequeue_ticket, &dt, &res), FLOW_NOT_FOUND, "ticket 999999 not found");
	dt.ticket_id = 0;
	assert_error(call(h_dequeue_ticket, &dt, &res), FLOW_INVALID_ARGUMENT,
		     "ticketId must be a positive integer");
	dt.has_ticket_id = false;
	assert_error(call(h_dequeue_ticket, &dt, &res), FLOW_INVALID_ARGUMENT,
		     "ticketId must be a positive integer");
	dk.task_id = 999999;
	assert_error(call(h_dequeue_task, &dk, &res), FLOW_NOT_FOUND, "task 999999 not found");
	dk.task_id = -2;
	assert_error(call(h_dequeue_task, &dk, &res), FLOW_INVALID_ARGUMENT,
		     "taskId must be a positive integer");
	assert_unchanged(items_rows(), before);
	free(before);
}

/* ---- stats ---- */

static Flow__V1__QueueStats *stats(int64_t queue)
{
	Flow__V1__GetQueueStatsRequest q = FLOW__V1__GET_QUEUE_STATS_REQUEST__INIT;
	Flow__V1__QueueStats *s;

	q.has_queue_id = true;
	q.queue_id = queue;
	assert_int_equal(call(h_get_queue_stats, &q, &s), FLOW_OK);
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
	q_i64("UPDATE queue_items SET started_at = '2024-01-01 00:00:00+00',"
	      " completed_at = '2024-01-01 00:00:00+00'::timestamptz + make_interval(secs => "
	      "$2::int / 1000.0)"
	      " WHERE id = $1",
	      2, I(item), I(ms));
}

static void test_stats(void **state)
{
	int64_t p = mk_project(), qid, q2, t, k[7], it[7];
	Flow__V1__GetAllQueueStatsRequest ga = FLOW__V1__GET_ALL_QUEUE_STATS_REQUEST__INIT;
	Flow__V1__GetAllQueueStatsResponse *all;
	Flow__V1__EnqueueResponse *er;
	Flow__V1__QueueStats *s;

	(void)state;
	qid = mk_queue(p, "stats", 10);
	s = stats(qid);
	assert_counts(s, 0, 0, 0, 0, 0, 0, 0);
	assert_true(s->average_processing_time == 0.0);
	assert_true(s->success_rate == 0.0);
	assert_int_equal(s->n_current_agents, 0);
	assert_string_equal(s->queue_name, "stats");
	assert_int_equal(s->max_parallel_items, 10);
	assert_true(s->is_active);

	t = mk_ticket(p, 5, NULL, NULL);
	for (int i = 0; i < 7; i++) {
		k[i] = mk_task(t, i, i == 3 ? "agent-d" : (i == 4 ? "agent-e" : NULL), NULL);
		assert_int_equal(enqueue_task(qid, k[i], -1, &er), FLOW_OK);
		it[i] = er->items[0]->id;
	}
	for (int i = 0; i < 5; i++)
		assert_int_equal(get_next(qid)->queue_item_id, it[i]);
	assert_int_equal(complete(it[0]), FLOW_OK);
	assert_int_equal(complete(it[1]), FLOW_OK);
	assert_int_equal(fail_item(it[2], "boom"), FLOW_OK);
	/* it[3] stays in progress; it[4] is dead, it[5] queued, it[6] cancelled */
	q_i64("UPDATE queue_items SET status = 'dead', lease_owner = NULL WHERE id = $1", 1,
	      I(it[4]));
	q_i64("UPDATE queue_items SET status = 'cancelled' WHERE id = $1", 1, I(it[6]));
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
	q2 = mk_queue(p, "second", 3);
	t = mk_ticket(p, 5, "{agent-z}", NULL);
	assert_int_equal(enqueue_ticket(q2, t, -1, false, &er), FLOW_OK);
	assert_int_equal(get_next(q2)->queue_item_id, er->items[0]->id);
	assert_int_equal(complete(er->items[0]->id), FLOW_OK);
	set_window(er->items[0]->id, 5000);
	mk_queue(p, "empty", 0);
	ga.has_project_id = true;
	ga.project_id = p;
	assert_int_equal(call(h_get_all_queue_stats, &ga, &all), FLOW_OK);
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
	ga.project_id = mk_project();
	assert_int_equal(call(h_get_all_queue_stats, &ga, &all), FLOW_OK);
	assert_int_equal(all->n_queues, 0);
	assert_counts(all->total, 0, 0, 0, 0, 0, 0, 0);
	assert_true(all->total->success_rate == 0.0);
	ga.project_id = 999999;
	assert_error(call(h_get_all_queue_stats, &ga, &all), FLOW_NOT_FOUND,
		     "project 999999 not found");
	ga.project_id = 0;
	assert_error(call(h_get_all_queue_stats, &ga, &all), FLOW_INVALID_ARGUMENT,
		     "projectId must be a positive integer");
	{
		Flow__V1__GetQueueStatsRequest g = FLOW__V1__GET_QUEUE_STATS_REQUEST__INIT;

		assert_error(call(h_get_queue_stats, &g, &s), FLOW_INVALID_ARGUMENT,
			     "queueId must be a positive integer");
		g.has_queue_id = true;
		g.queue_id = 999999;
		assert_error(call(h_get_queue_stats, &g, &s), FLOW_NOT_FOUND,
			     "queue 999999 not found");
	}
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
		cmocka_unit_test_setup(test_queue_crud, reset),
		cmocka_unit_test_setup(test_queue_duplicate_name, reset),
		cmocka_unit_test_setup(test_queue_bad_input, reset),
		cmocka_unit_test_setup(test_enqueue_ticket_with_tasks, reset),
		cmocka_unit_test_setup(test_enqueue_already_exists, reset),
		cmocka_unit_test_setup(test_enqueue_task, reset),
		cmocka_unit_test_setup(test_enqueue_bad_input, reset),
		cmocka_unit_test_setup(test_dequeue, reset),
		cmocka_unit_test_setup(test_stats, reset),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
