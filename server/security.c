#include "security.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "jwt.h"
#include "log.h"


static bool production(const struct config *cfg)
{
	return strcmp(cfg->env, "production") == 0;
}

void security_scrub_env(const char *name)
{
	char *v = getenv(name);

	/* the value may sit in the process's initial environment block, which
	 * /proc/PID/environ shows: overwrite it there, then drop the variable */
	if (v != NULL)
		explicit_bzero(v, strlen(v));
	unsetenv(name);
}

/* Returns 1 when the check failed critically. */
static int check_secret(const struct config *cfg)
{
	const char *s = getenv("FLOW_JWT_SECRET");
	char why[256];

	if (s != NULL && jwt_secret_check(s, why, sizeof(why)) == 0 &&
	    strlen(s) < sizeof(auth_config.key)) {
		auth_config.key_len = strlen(s);
		memcpy(auth_config.key, s, auth_config.key_len);
		security_scrub_env("FLOW_JWT_SECRET");
		log_info("security.check", "token signing key: ok");
		return 0;
	}
	if (s != NULL && strlen(s) >= sizeof(auth_config.key))
		snprintf(why, sizeof(why), "FLOW_JWT_SECRET is longer than %zu bytes",
			 sizeof(auth_config.key) - 1);
	if (s == NULL || *s == '\0')
		snprintf(why, sizeof(why), "FLOW_JWT_SECRET is not set (generate one with `openssl rand -base64 48`)");
	if (production(cfg)) {
		log_error("security.check", "token signing key: CRITICAL: %s", why);
		return 1;
	}
	if (jwt_random_secret((char *)auth_config.key, sizeof(auth_config.key)) != 0) {
		log_error("security.check", "token signing key: CRITICAL: cannot generate one");
		return 1;
	}
	auth_config.key_len = strlen((char *)auth_config.key);
	log_warn("security.check",
		 "token signing key: %s; using a random per-process key (development only: "
		 "tokens will not survive a restart)",
		 why);
	return 0;
}

static bool loopback(const char *url)
{
	const char *host = strstr(url, "://");

	host = host ? host + 3 : url;
	return strncmp(host, "127.", 4) == 0 || strncmp(host, "localhost:", 10) == 0 ||
	       strncmp(host, "[::1]:", 6) == 0;
}

/* Returns the number of critical failures among the listeners. */
static int check_listeners(const struct config *cfg)
{
	char buf[1024];
	const char *urls[CONFIG_MAX_LISTEN];
	int n = config_listen_urls(cfg, buf, sizeof(buf), urls), bad = 0;

	for (int i = 0; i < n; i++) {
		bool tls = strncmp(urls[i], "tls+", 4) == 0;
		bool tcp = strncmp(urls[i], "tcp", 3) == 0;

		if (tls && (cfg->tls_cert[0] == '\0' || cfg->tls_key[0] == '\0')) {
			log_error("security.check", "tls: CRITICAL: %s needs --tls-cert and --tls-key",
				  urls[i]);
			bad++;
		} else if (tcp && production(cfg) && !cfg->allow_plaintext) {
			log_error("security.check",
				  "plaintext: CRITICAL: %s has no TLS in production; use tls+tcp:// "
				  "or set --allow-plaintext (FLOW_ALLOW_PLAINTEXT=1)",
				  urls[i]);
			bad++;
		} else if (tcp && !loopback(urls[i])) {
			log_warn("security.check", "plaintext: %s is reachable off this host without TLS",
				 urls[i]);
		} else {
			log_info("security.check", "listener %s: ok", urls[i]);
		}
	}
	return bad;
}

int security_check(const struct config *cfg, char *err, size_t errlen)
{
	int bad = check_secret(cfg) + check_listeners(cfg);

	if (bad > 0) {
		snprintf(err, errlen, "%d critical security check%s failed (see the log above)", bad,
			 bad == 1 ? "" : "s");
		return -1;
	}
	log_info("security.check", "all checks passed (%s)", cfg->env);
	return 0;
}
