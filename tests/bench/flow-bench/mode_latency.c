/*
 * mode_latency.c - enqueue-accepted -> agent-started with idle workers.
 *
 * W flow-worker processes wait in their long-poll Claim (flowd wakes them
 * through LISTEN/NOTIFY). flow-bench enqueues one task item at a time
 * (EnqueueTask, --lat-gap-ms apart) and notes the CLOCK_REALTIME time, in
 * µs, at which the reply arrived ("accepted"). The agent of those items is
 * flow-bench-stamp, which appends "item_id realtime_us" to a file as the
 * first thing it does ("agent started"). The same clock on one machine:
 * PostgreSQL's clock_timestamp(), which gives each item's started_at (the
 * claim), reads it too, so the path splits into accepted -> claimed (flowd,
 * PostgreSQL) and claimed -> agent started (the Claim reply, flow-worker's
 * dispatch, posix_spawn).
 *
 * Then the same with items of the built-in noop agent, which runs in the
 * worker's own process (as the peer's jobs run in its): its start is the
 * outcome metadata's startedAtUs (docs/worker.md), read from the row once
 * the item has completed. Its figures are prefixed "builtin_".
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "flow/v1/flow_manager.pb-c.h"
#include "flow/v1/model.pb-c.h"
#include "status.h"
#include "testsupport.h"

struct lat_item {
	int64_t id;
	int64_t sent_us, accepted_us, claimed_us, started_us;
};

/* Waits until n workers are registered and seen, then lets their first
 * Claim park. */
static int wait_workers_idle(struct env *e, long n)
{
	double t0 = stats_mono_s();

	while (stats_mono_s() - t0 < 30 && !bench_interrupted) {
		Flow__V1__ListWorkersRequest q = FLOW__V1__LIST_WORKERS_REQUEST__INIT;
		Flow__V1__ListWorkersResponse *r = NULL;
		struct rpc_status st;
		long seen = 0;

		if (env_call(e, 0, "/flow.v1.FlowManager/ListWorkers", &q.base,
			     (ProtobufCMessage **)&r, &st) != FLOW_OK) {
			fprintf(stderr, "flow-bench: ListWorkers: %s\n", st.message);
			return -1;
		}
		for (size_t i = 0; i < r->n_workers; i++)
			seen += r->workers[i]->connected;
		protobuf_c_message_free_unpacked(&r->base, NULL);
		if (seen >= n) {
			stats_sleep_ms(500);
			return 0;
		}
		if (env_workers_alive(e) != 0)
			return -1;
		stats_sleep_ms(50);
	}
	fprintf(stderr, "flow-bench: the workers did not register\n");
	return -1;
}

static char stamp_prog[4200];

static int write_agents(struct env *e, char *agents, size_t len, char *stamps, size_t slen,
			const char **which)
{
	char *prog = stamp_prog;
	const size_t plen = sizeof(stamp_prog);
	FILE *f;

	snprintf(agents, len, "%s/agents.conf", e->dir);
	snprintf(stamps, slen, "%s/stamps", e->dir);
	snprintf(prog, plen, "%s/flow-bench-stamp", opt.bindir);
	*which = "flow-bench-stamp";
	if (access(prog, X_OK) != 0) {
		fprintf(stderr, "flow-bench: %s is missing (build the flow-bench-stamp target)\n",
			prog);
		return -1;
	}
	if ((f = fopen(agents, "we")) == NULL)
		return -1;
	fprintf(f, "# flow-bench latency mode\nstamp = %s %s\n", prog, stamps);
	return fclose(f) == 0 ? 0 : -1;
}

static int enqueue_all(struct env *e, const struct seed *s, struct lat_item *it, long n)
{
	struct rpc_client_opts o = { .deadline_ms = 10000, .token = e->token };
	struct rpc_status st;
	rpc_client *c;
	int rv = 0;

	if (rpc_client_open(e->flowd[0].url, &o, &c, &st) != FLOW_OK)
		return -1;
	for (long i = 0; i < n && !bench_interrupted; i++) {
		Flow__V1__EnqueueTaskRequest q = FLOW__V1__ENQUEUE_TASK_REQUEST__INIT;
		Flow__V1__EnqueueResponse *r = NULL;

		q.has_queue_id = q.has_task_id = 1;
		q.queue_id = s->queue_id;
		q.task_id = s->tasks[i];
		it[i].sent_us = stats_real_us();
		if (rpc_client_call(c, "/flow.v1.FlowManager/EnqueueTask", &q.base, NULL,
				    (ProtobufCMessage **)&r, &st) != FLOW_OK ||
		    r->n_items != 1) {
			fprintf(stderr, "flow-bench: EnqueueTask: %s\n", st.message);
			rv = -1;
			break;
		}
		it[i].accepted_us = stats_real_us();
		it[i].id = r->items[0]->id;
		protobuf_c_message_free_unpacked(&r->base, NULL);
		/* a few ms apart, so every item finds the workers idle */
		stats_sleep_ms(opt.lat_gap_ms);
	}
	rpc_client_close(c);
	return bench_interrupted ? -1 : rv;
}

/*
 * The floor of claimed -> started: flow-bench itself starts the stamp agent
 * n times with posix_spawn, as flow-worker does, and times the call -> the
 * agent's stamp. Returns the samples in ms.
 */
static int spawn_floor(const struct env *e, const char *agents_prog, struct samples *out, long n)
{
	char path[800], prog[4200], idbuf[48];
	int64_t *t0 = calloc((size_t)n, sizeof(*t0));
	char *text, *line, *save = NULL;

	if (t0 == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/spawn-stamps", e->dir);
	snprintf(prog, sizeof(prog), "%s", agents_prog);
	for (long i = 0; i < n; i++) {
		char *argv[] = { prog, path, NULL };
		char *envp[] = { idbuf, NULL };
		pid_t pid;

		snprintf(idbuf, sizeof(idbuf), "FLOW_QUEUE_ITEM_ID=%ld", i);
		t0[i] = stats_real_us();
		if (posix_spawn(&pid, prog, NULL, NULL, argv, envp) != 0 ||
		    waitpid(pid, NULL, 0) != pid) {
			free(t0);
			return -1;
		}
	}
	text = ts_read_file(path, NULL);
	for (line = text ? strtok_r(text, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		long long id, us;

		if (sscanf(line, "%lld %lld", &id, &us) == 2 && id >= 0 && id < n)
			samples_add(out, (double)(us - t0[id]) / 1000.0);
	}
	free(text);
	free(t0);
	return out->n == (size_t)n ? 0 : -1;
}

static struct lat_item *find(struct lat_item *it, long n, int64_t id)
{
	long lo = 0, hi = n - 1;

	while (lo <= hi) { /* ids grow with the enqueue order */
		long mid = (lo + hi) / 2;

		if (it[mid].id == id)
			return &it[mid];
		if (it[mid].id < id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

/*
 * The claim time of each item (its row's started_at) and, with builtin, its
 * start (the completed row's metadata startedAtUs). Returns how many items
 * have a start, or -1.
 */
static long read_rows(struct env *e, const struct seed *s, struct lat_item *it, long n,
		      bool builtin)
{
	char q[32];
	const char *p[] = { q };
	PGresult *res;
	long got = 0;

	snprintf(q, sizeof(q), "%" PRId64, s->queue_id);
	res = env_query(e,
			"SELECT id, (extract(epoch FROM started_at) * 1000000)::bigint,"
			" CASE WHEN status = 'completed'"
			"  THEN (metadata ->> 'startedAtUs')::bigint END"
			" FROM queue_items WHERE queue_id = $1 AND started_at IS NOT NULL",
			1, p);
	if (res == NULL)
		return -1;
	for (int i = 0; i < PQntuples(res); i++) {
		struct lat_item *x = find(it, n, strtoll(PQgetvalue(res, i, 0), NULL, 10));

		if (x == NULL)
			continue;
		x->claimed_us = strtoll(PQgetvalue(res, i, 1), NULL, 10);
		if (builtin && !PQgetisnull(res, i, 2))
			x->started_us = strtoll(PQgetvalue(res, i, 2), NULL, 10);
	}
	PQclear(res);
	for (long i = 0; i < n; i++)
		got += it[i].started_us != 0;
	return got;
}

/* Reads the stamps (waiting up to 30 s for all n) and the claim times. */
static int collect(struct env *e, const struct seed *s, const char *stamps, struct lat_item *it,
		   long n)
{
	double t0 = stats_mono_s();
	long got = 0;

	while (got < n && stats_mono_s() - t0 < 30 && !bench_interrupted) {
		char *text = ts_read_file(stamps, NULL), *line, *save = NULL;

		for (line = text ? strtok_r(text, "\n", &save) : NULL; line;
		     line = strtok_r(NULL, "\n", &save)) {
			long long id, us;
			struct lat_item *x;

			if (sscanf(line, "%lld %lld", &id, &us) != 2 ||
			    (x = find(it, n, id)) == NULL)
				continue;
			if (x->started_us == 0) /* a re-delivery's stamp comes later */
				x->started_us = us;
		}
		got = 0;
		for (long i = 0; i < n; i++)
			got += it[i].started_us != 0;
		free(text);
		if (got < n)
			stats_sleep_ms(50);
	}
	if (got < n) {
		fprintf(stderr, "flow-bench: only %ld of %ld agents started\n", got, n);
		return -1;
	}
	return read_rows(e, s, it, n, false) < 0 ? -1 : 0;
}

/* Waits up to 30 s until the n built-in items have completed; their start
 * and claim times. */
static int collect_builtin(struct env *e, const struct seed *s, struct lat_item *it, long n)
{
	double t0 = stats_mono_s();
	long got = 0;

	while (got < n && stats_mono_s() - t0 < 30 && !bench_interrupted) {
		if ((got = read_rows(e, s, it, n, true)) < 0)
			return -1;
		if (got < n)
			stats_sleep_ms(50);
	}
	if (got < n) {
		fprintf(stderr, "flow-bench: only %ld of %ld built-in items completed\n", got, n);
		return -1;
	}
	return 0;
}

/* Figure name prefix + name, for the two kinds of agent. */
static const char *fig(const char *prefix, const char *name)
{
	static char buf[96];

	snprintf(buf, sizeof(buf), "%s%s", prefix, name);
	return buf;
}

/* The figures of one run, names prefixed with prefix; spawn (the floor)
 * only for the process agent's run (spawn NULL otherwise). */
static void print_latency(struct lat_item *it, long n, const char *prefix, const char *which,
			  struct samples *spawn)
{
	struct samples total = { 0 }, claim = { 0 }, start = { 0 }, enq = { 0 }, sent = { 0 };
	double p50, p99;

	for (long i = 0; i < n; i++) {
		samples_add(&total, (double)(it[i].started_us - it[i].accepted_us) / 1000.0);
		samples_add(&enq, (double)(it[i].accepted_us - it[i].sent_us) / 1000.0);
		samples_add(&sent, (double)(it[i].started_us - it[i].sent_us) / 1000.0);
		if (it[i].claimed_us) {
			samples_add(&claim,
				    (double)(it[i].claimed_us - it[i].accepted_us) / 1000.0);
			samples_add(&start, (double)(it[i].started_us - it[i].claimed_us) / 1000.0);
		}
	}
	report_ctx_clear();
	report_ctx("items", n);
	report_ctx("workers", opt.workers);
	report_ctx("concurrency", opt.concurrency);
	p50 = samples_pct(&total, 50);
	p99 = samples_pct(&total, 99);
	report_figure("latency", fig(prefix, "accepted_to_started_p50"), p50, "ms", "<= 1 ms",
		      p50 <= 1.0);
	report_figure("latency", fig(prefix, "accepted_to_started_p99"), p99, "ms", "<= 3 ms",
		      p99 <= 3.0);
	report_figure("latency", fig(prefix, "accepted_to_started_max"), samples_max(&total), "ms",
		      NULL, -1);
	report_figure("latency", fig(prefix, "sent_to_started_p50"), samples_pct(&sent, 50), "ms",
		      "from just before the EnqueueTask call", -1);
	report_figure("latency", fig(prefix, "sent_to_started_p99"), samples_pct(&sent, 99), "ms",
		      NULL, -1);
	report_figure("latency", fig(prefix, "accepted_to_claimed_p50"), samples_pct(&claim, 50),
		      "ms", "started_at of the row (PostgreSQL clock_timestamp())", -1);
	report_figure("latency", fig(prefix, "accepted_to_claimed_p99"), samples_pct(&claim, 99),
		      "ms", NULL, -1);
	report_figure("latency", fig(prefix, "claimed_to_started_p50"), samples_pct(&start, 50),
		      "ms", which, -1);
	report_figure("latency", fig(prefix, "claimed_to_started_p99"), samples_pct(&start, 99),
		      "ms", NULL, -1);
	if (spawn != NULL) {
		report_figure("latency", "spawn_floor_p50", samples_pct(spawn, 50), "ms",
			      "posix_spawn -> agent started, flow-bench spawning the same agent",
			      -1);
		report_figure("latency", "spawn_floor_p99", samples_pct(spawn, 99), "ms", NULL, -1);
	}
	report_figure("latency", fig(prefix, "enqueue_rpc_p50"), samples_pct(&enq, 50), "ms",
		      "EnqueueTask round trip, commit included", -1);
	report_figure("latency", fig(prefix, "enqueue_rpc_p99"), samples_pct(&enq, 99), "ms", NULL,
		      -1);
	report_ctx_clear();
	samples_free(&total);
	samples_free(&claim);
	samples_free(&start);
	samples_free(&enq);
	samples_free(&sent);
}

int mode_latency(void)
{
	struct env e;
	struct seed s = { 0 }, sb = { 0 };
	struct lat_item *it = NULL, *ib = NULL;
	char agents[800], stamps[800];
	const char *which;
	struct samples spawn = { 0 };
	long n = opt.lat_items, pt = opt.per_ticket > 1 ? opt.per_ticket : 2;
	long tickets = ((n + pt - 2) / (pt - 1)) * pt;
	int rv = -1;

	if (env_open(&e, "latency") != 0 || env_flowd_start(&e) != 0 ||
	    seed_project_queue(&e, "stamp", &s) != 0 ||
	    seed_tickets(&e, &s, tickets, pt, "stamp") != 0 ||
	    write_agents(&e, agents, sizeof(agents), stamps, sizeof(stamps), &which) != 0)
		goto out;
	/* the built-in run's tasks, in the same queue */
	sb.project_id = s.project_id;
	sb.queue_id = s.queue_id;
	if (seed_tickets(&e, &sb, tickets, pt, "noop") != 0)
		goto out;
	if ((it = calloc((size_t)n, sizeof(*it))) == NULL ||
	    (ib = calloc((size_t)n, sizeof(*ib))) == NULL ||
	    spawn_floor(&e, stamp_prog, &spawn, n < 100 ? n : 100) != 0)
		goto out;
	for (long i = 0; i < opt.workers; i++)
		if (env_worker_start(&e, 0, agents, opt.concurrency) < 0)
			goto out;
	if (wait_workers_idle(&e, opt.workers) != 0)
		goto out;
	report_note("latency: %ld workers idle; enqueueing %ld items %ld ms apart, agent %s",
		    opt.workers, n, opt.lat_gap_ms, which);
	if (enqueue_all(&e, &s, it, n) != 0 || collect(&e, &s, stamps, it, n) != 0)
		goto out;
	print_latency(it, n, "", which, &spawn);
	report_note("latency: the same with the built-in noop agent (in the worker's process)");
	stats_sleep_ms(500); /* the workers park their Claims again */
	if (enqueue_all(&e, &sb, ib, n) != 0 || collect_builtin(&e, &sb, ib, n) != 0)
		goto out;
	print_latency(ib, n, "builtin_", "noop, metadata startedAtUs", NULL);
	rv = 0;
out:
	if (rv != 0 && e.dir)
		env_dump_logs(&e);
	free(it);
	free(ib);
	samples_free(&spawn);
	seed_free(&s);
	seed_free(&sb);
	env_close(&e);
	return rv;
}
