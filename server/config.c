#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "settings.h"

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

#define STR(f) offsetof(struct config, f), sizeof(((struct config *)0)->f)
#define NUM(f) offsetof(struct config, f), 0

static const struct setting settings[] = {
	{ "db", "FLOW_DB_URL", SET_STR, STR(db_url), "", 0, 0, NULL,
	  "PostgreSQL connection (libpq URI or key=value string); required" },
	{ "listen", "FLOW_LISTEN", SET_STR, STR(listen), "tcp://127.0.0.1:7600", 0, 0, NULL,
	  "RPC listen URLs, comma-separated (ipc://PATH, tcp://HOST:PORT)" },
	{ "threads", "FLOW_THREADS", SET_LONG, NUM(threads), "4", 1, 256, NULL,
	  "service threads, each with its own database connection" },
	{ "contexts", "FLOW_CONTEXTS", SET_LONG, NUM(contexts), "1024", 1, 65536, NULL,
	  "RPC requests received or parked concurrently (nng contexts; each idle "
	  "long-polling worker holds one)" },
	{ "max-message", "FLOW_MAX_MESSAGE_BYTES", SET_LONG, NUM(max_message), "4194304", 4096,
	  268435456, NULL, "largest request accepted, bytes" },
	{ "max-string", "FLOW_MAX_STRING_BYTES", SET_LONG, NUM(max_string), "1048576", 256,
	  268435456, NULL, "longest string field accepted, bytes" },
	{ "max-deadline", "FLOW_MAX_DEADLINE_MS", SET_LONG, NUM(max_deadline_ms), "60000", 100,
	  3600000, NULL, "cap on a client's per-call deadline, ms (also the default)" },
	{ "db-wait", "FLOW_DB_WAIT_MS", SET_LONG, NUM(db_wait_ms), "30000", 0, 3600000, NULL,
	  "how long to wait at start for the database, ms" },
	{ "shutdown-grace", "FLOW_SHUTDOWN_GRACE_MS", SET_LONG, NUM(shutdown_grace_ms), "10000",
	  0, 600000, NULL, "time in-flight requests get to finish on SIGTERM, ms" },
	{ "processor-lease", "FLOW_PROCESSOR_LEASE_S", SET_LONG, NUM(processor_lease_s), "3600", 10,
	  604800, NULL, "lease of an item taken with processor_get_next, seconds" },
	{ "retry-base", "FLOW_RETRY_BASE_MS", SET_LONG, NUM(retry_base_ms), "1000", 1, 3600000,
	  NULL, "first retry delay, ms; doubles with each attempt, with jitter" },
	{ "retry-max", "FLOW_RETRY_MAX_MS", SET_LONG, NUM(retry_max_ms), "300000", 1, 86400000,
	  NULL, "longest retry delay, ms" },
	{ "claim-max-wait", "FLOW_CLAIM_MAX_WAIT_MS", SET_LONG, NUM(claim_max_wait_ms), "30000", 0,
	  600000, NULL, "cap on a worker's long-poll wait in Claim, ms" },
	{ "claim-poll", "FLOW_CLAIM_POLL_MS", SET_LONG, NUM(claim_poll_ms), "1000", 10, 60000,
	  NULL, "parked claims also re-check for ready work this often, ms" },
	{ "rescue-interval", "FLOW_RESCUE_INTERVAL_MS", SET_LONG, NUM(rescue_interval_ms), "1000",
	  50, 600000, NULL, "how often expired leases are rescued, ms" },
	{ "history-retention", "FLOW_HISTORY_RETENTION_S", SET_LONG, NUM(history_retention_s),
	  "604800", 60, 315360000, NULL,
	  "finished queue items older than this are pruned (counted in stats), seconds" },
	{ "log-level", "FLOW_LOG_LEVEL", SET_ENUM, STR(log_level), "info", 0, 0,
	  "debug|info|warn|error", "log level" },
	{ "log-format", "FLOW_LOG_FORMAT", SET_ENUM, STR(log_format), "text", 0, 0, "text|json",
	  "log line format" },
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

static int set_value(struct config *cfg, const struct setting *s, const char *v,
		     const char *from, char *err, size_t errlen)
{
	char *dst = (char *)cfg + s->offset;

	if (s->type == SET_LONG) {
		char *end;
		long n;

		errno = 0;
		n = strtol(v, &end, 10);
		if (errno || end == v || *end != '\0' || n < s->min || n > s->max) {
			snprintf(err, errlen, "%s: \"%s\" is not an integer between %ld and %ld", from,
				 v, s->min, s->max);
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

static int load_env(struct config *cfg, char *err, size_t errlen)
{
	for (size_t i = 0; i < N_SETTINGS; i++) {
		const struct setting *s = &settings[i];
		const char *v = getenv(s->env);
		char from[64];

		snprintf(from, sizeof(from), "%s", s->env);
		if (set_value(cfg, s, s->def, "default", err, errlen) != 0)
			return -1;
		if (v != NULL && *v != '\0' && set_value(cfg, s, v, from, err, errlen) != 0)
			return -1;
	}
	return 0;
}

enum { OPT_HELP = 1000, OPT_VERSION, OPT_CHECK, OPT_MIGRATE };

static int load_argv(struct config *cfg, int argc, char **argv, char *err, size_t errlen)
{
	struct option opts[N_SETTINGS + 5];
	int c, idx;

	for (size_t i = 0; i < N_SETTINGS; i++)
		opts[i] = (struct option){ settings[i].flag, required_argument, NULL, (int)i };
	opts[N_SETTINGS] = (struct option){ "help", no_argument, NULL, OPT_HELP };
	opts[N_SETTINGS + 1] = (struct option){ "version", no_argument, NULL, OPT_VERSION };
	opts[N_SETTINGS + 2] = (struct option){ "check-config", no_argument, NULL, OPT_CHECK };
	opts[N_SETTINGS + 3] = (struct option){ "migrate-only", no_argument, NULL, OPT_MIGRATE };
	opts[N_SETTINGS + 4] = (struct option){ 0 };
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, &idx)) != -1) {
		char from[64];

		if (c == 'h' || c == OPT_HELP) {
			cfg->help = true;
		} else if (c == OPT_VERSION) {
			cfg->version = true;
		} else if (c == OPT_CHECK) {
			cfg->check_config = true;
		} else if (c == OPT_MIGRATE) {
			cfg->migrate_only = true;
		} else if (c >= 0 && (size_t)c < N_SETTINGS) {
			snprintf(from, sizeof(from), "--%s", settings[c].flag);
			if (set_value(cfg, &settings[c], optarg, from, err, errlen) != 0)
				return -1;
		} else {
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

int config_load(struct config *cfg, int argc, char **argv, char *err, size_t errlen)
{
	char buf[1024];
	const char *urls[CONFIG_MAX_LISTEN];

	memset(cfg, 0, sizeof(*cfg));
	if (load_env(cfg, err, errlen) != 0 || load_argv(cfg, argc, argv, err, errlen) != 0)
		return -1;
	if (cfg->help || cfg->version)
		return 0;
	if (cfg->db_url[0] == '\0') {
		snprintf(err, errlen, "no database given: set FLOW_DB_URL or --db "
				      "(e.g. postgresql://flow@127.0.0.1:5432/flow)");
		return -1;
	}
	if (config_listen_urls(cfg, buf, sizeof(buf), urls) < 0) {
		snprintf(err, errlen, "--listen (FLOW_LISTEN) must name 1 to %d URLs",
			 CONFIG_MAX_LISTEN);
		return -1;
	}
	return 0;
}

int config_listen_urls(const struct config *cfg, char *buf, size_t len,
		       const char *urls[CONFIG_MAX_LISTEN])
{
	int n = 0;
	char *save = NULL;

	snprintf(buf, len, "%s", cfg->listen);
	for (char *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		if (n == CONFIG_MAX_LISTEN)
			return -1;
		urls[n++] = tok;
	}
	return n == 0 ? -1 : n;
}

void config_apply(const struct config *cfg)
{
	flow_settings.processor_lease_s = (int32_t)cfg->processor_lease_s;
	flow_settings.retry_base_ms = (int32_t)cfg->retry_base_ms;
	flow_settings.retry_max_ms = (int32_t)cfg->retry_max_ms;
	flow_settings.claim_max_wait_ms = (int32_t)cfg->claim_max_wait_ms;
	flow_settings.claim_poll_ms = (int32_t)cfg->claim_poll_ms;
	flow_settings.rescue_interval_ms = (int32_t)cfg->rescue_interval_ms;
	flow_settings.history_retention_s = (int32_t)cfg->history_retention_s;
}

void config_usage(FILE *out)
{
	fprintf(out, "usage: flowd [options]\n\n"
		     "  --check-config      validate the settings and exit\n"
		     "  --migrate-only      apply database migrations and exit\n"
		     "  --version, --help\n\n"
		     "settings (flag, environment variable, default, bounds):\n");
	for (size_t i = 0; i < N_SETTINGS; i++) {
		const struct setting *s = &settings[i];
		char bounds[64] = "";

		if (s->type == SET_LONG)
			snprintf(bounds, sizeof(bounds), " [%ld..%ld]", s->min, s->max);
		else if (s->type == SET_ENUM)
			snprintf(bounds, sizeof(bounds), " [%s]", s->choices);
		fprintf(out, "  --%-16s %-24s default \"%s\"%s\n      %s\n", s->flag, s->env, s->def,
			bounds, s->help);
	}
}

/* Copies a libpq URL or key=value string with any password masked. */
static void mask_password(const char *in, char *out, size_t len)
{
	const char *at = strchr(in, '@'), *scheme = strstr(in, "://"), *pw;

	snprintf(out, len, "%s", in);
	if (scheme && at && at > scheme) {
		const char *colon = memchr(scheme + 3, ':', (size_t)(at - scheme - 3));

		if (colon)
			snprintf(out, len, "%.*s:***%s", (int)(colon - in), in, at);
	}
	if ((pw = strstr(in, "password=")) != NULL) {
		const char *end = strpbrk(pw, " \t");

		snprintf(out, len, "%.*spassword=***%s", (int)(pw - in), in, end ? end : "");
	}
}

void config_log(const struct config *cfg)
{
	for (size_t i = 0; i < N_SETTINGS; i++) {
		const struct setting *s = &settings[i];
		const char *p = (const char *)cfg + s->offset;
		char masked[1024];

		if (s->type == SET_LONG) {
			log_info("config.value", "%s = %ld", s->flag, *(const long *)p);
			continue;
		}
		mask_password(p, masked, sizeof(masked));
		log_info("config.value", "%s = %s", s->flag, masked);
	}
}
