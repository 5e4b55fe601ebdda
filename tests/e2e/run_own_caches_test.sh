#!/usr/bin/env bash
# Caches of an own-process step (docs/run.md, "Caches"): restored into the created container
# before it starts, the missing directories of each path made as root's `mkdir -p` would
# (0755, root's) and existing ones left as they were (/tmp keeps 1777), saved from the
# stopped container; no exec in the run container (the engine's events show none).
source "$BRR_SOURCE_DIR/tests/e2e/run/lib.sh"
setup own-caches
caches=$WORK/caches
printf 'docker-registry: %s\ncaches-root: %s\n' "$REGISTRY" "$caches" >"$DIR/.buildrunner.yaml"

execs_since() {
  docker events --since "$1" --until "$(date +%s.%N)" --filter type=container \
    --filter "label=$LABEL" --format '{{.Action}}' | grep -c '^exec_create' || true
}

since=$(date +%s.%N)
BUILDRUNNER_E2E_MARK=run1 brr_run
expect_rc 0
expect_line cached "deep=none spool=none"
[ -f "$caches/spool-v1.tar" ] || fail "the spool cache was not saved"
deep=$(ls "$caches"/*-deep.tar) || fail "no deep archive under $caches"
tar -xOf "$deep" ./stamp | grep -qx run1 || fail "the deep archive lacks the stamp"
[ "$(execs_since "$since")" -eq 0 ] || fail "exec in the run container"

since=$(date +%s.%N)
BUILDRUNNER_E2E_MARK=run2 brr_run
expect_rc 0
expect_line cached "deep=run1 spool=run1"
expect_line cached "mode 1777 0:0 /tmp"
expect_line cached "mode 755 0:0 /tmp/brr-own"
expect_line cached "mode 755 0:0 /tmp/brr-own/deep"
expect_line cached "mode 755 0:0 /var/spool"
[ "$(execs_since "$since")" -eq 0 ] || fail "exec in the run container"
tar -xOf "$deep" ./stamp | grep -qx run2 || fail "the deep archive was not saved again"
expect_no_leftovers
echo ok
