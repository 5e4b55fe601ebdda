#!/usr/bin/env bash
# A run step end to end: commands in order with `sh -xc`, the environment buildrunner gives
# (env dict, step variables, global env, the engine socket), a pristine /source per step
# without the results dir and .buildignore'd files, /artifacts read-only, cwd/user/hostname/
# shell, and nothing left afterwards (the /source volume and the source image included).
source "$BRR_SOURCE_DIR/tests/e2e/run/lib.sh"
setup basic

brr_run
expect_rc 0
expect_line basic "var=my value flag=True number=2.0"
expect_line basic "step=basic id-set=yes"
expect_line basic "names-agree"
expect_line basic "global=global-value vcs=unknown"
expect_line basic "docker-host=unix:///dockerdaemon/docker.sock"
expect_line basic "socket-mounted"
expect_line basic "pwd=/source"
expect_line basic "original"
expect_line basic "changed"
expect_line basic "no-results-in-source"
expect_line basic "buildignore-honoured"
expect_line basic "subdir-kept"
expect_line basic "artifacts-readonly"
# the -x trace of each command comes with its output
expect_line basic '+ cat /source/input.txt'
# the second step sees the original file again, and the first step's results directory
expect_line second "where=/tmp user=65534 host=myhost shell=/bin/ash"
[ "$(step_lines second | grep -cx original)" -eq 1 ] || fail "second step: /source not pristine"
expect_line second "basic"
# commands run in order
a=$(grep -n 'var=my value' "$OUT" | head -1 | cut -d: -f1)
b=$(grep -n 'pwd=/source' "$OUT" | head -1 | cut -d: -f1)
[ "$a" -lt "$b" ] || fail "commands out of order"
# the step's lines reach build.log too
grep -q 'basic.*| buildignore-honoured' "$(results)/build.log" || fail "build.log lacks the step's output"
# /source was the source container's volume (volumes_from): it went with the containers
vol=$(sed -n 's/.*| volume=\([0-9a-f]\{64\}\)$/\1/p' "$OUT")
[ -n "$vol" ] || fail "no /source volume seen"
if docker volume inspect "$vol" >/dev/null 2>&1; then fail "volume $vol left behind"; fi
expect_no_leftovers
echo "ok"
