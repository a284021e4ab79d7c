/*
 * actions.c - the MCP action table and the argument -> request mapping.
 * See actions.h for the mapping rules.
 */
#include "actions.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbjson.h"
#include "rpc.h"
#include "status.h"

#define PM "/flow.v1.ProjectManager/"
#define FM "/flow.v1.FlowManager/"
#define AS "/flow.v1.AuthService/"

#define REQ(n) { (n), NULL, ARG_REQUIRED }
#define OPT(n) { (n), NULL, ARG_OPTIONAL }
#define IGN(n) { (n), NULL, ARG_IGNORED }
/* processor_*: the usage guide's itemId is the queue item id. */
#define ITEM_ID { "itemId", "queueItemId", ARG_REQUIRED }
/* queue_items_*: one item id at the top level joins data.queueItemIds. */
#define ITEM_ID_OPT { "itemId", "queueItemId", ARG_OPTIONAL }
#define QUEUE_ITEM_ID_OPT { "queueItemId", NULL, ARG_OPTIONAL }

struct action_build {
	const struct action *act;
	json_t *req;	    /* the request object being built */
	json_t *origin;	    /* request field -> where the client wrote it */
	const char *method; /* RPC path; prepare hooks may change it */
	char *err;
	size_t errlen;
};

/* Id names, checked as positive integers at the top level and in data. */
static const char *const id_names[] = {
	"projectId", "ticketId", "taskId", "queueId", "itemId", "queueItemId", "keyId", NULL,
};

/* Request fields no tool argument may carry (see actions.h). */
static const char *const secret_names[] = {
	"password", "oldPassword", "newPassword", "refreshToken", NULL,
};

const char *const action_tools[] = { ACTION_TOOL_PROJECT, ACTION_TOOL_FLOW, ACTION_TOOL_AUTH,
				     NULL };

static int ticket_prepare(struct action_build *b);
static int add_item_prepare(struct action_build *b);
static int queue_update_prepare(struct action_build *b);
static int complete_prepare(struct action_build *b);
static int items_prepare(struct action_build *b);

static const struct action_rename ticket_renames[] = {
	{ "description", "overview" },
	{ NULL, NULL },
};

/* clang-format off */
const struct action action_table[] = {
	/* ---- project_manager ---- */
	{ ACTION_TOOL_PROJECT, "list", PM "ListProjects", "List every project.",
	  "{\"action\":\"list\"}", { { 0 } }, NULL, NULL, NULL, NULL },
	{ ACTION_TOOL_PROJECT, "get", PM "GetProject", "Get one project.",
	  "{\"action\":\"get\",\"projectId\":1}", { REQ("projectId") }, NULL, NULL, NULL, NULL },
	{ ACTION_TOOL_PROJECT, "create", PM "CreateProject", "Create a project.",
	  "{\"action\":\"create\",\"data\":{\"name\":\"flowd\",\"path\":\"/src/flowd\","
	  "\"description\":\"Work queue\"}}", { { 0 } }, NULL, NULL, NULL, NULL },
	{ ACTION_TOOL_PROJECT, "update", PM "UpdateProject", "Change a project's name, path or description.",
	  "{\"action\":\"update\",\"projectId\":1,\"data\":{\"description\":\"...\"}}",
	  { REQ("projectId") }, NULL, NULL, NULL, NULL },
	{ ACTION_TOOL_PROJECT, "delete", PM "DeleteProject",
	  "Delete a project with its tickets, tasks and queues (needs data.confirmDelete).",
	  "{\"action\":\"delete\",\"projectId\":1,\"data\":{\"confirmDelete\":true}}",
	  { REQ("projectId") }, NULL, NULL, NULL, NULL },
	{ ACTION_TOOL_PROJECT, "overview", PM "GetOverview", "Ticket counts, open tickets and queues of a project.",
	  "{\"action\":\"overview\",\"projectId\":1}", { REQ("projectId") }, NULL, NULL, NULL, NULL },

	/* ---- flow_manager: tickets ---- */
	{ ACTION_TOOL_FLOW, "tickets_create", FM "CreateTicket", "Create a ticket in a project.",
	  "{\"action\":\"tickets_create\",\"projectId\":1,\"data\":{\"title\":\"...\"}}",
	  { REQ("projectId") }, ticket_renames, NULL, ticket_prepare, NULL },
	{ ACTION_TOOL_FLOW, "tickets_get", FM "GetTicket", "Get one ticket.",
	  "{\"action\":\"tickets_get\",\"ticketId\":1}", { REQ("ticketId"), IGN("projectId") },
	  NULL, NULL, NULL, NULL },
	{ ACTION_TOOL_FLOW, "tickets_list", FM "ListTickets", "List a project's tickets (data.status filters; \"all\").",
	  "{\"action\":\"tickets_list\",\"projectId\":1,\"data\":{\"status\":\"all\"}}",
	  { REQ("projectId") }, NULL, NULL, NULL, NULL },
	{ ACTION_TOOL_FLOW, "tickets_update", FM "UpdateTicket", "Change fields of a ticket.",
	  "{\"action\":\"tickets_update\",\"ticketId\":1,\"data\":{\"status\":\"in_progress\"}}",
	  { REQ("ticketId"), IGN("projectId") }, ticket_renames, NULL, ticket_prepare, NULL },
	{ ACTION_TOOL_FLOW, "tickets_delete", FM "DeleteTicket", "Delete a ticket and its tasks.",
	  "{\"action\":\"tickets_delete\",\"ticketId\":1}", { REQ("ticketId"), IGN("projectId") },
	  NULL, NULL, NULL, NULL },

	/* ---- tasks ---- */
	{ ACTION_TOOL_FLOW, "tasks_create", FM "CreateTask", "Create a task in a ticket.",
	  "{\"action\":\"tasks_create\",\"ticketId\":1,\"data\":{\"content\":\"...\",\"estimatedHours\":0.5}}",
	  { REQ("ticketId"), IGN("projectId") }, NULL, NULL, NULL, NULL },
	{ ACTION_TOOL_FLOW, "tasks_list", FM "ListTasks", "List a ticket's tasks (data.status filters; \"all\").",
	  "{\"action\":\"tasks_list\",\"ticketId\":1,\"data\":{\"status\":\"all\"}}",
	  { REQ("ticketId"), IGN("projectId") }, NULL, NULL, NULL, NULL },
	{ ACTION_TOOL_FLOW, "tasks_list_by_ticket", FM "ListTasks", "Same as tasks_list.",
	  "{\"action\":\"tasks_list_by_ticket\",\"ticketId\":1}",
	  { REQ("ticketId"), IGN("projectId") }, NULL, NULL, NULL, NULL },
	{ ACTION_TOOL_FLOW, "tasks_update", FM "UpdateTask", "Change fields of a task (status, done, completionNotes, ...).",
	  "{\"action\":\"tasks_update\",\"taskId\":1,\"data\":{\"status\":\"completed\","
	  "\"completionNotes\":\"...\"}}",
	  { REQ("taskId"), IGN("ticketId"), IGN("projectId") }, NULL, NULL, NULL, NULL },
	{ ACTION_TOOL_FLOW, "tasks_delete", FM "DeleteTask", "Delete a task.",
	  "{\"action\":\"tasks_delete\",\"taskId\":1}",
	  { REQ("taskId"), IGN("ticketId"), IGN("projectId") }, NULL, NULL, NULL, NULL },
	{ ACTION_TOOL_FLOW, "tasks_reorder", FM "ReorderTasks", "Set the order of a ticket's tasks.",
	  "{\"action\":\"tasks_reorder\",\"ticketId\":1,\"data\":{\"tasks\":[{\"taskId\":2,"
	  "\"orderIndex\":0},{\"taskId\":1,\"orderIndex\":1}]}}",
	  { REQ("ticketId"), IGN("projectId") }, NULL, NULL, NULL, NULL },

	/* ---- queues ---- */
	{ ACTION_TOOL_FLOW, "queues_create", FM "CreateQueue", "Create a queue in a project.",
	  "{\"action\":\"queues_create\",\"projectId\":1,\"data\":{\"name\":\"Security\","
	  "\"maxParallelItems\":1}}", { REQ("projectId") }, NULL, NULL, NULL, NULL },
	{ ACTION_TOOL_FLOW, "queues_list", FM "ListQueues", "List a project's queues.",
	  "{\"action\":\"queues_list\",\"projectId\":1}", { REQ("projectId") }, NULL, NULL, NULL, NULL },
	{ ACTION_TOOL_FLOW, "queues_get", FM "GetQueue", "Get one queue.",
	  "{\"action\":\"queues_get\",\"queueId\":1}", { REQ("queueId"), IGN("projectId") },
	  NULL, NULL, NULL, NULL },
	{ ACTION_TOOL_FLOW, "queues_update", FM "UpdateQueue",
	  "Change a queue; data.isActive false (or data.status \"paused\") pauses it.",
	  "{\"action\":\"queues_update\",\"queueId\":1,\"data\":{\"status\":\"paused\"}}",
	  { REQ("queueId"), IGN("projectId") }, NULL, "status", queue_update_prepare, NULL },
	{ ACTION_TOOL_FLOW, "queues_delete", FM "DeleteQueue", "Delete a queue and its items.",
	  "{\"action\":\"queues_delete\",\"queueId\":1}", { REQ("queueId"), IGN("projectId") },
	  NULL, NULL, NULL, NULL },
	{ ACTION_TOOL_FLOW, "queues_get_stats", FM "GetQueueStats", "Item counts, agents and timings of a queue.",
	  "{\"action\":\"queues_get_stats\",\"queueId\":1}", { REQ("queueId"), IGN("projectId") },
	  NULL, NULL, NULL, NULL },
	{ ACTION_TOOL_FLOW, "queues_get_all_stats", FM "GetAllQueueStats", "Stats of every queue of a project.",
	  "{\"action\":\"queues_get_all_stats\",\"projectId\":1}", { REQ("projectId") },
	  NULL, NULL, NULL, NULL },

	/* ---- enqueue / dequeue ---- */
	{ ACTION_TOOL_FLOW, "queues_add_item", FM "EnqueueTicket",
	  "Put a ticket (data.ticketId) or a task (data.taskId) on a queue.",
	  "{\"action\":\"queues_add_item\",\"queueId\":1,\"data\":{\"ticketId\":2,\"priority\":10}}",
	  { REQ("queueId"), OPT("ticketId"), OPT("taskId"), IGN("projectId") }, NULL,
	  "ticketId, taskId", add_item_prepare, NULL },
	{ ACTION_TOOL_FLOW, "enqueue_ticket", FM "EnqueueTicket",
	  "Put a ticket on a queue (data.includeTasks: its open tasks too).",
	  "{\"action\":\"enqueue_ticket\",\"queueId\":1,\"ticketId\":2,\"data\":{\"priority\":5}}",
	  { REQ("queueId"), REQ("ticketId"), IGN("projectId") }, NULL, NULL, NULL, NULL },
	{ ACTION_TOOL_FLOW, "enqueue_task", FM "EnqueueTask", "Put a task on a queue.",
	  "{\"action\":\"enqueue_task\",\"queueId\":1,\"taskId\":3,\"data\":{\"priority\":5}}",
	  { REQ("queueId"), REQ("taskId"), IGN("ticketId"), IGN("projectId") }, NULL, NULL, NULL, NULL },
	{ ACTION_TOOL_FLOW, "dequeue_ticket", FM "DequeueTicket",
	  "Take a ticket (and by default its tasks) off its queue.",
	  "{\"action\":\"dequeue_ticket\",\"ticketId\":2,\"data\":{\"includeTasks\":true}}",
	  { REQ("ticketId"), IGN("queueId"), IGN("projectId") }, NULL, NULL, NULL, NULL },
	{ ACTION_TOOL_FLOW, "dequeue_task", FM "DequeueTask", "Take a task off its queue.",
	  "{\"action\":\"dequeue_task\",\"taskId\":3}",
	  { REQ("taskId"), IGN("queueId"), IGN("ticketId"), IGN("projectId") }, NULL, NULL, NULL, NULL },

	/* ---- processor ---- */
	{ ACTION_TOOL_FLOW, "processor_get_next", FM "GetNext",
	  "Claim the next item of a queue (data.agentId: only items that agent runs).",
	  "{\"action\":\"processor_get_next\",\"queueId\":1}", { REQ("queueId"), IGN("projectId") },
	  NULL, NULL, NULL, NULL },
	{ ACTION_TOOL_FLOW, "processor_complete", FM "CompleteItem",
	  "Finish a claimed item; data.result.success false fails it instead.",
	  "{\"action\":\"processor_complete\",\"itemId\":7,\"data\":{\"completionNotes\":\"done\"}}",
	  { ITEM_ID, IGN("queueId"), IGN("projectId") }, NULL, "result", complete_prepare, NULL },
	{ ACTION_TOOL_FLOW, "processor_fail", FM "FailItem",
	  "Fail a claimed item, with data.error saying why (data.retryable: retry it later).",
	  "{\"action\":\"processor_fail\",\"itemId\":7,\"data\":{\"error\":\"tests fail\"}}",
	  { ITEM_ID, IGN("queueId"), IGN("projectId") }, NULL, NULL, NULL, NULL },

	/* ---- re-drive / cancel ---- */
	{ ACTION_TOOL_FLOW, "queue_items_retry", FM "RetryItems",
	  "Queue failed or dead items again (data.queueItemIds), or all of a queue's (queueId).",
	  "{\"action\":\"queue_items_retry\",\"data\":{\"queueItemIds\":[7,8]}}",
	  { OPT("queueId"), ITEM_ID_OPT, QUEUE_ITEM_ID_OPT, IGN("projectId") }, NULL,
	  "queueItemId", items_prepare, NULL },
	{ ACTION_TOOL_FLOW, "queue_items_cancel", FM "CancelItems",
	  "Cancel queued or running items (data.queueItemIds, or itemId); a worker stops a running one.",
	  "{\"action\":\"queue_items_cancel\",\"itemId\":7}",
	  { ITEM_ID_OPT, QUEUE_ITEM_ID_OPT, IGN("queueId"), IGN("projectId") }, NULL,
	  "queueItemId", items_prepare, NULL },

	/* ---- auth_manager: users, API keys, members, audit (no secrets in, see actions.h) ---- */
	{ ACTION_TOOL_AUTH, "whoami", AS "WhoAmI", "Who the token in use belongs to.",
	  "{\"action\":\"whoami\"}", { { 0 } }, NULL, NULL, NULL, NULL },
	{ ACTION_TOOL_AUTH, "users_list", AS "ListUsers", "List users and service accounts (admin).",
	  "{\"action\":\"users_list\"}", { { 0 } }, NULL, NULL, NULL, NULL },
	{ ACTION_TOOL_AUTH, "users_create", AS "CreateUser",
	  "Create a service account (admin); a user with a password: flowctl user create.",
	  "{\"action\":\"users_create\",\"data\":{\"username\":\"ci-bot\",\"role\":\"worker\","
	  "\"serviceAccount\":true}}", { { 0 } }, NULL, NULL, NULL, NULL },
	{ ACTION_TOOL_AUTH, "users_update", AS "UpdateUser",
	  "Change a user's role, or disable (revokes its tokens) or enable it (admin).",
	  "{\"action\":\"users_update\",\"data\":{\"username\":\"bob\",\"disabled\":true}}",
	  { { 0 } }, NULL, NULL, NULL, NULL },
	{ ACTION_TOOL_AUTH, "users_unlock", AS "UnlockUser",
	  "Clear a user's login lockout and failed-login count (admin).",
	  "{\"action\":\"users_unlock\",\"data\":{\"username\":\"bob\"}}", { { 0 } }, NULL, NULL,
	  NULL, NULL },
	{ ACTION_TOOL_AUTH, "users_revoke_tokens", AS "RevokeUserTokens",
	  "Revoke every access and refresh token of a user (admin).",
	  "{\"action\":\"users_revoke_tokens\",\"data\":{\"username\":\"bob\"}}", { { 0 } }, NULL,
	  NULL, NULL, NULL },
	{ ACTION_TOOL_AUTH, "api_keys_create", AS "CreateApiKey",
	  "Create an API key (admin); the result holds the key, which is shown only this once.",
	  "{\"action\":\"api_keys_create\",\"data\":{\"username\":\"ci-bot\",\"name\":\"ci\","
	  "\"expiresInDays\":90}}", { { 0 } }, NULL, NULL, NULL, NULL },
	{ ACTION_TOOL_AUTH, "api_keys_list", AS "ListApiKeys",
	  "List API keys, without the keys (admin; data.username: one user's).",
	  "{\"action\":\"api_keys_list\",\"data\":{\"username\":\"ci-bot\"}}", { { 0 } }, NULL,
	  NULL, NULL, NULL },
	{ ACTION_TOOL_AUTH, "api_keys_revoke", AS "RevokeApiKey", "Revoke an API key (admin).",
	  "{\"action\":\"api_keys_revoke\",\"keyId\":3}", { REQ("keyId") }, NULL, NULL, NULL,
	  NULL },
	{ ACTION_TOOL_AUTH, "members_add", AS "AddProjectMember",
	  "Add a user to a project, as owner or member (admins and the project's owners).",
	  "{\"action\":\"members_add\",\"projectId\":1,\"data\":{\"username\":\"bob\","
	  "\"role\":\"member\"}}", { REQ("projectId") }, NULL, NULL, NULL, NULL },
	{ ACTION_TOOL_AUTH, "members_remove", AS "RemoveProjectMember", "Remove a user from a project.",
	  "{\"action\":\"members_remove\",\"projectId\":1,\"data\":{\"username\":\"bob\"}}",
	  { REQ("projectId") }, NULL, NULL, NULL, NULL },
	{ ACTION_TOOL_AUTH, "members_list", AS "ListProjectMembers", "List a project's members.",
	  "{\"action\":\"members_list\",\"projectId\":1}", { REQ("projectId") }, NULL, NULL, NULL,
	  NULL },
	{ ACTION_TOOL_AUTH, "audit_list", AS "ListAudit",
	  "The audit log, newest first (admin; data.limit, beforeId to page, actor, action).",
	  "{\"action\":\"audit_list\",\"data\":{\"limit\":50,\"actor\":\"bob\"}}", { { 0 } },
	  NULL, NULL, NULL, NULL },
	/* operators' views; the RPC is FlowManager's, but admins only, so not in flow_manager
	 * (which MCP clients see) */
	{ ACTION_TOOL_AUTH, "workers_list", FM "ListWorkers",
	  "Workers with their agents and running items (admin; data.includeDisconnected, "
	  "seenWithinS: the connected window, default 60; limit).",
	  "{\"action\":\"workers_list\",\"data\":{\"includeDisconnected\":true}}", { { 0 } },
	  NULL, NULL, NULL, NULL },

	{ NULL, NULL, NULL, NULL, NULL, { { 0 } }, NULL, NULL, NULL, NULL },
};
/* clang-format on */

/* ---- small helpers ---- */

static int berr(struct action_build *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int berr(struct action_build *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b->err, b->errlen, fmt, ap);
	va_end(ap);
	return FLOW_INVALID_ARGUMENT;
}

static int oom(struct action_build *b)
{
	snprintf(b->err, b->errlen, "out of memory");
	return FLOW_RESOURCE_EXHAUSTED;
}

/* Appends sep (unless buf is empty) and s to buf, truncating. */
static void append(char *buf, size_t len, const char *sep, const char *s)
{
	size_t used = strlen(buf);

	if (used + 1 >= len)
		return;
	snprintf(buf + used, len - used, "%s%s", used ? sep : "", s);
}

static bool in_list(const char *const *list, const char *name)
{
	for (size_t i = 0; list[i] != NULL; i++)
		if (strcmp(list[i], name) == 0)
			return true;
	return false;
}

static bool is_id_name(const char *name)
{
	return in_list(id_names, name);
}

/* Where the client wrote request field f ("data.description"), or f. */
static const char *origin_of(struct action_build *b, const char *field)
{
	const char *o = json_string_value(json_object_get(b->origin, field));

	return o ? o : field;
}

static const char *arg_field(const struct action_arg *arg)
{
	return arg->field ? arg->field : arg->name;
}

/* What v is, for messages (pbjson's wording); a per-thread buffer. */
static const char *json_kind(const json_t *v)
{
	static _Thread_local char buf[160];

	return pbjson_describe(v, buf, sizeof(buf));
}

/* ---- the table ---- */

bool action_tool_known(const char *tool)
{
	for (size_t i = 0; tool && action_tools[i] != NULL; i++)
		if (strcmp(action_tools[i], tool) == 0)
			return true;
	return false;
}

const struct action *action_find(const char *tool, const char *name)
{
	if (tool == NULL || name == NULL)
		return NULL;
	for (const struct action *a = action_table; a->tool != NULL; a++)
		if (strcmp(a->tool, tool) == 0 && strcmp(a->name, name) == 0)
			return a;
	return NULL;
}

void action_tools_text(char *buf, size_t len)
{
	buf[0] = '\0';
	for (size_t i = 0; action_tools[i] != NULL; i++)
		append(buf, len, ", ", action_tools[i]);
}

static void tool_actions_text(const char *tool, char *buf, size_t len)
{
	buf[0] = '\0';
	for (const struct action *a = action_table; a->tool != NULL; a++)
		if (strcmp(a->tool, tool) == 0)
			append(buf, len, ", ", a->name);
}

void action_args_text(const struct action *a, char *buf, size_t len)
{
	buf[0] = '\0';
	for (const struct action_arg *arg = a->args; arg->name != NULL; arg++) {
		if (arg->flags & ARG_IGNORED)
			continue;
		append(buf, len, ", ", arg->name);
		if (arg->field != NULL) {
			append(buf, len, "", " (or data.");
			append(buf, len, "", arg->field);
			append(buf, len, "", ")");
		}
		if (arg->flags & ARG_REQUIRED)
			append(buf, len, "", " (required)");
	}
}

/* Whether request field f is filled by a top-level id of a. */
static bool filled_by_arg(const struct action *a, const char *f)
{
	for (const struct action_arg *arg = a->args; arg->name != NULL; arg++)
		if (strcmp(arg_field(arg), f) == 0)
			return true;
	return false;
}

static void fields_text(const struct action *a, const ProtobufCMessageDescriptor *in, char *buf,
			size_t len)
{
	char name[128];

	buf[0] = '\0';
	for (unsigned i = 0; in != NULL && i < in->n_fields; i++) {
		pbjson_json_name(in->fields[i].name, name, sizeof(name));
		if (!filled_by_arg(a, name) && !in_list(secret_names, name))
			append(buf, len, ", ", name);
	}
	for (const struct action_rename *r = a->renames; r && r->from; r++)
		append(buf, len, ", ", r->from);
	if (a->extra_data)
		append(buf, len, ", ", a->extra_data);
	if (buf[0] == '\0')
		snprintf(buf, len, "(none)");
}

void action_data_fields(const struct action *a, char *buf, size_t len)
{
	const ProtobufCMethodDescriptor *md = NULL;

	rpc_method_find(a->method, NULL, &md);
	fields_text(a, md ? md->input : NULL, buf, len);
}

/* ---- ids ---- */

/* Parses a positive id from a JSON number or decimal string. */
static int parse_id(struct action_build *b, const char *what, const json_t *v, json_int_t *out)
{
	const char *s;
	char *end;
	long long n;

	if (json_is_integer(v)) {
		if (json_integer_value(v) <= 0)
			return berr(b, "%s: expected a positive integer, got %" JSON_INTEGER_FORMAT,
				    what, json_integer_value(v));
		*out = json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return berr(b, "%s: expected a positive integer, got %s", what, json_kind(v));
	s = json_string_value(v);
	errno = 0;
	n = (s[0] >= '0' && s[0] <= '9') ? strtoll(s, &end, 10) : 0;
	if (n <= 0 || errno != 0 || *end != '\0')
		return berr(b, "%s: expected a positive integer, got \"%.40s\"", what, s);
	*out = (json_int_t)n;
	return 0;
}

/* Sets request field f to v (taken) written by the client at origin. */
static int put_field(struct action_build *b, const char *f, json_t *v, const char *origin)
{
	json_t *old = json_object_get(b->req, f);

	if (v == NULL)
		return oom(b);
	if (old != NULL && !json_equal(old, v)) {
		json_decref(v);
		return berr(b, "%s and %s are both given, with different values",
			    json_string_value(json_object_get(b->origin, f)), origin);
	}
	if (old != NULL) {
		json_decref(v);
		return 0;
	}
	if (json_object_set_new(b->req, f, v) != 0 ||
	    json_object_set_new(b->origin, f, json_string(origin)) != 0)
		return oom(b);
	return 0;
}

/* ---- steps of action_build_request ---- */

static int find_action(struct action_build *b, const char *tool, const json_t *args)
{
	const json_t *name = json_object_get(args, "action");
	char list[1024];

	if (!json_is_object(args))
		return berr(b, "arguments must be a JSON object, like {\"action\":\"list\"}");
	if (!action_tool_known(tool)) {
		action_tools_text(list, sizeof(list));
		return berr(b, "unknown tool \"%.60s\" (tools: %s)", tool ? tool : "", list);
	}
	tool_actions_text(tool, list, sizeof(list));
	if (!json_is_string(name))
		return berr(b, "missing action: %s needs \"action\", one of: %s", tool, list);
	b->act = action_find(tool, json_string_value(name));
	if (b->act == NULL)
		return berr(b, "unknown %s action \"%.60s\"; valid actions: %s", tool,
			    json_string_value(name), list);
	return 0;
}

static const struct action_arg *find_arg(const struct action *a, const char *name)
{
	for (const struct action_arg *arg = a->args; arg->name != NULL; arg++)
		if (strcmp(arg->name, name) == 0)
			return arg;
	return NULL;
}

static int take_args(struct action_build *b, const json_t *args)
{
	const char *key;
	json_t *v;
	char list[256];

	json_object_foreach((json_t *)args, key, v) {
		const struct action_arg *arg = find_arg(b->act, key);
		json_int_t id;
		int rc;

		if (strcmp(key, "action") == 0 || strcmp(key, "data") == 0)
			continue;
		if (arg == NULL) {
			action_args_text(b->act, list, sizeof(list));
			return berr(b, "%s does not take %.60s (arguments: action, %s%sdata)",
				    b->act->name, key, list, list[0] ? ", " : "");
		}
		if (json_is_null(v))
			continue;
		if ((rc = parse_id(b, key, v, &id)) != 0)
			return rc;
		if (arg->flags & ARG_IGNORED)
			continue;
		if ((rc = put_field(b, arg_field(arg), json_integer(id), key)) != 0)
			return rc;
	}
	return 0;
}

/* The request field for data key: lowerCamelCase, then renamed. */
static void data_field(const struct action *a, const char *key, char *buf, size_t len)
{
	pbjson_json_name(key, buf, len);
	for (const struct action_rename *r = a->renames; r && r->from; r++) {
		if (strcmp(r->from, buf) == 0) {
			snprintf(buf, len, "%s", r->to);
			return;
		}
	}
}

static int take_data_field(struct action_build *b, const char *key, const json_t *v)
{
	char field[128], origin[192];
	json_int_t id;
	int rc;

	if (json_is_null(v))
		return 0;
	data_field(b->act, key, field, sizeof(field));
	snprintf(origin, sizeof(origin), "data.%s", key);
	if (!is_id_name(field))
		return put_field(b, field, json_deep_copy(v), origin);
	if ((rc = parse_id(b, origin, v, &id)) != 0)
		return rc;
	return put_field(b, field, json_integer(id), origin);
}

static int take_data(struct action_build *b, const json_t *data)
{
	const char *key;
	json_t *v;
	int rc;

	if (data == NULL || json_is_null(data))
		return 0;
	if (!json_is_object(data))
		return berr(b, "data: expected an object, got %s (e.g. %s)", json_kind(data),
			    b->act->example);
	json_object_foreach((json_t *)data, key, v) {
		if ((rc = take_data_field(b, key, v)) != 0)
			return rc;
	}
	return 0;
}

static int check_required(struct action_build *b)
{
	for (const struct action_arg *arg = b->act->args; arg->name != NULL; arg++) {
		const char *f = arg_field(arg);

		if (!(arg->flags & ARG_REQUIRED) || json_object_get(b->req, f) != NULL)
			continue;
		if (strcmp(f, arg->name) != 0)
			return berr(b, "%s requires %s (or data.%s) (e.g. %s)", b->act->name,
				    arg->name, f, b->act->example);
		return berr(b, "%s requires %s (e.g. %s)", b->act->name, arg->name,
			    b->act->example);
	}
	return 0;
}

static bool field_known(const ProtobufCMessageDescriptor *in, const char *key)
{
	char name[128];

	for (unsigned i = 0; i < in->n_fields; i++) {
		pbjson_json_name(in->fields[i].name, name, sizeof(name));
		if (strcmp(name, key) == 0 || strcmp(in->fields[i].name, key) == 0)
			return true;
	}
	return false;
}

/* Every request field must exist in the input message; names the valid ones. */
static int check_fields(struct action_build *b, const ProtobufCMessageDescriptor *in)
{
	const char *key;
	json_t *v;
	char list[1024];

	json_object_foreach(b->req, key, v) {
		if (in_list(secret_names, key))
			return berr(b, "%s: passwords and tokens are not taken in tool arguments "
				       "(command lines, shell histories and transcripts are not "
				       "secret); flowctl login, user create, user set-password and "
				       "user passwd prompt for them, or read them with "
				       "--password-stdin", origin_of(b, key));
		if (field_known(in, key))
			continue;
		fields_text(b->act, in, list, sizeof(list));
		return berr(b, "%s: unknown field for %s (data fields: %s)",
			    origin_of(b, key), b->act->name, list);
	}
	return 0;
}

/* Rewrites pbjson's "field...: msg" so the path is the client's. */
static void rewrite_path(struct action_build *b, const char *perr)
{
	size_t n = strcspn(perr, ".[: ");
	char seg[128];
	const char *origin;

	if (n == 0 || n >= sizeof(seg) || perr[n] == '\0') {
		snprintf(b->err, b->errlen, "%s", perr);
		return;
	}
	memcpy(seg, perr, n);
	seg[n] = '\0';
	origin = json_string_value(json_object_get(b->origin, seg));
	snprintf(b->err, b->errlen, "%s%s", origin ? origin : seg, perr + n);
}

static int to_message(struct action_build *b, struct action_request *out)
{
	const ProtobufCMethodDescriptor *md = NULL;
	ProtobufCMessage *msg = NULL;
	char perr[512] = "";
	int rc;

	if (rpc_method_find(b->method, NULL, &md) != FLOW_OK) {
		snprintf(b->err, b->errlen, "action table names unknown method %s", b->method);
		return FLOW_INTERNAL;
	}
	if ((rc = check_fields(b, md->input)) != 0)
		return rc;
	rc = pbjson_to_message(b->req, md->input, NULL, &msg, perr, sizeof(perr));
	if (rc != FLOW_OK) {
		rewrite_path(b, perr);
		return rc;
	}
	out->action = b->act;
	out->method = b->method;
	out->md = md;
	out->msg = msg;
	return 0;
}

static int build_json(struct action_build *b, const json_t *args)
{
	int rc;

	b->req = json_object();
	b->origin = json_object();
	if (b->req == NULL || b->origin == NULL)
		return oom(b);
	b->method = b->act->method;
	if ((rc = take_args(b, args)) != 0)
		return rc;
	if ((rc = take_data(b, json_object_get(args, "data"))) != 0)
		return rc;
	if (b->act->prepare != NULL && (rc = b->act->prepare(b)) != 0)
		return rc;
	return check_required(b);
}

int action_build_request(const char *tool, const json_t *args, struct action_request *out,
			 char *err, size_t errlen)
{
	char dummy[1];
	struct action_build b = {
		.err = err && errlen ? err : dummy,
		.errlen = err && errlen ? errlen : sizeof(dummy),
	};
	int rc;

	memset(out, 0, sizeof(*out));
	b.err[0] = '\0';
	rc = find_action(&b, tool, args);
	if (rc == 0)
		rc = build_json(&b, args);
	if (rc == 0)
		rc = to_message(&b, out);
	json_decref(b.req);
	json_decref(b.origin);
	return rc;
}

void action_request_clear(struct action_request *out)
{
	if (out == NULL)
		return;
	if (out->msg != NULL)
		protobuf_c_message_free_unpacked(out->msg, NULL);
	memset(out, 0, sizeof(*out));
}

int action_reply_json(const struct action_request *req, const ProtobufCMessage *reply,
		      json_t **result)
{
	json_t *j = pbjson_from_message(reply);

	if (j == NULL)
		return FLOW_RESOURCE_EXHAUSTED;
	if (req->action && req->action->shape) {
		int rc = req->action->shape(&j);

		if (rc != 0) {
			json_decref(j);
			return rc;
		}
	}
	*result = j;
	return 0;
}

/* ---- prepare hooks: the shapes the generic merge cannot express ---- */

/* Moves request field from to to (same origin); to must be absent. */
static int move_field(struct action_build *b, const char *from, const char *to, json_t *v)
{
	char origin[192];

	snprintf(origin, sizeof(origin), "%s", origin_of(b, from));
	json_object_del(b->req, from);
	json_object_del(b->origin, from);
	return put_field(b, to, v, origin);
}

static bool all_digits(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* priority: a number 0..10, or a name (low | normal | high) sent as priorityName. */
static int ticket_prepare(struct action_build *b)
{
	json_t *p = json_object_get(b->req, "priority");
	const char *s = json_string_value(p);

	if (s == NULL)
		return 0;
	if (all_digits(s) && strlen(s) < 10)
		return move_field(b, "priority", "priority", json_integer(atoi(s)));
	return move_field(b, "priority", "priorityName", json_string(s));
}

/* queues_add_item: data.taskId -> EnqueueTask, else data.ticketId -> EnqueueTicket. */
static int add_item_prepare(struct action_build *b)
{
	if (json_object_get(b->req, "taskId") != NULL) {
		b->method = FM "EnqueueTask";
		json_object_del(b->req, "ticketId"); /* the task's ticket: implied */
		return 0;
	}
	if (json_object_get(b->req, "ticketId") == NULL)
		return berr(b, "%s requires data.ticketId or data.taskId (e.g. %s)",
			    b->act->name, b->act->example);
	return 0;
}

/* queues_update: data.status "active" | "paused" is isActive true | false. */
static int queue_update_prepare(struct action_build *b)
{
	json_t *st = json_object_get(b->req, "status");
	const char *s = json_string_value(st);
	bool active;

	if (st == NULL)
		return 0;
	if (s != NULL && strcmp(s, "active") == 0)
		active = true;
	else if (s != NULL && strcmp(s, "paused") == 0)
		active = false;
	else
		return berr(b, "%s: expected \"active\" or \"paused\"", origin_of(b, "status"));
	return move_field(b, "status", "isActive", json_boolean(active));
}

/* Checks data.result is {success?: bool, error?: string, metadata?: any}. */
static int check_result(struct action_build *b, const json_t *r)
{
	const char *key;
	json_t *v;

	if (!json_is_object(r))
		return berr(b, "data.result: expected an object, got %s", json_kind(r));
	json_object_foreach((json_t *)r, key, v) {
		if (strcmp(key, "success") == 0 && !json_is_boolean(v) && !json_is_null(v))
			return berr(b, "data.result.success: expected a boolean, got %s",
				    json_kind(v));
		if (strcmp(key, "error") == 0 && !json_is_string(v) && !json_is_null(v))
			return berr(b, "data.result.error: expected a string, got %s",
				    json_kind(v));
		if (strcmp(key, "success") && strcmp(key, "error") && strcmp(key, "metadata"))
			return berr(b, "data.result.%.60s: unknown field (result fields: "
				       "success, error, metadata)", key);
	}
	return 0;
}

/* A failed result becomes FailItem with an error text: result.error, data.error,
 * data.completionNotes or "failed". */
static int result_failed(struct action_build *b, const json_t *r)
{
	const char *e = json_string_value(json_object_get(r, "error"));
	const char *notes = json_string_value(json_object_get(b->req, "completionNotes"));
	int rc = 0;

	b->method = FM "FailItem";
	if (e != NULL)
		rc = put_field(b, "error", json_string(e), "data.result.error");
	else if (json_object_get(b->req, "error") == NULL)
		rc = put_field(b, "error", json_string(notes ? notes : "failed"),
			       "data.completionNotes");
	json_object_del(b->req, "completionNotes");
	json_object_del(b->req, "metadata");
	return rc;
}

/* Sets request field metadata to m as JSON text (a string is taken as is). */
static int metadata_text(struct action_build *b, const json_t *m, const char *origin)
{
	char *text;
	json_t *v;

	if (m == NULL || json_is_null(m))
		return 0;
	if (json_is_string(m)) {
		v = json_deep_copy(m);
	} else {
		text = json_dumps(m, JSON_COMPACT | JSON_ENCODE_ANY);
		v = text ? json_string(text) : NULL;
		free(text);
	}
	if (v == NULL)
		return oom(b);
	json_object_del(b->req, "metadata");
	return put_field(b, "metadata", v, origin);
}

static int result_metadata(struct action_build *b, const json_t *r)
{
	const json_t *m = json_object_get(r, "metadata");

	if (m == NULL || json_is_null(m))
		return metadata_text(b, json_object_get(b->req, "metadata"), "data.metadata");
	if (json_object_get(b->req, "metadata") != NULL)
		return berr(b, "data.metadata and data.result.metadata are both given");
	return metadata_text(b, m, "data.result.metadata");
}

/*
 * processor_complete takes the usage guide's {itemId, data: {completionNotes}}
 * and Promptliano's {data: {queueItemId, result: {success, error, metadata}}};
 * result.success false fails the item instead.
 */
static int complete_prepare(struct action_build *b)
{
	json_t *r = json_object_get(b->req, "result");
	int rc;

	if (r == NULL)
		return metadata_text(b, json_object_get(b->req, "metadata"), "data.metadata");
	json_incref(r);
	json_object_del(b->req, "result");
	rc = check_result(b, r);
	if (rc == 0 && json_is_false(json_object_get(r, "success")))
		rc = result_failed(b, r);
	else if (rc == 0)
		rc = result_metadata(b, r);
	json_decref(r);
	return rc;
}

/*
 * queue_items_retry / queue_items_cancel: a single itemId or queueItemId
 * (top level or data) is added to data.queueItemIds. Cancel needs ids;
 * retry needs ids or queueId.
 */
static int items_prepare(struct action_build *b)
{
	json_t *one = json_object_get(b->req, "queueItemId");
	json_t *ids = json_object_get(b->req, "queueItemIds");
	bool retry = strcmp(b->act->name, "queue_items_retry") == 0;

	if (one != NULL) {
		if (ids != NULL && !json_is_array(ids))
			return berr(b, "%s: expected an array of ids",
				    origin_of(b, "queueItemIds"));
		if (ids == NULL &&
		    put_field(b, "queueItemIds", json_array(), origin_of(b, "queueItemId")) != 0)
			return oom(b);
		ids = json_object_get(b->req, "queueItemIds");
		if (json_array_append(ids, one) != 0)
			return oom(b);
		json_object_del(b->req, "queueItemId");
		json_object_del(b->origin, "queueItemId");
	}
	if (ids != NULL || (retry && json_object_get(b->req, "queueId") != NULL))
		return 0;
	return berr(b, "%s requires data.queueItemIds%s (or itemId) (e.g. %s)", b->act->name,
		    retry ? " or queueId" : "", b->act->example);
}
