/*
 * actions.h - the MCP action table: tool arguments -> protobuf request.
 *
 * flowd's JSON interface mirrors Promptliano's MCP tools exactly: a call is
 * a tool name ("project_manager" or "flow_manager") and an argument object
 *
 *   {"action": "tickets_create", "projectId": 1, "data": {"title": "..."}}
 *
 * This module holds the one table of actions (tool, action name, RPC method,
 * the top-level ids it takes, renames of data fields, special-case hooks)
 * and turns an argument object into the request message of the method. It
 * does no I/O and no printing, so flowctl's `call`, its friendly commands
 * and the MCP stdio bridge all share it.
 *
 * Mapping, in order:
 *  1. "action" picks the table entry of the tool.
 *  2. Each top-level id ("projectId", "ticketId", "taskId", "queueId",
 *     "itemId") must be one the action lists; it must be a positive integer
 *     (JSON number or decimal string) and fills its request field.
 *  3. "data" (an object) is merged into the request object: keys are
 *     normalised to lowerCamelCase, renamed by the action's aliases
 *     ("description" -> "overview" for tickets), ids among them checked
 *     like top-level ids; a key given twice with different values fails.
 *  4. The action's prepare hook, if any, rewrites special shapes and may
 *     pick another method (queues_add_item -> EnqueueTask).
 *  5. Required ids are checked, every field must exist in the method's
 *     input message, and pbjson_to_message builds the message (strict
 *     types); errors name the argument as the client wrote it
 *     ("data.maxParallelItems: expected an integer ...").
 *
 * Secrets never travel in tool arguments, which end up in command lines,
 * shell histories and MCP transcripts: a password or token field
 * ("password", "oldPassword", "newPassword", "refreshToken") is refused
 * for every action, and Login, Refresh, Logout and ChangePassword have no
 * action. flowctl's own commands (login, user create, ...) read passwords
 * from the terminal or stdin and put them on the built message directly.
 */
#ifndef FLOW_ACTIONS_H
#define FLOW_ACTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

/* The MCP tools: Promptliano's two, and flowd's admin tool (users, keys, members,
 * audit, workers; not offered by flowctl mcp). */
#define ACTION_TOOL_PROJECT "project_manager"
#define ACTION_TOOL_FLOW "flow_manager"
#define ACTION_TOOL_AUTH "auth_manager"

/* Flags of a top-level id argument. */
enum action_arg_flags {
	ARG_OPTIONAL = 0,
	/* The request field must be set (from the top level or from data). */
	ARG_REQUIRED = 1 << 0,
	/* Accepted and checked like any id, then not sent. */
	ARG_IGNORED = 1 << 1,
};

#define ACTION_MAX_ARGS 4

/* One top-level id argument of an action. */
struct action_arg {
	const char *name;  /* as clients send it: "itemId" */
	const char *field; /* request JSON field it fills: "queueItemId"; NULL: name */
	unsigned flags;	   /* enum action_arg_flags */
};

/* A data field as clients send it, and the request field it fills. */
struct action_rename {
	const char *from;
	const char *to;
};

/* Request being built; private to actions.c, handed to prepare hooks. */
struct action_build;

struct action {
	const char *tool;    /* ACTION_TOOL_* */
	const char *name;    /* "tickets_create" */
	const char *method;  /* default RPC path, "/flow.v1.FlowManager/CreateTicket" */
	const char *summary; /* one line for help */
	const char *example; /* a complete, valid argument object */
	struct action_arg args[ACTION_MAX_ARGS]; /* ends at name == NULL */
	const struct action_rename *renames;	 /* ends at from == NULL; or NULL */
	/* data fields the prepare hook consumes (for help), e.g. "result"; or NULL */
	const char *extra_data;
	/* Special shapes; returns 0 or FLOW_INVALID_ARGUMENT with the error set. */
	int (*prepare)(struct action_build *b);
	/*
	 * Optional reshaping of the reply JSON for clients; takes the
	 * reference *result and stores a new one. NULL: the proto3 JSON of
	 * the reply as is (the case for every action today).
	 */
	int (*shape)(json_t **result);
};

/* A built request. Everything but msg is static; msg is owned. */
struct action_request {
	const struct action *action;
	const char *method;			 /* RPC path actually called */
	const ProtobufCMethodDescriptor *md;	 /* its descriptor */
	ProtobufCMessage *msg;			 /* md->input; action_request_clear frees */
};

/* The table: every action of every tool, ending with an all-NULL entry. */
extern const struct action action_table[];

/* NULL-terminated list of tool names. */
extern const char *const action_tools[];

bool action_tool_known(const char *tool);

/* The entry for tool/name, or NULL. */
const struct action *action_find(const char *tool, const char *name);

/*
 * Builds the request for the argument object args of tool. On success
 * returns 0 and fills *out (free with action_request_clear). On failure
 * returns a flow code (FLOW_INVALID_ARGUMENT for anything wrong with the
 * arguments, FLOW_RESOURCE_EXHAUSTED when out of memory, FLOW_INTERNAL for
 * a table error), writes a message naming the argument into err, and
 * leaves *out zeroed. args is only read.
 */
int action_build_request(const char *tool, const json_t *args, struct action_request *out,
			 char *err, size_t errlen);

/* Frees out->msg and zeroes *out; NULL or an empty request is a no-op. */
void action_request_clear(struct action_request *out);

/*
 * Converts a reply of out->md->output into the JSON result clients get
 * (proto3 JSON names, shaped by the action). New reference in *result;
 * returns 0 or FLOW_RESOURCE_EXHAUSTED.
 */
int action_reply_json(const struct action_request *req, const ProtobufCMessage *reply,
		      json_t **result);

/*
 * Writes the data fields an action accepts ("title, overview, description,
 * priority, ...": the method's request fields in JSON names, less those
 * filled from ids, plus aliases) into buf, comma-separated. Truncated to
 * fit; always NUL-terminated.
 */
void action_data_fields(const struct action *a, char *buf, size_t len);

/* The top-level ids of a, like "projectId (required), ticketId". */
void action_args_text(const struct action *a, char *buf, size_t len);

/* The tool names, like "project_manager, flow_manager, auth_manager". */
void action_tools_text(char *buf, size_t len);

#endif
