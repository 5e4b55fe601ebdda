#!/usr/bin/env bash
# brr on a second Docker engine that listens only on TLS (tests/e2e/lib/tls_engine.sh), chosen
# the four ways the docker CLI chooses an engine: DOCKER_HOST with DOCKER_TLS_VERIFY and
# DOCKER_CERT_PATH, DOCKER_CONTEXT, `docker context use` (currentContext in a private
# DOCKER_CONFIG) and --context. Each run does a legacy build, a run step in the image just
# built and a two-platform buildx build (through the build registry, which runs on that
# engine too); the work is seen on that engine's event log and not on the default engine's,
# and nothing is left on either. Then the pre-flight: a missing socket, a wrong CA, plain HTTP
# to the TLS port, an unknown context (exit 69, one line naming the endpoint and its source);
# --graph and --print-generated-files never contact an engine; the engine stopped mid-run
# fails the run with exit 1, not 78.
. "$BRR_SOURCE_DIR/tests/e2e/build/lib.sh"
. "$BRR_SOURCE_DIR/tests/e2e/lib/tls_engine.sh"

extra_cleanup+=("tls_engine_stop")
if ! tls_engine_start "$WORK/engine"; then
  fail "the TLS engine did not start"
  tail -n 30 "$WORK/engine/dockerd.log" 2>/dev/null | sed 's/^/    | /'
  finish
fi
pass "a second engine listens on $TLS_ENGINE_HOST (TLS only)"
check '! curl -s -o /dev/null --max-time 5 "http://${TLS_ENGINE_HOST#tcp://}/_ping" || [ "$(curl -s --max-time 5 "http://${TLS_ENGINE_HOST#tcp://}/_ping")" != OK ]' \
  "... which answers no plain HTTP"

N="brr-e2e-$ID"
P=$(project tls)
tls_engine_pipeline "$P/buildrunner.yaml" built-on-tls "$REG/$N-mp"

# events with our label on an engine between two times ("docker" args before "events")
labelled_events() {  # labelled_events SINCE UNTIL docker-command...
  local since=$1 until=$2
  shift 2
  "$@" events --since "$since" --until "$until" --filter "label=$LABEL" --format '{{.Type}} {{.Action}}' 2>&1
}

tls_leftovers() { tls_engine_leftovers "$LABEL" "^$REG/$N-mp:"; }  # but the mp step's kept tags

# run_on WHAT [env assignments...] -- [brr args...]: the project on the TLS engine
run_on() {
  local what=$1
  shift
  local envs=()
  while [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  local t0
  t0=$(date +%s)
  sleep 1
  (cd "$P" && env "${envs[@]}" "$BRR" --progress plain --no-color --container-labels "$LABEL" "$@") >"$WORK/out" 2>&1
  RC=$?
  { echo "==== brr ($what) $* (exit $RC)"; cat "$WORK/out"; } >>"$WORK/all"
  sanitizer_guard
  sleep 1
  local t1
  t1=$(date +%s)
  check '[ "$RC" = 0 ]' "$what: the run succeeds on the TLS engine (exit $RC)"
  check 'grep -q "legacy *| BUILT-ON-TLS" "$WORK/out"' "$what: the run step ran in the image the legacy build just made"
  check 'grep -q "\[linux/arm64/v8\]" "$WORK/out" && grep -q "Created the manifest list" "$WORK/out"' \
    "$what: the two-platform buildx build ran"
  labelled_events "$t0" "$t1" tls_engine_docker >"$WORK/ev-tls"
  labelled_events "$t0" "$t1" env -u DOCKER_HOST -u DOCKER_CONTEXT docker --context default >"$WORK/ev-default"
  check 'grep -q "^container create" "$WORK/ev-tls" && grep -q "^container start" "$WORK/ev-tls"' \
    "$what: the run's containers were created on the TLS engine"
  check '[ "$(docker --context default image inspect -f "{{.Architecture}}" "$REG/$N-mp:v1" 2>&1)" != amd64 ] && [ "$(tls_engine_docker image inspect -f "{{.Architecture}}" "$REG/$N-mp:v1")" = amd64 ]' \
    "$what: the buildx build's native image is on the TLS engine and not on the default one"
  check '[ ! -s "$WORK/ev-default" ]' "$what: nothing of the run happened on the default engine ($(head -c 200 "$WORK/ev-default" | tr '\n' ' '))"
  local left
  left=$(tls_leftovers)
  check '[ -z "$left" ]' "$what: nothing is left on the TLS engine${left:+ (left: $left)}"
  DOCKER_CONTEXT=default DOCKER_HOST= no_leftovers "" "on the default engine ($what)"
  tls_engine_docker images --filter "label=$LABEL" --format '{{.Repository}}:{{.Tag}}' | grep -v '<none>' |
    xargs -r env DOCKER_HOST="$TLS_ENGINE_HOST" DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH="$TLS_ENGINE_CERTS" \
      docker rmi -f >/dev/null 2>&1
}

# ---- 1. DOCKER_HOST + DOCKER_TLS_VERIFY + DOCKER_CERT_PATH ----
run_on "DOCKER_HOST+TLS" -u DOCKER_CONTEXT DOCKER_HOST="$TLS_ENGINE_HOST" DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH="$TLS_ENGINE_CERTS" --

# ---- 2. DOCKER_CONTEXT, a context made by `docker context create` in our DOCKER_CONFIG ----
docker context create brr-tls --description "brr e2e" \
  --docker "host=$TLS_ENGINE_HOST,ca=$TLS_ENGINE_CERTS/ca.pem,cert=$TLS_ENGINE_CERTS/cert.pem,key=$TLS_ENGINE_CERTS/key.pem" \
  >/dev/null 2>"$WORK/ctx.err"
crc=$?
check '[ $crc = 0 ]' "docker context create brr-tls ($(cat "$WORK/ctx.err"))"
run_on "DOCKER_CONTEXT" -u DOCKER_HOST DOCKER_CONTEXT=brr-tls --

# ---- 3. docker context use: currentContext in $DOCKER_CONFIG/config.json ----
docker context use brr-tls >/dev/null 2>&1
check 'grep -q "\"currentContext\": *\"brr-tls\"" "$DOCKER_CONFIG/config.json"' "docker context use wrote currentContext"
run_on "docker context use" -u DOCKER_HOST -u DOCKER_CONTEXT --
docker context use default >/dev/null 2>&1

# ---- 4. --context beats DOCKER_HOST ----
run_on "--context" -u DOCKER_CONTEXT DOCKER_HOST=unix:///nonexistent/docker.sock -- --context brr-tls

# ---- 5. an engine that is not on brr's loopback: the build registry is reached through the
# engine's host (the engine still pushes to it on its own loopback) ----
run_on "an engine at its bridge address" -u DOCKER_CONTEXT DOCKER_HOST="$TLS_ENGINE_BRIDGE_HOST" DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH="$TLS_ENGINE_CERTS" --
bridge_ip=${TLS_ENGINE_BRIDGE_HOST#tcp://}
bridge_ip=${bridge_ip%:*}
check 'grep -q "The build registry 127\.0\.0\.1:[0-9]* is reached at $bridge_ip:[0-9]*" "$WORK/out"' \
  "... whose build registry brr reached through the engine's address"

# ---- the pre-flight ----
preflight() {  # preflight WHAT [env...] -- [args...]: a run that must stop before any node
  local what=$1
  shift
  local envs=()
  while [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  (cd "$P" && env "${envs[@]}" "$BRR" --progress plain --no-color --container-labels "$LABEL" "$@") >"$WORK/out" 2>&1
  RC=$?
  sanitizer_guard
  check '[ "$RC" = 69 ]' "$what: exit 69 (got $RC)"
  check '! grep -qi "cleanup\|==>" "$WORK/out"' "$what: no step started, no cleanup warning"
}
preflight "a missing socket" DOCKER_HOST=unix:///nonexistent/brr.sock --
check 'grep -qx "brr: error: cannot connect to the Docker engine at unix:///nonexistent/brr.sock (from DOCKER_HOST): No such file or directory" "$WORK/out"' \
  "... one line with the path, its source and the cause"
mkdir -p "$WORK/other-ca" && tls_engine_certs "$WORK/other-ca" >/dev/null 2>&1
preflight "a CA that did not sign the engine's certificate" DOCKER_HOST="$TLS_ENGINE_HOST" DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH="$WORK/other-ca/client" --
check 'grep -q "cannot connect to the Docker engine at $TLS_ENGINE_HOST (from DOCKER_HOST): .*certificate" "$WORK/out"' \
  "... names the endpoint and the certificate problem"
preflight "plain HTTP to the TLS port" -u DOCKER_TLS_VERIFY DOCKER_HOST="$TLS_ENGINE_HOST" --
check 'grep -q "not a Docker engine.*HTTP 400" "$WORK/out"' "... says what answered"
preflight "an unknown context" -u DOCKER_HOST -- --context no-such-context
check 'grep -q "context \"no-such-context\"" "$WORK/out"' "... names the context"
preflight "a bad port" "DOCKER_HOST=tcp://127.0.0.1:99999" --
check 'grep -q "engine address tcp://127.0.0.1:99999: the port" "$WORK/out"' "... is about the address"
preflight "an unclosed IPv6 address" "DOCKER_HOST=tcp://[::1" --
check 'grep -q "closing" "$WORK/out"' "... is about the address"
preflight "a registry's address" "DOCKER_HOST=$REG" --
check 'grep -q "not a Docker engine" "$WORK/out"' "... is not taken for an engine"

(cd "$P" && DOCKER_HOST=unix:///nonexistent/brr.sock "$BRR" --graph >/dev/null 2>&1)
grc=$?
check '[ $grc = 0 ]' "--graph contacts no engine"
(cd "$P" && DOCKER_HOST=unix:///nonexistent/brr.sock "$BRR" --print-generated-files >/dev/null 2>&1)
grc=$?
check '[ $grc = 0 ]' "--print-generated-files contacts no engine"

# ---- the engine stopped mid-run: the affected node fails, exit 1, never 78 ----
cat >"$P/long.yaml" <<EOF
steps:
  long:
    run:
      image: $REG/busybox:latest
      cmd: echo started-long; sleep 60
EOF
(cd "$P" && exec env DOCKER_HOST="$TLS_ENGINE_HOST" DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH="$TLS_ENGINE_CERTS" \
   "$BRR" -f long.yaml --progress plain --no-color --container-labels "$LABEL") >"$WORK/out" 2>&1 &
bpid=$!
for _ in $(seq 600); do grep -q "started-long" "$WORK/out" && break; sleep 0.1; done
kill -TERM "$TLS_ENGINE_PID"
wait "$bpid"
RC=$?
sanitizer_guard
check '[ "$RC" = 1 ]' "the engine stopped mid-run: exit 1 (got $RC)"
check 'grep -q "long *failed\|Build FAILED\|FAILED" "$WORK/out"' "... the step is reported failed"
tls_engine_stop
finish
