/*
 * unit.cfgtab: the settings-table engine on a small table of its own:
 * precedence (defaults < configuration file < environment < flags) and the
 * configuration file's format and errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cfgtab.h"

struct cfg {
	char config[256];
	char level[16];
	char name[32];
	long port;
	bool help;
};

#define STR(f) CFGTAB_FIELD_STR(struct cfg, f)
#define NUM(f) CFGTAB_FIELD_LONG(struct cfg, f)

static const struct cfgtab_setting settings[] = {
	{ "config", "T_CONFIG", CFGTAB_STR, STR(config), "", 0, 0, NULL, "settings file" },
	{ "level", "T_LEVEL", CFGTAB_ENUM, STR(level), "info", 0, 0, "debug|info|warn", "level" },
	{ "name", "T_NAME", CFGTAB_STR, STR(name), "anon", 0, 0, NULL, "name" },
	{ "port", "T_PORT", CFGTAB_LONG, NUM(port), "7600", 1, 65535, NULL, "port" },
};
static const struct cfgtab_switch switches[] = {
	{ "help", offsetof(struct cfg, help), "help" },
};
static const struct cfgtab table = { settings, 4, switches, 1 };

static char path[64];

static void write_file(const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int load(struct cfg *c, char *err, int argc, char **argv)
{
	memset(c, 0, sizeof(*c));
	return cfgtab_load(&table, c, argc, argv, err, 256);
}

static int setup(void **state)
{
	int fd;

	snprintf(path, sizeof(path), "/tmp/cfgtab-test-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	close(fd);
	unsetenv("T_CONFIG");
	unsetenv("T_LEVEL");
	unsetenv("T_NAME");
	unsetenv("T_PORT");
	return 0;
}

static int teardown(void **state)
{
	unlink(path);
	return 0;
}

static void test_precedence(void **state)
{
	char err[256], flag[80], *argv[] = { "prog", flag, "--port=9000", NULL };
	struct cfg c;

	write_file("# shared with other programs\n"
		   "export T_LEVEL=debug\n"
		   "OTHER_PROGRAM_SETTING=whatever\n"
		   "  T_NAME = \"from file\"  \n"
		   "T_PORT=8000\n"
		   "\n");
	/* defaults only */
	assert_int_equal(load(&c, err, 1, argv), 0);
	assert_string_equal(c.level, "info");
	assert_int_equal(c.port, 7600);
	/* the file, named by the flag */
	snprintf(flag, sizeof(flag), "--config=%s", path);
	assert_int_equal(load(&c, err, 2, argv), 0);
	assert_string_equal(c.level, "debug");
	assert_string_equal(c.name, "from file");
	assert_int_equal(c.port, 8000);
	/* the environment beats the file, the flag beats both */
	setenv("T_PORT", "8500", 1);
	assert_int_equal(load(&c, err, 2, argv), 0);
	assert_int_equal(c.port, 8500);
	assert_int_equal(load(&c, err, 3, argv), 0);
	assert_int_equal(c.port, 9000);
	unsetenv("T_PORT");
	/* the file, named by its variable */
	setenv("T_CONFIG", path, 1);
	assert_int_equal(load(&c, err, 1, argv), 0);
	assert_string_equal(c.name, "from file");
	unsetenv("T_CONFIG");
}

static void test_file_errors(void **state)
{
	char err[256], flag[80], *argv[] = { "prog", flag, NULL };
	struct cfg c;
	char want[160];

	snprintf(flag, sizeof(flag), "--config=%s", path);
	write_file("T_LEVEL=debug\nT_PORT=99999\n");
	assert_int_equal(load(&c, err, 2, argv), -1);
	snprintf(want, sizeof(want), "%s:2 (T_PORT): \"99999\" is not an integer between 1 and 65535",
		 path);
	assert_string_equal(err, want);
	write_file("T_LEVEL=loud\n");
	assert_int_equal(load(&c, err, 2, argv), -1);
	assert_non_null(strstr(err, ":1 (T_LEVEL): \"loud\" is not one of debug|info|warn"));
	write_file("just words\n");
	assert_int_equal(load(&c, err, 2, argv), -1);
	assert_non_null(strstr(err, ":1: expected NAME=value"));
	snprintf(flag, sizeof(flag), "--config=/nonexistent/flow.env");
	assert_int_equal(load(&c, err, 2, argv), -1);
	assert_non_null(strstr(err, "cannot read the configuration file /nonexistent/flow.env"));
	/* an empty value keeps the default */
	snprintf(flag, sizeof(flag), "--config=%s", path);
	write_file("T_NAME=\nT_PORT=''\n");
	assert_int_equal(load(&c, err, 2, argv), 0);
	assert_string_equal(c.name, "anon");
	assert_int_equal(c.port, 7600);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_file_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
