#!/usr/bin/env bash
# Several `cmds` as the container's own process (docs/run.md, "Own process"): the log lines of
# an exec per command (`cmd> X`, output, `Command "X" exited with code N`, in that order),
# the first failure stopping the step with its code, later commands not run, marker-like
# output left alone, markers never shown, and each command starting afresh.
source "$BRR_SOURCE_DIR/tests/e2e/run/lib.sh"
setup own-cmds

brr_run -s several
expect_rc 1
c1="echo one-out; echo one-err >&2"
c3="echo three-out; sh -c 'exit 3'"
expect_line several "cmd> $c1"
expect_line several "Command \"$c1\" exited with code 0"
# the commands ran in PID 1's children: the driver is the container's process
expect_line several "pid1: brr-marker-"
expect_line several "brr-marker-00000000-0000-4000-8000-000000000000 1 0"
[ "$(step_lines several | grep -cxF "brr-marker-00000000-0000-4000-8000-000000000000 1 0")" -eq 2 ] ||
  fail "the made-up marker should be printed on stdout and stderr"
step_lines several | grep -qE '^brr-marker-[0-9a-f-]{36} 7 0$' || fail "the wrong-index marker was taken out"
expect_line several "two-out"
expect_line several "two-unfinished"
expect_out "error: Command \"$c3\" exited with code 3"
expect_line several "three-out"
expect_no_out "never-ran"
expect_out "Error running build container: command \"$c3\" exited with code 3"
# no real marker reached the output: the marker-shaped lines are the three printed above
n=$(step_lines several | grep -cE '^brr-marker-[0-9a-f-]{36} [0-9]+ [0-9]+$' || true)
[ "$n" -eq 3 ] || fail "expected 3 marker-shaped lines (printed by the command), got $n"
# order: each command's header, its output, its exit line, then the next command's header
order() { step_lines several | sed 's/^error: //' | grep -nxF -- "$1" | head -1 | cut -d: -f1; }
prev=0
for l in "cmd> $c1" "one-out" "Command \"$c1\" exited with code 0" "two-out" "two-unfinished" \
  "cmd> $c3" "three-out" "Command \"$c3\" exited with code 3"; do
  at=$(order "$l")
  [ -n "$at" ] && [ "$at" -gt "$prev" ] || fail "line '$l' out of order (at ${at:-none}, after $prev)"
  prev=$at
done
at=$(order "one-err")
[ "$at" -lt "$(order "Command \"$c1\" exited with code 0")" ] || fail "stderr of command 1 after its exit line"
expect_no_leftovers

brr_run -f isolated.yaml
expect_rc 0
expect_line isolated "/tmp"
expect_line isolated "cwd=/source x=unset env=kept"
expect_line isolated "stdin=0"
expect_line isolated 'Command "set -e; false || true; echo "stdin=$(cat | wc -c)"" exited with code 0'
expect_no_out "brr-marker-"
expect_no_leftovers
echo ok
