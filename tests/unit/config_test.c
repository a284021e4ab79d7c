/* unit.config: the settings table - defaults, environment, flags, bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

static int load(struct config *c, char *err, int argc, char **argv)
{
	return config_load(c, argc, argv, err, 512);
}

static int setup(void **state)
{
	unsetenv("FLOW_DB_URL");
	unsetenv("FLOW_THREADS");
	unsetenv("FLOW_LISTEN");
	return 0;
}

static void test_defaults_and_db_required(void **state)
{
	struct config c;
	char err[512];
	char *argv[] = { "flowd", NULL };

	assert_int_equal(load(&c, err, 1, argv), -1);
	assert_non_null(strstr(err, "FLOW_DB_URL"));
	setenv("FLOW_DB_URL", "postgresql://x@127.0.0.1/db", 1);
	assert_int_equal(load(&c, err, 1, argv), 0);
	assert_int_equal(c.threads, 4);
	assert_string_equal(c.listen, "tcp://127.0.0.1:7600");
	assert_string_equal(c.log_level, "info");
	unsetenv("FLOW_DB_URL");
}

static void test_flag_beats_env(void **state)
{
	struct config c;
	char err[512];
	char *argv[] = { "flowd", "--db", "dbname=x", "--threads", "8", NULL };

	setenv("FLOW_THREADS", "2", 1);
	assert_int_equal(load(&c, err, 5, argv), 0);
	assert_int_equal(c.threads, 8);
	assert_string_equal(c.db_url, "dbname=x");
	unsetenv("FLOW_THREADS");
}

static void test_bounds_and_types(void **state)
{
	struct config c;
	char err[512];
	char *zero[] = { "flowd", "--db", "x", "--threads", "0", NULL };
	char *word[] = { "flowd", "--db", "x", "--threads", "many", NULL };
	char *lvl[] = { "flowd", "--db", "x", "--log-level", "loud", NULL };
	char *unk[] = { "flowd", "--db", "x", "--frobnicate", NULL };

	assert_int_equal(load(&c, err, 5, zero), -1);
	assert_non_null(strstr(err, "--threads"));
	assert_non_null(strstr(err, "between 1 and 256"));
	assert_int_equal(load(&c, err, 5, word), -1);
	assert_non_null(strstr(err, "\"many\""));
	assert_int_equal(load(&c, err, 5, lvl), -1);
	assert_non_null(strstr(err, "debug|info|warn|error"));
	assert_int_equal(load(&c, err, 4, unk), -1);
	assert_non_null(strstr(err, "--frobnicate"));
	setenv("FLOW_THREADS", "9999", 1);
	assert_int_equal(load(&c, err, 3, zero), -1);
	assert_non_null(strstr(err, "FLOW_THREADS"));
	unsetenv("FLOW_THREADS");
}

static void test_listen_list(void **state)
{
	struct config c;
	char err[512], buf[1024];
	const char *urls[CONFIG_MAX_LISTEN];
	char *argv[] = { "flowd", "--db", "x", "--listen", "ipc:///tmp/a.sock, tcp://127.0.0.1:1",
			 NULL };

	assert_int_equal(load(&c, err, 5, argv), 0);
	assert_int_equal(config_listen_urls(&c, buf, sizeof(buf), urls), 2);
	assert_string_equal(urls[0], "ipc:///tmp/a.sock");
	assert_string_equal(urls[1], "tcp://127.0.0.1:1");
	char *none[] = { "flowd", "--db", "x", "--listen", " , ", NULL };

	assert_int_equal(load(&c, err, 5, none), -1);
	assert_non_null(strstr(err, "--listen"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_defaults_and_db_required, setup),
		cmocka_unit_test_setup(test_flag_beats_env, setup),
		cmocka_unit_test_setup(test_bounds_and_types, setup),
		cmocka_unit_test_setup(test_listen_list, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
