#!/usr/bin/env bash
# Pull decisions: pulled by default (fails for an image no registry has), not with
# `pull: false` or --local-images; one pull per image per build.
source "$BRR_SOURCE_DIR/tests/e2e/run/lib.sh"
setup pull
local_img=brr-e2e-local-$TEST_ID:v1
EXTRA_CLEANUP+=("docker rmi $local_img")
docker tag "$IMAGE" "$local_img"
sed -i "s|LOCAL|$local_img|" "$DIR"/*.yaml

brr_run
expect_rc 1
expect_out "Pulling image $local_img"
expect_no_line local-default ran-local
expect_no_leftovers

brr_run --local-images
expect_rc 0
expect_line local-default ran-local
expect_no_out "Pulling image"

brr_run -f no-pull.yaml
expect_rc 0
expect_line local-no-pull ran-without-pull
expect_no_out "Pulling image"

brr_run -f once.yaml
expect_rc 0
[ "$(grep -c "Pulling image $IMAGE" "$OUT")" -eq 1 ] || fail "expected one pull of $IMAGE"
expect_no_leftovers
echo ok
