#!/usr/bin/env bash
# A failing step cancels a running sibling (which had a service, a network and a volume):
# exit 1, the sibling reported cancelled long before its command would end, nothing left.
source "$BRR_SOURCE_DIR/tests/e2e/run/lib.sh"
setup cancel

t0=$(date +%s)
brr_run
t1=$(date +%s)
expect_rc 1
expect_out "bad/run FAILED"
expect_out "slow/run canceled"
expect_no_line slow "slow-never"
[ $((t1 - t0)) -lt 60 ] || fail "the cancelled step ran on ($((t1 - t0)) s)"
grep -qE '^ +slow +canceled' "$OUT" || fail "summary does not show slow as canceled"
expect_no_leftovers
echo ok
