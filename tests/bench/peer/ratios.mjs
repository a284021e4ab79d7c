#!/usr/bin/env node
// ratios.mjs - flowd's benchmark figures as ratios to the peer's.
//
//   node tests/bench/peer/ratios.mjs OUT_FILE [--json]
//
// OUT_FILE holds JSON lines, one object a line (other lines are skipped):
// flow-bench's (mode "drain" with "items", mode "latency") and run.sh's
// (mode "peer_drain", "peer_latency"). A line may carry all the figures of a
// run, {"mode":"drain","items":N,"items_per_s":..,"cpu_us_per_item":..}, or
// one figure, {"mode":"drain","figure":"items_per_s","value":..,
// "items_per_s":..,"items":N}: the numeric fields of all the lines of one
// mode (and, for drains, one item count) are pooled, and where a field has
// several values (repeated runs) its median counts.
//
// Pairs (flowd field <-> peer field), when both are there:
//   drain N   items_per_s <-> items_per_s            (clock includes start-up)
//             items_per_s_db <-> items_per_s_first   (start-up left out)
//             cpu_us_per_item <-> cpu_us_per_item    (whole machine)
//             cpu_us_per_item_postgres <-> pg_cpu_us_per_item
//             wal_bytes_per_item <-> wal_bytes_per_item (the server's writes)
//   latency   p50_ms / p99_ms, or sent_to_started_p50 / _p99 <-> p50_ms / p99_ms
//             (from the enqueue call to the job started)
//             accepted_to_started_p50 / _p99 <-> accepted_to_started_p50_ms / _p99_ms
//             (from the enqueue call's reply to the job started)
//             builtin_sent_to_started_*, builtin_accepted_to_started_* <-> the same
//             (flowd's built-in agent, in the worker's process as the peer's jobs)
// Each ratio is flowd / peer: above 1 is better for rates, below 1 for CPU
// and latency. --json prints one JSON object instead of the table. Exit
// status 1 when OUT_FILE cannot be read. Needs no packages.
import { readFileSync } from "node:fs";

const args = process.argv.slice(2);
const json = args.includes("--json");
const file = args.find((a) => a !== "--json");
if (!file) {
	console.error("usage: node ratios.mjs OUT_FILE [--json]");
	process.exit(2);
}

let text;
try {
	text = readFileSync(file, "utf8");
} catch (e) {
	console.error(`ratios.mjs: cannot read ${file}: ${e.message}`);
	process.exit(1);
}

// key ("drain:N", "peer_drain:N", "latency", "peer_latency") -> field -> values
const pooled = new Map();
let peerName = null;
for (const line of text.split("\n")) {
	const s = line.trim();
	if (!s.startsWith("{")) continue;
	let r;
	try {
		r = JSON.parse(s);
	} catch {
		continue;
	}
	let key = null;
	if ((r.mode === "drain" || r.mode === "peer_drain") && Number.isInteger(r.items)) key = `${r.mode}:${r.items}`;
	else if (r.mode === "latency" || r.mode === "peer_latency") key = r.mode;
	if (key == null) continue;
	if (r.mode.startsWith("peer_") && r.peer) peerName = `${r.peer} ${r.version ?? ""}`.trim();
	if (!pooled.has(key)) pooled.set(key, new Map());
	const fields = pooled.get(key);
	for (const [f, v] of Object.entries(r)) {
		if (f === "value" || typeof v !== "number" || !Number.isFinite(v)) continue;
		if (!fields.has(f)) fields.set(f, []);
		fields.get(f).push(v);
	}
}

function median(xs) {
	const v = [...xs].sort((a, b) => a - b);
	const m = v.length >> 1;
	return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

// The median of the first of `fields` that key has, and how many values it had.
function figure(key, fields) {
	const m = pooled.get(key);
	for (const f of fields) {
		const xs = m?.get(f);
		if (xs && xs.length) return { value: Math.round(median(xs) * 100) / 100, n: xs.length };
	}
	return null;
}

const rows = [];
function pair(what, flowdKey, flowdFields, peerKey, peerFields, better) {
	const f = figure(flowdKey, flowdFields);
	const p = figure(peerKey, peerFields);
	if (!f || !p) return;
	const ratio = p.value > 0 ? Math.round((f.value / p.value) * 100) / 100 : null;
	rows.push({ what, flowd: f.value, peer: p.value, ratio, better, flowd_runs: f.n, peer_runs: p.n });
}

const sizes = [...pooled.keys()]
	.filter((k) => k.startsWith("drain:"))
	.map((k) => Number(k.slice(6)))
	.sort((a, b) => a - b);
for (const n of sizes) {
	const fk = `drain:${n}`;
	const pk = `peer_drain:${n}`;
	pair(`drain ${n} items_per_s`, fk, ["items_per_s"], pk, ["items_per_s"], "higher");
	pair(`drain ${n} items_per_s, no start-up`, fk, ["items_per_s_db"], pk, ["items_per_s_first"], "higher");
	pair(`drain ${n} cpu_us_per_item`, fk, ["cpu_us_per_item"], pk, ["cpu_us_per_item"], "lower");
	pair(`drain ${n} postgres cpu_us_per_item`, fk, ["cpu_us_per_item_postgres"], pk, ["pg_cpu_us_per_item"],
		"lower");
	pair(`drain ${n} wal_bytes_per_item`, fk, ["wal_bytes_per_item"], pk, ["wal_bytes_per_item"], "lower");
}
for (const p of ["p50", "p99"]) {
	pair(`latency enqueue called -> started ${p}`, "latency", [`${p}_ms`, `sent_to_started_${p}`],
		"peer_latency", [`${p}_ms`], "lower");
}
for (const p of ["p50", "p99"]) {
	pair(`latency accepted -> started ${p}`, "latency", [`accepted_to_started_${p}`],
		"peer_latency", [`accepted_to_started_${p}_ms`], "lower");
}
// flowd's built-in agent runs in the worker's process, as the peer's jobs do in its
for (const p of ["p50", "p99"]) {
	pair(`latency, built-in agent, enqueue called -> started ${p}`, "latency",
		[`builtin_sent_to_started_${p}`], "peer_latency", [`${p}_ms`], "lower");
	pair(`latency, built-in agent, accepted -> started ${p}`, "latency",
		[`builtin_accepted_to_started_${p}`], "peer_latency", [`accepted_to_started_${p}_ms`],
		"lower");
}

const name = peerName ?? "peer";
if (json) {
	console.log(JSON.stringify({ mode: "ratios", peer: name, ratios: rows }));
} else if (rows.length === 0) {
	console.log(`ratios: no figure of flowd's has a ${name} counterpart in ${file}`);
} else {
	console.log(`flowd / ${name} (ratio = flowd / peer)`);
	const w = Math.max(...rows.map((r) => r.what.length));
	const fmt = (x) => (x == null ? "-" : String(x));
	for (const r of rows) {
		const runs = r.flowd_runs > 1 || r.peer_runs > 1 ? `  medians of ${r.flowd_runs} / ${r.peer_runs} runs` : "";
		console.log(
			`  ${r.what.padEnd(w)}  ${fmt(r.flowd).padStart(9)} / ${fmt(r.peer).padStart(9)}` +
				` = ${fmt(r.ratio).padStart(6)}  (${r.better} is better)${runs}`,
		);
	}
}
