/*
 * e2e.startup_checks: the real flowd's start-up security check, through
 * `flowd --check-config`: production refuses a missing or weak JWT secret
 * and plaintext listeners (unless allowed); development warns and carries
 * on; the secret never appears in the output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testsupport.h"

#define STRONG "q8VnZ3kT0pWmL2xR7cYbH5sJ9dF4gA1eN6uQ0iO3wE8rT"

struct run {
	int status;
	char *out, *err;
};

static struct run flowd(const char *env, const char *secret, const char *listen,
			const char *allow)
{
	char *argv[] = { (char *)ts_bin("flowd"), "--db=dbname=unused", "--check-config",
			 (char *)listen, NULL };
	struct run r = { -1, NULL, NULL };

	setenv("FLOW_ENV", env, 1);
	if (secret)
		setenv("FLOW_JWT_SECRET", secret, 1);
	else
		unsetenv("FLOW_JWT_SECRET");
	if (allow)
		setenv("FLOW_ALLOW_PLAINTEXT", allow, 1);
	else
		unsetenv("FLOW_ALLOW_PLAINTEXT");
	assert_int_equal(ts_run_capture(argv, NULL, &r.out, &r.err, &r.status, 30000), 0);
	return r;
}

static void done(struct run *r)
{
	free(r->out);
	free(r->err);
}

static void test_production_refuses_weak_secrets(void **state)
{
	static const char *weak[] = { "secret", "changeme", "dev-secret-please-change-in-production",
				      "change-this-to-a-long-random-secret",
				      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "short-but-random-7Yq" };

	for (size_t i = 0; i < sizeof(weak) / sizeof(weak[0]); i++) {
		struct run r = flowd("production", weak[i], "--listen=ipc:///tmp/x.sock", NULL);

		assert_int_equal(r.status, 1);
		assert_non_null(strstr(r.err, "token signing key: CRITICAL"));
		assert_non_null(strstr(r.err, "critical security check"));
		if (strlen(weak[i]) > 6) /* "secret" is also an ordinary word */
			assert_null(strstr(r.err, weak[i])); /* never echoed */
		done(&r);
	}
	struct run r = flowd("production", NULL, "--listen=ipc:///tmp/x.sock", NULL);

	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "FLOW_JWT_SECRET is not set"));
	done(&r);
}

static void test_production_refuses_plaintext(void **state)
{
	struct run r = flowd("production", STRONG, "--listen=tcp://127.0.0.1:7600", NULL);

	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "has no TLS in production"));
	assert_null(strstr(r.err, STRONG));
	done(&r);
	r = flowd("production", STRONG, "--listen=tcp://127.0.0.1:7600", "1");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.out, "configuration is valid"));
	assert_non_null(strstr(r.err, "all checks passed (production)"));
	assert_null(strstr(r.err, STRONG));
	done(&r);
}

static void test_development_warns_and_continues(void **state)
{
	struct run r = flowd("development", NULL, "--listen=tcp://127.0.0.1:7600", NULL);

	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.err, "random per-process key"));
	done(&r);
	r = flowd("development", "secret", "--listen=tcp://0.0.0.0:7600", NULL);
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.err, "published default"));
	assert_non_null(strstr(r.err, "reachable off this host without TLS"));
	done(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_production_refuses_weak_secrets),
		cmocka_unit_test(test_production_refuses_plaintext),
		cmocka_unit_test(test_development_warns_and_continues),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
