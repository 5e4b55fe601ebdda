#!/usr/bin/env bash
# Shell provisioners: the script (relative to the working directory, as in buildrunner) is
# copied to /tmp and run before the commands; a failing one fails the step; a missing one is
# a configuration error.
source "$BRR_SOURCE_DIR/tests/e2e/run/lib.sh"
setup provisioners
cd "$DIR"

brr_run
expect_rc 0
expect_line provisioned "provisioning as uid 0 in /source"
expect_line provisioned "marker=done"
a=$(grep -n '| provisioning as uid' "$OUT" | head -1 | cut -d: -f1)
b=$(grep -n '| marker=done' "$OUT" | head -1 | cut -d: -f1)
[ "$a" -lt "$b" ] || fail "the provisioner ran after the commands"
expect_no_leftovers

brr_run -f failing.yaml
expect_rc 1
expect_line failing "provisioner-fails"
expect_out "Shell provisioner failed (exit code 3)"
expect_no_line failing "never-reached"
expect_no_leftovers

brr_run -f missing.yaml
expect_rc 78
expect_out "$DIR/missing.yaml:6:16: cannot read shell provisioner \"no-such-script.sh\""
expect_no_leftovers
echo ok
