/*
 * e2e.mcp: `flowctl --url URL mcp` as an AI client runs it, against the
 * real flowd: initialize, tools/list, real tool calls (a project, a queue
 * and a ticket, processor_get_next on an empty queue, then enqueue, claim
 * and complete), with protocol errors interleaved that each get the right
 * answer while the server keeps serving; EOF ends it with status 0; stdout
 * holds only JSON-RPC messages. Also: no credentials, then a `flowctl
 * login` the running server picks up; and a hung flowd, which costs a call
 * its --timeout, not the server.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "testsupport.h"
#include "ts_flowd.h"

#define REPLY_TIMEOUT_MS 15000

static struct ts_flowd flowd;

static int setup(void **state)
{
	return ts_flowd_start(&flowd, NULL, NULL);
}

static int teardown(void **state)
{
	/* a failed test_hung_flowd may leave it stopped, deaf to SIGTERM */
	ts_kill(flowd.pid, SIGCONT);
	return ts_flowd_stop(&flowd) == 0 ? 0 : -1;
}

/* ---- a flowctl mcp child on two pipes ---- */

struct mcp_child {
	pid_t pid;
	int to;	  /* its stdin */
	int from; /* its stdout */
	char err_path[700];
	char buf[1 << 20]; /* stdout read so far, not yet returned */
	size_t len;
	int lines; /* stdout lines read, each a JSON-RPC message */
};

/* In the child: stdin/stdout on the pipes, stderr to a file, env_extra
 * ("NAME=value") set, then flowctl [--timeout T] --url URL mcp. */
static void child_exec(struct mcp_child *c, int in, int out, const char *timeout,
		       char *const env_extra[])
{
	char *argv[8];
	int n = 0, err = open(c->err_path, O_WRONLY | O_CREAT | O_APPEND, 0600);

	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || err < 0 || dup2(err, 2) < 0)
		_exit(127);
	for (int i = 0; env_extra != NULL && env_extra[i] != NULL; i++)
		putenv(env_extra[i]);
	argv[n++] = (char *)ts_bin("flowctl");
	if (timeout != NULL) {
		argv[n++] = "--timeout";
		argv[n++] = (char *)timeout;
	}
	argv[n++] = "--url";
	argv[n++] = flowd.url;
	argv[n++] = "mcp";
	argv[n] = NULL;
	execv(argv[0], argv);
	_exit(127);
}

static struct mcp_child *mcp_start(const char *name, const char *timeout, char *const env[])
{
	struct mcp_child *c = calloc(1, sizeof(*c));
	int in[2], out[2];

	assert_non_null(c);
	snprintf(c->err_path, sizeof(c->err_path), "%s/%s.stderr", flowd.dir, name);
	assert_int_equal(pipe(in), 0);
	assert_int_equal(pipe(out), 0);
	c->pid = fork();
	assert_true(c->pid >= 0);
	if (c->pid == 0) {
		close(in[1]);
		close(out[0]);
		child_exec(c, in[0], out[1], timeout, env);
	}
	close(in[0]);
	close(out[1]);
	c->to = in[1];
	c->from = out[0];
	return c;
}

static void mcp_send(struct mcp_child *c, const char *line)
{
	size_t n = strlen(line);

	assert_int_equal(write(c->to, line, n), (ssize_t)n);
	assert_int_equal(write(c->to, "\n", 1), 1);
}

/* Reads up to the next newline; NULL on EOF. Fails the test on a timeout. */
static char *read_line(struct mcp_child *c, int timeout_ms)
{
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		struct pollfd p = { c->from, POLLIN, 0 };
		ssize_t n;

		if (nl != NULL) {
			size_t k = (size_t)(nl - c->buf);
			char *line = strndup(c->buf, k);

			memmove(c->buf, nl + 1, c->len - k - 1);
			c->len -= k + 1;
			return line;
		}
		if (poll(&p, 1, timeout_ms) == 0)
			fail_msg("flowctl mcp did not answer within %d ms", timeout_ms);
		assert_true(c->len < sizeof(c->buf));
		n = read(c->from, c->buf + c->len, sizeof(c->buf) - c->len);
		if (n < 0 && errno == EINTR)
			continue;
		assert_true(n >= 0);
		if (n == 0) {
			assert_int_equal(c->len, 0); /* nothing after the last newline */
			return NULL;
		}
		c->len += (size_t)n;
	}
}

/* The next message on stdout: one line of JSON-RPC 2.0. */
static json_t *mcp_recv(struct mcp_child *c)
{
	char *line = read_line(c, REPLY_TIMEOUT_MS);
	json_error_t je;
	json_t *j;

	if (line == NULL)
		fail_msg("flowctl mcp closed stdout");
	j = json_loads(line, 0, &je);
	if (j == NULL)
		fail_msg("stdout line %d is not JSON (%s): %.300s", c->lines + 1, je.text, line);
	free(line);
	c->lines++;
	assert_string_equal(json_string_value(json_object_get(j, "jsonrpc")), "2.0");
	return j;
}

/* Sends a request (id, method, params JSON or NULL) and returns the reply. */
static json_t *mcp_rpc(struct mcp_child *c, int id, const char *method, const char *params)
{
	char line[8192];
	json_t *r;
	int n = snprintf(line, sizeof(line),
			 "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\"%s%s}", id, method,
			 params ? ",\"params\":" : "", params ? params : "");

	assert_true(n > 0 && (size_t)n < sizeof(line));
	mcp_send(c, line);
	r = mcp_recv(c);
	assert_int_equal(json_integer_value(json_object_get(r, "id")), id);
	return r;
}

static void expect_rpc_error(json_t *r, int code, const char *id_or_null, const char *want)
{
	json_t *err = json_object_get(r, "error");
	const char *msg = json_string_value(json_object_get(err, "message"));

	assert_non_null(err);
	assert_int_equal(json_integer_value(json_object_get(err, "code")), code);
	if (id_or_null == NULL)
		assert_true(json_is_null(json_object_get(r, "id")));
	if (want != NULL && (msg == NULL || strstr(msg, want) == NULL))
		fail_msg("error \"%s\" does not contain \"%s\"", msg ? msg : "", want);
	json_decref(r);
}

static int next_id = 100;

/* tools/call; returns the result (new reference) after checking isError. */
static json_t *tool(struct mcp_child *c, const char *name, const char *args, bool want_error)
{
	char params[8192];
	json_t *r, *res;

	snprintf(params, sizeof(params), "{\"name\":\"%s\",\"arguments\":%s}", name, args);
	r = mcp_rpc(c, next_id++, "tools/call", params);
	res = json_incref(json_object_get(r, "result"));
	json_decref(r);
	assert_non_null(res);
	if (json_is_true(json_object_get(res, "isError")) != want_error) {
		char *t = json_dumps(res, JSON_COMPACT);

		fail_msg("%s %s: expected %s, got %s", name, args,
			 want_error ? "an error" : "success", t);
	}
	assert_true(json_is_object(json_object_get(res, "structuredContent")));
	return res;
}

static const char *text_of(const json_t *res)
{
	return json_string_value(
	    json_object_get(json_array_get(json_object_get(res, "content"), 0), "text"));
}

/* A successful call's structuredContent field key, an id. */
static json_int_t tool_id(struct mcp_child *c, const char *name, const char *args, const char *key)
{
	json_t *res = tool(c, name, args, false);
	json_int_t id =
	    json_integer_value(json_object_get(json_object_get(res, "structuredContent"), key));

	assert_true(id > 0);
	json_decref(res);
	return id;
}

static void expect_tool_error(struct mcp_child *c, const char *name, const char *args,
			      const char *code, const char *want)
{
	json_t *res = tool(c, name, args, true);
	const char *text = text_of(res);
	char head[64];

	snprintf(head, sizeof(head), "Error (%s): ", code);
	assert_non_null(text);
	if (strncmp(text, head, strlen(head)) != 0 || (want && strstr(text, want) == NULL))
		fail_msg("tool error \"%s\": expected \"%s...%s\"", text, head, want ? want : "");
	json_decref(res);
}

static void initialize(struct mcp_child *c, const char *version)
{
	char params[256];
	json_t *r, *res;

	snprintf(params, sizeof(params),
		 "{\"protocolVersion\":\"%s\",\"capabilities\":{},\"clientInfo\":{\"name\":"
		 "\"e2e\",\"version\":\"1.0\"}}",
		 version);
	r = mcp_rpc(c, 1, "initialize", params);
	res = json_object_get(r, "result");
	assert_string_equal(json_string_value(json_object_get(res, "protocolVersion")), version);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(res, "serverInfo"), "name")),
	    "flowctl");
	json_decref(r);
	mcp_send(c, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
}

/* EOF on stdin: exit 0, nothing more on stdout; returns stderr's text. */
static char *mcp_finish(struct mcp_child *c)
{
	int status = -1;
	char *line, *err;

	close(c->to);
	line = read_line(c, REPLY_TIMEOUT_MS);
	if (line != NULL)
		fail_msg("output after EOF: %.200s", line);
	assert_int_equal(ts_wait_exit(c->pid, 10000, &status), 0);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	close(c->from);
	err = ts_read_file(c->err_path, NULL);
	free(c);
	return err ? err : strdup("");
}

static void ping(struct mcp_child *c, int id)
{
	json_t *r = mcp_rpc(c, id, "ping", NULL);

	assert_true(json_is_object(json_object_get(r, "result")));
	assert_int_equal(json_object_size(json_object_get(r, "result")), 0);
	json_decref(r);
}

/* ---- tests ---- */

static void check_tools_list(struct mcp_child *c)
{
	json_t *r = mcp_rpc(c, 2, "tools/list", NULL);
	json_t *tools = json_object_get(json_object_get(r, "result"), "tools");

	assert_int_equal(json_array_size(tools), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(tools, 0), "name")),
			    "project_manager");
	assert_string_equal(json_string_value(json_object_get(json_array_get(tools, 1), "name")),
			    "flow_manager");
	json_decref(r);
}

static void protocol_errors(struct mcp_child *c)
{
	mcp_send(c, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":");
	expect_rpc_error(mcp_recv(c), -32700, NULL, "parse error");
	/* a notification (no id) gets no reply: the next line is the ping's */
	mcp_send(c, "{\"jsonrpc\":\"2.0\",\"method\":\"ping\"}");
	mcp_send(c, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
		    "\"params\":{\"requestId\":5}}");
	ping(c, 4);
	expect_rpc_error(mcp_rpc(c, 5, "resources/list", NULL), -32601, "5", "method not found");
	mcp_send(c, "[{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"ping\"}]");
	expect_rpc_error(mcp_recv(c), -32600, NULL, "batches are not supported");
	mcp_send(c, "{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}");
	expect_rpc_error(mcp_recv(c), -32600, NULL, "id must be");
	expect_rpc_error(
	    mcp_rpc(c, 7, "tools/call",
		    "{\"name\":\"auth_manager\",\"arguments\":{\"action\":\"whoami\"}}"),
	    -32602, "7", "unknown tool auth_manager; tools: project_manager, flow_manager");
}

static void argument_errors(struct mcp_child *c, json_int_t project)
{
	char args[512];

	expect_tool_error(c, "flow_manager", "{\"action\":\"tickets_fly\"}", "INVALID_ARGUMENT",
			  "\nSuggestion: flow_manager actions: tickets_create");
	expect_tool_error(c, "flow_manager",
			  "{\"action\":\"tickets_create\",\"data\":{\"title\":"
			  "\"t\"}}",
			  "INVALID_ARGUMENT", "requires projectId");
	expect_tool_error(c, "project_manager", "{\"action\":\"get\",\"projectId\":\"abc\"}",
			  "INVALID_ARGUMENT", "projectId: expected a positive integer");
	snprintf(args, sizeof(args),
		 "{\"action\":\"tickets_create\",\"projectId\":%lld,\"data\":{\"title\":\"t\","
		 "\"priority\":true}}",
		 (long long)project);
	expect_tool_error(c, "flow_manager", args, "INVALID_ARGUMENT", "data.priority");
	expect_tool_error(c, "flow_manager", "{\"action\":\"tickets_get\",\"ticketId\":987654321}",
			  "NOT_FOUND",
			  "\nSuggestion: ticketId may not exist: flow_manager tickets_list");
	expect_tool_error(c, "flow_manager", "null", "INVALID_ARGUMENT",
			  "arguments must be a JSON object");
}

/* processor_get_next on an empty queue is a result, not an error. */
static void get_next_empty(struct mcp_child *c, json_int_t queue)
{
	char args[256];
	json_t *res;

	snprintf(args, sizeof(args), "{\"action\":\"processor_get_next\",\"queueId\":%lld}",
		 (long long)queue);
	res = tool(c, "flow_manager", args, false);
	assert_true(
	    json_is_false(json_object_get(json_object_get(res, "structuredContent"), "found")));
	assert_non_null(strstr(text_of(res), "\"found\":false"));
	assert_non_null(strstr(text_of(res), "no queued items"));
	json_decref(res);
}

static void process_one(struct mcp_child *c, json_int_t queue, json_int_t ticket)
{
	char args[512];
	json_int_t item;

	snprintf(args, sizeof(args),
		 "{\"action\":\"queues_add_item\",\"queueId\":%lld,\"data\":{\"ticketId\":%lld,"
		 "\"priority\":10}}",
		 (long long)queue, (long long)ticket);
	json_decref(tool(c, "flow_manager", args, false));
	snprintf(args, sizeof(args), "{\"action\":\"processor_get_next\",\"queueId\":%lld}",
		 (long long)queue);
	item = tool_id(c, "flow_manager", args, "queueItemId");
	snprintf(args, sizeof(args),
		 "{\"action\":\"processor_complete\",\"itemId\":%lld,\"data\":{"
		 "\"completionNotes\":\"done\"}}",
		 (long long)item);
	json_decref(tool(c, "flow_manager", args, false));
}

static void test_session(void **state)
{
	struct mcp_child *c = mcp_start("session", NULL, NULL);
	json_int_t project, queue, ticket;
	char args[512], *err;

	initialize(c, "2025-11-25");
	check_tools_list(c);
	protocol_errors(c);
	project = tool_id(
	    c, "project_manager",
	    "{\"action\":\"create\",\"data\":{\"name\":\"mcp-e2e\",\"path\":\"/src/x\"}}", "id");
	snprintf(args, sizeof(args),
		 "{\"action\":\"queues_create\",\"projectId\":%lld,\"data\":{\"name\":"
		 "\"Security Hardening\",\"maxParallelItems\":1}}",
		 (long long)project);
	queue = tool_id(c, "flow_manager", args, "id");
	snprintf(args, sizeof(args),
		 "{\"action\":\"tickets_create\",\"projectId\":%lld,\"data\":{\"title\":\"[P0-1] "
		 "Fix it\",\"description\":\"line 1\\nline 2\",\"priority\":10,\"status\":"
		 "\"pending\",\"tags\":[\"security\"]}}",
		 (long long)project);
	ticket = tool_id(c, "flow_manager", args, "id");
	get_next_empty(c, queue);
	argument_errors(c, project);
	process_one(c, queue, ticket);
	ping(c, 99);
	err = mcp_finish(c);
	assert_null(strstr(err, flowd.token));
	free(err);
}

/* Without credentials: UNAUTHENTICATED with what to do; after a flowctl
 * login (same credentials file) the running server uses the new login. */
static void test_login_picked_up(void **state)
{
	char cred[700], env_cred[760], *err, *out = NULL, *serr = NULL;
	char *env[] = { "FLOW_TOKEN=", "FLOW_API_KEY=", env_cred, NULL };
	char *login[] = { (char *)ts_bin("flowctl"), "--url", flowd.url, "login", TS_ADMIN_USER,
			  "--password-stdin",	     NULL };
	char *saved = strdup(getenv("FLOW_CREDENTIALS"));
	struct mcp_child *c;
	int status = -1;

	snprintf(cred, sizeof(cred), "%s/mcp-credentials.json", flowd.dir);
	snprintf(env_cred, sizeof(env_cred), "FLOW_CREDENTIALS=%s", cred);
	c = mcp_start("login", NULL, env);
	initialize(c, "2025-06-18");
	expect_tool_error(c, "project_manager", "{\"action\":\"list\"}", "UNAUTHENTICATED",
			  "flowctl login");
	setenv("FLOW_CREDENTIALS", cred, 1);
	assert_int_equal(ts_run_capture(login, TS_ADMIN_PASSWORD "\n", &out, &serr, &status, 30000),
			 0);
	setenv("FLOW_CREDENTIALS", saved, 1);
	if (status != 0)
		fail_msg("flowctl login: %s", serr ? serr : "");
	json_decref(tool(c, "project_manager", "{\"action\":\"list\"}", false));
	err = mcp_finish(c);
	assert_null(strstr(err, TS_ADMIN_PASSWORD));
	free(err);
	free(out);
	free(serr);
	free(saved);
}

/* Stops flowd and waits until it has: kill() only starts a group stop, and
 * until one of flowd's threads takes the signal (on a busy machine that can
 * take a while) the others go on serving, so a call made right after kill()
 * may still be answered. waitpid reports the stop once every thread has
 * stopped (flowd is this process's child). */
static void stop_flowd(void)
{
	int status = 0;
	pid_t r;

	ts_kill(flowd.pid, SIGSTOP);
	while ((r = waitpid(flowd.pid, &status, WUNTRACED)) < 0 && errno == EINTR)
		;
	assert_int_equal(r, flowd.pid);
	assert_true(WIFSTOPPED(status));
}

/* A stopped flowd costs each call its --timeout; the server answers and
 * carries on once flowd is back. */
static void test_hung_flowd(void **state)
{
	struct mcp_child *c = mcp_start("hung", "1500", NULL);
	json_t *res;
	const char *code;
	char *err;

	initialize(c, "2024-11-05");
	json_decref(tool(c, "project_manager", "{\"action\":\"list\"}", false));
	stop_flowd();
	res = tool(c, "project_manager", "{\"action\":\"list\"}", true);
	ts_kill(flowd.pid, SIGCONT);
	code = json_string_value(json_object_get(
	    json_object_get(json_object_get(res, "structuredContent"), "error"), "code"));
	assert_non_null(code);
	if (strcmp(code, "DEADLINE_EXCEEDED") != 0 && strcmp(code, "UNAVAILABLE") != 0)
		fail_msg("a hung flowd gave %s", code);
	assert_non_null(strstr(text_of(res), "\nSuggestion: "));
	json_decref(res);
	for (int i = 0; i < 20; i++) { /* flowd catches up */
		json_t *r = mcp_rpc(c, next_id++, "tools/call",
				    "{\"name\":\"project_manager\",\"arguments\":{\"action\":"
				    "\"list\"}}");
		bool ok = json_is_false(json_object_get(json_object_get(r, "result"), "isError"));

		json_decref(r);
		if (ok)
			break;
		assert_true(i < 19);
		ts_sleep_ms(250);
	}
	ping(c, 98);
	err = mcp_finish(c);
	free(err);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_session),
		cmocka_unit_test(test_login_picked_up),
		cmocka_unit_test(test_hung_flowd),
	};

	ts_skip_without_pg();
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
