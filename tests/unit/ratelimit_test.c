/* unit.ratelimit: the sliding-window limiter behind login and admin limits. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ratelimit.h"

#define WINDOW (15 * 60 * 1000)

static void test_sixth_denied(void **state)
{
	ratelimit *rl = ratelimit_new(5, WINDOW, 100);
	uint32_t retry = 12345;

	assert_non_null(rl);
	for (int i = 0; i < 5; i++) {
		assert_true(ratelimit_allow(rl, "login:alice@10.0.0.1", 1000 + i * 1000, &retry));
		assert_int_equal(retry, 0);
	}
	assert_false(ratelimit_allow(rl, "login:alice@10.0.0.1", 6000, &retry));
	assert_true(retry > 0);
	assert_true(retry <= WINDOW);
	/* The oldest event (t=1000) leaves the window at 1000 + WINDOW. */
	assert_int_equal(retry, 1000 + WINDOW - 6000);
	/* Denied attempts do not extend the wait. */
	assert_false(ratelimit_allow(rl, "login:alice@10.0.0.1", 7000, &retry));
	assert_int_equal(retry, 1000 + WINDOW - 7000);
	assert_false(ratelimit_allow(rl, "login:alice@10.0.0.1", 7000, NULL));
	ratelimit_free(rl);
}

static void test_keys_independent(void **state)
{
	ratelimit *rl = ratelimit_new(5, WINDOW, 100);
	uint32_t retry;

	for (int i = 0; i < 5; i++)
		assert_true(ratelimit_allow(rl, "login:alice@10.0.0.1", 0, &retry));
	assert_false(ratelimit_allow(rl, "login:alice@10.0.0.1", 0, &retry));
	/* Another peer, another user, another kind of key: own budgets. */
	assert_true(ratelimit_allow(rl, "login:alice@10.0.0.2", 0, &retry));
	assert_true(ratelimit_allow(rl, "login:bob@10.0.0.1", 0, &retry));
	assert_true(ratelimit_allow(rl, "login-peer:10.0.0.1", 0, &retry));
	assert_int_equal(ratelimit_count(rl), 4);
	ratelimit_free(rl);
}

static void test_window_slides(void **state)
{
	ratelimit *rl = ratelimit_new(5, WINDOW, 100);
	const char *k = "admin:alice";
	uint32_t retry;

	/* Events at 0, 1, 2, 3, 4 minutes. */
	for (int i = 0; i < 5; i++)
		assert_true(ratelimit_allow(rl, k, (int64_t)i * 60000, &retry));
	assert_false(ratelimit_allow(rl, k, WINDOW - 1, &retry));
	assert_int_equal(retry, 1);
	/* At WINDOW the first event has left: exactly one more is allowed. */
	assert_true(ratelimit_allow(rl, k, WINDOW, &retry));
	assert_false(ratelimit_allow(rl, k, WINDOW, &retry));
	assert_int_equal(retry, 60000);
	/* One minute later the second one has left too. */
	assert_true(ratelimit_allow(rl, k, WINDOW + 60000, &retry));
	assert_false(ratelimit_allow(rl, k, WINDOW + 60000, &retry));
	/* After a whole quiet window the full budget is back. */
	for (int i = 0; i < 5; i++)
		assert_true(ratelimit_allow(rl, k, 3 * (int64_t)WINDOW, &retry));
	assert_false(ratelimit_allow(rl, k, 3 * (int64_t)WINDOW, &retry));
	assert_true(retry > 0 && retry <= WINDOW);
	ratelimit_free(rl);
}

static void test_reset(void **state)
{
	ratelimit *rl = ratelimit_new(2, 1000, 10);
	uint32_t retry;

	assert_true(ratelimit_allow(rl, "k", 0, &retry));
	assert_true(ratelimit_allow(rl, "k", 0, &retry));
	assert_false(ratelimit_allow(rl, "k", 0, &retry));
	ratelimit_reset(rl, "k");
	assert_int_equal(ratelimit_count(rl), 0);
	assert_true(ratelimit_allow(rl, "k", 0, &retry));
	ratelimit_reset(rl, "unknown");
	ratelimit_reset(rl, NULL);
	assert_int_equal(ratelimit_count(rl), 1);
	ratelimit_free(rl);
}

static void test_bad_args(void **state)
{
	uint32_t retry = 0;
	char big[RATELIMIT_KEY_MAX + 2];
	ratelimit *rl;

	assert_null(ratelimit_new(0, 1000, 10));
	assert_null(ratelimit_new(1, 0, 10));
	assert_null(ratelimit_new(1, 1000, 0));
	rl = ratelimit_new(1, 1000, 10);
	assert_false(ratelimit_allow(rl, NULL, 0, &retry));
	assert_int_equal(retry, 1000);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_false(ratelimit_allow(rl, big, 0, &retry));
	big[RATELIMIT_KEY_MAX] = '\0';
	assert_true(ratelimit_allow(rl, big, 0, &retry));
	/* A clock that goes backwards never yields a retry beyond the window. */
	assert_false(ratelimit_allow(rl, big, -5000, &retry));
	assert_true(retry >= 1 && retry <= 1000);
	ratelimit_free(rl);
	ratelimit_free(NULL);
}

static void test_eviction_bounded(void **state)
{
	ratelimit *rl = ratelimit_new(3, 60000, 1000);
	uint32_t retry;
	char key[64];

	for (int i = 0; i < 100000; i++) {
		snprintf(key, sizeof(key), "login-peer:10.%d.%d.%d", i >> 16, (i >> 8) & 255,
			 i & 255);
		assert_true(ratelimit_allow(rl, key, i, &retry));
		assert_true(ratelimit_count(rl) <= 1000);
	}
	assert_int_equal(ratelimit_count(rl), 1000);
	/* The most recent keys are still tracked and limited... */
	snprintf(key, sizeof(key), "login-peer:10.%d.%d.%d", 99999 >> 16, (99999 >> 8) & 255,
		 99999 & 255);
	assert_true(ratelimit_allow(rl, key, 100000, &retry));
	assert_true(ratelimit_allow(rl, key, 100000, &retry));
	assert_false(ratelimit_allow(rl, key, 100000, &retry));
	/* ...and every tracked key is still found after all the evictions. */
	for (int i = 99000; i < 100000; i++) {
		if (i == 99999)
			continue;
		snprintf(key, sizeof(key), "login-peer:10.%d.%d.%d", i >> 16, (i >> 8) & 255,
			 i & 255);
		assert_true(ratelimit_allow(rl, key, 100001, &retry));
		assert_true(ratelimit_allow(rl, key, 100001, &retry));
		assert_false(ratelimit_allow(rl, key, 100001, &retry));
	}
	assert_int_equal(ratelimit_count(rl), 1000);
	ratelimit_free(rl);
}

#define THREADS 8
#define TRIES 200

struct worker_arg {
	ratelimit *rl;
	int allowed;
	int other_allowed;
	int id;
};

static void *worker(void *p)
{
	struct worker_arg *a = p;
	char own[32], churn[32];
	uint32_t retry;

	snprintf(own, sizeof(own), "own:%d", a->id);
	for (int i = 0; i < TRIES; i++) {
		if (ratelimit_allow(a->rl, "login:shared@peer", 1000, &retry))
			a->allowed++;
		if (ratelimit_allow(a->rl, own, 1000, &retry))
			a->other_allowed++;
		/* New keys inserted concurrently with the lookups. */
		snprintf(churn, sizeof(churn), "churn:%d:%d", a->id, i);
		(void)ratelimit_allow(a->rl, churn, 1000, &retry);
	}
	return NULL;
}

static void test_concurrent(void **state)
{
	ratelimit *rl = ratelimit_new(7, 60000, 4096);
	pthread_t t[THREADS];
	struct worker_arg args[THREADS];
	int total = 0;

	for (int i = 0; i < THREADS; i++) {
		args[i] = (struct worker_arg){ .rl = rl, .id = i };
		assert_int_equal(pthread_create(&t[i], NULL, worker, &args[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		total += args[i].allowed;
		assert_int_equal(args[i].other_allowed, 7);
	}
	assert_int_equal(total, 7);
	ratelimit_free(rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sixth_denied),  cmocka_unit_test(test_keys_independent),
		cmocka_unit_test(test_window_slides), cmocka_unit_test(test_reset),
		cmocka_unit_test(test_bad_args),      cmocka_unit_test(test_eviction_bounded),
		cmocka_unit_test(test_concurrent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
