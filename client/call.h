/*
 * call.h - running MCP tool calls against flowd: arguments JSON -> RPC ->
 * result JSON, and the `flowctl call` command built on it.
 *
 * call_run does no printing, so the friendly commands (cli.c) and the MCP
 * stdio bridge reuse it; call_command is the CLI front end.
 *
 * Exit statuses of flowctl (also returned by call_command):
 *   0  success
 *   1  the server or the connection failed (error JSON has the gRPC code)
 *   2  usage or argument error found by flowctl (code INVALID_ARGUMENT)
 *   130  interrupted by SIGINT (queue watch; 128 + SIGINT, as shells report it)
 */
#ifndef FLOW_CALL_H
#define FLOW_CALL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "actions.h"
#include "rpc_client.h"

enum call_exit {
	CALL_EXIT_OK = 0,
	CALL_EXIT_FAILED = 1,	     /* server / RPC error */
	CALL_EXIT_USAGE = 2,	     /* bad command line or tool arguments */
	CALL_EXIT_INTERRUPTED = 130, /* SIGINT (queue watch) */
};

struct session;

/*
 * Connection settings and the lazily opened client and session. Set url,
 * timeout_ms and token; client and session start NULL.
 */
struct call_ctx {
	const char *url;     /* not copied */
	uint32_t timeout_ms; /* per call; 0: rpc_client default */
	/* not copied; NULL: FLOW_TOKEN, FLOW_API_KEY, then the saved login
	 * (session.h) */
	const char *token;
	rpc_client *client;	 /* opened by the first call; call_ctx_close frees */
	struct session *session; /* the token in use, chosen at the first call */
};

void call_ctx_close(struct call_ctx *ctx);

/* Why a call failed. */
struct call_error {
	int code;		 /* flow code (status.h) */
	bool usage;		 /* found client-side: exit status 2 */
	uint32_t retry_after_ms; /* server's hint, 0 if none */
	char request_id[72];	 /* "" when the call never reached the server */
	char message[1024];
};

/*
 * Runs one tool call: builds the request from args (actions.h), calls the
 * method, converts the reply. On FLOW_OK *result is a new reference the
 * caller releases; otherwise *result is NULL and e says why (e->usage set
 * for argument errors, which are found before any connection is made).
 */
int call_run(struct call_ctx *ctx, const char *tool, const json_t *args, json_t **result,
	     struct call_error *e);

/*
 * call_run in two steps, for callers that must put something on the built
 * request that has no place in the argument JSON (a password read from the
 * terminal): call_invoke runs a request from action_build_request, and the
 * caller clears it afterwards. Same results as call_run.
 */
int call_invoke(struct call_ctx *ctx, const struct action_request *req, json_t **result,
		struct call_error *e);

/*
 * One authenticated RPC: picks the token (session.h) at the first call;
 * renews a saved login that is about to expire; on UNAUTHENTICATED renews
 * it and retries the call once (a refused call was not executed, so this
 * is safe for every method). On FLOW_OK *resp is the reply (free it with
 * protobuf_c_message_free_unpacked); otherwise e says why, with a hint on
 * what to do after UNAUTHENTICATED.
 */
int call_rpc(struct call_ctx *ctx, const char *method, const ProtobufCMessage *req,
	     ProtobufCMessage **resp, struct call_error *e);

/*
 * The connection alone, for login and logout, which handle tokens
 * themselves (session.h): opens ctx->client without choosing a token.
 */
int call_connect(struct call_ctx *ctx, struct call_error *e);

/* Fills e from an RPC outcome; returns e->code. */
int call_error_from_status(struct call_error *e, const struct rpc_status *st);

/*
 * Parses text as a tool argument object ("-": read it from stdin). On
 * success *out is a new reference; otherwise a usage error in e (jansson's
 * line and column for bad JSON; invalid UTF-8 is rejected).
 */
int call_parse_args(const char *text, json_t **out, struct call_error *e);

/* {"error": {"code": "NOT_FOUND", "message": ...}}; new reference or NULL. */
json_t *call_error_json(const struct call_error *e);

/* Exit status for e: CALL_EXIT_USAGE or CALL_EXIT_FAILED. */
int call_exit_status(const struct call_error *e);

/* Sets a usage error (INVALID_ARGUMENT) in e; returns FLOW_INVALID_ARGUMENT. */
int call_usage_error(struct call_error *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Pretty JSON (2-space indent) and a newline to f; 0 or -1. */
int call_print_json(FILE *f, const json_t *j);

/* Prints e as error JSON on stderr and returns its exit status. */
int call_report_error(const struct call_error *e);

/*
 * `flowctl call TOOL JSON`: argv[0] is TOOL, argv[1] the argument JSON.
 * Prints the result on stdout or the error on stderr; returns the exit
 * status.
 */
int call_command(struct call_ctx *ctx, int argc, char **argv);

#endif
