#!/usr/bin/env bash
# `containers:` cleanup: a container named in the list and the containers carrying a label
# named in it go when the step ends (here made by the test, as a step's docker commands would).
source "$BRR_SOURCE_DIR/tests/e2e/run/lib.sh"
setup containers
name=brr-e2e-spawned-$TEST_ID
label=brr.e2e.spawned=$TEST_ID
EXTRA_CLEANUP+=("docker rm -f $name" "docker rm -f \$(docker ps -aq --filter label=$label)")
docker create --name "$name" "$IMAGE" true >/dev/null
docker create --label "$label" "$IMAGE" true >/dev/null
docker create --label "$label" "$IMAGE" true >/dev/null
sed -i "s|NAMED|$name|; s|LABELLED|$label|" "$DIR/buildrunner.yaml"

brr_run
expect_rc 0
expect_line spawner spawned
if docker inspect "$name" >/dev/null 2>&1; then fail "$name was not removed"; fi
[ "$(docker ps -aq --filter "label=$label" | wc -l)" -eq 0 ] || fail "containers labelled $label remain"
expect_no_leftovers
echo ok
