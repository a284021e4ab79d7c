/*
 * e2e.startup_checks: the real flowd's start-up security check, through
 * `flowd --check-config`: production refuses a missing or weak JWT secret
 * and plaintext listeners (unless allowed); development warns and carries
 * on; the secret never appears in the output. And the first admin:
 * `flowd --create-admin` reads the password from stdin, checks its strength,
 * never overwrites an account; without any admin flowd says how to make one.
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

/* flowd --db URL --create-admin with stdin_data. */
static struct run create_admin(const char *url, const char *stdin_data)
{
	char db[600];
	char *argv[] = { (char *)ts_bin("flowd"), db, "--create-admin", "--admin-user=root", NULL };
	struct run r = { -1, NULL, NULL };

	snprintf(db, sizeof(db), "--db=%s", url);
	setenv("FLOW_ENV", "development", 1);
	unsetenv("FLOW_ADMIN_PASSWORD");
	assert_int_equal(ts_run_capture(argv, stdin_data, &r.out, &r.err, &r.status, 60000), 0);
	return r;
}

static void test_create_admin(void **state)
{
	static const char good[] = "Meadow-copper-6612-swift";
	char url[512];
	struct run r;

	ts_skip_without_pg();
	assert_int_equal(ts_create_db(url, sizeof(url)), 0);
	r = create_admin(url, "");
	assert_int_equal(r.status, 2);
	assert_non_null(strstr(r.err, "reads the password from stdin"));
	done(&r);
	r = create_admin(url, "root-password\n");
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "password is rejected"));
	assert_null(strstr(r.err, "root-password"));
	done(&r);
	r = create_admin(url, "Meadow-copper-6612-swift\n");
	assert_int_equal(r.status, 0);
	assert_non_null(strstr(r.err, "created admin root"));
	assert_null(strstr(r.err, good));
	done(&r);
	/* never twice, never a changed password */
	r = create_admin(url, "Another-strong-one-8841\n");
	assert_int_equal(r.status, 1);
	assert_non_null(strstr(r.err, "already exists"));
	done(&r);
	ts_drop_db(url);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_admin),
		cmocka_unit_test(test_production_refuses_weak_secrets),
		cmocka_unit_test(test_production_refuses_plaintext),
		cmocka_unit_test(test_development_warns_and_continues),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
