#!/usr/bin/env bash
# brr on an ssh:// engine: an sshd of the test's own on a loopback port (Debian's
# openssh-server, its own host key, the test's key authorised), reached with
# DOCKER_HOST=ssh://root@127.0.0.1:PORT through the `ssh` in PATH (a wrapper adding
# `-F <the test's config>`, since ssh reads the passwd home and not $HOME). On the far side
# `docker system dial-stdio` talks to a second, TLS-only engine (tests/e2e/lib/tls_engine.sh,
# chosen by sshd's SetEnv), so the work is seen there and not on the default engine. A legacy
# build, a run step in its image and a two-platform buildx build; nothing left on either
# engine; no ssh process and no relay directory outlive brr, after a normal end, after
# SIGINT mid-run, after ssh dropped mid-run (exit 1, the container still removed) and after a
# pre-flight failure (a key the server does not know: exit 69).
. "$BRR_SOURCE_DIR/tests/e2e/build/lib.sh"
. "$BRR_SOURCE_DIR/tests/e2e/lib/tls_engine.sh"

. "$BRR_SOURCE_DIR/tests/e2e/lib/sshd.sh"
extra_cleanup+=("sshd_stop" "tls_engine_stop")

if ! tls_engine_start "$WORK/engine"; then
  fail "the TLS engine did not start"
  finish
fi

# ---- the sshd and the client's config (tests/e2e/lib/sshd.sh) ----
mkdir -p "$WORK/tmp"
if ! sshd_start "$WORK/ssh" "SetEnv DOCKER_HOST=$TLS_ENGINE_HOST DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$TLS_ENGINE_CERTS"; then
  fail "the test's sshd lets the test's key in ($(tail -3 "$WORK/ssh/sshd.log" | tr '\n' ' '))"
  finish
fi
S=$SSHD_DIR
PORT=$SSHD_PORT
ssh-keygen -q -t ed25519 -N '' -f "$S/other" >/dev/null
write_client_config() { sshd_client_key "$1"; }  # write_client_config KEY
HOST=ssh://root@127.0.0.1:$PORT
for _ in $(seq 50); do
  ssh -p "$PORT" root@127.0.0.1 true 2>/dev/null && break
  sleep 0.1
done
check 'ssh -p "$PORT" root@127.0.0.1 docker version --format "{{.Server.APIVersion}}" >/dev/null 2>"$WORK/ssh.err"' \
  "the test's sshd lets the test's key in and reaches the TLS engine ($(tail -1 "$WORK/ssh.err" 2>/dev/null))"

ssh_left() { pgrep -f -- "-p $PORT -- root@127.0.0.1" | tr '\n' ' '; }
relay_left() { ls "$WORK/tmp" | grep '^brr-ssh' | tr '\n' ' '; }

N="brr-e2e-$ID"
P=$(project ssh)
tls_engine_pipeline "$P/buildrunner.yaml" built-over-ssh "$REG/$N-mp"

# ---- a whole run over ssh ----
t0=$(date +%s)
sleep 1
(cd "$P" && env -u DOCKER_CONTEXT DOCKER_HOST="$HOST" TMPDIR="$WORK/tmp" \
   "$BRR" --progress plain --no-color --container-labels "$LABEL") >"$WORK/out" 2>&1
RC=$?
{ echo "==== brr over ssh (exit $RC)"; cat "$WORK/out"; } >>"$WORK/all"
sanitizer_guard
sleep 1
t1=$(date +%s)
check '[ "$RC" = 0 ]' "the run over ssh:// succeeds (exit $RC)"
check 'grep -q "legacy *| BUILT-OVER-SSH" "$WORK/out"' "the run step ran in the image the legacy build just made"
check 'grep -q "\[linux/arm64/v8\]" "$WORK/out" && grep -q "Created the manifest list" "$WORK/out"' \
  "the two-platform buildx build ran (docker buildx over the same ssh:// host)"
tls_engine_docker events --since "$t0" --until "$t1" --filter "label=$LABEL" --format '{{.Type}} {{.Action}}' >"$WORK/ev-far" 2>&1
docker --context default events --since "$t0" --until "$t1" --filter "label=$LABEL" --format '{{.Type}} {{.Action}}' >"$WORK/ev-default" 2>&1
check 'grep -q "^container create" "$WORK/ev-far"' "the run's containers were created on the far engine"
check '[ "$(tls_engine_docker image inspect -f "{{.Architecture}}" "$REG/$N-mp:v1")" = amd64 ] && ! docker image inspect "$REG/$N-mp:v1" >/dev/null 2>&1' \
  "the buildx build's native image is on the far engine, not on the default one"
check '[ ! -s "$WORK/ev-default" ]' "nothing of the run happened on the default engine"
left=$(tls_engine_leftovers "$LABEL" "^$REG/$N-mp:")
check '[ -z "$left" ]' "nothing is left on the far engine${left:+ (left: $left)}"
no_leftovers "" "on the default engine"
check '[ -z "$(ssh_left)" ]' "no ssh process outlives brr ($(ssh_left))"
check '[ -z "$(relay_left)" ]' "the relay's directory is gone ($(relay_left))"
tls_engine_docker images --filter "label=$LABEL" --format '{{.Repository}}:{{.Tag}}' | grep -v '<none>' |
  while read -r i; do tls_engine_docker rmi -f "$i" >/dev/null 2>&1; done

# ---- SIGINT mid-run: the cleanup still goes over ssh, then no ssh is left ----
cat >"$P/long.yaml" <<EOF
steps:
  long:
    run:
      image: $REG/busybox:latest
      cmd: echo started-long; sleep 120
EOF
(cd "$P" && exec env -u DOCKER_CONTEXT DOCKER_HOST="$HOST" TMPDIR="$WORK/tmp" \
   "$BRR" -f long.yaml --progress plain --no-color --container-labels "$LABEL") >"$WORK/out" 2>&1 &
bpid=$!
for _ in $(seq 600); do grep -q "long *| started-long" "$WORK/out" && break; sleep 0.1; done
check '[ -n "$(ssh_left)" ]' "while brr runs, its ssh processes are there"
kill -INT "$bpid"
wait "$bpid"
RC=$?
sanitizer_guard
check '[ "$RC" = 130 ]' "SIGINT ends the run with 130 (got $RC)"
check '[ -z "$(tls_engine_docker ps -aq --filter "label=$LABEL")" ]' "the interrupted run's container was removed over ssh"
check '[ -z "$(ssh_left)" ]' "no ssh process outlives the interrupted brr ($(ssh_left))"
check '[ -z "$(relay_left)" ]' "the relay's directory is gone after SIGINT ($(relay_left))"

# ---- ssh dropping mid-run: the step fails with exit 1 (not 78), and the cleanup, over new
# ssh connections, still removes the container ----
(cd "$P" && exec env -u DOCKER_CONTEXT DOCKER_HOST="$HOST" TMPDIR="$WORK/tmp" \
   "$BRR" -f long.yaml --progress plain --no-color --container-labels "$LABEL") >"$WORK/out" 2>&1 &
bpid=$!
for _ in $(seq 600); do grep -q "long *| started-long" "$WORK/out" && break; sleep 0.1; done
# brr's ssh processes, by pid: the ones of this port whose parent is brr
for p in $(pgrep -P "$bpid" -f -- "-p $PORT -- root@127.0.0.1"); do kill -KILL "$p"; done
wait "$bpid"
RC=$?
sanitizer_guard
check '[ "$RC" = 1 ]' "ssh dropped mid-run: exit 1 (got $RC)"
check 'grep -q "long .*failed\|FAILED" "$WORK/out"' "... the step is reported failed"
check '[ -z "$(tls_engine_docker ps -aq --filter "label=$LABEL")" ]' "... and its container was removed over a new ssh connection"
check '[ -z "$(ssh_left)" ] && [ -z "$(relay_left)" ]' "... and nothing of the relay is left"

# ---- a key the server does not know: the pre-flight says so, exit 69 ----
write_client_config "$S/other"
(cd "$P" && env -u DOCKER_CONTEXT DOCKER_HOST="$HOST" TMPDIR="$WORK/tmp" \
   "$BRR" --progress plain --no-color --container-labels "$LABEL") >"$WORK/out" 2>&1
RC=$?
sanitizer_guard
check '[ "$RC" = 69 ]' "an ssh login that fails: exit 69 (got $RC)"
check 'grep -q "cannot connect to the Docker engine at $HOST (from DOCKER_HOST): .*ssh: .*Permission denied" "$WORK/out"' \
  "... one line naming the endpoint and ssh's reason"
check '[ -z "$(ssh_left)" ] && [ -z "$(relay_left)" ]' "... and nothing of the relay is left"
write_client_config "$S/id"
finish
