#!/usr/bin/env bash
# pg.sh - a throwaway PostgreSQL for tests and demos.
#
#   scripts/pg.sh start DIR   create (if needed) and start a server in DIR; prints its URL
#   scripts/pg.sh stop DIR    stop it and remove DIR (no error if it is not running)
#   scripts/pg.sh url DIR     print the URL of the server in DIR
#   scripts/pg.sh halt DIR    stop the server but keep DIR; `start DIR` resumes
#                             it on the same port (for restart tests)
#
# Layout: DIR/data (cluster), DIR (unix socket), DIR/pg.log (server log),
# DIR/url (postgresql://postgres@127.0.0.1:PORT/postgres), DIR/port.
# The server listens on 127.0.0.1 only, on a free port picked at random in
# 20000-39999, with trust authentication and superuser "postgres".
#
# It is tuned for speed, NOT durability: fsync, synchronous_commit and
# full_page_writes are off, so a machine crash can corrupt it. Never point
# this script at data you want to keep. PG_DURABLE=1 (read when the cluster
# is created) keeps PostgreSQL's default durability settings instead (fsync,
# synchronous_commit and full_page_writes on), for benchmarks.
#
# As root, the cluster is created and run as the "postgres" OS user (initdb
# refuses root). If that user cannot reach DIR (e.g. DIR below /root) or DIR
# is too long for a unix socket path, data and socket live in a private
# directory under /tmp instead, recorded in DIR/rundir; DIR/url stays valid.
#
# Environment: PG_BINDIR overrides where initdb/pg_ctl are looked up;
# PG_DURABLE=1, see above.
set -euo pipefail

PROG=${0##*/}
MARKER=.flowd-testpg

die()
{
	echo "$PROG: $*" >&2
	exit 1
}

usage()
{
	echo "usage: $PROG start|stop|halt|url DIR" >&2
	exit 2
}

# Prints the directory holding initdb and pg_ctl.
find_bindir()
{
	local d cand=()

	[[ -n ${PG_BINDIR:-} ]] && cand+=("$PG_BINDIR")
	if command -v pg_config >/dev/null 2>&1; then
		d=$(pg_config --bindir 2>/dev/null || true)
		[[ -n $d ]] && cand+=("$d")
	fi
	# Debian: /usr/lib/postgresql/<major>/bin, newest major first.
	while IFS= read -r d; do
		cand+=("$d")
	done < <(printf '%s\n' /usr/lib/postgresql/*/bin | sort -t/ -k5,5 -rn)
	cand+=(/usr/local/pgsql/bin)
	d=$(command -v initdb 2>/dev/null || true)
	[[ -n $d ]] && cand+=("$(dirname "$(readlink -f "$d")")")
	for d in "${cand[@]}"; do
		if [[ -x $d/initdb && -x $d/pg_ctl ]]; then
			echo "$d"
			return 0
		fi
	done
	die "cannot find PostgreSQL server binaries (initdb, pg_ctl); install the postgresql package or set PG_BINDIR"
}

# Runs a command as the cluster owner: "postgres" when we are root. The lock
# (fd 9) is not passed on: a postmaster holding it would block later calls.
as_owner()
{
	if [[ $EUID -eq 0 ]]; then
		runuser -u postgres -- "$@" 9>&-
	else
		"$@" 9>&-
	fi
}

# True when the cluster owner can create files in directory $1.
owner_can_use()
{
	as_owner test -d "$1" -a -w "$1" -a -x "$1" 2>/dev/null
}

# Data and socket directory for DIR (DIR itself unless relocated).
rundir_of()
{
	if [[ -f $1/rundir ]]; then
		cat "$1/rundir"
	else
		echo "$1"
	fi
}

# True when a postmaster is running for the cluster in DIR and accepts
# connections on its port.
is_running()
{
	local run port
	run=$(rundir_of "$1")
	[[ -f $run/data/PG_VERSION ]] || return 1
	as_owner "$BINDIR/pg_ctl" status -D "$run/data" >/dev/null 2>&1 || return 1
	port=$(cat "$1/port" 2>/dev/null || true)
	[[ -n $port ]] && port_busy "$port"
}

# True when something accepts TCP connections on 127.0.0.1:$1.
port_busy()
{
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

write_url()
{
	local dir=$1 port=$2
	echo "$port" >"$dir/port"
	echo "postgresql://postgres@127.0.0.1:$port/postgres" >"$dir/url.tmp"
	mv -f "$dir/url.tmp" "$dir/url"
}

# Sets up the run directory for DIR and creates the cluster in it.
init_cluster()
{
	local dir=$1 run sock_len
	run=$dir

	if [[ $EUID -eq 0 ]]; then
		id postgres >/dev/null 2>&1 ||
			die "no 'postgres' OS user; install the postgresql package (scripts/deps.sh)"
		chown postgres: "$dir"
	fi
	# Unix socket paths are limited to 107 bytes: DIR/.s.PGSQL.NNNNN.
	sock_len=$((${#dir} + 16))
	if ! owner_can_use "$dir" || ((sock_len > 100)); then
		run=$(mktemp -d /tmp/flowd-pg.XXXXXX)
		[[ $EUID -eq 0 ]] && chown postgres: "$run"
		echo "$run" >"$dir/rundir"
	fi
	# The server (the cluster owner) writes the log; DIR/pg.log always names it.
	: >"$run/pg.log"
	[[ $EUID -eq 0 ]] && chown postgres: "$run/pg.log"
	[[ $run == "$dir" ]] || ln -sfn "$run/pg.log" "$dir/pg.log"
	if ! as_owner "$BINDIR/initdb" -D "$run/data" -U postgres --auth=trust \
		-E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1; then
		cat "$dir/initdb.log" >&2
		die "initdb failed in $run/data"
	fi
	if [[ ${PG_DURABLE:-0} == 1 ]]; then
		cat >>"$run/data/postgresql.conf" <<-EOF

			# Added by scripts/pg.sh (PG_DURABLE=1): a throwaway server with
			# PostgreSQL's default durability (fsync, synchronous_commit on).
			listen_addresses = '127.0.0.1'
			unix_socket_directories = '$run'
			max_connections = 300
			log_min_messages = warning
			include_if_exists = 'flowd_port.conf'
		EOF
		return 0
	fi
	cat >>"$run/data/postgresql.conf" <<-EOF

		# Added by scripts/pg.sh: a throwaway test server, tuned for speed not durability.
		listen_addresses = '127.0.0.1'
		unix_socket_directories = '$run'
		max_connections = 300
		fsync = off
		synchronous_commit = off
		full_page_writes = off
		log_min_messages = warning
		include_if_exists = 'flowd_port.conf'
	EOF
}

# Starts the cluster in DIR, picking a new free port on every failed attempt.
start_cluster()
{
	local dir=$1 run port attempt
	run=$(rundir_of "$dir")

	# A server restarted after a crash keeps its previous port when it can.
	port=$(cat "$dir/port" 2>/dev/null || true)
	for attempt in $(seq 1 20); do
		if [[ -z $port ]] || port_busy "$port"; then
			port=$((20000 + (RANDOM * 32768 + RANDOM) % 20000))
			port_busy "$port" && { port=; continue; }
		fi
		echo "port = $port" | as_owner tee "$run/data/flowd_port.conf" >/dev/null
		if as_owner "$BINDIR/pg_ctl" start -w -t 60 -D "$run/data" -l "$run/pg.log" \
			>/dev/null 2>&1; then
			write_url "$dir" "$port"
			return 0
		fi
		# Most likely the port was taken between the probe and bind(): retry.
		echo "$PROG: start on port $port failed (attempt $attempt), retrying" >&2
		port=
		sleep 0.5
	done
	tail -n 30 "$dir/pg.log" >&2 || true
	die "could not start PostgreSQL in $run/data (log: $dir/pg.log)"
}

# Serializes pg.sh calls on DIR (fd 9). A server started by an older pg.sh may
# hold the lock forever, so give up waiting after a while and carry on.
take_lock()
{
	exec 9>>"$1/.lock"
	flock -w 15 9 || echo "$PROG: warning: $1/.lock is held; continuing without it" >&2
}

# Removes the relocated run directory of DIR, if there is one.
cleanup_rundir()
{
	local run
	run=$(rundir_of "$1")
	if [[ $run != "$1" && $run == /tmp/flowd-pg.* ]]; then
		rm -rf -- "$run"
	fi
}

cmd_start()
{
	local dir=$1
	mkdir -p "$dir"
	take_lock "$dir"
	if is_running "$dir" && [[ -f $dir/url ]]; then
		cat "$dir/url"
		return 0
	fi
	if [[ ! -f $(rundir_of "$dir")/data/PG_VERSION ]]; then
		# Refuse to take over a directory with someone else's files in it.
		if [[ ! -f $dir/$MARKER ]] && find "$dir" -mindepth 1 -maxdepth 1 ! -name .lock |
			grep -q .; then
			die "$dir is not empty and was not created by $PROG"
		fi
		touch "$dir/$MARKER"
		# Left-overs of an interrupted initdb.
		cleanup_rundir "$dir"
		rm -rf -- "$dir/data" "$dir/rundir"
		init_cluster "$dir"
	fi
	start_cluster "$dir"
	cat "$dir/url"
}

cmd_stop()
{
	local dir=$1 run
	[[ -d $dir ]] || return 0
	if [[ ! -f $dir/$MARKER ]]; then
		[[ -z $(ls -A "$dir") ]] || die "$dir was not created by $PROG; not removing it"
		rmdir "$dir"
		return 0
	fi
	take_lock "$dir"
	run=$(rundir_of "$dir")
	if is_running "$dir"; then
		as_owner "$BINDIR/pg_ctl" stop -m fast -w -t 60 -D "$run/data" >/dev/null 2>&1 ||
			as_owner "$BINDIR/pg_ctl" stop -m immediate -w -D "$run/data" >/dev/null 2>&1 ||
			echo "$PROG: warning: could not stop the server in $run/data" >&2
	fi
	cleanup_rundir "$dir"
	rm -rf -- "$dir"
}

cmd_halt()
{
	local dir=$1
	[[ -f $dir/$MARKER ]] || die "no server of $PROG in $dir"
	take_lock "$dir"
	if is_running "$dir"; then
		as_owner "$BINDIR/pg_ctl" stop -m fast -w -t 60 -D "$(rundir_of "$dir")/data" \
			>/dev/null 2>&1 || die "could not stop the server in $dir"
	fi
}

cmd_url()
{
	local dir=$1
	[[ -f $dir/url ]] || die "no server in $dir (run: $PROG start $dir)"
	cat "$dir/url"
}

[[ $# -eq 2 ]] || usage
action=$1
[[ -n $2 ]] || usage
dir=$(realpath -m -- "$2")
case $dir in
/ | /tmp | /root | /home | /usr | /var | /etc) die "refusing to use $dir" ;;
esac
# The cluster owner may not be able to read the caller's working directory.
cd /

case $action in
start)
	BINDIR=$(find_bindir)
	cmd_start "$dir"
	;;
stop)
	BINDIR=$(find_bindir)
	cmd_stop "$dir"
	;;
halt)
	BINDIR=$(find_bindir)
	cmd_halt "$dir"
	;;
url) cmd_url "$dir" ;;
*) usage ;;
esac
