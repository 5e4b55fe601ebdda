#!/usr/bin/env bash
# SIGINT during a run: brr cancels the step (its container, service, network and volume go),
# exits 130, and leaves nothing.
source "$BRR_SOURCE_DIR/tests/e2e/run/lib.sh"
setup cancel

"$BRR" -d "$DIR" -f sigint.yaml --container-labels "$LABEL" >"$OUT" 2>&1 &
pid=$!
EXTRA_CLEANUP+=("kill -9 $pid")
for _ in $(seq 600); do
  grep -q '| long-started$' "$OUT" && break
  kill -0 $pid 2>/dev/null || fail "brr ended before the step started"
  sleep 0.1
done
grep -q '| long-started$' "$OUT" || fail "the step never started"
[ "$(docker ps -q --filter "label=$LABEL" | wc -l)" -eq 2 ] || fail "expected the run and service containers"
kill -INT $pid
set +e
wait $pid
RC=$?
set -e
sanitizer_guard
expect_rc 130
expect_out "Interrupted by SIGINT"
expect_no_line long "long-never"
expect_no_leftovers
echo ok
