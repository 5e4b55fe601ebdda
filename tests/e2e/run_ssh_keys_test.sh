#!/usr/bin/env bash
# A run step's ssh-keys: the global ssh-keys entries (a key file with a passphrase, an inline
# key) loaded into an ssh agent of brr's, its socket mounted into the container with
# SSH_AUTH_SOCK. Proved with a real ssh client inside the container (an image the test builds
# from busybox plus the host's ssh and ssh-add and their libraries, found with ldd) logging
# into the test's sshd (tests/e2e/lib/sshd.sh, also listening on the Docker bridge's gateway
# so the container reaches it) with the agent alone. The agent and its socket are gone after
# the step; an unknown alias is a configuration error (78, file:line:col); a wrong passphrase
# fails the step (1); with a remote (tcp://) engine ssh-keys are a configuration error (78).
. "$BRR_SOURCE_DIR/tests/e2e/build/lib.sh"
. "$BRR_SOURCE_DIR/tests/e2e/lib/sshd.sh"
. "$BRR_SOURCE_DIR/tests/e2e/lib/tls_engine.sh"

GW=$(docker network inspect bridge -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}' 2>/dev/null)
[ -n "$GW" ] || GW=$(ip -4 -o addr show docker0 2>/dev/null | awk '{print $4}' | cut -d/ -f1 | head -1)
if [ -z "$GW" ]; then
  fail "the Docker bridge has a gateway address the container can reach the sshd on"
  finish
fi
IMG="brr-e2e-sshclient-$ID:latest"
extra_cleanup+=("sshd_stop" "docker rmi -f $IMG" "tls_engine_stop")
if ! sshd_start "$WORK/sshd" "ListenAddress $GW"; then
  fail "the test's sshd lets the test's key in ($(tail -3 "$WORK/sshd/sshd.log" | tr '\n' ' '))"
  finish
fi
pass "the test's sshd is up on 127.0.0.1 and $GW, port $SSHD_PORT"

# ---- the keys: one with a passphrase (authorised on the sshd), one inline (not authorised) ----
K=$WORK/keys
mkdir -p "$K"
PASS="pass phrase $ID"
ssh-keygen -q -t ed25519 -N "$PASS" -C "agent-key-$ID" -f "$K/deploy" >/dev/null
ssh-keygen -q -t ed25519 -N '' -C "inline-key-$ID" -f "$K/inline" >/dev/null
cat "$K/deploy.pub" >>"$SSHD_AUTH"

# ---- the client image: busybox + the host's ssh, ssh-add and their libraries ----
C=$WORK/client
mkdir -p "$C/root/etc"
for f in $( { ldd /usr/bin/ssh; ldd /usr/bin/ssh-add; } | grep -oE '/[^ ]+' | sort -u) /usr/bin/ssh /usr/bin/ssh-add; do
  mkdir -p "$C/root$(dirname "$f")"
  cp -L "$f" "$C/root$f"
done
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$C/root/etc/passwd"
cat >"$C/Dockerfile" <<EOF
FROM $REG/busybox:latest
COPY root/ /
EOF
check 'docker build -q --label "$LABEL" -t "$IMG" "$C" >"$WORK/build.out" 2>&1' \
  "the ssh client image builds ($(tail -2 "$WORK/build.out" 2>/dev/null | tr '\n' ' '))"

AGENTS0=$(pgrep -c -x ssh-agent)
P=$(project proj)
{
  echo "ssh-keys:"
  echo "  - file: $K/deploy"
  echo "    password: '$PASS'"
  echo "    aliases: [ deploy-key ]"
  echo "  - key: |"
  sed 's/^/      /' "$K/inline"
  echo "    aliases: [ inline-key, other-name ]"
} >>"$P/.buildrunner.yaml"
SSH_OPTS="-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR"
cat >"$P/buildrunner.yaml" <<EOF
steps:
  keys:
    run:
      image: $IMG
      pull: false
      ssh-keys: [ deploy-key, other-name ]
      services:
        agentsvc:
          image: $IMG
          pull: false
          inject-ssh-agent: true
          cmd: 'ssh-add -l | sed "s/^/svc-listed: /"; sleep 300'
        plainsvc:
          image: $IMG
          pull: false
          cmd: 'echo "plain-sock=[\$SSH_AUTH_SOCK]"; sleep 300'
      cmds:
        - 'sleep 2'
        - 'echo "sock=\$SSH_AUTH_SOCK"'
        - 'ssh-add -l | sed "s/^/listed: /"'
        - 'ssh $SSH_OPTS -p $SSHD_PORT root@$GW echo logged-in-with-agent-$ID'
EOF
run_brr "$P"
check '[ "$RC" = 0 ]' "a run step with ssh-keys succeeds (exit $RC)"
check 'grep -q "sock=/ssh-agent/agent" "$WORK/out"' "SSH_AUTH_SOCK is /ssh-agent/agent in the container"
check 'grep -q "listed: .*agent-key-$ID" "$WORK/out" && grep -q "listed: .*inline-key-$ID" "$WORK/out"' \
  "the agent holds the passphrase key and the inline key"
check 'grep -q "logged-in-with-agent-$ID" "$WORK/out"' "ssh inside the container logs into the sshd with the agent alone"
check 'grep -q "svc-listed: .*agent-key-$ID" "$WORK/out"' "a service with inject-ssh-agent sees the agent"
check 'grep -q "plain-sock=\[\]" "$WORK/out"' "a service without it does not"
SOCK=$(grep -oE "ssh agent with [0-9]+ key\(s\) at [^ ]+" "$WORK/out" | awk '{print $NF}' | head -1)
check '[ -n "$SOCK" ] && [ ! -e "$SOCK" ] && [ ! -e "$(dirname "$SOCK")" ]' "the agent's socket and directory are gone after the step ($SOCK)"
for _ in $(seq 50); do [ -z "$(pgrep -f "ssh-agent -D -a $SOCK")" ] && break; sleep 0.1; done
check '[ -n "$SOCK" ] && [ -z "$(pgrep -f "ssh-agent -D -a $SOCK")" ]' "no ssh-agent process outlives the step"

# ---- an alias no key has: configuration error at its place ----
cat >"$P/bad.yaml" <<EOF
steps:
  keys:
    run:
      image: $IMG
      pull: false
      ssh-keys: [ deploy-key, missing-key ]
      cmd: 'true'
EOF
run_brr "$P" -f bad.yaml
check '[ "$RC" = 78 ]' "an unknown ssh-keys alias exits 78 (got $RC)"
check 'grep -qE "bad.yaml:6:[0-9]+: .*missing-key" "$WORK/out"' "the error names the alias and its file:line:col"

# ---- a wrong passphrase: the key does not load, the step fails ----
sed -i "s/password: '$PASS'/password: 'not the passphrase'/" "$P/.buildrunner.yaml"
run_brr "$P"
check '[ "$RC" = 1 ]' "a wrong passphrase fails the step with exit 1 (got $RC)"
check 'grep -q "loading $K/deploy into the agent" "$WORK/out"' "the failure names the key that did not load"
# SIGKILL is sent as the step fails; the kernel takes a moment to end the process
for _ in $(seq 50); do [ "$(pgrep -c -x ssh-agent)" = "$AGENTS0" ] && break; sleep 0.1; done
check '[ "$(pgrep -c -x ssh-agent)" = "$AGENTS0" ]' "the agent of the failed step is gone too"

# ---- a remote engine: the socket cannot be bind-mounted there, a configuration error ----
sed -i "s/password: 'not the passphrase'/password: '$PASS'/" "$P/.buildrunner.yaml"
if tls_engine_start "$WORK/engine"; then
  (cd "$P" && env -u DOCKER_CONTEXT DOCKER_HOST="$TLS_ENGINE_HOST" DOCKER_TLS_VERIFY=1 \
     DOCKER_CERT_PATH="$TLS_ENGINE_CERTS" "$BRR" --progress plain --no-color --container-labels "$LABEL") \
    >"$WORK/out" 2>&1
  RC=$?
  sanitizer_guard
  check '[ "$RC" = 78 ]' "ssh-keys with a remote (tcp://) engine exit 78 (got $RC)"
  check 'grep -q "ssh-keys need a Docker engine on this machine" "$WORK/out"' "the error says a local engine is needed"
else
  fail "the TLS engine did not start ($(tail -2 "$WORK/engine/dockerd.log" 2>/dev/null | tr '\n' ' '))"
fi

no_leftovers "brr-e2e-sshclient-$ID:latest"
finish
