#!/bin/bash
# Build the libFuzzer harnesses (clang, ASan+UBSan) and run each for a while.
#   tools/fuzz.sh [SECONDS_PER_HARNESS]     (default 60)
# Crashes are written as crash-* files in build-fuzz/ and make the script fail.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-60}
CC=clang cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug -DBRR_FUZZ=ON -DBRR_TESTS=OFF \
      -DBRR_BENCH=OFF >/dev/null
ninja -C build-fuzz
status=0
for f in build-fuzz/tests/fuzz/fuzz_*; do
  [ -x "$f" ] || continue
  name=$(basename "$f")
  corpus=build-fuzz/corpus-$name
  mkdir -p "$corpus"
  echo "== $name for ${SECS}s"
  if ! (cd build-fuzz && "../$f" -max_total_time="$SECS" -print_final_stats=1 "../$corpus" 2>&1 | tail -4); then
    status=1
  fi
done
exit $status
