/*
 * flowd - the flow coordinator: RPC over nng, state in PostgreSQL.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena.h"
#include "auth/auth.h"
#include "auth/password.h"
#include "config.h"
#include "jobs/rescuer.h"
#include "dispatch.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "rpc_server.h"
#include "security.h"
#include "status.h"
#include "store/migrate.h"
#include "store/store.h"
#include "store/users.h"

#ifndef FLOWD_VERSION
#define FLOWD_VERSION "0.0.0"
#endif

/* Connects and applies migrations, retrying for up to cfg->db_wait_ms. */
static int prepare_database(const struct config *cfg)
{
	int64_t until = req_now_ms() + cfg->db_wait_ms;
	char err[1024];
	store_conn *db = NULL;
	int rv, applied = 0;

	while ((rv = store_open(cfg->db_url, &db, err, sizeof(err))) == FLOW_UNAVAILABLE &&
	       req_now_ms() < until) {
		log_warn("db.wait", "%s; retrying", err);
		usleep(500 * 1000);
	}
	if (rv != FLOW_OK) {
		log_error("db.connect_failed", "%s", err);
		return -1;
	}
	rv = store_migrate(store_pg(db), &applied, err, sizeof(err));
	if (rv != FLOW_OK)
		log_error("db.migrate_failed", "%s", err);
	else
		log_info("db.ready", "schema at version %d (%d migrations applied now)",
			 store_schema_target(), applied);
	store_close(db);
	return rv == FLOW_OK ? 0 : -1;
}

/* Warns when no enabled admin exists: then nobody can manage accounts. */
static void check_admins(struct flow_req *r)
{
	Flow__V1__User **users;
	size_t n, admins = 0;

	if (users_list(r, &users, &n) != FLOW_OK)
		return;
	for (size_t i = 0; i < n; i++)
		admins += strcmp(users[i]->role, "admin") == 0 && !users[i]->disabled;
	if (admins == 0)
		log_warn("admin.none", "no enabled admin account: set FLOW_ADMIN_PASSWORD or run "
				       "flowd --create-admin (password on stdin)");
}

/*
 * Creates the first admin (cfg->admin_user) with password pw (when not
 * NULL) unless that user exists, then checks that some admin exists.
 * from_env: the password came from FLOW_ADMIN_PASSWORD (an existing admin is
 * then normal on every start but the first).
 */
static int create_admin(const struct config *cfg, const char *pw, bool from_env)
{
	struct flow_req r = { 0 };
	char err[512];
	bool created = false;
	int rv = FLOW_OK;

	r.request_id = "create-admin";
	r.method = "create-admin";
	snprintf(r.peer, sizeof(r.peer), "local");
	snprintf(r.who.username, sizeof(r.who.username), "flowd");
	r.arena = arena_new(0);
	if (r.arena == NULL || store_open(cfg->db_url, &r.db, err, sizeof(err)) != FLOW_OK) {
		log_error(pw ? "admin.create_failed" : "admin.check_failed",
			  "cannot connect to the database");
		arena_free(r.arena);
		return pw == NULL ? 0 : -1; /* only the check was skipped */
	}
	if (pw != NULL)
		rv = users_create_admin(&r, cfg->admin_user, pw, &created);
	if (rv != FLOW_OK)
		log_error("admin.create_failed", "cannot create admin %s: %s", cfg->admin_user,
			  r.message);
	else if (created)
		log_info("admin.created", "created admin %s", cfg->admin_user);
	else if (!from_env)
		log_warn("admin.exists", "user %s already exists; nothing changed", cfg->admin_user);
	if (rv == FLOW_OK && from_env)
		check_admins(&r);
	store_close(r.db);
	arena_free(r.arena);
	return rv == FLOW_OK && (created || from_env) ? 0 : -1;
}

/* --create-admin: the password is the first line of stdin (never argv). */
static int create_admin_from_stdin(const struct config *cfg)
{
	char pw[PASSWORD_MAX_LEN + 2];
	size_t n;
	int rv;

	if (fgets(pw, sizeof(pw), stdin) == NULL) {
		fprintf(stderr, "flowd: --create-admin reads the password from stdin; got none\n");
		return 2;
	}
	n = strcspn(pw, "\r\n");
	pw[n] = '\0';
	rv = create_admin(cfg, pw, false);
	explicit_bzero(pw, sizeof(pw));
	return rv == 0 ? 0 : 1;
}

/*
 * SIGHUP: with a settings file (--config), the settings are loaded again
 * (file, environment, flags) and the log level and format applied; other
 * settings need a restart. Without one, logging switches between the
 * configured level and debug.
 */
static void reload(const struct config *cfg, int argc, char **argv)
{
	static struct config fresh;
	char err[512];

	if (cfg->config[0] == '\0') {
		enum log_level to =
		    log_toggle_debug((enum log_level)log_level_parse(cfg->log_level));

		log_warn("flowd.log_level", "SIGHUP: log level is now %s", log_level_name(to));
		return;
	}
	if (config_load(&fresh, argc, argv, err, sizeof(err)) != 0) {
		log_warn("flowd.reload_failed", "SIGHUP: settings not reloaded: %s", err);
		return;
	}
	log_set_level((enum log_level)log_level_parse(fresh.log_level));
	log_set_json(strcmp(fresh.log_format, "json") == 0);
	log_info("flowd.reload", "SIGHUP: settings reloaded from %s: log level %s, format %s",
		 fresh.config, fresh.log_level, fresh.log_format);
}

static int run(const struct config *cfg, int argc, char **argv)
{
	char buf[1024], err[512];
	const char *urls[CONFIG_MAX_LISTEN];
	int n = config_listen_urls(cfg, buf, sizeof(buf), urls);
	struct rpc_server_opts o = {
		.urls = urls,
		.n_urls = (size_t)n,
		.n_threads = (int)cfg->threads,
		.n_contexts = (int)cfg->contexts,
		.db_conninfo = cfg->db_url,
		.limits = { (size_t)cfg->max_message, (size_t)cfg->max_string,
			    (uint32_t)cfg->max_deadline_ms },
		.tls = { cfg->tls_cert, cfg->tls_key, cfg->tls_client_ca, NULL },
	};
	struct http_opts ho = {
		.listen = cfg->http_listen,
		.db_conninfo = cfg->db_url,
		.version = FLOWD_VERSION,
		.pool_size = (int)cfg->threads,
	};
	rpc_server *srv;
	struct rescuer *rs = NULL;
	http_server *hs = NULL;
	sigset_t set;
	int sig = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* before any thread starts */
	signal(SIGPIPE, SIG_IGN);
	metrics_init();
	if (rpc_server_start(&o, &srv, err, sizeof(err)) != FLOW_OK) {
		log_error("rpc.start_failed", "%s", err);
		return 1;
	}
	if (rescuer_start(cfg->db_url, &rs) != FLOW_OK) {
		log_error("rescuer.start_failed", "cannot start the lease rescuer");
		rpc_server_stop(srv, 0);
		return 1;
	}
	if (cfg->http_listen[0] != '\0' && http_start(&ho, &hs, err, sizeof(err)) != FLOW_OK) {
		log_error("http.start_failed", "%s", err);
		rescuer_stop(rs);
		rpc_server_stop(srv, 0);
		return 1;
	}
	log_info("flowd.ready", "flowd %s ready (%ld service threads)", FLOWD_VERSION,
		 cfg->threads);
	while (sigwait(&set, &sig) != 0 || sig == SIGHUP)
		if (sig == SIGHUP)
			reload(cfg, argc, argv);
	log_info("flowd.stopping", "received %s; finishing in-flight requests (up to %ld ms)",
		 sig == SIGTERM ? "SIGTERM" : "SIGINT", cfg->shutdown_grace_ms);
	http_draining(hs); /* /readyz: 503 while requests finish; /healthz still 200 */
	rescuer_stop(rs);
	rpc_server_stop(srv, (int)cfg->shutdown_grace_ms);
	http_stop(hs);
	log_info("flowd.stopped", "stopped");
	return 0;
}

int main(int argc, char **argv)
{
	struct config cfg;
	char err[512];
	const char *pw;
	int rv;

	/*
	 * A fixed mmap threshold: blocks of 128 KiB or more (the 19 MiB Argon2id
	 * buffer of every password hash) are mapped and given back on free.
	 * Left dynamic, glibc raises the threshold after the first such free and
	 * every thread that ever hashed keeps its buffer in its heap for good.
	 */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	log_set_program("flowd");
	if (config_load(&cfg, argc, argv, err, sizeof(err)) != 0) {
		fprintf(stderr, "flowd: %s\n", err);
		return 2;
	}
	if (cfg.help) {
		config_usage(stdout);
		return 0;
	}
	if (cfg.version) {
		printf("flowd %s (schema %d)\n", FLOWD_VERSION, store_schema_target());
		return 0;
	}
	config_apply(&cfg);
	log_set_level((enum log_level)log_level_parse(cfg.log_level));
	log_set_json(strcmp(cfg.log_format, "json") == 0);
	if (security_check(&cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "flowd: %s\n", err);
		return 1;
	}
	if (cfg.check_config) {
		config_log(&cfg);
		printf("flowd: configuration is valid\n");
		return 0;
	}
	if (dispatch_init(auth_guard) != FLOW_OK || auth_init() != FLOW_OK)
		return 1;
	if (prepare_database(&cfg) != 0)
		return 1;
	if (cfg.migrate_only)
		return 0;
	if (cfg.create_admin)
		return create_admin_from_stdin(&cfg);
	if ((pw = getenv("FLOW_ADMIN_PASSWORD")) != NULL && *pw == '\0')
		pw = NULL;
	if (create_admin(&cfg, pw, true) != 0)
		return 1;
	security_scrub_env("FLOW_ADMIN_PASSWORD"); /* not kept any longer than needed */
	rv = run(&cfg, argc, argv);
	auth_shutdown();
	return rv;
}
