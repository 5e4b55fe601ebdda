#!/usr/bin/env bash
# Images are what the Dockerfile says, and brr keeps what buildrunner keeps (issues 11, 19):
# no LABEL step of brr's in the build output; the same Dockerfile built twice gives the same
# image id (legacy builder and buildx); a build step with no commit keeps its image after the
# run and the next run hits the cache; an untagged image made beforehand with `docker build`
# and used as a cache layer survives brr's run with and without --cleanup-images;
# --cleanup-images removes the images the run generated.
. "$BRR_SOURCE_DIR/tests/e2e/build/lib.sh"

built_id() {  # built_id STEP: the image id the last run reported for STEP
  grep -E "^[0-9: ,-]+ $1 +\| Built image sha256:" "$WORK/out" | grep -oE "sha256:[0-9a-f]{64}" | tail -n1
}
exists() { docker image inspect "$1" >/dev/null 2>&1; }

# ---- legacy builder: no commit, kept, cached, the same id ----
P=$(project legacy)
cat >"$P/buildrunner.yaml" <<EOF
steps:
  nocommit:
    build:
      dockerfile: |
        FROM {{ DOCKER_REGISTRY }}/busybox:latest
        RUN echo kept-$ID > /kept
EOF
run_brr "$P"
check '[ "$RC" = 0 ]' "a build step with no commit succeeds (exit $RC)"
first=$(built_id nocommit)
check '[ -n "$first" ] && exists "$first"' "the step's image is kept after the run"
check '! grep -q "LABEL brr\." "$WORK/out" && grep -q "Step 2/2 : RUN echo kept-$ID" "$WORK/out"' \
  "the build runs exactly the user's Dockerfile (no LABEL step of brr's)"
check '[ -z "$(docker image inspect -f "{{range \$k, \$v := .Config.Labels}}{{\$k}} {{end}}" "$first" | grep -oE "brr\.[a-z]+|brr\.test")" ]' \
  "the image carries no label of brr's nor --container-labels"
run_brr "$P"
check '[ "$RC" = 0 ]' "the second run succeeds"
check 'grep "nocommit *|" "$WORK/out" | grep -q "Using cache" && ! grep "nocommit *|" "$WORK/out" | grep -q "Running in"' \
  "the second run hits the cache for every step (legacy: Using cache)"
check '[ "$(built_id nocommit)" = "$first" ]' "the same Dockerfile built twice gives the same image id (legacy)"
no_leftovers "" "after the legacy runs"

# ---- buildx: the same id twice, no label ----
X=$(project buildx)
cat >"$X/buildrunner.yaml" <<EOF
use-legacy-builder: false
steps:
  bx:
    build:
      dockerfile: |
        FROM {{ DOCKER_REGISTRY }}/busybox:latest
        RUN echo buildx-$ID > /kept
EOF
run_brr "$X"
check '[ "$RC" = 0 ]' "a buildx build succeeds (exit $RC)"
bx1=$(built_id bx)
check '[ -n "$bx1" ] && exists "$bx1"' "the buildx image is kept after the run"
check '[ -z "$(docker image inspect -f "{{json .RepoTags}}" "$bx1" | grep -o "brr-build-")" ]' \
  "... with no temporary name of brr's"
run_brr "$X"
check '[ "$RC" = 0 ] && [ "$(built_id bx)" = "$bx1" ]' "the same Dockerfile built twice gives the same image id (buildx)"
check '! grep -q "LABEL brr\." "$WORK/out" && ! grep -q -- "--label" "$WORK/out"' "no label of brr's in the buildx build"
no_leftovers "" "after the buildx runs"

# ---- someone else's untagged image, used as a cache layer ----
C="$WORK/pre"
mkdir -p "$C"
printf 'FROM %s/busybox:latest\nRUN echo pre-%s > /pre\n' "$REG" "$ID" >"$C/Dockerfile"
pre=$(DOCKER_BUILDKIT=0 docker build -q "$C" 2>/dev/null | tail -n1)
extra_cleanup+=("docker rmi --no-prune $pre")
check '[ -n "$pre" ] && exists "$pre" && [ "$(docker image inspect -f "{{len .RepoTags}}" "$pre")" = 0 ]' \
  "an untagged image made beforehand with docker build"
Q=$(project pre)
write_pre_project() {  # TOKEN: a fresh last step each time
  cat >"$Q/buildrunner.yaml" <<EOF
steps:
  ontop:
    build:
      dockerfile: |
        FROM {{ DOCKER_REGISTRY }}/busybox:latest
        RUN echo pre-$ID > /pre
        RUN echo ontop-$1 > /ontop
  same:
    build:
      dockerfile: |
        FROM {{ DOCKER_REGISTRY }}/busybox:latest
        RUN echo pre-$ID > /pre
EOF
}
write_pre_project one
run_brr "$Q"
check '[ "$RC" = 0 ]' "builds on the untagged image succeed (exit $RC)"
check 'grep "ontop *|" "$WORK/out" | grep -q "Using cache"' "... and use it as a cache layer"
check '[ "$(built_id same)" = "$pre" ]' "... or as the whole image"
check 'exists "$pre"' "the untagged image survives a run"
# the untagged image's only child is the next run's: removing that with the engine's default
# (prune) would take the untagged parent along
docker rmi --no-prune "$(built_id ontop)" >/dev/null
write_pre_project two-$RANDOM
run_brr "$Q" --cleanup-images
check '[ "$RC" = 0 ]' "a run with --cleanup-images succeeds (exit $RC)"
ontop=$(built_id ontop)
check 'grep "ontop *|" "$WORK/out" | grep -q "Running in" && [ -n "$ontop" ] && ! exists "$ontop"' \
  "--cleanup-images removes the image the run generated"
check 'exists "$pre"' "the untagged image survives --cleanup-images (a cache layer and a whole image of the run)"
check '[ "$(built_id same)" = "$pre" ]' "... which the run did not create"
no_leftovers "" "after --cleanup-images"

# ---- --cleanup-images and a commit: a cache hit keeps its image and name, a new build loses both ----
R=$(project tagged)
T="brr-e2e-$ID-tagged"
write_tagged_project() {
  cat >"$R/buildrunner.yaml" <<EOF
steps:
  tagged:
    build:
      dockerfile: |
        FROM {{ DOCKER_REGISTRY }}/busybox:latest
        RUN echo tagged-$1 > /t
    commit: {repository: $T, tags: [v1]}
EOF
}
write_tagged_project "$ID"
run_brr "$R"
check '[ "$RC" = 0 ] && [ "$(docker image inspect -f "{{.Id}}" "$T:v1" 2>/dev/null)" = "$(built_id tagged)" ]' \
  "a committed image has its name after a run"
old=$(built_id tagged)
run_brr "$R" --cleanup-images
check '[ "$RC" = 0 ] && [ "$(built_id tagged)" = "$old" ]' "a second build of it is a cache hit"
check '[ "$(docker image inspect -f "{{.Id}}" "$T:v1" 2>/dev/null)" = "$old" ]' \
  "--cleanup-images keeps an image (and its name) that the run found in the cache"
write_tagged_project "$ID-changed"
run_brr "$R" --cleanup-images
new=$(built_id tagged)
check '[ "$RC" = 0 ] && [ -n "$new" ] && [ "$new" != "$old" ] && ! exists "$new" && ! docker image inspect "$T:v1" >/dev/null 2>&1' \
  "--cleanup-images removes a committed image the run built, with its name"
# the build tags of the first two runs stay on the old image (kept: it was not made by run 3)
no_leftovers "$T:.*" "after the commits"

finish
