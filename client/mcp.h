/*
 * mcp.h - `flowctl mcp`: a Model Context Protocol server on stdin/stdout
 * that offers the tools project_manager and flow_manager (mcp_schema.h)
 * and runs their calls against flowd with call_run (call.h).
 *
 * Transport: MCP's stdio transport. JSON-RPC 2.0, one message per line
 * (UTF-8, no embedded newlines), requests handled one at a time in order.
 * stdout carries nothing but protocol messages; diagnostics go to stderr
 * (never a token). EOF on stdin ends the server with exit status 0.
 *
 * Protocol revisions: 2025-11-25 (latest), 2025-06-18, 2025-03-26 and
 * 2024-11-05. initialize answers with the client's protocolVersion when it
 * is one of these, else with the latest.
 *
 * Methods: initialize, ping (also before initialize), tools/list (every
 * tool at once; a cursor is accepted and ignored), tools/call.
 * Notifications are never answered; all are ignored (notifications/
 * initialized, notifications/cancelled: calls run one at a time, so a
 * cancelled call has already been answered when its notice is read).
 * Responses sent by the client are ignored too (this server sends no
 * requests). A line of only whitespace is skipped.
 *
 * Errors (JSON-RPC error objects; the server keeps serving after each):
 *   -32700 "parse error: ..."       not JSON (also invalid UTF-8, duplicate
 *                                   keys); id null
 *   -32600 "batches are not supported"            a JSON array; id null
 *   -32600 "message too long (over N bytes)"      line over MCP_MAX_LINE;
 *                                                 the line is skipped; id null
 *   -32600 "invalid request: ..."   not a JSON-RPC 2.0 request object:
 *                                   not an object, jsonrpc not "2.0",
 *                                   method not a string, id not a string
 *                                   or an integer (MCP forbids null ids);
 *                                   id echoed when it is valid, else null
 *   -32600 "not initialized: send initialize first"   any request but
 *                                   initialize and ping before initialize
 *                                   (-32600 rather than -32002, which MCP
 *                                   uses for "resource not found")
 *   -32600 "already initialized"    a second initialize
 *   -32601 "method not found: M"
 *   -32602 "invalid params: ..."    params not an object; initialize
 *                                   without a string protocolVersion;
 *                                   tools/call without a string name
 *   -32602 "unknown tool X; tools: project_manager, flow_manager"
 *   -32603 "internal error: out of memory"
 *
 * Tool results (tools/call answers with a result, isError false or true):
 *   success: {"content": [{"type": "text", "text": <result JSON, compact>}],
 *             "structuredContent": <the result object; a non-object result
 *             as {"result": ...}>, "isError": false}
 *   failure: {"content": [{"type": "text", "text": "Error (CODE): message
 *             \nSuggestion: ..."}], "structuredContent": {"error": {"code",
 *             "message", "suggestion"?, "retryAfterMs"?, "requestId"?}},
 *             "isError": true}
 *   CODE is the gRPC code name; the suggestion line is there when one
 *   helps (mcp_suggestion). Missing or non-object arguments are a failure
 *   (INVALID_ARGUMENT) too.
 *
 * Credentials are those of every flowctl call (session.h: FLOW_TOKEN,
 * FLOW_API_KEY, the saved login for the URL), chosen at the first call and
 * kept for the session; a saved login is renewed by call_rpc. After an
 * UNAUTHENTICATED answer the choice is dropped, so the next call reads
 * them again: a `flowctl login` in another terminal takes effect without
 * restarting the server.
 */
#ifndef FLOW_MCP_H
#define FLOW_MCP_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "call.h"

/* Longest message line accepted (bytes, without the newline). */
#define MCP_MAX_LINE ((size_t)16 << 20)

#define MCP_PROTOCOL_LATEST "2025-11-25"

/* JSON-RPC 2.0 error codes. */
enum mcp_rpc_code {
	MCP_PARSE_ERROR = -32700,
	MCP_INVALID_REQUEST = -32600,
	MCP_METHOD_NOT_FOUND = -32601,
	MCP_INVALID_PARAMS = -32602,
	MCP_INTERNAL_ERROR = -32603,
};

/* Supported protocol revisions, newest first, NULL-terminated. */
extern const char *const mcp_protocol_versions[];

/*
 * Runs one tool call, like call_run: on FLOW_OK *result is a new reference;
 * otherwise *result is NULL and e says why. tool is an exposed tool and
 * args an object.
 */
typedef int (*mcp_call_fn)(void *arg, const char *tool, const json_t *args, json_t **result,
			   struct call_error *e);

/* The executor `flowctl mcp` uses: call_run on arg, a struct call_ctx. */
int mcp_call_flowd(void *arg, const char *tool, const json_t *args, json_t **result,
		   struct call_error *e);

struct mcp_server;

/* A server whose tool calls run with call(arg, ...); NULL when out of memory. */
struct mcp_server *mcp_server_new(mcp_call_fn call, void *arg);

/* NULL is a no-op. */
void mcp_server_free(struct mcp_server *s);

/*
 * Handles one message line (len bytes, without the newline; need not be
 * NUL-terminated). *reply is the message to send (new reference), or NULL
 * when there is none (a notification, a response, a blank line). Returns 0,
 * or -1 when out of memory left no reply to give.
 */
int mcp_handle_line(struct mcp_server *s, const char *line, size_t len, json_t **reply);

/*
 * Serves messages from in_fd, one per line, writing replies (one line
 * each) to out_fd, until EOF. Lines over max_line bytes (0: MCP_MAX_LINE)
 * are answered with -32600 and skipped. Returns 0 at EOF, -1 when reading
 * or writing fails (reason on stderr).
 */
int mcp_serve(struct mcp_server *s, int in_fd, int out_fd, size_t max_line);

/* The tools/call result for a successful call's result (only read). */
json_t *mcp_tool_result(const json_t *result);

/* The tools/call result for a failed call of tool with args (may be NULL). */
json_t *mcp_tool_error(const char *tool, const json_t *args, const struct call_error *e);

/*
 * What to do about e, for the "Suggestion:" line: the action's ids, data
 * fields and example (argument errors), the tool's actions (unknown or
 * missing action), how to log in (UNAUTHENTICATED), when to retry
 * (RESOURCE_EXHAUSTED, UNAVAILABLE, DEADLINE_EXCEEDED), where valid ids
 * come from (NOT_FOUND), ... "" when there is nothing to add.
 */
void mcp_suggestion(const char *tool, const json_t *args, const struct call_error *e, char *buf,
		    size_t len);

/* `flowctl mcp` (argv: the arguments after "mcp"); returns the exit status. */
int mcp_command(struct call_ctx *ctx, int argc, char **argv);

#endif
