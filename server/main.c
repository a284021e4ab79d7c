/*
 * flowd - the flow coordinator: RPC over nng, state in PostgreSQL.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "jobs/rescuer.h"
#include "dispatch.h"
#include "log.h"
#include "rpc_server.h"
#include "security.h"
#include "status.h"
#include "store/migrate.h"
#include "store/store.h"

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

static int run(const struct config *cfg)
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
	rpc_server *srv;
	struct rescuer *rs = NULL;
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* before any thread starts */
	signal(SIGPIPE, SIG_IGN);
	if (rpc_server_start(&o, &srv, err, sizeof(err)) != FLOW_OK) {
		log_error("rpc.start_failed", "%s", err);
		return 1;
	}
	if (rescuer_start(cfg->db_url, &rs) != FLOW_OK) {
		log_error("rescuer.start_failed", "cannot start the lease rescuer");
		rpc_server_stop(srv, 0);
		return 1;
	}
	log_info("flowd.ready", "flowd %s ready (%ld service threads)", FLOWD_VERSION,
		 cfg->threads);
	sigwait(&set, &sig);
	log_info("flowd.stopping", "received %s; finishing in-flight requests (up to %ld ms)",
		 sig == SIGTERM ? "SIGTERM" : "SIGINT", cfg->shutdown_grace_ms);
	rescuer_stop(rs);
	rpc_server_stop(srv, (int)cfg->shutdown_grace_ms);
	log_info("flowd.stopped", "stopped");
	return 0;
}

int main(int argc, char **argv)
{
	struct config cfg;
	char err[512];

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
	if (dispatch_init() != FLOW_OK)
		return 1;
	if (prepare_database(&cfg) != 0)
		return 1;
	if (cfg.migrate_only)
		return 0;
	return run(&cfg);
}
