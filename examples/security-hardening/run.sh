#!/usr/bin/env bash
# run.sh - runs the security-hardening workflow (workflow.mjs) against a
# running flowd, through `flowctl mcp` and the official MCP TypeScript SDK.
#
#   examples/security-hardening/run.sh [--project-id N] [--skip-workers] [--json-summary FILE]
#
# flowd's address comes from FLOW_URL (default tcp://127.0.0.1:7600) and the
# credentials are flowctl's: FLOW_TOKEN or FLOW_API_KEY, else a saved
# `flowctl login` for that URL. flowctl is $FLOWCTL, else build/bin/flowctl of
# this repository, else the one on PATH. The last part needs flow-workers that
# run the agent demo-note (see README.md), or --skip-workers.
set -euo pipefail
here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
root=$(cd "$here/../.." && pwd)

die() {
	echo "run.sh: $*" >&2
	exit 1
}

command -v node >/dev/null 2>&1 ||
	die "node is not installed; the example needs Node.js >= 18 and npm (Debian: apt-get install nodejs npm)"
major=$(node -p 'process.versions.node.split(".")[0]')
[[ $major -ge 18 ]] || die "Node.js $(node --version) is too old; the example needs Node.js >= 18"

if [[ ! -d $here/node_modules/@modelcontextprotocol/sdk ]]; then
	command -v npm >/dev/null 2>&1 ||
		die "npm is not installed; it installs the MCP SDK the example uses (Debian: apt-get install npm)"
	echo "run.sh: installing the example's packages (npm ci)" >&2
	(cd "$here" && npm ci --silent --no-audit --no-fund) || die "npm ci failed in $here"
fi

if [[ -z ${FLOWCTL:-} ]]; then
	if [[ -x $root/build/bin/flowctl ]]; then
		FLOWCTL=$root/build/bin/flowctl
	elif command -v flowctl >/dev/null 2>&1; then
		FLOWCTL=$(command -v flowctl)
	else
		die "flowctl not found: build it (cmake --build build), put it on PATH or set FLOWCTL"
	fi
fi
export FLOWCTL

exec node "$here/workflow.mjs" "$@"
