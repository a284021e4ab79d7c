/* workers.c - the worker path of the queue engine. See workers.h. */
#include "store/workers.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "jobs/marker.h"
#include "log.h"
#include "settings.h"
#include "status.h"
#include "store/projects.h"
#include "store/store.h"
#include "store/tasks.h"
#include "store/tickets.h"

static struct store_stmt st_register = {
	"worker_register",
	"INSERT INTO workers (name, agent_ids, capacity, principal_id)"
	" VALUES ($1, $2::text[], $3::int, nullif($4::bigint, 0))"
	" RETURNING id, (SELECT coalesce(min(lease_seconds), 30) FROM queues) AS min_lease",
	4,
	0,
};

static struct store_stmt st_claim = {
	"worker_claim",
	"SELECT " STORE_ITEM_COLS ","
	" extract(epoch FROM i.lease_expires_at - i.started_at)::int AS lease_seconds"
	" FROM flow_claim_worker($1, $2, $3::text[], $4::int, $5) i"
	" ORDER BY i.priority DESC, i.id",
	5,
	0,
};

/*
 * The context of the items the session's last claim took (flow_claim_worker
 * leaves their ids in the setting flow.claimed, migration 0007), sent with
 * the claim in one round trip and run after it commits: the tickets, the
 * tasks and the tickets' projects, one kind a row; each row has the columns
 * its kind's store_*_from_row reads (the others NULL). Tickets come first
 * (kind DESC: ticket, task, project), so projects find their tickets.
 */
static struct store_stmt st_context = {
	"worker_claim_context",
	"WITH c AS (SELECT array_agg(i.ticket_id) AS tickets, array_agg(i.task_id) AS tasks"
	"           FROM queue_items i"
	"           WHERE i.id = ANY (coalesce(current_setting('flow.claimed', true),"
	"                                      '{}')::bigint[])),"
	" t AS (SELECT * FROM tickets WHERE id = ANY ((SELECT c.tickets FROM c)::bigint[]))"
	" SELECT 'ticket' AS kind, t.id, t.project_id, NULL::bigint AS ticket_id, t.title,"
	"  t.overview, t.status, t.priority, to_json(t.tags) AS tags,"
	"  to_json(t.suggested_file_ids) AS suggested_file_ids,"
	"  to_json(t.suggested_agent_ids) AS suggested_agent_ids, NULL::text AS content,"
	"  NULL::text AS description, NULL::boolean AS done, NULL::int AS order_index,"
	"  NULL::float8 AS estimated_hours, NULL::text AS agent_id, NULL::json AS dependencies,"
	"  NULL::text AS completion_notes, NULL::text AS name, NULL::text AS path,"
	"  flow_ms(t.created_at) AS created, flow_ms(t.updated_at) AS updated FROM t"
	" UNION ALL"
	" SELECT 'task', k.id, NULL, k.ticket_id, NULL, NULL, k.status, NULL, to_json(k.tags),"
	"  to_json(k.suggested_file_ids), NULL, k.content, k.description, k.done, k.order_index,"
	"  k.estimated_hours, k.agent_id, to_json(k.dependencies), k.completion_notes, NULL, NULL,"
	"  flow_ms(k.created_at), flow_ms(k.updated_at)"
	"  FROM tasks k WHERE k.id = ANY ((SELECT c.tasks FROM c)::bigint[])"
	" UNION ALL"
	" SELECT 'project', p.id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
	"  p.description, NULL, NULL, NULL, NULL, NULL, NULL, p.name, p.path,"
	"  flow_ms(p.created_at), flow_ms(p.updated_at)"
	"  FROM projects p WHERE p.id IN (SELECT t.project_id FROM t)"
	" ORDER BY kind DESC",
	0,
	0,
};

/*
 * After the claim commits (its queue row lock released) and the worker has
 * its answer, by the marker half a second later or at once: the claimed
 * items' tasks and tickets in progress, in a transaction of their own
 * (flow_claimed_mark_running, migration 0007).
 */
static struct store_stmt st_claim_mark = {
	"worker_claim_mark",
	"SELECT flow_claimed_mark_running($1, $2::bigint[])",
	2,
	0,
};

/*
 * One row per held item ($3 ids, $4 attempts), or one row with a NULL id
 * when none is held: whether the worker exists, and whether the lease was
 * extended; else the item's status. Locks the items in id order, as every
 * other statement that changes several in-progress items.
 */
static struct store_stmt st_heartbeat = {
	"worker_heartbeat",
	"WITH w AS (UPDATE workers SET last_seen_at = now() WHERE id = $1 RETURNING id),"
	" h AS (SELECT * FROM unnest($3::bigint[], $4::int[]) AS h(id, attempt)),"
	" l AS (SELECT i.id, q.lease_seconds FROM queue_items i"
	"       JOIN h ON h.id = i.id AND h.attempt = i.attempt"
	"       JOIN queues q ON q.id = i.queue_id"
	"       WHERE i.status = 'in_progress' AND i.lease_owner = $2"
	"         AND EXISTS (SELECT 1 FROM w)"
	"       ORDER BY i.id FOR NO KEY UPDATE OF i),"
	" x AS (UPDATE queue_items i"
	"       SET lease_expires_at = now() + make_interval(secs => l.lease_seconds)"
	"       FROM l WHERE i.id = l.id AND i.status = 'in_progress' AND i.lease_owner = $2"
	"       RETURNING i.id)"
	" SELECT (SELECT count(*) FROM w) > 0 AS worker_found, h.id,"
	"  x.id IS NOT NULL AS extended, cur.status"
	" FROM (SELECT 1) one LEFT JOIN h ON true LEFT JOIN x ON x.id = h.id"
	" LEFT JOIN queue_items cur ON cur.id = h.id ORDER BY h.id",
	4,
	0,
};

static struct store_stmt st_report = {
	"worker_report",
	"SELECT pos, state, message, status FROM flow_report($1, $2::bigint[], $3::int[],"
	" $4::boolean[], $5::text[], $6::text[], $7::text[], $8::boolean[], $9::int, $10::int)",
	10,
	0,
};

const char *store_worker_owner(struct flow_req *r, int64_t worker_id)
{
	return arena_printf(r->arena, "worker:%" PRId64, worker_id);
}

int store_worker_register(struct flow_req *r, const char *name, char **agents, size_t n_agents,
			  int capacity, int64_t *id, int *min_lease_s)
{
	const char *p[4] = { name, store_p_text_array(r, agents, n_agents),
			     store_p_int(r, capacity), store_p_i64(r, r->who.user_id) };
	PGresult *res;
	int rv;

	if (p[1] == NULL || p[2] == NULL || p[3] == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	rv = store_exec_row(r, &st_register, p, "worker insert returned no row", &res);
	if (rv != FLOW_OK)
		return rv;
	*id = store_i64(res, 0, "id");
	*min_lease_s = store_int(res, 0, "min_lease");
	PQclear(res);
	return FLOW_OK;
}

/* ---- claim ---- */

/* Converts the claimed rows of res (cleared by the caller) to ClaimedItems. */
static int claimed_items(struct flow_req *r, const PGresult *res, Flow__V1__ClaimedItem **v)
{
	for (int i = 0; i < PQntuples(res); i++) {
		Flow__V1__ClaimedItem *c = arena_alloc(r->arena, sizeof(*c));

		if (c == NULL)
			return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
		flow__v1__claimed_item__init(c);
		if ((c->item = store_item_from_row(r, res, i)) == NULL)
			return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
		c->has_lease_seconds = true;
		c->lease_seconds = store_int(res, i, "lease_seconds");
		v[i] = c;
	}
	return FLOW_OK;
}

/* Attaches context row `row` of res to every claimed item it belongs to. */
static int attach_row(struct flow_req *r, const PGresult *res, int row, Flow__V1__ClaimedItem **v,
		      size_t n)
{
	const char *kind = PQgetvalue(res, row, PQfnumber(res, "kind"));
	int64_t id = store_i64(res, row, "id");
	Flow__V1__Ticket *t = NULL;
	Flow__V1__Task *k = NULL;
	Flow__V1__Project *p = NULL;
	int rv;

	if (strcmp(kind, "ticket") == 0)
		rv = store_ticket_from_row(r, res, row, &t);
	else if (strcmp(kind, "task") == 0)
		rv = store_task_from_row(r, res, row, &k);
	else
		rv = store_project_from_row(r, res, row, &p);
	for (size_t i = 0; rv == FLOW_OK && i < n; i++) {
		if (t != NULL && v[i]->item->ticket_id == id)
			v[i]->ticket = t;
		if (k != NULL && v[i]->item->has_task_id && v[i]->item->task_id == id)
			v[i]->task = k;
		if (p != NULL && v[i]->ticket != NULL && v[i]->ticket->project_id == id)
			v[i]->project = p;
	}
	return rv;
}

int store_worker_claim_mark(struct flow_req *r, const char *owner, const char *ids)
{
	const char *p[2] = { owner, ids };
	PGresult *res;
	int rv;

	if ((rv = store_exec(r, &st_claim_mark, p, &res)) != FLOW_OK)
		return rv;
	PQclear(res);
	return FLOW_OK;
}

/* After the reply: the marking, to the marker or now. arg: owner, ids in
 * r->arena. */
static void claim_mark(struct flow_req *r, void *arg)
{
	const char **p = arg;

	if (marker_add(r->marker, p[0], p[1]))
		return;
	/* Tasks stay pending when this fails; the items' outcomes or leases
	 * settle them. */
	if (store_worker_claim_mark(r, p[0], p[1]) != FLOW_OK)
		log_warn("claim.mark_failed", "marking claimed tasks in progress: %s", r->message);
}

/*
 * Leaves the marking of the n claimed items v for after the reply, and
 * shows their tasks and tickets as the marking leaves them.
 */
static int defer_claim_mark(struct flow_req *r, const char *owner, Flow__V1__ClaimedItem **v,
			    size_t n)
{
	int64_t *ids = arena_alloc(r->arena, sizeof(int64_t) * n);
	const char **p = arena_alloc(r->arena, sizeof(*p) * 2);

	if (ids == NULL || p == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	for (size_t i = 0; i < n; i++) {
		ids[i] = v[i]->item->id;
		if (v[i]->task != NULL && v[i]->task->status != NULL &&
		    strcmp(v[i]->task->status, "pending") == 0)
			v[i]->task->status = "in_progress";
		if (v[i]->ticket != NULL && v[i]->ticket->status != NULL &&
		    strcmp(v[i]->ticket->status, "open") == 0)
			v[i]->ticket->status = "in_progress";
	}
	p[0] = owner;
	p[1] = store_p_i64_array(r, ids, n);
	if (p[1] == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	r->after_reply = claim_mark;
	r->after_arg = p;
	return FLOW_OK;
}

int store_worker_claim(struct flow_req *r, const struct store_claim *c,
		       Flow__V1__ClaimedItem ***out, size_t *n)
{
	const char *p[5] = {
		store_p_i64(r, c->worker_id),
		store_worker_owner(r, c->worker_id),
		c->n_agents > 0 ? store_p_text_array(r, c->agents, c->n_agents) : NULL,
		store_p_int(r, c->max_items),
		c->queue_id > 0 ? store_p_i64(r, c->queue_id) : NULL,
	};
	Flow__V1__ClaimedItem **v;
	PGresult *res, *ctx;
	size_t rows;
	int rv;

	if (p[0] == NULL || p[1] == NULL || (c->n_agents > 0 && p[2] == NULL) || p[3] == NULL ||
	    (c->queue_id > 0 && p[4] == NULL))
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	if ((rv = store_exec_then(r, &st_claim, p, &st_context, NULL, &res, &ctx)) != FLOW_OK)
		return rv;
	rows = (size_t)PQntuples(res);
	v = arena_alloc(r->arena, sizeof(*v) * (rows + 1));
	rv = v != NULL ? claimed_items(r, res, v)
		       : req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	for (int i = 0; rv == FLOW_OK && i < PQntuples(ctx); i++)
		rv = attach_row(r, ctx, i, v, rows);
	PQclear(res);
	PQclear(ctx);
	if (rv == FLOW_OK && rows > 0)
		rv = defer_claim_mark(r, p[1], v, rows);
	if (rv != FLOW_OK)
		return rv;
	*out = v;
	*n = rows;
	return FLOW_OK;
}

static struct store_stmt st_release = {
	"worker_release",
	"WITH l AS (SELECT id FROM queue_items WHERE id = ANY ($2::bigint[])"
	"           AND status = 'in_progress' AND lease_owner = $1 ORDER BY id FOR NO KEY UPDATE)"
	" UPDATE queue_items i SET status = 'queued', attempt = i.attempt - 1, started_at = NULL,"
	"  lease_owner = NULL, lease_expires_at = NULL FROM l WHERE i.id = l.id",
	2,
	0,
};

int store_worker_release(struct flow_req *r, int64_t worker_id, const int64_t *ids, size_t n)
{
	const char *p[2] = { store_worker_owner(r, worker_id), store_p_i64_array(r, ids, n) };
	PGresult *res;
	int rv;

	if (p[0] == NULL || p[1] == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	if ((rv = store_exec(r, &st_release, p, &res)) != FLOW_OK)
		return rv;
	PQclear(res);
	return FLOW_OK;
}

/* ---- heartbeat ---- */

/* "{1,2,3}" of n ints in r->arena. */
static const char *p_int_array(struct flow_req *r, const int *v, size_t n)
{
	char *out = arena_alloc(r->arena, n * 12 + 3), *o;

	if (out == NULL)
		return NULL;
	o = out;
	*o++ = '{';
	for (size_t i = 0; i < n; i++)
		o += sprintf(o, "%s%d", i ? "," : "", v[i]);
	*o++ = '}';
	*o = '\0';
	return out;
}

/* Sorts the heartbeat rows of res into out's three lists. */
static int heartbeat_lists(struct flow_req *r, const PGresult *res,
			   Flow__V1__HeartbeatResponse *out)
{
	size_t rows = (size_t)PQntuples(res);

	out->extended = arena_alloc(r->arena, sizeof(int64_t) * (rows + 1));
	out->cancelled = arena_alloc(r->arena, sizeof(int64_t) * (rows + 1));
	out->lost = arena_alloc(r->arena, sizeof(int64_t) * (rows + 1));
	if (out->extended == NULL || out->cancelled == NULL || out->lost == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	for (int i = 0; i < (int)rows; i++) {
		int64_t id = store_i64(res, i, "id");
		int s = PQfnumber(res, "status");

		if (store_isnull(res, i, "id"))
			continue;
		if (store_bool(res, i, "extended"))
			out->extended[out->n_extended++] = id;
		else if (!PQgetisnull(res, i, s) && strcmp(PQgetvalue(res, i, s), "cancelled") == 0)
			out->cancelled[out->n_cancelled++] = id;
		else
			out->lost[out->n_lost++] = id;
	}
	return FLOW_OK;
}

int store_worker_heartbeat(struct flow_req *r, int64_t worker_id, Flow__V1__HeldItem *const *items,
			   size_t n, Flow__V1__HeartbeatResponse *out)
{
	int64_t *ids = arena_alloc(r->arena, sizeof(int64_t) * (n + 1));
	int *attempts = arena_alloc(r->arena, sizeof(int) * (n + 1));
	const char *p[4];
	PGresult *res;
	int rv;

	if (ids == NULL || attempts == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	for (size_t i = 0; i < n; i++) {
		ids[i] = items[i]->queue_item_id;
		attempts[i] = items[i]->attempt;
	}
	p[0] = store_p_i64(r, worker_id);
	p[1] = store_worker_owner(r, worker_id);
	p[2] = store_p_i64_array(r, ids, n);
	p[3] = p_int_array(r, attempts, n);
	if (p[0] == NULL || p[1] == NULL || p[2] == NULL || p[3] == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	if ((rv = store_exec(r, &st_heartbeat, p, &res)) != FLOW_OK)
		return rv;
	if (PQntuples(res) == 0 || !store_bool(res, 0, "worker_found")) {
		PQclear(res);
		return req_error(r, FLOW_NOT_FOUND, "worker %" PRId64 " is not registered",
				 worker_id);
	}
	rv = heartbeat_lists(r, res, out);
	PQclear(res);
	return rv;
}

/* ---- report ---- */

/* The flow_report argument arrays of n outcomes. */
struct report_arrays {
	int64_t *ids;
	int *attempts;
	char **notes, **metadata, **errors;
	char *success, *retryable; /* "{t,f,...}" */
};

/* "{t,f,...}" of the n outcomes' retryable (retry) or success flags. */
static char *p_bool_array(struct flow_req *r, const struct store_outcome *o, size_t n, bool retry)
{
	char *out = arena_alloc(r->arena, 2 * n + 3), *s;

	if (out == NULL)
		return NULL;
	s = out;
	*s++ = '{';
	for (size_t i = 0; i < n; i++) {
		if (i)
			*s++ = ',';
		*s++ = (retry ? o[i].retryable : o[i].success) ? 't' : 'f';
	}
	*s++ = '}';
	*s = '\0';
	return out;
}

static int report_arrays(struct flow_req *r, const struct store_outcome *o, size_t n,
			 struct report_arrays *a)
{
	a->ids = arena_alloc(r->arena, sizeof(int64_t) * (n + 1));
	a->attempts = arena_alloc(r->arena, sizeof(int) * (n + 1));
	a->notes = arena_alloc(r->arena, sizeof(char *) * (n + 1));
	a->metadata = arena_alloc(r->arena, sizeof(char *) * (n + 1));
	a->errors = arena_alloc(r->arena, sizeof(char *) * (n + 1));
	a->success = p_bool_array(r, o, n, false);
	a->retryable = p_bool_array(r, o, n, true);
	if (a->ids == NULL || a->attempts == NULL || a->notes == NULL || a->metadata == NULL ||
	    a->errors == NULL || a->success == NULL || a->retryable == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	for (size_t i = 0; i < n; i++) {
		a->ids[i] = o[i].id;
		a->attempts[i] = o[i].attempt;
		a->notes[i] = (char *)o[i].notes;
		a->metadata[i] = (char *)o[i].metadata;
		a->errors[i] = (char *)o[i].error;
	}
	return FLOW_OK;
}

/* Copies the flow_report rows of res into out (by position). */
static int report_results(struct flow_req *r, const PGresult *res, size_t n,
			  Flow__V1__OutcomeResult *const *out)
{
	for (int i = 0; i < PQntuples(res); i++) {
		int pos = store_int(res, i, "pos");
		Flow__V1__OutcomeResult *o;

		if (pos < 1 || (size_t)pos > n)
			return req_error(r, FLOW_INTERNAL, "flow_report returned position %d", pos);
		o = out[pos - 1];
		o->has_code = true;
		o->code = store_isnull(res, i, "state")
			      ? FLOW__V1__CODE__OK
			      : (Flow__V1__Code)store_error_code(
				    PQgetvalue(res, i, PQfnumber(res, "state")));
		o->message = store_text(r, res, i, "message");
		o->status = store_text(r, res, i, "status");
	}
	return FLOW_OK;
}

int store_worker_report(struct flow_req *r, int64_t worker_id, const struct store_outcome *o,
			size_t n, Flow__V1__OutcomeResult *const *res_out)
{
	struct report_arrays a;
	const char *p[10];
	PGresult *res;
	int rv;

	if ((rv = report_arrays(r, o, n, &a)) != FLOW_OK)
		return rv;
	p[0] = store_worker_owner(r, worker_id);
	p[1] = store_p_i64_array(r, a.ids, n);
	p[2] = p_int_array(r, a.attempts, n);
	p[3] = a.success;
	p[4] = store_p_text_array(r, a.notes, n);
	p[5] = store_p_text_array(r, a.metadata, n);
	p[6] = store_p_text_array(r, a.errors, n);
	p[7] = a.retryable;
	p[8] = store_p_int(r, flow_settings.retry_base_ms);
	p[9] = store_p_int(r, flow_settings.retry_max_ms);
	for (int i = 0; i < 10; i++)
		if (p[i] == NULL)
			return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	if ((rv = store_exec(r, &st_report, p, &res)) != FLOW_OK)
		return rv;
	rv = report_results(r, res, n, res_out);
	PQclear(res);
	return rv;
}

/* ---- list (ListWorkers) ---- */

/*
 * One row per worker and item it runs (item columns NULL for an idle
 * worker), or one row of NULLs but now_ms when no worker matches. $1: the
 * connected window in seconds; $2: every worker, not only connected ones;
 * $3: at most this many workers by id (the caller asks one more than it
 * returns, to tell truncation). In-progress items are found through the
 * partial index queue_items_leases.
 */
static struct store_stmt st_list = {
	"worker_list",
	"WITH w AS (SELECT id, name, agent_ids, capacity, registered_at, last_seen_at,"
	"            last_seen_at >= now() - make_interval(secs => $1::int) AS connected"
	"           FROM workers"
	"           WHERE $2::boolean OR last_seen_at >= now() - make_interval(secs => $1::int)"
	"           ORDER BY id LIMIT $3::int)"
	" SELECT n.now_ms, w.id, w.name, to_json(w.agent_ids) AS agent_ids, w.capacity,"
	"  flow_ms(w.registered_at) AS registered_at, flow_ms(w.last_seen_at) AS last_seen_at,"
	"  w.connected, i.id AS item_id, i.queue_id, i.ticket_id, i.task_id,"
	"  coalesce(i.agent_id, 'default') AS agent_id, i.attempt,"
	"  flow_ms(i.started_at) AS started_at, flow_ms(i.lease_expires_at) AS lease_expires_at"
	" FROM (SELECT flow_ms(now()) AS now_ms) n LEFT JOIN w ON true"
	" LEFT JOIN queue_items i"
	"  ON i.status = 'in_progress' AND i.lease_owner = 'worker:' || w.id"
	" ORDER BY w.id, i.id",
	3,
	0,
};

/* The worker columns of row `row` as a message in r->arena. */
static int worker_from_row(struct flow_req *r, const PGresult *res, int row,
			   Flow__V1__WorkerInfo **out)
{
	Flow__V1__WorkerInfo *w = arena_alloc(r->arena, sizeof(*w));
	int rv;

	if (w == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	flow__v1__worker_info__init(w);
	w->has_id = w->has_capacity = w->has_registered_at = true;
	w->has_last_seen_at = w->has_connected = true;
	w->id = store_i64(res, row, "id");
	w->name = store_text(r, res, row, "name");
	w->capacity = store_int(res, row, "capacity");
	w->registered_at = store_i64(res, row, "registered_at");
	w->last_seen_at = store_i64(res, row, "last_seen_at");
	w->connected = store_bool(res, row, "connected");
	if (w->name == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	rv = store_json_strs(r, res, row, "agent_ids", &w->agent_ids, &w->n_agent_ids);
	if (rv != FLOW_OK)
		return rv;
	*out = w;
	return FLOW_OK;
}

/* The item columns of row `row` as a message in r->arena. */
static int worker_item_from_row(struct flow_req *r, const PGresult *res, int row,
				Flow__V1__WorkerItem **out)
{
	Flow__V1__WorkerItem *it = arena_alloc(r->arena, sizeof(*it));

	if (it == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	flow__v1__worker_item__init(it);
	it->has_queue_item_id = it->has_queue_id = it->has_ticket_id = true;
	it->has_attempt = it->has_started_at = it->has_lease_expires_at = true;
	it->queue_item_id = store_i64(res, row, "item_id");
	it->queue_id = store_i64(res, row, "queue_id");
	it->ticket_id = store_i64(res, row, "ticket_id");
	it->has_task_id = !store_isnull(res, row, "task_id");
	it->task_id = store_i64(res, row, "task_id");
	it->agent_id = store_text(r, res, row, "agent_id");
	it->attempt = store_int(res, row, "attempt");
	it->started_at = store_i64(res, row, "started_at");
	it->lease_expires_at = store_i64(res, row, "lease_expires_at");
	if (it->agent_id == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	*out = it;
	return FLOW_OK;
}

/*
 * Folds the rows of res into out: a worker per new id (at most limit; one
 * more sets truncated), its items a slice of one array. out->workers must
 * hold a pointer per row.
 */
static int worker_rows(struct flow_req *r, const PGresult *res, int limit,
		       Flow__V1__ListWorkersResponse *out)
{
	int rows = PQntuples(res), rv = FLOW_OK;
	Flow__V1__WorkerItem **items = arena_alloc(r->arena, sizeof(*items) * ((size_t)rows + 1));
	Flow__V1__WorkerInfo *w = NULL;

	if (items == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	for (int i = 0; rv == FLOW_OK && i < rows && !store_isnull(res, i, "id"); i++) {
		if (w == NULL || w->id != store_i64(res, i, "id")) {
			if (out->n_workers == (size_t)limit) {
				out->truncated = true;
				break;
			}
			if ((rv = worker_from_row(r, res, i, &w)) != FLOW_OK)
				break;
			w->items = items;
			out->workers[out->n_workers++] = w;
		}
		if (!store_isnull(res, i, "item_id") &&
		    (rv = worker_item_from_row(r, res, i, &w->items[w->n_items])) == FLOW_OK) {
			w->n_items++;
			items++;
		}
	}
	return rv;
}

int store_worker_list(struct flow_req *r, const struct store_worker_filter *f,
		      Flow__V1__ListWorkersResponse *out)
{
	const char *p[3] = { store_p_int(r, f->seen_within_s),
			     store_p_bool(f->include_disconnected), store_p_int(r, f->limit + 1) };
	Flow__V1__ListWorkersResponse got = FLOW__V1__LIST_WORKERS_RESPONSE__INIT;
	PGresult *res;
	int rv;

	if (p[0] == NULL || p[2] == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	if ((rv = store_exec(r, &st_list, p, &res)) != FLOW_OK)
		return rv;
	got.workers = arena_alloc(r->arena, sizeof(*got.workers) * ((size_t)PQntuples(res) + 1));
	if (got.workers == NULL)
		rv = req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	else if (PQntuples(res) == 0)
		rv = req_error(r, FLOW_INTERNAL, "worker list returned no row");
	if (rv == FLOW_OK) {
		got.now = store_i64(res, 0, "now_ms");
		rv = worker_rows(r, res, f->limit, &got);
	}
	PQclear(res);
	if (rv != FLOW_OK)
		return rv;
	out->workers = got.workers;
	out->n_workers = got.n_workers;
	out->has_now = out->has_truncated = true;
	out->now = got.now;
	out->truncated = got.truncated;
	return FLOW_OK;
}
