/*
 * tasks.h - the tasks table.
 *
 * Every function runs on r->db and returns a flow code (FLOW_OK, or the
 * code of req_error() with r->message set: FLOW_NOT_FOUND "task 42 not
 * found" / "ticket 7 not found", FLOW_INVALID_ARGUMENT for a dependency
 * or reordering the database refuses, database errors as store_exec maps
 * them). Returned tasks and arrays live in r->arena (nothing to free);
 * every scalar field of a returned task is present (has_ flags set) except
 * estimated_hours when it was never given; agent_id and completion_notes
 * are NULL when unset. Inputs are only read.
 *
 * Creation, update, deletion and reordering are each one call of a plpgsql
 * function (migrations/0003_tickets_tasks.sql), so each is atomic.
 */
#ifndef FLOW_STORE_TASKS_H
#define FLOW_STORE_TASKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "flow/v1/model.pb-c.h"
#include "req.h"

/* Select list of a task row aliased `k`, as store_task_from_row reads it. */
#define STORE_TASK_COLS                                                                        \
	"k.id, k.ticket_id, k.content, k.description, k.status, k.done, k.order_index, "       \
	"k.estimated_hours, to_json(k.tags) AS tags, k.agent_id, "                             \
	"to_json(k.dependencies) AS dependencies, "                                            \
	"to_json(k.suggested_file_ids) AS suggested_file_ids, k.completion_notes, "            \
	"flow_ms(k.created_at) AS created, flow_ms(k.updated_at) AS updated"

/* Builds a task from row `row` of res (columns of STORE_TASK_COLS). */
int store_task_from_row(struct flow_req *r, const PGresult *res, int row, Flow__V1__Task **out);

int store_task_get(struct flow_req *r, int64_t id, Flow__V1__Task **out);

/*
 * The tasks of a ticket in order (order_index, id). status_or_null: a
 * canonical status to keep; NULL or "all": every task. FLOW_NOT_FOUND when
 * the ticket does not exist. *out is an arena array of *n tasks.
 */
int store_tasks_list(struct flow_req *r, int64_t ticket_id, const char *status_or_null,
		     Flow__V1__Task ***out, size_t *n);

/*
 * Inserts a task of ticket t->ticket_id from t's content, description
 * (NULL: ""), status (canonical; NULL: pending), order_index (has_; else
 * after the ticket's last task), estimated_hours (has_; else unset), tags,
 * agent_id (NULL or "": none), dependencies (tasks of the same ticket) and
 * suggested_file_ids. Values are assumed checked; dependencies are checked
 * here (NOT_FOUND / INVALID_ARGUMENT naming the id).
 */
int store_task_create(struct flow_req *r, const Flow__V1__Task *t, Flow__V1__Task **out);

/* Changes of store_task_update: NULL / has_ false leaves a field as it is;
 * an array with its set_ flag replaces the stored one (n may be 0); an
 * empty agent_id or completion_notes clears it. */
struct store_task_change {
	const char *content;
	const char *description;
	const char *status; /* canonical */
	bool has_done, done;
	bool has_estimated_hours;
	double estimated_hours;
	bool has_order_index;
	int order_index;
	const char *agent_id;
	const char *completion_notes;
	bool set_tags, set_dependencies, set_file_ids;
	char **tags;
	size_t n_tags;
	int64_t *dependencies;
	size_t n_dependencies;
	char **file_ids;
	size_t n_file_ids;
};

/* The schema keeps done and status in agreement and closes the ticket when
 * its last open task completes; *out is the task as stored afterwards. */
int store_task_update(struct flow_req *r, int64_t id, const struct store_task_change *c,
		      Flow__V1__Task **out);

/* Deletes a task (its queue items go with it) and drops it from the
 * dependencies of the other tasks. */
int store_task_delete(struct flow_req *r, int64_t id);

/*
 * Sets the order_index of tasks ids[i] to orders[i], all of ticket
 * ticket_id, at once: when one is not a task of the ticket nothing changes
 * (FLOW_INVALID_ARGUMENT naming it). On FLOW_OK *out holds all the
 * ticket's tasks in their new order.
 */
int store_tasks_reorder(struct flow_req *r, int64_t ticket_id, const int64_t *ids,
			const int *orders, size_t n, Flow__V1__Task ***out, size_t *n_out);

#endif
