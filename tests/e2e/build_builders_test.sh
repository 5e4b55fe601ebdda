#!/usr/bin/env bash
# buildrunner's global `platform-builders` sending one platform of a multi-platform build to a
# buildx builder on a second engine: the default engine plus a TLS engine of the test's own
# (tests/e2e/lib/tls_engine.sh), a docker context for it in the test's own DOCKER_CONFIG, which
# with the docker driver is the builder (the moby/buildkit image the docker-container driver
# needs cannot be had offline).
#  1. a two-platform build with --push: the pushed index holds both platforms, linux/arm64 was
#     built and pushed by the second engine (its image events, listened to live; the default
#     engine never saw it), linux/amd64 by the default engine; --graph shows the builder;
#     nothing is left on either engine; the same after SIGINT mid-run;
#  2. the same engine at its bridge address (an engine on "another machine"): refused with the
#     local build registry (it could not reach 127.0.0.1), built with a build-registry both reach;
#  3. a builder whose engine does not answer stops the run before it starts (exit 69);
#  4. a single-platform buildx build on that builder is refused before the run (exit 69).
# The contexts the test made are removed by name, its engine by pid.
. "$BRR_SOURCE_DIR/tests/e2e/build/lib.sh"
. "$BRR_SOURCE_DIR/tests/e2e/lib/tls_engine.sh"

CTX="brr-bld-$ID"           # the builder: a docker context for the TLS engine
FAR="brr-bld-far-$ID"       # the same engine at its bridge address
DEAD="brr-bld-dead-$ID"     # a context whose engine does not answer
extra_cleanup+=("tls_engine_stop")
extra_cleanup+=("docker context rm -f $CTX $FAR $DEAD")
if ! tls_engine_start "$WORK/engine"; then
  fail "the TLS engine did not start"
  tail -n 30 "$WORK/engine/dockerd.log" 2>/dev/null | sed 's/^/    | /'
  finish
fi
pass "a second engine listens on $TLS_ENGINE_HOST (TLS only)"
tlsopts="ca=$TLS_ENGINE_CERTS/ca.pem,cert=$TLS_ENGINE_CERTS/cert.pem,key=$TLS_ENGINE_CERTS/key.pem"
docker context create "$CTX" --docker "host=$TLS_ENGINE_HOST,$tlsopts" >/dev/null 2>"$WORK/ctx.err"
crc=$?
check '[ $crc = 0 ] && docker buildx inspect "$CTX" | grep -q "^Driver: *docker$"' \
  "the context $CTX is a buildx builder of the docker driver ($(cat "$WORK/ctx.err"))"

N="brr-e2e-$ID"
P=$(project builders)
cat >"$P/buildrunner.yaml" <<EOF
steps:
  mp:
    build:
      dockerfile: |
        FROM {{ DOCKER_REGISTRY }}/busybox:latest
        RUN uname -m > /arch && echo $ID > /id
      platforms:
        - linux/amd64
        - linux/arm64
    push:
      repository: $REG/$N-mp
      tags: [v1]
EOF
global() {  # global BUILDER [more lines]: the project's global config
  printf 'docker-registry: %s\nplatform-builders:\n  linux/arm64: %s\n%s' "$REG" "$1" "${2:-}" >"$P/.buildrunner.yaml"
}
global "$CTX"

# ---- --graph: the builder is an attribute of the arm64 node ----
(cd "$P" && "$BRR" --graph >"$WORK/graph.txt" 2>&1 && "$BRR" --graph=json >"$WORK/graph.json" 2>"$WORK/graph.err")
check 'grep -q "mp/build@linux/arm64  (platform-build, builder $CTX, pool builder:$CTX" "$WORK/graph.txt" &&
       grep "mp/build@linux/amd64" "$WORK/graph.txt" | grep -qv builder' "--graph (text) shows the builder of the arm64 build only"
check 'python3 -c "import json,sys; n={x[\"id\"]: x for x in json.load(open(sys.argv[1]))[\"nodes\"]}; sys.exit(not (n[\"mp/build@linux/arm64\"].get(\"builder\") == sys.argv[2] and \"builder\" not in n[\"mp/build@linux/amd64\"]))" "$WORK/graph.json" "$CTX"' \
  "--graph (json) has \"builder\" on the arm64 node"

# The image events of both engines while a run goes on, listened to live (a replay with
# --since reads the engine's short in-memory log, which the shared engine's other users can
# overrun): watch_start before, watch_stop after; the listeners are stopped by their pids.
WATCH_PIDS=()
watch_start() {
  tls_engine_docker events --filter type=image --format '{{.Action}} {{.Actor.ID}}' >"$WORK/ev-tls" 2>&1 &
  WATCH_PIDS+=($!)
  env -u DOCKER_HOST -u DOCKER_CONTEXT docker --context default events --filter type=image \
    --format '{{.Action}} {{.Actor.ID}}' >"$WORK/ev-default" 2>&1 &
  WATCH_PIDS+=($!)
  sleep 1
}
watch_stop() {
  sleep 1
  local p
  for p in "${WATCH_PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  WATCH_PIDS=()
}
extra_cleanup+=('for p in "${WATCH_PIDS[@]}"; do kill "$p"; done')

# ---- 1. the arm64 platform on the builder's engine, --push ----
watch_start
run_brr "$P" --push
watch_stop
check '[ "$RC" = 0 ]' "the two-platform build with platform-builders succeeds (exit $RC)"
check 'grep -q "Building linux/arm64 on builder $CTX (the engine at $TLS_ENGINE_HOST)" "$WORK/out" &&
       grep -q "\[linux/arm64\] #0 building with \"$CTX\" instance using docker driver" "$WORK/out" &&
       grep -q "\[linux/amd64\] #0 building with \"default\" instance using docker driver" "$WORK/out"' \
  "buildx built linux/arm64 with the builder $CTX and linux/amd64 with the default one"
arm_ref=$(grep -oE "Pushed [^ ]+-linux-arm64 \(sha256:[0-9a-f]{64}\)" "$WORK/out" | head -1 | awk '{print $2}')
arm_digest=$(grep -oE "Pushed [^ ]+-linux-arm64 \(sha256:[0-9a-f]{64}\)" "$WORK/out" | head -1 | grep -oE "sha256:[0-9a-f]{64}")
amd_ref=$(grep -oE "Pushed [^ ]+-linux-amd64 \(sha256:[0-9a-f]{64}\)" "$WORK/out" | head -1 | awk '{print $2}')
check '[ -n "$arm_ref" ] && [ -n "$amd_ref" ]' "both platforms were pushed to the build registry ($arm_ref, $amd_ref)"
check '[ -n "$arm_ref" ] && grep -qxF "push $arm_ref" "$WORK/ev-tls" && ! grep -qF "$arm_ref" "$WORK/ev-default"' \
  "the second engine built and pushed linux/arm64; the default engine never saw it"
check '[ -n "$amd_ref" ] && grep -qxF "push $amd_ref" "$WORK/ev-default" && ! grep -qF "$amd_ref" "$WORK/ev-tls"' \
  "the default engine built and pushed linux/amd64; the second engine never saw it"
check 'grep -q "^untag sha256:" "$WORK/ev-tls" && ! tls_engine_docker image inspect "$arm_ref" >/dev/null 2>&1' \
  "brr removed the name the docker driver kept on the second engine"

# the pushed index: both platforms, the arm64 one the second engine's
docker buildx imagetools inspect --raw "$REG/$N-mp:v1" >"$WORK/index.json" 2>"$WORK/index.err"
check 'python3 - "$WORK/index.json" "$arm_digest" <<PY
import json, sys
idx = json.load(open(sys.argv[1]))
plats = {m["platform"]["architecture"]: m["digest"] for m in idx["manifests"]}
sys.exit(not (sorted(plats) == ["amd64", "arm64"] and plats["arm64"] == sys.argv[2]))
PY' "the pushed index $REG/$N-mp:v1 holds linux/amd64 and linux/arm64, the arm64 manifest the one the second engine pushed ($(head -c 300 "$WORK/index.err"))"
check '[ "$(docker run --rm --platform linux/arm64 "$REG/$N-mp@$arm_digest" cat /arch /id 2>"$WORK/run.err" | tr "\n" " ")" = "aarch64 $ID " ]' \
  "... and it runs as aarch64 with this run's content ($(tail -n 1 "$WORK/run.err"))"
docker rmi "$REG/$N-mp@$arm_digest" >/dev/null 2>&1

tls_left() {  # what is left on the second engine: labelled objects, any image name of brr's
  {
    tls_engine_leftovers "$LABEL" '^$'
    tls_engine_docker images --format '{{.Repository}}:{{.Tag}}' | grep -E "buildrunner-mp-|$ID" || true
  } | tr '\n' ' '
}
left=$(tls_left)
check '[ -z "$left" ]' "nothing is left on the second engine${left:+ (left: $left)}"
no_leftovers "$REG/$N-mp:.*" "on the default engine"
drop_kept

# ---- 1b. SIGINT once the second engine has pushed linux/arm64 (amd64 still building): the
# name the docker driver kept there goes too ----
cp "$P/buildrunner.yaml" "$WORK/mp.yaml"
sed -i "s|RUN uname -m > /arch && echo $ID > /id|RUN [ \"\$(uname -m)\" = aarch64 ] \|\| sleep 60; echo $ID-int > /id|" "$P/buildrunner.yaml"
interrupt_brr "$P" INT "Pushed [^ ]+-linux-arm64 " --push
check '[ "$RC" = 130 ] && grep -q "Pushed [^ ]*-linux-arm64 " "$WORK/out"' \
  "SIGINT after the second engine pushed linux/arm64 ends the run (exit $RC)"
left=$(tls_left)
check '[ -z "$left" ]' "nothing is left on the second engine after SIGINT${left:+ (left: $left)}"
no_leftovers "$REG/$N-mp:.*" "on the default engine after SIGINT"
cp "$WORK/mp.yaml" "$P/buildrunner.yaml"

# ---- 2. the same engine at its bridge address: another machine as far as brr can tell ----
docker context create "$FAR" --docker "host=$TLS_ENGINE_BRIDGE_HOST,$tlsopts" >/dev/null 2>&1
global "$FAR"
run_brr "$P" --push
check '[ "$RC" = 69 ] && grep -q "platform-builders: the builder $FAR (for linux/arm64, step mp) builds on the engine at $TLS_ENGINE_BRIDGE_HOST, which cannot reach the build registry" "$WORK/out"' \
  "a builder on another machine cannot reach the local build registry: refused before the run (exit $RC)"
check '! grep -q "==>" "$WORK/out"' "... with no node started"
global "$FAR" "build-registry: $REG
"
watch_start
run_brr "$P" --push
watch_stop
check '[ "$RC" = 0 ] && grep -q "Building linux/arm64 on builder $FAR (the engine at $TLS_ENGINE_BRIDGE_HOST)" "$WORK/out"' \
  "with a build-registry both engines reach, it builds there (exit $RC)"
arm_ref=$(grep -oE "Pushed [^ ]+-linux-arm64 \(sha256" "$WORK/out" | head -1 | awk '{print $2}')
check '[ -n "$arm_ref" ] && [ "${arm_ref#$REG/}" != "$arm_ref" ] && grep -qxF "push $arm_ref" "$WORK/ev-tls"' \
  "... the second engine pushed linux/arm64 to $REG ($arm_ref)"
check 'python3 -c "import json,sys; m=json.load(sys.stdin)[\"manifests\"]; sys.exit(sorted(x[\"platform\"][\"architecture\"] for x in m) != [\"amd64\",\"arm64\"])" < <(docker buildx imagetools inspect --raw "$REG/$N-mp:v1")' \
  "... and the pushed index holds both platforms"
left=$(tls_left)
check '[ -z "$left" ]' "nothing is left on the second engine${left:+ (left: $left)}"
no_leftovers "$REG/$N-mp:.*" "on the default engine (build-registry $REG)"
drop_kept

# ---- 3. a builder whose engine does not answer: before anything runs ----
docker context create "$DEAD" --docker "host=unix://$WORK/no-such-engine.sock" >/dev/null 2>&1
global "$DEAD"
run_brr "$P" --push
check '[ "$RC" = 69 ] && grep -q "platform-builders: the buildx builder $DEAD for linux/arm64 (step mp) cannot be used: .*unix://$WORK/no-such-engine.sock" "$WORK/out"' \
  "a builder whose engine does not answer stops the run before it starts (exit $RC)"
check '! grep -q "==>" "$WORK/out"' "... with no node started"
no_leftovers "" "after the refused runs"

# ---- 4. a single-platform buildx build would load its image into the other engine ----
S=$(project single)
cat >"$S/buildrunner.yaml" <<EOF
use-legacy-builder: false
steps:
  one:
    build:
      platform: linux/arm64
      dockerfile: |
        FROM {{ DOCKER_REGISTRY }}/busybox:latest
EOF
printf 'docker-registry: %s\nplatform-builders:\n  linux/arm64: %s\n' "$REG" "$CTX" >"$S/.buildrunner.yaml"
run_brr "$S"
check '[ "$RC" = 69 ] && grep -q "platform-builders: the builder $CTX (for linux/arm64) is the docker context $CTX, another engine than the one brr runs on: the single-platform buildx build of step one would load its image there" "$WORK/out"' \
  "a single-platform buildx build on a builder of another engine is refused before the run (exit $RC)"
check '! grep -q "==>" "$WORK/out"' "... with no node started"

docker context rm -f "$CTX" "$FAR" "$DEAD" >/dev/null 2>&1
check '! docker context ls --format "{{.Name}}" | grep -q "$ID"' "the test's contexts are gone"
finish
