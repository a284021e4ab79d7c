#!/usr/bin/env bash
# deps.sh - installs the Debian packages needed to build and test flowd.
#
# Skips apt entirely when every package is already installed, so repeated
# runs are fast. Non-interactive. Needs root (or password-less sudo) only
# when something is missing. FLOW_SKIP_DEPS=1 skips it altogether (for
# machines whose dependencies come from elsewhere).
#
# Node.js (>= 18) and npm are installed from Debian only when none is on PATH.
#
# docker-compose (Debian's, 1.29) only validates deploy/docker-compose.yml in
# the e2e.deploy test (`docker-compose config`); nothing runs containers.
#
# Installing "postgresql" on Debian creates (and may start) a default cluster
# 15/main on port 5432; nothing in flowd's tests uses it (see scripts/pg.sh).
set -euo pipefail

PKGS=(
	build-essential
	cmake
	pkg-config
	protobuf-c-compiler
	libprotobuf-c-dev
	libnng-dev
	libmbedtls-dev
	libpq-dev
	libjansson-dev
	libcmocka-dev
	libssl-dev
	openssl
	libargon2-dev
	libpwquality-dev
	cracklib-runtime
	postgresql
	postgresql-client
	ca-certificates
	docker-compose
)

if [[ ${FLOW_SKIP_DEPS:-0} == 1 ]]; then
	exit 0
fi
if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
	echo "deps.sh: not a Debian-like system; install these yourself: ${PKGS[*]}" >&2
	exit 0
fi

missing=()
for p in "${PKGS[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ $status == "install ok installed" ]] || missing+=("$p")
done
# Node.js and npm run the MCP example and its test (the official MCP SDK
# client); any Node.js >= 18 on PATH will do, else Debian's.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if [[ ${#missing[@]} -eq 0 ]]; then
	exit 0
fi

echo "deps.sh: installing ${missing[*]}" >&2
sudo=()
if [[ $EUID -ne 0 ]]; then
	command -v sudo >/dev/null 2>&1 ||
		{ echo "deps.sh: missing packages and not root: ${missing[*]}" >&2; exit 1; }
	sudo=(sudo -n env DEBIAN_FRONTEND=noninteractive)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
