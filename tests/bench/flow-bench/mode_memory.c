/*
 * mode_memory.c - resident memory of flowd with idle workers long-polling,
 * and of one idle flow-worker.
 *
 * The idle workers are simulated: --idle-callers threads of flow-bench,
 * each with its own connection (nng socket), register as a worker
 * (RegisterWorker with the worker's API key) and then loop on a long-poll
 * Claim (wait 30 s) on an empty queue. For flowd that is exactly what an
 * idle flow-worker is: one connection and one parked Claim. Then one real
 * flow-worker (noop only, the default --concurrency 4) is started and left
 * idle. VmRSS (now) and VmHWM (peak) come from /proc/PID/status.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "flow/v1/flow_manager.pb-c.h"
#include "flow/v1/worker.pb-c.h"
#include "status.h"

#define IDLE_WORKER_CONCURRENCY 4

struct caller {
	pthread_t th;
	struct env *e;
	int idx;
	bool started;
};

static atomic_int callers_ready, callers_failed;
static atomic_bool callers_stop;

static void *caller_main(void *arg)
{
	struct caller *c = arg;
	/* dial in the background: 200 callers connecting at once may overflow
	 * the listen backlog, and nng then simply dials again */
	struct rpc_client_opts o = { .deadline_ms = 45000,
				     .token = c->e->worker_key,
				     .background_dial = true };
	Flow__V1__RegisterWorkerRequest reg = FLOW__V1__REGISTER_WORKER_REQUEST__INIT;
	Flow__V1__RegisterWorkerResponse *rr = NULL;
	char name[32], *agents[] = { "noop" };
	struct rpc_status st;
	rpc_client *rc;
	int64_t id;

	if (rpc_client_open(c->e->flowd[0].url, &o, &rc, &st) != FLOW_OK) {
		fprintf(stderr, "flow-bench: idle caller %d: %s\n", c->idx, st.message);
		atomic_fetch_add(&callers_failed, 1);
		return NULL;
	}
	snprintf(name, sizeof(name), "idle-%d", c->idx);
	reg.name = name;
	reg.n_agent_ids = 1;
	reg.agent_ids = agents;
	reg.has_capacity = 1;
	reg.capacity = 1;
	if (rpc_client_call(rc, "/flow.v1.WorkerService/RegisterWorker", &reg.base, NULL,
			    (ProtobufCMessage **)&rr, &st) != FLOW_OK) {
		fprintf(stderr, "flow-bench: RegisterWorker: %s\n", st.message);
		atomic_fetch_add(&callers_failed, 1);
		rpc_client_close(rc);
		return NULL;
	}
	id = rr->worker_id;
	protobuf_c_message_free_unpacked(&rr->base, NULL);
	atomic_fetch_add(&callers_ready, 1);
	while (!atomic_load(&callers_stop)) {
		Flow__V1__ClaimRequest q = FLOW__V1__CLAIM_REQUEST__INIT;
		ProtobufCMessage *resp = NULL;

		q.has_worker_id = q.has_max_items = q.has_wait_ms = 1;
		q.worker_id = id;
		q.max_items = 1;
		q.wait_ms = 30000;
		if (rpc_client_call(rc, "/flow.v1.WorkerService/Claim", &q.base, NULL, &resp,
				    &st) != FLOW_OK &&
		    !atomic_load(&callers_stop))
			stats_sleep_ms(100);
		if (resp)
			protobuf_c_message_free_unpacked(resp, NULL);
	}
	rpc_client_close(rc);
	return NULL;
}

/* Connected workers flowd knows (ListWorkers), or -1. */
static long connected_workers(struct env *e)
{
	Flow__V1__ListWorkersRequest q = FLOW__V1__LIST_WORKERS_REQUEST__INIT;
	Flow__V1__ListWorkersResponse *r = NULL;
	struct rpc_status st;
	long n = 0;

	q.has_limit = 1;
	q.limit = 10000;
	if (env_call(e, 0, "/flow.v1.FlowManager/ListWorkers", &q.base, (ProtobufCMessage **)&r,
		     &st) != FLOW_OK) {
		fprintf(stderr, "flow-bench: ListWorkers: %s\n", st.message);
		return -1;
	}
	for (size_t i = 0; i < r->n_workers; i++)
		n += r->workers[i]->connected;
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return n;
}

static int wait_connected(struct env *e, long n)
{
	double t0 = stats_mono_s();

	while (stats_mono_s() - t0 < 60 && !bench_interrupted) {
		long c = connected_workers(e);

		if (c < 0 || atomic_load(&callers_failed) > 0)
			return -1;
		if (c >= n) {
			stats_sleep_ms(1000); /* every Claim sent and parked */
			return 0;
		}
		stats_sleep_ms(50);
	}
	fprintf(stderr, "flow-bench: only some of %ld workers registered\n", n);
	return -1;
}

static void print_memory(long rss0, long hwm0, long rss, long hwm, long wrss, long whwm, long n)
{
	char target[96];

	report_ctx_clear();
	report_ctx("idle_callers", n);
	report_ctx("flowd_threads", opt.threads);
	report_figure("memory", "flowd_rss_idle_start", rss0 / 1024.0, "MiB",
		      "VmRSS before any worker", -1);
	report_figure("memory", "flowd_hwm_idle_start", hwm0 / 1024.0, "MiB", NULL, -1);
	snprintf(target, sizeof(target), "<= 32 MiB with %ld idle workers", n);
	report_figure("memory", "flowd_rss_idle_workers", rss / 1024.0, "MiB", target,
		      rss <= 32 * 1024);
	report_figure("memory", "flowd_hwm_idle_workers", hwm / 1024.0, "MiB", "VmHWM (peak)", -1);
	report_figure("memory", "flowd_kib_per_idle_worker",
		      n ? (double)(rss - rss0) / (double)n : 0, "KiB", NULL, -1);
	report_ctx_clear();
	report_ctx("concurrency", IDLE_WORKER_CONCURRENCY);
	report_figure("memory", "worker_rss_idle", wrss / 1024.0, "MiB", "<= 8 MiB",
		      wrss <= 8 * 1024);
	report_figure("memory", "worker_hwm_idle", whwm / 1024.0, "MiB", "VmHWM (peak)", -1);
	report_ctx_clear();
}

int mode_memory(void)
{
	struct env e;
	struct seed s = { 0 };
	struct caller *cl = NULL;
	long n = opt.idle_callers, started = 0;
	long rss0, hwm0, rss = 0, hwm = 0, wrss = 0, whwm = 0;
	pid_t w;
	int rv = -1;

	atomic_store(&callers_ready, 0);
	atomic_store(&callers_failed, 0);
	atomic_store(&callers_stop, false);
	if (env_open(&e, "memory") != 0 || env_flowd_start(&e) != 0 ||
	    seed_project_queue(&e, "noop", &s) != 0)
		goto out;
	stats_sleep_ms(500);
	if (proc_rss_kib(e.flowd[0].pid, &rss0, &hwm0) != 0 ||
	    (cl = calloc((size_t)n, sizeof(*cl))) == NULL)
		goto out;
	for (; started < n; started++) {
		pthread_attr_t a;

		cl[started].e = &e;
		cl[started].idx = (int)started;
		pthread_attr_init(&a);
		pthread_attr_setstacksize(&a, 256 * 1024);
		if (pthread_create(&cl[started].th, &a, caller_main, &cl[started]) != 0) {
			pthread_attr_destroy(&a);
			goto out;
		}
		pthread_attr_destroy(&a);
	}
	report_note("memory: %ld idle callers started", n);
	if (wait_connected(&e, n) != 0 || proc_rss_kib(e.flowd[0].pid, &rss, &hwm) != 0)
		goto out;
	if ((w = env_worker_start(&e, 0, NULL, IDLE_WORKER_CONCURRENCY)) < 0 ||
	    wait_connected(&e, n + 1) != 0 || proc_rss_kib(w, &wrss, &whwm) != 0)
		goto out;
	print_memory(rss0, hwm0, rss, hwm, wrss, whwm, n);
	rv = 0;
out:
	if (rv != 0 && e.dir)
		env_dump_logs(&e);
	atomic_store(&callers_stop, true);
	env_workers_stop(&e);
	/* flowd answers the parked Claims as it stops; then the callers end */
	if (e.n_flowd > 0 && e.flowd[0].pid > 0)
		kill(e.flowd[0].pid, SIGTERM);
	for (long i = 0; i < started; i++)
		pthread_join(cl[i].th, NULL);
	free(cl);
	seed_free(&s);
	env_close(&e);
	return rv;
}
