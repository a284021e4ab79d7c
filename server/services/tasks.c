/* FlowManager handlers: tasks. */
#include <string.h>

#include "flow/v1/flow_manager.pb-c.h"
#include "services/convert.h"
#include "services/handlers.h"
#include "status.h"
#include "store/tasks.h"

#define CONTENT_MAX_CHARS 2000
#define DESCRIPTION_MAX_CHARS 65536
#define NOTES_MAX_CHARS 262144
#define AGENT_MAX_CHARS 200
#define HOURS_MAX 10000.0
#define TAGS_MAX 50
#define TAG_MAX_CHARS 100
#define DEPS_MAX 100
#define FILES_MAX 100
#define FILE_MAX_CHARS 1024
#define REORDER_MAX 10000

/* Canonical status of a request's status field into *out (NULL when absent). */
static int task_status(struct flow_req *r, const char *s, const char **out)
{
	char q[80];

	*out = NULL;
	if (s == NULL)
		return FLOW_OK;
	if ((*out = convert_task_status(s)) == NULL)
		return req_error(r, FLOW_INVALID_ARGUMENT,
				 "status must be one of pending, in_progress, completed, cancelled "
				 "(got %s)",
				 convert_quote(q, sizeof(q), s));
	return FLOW_OK;
}

static int check_hours(struct flow_req *r, bool has, double v)
{
	if (has && !(v >= 0.0 && v <= HOURS_MAX))
		return req_error(r, FLOW_INVALID_ARGUMENT,
				 "estimatedHours must be between 0 and %g (got %g)", HOURS_MAX, v);
	return FLOW_OK;
}

static int check_order(struct flow_req *r, const char *field, bool has, int v)
{
	if (has && v < 0)
		return req_error(r, FLOW_INVALID_ARGUMENT, "%s must be 0 or more (got %d)", field,
				 v);
	return FLOW_OK;
}

/* Checks the fields that create and update share; content is required
 * (not blank) when content_required. */
static int check_common(struct flow_req *r, const char *content, bool content_required,
			const char *description, const char *agent_id, bool has_hours,
			double hours, char **tags, size_t n_tags, const int64_t *deps,
			size_t n_deps, char **files, size_t n_files)
{
	int rv;

	if ((rv = convert_line(r, "content", content, CONTENT_MAX_CHARS, content_required)) ||
	    (rv = convert_text(r, "description", description, DESCRIPTION_MAX_CHARS, false)) ||
	    (rv = convert_line(r, "agentId", agent_id, AGENT_MAX_CHARS, false)) ||
	    (rv = check_hours(r, has_hours, hours)) ||
	    (rv = convert_strs(r, "tags", tags, n_tags, TAGS_MAX, TAG_MAX_CHARS)) ||
	    (rv = convert_ids(r, "dependencies", deps, n_deps, DEPS_MAX)))
		return rv;
	return convert_strs(r, "suggestedFileIds", files, n_files, FILES_MAX, FILE_MAX_CHARS);
}

/* Checks a create request and fills t, the task to insert. */
static int create_fields(struct flow_req *r, const Flow__V1__CreateTaskRequest *req,
			 Flow__V1__Task *t)
{
	const char *status;
	int rv;

	if ((rv = convert_id(r, "ticketId", req->has_ticket_id, req->ticket_id)) ||
	    (rv = check_common(r, req->content, true, req->description, req->agent_id,
			       req->has_estimated_hours, req->estimated_hours, req->tags,
			       req->n_tags, req->dependencies, req->n_dependencies,
			       req->suggested_file_ids, req->n_suggested_file_ids)) ||
	    (rv = task_status(r, req->status, &status)) ||
	    (rv = check_order(r, "orderIndex", req->has_order_index, req->order_index)))
		return rv;
	t->ticket_id = req->ticket_id;
	t->content = req->content;
	t->description = req->description;
	t->status = (char *)status;
	t->has_order_index = req->has_order_index;
	t->order_index = req->order_index;
	t->has_estimated_hours = req->has_estimated_hours;
	t->estimated_hours = req->estimated_hours;
	t->tags = req->tags;
	t->n_tags = req->n_tags;
	t->agent_id = req->agent_id;
	t->dependencies = req->dependencies;
	t->n_dependencies = req->n_dependencies;
	t->suggested_file_ids = req->suggested_file_ids;
	t->n_suggested_file_ids = req->n_suggested_file_ids;
	return FLOW_OK;
}

int h_create_task(struct flow_req *r, const ProtobufCMessage *in, ProtobufCMessage **out)
{
	const Flow__V1__CreateTaskRequest *req = (const Flow__V1__CreateTaskRequest *)in;
	Flow__V1__Task t = FLOW__V1__TASK__INIT, *res;
	int rv;

	if ((rv = create_fields(r, req, &t)) != FLOW_OK)
		return rv;
	if ((rv = store_task_create(r, &t, &res)) != FLOW_OK)
		return rv;
	*out = &res->base;
	return FLOW_OK;
}

int h_list_tasks(struct flow_req *r, const ProtobufCMessage *in, ProtobufCMessage **out)
{
	const Flow__V1__ListTasksRequest *req = (const Flow__V1__ListTasksRequest *)in;
	Flow__V1__ListTasksResponse *resp;
	const char *status = NULL;
	char q[80];
	int rv;

	if ((rv = convert_id(r, "ticketId", req->has_ticket_id, req->ticket_id)) != FLOW_OK)
		return rv;
	if (req->status != NULL && req->status[0] != '\0' && strcmp(req->status, "all") != 0 &&
	    (status = convert_task_status(req->status)) == NULL)
		return req_error(r, FLOW_INVALID_ARGUMENT,
				 "status must be one of all, pending, in_progress, completed, "
				 "cancelled (got %s)",
				 convert_quote(q, sizeof(q), req->status));
	resp = SERVICE_NEW(r, Flow__V1__ListTasksResponse,
			   flow__v1__list_tasks_response__descriptor);
	if (resp == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	if ((rv = store_tasks_list(r, req->ticket_id, status, &resp->tasks, &resp->n_tasks)))
		return rv;
	*out = &resp->base;
	return FLOW_OK;
}

/* done and status, when both given, must agree (done means completed). */
static int check_done(struct flow_req *r, const Flow__V1__UpdateTaskRequest *req,
		      const char *status)
{
	if (req->has_done && status != NULL && (strcmp(status, "completed") == 0) != !!req->done)
		return req_error(r, FLOW_INVALID_ARGUMENT,
				 "done is %s but status is \"%s\"; give one of them or matching "
				 "values",
				 req->done ? "true" : "false", status);
	return FLOW_OK;
}

/* Fills the repeated fields of c: a field changes when non-empty or cleared. */
static bool update_arrays(const Flow__V1__UpdateTaskRequest *req, struct store_task_change *c)
{
	c->set_tags = req->n_tags > 0 || (req->has_clear_tags && req->clear_tags);
	c->set_dependencies = req->n_dependencies > 0 ||
			      (req->has_clear_dependencies && req->clear_dependencies);
	c->set_file_ids = req->n_suggested_file_ids > 0 ||
			  (req->has_clear_suggested_file_ids && req->clear_suggested_file_ids);
	c->tags = req->tags;
	c->n_tags = req->n_tags;
	c->dependencies = req->dependencies;
	c->n_dependencies = req->n_dependencies;
	c->file_ids = req->suggested_file_ids;
	c->n_file_ids = req->n_suggested_file_ids;
	return c->set_tags || c->set_dependencies || c->set_file_ids;
}

/* Copies the scalar fields of an update; true when one is present. */
static bool update_scalars(const Flow__V1__UpdateTaskRequest *req, struct store_task_change *c)
{
	c->content = req->content;
	c->description = req->description;
	c->has_done = req->has_done;
	c->done = req->done;
	c->has_estimated_hours = req->has_estimated_hours;
	c->estimated_hours = req->estimated_hours;
	c->has_order_index = req->has_order_index;
	c->order_index = req->order_index;
	c->agent_id = req->agent_id;
	c->completion_notes = req->completion_notes;
	return c->content || c->description || c->status || c->has_done ||
	       c->has_estimated_hours || c->has_order_index || c->agent_id ||
	       c->completion_notes;
}

/* Checks an update request and fills c; INVALID_ARGUMENT when it changes nothing. */
static int update_fields(struct flow_req *r, const Flow__V1__UpdateTaskRequest *req,
			 struct store_task_change *c)
{
	bool any;
	int rv;

	if ((rv = convert_id(r, "taskId", req->has_task_id, req->task_id)) ||
	    (rv = check_common(r, req->content, req->content != NULL, req->description,
			       req->agent_id, req->has_estimated_hours, req->estimated_hours,
			       req->tags, req->n_tags, req->dependencies, req->n_dependencies,
			       req->suggested_file_ids, req->n_suggested_file_ids)) ||
	    (rv = convert_text(r, "completionNotes", req->completion_notes, NOTES_MAX_CHARS,
			       false)) ||
	    (rv = task_status(r, req->status, &c->status)) ||
	    (rv = check_done(r, req, c->status)) ||
	    (rv = check_order(r, "orderIndex", req->has_order_index, req->order_index)))
		return rv;
	any = update_scalars(req, c);
	if (!update_arrays(req, c) && !any)
		return req_error(r, FLOW_INVALID_ARGUMENT,
				 "nothing to update: give at least one of content, description, "
				 "status, done, estimatedHours, tags, agentId, dependencies, "
				 "suggestedFileIds, completionNotes, orderIndex or a clear flag");
	return FLOW_OK;
}

int h_update_task(struct flow_req *r, const ProtobufCMessage *in, ProtobufCMessage **out)
{
	const Flow__V1__UpdateTaskRequest *req = (const Flow__V1__UpdateTaskRequest *)in;
	struct store_task_change c = { 0 };
	Flow__V1__Task *t;
	int rv;

	if ((rv = update_fields(r, req, &c)) != FLOW_OK)
		return rv;
	if ((rv = store_task_update(r, req->task_id, &c, &t)) != FLOW_OK)
		return rv;
	*out = &t->base;
	return FLOW_OK;
}

int h_delete_task(struct flow_req *r, const ProtobufCMessage *in, ProtobufCMessage **out)
{
	const Flow__V1__DeleteTaskRequest *req = (const Flow__V1__DeleteTaskRequest *)in;
	Flow__V1__DeleteResponse *resp;
	int rv;

	if ((rv = convert_id(r, "taskId", req->has_task_id, req->task_id)) != FLOW_OK)
		return rv;
	resp = SERVICE_NEW(r, Flow__V1__DeleteResponse, flow__v1__delete_response__descriptor);
	if (resp == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	if ((rv = store_task_delete(r, req->task_id)) != FLOW_OK)
		return rv;
	resp->has_deleted = resp->has_id = true;
	resp->deleted = true;
	resp->id = req->task_id;
	*out = &resp->base;
	return FLOW_OK;
}

/* Checks the task list of a reorder request into arena arrays ids/orders. */
static int reorder_fields(struct flow_req *r, const Flow__V1__ReorderTasksRequest *req,
			  int64_t **ids, int **orders)
{
	if (req->n_tasks == 0)
		return req_error(r, FLOW_INVALID_ARGUMENT, "tasks must list at least one task");
	*ids = arena_alloc(r->arena, req->n_tasks * sizeof(**ids));
	*orders = arena_alloc(r->arena, req->n_tasks * sizeof(**orders));
	if (*ids == NULL || *orders == NULL)
		return req_error(r, FLOW_RESOURCE_EXHAUSTED, "out of memory");
	for (size_t i = 0; i < req->n_tasks; i++) {
		const Flow__V1__TaskOrder *o = req->tasks[i];

		if (!o->has_task_id || o->task_id <= 0)
			return req_error(r, FLOW_INVALID_ARGUMENT,
					 "tasks[%zu].taskId must be a positive integer", i);
		if (!o->has_order_index || o->order_index < 0)
			return req_error(r, FLOW_INVALID_ARGUMENT,
					 "tasks[%zu].orderIndex must be given, 0 or more", i);
		(*ids)[i] = o->task_id;
		(*orders)[i] = o->order_index;
	}
	return convert_ids(r, "tasks", *ids, req->n_tasks, REORDER_MAX);
}

int h_reorder_tasks(struct flow_req *r, const ProtobufCMessage *in, ProtobufCMessage **out)
{
	const Flow__V1__ReorderTasksRequest *req = (const Flow__V1__ReorderTasksRequest *)in;
	Flow__V1__ListTasksResponse *resp;
	int64_t *ids = NULL;
	int *orders = NULL;
	int rv;

	if ((rv = convert_id(r, "ticketId", req->has_ticket_id, req->ticket_id)) ||
	    (rv = reorder_fields(r, req, &ids, &orders)))
		return rv;
	resp = SERVICE_NEW(r, Flow__V1__ListTasksResponse,
			   flow__v1__list_tasks_response__descriptor);
	if (resp == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	rv = store_tasks_reorder(r, req->ticket_id, ids, orders, req->n_tasks, &resp->tasks,
				 &resp->n_tasks);
	if (rv != FLOW_OK)
		return rv;
	*out = &resp->base;
	return FLOW_OK;
}
