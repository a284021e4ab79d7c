/*
 * integration.metrics: flowd's metrics module, the store queries behind
 * /metrics and /readyz, and the HTTP server in this process, against a real
 * PostgreSQL.
 *
 *  - the text exposition of fake figures: well formed (ts_prom.h checks
 *    # TYPE lines, label escaping, cumulative histograms), and the values
 *    are the ones recorded;
 *  - the method table, --http-listen parsing and its checks in the config;
 *  - store_metrics_collect agrees with GetQueueStats, also after the
 *    history prune folded items into queue_item_counters;
 *  - http_start: /healthz /readyz /metrics, 404, 405, HEAD, /readyz 503
 *    for a schema at another version and for an unreachable database
 *    (where /metrics still answers, with flowd_up{component="database"} 0).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "flow/v1/flow_manager.pb-c.h"
#include "http.h"
#include "metrics.h"
#include "rpc.h"
#include "services/handlers.h"
#include "status.h"
#include "store/metrics.h"
#include "store/migrate.h"
#include "testsupport.h"
#include "ts_prom.h"
#include "ts_store.h"

#define GET_PROJECT "/flow.v1.ProjectManager/GetProject"
#define CREATE_TICKET "/flow.v1.FlowManager/CreateTicket"

static void parse_ok(const char *text, struct ts_prom *p)
{
	if (ts_prom_parse(text, p) != 0)
		fail_msg("exposition not well formed: %s\n%s", p->err, text);
}

/* ---- no database needed ---- */

static void test_method_table(void **state)
{
	char path[RPC_MAX_METHOD_LEN];
	int seen[256] = { 0 };

	assert_int_equal(metrics_method(NULL), METRICS_METHOD_UNKNOWN);
	assert_int_equal(metrics_method("/flow.v1.Nope/GetProject"), METRICS_METHOD_UNKNOWN);
	assert_int_equal(metrics_method("-"), METRICS_METHOD_UNKNOWN);
	assert_int_equal(metrics_method(""), METRICS_METHOD_UNKNOWN);
	/* every method flowd serves has an id of its own */
	for (size_t s = 0; rpc_services[s] != NULL; s++)
		for (unsigned i = 0; i < rpc_services[s]->n_methods; i++) {
			int id;

			assert_int_equal(rpc_method_path(rpc_services[s],
							 &rpc_services[s]->methods[i], path,
							 sizeof(path)),
					 0);
			id = metrics_method(path);
			assert_true(id > 0 && id < 256);
			assert_int_equal(seen[id], 0);
			seen[id] = 1;
		}
}

static void test_exposition(void **state)
{
	struct store_queue_counts q[2] = {
		{ 7, 3, { 1, 2, 30, 4, 5, 6 } },
		{ 9, 3, { 0, 0, 12, 0, 0, 1 } },
	};
	struct store_metrics_snapshot db = { 6, 2, q, 2 };
	struct metrics_info in = { "1.2.3-\"x\"\\y\nz", 6, 4, &db };
	int gp = metrics_method(GET_PROJECT), ct = metrics_method(CREATE_TICKET), n;
	struct ts_prom p;
	char *text;
	size_t len;

	metrics_reset();
	metrics_rpc(gp, FLOW_OK, 500);		   /* le 0.001 */
	metrics_rpc(gp, FLOW_NOT_FOUND, 3000);	   /* le 0.005 */
	metrics_rpc(gp, FLOW_NOT_FOUND, 20000000); /* +Inf only */
	metrics_rpc(ct, FLOW_OK, 1000);		   /* exactly 0.001: in that bucket */
	metrics_rpc(metrics_method("/evil\"path\n"), FLOW_UNIMPLEMENTED, 10);
	metrics_rpc(ct, 99, 10); /* a code out of range counts as UNKNOWN */
	metrics_pool_open(3);
	metrics_pool_busy(1);
	metrics_pool_wait(50);
	metrics_pool_wait(7000000);
	metrics_parked(2);
	metrics_parked(-1);
	metrics_leases_expired(5);
	assert_int_equal(metrics_render(&in, &text, &len), 0);
	assert_int_equal(strlen(text), len);
	parse_ok(text, &p);

	/* the version label is escaped (and comes back as it was) */
	assert_non_null(strstr(text, "version=\"1.2.3-\\\"x\\\"\\\\y\\nz\""));
	assert_int_equal(
	    ts_prom_sum(&p, &n, "flowd_build_info", "version", in.version, "schema", "6", NULL), 1);
	assert_int_equal(n, 1);
	assert_int_equal(ts_prom_sum(&p, NULL, "flowd_up", "component", "database", NULL), 1);
	assert_int_equal(ts_prom_sum(&p, NULL, "flowd_rpc_requests_total", "method", GET_PROJECT,
				     "code", "NOT_FOUND", NULL),
			 2);
	assert_int_equal(ts_prom_sum(&p, NULL, "flowd_rpc_requests_total", "method", GET_PROJECT,
				     "code", "OK", NULL),
			 1);
	assert_int_equal(ts_prom_sum(&p, NULL, "flowd_rpc_requests_total", "method", "unknown",
				     "code", "UNIMPLEMENTED", NULL),
			 1);
	assert_int_equal(ts_prom_sum(&p, NULL, "flowd_rpc_requests_total", "method", CREATE_TICKET,
				     "code", "UNKNOWN", NULL),
			 1);
	assert_int_equal(
	    ts_prom_sum(&p, NULL, "flowd_rpc_duration_seconds_count", "method", GET_PROJECT, NULL),
	    3);
	assert_int_equal(ts_prom_sum(&p, NULL, "flowd_rpc_duration_seconds_bucket", "method",
				     GET_PROJECT, "le", "0.001", NULL),
			 1);
	assert_int_equal(ts_prom_sum(&p, NULL, "flowd_rpc_duration_seconds_bucket", "method",
				     GET_PROJECT, "le", "0.005", NULL),
			 2);
	assert_int_equal(ts_prom_sum(&p, NULL, "flowd_rpc_duration_seconds_bucket", "method",
				     GET_PROJECT, "le", "10", NULL),
			 2);
	assert_int_equal(ts_prom_sum(&p, NULL, "flowd_rpc_duration_seconds_bucket", "method",
				     CREATE_TICKET, "le", "0.001", NULL),
			 2);
	assert_true(ts_prom_sum(&p, NULL, "flowd_rpc_duration_seconds_sum", "method", GET_PROJECT,
				NULL) > 20.0);
	assert_int_equal(
	    ts_prom_sum(&p, NULL, "flowd_db_pool_connections", "state", "in_use", NULL), 1);
	assert_int_equal(ts_prom_sum(&p, NULL, "flowd_db_pool_connections", "state", "idle", NULL),
			 2);
	assert_int_equal(ts_prom_sum(&p, NULL, "flowd_db_pool_max_connections", NULL), 4);
	assert_int_equal(ts_prom_sum(&p, NULL, "flowd_db_pool_wait_seconds_count", NULL), 2);
	assert_int_equal(
	    ts_prom_sum(&p, NULL, "flowd_db_pool_wait_seconds_bucket", "le", "0.0001", NULL), 1);
	assert_int_equal(ts_prom_sum(&p, NULL, "flowd_parked_requests", NULL), 1);
	assert_int_equal(ts_prom_sum(&p, NULL, "flowd_leases_expired_total", NULL), 5);
	/* from the database figures */
	assert_int_equal(ts_prom_sum(&p, &n, "flowd_queue_items", "project", "3", "queue", "7",
				     "status", "completed", NULL),
			 30);
	assert_int_equal(n, 1);
	assert_int_equal(ts_prom_sum(&p, &n, "flowd_queue_items", NULL),
			 1 + 2 + 30 + 4 + 5 + 6 + 13);
	assert_int_equal(n, 12);
	assert_int_equal(ts_prom_sum(&p, NULL, "flowd_items_completed_total", NULL), 42);
	assert_int_equal(ts_prom_sum(&p, NULL, "flowd_items_failed_total", NULL), 4);
	assert_int_equal(ts_prom_sum(&p, NULL, "flowd_items_dead_total", NULL), 7);
	assert_int_equal(ts_prom_sum(&p, NULL, "flowd_workers_connected", NULL), 2);
	assert_int_equal(ts_prom_sum(&p, NULL, "flowd_db_schema_version", NULL), 6);
	ts_prom_free(&p);
	free(text);

	/* without the database: flowd_up 0, the process figures only */
	in.db = NULL;
	assert_int_equal(metrics_render(&in, &text, &len), 0);
	parse_ok(text, &p);
	assert_int_equal(ts_prom_sum(&p, &n, "flowd_up", "component", "database", NULL), 0);
	assert_int_equal(n, 1);
	ts_prom_sum(&p, &n, "flowd_queue_items", NULL);
	assert_int_equal(n, 0);
	ts_prom_sum(&p, &n, "flowd_items_completed_total", NULL);
	assert_int_equal(n, 0);
	assert_int_equal(ts_prom_sum(&p, NULL, "flowd_rpc_requests_total", NULL), 6);
	ts_prom_free(&p);
	free(text);
	metrics_reset();
}

/* The checker itself refuses what is not well formed. */
static void test_checker_catches_mistakes(void **state)
{
	static const char *const bad[] = {
		"a_total 1\n",			      /* no TYPE */
		"# TYPE a counter\na{x=\"\\q\"} 1\n", /* bad escape */
		"# TYPE a counter\na{x=\"1\"} one\n", /* bad value */
		"# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\n"
		"h_count 1\n", /* not cumulative */
		"# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",    /* no +Inf */
		"# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n", /* count */
		"# TYPE a gauge\n# TYPE b gauge\na 1\nb 1\na 2\n", /* not together */
		"# TYPE a gauge\na 1",				   /* no newline */
	};
	struct ts_prom p;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(ts_prom_parse(bad[i], &p), -1);
		ts_prom_free(&p);
	}
	assert_int_equal(ts_prom_parse("# TYPE h histogram\nh_bucket{a=\"x\",le=\"1\"} 1\n"
				       "h_bucket{a=\"x\",le=\"+Inf\"} 2\nh_sum{a=\"x\"} 1\n"
				       "h_count{a=\"x\"} 2\n",
				       &p),
			 0);
	ts_prom_free(&p);
}

static void test_http_listen_setting(void **state)
{
	static const char *const good[][2] = {
		{ "127.0.0.1:9464", "http://127.0.0.1:9464" },
		{ "[::1]:9464", "http://[::1]:9464" },
		{ "0.0.0.0:1", "http://0.0.0.0:1" },
		{ "localhost:65535", "http://localhost:65535" },
		{ "http://10.0.0.2:80", "http://10.0.0.2:80" },
	};
	static const char *const bad[] = {
		"9464",
		":9464",
		"127.0.0.1",
		"127.0.0.1:0",
		"127.0.0.1:65536",
		"127.0.0.1:94x",
		"::1:9464",
		"[::1]9464",
		"[zz]:9464",
		"host name:9464",
		"127.0.0.1:9464/",
		"tcp://127.0.0.1:9464",
		"",
	};
	char url[300], err[512];
	int port = 0;
	struct config c;
	char *ok[] = { "flowd", "--db", "x", "--http-listen", "[::1]:9464", NULL };
	char *off[] = { "flowd", "--db", "x", NULL };
	char *wrong[] = { "flowd", "--db", "x", "--http-listen", "9464", NULL };
	char *clash[] = { "flowd",	   "--db",	   "x", "--listen", "tcp://127.0.0.1:7600",
			  "--http-listen", "0.0.0.0:7600", NULL };

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(http_listen_url(good[i][0], url, sizeof(url), &port), 0);
		assert_string_equal(url, good[i][1]);
	}
	assert_int_equal(port, 80);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (http_listen_url(bad[i], url, sizeof(url), NULL) != -1)
			fail_msg("accepted --http-listen %s", bad[i]);

	unsetenv("FLOW_HTTP_LISTEN");
	assert_int_equal(config_load(&c, 5, ok, err, sizeof(err)), 0);
	assert_string_equal(c.http_listen, "[::1]:9464");
	assert_int_equal(config_load(&c, 3, off, err, sizeof(err)), 0);
	assert_string_equal(c.http_listen, ""); /* off by default */
	assert_int_equal(config_load(&c, 5, wrong, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--http-listen (FLOW_HTTP_LISTEN)"));
	assert_int_equal(config_load(&c, 7, clash, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "port of its own"));
}

/* ---- the database ---- */

static int64_t queued_task(int64_t project, int64_t queue)
{
	int64_t t =
	    ts_insert_task(ts_r, ts_insert_ticket(ts_r, project, 5, NULL, NULL), 0, NULL, NULL);
	Flow__V1__EnqueueResponse *res;

	assert_int_equal(ts_enqueue_task(ts_r, queue, t, -1, &res), FLOW_OK);
	return res->items[0]->id;
}

/* Every status of the queue: the snapshot says what GetQueueStats says. */
static void check_against_stats(int64_t queue)
{
	Flow__V1__GetQueueStatsRequest rq = FLOW__V1__GET_QUEUE_STATS_REQUEST__INIT;
	Flow__V1__QueueStats *st;
	struct store_metrics_snapshot snap;
	store_metrics_conn *c;
	const struct store_queue_counts *q = NULL;
	char err[512];

	rq.has_queue_id = 1;
	rq.queue_id = queue;
	assert_int_equal(ts_call(ts_r, h_get_queue_stats, &rq, &st), FLOW_OK);
	assert_int_equal(store_metrics_open(ts_db_url, 2000, &c, err, sizeof(err)), FLOW_OK);
	if (store_metrics_collect(c, 60, &snap, err, sizeof(err)) != FLOW_OK)
		fail_msg("collect: %s", err);
	for (size_t i = 0; i < snap.n_queues; i++)
		if (snap.queues[i].queue_id == queue)
			q = &snap.queues[i];
	assert_non_null(q);
	assert_int_equal(snap.schema, store_schema_target());
	assert_int_equal(q->n[STORE_ITEM_QUEUED], st->queued_items);
	assert_int_equal(q->n[STORE_ITEM_IN_PROGRESS], st->in_progress_items);
	assert_int_equal(q->n[STORE_ITEM_COMPLETED], st->completed_items);
	assert_int_equal(q->n[STORE_ITEM_FAILED], st->failed_items);
	assert_int_equal(q->n[STORE_ITEM_CANCELLED], st->cancelled_items);
	assert_int_equal(q->n[STORE_ITEM_DEAD], st->dead_items);
	store_metrics_snapshot_free(&snap);
	store_metrics_close(c);
}

static void test_store_snapshot(void **state)
{
	int64_t project = ts_insert_project(ts_r);
	int64_t queue = ts_create_queue(ts_r, project, "metrics", 10);
	int64_t dead, cancel;
	Flow__V1__CancelItemsRequest cr = FLOW__V1__CANCEL_ITEMS_REQUEST__INIT;
	Flow__V1__GetNextResponse *next;
	struct store_metrics_snapshot snap;
	store_metrics_conn *c;
	char err[512];
	int version = 0;

	for (int i = 0; i < 6; i++)
		queued_task(project, queue);
	next = ts_get_next(ts_r, queue, NULL);
	assert_int_equal(ts_complete_item(ts_r, next->item->id, "done", NULL, NULL), FLOW_OK);
	next = ts_get_next(ts_r, queue, NULL);
	assert_int_equal(ts_complete_item(ts_r, next->item->id, "done", NULL, NULL), FLOW_OK);
	next = ts_get_next(ts_r, queue, NULL);
	assert_int_equal(ts_fail_item(ts_r, next->item->id, "broken", NULL), FLOW_OK);
	next = ts_get_next(ts_r, queue, NULL); /* stays in progress */
	cancel = queued_task(project, queue);
	cr.queue_item_ids = &cancel;
	cr.n_queue_item_ids = 1;
	assert_int_equal(ts_call(ts_r, h_cancel_items, &cr, NULL), FLOW_OK);
	dead = queued_task(project, queue);
	ts_sql_i64(ts_r,
		   "UPDATE queue_items SET status = 'dead', completed_at = now() WHERE id = $1", 1,
		   ts_i64s(dead));
	check_against_stats(queue);
	/* pruned history is still counted */
	ts_sql_i64(ts_r,
		   "UPDATE queue_items SET completed_at = now() - interval '1 day'"
		   " WHERE status IN ('completed', 'failed', 'cancelled', 'dead')",
		   0);
	assert_true(ts_sql_i64(ts_r, "SELECT flow_prune(60, 1000)", 0) >= 5);
	assert_int_equal(ts_sql_i64(ts_r,
				    "SELECT completed FROM queue_item_counters"
				    " WHERE queue_id = $1",
				    1, ts_i64s(queue)),
			 2);
	check_against_stats(queue);

	/* workers seen within the window */
	ts_register_worker(ts_r, "noop");
	ts_sql_i64(ts_r,
		   "UPDATE workers SET last_seen_at = now() - interval '2 hours'"
		   " WHERE id = (SELECT min(id) FROM workers)",
		   0);
	ts_register_worker(ts_r, "noop");
	assert_int_equal(store_metrics_open(ts_db_url, 2000, &c, err, sizeof(err)), FLOW_OK);
	assert_int_equal(store_metrics_collect(c, 60, &snap, err, sizeof(err)), FLOW_OK);
	assert_int_equal(snap.workers, 1);
	store_metrics_snapshot_free(&snap);
	assert_int_equal(store_metrics_schema(c, &version, err, sizeof(err)), FLOW_OK);
	assert_int_equal(version, store_schema_target());
	store_metrics_close(c);
}

/* ---- the HTTP server in this process ---- */

static void test_http_endpoints(void **state)
{
	int port = ts_free_tcp_port();
	char listen[64], ctype[128], allow[64], *body = NULL;
	struct http_opts o = { listen, ts_db_url, "9.9.9", 3, 2000, 100 };
	http_server *h = NULL;
	struct ts_prom p;
	char err[512];
	int n;

	assert_true(port > 0);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	if (http_start(&o, &h, err, sizeof(err)) != FLOW_OK)
		fail_msg("http_start: %s", err);

	assert_int_equal(ts_http(port, "GET", "/healthz", &body, ctype, sizeof(ctype), NULL, 0),
			 200);
	assert_string_equal(body, "ok\n");
	assert_string_equal(ctype, "text/plain; charset=utf-8");
	free(body);
	assert_int_equal(ts_http(port, "GET", "/readyz", &body, NULL, 0, NULL, 0), 200);
	assert_string_equal(body, "ready\n");
	free(body);
	assert_int_equal(ts_http(port, "GET", "/metrics", &body, ctype, sizeof(ctype), NULL, 0),
			 200);
	assert_string_equal(ctype, "text/plain; version=0.0.4; charset=utf-8");
	parse_ok(body, &p);
	assert_int_equal(ts_prom_sum(&p, NULL, "flowd_up", "component", "database", NULL), 1);
	assert_int_equal(ts_prom_sum(&p, &n, "flowd_build_info", "version", "9.9.9", NULL), 1);
	assert_int_equal(ts_prom_sum(&p, NULL, "flowd_db_pool_max_connections", NULL), 3);
	ts_prom_sum(&p, &n, "flowd_queue_items", NULL);
	assert_true(n > 0); /* test_store_snapshot's queue */
	ts_prom_free(&p);
	free(body);

	assert_int_equal(ts_http(port, "GET", "/nope", &body, NULL, 0, NULL, 0), 404);
	free(body);
	assert_int_equal(ts_http(port, "POST", "/nope", &body, NULL, 0, NULL, 0), 404);
	free(body);
	assert_int_equal(ts_http(port, "POST", "/metrics", &body, NULL, 0, allow, sizeof(allow)),
			 405);
	assert_string_equal(allow, "GET, HEAD");
	free(body);
	assert_int_equal(ts_http(port, "DELETE", "/healthz", &body, NULL, 0, NULL, 0), 405);
	free(body);
	assert_int_equal(ts_http(port, "HEAD", "/metrics", &body, ctype, sizeof(ctype), NULL, 0),
			 200);
	assert_string_equal(body, "");
	free(body);
	assert_int_equal(ts_http(port, "GET", "/metrics?x=1", &body, NULL, 0, NULL, 0), 200);
	free(body);

	/* a database at another schema version: not ready (after the cache) */
	ts_sql_i64(ts_r, "INSERT INTO schema_migrations (version, name) VALUES (99, 'future')", 0);
	ts_sleep_ms(150);
	assert_int_equal(ts_http(port, "GET", "/readyz", &body, NULL, 0, NULL, 0), 503);
	snprintf(err, sizeof(err), "schema at version 99, expected %d\n", store_schema_target());
	assert_string_equal(body, err);
	free(body);
	ts_sql_i64(ts_r, "DELETE FROM schema_migrations WHERE version = 99", 0);
	ts_sleep_ms(150);
	assert_int_equal(ts_http(port, "GET", "/readyz", &body, NULL, 0, NULL, 0), 200);
	free(body);

	/* shutting down: /readyz 503, /healthz still 200 */
	http_draining(h);
	assert_int_equal(ts_http(port, "GET", "/readyz", &body, NULL, 0, NULL, 0), 503);
	assert_string_equal(body, "shutting down\n");
	free(body);
	assert_int_equal(ts_http(port, "GET", "/healthz", NULL, NULL, 0, NULL, 0), 200);
	http_stop(h);
	assert_int_equal(ts_http(port, "GET", "/healthz", NULL, NULL, 0, NULL, 0), -1);
}

static void test_http_database_down(void **state)
{
	int port = ts_free_tcp_port(), dead_port = ts_free_tcp_port();
	char listen[64], db[128], *body = NULL;
	struct http_opts o = { listen, db, "1", 2, 500, 100 };
	http_server *h = NULL, *h2 = NULL;
	struct ts_prom p;
	char err[512];
	int n;

	while (dead_port == port) /* nothing listens there: connections are refused */
		dead_port = ts_free_tcp_port();
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	snprintf(db, sizeof(db), "postgresql://nobody@127.0.0.1:%d/none", dead_port);
	if (http_start(&o, &h, err, sizeof(err)) != FLOW_OK)
		fail_msg("http_start: %s", err);
	assert_int_equal(ts_http(port, "GET", "/readyz", &body, NULL, 0, NULL, 0), 503);
	assert_string_equal(body, "database unreachable\n");
	free(body);
	assert_int_equal(ts_http(port, "GET", "/healthz", NULL, NULL, 0, NULL, 0), 200);
	assert_int_equal(ts_http(port, "GET", "/metrics", &body, NULL, 0, NULL, 0), 200);
	parse_ok(body, &p);
	assert_int_equal(ts_prom_sum(&p, &n, "flowd_up", "component", "database", NULL), 0);
	assert_int_equal(n, 1);
	ts_prom_sum(&p, &n, "flowd_workers_connected", NULL);
	assert_int_equal(n, 0);
	ts_prom_sum(&p, &n, "flowd_db_pool_wait_seconds_count", NULL);
	assert_int_equal(n, 1);
	ts_prom_free(&p);
	free(body);

	/* the address is taken: a clear error, nothing left running */
	assert_int_not_equal(http_start(&o, &h2, err, sizeof(err)), FLOW_OK);
	assert_non_null(strstr(err, listen));
	assert_non_null(strstr(err, "--http-listen"));
	http_stop(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_method_table),
		cmocka_unit_test(test_exposition),
		cmocka_unit_test(test_checker_catches_mistakes),
		cmocka_unit_test(test_http_listen_setting),
		cmocka_unit_test_setup(test_store_snapshot, ts_test_reset),
		cmocka_unit_test_setup(test_http_endpoints, ts_test_reset),
		cmocka_unit_test_setup(test_http_database_down, ts_test_reset),
	};

	return cmocka_run_group_tests(tests, ts_group_setup, ts_group_teardown);
}
