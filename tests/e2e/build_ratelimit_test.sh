#!/usr/bin/env bash
# The Docker Hub rate-limit check: without a docker-registry mirror, brr reads
# RateLimit-Remaining (through Docker Hub's token flow) for the pulls the build is about to
# make and warns, naming `docker-registry`, when they would not fit. Docker Hub is out of
# reach here: a small local HTTP server stands in for it (tests/e2e/build/hub_stub.py). A Hub
# that never answers delays nothing: the run ends and the check is dropped.
. "$BRR_SOURCE_DIR/tests/e2e/build/lib.sh"

P=$(project ratelimit)
echo "{}" >"$P/.buildrunner.yaml"   # no docker-registry: images come from Docker Hub
cat >"$P/buildrunner.yaml" <<EOF
steps:
  hub:
    build:
      # two images from Docker Hub (the pulls fail offline, which only warns)
      cache_from: [busybox:latest, alpine:3.19]
      dockerfile: |
        FROM $REG/busybox:latest
        LABEL probe=$ID
EOF

stub() {  # stub REMAINING|hang -> HUB (its URL)
  rm -f "$WORK/port"
  /usr/bin/python3 "$BRR_SOURCE_DIR/tests/e2e/build/hub_stub.py" "$WORK/port" "$WORK/hub.log" "$1" &
  STUB=$!
  extra_cleanup+=("kill $STUB")
  for _ in $(seq 100); do [ -s "$WORK/port" ] && break; sleep 0.05; done
  HUB="http://127.0.0.1:$(cat "$WORK/port")"
}

stub 1
BRR_DOCKER_HUB_URL=$HUB run_brr "$P" -x
check '[ "$RC" = 0 ]' "the build runs (exit $RC)"
check 'grep -q "HEAD /v2/library/busybox/manifests/latest auth=Bearer hub-token" "$WORK/hub.log"' \
  "the check asks Docker Hub's API with a token from its realm"
check 'grep -q "GET /token?service=registry.docker.io&scope=repository%3Alibrary%2Fbusybox%3Apull" "$WORK/hub.log"' \
  "... for pull access to the image"
check 'grep -q "WARNING.*Docker Hub allows 1 more pull(s) now (RateLimit-Remaining) but this build pulls 2 image(s) from it.*set \`docker-registry\`" "$WORK/out"' \
  "too few pulls left: a warning naming docker-registry"
kill "$STUB"

rm -f "$WORK/hub.log"
stub 50
BRR_DOCKER_HUB_URL=$HUB run_brr "$P" -x
check '[ "$RC" = 0 ] && ! grep -q "Docker Hub allows" "$WORK/out"' "enough pulls left: no warning"
check 'grep -q "Docker Hub: 50 pull(s) left, this build makes 2" "$WORK/out"' "... the count is logged at debug level"
kill "$STUB"

rm -f "$WORK/hub.log"
stub hang
BRR_DOCKER_HUB_URL=$HUB run_brr "$P" -x
check '[ "$RC" = 0 ]' "a Docker Hub that never answers does not fail the run"
check 'grep -q CONNECT "$WORK/hub.log"' "the check was under way"
check 'grep -q "Docker Hub rate limit: no answer yet; the run ended first" "$WORK/out"' \
  "the run ended without waiting for it"
kill "$STUB"

# a mirror is configured: no check at all
printf 'docker-registry: %s\n' "$REG" >"$P/.buildrunner.yaml"
rm -f "$WORK/hub.log"
stub 1
BRR_DOCKER_HUB_URL=$HUB run_brr "$P" -x
check '[ "$RC" = 0 ] && [ ! -s "$WORK/hub.log" ] && ! grep -q "Docker Hub" "$WORK/out"' \
  "with a docker-registry mirror Docker Hub is not asked"
no_leftovers "" "after the runs"
finish
