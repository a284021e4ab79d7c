#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "cfgtab.h"
#include "http.h"
#include "log.h"
#include "settings.h"

#define STR(f) CFGTAB_FIELD_STR(struct config, f)
#define NUM(f) CFGTAB_FIELD_LONG(struct config, f)

static const struct cfgtab_setting settings[] = {
	{ "config", "FLOW_CONFIG", CFGTAB_STR, STR(config), "", 0, 0, NULL,
	  "settings file: NAME=value lines (an .env file), read before the environment; "
	  "SIGHUP re-reads its log settings" },
	{ "db", "FLOW_DB_URL", CFGTAB_STR, STR(db_url), "", 0, 0, NULL,
	  "PostgreSQL connection (libpq URI or key=value string); required" },
	{ "listen", "FLOW_LISTEN", CFGTAB_STR, STR(listen), "tcp://127.0.0.1:7600", 0, 0, NULL,
	  "RPC listen URLs, comma-separated (ipc://PATH, tcp://HOST:PORT)" },
	{ "http-listen", "FLOW_HTTP_LISTEN", CFGTAB_STR, STR(http_listen), "", 0, 0, NULL,
	  "HOST:PORT serving /healthz, /readyz and /metrics over HTTP without credentials "
	  "(e.g. 127.0.0.1:9464, [::1]:9464); empty: off" },
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
	{ "jwt-issuer", "FLOW_JWT_ISSUER", CFGTAB_STR, STR(jwt_issuer), "flowd", 0, 0, NULL,
	  "the iss claim of access tokens this flowd issues and accepts" },
	{ "jwt-audience", "FLOW_JWT_AUDIENCE", CFGTAB_STR, STR(jwt_audience), "flowd", 0, 0, NULL,
	  "the aud claim of access tokens this flowd issues and accepts" },
	{ "access-ttl", "FLOW_ACCESS_TTL_S", CFGTAB_LONG, NUM(access_ttl_s), "900", 60, 86400, NULL,
	  "lifetime of an access token, seconds" },
	{ "refresh-ttl", "FLOW_REFRESH_TTL_S", CFGTAB_LONG, NUM(refresh_ttl_s), "2592000", 300,
	  31536000, NULL, "lifetime of a login's refresh tokens (not extended by rotation), seconds" },
	{ "token-leeway", "FLOW_TOKEN_LEEWAY_S", CFGTAB_LONG, NUM(token_leeway_s), "30", 0, 300,
	  NULL, "clock skew allowed on a token's exp and iat, seconds" },
	{ "auth-cache", "FLOW_AUTH_CACHE_MS", CFGTAB_LONG, NUM(auth_cache_ms), "2000", 0, 60000,
	  NULL, "a token or API key checked against the database is trusted this long, ms: "
		"how late another flowd sees a revocation" },
	{ "lockout-threshold", "FLOW_LOCKOUT_THRESHOLD", CFGTAB_LONG, NUM(lockout_threshold), "5", 1,
	  100, NULL, "consecutive failed logins that lock an account" },
	{ "lockout-base", "FLOW_LOCKOUT_BASE_S", CFGTAB_LONG, NUM(lockout_base_s), "900", 1, 86400,
	  NULL, "first lockout, seconds; doubles with each further lockout" },
	{ "lockout-max", "FLOW_LOCKOUT_MAX_S", CFGTAB_LONG, NUM(lockout_max_s), "86400", 1, 31536000,
	  NULL, "longest lockout, seconds" },
	{ "rate-login", "FLOW_RATE_LOGIN", CFGTAB_LONG, NUM(rate_login), "5", 1, 10000, NULL,
	  "login attempts per (username, peer address) per --rate-login-window" },
	{ "rate-login-peer", "FLOW_RATE_LOGIN_PEER", CFGTAB_LONG, NUM(rate_login_peer), "5", 1,
	  10000, NULL, "login attempts per peer address per --rate-login-window" },
	{ "rate-login-window", "FLOW_RATE_LOGIN_WINDOW_S", CFGTAB_LONG, NUM(rate_login_window_s),
	  "900", 1, 86400, NULL, "the login rate-limit window, seconds" },
	{ "rate-admin", "FLOW_RATE_ADMIN", CFGTAB_LONG, NUM(rate_admin), "10", 1, 10000, NULL,
	  "admin calls (user, key and audit management) per principal per minute" },
	{ "rate-rpc", "FLOW_RATE_RPC", CFGTAB_LONG, NUM(rate_rpc), "2000", 0, 100000, NULL,
	  "other calls per principal per second; 0: no limit" },
	{ "admin-user", "FLOW_ADMIN_USER", CFGTAB_STR, STR(admin_user), "admin", 0, 0, NULL,
	  "name of the first admin, created from FLOW_ADMIN_PASSWORD or --create-admin" },
	{ "log-level", "FLOW_LOG_LEVEL", CFGTAB_ENUM, STR(log_level), "info", 0, 0,
	  "debug|info|warn|error", "log level (SIGHUP: re-read from --config, else toggle debug)" },
	{ "log-format", "FLOW_LOG_FORMAT", CFGTAB_ENUM, STR(log_format), "text", 0, 0, "text|json",
	  "log line format" },
};

static const struct cfgtab_switch switches[] = {
	{ "check-config", offsetof(struct config, check_config),
	  "validate the settings and exit" },
	{ "migrate-only", offsetof(struct config, migrate_only),
	  "apply database migrations and exit" },
	{ "create-admin", offsetof(struct config, create_admin),
	  "create the admin --admin-user with a password read from stdin, and exit" },
	{ "version", offsetof(struct config, version), "print the version and exit" },
	{ "help", offsetof(struct config, help), "this help" },
};

static const struct cfgtab table = {
	settings,
	sizeof(settings) / sizeof(settings[0]),
	switches,
	sizeof(switches) / sizeof(switches[0]),
};

/* The port of a tcp:// or tls+tcp:// RPC URL, else 0. */
static long rpc_port(const char *url)
{
	const char *colon = strrchr(url, ':');
	char *end;
	long port;

	if (strstr(url, "tcp") == NULL || strncmp(url, "ipc://", 6) == 0 || colon == NULL)
		return 0;
	port = strtol(colon + 1, &end, 10);
	return *end == '\0' ? port : 0;
}

/* --http-listen: empty, or HOST:PORT on a port no RPC listener uses. */
static int check_http_listen(const struct config *cfg, char *err, size_t errlen)
{
	char url[300], buf[1024];
	const char *urls[CONFIG_MAX_LISTEN];
	int port, n;

	if (cfg->http_listen[0] == '\0')
		return 0;
	if (http_listen_url(cfg->http_listen, url, sizeof(url), &port) != 0) {
		snprintf(err, errlen,
			 "--http-listen (FLOW_HTTP_LISTEN) must be HOST:PORT, e.g. 127.0.0.1:9464, "
			 "[::1]:9464 or 0.0.0.0:9464; got \"%s\"",
			 cfg->http_listen);
		return -1;
	}
	n = config_listen_urls(cfg, buf, sizeof(buf), urls);
	for (int i = 0; i < n; i++)
		if (rpc_port(urls[i]) == port) {
			snprintf(err, errlen,
				 "--http-listen (FLOW_HTTP_LISTEN) must use a port of its own, not %d "
				 "of the RPC listener %s (--listen)",
				 port, urls[i]);
			return -1;
		}
	return 0;
}

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
	return check_http_listen(cfg, err, errlen);
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
	snprintf(auth_config.issuer, sizeof(auth_config.issuer), "%s", cfg->jwt_issuer);
	snprintf(auth_config.audience, sizeof(auth_config.audience), "%s", cfg->jwt_audience);
	auth_config.access_ttl_s = (int)cfg->access_ttl_s;
	auth_config.refresh_ttl_s = (int)cfg->refresh_ttl_s;
	auth_config.leeway_s = (int)cfg->token_leeway_s;
	auth_config.cache_ms = (int)cfg->auth_cache_ms;
	auth_config.lockout_threshold = (int)cfg->lockout_threshold;
	auth_config.lockout_base_s = (int)cfg->lockout_base_s;
	auth_config.lockout_max_s = (int)cfg->lockout_max_s;
	auth_config.login_rate = (int)cfg->rate_login;
	auth_config.login_peer_rate = (int)cfg->rate_login_peer;
	auth_config.login_window_s = (int)cfg->rate_login_window_s;
	auth_config.admin_rate = (int)cfg->rate_admin;
	auth_config.rpc_rate = (int)cfg->rate_rpc;
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
