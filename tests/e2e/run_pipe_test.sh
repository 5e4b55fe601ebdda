#!/usr/bin/env bash
# `brr | head`: a reader that leaves closes brr's stdout (and stderr, here the same pipe).
# brr handles it as SIGTERM: the running steps are cancelled, every container goes, the
# results dir is written, and brr exits 141 (128 + SIGPIPE) instead of dying with its
# containers running.
source "$BRR_SOURCE_DIR/tests/e2e/run/lib.sh"
setup pipe

# the reader leaves once all three steps run their command (their containers exist); grep
# reads what comes as it comes (mawk would wait for a full buffer)
reader() { grep -m 3 -E '\| started-[123]$'; }

set +e +o pipefail
"$BRR" -d "$DIR" --container-labels "$LABEL" 2>&1 | reader >"$WORK/reader.out"
statuses=("${PIPESTATUS[@]}")
set -e -o pipefail
RC=${statuses[0]}
[ "$(wc -l <"$WORK/reader.out")" -eq 3 ] || fail "the reader never saw the three steps start"
expect_rc 141
OUT=$(results)/build.log
[ -f "$OUT" ] || fail "no build.log in the results dir"
expect_out "the output was closed (SIGPIPE)"
expect_out "p1/run canceled"
for s in p1 p2 p3; do expect_no_line "$s" "$s-never"; done
grep -q "Interrupted by SIGPIPE" "$OUT" || fail "build.log does not say the run was interrupted"
expect_no_leftovers
echo ok
