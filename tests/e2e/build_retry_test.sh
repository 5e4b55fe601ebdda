#!/usr/bin/env bash
# A platform of a multi-platform build that fails is tried again on its own, after a pause,
# while the other platform's build is kept: the arm64 build reads a build secret that says
# "ok" only after its first failure was reported.
. "$BRR_SOURCE_DIR/tests/e2e/build/lib.sh"

P=$(project retry)
cp "$BRR_SOURCE_DIR/tests/e2e/build/retry/Dockerfile" "$P/"
N="brr-e2e-$ID"
echo "not yet" >"$WORK/flag"
cat >"$P/buildrunner.yaml" <<EOF
steps:
  flaky:
    build:
      path: .
      buildargs: {NONCE: "$ID"}
      secrets: ["id=flaky,src=$WORK/flag"]
      platforms: [linux/amd64, linux/arm64]
    commit: {repository: $N-flaky, tags: [v1]}
EOF

# the watcher: once brr reports the first failure, the next try can pass
touch "$WORK/out"
(
  for _ in $(seq 600); do
    if grep -q "linux/arm64: try 1 of 5 failed" "$WORK/out" 2>/dev/null; then
      echo ok >"$WORK/flag"
      exit 0
    fi
    sleep 0.1
  done
) &
watcher=$!
run_brr "$P"
kill "$watcher" 2>/dev/null
wait "$watcher" 2>/dev/null

check '[ "$RC" = 0 ]' "the build succeeds once the failed platform is tried again (exit $RC)"
check 'grep -q "linux/arm64: try 1 of 5 failed: ERROR: .*; trying this platform again in 1 s" "$WORK/out"' \
  "the failure is reported with the pause before the next try"
# one "load build definition" step per buildx invocation; BuildKit numbers its internal steps
# in the order they start, which varies (#1 or #2), so the number is not matched
arm=$(grep -c "\[linux/arm64\] #[0-9]* \[internal\] load build definition" "$WORK/out")
amd=$(grep -c "\[linux/amd64\] #[0-9]* \[internal\] load build definition" "$WORK/out")
# the watcher is usually in time for the second try; on a loaded machine a later one passes
check '[ "$arm" -ge 2 ] && [ "$amd" = 1 ]' "arm64 was built again, amd64 once (arm64 $arm, amd64 $amd)"
check '! grep -q "linux/amd64: try" "$WORK/out"' "the platform that passed was not tried again"
check '[ "$(docker run --rm "$N-flaky:v1" cat /arch)" = x86_64 ]' "the step's image is the native platform's"
no_leftovers "$N-flaky:.*" "after the retried build"
drop_kept
finish
