/* unit.log: escaping, levels, parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* Everything logged while fn runs, read back from a temporary stderr. */
static char *capture(void (*fn)(void))
{
	char path[] = "/tmp/flowtest-log-XXXXXX";
	int fd = mkstemp(path), saved = dup(2);
	static char buf[16384];
	ssize_t n;

	assert_true(fd >= 0);
	fflush(stderr);
	dup2(fd, 2);
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	lseek(fd, 0, SEEK_SET);
	n = read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(path);
	return buf;
}

#define JWT "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlLWJ5dGVz"

static void log_secrets(void)
{
	log_set_level(LOG_DEBUG);
	log_info("test.url", "db = postgresql://flow:Sup3rS3cret@db:5432/flow");
	log_info("test.kv", "conninfo host=db password=Sup3rS3cret user=flow");
	log_warn("test.header", "Authorization: Bearer %s", JWT);
	log_error("test.bare", "got token %s from a client", JWT);
	log_debug("test.json", "{\"password\": \"hunter2hunter2\", \"apiKey\": \"k\"}");
	log_info("test.key", "api_key=flk_live_abcdef0123456789");
	log_set_level(LOG_INFO);
}

static void test_secrets_never_logged(void **state)
{
	char *out = capture(log_secrets);

	assert_non_null(strstr(out, "test.url"));
	assert_non_null(strstr(out, "test.key"));
	assert_null(strstr(out, "Sup3rS3cret"));
	assert_null(strstr(out, "hunter2hunter2"));
	assert_null(strstr(out, "eyJ"));
	assert_null(strstr(out, "flk_live_abcdef0123456789"));
	assert_non_null(strstr(out, "postgresql://flow:***@db:5432/flow"));
	assert_non_null(strstr(out, "password=***"));
}

static void log_injection(void)
{
	log_info("test.inject", "name=%s", "x\n2026-01-01T00:00:00.000Z flowd error fake: forged");
}

static void test_no_log_injection(void **state)
{
	char *out = capture(log_injection);

	/* one line only: the newline inside the value is escaped */
	assert_non_null(strchr(out, '\n'));
	assert_null(strchr(strchr(out, '\n') + 1, '\n'));
	assert_non_null(strstr(out, "\\n2026-01-01"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_control_characters),
		cmocka_unit_test(test_escape_forged_line),
		cmocka_unit_test(test_escape_truncates),
		cmocka_unit_test(test_levels),
		cmocka_unit_test(test_secrets_never_logged),
		cmocka_unit_test(test_no_log_injection),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
