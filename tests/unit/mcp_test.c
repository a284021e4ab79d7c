/*
 * mcp_test.c - `flowctl mcp` (client/mcp.c, client/mcp_schema.c) without a
 * server: JSON-RPC framing and errors, initialize negotiation, tools/list,
 * the generated input schemas (every table example and every usage-guide
 * call validates), tools/call results and error texts (with a fake
 * executor that checks arguments with the real action table), and the
 * line loop (over-long lines, a last line without newline, EOF).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "actions.h"
#include "call.h"
#include "mcp.h"
#include "mcp_schema.h"
#include "status.h"

#define INIT_LINE                                                                                  \
	"{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"                     \
	"\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},"                                  \
	"\"clientInfo\":{\"name\":\"test\",\"version\":\"1\"}}}"

/* ---- the fake executor: the real action table, then a canned outcome ---- */

static struct {
	int calls;
	json_t *result;		 /* returned on success (a reference is given) */
	struct call_error error; /* returned instead when error.code != 0 */
} fake;

static int fake_call(void *arg, const char *tool, const json_t *args, json_t **result,
		     struct call_error *e)
{
	struct action_request req;
	int rc;

	fake.calls++;
	memset(e, 0, sizeof(*e));
	*result = NULL;
	rc = action_build_request(tool, args, &req, e->message, sizeof(e->message));
	if (rc != FLOW_OK) {
		e->code = rc;
		e->usage = rc == FLOW_INVALID_ARGUMENT;
		return rc;
	}
	action_request_clear(&req);
	if (fake.error.code != FLOW_OK) {
		*e = fake.error;
		return e->code;
	}
	*result = fake.result ? json_incref(fake.result) : json_object();
	return FLOW_OK;
}

static int reset_fake(void **state)
{
	json_decref(fake.result);
	memset(&fake, 0, sizeof(fake));
	return 0;
}

/* ---- helpers ---- */

static json_t *parse(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);

	if (j == NULL)
		fail_msg("test JSON does not parse: %s: %s", je.text, text);
	return j;
}

/* The reply to line (NULL: none). */
static json_t *handle(struct mcp_server *s, const char *line)
{
	json_t *reply = (json_t *)1;

	assert_int_equal(mcp_handle_line(s, line, strlen(line), &reply), 0);
	if (reply != NULL) {
		/* every reply is one line of JSON-RPC 2.0 */
		char *text = json_dumps(reply, JSON_COMPACT);

		assert_non_null(text);
		assert_null(strchr(text, '\n'));
		free(text);
		assert_string_equal(json_string_value(json_object_get(reply, "jsonrpc")), "2.0");
	}
	return reply;
}

static struct mcp_server *new_server(void)
{
	struct mcp_server *s = mcp_server_new(fake_call, NULL);

	assert_non_null(s);
	return s;
}

static struct mcp_server *ready_server(void)
{
	struct mcp_server *s = new_server();
	json_t *r = handle(s, INIT_LINE);

	assert_non_null(json_object_get(r, "result"));
	json_decref(r);
	return s;
}

/* Checks reply (taken) is error code with id id_json, message containing want. */
static void expect_error(json_t *reply, int code, const char *id_json, const char *want)
{
	json_t *err = json_object_get(reply, "error");
	json_t *id = parse(id_json);
	const char *msg = json_string_value(json_object_get(err, "message"));

	assert_non_null(reply);
	assert_null(json_object_get(reply, "result"));
	if (!json_equal(json_object_get(reply, "id"), id)) {
		char *got = json_dumps(reply, JSON_COMPACT);

		fail_msg("reply %s: expected id %s", got, id_json);
	}
	assert_int_equal(json_integer_value(json_object_get(err, "code")), code);
	assert_non_null(msg);
	if (want != NULL && strstr(msg, want) == NULL)
		fail_msg("error message \"%s\" does not contain \"%s\"", msg, want);
	json_decref(id);
	json_decref(reply);
}

static void expect_line_error(struct mcp_server *s, const char *line, int code, const char *id_json,
			      const char *want)
{
	expect_error(handle(s, line), code, id_json, want);
}

/* The result of reply (taken) to a request with id id_json; new reference. */
static json_t *expect_result(json_t *reply, const char *id_json)
{
	json_t *id = parse(id_json);
	json_t *result = json_incref(json_object_get(reply, "result"));

	assert_non_null(reply);
	if (result == NULL) {
		char *got = json_dumps(reply, JSON_COMPACT);

		fail_msg("expected a result, got %s", got);
	}
	assert_true(json_equal(json_object_get(reply, "id"), id));
	json_decref(id);
	json_decref(reply);
	return result;
}

static json_t *call_tool(struct mcp_server *s, const char *tool, const char *args_json)
{
	char line[8192];

	snprintf(line, sizeof(line),
		 "{\"jsonrpc\":\"2.0\",\"id\":\"c\",\"method\":\"tools/call\","
		 "\"params\":{\"name\":\"%s\",\"arguments\":%s}}",
		 tool, args_json);
	return expect_result(handle(s, line), "\"c\"");
}

static const char *tool_text(const json_t *r)
{
	json_t *c = json_array_get(json_object_get(r, "content"), 0);

	assert_int_equal(json_array_size(json_object_get(r, "content")), 1);
	assert_string_equal(json_string_value(json_object_get(c, "type")), "text");
	return json_string_value(json_object_get(c, "text"));
}

static void assert_contains(const char *s, const char *want)
{
	assert_non_null(s);
	if (strstr(s, want) == NULL)
		fail_msg("\"%s\" does not contain \"%s\"", s, want);
}

/* ---- a validator for the JSON Schema subset mcp_schema.c emits ---- */

static const char *const known_keywords[] = {
	"type", "properties", "required", "enum", "minimum", "description", NULL,
};

static bool keyword_known(const char *k)
{
	for (int i = 0; known_keywords[i] != NULL; i++)
		if (strcmp(known_keywords[i], k) == 0)
			return true;
	return false;
}

static bool type_is(const json_t *v, const char *type)
{
	if (strcmp(type, "object") == 0)
		return json_is_object(v);
	if (strcmp(type, "string") == 0)
		return json_is_string(v);
	if (strcmp(type, "integer") == 0)
		return json_is_integer(v);
	if (strcmp(type, "number") == 0)
		return json_is_number(v);
	if (strcmp(type, "array") == 0)
		return json_is_array(v);
	if (strcmp(type, "boolean") == 0)
		return json_is_boolean(v);
	fail_msg("schema type %s not handled by the test validator", type);
	return false;
}

static bool type_ok(const json_t *v, const json_t *type)
{
	size_t i;
	json_t *t;

	if (type == NULL)
		return true;
	if (json_is_string(type))
		return type_is(v, json_string_value(type));
	json_array_foreach (type, i, t) {
		if (type_is(v, json_string_value(t)))
			return true;
	}
	return false;
}

static bool enum_ok(const json_t *v, const json_t *en)
{
	size_t i;
	json_t *e;

	if (en == NULL)
		return true;
	json_array_foreach (en, i, e) {
		if (json_equal(e, v))
			return true;
	}
	return false;
}

static bool validate(const json_t *schema, const json_t *v);

static bool object_ok(const json_t *schema, const json_t *v)
{
	json_t *props = json_object_get(schema, "properties"), *sub, *r;
	const char *key;
	size_t i;

	if (!json_is_object(v))
		return true;
	json_array_foreach (json_object_get(schema, "required"), i, r) {
		if (json_object_get(v, json_string_value(r)) == NULL)
			return false;
	}
	json_object_foreach (props, key, sub) {
		json_t *member = json_object_get(v, key);

		if (member != NULL && !validate(sub, member))
			return false;
	}
	return true;
}

static bool validate(const json_t *schema, const json_t *v)
{
	const json_t *min = json_object_get(schema, "minimum");
	const char *key;
	json_t *x;

	json_object_foreach ((json_t *)schema, key, x) {
		if (!keyword_known(key))
			fail_msg("schema keyword %s not handled by the test validator", key);
	}
	if (!type_ok(v, json_object_get(schema, "type")) ||
	    !enum_ok(v, json_object_get(schema, "enum")))
		return false;
	if (min != NULL && json_is_number(v) && json_number_value(v) < json_number_value(min))
		return false;
	return object_ok(schema, v);
}

static void expect_valid(const char *tool, const char *args_json, bool want)
{
	json_t *schema = mcp_tool_input_schema(tool);
	json_t *args = parse(args_json);

	assert_non_null(schema);
	if (validate(schema, args) != want)
		fail_msg("%s arguments %s: expected %s", tool, args_json,
			 want ? "valid" : "invalid");
	json_decref(args);
	json_decref(schema);
}

/* ---- framing ---- */

static void test_parse_error(void **state)
{
	struct mcp_server *s = ready_server();

	expect_line_error(s, "{", MCP_PARSE_ERROR, "null", "parse error");
	expect_line_error(s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":", MCP_PARSE_ERROR, "null",
			  "parse error");
	expect_line_error(s, "nope", MCP_PARSE_ERROR, "null", NULL);
	expect_line_error(s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"} x",
			  MCP_PARSE_ERROR, "null", NULL);
	expect_line_error(s, "\"\xff\"", MCP_PARSE_ERROR, "null", NULL); /* invalid UTF-8 */
	expect_line_error(s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"method\":\"ping\"}",
			  MCP_PARSE_ERROR, "null", "duplicate");
	mcp_server_free(s);
}

static void test_invalid_requests(void **state)
{
	static const struct {
		const char *line, *id, *want;
	} cases[] = {
		{ "5", "null", "expected a JSON-RPC 2.0 request object" },
		{ "\"ping\"", "null", "request object" },
		{ "null", "null", "request object" },
		{ "true", "null", "request object" },
		{ "{\"id\":1,\"method\":\"ping\"}", "1", "jsonrpc must be \"2.0\"" },
		{ "{\"jsonrpc\":\"1.0\",\"id\":2,\"method\":\"ping\"}", "2", "jsonrpc" },
		{ "{\"jsonrpc\":2,\"id\":2,\"method\":\"ping\"}", "2", "jsonrpc" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":5}", "3", "method must be a string" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":3}", "3", "method must be a string" },
		{ "{\"jsonrpc\":\"2.0\"}", "null", "method must be a string" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"ping\"}", "null", "id must be" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}", "null", "id must be" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}", "null", "id must be" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"ping\"}", "null", "id must be" },
		{ "{\"jsonrpc\":\"2.0\",\"id\":[1],\"method\":\"ping\"}", "null", "id must be" },
	};
	struct mcp_server *s = ready_server();

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_line_error(s, cases[i].line, MCP_INVALID_REQUEST, cases[i].id,
				  cases[i].want);
	mcp_server_free(s);
}

static void test_batch_refused(void **state)
{
	struct mcp_server *s = ready_server();

	expect_line_error(s, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]",
			  MCP_INVALID_REQUEST, "null", "batches are not supported");
	expect_line_error(s, "[]", MCP_INVALID_REQUEST, "null", "batches are not supported");
	mcp_server_free(s);
}

static void test_notifications_get_no_reply(void **state)
{
	static const char *const quiet[] = {
		"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
		"\"params\":{\"requestId\":3,\"reason\":\"user\"}}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/whatever\",\"params\":[1]}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"no/such/method\"}",
		"{\"jsonrpc\":\"2.0\",\"method\":\"tools/"
		"call\",\"params\":{\"name\":\"flow_manager\","
		"\"arguments\":{\"action\":\"queues_list\",\"projectId\":1}}}",
		/* responses: this server sends no requests, so there is nothing to answer */
		"{\"jsonrpc\":\"2.0\",\"id\":9,\"result\":{}}",
		"{\"jsonrpc\":\"2.0\",\"id\":9,\"error\":{\"code\":-1,\"message\":\"x\"}}",
		"",
		"  \t\r",
	};
	struct mcp_server *s = new_server();
	json_t *r;

	for (size_t i = 0; i < sizeof(quiet) / sizeof(quiet[0]); i++) {
		r = handle(s, quiet[i]);
		if (r != NULL)
			fail_msg("a reply to %s", quiet[i]);
	}
	assert_int_equal(fake.calls, 0); /* a tools/call notification is not run */
	r = expect_result(handle(s, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}"), "7");
	json_decref(r);
	mcp_server_free(s);
}

static void test_unknown_method(void **state)
{
	struct mcp_server *s = ready_server();

	expect_line_error(s, "{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"method\":\"resources/list\"}",
			  MCP_METHOD_NOT_FOUND, "\"abc\"", "method not found: resources/list");
	expect_line_error(s,
			  "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"notifications/initialized\"}",
			  MCP_METHOD_NOT_FOUND, "4", "notifications/initialized");
	mcp_server_free(s);
}

static void test_before_initialize(void **state)
{
	struct mcp_server *s = new_server();
	json_t *r;

	expect_line_error(s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}",
			  MCP_INVALID_REQUEST, "1", "not initialized: send initialize first");
	expect_line_error(s,
			  "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{"
			  "\"name\":\"project_manager\",\"arguments\":{\"action\":\"list\"}}}",
			  MCP_INVALID_REQUEST, "2", "not initialized");
	assert_int_equal(fake.calls, 0);
	r = expect_result(handle(s, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"}"), "3");
	assert_true(json_is_object(r));
	assert_int_equal(json_object_size(r), 0);
	json_decref(r);
	json_decref(handle(s, INIT_LINE));
	r = expect_result(handle(s, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/list\"}"),
			  "4");
	json_decref(r);
	mcp_server_free(s);
}

static json_t *initialize(struct mcp_server *s, const char *params)
{
	char line[1024];

	snprintf(line, sizeof(line),
		 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":%s}", params);
	return handle(s, line);
}

static void expect_negotiated(const char *requested_json, const char *want)
{
	struct mcp_server *s = new_server();
	char params[512];
	json_t *r, *info;

	snprintf(params, sizeof(params),
		 "{\"protocolVersion\":%s,\"capabilities\":{},\"clientInfo\":{\"name\":\"t\","
		 "\"version\":\"1\"}}",
		 requested_json);
	r = expect_result(initialize(s, params), "1");
	assert_string_equal(json_string_value(json_object_get(r, "protocolVersion")), want);
	assert_true(json_is_false(json_object_get(
	    json_object_get(json_object_get(r, "capabilities"), "tools"), "listChanged")));
	info = json_object_get(r, "serverInfo");
	assert_string_equal(json_string_value(json_object_get(info, "name")), "flowctl");
	assert_string_equal(json_string_value(json_object_get(info, "version")), FLOWCTL_VERSION);
	assert_contains(json_string_value(json_object_get(r, "instructions")),
			"processor_get_next");
	assert_contains(json_string_value(json_object_get(r, "instructions")),
			"higher = more urgent");
	json_decref(r);
	mcp_server_free(s);
}

static void test_initialize_negotiation(void **state)
{
	int n = 0;

	for (const char *const *v = mcp_protocol_versions; *v != NULL; v++, n++) {
		char quoted[64];

		snprintf(quoted, sizeof(quoted), "\"%s\"", *v);
		expect_negotiated(quoted, *v);
	}
	assert_int_equal(n, 4);
	assert_string_equal(mcp_protocol_versions[0], "2025-11-25");
	expect_negotiated("\"2099-01-01\"", MCP_PROTOCOL_LATEST); /* newer: ours */
	expect_negotiated("\"2024-10-07\"", MCP_PROTOCOL_LATEST); /* unknown */
	expect_negotiated("\"\"", MCP_PROTOCOL_LATEST);
}

static void test_initialize_errors(void **state)
{
	struct mcp_server *s = new_server();

	expect_error(initialize(s, "{\"capabilities\":{}}"), MCP_INVALID_PARAMS, "1",
		     "protocolVersion");
	expect_error(initialize(s, "{\"protocolVersion\":20251125}"), MCP_INVALID_PARAMS, "1",
		     "protocolVersion");
	expect_error(initialize(s, "[\"2025-11-25\"]"), MCP_INVALID_PARAMS, "1", "params");
	expect_line_error(s, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\"}",
			  MCP_INVALID_PARAMS, "1", "protocolVersion");
	/* still not initialized */
	expect_line_error(s, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}",
			  MCP_INVALID_REQUEST, "2", "not initialized");
	json_decref(expect_result(initialize(s, "{\"protocolVersion\":\"2025-03-26\"}"), "1"));
	expect_error(initialize(s, "{\"protocolVersion\":\"2025-03-26\"}"), MCP_INVALID_REQUEST,
		     "1", "already initialized");
	mcp_server_free(s);
}

static void test_ping(void **state)
{
	struct mcp_server *s = ready_server();
	json_t *r = expect_result(
	    handle(s, "{\"jsonrpc\":\"2.0\",\"id\":\"p-1\",\"method\":\"ping\",\"params\":{}}"),
	    "\"p-1\"");

	assert_true(json_is_object(r));
	assert_int_equal(json_object_size(r), 0);
	json_decref(r);
	mcp_server_free(s);
}

static void check_tool_entry(const json_t *t, const char *name)
{
	json_t *schema = json_object_get(t, "inputSchema");

	assert_string_equal(json_string_value(json_object_get(t, "name")), name);
	assert_non_null(json_string_value(json_object_get(t, "title")));
	assert_contains(json_string_value(json_object_get(t, "description")), "Actions:");
	assert_string_equal(json_string_value(json_object_get(schema, "type")), "object");
	assert_true(json_is_object(json_object_get(schema, "properties")));
	assert_true(
	    json_is_boolean(json_object_get(json_object_get(t, "annotations"), "destructiveHint")));
	assert_null(json_object_get(t, "outputSchema"));
}

static void test_tools_list_shape(void **state)
{
	struct mcp_server *s = ready_server();
	json_t *r =
	    expect_result(handle(s, "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/list\","
				    "\"params\":{\"cursor\":\"whatever\"}}"),
			  "5");
	json_t *tools = json_object_get(r, "tools");

	assert_int_equal(json_array_size(tools), 2);
	check_tool_entry(json_array_get(tools, 0), ACTION_TOOL_PROJECT);
	check_tool_entry(json_array_get(tools, 1), ACTION_TOOL_FLOW);
	assert_null(json_object_get(r, "nextCursor"));
	json_decref(r);
	/* the same list again (cached), and without params */
	r = expect_result(handle(s, "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/list\"}"),
			  "6");
	assert_int_equal(json_array_size(json_object_get(r, "tools")), 2);
	json_decref(r);
	expect_line_error(s,
			  "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/list\",\"params\":3}",
			  MCP_INVALID_PARAMS, "7", "params must be an object");
	mcp_server_free(s);
}

/* ---- schema ---- */

static void check_enum(const char *tool)
{
	json_t *schema = mcp_tool_input_schema(tool);
	json_t *props = json_object_get(schema, "properties");
	json_t *en = json_object_get(json_object_get(props, "action"), "enum");
	size_t n = 0;

	for (const struct action *a = action_table; a->tool != NULL; a++) {
		if (strcmp(a->tool, tool) != 0)
			continue;
		assert_string_equal(json_string_value(json_array_get(en, n)), a->name);
		n++;
		for (const struct action_arg *arg = a->args; arg->name != NULL; arg++) {
			json_t *p = json_object_get(props, arg->name);

			if (p == NULL)
				fail_msg("%s: no property for %s's %s", tool, a->name, arg->name);
			assert_string_equal(json_string_value(json_object_get(p, "type")),
					    "integer");
			assert_int_equal(json_integer_value(json_object_get(p, "minimum")), 1);
			assert_non_null(mcp_id_hint(arg->name));
		}
	}
	assert_int_equal(json_array_size(en), n);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(props, "data"), "type")), "object");
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(schema, "required"), 0)), "action");
	assert_int_equal(json_array_size(json_object_get(schema, "required")), 1);
	assert_null(json_object_get(schema, "additionalProperties"));
	json_decref(schema);
}

static void test_schema_action_enum(void **state)
{
	char text[1024];

	check_enum(ACTION_TOOL_PROJECT);
	check_enum(ACTION_TOOL_FLOW);
	assert_true(mcp_tool_exposed(ACTION_TOOL_PROJECT));
	assert_true(mcp_tool_exposed(ACTION_TOOL_FLOW));
	assert_false(mcp_tool_exposed(ACTION_TOOL_AUTH)); /* admin actions: not for AI clients */
	assert_false(mcp_tool_exposed(NULL));
	assert_null(mcp_tool_input_schema(ACTION_TOOL_AUTH));
	assert_null(mcp_tool_description(ACTION_TOOL_AUTH));
	mcp_tools_text(text, sizeof(text));
	assert_string_equal(text, "project_manager, flow_manager");
	/* the flow_manager actions `flowctl call` must offer, both vocabularies */
	mcp_tool_actions_text(ACTION_TOOL_FLOW, text, sizeof(text));
	assert_contains(text, "queues_add_item, enqueue_ticket, enqueue_task");
	assert_contains(text, "queue_items_retry, queue_items_cancel");
	mcp_tool_actions_text(ACTION_TOOL_PROJECT, text, sizeof(text));
	assert_string_equal(text, "list, get, create, update, delete, overview");
}

/* The id hints name a listing action that exists: "<tool> <action> ...". */
static void test_id_hints(void **state)
{
	static const char *const idn[] = { "projectId", "ticketId", "taskId",
					   "queueId",	"itemId",   "queueItemId" };
	char tool[64], action[64];

	for (size_t i = 0; i < sizeof(idn) / sizeof(idn[0]); i++) {
		const char *h = mcp_id_hint(idn[i]);

		assert_non_null(h);
		assert_int_equal(sscanf(h, "%63s %63s", tool, action), 2);
		if (action_find(tool, action) == NULL)
			fail_msg("hint of %s names %s %s, which does not exist", idn[i], tool,
				 action);
	}
	assert_null(mcp_id_hint("data"));
	assert_null(mcp_id_hint("keyId"));
}

static void test_schema_table_examples_validate(void **state)
{
	int n = 0;

	for (const struct action *a = action_table; a->tool != NULL; a++) {
		if (!mcp_tool_exposed(a->tool))
			continue;
		expect_valid(a->tool, a->example, true);
		n++;
	}
	assert_int_equal(n, 34);
}

/* Every call of the usage guide (usage-guide.md), as JSON: it must validate
 * against the schema and build with the action table. */
static const struct {
	const char *tool, *args;
} guide_calls[] = {
	{ "project_manager", "{\"action\":\"list\"}" },
	{ "project_manager", "{\"action\":\"overview\",\"projectId\":1754713756748}" },
	{ "flow_manager",
	  "{\"action\":\"queues_create\",\"projectId\":1754713756748,\"data\":{\"name\":"
	  "\"Security Hardening - Authentication\",\"description\":\"Complete implementation of "
	  "all 13 security fixes from SECURITY_FIXES.md audit\",\"maxParallelItems\":1}}" },
	{ "flow_manager",
	  "{\"action\":\"tickets_create\",\"projectId\":1754713756748,\"data\":{\"title\":"
	  "\"[P0-1] CRITICAL: Fix JWT Secret Hardcoded Default\",\"description\":\"**Priority:** "
	  "P0 (CRITICAL)\\n**Severity:** \xf0\x9f\x94\xb4 10/10 - CVSS 9.8\\n\\n## Vulnerability\\n"
	  "JWT signing secret defaults to a `known` string.\",\"priority\":10,\"status\":"
	  "\"pending\",\"tags\":[\"security\",\"critical\",\"p0\",\"authentication\"]}}" },
	{ "flow_manager",
	  "{\"action\":\"tickets_create\",\"projectId\":1754713756748,\"data\":{\"title\":"
	  "\"[P1-3] MEDIUM: Remove Client-Side Token Expiry Authority\",\"description\":\"x\","
	  "\"priority\":5,\"status\":\"pending\",\"tags\":[\"security\",\"medium\",\"p1\","
	  "\"client-auth\"]}}" },
	{ "flow_manager",
	  "{\"action\":\"tasks_create\",\"ticketId\":456,\"data\":{\"content\":\"Implement JWT "
	  "secret validation function\",\"description\":\"Add validateJwtSecret() function "
	  "with:\\n- Minimum length check (32 chars)\",\"status\":\"pending\",\"estimatedHours\":1,"
	  "\"tags\":[\"security\",\"validation\"]}}" },
	{ "flow_manager",
	  "{\"action\":\"tasks_create\",\"ticketId\":456,\"data\":{\"content\":\"Add server "
	  "startup security checks\",\"description\":\"...\",\"status\":\"pending\","
	  "\"estimatedHours\":0.5,\"tags\":[\"security\",\"startup\"]}}" },
	{ "flow_manager",
	  "{\"action\":\"queues_add_item\",\"queueId\":123,\"data\":{\"ticketId\":456,"
	  "\"priority\":10}}" },
	{ "flow_manager",
	  "{\"action\":\"queues_add_item\",\"queueId\":123,\"data\":{\"ticketId\":458,"
	  "\"priority\":8}}" },
	{ "flow_manager", "{\"action\":\"processor_get_next\",\"queueId\":123}" },
	{ "flow_manager",
	  "{\"action\":\"tasks_update\",\"taskId\":789,\"data\":{\"status\":\"completed\","
	  "\"completionNotes\":\"JWT secret validation implemented with all checks. Tests "
	  "passing.\"}}" },
	{ "flow_manager",
	  "{\"action\":\"processor_complete\",\"itemId\":890,\"data\":{\"completionNotes\":"
	  "\"Task completed successfully\"}}" },
	{ "flow_manager", "{\"action\":\"processor_complete\",\"itemId\":890}" },
	{ "flow_manager", "{\"action\":\"queues_get_stats\",\"queueId\":123}" },
	{ "flow_manager",
	  "{\"action\":\"tickets_list\",\"projectId\":1754713756748,\"data\":{\"status\":"
	  "\"all\"}}" },
	{ "flow_manager",
	  "{\"action\":\"tasks_list\",\"ticketId\":456,\"data\":{\"status\":\"all\"}}" },
	{ "flow_manager",
	  "{\"action\":\"queues_create\",\"projectId\":1754713756748,\"data\":{\"name\":"
	  "\"Security Hardening\",\"maxParallelItems\":1}}" },
};

static void test_schema_usage_guide_validates(void **state)
{
	for (size_t i = 0; i < sizeof(guide_calls) / sizeof(guide_calls[0]); i++) {
		struct action_request r;
		char err[1024];
		json_t *args = parse(guide_calls[i].args);

		expect_valid(guide_calls[i].tool, guide_calls[i].args, true);
		if (action_build_request(guide_calls[i].tool, args, &r, err, sizeof(err)) != 0)
			fail_msg("usage guide call %s does not build: %s", guide_calls[i].args,
				 err);
		action_request_clear(&r);
		json_decref(args);
	}
}

static void test_schema_rejects(void **state)
{
	expect_valid("flow_manager", "{\"queueId\":1}", false);
	expect_valid("flow_manager", "{\"action\":\"nope\"}", false);
	expect_valid("flow_manager", "{\"action\":\"list\"}", false); /* project_manager's */
	expect_valid("project_manager", "{\"action\":\"tickets_list\",\"projectId\":1}", false);
	expect_valid("project_manager", "{\"action\":\"get\",\"projectId\":\"abc\"}", false);
	expect_valid("project_manager", "{\"action\":\"get\",\"projectId\":0}", false);
	expect_valid("project_manager", "{\"action\":\"get\",\"projectId\":1.5}", false);
	expect_valid("flow_manager", "{\"action\":\"tickets_list\",\"projectId\":1,\"data\":\"x\"}",
		     false);
	expect_valid("flow_manager", "{\"action\":7}", false);
	expect_valid("flow_manager", "[]", false);
}

static void test_description(void **state)
{
	for (const char *const *t =
		 (const char *const[]){ ACTION_TOOL_PROJECT, ACTION_TOOL_FLOW, NULL };
	     *t != NULL; t++) {
		char *d = mcp_tool_description(*t);

		assert_non_null(d);
		for (const struct action *a = action_table; a->tool != NULL; a++) {
			char line[256];

			snprintf(line, sizeof(line), "- %s: %s", a->name, a->summary);
			if (strcmp(a->tool, *t) == 0) {
				assert_contains(d, line);
				assert_contains(d, a->example);
			} else if (strstr(d, line) != NULL) {
				fail_msg("%s's description has %s's %s", *t, a->tool, a->name);
			}
		}
		free(d);
	}
}

/* ---- tools/call ---- */

static void test_tools_call_success(void **state)
{
	struct mcp_server *s = ready_server();
	json_t *r, *sc;
	char *want;

	fake.result = parse("{\"id\":3,\"name\":\"Security\",\"maxParallelItems\":1,"
			    "\"description\":\"two\\nlines\",\"ratio\":64.998}");
	r = call_tool(s, "flow_manager",
		      "{\"action\":\"queues_create\",\"projectId\":1,\"data\":{\"name\":"
		      "\"Security\",\"maxParallelItems\":1}}");
	assert_int_equal(fake.calls, 1);
	assert_true(json_is_false(json_object_get(r, "isError")));
	assert_true(json_equal(json_object_get(r, "structuredContent"), fake.result));
	want = json_dumps(fake.result, JSON_COMPACT | JSON_REAL_PRECISION(15));
	assert_string_equal(tool_text(r), want);
	assert_contains(tool_text(r), "\"ratio\":64.998}");
	free(want);
	json_decref(r);

	/* a result that is not an object: structuredContent wraps it */
	json_decref(fake.result);
	fake.result = parse("[1,2]");
	r = call_tool(s, "project_manager", "{\"action\":\"list\"}");
	sc = json_object_get(r, "structuredContent");
	assert_true(json_equal(json_object_get(sc, "result"), fake.result));
	assert_string_equal(tool_text(r), "[1,2]");
	assert_true(json_is_false(json_object_get(r, "isError")));
	json_decref(r);
	mcp_server_free(s);
}

static void test_get_next_empty_is_not_an_error(void **state)
{
	struct mcp_server *s = ready_server();
	json_t *r;

	fake.result = parse("{\"found\":false,\"message\":\"queue 1 has no queued items\"}");
	r = call_tool(s, "flow_manager", "{\"action\":\"processor_get_next\",\"queueId\":1}");
	assert_true(json_is_false(json_object_get(r, "isError")));
	assert_contains(tool_text(r), "\"found\":false");
	assert_contains(tool_text(r), "no queued items");
	json_decref(r);
	mcp_server_free(s);
}

static void test_tools_call_protocol_errors(void **state)
{
	struct mcp_server *s = ready_server();

	expect_line_error(s,
			  "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{"
			  "\"name\":\"auth_manager\",\"arguments\":{\"action\":\"users_list\"}}}",
			  MCP_INVALID_PARAMS, "1",
			  "unknown tool auth_manager; tools: project_manager, flow_manager");
	expect_line_error(s,
			  "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{"
			  "\"arguments\":{\"action\":\"list\"}}}",
			  MCP_INVALID_PARAMS, "2", "params.name");
	expect_line_error(s, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\"}",
			  MCP_INVALID_PARAMS, "3", "params.name");
	expect_line_error(s,
			  "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{"
			  "\"name\":7}}",
			  MCP_INVALID_PARAMS, "4", "params.name");
	assert_int_equal(fake.calls, 0);
	mcp_server_free(s);
}

/* Checks r (taken) is a tool error: text starts with head, contains want
 * (NULL: none), and structuredContent.error.code is code. */
static void expect_tool_error(json_t *r, const char *code, const char *head, const char *want)
{
	json_t *err = json_object_get(json_object_get(r, "structuredContent"), "error");
	const char *text = tool_text(r);

	assert_true(json_is_true(json_object_get(r, "isError")));
	if (strncmp(text, head, strlen(head)) != 0)
		fail_msg("tool error \"%s\" does not start with \"%s\"", text, head);
	if (want != NULL)
		assert_contains(text, want);
	assert_string_equal(json_string_value(json_object_get(err, "code")), code);
	assert_non_null(json_string_value(json_object_get(err, "message")));
	if (strstr(text, "\nSuggestion: ") != NULL)
		assert_contains(text, json_string_value(json_object_get(err, "suggestion")));
	else
		assert_null(json_object_get(err, "suggestion"));
	json_decref(r);
}

static void test_tools_call_argument_errors(void **state)
{
	struct mcp_server *s = ready_server();

	expect_tool_error(call_tool(s, "flow_manager", "null"), "INVALID_ARGUMENT",
			  "Error (INVALID_ARGUMENT): arguments must be a JSON object",
			  "\nSuggestion: flow_manager actions: tickets_create, ");
	expect_tool_error(call_tool(s, "flow_manager", "\"queues_list\""), "INVALID_ARGUMENT",
			  "Error (INVALID_ARGUMENT): arguments must be a JSON object", NULL);
	assert_int_equal(fake.calls, 0);
	expect_tool_error(call_tool(s, "flow_manager", "{\"action\":\"tickets_fly\"}"),
			  "INVALID_ARGUMENT",
			  "Error (INVALID_ARGUMENT): unknown flow_manager action \"tickets_fly\"",
			  "\nSuggestion: flow_manager actions: tickets_create, tickets_get");
	expect_tool_error(call_tool(s, "flow_manager", "{\"projectId\":1}"), "INVALID_ARGUMENT",
			  "Error (INVALID_ARGUMENT): missing action",
			  "Suggestion: flow_manager actions:");
	expect_tool_error(call_tool(s, "project_manager", "{\"action\":\"users_list\"}"),
			  "INVALID_ARGUMENT", "Error (INVALID_ARGUMENT): unknown project_manager",
			  "Suggestion: project_manager actions: list, get, create, update, "
			  "delete, overview");
	expect_tool_error(call_tool(s, "flow_manager",
				    "{\"action\":\"tickets_create\",\"data\":{\"title\":\"x\"}}"),
			  "INVALID_ARGUMENT",
			  "Error (INVALID_ARGUMENT): tickets_create requires projectId",
			  "\nSuggestion: tickets_create takes ids: projectId (required); data: "
			  "title, overview, ");
	expect_tool_error(call_tool(s, "flow_manager",
				    "{\"action\":\"queues_create\",\"projectId\":1,\"data\":{"
				    "\"name\":\"q\",\"maxParallelItems\":\"one\"}}"),
			  "INVALID_ARGUMENT", "Error (INVALID_ARGUMENT): data.maxParallelItems",
			  "example: {\"action\":\"queues_create\"");
	expect_tool_error(
	    call_tool(s, "project_manager", "{\"action\":\"get\",\"projectId\":\"abc\"}"),
	    "INVALID_ARGUMENT",
	    "Error (INVALID_ARGUMENT): projectId: expected a "
	    "positive integer",
	    "Suggestion: get takes ids: projectId (required)");
	mcp_server_free(s);
}

static void test_tools_call_server_errors(void **state)
{
	struct mcp_server *s = ready_server();
	json_t *r, *err;

	fake.error.code = FLOW_NOT_FOUND;
	snprintf(fake.error.message, sizeof(fake.error.message), "ticket 9 not found");
	snprintf(fake.error.request_id, sizeof(fake.error.request_id), "r-42");
	r = call_tool(s, "flow_manager", "{\"action\":\"tickets_get\",\"ticketId\":9}");
	err = json_object_get(json_object_get(r, "structuredContent"), "error");
	assert_string_equal(json_string_value(json_object_get(err, "requestId")), "r-42");
	expect_tool_error(r, "NOT_FOUND",
			  "Error (NOT_FOUND): ticket 9 not found\nSuggestion: ticketId may not "
			  "exist: flow_manager tickets_list",
			  NULL);

	fake.error.code = FLOW_RESOURCE_EXHAUSTED;
	fake.error.retry_after_ms = 1500;
	snprintf(fake.error.message, sizeof(fake.error.message), "rate limit");
	r = call_tool(s, "project_manager", "{\"action\":\"list\"}");
	err = json_object_get(json_object_get(r, "structuredContent"), "error");
	assert_int_equal(json_integer_value(json_object_get(err, "retryAfterMs")), 1500);
	expect_tool_error(r, "RESOURCE_EXHAUSTED",
			  "Error (RESOURCE_EXHAUSTED): rate limit\nSuggestion: retry after 1500 ms",
			  NULL);
	mcp_server_free(s);
}

/* mcp_tool_error alone: the text for each kind of failure. */
static void tool_error(int code, uint32_t retry, const char *msg, const char *args_json,
		       const char *head, const char *want)
{
	struct call_error e;
	json_t *args = args_json ? parse(args_json) : NULL;

	memset(&e, 0, sizeof(e));
	e.code = code;
	e.retry_after_ms = retry;
	snprintf(e.message, sizeof(e.message), "%s", msg);
	expect_tool_error(mcp_tool_error("flow_manager", args, &e), status_name(code), head, want);
	json_decref(args);
}

static void test_tool_error_texts(void **state)
{
	tool_error(FLOW_UNAUTHENTICATED, 0, "token expired (run flowctl login)",
		   "{\"action\":\"queues_list\",\"projectId\":1}",
		   "Error (UNAUTHENTICATED): token expired (run flowctl login)\nSuggestion: log in "
		   "with `flowctl login`",
		   "FLOW_TOKEN or FLOW_API_KEY");
	tool_error(FLOW_PERMISSION_DENIED, 0, "not a member of project 1",
		   "{\"action\":\"queues_list\",\"projectId\":1}",
		   "Error (PERMISSION_DENIED): not a member of project 1\nSuggestion: ", NULL);
	tool_error(FLOW_UNAVAILABLE, 0, "cannot connect to flowd", "{\"action\":\"x\"}",
		   "Error (UNAVAILABLE): cannot connect to flowd\nSuggestion: retry in a few "
		   "seconds",
		   "--url or FLOW_URL");
	tool_error(FLOW_UNAVAILABLE, 250, "draining", NULL,
		   "Error (UNAVAILABLE): draining\nSuggestion: retry after 250 ms", NULL);
	tool_error(FLOW_DEADLINE_EXCEEDED, 0, "deadline exceeded", NULL,
		   "Error (DEADLINE_EXCEEDED): deadline exceeded\nSuggestion: flowd did not answer "
		   "in time",
		   NULL);
	tool_error(FLOW_NOT_FOUND, 0, "queue item 7 not found",
		   "{\"action\":\"processor_complete\",\"itemId\":7}",
		   "Error (NOT_FOUND): queue item 7 not found\nSuggestion: itemId may not exist: "
		   "flow_manager processor_get_next",
		   NULL);
	tool_error(FLOW_NOT_FOUND, 0, "ticket 2 not found",
		   "{\"action\":\"queues_add_item\",\"queueId\":1,\"data\":{\"ticketId\":2}}",
		   "Error (NOT_FOUND): ticket 2 not found\nSuggestion: queueId may not exist: "
		   "flow_manager queues_list",
		   "; ticketId may not exist: flow_manager tickets_list");
	/* no suggestion helps: no second line, no "suggestion" key */
	tool_error(FLOW_FAILED_PRECONDITION, 0, "queue 1 is paused", NULL,
		   "Error (FAILED_PRECONDITION): queue 1 is paused", NULL);
	tool_error(FLOW_ALREADY_EXISTS, 0, "ticket 2 is already on a queue", NULL,
		   "Error (ALREADY_EXISTS): ticket 2 is already on a queue", NULL);
	/* a message cut inside a UTF-8 character still makes valid JSON */
	tool_error(FLOW_INTERNAL, 0, "broken \xf0\x9f\x94", NULL, "Error (INTERNAL): broken ",
		   NULL);
}

/* ---- the line loop ---- */

static int temp_fd_with(const char *data, size_t len)
{
	char path[] = "/tmp/mcp_test_XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

static char *read_all(int fd)
{
	off_t end = lseek(fd, 0, SEEK_END);
	char *buf = calloc(1, (size_t)end + 1);

	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, (size_t)end, 0), end);
	return buf;
}

static void test_serve_lines(void **state)
{
	char long_line[700];
	char *input, *output, *line, *save = NULL;
	int in, out, n = 0;
	json_t *replies[8];
	struct mcp_server *s = new_server();

	memset(long_line, 'x', sizeof(long_line) - 1);
	long_line[sizeof(long_line) - 1] = '\0';
	input = malloc(4096);
	assert_non_null(input);
	snprintf(input, 4096,
		 INIT_LINE
		 "\r\n"
		 "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n"
		 "\n"
		 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"pad\":\"%s\"}}\n"
		 "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}\n"
		 "{bad\n"
		 "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"}",
		 long_line);
	in = temp_fd_with(input, strlen(input));
	out = temp_fd_with("", 0);
	assert_int_equal(mcp_serve(s, in, out, 512), 0);
	output = read_all(out);
	for (line = strtok_r(output, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		assert_true(n < 8);
		replies[n++] = parse(line);
	}
	assert_int_equal(n, 5);
	json_decref(expect_result(replies[0], "0"));
	expect_error(replies[1], MCP_INVALID_REQUEST, "null", "message too long (over 512 bytes)");
	json_decref(expect_result(replies[2], "2"));
	expect_error(replies[3], MCP_PARSE_ERROR, "null", NULL);
	json_decref(expect_result(replies[4], "3")); /* the last line had no newline */
	free(output);
	free(input);
	close(in);
	close(out);
	mcp_server_free(s);
}

static void test_serve_empty_input(void **state)
{
	struct mcp_server *s = new_server();
	int in = temp_fd_with("", 0), out = temp_fd_with("", 0);
	char *output;

	assert_int_equal(mcp_serve(s, in, out, 0), 0);
	output = read_all(out);
	assert_string_equal(output, "");
	free(output);
	close(in);
	close(out);
	mcp_server_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_parse_error, reset_fake),
		cmocka_unit_test_teardown(test_invalid_requests, reset_fake),
		cmocka_unit_test_teardown(test_batch_refused, reset_fake),
		cmocka_unit_test_teardown(test_notifications_get_no_reply, reset_fake),
		cmocka_unit_test_teardown(test_unknown_method, reset_fake),
		cmocka_unit_test_teardown(test_before_initialize, reset_fake),
		cmocka_unit_test_teardown(test_initialize_negotiation, reset_fake),
		cmocka_unit_test_teardown(test_initialize_errors, reset_fake),
		cmocka_unit_test_teardown(test_ping, reset_fake),
		cmocka_unit_test_teardown(test_tools_list_shape, reset_fake),
		cmocka_unit_test_teardown(test_schema_action_enum, reset_fake),
		cmocka_unit_test_teardown(test_id_hints, reset_fake),
		cmocka_unit_test_teardown(test_schema_table_examples_validate, reset_fake),
		cmocka_unit_test_teardown(test_schema_usage_guide_validates, reset_fake),
		cmocka_unit_test_teardown(test_schema_rejects, reset_fake),
		cmocka_unit_test_teardown(test_description, reset_fake),
		cmocka_unit_test_teardown(test_tools_call_success, reset_fake),
		cmocka_unit_test_teardown(test_get_next_empty_is_not_an_error, reset_fake),
		cmocka_unit_test_teardown(test_tools_call_protocol_errors, reset_fake),
		cmocka_unit_test_teardown(test_tools_call_argument_errors, reset_fake),
		cmocka_unit_test_teardown(test_tools_call_server_errors, reset_fake),
		cmocka_unit_test_teardown(test_tool_error_texts, reset_fake),
		cmocka_unit_test_teardown(test_serve_lines, reset_fake),
		cmocka_unit_test_teardown(test_serve_empty_input, reset_fake),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
