#!/usr/bin/env bash
# commit: the run container's final state becomes the image the commit node tags; the next
# step uses it without a pull (spec §5 committed set); post-build builds FROM it; temporary
# images and tags go, the tagged ones stay (unless --cleanup-images).
source "$BRR_SOURCE_DIR/tests/e2e/run/lib.sh"
setup commit
repo=brr-e2e-commit-$$-$RANDOM
sed -i "s|REPO|$repo|g" "$DIR/buildrunner.yaml"

since=$(date +%s.%N)
brr_run
expect_rc 0
expect_no_out "cleanup:"
expect_line use "made-in-run"
# the steps ran their command as the container's own process (no exec), and the committed
# image still has the shell as its command, as the idle-shell container gives it
n=$(docker events --since "$since" --until "$(date +%s.%N)" --filter type=container \
  --filter "label=$LABEL" --format '{{.Action}}' | grep -c '^exec_create' || true)
[ "$n" -eq 0 ] || fail "$n exec(s) in the run containers"
[ "$(docker image inspect -f '{{json .Config.Cmd}}' "$repo:v1")" = '["/bin/sh"]' ] ||
  fail "the committed image's command is $(docker image inspect -f '{{json .Config.Cmd}}' "$repo:v1")"
[ "$(docker run --rm "$repo:v1" cat /made.txt)" = made-in-run ] || fail "$repo:v1 lacks the run's file"
[ "$(docker run --rm "$repo-post:v1" cat /run.txt /post.txt | tr '\n' ' ')" = "from-run from-post-build " ] ||
  fail "$repo-post:v1 is not the post-build image"
# the build tag was added to the commit's tags
[ "$(docker images -q "$repo" | sort -u | wc -l)" -eq 1 ] || fail "one image expected for $repo"
[ "$(docker images --format '{{.Tag}}' "$repo" | wc -l)" -eq 2 ] || fail "v1 and the build tag expected"
# the post-build's temporary tag is gone
if docker images --format '{{.Repository}}' | grep -q "^buildrunner-post-build-tag-"; then
  docker images --format '{{.Repository}} {{.Labels}}' | grep "^buildrunner-post-build-tag-" | grep -qv "$LABEL" ||
    fail "temporary post-build tag left"
fi
expect_no_leftovers

EXTRA_LABELS=brr.e2e.phase=$TEST_ID-2 brr_run --cleanup-images
expect_rc 0
expect_no_out "cleanup:"
if docker image inspect "$repo:v1" >/dev/null 2>&1; then fail "--cleanup-images kept $repo:v1"; fi
expect_no_images "brr.e2e.phase=$TEST_ID-2"
expect_no_leftovers
echo ok
