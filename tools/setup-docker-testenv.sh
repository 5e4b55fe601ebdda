#!/bin/bash
# brr's offline Docker test environment on Debian 12, as root. Idempotent: a second run only
# checks. Needs nothing but Debian's package archive (Docker Hub is never contacted).
#
# Leaves running:
#   dockerd              default bridge network, API 1.41 (Debian's docker.io 20.10)
#   docker buildx        plugin taken from Debian trixie's docker-buildx (needs only libc6)
#   qemu-aarch64 binfmt  arm64 containers and builds under emulation
#   a registry           127.0.0.1:5000 holding busybox:amd64, busybox:arm64 and
#                        busybox:latest (a manifest list of both)
#                        and registry:2 / registry:latest (a registry image, amd64)
#   local tag busybox:latest (host platform) for tests that say plain "busybox"
#
# Environment: BRR_TESTENV_DIR (state, default /var/tmp/brr-testenv), BRR_REGISTRY
# (default 127.0.0.1:5000).
set -euo pipefail

STATE=${BRR_TESTENV_DIR:-/var/tmp/brr-testenv}
REG=${BRR_REGISTRY:-127.0.0.1:5000}
PLUGIN_DIR=/usr/libexec/docker/cli-plugins
mkdir -p "$STATE"
say() { printf 'testenv: %s\n' "$*"; }
die() { printf 'testenv: ERROR: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root"

# ---- 1. packages -------------------------------------------------------------------------
need=()
for p in docker.io containerd runc iptables curl ca-certificates busybox-static \
         docker-registry qemu-user-static binfmt-support \
         openssl openssh-client openssh-server; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# ---- 2. dockerd ----------------------------------------------------------------------------
# The script only ever stops a dockerd it started itself, known by its pid file: an engine of
# the user's, or a test's second engine, is never touched.
PIDFILE=$STATE/dockerd.pid
engine_up() { docker info >/dev/null 2>&1; }
engine_ok() { engine_up && docker network inspect bridge >/dev/null 2>&1; }
own_engine_pid() {  # the pid of the dockerd this script started, while it runs
  local pid
  pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] && echo "$pid"
}
start_engine() {
  local pid= bin
  if [ -d /run/systemd/system ] && systemctl start docker 2>/dev/null; then :; else
    bin=$(PATH=$PATH:/usr/sbin:/sbin command -v dockerd) || { echo "no dockerd binary" >>"$STATE/dockerd.log"; return 1; }
    # setsid execs nohup, which execs dockerd: $! is the engine's pid
    setsid nohup "$bin" >>"$STATE/dockerd.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$PIDFILE"
  fi
  for _ in $(seq 1 120); do
    engine_up && return 0
    # a dockerd that died at start (see the log) is not waited for
    [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null && return 1
    sleep 0.25
  done
  return 1
}
stop_own_engine() {
  local pid=$1
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -0 "$pid" 2>/dev/null && die "dockerd $pid (started by this script) did not stop"
  rm -f "$PIDFILE"
}
if ! engine_ok; then
  if ! engine_up; then
    start_engine || die "dockerd did not start; see $STATE/dockerd.log"
  elif pid=$(own_engine_pid); then
    # a dockerd this script started earlier, without the default bridge: restart it
    say "restarting the dockerd this script started (pid $pid) with default networking"
    stop_own_engine "$pid"
    start_engine || die "dockerd did not start; see $STATE/dockerd.log"
  else
    die "the Docker engine at ${DOCKER_HOST:-unix:///var/run/docker.sock} has no default bridge network" \
        "(started with --bridge=none?). This script did not start it ($PIDFILE names no running" \
        "dockerd), so it leaves it alone: restart that engine with its default networking, or" \
        "stop it and run this script again"
  fi
fi
engine_ok || die "dockerd runs but has no bridge network; see $STATE/dockerd.log"
say "engine $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')"

# ---- 3. buildx -----------------------------------------------------------------------------
# Debian 12 has no docker-buildx; trixie's build only needs libc6 >= 2.34, so its .deb is
# unpacked with a private apt state (the system's sources stay untouched).
if ! docker buildx version >/dev/null 2>&1; then
  say "installing docker-buildx from Debian trixie"
  A=$STATE/apt-trixie
  mkdir -p "$A/sources" "$A/lists/partial" "$A/cache/archives/partial" "$A/deb"
  # the Debian archive this machine already uses (its sources.list, sources.list.d/*.list or
  # *.sources, as apt itself reads them): the URI serving this release's main component
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  uri=$(apt-get indextargets --format '$(TARGET_OF) $(RELEASE) $(COMPONENT) $(REPO_URI)' 2>/dev/null |
        awk -v rel="$codename" '$1 == "deb" && $2 == rel && $3 == "main" { print $4; exit }')
  [ -n "$codename" ] && [ -n "$uri" ] ||
    die "no apt source for Debian ${codename:-(unknown release)} main in /etc/apt/sources.list{,.d}: add one, or install docker-buildx by hand"
  printf 'Types: deb\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$uri" >"$A/sources/trixie.sources"
  aopt=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$A/sources"
        -o "Dir::State::Lists=$A/lists" -o "Dir::Cache=$A/cache" -o APT::Sandbox::User=root)
  apt-get "${aopt[@]}" update -qq
  rm -f "$A"/deb/*.deb
  (cd "$A/deb" && apt-get "${aopt[@]}" download docker-buildx >/dev/null)
  rm -rf "$A/unpacked" && dpkg-deb -x "$A"/deb/docker-buildx_*.deb "$A/unpacked"
  install -D -m 0755 "$A/unpacked/usr/libexec/docker/cli-plugins/docker-buildx" "$PLUGIN_DIR/docker-buildx"
fi
say "$(docker buildx version)"

# ---- 4. arm64 emulation --------------------------------------------------------------------
# Only aarch64 is enabled: every enabled qemu entry costs BuildKit time on each build.
mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
for f in /usr/share/binfmts/qemu-*; do
  n=$(basename "$f")
  if [ "$n" = qemu-aarch64 ]; then update-binfmts --enable "$n" >/dev/null 2>&1 || true
  else update-binfmts --disable "$n" >/dev/null 2>&1 || true; fi
done
grep -q '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64 || die "qemu-aarch64 binfmt not enabled"
# F (fix-binary) lets containers use the interpreter without having it in their filesystem
grep -q '^flags:.*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 || die "qemu-aarch64 binfmt lacks the F flag"
say "arm64 emulation on"

# ---- 5. the registry -----------------------------------------------------------------------
if ! curl -fsS "http://$REG/v2/" >/dev/null 2>&1; then
  mkdir -p "$STATE/registry"
  cat >"$STATE/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $STATE/registry
  delete:
    enabled: true
http:
  addr: $REG
EOF
  setsid nohup docker-registry serve "$STATE/registry.yml" >>"$STATE/registry.log" 2>&1 </dev/null &
  for _ in $(seq 1 100); do curl -fsS "http://$REG/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fsS "http://$REG/v2/" >/dev/null 2>&1 || die "registry did not start; see $STATE/registry.log"
fi
say "registry at $REG"

# ---- 6. busybox images for amd64 and arm64 -------------------------------------------------
list_ok() {
  curl -fsS -H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json' \
       -H 'Accept: application/vnd.oci.image.index.v1+json' \
       "http://$REG/v2/busybox/manifests/latest" 2>/dev/null | grep -q '"arm64"'
}
if ! list_ok; then
  CTX=$STATE/busybox-context
  mkdir -p "$CTX"
  install -m 0755 /bin/busybox "$CTX/busybox-amd64"
  if [ ! -s "$CTX/busybox-arm64" ]; then
    # the arm64 build of the same Debian package, fetched with a private apt state
    B=$STATE/apt-arm64
    mkdir -p "$B/lists/partial" "$B/cache/archives/partial" "$B/deb"
    bopt=(-o APT::Architecture=arm64 -o APT::Architectures=arm64 -o "Dir::State::Lists=$B/lists"
          -o "Dir::Cache=$B/cache" -o APT::Sandbox::User=root)
    apt-get "${bopt[@]}" update -qq
    rm -f "$B"/deb/*.deb
    (cd "$B/deb" && apt-get "${bopt[@]}" download busybox-static >/dev/null)
    rm -rf "$B/unpacked" && dpkg-deb -x "$B"/deb/busybox-static_*.deb "$B/unpacked"
    install -m 0755 "$B/unpacked/bin/busybox" "$CTX/busybox-arm64"
  fi
  # ELF e_machine: 0xb7 is aarch64
  [ "$(od -An -tx1 -j18 -N1 "$CTX/busybox-arm64" | tr -d ' ')" = b7 ] || die "busybox-arm64 is not an aarch64 binary"
  cat >"$CTX/Dockerfile" <<'EOF'
FROM scratch
ARG TARGETARCH
COPY busybox-${TARGETARCH} /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir -p /tmp /root /etc /usr/bin /usr/sbin /sbin /var/tmp && chmod 1777 /tmp /var/tmp
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CMD ["/bin/sh"]
EOF
  for arch in amd64 arm64; do
    docker buildx build -q --platform "linux/$arch" --push -t "$REG/busybox:$arch" "$CTX" >/dev/null
  done
  docker buildx imagetools create -t "$REG/busybox:latest" "$REG/busybox:amd64" "$REG/busybox:arm64" \
    >"$STATE/imagetools.log" 2>&1 || { cat "$STATE/imagetools.log" >&2; die "manifest list failed"; }
  list_ok || die "busybox:latest in $REG is not a two-platform list"
fi
say "busybox:amd64, busybox:arm64 and busybox:latest (list) in $REG"

# ---- 6b. a registry image ------------------------------------------------------------------
# buildrunner (and brr) start a temporary build registry from <docker-registry>/registry for
# multi-platform builds. Offline there is no Docker Hub image, so one is made from Debian's
# docker-registry binary (it links only libc) and pushed where DOCKER_REGISTRY points.
reg_image_ok() {
  curl -fsS -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
       "http://$REG/v2/registry/manifests/2" >/dev/null 2>&1
}
if ! reg_image_ok; then
  RCTX=$STATE/registry-context
  rm -rf "$RCTX" && mkdir -p "$RCTX/lib" "$RCTX/lib64"
  install -m 0755 /usr/bin/docker-registry "$RCTX/registry"
  for lib in $(ldd /usr/bin/docker-registry | grep -o '/[^ ]*\.so[^ ]*'); do
    case "$lib" in /lib64/*) cp -L "$lib" "$RCTX/lib64/";; *) cp -L "$lib" "$RCTX/lib/";; esac
  done
  printf '%s\n' 'version: 0.1' 'log:' '  level: warn' 'storage:' '  filesystem:' \
    '    rootdirectory: /var/lib/registry' '  delete:' '    enabled: true' 'http:' '  addr: :5000' \
    >"$RCTX/config.yml"
  printf '%s\n' 'FROM scratch' 'COPY lib/ /lib/x86_64-linux-gnu/' 'COPY lib64/ /lib64/' \
    'COPY registry /bin/registry' 'COPY config.yml /etc/docker/registry/config.yml' \
    'VOLUME /var/lib/registry' 'EXPOSE 5000' 'ENTRYPOINT ["/bin/registry"]' \
    'CMD ["serve", "/etc/docker/registry/config.yml"]' >"$RCTX/Dockerfile"
  DOCKER_BUILDKIT=0 docker build -q -t "$REG/registry:2" "$RCTX" >/dev/null 2>&1
  docker tag "$REG/registry:2" "$REG/registry:latest"
  docker push -q "$REG/registry:2" >/dev/null
  docker push -q "$REG/registry:latest" >/dev/null
  reg_image_ok || die "registry image not in $REG"
fi
say "registry image $REG/registry:2 (amd64)"

# host-platform copies under the names tests use
docker image inspect "$REG/busybox:latest" >/dev/null 2>&1 || docker pull -q "$REG/busybox:latest" >/dev/null
docker image inspect busybox:latest >/dev/null 2>&1 || docker tag "$REG/busybox:latest" busybox:latest

# ---- 7. check ------------------------------------------------------------------------------
if [ "${1:-}" = --check ]; then
  a=$(docker run --rm --network none --platform linux/amd64 "$REG/busybox:amd64" uname -m)
  b=$(docker run --rm --network none --platform linux/arm64 "$REG/busybox:arm64" uname -m)
  [ "$a" = x86_64 ] && [ "$b" = aarch64 ] || die "smoke test: amd64 -> $a, arm64 -> $b"
  docker image inspect "$REG/busybox:arm64" >/dev/null 2>&1 && docker rmi -f "$REG/busybox:arm64" >/dev/null
  say "smoke test: amd64 -> $a, arm64 -> $b"
fi
say "ready (use docker-registry: $REG in a global config as the Docker Hub stand-in)"
