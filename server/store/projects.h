/*
 * projects.h - the projects table, and a project's overview.
 *
 * Every function runs on r->db and returns a flow code (FLOW_OK, or the
 * code of req_error() with r->message set: FLOW_NOT_FOUND "project 7 not
 * found", database errors as store_exec maps them). Returned messages and
 * arrays live in r->arena (nothing to free); every scalar field is present
 * (has_ flags set). Inputs are only read.
 */
#ifndef FLOW_STORE_PROJECTS_H
#define FLOW_STORE_PROJECTS_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "flow/v1/model.pb-c.h"
#include "flow/v1/project_manager.pb-c.h"
#include "req.h"

/* Select list of a project row aliased `p`, as store_project_from_row reads it. */
#define STORE_PROJECT_COLS                                                                         \
	"p.id, p.name, p.path, p.description, flow_ms(p.created_at) AS created, "                  \
	"flow_ms(p.updated_at) AS updated"

/* Builds a project from row `row` of res (columns of STORE_PROJECT_COLS). */
int store_project_from_row(struct flow_req *r, const PGresult *res, int row,
			   Flow__V1__Project **out);

int store_project_get(struct flow_req *r, int64_t id, Flow__V1__Project **out);

/* Every project (member 0), or those user `member` belongs to (member < 0:
 * none), by id. *out
 * is an arena array of *n projects. */
int store_projects_list(struct flow_req *r, int64_t member, Flow__V1__Project ***out, size_t *n);

/* path and description: NULL is "". Values are assumed checked. owner > 0:
 * that user becomes the project's owner (project_members). */
int store_project_create(struct flow_req *r, const char *name, const char *path,
			 const char *description, int64_t owner, Flow__V1__Project **out);

/* Changes the fields that are not NULL. */
int store_project_update(struct flow_req *r, int64_t id, const char *name, const char *path,
			 const char *description, Flow__V1__Project **out);

/* Deletes a project with its tickets, tasks, queues and queue items. */
int store_project_delete(struct flow_req *r, int64_t id);

/*
 * The overview of a project in two statements: the project, its ticket
 * counts by status and one QueueSummary per queue (by id; counts of queued,
 * in_progress, completed and failed items, failed including dead ones;
 * summary left NULL for the caller); then up to max_open open or
 * in-progress tickets, most urgent first.
 */
int store_project_overview(struct flow_req *r, int64_t id, int max_open,
			   Flow__V1__GetOverviewResponse **out);

#endif
