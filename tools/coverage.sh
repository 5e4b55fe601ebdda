#!/bin/bash
# Line coverage of the task layer (src/tasks) by the tests that need no Docker engine:
# builds brr with gcc --coverage in build-cov/, runs `ctest -LE e2e` with DOCKER_HOST
# pointing nowhere (the node kinds are driven through tests/unit/fake_engine.c), prints the
# per-file and total line coverage of src/tasks (gcovr) and fails under the threshold.
#   tools/coverage.sh [THRESHOLD]     (percent of lines, default 80)
# Environment: JOBS (default nproc), BRR_CONFORMANCE_DIR (passed to CMake when set),
# COVERAGE_FILTER (default src/tasks/: the gcovr --filter, relative to the repository).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
THRESHOLD=${1:-80}
JOBS=${JOBS:-$(nproc)}
FILTER=${COVERAGE_FILTER:-src/tasks/}
B="$ROOT/build-cov"
command -v gcovr >/dev/null || { echo "coverage: gcovr is missing: apt-get install gcovr (tools/setup-deps.sh)" >&2; exit 1; }

extra=()
[ -n "${BRR_CONFORMANCE_DIR:-}" ] && extra+=("-DBRR_CONFORMANCE_DIR=$BRR_CONFORMANCE_DIR")
cmake -S "$ROOT" -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DBRR_BENCH=OFF \
      "-DCMAKE_C_FLAGS=--coverage" "-DCMAKE_EXE_LINKER_FLAGS=--coverage" "${extra[@]}" >/dev/null
ninja -C "$B" -j "$JOBS"
find "$B" -name '*.gcda' -delete

# no engine is reachable: any test that still needs one fails here instead of being counted
export DOCKER_HOST=unix:///nonexistent/docker.sock
unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH
export BRR_MASTER_CONFIG=/nonexistent/brr-master.yaml BRR_USER_CONFIG=/nonexistent/brr-user.yaml
ctest --test-dir "$B" -LE e2e -j "$JOBS" --output-on-failure

echo "== line coverage of $FILTER by ctest -LE e2e"
gcovr --root "$ROOT" --object-directory "$B" --filter "$ROOT/$FILTER" --txt \
      --sort-percentage --print-summary --fail-under-line "$THRESHOLD" "$B" || {
  rc=$?
  [ "$rc" = 2 ] && echo "coverage: line coverage of $FILTER is under $THRESHOLD %" >&2
  exit "$rc"
}
