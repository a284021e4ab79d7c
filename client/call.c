/*
 * call.c - tool call = action table + one RPC; `flowctl call`.
 */
#include "call.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actions.h"
#include "session.h"
#include "status.h"

void call_ctx_close(struct call_ctx *ctx)
{
	if (ctx == NULL)
		return;
	rpc_client_close(ctx->client);
	ctx->client = NULL;
	session_free(ctx->session);
	ctx->session = NULL;
}

int call_usage_error(struct call_error *e, const char *fmt, ...)
{
	va_list ap;

	memset(e, 0, sizeof(*e));
	e->code = FLOW_INVALID_ARGUMENT;
	e->usage = true;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	return FLOW_INVALID_ARGUMENT;
}

int call_error_from_status(struct call_error *e, const struct rpc_status *st)
{
	e->code = st->code != FLOW_OK ? st->code : FLOW_UNKNOWN;
	e->usage = false;
	e->retry_after_ms = st->retry_after_ms;
	snprintf(e->request_id, sizeof(e->request_id), "%s", st->request_id);
	snprintf(e->message, sizeof(e->message), "%s",
		 st->message[0] ? st->message : status_name(e->code));
	return e->code;
}

int call_connect(struct call_ctx *ctx, struct call_error *e)
{
	struct rpc_client_opts o = { 0 };
	struct rpc_status st;

	if (ctx->client != NULL)
		return FLOW_OK;
	o.deadline_ms = ctx->timeout_ms;
	o.background_dial = false;
	if (rpc_client_open(ctx->url, &o, &ctx->client, &st) != FLOW_OK) {
		call_error_from_status(e, &st);
		/* a malformed or unsupported URL is the caller's mistake */
		e->usage = e->code == FLOW_INVALID_ARGUMENT;
		return e->code;
	}
	return FLOW_OK;
}

/* Sets the session's token on the client, or fails with out of memory. */
static int send_token(struct call_ctx *ctx, struct call_error *e)
{
	struct rpc_status st = { 0 };

	if (rpc_client_set_token(ctx->client, session_token(ctx->session)) == FLOW_OK)
		return FLOW_OK;
	st.code = FLOW_RESOURCE_EXHAUSTED;
	snprintf(st.message, sizeof(st.message), "out of memory");
	return call_error_from_status(e, &st);
}

/*
 * The session (token) and the connection, at the first call. Local
 * problems (a refused credentials file) come before any dialing. A saved
 * login about to expire is renewed first; if that fails for any reason but
 * the server refusing it, the call goes ahead with the old token and the
 * server decides.
 */
static int ensure_client(struct call_ctx *ctx, struct call_error *e)
{
	bool fresh = ctx->session == NULL || ctx->client == NULL;
	struct rpc_status st;
	char err[1024];
	int rc;

	if (!fresh)
		return FLOW_OK;
	if (ctx->session == NULL &&
	    (rc = session_open(ctx->url, ctx->token, &ctx->session, err, sizeof(err))) != FLOW_OK) {
		memset(e, 0, sizeof(*e));
		e->code = rc;
		snprintf(e->message, sizeof(e->message), "%s", err);
		return rc;
	}
	if ((rc = call_connect(ctx, e)) != FLOW_OK || (rc = send_token(ctx, e)) != FLOW_OK)
		return rc;
	if (!session_expiring(ctx->session, session_now_ms()))
		return FLOW_OK;
	if (session_refresh(ctx->session, ctx->client, &st) == FLOW_UNAUTHENTICATED)
		return call_error_from_status(e, &st);
	return send_token(ctx, e); /* the new token, or still the old one */
}

/* After UNAUTHENTICATED: the server's message and what to do about it. */
static void add_hint(const struct call_ctx *ctx, struct call_error *e)
{
	char hint[512];
	size_t n = strlen(e->message);

	session_hint(ctx->session, e->message, hint, sizeof(hint));
	if (hint[0] != '\0' && n + 3 < sizeof(e->message))
		snprintf(e->message + n, sizeof(e->message) - n, " (%s)", hint);
}

int call_rpc(struct call_ctx *ctx, const char *method, const ProtobufCMessage *req,
	     ProtobufCMessage **resp, struct call_error *e)
{
	struct rpc_status st;
	int rc;

	*resp = NULL;
	if ((rc = ensure_client(ctx, e)) != FLOW_OK)
		return rc;
	rc = rpc_client_call(ctx->client, method, req, NULL, resp, &st);
	if (rc == FLOW_UNAUTHENTICATED && session_source(ctx->session) == SESSION_SAVED) {
		rc = session_refresh(ctx->session, ctx->client, &st);
		if (rc == FLOW_OK) /* once: a second refusal is final */
			rc = rpc_client_call(ctx->client, method, req, NULL, resp, &st);
	}
	if (rc == FLOW_OK)
		return FLOW_OK;
	call_error_from_status(e, &st);
	if (rc == FLOW_UNAUTHENTICATED)
		add_hint(ctx, e);
	return rc;
}

int call_invoke(struct call_ctx *ctx, const struct action_request *req, json_t **result,
		struct call_error *e)
{
	ProtobufCMessage *reply = NULL;
	int rc;

	memset(e, 0, sizeof(*e));
	*result = NULL;
	if ((rc = call_rpc(ctx, req->method, req->msg, &reply, e)) != FLOW_OK)
		return rc;
	rc = action_reply_json(req, reply, result);
	protobuf_c_message_free_unpacked(reply, NULL);
	if (rc != FLOW_OK) {
		e->code = rc;
		snprintf(e->message, sizeof(e->message), "cannot convert the reply of %s to JSON",
			 req->method);
	}
	return rc;
}

int call_run(struct call_ctx *ctx, const char *tool, const json_t *args, json_t **result,
	     struct call_error *e)
{
	struct action_request req;
	int rc;

	memset(e, 0, sizeof(*e));
	*result = NULL;
	rc = action_build_request(tool, args, &req, e->message, sizeof(e->message));
	if (rc != FLOW_OK) {
		e->code = rc;
		e->usage = rc == FLOW_INVALID_ARGUMENT;
		return rc;
	}
	rc = call_invoke(ctx, &req, result, e);
	action_request_clear(&req);
	return rc;
}

int call_parse_args(const char *text, json_t **out, struct call_error *e)
{
	const size_t flags = JSON_REJECT_DUPLICATES;
	json_error_t je;
	json_t *j;

	memset(e, 0, sizeof(*e));
	if (strcmp(text, "-") == 0)
		j = json_loadf(stdin, flags, &je);
	else
		j = json_loads(text, flags, &je);
	if (j == NULL)
		return call_usage_error(e, "invalid JSON at line %d, column %d: %s", je.line,
					je.column, je.text);
	if (!json_is_object(j)) {
		json_decref(j);
		return call_usage_error(e, "arguments must be a JSON object, like "
					   "{\"action\":\"list\"}");
	}
	*out = j;
	return FLOW_OK;
}

json_t *call_error_json(const struct call_error *e)
{
	json_t *inner = json_pack("{s:s, s:s}", "code", status_name(e->code), "message",
				  e->message);

	if (inner != NULL && e->retry_after_ms != 0)
		json_object_set_new(inner, "retryAfterMs", json_integer(e->retry_after_ms));
	if (inner != NULL && e->request_id[0] != '\0')
		json_object_set_new(inner, "requestId", json_string(e->request_id));
	return inner ? json_pack("{s:o}", "error", inner) : NULL;
}

int call_exit_status(const struct call_error *e)
{
	return e->usage ? CALL_EXIT_USAGE : CALL_EXIT_FAILED;
}

int call_print_json(FILE *f, const json_t *j)
{
	/* 15 digits: 64.998, not 64.998000000000005 */
	if (json_dumpf(j, f, JSON_INDENT(2) | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15)) != 0)
		return -1;
	return fputc('\n', f) == EOF ? -1 : 0;
}

int call_report_error(const struct call_error *e)
{
	json_t *j = call_error_json(e);

	if (j == NULL || call_print_json(stderr, j) != 0)
		fprintf(stderr, "{\"error\": {\"code\": \"%s\"}}\n", status_name(e->code));
	json_decref(j);
	return call_exit_status(e);
}

int call_command(struct call_ctx *ctx, int argc, char **argv)
{
	struct call_error e;
	json_t *args = NULL, *result = NULL;
	char tools[256];
	int status;

	if (argc != 2) {
		action_tools_text(tools, sizeof(tools));
		call_usage_error(&e, "usage: flowctl call TOOL JSON (TOOL: %s; JSON: "
				     "'{\"action\":\"list\"}', or - to read it from stdin)",
				 tools);
		return call_report_error(&e);
	}
	if (call_parse_args(argv[1], &args, &e) != FLOW_OK)
		return call_report_error(&e);
	if (call_run(ctx, argv[0], args, &result, &e) != FLOW_OK) {
		status = call_report_error(&e);
	} else if (call_print_json(stdout, result) != 0 || fflush(stdout) != 0) {
		fprintf(stderr, "flowctl: cannot write the result\n");
		status = CALL_EXIT_FAILED;
	} else {
		status = CALL_EXIT_OK;
	}
	json_decref(args);
	json_decref(result);
	return status;
}
