/*
 * flow-bench - flowd's benchmark program (docs/performance.md).
 *
 *   flow-bench --db URL [options] [MODE...]
 *
 * MODE: rpc, drain, latency, scale, growth, memory, or all (the default).
 * It starts flowd and flow-worker from its own folder as a mode needs, on
 * a fresh database bench_<pid>_<mode> of the server URL names (dropped at
 * the end), prints the setup and one line per figure (--json: one JSON
 * object per figure), and exits 0 when every mode ran (a missed target is
 * a figure, not an error), 1 when one could not, 2 on bad usage.
 */
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>

#include "bench.h"
#include "reporter.h"

#ifndef FLOW_BENCH_VERSION
#define FLOW_BENCH_VERSION "dev"
#endif
/* flow-worker's claim batch (worker/worker.c CLAIM_MAX_ITEMS) */
#define WORKER_CLAIM_MAX 500

struct bench_opts opt;
volatile int bench_interrupted;

static const struct {
	const char *name;
	int (*run)(void);
} modes[] = {
	{ "rpc", mode_rpc },	 { "drain", mode_drain },   { "latency", mode_latency },
	{ "scale", mode_scale }, { "growth", mode_growth }, { "memory", mode_memory },
};
#define N_MODES (sizeof(modes) / sizeof(modes[0]))

static void usage(FILE *out)
{
	fprintf(out,
		"usage: flow-bench --db URL [options] [MODE...]\n"
		"\n"
		"MODE: rpc drain latency scale growth memory, or all (default)\n"
		"\n"
		"  --db URL              PostgreSQL server (a role that may CREATE DATABASE);\n"
		"                        or FLOW_BENCH_DB\n"
		"  --items N             drain/growth: items per drain (20000)\n"
		"  --workers W           drain/growth/latency: flow-worker processes (4)\n"
		"  --concurrency C       --concurrency of each flow-worker (16)\n"
		"  --prefetch P          --prefetch of each flow-worker (484: claims of up to\n"
		"                        C + P = 500 items)\n"
		"  --threads T           flowd --threads (4, flowd's default)\n"
		"  --per-ticket K        items per ticket: 1 ticket item + K-1 tasks (100)\n"
		"  --rpc-ms MS           rpc: length of one measured run (2000)\n"
		"  --rounds R            rpc: interleaved rounds (3)\n"
		"  --rpc-clients N       rpc: the concurrent case (16)\n"
		"  --lat-items N         latency: items enqueued one at a time (300)\n"
		"  --lat-gap-ms MS       latency: pause between enqueues (5)\n"
		"  --scale-workers LIST  scale: worker counts (1,4,16,64)\n"
		"  --scale-items N       scale: items per drain (30000)\n"
		"  --scale2-workers W    scale: workers for 1 vs 2 flowd (16)\n"
		"  --history N           growth: finished rows inserted (1000000)\n"
		"  --idle-callers N      memory: idle long-polling workers (200)\n"
		"  --timeout S           give up on one drain after S seconds (600)\n"
		"  --smoke               tiny sizes for CI (N=200, 2 workers, scale 1,2,4,\n"
		"                        growth 5000 rows, 10 idle callers)\n"
		"  --json                one JSON object per figure on stdout (setup too)\n"
		"  --json-file FILE      also append the JSON objects to FILE\n"
		"  --no-setup            do not print the setup block\n"
		"  --no-analyze          drains: no ANALYZE between the enqueue and the drain\n"
		"  --keep                keep the databases and folders (debugging)\n"
		"  --setup-sql FILE      experiments: run FILE in each database once flowd\n"
		"                        has migrated it (e.g. a changed function or index)\n"
		"  --agent-stamp FILE    run as the latency mode's agent\n");
}

static long num(const char *s, const char *name, long lo, long hi)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "flow-bench: %s must be a number in %ld..%ld\n", name, lo, hi);
		exit(2);
	}
	return v;
}

static void scale_list(const char *s)
{
	char buf[256], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", s);
	opt.n_scale = 0;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (opt.n_scale == BENCH_MAX_SCALE) {
			fprintf(stderr, "flow-bench: at most %d scale points\n", BENCH_MAX_SCALE);
			exit(2);
		}
		opt.scale_w[opt.n_scale++] = num(t, "--scale-workers", 1, ENV_MAX_WORKERS);
	}
	if (opt.n_scale == 0)
		exit(2);
}

static void defaults(bool smoke)
{
	opt.items = smoke ? 200 : 20000;
	opt.workers = smoke ? 2 : 4;
	opt.concurrency = 16;
	opt.prefetch = 484;
	opt.threads = 4;
	opt.per_ticket = 100;
	opt.rpc_ms = smoke ? 200 : 2000;
	opt.rounds = smoke ? 1 : 3;
	opt.rpc_clients = 16;
	opt.lat_items = smoke ? 10 : 300;
	opt.lat_gap_ms = 5;
	opt.scale_items = smoke ? 200 : 30000;
	scale_list(smoke ? "1,2,4" : "1,4,16,64");
	opt.scale2_workers = smoke ? 2 : 16;
	opt.history = smoke ? 5000 : 1000000;
	opt.idle_callers = smoke ? 10 : 200;
	opt.timeout_s = smoke ? 120 : 600;
}

enum {
	O_DB = 256,
	O_ITEMS,
	O_WORKERS,
	O_CONC,
	O_PREFETCH,
	O_THREADS,
	O_PER_TICKET,
	O_RPC_MS,
	O_ROUNDS,
	O_RPC_CLIENTS,
	O_LAT_ITEMS,
	O_LAT_GAP,
	O_SCALE_W,
	O_SCALE_ITEMS,
	O_SCALE2,
	O_HISTORY,
	O_IDLE,
	O_TIMEOUT,
	O_SMOKE,
	O_JSON,
	O_JSON_FILE,
	O_KEEP,
	O_STAMP,
	O_SETUP_SQL,
	O_NO_SETUP,
	O_NO_ANALYZE,
	O_HELP
};

static const struct option longopts[] = {
	{ "db", required_argument, NULL, O_DB },
	{ "items", required_argument, NULL, O_ITEMS },
	{ "workers", required_argument, NULL, O_WORKERS },
	{ "concurrency", required_argument, NULL, O_CONC },
	{ "prefetch", required_argument, NULL, O_PREFETCH },
	{ "threads", required_argument, NULL, O_THREADS },
	{ "per-ticket", required_argument, NULL, O_PER_TICKET },
	{ "rpc-ms", required_argument, NULL, O_RPC_MS },
	{ "rounds", required_argument, NULL, O_ROUNDS },
	{ "rpc-clients", required_argument, NULL, O_RPC_CLIENTS },
	{ "lat-items", required_argument, NULL, O_LAT_ITEMS },
	{ "lat-gap-ms", required_argument, NULL, O_LAT_GAP },
	{ "scale-workers", required_argument, NULL, O_SCALE_W },
	{ "scale-items", required_argument, NULL, O_SCALE_ITEMS },
	{ "scale2-workers", required_argument, NULL, O_SCALE2 },
	{ "history", required_argument, NULL, O_HISTORY },
	{ "idle-callers", required_argument, NULL, O_IDLE },
	{ "timeout", required_argument, NULL, O_TIMEOUT },
	{ "smoke", no_argument, NULL, O_SMOKE },
	{ "json", no_argument, NULL, O_JSON },
	{ "json-file", required_argument, NULL, O_JSON_FILE },
	{ "keep", no_argument, NULL, O_KEEP },
	{ "agent-stamp", required_argument, NULL, O_STAMP },
	{ "setup-sql", required_argument, NULL, O_SETUP_SQL },
	{ "no-setup", no_argument, NULL, O_NO_SETUP },
	{ "no-analyze", no_argument, NULL, O_NO_ANALYZE },
	{ "help", no_argument, NULL, O_HELP },
	{ NULL, 0, NULL, 0 },
};

static void parse(int argc, char **argv)
{
	int c;

	/* --smoke sets the defaults the other options then change */
	defaults(false);
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--smoke") == 0)
			defaults(true);
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case O_DB:
			opt.db = optarg;
			break;
		case O_ITEMS:
			opt.items = num(optarg, "--items", 1, 10000000);
			break;
		case O_WORKERS:
			opt.workers = num(optarg, "--workers", 1, ENV_MAX_WORKERS);
			break;
		case O_CONC:
			opt.concurrency = num(optarg, "--concurrency", 1, 1024);
			break;
		case O_PREFETCH:
			opt.prefetch = num(optarg, "--prefetch", 0, 10000);
			break;
		case O_THREADS:
			opt.threads = num(optarg, "--threads", 1, 256);
			break;
		case O_PER_TICKET:
			opt.per_ticket = num(optarg, "--per-ticket", 1, 10000);
			break;
		case O_RPC_MS:
			opt.rpc_ms = num(optarg, "--rpc-ms", 10, 600000);
			break;
		case O_ROUNDS:
			opt.rounds = num(optarg, "--rounds", 1, 100);
			break;
		case O_RPC_CLIENTS:
			opt.rpc_clients = num(optarg, "--rpc-clients", 1, 64);
			break;
		case O_LAT_ITEMS:
			opt.lat_items = num(optarg, "--lat-items", 1, 100000);
			break;
		case O_LAT_GAP:
			opt.lat_gap_ms = num(optarg, "--lat-gap-ms", 0, 10000);
			break;
		case O_SCALE_W:
			scale_list(optarg);
			break;
		case O_SCALE_ITEMS:
			opt.scale_items = num(optarg, "--scale-items", 1, 10000000);
			break;
		case O_SCALE2:
			opt.scale2_workers = num(optarg, "--scale2-workers", 2, ENV_MAX_WORKERS);
			break;
		case O_HISTORY:
			opt.history = num(optarg, "--history", 1, 100000000);
			break;
		case O_IDLE:
			opt.idle_callers = num(optarg, "--idle-callers", 1, 5000);
			break;
		case O_TIMEOUT:
			opt.timeout_s = num(optarg, "--timeout", 1, 86400);
			break;
		case O_SMOKE:
			opt.smoke = true;
			break;
		case O_JSON:
			opt.json = true;
			break;
		case O_JSON_FILE:
			opt.json_file = optarg;
			break;
		case O_KEEP:
			opt.keep = true;
			break;
		case O_STAMP:
			exit(stamp_main(optarg));
		case O_SETUP_SQL:
			opt.setup_sql = optarg;
			break;
		case O_NO_SETUP:
			opt.no_setup = true;
			break;
		case O_NO_ANALYZE:
			opt.no_analyze = true;
			break;
		case O_HELP:
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (opt.db == NULL)
		opt.db = getenv("FLOW_BENCH_DB");
	if (opt.db == NULL || *opt.db == '\0') {
		fprintf(stderr, "flow-bench: no database: give --db URL (a PostgreSQL server "
				"where this role may CREATE DATABASE), or set FLOW_BENCH_DB\n");
		exit(2);
	}
}

/* flowd and flow-worker are run from flow-bench's own folder. */
static int find_bindir(void)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		return -1;
	self[n] = '\0';
	snprintf(opt.bindir, sizeof(opt.bindir), "%s", dirname(self));
	return 0;
}

static void on_signal(int sig)
{
	bench_interrupted = 1;
	signal(sig, SIG_DFL); /* a second one stops flow-bench at once */
}

/* ---- the setup block ----------------------------------------------------------- */

static void cpu_model(char *buf, size_t len)
{
	char line[512];
	FILE *f = fopen("/proc/cpuinfo", "re");

	snprintf(buf, len, "unknown");
	while (f && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		if (strncmp(line, "model name", 10) == 0 && colon) {
			snprintf(buf, len, "%s", colon + 2);
			buf[strcspn(buf, "\n")] = '\0';
			break;
		}
	}
	if (f)
		fclose(f);
}

static long mem_total_mib(void)
{
	char line[256];
	long kib = 0;
	FILE *f = fopen("/proc/meminfo", "re");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib / 1024;
}

static void setup_postgres(void)
{
	static const char *const sql =
	    "SELECT current_setting('server_version'), current_setting('shared_buffers'), "
	    "current_setting('synchronous_commit'), current_setting('fsync'), "
	    "current_setting('full_page_writes'), current_setting('wal_sync_method'), "
	    "current_setting('max_connections'), current_setting('work_mem')";
	static const char *const names[] = { "postgres.version",
					     "postgres.shared_buffers",
					     "postgres.synchronous_commit",
					     "postgres.fsync",
					     "postgres.full_page_writes",
					     "postgres.wal_sync_method",
					     "postgres.max_connections",
					     "postgres.work_mem" };
	PGconn *c = PQconnectdb(opt.db);
	PGresult *r;

	if (PQstatus(c) != CONNECTION_OK) {
		report_setup("postgres", "cannot connect: %s", PQerrorMessage(c));
		PQfinish(c);
		return;
	}
	report_setup("postgres.server", "%s:%s (user %s)", PQhost(c), PQport(c), PQuser(c));
	r = PQexec(c, sql);
	if (PQresultStatus(r) == PGRES_TUPLES_OK)
		for (int i = 0; i < 8; i++)
			report_setup(names[i], "%s", PQgetvalue(r, 0, i));
	PQclear(r);
	PQfinish(c);
}

static void setup_block(const char *mode_list)
{
	struct utsname u;
	char cpu[256], date[64];
	time_t now = time(NULL);

	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	uname(&u);
	cpu_model(cpu, sizeof(cpu));
	report_setup("flow-bench", "%s, modes %s%s", FLOW_BENCH_VERSION, mode_list,
		     opt.smoke ? " (--smoke sizes)" : "");
	report_setup("date", "%s", date);
	report_setup("machine.cores", "%ld", sysconf(_SC_NPROCESSORS_ONLN));
	report_setup("machine.cpu", "%s", cpu);
	report_setup("machine.memory", "%ld MiB", mem_total_mib());
	report_setup("machine.kernel", "%s %s", u.sysname, u.release);
	report_setup("nng", "%s", nng_version());
	setup_postgres();
	report_setup("flowd",
		     "--threads=%ld --rate-rpc=0 (no per-principal RPC limit) "
		     "--history-retention=315360000 --log-level=warn, other settings default",
		     opt.threads);
	report_setup("transport", "ipc:// (unix socket in a private folder), protobuf over nng "
				  "REQ/REP");
	report_setup("auth", "clients: the admin's JWT (Login); workers: a service account's "
			     "API key");
	report_setup("worker",
		     "--log-level=warn --prefetch=%ld; Claim max_items = min(free slots, %d), "
		     "long poll; Report batch <= %d outcomes / %d KiB, %d ms window; noop "
		     "completes in the claim thread",
		     opt.prefetch, WORKER_CLAIM_MAX, REPORTER_BATCH, REPORTER_BATCH_BYTES / 1024,
		     REPORTER_WINDOW_MS);
	report_setup("statistics", "%s",
		     opt.no_analyze ? "no ANALYZE before the drains (--no-analyze): fresh tables"
				    : "ANALYZE queue_items, tasks, tickets after each enqueue, "
				      "before the drain (not timed)");
	report_setup("queue", "one queue, max_parallel_items 10000, lease 30 s; items of "
			      "agent noop");
	report_setup("sizes.drain",
		     "items %ld, workers %ld x concurrency %ld, %ld items per "
		     "ticket (1 ticket item + %ld tasks), EnqueueTicket per ticket; median "
		     "of " MEDIAN_REPEAT_TEXT " drains",
		     opt.items, opt.workers, opt.concurrency, opt.per_ticket, opt.per_ticket - 1);
	report_setup("sizes.rpc", "%ld ms per run, %ld rounds, 1 and %ld clients", opt.rpc_ms,
		     opt.rounds, opt.rpc_clients);
	report_setup("sizes.latency", "%ld items %ld ms apart, %ld idle workers x %ld",
		     opt.lat_items, opt.lat_gap_ms, opt.workers, opt.concurrency);
	{
		char list[128] = "";
		size_t off = 0;

		for (int i = 0; i < opt.n_scale; i++)
			off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%ld",
						i ? "," : "", opt.scale_w[i]);
		report_setup("sizes.scale",
			     "items %ld, workers %s (x %ld), 2 flowd with %ld "
			     "workers",
			     opt.scale_items, list, opt.concurrency, opt.scale2_workers);
	}
	report_setup("sizes.growth", "items %ld per drain, %ld finished history rows", opt.items,
		     opt.history);
	report_setup("sizes.memory", "%ld idle long-polling callers, 1 idle flow-worker",
		     opt.idle_callers);
	if (opt.setup_sql)
		report_setup("EXPERIMENT",
			     "--setup-sql %s ran in every database: figures are "
			     "not those of flowd as built",
			     opt.setup_sql);
	report_setup("clocks", "CLOCK_MONOTONIC for durations; latency mode: CLOCK_REALTIME "
			       "(us) across processes and PostgreSQL's clock_timestamp()");
	report_setup_end();
}

int main(int argc, char **argv)
{
	bool want[N_MODES] = { false }, any = false;
	char mode_list[128] = "";
	int failed = 0;

	/* the latency mode's agent: nothing else first, it is timed */
	if (argc == 3 && strcmp(argv[1], "--agent-stamp") == 0)
		return stamp_main(argv[2]);
	parse(argc, argv);
	if (find_bindir() != 0) {
		fprintf(stderr, "flow-bench: cannot find its own folder\n");
		return 1;
	}
	for (int i = optind; i < argc; i++) {
		bool all = strcmp(argv[i], "all") == 0, found = all;

		for (size_t m = 0; m < N_MODES; m++)
			if (all || strcmp(argv[i], modes[m].name) == 0) {
				want[m] = true;
				found = any = true;
			}
		if (!found) {
			fprintf(stderr, "flow-bench: unknown mode %s\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	for (size_t m = 0; m < N_MODES; m++) {
		if (!any)
			want[m] = true;
		if (want[m])
			snprintf(mode_list + strlen(mode_list),
				 sizeof(mode_list) - strlen(mode_list), "%s%s",
				 mode_list[0] ? "," : "", modes[m].name);
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (!opt.no_setup)
		setup_block(mode_list);
	for (size_t m = 0; m < N_MODES && !bench_interrupted; m++) {
		double t0;

		if (!want[m])
			continue;
		report_note("mode %s", modes[m].name);
		t0 = stats_mono_s();
		if (modes[m].run() != 0) {
			fprintf(stderr, "flow-bench: mode %s failed\n", modes[m].name);
			failed++;
		} else {
			report_note("mode %s done in %.1f s", modes[m].name, stats_mono_s() - t0);
		}
	}
	if (bench_interrupted) {
		fprintf(stderr, "flow-bench: interrupted\n");
		return 1;
	}
	report_note("%d target(s) missed", report_failed_targets);
	return failed ? 1 : 0;
}
