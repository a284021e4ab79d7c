/*
 * e2e.usage_guide: the real flowd and the real flowctl, driven through the
 * usage guide's sequence with its exact argument shapes: list projects,
 * overview, create a queue, create tickets and tasks, enqueue, get-next,
 * tasks_update, processor_complete, stats, tickets_list, tasks_list.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "testsupport.h"
#include "ts_flowd.h"

static struct ts_flowd flowd;

static int setup(void **state)
{
	return ts_flowd_start(&flowd, NULL, NULL);
}

static int teardown(void **state)
{
	/* flowd exits 0 on SIGTERM */
	return ts_flowd_stop(&flowd) == 0 ? 0 : -1;
}

/* flowctl call TOOL ARGS: exit status; *out is the parsed result or error. */
static int ctl(const char *tool, const char *args, json_t **out)
{
	int status = ts_flowctl(&flowd, tool, args, NULL, out);

	assert_non_null(*out);
	return status;
}

static json_int_t ctl_id(const char *tool, const char *args, const char *key)
{
	json_t *j;
	json_int_t id;

	assert_int_equal(ctl(tool, args, &j), 0);
	id = json_integer_value(json_object_get(j, key));
	assert_true(id > 0);
	json_decref(j);
	return id;
}

#define err_code ts_err_code

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
	static char bufs[8][4096];
	static int n;
	char *b = bufs[n++ % 8];
	va_list ap;

	va_start(ap, f);
	vsnprintf(b, sizeof(bufs[0]), f, ap);
	va_end(ap);
	return b;
}

static const char P01[] = "{\"action\":\"tickets_create\",\"projectId\":%lld,\"data\":{"
			  "\"title\":\"[P0-1] CRITICAL: Fix JWT Secret Hardcoded Default\","
			  "\"description\":\"**Priority:** P0 (CRITICAL)\\n## Vulnerability\\nJWT "
			  "signing secret defaults to a known string.\","
			  "\"priority\":10,\"status\":\"pending\","
			  "\"tags\":[\"security\",\"critical\",\"p0\",\"authentication\"]}}";

/* Processes one item: get-next, complete its tasks, complete the item. */
static json_int_t process_one(json_int_t queue, int expect_tasks)
{
	json_t *j, *tasks, *t;
	json_int_t item, ticket;
	size_t i;

	assert_int_equal(ctl("flow_manager", fmt("{\"action\":\"processor_get_next\",\"queueId\":%lld}",
						 (long long)queue), &j), 0);
	assert_true(json_is_true(json_object_get(j, "found")));
	item = json_integer_value(json_object_get(j, "queueItemId"));
	ticket = json_integer_value(json_object_get(j, "ticketId"));
	tasks = json_object_get(j, "tasks");
	assert_int_equal(json_array_size(tasks), expect_tasks);
	json_array_foreach(tasks, i, t) {
		json_t *u;

		assert_int_equal(ctl("flow_manager",
				     fmt("{\"action\":\"tasks_update\",\"taskId\":%lld,\"data\":{"
					 "\"status\":\"completed\",\"completionNotes\":\"done %zu\"}}",
					 (long long)json_integer_value(json_object_get(t, "id")), i),
				     &u), 0);
		assert_true(json_is_true(json_object_get(u, "done")));
		json_decref(u);
	}
	json_decref(j);
	assert_int_equal(ctl("flow_manager", fmt("{\"action\":\"processor_complete\",\"itemId\":%lld,"
						 "\"data\":{\"completionNotes\":\"Task completed "
						 "successfully\"}}", (long long)item), &j), 0);
	assert_string_equal(json_string_value(json_object_get(j, "status")), "completed");
	json_decref(j);
	return ticket;
}

static void test_usage_guide_sequence(void **state)
{
	json_t *j;
	json_int_t project, queue, t1, t2, t3;

	project = ctl_id("project_manager",
			 "{\"action\":\"create\",\"data\":{\"name\":\"Promptliano\",\"path\":\"/srv/p\"}}",
			 "id");
	assert_int_equal(ctl("project_manager", "{\"action\":\"list\"}", &j), 0);
	assert_int_equal(json_array_size(json_object_get(j, "projects")), 1);
	json_decref(j);
	assert_int_equal(ctl("project_manager", fmt("{\"action\":\"overview\",\"projectId\":%lld}",
						    (long long)project), &j), 0);
	assert_int_equal(json_integer_value(json_object_get(j, "openTicketCount")), 0);
	json_decref(j);
	queue = ctl_id("flow_manager",
		       fmt("{\"action\":\"queues_create\",\"projectId\":%lld,\"data\":{\"name\":"
			   "\"Security Hardening\",\"description\":\"all 13 fixes\","
			   "\"maxParallelItems\":1}}", (long long)project), "id");
	t1 = ctl_id("flow_manager", fmt(P01, (long long)project), "id");
	t2 = ctl_id("flow_manager",
		    fmt("{\"action\":\"tickets_create\",\"projectId\":%lld,\"data\":{\"title\":\"[P0-3] "
			"Rate limiting\",\"priority\":8,\"status\":\"pending\",\"tags\":[\"p0\"]}}",
			(long long)project), "id");
	t3 = ctl_id("flow_manager",
		    fmt("{\"action\":\"tickets_create\",\"projectId\":%lld,\"data\":{\"title\":\"[P1-1] "
			"Token revocation\",\"priority\":6,\"status\":\"pending\"}}",
			(long long)project), "id");
	for (int i = 0; i < 3; i++)
		ctl_id("flow_manager",
		       fmt("{\"action\":\"tasks_create\",\"ticketId\":%lld,\"data\":{\"content\":\"Task "
			   "1.%d\",\"description\":\"Files: auth-service.ts\",\"status\":\"pending\","
			   "\"estimatedHours\":0.5,\"tags\":[\"security\",\"validation\"]}}",
			   (long long)t1, i + 1), "id");
	/* Enqueued lowest first: the claim order must still be 10, 8, 6. */
	json_int_t order[3][2] = { { t3, 6 }, { t1, 10 }, { t2, 8 } };

	for (int i = 0; i < 3; i++) {
		assert_int_equal(ctl("flow_manager",
				     fmt("{\"action\":\"queues_add_item\",\"queueId\":%lld,\"data\":"
					 "{\"ticketId\":%lld,\"priority\":%lld}}", (long long)queue,
					 (long long)order[i][0], (long long)order[i][1]), &j), 0);
		json_decref(j);
	}
	assert_int_equal(ctl("flow_manager", fmt("{\"action\":\"queues_add_item\",\"queueId\":%lld,"
						 "\"data\":{\"ticketId\":%lld,\"priority\":1}}",
						 (long long)queue, (long long)t1), &j), 1);
	assert_string_equal(err_code(j), "ALREADY_EXISTS");
	json_decref(j);

	assert_int_equal(process_one(queue, 3), t1);
	assert_int_equal(process_one(queue, 0), t2);
	assert_int_equal(process_one(queue, 0), t3);
	assert_int_equal(ctl("flow_manager", fmt("{\"action\":\"processor_get_next\",\"queueId\":%lld}",
						 (long long)queue), &j), 0);
	assert_true(json_is_false(json_object_get(j, "found")));
	json_decref(j);

	assert_int_equal(ctl("flow_manager", fmt("{\"action\":\"queues_get_stats\",\"queueId\":%lld}",
						 (long long)queue), &j), 0);
	assert_int_equal(json_integer_value(json_object_get(j, "totalItems")), 3);
	assert_int_equal(json_integer_value(json_object_get(j, "completedItems")), 3);
	assert_true(json_real_value(json_object_get(j, "successRate")) > 0.99);
	json_decref(j);

	assert_int_equal(ctl("flow_manager", fmt("{\"action\":\"tickets_list\",\"projectId\":%lld,"
						 "\"data\":{\"status\":\"all\"}}", (long long)project), &j), 0);
	json_t *tickets = json_object_get(j, "tickets"), *tk;
	size_t i;

	assert_int_equal(json_array_size(tickets), 3);
	json_array_foreach(tickets, i, tk)
		assert_string_equal(json_string_value(json_object_get(tk, "status")), "closed");
	json_decref(j);
	assert_int_equal(ctl("flow_manager", fmt("{\"action\":\"tasks_list\",\"ticketId\":%lld,"
						 "\"data\":{\"status\":\"all\"}}", (long long)t1), &j), 0);
	assert_int_equal(json_array_size(json_object_get(j, "tasks")), 3);
	json_t *first = json_array_get(json_object_get(j, "tasks"), 0);

	assert_string_equal(json_string_value(json_object_get(first, "completionNotes")), "done 0");
	assert_true(json_real_value(json_object_get(first, "estimatedHours")) == 0.5);
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_usage_guide_sequence),
	};
	if (ts_pg_admin_url() == NULL)
		ts_skip_without_pg();
	return cmocka_run_group_tests(tests, setup, teardown);
}
