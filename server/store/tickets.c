#include "store/tickets.h"

#include <inttypes.h>
#include <stdio.h>

#include "flow/v1/model.pb-c.h"
#include "service.h"
#include "services/convert.h"
#include "status.h"
#include "store/store.h"

static struct store_stmt st_get = {
	"ticket_get",
	"SELECT " STORE_TICKET_COLS " FROM tickets t WHERE t.id = $1",
	1,
	0,
};

/* Inserting through a SELECT of the project gives no row when it is missing. */
static struct store_stmt st_create = {
	"ticket_create",
	"INSERT INTO tickets AS t (project_id, title, overview, status, priority, tags,"
	" suggested_file_ids, suggested_agent_ids)"
	" SELECT p.id, $2::text, coalesce($3::text, ''), coalesce($4::text, 'open'),"
	" coalesce($5::int, 5), $6::text[], $7::text[], $8::text[]"
	" FROM projects p WHERE p.id = $1"
	" RETURNING " STORE_TICKET_COLS,
	8,
	0,
};

static struct store_stmt st_update = {
	"ticket_update",
	"UPDATE tickets t SET title = coalesce($2::text, t.title),"
	" overview = coalesce($3::text, t.overview), status = coalesce($4::text, t.status),"
	" priority = coalesce($5::int, t.priority), tags = coalesce($6::text[], t.tags),"
	" suggested_file_ids = coalesce($7::text[], t.suggested_file_ids),"
	" suggested_agent_ids = coalesce($8::text[], t.suggested_agent_ids)"
	" WHERE t.id = $1 RETURNING " STORE_TICKET_COLS,
	8,
	0,
};

static struct store_stmt st_delete = {
	"ticket_delete",
	"DELETE FROM tickets WHERE id = $1 RETURNING id",
	1,
	0,
};

/* One row with a NULL ticket when the project has none; no row when the
 * project does not exist. */
static struct store_stmt st_list = {
	"tickets_list",
	"SELECT p.id AS parent_id, k.* FROM projects p LEFT JOIN LATERAL ("
	" SELECT " STORE_TICKET_COLS " FROM tickets t"
	" WHERE t.project_id = p.id AND ($2::text[] IS NULL OR t.status = ANY ($2::text[]))"
	" ORDER BY t.priority DESC, t.id LIMIT $3::int) k ON true"
	" WHERE p.id = $1 ORDER BY k.priority DESC, k.id",
	3,
	0,
};

int store_ticket_from_row(struct flow_req *r, const PGresult *res, int row,
			  Flow__V1__Ticket **out)
{
	Flow__V1__Ticket *t = SERVICE_NEW(r, Flow__V1__Ticket, flow__v1__ticket__descriptor);
	int rv;

	if (t == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	t->has_id = t->has_project_id = t->has_priority = true;
	t->has_created = t->has_updated = true;
	t->id = store_i64(res, row, "id");
	t->project_id = store_i64(res, row, "project_id");
	t->title = store_text(r, res, row, "title");
	t->overview = store_text(r, res, row, "overview");
	t->status = store_text(r, res, row, "status");
	t->priority = store_int(res, row, "priority");
	t->priority_name = (char *)convert_priority_name(t->priority);
	t->created = store_i64(res, row, "created");
	t->updated = store_i64(res, row, "updated");
	if (t->title == NULL || t->overview == NULL || t->status == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	if ((rv = store_json_strs(r, res, row, "tags", &t->tags, &t->n_tags)) != FLOW_OK ||
	    (rv = store_json_strs(r, res, row, "suggested_file_ids", &t->suggested_file_ids,
				  &t->n_suggested_file_ids)) != FLOW_OK ||
	    (rv = store_json_strs(r, res, row, "suggested_agent_ids", &t->suggested_agent_ids,
				  &t->n_suggested_agent_ids)) != FLOW_OK)
		return rv;
	*out = t;
	return FLOW_OK;
}

/* Runs a statement returning one ticket row; none is "ticket <id> not found". */
static int one_ticket(struct flow_req *r, struct store_stmt *st, const char *const *p,
		      const char *what, int64_t id, Flow__V1__Ticket **out)
{
	const char *nf = arena_printf(r->arena, "%s %" PRId64 " not found", what, id);
	PGresult *res;
	int rv;

	if (nf == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	if ((rv = store_exec_row(r, st, p, nf, &res)) != FLOW_OK)
		return rv;
	rv = store_ticket_from_row(r, res, 0, out);
	PQclear(res);
	return rv;
}

int store_ticket_get(struct flow_req *r, int64_t id, Flow__V1__Ticket **out)
{
	const char *p[] = { store_p_i64(r, id) };

	if (p[0] == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	return one_ticket(r, &st_get, p, "ticket", id, out);
}

/* Array parameter, or SQL NULL (unchanged) when !set. *oom on failure. */
static const char *arr(struct flow_req *r, bool set, char **v, size_t n, bool *oom)
{
	const char *s;

	if (!set)
		return NULL;
	s = store_p_text_array(r, v, n);
	if (s == NULL)
		*oom = true;
	return s;
}

int store_ticket_create(struct flow_req *r, const Flow__V1__Ticket *t, Flow__V1__Ticket **out)
{
	bool oom = false;
	const char *p[8] = {
		store_p_i64(r, t->project_id),
		t->title,
		t->overview,
		t->status,
		t->has_priority ? store_p_int(r, t->priority) : NULL,
		arr(r, true, t->tags, t->n_tags, &oom),
		arr(r, true, t->suggested_file_ids, t->n_suggested_file_ids, &oom),
		arr(r, true, t->suggested_agent_ids, t->n_suggested_agent_ids, &oom),
	};

	if (oom || p[0] == NULL || (t->has_priority && p[4] == NULL))
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	return one_ticket(r, &st_create, p, "project", t->project_id, out);
}

int store_ticket_update(struct flow_req *r, int64_t id, const struct store_ticket_change *c,
			Flow__V1__Ticket **out)
{
	bool oom = false;
	const char *p[8] = {
		store_p_i64(r, id),
		c->title,
		c->overview,
		c->status,
		c->has_priority ? store_p_int(r, c->priority) : NULL,
		arr(r, c->set_tags, c->tags, c->n_tags, &oom),
		arr(r, c->set_file_ids, c->file_ids, c->n_file_ids, &oom),
		arr(r, c->set_agent_ids, c->agent_ids, c->n_agent_ids, &oom),
	};

	if (oom || p[0] == NULL || (c->has_priority && p[4] == NULL))
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	return one_ticket(r, &st_update, p, "ticket", id, out);
}

int store_ticket_delete(struct flow_req *r, int64_t id)
{
	PGresult *res;
	int rv;

	if ((rv = store_exec_id_row(r, &st_delete, id, "ticket", &res)) != FLOW_OK)
		return rv;
	PQclear(res);
	return FLOW_OK;
}

/* Converts the ticket rows of a tickets_list result (skipping the NULL row
 * of a project without tickets). */
static int list_rows(struct flow_req *r, const PGresult *res, Flow__V1__Ticket ***out,
		     size_t *n)
{
	int rows = PQntuples(res);
	int rv;

	*out = arena_alloc(r->arena, sizeof(**out) * (size_t)(rows + 1));
	if (*out == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	for (int i = 0; i < rows; i++) {
		if (store_isnull(res, i, "id"))
			continue;
		if ((rv = store_ticket_from_row(r, res, i, &(*out)[*n])) != FLOW_OK)
			return rv;
		(*n)++;
	}
	return FLOW_OK;
}

int store_tickets_list(struct flow_req *r, int64_t project_id, char **statuses,
		       size_t n_statuses, int limit, Flow__V1__Ticket ***out, size_t *n)
{
	const char *p[3] = {
		store_p_i64(r, project_id),
		n_statuses ? store_p_text_array(r, statuses, n_statuses) : NULL,
		limit > 0 ? store_p_int(r, limit) : NULL,
	};
	PGresult *res;
	int rv;

	*out = NULL;
	*n = 0;
	if (p[0] == NULL || (n_statuses && p[1] == NULL) || (limit > 0 && p[2] == NULL))
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	if ((rv = store_exec(r, &st_list, p, &res)) != FLOW_OK)
		return rv;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return req_error(r, FLOW_NOT_FOUND, "project %" PRId64 " not found", project_id);
	}
	rv = list_rows(r, res, out, n);
	PQclear(res);
	return rv;
}
