/*
 * bench.h - flow-bench: flowd's benchmark program (docs/performance.md).
 *
 * Modules (one prefix each):
 *   main.c     options, the setup block, mode dispatch
 *   procs.c    env_: a throwaway database per mode, flowd and flow-worker
 *              processes, their log-in and credentials; proc_: RSS and CPU
 *              readings from /proc
 *   seed.c     seed_: projects, queues, tickets and tasks (libpq and RPC),
 *              bulk enqueue, finished history rows
 *   stats.c    stats_: clocks, latency samples and percentiles
 *   report.c   report_: one text line, or one JSON object, per figure
 *   mode_*.c   the modes: rpc, drain (also scale and growth), latency, memory
 *   stamp.c    the latency mode's agent: appends "item_id realtime_us"
 *
 * Everything is single-threaded except the client threads of the rpc and
 * memory modes, which only touch their own state.
 */
#ifndef FLOW_BENCH_H
#define FLOW_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <libpq-fe.h>
#include <protobuf-c/protobuf-c.h>

#include "rpc_client.h"

/* ---- options ---------------------------------------------------------------- */

#define BENCH_MAX_SCALE 8

struct bench_opts {
	const char *db;	       /* admin URL of the PostgreSQL server (CREATE DATABASE) */
	bool json;	       /* JSON objects instead of text lines on stdout */
	const char *json_file; /* also append JSON objects to this file */
	bool smoke;	       /* tiny sizes (ctest bench.smoke) */
	bool keep;	       /* keep databases and folders (debugging) */
	bool no_setup;	       /* skip the setup block (a later run of a series) */
	bool no_analyze;       /* drains: no ANALYZE between enqueue and drain */
	long items;	       /* drain / growth: items per drain */
	long workers;	       /* drain / latency: flow-worker processes */
	long concurrency;      /* --concurrency of each flow-worker */
	long prefetch;	       /* --prefetch of each flow-worker */
	long threads;	       /* flowd --threads */
	long per_ticket;       /* items per ticket: 1 ticket item + per_ticket-1 task items */
	long rpc_ms;	       /* rpc: length of one measured run, ms */
	long rounds;	       /* rpc: interleaved rounds */
	long rpc_clients;      /* rpc: the concurrent case (16) */
	long lat_items;	       /* latency: items enqueued one at a time */
	long lat_gap_ms;       /* latency: pause between two enqueues */
	long idle_callers;     /* memory: simulated idle workers (parked Claims) */
	long scale_items;      /* scale: items per drain */
	long scale_w[BENCH_MAX_SCALE];
	int n_scale;
	long scale2_workers;   /* scale: workers for the 1-vs-2 flowd comparison */
	long history;	       /* growth: finished rows inserted */
	long timeout_s;	       /* give up on one drain after this long */
	const char *setup_sql; /* experiments: SQL file run in each database after flowd starts */
	char bindir[4096];     /* folder of flow-bench, flowd and flow-worker */
};

extern struct bench_opts opt;

/* Set by SIGINT / SIGTERM: loops give up and clean up. */
extern volatile int bench_interrupted;

/* ---- processes and databases (procs.c) --------------------------------------- */

#define ENV_MAX_FLOWD 2
#define ENV_MAX_WORKERS 256

struct env_flowd {
	pid_t pid;
	char url[700];
	char log[700];
};

struct env {
	char tag[48]; /* mode tag, part of the database name */
	char *dir;    /* private folder: sockets, logs, agents files */
	char db_name[64];
	char db_url[1200];
	bool db_made;
	char secret[100];  /* FLOW_JWT_SECRET of every flowd */
	char password[64]; /* FLOW_ADMIN_PASSWORD */
	struct env_flowd flowd[ENV_MAX_FLOWD];
	int n_flowd;
	char token[2048];     /* the admin's access token */
	char worker_key[200]; /* API key of the service account "bench-worker" */
	pid_t workers[ENV_MAX_WORKERS];
	int n_workers;
	PGconn *pg;	  /* flow-bench's own connection to the database */
	pid_t postmaster; /* the server's postmaster when it runs here, else 0 */
};

/* Makes the folder and the database bench_<pid>_<tag>. 0 or -1. */
int env_open(struct env *e, const char *tag);
/* Starts one more flowd (extra arguments may be NULL-terminated list or
 * NULL); the first one also logs in and makes the worker's key. */
int env_flowd_start(struct env *e);
/* Starts a flow-worker on flowd number fi; agents may be NULL (noop only).
 * Returns its pid or -1. */
pid_t env_worker_start(struct env *e, int fi, const char *agents, long concurrency);
/* SIGTERM to every worker, waits; 0 when all exited 0. */
int env_workers_stop(struct env *e);
/* -1 if a worker exited already (and says which), else 0. */
int env_workers_alive(struct env *e);
/* Stops everything, drops the database, removes the folder. */
void env_close(struct env *e);
/* Prints the tail of every log in the folder to stderr. */
void env_dump_logs(const struct env *e);

/* Calls method on flowd number fi with the admin token. */
int env_call(struct env *e, int fi, const char *method, const ProtobufCMessage *req,
	     ProtobufCMessage **resp, struct rpc_status *st);

/* libpq helpers on e->pg: run SQL (no result rows needed) / rows (NULL on
 * failure, said on stderr; the caller clears the result) / one value. */
int env_sql(struct env *e, const char *sql);
PGresult *env_query(struct env *e, const char *sql, int n, const char *const *params);
int env_sql_long(struct env *e, const char *sql, long long *out);
int env_sql_params_long(struct env *e, const char *sql, int n, const char *const *params,
			long long *out);

/* URL of database name on the server of opt.db. 0 or -1. */
int env_db_url(const char *name, char *out, size_t len);

/* ---- /proc readings ---------------------------------------------------------- */

/* VmRSS and VmHWM of pid in KiB; 0 or -1. */
int proc_rss_kib(pid_t pid, long *rss, long *hwm);
/* utime + stime of pid in microseconds, or -1. */
long long proc_cpu_us(pid_t pid);
/* Busy (non-idle, non-iowait) and total CPU time of the machine in µs. */
int proc_machine_cpu_us(long long *busy, long long *total);
/* Share of the machine's CPU time (all cores) busy over the next ms
 * milliseconds, in percent: what else the machine is doing. */
double proc_background_pct(long ms);
/* CPU µs of the postmaster and its children (backends, background
 * processes) still running; 0 when postmaster is 0. */
long long proc_postgres_cpu_us(pid_t postmaster);

/* ---- seeding (seed.c) -------------------------------------------------------- */

struct seed {
	int64_t project_id;
	int64_t queue_id;
	int64_t *tickets; /* ticket ids, n_tickets */
	long n_tickets;
	long items;	/* queue items the tickets enqueue to (incl. ticket items) */
	int64_t *tasks; /* task ids in order (latency mode) */
	long n_tasks;
};

/* Project and queue (max parallel 10000, default agent agent) via RPC. */
int seed_project_queue(struct env *e, const char *agent, struct seed *s);
/* Inserts tickets of per_ticket items (1 ticket + per_ticket-1 tasks named
 * agent) for about items items with libpq; s->tickets/s->tasks get the ids. */
int seed_tickets(struct env *e, struct seed *s, long items, long per_ticket, const char *agent);
/* EnqueueTicket(include_tasks) per ticket from one client; *secs the time. */
int seed_enqueue_tickets(struct env *e, struct seed *s, double *secs);
/* Inserts n finished (completed) task items with their tasks and closed
 * tickets into s's queue, with triggers off; *secs the time. */
int seed_history(struct env *e, struct seed *s, long n, double *secs);
void seed_free(struct seed *s);

/* ---- stats (stats.c) --------------------------------------------------------- */

double stats_mono_s(void);   /* CLOCK_MONOTONIC, seconds */
int64_t stats_real_us(void); /* CLOCK_REALTIME, microseconds */
int64_t stats_mono_ns(void);
void stats_sleep_ms(long ms);

struct samples {
	double *v;
	size_t n, cap;
};
int samples_add(struct samples *s, double x);
int samples_merge(struct samples *dst, const struct samples *src);
/* Sorts, then the nearest-rank percentile p (0..100); 0 when empty. */
double samples_pct(struct samples *s, double p);
double samples_max(struct samples *s);
void samples_free(struct samples *s);

/* ---- output (report.c) --------------------------------------------------------- */

/* One figure: "mode figure value unit  [target: text PASS|FAIL]".
 * pass: 1, 0, or -1 for a figure without a target (target may be NULL). */
void report_figure(const char *mode, const char *figure, double value, const char *unit,
		   const char *target, int pass);
/* A line of text (setup block, notes); skipped with --json. */
void report_text(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The setup as one JSON object {"mode":"setup", ...}: key/value pairs added
 * with report_setup(), written by report_setup_end(). Also printed as text. */
void report_setup(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void report_setup_end(void);
/* Sizes added to every following JSON figure ({"workers": 4, ...}). */
void report_ctx(const char *key, long value);
void report_ctx_clear(void);
/* Progress on stderr. */
void report_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Targets that failed so far. */
extern int report_failed_targets;

/* ---- modes --------------------------------------------------------------------- */

int mode_rpc(void);
int mode_drain(void);
int mode_latency(void);
int mode_scale(void);
int mode_growth(void);
int mode_memory(void);

/* One drain on a fresh database (drain, scale, growth use it). */
struct drain_result {
	double enqueue_items_per_s;
	double items_per_s;	    /* items / (workers started -> queue empty) */
	double db_items_per_s;	    /* items / (first claim -> last completion), database clock */
	double cpu_us_per_item;	    /* whole machine, /proc/stat */
	double cpu_us_per_item_net; /* the same less the background measured before */
	double background_pct;	    /* machine busy in the second before the drain */
	double flowd_cpu_us, pg_cpu_us, worker_cpu_us; /* per item */
	double wal_bytes_per_item;		       /* WAL the server wrote meanwhile */
	double secs;
	double history_s; /* growth: inserting and vacuuming the history */
	bool timed_out;	  /* the queue was not empty after --timeout */
	long done;	  /* items completed (all of them unless timed_out) */
	long items;
};
struct drain_params {
	long items;
	long workers;
	long concurrency;
	int n_flowd;
	long history; /* growth: drain, insert this much history, drain again */
	int repeat;   /* drains per phase (0: 1); the median rate counts */
	const char *tag;
};
#define DRAIN_REPEAT_MAX 5
/* drain, scale and growth: each figure is the median of this many drains
 * (one drain moves ~15 % from run to run on 2 noisy cores) */
#define MEDIAN_REPEAT 3
#define MEDIAN_REPEAT_TEXT "3"
/* With history > 0, r[0] is the drain on the empty history and r[1] the one
 * after; else only r[0]. Each is the median of p->repeat drains. */
int drain_run(const struct drain_params *p, struct drain_result r[2]);

/* The latency agent (stamp.c): appends "<FLOW_QUEUE_ITEM_ID> <realtime µs>\n"
 * to path. Exit status. */
int stamp_main(const char *path);

#endif
