/*
 * e2e.bad_input: every kind of bad input through the real flowctl to the
 * real flowd. Each gets the right exit status, gRPC code and a message that
 * names the problem; flowd stays up; nothing already stored changes.
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
static json_int_t project, ticket, task, queue, done_item, active_item;

static json_t *ok(const char *tool, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static json_t *ok(const char *tool, const char *fmt, ...)
{
	char args[2048];
	va_list ap;
	json_t *j;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	if (ts_flowctl(&flowd, tool, args, NULL, &j) != 0)
		fail_msg("flowctl call %s %s: %s: %s", tool, args, ts_err_code(j), ts_err_message(j));
	return j;
}

static json_int_t ok_id(const char *key, json_t *j)
{
	json_int_t id = json_integer_value(json_object_get(j, key));

	json_decref(j);
	return id;
}

/* Everything the test stored, as one JSON text. */
static char *snapshot(void)
{
	json_t *all = json_array();
	char *s;

	json_array_append_new(all, ok("project_manager", "{\"action\":\"list\"}"));
	json_array_append_new(all, ok("flow_manager", "{\"action\":\"tickets_list\",\"projectId\":%lld,"
				      "\"data\":{\"status\":\"all\"}}", (long long)project));
	json_array_append_new(all, ok("flow_manager", "{\"action\":\"tasks_list\",\"ticketId\":%lld}",
				      (long long)ticket));
	json_array_append_new(all, ok("flow_manager", "{\"action\":\"queues_list\",\"projectId\":%lld}",
				      (long long)project));
	json_array_append_new(all, ok("flow_manager", "{\"action\":\"queues_get_stats\",\"queueId\":%lld}",
				      (long long)queue));
	s = json_dumps(all, JSON_SORT_KEYS);
	json_decref(all);
	return s;
}

static int setup(void **state)
{
	json_t *j;

	if (ts_flowd_start(&flowd, NULL, NULL) != 0)
		return -1;
	project = ok_id("id", ok("project_manager", "{\"action\":\"create\",\"data\":{\"name\":\"P\"}}"));
	ticket = ok_id("id", ok("flow_manager", "{\"action\":\"tickets_create\",\"projectId\":%lld,"
				"\"data\":{\"title\":\"T\",\"priority\":8}}", (long long)project));
	task = ok_id("id", ok("flow_manager", "{\"action\":\"tasks_create\",\"ticketId\":%lld,"
			      "\"data\":{\"content\":\"C\"}}", (long long)ticket));
	/* a second task keeps the ticket open after the first completes */
	json_decref(ok("flow_manager", "{\"action\":\"tasks_create\",\"ticketId\":%lld,"
		       "\"data\":{\"content\":\"D\"}}", (long long)ticket));
	queue = ok_id("id", ok("flow_manager", "{\"action\":\"queues_create\",\"projectId\":%lld,"
			       "\"data\":{\"name\":\"Q\"}}", (long long)project));
	/* one finished item, for the compare-and-set case */
	json_decref(ok("flow_manager", "{\"action\":\"enqueue_task\",\"queueId\":%lld,\"taskId\":%lld}",
		       (long long)queue, (long long)task));
	j = ok("flow_manager", "{\"action\":\"processor_get_next\",\"queueId\":%lld}", (long long)queue);
	done_item = json_integer_value(json_object_get(j, "queueItemId"));
	json_decref(j);
	json_decref(ok("flow_manager", "{\"action\":\"processor_complete\",\"itemId\":%lld}",
		       (long long)done_item));
	/* and one active item, for ALREADY_EXISTS */
	j = ok("flow_manager", "{\"action\":\"queues_add_item\",\"queueId\":%lld,"
	       "\"data\":{\"ticketId\":%lld}}", (long long)queue, (long long)ticket);
	active_item = json_integer_value(
		json_object_get(json_array_get(json_object_get(j, "items"), 0), "id"));
	json_decref(j);
	return 0;
}

static int teardown(void **state)
{
	return ts_flowd_stop(&flowd) == 0 ? 0 : -1;
}

struct bad {
	const char *tool;
	const char *args;  /* %1$lld project, %2$lld ticket, %3$lld task, %4$lld queue, %5$lld item */
	int exit_status;   /* 1: the server said no; 2: flowctl said no */
	const char *code;
	const char *says;  /* a substring of the message */
};

static const struct bad cases[] = {
	{ "flow_manager", "{\"action\":\"tickets_explode\"}", 2, "INVALID_ARGUMENT",
	  "tickets_explode" },
	{ "flow_manager", "{\"action\":\"tickets_create\",\"data\":{\"title\":\"x\"}}", 2,
	  "INVALID_ARGUMENT", "projectId" },
	{ "flow_manager", "{\"action\":\"tickets_create\",\"projectId\":%1$lld,\"data\":{}}", 1,
	  "INVALID_ARGUMENT", "title is required" },
	{ "flow_manager", "{\"action\":\"tasks_create\",\"ticketId\":%2$lld,\"data\":{\"content\":\"  \"}}",
	  1, "INVALID_ARGUMENT", "content is required" },
	{ "flow_manager", "{\"action\":\"queues_create\",\"projectId\":%1$lld,\"data\":{\"name\":\"Q2\","
			  "\"maxParallelItems\":\"one\"}}", 2, "INVALID_ARGUMENT", "data.maxParallelItems" },
	{ "flow_manager", "{\"action\":\"tickets_update\",\"ticketId\":%2$lld,\"data\":{\"tags\":\"x\"}}",
	  2, "INVALID_ARGUMENT", "data.tags" },
	{ "flow_manager", "{\"action\":\"tasks_update\",\"taskId\":%3$lld,\"data\":{\"estimatedHours\":true}}",
	  2, "INVALID_ARGUMENT", "data.estimatedHours" },
	{ "flow_manager", "{\"action\":\"tickets_create\",\"projectId\":%1$lld,\"data\":{\"title\":"
			  "\"two\\nlines\"}}", 1, "INVALID_ARGUMENT",
	  "title must not contain control characters" },
	{ "flow_manager", "{\"action\":\"tickets_update\",\"ticketId\":%2$lld,\"data\":{\"tags\":"
			  "[\"ok\",\"bad\\ttag\"]}}", 1, "INVALID_ARGUMENT",
	  "tags[1] must not contain control characters" },
	{ "project_manager", "{\"action\":\"create\",\"data\":{\"name\":\"nul\\u0001\"}}", 1,
	  "INVALID_ARGUMENT", "name must not contain control characters" },
	{ "flow_manager", "{\"action\":\"tickets_create\",\"projectId\":%1$lld,\"data\":{\"titel\":\"x\"}}",
	  2, "INVALID_ARGUMENT", "data.titel" },
	{ "flow_manager", "{not json", 2, "INVALID_ARGUMENT", "invalid JSON" },
	{ "flow_manager", "{\"action\":\"tickets_get\",\"ticketId\":987654}", 1, "NOT_FOUND",
	  "ticket 987654 not found" },
	{ "flow_manager", "{\"action\":\"tasks_list\",\"ticketId\":987654}", 1, "NOT_FOUND", "987654" },
	{ "flow_manager", "{\"action\":\"processor_get_next\",\"queueId\":987654}", 1, "NOT_FOUND",
	  "queue 987654" },
	{ "flow_manager", "{\"action\":\"queues_get\",\"queueId\":-4}", 2, "INVALID_ARGUMENT",
	  "queueId" },
	{ "flow_manager", "{\"action\":\"tasks_update\",\"taskId\":0,\"data\":{\"status\":\"completed\"}}",
	  2, "INVALID_ARGUMENT", "taskId" },
	{ "flow_manager", "{\"action\":\"tickets_get\",\"ticketId\":99999999999999999999}", 2,
	  "INVALID_ARGUMENT", "too big integer near '99999999999999999999'" },
	{ "flow_manager", "{\"action\":\"tickets_get\",\"ticketId\":\"99999999999999999999\"}", 2,
	  "INVALID_ARGUMENT", "ticketId" },
	{ "flow_manager", "{\"action\":\"tickets_get\",\"ticketId\":1.5}", 2, "INVALID_ARGUMENT",
	  "ticketId" },
	{ "flow_manager", "{\"action\":\"tickets_update\",\"ticketId\":%2$lld,\"data\":{\"priority\":11}}",
	  1, "INVALID_ARGUMENT", "priority must be between 0 and 10" },
	{ "flow_manager", "{\"action\":\"tickets_update\",\"ticketId\":%2$lld,\"data\":{\"status\":"
			  "\"frozen\"}}", 1, "INVALID_ARGUMENT", "status must be one of" },
	{ "flow_manager", "{\"action\":\"tickets_list\",\"projectId\":%1$lld,\"data\":{\"status\":"
			  "\"someday\"}}", 1, "INVALID_ARGUMENT", "status" },
	{ "flow_manager", "{\"action\":\"processor_complete\",\"itemId\":%5$lld}", 1,
	  "FAILED_PRECONDITION", "not in progress" },
	{ "flow_manager", "{\"action\":\"queues_add_item\",\"queueId\":%4$lld,\"data\":{\"ticketId\":"
			  "%2$lld}}", 1, "ALREADY_EXISTS", "already on queue" },
	{ "flow_manager", "{\"action\":\"queues_create\",\"projectId\":%1$lld,\"data\":{\"name\":\"Q\"}}",
	  1, "ALREADY_EXISTS", "Q" },
	{ "project_manager", "{\"action\":\"delete\",\"projectId\":%1$lld}", 1, "INVALID_ARGUMENT",
	  "confirmDelete" },
	{ "project_manager", "{\"action\":\"update\",\"projectId\":%1$lld,\"data\":{}}", 1,
	  "INVALID_ARGUMENT", "" },
};

static void expect(const struct bad *c, const char *args, const char *stdin_data)
{
	json_t *j = NULL;
	int status = ts_flowctl(&flowd, c->tool, args, stdin_data, &j);

	if (status != c->exit_status || strcmp(ts_err_code(j), c->code) != 0 ||
	    strstr(ts_err_message(j), c->says) == NULL)
		fail_msg("%.120s: exit %d, %s: \"%s\"; wanted exit %d, %s saying \"%s\"", args, status,
			 ts_err_code(j), ts_err_message(j), c->exit_status, c->code, c->says);
	json_decref(j);
}

static void test_table_of_bad_calls(void **state)
{
	char *before = snapshot(), *after;
	char args[2048];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		snprintf(args, sizeof(args), cases[i].args, (long long)project, (long long)ticket,
			 (long long)task, (long long)queue, (long long)done_item);
#pragma GCC diagnostic pop
		expect(&cases[i], args, NULL);
	}
	after = snapshot();
	assert_string_equal(before, after);
	free(before);
	free(after);
}

static void test_bad_bytes_and_sizes(void **state)
{
	static const struct bad utf8 = { "flow_manager", "-", 2, "INVALID_ARGUMENT", "invalid JSON" };
	static const struct bad longer = { "flow_manager", "-", 1, "INVALID_ARGUMENT", "title" };
	static const struct bad huge = { "flow_manager", "-", 1, "INVALID_ARGUMENT",
					 "overview: longer than 1048576 bytes" };
	static const struct bad giant = { "flow_manager", "-", 1, "RESOURCE_EXHAUSTED",
					  "message limit" };
	char *before = snapshot(), *after, *buf = malloc(6 << 20);
	int n;

	snprintf(buf, 256, "{\"action\":\"tickets_create\",\"projectId\":%lld,\"data\":"
		 "{\"title\":\"bad \xff\xfe\"}}", (long long)project);
	expect(&utf8, "-", buf);
	n = snprintf(buf, 256, "{\"action\":\"tickets_create\",\"projectId\":%lld,\"data\":{\"title\":\"",
		     (long long)project);
	memset(buf + n, 'a', 501);
	strcpy(buf + n + 501, "\"}}");
	expect(&longer, "-", buf);
	/* 1.5 MB: past --max-string; 5 MB: past the message limit */
	n = snprintf(buf, 256, "{\"action\":\"tickets_create\",\"projectId\":%lld,\"data\":{\"title\":"
		     "\"t\",\"overview\":\"", (long long)project);
	memset(buf + n, 'o', 1500000);
	strcpy(buf + n + 1500000, "\"}}");
	expect(&huge, "-", buf);
	memset(buf + n, 'o', 5000000);
	strcpy(buf + n + 5000000, "\"}}");
	expect(&giant, "-", buf);
	free(buf);
	after = snapshot();
	assert_string_equal(before, after);
	free(before);
	free(after);
}

static void test_sql_metacharacters_stored_verbatim(void **state)
{
	static const char *nasty[] = {
		"x'); DROP TABLE tickets; --",
		"\\\\x00 \\\" ' ; -- /* */ $1 %s %n",
		"Robert'); DELETE FROM projects WHERE ('1'='1",
	};
	json_t *j;

	for (size_t i = 0; i < sizeof(nasty) / sizeof(nasty[0]); i++) {
		json_t *args = json_pack("{s:s, s:I, s:{s:s, s:[s]}}", "action", "tickets_create",
					 "projectId", (json_int_t)project, "data", "title", nasty[i],
					 "tags", nasty[i]);
		char *text = json_dumps(args, 0);
		json_int_t id;

		j = ok("flow_manager", "%s", text);
		id = json_integer_value(json_object_get(j, "id"));
		json_decref(j);
		j = ok("flow_manager", "{\"action\":\"tickets_get\",\"ticketId\":%lld}", (long long)id);
		assert_string_equal(json_string_value(json_object_get(j, "title")), nasty[i]);
		assert_string_equal(json_string_value(json_array_get(json_object_get(j, "tags"), 0)),
				    nasty[i]);
		json_decref(j);
		json_decref(ok("flow_manager", "{\"action\":\"tickets_delete\",\"ticketId\":%lld}",
			       (long long)id));
		free(text);
		json_decref(args);
	}
	j = ok("project_manager", "{\"action\":\"list\"}");
	assert_int_equal(json_array_size(json_object_get(j, "projects")), 1);
	json_decref(j);
}

/* flowctl item cancel / item retry, the friendly commands. */
static int item_cmd(const char *verb, json_int_t item, char **out, char **err)
{
	char id[32];
	char *argv[] = { (char *)ts_bin("flowctl"), "--url", flowd.url, "item", (char *)verb, id,
			 NULL };
	int status = -1;

	snprintf(id, sizeof(id), "%lld", (long long)item);
	assert_int_equal(ts_run_capture(argv, NULL, out, err, &status, 30000), 0);
	return status;
}

static void test_item_commands(void **state)
{
	char *out = NULL, *err = NULL;
	json_t *j = ok("flow_manager", "{\"action\":\"queues_get_stats\",\"queueId\":%lld}", (long long)queue);
	assert_int_equal(json_integer_value(json_object_get(j, "queuedItems")), 1);
	json_decref(j);
	assert_int_equal(item_cmd("retry", done_item, &out, &err), 1);
	assert_non_null(strstr(err, "FAILED_PRECONDITION"));
	assert_non_null(strstr(err, "only failed or dead items can be retried"));
	free(out);
	free(err);
	assert_true(active_item > 0);
	assert_int_equal(item_cmd("cancel", active_item, &out, &err), 0);
	assert_non_null(strstr(out, "cancelled"));
	free(out);
	free(err);
	j = ok("flow_manager", "{\"action\":\"queues_get_stats\",\"queueId\":%lld}", (long long)queue);
	assert_int_equal(json_integer_value(json_object_get(j, "cancelledItems")), 1);
	assert_int_equal(json_integer_value(json_object_get(j, "queuedItems")), 0);
	json_decref(j);
	assert_int_equal(item_cmd("cancel", 987654, &out, &err), 1);
	assert_non_null(strstr(err, "NOT_FOUND"));
	free(out);
	free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_of_bad_calls),
		cmocka_unit_test(test_bad_bytes_and_sizes),
		cmocka_unit_test(test_sql_metacharacters_stored_verbatim),
		cmocka_unit_test(test_item_commands), /* last: it changes state */
	};
	if (ts_pg_admin_url() == NULL)
		ts_skip_without_pg();
	return cmocka_run_group_tests(tests, setup, teardown);
}
