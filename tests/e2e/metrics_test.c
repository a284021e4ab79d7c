/*
 * e2e.metrics: the real flowd with --http-listen. /metrics is scraped
 * before and after real work - RPCs (one NOT_FOUND, one unknown method),
 * items completed by a real flow-worker, a lease that expires when its
 * worker is killed - and the figures must have moved accordingly; the text
 * must be well formed (tests/support/ts_prom.h) and carry no credential or
 * user name. /healthz, /readyz, 404 and 405 are checked on the way, and
 * flowd must still stop cleanly (exit 0) on SIGTERM with the HTTP server
 * running.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>

#include "flow/v1/flow_manager.pb-c.h"
#include "flow/v1/project_manager.pb-c.h"
#include "flow/v1/rpc.pb-c.h"
#include "rpc_client.h"
#include "status.h"
#include "testsupport.h"
#include "ts_flowd.h"
#include "ts_prom.h"

#define M_CREATE_PROJECT "/flow.v1.ProjectManager/CreateProject"
#define M_GET_PROJECT "/flow.v1.ProjectManager/GetProject"

static struct ts_flowd f;
static int port;
static char http_arg[64];
static char *flowd_args[] = { http_arg, "--rescue-interval=200", "--claim-poll=200",
			      "--retry-base=60000", NULL };
static char agent_bin[512];

/* ---- plumbing ---- */

/* GET /metrics, parsed and checked; the raw text in *text when not NULL. */
static void scrape(struct ts_prom *p, char **text)
{
	char *body = NULL, ctype[128];

	assert_int_equal(ts_http(port, "GET", "/metrics", &body, ctype, sizeof(ctype), NULL, 0),
			 200);
	assert_string_equal(ctype, "text/plain; version=0.0.4; charset=utf-8");
	if (ts_prom_parse(body, p) != 0)
		fail_msg("/metrics is not well formed: %s\n%s", p->err, body);
	if (text != NULL)
		*text = body;
	else
		free(body);
}

/* One value of the current /metrics: the sum over the samples named name
 * with up to two labels (k1 = v1, k2 = v2; NULL: fewer). */
static double metric(const char *name, const char *k1, const char *v1, const char *k2,
		     const char *v2)
{
	struct ts_prom p;
	double v;

	scrape(&p, NULL);
	v = ts_prom_sum(&p, NULL, name, k1, v1, k2, v2, NULL);
	ts_prom_free(&p);
	return v;
}

/* Polls metric() until it is at least want; fails after timeout_ms. */
static void wait_metric(double want, int timeout_ms, const char *name, const char *k1,
			const char *v1, const char *k2, const char *v2)
{
	double got = -1;

	for (int i = 0; i < timeout_ms / 100; i++) {
		if ((got = metric(name, k1, v1, k2, v2)) >= want)
			return;
		ts_sleep_ms(100);
	}
	fail_msg("waited %d ms for %s{%s=%s,%s=%s} >= %g, got %g", timeout_ms, name, k1 ? k1 : "",
		 v1 ? v1 : "", k2 ? k2 : "", v2 ? v2 : "", want, got);
}

static ProtobufCMessage *call(const char *method, const ProtobufCMessage *req)
{
	ProtobufCMessage *resp = NULL;
	struct rpc_status st;

	if (ts_rpc(f.url, f.token, method, req, &resp, &st) != FLOW_OK)
		fail_msg("%s: %s: %s", method, status_name(st.code), st.message);
	return resp;
}

static int64_t mk_project(void)
{
	Flow__V1__CreateProjectRequest p = FLOW__V1__CREATE_PROJECT_REQUEST__INIT;
	Flow__V1__Project *res;
	int64_t id;

	p.name = "metrics";
	res = (Flow__V1__Project *)call(M_CREATE_PROJECT, &p.base);
	id = res->id;
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return id;
}

static int64_t mk_queue(int64_t project, const char *name, int lease_s)
{
	Flow__V1__CreateQueueRequest q = FLOW__V1__CREATE_QUEUE_REQUEST__INIT;
	Flow__V1__Queue *res;
	int64_t id;

	q.has_project_id = q.has_max_parallel_items = q.has_lease_seconds = 1;
	q.project_id = project;
	q.name = (char *)name;
	q.max_parallel_items = 4;
	q.lease_seconds = lease_s;
	res = (Flow__V1__Queue *)call("/flow.v1.FlowManager/CreateQueue", &q.base);
	id = res->id;
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return id;
}

/* A ticket with one task for agent, enqueued on queue. */
static void enqueue_task(int64_t project, int64_t queue, const char *agent)
{
	Flow__V1__CreateTicketRequest t = FLOW__V1__CREATE_TICKET_REQUEST__INIT;
	Flow__V1__CreateTaskRequest k = FLOW__V1__CREATE_TASK_REQUEST__INIT;
	Flow__V1__EnqueueTaskRequest e = FLOW__V1__ENQUEUE_TASK_REQUEST__INIT;
	Flow__V1__Ticket *ticket;
	Flow__V1__Task *task;

	t.has_project_id = 1;
	t.project_id = project;
	t.title = "metrics";
	ticket = (Flow__V1__Ticket *)call("/flow.v1.FlowManager/CreateTicket", &t.base);
	k.has_ticket_id = 1;
	k.ticket_id = ticket->id;
	k.content = "work";
	k.agent_id = (char *)agent;
	task = (Flow__V1__Task *)call("/flow.v1.FlowManager/CreateTask", &k.base);
	e.has_queue_id = e.has_task_id = 1;
	e.queue_id = queue;
	e.task_id = task->id;
	protobuf_c_message_free_unpacked(call("/flow.v1.FlowManager/EnqueueTask", &e.base), NULL);
	protobuf_c_message_free_unpacked(&task->base, NULL);
	protobuf_c_message_free_unpacked(&ticket->base, NULL);
}

static const char *write_agents(const char *name, const char *line)
{
	static char path[700];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", f.dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fprintf(fp, "%s\n", line);
	fclose(fp);
	return path;
}

/* An envelope naming a method flowd does not serve, sent as raw bytes. */
static int call_unknown_method(void)
{
	Flow__V1__RpcRequest env = FLOW__V1__RPC_REQUEST__INIT;
	Flow__V1__RpcResponse *resp;
	struct rpc_client_opts o = { .deadline_ms = 10000 };
	struct rpc_status st;
	rpc_client *c;
	size_t n, len = 0;
	uint8_t *data;
	void *reply = NULL;
	int code;

	env.method = "/flow.v1.Nope/StealSecrets";
	env.token = f.token;
	n = flow__v1__rpc_request__get_packed_size(&env);
	data = malloc(n + 1);
	assert_non_null(data);
	flow__v1__rpc_request__pack(&env, data);
	assert_int_equal(rpc_client_open(f.url, &o, &c, &st), FLOW_OK);
	assert_int_equal(rpc_client_call_raw(c, data, n, &reply, &len, &st), FLOW_OK);
	free(data);
	resp = flow__v1__rpc_response__unpack(NULL, len, reply);
	assert_non_null(resp);
	code = resp->code;
	flow__v1__rpc_response__free_unpacked(resp, NULL);
	free(reply);
	rpc_client_close(c);
	return code;
}

/* ---- fixtures ---- */

static int setup(void **state)
{
	port = ts_free_tcp_port();
	if (port <= 0)
		return -1;
	snprintf(http_arg, sizeof(http_arg), "--http-listen=127.0.0.1:%d", port);
	snprintf(agent_bin, sizeof(agent_bin), "%s", ts_src("tests/agents/test-agent"));
	return ts_flowd_start(&f, NULL, flowd_args);
}

static int teardown(void **state)
{
	/* SIGTERM with the HTTP server running: flowd must exit 0 */
	return ts_flowd_stop(&f) == 0 ? 0 : -1;
}

/* ---- tests ---- */

static void test_health_endpoints(void **state)
{
	char *body = NULL, allow[64];

	assert_int_equal(ts_http(port, "GET", "/healthz", &body, NULL, 0, NULL, 0), 200);
	assert_string_equal(body, "ok\n");
	free(body);
	assert_int_equal(ts_http(port, "GET", "/readyz", &body, NULL, 0, NULL, 0), 200);
	assert_string_equal(body, "ready\n");
	free(body);
	assert_int_equal(ts_http(port, "GET", "/no/such/page", &body, NULL, 0, NULL, 0), 404);
	free(body);
	assert_int_equal(ts_http(port, "POST", "/metrics", &body, NULL, 0, allow, sizeof(allow)),
			 405);
	assert_string_equal(allow, "GET, HEAD");
	free(body);
	assert_int_equal(ts_http(port, "PUT", "/readyz", &body, NULL, 0, NULL, 0), 405);
	free(body);
}

static void test_metrics_follow_the_work(void **state)
{
	Flow__V1__GetProjectRequest gp = FLOW__V1__GET_PROJECT_REQUEST__INIT;
	struct ts_prom a, b;
	struct rpc_status st;
	char *text = NULL, q[32], pr[32], agents[700];
	int64_t project, queue;
	double created, not_found, get_count, completed_total, waits;
	int n;
	pid_t w;

	scrape(&a, NULL);
	created = ts_prom_sum(&a, NULL, "flowd_rpc_requests_total", "method", M_CREATE_PROJECT,
			      "code", "OK", NULL);
	not_found = ts_prom_sum(&a, NULL, "flowd_rpc_requests_total", "method", M_GET_PROJECT,
				"code", "NOT_FOUND", NULL);
	get_count = ts_prom_sum(&a, NULL, "flowd_rpc_duration_seconds_count", "method",
				M_GET_PROJECT, NULL);
	completed_total = ts_prom_sum(&a, NULL, "flowd_items_completed_total", NULL);
	waits = ts_prom_sum(&a, NULL, "flowd_db_pool_wait_seconds_count", NULL);
	/* ts_flowd_start logged in and made the worker's account and key */
	assert_true(ts_prom_sum(&a, NULL, "flowd_rpc_requests_total", "method",
				"/flow.v1.AuthService/Login", "code", "OK", NULL) >= 1);
	assert_int_equal(ts_prom_sum(&a, NULL, "flowd_up", "component", "database", NULL), 1);
	ts_prom_free(&a);

	/* RPCs, one of them an error, one a method flowd does not serve */
	project = mk_project();
	gp.has_project_id = 1;
	gp.project_id = 99999;
	assert_int_equal(ts_rpc(f.url, f.token, M_GET_PROJECT, &gp.base, NULL, &st),
			 FLOW_NOT_FOUND);
	assert_int_equal(call_unknown_method(), FLOW_UNIMPLEMENTED);

	/* 5 items done by a real worker running the noop agent */
	queue = mk_queue(project, "metrics", 30);
	for (int i = 0; i < 5; i++)
		enqueue_task(project, queue, "noop");
	snprintf(agents, sizeof(agents), "noop = %s ok", agent_bin);
	w = ts_worker_start(&f, "metrics-w", write_agents("noop.conf", agents), 2, NULL);
	assert_true(w > 0);
	snprintf(q, sizeof(q), "%lld", (long long)queue);
	snprintf(pr, sizeof(pr), "%lld", (long long)project);
	wait_metric(5, 30000, "flowd_queue_items", "queue", q, "status", "completed");
	/* the idle worker's Claim is parked */
	wait_metric(1, 10000, "flowd_parked_requests", NULL, NULL, NULL, NULL);

	scrape(&b, &text);
	assert_int_equal(ts_prom_sum(&b, NULL, "flowd_rpc_requests_total", "method",
				     M_CREATE_PROJECT, "code", "OK", NULL),
			 created + 1);
	assert_int_equal(ts_prom_sum(&b, NULL, "flowd_rpc_requests_total", "method", M_GET_PROJECT,
				     "code", "NOT_FOUND", NULL),
			 not_found + 1);
	assert_int_equal(ts_prom_sum(&b, NULL, "flowd_rpc_duration_seconds_count", "method",
				     M_GET_PROJECT, NULL),
			 get_count + 1);
	assert_true(ts_prom_sum(&b, NULL, "flowd_rpc_requests_total", "method", "unknown", "code",
				"UNIMPLEMENTED", NULL) >= 1);
	assert_true(ts_prom_sum(&b, NULL, "flowd_rpc_requests_total", "method",
				"/flow.v1.WorkerService/RegisterWorker", "code", "OK", NULL) >= 1);
	assert_true(ts_prom_sum(&b, NULL, "flowd_rpc_requests_total", "method",
				"/flow.v1.WorkerService/Claim", NULL) >= 1);
	assert_int_equal(
	    ts_prom_sum(&b, &n, "flowd_queue_items", "queue", q, "status", "completed", NULL), 5);
	assert_int_equal(n, 1);
	assert_int_equal(
	    ts_prom_sum(&b, NULL, "flowd_queue_items", "queue", q, "status", "queued", NULL), 0);
	assert_int_equal(ts_prom_sum(&b, NULL, "flowd_queue_items", "project", pr, "queue", q,
				     "status", "completed", NULL),
			 5);
	assert_int_equal(ts_prom_sum(&b, NULL, "flowd_items_completed_total", NULL),
			 completed_total + 5);
	assert_true(ts_prom_sum(&b, NULL, "flowd_workers_connected", NULL) >= 1);
	assert_true(ts_prom_sum(&b, NULL, "flowd_db_pool_wait_seconds_count", NULL) > waits);
	assert_int_equal(ts_prom_sum(&b, NULL, "flowd_db_pool_max_connections", NULL), 2);
	{
		double in_use =
		    ts_prom_sum(&b, NULL, "flowd_db_pool_connections", "state", "in_use", NULL);
		double idle =
		    ts_prom_sum(&b, NULL, "flowd_db_pool_connections", "state", "idle", NULL);

		assert_true(in_use + idle >= 1 && in_use + idle <= 2);
	}
	/* no credential, no user name, nothing the client chose */
	assert_null(strstr(text, f.token));
	assert_null(strstr(text, f.worker_key));
	assert_null(strstr(text, TS_ADMIN_PASSWORD));
	assert_null(strstr(text, "\"admin\""));
	assert_null(strstr(text, "test-worker"));
	assert_null(strstr(text, "metrics-w"));
	assert_null(strstr(text, "StealSecrets"));
	ts_prom_free(&b);
	free(text);
	assert_int_equal(ts_terminate(w, 20000, NULL), 0);
}

/* A worker killed mid-item: its lease expires and the rescuer counts it. */
static void test_expired_lease_is_counted(void **state)
{
	char agents[700], q[32];
	double before = metric("flowd_leases_expired_total", NULL, NULL, NULL, NULL);
	int64_t project = mk_project(), queue = mk_queue(project, "leases", 1);
	pid_t w;

	snprintf(agents, sizeof(agents), "slow = %s sleep 30", agent_bin);
	enqueue_task(project, queue, "slow");
	w = ts_worker_start(&f, "metrics-slow", write_agents("slow.conf", agents), 1, NULL);
	assert_true(w > 0);
	snprintf(q, sizeof(q), "%lld", (long long)queue);
	wait_metric(1, 10000, "flowd_queue_items", "queue", q, "status", "in_progress");
	ts_kill(w, SIGKILL);
	ts_wait_exit(w, 5000, NULL);
	wait_metric(before + 1, 10000, "flowd_leases_expired_total", NULL, NULL, NULL, NULL);
	/* queued again (retry in a minute), not lost */
	assert_int_equal(metric("flowd_queue_items", "queue", q, "status", "queued"), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_health_endpoints),
		cmocka_unit_test(test_metrics_follow_the_work),
		cmocka_unit_test(test_expired_lease_is_counted),
	};

	ts_skip_without_pg();
	return cmocka_run_group_tests(tests, setup, teardown);
}
