#!/usr/bin/env bash
# The open-file limit: brr raises the soft limit to the hard one, runs fewer nodes at once
# when the limit is low (saying so) and succeeds; when even that is too little, the failure
# names the cause ("Too many open files"), never curl's "Failed to connect to localhost".
source "$BRR_SOURCE_DIR/tests/e2e/run/lib.sh"
setup fdlimit

# a low soft limit under a high hard one: raised, all 16 at once, no warning
(ulimit -Sn 40 && brr_run && echo "$RC" >"$WORK/rc")
RC=$(cat "$WORK/rc")
expect_rc 0
expect_no_out "open-file limit"
expect_no_leftovers

# a low hard limit: fewer nodes at once, and the run still succeeds
(ulimit -n 64 && brr_run && echo "$RC" >"$WORK/rc")
RC=$(cat "$WORK/rc")
expect_rc 0
expect_out "brr: warning: the open-file limit is 64 (ulimit -n): running at most 4 nodes at once instead of"
expect_no_leftovers
[ "$(cat "$(results)/s15/o.txt")" = 15 ] || fail "s15's artifact"

# far too low: the cause is named
(ulimit -n 20 && brr_run && echo "$RC" >"$WORK/rc")
RC=$(cat "$WORK/rc")
expect_rc 1
expect_out "Too many open files"
expect_no_out "Failed to connect to localhost"
expect_no_leftovers
echo ok
