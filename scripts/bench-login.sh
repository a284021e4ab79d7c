#!/usr/bin/env bash
# bench-login.sh - login timing benchmark (hardening item 6, docs/security.md).
#
#   scripts/bench-login.sh [ROUNDS]
#
# Builds (Release) into build-bench/, starts a throwaway PostgreSQL, runs
# build-bench/tests/bench_login_timing, and stops PostgreSQL again. Prints
# the median login time for an unknown user, a wrong password and a locked
# account as ratios to the correct-password case.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-bench -j"$(nproc)" --target bench_login_timing >/dev/null
pgdir=$(mktemp -d /tmp/flowd-bench-pg.XXXXXX)
trap 'scripts/pg.sh stop "$pgdir" >/dev/null 2>&1 || true' EXIT
scripts/pg.sh start "$pgdir" >/dev/null
FLOW_TEST_PGDIR=$pgdir FLOW_LOG_LEVEL=warn build-bench/tests/bench_login_timing "${1:-40}"
