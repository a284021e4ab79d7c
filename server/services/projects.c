/* ProjectManager handlers: projects and the project overview. */
#include <inttypes.h>

#include "flow/v1/project_manager.pb-c.h"
#include "services/convert.h"
#include "services/handlers.h"
#include "status.h"
#include "store/projects.h"

#define NAME_MAX_CHARS 200
#define PATH_MAX_CHARS 4096
#define DESCRIPTION_MAX_CHARS 65536
#define OVERVIEW_OPEN_TICKETS 5

int h_list_projects(struct flow_req *r, const ProtobufCMessage *in, ProtobufCMessage **out)
{
	Flow__V1__ListProjectsResponse *resp;
	int rv;

	resp = SERVICE_NEW(r, Flow__V1__ListProjectsResponse,
			   flow__v1__list_projects_response__descriptor);
	if (resp == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	/* members see the projects they belong to; admins see every project */
	if ((rv = store_projects_list(r, r->who.role == ROLE_ADMIN ? 0
								     : r->who.user_id > 0 ? r->who.user_id : -1,
				      &resp->projects, &resp->n_projects)) != FLOW_OK)
		return rv;
	*out = &resp->base;
	return FLOW_OK;
}

int h_get_project(struct flow_req *r, const ProtobufCMessage *in, ProtobufCMessage **out)
{
	const Flow__V1__GetProjectRequest *req = (const Flow__V1__GetProjectRequest *)in;
	Flow__V1__Project *p;
	int rv;

	if ((rv = convert_id(r, "projectId", req->has_project_id, req->project_id)) != FLOW_OK)
		return rv;
	if ((rv = store_project_get(r, req->project_id, &p)) != FLOW_OK)
		return rv;
	*out = &p->base;
	return FLOW_OK;
}

/* Checks name, path and description. name is required when required, and
 * never blank when given. */
static int check_fields(struct flow_req *r, const char *name, const char *path,
			const char *description, bool required)
{
	int rv;

	rv = convert_line(r, "name", name, NAME_MAX_CHARS, required || name != NULL);
	if (rv != FLOW_OK)
		return rv;
	if ((rv = convert_text(r, "path", path, PATH_MAX_CHARS, false)) != FLOW_OK)
		return rv;
	return convert_text(r, "description", description, DESCRIPTION_MAX_CHARS, false);
}

int h_create_project(struct flow_req *r, const ProtobufCMessage *in, ProtobufCMessage **out)
{
	const Flow__V1__CreateProjectRequest *req = (const Flow__V1__CreateProjectRequest *)in;
	Flow__V1__Project *p;
	int rv;

	if ((rv = check_fields(r, req->name, req->path, req->description, true)) != FLOW_OK)
		return rv;
	/* the creator owns the project (and so may manage its members) */
	if ((rv = store_project_create(r, req->name, req->path, req->description, r->who.user_id,
				       &p)) != FLOW_OK)
		return rv;
	*out = &p->base;
	return FLOW_OK;
}

int h_update_project(struct flow_req *r, const ProtobufCMessage *in, ProtobufCMessage **out)
{
	const Flow__V1__UpdateProjectRequest *req = (const Flow__V1__UpdateProjectRequest *)in;
	Flow__V1__Project *p;
	int rv;

	if ((rv = convert_id(r, "projectId", req->has_project_id, req->project_id)) != FLOW_OK)
		return rv;
	if (req->name == NULL && req->path == NULL && req->description == NULL)
		return req_error(r, FLOW_INVALID_ARGUMENT,
				 "nothing to update: give at least one of name, path, description");
	if ((rv = check_fields(r, req->name, req->path, req->description, false)) != FLOW_OK)
		return rv;
	rv = store_project_update(r, req->project_id, req->name, req->path, req->description, &p);
	if (rv != FLOW_OK)
		return rv;
	*out = &p->base;
	return FLOW_OK;
}

int h_delete_project(struct flow_req *r, const ProtobufCMessage *in, ProtobufCMessage **out)
{
	const Flow__V1__DeleteProjectRequest *req = (const Flow__V1__DeleteProjectRequest *)in;
	Flow__V1__DeleteProjectResponse *resp;
	int rv;

	if ((rv = convert_id(r, "projectId", req->has_project_id, req->project_id)) != FLOW_OK)
		return rv;
	if (!req->has_confirm_delete || !req->confirm_delete)
		return req_error(r, FLOW_INVALID_ARGUMENT,
				 "confirmDelete must be true to delete a project (it removes its "
				 "tickets, tasks and queues)");
	resp = SERVICE_NEW(r, Flow__V1__DeleteProjectResponse,
			   flow__v1__delete_project_response__descriptor);
	if (resp == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	if ((rv = store_project_delete(r, req->project_id)) != FLOW_OK)
		return rv;
	resp->has_deleted = resp->has_project_id = true;
	resp->deleted = true;
	resp->project_id = req->project_id;
	*out = &resp->base;
	return FLOW_OK;
}

/* "Security Hardening: 3 queued, 1 in progress, 10 completed, 0 failed (paused)" */
static int summarize(struct flow_req *r, Flow__V1__QueueSummary *q)
{
	q->summary = arena_printf(r->arena,
				  "%s: %" PRId64 " queued, %" PRId64 " in progress, %" PRId64
				  " completed, %" PRId64 " failed%s",
				  q->name, q->queued, q->in_progress, q->completed, q->failed,
				  q->is_active ? "" : " (paused)");
	if (q->summary == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	return FLOW_OK;
}

int h_get_overview(struct flow_req *r, const ProtobufCMessage *in, ProtobufCMessage **out)
{
	const Flow__V1__GetOverviewRequest *req = (const Flow__V1__GetOverviewRequest *)in;
	Flow__V1__GetOverviewResponse *o;
	int rv;

	if ((rv = convert_id(r, "projectId", req->has_project_id, req->project_id)) != FLOW_OK)
		return rv;
	rv = store_project_overview(r, req->project_id, OVERVIEW_OPEN_TICKETS, &o);
	if (rv != FLOW_OK)
		return rv;
	for (size_t i = 0; i < o->n_queues; i++)
		if ((rv = summarize(r, o->queues[i])) != FLOW_OK)
			return rv;
	*out = &o->base;
	return FLOW_OK;
}
