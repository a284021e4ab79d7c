/*
 * integration.migrate: migrations applied by several flowd at once, on one
 * fresh database, each from its own connection: every migration is applied
 * exactly once, all callers succeed, and a second run applies nothing.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "status.h"
#include "store/migrate.h"
#include "store/store.h"
#include "testsupport.h"

#define RACERS 4

static char url[512];

struct racer {
	int rv;
	int applied;
	char err[512];
};

static void *race(void *arg)
{
	struct racer *me = arg;
	store_conn *c = NULL;

	me->rv = store_open(url, &c, me->err, sizeof(me->err));
	if (me->rv == FLOW_OK)
		me->rv = store_migrate(store_pg(c), &me->applied, me->err, sizeof(me->err));
	store_close(c);
	return NULL;
}

static int64_t scalar(PGconn *pg, const char *sql)
{
	PGresult *res = PQexec(pg, sql);
	int64_t v;

	assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
	v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return v;
}

static void test_concurrent_migrations_apply_once(void **state)
{
	pthread_t t[RACERS];
	struct racer r[RACERS] = { 0 };
	int total = 0;
	store_conn *c;
	char err[256];

	assert_int_equal(ts_create_db(url, sizeof(url)), 0);
	for (int i = 0; i < RACERS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
	for (int i = 0; i < RACERS; i++) {
		pthread_join(t[i], NULL);
		if (r[i].rv != FLOW_OK)
			fail_msg("racer %d: %s", i, r[i].err);
		total += r[i].applied;
	}
	assert_int_equal(total, store_schema_target());
	assert_int_equal(store_open(url, &c, err, sizeof(err)), FLOW_OK);
	assert_int_equal(store_schema_version(store_pg(c)), store_schema_target());
	assert_int_equal(scalar(store_pg(c), "SELECT count(*) FROM schema_migrations"),
			 store_schema_target());
	/* Running again applies nothing. */
	assert_int_equal(store_migrate(store_pg(c), &total, err, sizeof(err)), FLOW_OK);
	assert_int_equal(total, 0);
	store_close(c);
	ts_drop_db(url);
}

static void test_newer_schema_is_refused(void **state)
{
	store_conn *c;
	char err[512];
	int applied;
	PGresult *res;

	assert_int_equal(ts_create_db(url, sizeof(url)), 0);
	assert_int_equal(store_open(url, &c, err, sizeof(err)), FLOW_OK);
	assert_int_equal(store_migrate(store_pg(c), &applied, err, sizeof(err)), FLOW_OK);
	res = PQexec(store_pg(c), "INSERT INTO schema_migrations (version, name) VALUES (9999, 'future')");
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	assert_int_equal(store_migrate(store_pg(c), &applied, err, sizeof(err)),
			 FLOW_FAILED_PRECONDITION);
	assert_non_null(strstr(err, "newer than this flowd"));
	store_close(c);
	ts_drop_db(url);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_concurrent_migrations_apply_once),
		cmocka_unit_test(test_newer_schema_is_refused),
	};
	ts_skip_without_pg();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
