/*
 * mode_rpc.c - a read RPC (FlowManager.GetQueue with the admin's JWT)
 * against its two floors, measured in the same run:
 *   echo     raw nng REQ/REP over the same transport (ipc://): a REP server
 *            thread pool in flow-bench (nng contexts, as flowd's front end)
 *            echoes a message the size of the RPC's request envelope;
 *   select1  "SELECT 1" (prepared) over libpq to the same PostgreSQL.
 * Each client is a thread with its own connection (nng socket, PGconn or
 * rpc_client). Runs of 1 and --rpc-clients (16) concurrent clients, for
 * --rpc-ms each, interleaved kind by kind over --rounds rounds so that
 * machine noise hits all three alike. Latency per call from
 * CLOCK_MONOTONIC around the blocking call; throughput = calls / time.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "bench.h"
#include "flow/v1/flow_manager.pb-c.h"
#include "flow/v1/rpc.pb-c.h"
#include "rpc.h"
#include "status.h"

#define M_GET_QUEUE "/flow.v1.FlowManager/GetQueue"
#define ECHO_CONTEXTS 64
#define MAX_CLIENTS 64

enum kind { K_ECHO, K_SELECT, K_RPC, N_KIND };
static const char *const kind_name[N_KIND] = { "echo", "select1", "get_queue" };

struct client {
	enum kind kind;
	nng_socket sock; /* echo */
	PGconn *pg;	 /* select1 */
	rpc_client *rc;	 /* get_queue */
	int64_t queue_id;
	/* per run */
	pthread_t th;
	pthread_barrier_t *start;
	int64_t end_ns;
	struct samples lat;
	long calls, errors;
	int64_t last_ns;
};

static uint8_t *payload;
static size_t payload_len;

/* ---- the echo server ------------------------------------------------------------ */

struct echo_ctx {
	nng_aio *aio;
	nng_ctx ctx;
	int sending;
};

static nng_socket echo_sock;
static struct echo_ctx echo_ctxs[ECHO_CONTEXTS];

static void echo_cb(void *arg)
{
	struct echo_ctx *c = arg;

	if (nng_aio_result(c->aio) != 0) {
		if (c->sending) {
			nng_msg_free(nng_aio_get_msg(c->aio));
			c->sending = 0;
			nng_ctx_recv(c->ctx, c->aio);
		}
		return; /* receive failed: the socket is closing */
	}
	if (!c->sending) {
		c->sending = 1;
		/* the received message goes back as it is */
		nng_ctx_send(c->ctx, c->aio);
		return;
	}
	c->sending = 0;
	nng_ctx_recv(c->ctx, c->aio);
}

static int echo_start(const char *url)
{
	int rv;

	if ((rv = nng_rep0_open(&echo_sock)) != 0)
		return -1;
	for (int i = 0; i < ECHO_CONTEXTS; i++) {
		if (nng_aio_alloc(&echo_ctxs[i].aio, echo_cb, &echo_ctxs[i]) != 0 ||
		    nng_ctx_open(&echo_ctxs[i].ctx, echo_sock) != 0)
			return -1;
	}
	if ((rv = nng_listen(echo_sock, url, NULL, 0)) != 0) {
		fprintf(stderr, "flow-bench: echo listen %s: %s\n", url, nng_strerror(rv));
		return -1;
	}
	for (int i = 0; i < ECHO_CONTEXTS; i++)
		nng_ctx_recv(echo_ctxs[i].ctx, echo_ctxs[i].aio);
	return 0;
}

static void echo_stop(void)
{
	nng_close(echo_sock);
	for (int i = 0; i < ECHO_CONTEXTS; i++) {
		if (echo_ctxs[i].aio) {
			nng_aio_stop(echo_ctxs[i].aio);
			nng_aio_free(echo_ctxs[i].aio);
		}
	}
	memset(echo_ctxs, 0, sizeof(echo_ctxs));
}

/* ---- clients ------------------------------------------------------------------- */

static int call_once(struct client *c)
{
	switch (c->kind) {
	case K_ECHO: {
		nng_msg *m, *rep;

		if (nng_msg_alloc(&m, payload_len) != 0)
			return -1;
		memcpy(nng_msg_body(m), payload, payload_len);
		if (nng_sendmsg(c->sock, m, 0) != 0) {
			nng_msg_free(m);
			return -1;
		}
		if (nng_recvmsg(c->sock, &rep, 0) != 0)
			return -1;
		nng_msg_free(rep);
		return 0;
	}
	case K_SELECT: {
		PGresult *r = PQexecPrepared(c->pg, "one", 0, NULL, NULL, NULL, 0);
		int ok = PQresultStatus(r) == PGRES_TUPLES_OK;

		PQclear(r);
		return ok ? 0 : -1;
	}
	case K_RPC: {
		Flow__V1__GetQueueRequest q = FLOW__V1__GET_QUEUE_REQUEST__INIT;
		ProtobufCMessage *resp = NULL;
		struct rpc_status st;
		int rv;

		q.has_queue_id = 1;
		q.queue_id = c->queue_id;
		rv = rpc_client_call(c->rc, M_GET_QUEUE, &q.base, NULL, &resp, &st);
		if (resp)
			protobuf_c_message_free_unpacked(resp, NULL);
		if (rv != FLOW_OK && c->errors == 0)
			fprintf(stderr, "flow-bench: GetQueue: %s\n", st.message);
		return rv == FLOW_OK ? 0 : -1;
	}
	default:
		return -1;
	}
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	int64_t t0, t1;

	pthread_barrier_wait(c->start);
	t1 = stats_mono_ns();
	do {
		t0 = t1;
		if (call_once(c) != 0)
			c->errors++;
		t1 = stats_mono_ns();
		samples_add(&c->lat, (double)(t1 - t0) / 1000.0);
		c->calls++;
	} while (t1 < c->end_ns && c->errors < 10);
	c->last_ns = t1;
	return NULL;
}

static int client_open(struct client *c, enum kind k, struct env *e, const char *echo_url,
		       int64_t queue_id)
{
	memset(c, 0, sizeof(*c));
	c->kind = k;
	c->queue_id = queue_id;
	switch (k) {
	case K_ECHO:
		if (nng_req0_open(&c->sock) != 0 || nng_dial(c->sock, echo_url, NULL, 0) != 0)
			return -1;
		return 0;
	case K_SELECT: {
		PGresult *r;

		c->pg = PQconnectdb(e->db_url);
		if (PQstatus(c->pg) != CONNECTION_OK)
			return -1;
		r = PQprepare(c->pg, "one", "SELECT 1", 0, NULL);
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			PQclear(r);
			return -1;
		}
		PQclear(r);
		return 0;
	}
	case K_RPC: {
		struct rpc_client_opts o = { .deadline_ms = 10000, .token = e->token };
		struct rpc_status st;

		return rpc_client_open(e->flowd[0].url, &o, &c->rc, &st) == FLOW_OK ? 0 : -1;
	}
	default:
		return -1;
	}
}

static void client_close(struct client *c)
{
	if (c->kind == K_ECHO)
		nng_close(c->sock);
	if (c->pg)
		PQfinish(c->pg);
	rpc_client_close(c->rc);
	samples_free(&c->lat);
}

/* One timed run of n clients of one kind; latencies added to lat. */
static int run(struct client *cl, int n, long ms, struct samples *lat, long *calls, double *secs)
{
	pthread_barrier_t bar;
	int64_t start, end = 0;
	long errors = 0;

	pthread_barrier_init(&bar, NULL, (unsigned)n + 1);
	for (int i = 0; i < n; i++) {
		cl[i].start = &bar;
		cl[i].calls = cl[i].errors = 0;
		cl[i].lat.n = 0;
		if (pthread_create(&cl[i].th, NULL, client_main, &cl[i]) != 0)
			return -1;
	}
	start = stats_mono_ns();
	for (int i = 0; i < n; i++)
		cl[i].end_ns = start + ms * 1000000;
	pthread_barrier_wait(&bar);
	start = stats_mono_ns();
	for (int i = 0; i < n; i++) {
		pthread_join(cl[i].th, NULL);
		if (cl[i].last_ns > end)
			end = cl[i].last_ns;
		errors += cl[i].errors;
		*calls += cl[i].calls;
		samples_merge(lat, &cl[i].lat);
	}
	pthread_barrier_destroy(&bar);
	*secs += (double)(end - start) / 1e9;
	if (errors) {
		fprintf(stderr, "flow-bench: %ld failed %s calls\n", errors, kind_name[cl[0].kind]);
		return -1;
	}
	return 0;
}

/* The GetQueue request envelope as rpc_client sends it: the echo payload. */
static int make_payload(struct env *e, int64_t queue_id)
{
	Flow__V1__GetQueueRequest q = FLOW__V1__GET_QUEUE_REQUEST__INIT;
	Flow__V1__RpcRequest env = FLOW__V1__RPC_REQUEST__INIT;
	uint8_t body[32];
	char rid[32];

	q.has_queue_id = 1;
	q.queue_id = queue_id;
	rpc_new_request_id(rid, sizeof(rid));
	env.method = M_GET_QUEUE;
	env.has_body = 1;
	env.body.data = body;
	env.body.len = protobuf_c_message_pack(&q.base, body);
	env.token = e->token;
	env.request_id = rid;
	env.has_deadline_ms = 1;
	env.deadline_ms = 10000;
	payload_len = flow__v1__rpc_request__get_packed_size(&env);
	if ((payload = malloc(payload_len)) == NULL)
		return -1;
	flow__v1__rpc_request__pack(&env, payload);
	return 0;
}

struct result {
	struct samples lat;
	long calls;
	double secs;
	long long server_cpu_us; /* flowd (get_queue) or flow-bench itself (echo) */
	long long pg_cpu_us;	 /* the PostgreSQL server's processes */
};

static long long self_cpu_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
	       ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

/* A run with the CPU time of the server side (flowd or flow-bench's echo
 * threads, clients included for echo) and of PostgreSQL added to r. */
static int run_measured(struct env *e, struct client *cl, int n, struct result *r)
{
	enum kind k = cl[0].kind;
	long long s0 = k == K_RPC ? proc_cpu_us(e->flowd[0].pid) : self_cpu_us();
	long long p0 = proc_postgres_cpu_us(e->postmaster);
	int rv = run(cl, n, opt.rpc_ms, &r->lat, &r->calls, &r->secs);

	r->server_cpu_us += (k == K_RPC ? proc_cpu_us(e->flowd[0].pid) : self_cpu_us()) - s0;
	r->pg_cpu_us += proc_postgres_cpu_us(e->postmaster) - p0;
	return rv;
}

static void print_results(struct result res[2][N_KIND], int nc[2])
{
	char name[64], target[200];

	for (int ci = 0; ci < 2; ci++) {
		report_ctx_clear();
		report_ctx("clients", nc[ci]);
		report_ctx("payload_bytes", (long)payload_len);
		for (int k = 0; k < N_KIND; k++) {
			struct result *r = &res[ci][k];

			snprintf(name, sizeof(name), "%s_p50_c%d", kind_name[k], nc[ci]);
			report_figure("rpc", name, samples_pct(&r->lat, 50), "us", NULL, -1);
			snprintf(name, sizeof(name), "%s_p99_c%d", kind_name[k], nc[ci]);
			report_figure("rpc", name, samples_pct(&r->lat, 99), "us", NULL, -1);
			snprintf(name, sizeof(name), "%s_calls_per_s_c%d", kind_name[k], nc[ci]);
			report_figure("rpc", name, (double)r->calls / r->secs, "calls/s", NULL, -1);
			if (k != K_SELECT) {
				snprintf(name, sizeof(name), "%s_%s_cpu_us_per_call_c%d",
					 kind_name[k], k == K_RPC ? "flowd" : "bench", nc[ci]);
				report_figure(
				    "rpc", name, (double)r->server_cpu_us / (double)r->calls, "us",
				    k == K_RPC ? NULL : "flow-bench: echo server and clients", -1);
			}
			if (k != K_ECHO) {
				snprintf(name, sizeof(name), "%s_postgres_cpu_us_per_call_c%d",
					 kind_name[k], nc[ci]);
				report_figure("rpc", name, (double)r->pg_cpu_us / (double)r->calls,
					      "us", NULL, -1);
			}
		}
	}
	{
		double rpc = samples_pct(&res[0][K_RPC].lat, 50);
		double base =
		    samples_pct(&res[0][K_ECHO].lat, 50) + samples_pct(&res[0][K_SELECT].lat, 50);

		report_ctx_clear();
		report_ctx("clients", nc[0]);
		snprintf(target, sizeof(target),
			 "<= 1.3 (get_queue p50 %.1f us / (echo %.1f + select1 %.1f us))", rpc,
			 samples_pct(&res[0][K_ECHO].lat, 50),
			 samples_pct(&res[0][K_SELECT].lat, 50));
		report_figure("rpc", "ratio_p50_to_floor_c1", rpc / base, "x", target,
			      rpc <= 1.3 * base);
	}
	{
		double rpc = (double)res[1][K_RPC].calls / res[1][K_RPC].secs;
		double echo = (double)res[1][K_ECHO].calls / res[1][K_ECHO].secs;
		double rpc50 = samples_pct(&res[1][K_RPC].lat, 50);
		double base =
		    samples_pct(&res[1][K_ECHO].lat, 50) + samples_pct(&res[1][K_SELECT].lat, 50);

		report_ctx_clear();
		report_ctx("clients", nc[1]);
		snprintf(name, sizeof(name), "ratio_calls_per_s_to_echo_c%d", nc[1]);
		snprintf(target, sizeof(target), ">= 0.5 (%.0f / %.0f calls/s)", rpc, echo);
		report_figure("rpc", name, rpc / echo, "x", target, rpc >= 0.5 * echo);
		snprintf(name, sizeof(name), "ratio_p50_to_floor_c%d", nc[1]);
		report_figure("rpc", name, rpc50 / base, "x", "no target at this concurrency", -1);
	}
	report_ctx_clear();
}

int mode_rpc(void)
{
	static struct client cl[N_KIND][MAX_CLIENTS];
	struct result res[2][N_KIND];
	int nc[2] = { 1, (int)opt.rpc_clients };
	struct env e;
	struct seed s = { 0 };
	char echo_url[800];
	int rv = -1, opened[N_KIND] = { 0 };

	memset(res, 0, sizeof(res));
	if (env_open(&e, "rpc") != 0 || env_flowd_start(&e) != 0 ||
	    seed_project_queue(&e, "noop", &s) != 0 || make_payload(&e, s.queue_id) != 0)
		goto out;
	snprintf(echo_url, sizeof(echo_url), "ipc://%s/echo.sock", e.dir);
	if (echo_start(echo_url) != 0)
		goto out;
	for (int k = 0; k < N_KIND; k++)
		for (; opened[k] < nc[1]; opened[k]++)
			if (client_open(&cl[k][opened[k]], (enum kind)k, &e, echo_url,
					s.queue_id) != 0) {
				fprintf(stderr, "flow-bench: cannot open a %s client\n",
					kind_name[k]);
				goto out;
			}
	report_note("rpc: request envelope %zu bytes; warming up", payload_len);
	for (int k = 0; k < N_KIND; k++) {
		struct samples w = { 0 };
		long calls = 0;
		double secs = 0;

		if (run(cl[k], nc[1], opt.rpc_ms / 4 + 1, &w, &calls, &secs) != 0)
			goto out;
		samples_free(&w);
	}
	for (long round = 0; round < opt.rounds && !bench_interrupted; round++) {
		report_note("rpc: round %ld of %ld", round + 1, opt.rounds);
		for (int ci = 0; ci < 2; ci++)
			for (int k = 0; k < N_KIND; k++)
				if (run_measured(&e, cl[k], nc[ci], &res[ci][k]) != 0)
					goto out;
	}
	if (bench_interrupted)
		goto out;
	print_results(res, nc);
	rv = 0;
out:
	for (int k = 0; k < N_KIND; k++)
		for (int i = 0; i < opened[k]; i++)
			client_close(&cl[k][i]);
	for (int ci = 0; ci < 2; ci++)
		for (int k = 0; k < N_KIND; k++)
			samples_free(&res[ci][k].lat);
	echo_stop();
	free(payload);
	payload = NULL;
	seed_free(&s);
	env_close(&e);
	return rv;
}
