#include "store/tasks.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "service.h"
#include "status.h"
#include "store/store.h"

static struct store_stmt st_get = {
	"task_get",
	"SELECT " STORE_TASK_COLS " FROM tasks k WHERE k.id = $1",
	1,
	0,
};

/* One row with a NULL task when the ticket has none; no row when the
 * ticket does not exist. */
static struct store_stmt st_list = {
	"tasks_list",
	"SELECT t.id AS parent_id, x.* FROM tickets t LEFT JOIN LATERAL ("
	" SELECT " STORE_TASK_COLS " FROM tasks k"
	" WHERE k.ticket_id = t.id AND ($2::text IS NULL OR k.status = $2::text)) x ON true"
	" WHERE t.id = $1 ORDER BY x.order_index, x.id",
	2,
	0,
};

static struct store_stmt st_create = {
	"task_create",
	"SELECT " STORE_TASK_COLS " FROM flow_task_create($1::bigint, $2::text, $3::text,"
	" $4::text, $5::int, $6::float8, $7::text[], $8::text, $9::bigint[], $10::text[]) k",
	10,
	0,
};

static struct store_stmt st_update = {
	"task_update",
	"SELECT " STORE_TASK_COLS " FROM flow_task_update($1::bigint, $2::text, $3::text,"
	" $4::text, $5::boolean, $6::float8, $7::text[], $8::text, $9::bigint[], $10::text[],"
	" $11::text, $12::int) k",
	12,
	0,
};

static struct store_stmt st_delete = {
	"task_delete",
	"SELECT flow_task_delete($1::bigint) AS id",
	1,
	0,
};

static struct store_stmt st_reorder = {
	"tasks_reorder",
	"SELECT " STORE_TASK_COLS " FROM flow_task_reorder($1::bigint, $2::bigint[], $3::int[]) k"
	" ORDER BY k.order_index, k.id",
	3,
	0,
};

static int task_arrays(struct flow_req *r, const PGresult *res, int row, Flow__V1__Task *t)
{
	size_t nd;
	int rv;

	if ((rv = store_json_strs(r, res, row, "tags", &t->tags, &t->n_tags)) != FLOW_OK ||
	    (rv = store_json_strs(r, res, row, "suggested_file_ids", &t->suggested_file_ids,
				  &t->n_suggested_file_ids)) != FLOW_OK ||
	    (rv = store_json_i64s(r, res, row, "dependencies", &t->dependencies, &nd)) != FLOW_OK)
		return rv;
	t->n_dependencies = nd;
	return FLOW_OK;
}

int store_task_from_row(struct flow_req *r, const PGresult *res, int row, Flow__V1__Task **out)
{
	Flow__V1__Task *t = SERVICE_NEW(r, Flow__V1__Task, flow__v1__task__descriptor);
	int rv;

	if (t == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	t->has_id = t->has_ticket_id = t->has_done = t->has_order_index = true;
	t->has_created = t->has_updated = true;
	t->id = store_i64(res, row, "id");
	t->ticket_id = store_i64(res, row, "ticket_id");
	t->content = store_text(r, res, row, "content");
	t->description = store_text(r, res, row, "description");
	t->status = store_text(r, res, row, "status");
	t->done = store_bool(res, row, "done");
	t->order_index = store_int(res, row, "order_index");
	t->has_estimated_hours = !store_isnull(res, row, "estimated_hours");
	t->estimated_hours = store_double(res, row, "estimated_hours");
	t->agent_id = store_text(r, res, row, "agent_id");
	t->completion_notes = store_text(r, res, row, "completion_notes");
	t->created = store_i64(res, row, "created");
	t->updated = store_i64(res, row, "updated");
	if (t->content == NULL || t->description == NULL || t->status == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	if ((rv = task_arrays(r, res, row, t)) != FLOW_OK)
		return rv;
	*out = t;
	return FLOW_OK;
}

/* Runs a statement returning exactly one task row. */
static int one_task(struct flow_req *r, struct store_stmt *st, const char *const *p, int64_t id,
		    Flow__V1__Task **out)
{
	char nf[64];
	PGresult *res;
	int rv;

	snprintf(nf, sizeof(nf), "task %" PRId64 " not found", id);
	if ((rv = store_exec_row(r, st, p, nf, &res)) != FLOW_OK)
		return rv;
	rv = store_task_from_row(r, res, 0, out);
	PQclear(res);
	return rv;
}

int store_task_get(struct flow_req *r, int64_t id, Flow__V1__Task **out)
{
	const char *p[] = { store_p_i64(r, id) };

	if (p[0] == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	return one_task(r, &st_get, p, id, out);
}

/* Converts the task rows of res, skipping rows whose id is NULL. */
static int task_rows(struct flow_req *r, const PGresult *res, Flow__V1__Task ***out, size_t *n)
{
	int rows = PQntuples(res);
	int rv;

	*out = arena_alloc(r->arena, sizeof(**out) * (size_t)(rows + 1));
	if (*out == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	for (int i = 0; i < rows; i++) {
		if (store_isnull(res, i, "id"))
			continue;
		if ((rv = store_task_from_row(r, res, i, &(*out)[*n])) != FLOW_OK)
			return rv;
		(*n)++;
	}
	return FLOW_OK;
}

int store_tasks_list(struct flow_req *r, int64_t ticket_id, const char *status_or_null,
		     Flow__V1__Task ***out, size_t *n)
{
	bool all = status_or_null == NULL || strcmp(status_or_null, "all") == 0;
	const char *p[2] = { store_p_i64(r, ticket_id), all ? NULL : status_or_null };
	PGresult *res;
	int rv;

	*out = NULL;
	*n = 0;
	if (p[0] == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	if ((rv = store_exec(r, &st_list, p, &res)) != FLOW_OK)
		return rv;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return req_error(r, FLOW_NOT_FOUND, "ticket %" PRId64 " not found", ticket_id);
	}
	rv = task_rows(r, res, out, n);
	PQclear(res);
	return rv;
}

/* Parameter helpers: NULL (SQL NULL) when absent; *oom set on failure. */
static const char *p_strs(struct flow_req *r, bool set, char **v, size_t n, bool *oom)
{
	const char *s = set ? store_p_text_array(r, v, n) : NULL;

	*oom |= set && s == NULL;
	return s;
}

static const char *p_ids(struct flow_req *r, bool set, const int64_t *v, size_t n, bool *oom)
{
	const char *s = set ? store_p_i64_array(r, v, n) : NULL;

	*oom |= set && s == NULL;
	return s;
}

static const char *p_dbl(struct flow_req *r, bool set, double v, bool *oom)
{
	const char *s = set ? store_p_double(r, v) : NULL;

	*oom |= set && s == NULL;
	return s;
}

static const char *p_int(struct flow_req *r, bool set, int v, bool *oom)
{
	const char *s = set ? store_p_int(r, v) : NULL;

	*oom |= set && s == NULL;
	return s;
}

int store_task_create(struct flow_req *r, const Flow__V1__Task *t, Flow__V1__Task **out)
{
	bool oom = false;
	const char *p[10] = {
		store_p_i64(r, t->ticket_id),
		t->content,
		t->description,
		t->status,
		p_int(r, t->has_order_index, t->order_index, &oom),
		p_dbl(r, t->has_estimated_hours, t->estimated_hours, &oom),
		p_strs(r, true, t->tags, t->n_tags, &oom),
		t->agent_id,
		p_ids(r, true, t->dependencies, t->n_dependencies, &oom),
		p_strs(r, true, t->suggested_file_ids, t->n_suggested_file_ids, &oom),
	};

	if (oom || p[0] == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	/* The function raises "ticket N not found"; a row is always returned otherwise. */
	return one_task(r, &st_create, p, 0, out);
}

int store_task_update(struct flow_req *r, int64_t id, const struct store_task_change *c,
		      Flow__V1__Task **out)
{
	bool oom = false;
	const char *p[12] = {
		store_p_i64(r, id),
		c->content,
		c->description,
		c->status,
		c->has_done ? store_p_bool(c->done) : NULL,
		p_dbl(r, c->has_estimated_hours, c->estimated_hours, &oom),
		p_strs(r, c->set_tags, c->tags, c->n_tags, &oom),
		c->agent_id,
		p_ids(r, c->set_dependencies, c->dependencies, c->n_dependencies, &oom),
		p_strs(r, c->set_file_ids, c->file_ids, c->n_file_ids, &oom),
		c->completion_notes,
		p_int(r, c->has_order_index, c->order_index, &oom),
	};

	if (oom || p[0] == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	return one_task(r, &st_update, p, id, out);
}

int store_task_delete(struct flow_req *r, int64_t id)
{
	const char *p[] = { store_p_i64(r, id) };
	PGresult *res;
	int rv;

	if (p[0] == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	if ((rv = store_exec(r, &st_delete, p, &res)) != FLOW_OK)
		return rv;
	PQclear(res);
	return FLOW_OK;
}

int store_tasks_reorder(struct flow_req *r, int64_t ticket_id, const int64_t *ids,
			const int *orders, size_t n, Flow__V1__Task ***out, size_t *n_out)
{
	char *ord = arena_alloc(r->arena, n * 12 + 3), *o = ord;
	const char *p[3] = { store_p_i64(r, ticket_id), store_p_i64_array(r, ids, n), ord };
	PGresult *res;
	int rv;

	*out = NULL;
	*n_out = 0;
	if (p[0] == NULL || p[1] == NULL || ord == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	*o++ = '{';
	for (size_t i = 0; i < n; i++)
		o += sprintf(o, "%s%d", i ? "," : "", orders[i]);
	strcpy(o, "}");
	if ((rv = store_exec(r, &st_reorder, p, &res)) != FLOW_OK)
		return rv;
	rv = task_rows(r, res, out, n_out);
	PQclear(res);
	return rv;
}
