#include "config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfgtab.h"
#include "log.h"

#define STR(f) CFGTAB_FIELD_STR(struct worker_config, f)
#define NUM(f) CFGTAB_FIELD_LONG(struct worker_config, f)

static const struct cfgtab_setting settings[] = {
	{ "config", "FLOW_CONFIG", CFGTAB_STR, STR(config), "", 0, 0, NULL,
	  "settings file: NAME=value lines (an .env file), read before the environment; "
	  "SIGHUP re-reads its log settings" },
	{ "url", "FLOW_URL", CFGTAB_STR, STR(url), "tcp://127.0.0.1:7600", 0, 0, NULL,
	  "flowd's RPC URL (ipc://PATH, tcp://HOST:PORT)" },
	{ "agents", "FLOW_AGENTS_FILE", CFGTAB_STR, STR(agents_file), "", 0, 0, NULL,
	  "agents file (agent-id = /abs/path args...); none: only the built-in noop agent" },
	{ "concurrency", "FLOW_WORKER_CONCURRENCY", CFGTAB_LONG, NUM(concurrency), "4", 1, 1024, NULL,
	  "items run at once (the capacity advertised to flowd)" },
	{ "prefetch", "FLOW_WORKER_PREFETCH", CFGTAB_LONG, NUM(prefetch), "0", 0, 10000, NULL,
	  "items claimed beyond free agent slots; they wait in the worker, leases kept alive, "
	  "and start as slots free (fewer, larger claims for short items)" },
	{ "name", "FLOW_WORKER_NAME", CFGTAB_STR, STR(name), "", 0, 0, NULL,
	  "name shown in flowd (default <host>/flow-worker-<pid>)" },
	{ "claim-wait", "FLOW_CLAIM_WAIT_MS", CFGTAB_LONG, NUM(claim_wait_ms), "20000", 100, 600000,
	  NULL, "long-poll wait of one Claim, ms (flowd caps it with --claim-max-wait)" },
	{ "agent-timeout", "FLOW_AGENT_TIMEOUT_S", CFGTAB_LONG, NUM(agent_timeout_s), "600", 1, 604800,
	  NULL, "timeout of agents without their own agent-id.timeout, seconds" },
	{ "kill-grace", "FLOW_AGENT_KILL_GRACE_MS", CFGTAB_LONG, NUM(kill_grace_ms), "5000", 0, 600000,
	  NULL, "time between SIGTERM and SIGKILL when an agent is stopped, ms" },
	{ "max-output", "FLOW_MAX_OUTPUT_BYTES", CFGTAB_LONG, NUM(max_output), "65536", 256, 1048576,
	  NULL, "stdout kept as completion notes, bytes (the rest is discarded)" },
	{ "shutdown-grace", "FLOW_SHUTDOWN_GRACE_MS", CFGTAB_LONG, NUM(shutdown_grace_ms), "10000", 0,
	  3600000, NULL, "time running agents get to finish on SIGTERM, ms" },
	{ "rpc-timeout", "FLOW_RPC_TIMEOUT_MS", CFGTAB_LONG, NUM(rpc_timeout_ms), "10000", 100, 600000,
	  NULL, "deadline of RegisterWorker, Heartbeat and Report calls, ms" },
	{ "pass-env", "FLOW_AGENT_PASS_ENV", CFGTAB_STR, STR(pass_env), "", 0, 0, NULL,
	  "environment variables passed through to agents, comma-separated" },
	{ "log-level", "FLOW_LOG_LEVEL", CFGTAB_ENUM, STR(log_level), "info", 0, 0,
	  "debug|info|warn|error", "log level (SIGHUP: re-read from --config, else toggle debug)" },
	{ "log-format", "FLOW_LOG_FORMAT", CFGTAB_ENUM, STR(log_format), "text", 0, 0, "text|json",
	  "log line format (--json is short for --log-format json)" },
};
static const struct cfgtab_switch switches[] = {
	{ "check-config", offsetof(struct worker_config, check_config),
	  "validate the settings and the agents file, and exit" },
	{ "json", offsetof(struct worker_config, json), "JSON log lines (same as --log-format json)" },
	{ "version", offsetof(struct worker_config, version), "print the version and exit" },
	{ "help", offsetof(struct worker_config, help), "this help" },
};

static const struct cfgtab table = {
	settings,
	sizeof(settings) / sizeof(settings[0]),
	switches,
	sizeof(switches) / sizeof(switches[0]),
};

/* The token: FLOW_TOKEN, else FLOW_API_KEY; never a flag. */
static int load_token(struct worker_config *cfg, char *err, size_t errlen)
{
	const char *names[] = { "FLOW_TOKEN", "FLOW_API_KEY" };

	for (size_t i = 0; i < 2; i++) {
		const char *v = getenv(names[i]);

		if (v == NULL || *v == '\0')
			continue;
		if (strlen(v) >= sizeof(cfg->token)) {
			snprintf(err, errlen, "%s: value is longer than %zu bytes", names[i],
				 sizeof(cfg->token) - 1);
			return -1;
		}
		memcpy(cfg->token, v, strlen(v) + 1);
		return 0;
	}
	return 0;
}

/* Each name of --pass-env must be a variable name, and not one of ours. */
static int check_pass_env(const char *list, char *err, size_t errlen)
{
	char buf[1024], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", list);
	for (char *n = strtok_r(buf, ", ", &save); n; n = strtok_r(NULL, ", ", &save)) {
		bool ok = (*n == '_' || (*n >= 'A' && *n <= 'Z') || (*n >= 'a' && *n <= 'z'));

		for (const char *p = n; ok && *p; p++)
			ok = *p == '_' || (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			     (*p >= '0' && *p <= '9');
		if (!ok) {
			snprintf(err, errlen,
				 "--pass-env (FLOW_AGENT_PASS_ENV): \"%s\" is not "
				 "an environment variable name",
				 n);
			return -1;
		}
		if (strncmp(n, "FLOW_", 5) == 0) {
			snprintf(err, errlen,
				 "--pass-env (FLOW_AGENT_PASS_ENV): %s cannot be passed: "
				 "FLOW_ variables are set by flow-worker, and the token "
				 "is never given to agents",
				 n);
			return -1;
		}
	}
	return 0;
}

static void default_name(struct worker_config *cfg)
{
	char host[128] = "localhost";

	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(cfg->name, sizeof(cfg->name), "%s/flow-worker-%ld", host, (long)getpid());
}

int worker_config_load(struct worker_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
	memset(cfg, 0, sizeof(*cfg));
	if (cfgtab_load(&table, cfg, argc, argv, err, errlen) != 0 ||
	    load_token(cfg, err, errlen) != 0)
		return -1;
	if (cfg->json)
		snprintf(cfg->log_format, sizeof(cfg->log_format), "json");
	if (cfg->help || cfg->version)
		return 0;
	if (cfg->url[0] == '\0') {
		snprintf(err, errlen,
			 "no flowd URL given: set FLOW_URL or --url "
			 "(e.g. tcp://127.0.0.1:7600)");
		return -1;
	}
	if (check_pass_env(cfg->pass_env, err, errlen) != 0)
		return -1;
	if (cfg->name[0] == '\0')
		default_name(cfg);
	return 0;
}

void worker_config_usage(FILE *out)
{
	fprintf(out, "usage: flow-worker [options]\n\n"
		     "Pulls queue items from flowd and runs the agent each item names.\n\n");
	cfgtab_usage(&table, out);
	fprintf(out, "  (no flag)            FLOW_TOKEN or FLOW_API_KEY\n"
		     "      token sent to flowd; never taken from the command line and never "
		     "given to agents\n");
}

void worker_config_log(const struct worker_config *cfg)
{
	for (size_t i = 0; i < table.n_settings; i++) {
		char value[1024];

		log_info("config.value", "%s = %s", settings[i].flag,
			 cfgtab_value(&settings[i], cfg, value, sizeof(value)));
	}
	log_info("config.value", "token = %s", cfg->token[0] ? "(set)" : "(none)");
}
