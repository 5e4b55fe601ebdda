#!/usr/bin/env bash
# build + run: the run container uses the step's built image; the commit tags the run's final
# state (build layer and run changes), which the next step runs without a pull.
source "$BRR_SOURCE_DIR/tests/e2e/run/lib.sh"
setup build-image
repo=brr-e2e-built-$$-$RANDOM
sed -i "s|REPO|$repo|g" "$DIR/buildrunner.yaml"

brr_run
expect_rc 0
expect_line built "built-in-image"
expect_line reuse "built-in-image"
expect_line reuse "run-layer"
expect_no_leftovers
echo ok
