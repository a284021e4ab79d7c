/* unit.worker_config: flow-worker's settings - defaults, environment, flags, bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

/* By path: flowd's config.h has the same name. */
#include "../../worker/config.h"

static const char *const vars[] = {
	"FLOW_URL",
	"FLOW_AGENTS_FILE",
	"FLOW_WORKER_CONCURRENCY",
	"FLOW_WORKER_PREFETCH",
	"FLOW_WORKER_NAME",
	"FLOW_CLAIM_WAIT_MS",
	"FLOW_AGENT_TIMEOUT_S",
	"FLOW_MAX_OUTPUT_BYTES",
	"FLOW_SHUTDOWN_GRACE_MS",
	"FLOW_LOG_LEVEL",
	"FLOW_LOG_FORMAT",
	"FLOW_TOKEN",
	"FLOW_API_KEY",
	"FLOW_AGENT_PASS_ENV",
	NULL,
};

static int clean_env(void **state)
{
	for (int i = 0; vars[i]; i++)
		unsetenv(vars[i]);
	return 0;
}

static int load(struct worker_config *c, char *err, int argc, char **argv)
{
	return worker_config_load(c, argc, argv, err, 512);
}

static void test_defaults(void **state)
{
	struct worker_config c;
	char err[512], want[300];
	char *argv[] = { "flow-worker", NULL };

	assert_int_equal(load(&c, err, 1, argv), 0);
	assert_string_equal(c.url, "tcp://127.0.0.1:7600");
	assert_string_equal(c.agents_file, "");
	assert_int_equal(c.concurrency, 4);
	assert_int_equal(c.prefetch, 0);
	assert_int_equal(c.claim_wait_ms, 20000);
	assert_int_equal(c.agent_timeout_s, 600);
	assert_int_equal(c.kill_grace_ms, 5000);
	assert_int_equal(c.max_output, 65536);
	assert_int_equal(c.shutdown_grace_ms, 10000);
	assert_string_equal(c.log_level, "info");
	assert_string_equal(c.log_format, "text");
	assert_string_equal(c.token, "");
	snprintf(want, sizeof(want), "/flow-worker-%ld", (long)getpid());
	assert_non_null(strstr(c.name, want));
}

static void test_env_and_flags(void **state)
{
	struct worker_config c;
	char err[512];
	char *argv[] = { "flow-worker", "--url",       "ipc:///tmp/f.sock",
			 "--agents",	"/etc/a.conf", "--concurrency",
			 "16",		"--json",      NULL };

	setenv("FLOW_WORKER_CONCURRENCY", "2", 1);
	setenv("FLOW_WORKER_NAME", "w-1", 1);
	setenv("FLOW_CLAIM_WAIT_MS", "500", 1);
	setenv("FLOW_WORKER_PREFETCH", "84", 1);
	setenv("FLOW_API_KEY", "key-1", 1);
	assert_int_equal(load(&c, err, 8, argv), 0);
	assert_int_equal(c.concurrency, 16);
	assert_string_equal(c.url, "ipc:///tmp/f.sock");
	assert_string_equal(c.agents_file, "/etc/a.conf");
	assert_string_equal(c.name, "w-1");
	assert_int_equal(c.claim_wait_ms, 500);
	assert_int_equal(c.prefetch, 84);
	assert_string_equal(c.log_format, "json");
	assert_string_equal(c.token, "key-1");
	setenv("FLOW_TOKEN", "tok-2", 1);
	assert_int_equal(load(&c, err, 1, argv), 0);
	assert_string_equal(c.token, "tok-2");
}

static void test_bounds_and_errors(void **state)
{
	struct worker_config c;
	char err[512];
	char *zero[] = { "flow-worker", "--concurrency", "0", NULL };
	char *word[] = { "flow-worker", "--agent-timeout", "long", NULL };
	char *tok[] = { "flow-worker", "--token", "x", NULL };
	char *extra[] = { "flow-worker", "stray", NULL };
	char *pass[] = { "flow-worker", "--pass-env", "HOME,FLOW_TOKEN", NULL };
	char *badname[] = { "flow-worker", "--pass-env", "A-B", NULL };

	assert_int_equal(load(&c, err, 3, zero), -1);
	assert_string_equal(err, "--concurrency (FLOW_WORKER_CONCURRENCY): \"0\" is not an integer "
				 "between 1 and 1024");
	assert_int_equal(load(&c, err, 3, word), -1);
	assert_non_null(strstr(err, "--agent-timeout (FLOW_AGENT_TIMEOUT_S): \"long\""));
	assert_int_equal(load(&c, err, 3, tok), -1);
	assert_non_null(strstr(err, "unknown or incomplete option --token"));
	assert_int_equal(load(&c, err, 2, extra), -1);
	assert_non_null(strstr(err, "unexpected argument \"stray\""));
	assert_int_equal(load(&c, err, 3, pass), -1);
	assert_non_null(strstr(err, "FLOW_TOKEN cannot be passed"));
	assert_int_equal(load(&c, err, 3, badname), -1);
	assert_non_null(strstr(err, "\"A-B\" is not an environment variable name"));
	setenv("FLOW_MAX_OUTPUT_BYTES", "10", 1);
	assert_int_equal(load(&c, err, 1, extra), -1);
	assert_string_equal(err, "FLOW_MAX_OUTPUT_BYTES: \"10\" is not an integer between 256 and "
				 "1048576");
	setenv("FLOW_MAX_OUTPUT_BYTES", "1024", 1);
	setenv("FLOW_LOG_LEVEL", "loud", 1);
	assert_int_equal(load(&c, err, 1, extra), -1);
	assert_non_null(
	    strstr(err, "FLOW_LOG_LEVEL: \"loud\" is not one of debug|info|warn|error"));
}

static void test_usage_lists_everything(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	assert_non_null(f);
	worker_config_usage(f);
	fclose(f);
	for (int i = 0; vars[i]; i++)
		assert_non_null(strstr(text, vars[i]));
	assert_non_null(strstr(text, "--check-config"));
	assert_non_null(strstr(text, "--concurrency"));
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_defaults, clean_env),
		cmocka_unit_test_setup(test_env_and_flags, clean_env),
		cmocka_unit_test_setup(test_bounds_and_errors, clean_env),
		cmocka_unit_test(test_usage_lists_everything),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
