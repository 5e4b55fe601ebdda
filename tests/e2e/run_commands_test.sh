#!/usr/bin/env bash
# cmd then cmds, one exec each, stopping at the first failure with its exit code in the
# error; xfail; a step without commands running the image's own command (exit code, output,
# artifacts through the lister container).
source "$BRR_SOURCE_DIR/tests/e2e/run/lib.sh"
setup commands

brr_run
expect_rc 1
expect_line failing "first"
expect_line failing "second"
expect_no_out "never"
expect_out "Error running build container: command \"sh -c 'exit 3'\" exited with code 3"
a=$(grep -n '| first$' "$OUT" | head -1 | cut -d: -f1)
b=$(grep -n '| second$' "$OUT" | head -1 | cut -d: -f1)
[ "$a" -lt "$b" ] || fail "cmd did not run before cmds"
expect_no_leftovers

brr_run -f xfail.yaml
expect_rc 0
expect_line expected-failure "about to fail"
expect_out "Ignoring due to XFAIL"
expect_no_leftovers

# an image whose command prints, writes into /source and exits with $EXIT_WITH
img=brr-e2e-cmd-$TEST_ID:v1
EXTRA_CLEANUP+=("docker rmi -f $img")
printf 'FROM %s\nCMD ["sh", "-c", "echo from-image-cmd; echo made > /source/made.txt; exit ${EXIT_WITH:-0}"]\n' "$IMAGE" |
  DOCKER_BUILDKIT=0 docker build -q -t "$img" - >/dev/null 2>&1
sed -i "s|IMAGE|$img|" "$DIR/image-command.yaml"
brr_run -f image-command.yaml -s image-cmd
expect_rc 0
expect_line image-cmd "from-image-cmd"
[ "$(cat "$(results)/image-cmd/made.txt")" = made ] || fail "artifact of the image command missing"
expect_no_leftovers

brr_run -f image-command.yaml -s image-cmd-fails
expect_rc 1
expect_line image-cmd-fails "from-image-cmd"
expect_out "Error running build container: the container exited with code 5"
expect_no_leftovers
echo ok
