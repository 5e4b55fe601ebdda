#!/usr/bin/env bash
# Independent steps run at the same time: their output lines never mix, and each has its own
# /source (a change made by one is not seen by the other).
source "$BRR_SOURCE_DIR/tests/e2e/run/lib.sh"
setup parallel

brr_run
expect_rc 0
for s in one two; do
  other=$([ $s = one ] && echo two || echo one)
  n=$(step_lines $s | grep -cE "^$s-[0-9]+-(a|b)+$" || true)
  [ "$n" -eq 400 ] || fail "step $s: $n whole lines of 400"
  # no line of this step holds the other's text
  if step_lines $s | grep -q "$other-[0-9]"; then fail "step $s shows lines of $other"; fi
  expect_line $s "$s-sees-changed-by-$s"
done
# a line is never split: every output line is one of the expected shapes
bad=$(grep -E '\| (one|two)-[0-9]' "$OUT" | grep -vcE '\| (one-[0-9]+-a+|two-[0-9]+-b+|one-sees-changed-by-one|two-sees-changed-by-two)$' || true)
[ "$bad" -eq 0 ] || fail "$bad mixed or cut lines"
# both ran at once: each started before the other ended
s1=$(grep -n '==> one/run' "$OUT" | cut -d: -f1); e1=$(grep -n '<== one/run' "$OUT" | cut -d: -f1)
s2=$(grep -n '==> two/run' "$OUT" | cut -d: -f1); e2=$(grep -n '<== two/run' "$OUT" | cut -d: -f1)
[ "$s1" -lt "$e2" ] && [ "$s2" -lt "$e1" ] || fail "the steps did not overlap"
expect_no_leftovers
echo ok
