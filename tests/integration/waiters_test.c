/*
 * integration.waiters: parked long polls wake on their deadline, on a
 * PostgreSQL notification (as many as items became ready), on a kick (a
 * kick for this flowd's own statement not counted again when its
 * notification arrives), and all at stop - without a thread or connection
 * per parked request.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "req.h"
#include "status.h"
#include "testsupport.h"
#include "waiters.h"

#define N 200

static char url[512];
static struct waiter_node nodes[N];
static int64_t woken_at[N];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int woken;

static void on_wake(struct waiter_node *node, void *arg)
{
	pthread_mutex_lock(&mu);
	woken_at[node - nodes] = req_now_ms();
	woken++;
	pthread_mutex_unlock(&mu);
}

static int woken_count(void)
{
	int n;

	pthread_mutex_lock(&mu);
	n = woken;
	pthread_mutex_unlock(&mu);
	return n;
}

static void reset(void)
{
	pthread_mutex_lock(&mu);
	woken = 0;
	memset(woken_at, 0, sizeof(woken_at));
	pthread_mutex_unlock(&mu);
}

static void wait_for(int n, int timeout_ms)
{
	for (int i = 0; i < timeout_ms / 5 && woken_count() < n; i++)
		ts_sleep_ms(5);
}

static waiters *start(int poll_ms)
{
	struct waiters_ops ops = { on_wake, NULL, poll_ms };
	waiters *w;
	char err[256];

	assert_int_equal(waiters_start(url, &ops, &w, err, sizeof(err)), FLOW_OK);
	ts_sleep_ms(300); /* connected and listening */
	return w;
}

static void test_deadlines(void **state)
{
	waiters *w = start(60000);
	int64_t t0 = req_now_ms();

	reset();
	for (int i = 0; i < 3; i++) {
		nodes[i].until_ms = t0 + 100 * (i + 1);
		waiters_park(w, &nodes[i]);
	}
	assert_int_equal(waiters_count(w), 3);
	wait_for(3, 2000);
	assert_int_equal(woken_count(), 3);
	for (int i = 0; i < 3; i++) {
		assert_true(woken_at[i] >= nodes[i].until_ms);
		assert_true(woken_at[i] < nodes[i].until_ms + 1000);
	}
	waiters_stop(w);
}

static void notify_on(PGconn *pg, const char *payload)
{
	const char *p[1] = { payload };
	PGresult *res =
	    PQexecParams(pg, "SELECT pg_notify('flow_ready', $1)", 1, NULL, p, NULL, NULL, 0);

	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	PQclear(res);
}

/* A notification from a backend of its own. */
static void notify(const char *payload)
{
	PGconn *pg = PQconnectdb(url);

	notify_on(pg, payload);
	PQfinish(pg);
}

static void test_notification_wakes_as_many_as_ready(void **state)
{
	waiters *w = start(60000);
	int64_t t0 = req_now_ms();

	reset();
	for (int i = 0; i < N; i++) {
		nodes[i].until_ms = t0 + 60000;
		waiters_park(w, &nodes[i]);
	}
	notify("5");
	wait_for(5, 2000);
	ts_sleep_ms(100);
	assert_int_equal(woken_count(), 5);
	/* oldest first, within milliseconds */
	for (int i = 0; i < 5; i++) {
		assert_true(woken_at[i] > 0);
		assert_true(woken_at[i] - t0 < 1000);
	}
	assert_int_equal(woken_at[5], 0);
	assert_int_equal(waiters_count(w), N - 5);
	waiters_kick(w, 10);
	assert_int_equal(woken_count(), 15);
	waiters_stop(w); /* wakes the rest */
	assert_int_equal(woken_count(), N);
}

/* Parks N nodes, all far from their deadline. */
static void park_all(waiters *w)
{
	int64_t t0 = req_now_ms();

	reset();
	for (int i = 0; i < N; i++) {
		nodes[i].until_ms = t0 + 60000;
		waiters_park(w, &nodes[i]);
	}
}

/* Waits long enough for a notification to have arrived, then checks. */
static void settle_expect(int woken_now)
{
	wait_for(woken_now, 2000);
	ts_sleep_ms(200);
	assert_int_equal(woken_count(), woken_now);
}

static void test_own_kick_is_not_counted_twice(void **state)
{
	PGconn *own = PQconnectdb(url);
	int pid = PQbackendPID(own);
	waiters *w = start(60000);

	park_all(w);
	/* kick first, its notification after: 3 woken, not 6 */
	waiters_kick_own(pid, 3);
	assert_int_equal(woken_count(), 3);
	notify_on(own, "3");
	settle_expect(3);
	/* the notification first (the pid is known now), the kick after */
	notify_on(own, "2");
	settle_expect(5);
	waiters_kick_own(pid, 2);
	assert_int_equal(woken_count(), 5);
	/* a kick of more than its notification covered wakes the rest */
	notify_on(own, "1");
	settle_expect(6);
	waiters_kick_own(pid, 4);
	assert_int_equal(woken_count(), 9);
	/* another backend's notification counts in full */
	notify("2");
	settle_expect(11);
	/* an unmatched kick expires: a later notification from that pid counts */
	waiters_kick_own(pid, 1);
	assert_int_equal(woken_count(), 12);
	ts_sleep_ms(2100);
	notify_on(own, "4");
	settle_expect(16);
	waiters_stop(w);
	assert_int_equal(woken_count(), N);
	PQfinish(own);
}

static void test_own_kick_with_no_one_parked(void **state)
{
	PGconn *own = PQconnectdb(url);
	int pid = PQbackendPID(own);
	waiters *w = start(60000);

	reset();
	/* a kick that finds no parked claim is not recorded: a claim that
	 * parks before the notification arrives is still woken by it */
	waiters_kick_own(pid, 1);
	nodes[0].until_ms = req_now_ms() + 60000;
	waiters_park(w, &nodes[0]);
	notify_on(own, "1");
	settle_expect(1);
	waiters_stop(w);
	PQfinish(own);
}

static void test_poll_counts_ready_items(void **state)
{
	PGconn *pg = PQconnectdb(url);
	PGresult *res =
	    PQexec(pg, "CREATE TABLE IF NOT EXISTS queue_items (status text,"
		       " run_after timestamptz);"
		       "INSERT INTO queue_items VALUES ('queued', now()), ('queued', now()),"
		       " ('queued', now() + interval '1 hour'), ('completed', now())");
	waiters *w;

	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	PQfinish(pg);
	reset();
	w = start(100);
	for (int i = 0; i < 10; i++) {
		nodes[i].until_ms = req_now_ms() + 60000;
		waiters_park(w, &nodes[i]);
	}
	wait_for(2, 2000);
	ts_sleep_ms(50);
	/* two ready rows: two woken per poll, not all ten at once */
	assert_true(woken_count() >= 2);
	assert_true(woken_count() % 2 == 0);
	waiters_stop(w);
	assert_int_equal(woken_count(), 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deadlines),
		cmocka_unit_test(test_notification_wakes_as_many_as_ready),
		cmocka_unit_test(test_own_kick_is_not_counted_twice),
		cmocka_unit_test(test_own_kick_with_no_one_parked),
		cmocka_unit_test(test_poll_counts_ready_items),
	};
	int rv;

	ts_skip_without_pg();
	if (ts_create_db(url, sizeof(url)) != 0)
		return 1;
	rv = cmocka_run_group_tests(tests, NULL, NULL);
	ts_drop_db(url);
	return rv;
}
