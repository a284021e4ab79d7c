/*
 * tasks_test - the task handlers (tasks.c) on a real PostgreSQL: the usage
 * guide's tasks, every field kept, validation, dependencies, done/status
 * and the ticket closing with its last task, delete, reorder, and order
 * indexes under concurrent creation.
 */
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flow/v1/flow_manager.pb-c.h"
#include "flow/v1/project_manager.pb-c.h"
#include "services/handlers.h"
#include "status.h"
#include "store/tasks.h"
#include "ts_store.h"

/* A ticket (no status, no priority) of a project of its own. */
static int64_t create_ticket(const char *title)
{
	int64_t project = ts_create_project(ts_r, "Tasks project", NULL, NULL);

	return ts_create_ticket(ts_r, project, title, NULL, -1);
}

static Flow__V1__CreateTaskRequest task_req(int64_t ticket, const char *content)
{
	Flow__V1__CreateTaskRequest req = FLOW__V1__CREATE_TASK_REQUEST__INIT;

	req.has_ticket_id = true;
	req.ticket_id = ticket;
	req.content = (char *)content;
	return req;
}

static int64_t create_task(int64_t ticket, const char *content)
{
	Flow__V1__CreateTaskRequest req = task_req(ticket, content);
	Flow__V1__Task *t;

	assert_int_equal(ts_call(ts_r, h_create_task, &req, &t), FLOW_OK);
	return t->id;
}

static Flow__V1__Task *get_task(int64_t id)
{
	Flow__V1__Task *t;

	ts_req_reset(ts_r);
	assert_int_equal(store_task_get(ts_r, id, &t), FLOW_OK);
	return t;
}

static Flow__V1__UpdateTaskRequest update_req(int64_t id)
{
	Flow__V1__UpdateTaskRequest req = FLOW__V1__UPDATE_TASK_REQUEST__INIT;

	req.has_task_id = true;
	req.task_id = id;
	return req;
}

static int64_t count_tasks(void)
{
	return ts_sql_i64(ts_r, "SELECT count(*) FROM tasks", 0);
}

static void test_create_usage_guide_tasks(void **state)
{
	static const struct {
		const char *content;
		const char *description;
		double hours;
		char *tags[2];
	} guide[] = {
		{ "Implement JWT secret validation function",
		  "Add validateJwtSecret() function with:\n- Minimum length check (32 chars)\n"
		  "- Forbidden defaults list\n- Entropy calculation\n"
		  "- IIFE for JWT_SECRET initialization\n- Production mode strict validation\n"
		  "- Development mode warnings\n\nFiles: /packages/services/src/auth-service.ts\n"
		  "\nAgent: promptliano-service-architect",
		  1.0, { "security", "validation" } },
		{ "Add server startup security checks",
		  "Create performSecurityChecks() function:\n- Check JWT secret validation\n"
		  "- Production environment checks\n- Log security check results\n"
		  "- Fail server startup if critical checks fail\n\n"
		  "Files: /packages/server/src/app.ts\n\nAgent: promptliano-api-architect",
		  0.5, { "security", "startup" } },
		{ "Update environment configuration documentation",
		  "Update .env.example with:\n- Comprehensive JWT secret section\n"
		  "- Security warnings\n- Generation instructions\n"
		  "- Required variables for production\n\nFiles: /.env.example\n\n"
		  "Agent: promptliano-service-architect",
		  0.5, { "security", "documentation" } },
	};
	int64_t ticket = create_ticket("[P0-1] CRITICAL: Fix JWT Secret Hardcoded Default");
	int64_t ids[3];

	for (int i = 0; i < 3; i++) {
		Flow__V1__CreateTaskRequest req = task_req(ticket, guide[i].content);
		Flow__V1__Task *t;

		req.description = (char *)guide[i].description;
		req.status = "pending";
		req.has_estimated_hours = true;
		req.estimated_hours = guide[i].hours;
		req.tags = (char **)guide[i].tags;
		req.n_tags = 2;
		assert_int_equal(ts_call(ts_r, h_create_task, &req, &t), FLOW_OK);
		assert_true(t->has_id && t->has_ticket_id && t->has_done && t->has_order_index);
		assert_true(t->has_created && t->has_updated && t->created > 0);
		ids[i] = t->id;
	}
	for (int i = 0; i < 3; i++) {
		Flow__V1__Task *t = get_task(ids[i]);

		assert_int_equal(t->ticket_id, ticket);
		assert_string_equal(t->content, guide[i].content);
		assert_string_equal(t->description, guide[i].description);
		assert_string_equal(t->status, "pending");
		assert_false(t->done);
		assert_int_equal(t->order_index, i);
		assert_true(t->has_estimated_hours);
		assert_true(t->estimated_hours == guide[i].hours);
		assert_int_equal(t->n_tags, 2);
		assert_string_equal(t->tags[0], guide[i].tags[0]);
		assert_string_equal(t->tags[1], guide[i].tags[1]);
		assert_null(t->agent_id);
		assert_null(t->completion_notes);
		assert_int_equal(t->n_dependencies, 0);
	}
}

static void test_create_keeps_every_field(void **state)
{
	char *tags[] = { "backend", "auth" };
	char *files[] = { "/packages/server/src/app.ts", "/.env.example" };
	int64_t ticket = create_ticket("all fields");
	int64_t a = create_task(ticket, "first"), b = create_task(ticket, "second");
	int64_t deps[] = { b, a };
	Flow__V1__CreateTaskRequest req = task_req(ticket, "'); DROP TABLE tasks; --");
	Flow__V1__Task *t;
	int64_t id;

	req.description = "desc with $1 and \"quotes\"";
	req.status = "in_progress";
	req.has_estimated_hours = true;
	req.estimated_hours = 2.25;
	req.tags = tags;
	req.n_tags = 2;
	req.agent_id = "promptliano-service-architect";
	req.dependencies = deps;
	req.n_dependencies = 2;
	req.suggested_file_ids = files;
	req.n_suggested_file_ids = 2;
	req.has_order_index = true;
	req.order_index = 10;
	assert_int_equal(ts_call(ts_r, h_create_task, &req, &t), FLOW_OK);
	id = t->id;

	t = get_task(id);
	assert_string_equal(t->content, "'); DROP TABLE tasks; --");
	assert_string_equal(t->description, "desc with $1 and \"quotes\"");
	assert_string_equal(t->status, "in_progress");
	assert_false(t->done);
	assert_true(t->estimated_hours == 2.25);
	assert_int_equal(t->n_tags, 2);
	assert_string_equal(t->tags[1], "auth");
	assert_string_equal(t->agent_id, "promptliano-service-architect");
	assert_int_equal(t->n_dependencies, 2);
	assert_int_equal(t->dependencies[0], b);
	assert_int_equal(t->dependencies[1], a);
	assert_int_equal(t->n_suggested_file_ids, 2);
	assert_string_equal(t->suggested_file_ids[0], files[0]);
	assert_int_equal(t->order_index, 10);

	/* The next task without an order index goes after the last one. */
	assert_int_equal(get_task(create_task(ticket, "after"))->order_index, 11);
	/* No estimate given: none stored. */
	assert_false(get_task(a)->has_estimated_hours);
}

static void test_status_aliases(void **state)
{
	int64_t ticket = create_ticket("aliases");
	static const char *const in[] = { NULL, "pending", "open", "in_progress", "completed",
					  "done", "cancelled" };
	static const char *const want[] = { "pending", "pending", "pending", "in_progress",
					     "completed", "completed", "cancelled" };

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		Flow__V1__CreateTaskRequest req = task_req(ticket, "s");
		Flow__V1__Task *t;

		req.status = (char *)in[i];
		assert_int_equal(ts_call(ts_r, h_create_task, &req, &t), FLOW_OK);
		t = get_task(t->id);
		assert_string_equal(t->status, want[i]);
		assert_int_equal(t->done, strcmp(want[i], "completed") == 0);
	}
}

static void expect_create_rejected(Flow__V1__CreateTaskRequest *req, int code,
				   const char *message)
{
	Flow__V1__Task *t;
	int64_t before = count_tasks();

	assert_req_error(ts_r, ts_call(ts_r, h_create_task, req, &t), code, message);
	assert_int_equal(count_tasks(), before);
}

static void test_create_rejects_bad_input(void **state)
{
	int64_t ticket = create_ticket("rejects"), other = create_ticket("other ticket");
	int64_t foreign = create_task(other, "foreign");
	int64_t mine = create_task(ticket, "mine");
	char *content = ts_repeat("c", 2001), *desc = ts_repeat("d", 65537);
	char *agent = ts_repeat("a", 201);
	char *many[51];
	int64_t deps[2];
	char want[128];
	Flow__V1__CreateTaskRequest req = task_req(ticket, "x");

	for (size_t i = 0; i < 51; i++)
		many[i] = "t";
	req.has_ticket_id = false;
	expect_create_rejected(&req, FLOW_INVALID_ARGUMENT, "ticketId must be a positive integer");
	req.has_ticket_id = true;
	req.ticket_id = 0;
	expect_create_rejected(&req, FLOW_INVALID_ARGUMENT, "ticketId must be a positive integer");
	req.ticket_id = -1;
	expect_create_rejected(&req, FLOW_INVALID_ARGUMENT, "ticketId must be a positive integer");
	req.ticket_id = 999999;
	expect_create_rejected(&req, FLOW_NOT_FOUND, "ticket 999999 not found");

	req = task_req(ticket, NULL);
	expect_create_rejected(&req, FLOW_INVALID_ARGUMENT, "content is required");
	req.content = "   ";
	expect_create_rejected(&req, FLOW_INVALID_ARGUMENT, "content is required");
	req.content = content;
	expect_create_rejected(&req, FLOW_INVALID_ARGUMENT,
			       "content is longer than 2000 characters");
	req.content = "x";
	req.description = desc;
	expect_create_rejected(&req, FLOW_INVALID_ARGUMENT,
			       "description is longer than 65536 characters");
	req.description = NULL;
	req.status = "finished";
	expect_create_rejected(&req, FLOW_INVALID_ARGUMENT,
			       "status must be one of pending, in_progress, completed, cancelled "
			       "(got \"finished\")");
	req.status = NULL;
	req.has_estimated_hours = true;
	req.estimated_hours = -0.5;
	expect_create_rejected(&req, FLOW_INVALID_ARGUMENT,
			       "estimatedHours must be between 0 and 10000 (got -0.5)");
	req.estimated_hours = 10000.5;
	expect_create_rejected(&req, FLOW_INVALID_ARGUMENT,
			       "estimatedHours must be between 0 and 10000 (got 10000.5)");
	req.estimated_hours = NAN;
	expect_create_rejected(&req, FLOW_INVALID_ARGUMENT,
			       "estimatedHours must be between 0 and 10000 (got nan)");
	req.has_estimated_hours = false;
	req.agent_id = agent;
	expect_create_rejected(&req, FLOW_INVALID_ARGUMENT,
			       "agentId is longer than 200 characters");
	req.agent_id = "code-reviewer\nINFO forged log line";
	expect_create_rejected(&req, FLOW_INVALID_ARGUMENT,
			       "agentId must not contain control characters (newlines, tabs, ...)");
	req.agent_id = NULL;
	req.tags = many;
	req.n_tags = 51;
	expect_create_rejected(&req, FLOW_INVALID_ARGUMENT,
			       "tags has 51 entries; at most 50 are allowed");
	req.n_tags = 0;
	req.has_order_index = true;
	req.order_index = -1;
	expect_create_rejected(&req, FLOW_INVALID_ARGUMENT,
			       "orderIndex must be 0 or more (got -1)");
	req.has_order_index = false;

	/* Dependencies: existing tasks of the same ticket, each once. */
	req.dependencies = deps;
	req.n_dependencies = 1;
	deps[0] = 888888;
	expect_create_rejected(&req, FLOW_NOT_FOUND, "dependency task 888888 not found");
	deps[0] = foreign;
	snprintf(want, sizeof(want),
		 "dependency task %" PRId64 " belongs to ticket %" PRId64
		 ", not to ticket %" PRId64,
		 foreign, other, ticket);
	expect_create_rejected(&req, FLOW_INVALID_ARGUMENT, want);
	deps[0] = 0;
	expect_create_rejected(&req, FLOW_INVALID_ARGUMENT,
			       "dependencies[0] must be a positive integer");
	deps[0] = mine;
	deps[1] = mine;
	req.n_dependencies = 2;
	snprintf(want, sizeof(want), "dependencies lists id %" PRId64 " more than once", mine);
	expect_create_rejected(&req, FLOW_INVALID_ARGUMENT, want);
	assert_int_equal(
	    ts_sql_i64(ts_r, "SELECT count(*) FROM tasks WHERE ticket_id = $1", 1, ts_i64s(ticket)),
	    1);
	free(content);
	free(desc);
	free(agent);
}

static void expect_list(int64_t ticket, const char *status, const int64_t *ids, size_t n)
{
	Flow__V1__ListTasksRequest req = FLOW__V1__LIST_TASKS_REQUEST__INIT;
	Flow__V1__ListTasksResponse *resp;

	req.has_ticket_id = true;
	req.ticket_id = ticket;
	req.status = (char *)status;
	assert_int_equal(ts_call(ts_r, h_list_tasks, &req, &resp), FLOW_OK);
	assert_int_equal(resp->n_tasks, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(resp->tasks[i]->id, ids[i]);
}

static void test_list(void **state)
{
	int64_t ticket = create_ticket("list"), empty = create_ticket("empty");
	Flow__V1__CreateTaskRequest req = task_req(ticket, "placed first");
	Flow__V1__ListTasksRequest lr = FLOW__V1__LIST_TASKS_REQUEST__INIT;
	Flow__V1__ListTasksResponse *resp;
	Flow__V1__Task **tasks, *t;
	int64_t a, b, c, d;
	size_t n;

	a = create_task(ticket, "a"); /* order 0 */
	b = create_task(ticket, "b"); /* order 1 */
	req.has_order_index = true;
	req.order_index = 0; /* ties with a: id breaks it */
	req.status = "completed";
	assert_int_equal(ts_call(ts_r, h_create_task, &req, &t), FLOW_OK);
	c = t->id;
	d = create_task(ticket, "d"); /* order 2 */

	expect_list(ticket, NULL, (int64_t[]){ a, c, b, d }, 4);
	expect_list(ticket, "all", (int64_t[]){ a, c, b, d }, 4);
	expect_list(ticket, "", (int64_t[]){ a, c, b, d }, 4);
	expect_list(ticket, "pending", (int64_t[]){ a, b, d }, 3);
	expect_list(ticket, "open", (int64_t[]){ a, b, d }, 3);
	expect_list(ticket, "completed", (int64_t[]){ c }, 1);
	expect_list(ticket, "done", (int64_t[]){ c }, 1);
	expect_list(ticket, "cancelled", NULL, 0);
	expect_list(empty, NULL, NULL, 0);

	lr.has_ticket_id = true;
	lr.ticket_id = ticket;
	lr.status = "whatever";
	assert_req_error(ts_r, ts_call(ts_r, h_list_tasks, &lr, &resp), FLOW_INVALID_ARGUMENT,
			 "status must be one of all, pending, in_progress, "
			 "completed, cancelled (got \"whatever\")");
	lr.status = NULL;
	lr.ticket_id = 654321;
	assert_req_error(ts_r, ts_call(ts_r, h_list_tasks, &lr, &resp), FLOW_NOT_FOUND,
			 "ticket 654321 not found");
	lr.ticket_id = -4;
	assert_req_error(ts_r, ts_call(ts_r, h_list_tasks, &lr, &resp), FLOW_INVALID_ARGUMENT,
			 "ticketId must be a positive integer");

	/* The exported store function, as the processor calls it. */
	ts_req_reset(ts_r);
	assert_int_equal(store_tasks_list(ts_r, ticket, NULL, &tasks, &n), FLOW_OK);
	assert_int_equal(n, 4);
	assert_int_equal(tasks[3]->id, d);
	ts_req_reset(ts_r);
	assert_int_equal(store_tasks_list(ts_r, ticket, "completed", &tasks, &n), FLOW_OK);
	assert_int_equal(n, 1);
	assert_int_equal(tasks[0]->id, c);
	ts_req_reset(ts_r);
	assert_req_error(ts_r, store_tasks_list(ts_r, 654321, NULL, &tasks, &n), FLOW_NOT_FOUND,
			 "ticket 654321 not found");
}

static void test_update_present_fields_only(void **state)
{
	char *tags[] = { "x" }, *files[] = { "f.c" };
	int64_t ticket = create_ticket("update");
	int64_t a = create_task(ticket, "a"), b = create_task(ticket, "b");
	Flow__V1__CreateTaskRequest cr = task_req(ticket, "target");
	Flow__V1__UpdateTaskRequest up;
	Flow__V1__Task *t;
	int64_t deps[] = { a };
	int64_t id;

	cr.description = "d";
	cr.tags = tags;
	cr.n_tags = 1;
	cr.agent_id = "agent-1";
	cr.dependencies = deps;
	cr.n_dependencies = 1;
	cr.suggested_file_ids = files;
	cr.n_suggested_file_ids = 1;
	cr.has_estimated_hours = true;
	cr.estimated_hours = 3;
	assert_int_equal(ts_call(ts_r, h_create_task, &cr, &t), FLOW_OK);
	id = t->id;

	up = update_req(id);
	up.content = "renamed";
	assert_int_equal(ts_call(ts_r, h_update_task, &up, &t), FLOW_OK);
	assert_string_equal(t->content, "renamed");
	assert_string_equal(t->description, "d");
	assert_string_equal(t->agent_id, "agent-1");
	assert_int_equal(t->n_tags, 1);
	assert_int_equal(t->n_dependencies, 1);
	assert_int_equal(t->n_suggested_file_ids, 1);
	assert_true(t->estimated_hours == 3);
	assert_int_equal(t->order_index, 2);

	up = update_req(id);
	deps[0] = b;
	up.dependencies = deps;
	up.n_dependencies = 1;
	up.has_estimated_hours = true;
	up.estimated_hours = 0.5;
	up.has_order_index = true;
	up.order_index = 7;
	up.has_clear_suggested_file_ids = up.clear_suggested_file_ids = true;
	up.agent_id = "";
	up.completion_notes = "notes with 'quotes'";
	assert_int_equal(ts_call(ts_r, h_update_task, &up, &t), FLOW_OK);
	t = get_task(id);
	assert_int_equal(t->n_dependencies, 1);
	assert_int_equal(t->dependencies[0], b);
	assert_true(t->estimated_hours == 0.5);
	assert_int_equal(t->order_index, 7);
	assert_int_equal(t->n_suggested_file_ids, 0);
	assert_null(t->agent_id);
	assert_string_equal(t->completion_notes, "notes with 'quotes'");
	assert_int_equal(t->n_tags, 1);
	assert_string_equal(t->content, "renamed");

	up = update_req(id);
	up.has_clear_dependencies = up.clear_dependencies = true;
	up.has_clear_tags = up.clear_tags = true;
	assert_int_equal(ts_call(ts_r, h_update_task, &up, &t), FLOW_OK);
	assert_int_equal(t->n_dependencies, 0);
	assert_int_equal(t->n_tags, 0);
}

static void expect_update_rejected(Flow__V1__UpdateTaskRequest *up, int code, const char *msg)
{
	Flow__V1__Task *t;

	assert_req_error(ts_r, ts_call(ts_r, h_update_task, up, &t), code, msg);
}

static void test_update_rejects_bad_input(void **state)
{
	int64_t ticket = create_ticket("update rejects"), other = create_ticket("other");
	int64_t a = create_task(ticket, "a"), b = create_task(ticket, "b");
	int64_t c = create_task(ticket, "c"), foreign = create_task(other, "foreign");
	int64_t updated, deps[1];
	char *notes = ts_repeat("n", 262145);
	char want[160];
	Flow__V1__UpdateTaskRequest up = update_req(a);
	Flow__V1__Task *t;

	/* a -> b -> c */
	deps[0] = b;
	up.dependencies = deps;
	up.n_dependencies = 1;
	assert_int_equal(ts_call(ts_r, h_update_task, &up, &t), FLOW_OK);
	up = update_req(b);
	deps[0] = c;
	up.dependencies = deps;
	up.n_dependencies = 1;
	assert_int_equal(ts_call(ts_r, h_update_task, &up, &t), FLOW_OK);
	updated = get_task(c)->updated;

	up = update_req(c);
	expect_update_rejected(&up, FLOW_INVALID_ARGUMENT,
			       "nothing to update: give at least one of content, description, "
			       "status, done, estimatedHours, tags, agentId, dependencies, "
			       "suggestedFileIds, completionNotes, orderIndex or a clear flag");
	up.dependencies = deps;
	up.n_dependencies = 1;
	deps[0] = c;
	snprintf(want, sizeof(want), "task %" PRId64 " cannot depend on itself", c);
	expect_update_rejected(&up, FLOW_INVALID_ARGUMENT, want);
	deps[0] = a;
	snprintf(want, sizeof(want),
		 "task %" PRId64 " cannot depend on task %" PRId64 ": task %" PRId64
		 " already depends on task %" PRId64,
		 c, a, a, c);
	expect_update_rejected(&up, FLOW_INVALID_ARGUMENT, want);
	deps[0] = foreign;
	snprintf(want, sizeof(want),
		 "dependency task %" PRId64 " belongs to ticket %" PRId64
		 ", not to ticket %" PRId64,
		 foreign, other, ticket);
	expect_update_rejected(&up, FLOW_INVALID_ARGUMENT, want);
	deps[0] = 999998;
	expect_update_rejected(&up, FLOW_NOT_FOUND, "dependency task 999998 not found");
	up.n_dependencies = 0;
	up.completion_notes = notes;
	expect_update_rejected(&up, FLOW_INVALID_ARGUMENT,
			       "completionNotes is longer than 262144 characters");
	up.completion_notes = NULL;
	up.content = "";
	expect_update_rejected(&up, FLOW_INVALID_ARGUMENT, "content is required");
	up.content = NULL;
	up.status = "completed";
	up.has_done = true;
	up.done = false;
	expect_update_rejected(&up, FLOW_INVALID_ARGUMENT,
			       "done is false but status is \"completed\"; give one of them or "
			       "matching values");
	up.status = "nope";
	expect_update_rejected(&up, FLOW_INVALID_ARGUMENT,
			       "status must be one of pending, in_progress, completed, cancelled "
			       "(got \"nope\")");
	up.status = NULL;
	up.has_done = false;
	up.has_estimated_hours = true;
	up.estimated_hours = 20000;
	expect_update_rejected(&up, FLOW_INVALID_ARGUMENT,
			       "estimatedHours must be between 0 and 10000 (got 20000)");
	up.has_estimated_hours = false;
	up.content = "x";
	up.task_id = 0;
	expect_update_rejected(&up, FLOW_INVALID_ARGUMENT, "taskId must be a positive integer");
	up.task_id = 999999;
	expect_update_rejected(&up, FLOW_NOT_FOUND, "task 999999 not found");

	t = get_task(c);
	assert_string_equal(t->content, "c");
	assert_string_equal(t->status, "pending");
	assert_int_equal(t->n_dependencies, 0);
	assert_null(t->completion_notes);
	assert_int_equal(t->updated, updated);
	free(notes);
}

static void test_done_status_and_ticket_closing(void **state)
{
	int64_t ticket = create_ticket("[P0-1] closes with its tasks");
	int64_t a = create_task(ticket, "a"), b = create_task(ticket, "b");
	int64_t c = create_task(ticket, "c");
	Flow__V1__UpdateTaskRequest up;
	Flow__V1__Task *t;

	/* done alone sets the status. */
	up = update_req(a);
	up.has_done = up.done = true;
	assert_int_equal(ts_call(ts_r, h_update_task, &up, &t), FLOW_OK);
	assert_true(t->done);
	assert_string_equal(t->status, "completed");
	assert_string_equal(ts_get_ticket(ts_r, ticket)->status, "open");

	/* A cancelled task does not hold the ticket open. */
	up = update_req(c);
	up.status = "cancelled";
	assert_int_equal(ts_call(ts_r, h_update_task, &up, &t), FLOW_OK);
	assert_false(t->done);
	assert_string_equal(t->status, "cancelled");

	/* The usage guide's completion: status and notes; the last task closes the ticket. */
	up = update_req(b);
	up.status = "completed";
	up.completion_notes = "JWT secret validation implemented with all checks. Tests passing.";
	assert_int_equal(ts_call(ts_r, h_update_task, &up, &t), FLOW_OK);
	assert_true(t->done); /* as stored, set by the trigger */
	assert_string_equal(t->status, "completed");
	assert_string_equal(t->completion_notes,
			    "JWT secret validation implemented with all checks. Tests passing.");
	assert_true(get_task(b)->done);
	assert_string_equal(ts_get_ticket(ts_r, ticket)->status, "closed");

	/* Reopening a task reopens the ticket. */
	up = update_req(b);
	up.has_done = true;
	up.done = false;
	assert_int_equal(ts_call(ts_r, h_update_task, &up, &t), FLOW_OK);
	assert_string_equal(t->status, "pending");
	assert_false(t->done);
	assert_string_equal(ts_get_ticket(ts_r, ticket)->status, "in_progress");

	/* Matching status and done together are fine. */
	up = update_req(b);
	up.status = "done";
	up.has_done = up.done = true;
	assert_int_equal(ts_call(ts_r, h_update_task, &up, &t), FLOW_OK);
	assert_string_equal(t->status, "completed");
	assert_string_equal(ts_get_ticket(ts_r, ticket)->status, "closed");

	/* A new open task reopens a closed ticket; deleting it closes it again. */
	int64_t d = create_task(ticket, "d, added late");
	Flow__V1__DeleteTaskRequest del = FLOW__V1__DELETE_TASK_REQUEST__INIT;
	Flow__V1__DeleteResponse *resp;

	assert_string_equal(ts_get_ticket(ts_r, ticket)->status, "in_progress");
	del.has_task_id = true;
	del.task_id = d;
	assert_int_equal(ts_call(ts_r, h_delete_task, &del, &resp), FLOW_OK);
	assert_string_equal(ts_get_ticket(ts_r, ticket)->status, "closed");
}

static void test_delete(void **state)
{
	int64_t ticket = create_ticket("delete");
	int64_t a = create_task(ticket, "a"), b = create_task(ticket, "b");
	int64_t deps[] = { a };
	Flow__V1__UpdateTaskRequest up = update_req(b);
	Flow__V1__DeleteTaskRequest del = FLOW__V1__DELETE_TASK_REQUEST__INIT;
	Flow__V1__DeleteResponse *resp;
	Flow__V1__Task *t;
	char want[64];

	up.dependencies = deps;
	up.n_dependencies = 1;
	assert_int_equal(ts_call(ts_r, h_update_task, &up, &t), FLOW_OK);
	assert_int_equal(
	    ts_sql_i64(ts_r,
		       "WITH q AS (INSERT INTO queues (project_id, name)"
		       " SELECT project_id, 'dq' FROM tickets WHERE id = $1 RETURNING id),"
		       " i AS (INSERT INTO queue_items (queue_id, ticket_id, task_id)"
		       " SELECT q.id, $1, k.id FROM q, tasks k WHERE k.ticket_id = $1"
		       " RETURNING 1) SELECT count(*) FROM i",
		       1, ts_i64s(ticket)),
	    2);

	del.has_task_id = true;
	del.task_id = a;
	assert_int_equal(ts_call(ts_r, h_delete_task, &del, &resp), FLOW_OK);
	assert_true(resp->has_deleted && resp->deleted && resp->has_id);
	assert_int_equal(resp->id, a);
	assert_int_equal(
	    ts_sql_i64(ts_r, "SELECT count(*) FROM tasks WHERE id = $1", 1, ts_i64s(a)), 0);
	assert_int_equal(ts_sql_i64(ts_r, "SELECT count(*) FROM queue_items WHERE ticket_id = $1",
				    1, ts_i64s(ticket)),
			 1);
	/* Gone from the dependencies of the other task too. */
	assert_int_equal(get_task(b)->n_dependencies, 0);

	snprintf(want, sizeof(want), "task %" PRId64 " not found", a);
	assert_req_error(ts_r, ts_call(ts_r, h_delete_task, &del, &resp), FLOW_NOT_FOUND, want);
	del.task_id = 0;
	assert_req_error(ts_r, ts_call(ts_r, h_delete_task, &del, &resp), FLOW_INVALID_ARGUMENT,
			 "taskId must be a positive integer");
	assert_int_equal(
	    ts_sql_i64(ts_r, "SELECT count(*) FROM tasks WHERE ticket_id = $1", 1, ts_i64s(ticket)),
	    1);
}

static int reorder(int64_t ticket, const int64_t *ids, const int *orders, size_t n,
		   Flow__V1__ListTasksResponse **resp)
{
	Flow__V1__ReorderTasksRequest req = FLOW__V1__REORDER_TASKS_REQUEST__INIT;
	Flow__V1__TaskOrder items[8], *ptrs[8];

	for (size_t i = 0; i < n; i++) {
		Flow__V1__TaskOrder o = FLOW__V1__TASK_ORDER__INIT;

		o.has_task_id = o.has_order_index = true;
		o.task_id = ids[i];
		o.order_index = orders[i];
		items[i] = o;
		ptrs[i] = &items[i];
	}
	req.has_ticket_id = true;
	req.ticket_id = ticket;
	req.tasks = ptrs;
	req.n_tasks = n;
	return ts_call(ts_r, h_reorder_tasks, &req, resp);
}

static void test_reorder(void **state)
{
	int64_t ticket = create_ticket("reorder"), other = create_ticket("other");
	int64_t a = create_task(ticket, "a"), b = create_task(ticket, "b");
	int64_t c = create_task(ticket, "c"), foreign = create_task(other, "f");
	Flow__V1__ListTasksResponse *resp;
	char want[96];

	assert_int_equal(reorder(ticket, (int64_t[]){ c, a, b }, (int[]){ 0, 1, 2 }, 3, &resp),
			 FLOW_OK);
	assert_int_equal(resp->n_tasks, 3);
	assert_int_equal(resp->tasks[0]->id, c);
	assert_int_equal(resp->tasks[1]->id, a);
	assert_int_equal(resp->tasks[2]->id, b);
	assert_int_equal(resp->tasks[2]->order_index, 2);
	expect_list(ticket, NULL, (int64_t[]){ c, a, b }, 3);

	/* A partial list moves only the listed tasks. */
	assert_int_equal(reorder(ticket, (int64_t[]){ b }, (int[]){ 0 }, 1, &resp), FLOW_OK);
	assert_int_equal(resp->tasks[0]->id, b); /* order 0 like c; the lower id first */
	expect_list(ticket, NULL, (int64_t[]){ b, c, a }, 3);

	/* A task of another ticket: nothing changes. */
	snprintf(want, sizeof(want), "task %" PRId64 " is not a task of ticket %" PRId64, foreign,
		 ticket);
	assert_req_error(ts_r,
			 reorder(ticket, (int64_t[]){ a, foreign }, (int[]){ 0, 5 }, 2, &resp),
			 FLOW_INVALID_ARGUMENT, want);
	snprintf(want, sizeof(want), "task 777777 is not a task of ticket %" PRId64, ticket);
	assert_req_error(ts_r, reorder(ticket, (int64_t[]){ a, 777777 }, (int[]){ 0, 1 }, 2, &resp),
			 FLOW_INVALID_ARGUMENT, want);
	expect_list(ticket, NULL, (int64_t[]){ b, c, a }, 3);
	assert_int_equal(get_task(foreign)->order_index, 0);

	assert_req_error(ts_r, reorder(ticket, NULL, NULL, 0, &resp), FLOW_INVALID_ARGUMENT,
			 "tasks must list at least one task");
	assert_int_equal(reorder(ticket, (int64_t[]){ a, a }, (int[]){ 0, 1 }, 2, &resp),
			 FLOW_INVALID_ARGUMENT);
	assert_req_error(ts_r, reorder(ticket, (int64_t[]){ a }, (int[]){ -3 }, 1, &resp),
			 FLOW_INVALID_ARGUMENT, "tasks[0].orderIndex must be given, 0 or more");
	assert_req_error(ts_r, reorder(ticket, (int64_t[]){ 0 }, (int[]){ 1 }, 1, &resp),
			 FLOW_INVALID_ARGUMENT, "tasks[0].taskId must be a positive integer");
	assert_req_error(ts_r, reorder(565656, (int64_t[]){ a }, (int[]){ 1 }, 1, &resp),
			 FLOW_NOT_FOUND, "ticket 565656 not found");
	assert_req_error(ts_r, reorder(0, (int64_t[]){ a }, (int[]){ 1 }, 1, &resp),
			 FLOW_INVALID_ARGUMENT, "ticketId must be a positive integer");
	expect_list(ticket, NULL, (int64_t[]){ b, c, a }, 3);
}

#define CONC_THREADS 4
#define CONC_TASKS 20

struct conc {
	int64_t ticket;
	int failures;
};

static void *conc_worker(void *arg)
{
	struct conc *c = arg;
	struct flow_req *rr = ts_req_connect(ts_db_url);

	for (int i = 0; i < CONC_TASKS; i++) {
		Flow__V1__CreateTaskRequest req = task_req(c->ticket, "concurrent");
		ProtobufCMessage *m;

		ts_req_reset(rr);
		if (h_create_task(rr, &req.base, &m) != FLOW_OK) {
			fprintf(stderr, "concurrent create: %s\n", rr->message);
			c->failures++;
		}
	}
	ts_req_close(rr, NULL);
	return NULL;
}

static void test_concurrent_creation_order_index(void **state)
{
	struct conc cs[CONC_THREADS];
	pthread_t th[CONC_THREADS];
	int64_t ticket = create_ticket("concurrent");

	for (int i = 0; i < CONC_THREADS; i++) {
		cs[i].ticket = ticket;
		cs[i].failures = 0;
		assert_int_equal(pthread_create(&th[i], NULL, conc_worker, &cs[i]), 0);
	}
	for (int i = 0; i < CONC_THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(cs[i].failures, 0);
	}
	assert_int_equal(
	    ts_sql_i64(ts_r, "SELECT count(*) FROM tasks WHERE ticket_id = $1", 1, ts_i64s(ticket)),
	    CONC_THREADS * CONC_TASKS);
	assert_int_equal(
	    ts_sql_i64(ts_r, "SELECT count(DISTINCT order_index) FROM tasks WHERE ticket_id = $1",
		       1, ts_i64s(ticket)),
	    CONC_THREADS * CONC_TASKS);
	assert_int_equal(ts_sql_i64(ts_r, "SELECT max(order_index) FROM tasks WHERE ticket_id = $1",
				    1, ts_i64s(ticket)),
			 CONC_THREADS * CONC_TASKS - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_create_usage_guide_tasks, ts_test_reset),
		cmocka_unit_test_setup(test_create_keeps_every_field, ts_test_reset),
		cmocka_unit_test_setup(test_status_aliases, ts_test_reset),
		cmocka_unit_test_setup(test_create_rejects_bad_input, ts_test_reset),
		cmocka_unit_test_setup(test_list, ts_test_reset),
		cmocka_unit_test_setup(test_update_present_fields_only, ts_test_reset),
		cmocka_unit_test_setup(test_update_rejects_bad_input, ts_test_reset),
		cmocka_unit_test_setup(test_done_status_and_ticket_closing, ts_test_reset),
		cmocka_unit_test_setup(test_delete, ts_test_reset),
		cmocka_unit_test_setup(test_reorder, ts_test_reset),
		cmocka_unit_test_setup(test_concurrent_creation_order_index, ts_test_reset),
	};

	return cmocka_run_group_tests(tests, ts_group_setup, ts_group_teardown);
}
