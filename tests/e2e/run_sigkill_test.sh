#!/usr/bin/env bash
# kill -9 of brr (issue 11): the containers, image, network, volume and temp dir it leaves are removed
# by `brr --clean` (which reports each) and by the next run; objects whose owner is a live
# process, objects of another host and objects without brr's labels are kept.
source "$BRR_SOURCE_DIR/tests/e2e/run/lib.sh"
setup sigkill

# Every brr sweeps what dead brr processes of its host left, so a brr of another test running
# at the same time would take the killed run's objects before this test looks. The brr
# processes of this test run under a host name of their own (a UTS namespace) and with a temp
# dir of their own: only they see those leftovers as theirs.
HOST=brr-e2e-$TEST_ID
HOST=${HOST:0:63}
command -v unshare >/dev/null || fail "unshare (util-linux) is needed"
# brr in that namespace, keeping its pid (every step execs)
IN_HOST=$WORK/brr-in-host
printf '#!/bin/sh\nexec unshare --uts sh -c '"'"'hostname "$0" && exec "$@"'"'"' %s %s "$@"\n' "$HOST" "$BRR" >"$IN_HOST"
chmod +x "$IN_HOST"
TMPROOT=$WORK/tmp
mkdir -p "$TMPROOT"
echo "temp-dir: $TMPROOT" >>"$DIR/.buildrunner.yaml"

count() {  # what carries the test's label
  echo "$(docker ps -aq --filter "label=$LABEL" | wc -l) $(docker network ls -q --filter "label=$LABEL" | wc -l) $(docker volume ls -q --filter "label=$LABEL" | wc -l) $(docker images -q --filter "label=$LABEL" --filter "label=brr.scratch=1" | wc -l)"
}
start_of() { awk '{print $22}' "/proc/$1/stat"; }

# Objects brr must leave alone: a fake owner that is a live process here, another host's
# brr, and an object without brr's labels.
sleep 600 &
LIVE=$!
EXTRA_CLEANUP+=("kill $LIVE")
keep_live=$(docker create --label "$LABEL" --label brr.managed=1 \
  --label "brr.owner=$HOST:$LIVE:$(start_of $LIVE)" "$IMAGE" true)
keep_other=$(docker create --label "$LABEL" --label brr.managed=1 \
  --label "brr.owner=elsewhere-$TEST_ID.example:1:1" "$IMAGE" true)
keep_plain=$(docker create --label "$LABEL" --label "brr.owner=$HOST:999999999:1" "$IMAGE" true)
EXTRA_CLEANUP+=("docker rm -f $keep_live $keep_other $keep_plain")
# and an image with a dead brr's labels but not brr.scratch=1: what a commit of a dead run's
# container looks like (it inherits the container's labels), which is the user's
keep_image=$(tar -cf - -T /dev/null | docker import --change "LABEL $LABEL brr.managed=1 \
  brr.owner=$HOST:999999999:1" - "brr-e2e-kept:$TEST_ID" | sed 's/^sha256://')
EXTRA_CLEANUP+=("docker rmi -f $keep_image")
kept_ok() {
  for c in $keep_live $keep_other $keep_plain; do
    docker inspect "$c" >/dev/null 2>&1 || fail "$1 removed $c, which was not a dead brr's"
  done
  docker image inspect "$keep_image" >/dev/null 2>&1 || fail "$1 removed a committed-like image of a dead brr"
}

# kill_brr: start brr on the long step, SIGKILL it once its command runs; $BRR_PID
kill_brr() {
  "$IN_HOST" -d "$DIR" --progress plain --no-color --container-labels "$LABEL" >"$OUT" 2>&1 &
  BRR_PID=$!
  for _ in $(seq 600); do
    grep -q "long-up" "$OUT" && grep -q "plain-up" "$OUT" && break
    sleep 0.1
  done
  grep -q "long-up" "$OUT" && grep -q "plain-up" "$OUT" || fail "the long steps never came up"
  kill -9 "$BRR_PID"
  wait "$BRR_PID" || true
  [ "$(count)" = "7 1 1 1" ] || fail "kill -9 should leave 4 containers, a network, a volume and the source image (+3 containers of the test's): $(count)"
  ls -d $TMPROOT/brr-run."$BRR_PID".* >/dev/null 2>&1 || fail "kill -9 should leave the run's temp dir"
  # the owner label names the killed process
  docker ps -a --filter "label=$LABEL" --filter "label=brr.owner=$HOST:$BRR_PID:$(sed -n 's/.*brr-run\.[0-9]*\.\([0-9]*\)\..*/\1/p' <<<"$(ls -d $TMPROOT/brr-run."$BRR_PID".*)")" -q |
    grep -q . || fail "the containers carry brr.owner=<host>:<pid>:<start> of the killed brr"
}

# ---- brr --clean ----
kill_brr
set +e
TMPDIR=$TMPROOT "$IN_HOST" --clean >"$WORK/clean.out" 2>&1
RC=$?
set -e
OUT=$WORK/clean.out
expect_rc 0
grep -qE "^removed container [0-9a-f]{12} \(owner $HOST:$BRR_PID:[0-9]+\)$" "$OUT" || fail "--clean does not report the containers"
grep -qE "^removed network [0-9a-f]{12} \(owner $HOST:$BRR_PID:" "$OUT" || fail "--clean does not report the network"
grep -qE "^removed volume .* \(owner $HOST:$BRR_PID:" "$OUT" || fail "--clean does not report the volume"
grep -qE "^removed image [0-9a-f]{12} \(owner $HOST:$BRR_PID:" "$OUT" || fail "--clean does not report the source image"
grep -qE "^removed directory $TMPROOT/brr-run\.$BRR_PID\." "$OUT" || fail "--clean does not report the temp dir"
grep -q "^brr --clean: removed [0-9]* object" "$OUT" || fail "--clean has no summary"
OUT=$WORK/out.log
[ "$(count)" = "3 0 0 0" ] || fail "brr --clean left the killed run's objects: $(count)"
if ls -d $TMPROOT/brr-run."$BRR_PID".* >/dev/null 2>&1; then fail "brr --clean left the temp dir"; fi
kept_ok "brr --clean"

# ---- the next run ----
kill_brr
killed=$BRR_PID
BRR=$IN_HOST brr_run -f quick.yaml
expect_rc 0
expect_line quick "quick-done"
grep -qE "Removed the container [0-9a-f]{12} left by brr $HOST:$killed:[0-9]+, which is gone" "$OUT" ||
  fail "the next run does not say what it removed"
[ "$(count)" = "3 0 0 0" ] || fail "the next run left the killed run's objects: $(count)"
if ls -d $TMPROOT/brr-run."$killed".* >/dev/null 2>&1; then fail "the next run left the killed run's temp dir"; fi
kept_ok "the next run"
echo ok
