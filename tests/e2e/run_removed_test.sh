#!/usr/bin/env bash
# A run container removed by someone else mid-run (docker rm -f, which leaves anonymous
# volumes behind): the step reports that ("container ... was removed", exit code 137), not
# the failure of the next exec in it, and brr removes its anonymous /source volume. Both with
# the command in an exec and as the container's own process (alone, and under the driver).
source "$BRR_SOURCE_DIR/tests/e2e/run/lib.sh"
setup removed

victim_removed() {  # number of arguments of the container's command, brr options
  local nargs=$1
  shift
  "$BRR" -d "$DIR" --container-labels "$LABEL" "$@" >"$OUT" 2>&1 &
  pid=$!
  EXTRA_CLEANUP+=("kill -9 $pid")
  for _ in $(seq 1200); do
    grep -q '| victim-started$' "$OUT" && break
    kill -0 $pid 2>/dev/null || fail "brr ended before the step started"
    sleep 0.1
  done
  cid=$(docker ps -q --no-trunc --filter "label=$LABEL")
  [ -n "$cid" ] || fail "no running container"
  vol=$(docker inspect -f '{{range .Mounts}}{{if eq .Destination "/source"}}{{.Name}}{{end}}{{end}}' "$cid")
  [ -n "$vol" ] || fail "the container has no /source volume"
  n=$(docker inspect -f '{{len .Config.Cmd}}' "$cid")
  [ "$n" = "$nargs" ] || fail "the container's command has $n arguments, not $nargs"
  EXTRA_CLEANUP+=("docker volume rm $vol")
  docker rm -f "$cid" >/dev/null
  set +e
  wait $pid
  RC=$?
  set -e
  sanitizer_guard
  expect_rc 1
  expect_out "victim/run FAILED"
  expect_out "container ${cid:0:12} was removed while the step ran (exit code 137)"
  expect_no_line victim "victim-never"
  if docker volume inspect "$vol" >/dev/null 2>&1; then fail "the anonymous /source volume $vol is left"; fi
  expect_no_leftovers
}

# the idle shell, the command in an exec (artifacts listed as a user other than root)
victim_removed 1
expect_no_out "listing artifacts"
# one command and nothing after it: the command is the container's own process
victim_removed 5 -f own.yaml
# with artifacts, as root: the command runs under the driver, the container's own process
victim_removed 6 -f driver.yaml
expect_no_out "listing artifacts"
expect_no_out "lister"
echo ok
