#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

enum setting_type { SET_STR, SET_LONG, SET_ENUM };

struct setting {
	const char *flag; /* long option, without "--" */
	const char *env;
	enum setting_type type;
	size_t offset;
	size_t size; /* of a string buffer */
	const char *def;
	long min, max;
	const char *choices; /* "a|b|c" for SET_ENUM */
	const char *help;
};

#define STR(f) offsetof(struct worker_config, f), sizeof(((struct worker_config *)0)->f)
#define NUM(f) offsetof(struct worker_config, f), 0

static const struct setting settings[] = {
	{ "url", "FLOW_URL", SET_STR, STR(url), "tcp://127.0.0.1:7600", 0, 0, NULL,
	  "flowd's RPC URL (ipc://PATH, tcp://HOST:PORT)" },
	{ "agents", "FLOW_AGENTS_FILE", SET_STR, STR(agents_file), "", 0, 0, NULL,
	  "agents file (agent-id = /abs/path args...); none: only the built-in noop agent" },
	{ "concurrency", "FLOW_WORKER_CONCURRENCY", SET_LONG, NUM(concurrency), "4", 1, 1024, NULL,
	  "items run at once (the capacity advertised to flowd)" },
	{ "name", "FLOW_WORKER_NAME", SET_STR, STR(name), "", 0, 0, NULL,
	  "name shown in flowd (default <host>/flow-worker-<pid>)" },
	{ "claim-wait", "FLOW_CLAIM_WAIT_MS", SET_LONG, NUM(claim_wait_ms), "20000", 100, 600000,
	  NULL, "long-poll wait of one Claim, ms (flowd caps it with --claim-max-wait)" },
	{ "agent-timeout", "FLOW_AGENT_TIMEOUT_S", SET_LONG, NUM(agent_timeout_s), "600", 1, 604800,
	  NULL, "timeout of agents without their own agent-id.timeout, seconds" },
	{ "kill-grace", "FLOW_AGENT_KILL_GRACE_MS", SET_LONG, NUM(kill_grace_ms), "5000", 0, 600000,
	  NULL, "time between SIGTERM and SIGKILL when an agent is stopped, ms" },
	{ "max-output", "FLOW_MAX_OUTPUT_BYTES", SET_LONG, NUM(max_output), "65536", 256, 1048576,
	  NULL, "stdout kept as completion notes, bytes (the rest is discarded)" },
	{ "shutdown-grace", "FLOW_SHUTDOWN_GRACE_MS", SET_LONG, NUM(shutdown_grace_ms), "10000", 0,
	  3600000, NULL, "time running agents get to finish on SIGTERM, ms" },
	{ "rpc-timeout", "FLOW_RPC_TIMEOUT_MS", SET_LONG, NUM(rpc_timeout_ms), "10000", 100, 600000,
	  NULL, "deadline of RegisterWorker, Heartbeat and Report calls, ms" },
	{ "pass-env", "FLOW_AGENT_PASS_ENV", SET_STR, STR(pass_env), "", 0, 0, NULL,
	  "environment variables passed through to agents, comma-separated" },
	{ "log-level", "FLOW_LOG_LEVEL", SET_ENUM, STR(log_level), "info", 0, 0,
	  "debug|info|warn|error", "log level (SIGHUP toggles debug)" },
	{ "log-format", "FLOW_LOG_FORMAT", SET_ENUM, STR(log_format), "text", 0, 0, "text|json",
	  "log line format (--json is short for --log-format json)" },
};
#define N_SETTINGS (sizeof(settings) / sizeof(settings[0]))

static bool enum_ok(const char *choices, const char *v)
{
	size_t n = strlen(v);

	for (const char *p = choices; p && *p;) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);

		if (len == n && strncmp(p, v, n) == 0)
			return true;
		p = bar ? bar + 1 : NULL;
	}
	return false;
}

static int set_value(struct worker_config *cfg, const struct setting *s, const char *v,
		     const char *from, char *err, size_t errlen)
{
	char *dst = (char *)cfg + s->offset;

	if (s->type == SET_LONG) {
		char *end;
		long n;

		errno = 0;
		n = strtol(v, &end, 10);
		if (errno || end == v || *end != '\0' || n < s->min || n > s->max) {
			snprintf(err, errlen, "%s: \"%s\" is not an integer between %ld and %ld",
				 from, v, s->min, s->max);
			return -1;
		}
		*(long *)dst = n;
		return 0;
	}
	if (s->type == SET_ENUM && !enum_ok(s->choices, v)) {
		snprintf(err, errlen, "%s: \"%s\" is not one of %s", from, v, s->choices);
		return -1;
	}
	if (strlen(v) >= s->size) {
		snprintf(err, errlen, "%s: value is longer than %zu bytes", from, s->size - 1);
		return -1;
	}
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

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

static int load_env(struct worker_config *cfg, char *err, size_t errlen)
{
	for (size_t i = 0; i < N_SETTINGS; i++) {
		const struct setting *s = &settings[i];
		const char *v = getenv(s->env);

		if (set_value(cfg, s, s->def, "default", err, errlen) != 0)
			return -1;
		if (v != NULL && *v != '\0' && set_value(cfg, s, v, s->env, err, errlen) != 0)
			return -1;
	}
	return load_token(cfg, err, errlen);
}

enum { OPT_HELP = 1000, OPT_VERSION, OPT_CHECK, OPT_JSON };

static size_t fill_options(struct option *opts)
{
	size_t n = 0;

	for (size_t i = 0; i < N_SETTINGS; i++)
		opts[n++] = (struct option){ settings[i].flag, required_argument, NULL, (int)i };
	opts[n++] = (struct option){ "help", no_argument, NULL, OPT_HELP };
	opts[n++] = (struct option){ "version", no_argument, NULL, OPT_VERSION };
	opts[n++] = (struct option){ "check-config", no_argument, NULL, OPT_CHECK };
	opts[n++] = (struct option){ "json", no_argument, NULL, OPT_JSON };
	opts[n] = (struct option){ 0 };
	return n;
}

static int apply_option(struct worker_config *cfg, int c, char *err, size_t errlen)
{
	char from[64];

	if (c == 'h' || c == OPT_HELP)
		cfg->help = true;
	else if (c == OPT_VERSION)
		cfg->version = true;
	else if (c == OPT_CHECK)
		cfg->check_config = true;
	else if (c == OPT_JSON)
		snprintf(cfg->log_format, sizeof(cfg->log_format), "json");
	else if (c >= 0 && (size_t)c < N_SETTINGS) {
		snprintf(from, sizeof(from), "--%s", settings[c].flag);
		return set_value(cfg, &settings[c], optarg, from, err, errlen);
	} else
		return 1;
	return 0;
}

static int load_argv(struct worker_config *cfg, int argc, char **argv, char *err, size_t errlen)
{
	struct option opts[N_SETTINGS + 5];
	int c, idx, rv;

	fill_options(opts);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, &idx)) != -1) {
		rv = apply_option(cfg, c, err, errlen);
		if (rv < 0)
			return -1;
		if (rv > 0) {
			snprintf(err, errlen, "unknown or incomplete option %s (see --help)",
				 argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument \"%s\" (see --help)", argv[optind]);
		return -1;
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
	if (load_env(cfg, err, errlen) != 0 || load_argv(cfg, argc, argv, err, errlen) != 0)
		return -1;
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
		     "Pulls queue items from flowd and runs the agent each item names.\n\n"
		     "  --check-config      validate the settings and the agents file, and exit\n"
		     "  --json              JSON log lines (same as --log-format json)\n"
		     "  --version, --help\n\n"
		     "settings (flag, environment variable, default, bounds):\n");
	for (size_t i = 0; i < N_SETTINGS; i++) {
		const struct setting *s = &settings[i];
		char bounds[64] = "";

		if (s->type == SET_LONG)
			snprintf(bounds, sizeof(bounds), " [%ld..%ld]", s->min, s->max);
		else if (s->type == SET_ENUM)
			snprintf(bounds, sizeof(bounds), " [%s]", s->choices);
		fprintf(out, "  --%-16s %-26s default \"%s\"%s\n      %s\n", s->flag, s->env,
			s->def, bounds, s->help);
	}
	fprintf(out, "  (no flag)          FLOW_TOKEN or FLOW_API_KEY\n"
		     "      token sent to flowd; never taken from the command line and never "
		     "given to agents\n");
}

void worker_config_log(const struct worker_config *cfg)
{
	for (size_t i = 0; i < N_SETTINGS; i++) {
		const struct setting *s = &settings[i];
		const char *p = (const char *)cfg + s->offset;

		if (s->type == SET_LONG)
			log_info("config.value", "%s = %ld", s->flag, *(const long *)p);
		else
			log_info("config.value", "%s = %s", s->flag, p);
	}
	log_info("config.value", "token = %s", cfg->token[0] ? "(set)" : "(none)");
}
