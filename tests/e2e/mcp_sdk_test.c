/*
 * e2e.mcp_sdk: the MCP server `flowctl mcp` driven by a real MCP client, the
 * official TypeScript SDK (@modelcontextprotocol/sdk), through the example
 * examples/security-hardening/workflow.mjs: the usage guide's whole
 * security-hardening plan (14 tickets, their tasks, a queue with
 * maxParallelItems 1, get-next / tasks_update / processor_complete until the
 * queue is empty, stats, tickets_list), then REVIEW-1's tasks run by two real
 * flow-workers with the demo agent deploy/agents/demo-note.
 *
 * Needs node (>= 18) and the example's node_modules (scripts/npm-deps.sh,
 * i.e. npm ci in examples/security-hardening). CI installs both
 * (scripts/deps.sh and scripts/npm-deps.sh, run by scripts/test.sh), so
 * without them this test FAILS with a message saying what to run: it is not
 * skipped, or a missing install would pass unseen.
 *
 * The script's own checks make it exit 1 on any unexpected result; this test
 * also checks its JSON summary and, independently, the server's state
 * through flowctl call and the workers' logs.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "testsupport.h"
#include "ts_flowd.h"

#define EXAMPLE "examples/security-hardening"
#define RUN_TIMEOUT_MS 240000

static struct ts_flowd flowd;

/* The order the processor must hand the tickets out: priority, then FIFO. */
static const char *const expected_order[] = {
	"P0-1", "P0-2", "P0-3", "P0-4", "P1-1", "P1-2", "P1-3",
	"P2-1", "P2-2", "P2-3", "P2-4", "P3-1", "P3-2", "REVIEW-1",
};
#define N_TICKETS (sizeof(expected_order) / sizeof(expected_order[0]))

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
	static char bufs[8][1024];
	static int n;
	char *b = bufs[n++ % 8];
	va_list ap;

	va_start(ap, f);
	vsnprintf(b, sizeof(bufs[0]), f, ap);
	va_end(ap);
	return b;
}

/* Fails the test unless node runs and the example's packages are installed. */
static void require_node(void)
{
	char *const argv[] = { "node", "--version", NULL };
	char *out = NULL;
	int status = -1;
	struct stat st;

	if (ts_run_capture(argv, NULL, &out, NULL, &status, 30000) != 0 || status != 0) {
		free(out);
		fail_msg(
		    "node is not installed (or does not run): this test needs Node.js >= 18 and "
		    "npm; install them (scripts/deps.sh does: apt-get install nodejs npm)");
	}
	print_message("node %s", out ? out : "?\n");
	free(out);
	if (stat(ts_src(EXAMPLE "/node_modules/@modelcontextprotocol/sdk/package.json"), &st) != 0)
		fail_msg(
		    "%s/node_modules is missing: run scripts/npm-deps.sh (npm ci in that folder) "
		    "first; scripts/test.sh does",
		    ts_src(EXAMPLE));
}

static const char *write_file(const char *name, const char *body)
{
	static char path[8][700];
	static int n;
	char *p = path[n++ % 8];
	FILE *fp;

	snprintf(p, sizeof(path[0]), "%s/%s", flowd.dir, name);
	fp = fopen(p, "w");
	assert_non_null(fp);
	fputs(body, fp);
	assert_int_equal(fclose(fp), 0);
	return p;
}

/* The last n lines of s (a pointer into s). */
static const char *tail_lines(const char *s, int n)
{
	const char *p = s + strlen(s);

	while (p > s && (p[-1] == '\n'))
		p--;
	while (p > s && n > 0) {
		p--;
		if (*p == '\n')
			n--;
	}
	return p == s ? s : p + 1;
}

static int count_substr(const char *s, const char *needle)
{
	int n = 0;

	for (const char *p = s; p && (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

static json_int_t jint(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		fail_msg("summary: %s is not an integer", key);
	return json_integer_value(v);
}

static int setup(void **state)
{
	(void)state;
	return ts_flowd_start(&flowd, NULL, NULL);
}

static int teardown(void **state)
{
	(void)state;
	return ts_flowd_stop(&flowd) == 0 ? 0 : -1;
}

/* Runs workflow.mjs; returns its parsed summary. */
static json_t *run_workflow(void)
{
	const char *summary_path = fmt("%s/summary.json", flowd.dir);
	char *const argv[] = { "node", (char *)ts_src(EXAMPLE "/workflow.mjs"), "--json-summary",
			       (char *)summary_path, NULL };
	char *out = NULL, *err = NULL;
	int status = -1, rc;
	int64_t t0 = now_ms();
	json_error_t je;
	json_t *summary;

	/* ts_run_capture passes the test's environment: FLOW_TOKEN (the admin's,
	 * from ts_flowd_start) and these. */
	setenv("FLOWCTL", ts_bin("flowctl"), 1);
	setenv("FLOW_URL", flowd.url, 1);
	unsetenv("FLOW_API_KEY");
	unsetenv("FLOW_DEMO_AGENT"); /* the script finds the repository's demo agent */
	rc = ts_run_capture(argv, NULL, &out, &err, &status, RUN_TIMEOUT_MS);
	print_message("workflow.mjs: exit %d after %.1f s\n", status, (now_ms() - t0) / 1000.0);
	if (rc != 0 || status != 0) {
		fprintf(stderr, "---- workflow.mjs stdout\n%s\n---- stderr\n%s\n----\n",
			out ? out : "", err ? err : "");
		free(out);
		free(err);
		fail_msg("workflow.mjs %s (exit status %d); its output is above",
			 rc != 0 ? "timed out" : "failed", status);
	}
	print_message("%s\n", tail_lines(out ? out : "", 8));
	free(out);
	free(err);
	summary = json_load_file(summary_path, 0, &je);
	if (summary == NULL)
		fail_msg("cannot read the summary %s: %s", summary_path, je.text);
	return summary;
}

static void check_processor_queue(const json_t *s)
{
	const json_t *stats = json_object_get(s, "stats");
	const json_t *order = json_object_get(s, "processingOrder");
	const json_t *statuses = json_object_get(s, "ticketStatuses");
	const json_t *errors = json_object_get(s, "errorsShown");
	const char *key;
	json_t *v;

	assert_string_equal(json_string_value(json_object_get(s, "protocolVersion")), "2025-11-25");
	assert_int_equal(jint(s, "itemsCompleted"), N_TICKETS);
	assert_int_equal(jint(s, "taskCount"), 46);
	assert_int_equal(json_object_size(json_object_get(s, "tickets")), N_TICKETS);

	assert_int_equal(json_array_size(order), N_TICKETS);
	for (size_t i = 0; i < N_TICKETS; i++)
		assert_string_equal(json_string_value(json_array_get(order, i)), expected_order[i]);

	assert_int_equal(jint(stats, "totalItems"), N_TICKETS);
	assert_int_equal(jint(stats, "completedItems"), N_TICKETS);
	assert_int_equal(jint(stats, "queuedItems"), 0);
	assert_int_equal(jint(stats, "inProgressItems"), 0);
	assert_int_equal(jint(stats, "failedItems"), 0);
	assert_int_equal(jint(stats, "deadItems"), 0);
	assert_true(json_is_number(json_object_get(stats, "averageProcessingTime")));
	assert_true(json_number_value(json_object_get(stats, "averageProcessingTime")) > 0);

	/* processor_complete closes the ticket of a ticket item. */
	assert_int_equal(json_object_size(statuses), N_TICKETS);
	json_object_foreach ((json_t *)statuses, key, v)
		if (strcmp(json_string_value(v), "closed") != 0)
			fail_msg("ticket %s is %s, not closed", key, json_string_value(v));

	assert_int_equal(json_array_size(errors), 3);
	assert_string_equal(json_string_value(json_array_get(errors, 0)), "ALREADY_EXISTS");
	assert_string_equal(json_string_value(json_array_get(errors, 1)), "INVALID_ARGUMENT");
	assert_string_equal(json_string_value(json_array_get(errors, 2)), "NOT_FOUND");
}

static void check_agent_queue(const json_t *s)
{
	const json_t *a = json_object_get(s, "agentWork");
	const json_t *stats = json_object_get(a, "stats");
	const json_t *notes = json_object_get(a, "notes");
	const char *key;
	json_t *v;

	assert_true(json_is_object(a));
	assert_int_equal(json_array_size(json_object_get(a, "taskIds")), 5);
	assert_int_equal(jint(stats, "totalItems"), 5);
	assert_int_equal(jint(stats, "completedItems"), 5);
	assert_int_equal(jint(stats, "failedItems"), 0);
	assert_int_equal(jint(stats, "deadItems"), 0);
	assert_int_equal(json_object_size(notes), 5);
	json_object_foreach ((json_t *)notes, key, v) {
		const char *n = json_string_value(v);

		if (n == NULL || strncmp(n, "demo-note: ", 11) != 0 ||
		    strstr(n, "reviewed and done") == NULL)
			fail_msg("task %s: unexpected notes \"%s\"", key, n ? n : "(none)");
	}
	/* the last task completed by a worker closes the reopened ticket again */
	assert_string_equal(json_string_value(json_object_get(a, "ticketStatus")), "closed");
}

/* The server's own view, through flowctl call, not the script's. */
static void check_server_state(const json_t *s)
{
	json_int_t project = jint(s, "projectId"), queue = jint(s, "queueId");
	json_int_t agent_queue = jint(json_object_get(s, "agentWork"), "queueId");
	json_t *j, *t;
	size_t i;

	assert_int_equal(
	    ts_flowctl(&flowd, "flow_manager",
		       fmt("{\"action\":\"queues_get_stats\",\"queueId\":%lld}", (long long)queue),
		       NULL, &j),
	    0);
	assert_int_equal(jint(j, "completedItems"), N_TICKETS);
	assert_int_equal(jint(j, "queuedItems"), 0);
	json_decref(j);
	assert_int_equal(ts_flowctl(&flowd, "flow_manager",
				    fmt("{\"action\":\"queues_get_stats\",\"queueId\":%lld}",
					(long long)agent_queue),
				    NULL, &j),
			 0);
	assert_int_equal(jint(j, "completedItems"), 5);
	json_decref(j);
	assert_int_equal(
	    ts_flowctl(&flowd, "flow_manager",
		       fmt("{\"action\":\"tickets_list\",\"projectId\":%lld,\"data\":{\"status\":"
			   "\"all\"}}",
			   (long long)project),
		       NULL, &j),
	    0);
	assert_int_equal(json_array_size(json_object_get(j, "tickets")), N_TICKETS);
	json_array_foreach (json_object_get(j, "tickets"), i, t)
		assert_string_equal(json_string_value(json_object_get(t, "status")), "closed");
	json_decref(j);
}

/* The workers ran the five agent items, and nothing else (no other claim). */
static void check_worker_logs(void)
{
	int completed = 0, other = 0;

	for (int w = 1; w <= 2; w++) {
		char *log = ts_read_file(fmt("%s/worker-%d.log", flowd.dir, w), NULL);

		assert_non_null(log);
		completed += count_substr(log, "agent=demo-note attempt=1 outcome=completed");
		other += count_substr(log, "item.finish:") -
			 count_substr(log, "agent=demo-note attempt=1 outcome=completed");
		free(log);
	}
	if (completed != 5 || other != 0)
		fail_msg(
		    "the workers' logs show %d completed demo-note items (want 5) and %d other "
		    "outcomes (want 0)",
		    completed, other);
}

static void test_security_hardening_via_sdk(void **state)
{
	const char *agents;
	json_t *summary;

	(void)state;
	require_node();
	agents = write_file("agents.conf",
			    fmt("demo-note = \"%s\"\n", ts_src("deploy/agents/demo-note")));
	assert_true(ts_worker_start(&flowd, "worker-1", agents, 2, NULL) > 0);
	assert_true(ts_worker_start(&flowd, "worker-2", agents, 2, NULL) > 0);

	summary = run_workflow();
	check_processor_queue(summary);
	check_agent_queue(summary);
	check_server_state(summary);
	check_worker_logs();
	json_decref(summary);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_security_hardening_via_sdk),
	};

	if (ts_pg_admin_url() == NULL)
		ts_skip_without_pg();
	return cmocka_run_group_tests(tests, setup, teardown);
}
