#include "ts_store.h"

#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "flow/v1/project_manager.pb-c.h"
#include "services/handlers.h"
#include "status.h"
#include "store/migrate.h"
#include "store/store.h"
#include "testsupport.h"

struct flow_req *ts_req_connect(const char *url)
{
	struct flow_req *r = calloc(1, sizeof(*r));
	char err[512];

	if (r == NULL || (r->arena = arena_new(64 * 1024)) == NULL) {
		fprintf(stderr, "ts_req_connect: out of memory\n");
		abort();
	}
	if (store_open(url, &r->db, err, sizeof(err)) != FLOW_OK) {
		fprintf(stderr, "ts_req_connect: %s\n", err);
		abort();
	}
	r->method = "test";
	r->request_id = "test";
	r->who.role = ROLE_ADMIN; /* handlers called directly act for an admin */
	snprintf(r->who.username, sizeof(r->who.username), "test-admin");
	snprintf(r->peer, sizeof(r->peer), "test");
	return r;
}

int ts_guard_admin(struct flow_req *r, const ProtobufCServiceDescriptor *svc,
		   const ProtobufCMethodDescriptor *m, const char *token,
		   const ProtobufCMessage *in)
{
	(void)svc;
	(void)m;
	(void)token;
	(void)in;
	memset(&r->who, 0, sizeof(r->who));
	r->who.role = ROLE_ADMIN;
	snprintf(r->who.username, sizeof(r->who.username), "test-admin");
	return FLOW_OK;
}

struct flow_req *ts_req_open(char *url, size_t len)
{
	char buf[512], err[512];
	struct flow_req *r;
	int applied;

	if (ts_pg_admin_url() == NULL)
		ts_skip_without_pg();
	if (ts_create_db(buf, sizeof(buf)) != 0) {
		fprintf(stderr, "ts_req_open: cannot create a test database\n");
		abort();
	}
	r = ts_req_connect(buf);
	if (store_migrate(store_pg(r->db), &applied, err, sizeof(err)) != FLOW_OK) {
		fprintf(stderr, "ts_req_open: migrations failed: %s\n", err);
		abort();
	}
	if (url != NULL)
		snprintf(url, len, "%s", buf);
	return r;
}

void ts_req_reset(struct flow_req *r)
{
	arena_reset(r->arena);
	r->message[0] = '\0';
	r->retry_after_ms = 0;
}

void ts_req_close(struct flow_req *r, const char *url_to_drop)
{
	if (r == NULL)
		return;
	store_close(r->db);
	arena_free(r->arena);
	free(r);
	if (url_to_drop != NULL)
		ts_drop_db(url_to_drop);
}

struct flow_req *ts_r;
char ts_db_url[512];

int ts_group_setup(void **state)
{
	(void)state;
	ts_r = ts_req_open(ts_db_url, sizeof(ts_db_url));
	return 0;
}

int ts_group_teardown(void **state)
{
	(void)state;
	ts_req_close(ts_r, ts_db_url);
	ts_r = NULL;
	return 0;
}

int ts_test_reset(void **state)
{
	(void)state;
	ts_req_reset(ts_r);
	return 0;
}

int ts_call(struct flow_req *r, service_handler fn, const void *in, void *out)
{
	ProtobufCMessage *m = NULL;
	int rv;

	r->message[0] = '\0';
	r->after_reply = NULL;
	rv = fn(r, (const ProtobufCMessage *)in, &m);
	req_after_reply(r); /* as flowd does once the reply is sent */
	if (out != NULL)
		*(ProtobufCMessage **)out = rv == FLOW_OK ? m : NULL;
	return rv;
}

/* ts_call that must succeed: the reply (in r->arena). */
static void *call_ok(struct flow_req *r, service_handler fn, const void *in)
{
	ProtobufCMessage *out;
	int rv = ts_call(r, fn, in, &out);

	if (rv != FLOW_OK)
		fail_msg("handler failed with code %d: %s", rv, r->message);
	return out;
}

/* Runs sql with the nparams text parameters in ap; fails the test on error. */
static PGresult *sql_run(struct flow_req *r, const char *sql, int nparams, va_list ap)
{
	const char *p[TS_SQL_MAX_PARAMS];
	PGresult *res;
	ExecStatusType st;

	if (nparams < 0 || nparams > TS_SQL_MAX_PARAMS)
		fail_msg("SQL with %d parameters (at most %d): %s", nparams, TS_SQL_MAX_PARAMS,
			 sql);
	for (int i = 0; i < nparams; i++)
		p[i] = va_arg(ap, const char *);
	res = PQexecParams(store_pg(r->db), sql, nparams, NULL, p, NULL, NULL, 0);
	st = PQresultStatus(res);
	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
		fail_msg("SQL failed: %s: %s", sql, PQerrorMessage(store_pg(r->db)));
	return res;
}

int64_t ts_sql_i64(struct flow_req *r, const char *sql, int nparams, ...)
{
	va_list ap;
	PGresult *res;
	int64_t v = 0;

	va_start(ap, nparams);
	res = sql_run(r, sql, nparams, ap);
	va_end(ap);
	if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
		v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return v;
}

char *ts_sql_text(struct flow_req *r, const char *sql, int nparams, ...)
{
	va_list ap;
	PGresult *res;
	char *v;

	va_start(ap, nparams);
	res = sql_run(r, sql, nparams, ap);
	va_end(ap);
	if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0))
		v = strdup("<null>");
	else
		v = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	assert_non_null(v);
	return v;
}

const char *ts_i64s(int64_t v)
{
	static char buf[8][24];
	static int k;

	k = (k + 1) % 8;
	snprintf(buf[k], sizeof(buf[k]), "%" PRId64, v);
	return buf[k];
}

char *ts_repeat(const char *unit, size_t n)
{
	size_t len = strlen(unit);
	char *s = malloc(len * n + 1);

	assert_non_null(s);
	for (size_t i = 0; i < n; i++)
		memcpy(s + i * len, unit, len);
	s[len * n] = '\0';
	return s;
}

void ts_assert_unchanged(char *now, const char *before)
{
	assert_string_equal(now, before);
	free(now);
}

int64_t ts_insert_project(struct flow_req *r)
{
	return ts_sql_i64(r, "INSERT INTO projects (name) VALUES ('p') RETURNING id", 0);
}

int64_t ts_insert_ticket(struct flow_req *r, int64_t project, int priority, const char *agents,
			 const char *files)
{
	return ts_sql_i64(r,
			  "INSERT INTO tickets (project_id, title, priority, suggested_agent_ids,"
			  " suggested_file_ids) VALUES ($1, 'a ticket', $2,"
			  " coalesce($3::text[], '{}'), coalesce($4::text[], '{}')) RETURNING id",
			  4, ts_i64s(project), ts_i64s(priority), agents, files);
}

int64_t ts_insert_task(struct flow_req *r, int64_t ticket, int order, const char *agent,
		       const char *status)
{
	return ts_sql_i64(r,
			  "INSERT INTO tasks (ticket_id, content, order_index, agent_id, status)"
			  " VALUES ($1, 'a task', $2, $3, coalesce($4, 'pending')) RETURNING id",
			  4, ts_i64s(ticket), ts_i64s(order), agent, status);
}

int64_t ts_create_project(struct flow_req *r, const char *name, const char *path, const char *desc)
{
	Flow__V1__CreateProjectRequest req = FLOW__V1__CREATE_PROJECT_REQUEST__INIT;
	Flow__V1__Project *p;

	req.name = (char *)name;
	req.path = (char *)path;
	req.description = (char *)desc;
	p = call_ok(r, h_create_project, &req);
	assert_true(p->has_id && p->id > 0);
	return p->id;
}

int64_t ts_create_ticket(struct flow_req *r, int64_t project, const char *title, const char *status,
			 int prio)
{
	Flow__V1__CreateTicketRequest req = FLOW__V1__CREATE_TICKET_REQUEST__INIT;

	req.has_project_id = true;
	req.project_id = project;
	req.title = (char *)title;
	req.status = (char *)status;
	req.has_priority = prio >= 0;
	req.priority = prio;
	return ((Flow__V1__Ticket *)call_ok(r, h_create_ticket, &req))->id;
}

Flow__V1__Ticket *ts_get_ticket(struct flow_req *r, int64_t id)
{
	Flow__V1__GetTicketRequest req = FLOW__V1__GET_TICKET_REQUEST__INIT;

	req.has_ticket_id = true;
	req.ticket_id = id;
	return call_ok(r, h_get_ticket, &req);
}

int64_t ts_create_queue(struct flow_req *r, int64_t project, const char *name, int max_parallel)
{
	Flow__V1__CreateQueueRequest req = FLOW__V1__CREATE_QUEUE_REQUEST__INIT;

	req.has_project_id = true;
	req.project_id = project;
	req.name = (char *)name;
	req.has_max_parallel_items = max_parallel > 0;
	req.max_parallel_items = max_parallel;
	return ((Flow__V1__Queue *)call_ok(r, h_create_queue, &req))->id;
}

int ts_enqueue_task(struct flow_req *r, int64_t queue, int64_t task, int priority,
		    Flow__V1__EnqueueResponse **res)
{
	Flow__V1__EnqueueTaskRequest req = FLOW__V1__ENQUEUE_TASK_REQUEST__INIT;

	req.has_queue_id = req.has_task_id = true;
	req.queue_id = queue;
	req.task_id = task;
	req.has_priority = priority >= 0;
	req.priority = priority;
	return ts_call(r, h_enqueue_task, &req, res);
}

int ts_enqueue_ticket(struct flow_req *r, int64_t queue, int64_t ticket, int priority,
		      int include_tasks, Flow__V1__EnqueueResponse **res)
{
	Flow__V1__EnqueueTicketRequest req = FLOW__V1__ENQUEUE_TICKET_REQUEST__INIT;

	req.has_queue_id = req.has_ticket_id = true;
	req.queue_id = queue;
	req.ticket_id = ticket;
	req.has_priority = priority >= 0;
	req.priority = priority;
	req.has_include_tasks = include_tasks >= 0;
	req.include_tasks = include_tasks > 0;
	return ts_call(r, h_enqueue_ticket, &req, res);
}

int ts_complete_item(struct flow_req *r, int64_t item, const char *notes, const char *metadata,
		     Flow__V1__QueueItem **out)
{
	Flow__V1__CompleteItemRequest req = FLOW__V1__COMPLETE_ITEM_REQUEST__INIT;

	req.has_queue_item_id = item != 0;
	req.queue_item_id = item;
	req.completion_notes = (char *)notes;
	req.metadata = (char *)metadata;
	return ts_call(r, h_complete_item, &req, out);
}

int ts_fail_item(struct flow_req *r, int64_t item, const char *error, Flow__V1__QueueItem **out)
{
	Flow__V1__FailItemRequest req = FLOW__V1__FAIL_ITEM_REQUEST__INIT;

	req.has_queue_item_id = item != 0;
	req.queue_item_id = item;
	req.error = (char *)error;
	return ts_call(r, h_fail_item, &req, out);
}

Flow__V1__GetNextResponse *ts_get_next(struct flow_req *r, int64_t queue, const char *agent)
{
	Flow__V1__GetNextRequest req = FLOW__V1__GET_NEXT_REQUEST__INIT;
	Flow__V1__GetNextResponse *res;

	req.has_queue_id = true;
	req.queue_id = queue;
	req.agent_id = (char *)agent;
	res = call_ok(r, h_get_next, &req);
	assert_true(res->has_found);
	assert_non_null(res->message);
	return res;
}

/* Splits the comma-separated list csv into an arena array; *n its length. */
static char **split_agents(struct flow_req *r, const char *csv, size_t *n)
{
	char *copy = arena_strdup(r->arena, csv), *save = NULL;
	char **v = arena_alloc(r->arena, sizeof(char *) * (strlen(csv) + 1));

	assert_non_null(copy);
	assert_non_null(v);
	*n = 0;
	for (char *t = strtok_r(copy, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save))
		v[(*n)++] = t;
	return v;
}

int64_t ts_register_worker(struct flow_req *r, const char *agents)
{
	Flow__V1__RegisterWorkerRequest req = FLOW__V1__REGISTER_WORKER_REQUEST__INIT;
	Flow__V1__RegisterWorkerResponse *res;

	req.name = "test-worker";
	req.agent_ids = split_agents(r, agents, &req.n_agent_ids);
	req.has_capacity = true;
	req.capacity = 4;
	res = call_ok(r, h_register_worker, &req);
	assert_true(res->has_worker_id && res->worker_id > 0);
	return res->worker_id;
}

int ts_claim(struct flow_req *r, int64_t worker, const char *agents, int max_items, int64_t queue,
	     int wait_ms, Flow__V1__ClaimResponse **res)
{
	Flow__V1__ClaimRequest req = FLOW__V1__CLAIM_REQUEST__INIT;

	req.has_worker_id = req.has_max_items = true;
	req.worker_id = worker;
	req.max_items = max_items;
	if (agents != NULL)
		req.agent_ids = split_agents(r, agents, &req.n_agent_ids);
	req.has_queue_id = queue > 0;
	req.queue_id = queue;
	req.has_wait_ms = wait_ms > 0;
	req.wait_ms = wait_ms;
	return ts_call(r, h_claim, &req, res);
}

int ts_worker_complete(struct flow_req *r, int64_t worker, int64_t item, int attempt,
		       const char *notes, Flow__V1__QueueItem **out)
{
	Flow__V1__CompleteRequest req = FLOW__V1__COMPLETE_REQUEST__INIT;

	req.has_worker_id = req.has_queue_item_id = req.has_attempt = true;
	req.worker_id = worker;
	req.queue_item_id = item;
	req.attempt = attempt;
	req.completion_notes = (char *)notes;
	return ts_call(r, h_worker_complete, &req, out);
}

int ts_worker_fail(struct flow_req *r, int64_t worker, int64_t item, int attempt, const char *error,
		   bool retryable, Flow__V1__QueueItem **out)
{
	Flow__V1__FailRequest req = FLOW__V1__FAIL_REQUEST__INIT;

	req.has_worker_id = req.has_queue_item_id = req.has_attempt = req.has_retryable = true;
	req.worker_id = worker;
	req.queue_item_id = item;
	req.attempt = attempt;
	req.error = (char *)error;
	req.retryable = retryable;
	return ts_call(r, h_worker_fail, &req, out);
}
