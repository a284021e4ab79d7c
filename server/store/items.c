/* items.c - queue items. See items.h; the functions called are in
 * migrations/0002_queue_functions.sql and 0004_queue_engine.sql. */
#include "store/items.h"

#include <inttypes.h>
#include <string.h>

#include "settings.h"
#include "status.h"
#include "store/store.h"

#define ITEM_COLS STORE_ITEM_COLS

/* Per-queue aggregates over q (queues) LEFT JOIN i (queue_items) LEFT JOIN
 * c (queue_item_counters: the pruned history). */
#define STATS_COLS                                                                                 \
	"q.id AS queue_id, q.name, q.is_active, q.max_parallel_items,"                             \
	" count(i.id) + coalesce(c.completed + c.failed + c.cancelled + c.dead, 0) AS total,"      \
	" count(i.id) FILTER (WHERE i.status = 'queued') AS queued,"                               \
	" count(i.id) FILTER (WHERE i.status = 'in_progress') AS in_progress,"                     \
	" count(i.id) FILTER (WHERE i.status = 'completed') + coalesce(c.completed, 0)"            \
	"   AS completed,"                                                                         \
	" count(i.id) FILTER (WHERE i.status = 'failed') + coalesce(c.failed, 0) AS failed,"       \
	" count(i.id) FILTER (WHERE i.status = 'cancelled') + coalesce(c.cancelled, 0)"            \
	"   AS cancelled,"                                                                         \
	" count(i.id) FILTER (WHERE i.status = 'dead') + coalesce(c.dead, 0) AS dead,"             \
	" count(i.completed_at - i.started_at) FILTER (WHERE i.status = 'completed')"              \
	"   + coalesce(c.processing_count, 0) AS timed,"                                           \
	" coalesce((coalesce(sum(extract(epoch FROM i.completed_at - i.started_at) * 1000)"        \
	"   FILTER (WHERE i.status = 'completed'), 0) + coalesce(c.processing_ms_sum, 0))"         \
	"   / nullif(count(i.completed_at - i.started_at) FILTER (WHERE i.status = 'completed')"   \
	"   + coalesce(c.processing_count, 0), 0), 0)::float8 AS avg_ms,"                          \
	" to_json(coalesce(array_agg(DISTINCT i.agent_id ORDER BY i.agent_id)"                     \
	"   FILTER (WHERE i.status = 'in_progress' AND i.agent_id IS NOT NULL),"                   \
	"   '{}')) AS agents"

#define STATS_JOINS                                                                                \
	" LEFT JOIN queue_items i ON i.queue_id = q.id"                                            \
	" LEFT JOIN queue_item_counters c ON c.queue_id = q.id"

/* run_after of new items from $n (epoch ms or NULL) and $n+1 (delay s). */
#define RUN_AFTER(ms, delay)                                                                       \
	"coalesce(to_timestamp(" ms "::bigint / 1000.0), now() + make_interval(secs => " delay     \
	"::int))"

/* clang-format off */
static struct store_stmt st_enqueue_ticket = {
	"item_enqueue_ticket",
	"SELECT " ITEM_COLS " FROM flow_enqueue_ticket($1, $2, $3::int, $4::boolean, "
	RUN_AFTER("$5", "$6") ", $7::int) i ORDER BY i.id",
	7,
	0,
};

static struct store_stmt st_enqueue_task = {
	"item_enqueue_task",
	"SELECT " ITEM_COLS " FROM flow_enqueue_task($1, $2, $3::int, "
	RUN_AFTER("$4", "$5") ", $6::int) i",
	6,
	0,
};
/* clang-format on */

static struct store_stmt st_dequeue_ticket = {
	"item_dequeue_ticket",
	"WITH t AS (SELECT id FROM tickets WHERE id = $1),"
	" d AS (DELETE FROM queue_items i WHERE i.ticket_id = $1"
	"       AND i.status IN ('queued', 'in_progress')"
	"       AND (i.task_id IS NULL OR $2::boolean) RETURNING 1)"
	" SELECT EXISTS (SELECT 1 FROM t) AS found, (SELECT count(*) FROM d) AS removed",
	2,
	0,
};

static struct store_stmt st_dequeue_task = {
	"item_dequeue_task",
	"WITH t AS (SELECT id FROM tasks WHERE id = $1),"
	" d AS (DELETE FROM queue_items i WHERE i.task_id = $1"
	"       AND i.status IN ('queued', 'in_progress') RETURNING 1)"
	" SELECT EXISTS (SELECT 1 FROM t) AS found, (SELECT count(*) FROM d) AS removed",
	1,
	0,
};

static struct store_stmt st_claim = {
	"item_claim",
	"SELECT " ITEM_COLS " FROM flow_claim($1, $2, $3, $4::int) i",
	4,
	0,
};

static struct store_stmt st_idle = {
	"item_idle_reason",
	"SELECT q.is_active, q.max_parallel_items,"
	" count(i.id) FILTER (WHERE i.status = 'in_progress') AS running,"
	" count(i.id) FILTER (WHERE i.status = 'queued') AS queued"
	" FROM queues q LEFT JOIN queue_items i ON i.queue_id = q.id"
	" WHERE q.id = $1 GROUP BY q.id",
	1,
	0,
};

static struct store_stmt st_complete = {
	"item_complete",
	"SELECT " ITEM_COLS " FROM flow_complete($1, $2, $3::jsonb, $4, $5::int) i",
	5,
	0,
};

static struct store_stmt st_fail = {
	"item_fail",
	"SELECT " ITEM_COLS " FROM flow_fail($1, $2, $3::boolean, $4::int, $5::int, $6, $7::int) i",
	7,
	0,
};

static struct store_stmt st_retry_ids = {
	"item_retry_ids",
	"SELECT " ITEM_COLS " FROM flow_retry_items($1::bigint[]) i ORDER BY i.id",
	1,
	0,
};

static struct store_stmt st_retry_queue = {
	"item_retry_queue",
	"SELECT " ITEM_COLS " FROM flow_retry_queue($1) i ORDER BY i.id",
	1,
	0,
};

static struct store_stmt st_cancel = {
	"item_cancel",
	"SELECT " ITEM_COLS " FROM flow_cancel_items($1::bigint[]) i ORDER BY i.id",
	1,
	0,
};

static struct store_stmt st_stats = {
	"item_stats",
	"SELECT " STATS_COLS " FROM queues q" STATS_JOINS
	" WHERE q.id = $1 GROUP BY q.id, c.queue_id",
	1,
	0,
};

/* One row per queue of the project; one row with a NULL queue_id when it
 * has none; no row when the project does not exist. */
static struct store_stmt st_stats_project = {
	"item_stats_project",
	"SELECT " STATS_COLS " FROM projects p"
	" LEFT JOIN queues q ON q.project_id = p.id" STATS_JOINS
	" WHERE p.id = $1 GROUP BY p.id, q.id, c.queue_id ORDER BY q.id",
	1,
	0,
};

/* A nullable bigint column: present only when set. */
static void opt_i64(const PGresult *res, int row, const char *col, protobuf_c_boolean *has,
		    int64_t *v)
{
	*has = !store_isnull(res, row, col);
	*v = store_i64(res, row, col);
}

Flow__V1__QueueItem *store_item_from_row(struct flow_req *r, const PGresult *res, int row)
{
	Flow__V1__QueueItem *it = arena_alloc(r->arena, sizeof(*it));

	if (it == NULL)
		return NULL;
	flow__v1__queue_item__init(it);
	it->has_id = it->has_queue_id = it->has_ticket_id = it->has_priority = true;
	it->has_attempt = it->has_max_attempts = it->has_run_after = it->has_enqueued_at = true;
	it->id = store_i64(res, row, "id");
	it->queue_id = store_i64(res, row, "queue_id");
	it->ticket_id = store_i64(res, row, "ticket_id");
	opt_i64(res, row, "task_id", &it->has_task_id, &it->task_id);
	it->item_type = it->has_task_id ? "task" : "ticket";
	it->priority = store_int(res, row, "priority");
	it->status = store_text(r, res, row, "status");
	it->attempt = store_int(res, row, "attempt");
	it->max_attempts = store_int(res, row, "max_attempts");
	it->run_after = store_i64(res, row, "run_after");
	it->lease_owner = store_text(r, res, row, "lease_owner");
	opt_i64(res, row, "lease_expires", &it->has_lease_expires, &it->lease_expires);
	it->agent_id = store_text(r, res, row, "agent_id");
	it->error = store_text(r, res, row, "error");
	it->completion_notes = store_text(r, res, row, "completion_notes");
	it->metadata = store_text(r, res, row, "metadata");
	it->enqueued_at = store_i64(res, row, "enqueued_at");
	opt_i64(res, row, "started_at", &it->has_started_at, &it->started_at);
	opt_i64(res, row, "completed_at", &it->has_completed_at, &it->completed_at);
	return it->status != NULL ? it : NULL;
}

/* Converts every row of res (then cleared) into an arena array. */
static int items_result(struct flow_req *r, PGresult *res, Flow__V1__QueueItem ***out, size_t *n)
{
	int rows = PQntuples(res);
	Flow__V1__QueueItem **v = arena_alloc(r->arena, sizeof(*v) * (size_t)(rows + 1));

	for (int i = 0; v != NULL && i < rows; i++)
		if ((v[i] = store_item_from_row(r, res, i)) == NULL)
			v = NULL;
	PQclear(res);
	if (v == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	*out = v;
	*n = (size_t)rows;
	return FLOW_OK;
}

/* Runs a statement that returns exactly one item. */
static int one_item(struct flow_req *r, struct store_stmt *st, const char *const *p,
		    Flow__V1__QueueItem **out)
{
	Flow__V1__QueueItem **v;
	PGresult *res;
	size_t n;
	int rv;

	if ((rv = store_exec_row(r, st, p, "the database returned no queue item", &res)) != FLOW_OK)
		return rv;
	if ((rv = items_result(r, res, &v, &n)) != FLOW_OK)
		return rv;
	*out = v[0];
	return FLOW_OK;
}

static const char *p_priority(struct flow_req *r, int priority)
{
	return priority < 0 ? NULL : store_p_int(r, priority);
}

/* Parameters run_after ms, delay s, max attempts of o into p[0..2];
 * false when out of memory. */
static bool enqueue_params(struct flow_req *r, const struct store_enqueue_opts *o, const char **p)
{
	p[0] = o->run_after > 0 ? store_p_i64(r, o->run_after) : NULL;
	p[1] = store_p_int(r, o->delay_s);
	p[2] = o->max_attempts > 0 ? store_p_int(r, o->max_attempts) : NULL;
	return (o->run_after <= 0 || p[0] != NULL) && p[1] != NULL &&
	       (o->max_attempts <= 0 || p[2] != NULL);
}

int store_item_enqueue_ticket(struct flow_req *r, int64_t queue_id, int64_t ticket_id,
			      const struct store_enqueue_opts *o, Flow__V1__QueueItem ***out,
			      size_t *n)
{
	const char *p[7] = { store_p_i64(r, queue_id), store_p_i64(r, ticket_id),
			     p_priority(r, o->priority), store_p_bool(o->include_tasks) };
	PGresult *res;
	int rv;

	if (p[0] == NULL || p[1] == NULL || (o->priority >= 0 && p[2] == NULL) ||
	    !enqueue_params(r, o, &p[4]))
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	if ((rv = store_exec(r, &st_enqueue_ticket, p, &res)) != FLOW_OK)
		return rv;
	return items_result(r, res, out, n);
}

int store_item_enqueue_task(struct flow_req *r, int64_t queue_id, int64_t task_id,
			    const struct store_enqueue_opts *o, Flow__V1__QueueItem **out)
{
	const char *p[6] = { store_p_i64(r, queue_id), store_p_i64(r, task_id),
			     p_priority(r, o->priority) };

	if (p[0] == NULL || p[1] == NULL || (o->priority >= 0 && p[2] == NULL) ||
	    !enqueue_params(r, o, &p[3]))
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	return one_item(r, &st_enqueue_task, p, out);
}

/* Runs a dequeue statement (columns found, removed) for "<what> <id>". */
static int dequeue(struct flow_req *r, struct store_stmt *st, const char *const *p,
		   const char *what, int64_t id, int64_t *removed)
{
	PGresult *res;
	bool found;
	int64_t n;
	int rv;

	if ((rv = store_exec_row(r, st, p, "dequeue returned no row", &res)) != FLOW_OK)
		return rv;
	found = store_bool(res, 0, "found");
	n = store_i64(res, 0, "removed");
	PQclear(res);
	if (!found)
		return req_error(r, FLOW_NOT_FOUND, "%s %" PRId64 " not found", what, id);
	if (n == 0)
		return req_error(r, FLOW_NOT_FOUND, "%s %" PRId64 " is not on any queue", what, id);
	*removed = n;
	return FLOW_OK;
}

int store_item_dequeue_ticket(struct flow_req *r, int64_t ticket_id, bool include_tasks,
			      int64_t *removed)
{
	const char *p[2] = { store_p_i64(r, ticket_id), store_p_bool(include_tasks) };

	if (p[0] == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	return dequeue(r, &st_dequeue_ticket, p, "ticket", ticket_id, removed);
}

int store_item_dequeue_task(struct flow_req *r, int64_t task_id, int64_t *removed)
{
	const char *p[1] = { store_p_i64(r, task_id) };

	if (p[0] == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	return dequeue(r, &st_dequeue_task, p, "task", task_id, removed);
}

int store_item_claim(struct flow_req *r, int64_t queue_id, const char *owner, const char *agent,
		     int lease_s, Flow__V1__QueueItem **out)
{
	const char *p[4] = { store_p_i64(r, queue_id), owner, agent,
			     lease_s > 0 ? store_p_int(r, lease_s) : NULL };
	Flow__V1__QueueItem **v;
	PGresult *res;
	size_t n;
	int rv;

	if (p[0] == NULL || (lease_s > 0 && p[3] == NULL))
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	if ((rv = store_exec(r, &st_claim, p, &res)) != FLOW_OK)
		return rv;
	if ((rv = items_result(r, res, &v, &n)) != FLOW_OK)
		return rv;
	*out = n > 0 ? v[0] : NULL;
	return FLOW_OK;
}

/* The message for a queue with queued items of which none is ready. */
static char *none_ready(struct flow_req *r, int64_t queue_id, int64_t queued, const char *agent)
{
	if (agent != NULL)
		return arena_printf(r->arena,
				    "queue %" PRId64 " has %" PRId64 " queued item%s but none is "
				    "ready for agent \"%s\" now (other agents, unfinished task "
				    "dependencies or a retry delay)",
				    queue_id, queued, queued == 1 ? "" : "s", agent);
	return arena_printf(r->arena,
			    "queue %" PRId64 " has %" PRId64 " queued item%s but none is ready "
			    "now (unfinished task dependencies or a retry delay)",
			    queue_id, queued, queued == 1 ? "" : "s");
}

int store_item_idle_reason(struct flow_req *r, int64_t queue_id, const char *agent, char **why)
{
	int64_t running, queued, max;
	char *msg;
	PGresult *res;
	bool active;
	int rv;

	if ((rv = store_exec_id_row(r, &st_idle, queue_id, "queue", &res)) != FLOW_OK)
		return rv;
	active = store_bool(res, 0, "is_active");
	max = store_i64(res, 0, "max_parallel_items");
	running = store_i64(res, 0, "running");
	queued = store_i64(res, 0, "queued");
	PQclear(res);
	if (!active)
		msg = arena_printf(r->arena, "queue %" PRId64 " is paused", queue_id);
	else if (running >= max)
		msg = arena_printf(r->arena,
				   "queue %" PRId64 " already has %" PRId64 " item%s in progress "
				   "(maxParallelItems %" PRId64 ")",
				   queue_id, running, running == 1 ? "" : "s", max);
	else if (queued == 0)
		msg = arena_printf(r->arena, "queue %" PRId64 " has no queued items", queue_id);
	else
		msg = none_ready(r, queue_id, queued, agent);
	if (msg == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	*why = msg;
	return FLOW_OK;
}

static int finish_complete(struct flow_req *r, const struct store_outcome *o, const char *id,
			   const char *attempt, Flow__V1__QueueItem **out)
{
	const char *p[5] = { id, o->notes, o->metadata, o->owner, attempt };

	return one_item(r, &st_complete, p, out);
}

static int finish_fail(struct flow_req *r, const struct store_outcome *o, const char *id,
		       const char *attempt, Flow__V1__QueueItem **out)
{
	const char *p[7] = { id,
			     o->error,
			     store_p_bool(o->retryable),
			     store_p_int(r, flow_settings.retry_base_ms),
			     store_p_int(r, flow_settings.retry_max_ms),
			     o->owner,
			     attempt };

	if (p[3] == NULL || p[4] == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	return one_item(r, &st_fail, p, out);
}

int store_item_finish(struct flow_req *r, const struct store_outcome *o, Flow__V1__QueueItem **out)
{
	const char *id = store_p_i64(r, o->id);
	const char *attempt = o->attempt > 0 ? store_p_int(r, o->attempt) : NULL;

	if (id == NULL || (o->attempt > 0 && attempt == NULL))
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	if (o->success)
		return finish_complete(r, o, id, attempt, out);
	return finish_fail(r, o, id, attempt, out);
}

/* Runs st with one parameter p0 and returns its items. */
static int items_stmt(struct flow_req *r, struct store_stmt *st, const char *p0,
		      Flow__V1__QueueItem ***out, size_t *n)
{
	const char *p[1] = { p0 };
	PGresult *res;
	int rv;

	if (p0 == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	if ((rv = store_exec(r, st, p, &res)) != FLOW_OK)
		return rv;
	return items_result(r, res, out, n);
}

int store_item_retry(struct flow_req *r, const int64_t *ids, size_t n, int64_t queue_id,
		     Flow__V1__QueueItem ***out, size_t *n_out)
{
	if (n > 0)
		return items_stmt(r, &st_retry_ids, store_p_i64_array(r, ids, n), out, n_out);
	return items_stmt(r, &st_retry_queue, store_p_i64(r, queue_id), out, n_out);
}

int store_item_cancel(struct flow_req *r, const int64_t *ids, size_t n, Flow__V1__QueueItem ***out,
		      size_t *n_out)
{
	return items_stmt(r, &st_cancel, store_p_i64_array(r, ids, n), out, n_out);
}

static void stats_rate(Flow__V1__QueueStats *s)
{
	int64_t finished = s->completed_items + s->failed_items + s->dead_items;

	s->has_success_rate = true;
	s->success_rate = finished > 0 ? (double)s->completed_items / (double)finished : 0.0;
}

static Flow__V1__QueueStats *stats_new(struct flow_req *r)
{
	Flow__V1__QueueStats *s = arena_alloc(r->arena, sizeof(*s));

	if (s == NULL)
		return NULL;
	flow__v1__queue_stats__init(s);
	s->has_queue_id = s->has_is_active = s->has_max_parallel_items = true;
	s->has_total_items = s->has_queued_items = s->has_in_progress_items = true;
	s->has_completed_items = s->has_failed_items = s->has_cancelled_items = true;
	s->has_dead_items = s->has_average_processing_time = s->has_success_rate = true;
	return s;
}

static Flow__V1__QueueStats *stats_from_row(struct flow_req *r, const PGresult *res, int row)
{
	Flow__V1__QueueStats *s = stats_new(r);

	if (s == NULL)
		return NULL;
	s->queue_id = store_i64(res, row, "queue_id");
	s->queue_name = store_text(r, res, row, "name");
	s->is_active = store_bool(res, row, "is_active");
	s->max_parallel_items = store_int(res, row, "max_parallel_items");
	s->total_items = store_i64(res, row, "total");
	s->queued_items = store_i64(res, row, "queued");
	s->in_progress_items = store_i64(res, row, "in_progress");
	s->completed_items = store_i64(res, row, "completed");
	s->failed_items = store_i64(res, row, "failed");
	s->cancelled_items = store_i64(res, row, "cancelled");
	s->dead_items = store_i64(res, row, "dead");
	s->average_processing_time = store_double(res, row, "avg_ms");
	stats_rate(s);
	if (s->queue_name == NULL ||
	    store_json_strs(r, res, row, "agents", &s->current_agents, &s->n_current_agents))
		return NULL;
	return s;
}

int store_item_stats(struct flow_req *r, int64_t queue_id, Flow__V1__QueueStats **out)
{
	Flow__V1__QueueStats *s;
	PGresult *res;
	int rv;

	if ((rv = store_exec_id_row(r, &st_stats, queue_id, "queue", &res)) != FLOW_OK)
		return rv;
	s = stats_from_row(r, res, 0);
	PQclear(res);
	if (s == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	*out = s;
	return FLOW_OK;
}

/* Adds agent a to t's current agents unless it is there already. */
static void total_add_agent(Flow__V1__QueueStats *t, char *a)
{
	for (size_t i = 0; i < t->n_current_agents; i++)
		if (strcmp(t->current_agents[i], a) == 0)
			return;
	t->current_agents[t->n_current_agents++] = a;
}

/* Adds queue s, whose average covers `timed` items, into the total t;
 * *timed_sum accumulates the weights. */
static void total_add(Flow__V1__QueueStats *t, const Flow__V1__QueueStats *s, int64_t timed,
		      int64_t *timed_sum)
{
	t->is_active = t->is_active || s->is_active;
	t->max_parallel_items += s->max_parallel_items;
	t->total_items += s->total_items;
	t->queued_items += s->queued_items;
	t->in_progress_items += s->in_progress_items;
	t->completed_items += s->completed_items;
	t->failed_items += s->failed_items;
	t->cancelled_items += s->cancelled_items;
	t->dead_items += s->dead_items;
	if (timed > 0) {
		t->average_processing_time = (t->average_processing_time * (double)*timed_sum +
					      s->average_processing_time * (double)timed) /
					     (double)(*timed_sum + timed);
		*timed_sum += timed;
	}
	for (size_t i = 0; i < s->n_current_agents; i++)
		total_add_agent(t, s->current_agents[i]);
}

/* Builds the per-queue stats and their total from the project statement. */
static int project_stats(struct flow_req *r, const PGresult *res, Flow__V1__QueueStats **v,
			 size_t *n, Flow__V1__QueueStats *t)
{
	int rows = PQntuples(res);
	size_t agents = 0;
	int64_t timed_sum = 0;

	*n = 0;
	for (int i = 0; i < rows; i++) {
		if (store_isnull(res, i, "queue_id"))
			continue; /* the project has no queues */
		if ((v[*n] = stats_from_row(r, res, i)) == NULL)
			return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
		agents += v[(*n)++]->n_current_agents;
	}
	t->current_agents = arena_alloc(r->arena, sizeof(char *) * (agents + 1));
	t->queue_name = "total";
	if (t->current_agents == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	for (int i = 0, k = 0; i < rows; i++)
		if (!store_isnull(res, i, "queue_id"))
			total_add(t, v[k++], store_i64(res, i, "timed"), &timed_sum);
	stats_rate(t);
	return FLOW_OK;
}

int store_item_stats_project(struct flow_req *r, int64_t project_id, Flow__V1__QueueStats ***out,
			     size_t *n, Flow__V1__QueueStats **total)
{
	const char *p[1] = { store_p_i64(r, project_id) };
	const char *nf = arena_printf(r->arena, "project %" PRId64 " not found", project_id);
	Flow__V1__QueueStats **v, *t = stats_new(r);
	PGresult *res;
	size_t count = 0;
	int rv;

	if (p[0] == NULL || nf == NULL || t == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	if ((rv = store_exec(r, &st_stats_project, p, &res)) != FLOW_OK)
		return rv;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return req_error(r, FLOW_NOT_FOUND, "%s", nf);
	}
	v = arena_alloc(r->arena, sizeof(*v) * (size_t)(PQntuples(res) + 1));
	rv = v ? project_stats(r, res, v, &count, t)
	       : req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	PQclear(res);
	if (rv != FLOW_OK)
		return rv;
	*out = v;
	*n = count;
	*total = t;
	return FLOW_OK;
}
