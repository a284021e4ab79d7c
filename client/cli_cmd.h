/*
 * cli_cmd.h - what flowctl's command files share: the environment a command
 * runs in, its parsed arguments, and the helpers that run a tool call and
 * report errors. cli.c implements the helpers and holds the one command
 * table (parsing, dispatch, help); cli.c, cli_auth.c and cli_ops.c implement
 * commands.
 *
 * A command returns the exit status (call.h): 0, 1 (server or connection),
 * 2 (usage), 130 (SIGINT, queue watch). Errors are printed as
 * "flowctl: CODE: message", or as error JSON on stderr with --json.
 */
#ifndef FLOW_CLI_CMD_H
#define FLOW_CLI_CMD_H

#include <stdbool.h>

#include <jansson.h>

#include "call.h"

struct cli_env {
	struct call_ctx call;
	bool json; /* --json */
};

/* Command options, one slot each; see cli.c's option table. */
enum opt_slot {
	OPT_PROJECT,
	OPT_STATUS,
	OPT_PATH,
	OPT_DESCRIPTION,
	OPT_AGENT,
	OPT_ROLE,
	OPT_NAME,
	OPT_EXPIRES_DAYS,
	OPT_LIMIT,
	OPT_ACTOR,
	OPT_ACTION,
	OPT_BEFORE,
	OPT_PASSWORD_STDIN,  /* flag */
	OPT_SERVICE_ACCOUNT, /* flag */
	OPT_INTERVAL,
	OPT_SEEN_WITHIN,
	OPT_ALL, /* flag */
	OPT_COUNT
};

#define MAX_POS 2

struct cli_args {
	const char *pos[MAX_POS]; /* positional arguments; NULL past npos */
	int npos;
	const char *opt[OPT_COUNT]; /* NULL: not given; "" for a given flag */
};

/*
 * Runs the tool call args (taken; NULL means out of memory) and stores the
 * result. Returns 0, or the exit status after reporting the error.
 */
int cli_run_action(struct cli_env *env, const char *tool, json_t *args, json_t **result);

/* Prints result as JSON with --json; returns true if it did. */
bool cli_json_mode(const struct cli_env *env, const json_t *result);

/* Prints e (as JSON with --json) and returns its exit status. */
int cli_report(const struct cli_env *env, const struct call_error *e);

/* Reports a usage error; returns CALL_EXIT_USAGE. */
int cli_usage_error(const struct cli_env *env, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Reports an error with a code found by flowctl (exit 1); returns 1. */
int cli_fail(const struct cli_env *env, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Parses the value v of option opt as a whole number in min..max into
 * *out; returns 0, or the usage error's exit status after reporting it.
 */
int cli_opt_number(const struct cli_env *env, const char *opt, const char *v, long min, long max,
		   json_int_t *out);

/* A queues_get_stats result as "Title: value" lines (flowctl queue stats). */
void cli_print_queue_stats(const json_t *stats);

#endif
