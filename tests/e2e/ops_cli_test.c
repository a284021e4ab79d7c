/*
 * e2e.ops_cli: the operators' commands end to end - the real flowd, a real
 * flow-worker running tests/agents/test-agent, and the real flowctl:
 *   flowctl workers (table and --json; admins only: a member gets
 *	PERMISSION_DENIED, exit 1),
 *   flowctl queue watch (plain lines into a pipe, NDJSON with --json, the
 *	redrawn line on a terminal with and without NO_COLOR, exit 130 on
 *	SIGINT, usage errors).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pty.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "flow/v1/auth.pb-c.h"
#include "flow/v1/flow_manager.pb-c.h"
#include "flow/v1/project_manager.pb-c.h"
#include "rpc_client.h"
#include "status.h"
#include "testsupport.h"
#include "ts_flowd.h"

#define MEMBER_PW "Lantern-orbit-5521-quiet"
#define WORKER_NAME "ops-worker"

static char *const flowd_args[] = { "--rescue-interval=200", "--claim-poll=200", NULL };
static struct ts_flowd f;
static rpc_client *cli;
static int64_t project;
static pid_t worker = -1;

/* ---- plumbing ---- */

static ProtobufCMessage *rpc(const char *method, const void *req)
{
	ProtobufCMessage *resp = NULL;
	struct rpc_status st;

	if (rpc_client_call(cli, method, req, NULL, &resp, &st) != FLOW_OK)
		fail_msg("%s: %s: %s", method, status_name(st.code), st.message);
	return resp;
}

static int64_t mk_queue(const char *name, int max_parallel)
{
	Flow__V1__CreateQueueRequest q = FLOW__V1__CREATE_QUEUE_REQUEST__INIT;
	Flow__V1__Queue *res;
	int64_t id;

	q.has_project_id = q.has_max_parallel_items = 1;
	q.project_id = project;
	q.name = (char *)name;
	q.max_parallel_items = max_parallel;
	res = (Flow__V1__Queue *)rpc("/flow.v1.FlowManager/CreateQueue", &q);
	id = res->id;
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return id;
}

static void set_active(int64_t queue, int active)
{
	Flow__V1__UpdateQueueRequest u = FLOW__V1__UPDATE_QUEUE_REQUEST__INIT;

	u.has_queue_id = u.has_is_active = 1;
	u.queue_id = queue;
	u.is_active = active;
	protobuf_c_message_free_unpacked(rpc("/flow.v1.FlowManager/UpdateQueue", &u), NULL);
}

/* A ticket with n tasks for agent, each enqueued on queue. */
static void enqueue_tasks(int64_t queue, int n, const char *agent)
{
	Flow__V1__CreateTicketRequest t = FLOW__V1__CREATE_TICKET_REQUEST__INIT;
	Flow__V1__Ticket *ticket;
	int64_t ticket_id;

	t.has_project_id = 1;
	t.project_id = project;
	t.title = "ops";
	ticket = (Flow__V1__Ticket *)rpc("/flow.v1.FlowManager/CreateTicket", &t);
	ticket_id = ticket->id;
	protobuf_c_message_free_unpacked(&ticket->base, NULL);
	for (int i = 0; i < n; i++) {
		Flow__V1__CreateTaskRequest k = FLOW__V1__CREATE_TASK_REQUEST__INIT;
		Flow__V1__EnqueueTaskRequest e = FLOW__V1__ENQUEUE_TASK_REQUEST__INIT;
		Flow__V1__Task *task;

		k.has_ticket_id = 1;
		k.ticket_id = ticket_id;
		k.content = "ops task";
		k.agent_id = (char *)agent;
		task = (Flow__V1__Task *)rpc("/flow.v1.FlowManager/CreateTask", &k);
		e.has_queue_id = e.has_task_id = 1;
		e.queue_id = queue;
		e.task_id = task->id;
		protobuf_c_message_free_unpacked(&task->base, NULL);
		protobuf_c_message_free_unpacked(rpc("/flow.v1.FlowManager/EnqueueTask", &e), NULL);
	}
}

/* Output of one flowctl run. */
struct run {
	int status;
	char *out, *err;
};

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
	memset(r, 0, sizeof(*r));
}

/* Runs flowctl --url URL with the NULL-terminated arguments; stdin empty. */
static struct run flowctl(const char *first, ...)
{
	char *argv[24];
	struct run r = { -1, NULL, NULL };
	va_list ap;
	int n = 0;

	argv[n++] = (char *)ts_bin("flowctl");
	argv[n++] = "--url";
	argv[n++] = f.url;
	va_start(ap, first);
	for (const char *a = first; a != NULL && n < 23; a = va_arg(ap, const char *))
		argv[n++] = (char *)a;
	va_end(ap);
	argv[n] = NULL;
	if (ts_run_capture(argv, NULL, &r.out, &r.err, &r.status, 60000) != 0)
		fail_msg("flowctl %s: did not finish (stdout: %s; stderr: %s)", first,
			 r.out ? r.out : "", r.err ? r.err : "");
	return r;
}

static char *qid(int64_t queue)
{
	static char buf[4][32];
	static int k;
	char *b = buf[k++ % 4];

	snprintf(b, sizeof(buf[0]), "%" PRId64, queue);
	return b;
}

/* The last non-empty line of s before position end (copied to out). */
static void line_before(const char *s, const char *end, char *out, size_t len)
{
	const char *e = end, *b;

	while (e > s && (e[-1] == '\n'))
		e--;
	b = e;
	while (b > s && b[-1] != '\n')
		b--;
	snprintf(out, len, "%.*s", (int)(e - b), b);
}

static void assert_no_control_chars(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 && *s != '\n')
			fail_msg("control character 0x%02x in plain output", (unsigned char)*s);
}

/* ---- fixture ---- */

static int setup(void **state)
{
	Flow__V1__CreateProjectRequest p = FLOW__V1__CREATE_PROJECT_REQUEST__INIT;
	Flow__V1__Project *res;
	struct rpc_status st;
	struct rpc_client_opts co = { .deadline_ms = 20000, .background_dial = true };
	char agents[1024], path[700];
	FILE *fp;

	(void)state;
	if (ts_flowd_start(&f, NULL, flowd_args) != 0)
		return -1;
	co.token = f.token;
	if (rpc_client_open(f.url, &co, &cli, &st) != FLOW_OK)
		return -1;
	p.name = "ops";
	res = (Flow__V1__Project *)rpc("/flow.v1.ProjectManager/CreateProject", &p);
	project = res->id;
	protobuf_c_message_free_unpacked(&res->base, NULL);
	/* "napper" sleeps a little per item, so progress takes a few polls */
	snprintf(agents, sizeof(agents), "napper = %s sleep 0.15\n",
		 ts_src("tests/agents/test-agent"));
	snprintf(path, sizeof(path), "%s/agents.conf", f.dir);
	if ((fp = fopen(path, "w")) == NULL)
		return -1;
	fputs(agents, fp);
	fclose(fp);
	worker = ts_worker_start(&f, WORKER_NAME, path, 2, NULL);
	return worker > 0 ? 0 : -1;
}

static int teardown(void **state)
{
	int status = -1;

	(void)state;
	if (worker > 0)
		ts_terminate(worker, 20000, &status);
	rpc_client_close(cli);
	return ts_flowd_stop(&f) == 0 ? 0 : -1;
}

/* ---- flowctl workers ---- */

/* The --json workers result once WORKER_NAME is listed with n_items items or more. */
static json_t *wait_for_worker(size_t min_items)
{
	for (int i = 0; i < 300; i++) {
		struct run r = flowctl("--json", "workers", NULL);
		json_t *j, *w;
		size_t k;

		assert_int_equal(r.status, 0);
		j = json_loads(r.out, 0, NULL);
		run_free(&r);
		assert_non_null(j);
		json_array_foreach (json_object_get(j, "workers"), k, w) {
			if (strcmp(json_string_value(json_object_get(w, "name")), WORKER_NAME) ==
				0 &&
			    json_array_size(json_object_get(w, "items")) >= min_items)
				return j;
		}
		json_decref(j);
		ts_sleep_ms(50);
	}
	fail_msg("worker %s with %zu item(s) never listed", WORKER_NAME, min_items);
	return NULL;
}

static void test_workers(void **state)
{
	int64_t q = mk_queue("workers", 2);
	json_t *j, *w, *it;
	char *agents;
	struct run r;

	(void)state;
	/* idle: listed, connected, its agents, no items */
	j = wait_for_worker(0);
	assert_int_equal(json_integer_value(json_object_get(j, "seenWithinS")), 60);
	assert_true(json_integer_value(json_object_get(j, "now")) > 0);
	w = json_array_get(json_object_get(j, "workers"), 0);
	assert_string_equal(json_string_value(json_object_get(w, "name")), WORKER_NAME);
	assert_true(json_is_true(json_object_get(w, "connected")));
	/* the agents file's, and the built-in noop */
	agents = json_dumps(json_object_get(w, "agentIds"), JSON_COMPACT);
	assert_string_equal(agents, "[\"napper\",\"noop\"]");
	free(agents);
	assert_int_equal(json_integer_value(json_object_get(w, "capacity")), 2);
	assert_true(json_integer_value(json_object_get(w, "lastSeenAt")) > 0);
	json_decref(j);

	/* busy: the items it runs, with their queue and agent */
	enqueue_tasks(q, 6, "napper");
	j = wait_for_worker(1);
	w = json_array_get(json_object_get(j, "workers"), 0);
	it = json_array_get(json_object_get(w, "items"), 0);
	assert_int_equal(json_integer_value(json_object_get(it, "queueId")), q);
	assert_string_equal(json_string_value(json_object_get(it, "agentId")), "napper");
	assert_int_equal(json_integer_value(json_object_get(it, "attempt")), 1);
	assert_true(json_integer_value(json_object_get(it, "taskId")) > 0);
	assert_true(json_integer_value(json_object_get(it, "leaseExpiresAt")) >
		    json_integer_value(json_object_get(it, "startedAt")));
	json_decref(j);

	/* the table */
	r = flowctl("workers", NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "ID  NAME"));
	assert_non_null(strstr(r.out, WORKER_NAME));
	assert_non_null(strstr(r.out, "napper"));
	assert_non_null(strstr(r.out, " ago"));
	assert_no_control_chars(r.out);
	run_free(&r);
	r = flowctl("workers", "--all", "--seen-within", "5", NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, WORKER_NAME));
	run_free(&r);
	r = flowctl("workers", "--seen-within", "0", NULL);
	assert_int_equal(r.status, 2);
	run_free(&r);

	/* let it drain before the next test */
	r = flowctl("queue", "watch", qid(q), "--interval", "100", NULL);
	assert_int_equal(r.status, 0);
	run_free(&r);
}

static void test_workers_member_denied(void **state)
{
	Flow__V1__CreateUserRequest cu = FLOW__V1__CREATE_USER_REQUEST__INIT;
	struct rpc_status st;
	char member[2048], *admin = strdup(getenv("FLOW_TOKEN"));
	struct run r;
	json_t *j;

	(void)state;
	cu.username = "opsmember";
	cu.password = MEMBER_PW;
	cu.role = "member";
	assert_int_equal(
	    ts_rpc(f.url, f.token, "/flow.v1.AuthService/CreateUser", &cu.base, NULL, &st),
	    FLOW_OK);
	assert_int_equal(
	    ts_login(f.url, "opsmember", MEMBER_PW, member, sizeof(member), NULL, 0, &st), FLOW_OK);
	setenv("FLOW_TOKEN", member, 1);

	r = flowctl("workers", NULL);
	assert_int_equal(r.status, 1);
	assert_string_equal(r.out, "");
	assert_non_null(strstr(r.err, "PERMISSION_DENIED: ListWorkers is for admins only"));
	run_free(&r);
	r = flowctl("--json", "workers", NULL);
	assert_int_equal(r.status, 1);
	j = json_loads(r.err, 0, NULL);
	assert_non_null(j);
	assert_string_equal(ts_err_code(j), "PERMISSION_DENIED");
	json_decref(j);
	run_free(&r);
	/* and through call: the same */
	r = flowctl("call", "auth_manager", "{\"action\":\"workers_list\"}", NULL);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "PERMISSION_DENIED"));
	run_free(&r);
	/* queue watch is a project call: the member's scope applies (no such queue: exit 1) */
	r = flowctl("queue", "watch", "999999", NULL);
	assert_int_equal(r.status, 1);
	assert_string_equal(r.out, "");
	run_free(&r);

	setenv("FLOW_TOKEN", admin, 1);
	free(admin);
}

/* ---- flowctl queue watch ---- */

static void test_watch_plain(void **state)
{
	int64_t q = mk_queue("watch-plain", 2);
	char last[512];
	const char *drained;
	struct run r;
	int lines = 0;

	(void)state;
	enqueue_tasks(q, 20, "napper");
	r = flowctl("queue", "watch", qid(q), "--interval", "100", NULL);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.err, "");
	assert_no_control_chars(r.out);
	/* progress lines, one per change, then the summary and the final stats */
	for (const char *s = r.out; (s = strstr(s, "] ")) != NULL; s++)
		lines++;
	if (lines < 3)
		fail_msg("expected several progress lines, got:\n%s", r.out);
	drained = strstr(r.out, "\nQueue ");
	assert_non_null(drained);
	assert_non_null(strstr(drained, " drained in "));
	line_before(r.out, drained + 1, last, sizeof(last));
	if (strncmp(last,
		    "[####################] 20/20 100%  queued 0  running 0  failed 0  dead 0",
		    72) != 0 ||
	    strstr(last, "/s  done") == NULL)
		fail_msg("last progress line: %s", last);
	assert_non_null(strstr(drained, "\nCompleted:      20\n"));
	assert_non_null(strstr(drained, "\nIn progress:    0\n"));
	assert_non_null(strstr(drained, "\nSuccess rate:   100.0%\n"));
	run_free(&r);

	/* already drained: one line and the stats at once */
	r = flowctl("queue", "watch", qid(q), NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "has nothing queued or running."));
	assert_non_null(strstr(r.out, "20/20 100%"));
	run_free(&r);
}

static void test_watch_json(void **state)
{
	int64_t q = mk_queue("watch-json", 2);
	json_t *j = NULL, *prev = NULL;
	struct run r;
	int n = 0;

	(void)state;
	enqueue_tasks(q, 10, "napper");
	r = flowctl("--json", "queue", "watch", qid(q), "--interval", "100", NULL);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.err, "");
	/* NDJSON: one compact object per poll, the last one drained */
	for (char *line = strtok(r.out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
		json_error_t je;

		json_decref(prev);
		prev = j;
		j = json_loads(line, 0, &je);
		if (j == NULL)
			fail_msg("line %d is not JSON (%s): %s", n, je.text, line);
		assert_non_null(json_object_get(j, "stats"));
		assert_int_equal(
		    json_integer_value(json_object_get(json_object_get(j, "stats"), "queueId")), q);
		assert_true(json_is_integer(json_object_get(j, "at")));
		assert_true(json_is_number(json_object_get(j, "progress")));
		n++;
	}
	assert_true(n >= 3);
	assert_true(json_is_true(json_object_get(j, "drained")));
	assert_false(json_is_true(json_object_get(prev, "drained")));
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(j, "stats"), "completedItems")), 10);
	assert_int_equal(json_integer_value(json_object_get(j, "remaining")), 0);
	assert_int_equal(json_integer_value(json_object_get(j, "etaMs")), 0);
	assert_true(json_real_value(json_object_get(j, "progress")) == 1.0);
	assert_true(json_is_number(json_object_get(j, "ratePerSecond")));
	json_decref(prev);
	json_decref(j);
	run_free(&r);
}

static void test_watch_errors(void **state)
{
	struct run r;

	(void)state;
	r = flowctl("queue", "watch", NULL);
	assert_int_equal(r.status, 2);
	run_free(&r);
	r = flowctl("queue", "watch", "1", "--interval", "10", NULL);
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.err, "--interval: expected a whole number from 50 to 3600000"));
	run_free(&r);
	r = flowctl("queue", "watch", "x", NULL);
	assert_int_equal(r.status, 2);
	run_free(&r);
	r = flowctl("queue", "watch", "999999", NULL);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "NOT_FOUND"));
	run_free(&r);
	r = flowctl("--json", "queue", "watch", "999999", NULL);
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "\"NOT_FOUND\""));
	assert_string_equal(r.out, "");
	run_free(&r);
}

/* A paused queue with work never drains: SIGINT ends the watch with 130. */
static void test_watch_sigint(void **state)
{
	int64_t q = mk_queue("watch-sigint", 1);
	char log[700];
	char *argv[] = { (char *)ts_bin("flowctl"),
			 "--url",
			 f.url,
			 "queue",
			 "watch",
			 qid(q),
			 "--interval",
			 "100",
			 NULL };
	char *out;
	pid_t pid;
	int status = -1;

	(void)state;
	set_active(q, 0);
	enqueue_tasks(q, 1, "napper");
	snprintf(log, sizeof(log), "%s/watch-sigint.log", f.dir);
	pid = ts_spawn(argv, NULL, log);
	assert_true(pid > 0);
	ts_sleep_ms(800);
	assert_int_equal(ts_wait_exit(pid, 0, NULL), -1); /* still watching */
	kill(pid, SIGINT);
	assert_int_equal(ts_wait_exit(pid, 10000, &status), 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 130);
	out = ts_read_file(log, NULL);
	assert_non_null(out);
	assert_non_null(strstr(out, "0/1   0%  queued 1  running 0  failed 0  dead 0"));
	assert_non_null(strstr(out, "paused"));
	free(out);
	set_active(q, 1);
}

/* ---- on a terminal ---- */

/*
 * Runs flowctl queue watch on a pseudo-terminal with TERM and NO_COLOR (NULL:
 * unset); returns what it wrote (malloc'd) and its exit status.
 */
static char *watch_on_pty(int64_t queue, const char *term, const char *no_color, int *status)
{
	char *buf = calloc(1, 1 << 20);
	size_t used = 0;
	int fd = -1;
	struct winsize ws = { .ws_row = 24, .ws_col = 120 };
	pid_t pid = forkpty(&fd, NULL, NULL, &ws);

	assert_true(pid >= 0);
	if (pid == 0) {
		if (term)
			setenv("TERM", term, 1);
		else
			unsetenv("TERM");
		if (no_color)
			setenv("NO_COLOR", no_color, 1);
		else
			unsetenv("NO_COLOR");
		execl(ts_bin("flowctl"), "flowctl", "--url", f.url, "queue", "watch", qid(queue),
		      "--interval", "100", (char *)NULL);
		_exit(127);
	}
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t n;

		if (poll(&p, 1, 30000) <= 0)
			break;
		n = read(fd, buf + used, (1 << 20) - 1 - used);
		if (n <= 0) /* EIO once the child is gone */
			break;
		used += (size_t)n;
	}
	close(fd);
	assert_int_equal(waitpid(pid, status, 0), pid);
	return buf;
}

static void test_watch_terminal(void **state)
{
	int64_t q = mk_queue("watch-tty", 2);
	char *out;
	int status = -1;

	(void)state;
	enqueue_tasks(q, 8, "napper");
	out = watch_on_pty(q, "xterm", NULL, &status);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* redrawn in place, colored */
	assert_non_null(strstr(out, "\r["));
	assert_non_null(strstr(out, "\x1b[K"));
	assert_non_null(strstr(out, "\x1b[32m"));
	assert_non_null(strstr(out, "8/8 100%"));
	assert_non_null(strstr(out, " drained in "));
	free(out);

	/* NO_COLOR: still redrawn, never colored */
	enqueue_tasks(q, 4, "napper");
	out = watch_on_pty(q, "xterm", "1", &status);
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_non_null(strstr(out, "\r["));
	assert_null(strstr(out, "\x1b[3"));
	assert_non_null(strstr(out, "12/12 100%"));
	free(out);

	/* TERM=dumb: no escape sequences at all */
	enqueue_tasks(q, 2, "napper");
	out = watch_on_pty(q, "dumb", NULL, &status);
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_null(strchr(out, '\x1b'));
	assert_non_null(strstr(out, "14/14 100%"));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_workers),	       cmocka_unit_test(test_workers_member_denied),
		cmocka_unit_test(test_watch_plain),    cmocka_unit_test(test_watch_json),
		cmocka_unit_test(test_watch_errors),   cmocka_unit_test(test_watch_sigint),
		cmocka_unit_test(test_watch_terminal),
	};

	ts_skip_without_pg();
	return cmocka_run_group_tests(tests, setup, teardown);
}
