/*
 * projects_test - the ProjectManager handlers (projects.c) on a real
 * PostgreSQL: CRUD, validation, cascading delete, and the overview.
 */
#include <inttypes.h>
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
#include "store/projects.h"
#include "ts_store.h"

static int64_t count_projects(void)
{
	return ts_sql_i64(ts_r, "SELECT count(*) FROM projects", 0);
}

static void test_create_get_list(void **state)
{
	Flow__V1__CreateProjectRequest req = FLOW__V1__CREATE_PROJECT_REQUEST__INIT;
	Flow__V1__GetProjectRequest get = FLOW__V1__GET_PROJECT_REQUEST__INIT;
	Flow__V1__ListProjectsRequest list = FLOW__V1__LIST_PROJECTS_REQUEST__INIT;
	Flow__V1__ListProjectsResponse *lr;
	Flow__V1__Project *p;
	int64_t id1, id2, before = count_projects();

	req.name = "Promptliano";
	req.path = "/home/dev/promptliano";
	req.description = "AI coding agent workspace";
	assert_int_equal(ts_call(ts_r, h_create_project, &req, &p), FLOW_OK);
	assert_true(p->has_id && p->has_created && p->has_updated);
	assert_string_equal(p->name, "Promptliano");
	assert_string_equal(p->path, "/home/dev/promptliano");
	assert_string_equal(p->description, "AI coding agent workspace");
	assert_true(p->created > 1600000000000LL && p->updated >= p->created);
	id1 = p->id;

	/* path and description default to "". */
	id2 = ts_create_project(ts_r, "Second", NULL, NULL);
	assert_true(id2 > id1);

	get.has_project_id = true;
	get.project_id = id2;
	assert_int_equal(ts_call(ts_r, h_get_project, &get, &p), FLOW_OK);
	assert_int_equal(p->id, id2);
	assert_string_equal(p->name, "Second");
	assert_string_equal(p->path, "");
	assert_string_equal(p->description, "");

	assert_int_equal(ts_call(ts_r, h_list_projects, &list, &lr), FLOW_OK);
	assert_int_equal(lr->n_projects, before + 2);
	for (size_t i = 1; i < lr->n_projects; i++)
		assert_true(lr->projects[i - 1]->id < lr->projects[i]->id);
	assert_int_equal(lr->projects[lr->n_projects - 2]->id, id1);
	assert_string_equal(lr->projects[lr->n_projects - 2]->name, "Promptliano");
	assert_int_equal(lr->projects[lr->n_projects - 1]->id, id2);

	/* The exported store function gives the same row. */
	ts_req_reset(ts_r);
	assert_int_equal(store_project_get(ts_r, id1, &p), FLOW_OK);
	assert_string_equal(p->path, "/home/dev/promptliano");
}

static void expect_create_rejected(const char *name, const char *path, const char *desc,
				   const char *message)
{
	Flow__V1__CreateProjectRequest req = FLOW__V1__CREATE_PROJECT_REQUEST__INIT;
	Flow__V1__Project *p;
	int64_t before = count_projects();

	req.name = (char *)name;
	req.path = (char *)path;
	req.description = (char *)desc;
	assert_req_error(ts_r, ts_call(ts_r, h_create_project, &req, &p), FLOW_INVALID_ARGUMENT,
			 message);
	assert_int_equal(count_projects(), before);
}

static void test_create_rejects_bad_input(void **state)
{
	char *name200 = ts_repeat("\xc3\xa9", 200); /* 200 characters, 400 bytes */
	char *name201 = ts_repeat("n", 201);
	char *path = ts_repeat("p", 4097);
	char *desc = ts_repeat("d", 65537);
	Flow__V1__CreateProjectRequest req = FLOW__V1__CREATE_PROJECT_REQUEST__INIT;
	Flow__V1__Project *p;

	expect_create_rejected(NULL, NULL, NULL, "name is required");
	expect_create_rejected("", "/x", NULL, "name is required");
	expect_create_rejected("  \t ", NULL, NULL, "name is required");
	expect_create_rejected(name201, NULL, NULL, "name is longer than 200 characters");
	expect_create_rejected("ok", path, NULL, "path is longer than 4096 characters");
	expect_create_rejected("ok", NULL, desc, "description is longer than 65536 characters");

	/* Limits count characters, not bytes. */
	req.name = name200;
	path[4096] = '\0';
	req.path = path;
	assert_int_equal(ts_call(ts_r, h_create_project, &req, &p), FLOW_OK);
	assert_string_equal(p->name, name200);
	assert_int_equal(strlen(p->path), 4096);
	free(name200);
	free(name201);
	free(path);
	free(desc);
}

static void test_sql_metacharacters_verbatim(void **state)
{
	const char *evil = "'); DROP TABLE projects; --";
	const char *path = "/tmp/$1 \"quoted\" \\back\\slash {a,b}";
	Flow__V1__GetProjectRequest get = FLOW__V1__GET_PROJECT_REQUEST__INIT;
	Flow__V1__Project *p;
	int64_t id = ts_create_project(ts_r, evil, path, "line1\nline2\t\xf0\x9f\x94\xb4");

	get.has_project_id = true;
	get.project_id = id;
	assert_int_equal(ts_call(ts_r, h_get_project, &get, &p), FLOW_OK);
	assert_string_equal(p->name, evil);
	assert_string_equal(p->path, path);
	assert_string_equal(p->description, "line1\nline2\t\xf0\x9f\x94\xb4");
	assert_true(ts_sql_i64(ts_r, "SELECT count(*) FROM projects", 0) >= 1);
}

static void test_get_bad_ids(void **state)
{
	Flow__V1__GetProjectRequest get = FLOW__V1__GET_PROJECT_REQUEST__INIT;
	Flow__V1__Project *p;

	assert_req_error(ts_r, ts_call(ts_r, h_get_project, &get, &p), FLOW_INVALID_ARGUMENT,
			 "projectId must be a positive integer");
	get.has_project_id = true;
	get.project_id = 0;
	assert_req_error(ts_r, ts_call(ts_r, h_get_project, &get, &p), FLOW_INVALID_ARGUMENT,
			 "projectId must be a positive integer");
	get.project_id = -7;
	assert_int_equal(ts_call(ts_r, h_get_project, &get, &p), FLOW_INVALID_ARGUMENT);
	get.project_id = 987654321;
	assert_req_error(ts_r, ts_call(ts_r, h_get_project, &get, &p), FLOW_NOT_FOUND,
			 "project 987654321 not found");
}

static void test_update_present_fields_only(void **state)
{
	Flow__V1__UpdateProjectRequest up = FLOW__V1__UPDATE_PROJECT_REQUEST__INIT;
	Flow__V1__GetProjectRequest get = FLOW__V1__GET_PROJECT_REQUEST__INIT;
	Flow__V1__Project *p;
	int64_t id = ts_create_project(ts_r, "Before", "/before", "desc before");

	up.has_project_id = true;
	up.project_id = id;
	up.path = "/after";
	assert_int_equal(ts_call(ts_r, h_update_project, &up, &p), FLOW_OK);
	assert_string_equal(p->name, "Before");
	assert_string_equal(p->path, "/after");
	assert_string_equal(p->description, "desc before");

	up.path = NULL;
	up.name = "After";
	up.description = "";
	assert_int_equal(ts_call(ts_r, h_update_project, &up, &p), FLOW_OK);
	assert_string_equal(p->name, "After");
	assert_string_equal(p->path, "/after");
	assert_string_equal(p->description, "");
	assert_true(p->updated >= p->created);

	/* Rejected updates change nothing. */
	up.name = "";
	up.description = "should not be stored";
	assert_req_error(ts_r, ts_call(ts_r, h_update_project, &up, &p), FLOW_INVALID_ARGUMENT,
			 "name is required");
	up.name = NULL;
	up.description = NULL;
	assert_req_error(ts_r, ts_call(ts_r, h_update_project, &up, &p), FLOW_INVALID_ARGUMENT,
			 "nothing to update: give at least one of name, path, description");
	get.has_project_id = true;
	get.project_id = id;
	assert_int_equal(ts_call(ts_r, h_get_project, &get, &p), FLOW_OK);
	assert_string_equal(p->name, "After");
	assert_string_equal(p->description, "");

	up.name = "x";
	up.project_id = 0;
	assert_req_error(ts_r, ts_call(ts_r, h_update_project, &up, &p), FLOW_INVALID_ARGUMENT,
			 "projectId must be a positive integer");
	up.project_id = 555555;
	assert_req_error(ts_r, ts_call(ts_r, h_update_project, &up, &p), FLOW_NOT_FOUND,
			 "project 555555 not found");
}

/* A project with a ticket, two tasks, a queue and a queue item. */
static int64_t populated_project(void)
{
	int64_t pid = ts_create_project(ts_r, "Doomed", "/doomed", "");
	int64_t tid = ts_create_ticket(ts_r, pid, "ticket", "open", 5);

	ts_sql_i64(ts_r, "INSERT INTO tasks (ticket_id, content) VALUES ($1, 'a'), ($1, 'b')", 1,
		   ts_i64s(tid));
	ts_sql_i64(ts_r, "INSERT INTO queues (project_id, name) VALUES ($1, 'q')", 1, ts_i64s(pid));
	ts_sql_i64(ts_r,
		   "INSERT INTO queue_items (queue_id, ticket_id)"
		   " SELECT q.id, t.id FROM queues q JOIN tickets t ON t.project_id = q.project_id"
		   " WHERE q.project_id = $1",
		   1, ts_i64s(pid));
	return pid;
}

static int64_t project_rows(int64_t pid)
{
	return ts_sql_i64(
	    ts_r,
	    "SELECT (SELECT count(*) FROM projects WHERE id = $1)"
	    " + (SELECT count(*) FROM tickets WHERE project_id = $1)"
	    " + (SELECT count(*) FROM tasks k JOIN tickets t ON t.id = k.ticket_id"
	    "     WHERE t.project_id = $1)"
	    " + (SELECT count(*) FROM queues WHERE project_id = $1)"
	    " + (SELECT count(*) FROM queue_items i JOIN queues q ON q.id = i.queue_id"
	    "     WHERE q.project_id = $1)",
	    1, ts_i64s(pid));
}

static void test_delete_requires_confirm_and_cascades(void **state)
{
	Flow__V1__DeleteProjectRequest del = FLOW__V1__DELETE_PROJECT_REQUEST__INIT;
	Flow__V1__DeleteProjectResponse *resp;
	int64_t pid = populated_project();
	int64_t keep = populated_project();
	int64_t keep_rows = project_rows(keep);
	char want[64];

	assert_int_equal(project_rows(pid), 1 + 1 + 2 + 1 + 1);
	del.has_project_id = true;
	del.project_id = pid;
	assert_req_error(ts_r, ts_call(ts_r, h_delete_project, &del, &resp), FLOW_INVALID_ARGUMENT,
			 "confirmDelete must be true to delete a project (it "
			 "removes its tickets, tasks and queues)");
	del.has_confirm_delete = true;
	del.confirm_delete = false;
	assert_int_equal(ts_call(ts_r, h_delete_project, &del, &resp), FLOW_INVALID_ARGUMENT);
	assert_int_equal(project_rows(pid), 6);

	del.confirm_delete = true;
	del.project_id = -1;
	assert_req_error(ts_r, ts_call(ts_r, h_delete_project, &del, &resp), FLOW_INVALID_ARGUMENT,
			 "projectId must be a positive integer");
	assert_int_equal(project_rows(pid), 6);

	del.project_id = pid;
	assert_int_equal(ts_call(ts_r, h_delete_project, &del, &resp), FLOW_OK);
	assert_true(resp->has_deleted && resp->deleted);
	assert_true(resp->has_project_id);
	assert_int_equal(resp->project_id, pid);
	assert_int_equal(project_rows(pid), 0);
	assert_int_equal(project_rows(keep), keep_rows);

	snprintf(want, sizeof(want), "project %" PRId64 " not found", pid);
	assert_req_error(ts_r, ts_call(ts_r, h_delete_project, &del, &resp), FLOW_NOT_FOUND, want);
}

/* Queue items of queue q: n items of status st on fresh tickets of project
 * holder (each active item needs its own ticket). */
static void add_items(int64_t q, int64_t holder, const char *st, int n)
{
	for (int i = 0; i < n; i++) {
		int64_t t = ts_create_ticket(ts_r, holder, "holder", "open", 1);

		ts_sql_i64(ts_r,
			   "INSERT INTO queue_items (queue_id, ticket_id, status,"
			   " lease_owner) VALUES ($1, $2, $3,"
			   " CASE WHEN $3 = 'in_progress' THEN 'worker-1' END)",
			   3, ts_i64s(q), ts_i64s(t), st);
	}
}

static void test_overview(void **state)
{
	Flow__V1__GetOverviewRequest req = FLOW__V1__GET_OVERVIEW_REQUEST__INIT;
	Flow__V1__GetOverviewResponse *o;
	int64_t pid = ts_create_project(ts_r, "Overview", "/ov", "the overview project");
	int64_t holder = ts_create_project(ts_r, "Holder", "", "");
	int64_t t_hi = ts_create_ticket(ts_r, pid, "urgent", "pending", 10);
	int64_t t_ip = ts_create_ticket(ts_r, pid, "doing", "in_progress", 8);
	int64_t t_a, t_b, q1, q2;

	ts_create_ticket(ts_r, pid, "done 1", "closed", 10);
	ts_create_ticket(ts_r, pid, "done 2", "completed", 9);
	t_a = ts_create_ticket(ts_r, pid, "normal a", "open", 5);
	t_b = ts_create_ticket(ts_r, pid, "normal b", "open", 5);
	ts_create_ticket(ts_r, pid, "low a", "open", 2);
	ts_create_ticket(ts_r, pid, "low b", "in_progress", 1);

	q1 = ts_sql_i64(ts_r,
			"INSERT INTO queues (project_id, name) VALUES ($1, 'Security Hardening')"
			" RETURNING id",
			1, ts_i64s(pid));
	q2 =
	    ts_sql_i64(ts_r,
		       "INSERT INTO queues (project_id, name, is_active) VALUES ($1, 'Docs', false)"
		       " RETURNING id",
		       1, ts_i64s(pid));
	add_items(q1, holder, "queued", 3);
	add_items(q1, holder, "in_progress", 1);
	add_items(q1, holder, "completed", 10);
	add_items(q2, holder, "failed", 1);
	add_items(q2, holder, "dead", 1);
	add_items(q2, holder, "cancelled", 2);

	req.has_project_id = true;
	req.project_id = pid;
	assert_int_equal(ts_call(ts_r, h_get_overview, &req, &o), FLOW_OK);
	assert_non_null(o->project);
	assert_int_equal(o->project->id, pid);
	assert_string_equal(o->project->name, "Overview");
	assert_true(o->has_open_ticket_count && o->has_in_progress_ticket_count &&
		    o->has_closed_ticket_count);
	assert_int_equal(o->open_ticket_count, 4);
	assert_int_equal(o->in_progress_ticket_count, 2);
	assert_int_equal(o->closed_ticket_count, 2);

	/* Top five open or in-progress tickets: priority DESC, id ASC. */
	assert_int_equal(o->n_open_tickets, 5);
	assert_int_equal(o->open_tickets[0]->id, t_hi);
	assert_int_equal(o->open_tickets[1]->id, t_ip);
	assert_int_equal(o->open_tickets[2]->id, t_a);
	assert_int_equal(o->open_tickets[3]->id, t_b);
	assert_string_equal(o->open_tickets[4]->title, "low a");
	assert_string_equal(o->open_tickets[0]->priority_name, "high");

	assert_int_equal(o->n_queues, 2);
	assert_int_equal(o->queues[0]->queue_id, q1);
	assert_string_equal(o->queues[0]->name, "Security Hardening");
	assert_true(o->queues[0]->has_is_active && o->queues[0]->is_active);
	assert_int_equal(o->queues[0]->queued, 3);
	assert_int_equal(o->queues[0]->in_progress, 1);
	assert_int_equal(o->queues[0]->completed, 10);
	assert_int_equal(o->queues[0]->failed, 0);
	assert_string_equal(o->queues[0]->summary,
			    "Security Hardening: 3 queued, 1 in progress, 10 completed, 0 failed");
	assert_int_equal(o->queues[1]->queue_id, q2);
	assert_false(o->queues[1]->is_active);
	assert_int_equal(o->queues[1]->failed, 2);
	assert_string_equal(o->queues[1]->summary,
			    "Docs: 0 queued, 0 in progress, 0 completed, 2 failed (paused)");
}

static void test_overview_empty_and_missing(void **state)
{
	Flow__V1__GetOverviewRequest req = FLOW__V1__GET_OVERVIEW_REQUEST__INIT;
	Flow__V1__GetOverviewResponse *o;
	int64_t pid = ts_create_project(ts_r, "Empty", "", "");

	req.has_project_id = true;
	req.project_id = pid;
	assert_int_equal(ts_call(ts_r, h_get_overview, &req, &o), FLOW_OK);
	assert_int_equal(o->project->id, pid);
	assert_true(o->has_open_ticket_count);
	assert_int_equal(o->open_ticket_count, 0);
	assert_int_equal(o->in_progress_ticket_count, 0);
	assert_int_equal(o->closed_ticket_count, 0);
	assert_int_equal(o->n_open_tickets, 0);
	assert_int_equal(o->n_queues, 0);

	req.project_id = 424242;
	assert_req_error(ts_r, ts_call(ts_r, h_get_overview, &req, &o), FLOW_NOT_FOUND,
			 "project 424242 not found");
	req.has_project_id = false;
	assert_req_error(ts_r, ts_call(ts_r, h_get_overview, &req, &o), FLOW_INVALID_ARGUMENT,
			 "projectId must be a positive integer");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_create_get_list, ts_test_reset),
		cmocka_unit_test_setup(test_create_rejects_bad_input, ts_test_reset),
		cmocka_unit_test_setup(test_sql_metacharacters_verbatim, ts_test_reset),
		cmocka_unit_test_setup(test_get_bad_ids, ts_test_reset),
		cmocka_unit_test_setup(test_update_present_fields_only, ts_test_reset),
		cmocka_unit_test_setup(test_delete_requires_confirm_and_cascades, ts_test_reset),
		cmocka_unit_test_setup(test_overview, ts_test_reset),
		cmocka_unit_test_setup(test_overview_empty_and_missing, ts_test_reset),
	};

	return cmocka_run_group_tests(tests, ts_group_setup, ts_group_teardown);
}
