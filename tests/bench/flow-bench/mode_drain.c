/*
 * mode_drain.c - drain, scale and growth: how fast W flow-worker processes
 * running the built-in noop agent empty a queue of N items.
 *
 * One drain: tickets of --per-ticket items (1 ticket item + the rest task
 * items, all for agent "noop") are inserted with SQL, then enqueued through
 * flowd with one EnqueueTicket(include_tasks) call per ticket from one
 * client (timed: the enqueue rate). Then the workers are started and the
 * clock runs from just before the first is spawned until flow-bench's own
 * connection sees no item of the queue queued or in progress (polled every
 * 10 ms with an indexed EXISTS). So the drain time includes starting and
 * registering the workers; items_per_s_db (first claim to last completion,
 * from the rows' started_at / completed_at) does not. CPU: /proc/stat of
 * the whole machine over the same interval (so also anything else the
 * machine runs), and /proc/<pid>/stat of flowd, the PostgreSQL server's
 * processes and the workers. Writes: the WAL the server wrote over the same
 * interval (pg_current_wal_lsn), per item.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench.h"

struct cpu_mark {
	long long busy, total, flowd, pg;
};

static void cpu_mark(struct env *e, struct cpu_mark *m)
{
	proc_machine_cpu_us(&m->busy, &m->total);
	m->flowd = 0;
	for (int i = 0; i < e->n_flowd; i++)
		m->flowd += proc_cpu_us(e->flowd[i].pid);
	m->pg = proc_postgres_cpu_us(e->postmaster);
}

static long long workers_cpu(struct env *e)
{
	long long sum = 0;

	for (int i = 0; i < e->n_workers; i++)
		if (e->workers[i] > 0)
			sum += proc_cpu_us(e->workers[i]);
	return sum;
}

/* Waits until no item of the queue is queued or in progress: 0, or 1 after
 * --timeout (a result: the rates are then over that time), -1 on errors. */
static int wait_empty(struct env *e, const struct seed *s)
{
	char q[32];
	const char *p[] = { q };
	double start = stats_mono_s(), last_check = start;
	long long busy = 1;

	snprintf(q, sizeof(q), "%" PRId64, s->queue_id);
	while (busy) {
		if (env_sql_params_long(
			e,
			"SELECT (EXISTS (SELECT 1 FROM queue_items WHERE queue_id = $1 "
			"AND status = 'queued') OR EXISTS (SELECT 1 FROM queue_items "
			"WHERE queue_id = $1 AND status = 'in_progress'))::int",
			1, p, &busy) != 0)
			return -1;
		if (!busy)
			break;
		if (bench_interrupted)
			return -1;
		if (stats_mono_s() - last_check > 0.5) {
			last_check = stats_mono_s();
			if (env_workers_alive(e) != 0)
				return -1;
			if (last_check - start > (double)opt.timeout_s) {
				fprintf(stderr, "flow-bench: the queue was not empty after %ld s\n",
					opt.timeout_s);
				return 1;
			}
		}
		stats_sleep_ms(10);
	}
	return 0;
}

/* Checks every item of this drain completed; the database-clock rate. */
static int check_items(struct env *e, const struct seed *s, long long first_id,
		       struct drain_result *r)
{
	char q[32], f[32];
	const char *p[] = { q, f };
	PGresult *res;
	long done;
	double span;

	snprintf(q, sizeof(q), "%" PRId64, s->queue_id);
	snprintf(f, sizeof(f), "%lld", first_id);
	res = env_query(e,
			"SELECT count(*) FILTER (WHERE status = 'completed'), "
			"extract(epoch FROM max(completed_at) - min(started_at)) "
			"FROM queue_items WHERE queue_id = $1 AND id > $2",
			2, p);
	if (res == NULL)
		return -1;
	done = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	span = strtod(PQgetvalue(res, 0, 1), NULL);
	PQclear(res);
	r->db_items_per_s = span > 0 ? (double)done / span : 0;
	r->done = done;
	if (done != s->items && !r->timed_out) {
		fprintf(stderr, "flow-bench: %ld of %ld items completed\n", done, s->items);
		return -1;
	}
	return 0;
}

/* The server's WAL position in bytes: 0 or -1. */
static int wal_pos(struct env *e, long long *out)
{
	return env_sql_long(e, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::bigint", out);
}

/* Seeds, enqueues and drains once on e's queue. */
static int drain_once(struct env *e, struct seed *s, const struct drain_params *p,
		      struct drain_result *r)
{
	struct cpu_mark a, b;
	long long first_id, wcpu, wal0, wal1;
	double enq_s, t0, t1, per, busy, net;
	int rv;

	memset(r, 0, sizeof(*r));
	if (env_sql_long(e, "SELECT coalesce(max(id), 0) FROM queue_items", &first_id) != 0 ||
	    seed_tickets(e, s, p->items, opt.per_ticket, "noop") != 0)
		return -1;
	report_note("%s: %ld items in %ld tickets; enqueueing", p->tag, s->items, s->n_tickets);
	if (seed_enqueue_tickets(e, s, &enq_s) != 0)
		return -1;
	r->items = s->items;
	r->enqueue_items_per_s = (double)s->items / enq_s;
	/* Statistics for the tables just filled, as a running deployment has
	 * them: without, the claim's plans scan queue_items until autovacuum
	 * gets to it (--no-analyze measures that). */
	if (!opt.no_analyze && env_sql(e, "ANALYZE queue_items, tasks, tickets") != 0)
		return -1;
	/* what else the machine does (other jobs, autovacuum after the load) */
	r->background_pct = proc_background_pct(1000);
	report_note("%s: enqueued in %.2f s; machine %.0f%% busy before; draining with %ld "
		    "workers x %ld",
		    p->tag, enq_s, r->background_pct, p->workers, p->concurrency);
	if (wal_pos(e, &wal0) != 0)
		return -1;
	cpu_mark(e, &a);
	t0 = stats_mono_s();
	for (long i = 0; i < p->workers; i++)
		if (env_worker_start(e, (int)(i % e->n_flowd), NULL, p->concurrency) < 0)
			return -1;
	if ((rv = wait_empty(e, s)) < 0) {
		env_dump_logs(e);
		return -1;
	}
	r->timed_out = rv == 1;
	t1 = stats_mono_s();
	cpu_mark(e, &b);
	if (wal_pos(e, &wal1) != 0)
		return -1;
	wcpu = workers_cpu(e);
	r->secs = t1 - t0;
	if (env_workers_stop(e) != 0)
		report_note("%s: a worker did not stop cleanly", p->tag);
	report_note("%s: %s in %.2f s", p->tag, r->timed_out ? "stopped (timeout)" : "drained",
		    r->secs);
	if (check_items(e, s, first_id, r) != 0)
		return -1;
	/* rates over the time it ran, costs per item completed (every item
	 * unless it timed out: check_items) */
	per = (double)(r->done > 0 ? r->done : 1);
	busy = (double)(b.busy - a.busy);
	/* less the background's share of the interval's CPU time */
	net = busy - r->background_pct / 100.0 * (double)(b.total - a.total);
	r->items_per_s = (double)r->done / r->secs;
	r->cpu_us_per_item = busy / per;
	r->cpu_us_per_item_net = net > 0 ? net / per : 0;
	r->flowd_cpu_us = (double)(b.flowd - a.flowd) / per;
	r->pg_cpu_us = (double)(b.pg - a.pg) / per;
	r->worker_cpu_us = (double)wcpu / per;
	r->wal_bytes_per_item = (double)(wal1 - wal0) / per;
	return 0;
}

/* p->repeat drains (at least 1); *r is the one with the median rate. */
static int drain_median(struct env *e, struct seed *s, const struct drain_params *p,
			struct drain_result *r)
{
	struct drain_result runs[DRAIN_REPEAT_MAX];
	int n = p->repeat < 1 ? 1 : p->repeat > DRAIN_REPEAT_MAX ? DRAIN_REPEAT_MAX : p->repeat;

	for (int i = 0; i < n; i++)
		if (drain_once(e, s, p, &runs[i]) != 0)
			return -1;
	for (int i = 1; i < n; i++) /* insertion sort by rate */
		for (int k = i; k > 0 && runs[k].items_per_s < runs[k - 1].items_per_s; k--) {
			struct drain_result t = runs[k];

			runs[k] = runs[k - 1];
			runs[k - 1] = t;
		}
	*r = runs[n / 2];
	return 0;
}

int drain_run(const struct drain_params *p, struct drain_result r[2])
{
	struct env e;
	struct seed s = { 0 };
	double hist_s;
	int rv = -1;

	if (env_open(&e, p->tag) != 0)
		goto out;
	for (int i = 0; i < p->n_flowd; i++)
		if (env_flowd_start(&e) != 0)
			goto out;
	if (seed_project_queue(&e, "noop", &s) != 0 || drain_median(&e, &s, p, &r[0]) != 0)
		goto out;
	if (p->history > 0) {
		report_note("%s: inserting %ld finished items", p->tag, p->history);
		if (seed_history(&e, &s, p->history, &hist_s) != 0)
			goto out;
		report_note("%s: history inserted and vacuumed in %.1f s", p->tag, hist_s);
		if (drain_median(&e, &s, p, &r[1]) != 0)
			goto out;
		r[1].history_s = hist_s;
	}
	rv = 0;
out:
	seed_free(&s);
	env_close(&e);
	return rv;
}

static void ctx(long items, long workers, long concurrency)
{
	report_ctx_clear();
	report_ctx("items", items);
	report_ctx("workers", workers);
	report_ctx("concurrency", concurrency);
	report_ctx("flowd_threads", opt.threads);
}

static void print_drain(const struct drain_result *r)
{
	if (r->timed_out) {
		char note[160];

		snprintf(note, sizeof(note),
			 "TIMEOUT: %ld of %ld completed within --timeout %ld s; the figures "
			 "below are over that time",
			 r->done, r->items, opt.timeout_s);
		report_figure("drain", "completed_items", (double)r->done, "items", note, -1);
	}
	report_figure("drain", "enqueue_items_per_s", r->enqueue_items_per_s, "items/s",
		      "EnqueueTicket, 1 client", -1);
	report_figure("drain", "items_per_s", r->items_per_s, "items/s",
		      "median of " MEDIAN_REPEAT_TEXT " drains; the figures below are its", -1);
	report_figure("drain", "items_per_s_db", r->db_items_per_s, "items/s",
		      "first claim to last completion", -1);
	report_figure("drain", "cpu_us_per_item", r->cpu_us_per_item, "us",
		      "whole machine, /proc/stat", -1);
	report_figure("drain", "cpu_us_per_item_net", r->cpu_us_per_item_net, "us",
		      "less the background measured in the second before", -1);
	report_figure("drain", "background_busy_pct", r->background_pct, "%",
		      "machine busy before the drain", -1);
	report_figure("drain", "cpu_us_per_item_flowd", r->flowd_cpu_us, "us", NULL, -1);
	report_figure("drain", "cpu_us_per_item_postgres", r->pg_cpu_us, "us", NULL, -1);
	report_figure("drain", "cpu_us_per_item_workers", r->worker_cpu_us, "us", NULL, -1);
	report_figure("drain", "wal_bytes_per_item", r->wal_bytes_per_item, "B",
		      "WAL written by the whole server", -1);
}

int mode_drain(void)
{
	struct drain_params p = { .items = opt.items,
				  .workers = opt.workers,
				  .concurrency = opt.concurrency,
				  .n_flowd = 1,
				  .repeat = MEDIAN_REPEAT,
				  .tag = "drain" };
	struct drain_result r[2];

	if (drain_run(&p, r) != 0)
		return -1;
	ctx(r[0].items, p.workers, p.concurrency);
	report_ctx("repeat", MEDIAN_REPEAT);
	print_drain(&r[0]);
	report_figure("drain", "drain_s", r[0].secs, "s", NULL, -1);
	report_ctx_clear();
	return 0;
}

int mode_scale(void)
{
	struct drain_result r[BENCH_MAX_SCALE][2], two[2];
	double best = 0;
	char name[64], target[160];
	int last = opt.n_scale - 1;

	for (int i = 0; i < opt.n_scale; i++) {
		/* medians of MEDIAN_REPEAT drains: the best of single drains
		 * would be the luckiest one */
		struct drain_params p = { .items = opt.scale_items,
					  .workers = opt.scale_w[i],
					  .concurrency = opt.concurrency,
					  .n_flowd = 1,
					  .repeat = MEDIAN_REPEAT };
		char tag[32];

		snprintf(tag, sizeof(tag), "scale_w%ld", opt.scale_w[i]);
		p.tag = tag;
		if (drain_run(&p, r[i]) != 0)
			return -1;
		ctx(r[i][0].items, p.workers, p.concurrency);
		snprintf(name, sizeof(name), "items_per_s_w%ld", opt.scale_w[i]);
		report_ctx("repeat", MEDIAN_REPEAT);
		report_figure("scale", name, r[i][0].items_per_s, "items/s",
			      r[i][0].timed_out ? "TIMEOUT: over --timeout, queue not empty"
						: "median of " MEDIAN_REPEAT_TEXT " drains",
			      -1);
		snprintf(name, sizeof(name), "cpu_us_per_item_w%ld", opt.scale_w[i]);
		report_figure("scale", name, r[i][0].cpu_us_per_item, "us", NULL, -1);
		snprintf(name, sizeof(name), "background_busy_pct_w%ld", opt.scale_w[i]);
		report_figure("scale", name, r[i][0].background_pct, "%", NULL, -1);
		if (r[i][0].items_per_s > best)
			best = r[i][0].items_per_s;
	}
	ctx(r[last][0].items, opt.scale_w[last], opt.concurrency);
	snprintf(name, sizeof(name), "ratio_w%ld_to_best", opt.scale_w[last]);
	snprintf(target, sizeof(target), ">= 0.8 (%.0f / %.0f items/s)", r[last][0].items_per_s,
		 best);
	report_figure("scale", name, r[last][0].items_per_s / best, "x", target,
		      r[last][0].items_per_s >= 0.8 * best);
	{
		/* medians of MEDIAN_REPEAT drains each: the two differ by less
		 * than one drain's spread. One flowd is drained again here, just
		 * before two, rather than taken from the scale point of the same
		 * size, so that both meet the machine in the same state. */
		struct drain_params p = { .items = opt.scale_items,
					  .workers = opt.scale2_workers,
					  .concurrency = opt.concurrency,
					  .n_flowd = 1,
					  .repeat = MEDIAN_REPEAT,
					  .tag = "scale_1f" };
		struct drain_result one[2];

		if (drain_run(&p, one) != 0)
			return -1;
		p.n_flowd = 2;
		p.tag = "scale_2f";
		if (drain_run(&p, two) != 0)
			return -1;
		ctx(two[0].items, p.workers, p.concurrency);
		report_ctx("repeat", MEDIAN_REPEAT);
		snprintf(name, sizeof(name), "items_per_s_1flowd_w%ld", p.workers);
		report_figure("scale", name, one[0].items_per_s, "items/s",
			      "median of " MEDIAN_REPEAT_TEXT " drains", -1);
		report_ctx("flowd", 2);
		snprintf(name, sizeof(name), "items_per_s_2flowd_w%ld", p.workers);
		report_figure(
		    "scale", name, two[0].items_per_s, "items/s",
		    "workers split over 2 flowd on one database; median of " MEDIAN_REPEAT_TEXT
		    " drains",
		    -1);
		snprintf(name, sizeof(name), "cpu_us_per_item_2flowd_w%ld", p.workers);
		report_figure("scale", name, two[0].cpu_us_per_item, "us", NULL, -1);
		snprintf(name, sizeof(name), "background_busy_pct_2flowd_w%ld", p.workers);
		report_figure("scale", name, two[0].background_pct, "%", NULL, -1);
		snprintf(target, sizeof(target), ">= 1.0 (%.0f / %.0f items/s)", two[0].items_per_s,
			 one[0].items_per_s);
		report_figure("scale", "ratio_2flowd_to_1flowd",
			      two[0].items_per_s / one[0].items_per_s, "x", target,
			      two[0].items_per_s >= one[0].items_per_s);
	}
	report_ctx_clear();
	return 0;
}

int mode_growth(void)
{
	struct drain_params p = { .items = opt.items,
				  .workers = opt.workers,
				  .concurrency = opt.concurrency,
				  .n_flowd = 1,
				  .history = opt.history,
				  .repeat = MEDIAN_REPEAT,
				  .tag = "growth" };
	struct drain_result r[2];
	char target[160];

	if (drain_run(&p, r) != 0)
		return -1;
	ctx(r[0].items, p.workers, p.concurrency);
	report_ctx("history", opt.history);
	report_ctx("repeat", MEDIAN_REPEAT);
	report_figure("growth", "items_per_s_empty_history", r[0].items_per_s, "items/s",
		      "median of " MEDIAN_REPEAT_TEXT " drains", -1);
	report_figure("growth", "history_insert_s", r[1].history_s, "s",
		      "SQL insert with triggers off, then VACUUM ANALYZE", -1);
	report_figure("growth", "items_per_s_with_history", r[1].items_per_s, "items/s",
		      r[1].timed_out ? "TIMEOUT: over --timeout, queue not empty"
				     : "median of " MEDIAN_REPEAT_TEXT " drains",
		      -1);
	report_figure("growth", "items_per_s_db_empty_history", r[0].db_items_per_s, "items/s",
		      NULL, -1);
	report_figure("growth", "items_per_s_db_with_history", r[1].db_items_per_s, "items/s", NULL,
		      -1);
	report_figure("growth", "cpu_us_per_item_empty_history", r[0].cpu_us_per_item, "us", NULL,
		      -1);
	report_figure("growth", "cpu_us_per_item_with_history", r[1].cpu_us_per_item, "us", NULL,
		      -1);
	report_figure("growth", "background_busy_pct_empty_history", r[0].background_pct, "%", NULL,
		      -1);
	report_figure("growth", "background_busy_pct_with_history", r[1].background_pct, "%", NULL,
		      -1);
	snprintf(target, sizeof(target), ">= 0.9 (%.0f / %.0f items/s, %ld finished rows)",
		 r[1].items_per_s, r[0].items_per_s, opt.history);
	report_figure("growth", "ratio_history_to_empty", r[1].items_per_s / r[0].items_per_s, "x",
		      target, r[1].items_per_s >= 0.9 * r[0].items_per_s);
	report_ctx_clear();
	return 0;
}
