/* unit.sanitize: UTF-8 repair and secret redaction of agent output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "sanitize.h"

static void check_utf8(const char *in, size_t len, const char *want)
{
	char buf[64];

	memcpy(buf, in, len);
	buf[len] = '\0';
	sanitize_utf8(buf, len);
	assert_memory_equal(buf, want, len);
}

static void test_utf8(void **state)
{
	check_utf8("plain", 5, "plain");
	check_utf8("\xc3\xbc\xe2\x82\xac\xf0\x9f\x98\x80", 9,
		   "\xc3\xbc\xe2\x82\xac\xf0\x9f\x98\x80");
	check_utf8("a\xff"
		   "b",
		   3, "a?b");
	check_utf8("a\0b", 3, "a?b");
	check_utf8("\xc3", 1, "?");		   /* truncated sequence */
	check_utf8("\xc0\xaf", 2, "??");	   /* overlong */
	check_utf8("\xed\xa0\x80", 3, "???");	   /* surrogate */
	check_utf8("\xf4\x90\x80\x80", 4, "????"); /* beyond U+10FFFF */
	check_utf8("\xe2\x82x", 3, "??x");
}

static void test_utf8_cut(void **state)
{
	const char *s = "ab\xe2\x82\xac"; /* "ab€" */

	assert_int_equal(sanitize_utf8_cut(s, 5), 5);
	assert_int_equal(sanitize_utf8_cut(s, 4), 2);
	assert_int_equal(sanitize_utf8_cut(s, 3), 2);
	assert_int_equal(sanitize_utf8_cut(s, 2), 2);
	assert_int_equal(sanitize_utf8_cut("\xf0\x9f\x98\x80", 3), 0);
	assert_int_equal(sanitize_utf8_cut("abc", 3), 3);
}

static void check_secret(const char *in, const char *want)
{
	char out[256];

	sanitize_secrets(in, out, sizeof(out));
	assert_string_equal(out, want);
}

static void test_secrets(void **state)
{
	check_secret("token=abc123 next", "token=*** next");
	check_secret("GITHUB_TOKEN=ghp_xyz", "GITHUB_TOKEN=***");
	check_secret("url?access_token=q1&x=2", "url?access_token=***&x=2");
	check_secret("Password: hunter2", "Password: ***");
	check_secret("{\"password\": \"p a s s\", \"user\": \"bob\"}",
		     "{\"password\": \"***\", \"user\": \"bob\"}");
	check_secret("Authorization: Bearer eyJ.abc.def", "Authorization: Bearer ***");
	check_secret("authorization: Basic dXNlcjpwYXNz", "authorization: Basic ***");
	check_secret("curl -H 'X: bearer sk-123'", "curl -H 'X: bearer ***'");
	check_secret("api_key=k1 apikey:k2 API-KEY = k3", "api_key=*** apikey:*** API-KEY = ***");
	check_secret("client_secret=s3cr3t", "client_secret=***");
	check_secret("postgresql://flow:pw123@db:5432/flow", "postgresql://flow:***@db:5432/flow");
	check_secret("max_tokens: 1000, tokenizer=x", "max_tokens: 1000, tokenizer=x");
	check_secret("token= ", "token= ");
	check_secret("no secrets here", "no secrets here");
	/* flowd's API keys and refresh tokens, bare: the visible id stays */
	check_secret("key flk_3f9a1c2e_Vb7Kq0xYz-1_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456 used",
		     "key flk_3f9a1c2e_*** used");
	check_secret("(flr_42_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789-_xyz)", "(flr_42_***)");
	check_secret("flk_3f9a1c2e alone, xflk_1_aBcDeFgHiJkLmNoPq",
		     "flk_3f9a1c2e alone, xflk_1_aBcDeFgHiJkLmNoPq");
	check_secret("https://example.com:8080/path", "https://example.com:8080/path");
}

static void test_secrets_truncates(void **state)
{
	char out[8];

	sanitize_secrets("0123456789", out, sizeof(out));
	assert_string_equal(out, "0123456");
	sanitize_secrets("token=abcdef", out, sizeof(out));
	assert_string_equal(out, "token=*");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_utf8_cut),
		cmocka_unit_test(test_secrets),
		cmocka_unit_test(test_secrets_truncates),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
