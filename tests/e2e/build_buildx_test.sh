#!/usr/bin/env bash
# Single-platform builds through `docker buildx build` (use-legacy-builder: false) against the
# real engine and buildx: secrets, target, buildargs, platform, the step's cache_from/cache_to
# and the global docker-build-cache (only for the builders it lists), platform-builders; output
# streamed line by line; images checked by running them; nothing left behind.
. "$BRR_SOURCE_DIR/tests/e2e/build/lib.sh"

P=$(project buildx)
N="brr-e2e-$ID"
echo "token-$ID" >"$WORK/token"
cat >"$P/.buildrunner.yaml" <<EOF
docker-registry: $REG
docker-build-cache:
  builders: [default]
  from: {type: registry, ref: $REG/$N-globalcache}
EOF
cat >"$P/buildrunner.yaml" <<EOF
use-legacy-builder: false
steps:
  secret:
    build:
      target: final
      buildargs: {GREETING: hello-buildx}
      secrets: ["id=tok,src=$WORK/token"]
      dockerfile: |
        FROM {{ DOCKER_REGISTRY }}/busybox:latest AS final
        ARG GREETING
        # the run's id keeps BuildKit from reusing an earlier run's layer (secrets are not in
        # the cache key)
        RUN --mount=type=secret,id=tok echo $ID > /id && cat /run/secrets/tok > /tok && echo "\$GREETING" > /greeting
        FROM final AS never
        RUN echo never > /never
    commit: {repository: $N-secret, tags: [v1]}
  arm:
    build:
      platform: linux/arm64
      dockerfile: |
        FROM {{ DOCKER_REGISTRY }}/busybox:latest
        RUN uname -m > /arch
    commit: {repository: $N-arm, tags: [v1]}
  cached:
    build:
      cache_from: {type: registry, ref: $REG/$N-stepcache}
      cache_to: {type: inline}
      dockerfile: |
        FROM {{ DOCKER_REGISTRY }}/busybox:latest
        RUN echo cached-$ID > /c
    commit: {repository: $N-cached, tags: [v1]}
EOF
run_brr "$P"
check '[ "$RC" = 0 ]' "buildx builds succeed (exit $RC)"
check 'grep -q "secret *| Running docker buildx build for linux/amd64" "$WORK/out"' "a step without a platform builds for the native one"
check 'grep -q "secret *| #[0-9]* \[" "$WORK/out"' "buildx output streams line by line"
got=$(docker run --rm "$N-secret:v1" cat /tok /greeting 2>&1 | tr "\n" " ")
check '[ "$got" = "token-$ID hello-buildx " ]' "secrets and buildargs reach the build (\"$got\")"
check '! docker run --rm "$N-secret:v1" test -e /never' "target stops at its stage"
check '[ "$(docker image inspect -f "{{.Architecture}}" "$N-arm:v1")" = arm64 ]' "platform: linux/arm64 builds for arm64"
check '[ "$(docker run --rm --platform linux/arm64 "$N-arm:v1" cat /arch)" = aarch64 ]' "... and ran its RUN there"
check 'grep "cached *|" "$WORK/out" | grep -q "importing cache manifest from $REG/$N-stepcache"' "the step's cache_from is used"
check 'grep "cached *|" "$WORK/out" | grep -q "exporting cache"' "the step's cache_to is used"
check 'grep "secret *|" "$WORK/out" | grep -q "importing cache manifest from $REG/$N-globalcache"' \
  "the global docker-build-cache applies to the default builder"
check '! grep "cached *|" "$WORK/out" | grep -q "globalcache"' "the step's own cache settings win over the global ones"
no_leftovers "$N-[a-z]+:.*" "after buildx builds"
drop_kept

# the global cache names other builders only: not used; platform-builders sends a build to a
# builder of its own
cat >"$P/.buildrunner.yaml" <<EOF
docker-registry: $REG
docker-build-cache:
  builders: [other]
  from: {type: registry, ref: $REG/$N-globalcache}
platform-builders:
  linux/arm64: brr-no-such-builder-$ID
EOF
run_brr "$P" --steps secret
check '[ "$RC" = 0 ] && ! grep -q globalcache "$WORK/out"' "the global cache is left out for builders it does not list"
run_brr "$P" --steps arm
check '[ "$RC" = 69 ] && grep -q "platform-builders: no usable buildx builder brr-no-such-builder-$ID for linux/arm64 (step arm)" "$WORK/out"' \
  "platform-builders picks the builder of the platform; one that does not exist stops the run before it starts (exit 69)"
no_leftovers "$N-[a-z]+:.*" "after the builder runs"
drop_kept
finish
