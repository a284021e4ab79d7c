#include "store/projects.h"

#include <inttypes.h>
#include <stdio.h>

#include "service.h"
#include "status.h"
#include "store/store.h"
#include "store/tickets.h"

#define PROJECT_COLS STORE_PROJECT_COLS

static struct store_stmt st_get = {
	"project_get",
	"SELECT " PROJECT_COLS " FROM projects p WHERE p.id = $1",
	1,
	0,
};

static struct store_stmt st_list = {
	"projects_list",
	"SELECT " PROJECT_COLS " FROM projects p"
	" WHERE $1::bigint IS NULL OR EXISTS (SELECT 1 FROM project_members m"
	"                                      WHERE m.project_id = p.id AND m.user_id = $1)"
	" ORDER BY p.id",
	1,
	0,
};

static struct store_stmt st_create = {
	"project_create",
	"WITH p AS (INSERT INTO projects (name, path, description)"
	"           VALUES ($1::text, coalesce($2::text, ''), coalesce($3::text, ''))"
	"           RETURNING *),"
	" m AS (INSERT INTO project_members (project_id, user_id, role)"
	"       SELECT p.id, $4::bigint, 'owner' FROM p WHERE $4::bigint IS NOT NULL)"
	" SELECT " PROJECT_COLS " FROM p",
	4,
	0,
};

static struct store_stmt st_update = {
	"project_update",
	"UPDATE projects p SET name = coalesce($2::text, p.name),"
	" path = coalesce($3::text, p.path), description = coalesce($4::text, p.description)"
	" WHERE p.id = $1 RETURNING " PROJECT_COLS,
	4,
	0,
};

static struct store_stmt st_delete = {
	"project_delete",
	"DELETE FROM projects WHERE id = $1 RETURNING id",
	1,
	0,
};

/* One row per queue of the project (one with NULL queue columns when it has
 * none), each carrying the project and its ticket counts. */
static struct store_stmt st_overview = {
	"project_overview",
	"WITH c AS (SELECT count(*) FILTER (WHERE status = 'open') AS open_count,"
	" count(*) FILTER (WHERE status = 'in_progress') AS in_progress_count,"
	" count(*) FILTER (WHERE status = 'closed') AS closed_count"
	" FROM tickets WHERE project_id = $1),"
	" q AS (SELECT q.id AS queue_id, q.name AS queue_name, q.is_active,"
	" count(i.id) FILTER (WHERE i.status = 'queued') AS queued,"
	" count(i.id) FILTER (WHERE i.status = 'in_progress') AS in_progress,"
	" count(i.id) FILTER (WHERE i.status = 'completed') AS completed,"
	" count(i.id) FILTER (WHERE i.status IN ('failed', 'dead')) AS failed"
	" FROM queues q LEFT JOIN queue_items i ON i.queue_id = q.id"
	" WHERE q.project_id = $1 GROUP BY q.id)"
	" SELECT " PROJECT_COLS ", c.*, q.* FROM projects p CROSS JOIN c"
	" LEFT JOIN q ON true WHERE p.id = $1 ORDER BY q.queue_id",
	1,
	0,
};

int store_project_from_row(struct flow_req *r, const PGresult *res, int row,
			   Flow__V1__Project **out)
{
	Flow__V1__Project *p = SERVICE_NEW(r, Flow__V1__Project, flow__v1__project__descriptor);

	if (p == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	p->has_id = p->has_created = p->has_updated = true;
	p->id = store_i64(res, row, "id");
	p->name = store_text(r, res, row, "name");
	p->path = store_text(r, res, row, "path");
	p->description = store_text(r, res, row, "description");
	p->created = store_i64(res, row, "created");
	p->updated = store_i64(res, row, "updated");
	if (p->name == NULL || p->path == NULL || p->description == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	*out = p;
	return FLOW_OK;
}

/* Runs a statement returning one project row; none is "project <id> not found". */
static int one_project(struct flow_req *r, struct store_stmt *st, const char *const *p,
		       int64_t id, Flow__V1__Project **out)
{
	char nf[64];
	PGresult *res;
	int rv;

	snprintf(nf, sizeof(nf), "project %" PRId64 " not found", id);
	if ((rv = store_exec_row(r, st, p, nf, &res)) != FLOW_OK)
		return rv;
	rv = store_project_from_row(r, res, 0, out);
	PQclear(res);
	return rv;
}

int store_project_get(struct flow_req *r, int64_t id, Flow__V1__Project **out)
{
	const char *p[] = { store_p_i64(r, id) };

	if (p[0] == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	return one_project(r, &st_get, p, id, out);
}

int store_projects_list(struct flow_req *r, int64_t member, Flow__V1__Project ***out, size_t *n)
{
	const char *p[1] = { member != 0 ? store_p_i64(r, member) : NULL };
	PGresult *res;
	int rows, rv;

	*out = NULL;
	*n = 0;
	if ((rv = store_exec(r, &st_list, p, &res)) != FLOW_OK)
		return rv;
	rows = PQntuples(res);
	*out = arena_alloc(r->arena, sizeof(**out) * (size_t)(rows + 1));
	if (*out == NULL) {
		PQclear(res);
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	}
	for (int i = 0; i < rows && rv == FLOW_OK; i++)
		if ((rv = store_project_from_row(r, res, i, &(*out)[i])) == FLOW_OK)
			*n = (size_t)i + 1;
	PQclear(res);
	return rv;
}

int store_project_create(struct flow_req *r, const char *name, const char *path,
			 const char *description, int64_t owner, Flow__V1__Project **out)
{
	const char *p[] = { name, path, description, owner > 0 ? store_p_i64(r, owner) : NULL };

	return one_project(r, &st_create, p, 0, out);
}

int store_project_update(struct flow_req *r, int64_t id, const char *name, const char *path,
			 const char *description, Flow__V1__Project **out)
{
	const char *p[] = { store_p_i64(r, id), name, path, description };

	if (p[0] == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	return one_project(r, &st_update, p, id, out);
}

int store_project_delete(struct flow_req *r, int64_t id)
{
	PGresult *res;
	int rv;

	if ((rv = store_exec_id_row(r, &st_delete, id, "project", &res)) != FLOW_OK)
		return rv;
	PQclear(res);
	return FLOW_OK;
}

static Flow__V1__QueueSummary *queue_from_row(struct flow_req *r, const PGresult *res, int row)
{
	Flow__V1__QueueSummary *q =
		SERVICE_NEW(r, Flow__V1__QueueSummary, flow__v1__queue_summary__descriptor);

	if (q == NULL)
		return NULL;
	q->has_queue_id = q->has_is_active = q->has_queued = q->has_in_progress = true;
	q->has_completed = q->has_failed = true;
	q->queue_id = store_i64(res, row, "queue_id");
	q->is_active = store_bool(res, row, "is_active");
	q->queued = store_i64(res, row, "queued");
	q->in_progress = store_i64(res, row, "in_progress");
	q->completed = store_i64(res, row, "completed");
	q->failed = store_i64(res, row, "failed");
	q->name = store_text(r, res, row, "queue_name");
	if (q->name == NULL) {
		req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
		return NULL;
	}
	return q;
}

/* Fills o from the rows of project_overview. */
static int overview_rows(struct flow_req *r, const PGresult *res,
			 Flow__V1__GetOverviewResponse *o)
{
	int rows = PQntuples(res);
	int rv;

	if ((rv = store_project_from_row(r, res, 0, &o->project)) != FLOW_OK)
		return rv;
	o->has_open_ticket_count = o->has_in_progress_ticket_count = true;
	o->has_closed_ticket_count = true;
	o->open_ticket_count = store_i64(res, 0, "open_count");
	o->in_progress_ticket_count = store_i64(res, 0, "in_progress_count");
	o->closed_ticket_count = store_i64(res, 0, "closed_count");
	o->queues = arena_alloc(r->arena, sizeof(*o->queues) * (size_t)(rows + 1));
	if (o->queues == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	for (int i = 0; i < rows; i++) {
		if (store_isnull(res, i, "queue_id"))
			continue;
		if ((o->queues[o->n_queues] = queue_from_row(r, res, i)) == NULL)
			return FLOW_RESOURCE_EXHAUSTED;
		o->n_queues++;
	}
	return FLOW_OK;
}

int store_project_overview(struct flow_req *r, int64_t id, int max_open,
			   Flow__V1__GetOverviewResponse **out)
{
	static char *active[] = { "open", "in_progress" };
	const char *p[] = { store_p_i64(r, id) };
	Flow__V1__GetOverviewResponse *o;
	PGresult *res;
	int rv;

	o = SERVICE_NEW(r, Flow__V1__GetOverviewResponse,
			flow__v1__get_overview_response__descriptor);
	if (o == NULL || p[0] == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	/* one row per queue of the project; none: no such project */
	if ((rv = store_exec(r, &st_overview, p, &res)) != FLOW_OK)
		return rv;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return req_error(r, FLOW_NOT_FOUND, "project %" PRId64 " not found", id);
	}
	rv = overview_rows(r, res, o);
	PQclear(res);
	if (rv == FLOW_OK)
		rv = store_tickets_list(r, id, active, 2, max_open, &o->open_tickets,
					&o->n_open_tickets);
	if (rv == FLOW_OK)
		*out = o;
	return rv;
}
