#!/usr/bin/env bash
# run.sh - the peer benchmark for scripts/bench.sh --peer: installs Graphile
# Worker (the version pinned in package.json / package-lock.json) into a
# temporary folder and runs the drain and latency workloads through it.
#
#   tests/bench/peer/run.sh DB_URL OUT_FILE [--quick] [--items N]... [--jobs N] [--repeat N]
#
# DB_URL    a PostgreSQL server on this machine, as a role that may CREATE
#           DATABASE (scripts/pg.sh's URL); every workload runs in a database
#           of its own, peer_<pid>, dropped afterwards
# OUT_FILE  the JSON result lines are appended to it (mode peer_drain,
#           peer_latency); tests/bench/peer/ratios.mjs compares them with
#           flow-bench's lines in the same file
# --quick   drains of 2,000 and 20,000 jobs once and 50 latency samples,
#           instead of drains of 20,000 and 200,000 jobs 3 times each and 200
# --items N drain N jobs (give it again for several sizes); replaces the sizes
# --jobs N  latency samples
# --repeat N  run each drain N times (ratios.mjs takes the median): the rate
#           of a large drain swings with PostgreSQL's plan for the jobs query
#
# Needs Node.js >= 18 and npm (Debian: apt-get install nodejs npm) and the
# npm registry. Nothing is written into the repository.
set -euo pipefail
here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)

die() {
	echo "run.sh: $*" >&2
	exit 1
}

usage() {
	echo "usage: tests/bench/peer/run.sh DB_URL OUT_FILE [--quick] [--items N]... [--jobs N] [--repeat N]" >&2
	exit 2
}

[[ $# -ge 2 ]] || usage
db_url=$1
out=$2
shift 2
quick=0
items=()
jobs=
repeat=
while [[ $# -gt 0 ]]; do
	case $1 in
	--quick) quick=1 ;;
	--items)
		[[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || usage
		items+=("$2")
		shift
		;;
	--jobs)
		[[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || usage
		jobs=$2
		shift
		;;
	--repeat)
		[[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || usage
		repeat=$2
		shift
		;;
	*) usage ;;
	esac
	shift
done
if [[ ${#items[@]} -eq 0 ]]; then
	if ((quick)); then items=(2000 20000); else items=(20000 200000); fi
fi
if [[ -z $jobs ]]; then
	if ((quick)); then jobs=50; else jobs=200; fi
fi
if [[ -z $repeat ]]; then
	if ((quick)); then repeat=1; else repeat=3; fi
fi
[[ $db_url == postgres://* || $db_url == postgresql://* ]] || die "DB_URL must be a postgresql:// URL"

command -v node >/dev/null 2>&1 ||
	die "node is not installed; the peer benchmark needs Node.js >= 18 and npm (Debian: apt-get install nodejs npm)"
command -v npm >/dev/null 2>&1 ||
	die "npm is not installed; it installs graphile-worker (Debian: apt-get install npm)"
node_version=$(node -p 'process.versions.node')
IFS=. read -r major minor _ <<<"$node_version"
[[ $major -ge 18 ]] || die "Node.js $node_version is too old; the peer benchmark needs Node.js >= 18"
# graphile-worker 0.18 declares node >= 22.18 but runs on older releases.
if ((major < 22 || (major == 22 && minor < 18))); then
	echo "run.sh: note: graphile-worker 0.18 asks for Node.js >= 22.18; running it on $node_version" >&2
fi

mkdir -p "$(dirname "$out")"
touch "$out" || die "cannot write $out"
out=$(readlink -f "$out")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/flowd-peer.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
cp "$here/package.json" "$here/package-lock.json" "$here/peer.mjs" "$tmp/"
echo "run.sh: installing graphile-worker into $tmp (npm ci)" >&2
(cd "$tmp" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >&2) ||
	die "npm ci failed in $tmp"
version=$(node -p 'require(process.argv[1]).version' "$tmp/node_modules/graphile-worker/package.json")
echo "run.sh: graphile-worker $version, Node.js $node_version, 2 processes x concurrency 8" >&2

# The workloads run from the temporary folder, where their packages are.
cd "$tmp"
for n in "${items[@]}"; do
	for ((r = 1; r <= repeat; r++)); do
		node "$tmp/peer.mjs" drain --db "$db_url" --items "$n" --out "$out" ||
			die "the drain of $n jobs failed"
	done
done
node "$tmp/peer.mjs" latency --db "$db_url" --jobs "$jobs" --out "$out" ||
	die "the latency run failed"
