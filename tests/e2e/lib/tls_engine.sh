# A second Docker engine of a test's own, listening only on TLS on 127.0.0.1 (sourced by
# e2e tests; bash). Certificates are made here with openssl: a CA, a server certificate for
# IP:127.0.0.1 and a client certificate. The engine has its own --data-root, --exec-root,
# pidfile and its own bridge (never the bridge setting 'none': that deletes the main engine's docker0),
# and no iptables changes. Only the dockerd started here is ever stopped, by its pid.
#
#   tls_engine_start DIR     start it; sets TLS_ENGINE_HOST (tcp://127.0.0.1:PORT),
#                            TLS_ENGINE_BRIDGE_HOST (tcp://<its bridge's address>:PORT, where it
#                            listens too: an engine that does not look local),
#                            TLS_ENGINE_CERTS (ca.pem, cert.pem, key.pem for the client),
#                            TLS_ENGINE_PID; returns non-zero (log in DIR/dockerd.log) on failure
#   tls_engine_docker ARGS   the docker CLI against it (TLS variables, no context)
#   tls_engine_stop          stop it (by pid), remove its bridge and its directories;
#                            idempotent, meant for an EXIT trap
#   tls_engine_pipeline FILE MARKER REPO
#                            the pipeline the engine tests run there: a legacy build whose
#                            run step prints MARKER upper-cased, and a two-platform buildx
#                            build pushed to REPO:v1
#   tls_engine_leftovers LABEL KEEP
#                            containers, volumes, networks and images carrying LABEL on it,
#                            but images whose repository:tag matches the regex KEEP
#
# Several of these may run at once (tests under ctest -j): ports, bridges and subnets are
# chosen free at start.

TLS_ENGINE_HOST= TLS_ENGINE_BRIDGE_HOST= TLS_ENGINE_CERTS= TLS_ENGINE_PID= TLS_ENGINE_DIR= TLS_ENGINE_EXEC= TLS_ENGINE_BRIDGE=

# tls_engine_certs DIR [IP]: CA, server (IP:127.0.0.1 [and IP], serverAuth) and client
# (clientAuth) in DIR, the client's as ca.pem/cert.pem/key.pem in DIR/client and the server's
# in DIR/server.
tls_engine_certs() {
  local d=$1 san="IP:127.0.0.1${2:+,IP:$2}"
  mkdir -p "$d/client" "$d/server" || return 1
  (
    set -e
    cd "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=brr test CA" \
      -keyout ca-key.pem -out ca.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout server/key.pem \
      -out server.csr 2>/dev/null
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$san" >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 \
      -extfile server.ext -out server/cert.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=brr test client" -keyout client/key.pem \
      -out client.csr 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' >client.ext
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 \
      -extfile client.ext -out client/cert.pem 2>/dev/null
    cp ca.pem client/ca.pem
    cp ca.pem server/ca.pem
  )
}

_tls_engine_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

tls_engine_start() {
  local dir=$1 i sub
  mkdir -p "$dir" || return 1
  TLS_ENGINE_DIR=$dir
  # a short exec root: containerd's socket paths must stay short
  TLS_ENGINE_EXEC=$(mktemp -d /tmp/brr-xr.XXXXXX) || return 1
  # a bridge and a /24 that nobody uses
  for i in $(seq 1 40); do
    TLS_ENGINE_BRIDGE=brrt$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n' | cut -c1-8)
    sub=$((RANDOM % 200 + 20))
    if ! ip -br addr | grep -q " 172\.30\.$sub\." && ! ip link show "$TLS_ENGINE_BRIDGE" >/dev/null 2>&1; then
      ip link add "$TLS_ENGINE_BRIDGE" type bridge || return 1
      ip addr add "172.30.$sub.1/24" dev "$TLS_ENGINE_BRIDGE" || return 1
      ip link set "$TLS_ENGINE_BRIDGE" up || return 1
      break
    fi
    TLS_ENGINE_BRIDGE=
  done
  [ -n "$TLS_ENGINE_BRIDGE" ] || return 1
  tls_engine_certs "$dir/certs" "172.30.$sub.1" || return 1
  TLS_ENGINE_CERTS=$dir/certs/client
  local port
  port=$(_tls_engine_free_port) || return 1
  TLS_ENGINE_HOST=tcp://127.0.0.1:$port
  TLS_ENGINE_BRIDGE_HOST=tcp://172.30.$sub.1:$port
  local bin
  bin=$(PATH=$PATH:/usr/sbin:/sbin command -v dockerd) || return 1
  setsid "$bin" --host "$TLS_ENGINE_HOST" --host "$TLS_ENGINE_BRIDGE_HOST" \
    --tlsverify --tlscacert "$dir/certs/server/ca.pem" --tlscert "$dir/certs/server/cert.pem" \
    --tlskey "$dir/certs/server/key.pem" \
    --data-root "$dir/data" --exec-root "$TLS_ENGINE_EXEC" --pidfile "$dir/dockerd.pid" \
    --bridge "$TLS_ENGINE_BRIDGE" --iptables=false --ip-masq=false --ip-forward=false \
    >"$dir/dockerd.log" 2>&1 </dev/null &
  TLS_ENGINE_PID=$!
  for i in $(seq 1 120); do
    tls_engine_docker version >/dev/null 2>&1 && return 0
    kill -0 "$TLS_ENGINE_PID" 2>/dev/null || return 1
    sleep 0.25
  done
  return 1
}

tls_engine_docker() {
  DOCKER_HOST=$TLS_ENGINE_HOST DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$TLS_ENGINE_CERTS \
    DOCKER_CONTEXT= docker "$@"
}

tls_engine_stop() {
  if [ -n "$TLS_ENGINE_PID" ] && kill -0 "$TLS_ENGINE_PID" 2>/dev/null; then
    # its containers first, so nothing of ours keeps running under the next engine start
    tls_engine_docker ps -aq 2>/dev/null | xargs -r env DOCKER_HOST="$TLS_ENGINE_HOST" \
      DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH="$TLS_ENGINE_CERTS" docker rm -fv >/dev/null 2>&1
    kill -TERM "$TLS_ENGINE_PID" 2>/dev/null
    local i
    for i in $(seq 1 80); do kill -0 "$TLS_ENGINE_PID" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$TLS_ENGINE_PID" 2>/dev/null
    wait "$TLS_ENGINE_PID" 2>/dev/null
  fi
  TLS_ENGINE_PID=
  if [ -n "$TLS_ENGINE_BRIDGE" ]; then
    ip link del "$TLS_ENGINE_BRIDGE" 2>/dev/null
    TLS_ENGINE_BRIDGE=
  fi
  # mounts an engine killed hard may leave under its roots
  local m
  for m in $(awk -v a="${TLS_ENGINE_DIR:-/nonexistent}/" -v b="${TLS_ENGINE_EXEC:-/nonexistent}/" \
               'index($2, a) == 1 || index($2, b) == 1 {print $2}' /proc/mounts | sort -r); do
    umount -l "$m" 2>/dev/null
  done
  [ -n "$TLS_ENGINE_EXEC" ] && rm -rf "$TLS_ENGINE_EXEC"
  [ -n "$TLS_ENGINE_DIR" ] && rm -rf "$TLS_ENGINE_DIR"
  TLS_ENGINE_EXEC= TLS_ENGINE_DIR=
  return 0
}

tls_engine_pipeline() {
  cat >"$1" <<EOF
steps:
  legacy:
    build:
      dockerfile: |
        FROM {{ DOCKER_REGISTRY }}/busybox:latest
        RUN echo $2 | tr a-z A-Z > /marker
    run:
      cmd: cat /marker
  mp:
    build:
      dockerfile: |
        FROM {{ DOCKER_REGISTRY }}/busybox:latest
        RUN uname -m > /arch
      platforms:
        - linux/amd64
        - linux/arm64/v8
    push:
      repository: $3
      tags: [v1]
EOF
}

tls_engine_leftovers() {
  {
    tls_engine_docker ps -aq --filter "label=$1"
    tls_engine_docker volume ls -q --filter "label=$1"
    tls_engine_docker network ls -q --filter "label=$1"
    tls_engine_docker images --filter "label=$1" --format '{{.Repository}}:{{.Tag}}' | grep -vE "$2" || true
  } | tr '\n' ' '
}

# tls_engine_pool_run DIR LABEL: brr in DIR over the engines of its engines: (its own
# DOCKER_HOST/DOCKER_CONTEXT cleared), JSON events; exit code in $RC, events and stderr in
# $WORK/out (the sanitizer check reads both), a copy in $WORK/all, and "<node> <engine>" per
# node_start in $WORK/where ("-" when the event names none).
tls_engine_pool_run() {
  (cd "$1" && DOCKER_CONTEXT= DOCKER_HOST= "$BRR" --progress json --no-color --container-labels "$2") \
    >"$WORK/out" 2>"$WORK/err"
  RC=$?
  { echo "==== brr (exit $RC)"; cat "$WORK/out" "$WORK/err"; } >>"$WORK/all"
  cat "$WORK/err" >>"$WORK/out"
  python3 - "$WORK/out" >"$WORK/where" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("type") == "node_start":
        print(e.get("node"), e.get("engine", "-"))
EOF
}
