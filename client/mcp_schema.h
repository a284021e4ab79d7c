/*
 * mcp_schema.h - the MCP tools `flowctl mcp` offers, generated from the one
 * action table (actions.h): their names, descriptions and input schemas,
 * and the help texts that tool errors suggest. No I/O.
 *
 * Exposed tools: project_manager and flow_manager, with every action the
 * table has for them (what `flowctl call` accepts). auth_manager is NOT
 * exposed: its actions administer users, API keys, project members and the
 * audit log, and an AI client must not be able to grant itself (or anyone)
 * access. Administrators use flowctl's own commands for that.
 *
 * Input schema of a tool (JSON Schema, valid as draft 2020-12 and draft-07;
 * no "$schema", so MCP's default dialect, 2020-12, applies):
 *
 *   {"type": "object",
 *    "properties": {
 *      "action": {"type": "string", "enum": [the tool's actions], ...},
 *      "<id>":   {"type": "integer", "minimum": 1, ...}   for each top-level
 *                id any action of the tool takes (projectId, ticketId, ...),
 *      "data":   {"type": "object", ...}},
 *    "required": ["action"]}
 *
 * Which ids and data fields each action takes is in the tool description,
 * one line per action, generated from the table. The table itself is more
 * lenient than the schema (ids as decimal strings, null for absent): the
 * schema describes the canonical form, and every call of the usage guide
 * has that form.
 */
#ifndef FLOW_MCP_SCHEMA_H
#define FLOW_MCP_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "actions.h"

/* Whether tool is one `flowctl mcp` offers (auth_manager is not). */
bool mcp_tool_exposed(const char *tool);

/* The exposed tool names: "project_manager, flow_manager". */
void mcp_tools_text(char *buf, size_t len);

/* tool's action names, comma-separated, in table order. */
void mcp_tool_actions_text(const char *tool, char *buf, size_t len);

/*
 * The input schema of tool (see above). New reference; NULL for a tool
 * that is not exposed, or out of memory.
 */
json_t *mcp_tool_input_schema(const char *tool);

/*
 * The description of tool: what it is for, the argument shape, and for
 * each action its summary, ids, data fields and example. malloc'd (caller
 * frees); NULL for a tool that is not exposed, or out of memory.
 */
char *mcp_tool_description(const char *tool);

/*
 * The result of tools/list: {"tools": [{name, title, description,
 * inputSchema, annotations}, ...]}. New reference; NULL when out of memory.
 */
json_t *mcp_tools_list(void);

/* One action's help: "ids: projectId (required); data: name, path,
 * description; example: {...}". Truncated to fit. */
void mcp_action_help(const struct action *a, char *buf, size_t len);

/*
 * For a top-level id name ("ticketId"): how to find valid ids ("tickets_list
 * (flow_manager, with projectId) lists a project's tickets"); NULL for
 * anything else.
 */
const char *mcp_id_hint(const char *id);

#endif
