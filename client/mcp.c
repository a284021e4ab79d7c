/*
 * mcp.c - `flowctl mcp`: MCP over stdio (JSON-RPC 2.0, one message a line)
 * in front of call_run. See mcp.h for the protocol choices.
 *
 * Layers, each testable alone: mcp_serve (lines in, lines out) ->
 * mcp_handle_line (one message -> at most one reply) -> the method table ->
 * tools/call -> the executor (mcp_call_fn; call_run in flowctl, a fake in
 * the unit tests) -> mcp_tool_result / mcp_tool_error.
 */
#include "mcp.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "actions.h"
#include "cli.h"
#include "mcp_schema.h"
#include "pbjson.h"
#include "sanitize.h"
#include "session.h"
#include "status.h"

/* Compact (one line: jansson escapes newlines in strings); 64.998, not
 * 64.998000000000005, as `flowctl call` prints. */
#define DUMP_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15))

const char *const mcp_protocol_versions[] = {
	MCP_PROTOCOL_LATEST, "2025-06-18", "2025-03-26", "2024-11-05", NULL,
};

static const char instructions[] =
    "flowd coordinates work for AI coding agents. project_manager manages projects; "
    "flow_manager manages a project's tickets, their tasks, and queues that hand tickets and "
    "tasks out as queue items. Every call is {\"action\": ..., ids such as projectId or "
    "ticketId, \"data\": {...}}; each tool's description lists its actions with their ids, "
    "data fields and an example. Priorities run 0-10, higher = more urgent: queues hand out "
    "the most urgent item first. To process a queue: processor_get_next (queueId) claims the "
    "next item (found false: nothing to do now); do the work, recording progress on its "
    "tasks with tasks_update; then processor_complete with itemId = the item's queueItemId, "
    "or processor_fail with data.error; repeat until processor_get_next finds nothing.";

struct mcp_server {
	mcp_call_fn call;
	void *call_arg;
	bool initialized;
	json_t *tools; /* the tools/list result, built at the first tools/list */
};

/* A JSON-RPC error to answer with. */
struct rpc_err {
	int code;
	char message[1200];
};

static int rpc_fail(struct rpc_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Sets err (the message made valid UTF-8: %.Ns may cut a character) and
 * returns code. */
static int rpc_fail(struct rpc_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	sanitize_utf8(err->message, strlen(err->message));
	return code;
}

static int oom(struct rpc_err *err)
{
	return rpc_fail(err, MCP_INTERNAL_ERROR, "internal error: out of memory");
}

/* ---- JSON-RPC messages ---- */

static json_t *error_reply(const json_t *id, const struct rpc_err *err)
{
	return json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", id ? id : json_null(),
			 "error", "code", err->code, "message", err->message);
}

/* Takes result. */
static json_t *result_reply(const json_t *id, json_t *result)
{
	json_t *reply = NULL;

	if (result != NULL)
		reply = json_pack("{s:s, s:O, s:O}", "jsonrpc", "2.0", "id", id, "result", result);
	json_decref(result);
	return reply;
}

/* MCP ids are strings or integers; never null. */
static const json_t *valid_id(const json_t *id)
{
	return json_is_string(id) || json_is_integer(id) ? id : NULL;
}

/* A response (to a request this server never sends): ignored. */
static bool is_response(const json_t *msg)
{
	return json_object_get(msg, "method") == NULL &&
	       (json_object_get(msg, "result") != NULL || json_object_get(msg, "error") != NULL);
}

static int check_request(const json_t *msg, struct rpc_err *err)
{
	const json_t *id = json_object_get(msg, "id");
	const char *version = json_string_value(json_object_get(msg, "jsonrpc"));
	char kind[160];

	if (!json_is_object(msg))
		return rpc_fail(err, MCP_INVALID_REQUEST,
				"invalid request: expected a JSON-RPC 2.0 request object, got %s",
				pbjson_describe(msg, kind, sizeof(kind)));
	if (version == NULL || strcmp(version, "2.0") != 0)
		return rpc_fail(err, MCP_INVALID_REQUEST,
				"invalid request: jsonrpc must be \"2.0\"");
	if (!json_is_string(json_object_get(msg, "method")))
		return rpc_fail(err, MCP_INVALID_REQUEST,
				"invalid request: method must be a string");
	if (id != NULL && valid_id(id) == NULL)
		return rpc_fail(err, MCP_INVALID_REQUEST,
				"invalid request: id must be a string or an integer, got %s",
				pbjson_describe(id, kind, sizeof(kind)));
	return 0;
}

/* ---- tool results ---- */

/* {"content": [{"type": "text", "text": text}], "structuredContent": sc,
 * "isError": is_error}; takes sc. */
static json_t *content_result(const char *text, json_t *sc, bool is_error)
{
	json_t *r = NULL;

	if (text != NULL && sc != NULL)
		r = json_pack("{s:[{s:s, s:s}], s:O, s:b}", "content", "type", "text", "text", text,
			      "structuredContent", sc, "isError", is_error);
	json_decref(sc);
	return r;
}

json_t *mcp_tool_result(const json_t *result)
{
	char *text = json_dumps(result, DUMP_FLAGS);
	json_t *sc, *r;

	/* structuredContent must be an object */
	if (json_is_object(result))
		sc = json_incref((json_t *)result);
	else
		sc = json_pack("{s:O}", "result", (json_t *)result);
	r = content_result(text, sc, false);
	free(text);
	return r;
}

static void suggest_action(const struct action *a, char *buf, size_t len)
{
	char help[2048];

	mcp_action_help(a, help, sizeof(help));
	snprintf(buf, len, "%s takes %s", a->name, help);
}

static void suggest_actions(const char *tool, char *buf, size_t len)
{
	char names[1024];

	mcp_tool_actions_text(tool, names, sizeof(names));
	snprintf(buf, len,
		 "%s actions: %s (each action's ids, data fields and an example are in "
		 "the tool description)",
		 tool, names);
}

/* Appends, for each id in obj with a hint, where valid ones come from. */
static void id_hints(const json_t *obj, char *buf, size_t len)
{
	const char *key, *hint;
	json_t *v;

	json_object_foreach ((json_t *)obj, key, v) {
		size_t used = strlen(buf);

		if ((hint = mcp_id_hint(key)) == NULL || strstr(buf, hint) != NULL)
			continue;
		snprintf(buf + used, len - used, "%s%s may not exist: %s", used ? "; " : "", key,
			 hint);
	}
}

static void suggest_ids(const json_t *args, char *buf, size_t len)
{
	buf[0] = '\0';
	if (json_is_object(args)) {
		id_hints(args, buf, len);
		id_hints(json_object_get(args, "data"), buf, len);
	}
	if (buf[0] == '\0')
		snprintf(buf, len, "%s", mcp_id_hint("projectId"));
}

static void suggest_retry(const struct call_error *e, char *buf, size_t len)
{
	const char *more = e->code == FLOW_UNAVAILABLE
			       ? "; if it persists, check that flowd is running at the address "
				 "flowctl mcp was given (--url or FLOW_URL)"
			       : "";

	if (e->retry_after_ms != 0)
		snprintf(buf, len, "retry after %u ms%s", e->retry_after_ms, more);
	else
		snprintf(buf, len, "retry in a few seconds%s", more);
}

void mcp_suggestion(const char *tool, const json_t *args, const struct call_error *e, char *buf,
		    size_t len)
{
	const struct action *a =
	    action_find(tool, json_string_value(json_object_get(args, "action")));

	buf[0] = '\0';
	switch (e->code) {
	case FLOW_INVALID_ARGUMENT:
		if (a != NULL)
			suggest_action(a, buf, len);
		else if (tool != NULL)
			suggest_actions(tool, buf, len);
		break;
	case FLOW_NOT_FOUND:
		suggest_ids(args, buf, len);
		break;
	case FLOW_UNAUTHENTICATED:
		snprintf(buf, len,
			 "log in with `flowctl login` for this flowd URL (the next call "
			 "uses the new login), or start flowctl mcp with FLOW_TOKEN or "
			 "FLOW_API_KEY set");
		break;
	case FLOW_PERMISSION_DENIED:
		snprintf(buf, len,
			 "this user may not do that: an admin or the project's owner can "
			 "add it to the project (flowctl member add), an admin can change "
			 "its role");
		break;
	case FLOW_RESOURCE_EXHAUSTED:
	case FLOW_UNAVAILABLE:
		suggest_retry(e, buf, len);
		break;
	case FLOW_DEADLINE_EXCEEDED:
		snprintf(buf, len,
			 "flowd did not answer in time (flowctl --timeout, default %u ms); "
			 "retry, and check that flowd is running",
			 CLI_DEFAULT_TIMEOUT_MS);
		break;
	default:
		break;
	}
}

json_t *mcp_tool_error(const char *tool, const json_t *args, const struct call_error *e)
{
	struct call_error clean = *e;
	char suggestion[2048], text[sizeof(clean.message) + sizeof(suggestion) + 64];
	json_t *sc, *inner;

	clean.message[sizeof(clean.message) - 1] = '\0';
	sanitize_utf8(clean.message, strlen(clean.message));
	mcp_suggestion(tool, args, &clean, suggestion, sizeof(suggestion));
	sanitize_utf8(suggestion, strlen(suggestion));
	snprintf(text, sizeof(text), "Error (%s): %s%s%s", status_name(clean.code), clean.message,
		 suggestion[0] ? "\nSuggestion: " : "", suggestion);
	sc = call_error_json(&clean);
	inner = json_object_get(sc, "error");
	if (suggestion[0] != '\0' && inner != NULL &&
	    json_object_set_new(inner, "suggestion", json_string(suggestion)) != 0) {
		json_decref(sc);
		return NULL;
	}
	return content_result(text, sc, true);
}

/* ---- methods ---- */

typedef int (*method_fn)(struct mcp_server *s, const json_t *params, json_t **result,
			 struct rpc_err *err);

static const char *negotiate(const char *requested)
{
	for (size_t i = 0; mcp_protocol_versions[i] != NULL; i++)
		if (strcmp(mcp_protocol_versions[i], requested) == 0)
			return mcp_protocol_versions[i];
	return MCP_PROTOCOL_LATEST;
}

static int m_initialize(struct mcp_server *s, const json_t *params, json_t **result,
			struct rpc_err *err)
{
	const char *requested = json_string_value(json_object_get(params, "protocolVersion"));

	if (s->initialized)
		return rpc_fail(err, MCP_INVALID_REQUEST, "already initialized");
	if (requested == NULL)
		return rpc_fail(err, MCP_INVALID_PARAMS,
				"invalid params: initialize needs params.protocolVersion, a string "
				"such as \"%s\"",
				MCP_PROTOCOL_LATEST);
	*result =
	    json_pack("{s:s, s:{s:{s:b}}, s:{s:s, s:s, s:s}, s:s}", "protocolVersion",
		      negotiate(requested), "capabilities", "tools", "listChanged", 0, "serverInfo",
		      "name", "flowctl", "title", "flowctl MCP server for flowd", "version",
		      FLOWCTL_VERSION, "instructions", instructions);
	if (*result == NULL)
		return oom(err);
	s->initialized = true;
	return 0;
}

static int m_ping(struct mcp_server *s, const json_t *params, json_t **result, struct rpc_err *err)
{
	*result = json_object();
	return *result ? 0 : oom(err);
}

/* Every tool at once: params.cursor, if any, is ignored. */
static int m_tools_list(struct mcp_server *s, const json_t *params, json_t **result,
			struct rpc_err *err)
{
	if (s->tools == NULL && (s->tools = mcp_tools_list()) == NULL)
		return oom(err);
	*result = json_incref(s->tools);
	return 0;
}

static json_t *arguments_error(const char *tool)
{
	struct call_error e;

	call_usage_error(&e, "arguments must be a JSON object, like {\"action\":\"list\"}");
	return mcp_tool_error(tool, NULL, &e);
}

static json_t *run_tool(struct mcp_server *s, const char *tool, const json_t *args)
{
	struct call_error e;
	json_t *out = NULL, *r;

	memset(&e, 0, sizeof(e));
	if (s->call(s->call_arg, tool, args, &out, &e) != FLOW_OK || out == NULL) {
		if (e.code == FLOW_OK) /* an executor bug; never a success without a result */
			e.code = FLOW_INTERNAL;
		return mcp_tool_error(tool, args, &e);
	}
	r = mcp_tool_result(out);
	json_decref(out);
	return r;
}

static int m_tools_call(struct mcp_server *s, const json_t *params, json_t **result,
			struct rpc_err *err)
{
	const char *tool = json_string_value(json_object_get(params, "name"));
	const json_t *args = json_object_get(params, "arguments");
	char names[256];

	if (tool == NULL)
		return rpc_fail(err, MCP_INVALID_PARAMS,
				"invalid params: tools/call needs params.name, the tool name");
	if (!mcp_tool_exposed(tool)) {
		mcp_tools_text(names, sizeof(names));
		return rpc_fail(err, MCP_INVALID_PARAMS, "unknown tool %.100s; tools: %s", tool,
				names);
	}
	*result = json_is_object(args) ? run_tool(s, tool, args) : arguments_error(tool);
	return *result ? 0 : oom(err);
}

static const struct method {
	const char *name;
	bool before_init; /* may come before initialize */
	method_fn run;
} methods[] = {
	{ "initialize", true, m_initialize },
	{ "ping", true, m_ping },
	{ "tools/list", false, m_tools_list },
	{ "tools/call", false, m_tools_call },
	{ NULL, false, NULL },
};

static const struct method *method_find(const char *name)
{
	for (const struct method *m = methods; m->name != NULL; m++)
		if (strcmp(m->name, name) == 0)
			return m;
	return NULL;
}

/* Runs a checked request; *result or an error in err. */
static int dispatch(struct mcp_server *s, const json_t *msg, json_t **result, struct rpc_err *err)
{
	const char *name = json_string_value(json_object_get(msg, "method"));
	const json_t *params = json_object_get(msg, "params");
	const struct method *m = method_find(name);

	if (m == NULL)
		return rpc_fail(err, MCP_METHOD_NOT_FOUND, "method not found: %.100s", name);
	if (!m->before_init && !s->initialized)
		return rpc_fail(err, MCP_INVALID_REQUEST, "not initialized: send initialize first");
	if (params != NULL && !json_is_object(params))
		return rpc_fail(err, MCP_INVALID_PARAMS,
				"invalid params: params must be an object");
	return m->run(s, params, result, err);
}

/* Sets *reply to the reply to a parsed message, or NULL when none is due.
 * Returns -1 when out of memory left no reply to give. */
static int handle_message(struct mcp_server *s, const json_t *msg, json_t **reply)
{
	struct rpc_err err = { 0, "" };
	const json_t *id = json_object_get(msg, "id");
	json_t *result = NULL;

	*reply = NULL;
	if (json_is_array(msg)) {
		rpc_fail(&err, MCP_INVALID_REQUEST, "batches are not supported");
		*reply = error_reply(NULL, &err);
	} else if (json_is_object(msg) && is_response(msg)) {
		return 0;
	} else if (check_request(msg, &err) != 0) {
		*reply = error_reply(valid_id(id), &err);
	} else if (id == NULL) { /* a notification: never answered; none needs acting on */
		return 0;
	} else if (dispatch(s, msg, &result, &err) != 0) {
		*reply = error_reply(id, &err);
	} else if ((*reply = result_reply(id, result)) == NULL) {
		oom(&err);
		*reply = error_reply(id, &err);
	}
	return *reply ? 0 : -1;
}

static bool blank(const char *line, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r' && line[i] != '\n')
			return false;
	return true;
}

int mcp_handle_line(struct mcp_server *s, const char *line, size_t len, json_t **reply)
{
	struct rpc_err err = { 0, "" };
	json_error_t je;
	json_t *msg;
	int rc;

	*reply = NULL;
	if (blank(line, len))
		return 0;
	msg = json_loadb(line, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
	if (msg == NULL) {
		rpc_fail(&err, MCP_PARSE_ERROR, "parse error: %s (column %d)", je.text, je.column);
		*reply = error_reply(NULL, &err);
		return *reply ? 0 : -1;
	}
	rc = handle_message(s, msg, reply);
	json_decref(msg);
	return rc;
}

struct mcp_server *mcp_server_new(mcp_call_fn call, void *arg)
{
	struct mcp_server *s = calloc(1, sizeof(*s));

	if (s != NULL) {
		s->call = call;
		s->call_arg = arg;
	}
	return s;
}

void mcp_server_free(struct mcp_server *s)
{
	if (s == NULL)
		return;
	json_decref(s->tools);
	free(s);
}

int mcp_call_flowd(void *arg, const char *tool, const json_t *args, json_t **result,
		   struct call_error *e)
{
	struct call_ctx *ctx = arg;
	int rc = call_run(ctx, tool, args, result, e);

	/* read the credentials again at the next call: the user may log in meanwhile */
	if (rc == FLOW_UNAUTHENTICATED) {
		session_free(ctx->session);
		ctx->session = NULL;
	}
	return rc;
}

/* ---- stdio ---- */

struct line_buf {
	char *data;
	size_t len, cap, max;
	bool overflow; /* the line is over max: skipped up to its newline */
};

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Writes reply (taken) as one line. */
static int send_reply(int fd, json_t *reply)
{
	char *text = json_dumps(reply, DUMP_FLAGS), *line;
	size_t n = text ? strlen(text) : 0;
	int rc;

	json_decref(reply);
	if (text == NULL || (line = realloc(text, n + 1)) == NULL) {
		free(text);
		fprintf(stderr, "flowctl mcp: out of memory: a reply was dropped\n");
		return 0;
	}
	line[n] = '\n';
	rc = write_all(fd, line, n + 1);
	free(line);
	if (rc != 0)
		fprintf(stderr, "flowctl mcp: cannot write to stdout: %s\n", strerror(errno));
	return rc;
}

/* Adds n bytes to the line; past max, the line is marked and dropped. */
static int line_add(struct line_buf *b, const char *p, size_t n)
{
	size_t cap;
	char *d;

	if (b->overflow)
		return 0;
	if (n > b->max - b->len) {
		b->overflow = true;
		b->len = 0;
		return 0;
	}
	if (b->len + n > b->cap) {
		cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		if ((d = realloc(b->data, cap)) == NULL) {
			fprintf(stderr, "flowctl mcp: out of memory\n");
			return -1;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

/* The line is complete: answers it and starts the next. */
static int line_end(struct mcp_server *s, struct line_buf *b, int out_fd)
{
	struct rpc_err err;
	json_t *reply = NULL;

	if (b->overflow) {
		fprintf(stderr, "flowctl mcp: skipped a message longer than %zu bytes\n", b->max);
		rpc_fail(&err, MCP_INVALID_REQUEST, "message too long (over %zu bytes)", b->max);
		reply = error_reply(NULL, &err);
	} else if (mcp_handle_line(s, b->data ? b->data : "", b->len, &reply) != 0) {
		fprintf(stderr, "flowctl mcp: out of memory: a message was not answered\n");
	}
	b->len = 0;
	b->overflow = false;
	return reply ? send_reply(out_fd, reply) : 0;
}

static int feed(struct mcp_server *s, struct line_buf *b, const char *p, size_t n, int out_fd)
{
	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t seg = nl ? (size_t)(nl - p) : n;

		if (line_add(b, p, seg) != 0)
			return -1;
		if (nl == NULL)
			return 0;
		if (line_end(s, b, out_fd) != 0)
			return -1;
		p += seg + 1;
		n -= seg + 1;
	}
	return 0;
}

int mcp_serve(struct mcp_server *s, int in_fd, int out_fd, size_t max_line)
{
	struct line_buf b = { NULL, 0, 0, max_line ? max_line : MCP_MAX_LINE, false };
	char chunk[65536];
	int rc = 0;

	for (;;) {
		ssize_t n = read(in_fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "flowctl mcp: cannot read stdin: %s\n", strerror(errno));
			rc = -1;
			break;
		}
		if (n == 0) { /* EOF: a last line without its newline still counts */
			if (b.len > 0 || b.overflow)
				rc = line_end(s, &b, out_fd);
			break;
		}
		if ((rc = feed(s, &b, chunk, (size_t)n, out_fd)) != 0)
			break;
	}
	free(b.data);
	return rc;
}

/* ---- the command ---- */

static const char usage[] =
    "usage: flowctl [--url URL] [--timeout MS] mcp\n"
    "Serves the MCP tools project_manager and flow_manager on stdin/stdout (JSON-RPC 2.0,\n"
    "one message per line) for an AI client, forwarding each call to flowd. Credentials:\n"
    "FLOW_TOKEN, FLOW_API_KEY or the login saved by flowctl login. See docs/mcp.md.\n";

int mcp_command(struct call_ctx *ctx, int argc, char **argv)
{
	struct mcp_server *s;
	int rc;

	if (argc == 1 && (strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0)) {
		fputs(usage, stdout);
		return CALL_EXIT_OK;
	}
	if (argc > 0) {
		fprintf(stderr, "flowctl: mcp takes no arguments\n%s", usage);
		return CALL_EXIT_USAGE;
	}
	signal(SIGPIPE, SIG_IGN); /* a client gone away is a write error, not a kill */
	if ((s = mcp_server_new(mcp_call_flowd, ctx)) == NULL) {
		fprintf(stderr, "flowctl mcp: out of memory\n");
		return CALL_EXIT_FAILED;
	}
	rc = mcp_serve(s, STDIN_FILENO, STDOUT_FILENO, 0);
	mcp_server_free(s);
	return rc == 0 ? CALL_EXIT_OK : CALL_EXIT_FAILED;
}
