/* unit.agents: the agents file parser of flow-worker. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "agents.h"
#include "testsupport.h"

static char *tmp;

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

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

/* Parses text expecting an error; returns the message. */
static const char *parse_err(const char *text)
{
	static char err[512];
	agents *a = NULL;

	err[0] = '\0';
	assert_int_equal(agents_parse(text, "agents.conf", &a, err, sizeof(err)), -1);
	assert_null(a);
	return err;
}

static void test_good_file(void **state)
{
	const char *text = "# flow-worker agents\n"
			   "\n"
			   "   # indented comment\n"
			   "reviewer.timeout = 900\n"
			   "reviewer = /bin/sh -c true\r\n"
			   "architect=/usr/bin/env   --agent   service-architect   \n"
			   "\t\n";
	const struct agent *ag;
	char err[256];
	agents *a = NULL;

	assert_int_equal(agents_parse(text, "agents.conf", &a, err, sizeof(err)), 0);
	assert_int_equal(agents_count(a), 3);
	ag = agents_find(a, "reviewer");
	assert_non_null(ag);
	assert_string_equal(ag->argv[0], "/bin/sh");
	assert_string_equal(ag->argv[1], "-c");
	assert_string_equal(ag->argv[2], "true");
	assert_null(ag->argv[3]);
	assert_int_equal(ag->timeout_s, 900);
	assert_int_equal(ag->line, 5);
	assert_false(agent_is_builtin(ag));
	ag = agents_find(a, "architect");
	assert_non_null(ag);
	assert_string_equal(ag->argv[0], "/usr/bin/env");
	assert_string_equal(ag->argv[1], "--agent");
	assert_string_equal(ag->argv[2], "service-architect");
	assert_null(ag->argv[3]);
	assert_int_equal(ag->timeout_s, 0);
	assert_string_equal(agents_get(a, 0)->id, "reviewer");
	assert_string_equal(agents_get(a, 1)->id, "architect");
	assert_string_equal(agents_get(a, 2)->id, "noop");
	assert_null(agents_get(a, 3));
	assert_null(agents_find(a, "nobody"));
	agents_free(a);
}

static void test_quoting(void **state)
{
	const char *text = "q = /bin/sh \"arg with spaces\" back\\\"slash a\"b c\"d \\\\x \"\" "
			   "'single' \"tab\tin\"\n";
	const struct agent *ag;
	char err[256];
	agents *a = NULL;

	assert_int_equal(agents_parse(text, "agents.conf", &a, err, sizeof(err)), 0);
	ag = agents_find(a, "q");
	assert_non_null(ag);
	assert_string_equal(ag->argv[1], "arg with spaces");
	assert_string_equal(ag->argv[2], "back\"slash");
	assert_string_equal(ag->argv[3], "ab cd");
	assert_string_equal(ag->argv[4], "\\x");
	assert_string_equal(ag->argv[5], "");
	assert_string_equal(ag->argv[6], "'single'");
	assert_string_equal(ag->argv[7], "tab\tin");
	assert_null(ag->argv[8]);
	agents_free(a);
}

static void test_split(void **state)
{
	char **argv = NULL, err[128];
	int argc = -1;

	assert_int_equal(agents_split("  ", &argv, &argc, err, sizeof(err)), 0);
	assert_int_equal(argc, 0);
	assert_null(argv[0]);
	agents_argv_free(argv);
	assert_int_equal(agents_split("a \"b", &argv, &argc, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "double quote is not closed"));
	assert_int_equal(agents_split("a b\\", &argv, &argc, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "backslash ends the line"));
	assert_int_equal(agents_split("x\\ y z", &argv, &argc, err, sizeof(err)), 0);
	assert_int_equal(argc, 2);
	assert_string_equal(argv[0], "x y");
	assert_string_equal(argv[1], "z");
	agents_argv_free(argv);
}

static void test_errors_name_the_line(void **state)
{
	assert_string_equal(parse_err("# c\n\njust words\n"),
			    "agents.conf:3: expected \"agent-id = /path/to/command args...\" or "
			    "\"agent-id.timeout = SECONDS\"");
	assert_non_null(strstr(parse_err("a = /bin/sh\n# x\na = /bin/sh\n"),
			       "agents.conf:3: agent \"a\" is already defined on line 1"));
	assert_non_null(strstr(parse_err("a = /bin/sh\na.retries = 3\n"),
			       "agents.conf:2: unknown key \"retries\""));
	assert_non_null(strstr(parse_err("bad id = /bin/sh\n"),
			       "agents.conf:1: \"bad id\" is not a valid agent id"));
	assert_non_null(strstr(parse_err("a.b.timeout = 3\n"), "agents.conf:1: unknown key"));
	assert_non_null(strstr(parse_err("a = /bin/sh\na.timeout = soon\n"),
			       "agents.conf:2: timeout \"soon\" is not a whole number"));
	assert_non_null(strstr(parse_err("a = /bin/sh\na.timeout = 0\n"), "between 1 and"));
	assert_non_null(strstr(parse_err("a = /bin/sh\na.timeout = 5\na.timeout = 6\n"),
			       "agents.conf:3: the timeout of \"a\" is already set on line 2"));
	assert_non_null(strstr(parse_err("a = /bin/sh\n\nghost.timeout = 5\n"),
			       "agents.conf:3: timeout for agent \"ghost\", which the file does "
			       "not define"));
	assert_non_null(strstr(parse_err("a = /bin/sh \"open\n"),
			       "agents.conf:1: a double quote is not closed"));
	assert_non_null(
	    strstr(parse_err("\na =   \n"), "agents.conf:2: agent \"a\" has no command"));
	assert_non_null(strstr(parse_err("= /bin/sh\n"), "is not a valid agent id"));
}

static void test_relative_and_bad_commands(void **state)
{
	char path[600], text[800];

	assert_non_null(strstr(parse_err("a = sh -c true\n"),
			       "agents.conf:1: the command \"sh\" is not an absolute path"));
	assert_non_null(strstr(parse_err("a = ./run.sh\n"), "is not an absolute path"));
	assert_non_null(strstr(parse_err("a = /nonexistent/agent\n"),
			       "agents.conf:1: the command /nonexistent/agent: No such file"));
	assert_non_null(strstr(parse_err("x = /tmp\n"), "/tmp is not a regular file"));
	snprintf(path, sizeof(path), "%s/not-executable", tmp);
	write_file(path, "#!/bin/sh\n", 0644);
	snprintf(text, sizeof(text), "# header\nx = %s --flag\n", path);
	assert_non_null(strstr(parse_err(text), "agents.conf:2: the command "));
	assert_non_null(strstr(parse_err(text), "is not executable"));
}

static void test_load_file_and_missing_file(void **state)
{
	char path[600], text[800], err[512];
	const struct agent *ag;
	agents *a = NULL;

	snprintf(path, sizeof(path), "%s/agent.sh", tmp);
	write_file(path, "#!/bin/sh\nexit 0\n", 0755);
	snprintf(text, sizeof(text), "demo = %s hello\ndemo.timeout = 30\n", path);
	snprintf(path, sizeof(path), "%s/agents.conf", tmp);
	write_file(path, text, 0644);
	assert_int_equal(agents_load(path, &a, err, sizeof(err)), 0);
	ag = agents_find(a, "demo");
	assert_non_null(ag);
	assert_int_equal(ag->timeout_s, 30);
	assert_string_equal(ag->argv[1], "hello");
	agents_free(a);

	a = NULL;
	snprintf(path, sizeof(path), "%s/missing.conf", tmp);
	assert_int_equal(agents_load(path, &a, err, sizeof(err)), -1);
	assert_null(a);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "No such file or directory"));

	/* an error in a loaded file names the file */
	snprintf(path, sizeof(path), "%s/bad.conf", tmp);
	write_file(path, "ok = /bin/sh\nbroken\n", 0644);
	assert_int_equal(agents_load(path, &a, err, sizeof(err)), -1);
	snprintf(text, sizeof(text), "%s:2: expected", path);
	assert_non_null(strstr(err, text));
}

static void test_noop_built_in(void **state)
{
	const struct agent *ag;
	char err[256];
	agents *a = NULL;

	assert_int_equal(agents_load(NULL, &a, err, sizeof(err)), 0);
	assert_int_equal(agents_count(a), 1);
	ag = agents_find(a, "noop");
	assert_non_null(ag);
	assert_true(agent_is_builtin(ag));
	assert_null(ag->argv);
	assert_int_equal(ag->line, 0);
	agents_free(a);

	assert_int_equal(agents_load("", &a, err, sizeof(err)), 0);
	assert_int_equal(agents_count(a), 1);
	agents_free(a);

	/* a file may define its own noop, which then runs a process */
	assert_int_equal(
	    agents_parse("noop = /bin/sh -c true\nnoop.timeout = 7\n", "f", &a, err, sizeof(err)),
	    0);
	assert_int_equal(agents_count(a), 1);
	ag = agents_find(a, "noop");
	assert_false(agent_is_builtin(ag));
	assert_int_equal(ag->timeout_s, 7);
	assert_string_equal(ag->argv[0], "/bin/sh");
	agents_free(a);

	/* noop.timeout without a noop line: the built-in has no settings */
	assert_non_null(strstr(parse_err("noop.timeout = 5\n"), "which the file does not define"));
	agents_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_file),
		cmocka_unit_test(test_quoting),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_errors_name_the_line),
		cmocka_unit_test(test_relative_and_bad_commands),
		cmocka_unit_test(test_load_file_and_missing_file),
		cmocka_unit_test(test_noop_built_in),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
