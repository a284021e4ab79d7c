/*
 * unit.runner: flow-worker's agent runner with real processes.
 *
 * Each test writes a small agent program into a temporary folder (a
 * "#!/bin/sh" script made executable: the runner execve()s it directly,
 * no shell command line is involved) and checks the outcome. The test
 * process is a child subreaper, so processes an agent leaves behind are
 * re-parented to it and can be checked and reaped here.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "context.h"
#include "runner.h"
#include "testsupport.h"

static char *tmp;
static char *base_env[] = { "PATH=/usr/bin:/bin", NULL };

static int setup(void **state)
{
	tmp = ts_tmpdir();
	return tmp ? 0 : -1;
}

static int teardown(void **state)
{
	ts_rmrf(tmp);
	free(tmp);
	return 0;
}

/* Writes an agent program "#!/bin/sh\n<body>" and returns its path. */
static const char *agent(const char *name, const char *body)
{
	static char path[8][600];
	static int next;
	char *p = path[next++ % 8];
	FILE *f;

	snprintf(p, 600, "%s/%s", tmp, name);
	f = fopen(p, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\n%s\n", body);
	fclose(f);
	assert_int_equal(chmod(p, 0755), 0);
	return p;
}

static struct runner_spec spec_for(char **argv)
{
	struct runner_spec s = {
		.argv = argv,
		.envp = base_env,
		.timeout_s = 30,
		.kill_grace_ms = 500,
		.max_output = 65536,
		.label = "item=1 agent=test",
	};
	return s;
}

/* runner_start + runner_wait + runner_free; returns the agent's group. */
static pid_t run_spec(const struct runner_spec *s, struct runner_result *res)
{
	char err[256];
	runner *r;
	pid_t pgid;

	assert_int_equal(runner_start(s, &r, err, sizeof(err)), 0);
	pgid = runner_pid(r);
	assert_int_equal(getpgid(pgid), pgid);
	assert_int_equal(runner_wait(r, res), 0);
	runner_free(r);
	return pgid;
}

static pid_t run(char **argv, const char *input, struct runner_result *res)
{
	struct runner_spec s = spec_for(argv);

	s.input = input;
	s.input_len = input ? strlen(input) : 0;
	return run_spec(&s, res);
}

/*
 * Waits up to 3 s for the grandchild pid to be gone. It is reaped here when
 * it was re-parented to this process; its own parent (the agent's shell)
 * may have reaped it first. Returns its wait status, or -1 when the shell
 * reaped it.
 */
static int reap(pid_t pid)
{
	int st = -1;

	if (ts_wait_exit(pid, 3000, &st) != 0) {
		assert_int_equal(errno, ECHILD);
		st = -1;
	}
	assert_int_equal(kill(pid, 0), -1);
	return st;
}

/*
 * Reaps every re-parented member of process group pgid (zombies of the
 * agent's children) and checks the group is gone: no member left alive.
 */
static void assert_group_gone(pid_t pgid)
{
	int st, waited = 0;

	for (;;) {
		pid_t r = waitpid(-pgid, &st, WNOHANG);

		if (r > 0)
			continue;
		if (r < 0 && errno == ECHILD)
			break;
		assert_true(waited < 3000);
		ts_sleep_ms(10);
		waited += 10;
	}
	assert_int_equal(kill(-pgid, 0), -1);
	assert_int_equal(errno, ESRCH);
}

static pid_t read_pid(const char *name)
{
	char path[700], *text;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	text = ts_read_file(path, NULL);
	assert_non_null(text);
	pid = (pid_t)atol(text);
	free(text);
	assert_true(pid > 1);
	return pid;
}

static void test_exit_zero_is_complete_with_notes(void **state)
{
	char *argv[] = { (char *)agent("ok", "echo \"hello from $0\"; echo second line; exit 0"),
			 NULL };
	char expect[800];
	struct runner_result res;

	run(argv, NULL, &res);
	snprintf(expect, sizeof(expect), "hello from %s\nsecond line\n", argv[0]);
	assert_int_equal(res.outcome, RUNNER_COMPLETED);
	assert_string_equal(res.output, expect);
	assert_int_equal(res.output_len, strlen(expect));
	assert_false(res.truncated);
	assert_int_equal(res.exit_code, 0);
	assert_int_equal(res.signal, 0);
	assert_false(res.timed_out);
	assert_string_equal(res.error, "");
	runner_result_clear(&res);
}

static Flow__V1__ClaimedItem *sample_item(bool with_task)
{
	static Flow__V1__QueueItem qi = FLOW__V1__QUEUE_ITEM__INIT;
	static Flow__V1__Ticket t = FLOW__V1__TICKET__INIT;
	static Flow__V1__Task k = FLOW__V1__TASK__INIT;
	static Flow__V1__Project p = FLOW__V1__PROJECT__INIT;
	static Flow__V1__ClaimedItem ci = FLOW__V1__CLAIMED_ITEM__INIT;

	qi.has_id = qi.has_queue_id = qi.has_ticket_id = qi.has_attempt = 1;
	qi.id = 42;
	qi.queue_id = 3;
	qi.ticket_id = 5;
	qi.attempt = 2;
	qi.agent_id = "code-reviewer";
	qi.has_task_id = with_task;
	qi.task_id = 7;
	t.has_id = t.has_project_id = 1;
	t.id = 5;
	t.project_id = 1;
	t.title = "Fix \"quotes\", tabs\tand \xc3\xbcnicode\nsecond line";
	k.has_id = 1;
	k.id = 7;
	k.content = "Review $(rm -rf /) `id` ; echo pwned";
	p.has_id = 1;
	p.id = 1;
	p.name = "Demo";
	ci.item = &qi;
	ci.ticket = &t;
	ci.task = with_task ? &k : NULL;
	ci.project = &p;
	return &ci;
}

static void test_stdin_json_received_intact(void **state)
{
	char *argv[] = { "/bin/cat", NULL };
	struct runner_result res;
	json_t *j, *task;
	char *input;
	size_t len;

	assert_int_equal(context_json(sample_item(true), &input, &len), 0);
	assert_int_equal(len, strlen(input));
	run(argv, input, &res);
	assert_int_equal(res.outcome, RUNNER_COMPLETED);
	assert_string_equal(res.output, input);
	j = json_loads(res.output, 0, NULL);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "attempt")), 2);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "queueItem"), "id")),
			 42);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(j, "ticket"), "title")),
	    "Fix \"quotes\", tabs\tand \xc3\xbcnicode\nsecond line");
	task = json_object_get(j, "task");
	assert_string_equal(json_string_value(json_object_get(task, "content")),
			    "Review $(rm -rf /) `id` ; echo pwned");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(j, "project"), "name")), "Demo");
	json_decref(j);
	free(input);
	runner_result_clear(&res);

	/* a ticket item: "task" is null */
	assert_int_equal(context_json(sample_item(false), &input, &len), 0);
	j = json_loads(input, 0, NULL);
	assert_true(json_is_null(json_object_get(j, "task")));
	json_decref(j);
	free(input);
}

static void test_exit_75_is_retryable(void **state)
{
	char *argv[] = { (char *)agent("temp", "echo 'rate limited, try later' >&2; exit 75"),
			 NULL };
	struct runner_result res;

	run(argv, NULL, &res);
	assert_int_equal(res.outcome, RUNNER_RETRY);
	assert_int_equal(res.exit_code, 75);
	assert_string_equal(res.error,
			    "exited with status 75 (EX_TEMPFAIL): rate limited, try later");
	runner_result_clear(&res);
}

static void test_exit_3_is_permanent_with_status(void **state)
{
	char *argv[] = { (char *)agent("fail",
				       "echo first >&2; echo 'cannot parse the task' >&2; exit 3"),
			 NULL };
	struct runner_result res;

	run(argv, NULL, &res);
	assert_int_equal(res.outcome, RUNNER_FAILED);
	assert_int_equal(res.exit_code, 3);
	assert_string_equal(res.error, "exited with status 3: cannot parse the task");
	runner_result_clear(&res);
}

static void test_signal_is_failure(void **state)
{
	char *argv[] = { (char *)agent("crash", "kill -SEGV $$"), NULL };
	struct runner_result res;

	run(argv, NULL, &res);
	assert_int_equal(res.outcome, RUNNER_FAILED);
	assert_int_equal(res.signal, SIGSEGV);
	assert_int_equal(res.exit_code, -1);
	assert_string_equal(res.error, "killed by signal SIGSEGV");
	runner_result_clear(&res);
}

static void test_timeout_kills_the_group(void **state)
{
	char body[900];
	char *argv[2] = { NULL, NULL };
	struct runner_spec s;
	struct runner_result res;
	pid_t pgid, gc;
	int st;

	snprintf(body, sizeof(body), "sleep 30 &\necho $! > %s/gc.pid\nsleep 30", tmp);
	argv[0] = (char *)agent("slow", body);
	s = spec_for(argv);
	s.timeout_s = 1;
	pgid = run_spec(&s, &res);
	assert_int_equal(res.outcome, RUNNER_RETRY);
	assert_true(res.timed_out);
	assert_string_equal(res.error, "timed out after 1 s");
	assert_true(res.duration_ms >= 1000 && res.duration_ms < 3000);
	gc = read_pid("gc.pid");
	st = reap(gc);
	assert_true(st == -1 || WIFSIGNALED(st));
	assert_group_gone(pgid);
	runner_result_clear(&res);
}

static void test_sigterm_ignored_gets_sigkill(void **state)
{
	char body[900];
	char *argv[2] = { NULL, NULL };
	struct runner_spec s;
	struct runner_result res;
	pid_t gc, pgid;
	int st;

	snprintf(body, sizeof(body), "trap '' TERM\nsleep 30 &\necho $! > %s/gc2.pid\nsleep 30",
		 tmp);
	argv[0] = (char *)agent("stubborn", body);
	s = spec_for(argv);
	s.timeout_s = 1;
	s.kill_grace_ms = 300;
	pgid = run_spec(&s, &res);
	assert_int_equal(res.outcome, RUNNER_RETRY);
	assert_true(res.timed_out);
	assert_int_equal(res.signal, SIGKILL);
	assert_true(res.duration_ms >= 1300 && res.duration_ms < 3500);
	gc = read_pid("gc2.pid");
	st = reap(gc);
	assert_true(st == -1 || WTERMSIG(st) == SIGKILL);
	assert_group_gone(pgid);
	runner_result_clear(&res);
}

static void test_leftovers_killed_after_normal_exit(void **state)
{
	char body[900];
	char *argv[2] = { NULL, NULL };
	struct runner_result res;
	pid_t gc, pgid;

	snprintf(body, sizeof(body), "sleep 30 >/dev/null 2>&1 &\necho $! > %s/gc3.pid\necho done",
		 tmp);
	argv[0] = (char *)agent("leaves", body);
	pgid = run(argv, NULL, &res);
	assert_int_equal(res.outcome, RUNNER_COMPLETED);
	assert_string_equal(res.output, "done\n");
	assert_true(res.duration_ms < 10000);
	gc = read_pid("gc3.pid");
	assert_int_equal(WTERMSIG(reap(gc)), SIGKILL);
	assert_group_gone(pgid);
	runner_result_clear(&res);
}

static void test_large_stdout_is_truncated(void **state)
{
	char *argv[] = { (char *)agent(
			     "big", "head -c 1048576 /dev/zero | tr '\\000' 'a'; echo tail-marker"),
			 NULL };
	struct runner_spec s = spec_for(argv);
	struct runner_result res;
	size_t note = strlen("\n" RUNNER_TRUNCATED_NOTE);

	s.max_output = 4096;
	assert_int_equal(runner_run(&s, &res), 0);
	assert_int_equal(res.outcome, RUNNER_COMPLETED);
	assert_true(res.truncated);
	assert_int_equal(res.output_len, 4096);
	assert_int_equal(strlen(res.output), 4096);
	assert_string_equal(res.output + 4096 - note, "\n" RUNNER_TRUNCATED_NOTE);
	for (size_t i = 0; i < 4096 - note; i++)
		assert_int_equal(res.output[i], 'a');
	assert_null(strstr(res.output, "tail-marker"));
	runner_result_clear(&res);
}

static void test_agent_not_reading_large_stdin(void **state)
{
	char *argv[] = { (char *)agent("deaf", "echo ignoring stdin; exit 0"), NULL };
	char *wc[] = { (char *)agent("count", "wc -c"), NULL };
	size_t n = 4 * 1024 * 1024;
	char *input = malloc(n + 1);
	struct runner_spec s;
	struct runner_result res;

	assert_non_null(input);
	memset(input, 'x', n);
	input[n] = '\0';
	s = spec_for(argv);
	s.input = input;
	s.input_len = n;
	assert_int_equal(runner_run(&s, &res), 0);
	assert_int_equal(res.outcome, RUNNER_COMPLETED);
	assert_string_equal(res.output, "ignoring stdin\n");
	assert_true(res.duration_ms < 5000);
	runner_result_clear(&res);

	/* one that reads gets every byte */
	s.argv = wc;
	assert_int_equal(runner_run(&s, &res), 0);
	assert_int_equal(res.outcome, RUNNER_COMPLETED);
	assert_int_equal(atol(res.output), (long)n);
	runner_result_clear(&res);
	free(input);
}

static void test_environment(void **state)
{
	char *argv[] = { "/usr/bin/env", NULL };
	struct runner_spec s = spec_for(argv);
	struct runner_result res;
	char **env = NULL;

	setenv("FLOW_TOKEN", "secret-token-value", 1);
	setenv("FLOW_API_KEY", "secret-api-key", 1);
	setenv("MY_AGENT_SETTING", "passed", 1);
	setenv("UNLISTED_VAR", "not-passed", 1);
	assert_int_equal(context_env(sample_item(true), "code-reviewer", "tcp://flowd:7600",
				     "MY_AGENT_SETTING,FLOW_TOKEN", &env),
			 0);
	s.envp = env;
	assert_int_equal(runner_run(&s, &res), 0);
	assert_int_equal(res.outcome, RUNNER_COMPLETED);
	assert_non_null(strstr(res.output, "FLOW_QUEUE_ITEM_ID=42\n"));
	assert_non_null(strstr(res.output, "FLOW_QUEUE_ID=3\n"));
	assert_non_null(strstr(res.output, "FLOW_TICKET_ID=5\n"));
	assert_non_null(strstr(res.output, "FLOW_TASK_ID=7\n"));
	assert_non_null(strstr(res.output, "FLOW_PROJECT_ID=1\n"));
	assert_non_null(strstr(res.output, "FLOW_ATTEMPT=2\n"));
	assert_non_null(strstr(res.output, "FLOW_AGENT_ID=code-reviewer\n"));
	assert_non_null(strstr(res.output, "FLOW_URL=tcp://flowd:7600\n"));
	assert_non_null(strstr(res.output, "MY_AGENT_SETTING=passed\n"));
	assert_non_null(strstr(res.output, "PATH="));
	assert_null(strstr(res.output, "FLOW_TOKEN"));
	assert_null(strstr(res.output, "FLOW_API_KEY"));
	assert_null(strstr(res.output, "secret"));
	assert_null(strstr(res.output, "UNLISTED_VAR"));
	runner_result_clear(&res);
	context_env_free(env);

	/* a ticket item has no FLOW_TASK_ID */
	assert_int_equal(context_env(sample_item(false), "x", NULL, NULL, &env), 0);
	for (char **p = env; *p; p++)
		assert_true(strncmp(*p, "FLOW_TASK_ID=", 13) != 0);
	context_env_free(env);
	unsetenv("FLOW_TOKEN");
	unsetenv("FLOW_API_KEY");
}

static void *cancel_later(void *arg)
{
	ts_sleep_ms(300);
	runner_cancel(arg);
	return NULL;
}

static void test_cancel_stops_a_running_agent(void **state)
{
	char *argv[] = { (char *)agent("long", "echo started; sleep 30; echo never"), NULL };
	struct runner_spec s = spec_for(argv);
	struct runner_result res;
	char err[256];
	pthread_t th;
	runner *r;
	pid_t pgid;

	assert_int_equal(runner_start(&s, &r, err, sizeof(err)), 0);
	pgid = runner_pid(r);
	assert_int_equal(pthread_create(&th, NULL, cancel_later, r), 0);
	assert_int_equal(runner_wait(r, &res), 0);
	pthread_join(th, NULL);
	assert_int_equal(runner_cancel(r), 0); /* after the end: harmless */
	runner_free(r);
	assert_int_equal(res.outcome, RUNNER_RETRY);
	assert_true(res.cancelled);
	assert_false(res.timed_out);
	assert_string_equal(res.error, "cancelled");
	assert_string_equal(res.output, "started\n");
	assert_true(res.duration_ms >= 300 && res.duration_ms < 10000);
	assert_group_gone(pgid);
	runner_result_clear(&res);
}

static void test_stderr_logged_and_redacted(void **state)
{
	char *argv[] = { (char *)agent("noisy",
				       "echo 'connecting with token=abc123secret user=bob' >&2\n"
				       "printf 'Authorization: Bearer eyJhbGciOi.x.y\\n' >&2\n"
				       "printf 'password: \"hunter2\" \\033[31mred\\n' >&2\n"
				       "exit 4"),
			 NULL };
	struct runner_result res;
	char path[700];
	char *log;
	int saved, fd;

	snprintf(path, sizeof(path), "%s/log.txt", tmp);
	fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(2);
	dup2(fd, 2);
	run(argv, NULL, &res);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	close(fd);
	log = ts_read_file(path, NULL);
	assert_non_null(log);
	assert_non_null(strstr(log, "agent.stderr"));
	assert_non_null(strstr(log, "item=1 agent=test connecting with token=*** user=bob"));
	assert_non_null(strstr(log, "Authorization: Bearer ***"));
	assert_non_null(strstr(log, "password: \\\"***\\\" \\u001b[31mred"));
	assert_null(strstr(log, "abc123secret"));
	assert_null(strstr(log, "eyJhbGciOi"));
	assert_null(strstr(log, "hunter2"));
	assert_int_equal(res.outcome, RUNNER_FAILED);
	assert_string_equal(res.error, "exited with status 4: password: \"***\" \x1b[31mred");
	free(log);
	runner_result_clear(&res);
}

static void test_invalid_utf8_output_is_sanitized(void **state)
{
	char *argv[] = { (char *)agent("binary", "printf 'ok\\377\\000end\\n'"), NULL };
	struct runner_result res;

	run(argv, NULL, &res);
	assert_int_equal(res.outcome, RUNNER_COMPLETED);
	assert_int_equal(res.output_len, 8);
	assert_string_equal(res.output, "ok??end\n");
	runner_result_clear(&res);
}

static void test_exec_failure(void **state)
{
	char path[700];
	char *argv[] = { path, NULL };
	struct runner_spec s = spec_for(argv);
	struct runner_result res;
	char err[256];
	runner *r = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/not-exec", tmp);
	f = fopen(path, "w");
	fputs("#!/bin/sh\n", f);
	fclose(f);
	chmod(path, 0644);
	if (geteuid() != 0) { /* root may execute anything with an x bit only */
		assert_int_equal(runner_start(&s, &r, err, sizeof(err)), -1);
		assert_null(r);
		assert_non_null(strstr(err, "cannot execute"));
		assert_non_null(strstr(err, "Permission denied"));
	}
	snprintf(path, sizeof(path), "%s/missing-agent", tmp);
	assert_int_equal(runner_run(&s, &res), 0);
	assert_int_equal(res.outcome, RUNNER_RETRY);
	assert_non_null(strstr(res.error, "cannot execute"));
	assert_non_null(strstr(res.error, "No such file or directory"));
	runner_result_clear(&res);
}

static void test_no_children_left(void **state)
{
	int st;

	/* every agent and every grandchild above has been reaped */
	assert_int_equal(waitpid(-1, &st, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exit_zero_is_complete_with_notes),
		cmocka_unit_test(test_stdin_json_received_intact),
		cmocka_unit_test(test_exit_75_is_retryable),
		cmocka_unit_test(test_exit_3_is_permanent_with_status),
		cmocka_unit_test(test_signal_is_failure),
		cmocka_unit_test(test_timeout_kills_the_group),
		cmocka_unit_test(test_sigterm_ignored_gets_sigkill),
		cmocka_unit_test(test_leftovers_killed_after_normal_exit),
		cmocka_unit_test(test_large_stdout_is_truncated),
		cmocka_unit_test(test_agent_not_reading_large_stdin),
		cmocka_unit_test(test_environment),
		cmocka_unit_test(test_cancel_stops_a_running_agent),
		cmocka_unit_test(test_stderr_logged_and_redacted),
		cmocka_unit_test(test_invalid_utf8_output_is_sanitized),
		cmocka_unit_test(test_exec_failure),
		cmocka_unit_test(test_no_children_left),
	};

	/* orphans of the agents come to this process, to be checked and reaped */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
		return 1;
	return cmocka_run_group_tests(tests, setup, teardown);
}
