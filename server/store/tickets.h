/*
 * tickets.h - the tickets table.
 *
 * Every function runs on r->db and returns a flow code (FLOW_OK, or the
 * code of req_error() with r->message set: FLOW_NOT_FOUND "ticket 42 not
 * found" / "project 7 not found", database errors as store_exec maps them).
 * Returned tickets and arrays live in r->arena (nothing to free); every
 * scalar field of a returned ticket is present (has_ flags set) and
 * priority_name is derived from priority. Inputs are only read.
 */
#ifndef FLOW_STORE_TICKETS_H
#define FLOW_STORE_TICKETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "flow/v1/model.pb-c.h"
#include "req.h"

/* Select list of a ticket row aliased `t`, as store_ticket_from_row reads it. */
#define STORE_TICKET_COLS                                                                       \
	"t.id, t.project_id, t.title, t.overview, t.status, t.priority, "                       \
	"to_json(t.tags) AS tags, to_json(t.suggested_file_ids) AS suggested_file_ids, "       \
	"to_json(t.suggested_agent_ids) AS suggested_agent_ids, "                              \
	"flow_ms(t.created_at) AS created, flow_ms(t.updated_at) AS updated"

/* Builds a ticket from row `row` of res (columns of STORE_TICKET_COLS). */
int store_ticket_from_row(struct flow_req *r, const PGresult *res, int row,
			  Flow__V1__Ticket **out);

int store_ticket_get(struct flow_req *r, int64_t id, Flow__V1__Ticket **out);

/*
 * Inserts a ticket of project t->project_id from t's title, overview (NULL:
 * ""), status (canonical; NULL: open), priority (has_priority; else 5),
 * tags, suggested_file_ids and suggested_agent_ids. Values are assumed
 * checked; the database still enforces its constraints.
 */
int store_ticket_create(struct flow_req *r, const Flow__V1__Ticket *t, Flow__V1__Ticket **out);

/* Changes of store_ticket_update: NULL / false leaves a field as it is;
 * an array with its set_ flag replaces the stored one (n may be 0). */
struct store_ticket_change {
	const char *title;
	const char *overview;
	const char *status; /* canonical */
	bool has_priority;
	int priority;
	bool set_tags, set_file_ids, set_agent_ids;
	char **tags;
	size_t n_tags;
	char **file_ids;
	size_t n_file_ids;
	char **agent_ids;
	size_t n_agent_ids;
};

int store_ticket_update(struct flow_req *r, int64_t id, const struct store_ticket_change *c,
			Flow__V1__Ticket **out);

/* Deletes a ticket; its tasks and queue items go with it. */
int store_ticket_delete(struct flow_req *r, int64_t id);

/*
 * The tickets of a project, most urgent first (priority DESC, id ASC).
 * statuses: canonical statuses to keep (NULL / n_statuses 0: all); limit:
 * at most this many (0: no limit). FLOW_NOT_FOUND when the project does
 * not exist. *out is an arena array of *n tickets.
 */
int store_tickets_list(struct flow_req *r, int64_t project_id, char **statuses,
		       size_t n_statuses, int limit, Flow__V1__Ticket ***out, size_t *n);

#endif
