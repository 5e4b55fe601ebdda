#!/usr/bin/env bash
# SIGTERM twice with many running steps ends at once and cleans up in parallel
# (docs/scheduling.md). The engine sits behind slow_engine.py, which holds every container
# removal for DELAY seconds: removing N containers one after the other would take N x DELAY
# (80 s here), all at once about DELAY. brr must end far sooner than the serial cost, the
# proxy must have seen many removals at once, and every container must go in the end.
source "$BRR_SOURCE_DIR/tests/e2e/run/lib.sh"
setup wide
N=40
DELAY=2
for i in $(seq -w 1 $N); do
  printf '  s%s:\n    run:\n      image: %s\n      cmd: echo started-%s; sleep 600\n' "$i" "$IMAGE" "$i"
done >>"$DIR/buildrunner.yaml"

sock=$WORK/engine.sock
stats=$WORK/removals
python3 "$DIR/slow_engine.py" "$sock" /var/run/docker.sock "$DELAY" "$stats" &
proxy=$!
EXTRA_CLEANUP+=("kill $proxy")
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || fail "the proxy did not start"

DOCKER_HOST=unix://$sock "$BRR" -d "$DIR" -j $((N + 10)) --container-labels "$LABEL" >"$OUT" 2>&1 &
pid=$!
EXTRA_CLEANUP+=("kill -9 $pid")
for _ in $(seq 3000); do
  [ "$(grep -c '| started-' "$OUT")" -ge $N ] && break
  kill -0 $pid 2>/dev/null || fail "brr ended before every step started"
  sleep 0.1
done
[ "$(grep -c '| started-' "$OUT")" -ge $N ] || fail "not every step started"

kill -TERM $pid
sleep 0.5
t0=$(date +%s)
kill -TERM $pid
set +e
wait $pid
RC=$?
set -e
t1=$(date +%s)
sanitizer_guard
expect_rc 143
expect_out "second signal: ending at once"
took=$((t1 - t0))
# one after the other: N x DELAY = 80 s; brr promises the abort path ends within about 2 s
[ $took -lt 30 ] || fail "the second SIGTERM took $took s to end the run (removals one after the other?)"
read -r most seen <"$stats"
echo "second SIGTERM to the end: ${took} s; container removals held at once: $most of $seen"
[ "$most" -ge 10 ] || fail "at most $most container removals were in flight at once (of $seen)"

# the engine completes the removals it received: nothing of the run is left
for _ in $(seq 600); do
  [ "$(docker ps -aq --filter "label=$LABEL" | wc -l)" -eq 0 ] && break
  sleep 0.2
done
expect_no_leftovers
echo ok
