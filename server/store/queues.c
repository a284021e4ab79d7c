/* queues.c - queue rows. See queues.h. */
#include "store/queues.h"

#include <inttypes.h>

#include "status.h"
#include "store/store.h"

#define QUEUE_COLS                                                                                 \
	"q.id, q.project_id, q.name, q.description, q.max_parallel_items, q.is_active, "           \
	"q.lease_seconds, q.max_attempts, q.default_agent_id, flow_ms(q.created_at) AS created, "  \
	"flow_ms(q.updated_at) AS updated"

/* Always one row: whether the project exists, and the new queue (NULL
 * columns when the name was taken). */
static struct store_stmt st_create = {
	"queue_create",
	"WITH p AS (SELECT id FROM projects WHERE id = $1),"
	" q AS (INSERT INTO queues (project_id, name, description, max_parallel_items,"
	"                           lease_seconds, max_attempts, default_agent_id)"
	"       SELECT p.id, $2, coalesce($3, ''), $4::int, $5::int, $6::int, nullif($7, '') FROM p"
	"       ON CONFLICT (project_id, name) DO NOTHING RETURNING *)"
	" SELECT EXISTS (SELECT 1 FROM p) AS project_found, " QUEUE_COLS
	" FROM (SELECT 1) one LEFT JOIN q ON true",
	7,
	0,
};

static struct store_stmt st_get = {
	"queue_get",
	"SELECT " QUEUE_COLS " FROM queues q WHERE q.id = $1",
	1,
	0,
};

static struct store_stmt st_list = {
	"queue_list",
	"SELECT " QUEUE_COLS " FROM queues q WHERE q.project_id = $1 ORDER BY q.id",
	1,
	0,
};

static struct store_stmt st_project = {
	"queue_project_exists",
	"SELECT 1 FROM projects WHERE id = $1",
	1,
	0,
};

static struct store_stmt st_update = {
	"queue_update",
	"UPDATE queues q SET name = coalesce($2, q.name),"
	" description = coalesce($3, q.description),"
	" max_parallel_items = coalesce($4::int, q.max_parallel_items),"
	" is_active = coalesce($5::boolean, q.is_active),"
	" lease_seconds = coalesce($6::int, q.lease_seconds),"
	" max_attempts = coalesce($7::int, q.max_attempts),"
	" default_agent_id = CASE WHEN $8::text IS NULL THEN q.default_agent_id"
	"                         ELSE nullif($8, '') END"
	" WHERE q.id = $1 RETURNING " QUEUE_COLS,
	8,
	0,
};

static struct store_stmt st_delete = {
	"queue_delete",
	"DELETE FROM queues WHERE id = $1 RETURNING id",
	1,
	0,
};

static Flow__V1__Queue *queue_from_row(struct flow_req *r, const PGresult *res, int row)
{
	Flow__V1__Queue *q = arena_alloc(r->arena, sizeof(*q));

	if (q == NULL)
		return NULL;
	flow__v1__queue__init(q);
	q->has_id = q->has_project_id = q->has_max_parallel_items = true;
	q->has_is_active = q->has_lease_seconds = q->has_max_attempts = true;
	q->has_created = q->has_updated = true;
	q->id = store_i64(res, row, "id");
	q->project_id = store_i64(res, row, "project_id");
	q->name = store_text(r, res, row, "name");
	q->description = store_text(r, res, row, "description");
	q->max_parallel_items = store_int(res, row, "max_parallel_items");
	q->is_active = store_bool(res, row, "is_active");
	q->lease_seconds = store_int(res, row, "lease_seconds");
	q->max_attempts = store_int(res, row, "max_attempts");
	q->default_agent_id = store_text(r, res, row, "default_agent_id");
	q->created = store_i64(res, row, "created");
	q->updated = store_i64(res, row, "updated");
	if (q->name == NULL || q->description == NULL)
		return NULL;
	return q;
}

/* Converts row 0 of res into *out and clears res. */
static int queue_result(struct flow_req *r, PGresult *res, Flow__V1__Queue **out)
{
	Flow__V1__Queue *q = queue_from_row(r, res, 0);

	PQclear(res);
	if (q == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	*out = q;
	return FLOW_OK;
}

int store_queue_create(struct flow_req *r, const struct store_queue_new *q, Flow__V1__Queue **out)
{
	const char *p[7] = {
		store_p_i64(r, q->project_id),
		q->name,
		q->description,
		store_p_int(r, q->max_parallel_items),
		store_p_int(r, q->lease_seconds),
		store_p_int(r, q->max_attempts),
		q->default_agent_id,
	};
	PGresult *res;
	int rv;

	if (p[0] == NULL || p[3] == NULL || p[4] == NULL || p[5] == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	rv = store_exec_row(r, &st_create, p, "queue insert returned no row", &res);
	if (rv != FLOW_OK)
		return rv;
	if (!store_bool(res, 0, "project_found")) {
		PQclear(res);
		return req_error(r, FLOW_NOT_FOUND, "project %" PRId64 " not found", q->project_id);
	}
	if (store_isnull(res, 0, "id")) {
		PQclear(res);
		return req_error(r, FLOW_ALREADY_EXISTS,
				 "a queue named \"%s\" already exists in project %" PRId64, q->name,
				 q->project_id);
	}
	return queue_result(r, res, out);
}

int store_queue_get(struct flow_req *r, int64_t id, Flow__V1__Queue **out)
{
	PGresult *res;
	int rv;

	if ((rv = store_exec_id_row(r, &st_get, id, "queue", &res)) != FLOW_OK)
		return rv;
	return queue_result(r, res, out);
}

/* FLOW_OK when the project exists, else FLOW_NOT_FOUND "project 7 not found". */
static int project_exists(struct flow_req *r, int64_t project_id)
{
	PGresult *res;
	int rv;

	if ((rv = store_exec_id_row(r, &st_project, project_id, "project", &res)) != FLOW_OK)
		return rv;
	PQclear(res);
	return FLOW_OK;
}

int store_queues_list(struct flow_req *r, int64_t project_id, Flow__V1__Queue ***out, size_t *n)
{
	const char *p[1] = { store_p_i64(r, project_id) };
	Flow__V1__Queue **v;
	PGresult *res;
	int rv, rows;

	if (p[0] == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	if ((rv = store_exec(r, &st_list, p, &res)) != FLOW_OK)
		return rv;
	rows = PQntuples(res);
	if (rows == 0) {
		PQclear(res);
		if ((rv = project_exists(r, project_id)) != FLOW_OK)
			return rv;
		*out = NULL;
		*n = 0;
		return FLOW_OK;
	}
	v = arena_alloc(r->arena, sizeof(*v) * (size_t)rows);
	for (int i = 0; v != NULL && i < rows; i++)
		if ((v[i] = queue_from_row(r, res, i)) == NULL)
			v = NULL;
	PQclear(res);
	if (v == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	*out = v;
	*n = (size_t)rows;
	return FLOW_OK;
}

/* Rewrites the database's unique-violation message after a rename clash. */
static int name_taken(struct flow_req *r, int64_t id, const char *name)
{
	Flow__V1__Queue *q = NULL;

	if (store_queue_get(r, id, &q) != FLOW_OK)
		return req_error(r, FLOW_ALREADY_EXISTS, "a queue named \"%s\" already exists",
				 name);
	return req_error(r, FLOW_ALREADY_EXISTS,
			 "a queue named \"%s\" already exists in project %" PRId64, name,
			 q->project_id);
}

int store_queue_update(struct flow_req *r, int64_t id, const struct store_queue_change *c,
		       Flow__V1__Queue **out)
{
	const char *p[8] = {
		store_p_i64(r, id),
		c->name,
		c->description,
		c->has_max_parallel_items ? store_p_int(r, c->max_parallel_items) : NULL,
		c->has_is_active ? store_p_bool(c->is_active) : NULL,
		c->has_lease_seconds ? store_p_int(r, c->lease_seconds) : NULL,
		c->has_max_attempts ? store_p_int(r, c->max_attempts) : NULL,
		c->default_agent_id,
	};
	const char *nf = arena_printf(r->arena, "queue %" PRId64 " not found", id);
	PGresult *res;
	int rv;

	if (p[0] == NULL || nf == NULL || (c->has_max_parallel_items && p[3] == NULL) ||
	    (c->has_lease_seconds && p[5] == NULL) || (c->has_max_attempts && p[6] == NULL))
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	rv = store_exec_row(r, &st_update, p, nf, &res);
	if (rv == FLOW_ALREADY_EXISTS && c->name != NULL)
		return name_taken(r, id, c->name);
	if (rv != FLOW_OK)
		return rv;
	return queue_result(r, res, out);
}

int store_queue_delete(struct flow_req *r, int64_t id)
{
	PGresult *res;
	int rv;

	if ((rv = store_exec_id_row(r, &st_delete, id, "queue", &res)) != FLOW_OK)
		return rv;
	PQclear(res);
	return FLOW_OK;
}
