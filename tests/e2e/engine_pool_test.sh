#!/usr/bin/env bash
# One pipeline over two engines (the global `engines:` key): the default engine and a second
# engine of the test's own that listens only on TLS (tests/e2e/lib/tls_engine.sh), two jobs
# each. A base step builds and commits an image (25+ MB, more than brr's relay buffers);
# eight steps run in that image and each writes an artifact. The dependents are spread over
# both engines (node_start events name the engine), the base image moves to the engine that
# did not build it (a "move" phase), every artifact is right, and nothing is left on either
# engine; the same through a build-registry. Ctrl-C once and twice with containers on both
# engines leaves nothing. A step with `files:` (a bind mount of this host's paths) and only
# a remote-looking engine is a configuration error naming the step and the engine (exit
# 78), and an engine that does not answer stops the run at the pre-flight (exit 69, naming
# it), both before anything runs.
. "$BRR_SOURCE_DIR/tests/e2e/build/lib.sh"
. "$BRR_SOURCE_DIR/tests/e2e/lib/tls_engine.sh"

extra_cleanup+=("tls_engine_stop")
if ! tls_engine_start "$WORK/engine"; then
  fail "the TLS engine did not start"
  tail -n 30 "$WORK/engine/dockerd.log" 2>/dev/null | sed 's/^/    | /'
  finish
fi
pass "a second engine listens on $TLS_ENGINE_HOST (TLS only)"

N="brr-e2e-pool-$ID"
P=$(project pool)
cat >>"$P/.buildrunner.yaml" <<EOF
engines:
  here:
    context: default
    jobs: 2
  tls:
    host: $TLS_ENGINE_HOST
    tls-verify: true
    cert-path: $TLS_ENGINE_CERTS
    jobs: 2
EOF
{
  cat <<EOF
steps:
  base:
    build:
      dockerfile: |
        FROM {{ DOCKER_REGISTRY }}/busybox:latest
        RUN echo base-$ID > /base-marker
        RUN head -c 24000000 /dev/urandom > /ballast
    commit:
      repository: $N
      tags: [base]
EOF
  for i in 1 2 3 4 5 6 7 8; do
    cat <<EOF
  dep$i:
    run:
      image: $N:base
      cmd: 'cat /base-marker > out-$i.txt && echo dependent-$i >> out-$i.txt && sleep 2'
      artifacts:
        out-$i.txt: {}
EOF
  done
} >"$P/buildrunner.yaml"

tls_left() { tls_engine_leftovers "$LABEL" "^$N:"; }

tls_engine_pool_run "$P" "$LABEL"   # where each node ran: $WORK/where, from node_start
sanitizer_guard
check '[ "$RC" = 0 ]' "the run over two engines succeeds (exit $RC) $(tail -c 300 "$WORK/err")"
deps_here=$(grep -cE '^dep[0-9]/run here$' "$WORK/where")
deps_tls=$(grep -cE '^dep[0-9]/run tls$' "$WORK/where")
check '[ "$deps_here" -ge 1 ] && [ "$deps_tls" -ge 1 ] && [ $((deps_here + deps_tls)) = 8 ]' \
  "the eight dependents ran on both engines ($deps_here here, $deps_tls on tls)"
check '! grep -qE " -$" "$WORK/where"' "every node_start names its engine"
base_engine=$(awk '$1 == "base/build" {print $2}' "$WORK/where")
check '[ "$(awk '"'"'$1 == "base/commit" {print $2}'"'"' "$WORK/where")" = "$base_engine" ]' \
  "the base step's build and commit stayed on one engine ($base_engine)"
check 'grep -q "\"phase\":\"move\"" "$WORK/out" && grep -qE "Moved image $N:base from engine $base_engine to engine [a-z]+: 2[5-9]\.[0-9] MB" "$WORK/out"' \
  "the base image moved to the other engine, as a phase and a line (all of its 25+ MB, more than the relay's 8 MiB buffer)"
ok=0
for i in 1 2 3 4 5 6 7 8; do
  f="$P/buildrunner.results/dep$i/out-$i.txt"
  [ "$(cat "$f" 2>/dev/null)" = "$(printf 'base-%s\ndependent-%s' "$ID" "$i")" ] && ok=$((ok + 1))
done
check '[ "$ok" = 8 ]' "all eight artifacts hold the base image's marker and their own line ($ok of 8)"
check 'python3 -c "import json,sys; a=json.load(open(sys.argv[1])); sys.exit(0 if all(\"dep%d/out-%d.txt\" % (i, i) in a for i in range(1, 9)) else 1)" "$P/buildrunner.results/artifacts.json"' \
  "artifacts.json lists the eight artifacts"
left=$(tls_left)
check '[ -z "$left" ] && [ -z "$(tls_engine_docker images -q "$N")" ]' \
  "nothing is left on the TLS engine, the moved image included${left:+ (left: $left)}"
DOCKER_CONTEXT= DOCKER_HOST= no_leftovers "$N:.*" "on the default engine"

# ---- the same through a build registry both engines reach: push on one, pull on the other ----
rm -rf "$P/buildrunner.results"
echo "build-registry: $REG" >>"$P/.buildrunner.yaml"
(cd "$P" && DOCKER_CONTEXT= DOCKER_HOST= "$BRR" --progress plain --no-color --container-labels "$LABEL") \
  >"$WORK/out" 2>&1
RC=$?
{ echo "==== brr build-registry (exit $RC)"; cat "$WORK/out"; } >>"$WORK/all"
sanitizer_guard
check '[ "$RC" = 0 ]' "with a build-registry: the run succeeds (exit $RC)"
check 'grep -q "Moved image $N:base from engine [a-z]* to engine [a-z]* through $REG/brr-move-" "$WORK/out"' \
  "... and the base image moved through the registry"
ok=0
for i in 1 2 3 4 5 6 7 8; do
  f="$P/buildrunner.results/dep$i/out-$i.txt"
  [ "$(cat "$f" 2>/dev/null)" = "$(printf 'base-%s\ndependent-%s' "$ID" "$i")" ] && ok=$((ok + 1))
done
check '[ "$ok" = 8 ]' "... every artifact is right ($ok of 8)"
left=$(tls_left)
check '[ -z "$left" ] && [ -z "$(tls_engine_docker images -q "$N")" ] && [ -z "$(tls_engine_docker images -q --filter reference="$REG/brr-move-*")" ]' \
  "... nothing is left on the TLS engine, the registry's names included${left:+ (left: $left)}"
via=$(grep -o "$REG/brr-move-[0-9a-f]*" "$WORK/out" | head -n 1)
check '[ -n "$via" ] && ! docker images --format "{{.Repository}}" | grep -qxF "$via"' \
  "... and none on the default engine ($via)"
DOCKER_CONTEXT= DOCKER_HOST= no_leftovers "$N:.*" "on the default engine (build registry)"
sed -i '/^build-registry:/d' "$P/.buildrunner.yaml"

# the summary of a plain run names each engine's nodes and busy time
cat >"$P/buildrunner.yaml" <<EOF
steps:
  one:
    run:
      image: {{ DOCKER_REGISTRY }}/busybox:latest
      cmd: 'true'
EOF
(cd "$P" && DOCKER_CONTEXT= DOCKER_HOST= "$BRR" --progress plain --no-color --container-labels "$LABEL") \
  >"$WORK/out" 2>&1
RC=$?
sanitizer_guard
check '[ "$RC" = 0 ] && grep -qE "^Engine (here|tls): 1 node, busy [0-9.]+s$" "$WORK/out"' \
  "the summary shows the engine's nodes and busy time"

# ---- Ctrl-C, once (cancel and clean) and twice (the last-resort removal), with containers
# running on both engines: nothing is left on either ----
{
  echo "steps:"
  for i in 1 2 3 4; do
    printf '  s%d:\n    run:\n      image: {{ DOCKER_REGISTRY }}/busybox:latest\n      cmd: "echo started-%d; sleep 120"\n' "$i" "$i"
  done
} >"$P/buildrunner.yaml"
for sigs in 1 2; do
  (cd "$P" && DOCKER_CONTEXT= DOCKER_HOST= exec "$BRR" --progress plain --no-color --container-labels "$LABEL") \
    >"$WORK/out" 2>&1 &
  pid=$!
  for _ in $(seq 900); do
    [ "$(grep -c "| started-" "$WORK/out")" -ge 4 ] && break
    sleep 0.1
  done
  running_tls=$(tls_engine_docker ps -q --filter "label=$LABEL" | wc -l)
  running_here=$(docker ps -q --filter "label=$LABEL" | wc -l)
  kill -INT "$pid"
  [ "$sigs" = 2 ] && sleep 0.3 && kill -INT "$pid"
  wait "$pid"
  RC=$?
  { echo "==== brr, $sigs x SIGINT (exit $RC)"; cat "$WORK/out"; } >>"$WORK/all"
  sanitizer_guard
  check '[ "$RC" = 130 ] && [ "$running_tls" -ge 1 ] && [ "$running_here" -ge 1 ]' \
    "$sigs x SIGINT with containers on both engines ($running_here here, $running_tls on tls): exit $RC"
  # after the second one the engines finish the removals brr sent (docs/engine.md)
  for _ in $(seq 600); do
    [ -z "$(docker ps -aq --filter "label=$LABEL")$(tls_engine_docker ps -aq --filter "label=$LABEL")" ] && break
    sleep 0.2
  done
  left=$(tls_left)
  check '[ -z "$left" ]' "... nothing is left on the TLS engine${left:+ (left: $left)}"
  DOCKER_CONTEXT= DOCKER_HOST= no_leftovers "$N:.*" "on the default engine ($sigs x SIGINT)"
done

# ---- a bind mount of this host's paths, and only an engine that is not on this host ----
cat >"$P/.buildrunner.yaml" <<EOF
docker-registry: $REG
local-files:
  data: $P
engines:
  far:
    host: $TLS_ENGINE_BRIDGE_HOST
    tls-verify: true
    cert-path: $TLS_ENGINE_CERTS
EOF
cat >"$P/buildrunner.yaml" <<EOF
steps:
  needs-files:
    run:
      image: {{ DOCKER_REGISTRY }}/busybox:latest
      cmd: 'true'
      files:
        data: /data
EOF
(cd "$P" && DOCKER_CONTEXT= DOCKER_HOST= "$BRR" --progress plain --no-color --container-labels "$LABEL") \
  >"$WORK/out" 2>&1
RC=$?
sanitizer_guard
check '[ "$RC" = 78 ]' "a step whose files need a bind mount on a remote engine: exit 78 (got $RC)"
check 'grep -q "buildrunner.yaml:7:[0-9]*: .*step '"'"'needs-files'"'"': \`files\` bind-mounts paths of this host" "$WORK/out" && grep -q "far ($TLS_ENGINE_BRIDGE_HOST)" "$WORK/out"' \
  "... with the step, the engine and the key's place"
left=$(tls_left)
check '[ -z "$left" ]' "nothing was created for it${left:+ (left: $left)}"

# ---- an engine of the list that does not answer: the pre-flight names it ----
port=$(_tls_engine_free_port)
cat >"$P/.buildrunner.yaml" <<EOF
docker-registry: $REG
engines:
  here: {context: default}
  gone: {host: "tcp://127.0.0.1:$port"}
EOF
cat >"$P/buildrunner.yaml" <<EOF
steps:
  one:
    run:
      image: {{ DOCKER_REGISTRY }}/busybox:latest
      cmd: 'true'
EOF
(cd "$P" && DOCKER_CONTEXT= DOCKER_HOST= "$BRR" --progress plain --no-color --container-labels "$LABEL") \
  >"$WORK/out" 2>&1
RC=$?
sanitizer_guard
check '[ "$RC" = 69 ] && grep -q "cannot connect to the Docker engine '"'"'gone'"'"' at tcp://127.0.0.1:$port (from engines.gone in .*\.buildrunner.yaml)" "$WORK/out"' \
  "an engine that does not answer: exit 69 at the pre-flight, naming it (exit $RC)"
DOCKER_CONTEXT= DOCKER_HOST= no_leftovers "$N:.*" "after the failed pre-flight"
finish
