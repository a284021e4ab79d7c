/*
 * config.h - every flow-worker setting, in one table.
 *
 * Each setting has a flag, an environment variable, a default and bounds.
 * Values come from the defaults, then the environment, then the command
 * line; each is checked against its bounds with a message that names the
 * flag or the variable. The token comes from FLOW_TOKEN (or FLOW_API_KEY)
 * only, never from argv, where every local user could read it.
 * worker_config_usage() prints the table; docs/worker.md documents it.
 */
#ifndef FLOW_WORKER_CONFIG_H
#define FLOW_WORKER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct worker_config {
	char config[1024]; /* settings file ("": none) */
	char url[1024];
	char agents_file[1024]; /* "": only the built-in noop agent */
	long concurrency;
	long prefetch;
	char name[256]; /* "": <host>/flow-worker-<pid> after loading */
	long claim_wait_ms;
	long agent_timeout_s; /* for agents without their own timeout */
	long kill_grace_ms;   /* SIGTERM -> SIGKILL */
	long max_output;      /* bytes of stdout kept as completion notes */
	long shutdown_grace_ms;
	long rpc_timeout_ms; /* deadline of calls other than Claim */
	char pass_env[1024]; /* comma-separated names passed to agents */
	char log_level[16];
	char log_format[16];
	char token[4096]; /* FLOW_TOKEN or FLOW_API_KEY; "" for none */

	/* actions, not settings */
	bool check_config;
	bool help;
	bool version;
	bool json; /* --json: log_format "json" */
};

/*
 * Fills cfg from defaults, environ and argv. Returns 0, or -1 with a
 * message in err naming the offending flag or variable and its bounds.
 */
int worker_config_load(struct worker_config *cfg, int argc, char **argv, char *err, size_t errlen);

/* The settings table as help text. */
void worker_config_usage(FILE *out);

/* Logs every setting (the token only as "set" or "none"). */
void worker_config_log(const struct worker_config *cfg);

#endif
