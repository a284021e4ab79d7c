/*
 * projects_test - the ProjectManager handlers (projects.c) on a real
 * PostgreSQL: CRUD, validation, cascading delete, and the overview.
 */
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

#include "flow/v1/flow_manager.pb-c.h"
#include "flow/v1/project_manager.pb-c.h"
#include "services/handlers.h"
#include "status.h"
#include "store/projects.h"
#include "store/store.h"
#include "ts_store.h"

static struct flow_req *r;
static char db_url[512];

static int setup(void **state)
{
	r = ts_req_open(db_url, sizeof(db_url));
	return 0;
}

static int teardown(void **state)
{
	ts_req_close(r, db_url);
	return 0;
}

/* Calls handler h with req on a fresh arena; *out is the reply on FLOW_OK. */
static int call(service_handler h, const void *req, void *out)
{
	ProtobufCMessage *m = NULL;
	int rv;

	ts_req_reset(r);
	rv = h(r, (const ProtobufCMessage *)req, &m);
	if (out != NULL)
		*(ProtobufCMessage **)out = rv == FLOW_OK ? m : NULL;
	return rv;
}

/* First column of the first row of sql, with $1 = a when the query uses it. */
static int64_t q_i64(const char *sql, int64_t a)
{
	char buf[32];
	const char *p[1] = { buf };
	PGresult *res;
	int64_t v;

	snprintf(buf, sizeof(buf), "%" PRId64, a);
	res = PQexecParams(store_pg(r->db), sql, strstr(sql, "$1") ? 1 : 0, NULL, p, NULL, NULL,
			   0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		fprintf(stderr, "q_i64(%s): %s\n", sql, PQerrorMessage(store_pg(r->db)));
		fail();
	}
	v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return v;
}

/* Runs a statement that must succeed. */
static void exec_ok(const char *sql, int64_t a)
{
	char buf[32];
	const char *p[1] = { buf };
	PGresult *res;

	snprintf(buf, sizeof(buf), "%" PRId64, a);
	res = PQexecParams(store_pg(r->db), sql, strstr(sql, "$1") ? 1 : 0, NULL, p, NULL, NULL,
			   0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
		fprintf(stderr, "exec_ok(%s): %s\n", sql, PQerrorMessage(store_pg(r->db)));
		fail();
	}
	PQclear(res);
}

/* n copies of unit, malloc'ed. */
static char *rep(const char *unit, size_t n)
{
	size_t len = strlen(unit);
	char *s = malloc(len * n + 1);

	assert_non_null(s);
	for (size_t i = 0; i < n; i++)
		memcpy(s + i * len, unit, len);
	s[len * n] = '\0';
	return s;
}

static int64_t create_project(const char *name, const char *path, const char *desc)
{
	Flow__V1__CreateProjectRequest req = FLOW__V1__CREATE_PROJECT_REQUEST__INIT;
	Flow__V1__Project *p;

	req.name = (char *)name;
	req.path = (char *)path;
	req.description = (char *)desc;
	assert_int_equal(call(h_create_project, &req, &p), FLOW_OK);
	assert_true(p->has_id && p->id > 0);
	return p->id;
}

static int64_t create_ticket(int64_t project, const char *title, const char *status, int prio)
{
	Flow__V1__CreateTicketRequest req = FLOW__V1__CREATE_TICKET_REQUEST__INIT;
	Flow__V1__Ticket *t;

	req.has_project_id = true;
	req.project_id = project;
	req.title = (char *)title;
	req.status = (char *)status;
	req.has_priority = true;
	req.priority = prio;
	assert_int_equal(call(h_create_ticket, &req, &t), FLOW_OK);
	return t->id;
}

static int64_t count_projects(void)
{
	return q_i64("SELECT count(*) FROM projects", 0);
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
	assert_int_equal(call(h_create_project, &req, &p), FLOW_OK);
	assert_true(p->has_id && p->has_created && p->has_updated);
	assert_string_equal(p->name, "Promptliano");
	assert_string_equal(p->path, "/home/dev/promptliano");
	assert_string_equal(p->description, "AI coding agent workspace");
	assert_true(p->created > 1600000000000LL && p->updated >= p->created);
	id1 = p->id;

	/* path and description default to "". */
	id2 = create_project("Second", NULL, NULL);
	assert_true(id2 > id1);

	get.has_project_id = true;
	get.project_id = id2;
	assert_int_equal(call(h_get_project, &get, &p), FLOW_OK);
	assert_int_equal(p->id, id2);
	assert_string_equal(p->name, "Second");
	assert_string_equal(p->path, "");
	assert_string_equal(p->description, "");

	assert_int_equal(call(h_list_projects, &list, &lr), FLOW_OK);
	assert_int_equal(lr->n_projects, before + 2);
	for (size_t i = 1; i < lr->n_projects; i++)
		assert_true(lr->projects[i - 1]->id < lr->projects[i]->id);
	assert_int_equal(lr->projects[lr->n_projects - 2]->id, id1);
	assert_string_equal(lr->projects[lr->n_projects - 2]->name, "Promptliano");
	assert_int_equal(lr->projects[lr->n_projects - 1]->id, id2);

	/* The exported store function gives the same row. */
	ts_req_reset(r);
	assert_int_equal(store_project_get(r, id1, &p), FLOW_OK);
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
	assert_int_equal(call(h_create_project, &req, &p), FLOW_INVALID_ARGUMENT);
	assert_string_equal(r->message, message);
	assert_int_equal(count_projects(), before);
}

static void test_create_rejects_bad_input(void **state)
{
	char *name200 = rep("\xc3\xa9", 200); /* 200 characters, 400 bytes */
	char *name201 = rep("n", 201);
	char *path = rep("p", 4097);
	char *desc = rep("d", 65537);
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
	assert_int_equal(call(h_create_project, &req, &p), FLOW_OK);
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
	int64_t id = create_project(evil, path, "line1\nline2\t\xf0\x9f\x94\xb4");

	get.has_project_id = true;
	get.project_id = id;
	assert_int_equal(call(h_get_project, &get, &p), FLOW_OK);
	assert_string_equal(p->name, evil);
	assert_string_equal(p->path, path);
	assert_string_equal(p->description, "line1\nline2\t\xf0\x9f\x94\xb4");
	assert_true(q_i64("SELECT count(*) FROM projects", 0) >= 1);
}

static void test_get_bad_ids(void **state)
{
	Flow__V1__GetProjectRequest get = FLOW__V1__GET_PROJECT_REQUEST__INIT;
	Flow__V1__Project *p;

	assert_int_equal(call(h_get_project, &get, &p), FLOW_INVALID_ARGUMENT);
	assert_string_equal(r->message, "projectId must be a positive integer");
	get.has_project_id = true;
	get.project_id = 0;
	assert_int_equal(call(h_get_project, &get, &p), FLOW_INVALID_ARGUMENT);
	assert_string_equal(r->message, "projectId must be a positive integer");
	get.project_id = -7;
	assert_int_equal(call(h_get_project, &get, &p), FLOW_INVALID_ARGUMENT);
	get.project_id = 987654321;
	assert_int_equal(call(h_get_project, &get, &p), FLOW_NOT_FOUND);
	assert_string_equal(r->message, "project 987654321 not found");
}

static void test_update_present_fields_only(void **state)
{
	Flow__V1__UpdateProjectRequest up = FLOW__V1__UPDATE_PROJECT_REQUEST__INIT;
	Flow__V1__GetProjectRequest get = FLOW__V1__GET_PROJECT_REQUEST__INIT;
	Flow__V1__Project *p;
	int64_t id = create_project("Before", "/before", "desc before");

	up.has_project_id = true;
	up.project_id = id;
	up.path = "/after";
	assert_int_equal(call(h_update_project, &up, &p), FLOW_OK);
	assert_string_equal(p->name, "Before");
	assert_string_equal(p->path, "/after");
	assert_string_equal(p->description, "desc before");

	up.path = NULL;
	up.name = "After";
	up.description = "";
	assert_int_equal(call(h_update_project, &up, &p), FLOW_OK);
	assert_string_equal(p->name, "After");
	assert_string_equal(p->path, "/after");
	assert_string_equal(p->description, "");
	assert_true(p->updated >= p->created);

	/* Rejected updates change nothing. */
	up.name = "";
	up.description = "should not be stored";
	assert_int_equal(call(h_update_project, &up, &p), FLOW_INVALID_ARGUMENT);
	assert_string_equal(r->message, "name is required");
	up.name = NULL;
	up.description = NULL;
	assert_int_equal(call(h_update_project, &up, &p), FLOW_INVALID_ARGUMENT);
	assert_string_equal(r->message,
			    "nothing to update: give at least one of name, path, description");
	get.has_project_id = true;
	get.project_id = id;
	assert_int_equal(call(h_get_project, &get, &p), FLOW_OK);
	assert_string_equal(p->name, "After");
	assert_string_equal(p->description, "");

	up.name = "x";
	up.project_id = 0;
	assert_int_equal(call(h_update_project, &up, &p), FLOW_INVALID_ARGUMENT);
	assert_string_equal(r->message, "projectId must be a positive integer");
	up.project_id = 555555;
	assert_int_equal(call(h_update_project, &up, &p), FLOW_NOT_FOUND);
	assert_string_equal(r->message, "project 555555 not found");
}

/* A project with a ticket, two tasks, a queue and a queue item. */
static int64_t populated_project(void)
{
	int64_t pid = create_project("Doomed", "/doomed", "");
	int64_t tid = create_ticket(pid, "ticket", "open", 5);

	exec_ok("INSERT INTO tasks (ticket_id, content) VALUES ($1, 'a'), ($1, 'b')", tid);
	exec_ok("INSERT INTO queues (project_id, name) VALUES ($1, 'q')", pid);
	exec_ok("INSERT INTO queue_items (queue_id, ticket_id)"
		" SELECT q.id, t.id FROM queues q JOIN tickets t ON t.project_id = q.project_id"
		" WHERE q.project_id = $1",
		pid);
	return pid;
}

static int64_t project_rows(int64_t pid)
{
	return q_i64("SELECT (SELECT count(*) FROM projects WHERE id = $1)"
		     " + (SELECT count(*) FROM tickets WHERE project_id = $1)"
		     " + (SELECT count(*) FROM tasks k JOIN tickets t ON t.id = k.ticket_id"
		     "     WHERE t.project_id = $1)"
		     " + (SELECT count(*) FROM queues WHERE project_id = $1)"
		     " + (SELECT count(*) FROM queue_items i JOIN queues q ON q.id = i.queue_id"
		     "     WHERE q.project_id = $1)",
		     pid);
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
	assert_int_equal(call(h_delete_project, &del, &resp), FLOW_INVALID_ARGUMENT);
	assert_string_equal(r->message, "confirmDelete must be true to delete a project (it "
					"removes its tickets, tasks and queues)");
	del.has_confirm_delete = true;
	del.confirm_delete = false;
	assert_int_equal(call(h_delete_project, &del, &resp), FLOW_INVALID_ARGUMENT);
	assert_int_equal(project_rows(pid), 6);

	del.confirm_delete = true;
	del.project_id = -1;
	assert_int_equal(call(h_delete_project, &del, &resp), FLOW_INVALID_ARGUMENT);
	assert_string_equal(r->message, "projectId must be a positive integer");
	assert_int_equal(project_rows(pid), 6);

	del.project_id = pid;
	assert_int_equal(call(h_delete_project, &del, &resp), FLOW_OK);
	assert_true(resp->has_deleted && resp->deleted);
	assert_true(resp->has_project_id);
	assert_int_equal(resp->project_id, pid);
	assert_int_equal(project_rows(pid), 0);
	assert_int_equal(project_rows(keep), keep_rows);

	assert_int_equal(call(h_delete_project, &del, &resp), FLOW_NOT_FOUND);
	snprintf(want, sizeof(want), "project %" PRId64 " not found", pid);
	assert_string_equal(r->message, want);
}

/* Queue items of queue q: n items of status st on fresh tickets of project
 * holder (each active item needs its own ticket). */
static void add_items(int64_t q, int64_t holder, const char *st, int n)
{
	char qs[32], ts[32];
	const char *p[3] = { qs, ts, st };

	snprintf(qs, sizeof(qs), "%" PRId64, q);
	for (int i = 0; i < n; i++) {
		PGresult *res;

		snprintf(ts, sizeof(ts), "%" PRId64, create_ticket(holder, "holder", "open", 1));
		res = PQexecParams(store_pg(r->db),
				   "INSERT INTO queue_items (queue_id, ticket_id, status,"
				   " lease_owner) VALUES ($1, $2, $3,"
				   " CASE WHEN $3 = 'in_progress' THEN 'worker-1' END)",
				   3, NULL, p, NULL, NULL, 0);
		assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
		PQclear(res);
	}
}

static void test_overview(void **state)
{
	Flow__V1__GetOverviewRequest req = FLOW__V1__GET_OVERVIEW_REQUEST__INIT;
	Flow__V1__GetOverviewResponse *o;
	int64_t pid = create_project("Overview", "/ov", "the overview project");
	int64_t holder = create_project("Holder", "", "");
	int64_t t_hi = create_ticket(pid, "urgent", "pending", 10);
	int64_t t_ip = create_ticket(pid, "doing", "in_progress", 8);
	int64_t t_a, t_b, q1, q2;

	create_ticket(pid, "done 1", "closed", 10);
	create_ticket(pid, "done 2", "completed", 9);
	t_a = create_ticket(pid, "normal a", "open", 5);
	t_b = create_ticket(pid, "normal b", "open", 5);
	create_ticket(pid, "low a", "open", 2);
	create_ticket(pid, "low b", "in_progress", 1);

	q1 = q_i64("INSERT INTO queues (project_id, name) VALUES ($1, 'Security Hardening')"
		   " RETURNING id",
		   pid);
	q2 = q_i64("INSERT INTO queues (project_id, name, is_active) VALUES ($1, 'Docs', false)"
		   " RETURNING id",
		   pid);
	add_items(q1, holder, "queued", 3);
	add_items(q1, holder, "in_progress", 1);
	add_items(q1, holder, "completed", 10);
	add_items(q2, holder, "failed", 1);
	add_items(q2, holder, "dead", 1);
	add_items(q2, holder, "cancelled", 2);

	req.has_project_id = true;
	req.project_id = pid;
	assert_int_equal(call(h_get_overview, &req, &o), FLOW_OK);
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
	int64_t pid = create_project("Empty", "", "");

	req.has_project_id = true;
	req.project_id = pid;
	assert_int_equal(call(h_get_overview, &req, &o), FLOW_OK);
	assert_int_equal(o->project->id, pid);
	assert_true(o->has_open_ticket_count);
	assert_int_equal(o->open_ticket_count, 0);
	assert_int_equal(o->in_progress_ticket_count, 0);
	assert_int_equal(o->closed_ticket_count, 0);
	assert_int_equal(o->n_open_tickets, 0);
	assert_int_equal(o->n_queues, 0);

	req.project_id = 424242;
	assert_int_equal(call(h_get_overview, &req, &o), FLOW_NOT_FOUND);
	assert_string_equal(r->message, "project 424242 not found");
	req.has_project_id = false;
	assert_int_equal(call(h_get_overview, &req, &o), FLOW_INVALID_ARGUMENT);
	assert_string_equal(r->message, "projectId must be a positive integer");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_get_list),
		cmocka_unit_test(test_create_rejects_bad_input),
		cmocka_unit_test(test_sql_metacharacters_verbatim),
		cmocka_unit_test(test_get_bad_ids),
		cmocka_unit_test(test_update_present_fields_only),
		cmocka_unit_test(test_delete_requires_confirm_and_cascades),
		cmocka_unit_test(test_overview),
		cmocka_unit_test(test_overview_empty_and_missing),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
