#include "config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cfgtab.h"
#include "log.h"
#include "settings.h"

#define STR(f) CFGTAB_FIELD_STR(struct config, f)
#define NUM(f) CFGTAB_FIELD_LONG(struct config, f)

static const struct cfgtab_setting settings[] = {
	{ "db", "FLOW_DB_URL", CFGTAB_STR, STR(db_url), "", 0, 0, NULL,
	  "PostgreSQL connection (libpq URI or key=value string); required" },
	{ "listen", "FLOW_LISTEN", CFGTAB_STR, STR(listen), "tcp://127.0.0.1:7600", 0, 0, NULL,
	  "RPC listen URLs, comma-separated (ipc://PATH, tcp://HOST:PORT)" },
	{ "threads", "FLOW_THREADS", CFGTAB_LONG, NUM(threads), "4", 1, 256, NULL,
	  "service threads, each with its own database connection" },
	{ "contexts", "FLOW_CONTEXTS", CFGTAB_LONG, NUM(contexts), "1024", 1, 65536, NULL,
	  "RPC requests received or parked concurrently (nng contexts; each idle "
	  "long-polling worker holds one)" },
	{ "max-message", "FLOW_MAX_MESSAGE_BYTES", CFGTAB_LONG, NUM(max_message), "4194304", 4096,
	  268435456, NULL, "largest request accepted, bytes" },
	{ "max-string", "FLOW_MAX_STRING_BYTES", CFGTAB_LONG, NUM(max_string), "1048576", 256,
	  268435456, NULL, "longest string field accepted, bytes" },
	{ "max-deadline", "FLOW_MAX_DEADLINE_MS", CFGTAB_LONG, NUM(max_deadline_ms), "60000", 100,
	  3600000, NULL, "cap on a client's per-call deadline, ms (also the default)" },
	{ "db-wait", "FLOW_DB_WAIT_MS", CFGTAB_LONG, NUM(db_wait_ms), "30000", 0, 3600000, NULL,
	  "how long to wait at start for the database, ms" },
	{ "shutdown-grace", "FLOW_SHUTDOWN_GRACE_MS", CFGTAB_LONG, NUM(shutdown_grace_ms), "10000",
	  0, 600000, NULL, "time in-flight requests get to finish on SIGTERM, ms" },
	{ "processor-lease", "FLOW_PROCESSOR_LEASE_S", CFGTAB_LONG, NUM(processor_lease_s), "3600", 10,
	  604800, NULL, "lease of an item taken with processor_get_next, seconds" },
	{ "retry-base", "FLOW_RETRY_BASE_MS", CFGTAB_LONG, NUM(retry_base_ms), "1000", 1, 3600000,
	  NULL, "first retry delay, ms; doubles with each attempt, with jitter" },
	{ "retry-max", "FLOW_RETRY_MAX_MS", CFGTAB_LONG, NUM(retry_max_ms), "300000", 1, 86400000,
	  NULL, "longest retry delay, ms" },
	{ "claim-max-wait", "FLOW_CLAIM_MAX_WAIT_MS", CFGTAB_LONG, NUM(claim_max_wait_ms), "30000", 0,
	  600000, NULL, "cap on a worker's long-poll wait in Claim, ms" },
	{ "claim-poll", "FLOW_CLAIM_POLL_MS", CFGTAB_LONG, NUM(claim_poll_ms), "1000", 10, 60000,
	  NULL, "parked claims also re-check for ready work this often, ms" },
	{ "rescue-interval", "FLOW_RESCUE_INTERVAL_MS", CFGTAB_LONG, NUM(rescue_interval_ms), "1000",
	  50, 600000, NULL, "how often expired leases are rescued, ms" },
	{ "history-retention", "FLOW_HISTORY_RETENTION_S", CFGTAB_LONG, NUM(history_retention_s),
	  "604800", 60, 315360000, NULL,
	  "finished queue items older than this are pruned (counted in stats), seconds" },
	{ "env", "FLOW_ENV", CFGTAB_ENUM, STR(env), "development", 0, 0, "development|production",
	  "production makes the start-up security checks strict (JWT secret, TLS)" },
	{ "allow-plaintext", "FLOW_ALLOW_PLAINTEXT", CFGTAB_LONG, NUM(allow_plaintext), "0", 0, 1,
	  NULL, "1 allows tcp:// listeners without TLS in production" },
	{ "tls-cert", "FLOW_TLS_CERT", CFGTAB_STR, STR(tls_cert), "", 0, 0, NULL,
	  "PEM certificate for tls+tcp:// listeners" },
	{ "tls-key", "FLOW_TLS_KEY", CFGTAB_STR, STR(tls_key), "", 0, 0, NULL,
	  "PEM private key of --tls-cert" },
	{ "tls-client-ca", "FLOW_TLS_CLIENT_CA", CFGTAB_STR, STR(tls_client_ca), "", 0, 0, NULL,
	  "PEM CA: tls+tcp:// clients must present a certificate it signed (mutual TLS)" },
	{ "log-level", "FLOW_LOG_LEVEL", CFGTAB_ENUM, STR(log_level), "info", 0, 0,
	  "debug|info|warn|error", "log level" },
	{ "log-format", "FLOW_LOG_FORMAT", CFGTAB_ENUM, STR(log_format), "text", 0, 0, "text|json",
	  "log line format" },
};

static const struct cfgtab_switch switches[] = {
	{ "check-config", offsetof(struct config, check_config),
	  "validate the settings and exit" },
	{ "migrate-only", offsetof(struct config, migrate_only),
	  "apply database migrations and exit" },
	{ "version", offsetof(struct config, version), "print the version and exit" },
	{ "help", offsetof(struct config, help), "this help" },
};

static const struct cfgtab table = {
	settings,
	sizeof(settings) / sizeof(settings[0]),
	switches,
	sizeof(switches) / sizeof(switches[0]),
};

int config_load(struct config *cfg, int argc, char **argv, char *err, size_t errlen)
{
	char buf[1024];
	const char *urls[CONFIG_MAX_LISTEN];

	memset(cfg, 0, sizeof(*cfg));
	if (cfgtab_load(&table, cfg, argc, argv, err, errlen) != 0)
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
	fprintf(out, "usage: flowd [options]\n\n");
	cfgtab_usage(&table, out);
}

void config_log(const struct config *cfg)
{
	/* the logger redacts the password of the database URL */
	for (size_t i = 0; i < table.n_settings; i++) {
		char value[1024];

		log_info("config.value", "%s = %s", settings[i].flag,
			 cfgtab_value(&settings[i], cfg, value, sizeof(value)));
	}
}
