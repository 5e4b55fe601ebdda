#!/usr/bin/env bash
# --push against real registries started by the test (their access logs show the order of
# the manifest PUTs): the seed's `latest` race (every immutable tag pushed before any moving
# tag, `latest` and the global moving-tags), single- and multi-platform images pulled back by
# the tags they were pushed under; a failed immutable push keeps `latest` from being pushed;
# credentials from config.json `auths` and from a docker-credential-* helper against a
# registry that requires them, never printed.
. "$BRR_SOURCE_DIR/tests/e2e/build/lib.sh"

N="brr-e2e-$ID"

# A registry of our own: its access log is the record of what was pushed when. Its label is
# not brr's, so the leftover checks do not count it; the exit trap removes it.
start_registry() {  # [docker run args...] -> sets RID and RHOST
  RID=$(docker run -d --label "brr.testinfra=$ID" -p 127.0.0.1::5000 "$@" "$REG/registry:2")
  extra_cleanup+=("docker rm -fv $RID")
  local port
  port=$(docker port "$RID" 5000/tcp | head -n1 | sed 's/.*://')
  RHOST="127.0.0.1:$port"
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://$RHOST/v2/" && return 0
    sleep 0.1
  done
  echo "registry $RHOST did not start" >&2
  return 1
}

# Line numbers, in the registry's access log, of the manifest PUTs of repository $1 by tag.
manifest_puts() {
  docker logs "$RID" 2>&1 | grep -n "\"PUT /v2/$1/manifests/[^ ]* HTTP" | grep -v "/manifests/sha256:" |
    sed -E 's|^([0-9]+):.*/manifests/([^ ?]+) HTTP.*|\1 \2|'
}

start_registry
R1=$RHOST
RID1=$RID

# ---- the order of the pushes ----
P=$(project push)
printf 'docker-registry: %s\nmoving-tags: [stable]\n' "$REG" >"$P/.buildrunner.yaml"
cat >"$P/buildrunner.yaml" <<EOF
steps:
  single:
    build:
      dockerfile: |
        FROM {{ DOCKER_REGISTRY }}/busybox:latest
        RUN echo single-$ID > /which
    push:
      repository: $R1/$N-single
      tags: [v1, v2, latest, stable]
  multi:
    build:
      dockerfile: |
        FROM {{ DOCKER_REGISTRY }}/busybox:latest
        RUN uname -m > /which
      platforms: [linux/amd64, linux/arm64]
    push:
      repository: $R1/$N-multi
      tags: [v1, latest]
EOF
run_brr "$P" --push
check '[ "$RC" = 0 ]' "--push succeeds (exit $RC)"
for repo in "$N-single" "$N-multi"; do
  manifest_puts "$repo" >"$WORK/puts"
  last_immutable=$(awk '$2 != "latest" && $2 != "stable" {n=$1} END {print n+0}' "$WORK/puts")
  first_moving=$(awk '($2 == "latest" || $2 == "stable") && !m {m=$1} END {print m+0}' "$WORK/puts")
  check '[ "$last_immutable" -gt 0 ] && [ "$first_moving" -gt "$last_immutable" ]' \
    "$repo: the registry saw every immutable tag before latest/stable ($(tr '\n' ' ' <"$WORK/puts"))"
done
check 'grep -q "v2" <(manifest_puts "$N-single") && grep -q "stable" <(manifest_puts "$N-single")' \
  "every tag of the spec was pushed, the build tag and the global moving-tags included"

# artifacts.json in buildrunner's form (spec §9.8): the single-platform image by its
# 12-character id, key "<step>/<id>"; the multi-platform one by repository, short digests
single_id=$(grep "single *|" "$WORK/out" | grep -oE "Built image sha256:[0-9a-f]{64}" | awk '{print $3}')
check 'python3 - "$P/buildrunner.results/artifacts.json" "$single_id" "$R1/$N-single" "$R1/$N-multi" <<"PY"
import json, re, sys
a = json.load(open(sys.argv[1]))
short = sys.argv[2][len("sha256:"):][:12]
assert re.fullmatch("[0-9a-f]{12}", short), sys.argv[2]
keys = [k for k in a if k.startswith("single/")]
assert keys == ["single/" + short], keys
e = a["single/" + short]
assert e["type"] == "docker-image" and e["docker:image"] == short, e
assert e["docker:repository"] == sys.argv[3] and "v1" in e["docker:tags"], e
m = a[sys.argv[4]]
ids = m["docker:image"].split(",")
assert len(ids) == 2 and all(re.fullmatch("[0-9a-f]{12}", i) for i in ids), m
assert [p.split(":")[1] for p in m["docker:platforms"]] == ids, m
PY' "artifacts.json names images as buildrunner does (<step>/<12 hex>, short digests)"

# the trace: build-family nodes carry their phases, each inside its node's bar
check 'python3 - "$P/buildrunner.results/trace.json" <<"PY"
import json, sys
evs = json.load(open(sys.argv[1]))["traceEvents"]
nodes = {e["name"]: e for e in evs if e.get("ph") == "X" and e.get("cat") == "node"}
phases = {}
for p in (e for e in evs if e.get("cat") == "phase"):
    n = nodes[p["args"]["node"]]
    assert n["ts"] <= p["ts"] and p["ts"] + p["dur"] <= n["ts"] + n["dur"], (p, n)
    phases.setdefault(p["args"]["node"], set()).add(p["name"])
# (the trace has millisecond resolution and leaves out phases shorter than that: only the
# phases that take a build or a registry round trip are asked for)
want = {"single/build": {"build"}, "multi/build@linux/arm64": {"build"}, "multi/manifest": {"index"}}
for node, names in want.items():
    assert names <= phases.get(node, set()), (node, phases.get(node))
pushes = [n for n in nodes if n.startswith("push:")]
assert pushes and all("push" in phases.get(n, set()) for n in pushes), (pushes, phases)
PY' "trace.json: build, platform-build, manifest and push nodes show their phases"

# pulled back: the single image by both kinds of tag, the multi-platform one for each platform
docker rmi "$R1/$N-single:v1" "$R1/$N-single:latest" >/dev/null 2>&1
check '[ "$(docker run --rm "$R1/$N-single:latest" cat /which 2>/dev/null)" = "single-$ID" ]' "latest pulls back the image"
check '[ "$(docker run --rm "$R1/$N-single:v1" cat /which 2>/dev/null)" = "single-$ID" ]' "v1 pulls back the same image"
check '[ "$(docker image inspect -f "{{.Id}}" "$R1/$N-single:v1")" = "$(docker image inspect -f "{{.Id}}" "$R1/$N-single:latest")" ]' \
  "v1 and latest are one image"
for p in linux/amd64 linux/arm64; do
  want=$([ "$p" = linux/amd64 ] && echo x86_64 || echo aarch64)
  docker pull -q --platform "$p" "$R1/$N-multi:latest" >/dev/null 2>&1
  check '[ "$(docker run --rm --platform "$p" "$R1/$N-multi:latest" cat /which 2>/dev/null)" = "$want" ]' \
    "the multi-platform latest pulls back for $p"
done
no_leftovers "$R1/$N-[a-z]+:.*" "after the pushes"
drop_kept

# ---- a failed immutable push: latest is never pushed ----
cat >"$P/block.yaml" <<EOF
steps:
  s:
    build:
      dockerfile: |
        FROM {{ DOCKER_REGISTRY }}/busybox:latest
        RUN echo block-$ID > /which
    push:
      - {repository: $R1/$N-block, tags: [v1, latest]}
      - {repository: 127.0.0.1:9/$N-dead, tags: [v1]}
EOF
run_brr "$P" -f block.yaml --push
check '[ "$RC" = 1 ]' "a push that fails fails the run (exit $RC)"
check 'grep -q "push:$R1/$N-block:latest skipped" "$WORK/out"' "the latest push is skipped"
check '! manifest_puts "$N-block" | grep -q " latest$"' "the registry never saw a PUT of latest"
no_leftovers "$R1/$N-block:.*|127.0.0.1:9/$N-dead:.*" "after the failed push"
drop_kept

# ---- credentials: a registry that wants them ----
PW="pw-$ID"
mkdir -p "$WORK/auth"
/usr/bin/python3 -c 'import crypt,sys; print("brr:" + crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))' "$PW" \
  2>/dev/null >"$WORK/auth/htpasswd"
start_registry -v "$WORK/auth:/auth:ro" -e REGISTRY_AUTH=htpasswd -e REGISTRY_AUTH_HTPASSWD_REALM=brr \
  -e REGISTRY_AUTH_HTPASSWD_PATH=/auth/htpasswd
R2=$RHOST
cat >"$P/auth.yaml" <<EOF
steps:
  single:
    build:
      dockerfile: |
        FROM {{ DOCKER_REGISTRY }}/busybox:latest
        RUN echo auth-$ID > /which
    push: {repository: $R2/$N-auth, tags: [v1]}
  multi:
    build:
      dockerfile: |
        FROM {{ DOCKER_REGISTRY }}/busybox:latest
        RUN uname -m > /which
      platforms: [linux/amd64, linux/arm64]
    push: {repository: $R2/$N-authmp, tags: [v1]}
EOF
echo '{}' >"$DOCKER_CONFIG/config.json"
run_brr "$P" -f auth.yaml --push
check '[ "$RC" = 1 ]' "without credentials the registry refuses the pushes (exit $RC)"
check 'grep -qiE "no basic auth credentials|unauthorized|authentication required" "$WORK/out"' "... saying why"
drop_kept

# config.json auths
b64=$(printf 'brr:%s' "$PW" | base64 -w0)
printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$R2" "$b64" >"$DOCKER_CONFIG/config.json"
run_brr "$P" -f auth.yaml --push
check '[ "$RC" = 0 ]' "with config.json auths both pushes succeed (exit $RC)"
check 'curl -s -u "brr:$PW" "http://$R2/v2/$N-auth/tags/list" | grep -q "\"v1\""' "the single-platform image is in the registry"
check 'curl -s -u "brr:$PW" -H "Accept: application/vnd.oci.image.index.v1+json" "http://$R2/v2/$N-authmp/manifests/v1" | grep -q "arm64"' \
  "the multi-platform index is in the registry"
check '! grep -q "$PW" "$WORK/out" && ! grep -rq "$PW" "$P/buildrunner.results" && ! grep -q "$b64" "$WORK/out"' \
  "the password appears in no output and no log"
drop_kept

# a credential helper, asked by brr itself
mkdir -p "$WORK/bin"
cat >"$WORK/bin/docker-credential-brre2e" <<EOF
#!/bin/sh
[ "\$1" = get ] || exit 1
read -r server
echo "\$server" >> "$WORK/helper-asked"
printf '{"ServerURL":"%s","Username":"brr","Secret":"%s"}' "\$server" "$PW"
EOF
chmod +x "$WORK/bin/docker-credential-brre2e"
printf '{"credHelpers": {"%s": "brre2e"}}\n' "$R2" >"$DOCKER_CONFIG/config.json"
sed -i "s/tags: \[v1\]/tags: [v2]/" "$P/auth.yaml"
PATH="$WORK/bin:$PATH" run_brr "$P" -f auth.yaml --push
check '[ "$RC" = 0 ]' "with a credential helper both pushes succeed (exit $RC)"
check 'grep -qx "$R2" "$WORK/helper-asked"' "the helper was asked for this registry"
check 'curl -s -u "brr:$PW" "http://$R2/v2/$N-authmp/tags/list" | grep -q "\"v2\""' "the helper's credentials pushed the index"
check '! grep -q "$PW" "$WORK/out" && ! grep -rq "$PW" "$P/buildrunner.results"' "the helper's secret is never printed"
no_leftovers "$R2/$N-[a-z]+:.*" "after the authenticated pushes"
drop_kept
finish
