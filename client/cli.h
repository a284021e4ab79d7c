/*
 * cli.h - flowctl's commands: the friendly ones (tables for people), `call`,
 * `help` and `version`.
 *
 * Every friendly command builds an MCP tool argument object and runs it
 * through call_run (call.h), so it goes through the same action table as
 * `flowctl call` and the MCP bridge; login, logout and the commands that
 * read a password (cli_auth.c) keep their secrets out of that JSON.
 * Results print as aligned columns, or as the JSON result with --json.
 * Exit statuses are those of call.h: 0 success, 1 server or connection
 * error, 2 usage error, 130 SIGINT (queue watch).
 */
#ifndef FLOW_CLI_H
#define FLOW_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#ifndef FLOWCTL_VERSION
#define FLOWCTL_VERSION "0.1.0"
#endif

#define CLI_DEFAULT_URL "tcp://127.0.0.1:7600"
#define CLI_DEFAULT_TIMEOUT_MS 30000u

/* Global options (main.c parses them). Strings are not copied. */
struct cli_opts {
	const char *url;
	uint32_t timeout_ms;
	/* NULL (flowctl): FLOW_TOKEN, FLOW_API_KEY, then the saved login (session.h) */
	const char *token;
	bool json; /* --json: print JSON results */
};

/*
 * Runs the command argv[0] (one or two words: "queue pause") with its
 * arguments; returns the exit status. argc must be at least 1.
 */
int cli_run(const struct cli_opts *o, int argc, char **argv);

/*
 * fn (NULL: none) is called by cli_run with the exit status once the output
 * is flushed, just before the connection to flowd is closed: flowctl bounds
 * that close with it (main.c).
 */
void cli_on_closing(void (*fn)(int status));

/* The general help (options, commands, tool actions) to f. */
void cli_help(FILE *f);

/*
 * For an option that would carry a password or token in argv ("--password",
 * "--token=...", ...): what to do instead. NULL for any other argument.
 */
const char *cli_secret_option(const char *arg);

#endif
