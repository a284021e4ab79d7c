/*
 * e2e.engine: the queue engine end to end - the real flowd and real
 * flow-worker processes running real agents (tests/agents/test-agent).
 * Checked in the database the workers never touch.
 */
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "flow/v1/flow_manager.pb-c.h"
#include "flow/v1/project_manager.pb-c.h"
#include "flow/v1/worker.pb-c.h"
#include "req.h"
#include "rpc_client.h"
#include "status.h"
#include "testsupport.h"
#include "ts_flowd.h"

static char *const flowd_args[] = { "--rescue-interval=200", "--retry-base=200",
				    "--retry-max=1000", "--claim-poll=200", NULL };
static struct ts_flowd f;
static rpc_client *cli;
static PGconn *pg;
static int64_t project;
static char agent_bin[512];

/* ---- plumbing ---- */

static ProtobufCMessage *rpc(const char *method, const void *req)
{
	ProtobufCMessage *resp = NULL;
	struct rpc_status st;

	if (rpc_client_call(cli, method, req, NULL, &resp, &st) != FLOW_OK)
		fail_msg("%s: %s: %s", method, status_name(st.code), st.message);
	return resp;
}

static int rpc_code(const char *method, const void *req, struct rpc_status *st)
{
	ProtobufCMessage *resp = NULL;
	int rv = rpc_client_call(cli, method, req, NULL, &resp, st);

	if (resp)
		protobuf_c_message_free_unpacked(resp, NULL);
	return rv;
}

static int64_t sql(const char *q, ...)
{
	char buf[1024];
	va_list ap;
	PGresult *res;
	int64_t v = 0;

	va_start(ap, q);
	vsnprintf(buf, sizeof(buf), q, ap);
	va_end(ap);
	res = PQexec(pg, buf);
	if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK)
		fail_msg("%s: %s", buf, PQerrorMessage(pg));
	if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
		v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return v;
}

/* Polls the scalar query until it equals want; fails after timeout_ms. */
#define wait_sql(want, timeout_ms, ...)                                                    \
	do {                                                                               \
		int64_t got_ = -1;                                                         \
		for (int i_ = 0; i_ < (timeout_ms) / 20; i_++) {                           \
			if ((got_ = sql(__VA_ARGS__)) == (want))                          \
				break;                                                     \
			ts_sleep_ms(20);                                                   \
		}                                                                          \
		if (got_ != (want))                                                        \
			fail_msg("waited %d ms for %s = %lld, got %lld", (timeout_ms), #__VA_ARGS__, \
				 (long long)(want), (long long)got_);                     \
	} while (0)

static const char *tmp_file(const char *name)
{
	static char bufs[8][700];
	static int k;
	char *b = bufs[k++ % 8];

	snprintf(b, sizeof(bufs[0]), "%s/%s", f.dir, name);
	return b;
}

static const char *write_agents(const char *name, const char *body)
{
	const char *path = tmp_file(name);
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(body, fp);
	fclose(fp);
	return path;
}

static int64_t mk_queue(const char *name, int max_parallel, int lease_s, int max_attempts)
{
	Flow__V1__CreateQueueRequest q = FLOW__V1__CREATE_QUEUE_REQUEST__INIT;
	Flow__V1__Queue *res;
	int64_t id;

	q.has_project_id = q.has_max_parallel_items = q.has_lease_seconds = 1;
	q.project_id = project;
	q.name = (char *)name;
	q.max_parallel_items = max_parallel;
	q.lease_seconds = lease_s;
	q.has_max_attempts = max_attempts > 0;
	q.max_attempts = max_attempts;
	res = (Flow__V1__Queue *)rpc("/flow.v1.FlowManager/CreateQueue", &q);
	id = res->id;
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return id;
}

static int64_t mk_ticket(int priority)
{
	Flow__V1__CreateTicketRequest t = FLOW__V1__CREATE_TICKET_REQUEST__INIT;
	Flow__V1__Ticket *res;
	int64_t id;

	t.has_project_id = t.has_priority = 1;
	t.project_id = project;
	t.title = "engine test";
	t.priority = priority;
	res = (Flow__V1__Ticket *)rpc("/flow.v1.FlowManager/CreateTicket", &t);
	id = res->id;
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return id;
}

static int64_t mk_task(int64_t ticket, const char *agent, int64_t depends_on)
{
	Flow__V1__CreateTaskRequest t = FLOW__V1__CREATE_TASK_REQUEST__INIT;
	Flow__V1__Task *res;
	int64_t id;

	t.has_ticket_id = 1;
	t.ticket_id = ticket;
	t.content = "engine task";
	t.agent_id = (char *)agent;
	if (depends_on > 0) {
		t.dependencies = &depends_on;
		t.n_dependencies = 1;
	}
	res = (Flow__V1__Task *)rpc("/flow.v1.FlowManager/CreateTask", &t);
	id = res->id;
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return id;
}

/* Enqueues one task; returns its queue item id. */
static int64_t enqueue_opts(int64_t queue, int64_t task, int priority, int delay_s,
			    int max_attempts)
{
	Flow__V1__EnqueueTaskRequest e = FLOW__V1__ENQUEUE_TASK_REQUEST__INIT;
	Flow__V1__EnqueueResponse *res;
	int64_t id;

	e.has_queue_id = e.has_task_id = 1;
	e.queue_id = queue;
	e.task_id = task;
	e.has_priority = priority >= 0;
	e.priority = priority;
	e.has_delay_seconds = delay_s > 0;
	e.delay_seconds = delay_s;
	e.has_max_attempts = max_attempts > 0;
	e.max_attempts = max_attempts;
	res = (Flow__V1__EnqueueResponse *)rpc("/flow.v1.FlowManager/EnqueueTask", &e);
	assert_int_equal(res->n_items, 1);
	id = res->items[0]->id;
	protobuf_c_message_free_unpacked(&res->base, NULL);
	return id;
}

static int64_t enqueue(int64_t queue, int64_t task, int priority, int delay_s)
{
	return enqueue_opts(queue, task, priority, delay_s, 0);
}

static int64_t task_item(int64_t queue, const char *agent, int priority)
{
	return enqueue(queue, mk_task(mk_ticket(5), agent, 0), priority, 0);
}

/* Lines of a file. */
static int count_lines(const char *path)
{
	char *s = ts_read_file(path, NULL);
	int n = 0;

	for (char *p = s; p && *p; p++)
		n += *p == '\n';
	free(s);
	return n;
}

static int setup(void **state)
{
	Flow__V1__CreateProjectRequest p = FLOW__V1__CREATE_PROJECT_REQUEST__INIT;
	Flow__V1__Project *res;
	struct rpc_status st;
	struct rpc_client_opts co = { .deadline_ms = 20000, .background_dial = true };

	if (ts_flowd_start(&f, NULL, flowd_args) != 0)
		return -1;
	co.token = f.token;
	assert_int_equal(rpc_client_open(f.url, &co, &cli, &st), FLOW_OK);
	pg = PQconnectdb(f.db_url);
	assert_int_equal(PQstatus(pg), CONNECTION_OK);
	p.name = "engine";
	res = (Flow__V1__Project *)rpc("/flow.v1.ProjectManager/CreateProject", &p);
	project = res->id;
	protobuf_c_message_free_unpacked(&res->base, NULL);
	snprintf(agent_bin, sizeof(agent_bin), "%s", ts_src("tests/agents/test-agent"));
	return 0;
}

static int teardown(void **state)
{
	PQfinish(pg);
	rpc_client_close(cli);
	return ts_flowd_stop(&f) == 0 ? 0 : -1;
}

static void stop_worker(pid_t pid)
{
	int status = -1;

	assert_int_equal(ts_terminate(pid, 20000, &status), 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---- 4 workers x 1,000 items ---- */

struct checker {
	const char *db_url;
	int64_t queue;
	atomic_bool stop;
	int64_t max_seen;
	long samples;
};

static void *check_parallel(void *arg)
{
	struct checker *c = arg;
	PGconn *conn = PQconnectdb(c->db_url);
	char q[256];

	snprintf(q, sizeof(q),
		 "SELECT count(*) FROM queue_items WHERE queue_id = %lld AND status = 'in_progress'",
		 (long long)c->queue);
	while (!atomic_load(&c->stop)) {
		PGresult *res = PQexec(conn, q);

		if (PQresultStatus(res) == PGRES_TUPLES_OK) {
			int64_t n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);

			if (n > c->max_seen)
				c->max_seen = n;
			c->samples++;
		}
		PQclear(res);
		ts_sleep_ms(2);
	}
	PQfinish(conn);
	return NULL;
}

static void test_four_workers_thousand_items(void **state)
{
	enum { TICKETS = 100, TASKS = 10, WORKERS = 4, MAXPAR = 3 };
	char agents[1024];
	int64_t queue = mk_queue("drain", MAXPAR, 30, 3);
	struct checker chk = { f.db_url, queue, false, 0, 0 };
	pthread_t checker;
	pid_t w[WORKERS];
	const char *log = tmp_file("drain-agent.log");

	snprintf(agents, sizeof(agents), "logger = %s log %s\n", agent_bin, log);
	write_agents("drain.conf", agents);
	for (int t = 0; t < TICKETS; t++) {
		int prio = t % 3 == 0 ? 9 : t % 3 == 1 ? 5 : 1;
		int64_t ticket = mk_ticket(prio);

		for (int k = 0; k < TASKS; k++)
			enqueue(queue, mk_task(ticket, "logger", 0), prio, 0);
	}
	assert_int_equal(sql("SELECT count(*) FROM queue_items WHERE queue_id = %lld", (long long)queue),
			 TICKETS * TASKS);
	pthread_create(&checker, NULL, check_parallel, &chk);
	for (int i = 0; i < WORKERS; i++) {
		char name[32];

		snprintf(name, sizeof(name), "drain-w%d", i);
		w[i] = ts_worker_start(&f, name, tmp_file("drain.conf"), 4, NULL);
		assert_true(w[i] > 0);
	}
	wait_sql(TICKETS * TASKS, 120000,
		 "SELECT count(*) FROM queue_items WHERE queue_id = %lld AND status = 'completed'",
		 (long long)queue);
	atomic_store(&chk.stop, true);
	pthread_join(checker, NULL);
	for (int i = 0; i < WORKERS; i++)
		stop_worker(w[i]);

	assert_true(chk.samples > 10);
	assert_true(chk.max_seen <= MAXPAR);
	/* each completed once, on its first attempt; each agent run logged once */
	assert_int_equal(sql("SELECT count(*) FROM queue_items WHERE queue_id = %lld AND attempt = 1",
			     (long long)queue), TICKETS * TASKS);
	assert_int_equal(count_lines(log), TICKETS * TASKS);
	assert_int_equal(sql("SELECT count(*) FROM tasks WHERE status = 'completed' AND id IN"
			     " (SELECT task_id FROM queue_items WHERE queue_id = %lld)",
			     (long long)queue), TICKETS * TASKS);
	/* priority order: the urgent items started, on the whole, first */
	assert_true(sql("SELECT (avg(extract(epoch FROM started_at)) FILTER (WHERE priority = 9) <"
			" avg(extract(epoch FROM started_at)) FILTER (WHERE priority = 5)"
			" AND avg(extract(epoch FROM started_at)) FILTER (WHERE priority = 5) <"
			" avg(extract(epoch FROM started_at)) FILTER (WHERE priority = 1))::int"
			" FROM queue_items WHERE queue_id = %lld", (long long)queue) == 1);
	assert_int_equal(sql("SELECT count(*) FROM queue_items a JOIN queue_items b"
			     " ON a.queue_id = b.queue_id WHERE a.queue_id = %lld AND a.priority = 1"
			     " AND b.priority = 9 AND a.started_at < b.started_at - interval '1 second'",
			     (long long)queue), 0);
}

/* ---- crash safety: a worker killed mid-item ---- */

static void test_killed_worker_item_is_redelivered(void **state)
{
	char conf[2048];
	int64_t queue = mk_queue("kill9", 1, 2, 3), item, worker;
	pid_t a, b;
	Flow__V1__CompleteRequest late = FLOW__V1__COMPLETE_REQUEST__INIT;
	struct rpc_status st;

	snprintf(conf, sizeof(conf), "slow = %s sleep 6\n", agent_bin);
	write_agents("kill-a.conf", conf);
	snprintf(conf, sizeof(conf), "slow = %s ok\n", agent_bin);
	write_agents("kill-b.conf", conf);
	item = task_item(queue, "slow", 5);
	a = ts_worker_start(&f, "kill-a", tmp_file("kill-a.conf"), 1, NULL);
	wait_sql(1, 10000, "SELECT count(*) FROM queue_items WHERE id = %lld AND status = 'in_progress'",
		 (long long)item);
	worker = sql("SELECT substr(lease_owner, 8)::bigint FROM queue_items WHERE id = %lld",
		     (long long)item);
	assert_true(worker > 0);
	ts_kill(a, SIGKILL);
	ts_wait_exit(a, 5000, NULL);

	b = ts_worker_start(&f, "kill-b", tmp_file("kill-b.conf"), 1, NULL);
	wait_sql(1, 20000, "SELECT count(*) FROM queue_items WHERE id = %lld AND status = 'completed'",
		 (long long)item);
	assert_int_equal(sql("SELECT attempt FROM queue_items WHERE id = %lld", (long long)item), 2);

	/* The dead worker's late report changes nothing. */
	late.has_worker_id = late.has_queue_item_id = late.has_attempt = 1;
	late.worker_id = worker;
	late.queue_item_id = item;
	late.attempt = 1;
	late.completion_notes = "too late";
	assert_int_equal(rpc_code("/flow.v1.WorkerService/Complete", &late, &st),
			 FLOW_FAILED_PRECONDITION);
	assert_int_equal(sql("SELECT count(*) FROM queue_items WHERE id = %lld AND status = 'completed'"
			     " AND attempt = 2 AND completion_notes NOT LIKE 'too late%%'",
			     (long long)item), 1);
	stop_worker(b);
}

/* ---- what agents do: timeout, crash, failure, retry, dead, re-drive ---- */

static void test_agent_outcomes(void **state)
{
	char conf[8192];
	const char *flaky = tmp_file("flaky");
	int64_t queue = mk_queue("outcomes", 10, 30, 3);
	int64_t t_out, crash, fail, flk, temp, redrive;
	Flow__V1__RetryItemsRequest retry = FLOW__V1__RETRY_ITEMS_REQUEST__INIT;
	pid_t w;

	assert_int_equal(mkdir(flaky, 0700), 0);
	snprintf(conf, sizeof(conf),
		 "slowpoke = %1$s sleep 30\nslowpoke.timeout = 1\n"
		 "crasher = %1$s crash\nfailer = %1$s fail\nflaky = %1$s flaky %2$s\n"
		 "tempfail = %1$s tempfail\n",
		 agent_bin, flaky);
	write_agents("outcomes.conf", conf);
	t_out = enqueue_opts(queue, mk_task(mk_ticket(5), "slowpoke", 0), 5, 0, 1);
	crash = task_item(queue, "crasher", 5);
	fail = task_item(queue, "failer", 5);
	flk = task_item(queue, "flaky", 5);
	temp = enqueue_opts(queue, mk_task(mk_ticket(5), "tempfail", 0), 5, 0, 2);
	redrive = enqueue_opts(queue, mk_task(mk_ticket(5), "flaky", 0), 5, 0, 1);
	w = ts_worker_start(&f, "outcomes", tmp_file("outcomes.conf"), 4,
			    (char *const[]){ "--kill-grace=500", NULL });

	wait_sql(1, 20000, "SELECT count(*) FROM queue_items WHERE id = %lld AND status = 'dead'",
		 (long long)t_out);
	assert_int_equal(sql("SELECT count(*) FROM queue_items WHERE id = %lld AND error LIKE '%%timed out%%'",
			     (long long)t_out), 1);
	wait_sql(1, 10000, "SELECT count(*) FROM queue_items WHERE id = %lld AND status = 'failed'"
		 " AND error LIKE '%%SIGSEGV%%'", (long long)crash);
	wait_sql(1, 10000, "SELECT count(*) FROM queue_items WHERE id = %lld AND status = 'failed'"
		 " AND error LIKE '%%status 3%%'", (long long)fail);
	wait_sql(1, 10000, "SELECT count(*) FROM queue_items WHERE id = %lld AND status = 'completed'"
		 " AND attempt = 2", (long long)flk);
	wait_sql(1, 10000, "SELECT count(*) FROM queue_items WHERE id = %lld AND status = 'dead'"
		 " AND attempt = 2", (long long)temp);
	wait_sql(1, 10000, "SELECT count(*) FROM queue_items WHERE id = %lld AND status = 'dead'",
		 (long long)redrive);

	/* Re-drive the dead flaky item: it completes this time. */
	retry.queue_item_ids = &redrive;
	retry.n_queue_item_ids = 1;
	protobuf_c_message_free_unpacked(rpc("/flow.v1.FlowManager/RetryItems", &retry), NULL);
	wait_sql(1, 10000, "SELECT count(*) FROM queue_items WHERE id = %lld AND status = 'completed'",
		 (long long)redrive);
	stop_worker(w);
}

/* ---- cancel a running item ---- */

static void test_cancel_running_item(void **state)
{
	char conf[2048], *out = NULL;
	int64_t queue = mk_queue("cancel", 1, 30, 3), item;
	Flow__V1__CancelItemsRequest c = FLOW__V1__CANCEL_ITEMS_REQUEST__INIT;
	char *const pgrep[] = { "pgrep", "-f", "test-agent sleep 77", NULL };
	int status = 0;
	pid_t w;

	snprintf(conf, sizeof(conf), "sleeper = %s sleep 77\n", agent_bin);
	write_agents("cancel.conf", conf);
	item = task_item(queue, "sleeper", 5);
	w = ts_worker_start(&f, "cancel", tmp_file("cancel.conf"), 1,
			    (char *const[]){ "--kill-grace=500", NULL });
	wait_sql(1, 10000, "SELECT count(*) FROM queue_items WHERE id = %lld AND status = 'in_progress'",
		 (long long)item);
	ts_sleep_ms(300); /* the agent is running */
	c.queue_item_ids = &item;
	c.n_queue_item_ids = 1;
	protobuf_c_message_free_unpacked(rpc("/flow.v1.FlowManager/CancelItems", &c), NULL);
	assert_int_equal(sql("SELECT count(*) FROM queue_items WHERE id = %lld AND status = 'cancelled'",
			     (long long)item), 1);
	/* the worker learns it from its next heartbeat and stops the agent */
	for (int i = 0; i < 100; i++) {
		ts_run_capture(pgrep, NULL, &out, NULL, &status, 5000);
		free(out);
		out = NULL;
		if (status == 1)
			break;
		ts_sleep_ms(100);
	}
	assert_int_equal(status, 1); /* pgrep found nothing */
	assert_int_equal(sql("SELECT count(*) FROM queue_items WHERE id = %lld AND status = 'cancelled'",
			     (long long)item), 1);
	assert_int_equal(waitpid(w, &status, WNOHANG), 0); /* the worker carries on */
	stop_worker(w);
}

/* ---- delays, dependencies, routing ---- */

static void test_delay_dependencies_routing(void **state)
{
	char conf[2048];
	int64_t queue = mk_queue("order", 4, 30, 3), delayed, a, b, ticket;
	const char *l1 = tmp_file("alpha-agent.log"), *l2 = tmp_file("beta-agent.log");
	pid_t w1, w2;
	char *s;

	snprintf(conf, sizeof(conf), "alpha = %s log %s\n", agent_bin, l1);
	write_agents("alpha.conf", conf);
	snprintf(conf, sizeof(conf), "beta = %s log %s\n", agent_bin, l2);
	write_agents("beta.conf", conf);
	w1 = ts_worker_start(&f, "alpha", tmp_file("alpha.conf"), 2, NULL);
	w2 = ts_worker_start(&f, "beta", tmp_file("beta.conf"), 2, NULL);

	delayed = enqueue(queue, mk_task(mk_ticket(5), "alpha", 0), 5, 2);
	ticket = mk_ticket(5);
	a = mk_task(ticket, "beta", 0);
	b = mk_task(ticket, "alpha", a);
	enqueue(queue, b, 10, 0); /* more urgent, but waits for a */
	enqueue(queue, a, 1, 0);
	for (int i = 0; i < 5; i++) {
		task_item(queue, "alpha", 5);
		task_item(queue, "beta", 5);
	}
	wait_sql(13, 30000, "SELECT count(*) FROM queue_items WHERE queue_id = %lld AND status = 'completed'",
		 (long long)queue);
	/* the delayed item did not start early */
	assert_int_equal(sql("SELECT (started_at - enqueued_at >= interval '2 seconds')::int FROM queue_items"
			     " WHERE id = %lld", (long long)delayed), 1);
	/* b started only after a completed */
	assert_int_equal(sql("SELECT (b.started_at >= a.completed_at)::int FROM queue_items a, queue_items b"
			     " WHERE a.task_id = %lld AND b.task_id = %lld", (long long)a, (long long)b), 1);
	/* each worker ran only its own agent's items: 7 alpha, 6 beta */
	assert_int_equal(count_lines(l1), 7);
	assert_int_equal(count_lines(l2), 6);
	s = ts_read_file(l1, NULL);
	assert_null(strstr(s, " beta "));
	free(s);
	s = ts_read_file(l2, NULL);
	assert_null(strstr(s, " alpha "));
	free(s);
	stop_worker(w1);
	stop_worker(w2);
}

/* ---- long polls ---- */

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_idle_worker_gets_new_item_fast(void **state)
{
	char conf[2048];
	const char *log = tmp_file("latency-agent.log");
	int64_t queue = mk_queue("latency", 1, 30, 3), item, t0, started;
	char *s, *p;
	pid_t w;

	snprintf(conf, sizeof(conf), "quick = %s log %s\n", agent_bin, log);
	write_agents("latency.conf", conf);
	w = ts_worker_start(&f, "latency", tmp_file("latency.conf"), 1, NULL);
	ts_sleep_ms(1500); /* registered and parked in Claim */
	t0 = wall_ms();
	item = task_item(queue, "quick", 5);
	wait_sql(1, 10000, "SELECT count(*) FROM queue_items WHERE id = %lld AND status = 'completed'",
		 (long long)item);
	s = ts_read_file(log, NULL);
	assert_non_null(s);
	p = strrchr(s, ' ');
	started = strtoll(p + 1, NULL, 10);
	free(s);
	print_message("enqueue -> agent started: %lld ms\n", (long long)(started - t0));
	/* well under the 200 ms poll and the 20 s claim wait: woken by NOTIFY */
	assert_true(started >= t0);
	assert_true(started - t0 < 1000);
	stop_worker(w);
}

/* A worker killed while its Claim is parked in flowd is handed nothing. */
static void test_departed_worker_gets_nothing(void **state)
{
	char conf[2048];
	int64_t queue = mk_queue("departed", 1, 30, 3), item;
	pid_t w;

	snprintf(conf, sizeof(conf), "ghost = %s ok\n", agent_bin);
	write_agents("ghost.conf", conf);
	w = ts_worker_start(&f, "ghost", tmp_file("ghost.conf"), 1, NULL);
	ts_sleep_ms(1500); /* registered and parked in Claim */
	ts_kill(w, SIGKILL);
	ts_wait_exit(w, 5000, NULL);
	item = task_item(queue, "ghost", 5);
	ts_sleep_ms(1500); /* NOTIFY and a few polls later */
	assert_int_equal(sql("SELECT count(*) FROM queue_items WHERE id = %lld AND status = 'queued'"
			     " AND attempt = 0", (long long)item), 1);
}

struct claimer {
	int64_t worker, queue;
	int code;
	size_t n;
};

static void *park_claim(void *arg)
{
	struct claimer *c = arg;
	Flow__V1__ClaimRequest req = FLOW__V1__CLAIM_REQUEST__INIT;
	ProtobufCMessage *resp = NULL;
	struct rpc_status st;

	req.has_worker_id = req.has_max_items = req.has_wait_ms = req.has_queue_id = 1;
	req.worker_id = c->worker;
	req.max_items = 1;
	req.wait_ms = 3000;
	req.queue_id = c->queue;
	c->code = rpc_client_call(cli, "/flow.v1.WorkerService/Claim", &req.base, NULL, &resp, &st);
	if (resp) {
		c->n = ((Flow__V1__ClaimResponse *)resp)->n_items;
		protobuf_c_message_free_unpacked(resp, NULL);
	}
	return NULL;
}

static void test_200_idle_waiters_do_not_block(void **state)
{
	enum { N = 200 };
	Flow__V1__RegisterWorkerRequest reg = FLOW__V1__REGISTER_WORKER_REQUEST__INIT;
	Flow__V1__RegisterWorkerResponse *r;
	Flow__V1__ListProjectsRequest list = FLOW__V1__LIST_PROJECTS_REQUEST__INIT;
	static struct claimer c[N];
	pthread_t t[N];
	char *agents[] = { "nobody-runs-this" };
	int64_t queue = mk_queue("idle", 1, 30, 3), worker;

	reg.name = "idle-test";
	reg.agent_ids = agents;
	reg.n_agent_ids = 1;
	reg.has_capacity = 1;
	reg.capacity = 1;
	r = (Flow__V1__RegisterWorkerResponse *)rpc("/flow.v1.WorkerService/RegisterWorker", &reg);
	worker = r->worker_id;
	protobuf_c_message_free_unpacked(&r->base, NULL);
	for (int i = 0; i < N; i++) {
		c[i] = (struct claimer){ worker, queue, -1, 0 };
		pthread_create(&t[i], NULL, park_claim, &c[i]);
	}
	ts_sleep_ms(500); /* all parked: flowd has 2 service threads */
	for (int i = 0; i < 20; i++) {
		int64_t t0 = req_now_ms();

		protobuf_c_message_free_unpacked(rpc("/flow.v1.ProjectManager/ListProjects", &list),
						 NULL);
		assert_true(req_now_ms() - t0 < 1000);
	}
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(c[i].code, FLOW_OK);
		assert_int_equal(c[i].n, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_four_workers_thousand_items),
		cmocka_unit_test(test_killed_worker_item_is_redelivered),
		cmocka_unit_test(test_agent_outcomes),
		cmocka_unit_test(test_cancel_running_item),
		cmocka_unit_test(test_delay_dependencies_routing),
		cmocka_unit_test(test_idle_worker_gets_new_item_fast),
		cmocka_unit_test(test_departed_worker_gets_nothing),
		cmocka_unit_test(test_200_idle_waiters_do_not_block),
	};
	ts_skip_without_pg();
	return cmocka_run_group_tests(tests, setup, teardown);
}
