#!/usr/bin/env bash
# wait_for and a service that stops (docs/run.md): a service command that fails while the
# step waits for its port fails the step at once with its exit code, not at the timeout; a
# command that starts a daemon and ends with 0 keeps the wait going until the port opens.
source "$BRR_SOURCE_DIR/tests/e2e/run/lib.sh"
setup svcexit

brr_run
expect_rc 1
expect_out 'service db: its command "echo db-starting; sleep 1; exit 7" exited with code 7 while waiting for port 8080'
expect_no_out "Timed out waiting for port"
expect_no_line svcexit "run-never"
expect_no_leftovers

brr_run -f daemon.yaml
expect_rc 0
expect_line daemon "daemon-served"
expect_no_leftovers
echo ok
