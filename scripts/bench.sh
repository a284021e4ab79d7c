#!/usr/bin/env bash
# bench.sh - flowd's benchmarks (flow-bench, docs/performance.md).
#
#   scripts/bench.sh [--quick] [--peer] [--out FILE] [--db URL]
#
# Installs the build dependencies (scripts/deps.sh), builds Release into
# build-bench/, starts a throwaway PostgreSQL with PostgreSQL's default
# durability (PG_DURABLE=1 scripts/pg.sh: fsync, synchronous_commit and
# full_page_writes on), runs every flow-bench mode with the sizes below,
# writes the figures to FILE (default /tmp/flow-bench-<UTC time>.txt: the
# text lines, then one JSON object per figure) and the JSON objects alone to
# FILE with .json for .txt, and stops PostgreSQL again.
#
#   size        full (default)                   --quick
#   rpc         2000 ms runs x 3 rounds          1000 ms x 2
#   latency     300 items, 5 ms apart            100 items
#   memory      200 idle callers + 1 worker      (same)
#   drain       20,000 and 200,000 items         2,000 and 20,000
#   scale       10,000 items, 1/4/16/64 workers  2,000 items
#   growth      20,000 items, 1,000,000 rows     5,000 items, 100,000 rows
#
# Every mode uses 4 flow-worker processes of concurrency 16 (scale: as
# listed; 1 vs 2 flowd with 16 workers), flowd --threads=4 --rate-rpc=0.
# The large drain stops after 180 s (--quick: 120 s) and then reports the
# rates over that time, marked TIMEOUT. A full run takes about 8 minutes on
# 2 cores, --quick about 2.
#
#   --db URL   use this PostgreSQL server (a role that may CREATE DATABASE)
#              instead of starting one; its settings are printed as found
#   --peer     also run the Graphile Worker comparison (tests/bench/peer/:
#              run.sh, then ratios.mjs; needs Node.js and npm)
#   --out FILE where the figures go
#
# The machine should be otherwise idle: the figures are wall-clock rates.
# flow-bench prints how busy the machine was before each drain.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
peer=0
out=
db_url=
while [[ $# -gt 0 ]]; do
	case $1 in
	--quick) quick=1 ;;
	--peer) peer=1 ;;
	--out) out=${2:?--out needs a file}; shift ;;
	--out=*) out=${1#--out=} ;;
	--db) db_url=${2:?--db needs a URL}; shift ;;
	--db=*) db_url=${1#--db=} ;;
	-h | --help) sed -n '2,/^set -e/p' "$0" | sed 's/^# \{0,1\}//;/^set -e/d'; exit 0 ;;
	*) echo "bench.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done

out=${out:-/tmp/flow-bench-$(date -u +%Y%m%dT%H%M%SZ).txt}
json=${out%.txt}.json
[[ $json == "$out" ]] && json=$out.json
mkdir -p "$(dirname "$out")"
: >"$out"
: >"$json"

bash scripts/deps.sh
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-bench -j"$(nproc)" --target flow-bench >/dev/null
fb=build-bench/bin/flow-bench

pgdir=
trap '[[ -z $pgdir ]] || scripts/pg.sh stop "$pgdir" >/dev/null 2>&1 || true' EXIT
if [[ -z $db_url ]]; then
	pgdir=$(mktemp -d /tmp/flowd-bench-pg.XXXXXX)
	db_url=$(PG_DURABLE=1 scripts/pg.sh start "$pgdir")
fi

if [[ $quick == 1 ]]; then
	rpc=(--rpc-ms 1000 --rounds 2)
	lat=(--lat-items 100)
	drain_small=2000 drain_large=20000 large_timeout=120
	scale=(--scale-items 2000)
	growth=(--items 5000 --history 100000)
else
	rpc=(--rpc-ms 2000 --rounds 3)
	lat=(--lat-items 300)
	drain_small=20000 drain_large=200000 large_timeout=180
	scale=(--scale-items 30000)
	growth=(--items 20000 --history 1000000)
fi
common=(--db "$db_url" --json-file "$json" --workers 4 --concurrency 16 --threads 4)

# One flow-bench run; its text goes to the terminal and to $out. A run that
# fails is noted and the others still run.
failed=0
run()
{
	local title=$1
	shift
	echo "== $title" | tee -a "$out"
	if ! "$fb" "${common[@]}" "$@" | tee -a "$out"; then
		echo "bench.sh: flow-bench failed: $title" | tee -a "$out" >&2
		failed=1
	fi
}

start=$SECONDS
run "setup; rpc, latency, memory" "${rpc[@]}" "${lat[@]}" rpc latency memory
run "drain, $drain_small items" --no-setup --items "$drain_small" drain
run "drain, $drain_large items" --no-setup --items "$drain_large" --timeout "$large_timeout" drain
run "scale" --no-setup "${scale[@]}" scale
run "growth" --no-setup "${growth[@]}" growth

# flow-bench's JSON lines also go into $out (the peer's ratios read them there).
{
	echo "== JSON (one object per figure)"
	cat "$json"
} >>"$out"

# ---- peer comparison hook (tests/bench/peer/, written separately) ----------
# tests/bench/peer/run.sh DB_URL OUT runs the Graphile Worker comparison on
# the same PostgreSQL and appends its figures (a text line and a JSON line
# each) to OUT; tests/bench/peer/ratios.mjs OUT then pairs them with
# flow-bench's JSON lines, which are in OUT too (above).
if [[ $peer == 1 ]]; then
	echo "== peer (Graphile Worker)" | tee -a "$out"
	if [[ -x tests/bench/peer/run.sh ]]; then
		peer_args=()
		[[ $quick == 1 ]] && peer_args+=(--quick)
		if tests/bench/peer/run.sh "$db_url" "$out" "${peer_args[@]}"; then
			grep -h '"mode":"peer_' "$out" >>"$json" || true
			if [[ -f tests/bench/peer/ratios.mjs ]]; then
				echo "== flowd / peer" | tee -a "$out"
				node tests/bench/peer/ratios.mjs "$out" | tee -a "$out" || failed=1
			fi
		else
			echo "bench.sh: the peer benchmark failed" | tee -a "$out" >&2
			failed=1
		fi
	else
		echo "bench.sh: tests/bench/peer/run.sh is missing; no peer figures" | tee -a "$out" >&2
		failed=1
	fi
fi
# ---- end of the peer hook --------------------------------------------------

summary=$(grep -E 'PASS\]|FAIL\]' "$out" || true)
{
	echo "== targets"
	printf '%s\n' "$summary"
	echo "passed: $(grep -c 'PASS\]' <<<"$summary" || true)," \
		"missed: $(grep -c 'FAIL\]' <<<"$summary" || true); took $((SECONDS - start)) s"
} | tee -a "$out"
echo "figures: $out (text), $json (JSON, one object per figure)"
exit "$failed"
