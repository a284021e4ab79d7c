#!/usr/bin/env bash
# test.sh - the README's test command: install dependencies, build, run every test.
#
#   scripts/test.sh                 build in build/ with -Werror, run ctest
#   scripts/test.sh --sanitize      the same with ASan+UBSan, in build-asan/
#   scripts/test.sh [--sanitize] [ctest args...]   e.g. -R unit. or -L slow
#
# Integration and end-to-end tests get a throwaway PostgreSQL from the ctest
# fixture "pg" (scripts/pg.sh, data in <build>/testpg); nothing else is
# needed. Exits with ctest's status. FLOW_JOBS sets the parallelism (2).
set -euo pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."

build=build
cmake_args=(-DFLOW_WERROR=ON)
ctest_args=()
while [[ $# -gt 0 ]]; do
	case $1 in
	--sanitize)
		build="build-asan"
		cmake_args+=(-DFLOW_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
		;;
	-h | --help)
		sed -n '2,10p' "${BASH_SOURCE[0]}"
		exit 0
		;;
	*) ctest_args+=("$1") ;;
	esac
	shift
done
jobs=${FLOW_JOBS:-2}

scripts/deps.sh
scripts/npm-deps.sh

# Make sure no test server outlives the run, even if ctest is interrupted.
trap 'scripts/pg.sh stop "$PWD/$build/testpg" || true' EXIT

cmake -S . -B "$build" "${cmake_args[@]}"
cmake --build "$build" -j "$jobs"

if [[ $build == build-asan ]]; then
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
fi

rc=0
ctest --test-dir "$build" --output-on-failure -j "$jobs" "${ctest_args[@]}" || rc=$?
exit "$rc"
