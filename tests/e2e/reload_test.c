/*
 * e2e.reload: settings files and SIGHUP. flowd and flow-worker read
 * --config (NAME=value lines) before the environment; SIGHUP loads them
 * again and applies the log level and format, without a restart; a broken
 * file is reported and changes nothing; without a file SIGHUP toggles debug.
 */
#include <setjmp.h>
#include <stdbool.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "testsupport.h"
#include "ts_flowd.h"

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Waits up to 10 s for needle to appear in the file at path. */
static void wait_for_log(const char *path, const char *needle)
{
	for (int i = 0; i < 200; i++) {
		char *log = ts_read_file(path, NULL);
		bool found = log != NULL && strstr(log, needle) != NULL;

		free(log);
		if (found)
			return;
		ts_sleep_ms(50);
	}
	fail_msg("\"%s\" did not appear in %s", needle, path);
}

static void test_flowd_reload(void **state)
{
	char file[600], arg[700];
	char *extra[] = { arg, NULL };
	struct ts_flowd f;

	(void)state;
	ts_skip_without_pg();
	snprintf(file, sizeof(file), "/tmp/flowd-reload-%d.env", (int)getpid());
	write_file(file, "# flowd settings\nFLOW_LOG_LEVEL=warn\nFLOW_WORKER_NAME=ignored\n");
	snprintf(arg, sizeof(arg), "--config=%s", file);
	assert_int_equal(ts_flowd_start(&f, NULL, extra), 0);
	/* warn level: the ready line (info) was not logged */
	{
		char *log = ts_read_file(f.log_path, NULL);

		assert_null(strstr(log, "flowd.ready"));
		free(log);
	}
	write_file(file, "FLOW_LOG_LEVEL=debug\nFLOW_LOG_FORMAT=json\n");
	assert_int_equal(kill(f.pid, SIGHUP), 0);
	wait_for_log(f.log_path, "\"id\":\"flowd.reload\"");
	/* debug and json now: a call is logged as a JSON rpc.done line */
	{
		char *argv[] = { (char *)ts_bin("flowctl"), "--url", f.url, "projects", NULL };
		int status;

		assert_int_equal(ts_run_capture(argv, NULL, NULL, NULL, &status, 30000), 0);
		assert_int_equal(status, 0);
	}
	wait_for_log(f.log_path, "\"id\":\"rpc.done\"");
	/* a broken file changes nothing and says why */
	write_file(file, "FLOW_LOG_LEVEL=loud\n");
	assert_int_equal(kill(f.pid, SIGHUP), 0);
	wait_for_log(f.log_path, "settings not reloaded");
	assert_int_equal(ts_flowd_stop(&f), 0);
	unlink(file);
}

static void test_worker_reload_and_toggle(void **state)
{
	char file[600], arg[700], agents[600], wlog[700];
	char *extra[] = { arg, NULL };
	struct ts_flowd f;
	pid_t w;

	(void)state;
	ts_skip_without_pg();
	assert_int_equal(ts_flowd_start(&f, NULL, NULL), 0);
	snprintf(file, sizeof(file), "%s/worker.env", f.dir);
	snprintf(agents, sizeof(agents), "%s/agents.conf", f.dir);
	write_file(agents, "# only the built-in noop\n");
	write_file(file, "FLOW_LOG_LEVEL=info\nFLOW_DB_URL=ignored-by-workers\n");
	snprintf(arg, sizeof(arg), "--config=%s", file);
	w = ts_worker_start(&f, "reloader", agents, 1, extra);
	assert_true(w > 0);
	snprintf(wlog, sizeof(wlog), "%s/reloader.log", f.dir);
	wait_for_log(wlog, "worker.registered");
	write_file(file, "FLOW_LOG_LEVEL=debug\n");
	assert_int_equal(kill(w, SIGHUP), 0);
	wait_for_log(wlog, "settings reloaded from");
	wait_for_log(wlog, "log level debug");
	/* flowd without --config: SIGHUP toggles debug */
	assert_int_equal(kill(f.pid, SIGHUP), 0);
	wait_for_log(f.log_path, "SIGHUP: log level is now debug");
	assert_int_equal(kill(f.pid, SIGHUP), 0);
	wait_for_log(f.log_path, "SIGHUP: log level is now info");
	assert_int_equal(ts_flowd_stop(&f), 0); /* stops the worker too */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flowd_reload),
		cmocka_unit_test(test_worker_reload_and_toggle),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
