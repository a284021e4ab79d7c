#!/usr/bin/env bash
# The README's demo command: builds flowd, starts a throwaway PostgreSQL and
# flowd under one temporary folder with a fresh random signing secret and
# admin password, sets up users (a member who plans, a worker service account
# with an API key), runs the usage guide's workflow through flowctl (plan,
# enqueue, process, review stats) as the member, lets two flow-workers run
# agents with the API key, shows the audit log, then stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

"$root/scripts/deps.sh"
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
ctl() { flowctl call "$@"; }
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

id() { sed -n 's/^  "id": \([0-9]*\),*$/\1/p' | head -n 1; }

say "project_manager create / list / overview"
project=$(ctl project_manager '{"action":"create","data":{"name":"Promptliano","path":"/srv/promptliano","description":"demo project"}}' | id)
ctl project_manager '{"action":"list"}'
ctl project_manager "{\"action\":\"overview\",\"projectId\":$project}"

say "queues_create (maxParallelItems 1)"
queue=$(ctl flow_manager "{\"action\":\"queues_create\",\"projectId\":$project,\"data\":{\"name\":\"Security Hardening\",\"description\":\"All security fixes\",\"maxParallelItems\":1}}" | id)
echo "queue $queue"

say "tickets_create and tasks_create"
declare -A prio=([P0-1]=10 [P0-3]=8 [P1-1]=6 [REVIEW-1]=10)
declare -A ticket
for key in P1-1 P0-3 P0-1 REVIEW-1; do
	ticket[$key]=$(ctl flow_manager "{\"action\":\"tickets_create\",\"projectId\":$project,\"data\":{\"title\":\"[$key] security fix\",\"description\":\"See the plan for $key\",\"priority\":${prio[$key]},\"status\":\"pending\",\"tags\":[\"security\",\"$key\"]}}" | id)
	for n in 1 2; do
		ctl flow_manager "{\"action\":\"tasks_create\",\"ticketId\":${ticket[$key]},\"data\":{\"content\":\"$key task $n\",\"description\":\"step $n\",\"status\":\"pending\",\"estimatedHours\":0.5,\"tags\":[\"security\"]}}" >/dev/null
	done
	echo "ticket $key = ${ticket[$key]} (priority ${prio[$key]}, 2 tasks)"
done

say "queues_add_item in priority order"
for key in P0-1 REVIEW-1 P0-3 P1-1; do
	ctl flow_manager "{\"action\":\"queues_add_item\",\"queueId\":$queue,\"data\":{\"ticketId\":${ticket[$key]},\"priority\":${prio[$key]}}}" >/dev/null
	echo "enqueued $key"
done

say "processor_get_next -> tasks_update -> processor_complete until the queue is empty"
while :; do
	next=$(ctl flow_manager "{\"action\":\"processor_get_next\",\"queueId\":$queue}")
	if ! grep -q '"found": true' <<<"$next"; then
		echo "no more items: $(grep -o '"message": "[^"]*"' <<<"$next")"
		break
	fi
	item=$(sed -n 's/^  "queueItemId": \([0-9]*\),*$/\1/p' <<<"$next")
	title=$(grep -m1 -o '"title": "[^"]*"' <<<"$next")
	echo "item $item: $title"
	for task in $(sed -n '/"tasks": \[/,/^  \]/p' <<<"$next" | sed -n 's/^      "id": \([0-9]*\),*$/\1/p'); do
		ctl flow_manager "{\"action\":\"tasks_update\",\"taskId\":$task,\"data\":{\"status\":\"completed\",\"completionNotes\":\"implemented and tested\"}}" >/dev/null
	done
	ctl flow_manager "{\"action\":\"processor_complete\",\"itemId\":$item,\"data\":{\"completionNotes\":\"Task completed successfully\"}}" >/dev/null
done

say "queues_get_stats"
ctl flow_manager "{\"action\":\"queues_get_stats\",\"queueId\":$queue}"
say "tickets_list"
"$root/build/bin/flowctl" tickets -p "$project"

say "flow-worker: two workers run the agents of a second queue"
printf 'demo-note = %s/deploy/agents/demo-note\n' "$root" >"$work/agents.conf"
agents_queue=$(ctl flow_manager "{\"action\":\"queues_create\",\"projectId\":$project,\"data\":{\"name\":\"Agent work\",\"maxParallelItems\":3,\"leaseSeconds\":30,\"defaultAgentId\":\"demo-note\"}}" | id)
review=$(ctl flow_manager "{\"action\":\"tickets_create\",\"projectId\":$project,\"data\":{\"title\":\"[REVIEW-2] Review the hardening\",\"priority\":\"high\",\"suggestedAgentIds\":[\"demo-note\"]}}" | id)
for n in 1 2 3 4 5 6 7 8; do
	task=$(ctl flow_manager "{\"action\":\"tasks_create\",\"ticketId\":$review,\"data\":{\"content\":\"Review fix $n\",\"agentId\":\"demo-note\",\"estimatedHours\":0.25}}" | id)
	ctl flow_manager "{\"action\":\"enqueue_task\",\"queueId\":$agents_queue,\"taskId\":$task}" >/dev/null
done
echo "enqueued 8 tasks for agent demo-note on queue $agents_queue"
say "the workers' API key may only call the worker service"
FLOW_API_KEY=$worker_key flowctl projects || true
for w in 1 2; do
	FLOW_API_KEY=$worker_key "$root/build/bin/flow-worker" --url "$FLOW_URL" --agents "$work/agents.conf" \
		--concurrency 2 --name "demo-worker-$w" >"$work/worker-$w.log" 2>&1 &
	worker_pids+=($!)
done
for _ in $(seq 300); do
	stats=$(ctl flow_manager "{\"action\":\"queues_get_stats\",\"queueId\":$agents_queue}")
	grep -q '"completedItems": 8' <<<"$stats" && break
	sleep 0.1
done
"$root/build/bin/flowctl" queue stats "$agents_queue"
echo
"$root/build/bin/flowctl" tasks "$review"
echo
echo "completion notes written by the agent:"
ctl flow_manager "{\"action\":\"tasks_list\",\"ticketId\":$review}" | grep -o '"completionNotes": "[^"]*"' | head -n 3
say "the audit log (as admin)"
flowctl logout
flowctl login admin --password-stdin <<<"$admin_pw"
flowctl audit --limit 12
echo
echo "demo finished; everything it started is stopped and removed."
