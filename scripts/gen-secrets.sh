#!/usr/bin/env bash
# gen-secrets.sh - the secrets of a Docker Compose deployment (docs/deploy.md).
#
#   scripts/gen-secrets.sh [--force] [--env-file FILE]
#       writes FILE (default deploy/.env) from deploy/.env.example with a fresh
#       POSTGRES_PASSWORD (openssl rand -hex 24), FLOW_JWT_SECRET (openssl rand
#       -base64 48) and FLOW_ADMIN_PASSWORD (openssl rand -base64 18, redrawn until cracklib accepts it), mode
#       0600. Refuses to overwrite an existing FILE unless --force.
#   scripts/gen-secrets.sh set NAME [--env-file FILE]
#       sets NAME in FILE to the first line of stdin, e.g. the workers' key:
#       docker compose exec -T flowd flowctl key create workers --name compose |
#           scripts/gen-secrets.sh set FLOW_API_KEY
#
# Secrets never appear on a command line or in the output.
set -euo pipefail

PROG=${0##*/}
root=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
# shellcheck source=lib/password.sh
. "$root/scripts/lib/password.sh"
template=$root/deploy/.env.example

die()
{
	echo "$PROG: $*" >&2
	exit 1
}

usage()
{
	sed -n '4,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
	exit "${1:-2}"
}

# Writes stdin to FILE atomically (a temporary file in the same folder, mode
# 0600, renamed over FILE).
write_private()
{
	local file=$1 tmp
	tmp=$(mktemp "$(dirname "$file")/.env.XXXXXX")
	chmod 600 "$tmp"
	if ! cat >"$tmp"; then
		rm -f "$tmp"
		die "cannot write $tmp"
	fi
	mv -f "$tmp" "$file"
}

# Replaces the NAME= lines of the template named in $SECRETS with the values
# of those environment variables (awk reads them from ENVIRON, not argv).
fill_template()
{
	awk 'BEGIN { n = split(ENVIRON["SECRETS"], names, " ") }
	{
		for (i = 1; i <= n; i++)
			if (index($0, names[i] "=") == 1) {
				$0 = names[i] "=" ENVIRON[names[i]]
				break
			}
		print
	}' "$template"
}

cmd_generate()
{
	local file=$1 force=$2
	command -v openssl >/dev/null 2>&1 || die "openssl is not installed (Debian: apt-get install openssl)"
	[[ -f $template ]] || die "$template is missing"
	if [[ -e $file && $force != 1 ]]; then
		die "$file exists; not overwriting it (--force replaces it, and its secrets)"
	fi
	POSTGRES_PASSWORD=$(openssl rand -hex 24)
	FLOW_JWT_SECRET=$(openssl rand -base64 48 | tr -d '\n')
	FLOW_ADMIN_PASSWORD=$(random_password)
	export POSTGRES_PASSWORD FLOW_JWT_SECRET FLOW_ADMIN_PASSWORD
	SECRETS="POSTGRES_PASSWORD FLOW_JWT_SECRET FLOW_ADMIN_PASSWORD" fill_template |
		write_private "$file"
	unset POSTGRES_PASSWORD FLOW_JWT_SECRET FLOW_ADMIN_PASSWORD
	cat >&2 <<-EOF
		$PROG: wrote $file (mode 0600) with a new POSTGRES_PASSWORD, FLOW_JWT_SECRET
		and FLOW_ADMIN_PASSWORD (the first admin's password, for flowctl login admin).
		Next (docs/deploy.md, "Bring-up"): docker compose up -d flowd
	EOF
}

cmd_set()
{
	local file=$1 name=$2 value
	[[ $name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "not a variable name: $name"
	[[ -f $file ]] || die "$file does not exist (run $PROG first)"
	IFS= read -r value || [[ -n $value ]] || die "no value on stdin for $name"
	value=${value%$'\r'}
	[[ -n $value ]] || die "empty value on stdin for $name"
	[[ $value != *'$'* ]] || die "the value of $name contains '\$', which compose would expand"
	export SETNAME=$name SETVALUE=$value
	awk 'BEGIN { done = 0 }
	index($0, ENVIRON["SETNAME"] "=") == 1 {
		if (!done) print ENVIRON["SETNAME"] "=" ENVIRON["SETVALUE"]
		done = 1
		next
	}
	{ print }
	END { if (!done) print ENVIRON["SETNAME"] "=" ENVIRON["SETVALUE"] }' "$file" |
		write_private "$file"
	unset SETVALUE
	echo "$PROG: set $name in $file" >&2
}

action=generate
file=$root/deploy/.env
force=0
name=
while [[ $# -gt 0 ]]; do
	case $1 in
	--force) force=1 ;;
	--env-file)
		[[ $# -ge 2 ]] || usage >&2
		file=$2
		shift
		;;
	--env-file=*) file=${1#--env-file=} ;;
	set)
		[[ $# -ge 2 ]] || usage >&2
		action="set"
		name=$2
		shift
		;;
	-h | --help) usage 0 ;;
	*) usage >&2 ;;
	esac
	shift
done

umask 077
case $action in
generate) cmd_generate "$file" "$force" ;;
set) cmd_set "$file" "$name" ;;
esac
