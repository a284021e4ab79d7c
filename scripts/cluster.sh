#!/usr/bin/env bash
# cluster.sh - a throwaway flowd deployment of local processes: PostgreSQL
# (scripts/pg.sh), flowd and N flow-workers, everything under one folder.
#
#   scripts/cluster.sh [--dir DIR] up [N] [--agents FILE]
#       start PostgreSQL, flowd and N flow-workers (default 2)
#   scripts/cluster.sh [--dir DIR] status
#       what runs (pids, addresses, logs); exit 1 if anything died or none is up
#   scripts/cluster.sh [--dir DIR] env
#       shell lines that point flowctl at it, as the admin:
#       eval "$(scripts/cluster.sh env)"
#   scripts/cluster.sh [--dir DIR] down
#       stop what `up` started and remove DIR
#
# DIR is --dir, else $FLOW_CLUSTER_DIR, else ${TMPDIR:-/tmp}/flowd-cluster-UID;
# give each cluster its own to run several. `up` creates DIR (or takes an empty
# one) and records every process it starts, with its start time, in
# DIR/cluster.state; `down` stops exactly those and removes DIR.
#
# flowd gets a fresh random FLOW_JWT_SECRET and first-admin password
# (DIR/admin.password) and listens on ipc://DIR/flowd.sock (plus HTTP /healthz,
# /readyz, /metrics on a free loopback port when it supports --http-listen).
# The script logs in as the admin (DIR/credentials.json), creates the service
# account "worker-pool" (role worker) with an API key (DIR/worker.key) and starts
# the workers with it, running deploy/agents/demo-note as agent "demo-note"
# and the built-in "noop" (or the agents of --agents FILE). Logs: DIR/*.log.
#
# Programs: $FLOW_BIN_DIR, else build/bin (built with cmake when missing).
# For development and tests only: PostgreSQL runs without fsync.
set -euo pipefail
set +m

PROG=${0##*/}
self=$0
root=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
# shellcheck source=lib/password.sh
. "$root/scripts/lib/password.sh"
STATE_MAGIC="# flowd cluster (scripts/cluster.sh)"
WORKER_ACCOUNT=worker-pool

die()
{
	echo "$PROG: $*" >&2
	exit 1
}

say()
{
	echo "$PROG: $*" >&2
}

usage()
{
	sed -n '5,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
	exit "${1:-2}"
}

# ---- processes ----

# The start time (clock ticks since boot) of process $1, empty when it is gone
# or a zombie; together with the pid it names one process.
proc_start()
{
	local stat fields
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	read -ra fields <<<"${stat##*) }"
	[[ ${fields[0]} != Z ]] || return 0
	echo "${fields[19]}"
}

# True when the process recorded as pid $1, start time $2 still runs.
alive()
{
	[[ -n $1 && $(proc_start "$1") == "$2" ]]
}

# start_proc NAME LOG PROGRAM ARGS...: starts PROGRAM in a session of its own
# (so a terminal's SIGINT or SIGHUP does not reach it), stdin from /dev/null
# and output to LOG, and records it in the state file. setsid execs PROGRAM
# in place: the background child is not a process group leader.
start_proc()
{
	local name=$1 log=$2 pid st
	shift 2
	setsid "$@" </dev/null >>"$log" 2>&1 &
	pid=$!
	st=$(proc_start "$pid")
	[[ -n $st ]] || die "$name exited at once; its log: $log"
	printf 'proc %s %s %s %s\n' "$name" "$pid" "$st" "$log" >>"$state"
}

# Waits up to $3 seconds for the recorded process ($1 pid, $2 start time) to end.
wait_gone()
{
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		alive "$1" "$2" || return 0
		sleep 0.1
	done
	return 1
}

# stop_procs TIMEOUT PATTERN: SIGTERM to every recorded process whose name
# matches PATTERN, then SIGKILL to its process group after TIMEOUT seconds.
stop_procs()
{
	local timeout=$1 pattern=$2 kind name pid st log
	local -a pids=() starts=() names=()
	while read -r kind name pid st log; do
		# shellcheck disable=SC2053 # PATTERN is a glob
		[[ $kind == proc && $name == $pattern ]] || continue
		alive "$pid" "$st" || continue
		kill -TERM "$pid" 2>/dev/null || true
		pids+=("$pid") starts+=("$st") names+=("$name")
	done <"$state"
	for i in "${!pids[@]}"; do
		if ! wait_gone "${pids[i]}" "${starts[i]}" "$timeout"; then
			say "${names[i]} (pid ${pids[i]}) did not stop in ${timeout} s; killing it"
			kill -KILL -- "-${pids[i]}" 2>/dev/null || kill -KILL "${pids[i]}" 2>/dev/null || true
			wait_gone "${pids[i]}" "${starts[i]}" 5 || say "${names[i]} (pid ${pids[i]}) is still there"
		fi
	done
}

# Waits up to $4 seconds until the log $3 of the process ($1, $2) has a line
# with the message id $5; fails when the process exits first.
wait_log()
{
	local pid=$1 st=$2 log=$3 secs=$4 id=$5 i
	for ((i = 0; i < secs * 10; i++)); do
		grep -qE " $id: |\"id\":\"$id\"" "$log" 2>/dev/null && return 0
		alive "$pid" "$st" || return 1
		sleep 0.1
	done
	return 1
}

# A TCP port on 127.0.0.1 that nothing listens on (20000-39999).
free_port()
{
	local port i
	for ((i = 0; i < 50; i++)); do
		port=$((20000 + (RANDOM * 32768 + RANDOM) % 20000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return 0
		fi
	done
	die "no free TCP port found"
}

# ---- state ----

# Value of "KEY value" in the state file.
state_get()
{
	local k v
	while read -r k v; do
		[[ $k == "$1" ]] && { echo "$v"; return 0; }
	done <"$state"
	return 0
}

# True when a process recorded in the state file still runs.
any_alive()
{
	local kind name pid st log
	while read -r kind name pid st log; do
		[[ $kind == proc ]] && alive "$pid" "$st" && return 0
	done <"$state"
	return 1
}

have_state()
{
	[[ -f $state ]] && [[ $(head -n 1 "$state") == "$STATE_MAGIC" ]]
}

# ---- up ----

find_bins()
{
	bin=${FLOW_BIN_DIR:-$root/build/bin}
	local p missing=0
	for p in flowd flowctl flow-worker; do
		[[ -x $bin/$p ]] || missing=1
	done
	[[ $missing == 0 ]] && return 0
	[[ -z ${FLOW_BIN_DIR:-} ]] || die "flowd, flowctl or flow-worker missing in FLOW_BIN_DIR=$bin"
	say "building flowd, flowctl and flow-worker in $root/build (scripts/deps.sh installs what cmake needs)"
	cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build "$root/build" -j2 --target flowd flowctl flow-worker >/dev/null
}

# Creates DIR, or takes it when it is an empty folder of ours, and starts the
# state file (refusing when one exists: a cluster is up there).
claim_dir()
{
	if have_state; then
		if any_alive; then
			die "a cluster is already up in $dir (see: $self --dir $dir status; stop it: $self --dir $dir down)"
		fi
		die "$dir holds a cluster that no longer runs; remove it first: $self --dir $dir down"
	fi
	if [[ -e $dir ]]; then
		[[ -d $dir && ! -L $dir && -O $dir ]] || die "$dir exists and is not a folder of this user"
		[[ -z $(ls -A "$dir") ]] || die "$dir exists and is not empty; give another --dir"
	else
		mkdir -p -- "$(dirname "$dir")"
		mkdir -- "$dir" || die "cannot create $dir"
	fi
	# Others may pass through (PostgreSQL runs as "postgres" when we are root)
	# but not list it; the secrets in it are 0600.
	chmod 0711 "$dir"
	(
		set -C
		printf '%s\n' "$STATE_MAGIC" >"$state"
	) 2>/dev/null || die "a cluster is being started in $dir"
}

# The agents file of the workers: --agents FILE, else demo-note.
write_agents()
{
	if [[ -n $agents_src ]]; then
		cp -- "$agents_src" "$dir/agents.conf"
	else
		printf '# scripts/cluster.sh: the workers run these agents (and the built-in noop)\n' >"$dir/agents.conf"
		printf 'demo-note = %s/deploy/agents/demo-note\n' "$root" >>"$dir/agents.conf"
	fi
}

flowctl()
{
	FLOW_URL=$url FLOW_CREDENTIALS=$dir/credentials.json "$bin/flowctl" "$@"
}

start_flowd()
{
	local log=$dir/flowd.log pid st http=() admin_pw
	admin_pw=$(random_password)
	printf '%s\n' "$admin_pw" >"$dir/admin.password"
	url=ipc://$dir/flowd.sock
	printf 'url %s\n' "$url" >>"$state"
	if "$bin/flowd" --help 2>/dev/null | grep -q -- '--http-listen'; then
		http_addr=127.0.0.1:$(free_port)
		http=(--http-listen "$http_addr")
		printf 'http %s\n' "$http_addr" >>"$state"
	fi
	FLOW_JWT_SECRET=$(openssl rand -base64 48 | tr -d '\n')
	FLOW_ADMIN_PASSWORD=$admin_pw
	export FLOW_JWT_SECRET FLOW_ADMIN_PASSWORD
	start_proc flowd "$log" "$bin/flowd" --db "$db" --listen "$url" "${http[@]}"
	unset FLOW_JWT_SECRET FLOW_ADMIN_PASSWORD
	read -r _ _ pid st _ < <(grep '^proc flowd ' "$state")
	wait_log "$pid" "$st" "$log" 60 flowd.ready || {
		tail -n 20 "$log" >&2
		die "flowd did not start (log: $log)"
	}
	flowctl login admin --password-stdin <<<"$admin_pw" >/dev/null ||
		die "cannot log in to flowd as admin (log: $log)"
	say "flowd is up at $url; logged in as admin"
}

make_worker_key()
{
	flowctl user create "$WORKER_ACCOUNT" --role worker --service-account >/dev/null
	flowctl key create "$WORKER_ACCOUNT" --name cluster 2>/dev/null >"$dir/worker.key"
	[[ -s $dir/worker.key ]] || die "could not create the workers' API key"
}

start_workers()
{
	local n=$1 i name log pid st
	FLOW_API_KEY=$(cat "$dir/worker.key")
	export FLOW_API_KEY
	for ((i = 1; i <= n; i++)); do
		name=worker-$i
		log=$dir/$name.log
		(cd "$dir" && start_proc "$name" "$log" "$bin/flow-worker" --url "$url" \
			--agents "$dir/agents.conf" --concurrency 2 --name "$name")
	done
	unset FLOW_API_KEY
	while read -r kind name pid st log; do
		[[ $kind == proc && $name == worker-* ]] || continue
		wait_log "$pid" "$st" "$log" 30 worker.ready || {
			tail -n 20 "$log" >&2
			die "$name did not start (log: $log)"
		}
	done <"$state"
	((n == 0)) || say "$n flow-worker(s) are claiming"
}

cmd_up()
{
	local n=$1
	if [[ ! $n =~ ^[0-9]+$ ]] || ((n > 64)); then
		die "the number of workers must be 0..64, not '$n'"
	fi
	[[ -z $agents_src || -f $agents_src ]] || die "no agents file $agents_src"
	command -v openssl >/dev/null 2>&1 || die "openssl is not installed (scripts/deps.sh)"
	find_bins
	claim_dir
	# Anything going wrong from here stops what was started and removes DIR.
	trap 'say "start-up failed; stopping what was started"; cmd_down >/dev/null' EXIT
	write_agents
	say "starting PostgreSQL in $dir/pg"
	db=$("$root/scripts/pg.sh" start "$dir/pg" | tail -n 1)
	printf 'db %s\n' "$db" >>"$state"
	start_flowd
	make_worker_key
	start_workers "$n"
	trap - EXIT
	cmd_status
	echo
	echo "Use it with flowctl (as the admin):  eval \"\$($self --dir $dir env)\""
	echo "Stop it and remove $dir:  $self --dir $dir down"
}

# ---- status, env, down ----

cmd_status()
{
	local kind name pid st log bad=0 u h d port
	if ! have_state; then
		echo "no cluster in $dir (not running)"
		return 1
	fi
	u=$(state_get url)
	h=$(state_get http)
	d=$(state_get db)
	echo "cluster $dir"
	while read -r kind name pid st log; do
		[[ $kind == proc ]] || continue
		if alive "$pid" "$st"; then
			printf '  %-10s pid %-8s running   log %s\n' "$name" "$pid" "$log"
		else
			printf '  %-10s pid %-8s DEAD      log %s\n' "$name" "$pid" "$log"
			bad=1
		fi
	done <"$state"
	if [[ -n $d ]]; then
		port=${d##*:}
		port=${port%%/*}
		if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			printf '  %-10s %s   running   log %s\n' postgres "$d" "$dir/pg/pg.log"
		else
			printf '  %-10s %s   DEAD      log %s\n' postgres "$d" "$dir/pg/pg.log"
			bad=1
		fi
	fi
	[[ -z $u ]] || echo "  rpc        $u"
	[[ -z $h ]] || echo "  http       http://$h  (/healthz /readyz /metrics)"
	if [[ -f $dir/agents.conf ]]; then
		echo "  agents     $(sed -n 's/^[[:blank:]]*\([A-Za-z0-9_-]*\)[[:blank:]]*=.*/\1/p' "$dir/agents.conf" | tr '\n' ' ')noop  ($dir/agents.conf)"
	fi
	echo "  admin      credentials $dir/credentials.json, password $dir/admin.password"
	echo "  workers    service account $WORKER_ACCOUNT, API key $dir/worker.key"
	if [[ $bad == 1 ]]; then
		echo "something died: see its log"
		return 1
	fi
	return 0
}

cmd_env()
{
	have_state || die "no cluster in $dir (start one: $self --dir $dir up)"
	printf 'export FLOW_CLUSTER_DIR=%q\n' "$dir"
	printf 'export FLOW_URL=%q\n' "$(state_get url)"
	printf 'export FLOW_CREDENTIALS=%q\n' "$dir/credentials.json"
	# a token in the environment would win over the admin's login
	printf 'unset FLOW_TOKEN FLOW_API_KEY\n'
}

cmd_down()
{
	if [[ ! -e $dir ]]; then
		echo "no cluster in $dir"
		return 0
	fi
	have_state || die "$dir holds no cluster (no cluster.state); not touching it"
	stop_procs 45 'worker-*'
	stop_procs 30 flowd
	if [[ -d $dir/pg ]]; then
		"$root/scripts/pg.sh" stop "$dir/pg" >/dev/null || say "could not stop PostgreSQL in $dir/pg"
	fi
	rm -rf -- "$dir"
	echo "stopped the cluster in $dir and removed it"
}

# ---- main ----

dir=${FLOW_CLUSTER_DIR:-${TMPDIR:-/tmp}/flowd-cluster-$(id -u)}
action=
n=2
agents_src=
while [[ $# -gt 0 ]]; do
	case $1 in
	--dir)
		[[ $# -ge 2 ]] || usage >&2
		dir=$2
		shift
		;;
	--dir=*) dir=${1#--dir=} ;;
	--agents)
		[[ $# -ge 2 ]] || usage >&2
		agents_src=$(realpath -- "$2")
		shift
		;;
	-h | --help) usage 0 ;;
	up | status | env | down)
		[[ -z $action ]] || usage >&2
		action=$1
		;;
	*)
		[[ $action == up && $1 =~ ^[0-9]+$ ]] || usage >&2
		n=$1
		;;
	esac
	shift
done
[[ -n $action ]] || usage >&2
[[ -n $dir ]] || die "empty --dir"
dir=$(realpath -m -- "$dir")
case $dir in
/ | /tmp | /var/tmp | /root | /home | /usr | /var | /etc | "${HOME:-/}") die "refusing to use $dir" ;;
esac
state=$dir/cluster.state
# Everything the cluster writes (keys, passwords, logs) is private.
umask 077
# Credentials in the environment would win over the cluster's own.
unset FLOW_TOKEN FLOW_API_KEY

case $action in
up) cmd_up "$n" ;;
status) cmd_status ;;
env) cmd_env ;;
down) cmd_down ;;
esac
