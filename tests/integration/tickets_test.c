/*
 * tickets_test - the ticket handlers (tickets.c) on a real PostgreSQL:
 * the usage guide's ticket, priorities and statuses, validation, listing
 * filters and order, partial updates, cascading delete.
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
#include "store/tickets.h"
#include "ts_store.h"

static const char guide_title[] = "[P0-1] CRITICAL: Fix JWT Secret Hardcoded Default";
static const char guide_description[] =
	"**Priority:** P0 (CRITICAL)\n"
	"**Severity:** \xf0\x9f\x94\xb4 10/10 - CVSS 9.8\n"
	"**Effort:** 2 hours\n"
	"**Agent:** promptliano-service-architect\n"
	"\n"
	"## Vulnerability\n"
	"JWT signing secret defaults to publicly known hardcoded string. Attackers can forge "
	"admin tokens.\n"
	"\n"
	"## Implementation Tasks\n"
	"1. Add JWT secret validation function (min 32 chars, forbidden defaults)\n"
	"2. Implement server startup security checks\n"
	"3. Update .env.example with security documentation\n"
	"\n"
	"## Files Affected\n"
	"- /packages/services/src/auth-service.ts\n"
	"- /.env.example\n"
	"- /packages/server/src/app.ts\n"
	"\n"
	"## Verification\n"
	"- Test weak secret rejection\n"
	"- Test default secret rejection\n"
	"- Test strong secret acceptance\n"
	"- Verify production mode fails without JWT_SECRET\n"
	"\n"
	"## Reference\n"
	"See SECURITY_IMPLEMENTATION_PLAN.md - Ticket P0-1 for complete implementation guide.";

static Flow__V1__CreateTicketRequest ticket_req(int64_t project, const char *title)
{
	Flow__V1__CreateTicketRequest req = FLOW__V1__CREATE_TICKET_REQUEST__INIT;

	req.has_project_id = true;
	req.project_id = project;
	req.title = (char *)title;
	return req;
}

static int64_t count_tickets(void)
{
	return ts_sql_i64(ts_r, "SELECT count(*) FROM tickets", 0);
}

static void test_create_usage_guide_ticket(void **state)
{
	char *tags[] = { "security", "critical", "p0", "authentication" };
	int64_t pid = ts_create_project(ts_r, "Security", NULL, NULL);
	Flow__V1__CreateTicketRequest req = ticket_req(pid, guide_title);
	Flow__V1__Ticket *t;
	int64_t id;

	req.overview = (char *)guide_description;
	req.has_priority = true;
	req.priority = 10;
	req.status = "pending";
	req.tags = tags;
	req.n_tags = 4;
	assert_int_equal(ts_call(ts_r, h_create_ticket, &req, &t), FLOW_OK);
	assert_true(t->has_id && t->id > 0 && t->has_project_id && t->has_priority);
	assert_true(t->has_created && t->has_updated && t->created > 0);
	id = t->id;

	/* Stored and read back, not just echoed. */
	t = ts_get_ticket(ts_r, id);
	assert_int_equal(t->project_id, pid);
	assert_string_equal(t->title, guide_title);
	assert_string_equal(t->overview, guide_description);
	assert_string_equal(t->status, "open");
	assert_int_equal(t->priority, 10);
	assert_string_equal(t->priority_name, "high");
	assert_int_equal(t->n_tags, 4);
	for (size_t i = 0; i < 4; i++)
		assert_string_equal(t->tags[i], tags[i]);
	assert_int_equal(t->n_suggested_file_ids, 0);
	assert_int_equal(t->n_suggested_agent_ids, 0);

	/* The exported store function reads the same row. */
	ts_req_reset(ts_r);
	assert_int_equal(store_ticket_get(ts_r, id, &t), FLOW_OK);
	assert_string_equal(t->overview, guide_description);
	ts_req_reset(ts_r);
	assert_int_equal(store_ticket_get(ts_r, id + 1000, &t), FLOW_NOT_FOUND);
}

/* Creates a ticket with the given priority inputs; checks the stored pair. */
static void expect_priority(int64_t pid, int has, int num, const char *name, int want,
			    const char *want_name)
{
	Flow__V1__CreateTicketRequest req = ticket_req(pid, "prio");
	Flow__V1__Ticket *t;

	req.has_priority = has;
	req.priority = num;
	req.priority_name = (char *)name;
	assert_int_equal(ts_call(ts_r, h_create_ticket, &req, &t), FLOW_OK);
	t = ts_get_ticket(ts_r, t->id);
	assert_int_equal(t->priority, want);
	assert_string_equal(t->priority_name, want_name);
}

static void expect_create_rejected(Flow__V1__CreateTicketRequest *req, int code,
				   const char *message)
{
	Flow__V1__Ticket *t;
	int64_t before = count_tickets();

	assert_req_error(ts_r, ts_call(ts_r, h_create_ticket, req, &t), code, message);
	assert_int_equal(count_tickets(), before);
}

static void test_priorities(void **state)
{
	int64_t pid = ts_create_project(ts_r, "Priorities", NULL, NULL);
	Flow__V1__CreateTicketRequest req = ticket_req(pid, "bad prio");

	expect_priority(pid, 0, 0, NULL, 5, "normal");
	expect_priority(pid, 0, 0, "low", 2, "low");
	expect_priority(pid, 0, 0, "normal", 5, "normal");
	expect_priority(pid, 0, 0, "high", 8, "high");
	expect_priority(pid, 1, 0, NULL, 0, "low");
	expect_priority(pid, 1, 3, NULL, 3, "low");
	expect_priority(pid, 1, 4, NULL, 4, "normal");
	expect_priority(pid, 1, 6, NULL, 6, "normal");
	expect_priority(pid, 1, 7, NULL, 7, "high");
	expect_priority(pid, 1, 9, "high", 9, "high");
	expect_priority(pid, 1, 1, "low", 1, "low");

	req.has_priority = true;
	req.priority = 11;
	expect_create_rejected(&req, FLOW_INVALID_ARGUMENT,
			       "priority must be between 0 and 10 (got 11)");
	req.priority = -1;
	expect_create_rejected(&req, FLOW_INVALID_ARGUMENT,
			       "priority must be between 0 and 10 (got -1)");
	req.priority = 5;
	req.priority_name = "high";
	expect_create_rejected(&req, FLOW_INVALID_ARGUMENT,
			       "priority 5 is normal but priorityName is \"high\"; give one of "
			       "them or matching values");
	req.has_priority = false;
	req.priority_name = "urgent";
	expect_create_rejected(&req, FLOW_INVALID_ARGUMENT,
			       "priority must be a number from 0 to 10 or one of low, normal, high (got \"urgent\")");
}

/* The status stored for a new ticket of project pid created with status st. */
static const char *stored_status(int64_t pid, const char *title, const char *st)
{
	return ts_get_ticket(ts_r, ts_create_ticket(ts_r, pid, title, st, -1))->status;
}

static void test_statuses(void **state)
{
	int64_t pid = ts_create_project(ts_r, "Statuses", NULL, NULL);
	Flow__V1__CreateTicketRequest req = ticket_req(pid, "bad status");

	assert_string_equal(stored_status(pid, "a", NULL), "open");
	assert_string_equal(stored_status(pid, "b", "open"), "open");
	assert_string_equal(stored_status(pid, "c", "pending"), "open");
	assert_string_equal(stored_status(pid, "d", "in_progress"), "in_progress");
	assert_string_equal(stored_status(pid, "e", "closed"), "closed");
	assert_string_equal(stored_status(pid, "f", "completed"), "closed");

	req.status = "foo";
	expect_create_rejected(&req, FLOW_INVALID_ARGUMENT,
			       "status must be one of open, in_progress, closed (got \"foo\")");
	req.status = "OPEN";
	expect_create_rejected(&req, FLOW_INVALID_ARGUMENT,
			       "status must be one of open, in_progress, closed (got \"OPEN\")");
}

static void test_create_rejects_bad_input(void **state)
{
	int64_t pid = ts_create_project(ts_r, "Rejects", NULL, NULL);
	Flow__V1__CreateTicketRequest req = ticket_req(pid, "t");
	char *title = ts_repeat("t", 501), *overview = ts_repeat("o", 65537);
	char *tag = ts_repeat("g", 101), *file = ts_repeat("f", 1025);
	char *many[101];

	for (size_t i = 0; i < 101; i++)
		many[i] = "x";
	req.has_project_id = false;
	expect_create_rejected(&req, FLOW_INVALID_ARGUMENT, "projectId must be a positive integer");
	req.has_project_id = true;
	req.project_id = 0;
	expect_create_rejected(&req, FLOW_INVALID_ARGUMENT, "projectId must be a positive integer");
	req.project_id = -3;
	expect_create_rejected(&req, FLOW_INVALID_ARGUMENT, "projectId must be a positive integer");
	req.project_id = 999999;
	expect_create_rejected(&req, FLOW_NOT_FOUND, "project 999999 not found");

	req = ticket_req(pid, NULL);
	expect_create_rejected(&req, FLOW_INVALID_ARGUMENT, "title is required");
	req.title = " \n ";
	expect_create_rejected(&req, FLOW_INVALID_ARGUMENT, "title is required");
	req.title = title;
	expect_create_rejected(&req, FLOW_INVALID_ARGUMENT, "title is longer than 500 characters");
	req.title = "t";
	req.overview = overview;
	expect_create_rejected(&req, FLOW_INVALID_ARGUMENT,
			       "overview is longer than 65536 characters");
	req.overview = NULL;
	req.tags = many;
	req.n_tags = 51;
	expect_create_rejected(&req, FLOW_INVALID_ARGUMENT,
			       "tags has 51 entries; at most 50 are allowed");
	many[1] = tag;
	req.n_tags = 2;
	expect_create_rejected(&req, FLOW_INVALID_ARGUMENT,
			       "tags[1] is longer than 100 characters");
	many[1] = "";
	expect_create_rejected(&req, FLOW_INVALID_ARGUMENT, "tags[1] must not be empty");
	many[1] = "x";
	req.n_tags = 0;
	req.suggested_file_ids = many;
	req.n_suggested_file_ids = 101;
	expect_create_rejected(&req, FLOW_INVALID_ARGUMENT,
			       "suggestedFileIds has 101 entries; at most 100 are allowed");
	req.n_suggested_file_ids = 1;
	many[0] = file;
	expect_create_rejected(&req, FLOW_INVALID_ARGUMENT,
			       "suggestedFileIds[0] is longer than 1024 characters");
	many[0] = "x";
	req.n_suggested_file_ids = 0;
	req.suggested_agent_ids = many;
	req.n_suggested_agent_ids = 101;
	expect_create_rejected(&req, FLOW_INVALID_ARGUMENT,
			       "suggestedAgentIds has 101 entries; at most 100 are allowed");
	assert_int_equal(
	    ts_sql_i64(ts_r, "SELECT count(*) FROM tickets WHERE project_id = $1", 1, ts_i64s(pid)),
	    0);

	/* The limits themselves are allowed. */
	title[500] = '\0';
	req = ticket_req(pid, title);
	req.n_tags = 50;
	req.tags = many;
	req.n_suggested_file_ids = 100;
	req.suggested_file_ids = many;
	{
		Flow__V1__Ticket *t;

		assert_int_equal(ts_call(ts_r, h_create_ticket, &req, &t), FLOW_OK);
		assert_int_equal(t->n_tags, 50);
		assert_int_equal(t->n_suggested_file_ids, 100);
		assert_int_equal(strlen(t->title), 500);
	}
	free(title);
	free(overview);
	free(tag);
	free(file);
}

static void test_sql_metacharacters_verbatim(void **state)
{
	char *tags[] = { "'); DROP TABLE tickets; --", "with \"quotes\"", "back\\slash",
			 "{braces,comma}", "NULL", "  spaced  " };
	char *files[] = { "/src/a'b.c", "C:\\path\\x" };
	char *agents[] = { "agent\"1\"" };
	int64_t pid = ts_create_project(ts_r, "Meta", NULL, NULL);
	Flow__V1__CreateTicketRequest req = ticket_req(pid, "'); DROP TABLE tickets; --");
	Flow__V1__Ticket *t;

	req.overview = "$1 $$ E'\\x00' -- /* */ ;";
	req.tags = tags;
	req.n_tags = 6;
	req.suggested_file_ids = files;
	req.n_suggested_file_ids = 2;
	req.suggested_agent_ids = agents;
	req.n_suggested_agent_ids = 1;
	assert_int_equal(ts_call(ts_r, h_create_ticket, &req, &t), FLOW_OK);
	t = ts_get_ticket(ts_r, t->id);
	assert_string_equal(t->title, "'); DROP TABLE tickets; --");
	assert_string_equal(t->overview, "$1 $$ E'\\x00' -- /* */ ;");
	assert_int_equal(t->n_tags, 6);
	for (size_t i = 0; i < 6; i++)
		assert_string_equal(t->tags[i], tags[i]);
	assert_int_equal(t->n_suggested_file_ids, 2);
	assert_string_equal(t->suggested_file_ids[0], files[0]);
	assert_string_equal(t->suggested_file_ids[1], files[1]);
	assert_int_equal(t->n_suggested_agent_ids, 1);
	assert_string_equal(t->suggested_agent_ids[0], agents[0]);
	assert_true(count_tickets() >= 1);
}

static void test_get_bad_ids(void **state)
{
	Flow__V1__GetTicketRequest req = FLOW__V1__GET_TICKET_REQUEST__INIT;
	Flow__V1__Ticket *t;

	assert_req_error(ts_r, ts_call(ts_r, h_get_ticket, &req, &t), FLOW_INVALID_ARGUMENT,
			 "ticketId must be a positive integer");
	req.has_ticket_id = true;
	req.ticket_id = -2;
	assert_req_error(ts_r, ts_call(ts_r, h_get_ticket, &req, &t), FLOW_INVALID_ARGUMENT,
			 "ticketId must be a positive integer");
	req.ticket_id = 424242;
	assert_req_error(ts_r, ts_call(ts_r, h_get_ticket, &req, &t), FLOW_NOT_FOUND,
			 "ticket 424242 not found");
}

/* Lists project pid with filter status; checks the titles in order. */
static void expect_list(int64_t pid, const char *status, const char *const *titles, size_t n)
{
	Flow__V1__ListTicketsRequest req = FLOW__V1__LIST_TICKETS_REQUEST__INIT;
	Flow__V1__ListTicketsResponse *resp;

	req.has_project_id = true;
	req.project_id = pid;
	req.status = (char *)status;
	assert_int_equal(ts_call(ts_r, h_list_tickets, &req, &resp), FLOW_OK);
	assert_int_equal(resp->n_tickets, n);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(resp->tickets[i]->title, titles[i]);
		assert_int_equal(resp->tickets[i]->project_id, pid);
	}
}

static void test_list_filters_and_order(void **state)
{
	static const char *const all[] = { "p9 closed", "p8 open", "p8 ip", "p5 open", "p2 ip" };
	static const char *const open[] = { "p8 open", "p5 open" };
	static const char *const ip[] = { "p8 ip", "p2 ip" };
	static const char *const closed[] = { "p9 closed" };
	static const char *const active[] = { "p8 open", "p8 ip", "p5 open", "p2 ip" };
	int64_t pid = ts_create_project(ts_r, "Lists", NULL, NULL);
	int64_t other = ts_create_project(ts_r, "Other", NULL, NULL);
	int64_t empty = ts_create_project(ts_r, "Empty", NULL, NULL);
	Flow__V1__ListTicketsRequest req = FLOW__V1__LIST_TICKETS_REQUEST__INIT;
	Flow__V1__ListTicketsResponse *resp;

	ts_create_ticket(ts_r, pid, "p5 open", "open", 5);
	ts_create_ticket(ts_r, pid, "p8 open", "open", 8);
	ts_create_ticket(ts_r, pid, "p2 ip", "in_progress", 2);
	ts_create_ticket(ts_r, pid, "p9 closed", "closed", 9);
	ts_create_ticket(ts_r, pid, "p8 ip", "in_progress", 8);
	ts_create_ticket(ts_r, other, "elsewhere", "open", 10);

	expect_list(pid, NULL, all, 5);
	expect_list(pid, "", all, 5);
	expect_list(pid, "all", all, 5);
	expect_list(pid, "open", open, 2);
	expect_list(pid, "pending", open, 2);
	expect_list(pid, "in_progress", ip, 2);
	expect_list(pid, "closed", closed, 1);
	expect_list(pid, "completed", closed, 1);
	expect_list(pid, "active", active, 4);
	expect_list(empty, NULL, NULL, 0);
	expect_list(empty, "closed", NULL, 0);

	req.has_project_id = true;
	req.project_id = pid;
	req.status = "bogus";
	assert_req_error(ts_r, ts_call(ts_r, h_list_tickets, &req, &resp), FLOW_INVALID_ARGUMENT,
			 "status must be one of all, open, in_progress, closed, active "
			 "(or pending, completed) (got \"bogus\")");
	req.status = NULL;
	req.project_id = 777777;
	assert_req_error(ts_r, ts_call(ts_r, h_list_tickets, &req, &resp), FLOW_NOT_FOUND,
			 "project 777777 not found");
	req.project_id = 0;
	assert_req_error(ts_r, ts_call(ts_r, h_list_tickets, &req, &resp), FLOW_INVALID_ARGUMENT,
			 "projectId must be a positive integer");
}

static Flow__V1__UpdateTicketRequest update_req(int64_t id)
{
	Flow__V1__UpdateTicketRequest req = FLOW__V1__UPDATE_TICKET_REQUEST__INIT;

	req.has_ticket_id = true;
	req.ticket_id = id;
	return req;
}

static void test_update_present_fields_only(void **state)
{
	char *tags[] = { "a", "b" }, *tags2[] = { "c" }, *files[] = { "f1" };
	char *agents[] = { "agent-x" };
	int64_t pid = ts_create_project(ts_r, "Updates", NULL, NULL);
	Flow__V1__CreateTicketRequest cr = ticket_req(pid, "original");
	Flow__V1__UpdateTicketRequest up;
	Flow__V1__Ticket *t;
	int64_t id;

	cr.overview = "ov";
	cr.tags = tags;
	cr.n_tags = 2;
	cr.suggested_file_ids = files;
	cr.n_suggested_file_ids = 1;
	cr.suggested_agent_ids = agents;
	cr.n_suggested_agent_ids = 1;
	cr.has_priority = true;
	cr.priority = 3;
	assert_int_equal(ts_call(ts_r, h_create_ticket, &cr, &t), FLOW_OK);
	id = t->id;

	up = update_req(id);
	up.title = "renamed";
	assert_int_equal(ts_call(ts_r, h_update_ticket, &up, &t), FLOW_OK);
	assert_string_equal(t->title, "renamed");
	assert_string_equal(t->overview, "ov");
	assert_string_equal(t->status, "open");
	assert_int_equal(t->priority, 3);
	assert_int_equal(t->n_tags, 2);
	assert_int_equal(t->n_suggested_file_ids, 1);
	assert_int_equal(t->n_suggested_agent_ids, 1);

	up = update_req(id);
	up.priority_name = "high";
	up.status = "completed";
	up.tags = tags2;
	up.n_tags = 1;
	assert_int_equal(ts_call(ts_r, h_update_ticket, &up, &t), FLOW_OK);
	t = ts_get_ticket(ts_r, id);
	assert_int_equal(t->priority, 8);
	assert_string_equal(t->priority_name, "high");
	assert_string_equal(t->status, "closed");
	assert_int_equal(t->n_tags, 1);
	assert_string_equal(t->tags[0], "c");
	assert_string_equal(t->title, "renamed");
	assert_int_equal(t->n_suggested_agent_ids, 1);

	/* Clear flags empty a field; clear with values replaces it. */
	up = update_req(id);
	up.has_clear_suggested_file_ids = up.clear_suggested_file_ids = true;
	up.has_clear_tags = up.clear_tags = true;
	up.tags = tags;
	up.n_tags = 2;
	assert_int_equal(ts_call(ts_r, h_update_ticket, &up, &t), FLOW_OK);
	t = ts_get_ticket(ts_r, id);
	assert_int_equal(t->n_suggested_file_ids, 0);
	assert_int_equal(t->n_tags, 2);
	assert_string_equal(t->tags[1], "b");
	assert_int_equal(t->n_suggested_agent_ids, 1);
	assert_string_equal(t->suggested_agent_ids[0], "agent-x");

	up = update_req(id);
	up.has_priority = true;
	up.priority = 0;
	up.overview = "";
	assert_int_equal(ts_call(ts_r, h_update_ticket, &up, &t), FLOW_OK);
	assert_int_equal(t->priority, 0);
	assert_string_equal(t->priority_name, "low");
	assert_string_equal(t->overview, "");
}

static void expect_update_rejected(Flow__V1__UpdateTicketRequest *up, int code,
				   const char *message)
{
	Flow__V1__Ticket *t;

	assert_req_error(ts_r, ts_call(ts_r, h_update_ticket, up, &t), code, message);
}

static void test_update_rejects_bad_input(void **state)
{
	char *tags[] = { "" };
	int64_t pid = ts_create_project(ts_r, "Update rejects", NULL, NULL);
	int64_t id = ts_create_ticket(ts_r, pid, "keep me", "in_progress", 6);
	int64_t updated = ts_get_ticket(ts_r, id)->updated;
	Flow__V1__UpdateTicketRequest up = update_req(id);
	char *title = ts_repeat("x", 501);
	Flow__V1__Ticket *t;

	expect_update_rejected(&up, FLOW_INVALID_ARGUMENT,
			       "nothing to update: give at least one of title, overview, status, "
			       "priority, priorityName, tags, suggestedFileIds, suggestedAgentIds "
			       "or a clear flag");
	/* An empty list without its clear flag changes nothing either. */
	up.has_clear_tags = true;
	up.clear_tags = false;
	expect_update_rejected(&up, FLOW_INVALID_ARGUMENT,
			       "nothing to update: give at least one of title, overview, status, "
			       "priority, priorityName, tags, suggestedFileIds, suggestedAgentIds "
			       "or a clear flag");
	up = update_req(id);
	up.title = "";
	expect_update_rejected(&up, FLOW_INVALID_ARGUMENT, "title is required");
	up.title = title;
	expect_update_rejected(&up, FLOW_INVALID_ARGUMENT, "title is longer than 500 characters");
	up.title = "new";
	up.status = "done";
	expect_update_rejected(&up, FLOW_INVALID_ARGUMENT,
			       "status must be one of open, in_progress, closed (got \"done\")");
	up.status = NULL;
	up.has_priority = true;
	up.priority = 99;
	expect_update_rejected(&up, FLOW_INVALID_ARGUMENT,
			       "priority must be between 0 and 10 (got 99)");
	up.has_priority = false;
	up.tags = tags;
	up.n_tags = 1;
	expect_update_rejected(&up, FLOW_INVALID_ARGUMENT, "tags[0] must not be empty");
	up.n_tags = 0;
	up.ticket_id = 0;
	expect_update_rejected(&up, FLOW_INVALID_ARGUMENT, "ticketId must be a positive integer");
	up.ticket_id = 31337;
	expect_update_rejected(&up, FLOW_NOT_FOUND, "ticket 31337 not found");

	t = ts_get_ticket(ts_r, id);
	assert_string_equal(t->title, "keep me");
	assert_string_equal(t->status, "in_progress");
	assert_int_equal(t->priority, 6);
	assert_int_equal(t->updated, updated);
	free(title);
}

static void test_delete_cascades(void **state)
{
	int64_t pid = ts_create_project(ts_r, "Deletes", NULL, NULL);
	int64_t id = ts_create_ticket(ts_r, pid, "doomed", "open", 5);
	int64_t keep = ts_create_ticket(ts_r, pid, "kept", "open", 5);
	Flow__V1__DeleteTicketRequest del = FLOW__V1__DELETE_TICKET_REQUEST__INIT;
	Flow__V1__DeleteResponse *resp;
	int64_t q;
	char want[64];

	q = ts_sql_i64(ts_r, "INSERT INTO queues (project_id, name) VALUES ($1, 'q') RETURNING id",
		       1, ts_i64s(pid));
	assert_true(q > 0);
	assert_int_equal(ts_sql_i64(ts_r,
				    "WITH k AS (INSERT INTO tasks (ticket_id, content)"
				    " VALUES ($1, 'a'), ($1, 'b') RETURNING id, ticket_id)"
				    " SELECT count(*) FROM k",
				    1, ts_i64s(id)),
			 2);
	assert_int_equal(
	    ts_sql_i64(ts_r,
		       "WITH i AS (INSERT INTO queue_items (queue_id, ticket_id, task_id)"
		       " SELECT q.id, k.ticket_id, k.id FROM tasks k"
		       " JOIN tickets t ON t.id = k.ticket_id"
		       " JOIN queues q ON q.project_id = t.project_id"
		       " WHERE k.ticket_id = $1 RETURNING id)"
		       " SELECT count(*) FROM i",
		       1, ts_i64s(id)),
	    2);
	assert_true(
	    ts_sql_i64(ts_r, "INSERT INTO tasks (ticket_id, content) VALUES ($1, 'k') RETURNING id",
		       1, ts_i64s(keep)) > 0);

	del.has_ticket_id = true;
	del.ticket_id = id;
	assert_int_equal(ts_call(ts_r, h_delete_ticket, &del, &resp), FLOW_OK);
	assert_true(resp->has_deleted && resp->deleted && resp->has_id);
	assert_int_equal(resp->id, id);
	assert_int_equal(
	    ts_sql_i64(ts_r, "SELECT count(*) FROM tickets WHERE id = $1", 1, ts_i64s(id)), 0);
	assert_int_equal(
	    ts_sql_i64(ts_r, "SELECT count(*) FROM tasks WHERE ticket_id = $1", 1, ts_i64s(id)), 0);
	assert_int_equal(ts_sql_i64(ts_r, "SELECT count(*) FROM queue_items WHERE ticket_id = $1",
				    1, ts_i64s(id)),
			 0);
	assert_int_equal(
	    ts_sql_i64(ts_r, "SELECT count(*) FROM tasks WHERE ticket_id = $1", 1, ts_i64s(keep)),
	    1);
	assert_string_equal(ts_get_ticket(ts_r, keep)->title, "kept");

	snprintf(want, sizeof(want), "ticket %" PRId64 " not found", id);
	assert_req_error(ts_r, ts_call(ts_r, h_delete_ticket, &del, &resp), FLOW_NOT_FOUND, want);
	del.ticket_id = -5;
	assert_req_error(ts_r, ts_call(ts_r, h_delete_ticket, &del, &resp), FLOW_INVALID_ARGUMENT,
			 "ticketId must be a positive integer");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_create_usage_guide_ticket, ts_test_reset),
		cmocka_unit_test_setup(test_priorities, ts_test_reset),
		cmocka_unit_test_setup(test_statuses, ts_test_reset),
		cmocka_unit_test_setup(test_create_rejects_bad_input, ts_test_reset),
		cmocka_unit_test_setup(test_sql_metacharacters_verbatim, ts_test_reset),
		cmocka_unit_test_setup(test_get_bad_ids, ts_test_reset),
		cmocka_unit_test_setup(test_list_filters_and_order, ts_test_reset),
		cmocka_unit_test_setup(test_update_present_fields_only, ts_test_reset),
		cmocka_unit_test_setup(test_update_rejects_bad_input, ts_test_reset),
		cmocka_unit_test_setup(test_delete_cascades, ts_test_reset),
	};

	return cmocka_run_group_tests(tests, ts_group_setup, ts_group_teardown);
}
