/*
 * mcp_schema.c - the MCP tools of `flowctl mcp`, generated from the action
 * table. See mcp_schema.h.
 */
#include "mcp_schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The tools `flowctl mcp` offers. auth_manager is deliberately absent:
 * administration (users, API keys, members, audit, workers) is not for AI clients;
 * see mcp_schema.h.
 */
static const struct tool_info {
	const char *name;
	const char *title;
	const char *intro;
} tools[] = {
	{ ACTION_TOOL_PROJECT, "flowd projects",
	  "Projects of flowd, the work coordinator for AI coding agents: list them, get one, "
	  "create, update, delete (data.confirmDelete true; removes the project's tickets, tasks "
	  "and queues) and overview (ticket counts, open tickets and queues of a project)." },
	{ ACTION_TOOL_FLOW, "flowd tickets, tasks and queues",
	  "Tickets, tasks and queues of flowd projects, and processing queue items. A project "
	  "holds tickets, a ticket holds tasks; queues hand out tickets and tasks as queue items, "
	  "most urgent first (priority 0-10, higher = more urgent; tickets also take "
	  "low/normal/high). Processing loop: processor_get_next (queueId) claims the next item "
	  "(found false means nothing to do now; it is not an error); do the work, recording "
	  "progress with tasks_update; then processor_complete (itemId = the item's queueItemId, "
	  "data.completionNotes) or processor_fail (data.error); repeat." },
	{ NULL, NULL, NULL },
};

/*
 * Top-level ids: the schema's description of each, and where valid ids come
 * from (NOT_FOUND suggestions). action names the listing action, which the
 * unit test checks exists in tool.
 */
static const struct id_info {
	const char *name;
	const char *what;
	const char *tool;
	const char *action;
	const char *hint;
} ids[] = {
	{ "projectId", "Project id", ACTION_TOOL_PROJECT, "list",
	  "project_manager list shows the projects" },
	{ "ticketId", "Ticket id", ACTION_TOOL_FLOW, "tickets_list",
	  "flow_manager tickets_list (projectId) shows a project's tickets" },
	{ "taskId", "Task id", ACTION_TOOL_FLOW, "tasks_list",
	  "flow_manager tasks_list (ticketId) shows a ticket's tasks" },
	{ "queueId", "Queue id", ACTION_TOOL_FLOW, "queues_list",
	  "flow_manager queues_list (projectId) shows a project's queues" },
	{ "itemId", "Queue item id", ACTION_TOOL_FLOW, "processor_get_next",
	  "flow_manager processor_get_next returns the claimed item's id as queueItemId" },
	{ "queueItemId", "Queue item id (same as itemId)", ACTION_TOOL_FLOW, "processor_get_next",
	  "flow_manager processor_get_next returns the claimed item's id as queueItemId" },
	{ NULL, NULL, NULL, NULL, NULL },
};

static const struct tool_info *tool_find(const char *tool)
{
	for (const struct tool_info *t = tools; tool != NULL && t->name != NULL; t++)
		if (strcmp(t->name, tool) == 0)
			return t;
	return NULL;
}

static const struct id_info *id_find(const char *name)
{
	for (const struct id_info *i = ids; name != NULL && i->name != NULL; i++)
		if (strcmp(i->name, name) == 0)
			return i;
	return NULL;
}

bool mcp_tool_exposed(const char *tool)
{
	return tool_find(tool) != NULL;
}

/* Appends sep (unless buf is empty) and s to buf, truncating. */
static void append(char *buf, size_t len, const char *sep, const char *s)
{
	size_t used = strlen(buf);

	if (used + 1 < len)
		snprintf(buf + used, len - used, "%s%s", used ? sep : "", s);
}

void mcp_tools_text(char *buf, size_t len)
{
	buf[0] = '\0';
	for (const struct tool_info *t = tools; t->name != NULL; t++)
		append(buf, len, ", ", t->name);
}

void mcp_tool_actions_text(const char *tool, char *buf, size_t len)
{
	buf[0] = '\0';
	for (const struct action *a = action_table; a->tool != NULL; a++)
		if (strcmp(a->tool, tool) == 0)
			append(buf, len, ", ", a->name);
}

const char *mcp_id_hint(const char *id)
{
	const struct id_info *i = id_find(id);

	return i ? i->hint : NULL;
}

void mcp_action_help(const struct action *a, char *buf, size_t len)
{
	char args[512], data[1024];

	action_args_text(a, args, sizeof(args));
	action_data_fields(a, data, sizeof(data));
	snprintf(buf, len, "ids: %s; data: %s; example: %s", args[0] ? args : "none", data,
		 a->example);
}

/* ---- input schema ---- */

static json_t *action_property(const char *tool)
{
	json_t *names = json_array();

	for (const struct action *a = action_table; names && a->tool != NULL; a++)
		if (strcmp(a->tool, tool) == 0 &&
		    json_array_append_new(names, json_string(a->name)))
			break;
	return json_pack("{s:s, s:o, s:s}", "type", "string", "enum", names, "description",
			 "What to do; each action's ids and data fields are in the tool "
			 "description.");
}

static json_t *id_property(const char *name)
{
	const struct id_info *i = id_find(name);
	char desc[256];

	snprintf(desc, sizeof(desc), "%s (a positive integer)%s%s.", i ? i->what : name,
		 i ? "; " : "", i ? i->hint : "");
	return json_pack("{s:s, s:i, s:s}", "type", "integer", "minimum", 1, "description", desc);
}

/* Adds every top-level id an action of tool takes (ignored ones too: they
 * are accepted) to props, in table order. */
static int add_id_properties(json_t *props, const char *tool)
{
	for (const struct action *a = action_table; a->tool != NULL; a++) {
		if (strcmp(a->tool, tool) != 0)
			continue;
		for (const struct action_arg *arg = a->args; arg->name != NULL; arg++) {
			if (json_object_get(props, arg->name) != NULL)
				continue;
			if (json_object_set_new(props, arg->name, id_property(arg->name)) != 0)
				return -1;
		}
	}
	return 0;
}

json_t *mcp_tool_input_schema(const char *tool)
{
	json_t *props, *schema;

	if (!mcp_tool_exposed(tool))
		return NULL;
	props = json_object();
	if (props == NULL || json_object_set_new(props, "action", action_property(tool)) != 0 ||
	    add_id_properties(props, tool) != 0 ||
	    json_object_set_new(
		props, "data",
		json_pack("{s:s, s:s}", "type", "object", "description",
			  "The action's fields; the tool description lists them for "
			  "each action.")) != 0) {
		json_decref(props);
		return NULL;
	}
	schema = json_pack("{s:s, s:o, s:[s]}", "type", "object", "properties", props, "required",
			   "action");
	return schema;
}

/* ---- description ---- */

char *mcp_tool_description(const char *tool)
{
	const struct tool_info *t = tool_find(tool);
	char help[2048], *text = NULL;
	size_t len = 0;
	FILE *f;

	if (t == NULL || (f = open_memstream(&text, &len)) == NULL)
		return NULL;
	fprintf(f,
		"%s\n\nArguments: {\"action\": ACTION, the ids the action takes (positive "
		"integers), \"data\": {the action's fields}}. Fields in camelCase (snake_case "
		"is accepted); an unknown field is refused with the list of valid ones.\n\n"
		"Actions:\n",
		t->intro);
	for (const struct action *a = action_table; a->tool != NULL; a++) {
		if (strcmp(a->tool, tool) != 0)
			continue;
		mcp_action_help(a, help, sizeof(help));
		fprintf(f, "- %s: %s %s\n", a->name, a->summary, help);
	}
	if (ferror(f)) {
		fclose(f);
		free(text);
		return NULL;
	}
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

/* ---- tools/list ---- */

static json_t *tool_json(const struct tool_info *t)
{
	char *desc = mcp_tool_description(t->name);
	json_t *tool = NULL;

	/* every tool can delete things; none touches anything but flowd */
	if (desc != NULL)
		tool = json_pack("{s:s, s:s, s:s, s:o, s:{s:s, s:b, s:b, s:b, s:b}}", "name",
				 t->name, "title", t->title, "description", desc, "inputSchema",
				 mcp_tool_input_schema(t->name), "annotations", "title", t->title,
				 "readOnlyHint", 0, "destructiveHint", 1, "idempotentHint", 0,
				 "openWorldHint", 0);
	free(desc);
	return tool;
}

json_t *mcp_tools_list(void)
{
	json_t *list = json_array();

	for (const struct tool_info *t = tools; list != NULL && t->name != NULL; t++) {
		if (json_array_append_new(list, tool_json(t)) != 0) {
			json_decref(list);
			return NULL;
		}
	}
	return list ? json_pack("{s:o}", "tools", list) : NULL;
}
