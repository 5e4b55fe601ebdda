#!/usr/bin/env bash
# Legacy builds through the Engine API against the real engine: a path context with
# `inject` (every destination rule: into a directory, several matches, a rename), `target`,
# `buildargs` with DOCKER_REGISTRY, `.dockerignore`, inline Dockerfiles, a FROM on an image
# the run committed (pull default false), `platform`, `import`, `cache_from`, `no-cache`;
# the builder's errorDetail, a configuration error with its file:line:col, `pull: true`; every
# image checked by running it, and nothing left behind (with and without --cleanup-images).
. "$BRR_SOURCE_DIR/tests/e2e/build/lib.sh"

P=$(project legacy)
cp -r "$BRR_SOURCE_DIR/tests/e2e/build/legacy/." "$P/"
# a root filesystem to import: a static busybox and a file
mkdir -p "$WORK/rootfs/bin"
cp /bin/busybox "$WORK/rootfs/bin/busybox"
echo "imported" >"$WORK/rootfs/hello.txt"
tar -C "$WORK/rootfs" -cf "$P/rootfs.tar" .
had_arm64=$(docker images -q "$REG/busybox:arm64")

N="brr-e2e-$ID"
cat >"$P/buildrunner.yaml" <<EOF
steps:
  ctx:
    build:
      path: ctx
      target: one
      buildargs:
        MSG: hello brr
      inject:
        "files/*.txt": injected/
        "files/single.dat": injected/renamed.dat
    commit: {repository: $N-ctx, tags: [v1]}
  plain:
    build: plainctx
    commit: {repository: $N-plain, tags: [v1]}
  inline:
    build:
      cache_from: [$REG/busybox:amd64]
      dockerfile: |
        FROM {{ DOCKER_REGISTRY }}/busybox:latest
        RUN echo inline > /inline
    commit: {repository: $N-inline, tags: [v1]}
  fromlocal:
    build:
      dockerfile: |
        FROM $N-inline:v1
        RUN cat /inline > /saw-inline
    commit: {repository: $N-fromlocal, tags: [v1]}
  arm:
    build:
      platform: linux/arm64
      pull: true
      dockerfile: |
        FROM $REG/busybox:arm64
        RUN uname -m > /arch
    commit: {repository: $N-arm, tags: [v1]}
  imported:
    build:
      import: rootfs.tar
    commit: {repository: $N-imported, tags: [v1]}
  nocache:
    build:
      no-cache: true
      dockerfile: |
        FROM {{ DOCKER_REGISTRY }}/busybox:latest
        RUN echo probe-nocache-$ID > /p
    commit: {repository: $N-nocache, tags: [v1]}
  cached:
    build:
      dockerfile: |
        FROM {{ DOCKER_REGISTRY }}/busybox:latest
        RUN echo probe-cached-$ID > /p
    commit: {repository: $N-cached, tags: [v1]}
EOF

run_brr "$P"
check '[ "$RC" = 0 ]' "the builds succeed (exit $RC)"
check 'grep -q "Using cache_from image: $REG/busybox:amd64" "$WORK/out"' "cache_from images are pulled and used"
check 'grep -q "Running docker build (pull false" <(grep "fromlocal |" "$WORK/out")' \
  "a FROM the run committed is not pulled (spec §5)"

look() { docker run --rm "$@" 2>&1; }
out=$(look "$N-ctx:v1" sh -c 'cat /msg /stage /ctx-file.txt /injected/a.txt /injected/b.txt /injected/renamed.dat')
check '[ "$out" = "$(printf "hello brr\none\nfrom the context\na\nb\nsingle")" ]' \
  "path context, buildargs, target and every inject destination are in the image"
out=$(look "$N-plain:v1" sh -c 'ls /ctx; cat /ctx/keep.txt')
check 'grep -qx keep <<<"$out" && ! grep -q secret.txt <<<"$out"' ".dockerignore leaves files out of a path context"
check '[ "$(look "$N-fromlocal:v1" cat /saw-inline)" = inline ]' "an inline Dockerfile FROM the image of another step"
check '[ "$(docker image inspect -f "{{.Architecture}}" "$N-arm:v1")" = arm64 ]' "platform builds for that platform"
check '[ "$(look --platform linux/arm64 "$N-arm:v1" cat /arch)" = aarch64 ]' "... and its RUN ran as arm64"
check '[ "$(look "$N-imported:v1" /bin/busybox cat /hello.txt)" = imported ]' "import makes an image of the tar"
no_leftovers "$N-[a-z]+:.*" "after a successful run"

# no-cache: the same Dockerfiles again; only the step with no-cache runs its RUN again
run_brr "$P" --steps nocache,cached
check '[ "$RC" = 0 ]' "the second run succeeds"
check 'grep "nocache |" "$WORK/out" | grep -q "Running in"' "no-cache runs the RUN again"
check '! grep "nocache |" "$WORK/out" | grep -q "Using cache"' "... without the cache"
check 'grep "cached  *|" "$WORK/out" | grep -q "Using cache"' "without no-cache the builder's cache is used"

# --cleanup-images: what the build made goes at the end, and the names brr gave it
drop_kept
run_brr "$P" --steps inline,nocache --cleanup-images
check '[ "$RC" = 0 ]' "a run with --cleanup-images succeeds"
nocache_id=$(grep "nocache *|" "$WORK/out" | grep -oE "Built image sha256:[0-9a-f]{64}" | awk '{print $3}')
check '[ -n "$nocache_id" ] && ! docker image inspect "$nocache_id" >/dev/null 2>&1' \
  "--cleanup-images removes the image the run built"
check '[ -z "$(docker images -q "$N-nocache:v1")" ] && [ -z "$(docker images -q "$N-inline:v1")" ]' \
  "... and the names the run gave"
no_leftovers "" "after --cleanup-images"

# failures: the builder's own message, and nothing left
cat >"$P/fail.yaml" <<EOF
steps:
  broken:
    build:
      dockerfile: |
        FROM {{ DOCKER_REGISTRY }}/busybox:latest
        RUN echo about to fail && false
    commit: {repository: $N-broken, tags: [v1]}
EOF
run_brr "$P" -f fail.yaml
check '[ "$RC" = 1 ]' "a failing RUN fails the run with exit 1 (got $RC)"
check 'grep -q "broken/build FAILED.*returned a non-zero code: 1" "$WORK/out"' "the error is the builder's errorDetail"
check 'grep -q "about to fail" "$WORK/out"' "the build output streamed before the failure"
no_leftovers "" "after a failed build"

cat >"$P/pull.yaml" <<EOF
steps:
  forced:
    build:
      pull: true
      dockerfile: |
        FROM $N-local-only:v1
EOF
docker tag "$REG/busybox:amd64" "$N-local-only:v1"
extra_cleanup+=("docker rmi $N-local-only:v1")
run_brr "$P" -f pull.yaml
check '[ "$RC" = 1 ]' "pull: true pulls even an image that exists locally (and fails offline)"
check 'grep -qiE "pull access denied|no such host|registry-1.docker.io" "$WORK/out"' "... the error is the pull's"
docker rmi "$N-local-only:v1" >/dev/null

cat >"$P/config.yaml" <<EOF
steps:
  badinject:
    build:
      path: ctx
      inject:
        "nothing/here/*.txt": x/
EOF
run_brr "$P" -f config.yaml
check '[ "$RC" = 78 ]' "an inject glob without a match is a configuration error (exit $RC)"
check 'grep -qE "config.yaml:[0-9]+:[0-9]+: .*Unable to expand inject glob: $P/nothing/here/\*.txt" "$WORK/out"' \
  "... named with file:line:col"
no_leftovers "" "after the failures"

# SIGTERM during a legacy build
cat >"$P/slow.yaml" <<EOF
steps:
  slow:
    build:
      dockerfile: |
        FROM {{ DOCKER_REGISTRY }}/busybox:latest
        RUN echo started-$ID; sleep 60
    commit: {repository: $N-slow, tags: [v1]}
EOF
interrupt_brr "$P" TERM "started-$ID\$" -f slow.yaml
check '[ "$RC" = 143 ]' "SIGTERM stops a legacy build with 143 (got $RC)"
no_leftovers "" "after SIGTERM"

[ -z "$had_arm64" ] && docker rmi "$REG/busybox:arm64" >/dev/null 2>&1
finish
