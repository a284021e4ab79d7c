/*
 * config.h - every flowd setting, in one table.
 *
 * Each setting has a name, an environment variable, a command-line flag, a
 * default and bounds. Values come from the defaults, then the environment,
 * then the command line; each is checked against its bounds with a message
 * that names the flag and the variable. config_usage() prints the table;
 * docs/operations.md documents the same table.
 */
#ifndef FLOW_CONFIG_H
#define FLOW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CONFIG_MAX_LISTEN 8

struct config {
	char config[1024]; /* settings file ("": none) */
	char db_url[1024];
	char listen[1024]; /* comma-separated URLs */
	char http_listen[256]; /* HOST:PORT of /healthz /readyz /metrics; "": off */
	long threads;
	long contexts;
	long max_message;
	long max_string;
	long max_deadline_ms;
	long db_wait_ms;
	long shutdown_grace_ms;
	char log_level[16];
	char log_format[16];
	long processor_lease_s;
	long retry_base_ms;
	long retry_max_ms;
	long claim_max_wait_ms;
	long claim_poll_ms;
	long rescue_interval_ms;
	long history_retention_s;
	char env[16]; /* development | production */
	long allow_plaintext;
	char tls_cert[1024];
	char tls_key[1024];
	char tls_client_ca[1024];
	char jwt_issuer[128];
	char jwt_audience[128];
	long access_ttl_s;
	long refresh_ttl_s;
	long token_leeway_s;
	long auth_cache_ms;
	long lockout_threshold;
	long lockout_base_s;
	long lockout_max_s;
	long rate_login;
	long rate_login_peer;
	long rate_login_window_s;
	long rate_admin;
	long rate_rpc;
	char admin_user[72];

	/* actions, not settings */
	bool check_config;
	bool help;
	bool version;
	bool migrate_only;
	bool create_admin;
};

/*
 * Fills cfg from defaults, environ and argv. Returns 0, or -1 with a
 * message in err naming the offending flag or variable and its bounds.
 */
int config_load(struct config *cfg, int argc, char **argv, char *err, size_t errlen);

/* Splits cfg->listen into at most CONFIG_MAX_LISTEN URLs (pointers into
 * buf, which receives a copy). Returns the count, or -1 if there are none
 * or too many. */
int config_listen_urls(const struct config *cfg, char *buf, size_t len,
		       const char *urls[CONFIG_MAX_LISTEN]);

/* Copies the queue-engine settings into flow_settings (settings.h) and the
 * authentication settings into auth_config (auth/auth.h; the signing key
 * comes from the start-up security check). */
void config_apply(const struct config *cfg);

/* The settings table as help text. */
void config_usage(FILE *out);

/* Logs every setting (the logger masks the database password). */
void config_log(const struct config *cfg);

#endif
