/*
 * e2e.cluster: scripts/cluster.sh, the local deployment the demo runs on.
 *
 * `up 2` in a private folder starts PostgreSQL, flowd and two flow-workers;
 * `status` sees them; a second `up` is refused; with the lines of `env`,
 * flowctl acts as the admin, and a task for the agent demo-note goes through
 * a queue to a worker and is completed; `down` stops exactly those processes
 * (and PostgreSQL) and removes the folder; `status` then says nothing runs.
 * The cluster brings its own PostgreSQL (it does not use the ctest fixture).
 */
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "testsupport.h"

struct proc {
	char name[64];
	long pid;
	unsigned long long start;
};

static char *dir;           /* the cluster's folder */
static char script[600];    /* scripts/cluster.sh */
static struct proc procs[8];
static int n_procs;
static int pg_port;
static char pg_rundir[600]; /* PostgreSQL's data, when pg.sh moved it out of dir */

/* ---- plumbing ---- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs `cluster.sh --dir DIR ARGS...`; returns its exit status. */
static int cluster(char **out, char **err, int timeout_ms, ...)
{
	char *argv[12] = { script, "--dir", dir };
	int n = 3, status = -1;
	va_list ap;

	va_start(ap, timeout_ms);
	while (n < 11 && (argv[n] = va_arg(ap, char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	if (ts_run_capture(argv, NULL, out, err, &status, timeout_ms) != 0)
		fail_msg("cluster.sh %s did not run or timed out", argv[3]);
	return status;
}

/* `flowctl call TOOL ARGS`: the parsed stdout; fails the test unless exit 0. */
static json_t *call(const char *tool, const char *fmt, ...)
{
	char args[1024], *out = NULL, *err = NULL;
	char *const argv[] = { (char *)ts_bin("flowctl"), "call", (char *)tool, args, NULL };
	int status = -1;
	json_t *j;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	assert_int_equal(ts_run_capture(argv, NULL, &out, &err, &status, 30000), 0);
	if (status != 0)
		fail_msg("flowctl call %s '%s': exit %d: %s", tool, args, status, err);
	j = json_loads(out, 0, NULL);
	if (j == NULL)
		fail_msg("flowctl call %s: not JSON: %s", tool, out);
	free(out);
	free(err);
	return j;
}

static int64_t id_of(json_t *j)
{
	json_t *id = json_object_get(j, "id");

	assert_true(json_is_integer(id));
	return json_integer_value(id);
}

/* Start time of a process (field 22 of /proc/PID/stat); 0 when it is gone or a zombie. */
static unsigned long long start_time(long pid)
{
	char path[64], *s, *p;
	unsigned long long start = 0;
	char state;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	s = ts_read_file(path, NULL);
	if (s == NULL)
		return 0;
	p = strrchr(s, ')');
	if (p && sscanf(p + 2, "%c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu",
			&state, &start) == 2 && state == 'Z')
		start = 0;
	free(s);
	return start;
}

/* Reads the processes, PostgreSQL's port and run folder from the state file. */
static void read_state(void)
{
	char path[700], *s, *save = NULL;

	snprintf(path, sizeof(path), "%s/cluster.state", dir);
	s = ts_read_file(path, NULL);
	assert_non_null(s);
	n_procs = 0;
	for (char *line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct proc *p = &procs[n_procs];
		const char *colon;

		if (n_procs < 8 && sscanf(line, "proc %63s %ld %llu", p->name, &p->pid, &p->start) == 3)
			n_procs++;
		if (strncmp(line, "db ", 3) == 0 && (colon = strrchr(line, ':')) != NULL)
			pg_port = atoi(colon + 1);
	}
	free(s);
	snprintf(path, sizeof(path), "%s/pg/rundir", dir);
	s = ts_read_file(path, NULL);
	if (s) {
		snprintf(pg_rundir, sizeof(pg_rundir), "%.*s", (int)strcspn(s, "\n"), s);
		free(s);
	}
}

static bool port_open(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), rc;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
	close(fd);
	return rc == 0;
}

/* ---- tests ---- */

static void test_status(void **state)
{
	char *out = NULL, *err = NULL;
	int running = 0;

	assert_int_equal(cluster(&out, &err, 30000, "status", NULL), 0);
	for (const char *p = strstr(out, " running "); p; p = strstr(p + 1, " running "))
		running++;
	assert_int_equal(running, 4); /* flowd, 2 workers, postgres */
	assert_null(strstr(out, "DEAD"));
	assert_non_null(strstr(out, "worker-1"));
	assert_non_null(strstr(out, "worker-2"));
	assert_non_null(strstr(out, "demo-note"));
	free(out);
	free(err);

	read_state();
	assert_int_equal(n_procs, 3);
	for (int i = 0; i < n_procs; i++)
		assert_int_equal(start_time(procs[i].pid), procs[i].start);
	assert_true(pg_port > 0 && port_open(pg_port));
}

static void test_up_twice_refused(void **state)
{
	char *out = NULL, *err = NULL;

	assert_int_equal(cluster(&out, &err, 30000, "up", "2", NULL), 1);
	assert_non_null(strstr(err, "already up"));
	assert_non_null(strstr(err, dir));
	free(out);
	free(err);
}

/* Applies the `export NAME=VALUE` and `unset NAMES` lines of `env`. */
static void test_env(void **state)
{
	char *out = NULL, *err = NULL, *save = NULL;
	int exports = 0;

	assert_int_equal(cluster(&out, &err, 30000, "env", NULL), 0);
	for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "export ", 7) == 0) {
			char *eq = strchr(line + 7, '=');

			assert_non_null(eq);
			*eq = '\0';
			assert_null(strpbrk(eq + 1, "'\"\\ $")); /* plain paths: no shell quoting */
			setenv(line + 7, eq + 1, 1);
			exports++;
		} else if (strncmp(line, "unset ", 6) == 0) {
			char *s2 = NULL;

			for (char *n = strtok_r(line + 6, " ", &s2); n; n = strtok_r(NULL, " ", &s2))
				unsetenv(n);
		}
	}
	assert_int_equal(exports, 3);
	assert_non_null(getenv("FLOW_URL"));
	assert_non_null(strstr(getenv("FLOW_CREDENTIALS"), dir));
	free(out);
	free(err);
}

static void test_flowctl_as_admin(void **state)
{
	json_t *j = call("project_manager", "{\"action\":\"list\"}");

	assert_true(json_is_array(json_object_get(j, "projects")));
	json_decref(j);
}

static void test_item_through_worker(void **state)
{
	int64_t project, queue, ticket, task, t0;
	json_t *j, *tasks;
	const char *notes = NULL;
	char *log1, *log2, path[700];

	j = call("project_manager", "{\"action\":\"create\",\"data\":{\"name\":\"cluster test\"}}");
	project = id_of(j);
	json_decref(j);
	j = call("flow_manager", "{\"action\":\"queues_create\",\"projectId\":%lld,\"data\":"
				 "{\"name\":\"reviews\",\"maxParallelItems\":2}}",
		 (long long)project);
	queue = id_of(j);
	json_decref(j);
	j = call("flow_manager", "{\"action\":\"tickets_create\",\"projectId\":%lld,\"data\":"
				 "{\"title\":\"Review the cluster\",\"priority\":5}}",
		 (long long)project);
	ticket = id_of(j);
	json_decref(j);
	j = call("flow_manager", "{\"action\":\"tasks_create\",\"ticketId\":%lld,\"data\":"
				 "{\"content\":\"check the deployment\",\"agentId\":\"demo-note\"}}",
		 (long long)ticket);
	task = id_of(j);
	json_decref(j);
	t0 = now_ms();
	json_decref(call("flow_manager", "{\"action\":\"enqueue_task\",\"queueId\":%lld,\"taskId\":%lld}",
			 (long long)queue, (long long)task));

	for (;;) {
		j = call("flow_manager", "{\"action\":\"tasks_list\",\"ticketId\":%lld}", (long long)ticket);
		tasks = json_object_get(j, "tasks");
		if (json_is_array(tasks) && json_array_size(tasks) == 1 &&
		    json_is_true(json_object_get(json_array_get(tasks, 0), "done")))
			break;
		json_decref(j);
		if (now_ms() - t0 > 30000)
			fail_msg("the demo-note task was not completed within 30 s");
		ts_sleep_ms(100);
	}
	print_message("enqueued -> completed by a worker: %lld ms\n", (long long)(now_ms() - t0));
	notes = json_string_value(json_object_get(json_array_get(tasks, 0), "completionNotes"));
	assert_non_null(notes);
	assert_non_null(strstr(notes, "demo-note: check the deployment"));
	json_decref(j);

	/* one of the two workers ran it */
	snprintf(path, sizeof(path), "%s/worker-1.log", dir);
	log1 = ts_read_file(path, NULL);
	snprintf(path, sizeof(path), "%s/worker-2.log", dir);
	log2 = ts_read_file(path, NULL);
	assert_true((log1 && strstr(log1, "agent=demo-note attempt=1 outcome=completed")) ||
		    (log2 && strstr(log2, "agent=demo-note attempt=1 outcome=completed")));
	free(log1);
	free(log2);
}

static void test_down(void **state)
{
	char *out = NULL, *err = NULL;
	int64_t t0 = now_ms();

	read_state();
	assert_int_equal(cluster(&out, &err, 120000, "down", NULL), 0);
	print_message("down: %lld ms\n", (long long)(now_ms() - t0));
	free(out);
	free(err);
	assert_int_equal(access(dir, F_OK), -1);
	assert_int_equal(errno, ENOENT);
	for (int i = 0; i < n_procs; i++)
		if (start_time(procs[i].pid) == procs[i].start)
			fail_msg("%s (pid %ld) still runs after down", procs[i].name, procs[i].pid);
	assert_false(port_open(pg_port));
	if (pg_rundir[0])
		assert_int_equal(access(pg_rundir, F_OK), -1);
}

static void test_status_after_down(void **state)
{
	char *out = NULL, *err = NULL;

	assert_int_equal(cluster(&out, &err, 30000, "status", NULL), 1);
	assert_non_null(strstr(out, "not running"));
	free(out);
	free(err);
}

/* ---- main ---- */

static int setup(void **state)
{
	char *out = NULL, *err = NULL, bindir[600];
	int64_t t0 = now_ms();
	int rc;

	snprintf(script, sizeof(script), "%s", ts_src("scripts/cluster.sh"));
	/* the programs of this build, not build/bin */
	snprintf(bindir, sizeof(bindir), "%s", ts_bin("flowd"));
	*strrchr(bindir, '/') = '\0';
	setenv("FLOW_BIN_DIR", bindir, 1);
	unsetenv("FLOW_CLUSTER_DIR");
	unsetenv("FLOW_TOKEN");
	unsetenv("FLOW_API_KEY");
	unsetenv("FLOW_URL");
	unsetenv("FLOW_CREDENTIALS");
	dir = ts_tmpdir(); /* an empty folder of ours: `up` takes it */
	if (dir == NULL)
		return -1;
	rc = cluster(&out, &err, 180000, "up", "2", NULL);
	if (rc != 0) {
		fprintf(stderr, "cluster.sh up 2: exit %d\n%s%s", rc, out, err);
		free(out);
		free(err);
		return -1;
	}
	fprintf(stderr, "cluster.sh up 2: %lld ms\n", (long long)(now_ms() - t0));
	free(out);
	free(err);
	return 0;
}

static int teardown(void **state)
{
	char *out = NULL, *err = NULL;

	/* after a failed test: stop whatever is left */
	if (access(dir, F_OK) == 0) {
		cluster(&out, &err, 120000, "down", NULL);
		free(out);
		free(err);
		ts_rmrf(dir);
	}
	free(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_up_twice_refused),
		cmocka_unit_test(test_env),
		cmocka_unit_test(test_flowctl_as_admin),
		cmocka_unit_test(test_item_through_worker),
		cmocka_unit_test(test_down),
		cmocka_unit_test(test_status_after_down),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
