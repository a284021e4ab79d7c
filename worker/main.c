/*
 * flow-worker - pulls queue items from flowd and runs the agent each names.
 *
 *   flow-worker --url tcp://flowd:7600 --agents /etc/flowd/agents.conf --concurrency 4
 *
 * Settings: config.h (flow-worker --help). Signals: SIGTERM/SIGINT stop
 * gracefully (a second one stops running agents at once), SIGHUP re-reads
 * the log settings from the --config file (without one it toggles debug
 * logging). Exit status: 0 after a clean stop, 1 when flowd refused
 * the worker, 2 for bad settings or a bad agents file.
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agents.h"
#include "config.h"
#include "exitguard.h"
#include "log.h"
#include "stopflag.h"
#include "worker.h"

#ifndef FLOW_WORKER_VERSION
#define FLOW_WORKER_VERSION "0.0.0"
#endif

struct signals {
	sigset_t set;
	struct stopflag *stop, *hurry;
	enum log_level level; /* the configured one */
	bool have_config;     /* started with --config / FLOW_CONFIG */
	int argc;
	char **argv;
};

/* SIGHUP without a settings file: between the configured level and debug. */
static void toggle_debug(const struct signals *sg)
{
	enum log_level to = log_toggle_debug(sg->level);

	log_warn("worker.log_level", "SIGHUP: log level is now %s", log_level_name(to));
}

/* SIGHUP with a settings file: the settings are loaded again (file, then
 * environment, then flags) and the log level and format applied; the other
 * settings take effect at the next start. */
static void reload(struct signals *sg)
{
	static struct worker_config fresh;
	char err[1024];

	memset(&fresh, 0, sizeof(fresh));
	if (worker_config_load(&fresh, sg->argc, sg->argv, err, sizeof(err)) != 0) {
		log_warn("worker.reload_failed", "SIGHUP: settings not reloaded: %s", err);
		return;
	}
	sg->level = (enum log_level)log_level_parse(fresh.log_level);
	log_set_level(sg->level);
	log_set_json(strcmp(fresh.log_format, "json") == 0);
	explicit_bzero(fresh.token, sizeof(fresh.token));
	log_info("worker.reload", "SIGHUP: settings reloaded from %s: log level %s, format %s",
		 fresh.config, fresh.log_level, fresh.log_format);
}

static void *signal_main(void *arg)
{
	struct signals *sg = arg;
	int sig;

	for (;;) {
		if (sigwait(&sg->set, &sig) != 0)
			continue;
		if (sig == SIGHUP && sg->have_config) {
			reload(sg);
		} else if (sig == SIGHUP) {
			toggle_debug(sg);
		} else if (!stopflag_is_set(sg->stop)) {
			log_info("worker.signal", "received %s; stopping",
				 sig == SIGTERM ? "SIGTERM" : "SIGINT");
			stopflag_set(sg->stop);
		} else {
			log_warn("worker.signal", "received %s again; stopping running agents now",
				 sig == SIGTERM ? "SIGTERM" : "SIGINT");
			stopflag_set(sg->hurry);
		}
	}
	return NULL;
}

/* Descriptors 0-2 must exist, or pipes made for agents could take them. */
static void ensure_std_fds(void)
{
	for (int fd = 0; fd < 3; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) < 0)
			exit(2);
}

static void print_agents(const agents *ag)
{
	for (size_t i = 0; i < agents_count(ag); i++) {
		const struct agent *a = agents_get(ag, i);

		if (agent_is_builtin(a)) {
			printf("agent %s: built in (completes at once, runs nothing)\n", a->id);
			continue;
		}
		printf("agent %s:", a->id);
		for (char **p = a->argv; *p; p++)
			printf(" %s", *p);
		if (a->timeout_s)
			printf(" (timeout %d s)", a->timeout_s);
		printf("\n");
	}
}

/* What closing the connections may take once the worker has stopped
 * (exitguard.h: nng 1.5 can hang there after a call that timed out). */
#define CLOSE_BOUND_MS 2000

static void bound_close(int status)
{
	exit_guard_arm("flow-worker", CLOSE_BOUND_MS, status);
}

static int run(const struct worker_config *cfg, const agents *ag, int argc, char **argv)
{
	/* static: a registration call left behind may still look at them */
	static struct stopflag stop, hurry;
	static struct signals sg = { .stop = &stop, .hurry = &hurry };
	pthread_t th;
	int rc;

	sg.level = (enum log_level)log_level_parse(cfg->log_level);
	sg.have_config = cfg->config[0] != '\0';
	sg.argc = argc;
	sg.argv = argv;
	sigemptyset(&sg.set);
	sigaddset(&sg.set, SIGINT);
	sigaddset(&sg.set, SIGTERM);
	sigaddset(&sg.set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sg.set, NULL); /* before any thread starts */
	signal(SIGPIPE, SIG_IGN);
	if (stopflag_init(&stop) != 0 || stopflag_init(&hurry) != 0 ||
	    pthread_create(&th, NULL, signal_main, &sg) != 0) {
		log_error("worker.start_failed", "cannot start the signal thread");
		return 1;
	}
	pthread_detach(th);
	log_info("worker.start", "flow-worker %s: %s, flowd at %s", FLOW_WORKER_VERSION, cfg->name,
		 cfg->url);
	worker_on_stopped(bound_close);
	rc = worker_run(cfg, ag, &stop, &hurry);
	return rc; /* the signal thread ends with the process */
}

int main(int argc, char **argv)
{
	static struct worker_config cfg;
	agents *ag = NULL;
	char err[1024];
	int rc;

	ensure_std_fds();
	log_set_program("flow-worker");
	if (worker_config_load(&cfg, argc, argv, err, sizeof(err)) != 0) {
		fprintf(stderr, "flow-worker: %s\n", err);
		return 2;
	}
	if (cfg.help) {
		worker_config_usage(stdout);
		return 0;
	}
	if (cfg.version) {
		printf("flow-worker %s\n", FLOW_WORKER_VERSION);
		return 0;
	}
	log_set_level((enum log_level)log_level_parse(cfg.log_level));
	log_set_json(strcmp(cfg.log_format, "json") == 0);
	if (agents_load(cfg.agents_file, &ag, err, sizeof(err)) != 0) {
		fprintf(stderr, "flow-worker: %s\n", err);
		return 2;
	}
	if (cfg.check_config) {
		worker_config_log(&cfg);
		print_agents(ag);
		printf("flow-worker: configuration is valid\n");
		agents_free(ag);
		return 0;
	}
	rc = run(&cfg, ag, argc, argv);
	agents_free(ag);
	return rc;
}
