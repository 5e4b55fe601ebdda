#!/usr/bin/env bash
# A failure stops only what still runs its command (docs/scheduling.md): a step whose command
# had ended when a sibling failed completes (cache, artifact, commit, tag) and keeps its own
# status; a step still in its command is cancelled; the run exits 1 and leaves nothing.
source "$BRR_SOURCE_DIR/tests/e2e/run/lib.sh"
setup finishing
repo=brr-e2e-finishing-$$-$RANDOM
key=brr-e2e-hold-$$-$RANDOM
sed -i "s|REPO|$repo|g; s|HOLDKEY|$key|g" "$DIR/buildrunner.yaml"
caches=$WORK/caches
mkdir -p "$caches"
printf 'docker-registry: %s\ncaches-root: %s\n' "$REGISTRY" "$caches" >"$DIR/.buildrunner.yaml"
EXTRA_CLEANUP+=("docker rmi -f $repo:v1")

wait_for_out() {
  for _ in $(seq 1200); do
    grep -qF -- "$1" "$OUT" && return 0
    kill -0 "$pid" 2>/dev/null || fail "brr ended before: $1"
    sleep 0.1
  done
  fail "never saw: $1"
}

"$BRR" -d "$DIR" --container-labels "$LABEL" >"$OUT" 2>&1 &
pid=$!
EXTRA_CLEANUP+=("kill -9 $pid")
wait_for_out "| done-waiting"     # past its cache restore
wait_for_out "| slow-started"
# hold the cache's lock (this shell's fd 9): `done` waits for it after its commands
exec 9>"$caches/$key.tar"
flock -x 9
touch "$DIR/gate/done-go"
wait_for_out "Waiting for the lock on cache"
touch "$DIR/gate/go"              # now `bad` fails, while `done` is still completing
wait_for_out "bad/run FAILED"
flock -u 9                        # `done` may go on
exec 9>&-
set +e
wait $pid
RC=$?
set -e
sanitizer_guard
expect_rc 1
grep -qE '^ +done +succeeded' "$OUT" || fail "summary does not show done as succeeded"
grep -qE '^ +bad +failed' "$OUT" || fail "summary does not show bad as failed"
grep -qE '^ +slow +canceled' "$OUT" || fail "summary does not show slow as canceled"
expect_no_line slow "slow-never"
[ "$(cat "$(results)/done/out.txt")" = done-artifact ] || fail "the artifact of done is missing"
[ "$(tar -xOf "$caches/$key.tar" ./stamp)" = saved ] || fail "the cache of done was not saved"
[ "$(docker run --rm "$repo:v1" cat /state.txt)" = done-state ] ||
  fail "$repo:v1 is not the committed state of done"
expect_no_leftovers
echo ok
