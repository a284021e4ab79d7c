#!/usr/bin/env bash
# The README's demo command: builds flowd, starts a throwaway PostgreSQL and
# flowd under one temporary folder with a fresh random signing secret and
# admin password, sets up users (a member who plans, a worker service account
# with an API key), starts two flow-workers with that key, runs the whole
# security-hardening plan as the member the way an AI client does, through
# `flowctl mcp` driven by the official MCP SDK (examples/security-hardening:
# plan, enqueue, process, review stats, then agent work done by the workers),
# shows the audit log, then stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

"$root/scripts/deps.sh"
"$root/scripts/npm-deps.sh"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$root/build" -j2 --target flowd flowctl flow-worker >/dev/null

work=$(mktemp -d /tmp/flowd-demo.XXXXXX)
chmod 755 "$work"
flowd_pid=
worker_pids=()
cleanup() {
	for p in "${worker_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${worker_pids[@]}"; do wait "$p" 2>/dev/null || true; done
	[ -n "$flowd_pid" ] && kill -TERM "$flowd_pid" 2>/dev/null && wait "$flowd_pid" 2>/dev/null || true
	"$root/scripts/pg.sh" stop "$work/pg" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

db=$("$root/scripts/pg.sh" start "$work/pg" | tail -n 1)
export FLOW_URL="ipc://$work/flowd.sock"
export FLOW_CREDENTIALS="$work/credentials.json"
unset FLOW_TOKEN FLOW_API_KEY
admin_pw=$(openssl rand -base64 18)
planner_pw=$(openssl rand -base64 18)
FLOW_JWT_SECRET=$(openssl rand -base64 48) FLOW_ADMIN_PASSWORD=$admin_pw \
	"$root/build/bin/flowd" --db "$db" --listen "$FLOW_URL" >"$work/flowd.log" 2>&1 &
flowd_pid=$!

flowctl() { "$root/build/bin/flowctl" "$@"; }
say() { printf '\n== %s\n' "$*"; }

say "log in as the first admin (created from FLOW_ADMIN_PASSWORD; password from stdin, never argv)"
for _ in $(seq 100); do
	[ -S "$work/flowd.sock" ] && flowctl login admin --password-stdin <<<"$admin_pw" 2>/dev/null && break
	sleep 0.1
done
flowctl whoami
say "users: a member who plans, and a service account for the workers with an API key"
flowctl user create planner --role member --password-stdin <<<"$planner_pw"$'\n'"$planner_pw"
flowctl user create worker-pool --role worker --service-account
worker_key=$(flowctl key create worker-pool --name demo 2>/dev/null)
flowctl key list
say "without credentials nothing works"
FLOW_TOKEN= FLOW_CREDENTIALS="$work/none.json" flowctl projects || true
say "log in as planner"
flowctl logout
flowctl login planner --password-stdin <<<"$planner_pw"

say "two flow-workers, authenticated by the service account's API key, run agent demo-note"
printf 'demo-note = %s/deploy/agents/demo-note\n' "$root" >"$work/agents.conf"
for w in 1 2; do
	FLOW_API_KEY=$worker_key "$root/build/bin/flow-worker" --url "$FLOW_URL" --agents "$work/agents.conf" \
		--concurrency 2 --name "demo-worker-$w" >"$work/worker-$w.log" 2>&1 &
	worker_pids+=($!)
done
echo "the workers' key may only call the worker service:"
FLOW_API_KEY=$worker_key flowctl projects || true

say "the security-hardening plan, as an AI client runs it: flowctl mcp driven by the official MCP SDK"
FLOWCTL="$root/build/bin/flowctl" "$root/examples/security-hardening/run.sh"

say "the same state through flowctl's own commands"
flowctl projects
flowctl queues -p 1
flowctl tickets -p 1 --status all

say "the audit log (as admin)"
flowctl logout
flowctl login admin --password-stdin <<<"$admin_pw"
flowctl audit --limit 12
echo
echo "demo finished; everything it started is stopped and removed."
