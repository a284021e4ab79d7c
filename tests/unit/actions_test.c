/*
 * actions_test.c - the MCP action table (client/actions.c): every call shape
 * of the usage guide and of Promptliano's clients maps to the right RPC
 * method with exactly the right request fields; argument errors name the
 * argument. No server needed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "actions.h"
#include "call.h"
#include "rpc.h"
#include "status.h"
#include "flow/v1/flow_manager.pb-c.h"
#include "flow/v1/model.pb-c.h"
#include "flow/v1/project_manager.pb-c.h"

#define FM "/flow.v1.FlowManager/"
#define PM "/flow.v1.ProjectManager/"

/* A usage-guide ticket description: multi-line markdown with emoji. */
static const char p01_description[] =
	"**Priority:** P0 (CRITICAL)\n"
	"**Severity:** \xf0\x9f\x94\xb4 10/10 - CVSS 9.8\n"
	"**Effort:** 2 hours\n"
	"**Agent:** promptliano-service-architect\n\n"
	"## Vulnerability\n"
	"JWT signing secret defaults to publicly known hardcoded string. Attackers can forge "
	"admin tokens.\n\n"
	"## Files Affected\n"
	"- /packages/services/src/auth-service.ts\n"
	"- /.env.example\n";

static json_t *parse(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &je);

	if (j == NULL)
		fail_msg("test JSON does not parse: %s: %s", je.text, text);
	return j;
}

/* Builds args (taken) for tool and checks it succeeds with method. */
static struct action_request build_json_ok(const char *tool, json_t *args, const char *method)
{
	struct action_request r;
	char err[1024] = "";
	int rc = action_build_request(tool, args, &r, err, sizeof(err));

	json_decref(args);
	if (rc != FLOW_OK)
		fail_msg("build failed (%s): %s", status_name(rc), err);
	assert_string_equal(r.method, method);
	assert_non_null(r.md);
	assert_non_null(r.msg);
	assert_ptr_equal(r.msg->descriptor, r.md->input);
	return r;
}

static struct action_request build_ok(const char *tool, const char *text, const char *method)
{
	return build_json_ok(tool, parse(text), method);
}

/* Checks building text fails with INVALID_ARGUMENT and an error containing want. */
static void build_err(const char *tool, const char *text, const char *want)
{
	struct action_request r;
	char err[1024] = "";
	json_t *args = parse(text);
	int rc = action_build_request(tool, args, &r, err, sizeof(err));

	json_decref(args);
	if (rc == FLOW_OK) {
		action_request_clear(&r);
		fail_msg("expected an error containing \"%s\" for %s", want, text);
	}
	assert_int_equal(rc, FLOW_INVALID_ARGUMENT);
	assert_null(r.msg);
	if (strstr(err, want) == NULL)
		fail_msg("error \"%s\" does not contain \"%s\"", err, want);
}

/* ---- usage guide call shapes ---- */

static void test_guide_project_list_overview(void **state)
{
	struct action_request r = build_ok("project_manager", "{\"action\":\"list\"}",
					   PM "ListProjects");

	action_request_clear(&r);
	r = build_ok("project_manager", "{\"action\":\"overview\",\"projectId\":1754713756748}",
		     PM "GetOverview");
	Flow__V1__GetOverviewRequest *o = (Flow__V1__GetOverviewRequest *)r.msg;

	assert_true(o->has_project_id);
	assert_int_equal(o->project_id, 1754713756748LL);
	action_request_clear(&r);
}

static void test_guide_tickets_create(void **state)
{
	json_t *args = json_pack("{s:s, s:I, s:{s:s, s:s, s:i, s:s, s:[s,s,s,s]}}", "action",
				 "tickets_create", "projectId", (json_int_t)1754713756748LL,
				 "data", "title", "[P0-1] CRITICAL: Fix JWT Secret Hardcoded Default",
				 "description", p01_description, "priority", 10, "status",
				 "pending", "tags", "security", "critical", "p0", "authentication");
	struct action_request r = build_json_ok("flow_manager", args, FM "CreateTicket");
	Flow__V1__CreateTicketRequest *t = (Flow__V1__CreateTicketRequest *)r.msg;

	assert_true(t->has_project_id);
	assert_int_equal(t->project_id, 1754713756748LL);
	assert_string_equal(t->title, "[P0-1] CRITICAL: Fix JWT Secret Hardcoded Default");
	assert_string_equal(t->overview, p01_description);
	assert_true(t->has_priority);
	assert_int_equal(t->priority, 10);
	assert_null(t->priority_name);
	assert_string_equal(t->status, "pending");
	assert_int_equal(t->n_tags, 4);
	assert_string_equal(t->tags[0], "security");
	assert_string_equal(t->tags[3], "authentication");
	assert_int_equal(t->n_suggested_file_ids, 0);
	assert_int_equal(t->n_suggested_agent_ids, 0);
	action_request_clear(&r);
}

static void test_guide_tasks_create(void **state)
{
	struct action_request r = build_ok(
		"flow_manager",
		"{\"action\":\"tasks_create\",\"ticketId\":456,\"data\":{"
		"\"content\":\"Add server startup security checks\","
		"\"description\":\"Create performSecurityChecks() function:\\n- Check JWT\\n\\n"
		"Agent: promptliano-api-architect\","
		"\"status\":\"pending\",\"estimatedHours\":0.5,\"tags\":[\"security\",\"startup\"]}}",
		FM "CreateTask");
	Flow__V1__CreateTaskRequest *t = (Flow__V1__CreateTaskRequest *)r.msg;

	assert_true(t->has_ticket_id);
	assert_int_equal(t->ticket_id, 456);
	assert_string_equal(t->content, "Add server startup security checks");
	assert_string_equal(t->description, "Create performSecurityChecks() function:\n- Check "
					    "JWT\n\nAgent: promptliano-api-architect");
	assert_string_equal(t->status, "pending");
	assert_true(t->has_estimated_hours);
	assert_true(t->estimated_hours == 0.5);
	assert_int_equal(t->n_tags, 2);
	assert_string_equal(t->tags[1], "startup");
	assert_false(t->has_order_index);
	assert_null(t->agent_id);
	action_request_clear(&r);

	/* estimatedHours 1 (a JSON integer) into a double field */
	r = build_ok("flow_manager",
		     "{\"action\":\"tasks_create\",\"ticketId\":\"456\",\"data\":{\"content\":\"x\","
		     "\"estimatedHours\":1}}",
		     FM "CreateTask");
	t = (Flow__V1__CreateTaskRequest *)r.msg;
	assert_int_equal(t->ticket_id, 456);
	assert_true(t->estimated_hours == 1.0);
	action_request_clear(&r);
}

static void test_guide_queues_create(void **state)
{
	struct action_request r = build_ok(
		"flow_manager",
		"{\"action\":\"queues_create\",\"projectId\":1754713756748,\"data\":{"
		"\"name\":\"Security Hardening - Authentication\","
		"\"description\":\"Complete implementation of all 13 security fixes\","
		"\"maxParallelItems\":1}}",
		FM "CreateQueue");
	Flow__V1__CreateQueueRequest *q = (Flow__V1__CreateQueueRequest *)r.msg;

	assert_int_equal(q->project_id, 1754713756748LL);
	assert_string_equal(q->name, "Security Hardening - Authentication");
	assert_string_equal(q->description, "Complete implementation of all 13 security fixes");
	assert_true(q->has_max_parallel_items);
	assert_int_equal(q->max_parallel_items, 1);
	assert_false(q->has_lease_seconds);
	assert_false(q->has_max_attempts);
	action_request_clear(&r);
}

static void test_guide_queues_add_item(void **state)
{
	struct action_request r = build_ok(
		"flow_manager",
		"{\"action\":\"queues_add_item\",\"queueId\":123,\"data\":{\"ticketId\":456,"
		"\"priority\":10}}",
		FM "EnqueueTicket");
	Flow__V1__EnqueueTicketRequest *e = (Flow__V1__EnqueueTicketRequest *)r.msg;

	assert_true(e->has_queue_id);
	assert_int_equal(e->queue_id, 123);
	assert_true(e->has_ticket_id);
	assert_int_equal(e->ticket_id, 456);
	assert_true(e->has_priority);
	assert_int_equal(e->priority, 10);
	assert_false(e->has_include_tasks);
	action_request_clear(&r);

	r = build_ok("flow_manager",
		     "{\"action\":\"queues_add_item\",\"queueId\":123,\"data\":{\"taskId\":\"789\","
		     "\"ticketId\":456,\"priority\":3}}",
		     FM "EnqueueTask");
	Flow__V1__EnqueueTaskRequest *t = (Flow__V1__EnqueueTaskRequest *)r.msg;

	assert_int_equal(t->queue_id, 123);
	assert_int_equal(t->task_id, 789);
	assert_int_equal(t->priority, 3);
	action_request_clear(&r);
}

static void test_guide_processor_get_next(void **state)
{
	struct action_request r = build_ok(
		"flow_manager", "{\"action\":\"processor_get_next\",\"queueId\":123}", FM "GetNext");
	Flow__V1__GetNextRequest *g = (Flow__V1__GetNextRequest *)r.msg;

	assert_true(g->has_queue_id);
	assert_int_equal(g->queue_id, 123);
	assert_null(g->agent_id);
	action_request_clear(&r);

	r = build_ok("flow_manager",
		     "{\"action\":\"processor_get_next\",\"queueId\":123,\"data\":{\"agentId\":"
		     "\"promptliano-service-architect\"}}",
		     FM "GetNext");
	g = (Flow__V1__GetNextRequest *)r.msg;
	assert_string_equal(g->agent_id, "promptliano-service-architect");
	action_request_clear(&r);
}

static void test_guide_tasks_update(void **state)
{
	struct action_request r = build_ok(
		"flow_manager",
		"{\"action\":\"tasks_update\",\"taskId\":789,\"data\":{\"status\":\"completed\","
		"\"completionNotes\":\"JWT secret validation implemented with all checks. Tests "
		"passing.\"}}",
		FM "UpdateTask");
	Flow__V1__UpdateTaskRequest *u = (Flow__V1__UpdateTaskRequest *)r.msg;

	assert_int_equal(u->task_id, 789);
	assert_string_equal(u->status, "completed");
	assert_string_equal(u->completion_notes,
			    "JWT secret validation implemented with all checks. Tests passing.");
	assert_false(u->has_done);
	assert_null(u->content);
	assert_int_equal(u->n_tags, 0);
	action_request_clear(&r);

	/* ticketId alongside is accepted and not sent */
	r = build_ok("flow_manager",
		     "{\"action\":\"tasks_update\",\"ticketId\":456,\"taskId\":789,\"data\":{"
		     "\"done\":true}}",
		     FM "UpdateTask");
	u = (Flow__V1__UpdateTaskRequest *)r.msg;
	assert_int_equal(u->task_id, 789);
	assert_true(u->has_done);
	assert_true(u->done);
	action_request_clear(&r);
}

static void test_guide_processor_complete(void **state)
{
	struct action_request r = build_ok(
		"flow_manager",
		"{\"action\":\"processor_complete\",\"itemId\":890,\"data\":{\"completionNotes\":"
		"\"Task completed successfully\"}}",
		FM "CompleteItem");
	Flow__V1__CompleteItemRequest *c = (Flow__V1__CompleteItemRequest *)r.msg;

	assert_true(c->has_queue_item_id);
	assert_int_equal(c->queue_item_id, 890);
	assert_string_equal(c->completion_notes, "Task completed successfully");
	assert_null(c->metadata);
	action_request_clear(&r);

	/* the quick-start form: no data */
	r = build_ok("flow_manager", "{\"action\":\"processor_complete\",\"itemId\":890}",
		     FM "CompleteItem");
	c = (Flow__V1__CompleteItemRequest *)r.msg;
	assert_int_equal(c->queue_item_id, 890);
	assert_null(c->completion_notes);
	action_request_clear(&r);
}

static void test_guide_stats_and_lists(void **state)
{
	struct action_request r = build_ok(
		"flow_manager", "{\"action\":\"queues_get_stats\",\"queueId\":123}",
		FM "GetQueueStats");

	assert_int_equal(((Flow__V1__GetQueueStatsRequest *)r.msg)->queue_id, 123);
	action_request_clear(&r);

	r = build_ok("flow_manager",
		     "{\"action\":\"tickets_list\",\"projectId\":1754713756748,\"data\":{"
		     "\"status\":\"all\"}}",
		     FM "ListTickets");
	Flow__V1__ListTicketsRequest *lt = (Flow__V1__ListTicketsRequest *)r.msg;

	assert_int_equal(lt->project_id, 1754713756748LL);
	assert_string_equal(lt->status, "all");
	action_request_clear(&r);

	r = build_ok("flow_manager",
		     "{\"action\":\"tasks_list\",\"ticketId\":456,\"data\":{\"status\":\"all\"}}",
		     FM "ListTasks");
	Flow__V1__ListTasksRequest *lk = (Flow__V1__ListTasksRequest *)r.msg;

	assert_int_equal(lk->ticket_id, 456);
	assert_string_equal(lk->status, "all");
	action_request_clear(&r);

	r = build_ok("flow_manager", "{\"action\":\"tasks_list_by_ticket\",\"ticketId\":456}",
		     FM "ListTasks");
	assert_null(((Flow__V1__ListTasksRequest *)r.msg)->status);
	action_request_clear(&r);
}

/* ---- other shapes ---- */

static void test_promptliano_complete_failed(void **state)
{
	struct action_request r = build_ok(
		"flow_manager",
		"{\"action\":\"processor_complete\",\"data\":{\"queueItemId\":890,\"result\":{"
		"\"success\":false,\"error\":\"tests fail\",\"metadata\":{\"exit\":1}}}}",
		FM "FailItem");
	Flow__V1__FailItemRequest *f = (Flow__V1__FailItemRequest *)r.msg;

	assert_true(f->has_queue_item_id);
	assert_int_equal(f->queue_item_id, 890);
	assert_string_equal(f->error, "tests fail");
	action_request_clear(&r);

	/* no error text: the notes, else "failed" */
	r = build_ok("flow_manager",
		     "{\"action\":\"processor_complete\",\"itemId\":5,\"data\":{"
		     "\"completionNotes\":\"gave up\",\"result\":{\"success\":false}}}",
		     FM "FailItem");
	assert_string_equal(((Flow__V1__FailItemRequest *)r.msg)->error, "gave up");
	action_request_clear(&r);
}

static void test_promptliano_complete_ok(void **state)
{
	struct action_request r = build_ok(
		"flow_manager",
		"{\"action\":\"processor_complete\",\"data\":{\"queueItemId\":\"890\",\"result\":{"
		"\"success\":true,\"metadata\":{\"files\":[\"a.c\"],\"ms\":12}}}}",
		FM "CompleteItem");
	Flow__V1__CompleteItemRequest *c = (Flow__V1__CompleteItemRequest *)r.msg;
	json_t *meta;

	assert_int_equal(c->queue_item_id, 890);
	assert_non_null(c->metadata);
	meta = parse(c->metadata);
	assert_int_equal(json_integer_value(json_object_get(meta, "ms")), 12);
	assert_string_equal(json_string_value(json_array_get(json_object_get(meta, "files"), 0)),
			    "a.c");
	json_decref(meta);
	action_request_clear(&r);

	/* data.metadata as an object travels as text too */
	r = build_ok("flow_manager",
		     "{\"action\":\"processor_complete\",\"itemId\":3,\"data\":{\"metadata\":{"
		     "\"k\":\"v\"}}}",
		     FM "CompleteItem");
	assert_string_equal(((Flow__V1__CompleteItemRequest *)r.msg)->metadata, "{\"k\":\"v\"}");
	action_request_clear(&r);
}

static void test_processor_fail(void **state)
{
	struct action_request r = build_ok(
		"flow_manager",
		"{\"action\":\"processor_fail\",\"itemId\":7,\"data\":{\"error\":\"boom\"}}",
		FM "FailItem");
	Flow__V1__FailItemRequest *f = (Flow__V1__FailItemRequest *)r.msg;

	assert_int_equal(f->queue_item_id, 7);
	assert_string_equal(f->error, "boom");
	action_request_clear(&r);

	r = build_ok("flow_manager",
		     "{\"action\":\"processor_fail\",\"data\":{\"queueItemId\":8,\"error\":\"x\"}}",
		     FM "FailItem");
	assert_int_equal(((Flow__V1__FailItemRequest *)r.msg)->queue_item_id, 8);
	action_request_clear(&r);
}

static void test_ticket_priority_name_and_update(void **state)
{
	struct action_request r = build_ok(
		"flow_manager",
		"{\"action\":\"tickets_create\",\"projectId\":\"1\",\"data\":{\"title\":\"t\","
		"\"overview\":\"o\",\"priority\":\"high\",\"suggestedFileIds\":[\"f1\"],"
		"\"suggestedAgentIds\":[\"a1\",\"a2\"]}}",
		FM "CreateTicket");
	Flow__V1__CreateTicketRequest *t = (Flow__V1__CreateTicketRequest *)r.msg;

	assert_int_equal(t->project_id, 1);
	assert_string_equal(t->overview, "o");
	assert_false(t->has_priority);
	assert_string_equal(t->priority_name, "high");
	assert_int_equal(t->n_suggested_file_ids, 1);
	assert_int_equal(t->n_suggested_agent_ids, 2);
	action_request_clear(&r);

	r = build_ok("flow_manager",
		     "{\"action\":\"tickets_update\",\"ticketId\":9,\"projectId\":1,\"data\":{"
		     "\"description\":\"new\",\"priority\":\"7\",\"status\":\"closed\"}}",
		     FM "UpdateTicket");
	Flow__V1__UpdateTicketRequest *u = (Flow__V1__UpdateTicketRequest *)r.msg;

	assert_int_equal(u->ticket_id, 9);
	assert_string_equal(u->overview, "new");
	assert_true(u->has_priority);
	assert_int_equal(u->priority, 7);
	assert_string_equal(u->status, "closed");
	action_request_clear(&r);
}

static void test_queue_update_status(void **state)
{
	struct action_request r = build_ok(
		"flow_manager",
		"{\"action\":\"queues_update\",\"queueId\":4,\"data\":{\"status\":\"paused\"}}",
		FM "UpdateQueue");
	Flow__V1__UpdateQueueRequest *u = (Flow__V1__UpdateQueueRequest *)r.msg;

	assert_int_equal(u->queue_id, 4);
	assert_true(u->has_is_active);
	assert_false(u->is_active);
	action_request_clear(&r);

	r = build_ok("flow_manager",
		     "{\"action\":\"queues_update\",\"queueId\":4,\"data\":{\"status\":\"active\","
		     "\"max_parallel_items\":3}}",
		     FM "UpdateQueue");
	u = (Flow__V1__UpdateQueueRequest *)r.msg;
	assert_true(u->is_active);
	assert_int_equal(u->max_parallel_items, 3);
	action_request_clear(&r);
}

static void test_enqueue_dequeue_reorder_delete(void **state)
{
	struct action_request r = build_ok(
		"flow_manager",
		"{\"action\":\"enqueue_ticket\",\"queueId\":1,\"data\":{\"ticketId\":2,"
		"\"includeTasks\":true}}",
		FM "EnqueueTicket");
	Flow__V1__EnqueueTicketRequest *e = (Flow__V1__EnqueueTicketRequest *)r.msg;

	assert_int_equal(e->ticket_id, 2);
	assert_true(e->has_include_tasks && e->include_tasks);
	action_request_clear(&r);

	r = build_ok("flow_manager", "{\"action\":\"dequeue_ticket\",\"ticketId\":2}",
		     FM "DequeueTicket");
	assert_false(((Flow__V1__DequeueTicketRequest *)r.msg)->has_include_tasks);
	action_request_clear(&r);

	r = build_ok("flow_manager",
		     "{\"action\":\"tasks_reorder\",\"ticketId\":2,\"data\":{\"tasks\":["
		     "{\"taskId\":5,\"orderIndex\":1},{\"taskId\":4,\"orderIndex\":0}]}}",
		     FM "ReorderTasks");
	Flow__V1__ReorderTasksRequest *o = (Flow__V1__ReorderTasksRequest *)r.msg;

	assert_int_equal(o->n_tasks, 2);
	assert_int_equal(o->tasks[0]->task_id, 5);
	assert_int_equal(o->tasks[1]->order_index, 0);
	action_request_clear(&r);

	r = build_ok("project_manager",
		     "{\"action\":\"delete\",\"projectId\":3,\"data\":{\"confirmDelete\":true}}",
		     PM "DeleteProject");
	assert_true(((Flow__V1__DeleteProjectRequest *)r.msg)->confirm_delete);
	action_request_clear(&r);
}

/* ---- queue engine: retry, cancel, delays, attempts, default agent ---- */

static void test_queue_items_retry(void **state)
{
	struct action_request r =
	    build_ok("flow_manager",
		     "{\"action\":\"queue_items_retry\",\"data\":{\"queueItemIds\":[7,\"8\"]}}",
		     FM "RetryItems");
	Flow__V1__RetryItemsRequest *q = (Flow__V1__RetryItemsRequest *)r.msg;

	(void)state;
	assert_int_equal(q->n_queue_item_ids, 2);
	assert_int_equal(q->queue_item_ids[0], 7);
	assert_int_equal(q->queue_item_ids[1], 8);
	assert_false(q->has_queue_id);
	action_request_clear(&r);

	r = build_ok("flow_manager",
		     "{\"action\":\"queue_items_retry\",\"queueId\":3,\"projectId\":1}",
		     FM "RetryItems");
	q = (Flow__V1__RetryItemsRequest *)r.msg;
	assert_true(q->has_queue_id);
	assert_int_equal(q->queue_id, 3);
	assert_int_equal(q->n_queue_item_ids, 0);
	action_request_clear(&r);

	r = build_ok("flow_manager", "{\"action\":\"queue_items_retry\",\"itemId\":\"12\"}",
		     FM "RetryItems");
	q = (Flow__V1__RetryItemsRequest *)r.msg;
	assert_int_equal(q->n_queue_item_ids, 1);
	assert_int_equal(q->queue_item_ids[0], 12);
	action_request_clear(&r);

	build_err("flow_manager", "{\"action\":\"queue_items_retry\"}",
		  "queue_items_retry requires data.queueItemIds or queueId (or itemId)");
	build_err("flow_manager", "{\"action\":\"queue_items_retry\",\"itemId\":0}",
		  "itemId: expected a positive integer, got 0");
	build_err("flow_manager",
		  "{\"action\":\"queue_items_retry\",\"data\":{\"queueItemIds\":[\"x\"]}}",
		  "data.queueItemIds");
}

static void test_queue_items_cancel(void **state)
{
	struct action_request r = build_ok(
	    "flow_manager", "{\"action\":\"queue_items_cancel\",\"itemId\":7,\"queueId\":2}",
	    FM "CancelItems");
	Flow__V1__CancelItemsRequest *q = (Flow__V1__CancelItemsRequest *)r.msg;

	(void)state;
	assert_int_equal(q->n_queue_item_ids, 1);
	assert_int_equal(q->queue_item_ids[0], 7);
	action_request_clear(&r);

	r = build_ok("flow_manager",
		     "{\"action\":\"queue_items_cancel\",\"queueItemId\":9,"
		     "\"data\":{\"queueItemIds\":[4,5]}}",
		     FM "CancelItems");
	q = (Flow__V1__CancelItemsRequest *)r.msg;
	assert_int_equal(q->n_queue_item_ids, 3);
	assert_int_equal(q->queue_item_ids[0], 4);
	assert_int_equal(q->queue_item_ids[1], 5);
	assert_int_equal(q->queue_item_ids[2], 9);
	action_request_clear(&r);

	r = build_ok("flow_manager",
		     "{\"action\":\"queue_items_cancel\",\"data\":{\"queueItemId\":6}}",
		     FM "CancelItems");
	q = (Flow__V1__CancelItemsRequest *)r.msg;
	assert_int_equal(q->n_queue_item_ids, 1);
	assert_int_equal(q->queue_item_ids[0], 6);
	action_request_clear(&r);

	build_err("flow_manager", "{\"action\":\"queue_items_cancel\",\"queueId\":2}",
		  "queue_items_cancel requires data.queueItemIds (or itemId)");
	build_err("flow_manager",
		  "{\"action\":\"queue_items_cancel\",\"itemId\":3,\"queueItemId\":4}",
		  "are both given, with different values");
	build_err("flow_manager",
		  "{\"action\":\"queue_items_cancel\",\"itemId\":3,\"data\":{\"queueItemIds\":5}}",
		  "data.queueItemIds: expected an array of ids");
}

static void test_engine_data_fields(void **state)
{
	struct action_request r =
	    build_ok("flow_manager",
		     "{\"action\":\"queues_add_item\",\"queueId\":1,\"data\":{\"taskId\":3,"
		     "\"delaySeconds\":60,\"maxAttempts\":5}}",
		     FM "EnqueueTask");
	Flow__V1__EnqueueTaskRequest *t = (Flow__V1__EnqueueTaskRequest *)r.msg;

	(void)state;
	assert_true(t->has_delay_seconds && t->has_max_attempts);
	assert_int_equal(t->delay_seconds, 60);
	assert_int_equal(t->max_attempts, 5);
	assert_false(t->has_run_after);
	action_request_clear(&r);

	r = build_ok("flow_manager",
		     "{\"action\":\"enqueue_ticket\",\"queueId\":1,\"ticketId\":2,\"data\":{"
		     "\"runAfter\":1893456000000,\"includeTasks\":true}}",
		     FM "EnqueueTicket");
	Flow__V1__EnqueueTicketRequest *e = (Flow__V1__EnqueueTicketRequest *)r.msg;

	assert_true(e->has_run_after);
	assert_int_equal(e->run_after, 1893456000000LL);
	action_request_clear(&r);

	r = build_ok("flow_manager",
		     "{\"action\":\"queues_create\",\"projectId\":1,\"data\":{\"name\":\"q\","
		     "\"leaseSeconds\":60,\"maxAttempts\":4,\"defaultAgentId\":\"coder\"}}",
		     FM "CreateQueue");
	Flow__V1__CreateQueueRequest *c = (Flow__V1__CreateQueueRequest *)r.msg;

	assert_int_equal(c->lease_seconds, 60);
	assert_int_equal(c->max_attempts, 4);
	assert_string_equal(c->default_agent_id, "coder");
	action_request_clear(&r);

	r = build_ok(
	    "flow_manager",
	    "{\"action\":\"queues_update\",\"queueId\":1,\"data\":{\"defaultAgentId\":\"\","
	    "\"leaseSeconds\":5}}",
	    FM "UpdateQueue");
	Flow__V1__UpdateQueueRequest *u = (Flow__V1__UpdateQueueRequest *)r.msg;

	assert_string_equal(u->default_agent_id, "");
	assert_int_equal(u->lease_seconds, 5);
	action_request_clear(&r);

	r = build_ok("flow_manager",
		     "{\"action\":\"processor_fail\",\"itemId\":7,\"data\":{\"error\":\"flaky\","
		     "\"retryable\":true}}",
		     FM "FailItem");
	Flow__V1__FailItemRequest *f = (Flow__V1__FailItemRequest *)r.msg;

	assert_true(f->has_retryable && f->retryable);
	action_request_clear(&r);
}

/* Every example in the table builds, and every method resolves. */
static void test_table_examples(void **state)
{
	int n = 0;

	for (const struct action *a = action_table; a->tool != NULL; a++, n++) {
		const ProtobufCMethodDescriptor *md = NULL;
		struct action_request r;
		char err[1024] = "";
		json_t *args = parse(a->example);

		assert_int_equal(rpc_method_find(a->method, NULL, &md), FLOW_OK);
		assert_ptr_equal(action_find(a->tool, a->name), a);
		if (action_build_request(a->tool, args, &r, err, sizeof(err)) != FLOW_OK)
			fail_msg("example of %s does not build: %s", a->name, err);
		assert_string_equal(json_string_value(json_object_get(args, "action")), a->name);
		action_request_clear(&r);
		json_decref(args);
	}
	assert_true(n >= 32);
}

/* ---- errors ---- */

static void test_errors_missing_and_unknown(void **state)
{
	build_err("flow_manager", "{\"action\":\"tickets_create\",\"data\":{\"title\":\"x\"}}",
		  "tickets_create requires projectId (e.g. {\"action\":\"tickets_create\","
		  "\"projectId\":1,\"data\":{\"title\":\"...\"}})");
	build_err("flow_manager", "{\"action\":\"processor_complete\"}",
		  "processor_complete requires itemId");
	build_err("flow_manager", "{\"action\":\"queues_add_item\",\"queueId\":1}",
		  "requires data.ticketId or data.taskId");
	build_err("flow_manager", "{\"action\":\"tickets_frobnicate\"}",
		  "unknown flow_manager action \"tickets_frobnicate\"; valid actions: "
		  "tickets_create, tickets_get");
	build_err("project_manager", "{\"action\":\"tickets_create\"}",
		  "valid actions: list, get, create, update, delete, overview");
	build_err("flow_manager", "{\"projectId\":1}", "missing action");
	build_err("task_manager", "{\"action\":\"list\"}", "unknown tool \"task_manager\"");
	build_err("flow_manager", "[1]", "must be a JSON object");
}

static void test_errors_types(void **state)
{
	build_err("flow_manager",
		  "{\"action\":\"queues_create\",\"projectId\":1,\"data\":{\"name\":\"q\","
		  "\"maxParallelItems\":\"one\"}}",
		  "data.maxParallelItems: expected an integer");
	build_err("flow_manager",
		  "{\"action\":\"queues_create\",\"projectId\":1,\"data\":{\"name\":\"q\","
		  "\"maxParallelItems\":1.5}}",
		  "data.maxParallelItems: ");
	build_err("flow_manager",
		  "{\"action\":\"tickets_create\",\"projectId\":1,\"data\":{\"title\":\"t\","
		  "\"description\":5}}",
		  "data.description: expected a string");
	build_err("flow_manager",
		  "{\"action\":\"tickets_create\",\"projectId\":1,\"data\":{\"title\":\"t\","
		  "\"tags\":[\"a\",2]}}",
		  "data.tags[1]: expected a string");
	build_err("flow_manager",
		  "{\"action\":\"tickets_create\",\"projectId\":1,\"data\":{\"title\":\"t\","
		  "\"assignee\":\"bob\"}}",
		  "data.assignee: unknown field for tickets_create (data fields: title, overview");
	build_err("flow_manager", "{\"action\":\"tickets_create\",\"projectId\":1,\"data\":[1]}",
		  "data: expected an object");
	build_err("flow_manager",
		  "{\"action\":\"queues_update\",\"queueId\":1,\"data\":{\"status\":\"stopped\"}}",
		  "data.status: expected \"active\" or \"paused\"");
	build_err("flow_manager",
		  "{\"action\":\"processor_complete\",\"itemId\":1,\"data\":{\"result\":{"
		  "\"success\":\"no\"}}}",
		  "data.result.success: expected a boolean");
	build_err("flow_manager",
		  "{\"action\":\"processor_complete\",\"itemId\":1,\"data\":{\"result\":{"
		  "\"ok\":true}}}",
		  "data.result.ok: unknown field");
}

static void test_errors_ids(void **state)
{
	build_err("flow_manager", "{\"action\":\"tickets_list\",\"projectId\":-5}",
		  "projectId: expected a positive integer, got -5");
	build_err("flow_manager", "{\"action\":\"tickets_list\",\"projectId\":0}",
		  "projectId: expected a positive integer");
	build_err("flow_manager", "{\"action\":\"tickets_get\",\"ticketId\":\"12abc\"}",
		  "ticketId: expected a positive integer, got \"12abc\"");
	build_err("flow_manager", "{\"action\":\"tickets_get\",\"ticketId\":\"-3\"}",
		  "ticketId: expected a positive integer");
	build_err("flow_manager", "{\"action\":\"tickets_get\",\"ticketId\":1.5}",
		  "ticketId: expected a positive integer, got a number");
	build_err("flow_manager", "{\"action\":\"tickets_get\",\"ticketId\":\"99999999999999999999\"}",
		  "ticketId: expected a positive integer");
	build_err("flow_manager",
		  "{\"action\":\"queues_add_item\",\"queueId\":1,\"data\":{\"ticketId\":-2}}",
		  "data.ticketId: expected a positive integer, got -2");
	build_err("flow_manager", "{\"action\":\"tickets_get\",\"ticketId\":1,\"queueId\":2}",
		  "tickets_get does not take queueId");
	build_err("flow_manager", "{\"action\":\"tickets_get\",\"ticket_id\":1}",
		  "tickets_get does not take ticket_id");
	build_err("flow_manager",
		  "{\"action\":\"enqueue_ticket\",\"queueId\":1,\"ticketId\":2,\"data\":{"
		  "\"ticketId\":3}}",
		  "ticketId and data.ticketId are both given, with different values");
}

/* ---- call.c helpers that need no server ---- */

static void test_call_parse_and_error_json(void **state)
{
	struct call_error e;
	json_t *j = NULL, *ej;

	assert_int_equal(call_parse_args("{\"action\":", &j, &e), FLOW_INVALID_ARGUMENT);
	assert_true(e.usage);
	assert_non_null(strstr(e.message, "invalid JSON at line 1, column"));
	assert_int_equal(call_exit_status(&e), CALL_EXIT_USAGE);
	assert_int_equal(call_parse_args("{\"a\":\"\xff\"}", &j, &e), FLOW_INVALID_ARGUMENT);
	assert_int_equal(call_parse_args("[]", &j, &e), FLOW_INVALID_ARGUMENT);
	assert_int_equal(call_parse_args("{\"a\":1,\"a\":2}", &j, &e), FLOW_INVALID_ARGUMENT);
	assert_int_equal(call_parse_args("{\"action\":\"list\"}", &j, &e), FLOW_OK);
	json_decref(j);

	ej = call_error_json(&e);
	call_usage_error(&e, "bad %s", "thing");
	json_decref(ej);
	ej = call_error_json(&e);
	assert_string_equal(json_string_value(json_object_get(json_object_get(ej, "error"),
							      "code")),
			    "INVALID_ARGUMENT");
	assert_string_equal(json_string_value(json_object_get(json_object_get(ej, "error"),
							      "message")),
			    "bad thing");
	json_decref(ej);
}

/* A usage error is found before any connection is made (no server here). */
static void test_call_run_usage_before_connect(void **state)
{
	struct call_ctx ctx = { .url = "tcp://127.0.0.1:1", .timeout_ms = 1000 };
	struct call_error e;
	json_t *args = parse("{\"action\":\"tickets_list\"}");
	json_t *result = NULL;

	assert_int_equal(call_run(&ctx, "flow_manager", args, &result, &e),
			 FLOW_INVALID_ARGUMENT);
	assert_true(e.usage);
	assert_null(result);
	assert_null(ctx.client);
	assert_non_null(strstr(e.message, "tickets_list requires projectId"));
	json_decref(args);
	call_ctx_close(&ctx);
}

static void test_reply_json(void **state)
{
	struct action_request r = build_ok("flow_manager",
					   "{\"action\":\"tickets_get\",\"ticketId\":7}",
					   FM "GetTicket");
	Flow__V1__Ticket t = FLOW__V1__TICKET__INIT;
	char *tags[] = { "security" };
	json_t *j = NULL;

	t.has_id = 1;
	t.id = 7;
	t.title = "x";
	t.n_tags = 1;
	t.tags = tags;
	assert_int_equal(action_reply_json(&r, &t.base, &j), FLOW_OK);
	assert_int_equal(json_integer_value(json_object_get(j, "id")), 7);
	assert_string_equal(json_string_value(json_object_get(j, "title")), "x");
	assert_int_equal(json_array_size(json_object_get(j, "tags")), 1);
	json_decref(j);
	action_request_clear(&r);
	action_request_clear(&r); /* cleared twice is fine */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_guide_project_list_overview),
		cmocka_unit_test(test_guide_tickets_create),
		cmocka_unit_test(test_guide_tasks_create),
		cmocka_unit_test(test_guide_queues_create),
		cmocka_unit_test(test_guide_queues_add_item),
		cmocka_unit_test(test_guide_processor_get_next),
		cmocka_unit_test(test_guide_tasks_update),
		cmocka_unit_test(test_guide_processor_complete),
		cmocka_unit_test(test_guide_stats_and_lists),
		cmocka_unit_test(test_promptliano_complete_failed),
		cmocka_unit_test(test_promptliano_complete_ok),
		cmocka_unit_test(test_processor_fail),
		cmocka_unit_test(test_ticket_priority_name_and_update),
		cmocka_unit_test(test_queue_update_status),
		cmocka_unit_test(test_enqueue_dequeue_reorder_delete),
		cmocka_unit_test(test_queue_items_retry),
		cmocka_unit_test(test_queue_items_cancel),
		cmocka_unit_test(test_engine_data_fields),
		cmocka_unit_test(test_table_examples),
		cmocka_unit_test(test_errors_missing_and_unknown),
		cmocka_unit_test(test_errors_types),
		cmocka_unit_test(test_errors_ids),
		cmocka_unit_test(test_call_parse_and_error_json),
		cmocka_unit_test(test_call_run_usage_before_connect),
		cmocka_unit_test(test_reply_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
