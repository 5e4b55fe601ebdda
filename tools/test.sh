#!/bin/bash
# The whole test suite, from a fresh Debian 12 machine (as root): installs what is missing,
# starts the Docker test environment, builds brr twice (release and ASan+UBSan), runs every
# test (unit, template oracle, config corpus, e2e against the real engine) in the first and
# the unit tests in the second; then the line coverage of src/tasks by the tests that need no
# engine (tools/coverage.sh, a third build). Safe to run again. .ci/run calls this script.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=${JOBS:-$(nproc)}

tools/setup-deps.sh
tools/setup-docker-testenv.sh

# tests must never read the real /etc/buildrunner or ~/.buildrunner.yaml
export BRR_MASTER_CONFIG=/nonexistent/brr-master.yaml
export BRR_USER_CONFIG=/nonexistent/brr-user.yaml

echo "== release build"
cmake -S "$ROOT" -B "$ROOT/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$ROOT/build" -j "$JOBS"
echo "== all tests (unit, template oracle, config corpus, e2e)"
ctest --test-dir "$ROOT/build" --output-on-failure -j "$JOBS"

echo "== ASan+UBSan build: unit tests"
cmake -S "$ROOT" -B "$ROOT/build-asan" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DBRR_SANITIZE=ON \
      -DBRR_BENCH=OFF >/dev/null
ninja -C "$ROOT/build-asan" -j "$JOBS"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$ROOT/build-asan" -L unit --output-on-failure -j "$JOBS"
# the node kinds are unit-tested against tests/unit/fake_engine.c: their line coverage with
# no engine reachable must not fall (docs/tasks.md, "Coverage"); a third build, Debug with
# gcc --coverage, and ctest -LE e2e once more
echo "== line coverage of src/tasks without a Docker engine"
JOBS=$JOBS tools/coverage.sh "${BRR_COVERAGE_MIN:-80}"
echo "== all test suites passed"
