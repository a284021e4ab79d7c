#!/usr/bin/env node
// peer.mjs - the peer benchmark for scripts/bench.sh --peer: flow-bench's
// drain and latency workloads, run through Graphile Worker.
//
//   node peer.mjs drain   --db URL --items N [--out FILE] [--start cold|warm]
//   node peer.mjs latency --db URL --jobs N [--out FILE] [--interval-ms MS]
//   common: [--procs 2] [--concurrency 8] [--keep-db]
//
// run.sh installs this file with package.json and package-lock.json into a
// temporary folder (npm ci) and runs it from there: `graphile-worker` and `pg`
// are resolved next to this file. README.md describes what is measured.
//
// Every run creates its own database peer_<pid> on the server of URL (which
// must allow CREATE DATABASE, e.g. the superuser of scripts/pg.sh) and drops
// it at the end. Results: one human line and one JSON line on stdout; the JSON
// line is also appended to FILE.
import { fork, execFileSync } from "node:child_process";
import { EventEmitter } from "node:events";
import { appendFileSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { Logger, makeWorkerUtils, run, runMigrations } from "graphile-worker";

const HERE = dirname(fileURLToPath(import.meta.url));
const TASK = "noop";

// The documented fast path (worker.graphile.org/docs/performance, "Batching"),
// as the issue describes the peer. Everything else is Graphile Worker's
// default (maxPoolSize 10 = concurrency + 2, pollInterval 2000 ms, LISTEN/NOTIFY).
function workerPreset(url, concurrency) {
	return {
		worker: {
			connectionString: url,
			concurrentJobs: concurrency,
			localQueue: { size: 500 },
			completeJobBatchDelay: 0,
			failJobBatchDelay: 0,
		},
	};
}

// Only warnings and errors: Graphile Worker's info lines ("Completed task
// ...") would cost CPU per job. NO_LOG_SUCCESS=1 (set for the workers, as
// Graphile's own perfTest does) skips even building them.
const quietLogger = new Logger((scope) => (level, message) => {
	if (level === "error" || level === "warning") {
		const who = scope.label ? `${scope.label}: ` : "";
		console.error(`peer[${process.pid}] ${level}: ${who}${message}`);
	}
});

// process.hrtime.bigint() is libuv's uv_hrtime(), clock_gettime(CLOCK_MONOTONIC)
// on Linux: one clock for the whole machine, so readings taken in different
// processes compare directly (latencyMain() checks it before measuring).
const now = () => process.hrtime.bigint();
const nsToMs = (ns) => Number(ns) / 1e6;

function die(msg) {
	console.error(`peer.mjs: ${msg}`);
	process.exit(2);
}

function parseArgs(argv) {
	const opts = {
		mode: argv[0],
		db: null,
		out: null,
		items: 20000,
		jobs: 200,
		intervalMs: 5,
		procs: 2,
		concurrency: 8,
		start: "cold",
		keepDb: false,
	};
	const num = (name, v) => {
		const n = Number(v);
		if (!Number.isInteger(n) || n <= 0) die(`${name} wants a positive integer, got '${v}'`);
		return n;
	};
	for (let i = 1; i < argv.length; i++) {
		const a = argv[i];
		const val = () => {
			if (i + 1 >= argv.length) die(`${a} needs a value`);
			return argv[++i];
		};
		switch (a) {
			case "--db": opts.db = val(); break;
			case "--out": opts.out = val(); break;
			case "--items": opts.items = num(a, val()); break;
			case "--jobs": opts.jobs = num(a, val()); break;
			case "--interval-ms": opts.intervalMs = num(a, val()); break;
			case "--procs": opts.procs = num(a, val()); break;
			case "--concurrency": opts.concurrency = num(a, val()); break;
			case "--start": opts.start = val(); break;
			case "--keep-db": opts.keepDb = true; break;
			default: die(`unknown argument '${a}'`);
		}
	}
	if (!["drain", "latency", "worker"].includes(opts.mode))
		die("usage: peer.mjs drain|latency --db URL [--items N | --jobs N] [--out FILE]");
	if (opts.mode !== "worker" && !opts.db) die("--db URL is required");
	if (!["warm", "cold"].includes(opts.start)) die("--start is warm or cold");
	return opts;
}

function graphileVersion() {
	try {
		return JSON.parse(readFileSync(join(HERE, "node_modules/graphile-worker/package.json"), "utf8")).version;
	} catch {
		return "unknown";
	}
}

// ---------------------------------------------------------------- worker --

// A forked worker process: Graphile Worker's run() with a no-op task. It tells
// the parent when it listens, how many jobs it ran (every 5 ms while that
// changes) and, in latency runs, when each job started.
async function workerMain() {
	const url = process.env.PEER_DB_URL;
	const concurrency = Number(process.env.PEER_CONCURRENCY);
	let done = 0;
	let reported = 0;
	let first = null; // when the first job started
	const taskList = {
		[TASK]: async (payload) => {
			const t = now();
			if (first === null) first = t;
			done++;
			if (payload && payload.i !== undefined) {
				process.send({ type: "start", i: payload.i, t: String(t) });
			}
		},
	};
	const events = new EventEmitter();
	const listening = new Promise((resolve) => events.once("pool:listen:success", resolve));
	const runner = await run({
		taskList,
		noHandleSignals: true,
		logger: quietLogger,
		events,
		preset: workerPreset(url, concurrency),
	});
	await listening;
	setInterval(() => {
		if (done !== reported) {
			reported = done;
			process.send({ type: "progress", done, first: String(first) });
		}
	}, 5).unref();
	process.on("message", async (m) => {
		if (m.type === "clock") {
			process.send({ type: "clock", t: String(now()) });
		} else if (m.type === "cpu") {
			process.send({ type: "cpu", cpu: process.cpuUsage(), done });
		} else if (m.type === "stop") {
			await runner.stop();
			process.send({ type: "stopped", cpu: process.cpuUsage(), done }, () => process.exit(0));
		}
	});
	// The parent went away (crashed or killed): do not linger.
	process.on("disconnect", () => process.exit(0));
	runner.promise.catch((e) => {
		console.error(`peer[${process.pid}] worker failed: ${e}`);
		process.exit(1);
	});
	process.send({ type: "ready" });
}

// -------------------------------------------------------- worker handles --

class Workers {
	constructor(url, procs, concurrency) {
		this.children = [];
		this.url = url;
		this.procs = procs;
		this.concurrency = concurrency;
		this.done = [];
		this.first = null; // the earliest first job start of any worker
		this.onStart = null;
		this.onReport = null;
		this.waiters = [];
	}

	async start() {
		const ready = [];
		for (let k = 0; k < this.procs; k++) {
			const child = fork(fileURLToPath(import.meta.url), ["worker"], {
				env: {
					...process.env,
					PEER_DB_URL: this.url,
					PEER_CONCURRENCY: String(this.concurrency),
					NO_LOG_SUCCESS: "1",
				},
				stdio: ["ignore", "inherit", "inherit", "ipc"],
			});
			this.children.push(child);
			this.done.push(0);
			ready.push(
				new Promise((resolve, reject) => {
					child.on("message", (m) => {
						if (m.type === "ready") resolve();
						else if (m.type === "progress") {
							this.done[k] = m.done;
							if (m.first !== "null") {
								const f = BigInt(m.first);
								if (this.first === null || f < this.first) this.first = f;
							}
							if (this.onReport) this.onReport();
						}
						else if (m.type === "start" && this.onStart) this.onStart(m.i, BigInt(m.t));
						this.waiters = this.waiters.filter((w) => !w(k, m));
					});
					child.on("exit", (code, sig) => {
						this.children[k] = null;
						const err = new Error(`worker process ${child.pid} exited (${sig ?? code})`);
						reject(err);
						if (!this.stopping) fail(err);
					});
				}),
			);
		}
		await Promise.all(ready);
	}

	// Sends msg to worker k and resolves with its first reply of type `type`.
	ask(k, msg, type) {
		return new Promise((resolve) => {
			this.waiters.push((from, m) => {
				if (from !== k || m.type !== type) return false;
				resolve(m);
				return true;
			});
			this.children[k].send(msg);
		});
	}

	totalDone() {
		return this.done.reduce((a, b) => a + b, 0);
	}

	// CPU (user + system) of all workers so far, in microseconds.
	async cpuUs() {
		let us = 0;
		for (let k = 0; k < this.children.length; k++) {
			const { cpu } = await this.ask(k, { type: "cpu" }, "cpu");
			us += cpu.user + cpu.system;
		}
		return us;
	}

	// Stops every worker gracefully; resolves with their CPU use and job counts.
	async stop() {
		this.stopping = true;
		let us = 0;
		let done = 0;
		await Promise.all(
			this.children.map(async (c, k) => {
				if (!c) return;
				const exited = new Promise((resolve) => c.once("exit", resolve));
				const m = await this.ask(k, { type: "stop" }, "stopped");
				us += m.cpu.user + m.cpu.system;
				done += m.done;
				await exited; // its connections are closed before the database is dropped
			}),
		);
		return { us, done };
	}

	kill() {
		this.stopping = true;
		for (const c of this.children) if (c) c.kill("SIGKILL");
	}
}

// ------------------------------------------------------------ CPU meters --

let clkTck = 100;
try {
	clkTck = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
} catch {
	/* keep 100 */
}

// Busy CPU time of the whole machine (all cores, all processes), in µs, from
// the first line of /proc/stat: everything but idle and iowait.
function machineBusyUs() {
	const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
	// user nice system idle iowait irq softirq steal (guest is part of user)
	const [user, nice, system, , , irq, softirq, steal] = f;
	return ((user + nice + system + irq + softirq + (steal || 0)) * 1e6) / clkTck;
}

function procStat(pid) {
	try {
		const s = readFileSync(`/proc/${pid}/stat`, "utf8");
		const rest = s.slice(s.lastIndexOf(")") + 2).split(" ");
		// rest[0] is field 3 (state): ppid is field 4, utime..cstime fields 14..17.
		return {
			ppid: Number(rest[1]),
			self: Number(rest[11]) + Number(rest[12]),
			children: Number(rest[13]) + Number(rest[14]),
		};
	} catch {
		return null;
	}
}

// CPU of the PostgreSQL cluster that `client` is connected to, when it runs on
// this machine: the postmaster, its live children and the children it reaped.
async function pgClusterMeter(client) {
	const { rows } = await client.query("select pg_backend_pid() as pid");
	const backend = procStat(rows[0].pid);
	if (!backend) return null; // not a local server
	const postmaster = backend.ppid;
	return () => {
		const pm = procStat(postmaster);
		if (!pm) return NaN;
		let ticks = pm.self + pm.children;
		for (const e of readdirSync("/proc")) {
			if (!/^\d+$/.test(e)) continue;
			const st = procStat(e);
			if (st && st.ppid === postmaster) ticks += st.self;
		}
		return (ticks * 1e6) / clkTck;
	};
}

// ------------------------------------------------------------- database --

let cleanup = [];
async function runCleanup() {
	const steps = cleanup.reverse();
	cleanup = [];
	for (const f of steps) {
		try {
			await f();
		} catch (e) {
			console.error(`peer.mjs: cleanup: ${e.message ?? e}`);
		}
	}
}

async function fail(err) {
	console.error(`peer.mjs: ${err.stack ?? err}`);
	await runCleanup();
	process.exit(1);
}

for (const [sig, code] of [["SIGINT", 130], ["SIGTERM", 143]]) {
	process.on(sig, async () => {
		if (process.argv[2] === "worker") return; // the parent stops us
		console.error(`peer.mjs: ${sig}; cleaning up`);
		await runCleanup();
		process.exit(code);
	});
}

async function freshDatabase(adminUrl, keep) {
	const name = `peer_${process.pid}`;
	const admin = new pg.Client({ connectionString: adminUrl });
	await admin.connect();
	const { rows } = await admin.query(
		"select current_setting('server_version') as v, current_setting('fsync') as fsync, " +
			"current_setting('synchronous_commit') as sc, current_setting('full_page_writes') as fpw",
	);
	await admin.query(`drop database if exists ${name}`);
	await admin.query(`create database ${name}`);
	cleanup.push(async () => {
		if (!keep) {
			try {
				await admin.query(`drop database if exists ${name} with (force)`);
			} catch {
				await admin.query(`drop database if exists ${name}`);
			}
		}
		await admin.end();
	});
	const u = new URL(adminUrl);
	u.pathname = `/${name}`;
	return {
		url: u.toString(),
		name,
		pg: { version: rows[0].v, fsync: rows[0].fsync, synchronous_commit: rows[0].sc, full_page_writes: rows[0].fpw },
	};
}

async function connect(url) {
	const c = new pg.Client({ connectionString: url });
	await c.connect();
	cleanup.push(() => c.end());
	return c;
}

// A pool of our own for Graphile Worker's utilities, ended (and awaited) by
// cleanup before the database is dropped.
function ownPool(url) {
	const pool = new pg.Pool({ connectionString: url, max: 2 });
	// Errors of idle and of checked-out clients (Graphile Worker checks both).
	pool.on("error", () => {});
	pool.on("connect", (client) => client.on("error", () => {}));
	cleanup.push(() => pool.end());
	return pool;
}

async function queueLength(client) {
	const { rows } = await client.query("select count(*)::int as n from graphile_worker._private_jobs");
	return rows[0].n;
}

function emit(opts, human, record) {
	const line = JSON.stringify(record);
	console.log(human);
	console.log(line);
	if (opts.out) appendFileSync(opts.out, line + "\n");
}

const round = (x, d = 1) => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : null);


// Nearest-rank percentile of an ascending array.
function percentile(sorted, p) {
	return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
}

function common(opts, db) {
	return {
		peer: "graphile-worker",
		version: graphileVersion(),
		procs: opts.procs,
		concurrency: opts.concurrency,
		node: process.version,
		pg_version: db.pg.version,
		pg_fsync: db.pg.fsync,
		pg_synchronous_commit: db.pg.synchronous_commit,
		pg_full_page_writes: db.pg.full_page_writes,
	};
}

// Resolves when check() is true, testing it each time the workers report;
// fails when they report nothing new for stallMs.
function until(workers, check, what, stallMs = 30000) {
	return new Promise((resolve, reject) => {
		let last = Date.now();
		const timer = setInterval(() => {
			if (Date.now() - last > stallMs) {
				clearInterval(timer);
				workers.onReport = null;
				reject(new Error(`no progress for ${stallMs / 1000} s while waiting for ${what}`));
			}
		}, 500);
		const test = () => {
			last = Date.now();
			if (!check()) return;
			clearInterval(timer);
			workers.onReport = null;
			resolve();
		};
		workers.onReport = test;
		test();
	});
}

// ---------------------------------------------------------------- drain --

// Drains N no-op jobs through `procs` worker processes. cold (default, as
// flow-bench's drain): the N jobs are queued first, and the clock runs from
// just before the worker processes are forked (so their start-up counts, as
// in Graphile's perfTest too) until the jobs table is empty. warm: the
// workers are connected, listening and idle when the N jobs are committed;
// the clock starts at that COMMIT. items_per_s_first leaves start-up out
// either way: from the first job started to the table empty.
// The server's WAL position in bytes (the WAL written between two readings is
// the database's writes, whole server).
async function walPos(client) {
	const { rows } = await client.query(
		"select pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::float8 as pos",
	);
	return rows[0].pos;
}

async function drainMain(opts) {
	const n = opts.items;
	const db = await freshDatabase(opts.db, opts.keepDb);
	const pool = ownPool(db.url);
	await runMigrations({ pgPool: pool, logger: quietLogger });
	const client = await connect(db.url);
	const pgMeter = (await pgClusterMeter(client)) ?? (() => NaN);
	const workers = new Workers(db.url, opts.procs, opts.concurrency);
	cleanup.push(() => workers.kill());

	let startupMs = null;
	if (opts.start === "warm") {
		const ts = now();
		await workers.start();
		startupMs = nsToMs(now() - ts);
		await sleep(500); // their first (empty) fetches settle
	}
	// One transaction and one call of Graphile Worker's SQL batch API,
	// add_jobs() (what WorkerUtils.addJobs() runs, minus sending N rows back):
	// all N jobs become visible, and the workers are notified, at COMMIT.
	const te = now();
	await client.query("begin");
	await client.query(
		`select count(*) from graphile_worker.add_jobs(array(
			select row($1::text, '{}'::json, null, null, null, null, null, null)::graphile_worker.job_spec
			from generate_series(1, $2::int)))`,
		[TASK, n],
	);
	const w0 = opts.start === "warm" ? await workers.cpuUs() : 0;
	await client.query("commit");
	const t0 = now();
	const enqueueMs = nsToMs(t0 - te);
	const m0 = machineBusyUs();
	const pg0 = pgMeter();
	const wal0 = await walPos(client);
	if (opts.start === "cold") {
		await workers.start();
		startupMs = nsToMs(now() - t0);
	}

	// The workers say how many jobs they ran (every 5 ms); once that reaches N
	// the table is polled until it is empty (completions are committed in
	// batches just after the jobs ran).
	await until(workers, () => workers.totalDone() >= n, `${n} jobs to run`);
	let tEnd;
	let pollMs;
	for (let polls = 0; ; polls++) {
		const ts = now();
		const left = await queueLength(client);
		pollMs = nsToMs(now() - ts);
		if (left === 0) {
			tEnd = ts; // (the query's snapshot is taken just after it is sent)
			break;
		}
		if (polls > 30000) throw new Error("the jobs table does not empty");
		await sleep(1);
	}
	const m1 = machineBusyUs();
	const pg1 = pgMeter();
	const wal1 = await walPos(client);
	const w1 = await workers.cpuUs();
	const { done } = await workers.stop();
	if (done < n) throw new Error(`workers ran ${done} of ${n} jobs`);
	// How the jobs were found: on a table full of dead rows PostgreSQL may pick
	// sequential scans for Graphile Worker's get_jobs query, which halves the
	// rate (the stats of the closed worker connections arrive within a moment).
	await sleep(300);
	const { rows: scans } = await client.query(
		`select seq_scan::int, seq_tup_read::float8 as seq_tup_read, idx_scan::int
		from pg_stat_user_tables where relid = 'graphile_worker._private_jobs'::regclass`,
	);

	const secs = Number(tEnd - t0) / 1e9;
	const secsFirst = Number(tEnd - workers.first) / 1e9;
	const rec = {
		mode: "peer_drain",
		items: n,
		items_per_s: Math.round(n / secs),
		items_per_s_first: Math.round(n / secsFirst),
		cpu_us_per_item: round((m1 - m0) / n),
		worker_cpu_us_per_item: round((w1 - w0) / n),
		pg_cpu_us_per_item: round((pg1 - pg0) / n),
		wal_bytes_per_item: round((wal1 - wal0) / n),
		elapsed_s: round(secs, 3),
		start: opts.start,
		startup_ms: round(startupMs),
		poll_ms: round(pollMs, 2),
		enqueue_per_s: Math.round(n / (enqueueMs / 1000)),
		runs: done,
		jobs_seq_scans: scans[0]?.seq_scan ?? null,
		jobs_seq_tup_read: scans[0]?.seq_tup_read ?? null,
		jobs_idx_scans: scans[0]?.idx_scan ?? null,
		...common(opts, db),
	};
	emit(
		opts,
		`peer drain ${n} items_per_s ${rec.items_per_s} cpu_us_per_item ${rec.cpu_us_per_item}` +
			` (${rec.elapsed_s} s, ${opts.start} start; from the first job started ${rec.items_per_s_first}/s;` +
			` cpu workers ${rec.worker_cpu_us_per_item} + postgres ${rec.pg_cpu_us_per_item};` +
			` ${rec.wal_bytes_per_item} B of WAL per job;` +
			` ${rec.jobs_seq_scans} seq scans of the jobs table)`,
		rec,
	);
}

// -------------------------------------------------------------- latency --

// With the workers started and idle (waiting on LISTEN), calls
// WorkerUtils.addJob() once every interval and measures, for each job, the
// time from the call until the task function starts in a worker process.
async function latencyMain(opts) {
	const db = await freshDatabase(opts.db, opts.keepDb);
	const pool = ownPool(db.url);
	await runMigrations({ pgPool: pool, logger: quietLogger });
	const workers = new Workers(db.url, opts.procs, opts.concurrency);
	cleanup.push(() => workers.kill());
	await workers.start();
	await sleep(500);

	// The clock must be one for all processes: a worker's reading taken while
	// we wait for its answer must fall between ours.
	for (let k = 0; k < opts.procs; k++) {
		for (let r = 0; r < 5; r++) {
			const a = now();
			const { t } = await workers.ask(k, { type: "clock" }, "clock");
			const b = now();
			if (BigInt(t) < a || BigInt(t) > b)
				throw new Error(`process clocks differ (worker ${k}: ${t} not in [${a}, ${b}])`);
		}
	}

	const utils = await makeWorkerUtils({ pgPool: pool, logger: quietLogger });
	cleanup.push(() => utils.release());

	const started = new Map();
	workers.onStart = (i, t) => {
		started.set(i, t);
		if (workers.onReport) workers.onReport();
	};

	// Warm-up (discarded): connections, prepared statements, JIT.
	for (let i = -1; i >= -20; i--) {
		await utils.addJob(TASK, { i });
		await until(workers, () => started.has(i), "a warm-up job", 10000);
	}

	const adds = []; // addJob() called
	const accepted = []; // its promise resolved
	for (let i = 0; i < opts.jobs; i++) {
		adds.push(now());
		await utils.addJob(TASK, { i });
		accepted.push(now());
		await sleep(opts.intervalMs);
	}
	await until(workers, () => adds.every((_, i) => started.has(i)), "every job to start", 10000);
	await workers.stop();

	const asc = (a, b) => a - b;
	const lat = adds.map((t, i) => nsToMs(started.get(i) - t)).sort(asc);
	const acc = accepted.map((t, i) => nsToMs(started.get(i) - t)).sort(asc);
	const addMs = accepted.map((t, i) => nsToMs(t - adds[i])).sort(asc);
	const rec = {
		mode: "peer_latency",
		jobs: opts.jobs,
		p50_ms: round(percentile(lat, 50), 2),
		p99_ms: round(percentile(lat, 99), 2),
		max_ms: round(lat[lat.length - 1], 2),
		min_ms: round(lat[0], 2),
		mean_ms: round(lat.reduce((a, b) => a + b, 0) / lat.length, 2),
		// From addJob() resolved (flow-bench's "accepted": the enqueue reply
		// arrived) to started; negative when the job started first.
		accepted_to_started_p50_ms: round(percentile(acc, 50), 2),
		accepted_to_started_p99_ms: round(percentile(acc, 99), 2),
		accepted_to_started_max_ms: round(acc[acc.length - 1], 2),
		add_job_p50_ms: round(percentile(addMs, 50), 2),
		add_job_p99_ms: round(percentile(addMs, 99), 2),
		interval_ms: opts.intervalMs,
		...common(opts, db),
	};
	emit(
		opts,
		`peer latency ${opts.jobs} p50_ms ${rec.p50_ms} p99_ms ${rec.p99_ms} max_ms ${rec.max_ms}` +
			` (addJob called -> started; min ${rec.min_ms}, mean ${rec.mean_ms};` +
			` addJob resolved -> started p50 ${rec.accepted_to_started_p50_ms} p99 ${rec.accepted_to_started_p99_ms};` +
			` addJob itself p50 ${rec.add_job_p50_ms})`,
		rec,
	);
}

async function main() {
	const opts = parseArgs(process.argv.slice(2));
	if (opts.mode === "worker") {
		await workerMain().catch((e) => {
			console.error(`peer[${process.pid}] ${e.stack ?? e}`);
			process.exit(1);
		});
		return;
	}
	try {
		if (opts.mode === "drain") await drainMain(opts);
		else await latencyMain(opts);
		await runCleanup();
		process.exit(0);
	} catch (e) {
		await fail(e);
	}
}

main();
