#!/usr/bin/env bash
# npm-deps.sh - installs the MCP example's npm packages (the official MCP
# TypeScript SDK, pinned in examples/security-hardening/package-lock.json)
# when they are missing or older than the lock file. Used by test.sh (the
# e2e.mcp_sdk test drives `flowctl mcp` with that SDK) and demo.sh.
set -euo pipefail
cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../examples/security-hardening"
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
	npm ci --no-audit --no-fund --loglevel=error
fi
