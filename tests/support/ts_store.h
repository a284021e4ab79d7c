/*
 * ts_store.h - a flow_req on a fresh test database, for integration tests
 * that call handlers and store functions directly, and the helpers those
 * tests share: cmocka group fixtures, calling a handler, raw SQL, fixtures.
 *
 * Ownership: replies and other results of handlers live in r->arena until
 * the next ts_req_reset(r); "char *" results are malloc'd and freed by the
 * caller; "const char *" ones are owned here.
 *
 * Everything below ts_req_close() reports failures through cmocka (fail_msg
 * and the assert macros), so it is for the test's main thread only: cmocka
 * is not thread-safe. Threads use ts_req_connect() and call handlers on
 * their own request.
 */
#ifndef FLOW_TS_STORE_H
#define FLOW_TS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow/v1/flow_manager.pb-c.h"
#include "flow/v1/worker.pb-c.h"
#include "req.h"
#include "service.h"

/*
 * A dispatch guard (dispatch.h) for tests of transport and dispatch, not of
 * authentication: every call is made by an admin with user id 0 and no
 * token is needed. Real authentication is tested in integration.guard and
 * the end-to-end tests.
 */
int ts_guard_admin(struct flow_req *r, const ProtobufCServiceDescriptor *svc,
		   const ProtobufCMethodDescriptor *m, const char *token,
		   const ProtobufCMessage *in);

/*
 * Creates a fresh database (ts_create_db), applies the migrations and
 * returns a request context connected to it; the test is skipped (exit 77)
 * when no test PostgreSQL is configured. The database URL is written to
 * url (may be NULL). Aborts the test on any other failure.
 */
struct flow_req *ts_req_open(char *url, size_t len);
/* Another connection to the same database (for concurrency tests). Requests
 * act for an admin with user id 0 (r->who) from peer "test". */
struct flow_req *ts_req_connect(const char *url);
/* Frees the arena's contents and clears the error state between calls. */
void ts_req_reset(struct flow_req *r);
/* Closes the connection and frees r (NULL: no-op); url_to_drop, if not NULL, is dropped too. */
void ts_req_close(struct flow_req *r, const char *url_to_drop);

/*
 * One database for all the tests of a program. Group fixtures:
 *	cmocka_run_group_tests(tests, ts_group_setup, ts_group_teardown)
 * ts_group_setup opens ts_r on a fresh database (ts_req_open) and writes
 * its URL to ts_db_url (for ts_req_connect); ts_group_teardown closes ts_r
 * and drops the database. ts_test_reset, a per-test setup
 * (cmocka_unit_test_setup), gives each test a fresh arena: ts_req_reset(ts_r).
 * Both variables are owned here; ts_r is NULL outside the group.
 */
extern struct flow_req *ts_r;
extern char ts_db_url[512];
int ts_group_setup(void **state);
int ts_group_teardown(void **state);
int ts_test_reset(void **state);

/*
 * Calls handler fn with request in (a protobuf-c message) on r. When out is
 * not NULL, *(ProtobufCMessage **)out gets the reply on FLOW_OK (in
 * r->arena) and NULL otherwise. Clears r->message first and resets nothing
 * else: replies of earlier calls stay valid. Returns the handler's code.
 */
int ts_call(struct flow_req *r, service_handler fn, const void *in, void *out);

/*
 * Asserts that rv (evaluated first, typically a ts_call) is code and that
 * r's message is then exactly msg. Needs <cmocka.h>.
 */
#define assert_req_error(r, rv, code, msg)                                                         \
	do {                                                                                       \
		assert_int_equal((rv), (code));                                                    \
		assert_string_equal((r)->message, (msg));                                          \
	} while (0)

/* The most parameters ts_sql_i64 and ts_sql_text take. */
#define TS_SQL_MAX_PARAMS 8

/*
 * Runs sql on r's connection with nparams text parameters (const char *,
 * NULL for SQL NULL) following nparams; fails the test on an SQL error.
 * Returns the first column of the first row as an integer: 0 when there is
 * no row or it is NULL (so statements without a result can run here too).
 */
int64_t ts_sql_i64(struct flow_req *r, const char *sql, int nparams, ...);
/* Like ts_sql_i64 for text: a malloc'd copy, "<null>" for no row or NULL. */
char *ts_sql_text(struct flow_req *r, const char *sql, int nparams, ...);

/*
 * The decimal text of v, for SQL parameters, in one of 8 static buffers
 * used in turn: valid until the 8th call after this one.
 */
const char *ts_i64s(int64_t v);

/* n copies of unit, NUL-terminated and malloc'd. */
char *ts_repeat(const char *unit, size_t n);

/* Asserts that the fingerprint now (a ts_sql_text result, freed here) is before. */
void ts_assert_unchanged(char *now, const char *before);

/*
 * Fixtures made with plain SQL, so that tests do not depend on the project,
 * ticket and task handlers. Each returns the new row's id.
 */
/* A project named "p". */
int64_t ts_insert_project(struct flow_req *r);
/* A ticket "a ticket"; agents and files: PostgreSQL array literals or NULL. */
int64_t ts_insert_ticket(struct flow_req *r, int64_t project, int priority, const char *agents,
			 const char *files);
/* A task "a task"; agent may be NULL; status NULL: pending. */
int64_t ts_insert_task(struct flow_req *r, int64_t ticket, int order, const char *agent,
		       const char *status);

/*
 * Fixtures made through the handlers, which must succeed. Each returns the
 * new row's id, or the reply (in r->arena).
 */
/* CreateProject; path and desc may be NULL. */
int64_t ts_create_project(struct flow_req *r, const char *name, const char *path, const char *desc);
/* CreateTicket; status may be NULL; prio < 0: none given. */
int64_t ts_create_ticket(struct flow_req *r, int64_t project, const char *title, const char *status,
			 int prio);
/* GetTicket. */
Flow__V1__Ticket *ts_get_ticket(struct flow_req *r, int64_t id);
/* CreateQueue; max_parallel <= 0: the default. */
int64_t ts_create_queue(struct flow_req *r, int64_t project, const char *name, int max_parallel);

/*
 * Calls to the queue handlers that may fail: each returns the handler's
 * code, with the reply in *res or *out (may be NULL) as ts_call gives it.
 */
/* EnqueueTask; priority < 0: none given. */
int ts_enqueue_task(struct flow_req *r, int64_t queue, int64_t task, int priority,
		    Flow__V1__EnqueueResponse **res);
/* EnqueueTicket; priority < 0: none given; include_tasks < 0: not given, else false / true. */
int ts_enqueue_ticket(struct flow_req *r, int64_t queue, int64_t ticket, int priority,
		      int include_tasks, Flow__V1__EnqueueResponse **res);
/* CompleteItem; item 0: no id given; notes and metadata may be NULL. */
int ts_complete_item(struct flow_req *r, int64_t item, const char *notes, const char *metadata,
		     Flow__V1__QueueItem **out);
/* FailItem; item 0: no id given; error may be NULL. */
int ts_fail_item(struct flow_req *r, int64_t item, const char *error, Flow__V1__QueueItem **out);

/*
 * GetNext on queue for agent (NULL: any), which must succeed with a reply
 * that says whether it found an item and has a message.
 */
Flow__V1__GetNextResponse *ts_get_next(struct flow_req *r, int64_t queue, const char *agent);

/*
 * WorkerService calls. ts_register_worker must succeed and returns the
 * worker id; agents is a comma-separated list ("noop,coder"). The others
 * return the handler's code with the reply in *res / *out (may be NULL).
 */
int64_t ts_register_worker(struct flow_req *r, const char *agents);
/* Claim; queue 0: any queue; agents NULL: the registered ones. */
int ts_claim(struct flow_req *r, int64_t worker, const char *agents, int max_items, int64_t queue,
	     int wait_ms, Flow__V1__ClaimResponse **res);
/* Complete; notes may be NULL. */
int ts_worker_complete(struct flow_req *r, int64_t worker, int64_t item, int attempt,
		       const char *notes, Flow__V1__QueueItem **out);
/* Fail. */
int ts_worker_fail(struct flow_req *r, int64_t worker, int64_t item, int attempt, const char *error,
		   bool retryable, Flow__V1__QueueItem **out);

#endif
