/* unit.log: escaping, levels, parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"

static void test_escape_control_characters(void **state)
{
	char out[128];

	log_escape(out, sizeof(out), "a\nb\tc\"d\\e\x01");
	assert_string_equal(out, "a\\nb\\tc\\\"d\\\\e\\u0001");
}

static void test_escape_forged_line(void **state)
{
	char out[128];

	log_escape(out, sizeof(out), "ok\n2026-01-01 flowd error fake: injected");
	assert_null(strchr(out, '\n'));
}

static void test_escape_truncates(void **state)
{
	char out[16];

	log_escape(out, sizeof(out), "0123456789abcdefghijklmnop");
	assert_true(strlen(out) < sizeof(out));
	assert_non_null(strstr(out, "..."));
}

static void test_levels(void **state)
{
	assert_int_equal(log_level_parse("debug"), LOG_DEBUG);
	assert_int_equal(log_level_parse("warning"), LOG_WARN);
	assert_int_equal(log_level_parse("loud"), -1);
	assert_int_equal(log_level_parse(NULL), -1);
	log_set_level(LOG_WARN);
	assert_false(log_enabled(LOG_INFO));
	assert_true(log_enabled(LOG_ERROR));
	log_set_level(LOG_INFO);
	assert_true(log_enabled(LOG_INFO));
	assert_string_equal(log_level_name(LOG_ERROR), "error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_control_characters),
		cmocka_unit_test(test_escape_forged_line),
		cmocka_unit_test(test_escape_truncates),
		cmocka_unit_test(test_levels),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
