#!/usr/bin/env bash
# /artifacts on an engine of another host. Two engines: the default one, and a TLS engine of
# the test's own (tests/e2e/lib/tls_engine.sh) reached at its bridge address, so that brr
# takes it for an engine of another host. A producer step with `files:` (a bind mount of this
# host's paths) can only run on the default engine; it writes binary and nested artifacts.
# A consumer step, placed on the TLS engine (listed first, both idle), reads them at
# /artifacts/<producer>/ and gets the same bytes: they went in through the archive API, no
# path of this host is bind-mounted into that engine's containers (that engine being on this
# machine after all, a bind would work too: /proc/self/mountinfo in the container shows
# there is none, while the producer's shows its bind), and nothing is left on
# either engine. A step with ssh-keys and only that engine is a configuration error naming
# the step and the engine (exit 78).
. "$BRR_SOURCE_DIR/tests/e2e/build/lib.sh"
. "$BRR_SOURCE_DIR/tests/e2e/lib/tls_engine.sh"

extra_cleanup+=("tls_engine_stop")
if ! tls_engine_start "$WORK/engine"; then
  fail "the TLS engine did not start"
  tail -n 30 "$WORK/engine/dockerd.log" 2>/dev/null | sed 's/^/    | /'
  finish
fi
pass "a second engine listens on $TLS_ENGINE_BRIDGE_HOST (TLS only)"

P=$(project remote-artifacts)
cat >>"$P/.buildrunner.yaml" <<EOF
local-files:
  data: $P/data
engines:
  far:
    host: $TLS_ENGINE_BRIDGE_HOST
    tls-verify: true
    cert-path: $TLS_ENGINE_CERTS
    jobs: 2
  here:
    context: default
    jobs: 2
EOF
mkdir -p "$P/data"
echo "from-the-host-$ID" >"$P/data/seed.txt"
cat >"$P/buildrunner.yaml" <<EOF
steps:
  prod:
    run:
      image: {{ DOCKER_REGISTRY }}/busybox:latest
      files:
        data: /data
      cmd: 'head -c 300000 /dev/urandom > blob.bin && mkdir -p sub/deeper && cp /data/seed.txt sub/deeper/seed.txt && { grep " /artifacts " /proc/self/mountinfo > mounts.txt || true; }'
      artifacts:
        blob.bin: {}
        mounts.txt: {}
        sub: {type: directory, compression: gz, format: uncompressed}
  cons:
    run:
      image: {{ DOCKER_REGISTRY }}/busybox:latest
      cmd: 'cat /artifacts/prod/blob.bin > copy.bin && cat /artifacts/prod/sub/deeper/seed.txt > seed-copy.txt && ls /artifacts > listing.txt && { grep " /artifacts " /proc/self/mountinfo > mounts.txt || true; }'
      artifacts:
        mounts.txt: {}
        copy.bin: {}
        seed-copy.txt: {}
        listing.txt: {}
EOF

tls_engine_pool_run "$P" "$LABEL"
sanitizer_guard
check '[ "$RC" = 0 ]' "the run over the two engines succeeds (exit $RC) $(tail -c 300 "$WORK/err")"
check 'grep -qx "prod/run here" "$WORK/where" && grep -qx "cons/run far" "$WORK/where"' \
  "the producer ran on the default engine, the consumer on the TLS one ($(tr '\n' ' ' <"$WORK/where"))"
R=$P/buildrunner.results
check '[ -s "$R/prod/blob.bin" ] && cmp -s "$R/prod/blob.bin" "$R/cons/copy.bin"' \
  "the consumer read the producer's 300 kB of random bytes at /artifacts/prod/blob.bin, unchanged"
check '[ "$(cat "$R/cons/seed-copy.txt" 2>/dev/null)" = "from-the-host-$ID" ]' \
  "... and a file two directories down (/artifacts/prod/sub/deeper/seed.txt)"
check 'grep -qx prod "$R/cons/listing.txt"' "/artifacts lists the producer's directory ($(tr '\n' ' ' <"$R/cons/listing.txt" 2>/dev/null))"
check '[ -s "$R/prod/mounts.txt" ] && [ -e "$R/cons/mounts.txt" ] && [ ! -s "$R/cons/mounts.txt" ]' \
  "/artifacts is a bind mount on the default engine, and no mount at all on the TLS one ($(cat "$R/cons/mounts.txt" 2>/dev/null))"
left=$(tls_engine_leftovers "$LABEL" '^$')
check '[ -z "$left" ]' "nothing is left on the TLS engine${left:+ (left: $left)}"
check '[ -z "$(tls_engine_docker ps -aq)" ]' "no container at all on the TLS engine"
DOCKER_CONTEXT= DOCKER_HOST= no_leftovers "^$" "on the default engine"

# ---- ssh-keys bind-mount an agent socket of this host: only the remote engine is an error ----
cat >"$P/.buildrunner.yaml" <<EOF
docker-registry: $REG
ssh-keys:
  - file: $P/data/seed.txt
    aliases: [deploy]
engines:
  far:
    host: $TLS_ENGINE_BRIDGE_HOST
    tls-verify: true
    cert-path: $TLS_ENGINE_CERTS
EOF
cat >"$P/buildrunner.yaml" <<EOF
steps:
  needs-agent:
    run:
      image: {{ DOCKER_REGISTRY }}/busybox:latest
      cmd: 'true'
      ssh-keys: [deploy]
EOF
run_brr "$P"
check '[ "$RC" = 78 ]' "a step with ssh-keys and only an engine of another host: exit 78 (got $RC)"
check 'grep -q "buildrunner.yaml:6:[0-9]*: .*step '"'"'needs-agent'"'"': \`ssh-keys\` bind-mounts the socket" "$WORK/out" && grep -q "far ($TLS_ENGINE_BRIDGE_HOST)" "$WORK/out"' \
  "... naming the step, the engine and the key's place"
left=$(tls_engine_leftovers "$LABEL" '^$')
check '[ -z "$left" ]' "nothing was created for it${left:+ (left: $left)}"
finish
