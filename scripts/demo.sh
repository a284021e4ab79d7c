#!/usr/bin/env bash
# The README's demo command: builds flowd, starts a throwaway deployment with
# scripts/cluster.sh (PostgreSQL, flowd with a fresh random signing secret and
# admin password, a worker service account with an API key, two flow-workers
# with that key, all under one temporary folder), adds a member who plans,
# runs the whole security-hardening plan as the member the way an AI client
# does, through `flowctl mcp` driven by the official MCP SDK
# (examples/security-hardening: plan, enqueue, process, review stats, then
# agent work done by the workers), shows the audit log, then stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# shellcheck source=lib/password.sh
. "$root/scripts/lib/password.sh"

"$root/scripts/deps.sh"
"$root/scripts/npm-deps.sh"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$root/build" -j2 --target flowd flowctl flow-worker >/dev/null

flowctl() { "$root/build/bin/flowctl" "$@"; }
say() { printf '\n== %s\n' "$*"; }

# The deployment lives in one temporary folder that `down` removes.
cluster=$(mktemp -d /tmp/flowd-demo.XXXXXX)
trap '"$root/scripts/cluster.sh" --dir "$cluster" down >/dev/null' EXIT

say "a throwaway deployment: PostgreSQL, flowd with a fresh random signing secret and admin password, two flow-workers (scripts/cluster.sh up 2)"
"$root/scripts/cluster.sh" --dir "$cluster" up 2
eval "$("$root/scripts/cluster.sh" --dir "$cluster" env)"
admin_pw=$(cat "$cluster/admin.password")
worker_key=$(cat "$cluster/worker.key")
planner_pw=$(random_password)

say "logged in as the first admin (created from FLOW_ADMIN_PASSWORD; password from stdin, never argv)"
flowctl whoami
say "the workers authenticate with the API key of the service account worker-pool (role worker)"
flowctl key list
say "users: a member who plans"
flowctl user create planner --role member --password-stdin <<<"$planner_pw"$'\n'"$planner_pw"
say "without credentials nothing works"
FLOW_CREDENTIALS="$cluster/none.json" flowctl projects || true
echo "the workers' key may only call the worker service:"
FLOW_API_KEY=$worker_key flowctl projects || true
say "log in as planner"
flowctl logout
flowctl login planner --password-stdin <<<"$planner_pw"

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
