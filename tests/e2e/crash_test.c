/*
 * e2e.crash: killing flowd with SIGKILL in the middle of a run, and
 * restarting PostgreSQL under a running system. Workers keep going by
 * themselves; every item still ends completed, none is lost.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "testsupport.h"
#include "ts_flowd.h"

static char *const flowd_args[] = { "--rescue-interval=200", "--retry-base=100",
				    "--retry-max=500", "--claim-poll=200", NULL };

static int64_t sql(const char *db, const char *q)
{
	PGconn *pg = PQconnectdb(db);
	PGresult *res = PQexec(pg, q);
	int64_t v = -1;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0)
		v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	PQfinish(pg);
	return v;
}

/* The first value of q as text, in a static buffer ("" on error). */
static const char *sql_text(const char *db, const char *q)
{
	static char buf[512];
	PGconn *pg = PQconnectdb(db);
	PGresult *res = PQexec(pg, q);

	buf[0] = '\0';
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0)
		snprintf(buf, sizeof(buf), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	PQfinish(pg);
	return buf;
}

static int wait_count(const char *db, const char *q, int64_t want, int timeout_ms)
{
	for (int i = 0; i < timeout_ms / 100; i++) {
		if (sql(db, q) == want)
			return 0;
		ts_sleep_ms(100);
	}
	return -1;
}

/* A project, a queue (lease 2 s) and n task items for agent "work", each
 * with 10 attempts: on a loaded machine a lease may expire more than once
 * around a restart, and what this test checks is that nothing is lost. */
static void seed(const struct ts_flowd *f, int n)
{
	char q[1024];
	PGconn *pg = PQconnectdb(f->db_url);
	PGresult *res;

	snprintf(q, sizeof(q),
		 "WITH p AS (INSERT INTO projects (name) VALUES ('crash') RETURNING id),"
		 " q AS (INSERT INTO queues (project_id, name, max_parallel_items, lease_seconds)"
		 "       SELECT id, 'crash', 4, 2 FROM p RETURNING id, project_id),"
		 " t AS (INSERT INTO tickets (project_id, title) SELECT project_id, 't' FROM q"
		 "       RETURNING id),"
		 " k AS (INSERT INTO tasks (ticket_id, content, agent_id, order_index)"
		 "       SELECT t.id, 'k' || g, 'work', g FROM t, generate_series(1, %d) g"
		 "       RETURNING id, ticket_id)"
		 " INSERT INTO queue_items (queue_id, ticket_id, task_id, agent_id, max_attempts)"
		 " SELECT q.id, k.ticket_id, k.id, 'work', 10 FROM q, k",
		 n);
	res = PQexec(pg, q);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		fail_msg("seed: %s", PQerrorMessage(pg));
	PQclear(res);
	PQfinish(pg);
}

static pid_t worker(const struct ts_flowd *f, const char *name)
{
	char conf[1024], path[700];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s.conf", f->dir, name);
	snprintf(conf, sizeof(conf), "work = %s sleep 0.05\n", ts_src("tests/agents/test-agent"));
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(conf, fp);
	fclose(fp);
	return ts_worker_start(f, name, path, 4, NULL);
}

#define ALL_DONE "SELECT count(*) FROM queue_items WHERE status = 'completed'"

static void finish(struct ts_flowd *f, pid_t w1, pid_t w2, int n)
{
	int status;

	if (wait_count(f->db_url, ALL_DONE, n, 60000) != 0)
		fail_msg("not all %d items completed; by status: %s", n,
			 sql_text(f->db_url, "SELECT string_agg(status || '=' || c, ' ')"
					     " FROM (SELECT status, count(*) c FROM queue_items"
					     "       GROUP BY status) s"));
	assert_int_equal(sql(f->db_url, "SELECT count(*) FROM queue_items WHERE status <> 'completed'"),
			 0);
	assert_int_equal(sql(f->db_url, "SELECT count(*) FROM tasks WHERE status = 'completed'"), n);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(ts_terminate(i ? w2 : w1, 20000, &status), 0);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
}

static void test_flowd_killed_mid_run(void **state)
{
	struct ts_flowd f;
	enum { N = 200 };
	pid_t w1, w2;

	assert_int_equal(ts_flowd_start(&f, NULL, flowd_args), 0);
	seed(&f, N);
	w1 = worker(&f, "w1");
	w2 = worker(&f, "w2");
	assert_int_equal(wait_count(f.db_url,
				    "SELECT (count(*) >= 20)::int FROM queue_items WHERE status = 'completed'",
				    1, 30000), 0);
	ts_kill(f.pid, SIGKILL);
	ts_wait_exit(f.pid, 5000, NULL);
	ts_sleep_ms(1000); /* workers notice, keep their agents, retry */
	assert_int_equal(ts_flowd_restart(&f), 0);
	finish(&f, w1, w2, N);
	assert_int_equal(ts_flowd_stop(&f), 0);
}

static void pg(const char *action, const char *dir, char *url, size_t len)
{
	char *argv[] = { (char *)ts_src("scripts/pg.sh"), (char *)action, (char *)dir, NULL };
	char *out = NULL;
	int status = -1;

	assert_int_equal(ts_run_capture(argv, NULL, &out, NULL, &status, 120000), 0);
	assert_int_equal(status, 0);
	if (url != NULL) {
		out[strcspn(out, "\n")] = '\0';
		snprintf(url, len, "%s", out);
	}
	free(out);
}

static void test_database_restarted_mid_run(void **state)
{
	char *dir = ts_tmpdir(), pgdir[600], url[512];
	struct ts_flowd f;
	enum { N = 200 };
	pid_t w1, w2;

	snprintf(pgdir, sizeof(pgdir), "%s/pg", dir);
	pg("start", pgdir, url, sizeof(url));
	assert_int_equal(ts_flowd_start(&f, url, flowd_args), 0);
	seed(&f, N);
	w1 = worker(&f, "w1");
	w2 = worker(&f, "w2");
	assert_int_equal(wait_count(f.db_url,
				    "SELECT (count(*) >= 20)::int FROM queue_items WHERE status = 'completed'",
				    1, 30000), 0);
	pg("halt", pgdir, NULL, 0);
	ts_sleep_ms(2000);
	pg("start", pgdir, NULL, 0);
	finish(&f, w1, w2, N);
	assert_int_equal(ts_flowd_stop(&f), 0);
	pg("stop", pgdir, NULL, 0);
	ts_rmrf(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flowd_killed_mid_run),
		cmocka_unit_test(test_database_restarted_mid_run),
	};
	ts_skip_without_pg();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
