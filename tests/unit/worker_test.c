/*
 * unit.worker: flow-worker's claim loop, batching, heartbeats, re-
 * registration, shutdown and outage handling against a fake flowd.
 *
 * The fake is a separate process (this binary run as "worker_test --fake
 * FD URL") with a plain nng REP socket on an ipc:// path. It answers the
 * WorkerService methods from a script kept in shared memory (the memfd FD):
 * items to hand out, ids to cancel, NOT_FOUND or FAILED_PRECONDITION to
 * answer; and records what it got there. kill -9 and a restart play a
 * flowd crash. Agents are real processes (small scripts written at test
 * time); the worker runs in this process.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "../../worker/config.h"
#include "agents.h"
#include "flow/v1/rpc.pb-c.h"
#include "flow/v1/worker.pb-c.h"
#include "log.h"
#include "reporter.h"
#include "status.h"
#include "stopflag.h"
#include "testsupport.h"
#include "worker.h"

#define MAX_ITEMS 512
#define MAX_HELD 64

struct fake_item {
	int64_t id;
	int32_t attempt;
	char agent[64];
};

struct got {
	int64_t id;
	int32_t attempt;
	bool success, retryable;
	char notes[256];
	char error[256];
	long long started_us; /* the metadata's startedAtUs; 0: absent */
};

struct fake {
	char url[600];
	pthread_mutex_t mu; /* process-shared */
	bool ready;	    /* the fake process listens */
	/* the script */
	struct fake_item queue[MAX_ITEMS];
	int n_queue;
	int64_t cancel[8];
	int n_cancel;
	int64_t stale[8];
	int n_stale;
	int not_found; /* answer NOT_FOUND to this many calls */
	/* what happened */
	int registrations, claims, heartbeats, reports;
	int reg_capacity, reg_agents;
	bool reg_noop;
	int64_t report_worker_id;
	struct got got[MAX_ITEMS];
	int n_got;
	int64_t last_held[MAX_HELD];
	int n_last_held;
};

static struct fake *fk; /* shared with the fake process */
static int fk_fd = -1;
static pid_t fk_pid;
static char *tmp;

/* ---- the fake flowd ------------------------------------------------------------ */

static void reply(nng_msg *msg, int code, const char *message, const ProtobufCMessage *body)
{
	Flow__V1__RpcResponse resp = FLOW__V1__RPC_RESPONSE__INIT;
	uint8_t *buf = NULL;
	size_t len;

	resp.has_code = 1;
	resp.code = (Flow__V1__Code)code;
	resp.message = (char *)message;
	if (body) {
		resp.has_body = 1;
		resp.body.len = protobuf_c_message_get_packed_size(body);
		resp.body.data = buf = malloc(resp.body.len + 1);
		protobuf_c_message_pack(body, buf);
	}
	len = flow__v1__rpc_response__get_packed_size(&resp);
	nng_msg_clear(msg);
	nng_msg_realloc(msg, len);
	flow__v1__rpc_response__pack(&resp, nng_msg_body(msg));
	free(buf);
}

/* Under fk->mu: NOT_FOUND scripted for this call? */
static bool take_not_found(void)
{
	if (fk->not_found == 0)
		return false;
	fk->not_found--;
	return true;
}

static void on_register(nng_msg *msg, const ProtobufCBinaryData *body)
{
	Flow__V1__RegisterWorkerRequest *req =
	    flow__v1__register_worker_request__unpack(NULL, body->len, body->data);
	Flow__V1__RegisterWorkerResponse resp = FLOW__V1__REGISTER_WORKER_RESPONSE__INIT;

	if (req == NULL)
		abort();
	pthread_mutex_lock(&fk->mu);
	fk->registrations++;
	fk->reg_capacity = req->capacity;
	fk->reg_agents = (int)req->n_agent_ids;
	fk->reg_noop = false;
	for (size_t i = 0; i < req->n_agent_ids; i++)
		fk->reg_noop = fk->reg_noop || strcmp(req->agent_ids[i], "noop") == 0;
	resp.has_worker_id = resp.has_heartbeat_ms = 1;
	resp.worker_id = 100 + fk->registrations;
	resp.heartbeat_ms = 200;
	pthread_mutex_unlock(&fk->mu);
	flow__v1__register_worker_request__free_unpacked(req, NULL);
	reply(msg, FLOW_OK, NULL, &resp.base);
}

/* Builds the reply of a Claim from up to max queued items. */
static void claim_reply(nng_msg *msg, int max)
{
	Flow__V1__ClaimResponse resp = FLOW__V1__CLAIM_RESPONSE__INIT;
	Flow__V1__ClaimedItem ci[MAX_ITEMS], *cp[MAX_ITEMS];
	Flow__V1__QueueItem qi[MAX_ITEMS];
	Flow__V1__Ticket t = FLOW__V1__TICKET__INIT;
	int n = 0;

	t.has_id = 1;
	t.id = 9;
	t.title = "a ticket";
	pthread_mutex_lock(&fk->mu);
	while (n < max && n < fk->n_queue) {
		flow__v1__claimed_item__init(&ci[n]);
		flow__v1__queue_item__init(&qi[n]);
		qi[n].has_id = qi[n].has_attempt = qi[n].has_ticket_id = 1;
		qi[n].id = fk->queue[n].id;
		qi[n].attempt = fk->queue[n].attempt;
		qi[n].ticket_id = 9;
		qi[n].agent_id = fk->queue[n].agent;
		ci[n].item = &qi[n];
		ci[n].ticket = &t;
		cp[n] = &ci[n];
		n++;
	}
	resp.n_items = (size_t)n;
	resp.items = cp;
	reply(msg, FLOW_OK, NULL, &resp.base);
	memmove(fk->queue, fk->queue + n, (size_t)(fk->n_queue - n) * sizeof(fk->queue[0]));
	fk->n_queue -= n;
	pthread_mutex_unlock(&fk->mu);
}

static void on_claim(nng_msg *msg, const ProtobufCBinaryData *body)
{
	Flow__V1__ClaimRequest *req = flow__v1__claim_request__unpack(NULL, body->len, body->data);
	int max, n;
	bool nf;

	if (req == NULL)
		abort();
	max = req->max_items;
	flow__v1__claim_request__free_unpacked(req, NULL);
	pthread_mutex_lock(&fk->mu);
	fk->claims++;
	nf = take_not_found();
	n = fk->n_queue;
	pthread_mutex_unlock(&fk->mu);
	if (nf) {
		reply(msg, FLOW_NOT_FOUND, "worker 101 is not registered", NULL);
		return;
	}
	if (n == 0)
		ts_sleep_ms(20); /* a short long poll */
	claim_reply(msg, max);
}

static void on_heartbeat(nng_msg *msg, const ProtobufCBinaryData *body)
{
	Flow__V1__HeartbeatRequest *req =
	    flow__v1__heartbeat_request__unpack(NULL, body->len, body->data);
	Flow__V1__HeartbeatResponse resp = FLOW__V1__HEARTBEAT_RESPONSE__INIT;
	int64_t cancel[8];
	bool nf;

	if (req == NULL)
		abort();
	pthread_mutex_lock(&fk->mu);
	nf = take_not_found();
	fk->heartbeats++;
	fk->n_last_held = 0;
	for (size_t i = 0; i < req->n_items && i < MAX_HELD; i++)
		fk->last_held[fk->n_last_held++] = req->items[i]->queue_item_id;
	memcpy(cancel, fk->cancel, sizeof(cancel));
	resp.n_cancelled = (size_t)fk->n_cancel;
	resp.cancelled = cancel;
	fk->n_cancel = 0;
	pthread_mutex_unlock(&fk->mu);
	flow__v1__heartbeat_request__free_unpacked(req, NULL);
	if (nf)
		reply(msg, FLOW_NOT_FOUND, "worker 101 is not registered", NULL);
	else
		reply(msg, FLOW_OK, NULL, &resp.base);
}

/* The "startedAtUs" of an outcome's metadata (compact JSON), 0 if absent. */
static long long started_at(const char *metadata)
{
	const char *p = metadata ? strstr(metadata, "\"startedAtUs\":") : NULL;

	return p ? strtoll(p + strlen("\"startedAtUs\":"), NULL, 10) : 0;
}

/* CLOCK_REALTIME in µs, the clock of startedAtUs. */
static long long realtime_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Under fk->mu. */
static void record(const Flow__V1__ItemOutcome *o)
{
	struct got *g = &fk->got[fk->n_got++];

	g->id = o->queue_item_id;
	g->attempt = o->attempt;
	g->success = o->success;
	g->retryable = o->retryable;
	snprintf(g->notes, sizeof(g->notes), "%s", o->completion_notes ? o->completion_notes : "");
	snprintf(g->error, sizeof(g->error), "%s", o->error ? o->error : "");
	g->started_us = started_at(o->metadata);
}

static bool is_stale(int64_t id)
{
	for (int i = 0; i < fk->n_stale; i++)
		if (fk->stale[i] == id)
			return true;
	return false;
}

static void on_report(nng_msg *msg, const ProtobufCBinaryData *body)
{
	Flow__V1__ReportRequest *req =
	    flow__v1__report_request__unpack(NULL, body->len, body->data);
	Flow__V1__ReportResponse resp = FLOW__V1__REPORT_RESPONSE__INIT;
	Flow__V1__OutcomeResult res[REPORTER_BATCH], *rp[REPORTER_BATCH];

	if (req == NULL || req->n_outcomes < 1 || req->n_outcomes > REPORTER_BATCH)
		abort();
	pthread_mutex_lock(&fk->mu);
	fk->reports++;
	fk->report_worker_id = req->worker_id;
	for (size_t i = 0; i < req->n_outcomes; i++) {
		flow__v1__outcome_result__init(&res[i]);
		res[i].has_queue_item_id = res[i].has_code = 1;
		res[i].queue_item_id = req->outcomes[i]->queue_item_id;
		res[i].code = is_stale(res[i].queue_item_id) ? FLOW__V1__CODE__FAILED_PRECONDITION
							     : FLOW__V1__CODE__OK;
		res[i].status = "completed";
		rp[i] = &res[i];
		record(req->outcomes[i]);
	}
	pthread_mutex_unlock(&fk->mu);
	resp.n_results = req->n_outcomes;
	resp.results = rp;
	reply(msg, FLOW_OK, NULL, &resp.base);
	flow__v1__report_request__free_unpacked(req, NULL);
}

static void handle(nng_msg *msg)
{
	Flow__V1__RpcRequest *req =
	    flow__v1__rpc_request__unpack(NULL, nng_msg_len(msg), nng_msg_body(msg));
	const char *m;

	if (req == NULL)
		abort();
	m = strrchr(req->method, '/') + 1;
	if (strcmp(m, "RegisterWorker") == 0)
		on_register(msg, &req->body);
	else if (strcmp(m, "Claim") == 0)
		on_claim(msg, &req->body);
	else if (strcmp(m, "Heartbeat") == 0)
		on_heartbeat(msg, &req->body);
	else if (strcmp(m, "Report") == 0)
		on_report(msg, &req->body);
	else
		reply(msg, FLOW_UNIMPLEMENTED, "not in the fake", NULL);
	flow__v1__rpc_request__free_unpacked(req, NULL);
}

/* The fake process: answers until it is killed. */
static int fake_main(int fd)
{
	nng_socket sock;
	char path[700];

	fk = mmap(NULL, sizeof(*fk), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (fk == MAP_FAILED)
		return 1;
	snprintf(path, sizeof(path), "%s", fk->url + strlen("ipc://"));
	unlink(path); /* the socket of a killed predecessor */
	if (nng_rep0_open(&sock) != 0 || nng_listen(sock, fk->url, NULL, 0) != 0)
		return 1;
	pthread_mutex_lock(&fk->mu);
	fk->ready = true;
	pthread_mutex_unlock(&fk->mu);
	for (;;) {
		nng_msg *msg;

		if (nng_recvmsg(sock, &msg, 0) != 0)
			continue;
		handle(msg);
		if (nng_sendmsg(sock, msg, 0) != 0)
			nng_msg_free(msg);
	}
}

static void fake_start(void)
{
	char fdarg[16];

	fk->ready = false;
	snprintf(fdarg, sizeof(fdarg), "%d", fk_fd);
	fk_pid = fork();
	assert_true(fk_pid >= 0);
	if (fk_pid == 0) {
		execl("/proc/self/exe", "worker_test", "--fake", fdarg, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		bool ready;

		pthread_mutex_lock(&fk->mu);
		ready = fk->ready;
		pthread_mutex_unlock(&fk->mu);
		if (ready)
			return;
		ts_sleep_ms(10);
	}
	fail_msg("the fake flowd did not start");
}

/* kill -9, as a crash. */
static void fake_stop(void)
{
	if (fk_pid <= 0)
		return;
	kill(fk_pid, SIGKILL);
	waitpid(fk_pid, NULL, 0);
	fk_pid = 0;
}

static void queue_item(int64_t id, const char *agent)
{
	pthread_mutex_lock(&fk->mu);
	fk->queue[fk->n_queue].id = id;
	fk->queue[fk->n_queue].attempt = 1;
	snprintf(fk->queue[fk->n_queue].agent, sizeof(fk->queue[0].agent), "%s", agent);
	fk->n_queue++;
	pthread_mutex_unlock(&fk->mu);
}

/* The recorded outcome of id (a copy), and how many were recorded. */
static int got(int64_t id, struct got *out)
{
	int n = 0;

	pthread_mutex_lock(&fk->mu);
	for (int i = 0; i < fk->n_got; i++)
		if (fk->got[i].id == id) {
			if (out)
				*out = fk->got[i];
			n++;
		}
	pthread_mutex_unlock(&fk->mu);
	return n;
}

static int count(const int *field)
{
	int v;

	pthread_mutex_lock(&fk->mu);
	v = *field;
	pthread_mutex_unlock(&fk->mu);
	return v;
}

static bool held_in_last_heartbeat(int64_t id)
{
	bool found = false;

	pthread_mutex_lock(&fk->mu);
	for (int i = 0; i < fk->n_last_held; i++)
		found = found || fk->last_held[i] == id;
	pthread_mutex_unlock(&fk->mu);
	return found;
}

/* ---- the worker under test --------------------------------------------------- */

struct run {
	struct worker_config cfg;
	agents *ag;
	struct stopflag stop, hurry;
	pthread_t th;
	int rc;
	atomic_bool done;
};

static void *run_main(void *arg)
{
	struct run *r = arg;

	r->rc = worker_run(&r->cfg, r->ag, &r->stop, &r->hurry);
	atomic_store(&r->done, true);
	return NULL;
}

static const char *script(const char *name, const char *body)
{
	static char path[16][600];
	static int next;
	char *p = path[next++ % 16];
	FILE *f;

	snprintf(p, 600, "%s/%s", tmp, name);
	f = fopen(p, "w");
	assert_non_null(f);
	fprintf(f, "#!/bin/sh\n%s\n", body);
	fclose(f);
	chmod(p, 0755);
	return p;
}

static void start_worker(struct run *r, const char *agents_text, int concurrency)
{
	char err[512];
	char *argv[] = { "flow-worker", NULL };

	memset(r, 0, sizeof(*r));
	assert_int_equal(worker_config_load(&r->cfg, 1, argv, err, sizeof(err)), 0);
	snprintf(r->cfg.url, sizeof(r->cfg.url), "%s", fk->url);
	snprintf(r->cfg.name, sizeof(r->cfg.name), "test-worker");
	r->cfg.concurrency = concurrency;
	r->cfg.claim_wait_ms = 1000;
	r->cfg.rpc_timeout_ms = 1000;
	r->cfg.shutdown_grace_ms = 300;
	r->cfg.kill_grace_ms = 200;
	assert_int_equal(agents_parse(agents_text, "agents.conf", &r->ag, err, sizeof(err)), 0);
	assert_int_equal(stopflag_init(&r->stop), 0);
	assert_int_equal(stopflag_init(&r->hurry), 0);
	assert_int_equal(pthread_create(&r->th, NULL, run_main, r), 0);
}

/* Stops the worker; returns how long worker_run took to return, ms. */
static long long stop_worker(struct run *r)
{
	long long t0 = stopflag_now_ms();

	stopflag_set(&r->stop);
	pthread_join(r->th, NULL);
	assert_int_equal(r->rc, 0);
	agents_free(r->ag);
	stopflag_destroy(&r->stop);
	stopflag_destroy(&r->hurry);
	return stopflag_now_ms() - t0;
}

#define WAIT_FOR(cond, ms)                                                                         \
	do {                                                                                       \
		int waited_ = 0;                                                                   \
		while (!(cond) && waited_ < (ms)) {                                                \
			ts_sleep_ms(10);                                                           \
			waited_ += 10;                                                             \
		}                                                                                  \
		assert_true(cond);                                                                 \
	} while (0)

static int setup(void **state)
{
	pthread_mutexattr_t ma;

	fake_stop();
	memset(fk, 0, sizeof(*fk));
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
	pthread_mutex_init(&fk->mu, &ma);
	pthread_mutexattr_destroy(&ma);
	snprintf(fk->url, sizeof(fk->url), "ipc://%s/fake-%ld.sock", tmp, random());
	fake_start();
	return 0;
}

static int teardown(void **state)
{
	fake_stop();
	return 0;
}

static int group_setup(void **state)
{
	signal(SIGPIPE, SIG_IGN);
	log_set_level(LOG_WARN); /* two info lines per item otherwise */
	tmp = ts_tmpdir();
	fk_fd = memfd_create("fake-flowd", 0);
	if (tmp == NULL || fk_fd < 0 || ftruncate(fk_fd, sizeof(*fk)) != 0)
		return -1;
	fk = mmap(NULL, sizeof(*fk), PROT_READ | PROT_WRITE, MAP_SHARED, fk_fd, 0);
	return fk == MAP_FAILED ? -1 : 0;
}

static int group_teardown(void **state)
{
	fake_stop();
	ts_rmrf(tmp);
	free(tmp);
	return 0;
}

/* ---- tests ------------------------------------------------------------------- */

static void test_noop_items_batched(void **state)
{
	struct run r;
	struct got g;
	int n = 300;
	long long t0 = realtime_us(), t1;

	for (int i = 1; i <= n; i++)
		queue_item(i, "noop");
	start_worker(&r, "", 8);
	WAIT_FOR(count(&fk->n_got) >= n, 10000);
	t1 = realtime_us();
	for (int i = 1; i <= n; i++) {
		assert_int_equal(got(i, &g), 1);
		assert_true(g.success);
		assert_string_equal(g.notes, "noop");
		/* when the built-in agent ran */
		assert_true(g.started_us >= t0 && g.started_us <= t1);
	}
	assert_true(count(&fk->reports) < n / 2); /* outcomes travel in batches */
	assert_int_equal(count(&fk->registrations), 1);
	assert_int_equal(count(&fk->reg_capacity), 8);
	assert_int_equal(count(&fk->reg_agents), 1);
	assert_true(fk->reg_noop);
	assert_true(stop_worker(&r) < 5000);
	assert_int_equal(count(&fk->n_got), n);
}

static void test_agents_and_failures(void **state)
{
	char text[2400];
	struct run r;
	struct got g;
	long long t0 = realtime_us();

	snprintf(text, sizeof(text), "echo = %s\nfail = %s\ntemp = %s\n",
		 script("echo.sh", "cat >/dev/null; echo \"done $FLOW_QUEUE_ITEM_ID\""),
		 script("fail.sh", "echo 'bad input' >&2; exit 3"), script("temp.sh", "exit 75"));
	queue_item(11, "echo");
	queue_item(12, "fail");
	queue_item(13, "temp");
	queue_item(14, "ghost");
	queue_item(15, "");
	start_worker(&r, text, 4);
	WAIT_FOR(count(&fk->n_got) >= 5, 10000);
	assert_int_equal(got(11, &g), 1);
	assert_true(g.success);
	assert_string_equal(g.notes, "done 11\n");
	assert_true(g.started_us >= t0 && g.started_us <= realtime_us());
	assert_int_equal(got(12, &g), 1);
	assert_false(g.success);
	assert_false(g.retryable);
	assert_string_equal(g.error, "exited with status 3: bad input");
	assert_int_equal(got(13, &g), 1);
	assert_true(g.retryable);
	assert_string_equal(g.error, "exited with status 75 (EX_TEMPFAIL)");
	assert_int_equal(got(14, &g), 1);
	assert_true(g.retryable);
	assert_string_equal(g.error, "agent \"ghost\" is not configured on this worker");
	assert_int_equal(g.started_us, 0); /* it never started */
	assert_int_equal(got(15, &g), 1);
	assert_true(g.retryable);
	assert_non_null(strstr(g.error, "names no agent"));
	assert_int_equal(count(&fk->reg_agents), 4);
	stop_worker(&r);
}

static void test_reregisters_on_not_found(void **state)
{
	struct run r;
	struct got g = { 0 };

	fk->not_found = 1; /* the first Claim */
	queue_item(21, "noop");
	start_worker(&r, "", 2);
	WAIT_FOR(got(21, &g) == 1, 10000);
	assert_true(g.success);
	assert_int_equal(count(&fk->registrations), 2);
	assert_int_equal(fk->report_worker_id, 102); /* the id of the second registration */
	stop_worker(&r);
}

static void test_heartbeat_cancel_stops_agent(void **state)
{
	char body[800], path[700], *pidtext;
	struct run r;
	pid_t pid;

	snprintf(body, sizeof(body), "echo $$ > %s/sleeper.pid\nexec sleep 30", tmp);
	snprintf(path, sizeof(path), "sleeper = %s\n", script("sleeper.sh", body));
	queue_item(31, "sleeper");
	start_worker(&r, path, 2);
	WAIT_FOR(held_in_last_heartbeat(31), 5000);
	snprintf(path, sizeof(path), "%s/sleeper.pid", tmp);
	WAIT_FOR(access(path, F_OK) == 0, 5000);
	ts_sleep_ms(50); /* written, not only created */
	pidtext = ts_read_file(path, NULL);
	assert_non_null(pidtext);
	pid = (pid_t)atol(pidtext);
	free(pidtext);
	assert_true(pid > 1);
	pthread_mutex_lock(&fk->mu);
	fk->cancel[fk->n_cancel++] = 31;
	pthread_mutex_unlock(&fk->mu);
	WAIT_FOR(kill(pid, 0) != 0, 3000); /* stopped and reaped */
	WAIT_FOR(!held_in_last_heartbeat(31), 3000);
	ts_sleep_ms(300);
	assert_int_equal(got(31, NULL), 0); /* its outcome is dropped */
	stop_worker(&r);
	assert_int_equal(got(31, NULL), 0);
}

static void test_shutdown_reports_retryable(void **state)
{
	char line[800];
	struct run r;
	struct got g;
	long long took;

	snprintf(line, sizeof(line), "long = %s\n", script("long.sh", "exec sleep 30"));
	queue_item(41, "long");
	start_worker(&r, line, 2);
	WAIT_FOR(held_in_last_heartbeat(41), 5000);
	took = stop_worker(&r);
	assert_true(took >= 300 && took < 3000);
	assert_int_equal(got(41, &g), 1);
	assert_false(g.success);
	assert_true(g.retryable);
	assert_string_equal(g.error, "worker shutting down");
}

static void test_finished_agent_waits_for_flowd(void **state)
{
	char line[800];
	struct run r;
	struct got g;

	snprintf(line, sizeof(line), "short = %s\n",
		 script("short.sh", "cat >/dev/null; sleep 1; echo finished"));
	queue_item(51, "short");
	start_worker(&r, line, 2);
	WAIT_FOR(count(&fk->n_queue) == 0 && count(&fk->claims) > 0, 5000);
	fake_stop(); /* flowd dies while the agent runs */
	ts_sleep_ms(2500);
	assert_int_equal(got(51, NULL), 0);
	fake_start(); /* and is restarted */
	WAIT_FOR(got(51, &g) == 1, 15000);
	assert_true(g.success);
	assert_string_equal(g.notes, "finished\n");
	queue_item(52, "noop"); /* claiming works again */
	WAIT_FOR(got(52, NULL) == 1, 10000);
	stop_worker(&r);
}

static void test_stale_outcome_dropped(void **state)
{
	struct run r;

	fk->stale[fk->n_stale++] = 61;
	queue_item(61, "noop");
	start_worker(&r, "", 1);
	WAIT_FOR(got(61, NULL) == 1, 5000);
	queue_item(62, "noop"); /* the slot was freed: work goes on */
	WAIT_FOR(got(62, NULL) == 1, 5000);
	ts_sleep_ms(300);
	assert_int_equal(got(61, NULL), 1); /* not sent again */
	WAIT_FOR(!held_in_last_heartbeat(61), 3000);
	stop_worker(&r);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_noop_items_batched, setup, teardown),
		cmocka_unit_test_setup_teardown(test_agents_and_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reregisters_on_not_found, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heartbeat_cancel_stops_agent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_reports_retryable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_finished_agent_waits_for_flowd, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stale_outcome_dropped, setup, teardown),
	};
	if (argc == 3 && strcmp(argv[1], "--fake") == 0)
		return fake_main(atoi(argv[2]));
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
