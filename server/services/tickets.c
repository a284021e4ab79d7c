/* FlowManager handlers: tickets. */
#include <string.h>

#include "flow/v1/flow_manager.pb-c.h"
#include "services/convert.h"
#include "services/handlers.h"
#include "status.h"
#include "store/tickets.h"

#define TITLE_MAX_CHARS 500
#define OVERVIEW_MAX_CHARS 65536
#define TAGS_MAX 50
#define TAG_MAX_CHARS 100
#define SUGGESTED_MAX 100
#define SUGGESTED_MAX_CHARS 1024

/* Canonical status of a request's status field into *out (NULL when absent). */
static int ticket_status(struct flow_req *r, const char *s, const char **out)
{
	char q[80];

	*out = NULL;
	if (s == NULL)
		return FLOW_OK;
	if ((*out = convert_ticket_status(s)) == NULL)
		return req_error(r, FLOW_INVALID_ARGUMENT,
				 "status must be one of open, in_progress, closed (got %s)",
				 convert_quote(q, sizeof(q), s));
	return FLOW_OK;
}

/* Checks the text and repeated fields that create and update share. */
static int check_common(struct flow_req *r, const char *title, bool title_required,
			const char *overview, char **tags, size_t n_tags, char **files,
			size_t n_files, char **agents, size_t n_agents)
{
	int rv;

	if ((rv = convert_line(r, "title", title, TITLE_MAX_CHARS, title_required)) != FLOW_OK ||
	    (rv = convert_text(r, "overview", overview, OVERVIEW_MAX_CHARS, false)) != FLOW_OK ||
	    (rv = convert_strs(r, "tags", tags, n_tags, TAGS_MAX, TAG_MAX_CHARS)) != FLOW_OK ||
	    (rv = convert_strs(r, "suggestedFileIds", files, n_files, SUGGESTED_MAX,
			       SUGGESTED_MAX_CHARS)) != FLOW_OK)
		return rv;
	return convert_strs(r, "suggestedAgentIds", agents, n_agents, SUGGESTED_MAX,
			    SUGGESTED_MAX_CHARS);
}

/* Checks a create request and fills t, the ticket to insert. */
static int create_fields(struct flow_req *r, const Flow__V1__CreateTicketRequest *req,
			 Flow__V1__Ticket *t)
{
	const char *status;
	bool has_prio;
	int prio, rv;

	if ((rv = convert_id(r, "projectId", req->has_project_id, req->project_id)) != FLOW_OK ||
	    (rv = check_common(r, req->title, true, req->overview, req->tags, req->n_tags,
			       req->suggested_file_ids, req->n_suggested_file_ids,
			       req->suggested_agent_ids, req->n_suggested_agent_ids)) != FLOW_OK ||
	    (rv = ticket_status(r, req->status, &status)) != FLOW_OK ||
	    (rv = convert_priority(r, req->has_priority, req->priority, req->priority_name,
				   &has_prio, &prio)) != FLOW_OK)
		return rv;
	t->project_id = req->project_id;
	t->title = req->title;
	t->overview = req->overview;
	t->status = (char *)status;
	t->has_priority = true;
	t->priority = has_prio ? prio : CONVERT_PRIORITY_DEFAULT;
	t->tags = req->tags;
	t->n_tags = req->n_tags;
	t->suggested_file_ids = req->suggested_file_ids;
	t->n_suggested_file_ids = req->n_suggested_file_ids;
	t->suggested_agent_ids = req->suggested_agent_ids;
	t->n_suggested_agent_ids = req->n_suggested_agent_ids;
	return FLOW_OK;
}

int h_create_ticket(struct flow_req *r, const ProtobufCMessage *in, ProtobufCMessage **out)
{
	const Flow__V1__CreateTicketRequest *req = (const Flow__V1__CreateTicketRequest *)in;
	Flow__V1__Ticket t = FLOW__V1__TICKET__INIT, *res;
	int rv;

	if ((rv = create_fields(r, req, &t)) != FLOW_OK)
		return rv;
	if ((rv = store_ticket_create(r, &t, &res)) != FLOW_OK)
		return rv;
	*out = &res->base;
	return FLOW_OK;
}

int h_get_ticket(struct flow_req *r, const ProtobufCMessage *in, ProtobufCMessage **out)
{
	const Flow__V1__GetTicketRequest *req = (const Flow__V1__GetTicketRequest *)in;
	Flow__V1__Ticket *t;
	int rv;

	if ((rv = convert_id(r, "ticketId", req->has_ticket_id, req->ticket_id)) != FLOW_OK)
		return rv;
	if ((rv = store_ticket_get(r, req->ticket_id, &t)) != FLOW_OK)
		return rv;
	*out = &t->base;
	return FLOW_OK;
}

struct status_filter {
	const char *name;
	char *statuses[2];
	size_t n;
};

static const struct status_filter filters[] = {
	{ "all", { NULL, NULL }, 0 },
	{ "open", { "open", NULL }, 1 },
	{ "pending", { "open", NULL }, 1 },
	{ "in_progress", { "in_progress", NULL }, 1 },
	{ "closed", { "closed", NULL }, 1 },
	{ "completed", { "closed", NULL }, 1 },
	{ "active", { "open", "in_progress" }, 2 },
};

/* The statuses a ListTickets filter keeps; absent or "" is "all". */
static int list_filter(struct flow_req *r, const char *s, const struct status_filter **out)
{
	char q[80];

	*out = &filters[0];
	if (s == NULL || s[0] == '\0')
		return FLOW_OK;
	for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++) {
		if (strcmp(filters[i].name, s) == 0) {
			*out = &filters[i];
			return FLOW_OK;
		}
	}
	return req_error(r, FLOW_INVALID_ARGUMENT,
			 "status must be one of all, open, in_progress, closed, active "
			 "(or pending, completed) (got %s)",
			 convert_quote(q, sizeof(q), s));
}

int h_list_tickets(struct flow_req *r, const ProtobufCMessage *in, ProtobufCMessage **out)
{
	const Flow__V1__ListTicketsRequest *req = (const Flow__V1__ListTicketsRequest *)in;
	const struct status_filter *f;
	Flow__V1__ListTicketsResponse *resp;
	int rv;

	if ((rv = convert_id(r, "projectId", req->has_project_id, req->project_id)) != FLOW_OK ||
	    (rv = list_filter(r, req->status, &f)) != FLOW_OK)
		return rv;
	resp = SERVICE_NEW(r, Flow__V1__ListTicketsResponse,
			   flow__v1__list_tickets_response__descriptor);
	if (resp == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	rv = store_tickets_list(r, req->project_id, (char **)f->statuses, f->n, 0, &resp->tickets,
				&resp->n_tickets);
	if (rv != FLOW_OK)
		return rv;
	*out = &resp->base;
	return FLOW_OK;
}

/* Fills the repeated fields of c: a field changes when non-empty or cleared. */
static bool update_arrays(const Flow__V1__UpdateTicketRequest *req, struct store_ticket_change *c)
{
	c->set_tags = req->n_tags > 0 || (req->has_clear_tags && req->clear_tags);
	c->set_file_ids = req->n_suggested_file_ids > 0 ||
			  (req->has_clear_suggested_file_ids && req->clear_suggested_file_ids);
	c->set_agent_ids = req->n_suggested_agent_ids > 0 ||
			   (req->has_clear_suggested_agent_ids && req->clear_suggested_agent_ids);
	c->tags = req->tags;
	c->n_tags = req->n_tags;
	c->file_ids = req->suggested_file_ids;
	c->n_file_ids = req->n_suggested_file_ids;
	c->agent_ids = req->suggested_agent_ids;
	c->n_agent_ids = req->n_suggested_agent_ids;
	return c->set_tags || c->set_file_ids || c->set_agent_ids;
}

/* Checks an update request and fills c; INVALID_ARGUMENT when it changes nothing. */
static int update_fields(struct flow_req *r, const Flow__V1__UpdateTicketRequest *req,
			 struct store_ticket_change *c)
{
	int rv;

	if ((rv = convert_id(r, "ticketId", req->has_ticket_id, req->ticket_id)) != FLOW_OK ||
	    (rv = check_common(r, req->title, req->title != NULL, req->overview, req->tags,
			       req->n_tags, req->suggested_file_ids, req->n_suggested_file_ids,
			       req->suggested_agent_ids, req->n_suggested_agent_ids)) != FLOW_OK ||
	    (rv = ticket_status(r, req->status, &c->status)) != FLOW_OK ||
	    (rv = convert_priority(r, req->has_priority, req->priority, req->priority_name,
				   &c->has_priority, &c->priority)) != FLOW_OK)
		return rv;
	c->title = req->title;
	c->overview = req->overview;
	if (!update_arrays(req, c) && c->title == NULL && c->overview == NULL &&
	    c->status == NULL && !c->has_priority)
		return req_error(r, FLOW_INVALID_ARGUMENT,
				 "nothing to update: give at least one of title, overview, status, "
				 "priority, priorityName, tags, suggestedFileIds, "
				 "suggestedAgentIds or a clear flag");
	return FLOW_OK;
}

int h_update_ticket(struct flow_req *r, const ProtobufCMessage *in, ProtobufCMessage **out)
{
	const Flow__V1__UpdateTicketRequest *req = (const Flow__V1__UpdateTicketRequest *)in;
	struct store_ticket_change c = { 0 };
	Flow__V1__Ticket *t;
	int rv;

	if ((rv = update_fields(r, req, &c)) != FLOW_OK)
		return rv;
	if ((rv = store_ticket_update(r, req->ticket_id, &c, &t)) != FLOW_OK)
		return rv;
	*out = &t->base;
	return FLOW_OK;
}

int h_delete_ticket(struct flow_req *r, const ProtobufCMessage *in, ProtobufCMessage **out)
{
	const Flow__V1__DeleteTicketRequest *req = (const Flow__V1__DeleteTicketRequest *)in;
	Flow__V1__DeleteResponse *resp;
	int rv;

	if ((rv = convert_id(r, "ticketId", req->has_ticket_id, req->ticket_id)) != FLOW_OK)
		return rv;
	resp = SERVICE_NEW(r, Flow__V1__DeleteResponse, flow__v1__delete_response__descriptor);
	if (resp == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	if ((rv = store_ticket_delete(r, req->ticket_id)) != FLOW_OK)
		return rv;
	resp->has_deleted = resp->has_id = true;
	resp->deleted = true;
	resp->id = req->ticket_id;
	*out = &resp->base;
	return FLOW_OK;
}
