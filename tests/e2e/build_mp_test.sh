#!/usr/bin/env bash
# Multi-platform builds against the real engine, buildx and registries: the seed's scenario
# (a multi-platform base and a multi-platform step FROM it, which buildrunner's guide says
# fails for non-native platforms), pushed as OCI indexes and read back from the registry,
# each platform pulled and run to find the base's content of its own platform; the native
# image tagged locally for a single-platform consumer; artifacts.json entries; --platform and
# --disable-multi-platform collapsing the platforms; nothing left behind.
. "$BRR_SOURCE_DIR/tests/e2e/build/lib.sh"

P=$(project mp)
N="brr-e2e-$ID"
cat >"$P/buildrunner.yaml" <<EOF
steps:
  build-base:
    build:
      dockerfile: |
        FROM {{ DOCKER_REGISTRY }}/busybox:latest
        RUN uname -m > /base-arch
      platforms:
        - linux/amd64
        - linux/arm64/v8
    push:
      repository: $REG/$N-image1
      tags: [v1]
  build-from-base:
    build:
      # as in the seed: FROM the base's build tag
      dockerfile: |
        FROM $REG/$N-image1:{{ BUILDRUNNER_BUILD_DOCKER_TAG }}
        RUN cat /base-arch > /seen && uname -m >> /seen
      platforms:
        - linux/amd64
        - linux/arm64/v8
    push:
      repository: $REG/$N-image2
      tags: [v1]
  single:
    build:
      dockerfile: |
        FROM $REG/$N-image2:v1
        RUN echo "single saw \$(cat /seen | tr '\\n' ' ')"
EOF

# ---- the graph: collapsing the platforms (no Docker involved) ----
platforms_of() { python3 -c 'import json,sys; g=json.load(sys.stdin); print(" ".join(sorted(n["platform"] for n in g["nodes"] if n["kind"]=="platform-build" and n["step"]=="build-base")))'; }
(cd "$P" && "$BRR" --graph=json) | platforms_of >"$WORK/g1"
check '[ "$(cat "$WORK/g1")" = "linux/amd64 linux/arm64/v8" ]' "one platform-build node per platform"
(cd "$P" && "$BRR" --graph=json --platform linux/arm64/v8) | platforms_of >"$WORK/g2"
check '[ "$(cat "$WORK/g2")" = "linux/arm64/v8" ]' "--platform collapses the platforms to itself"
(cd "$P" && "$BRR" --graph=json --disable-multi-platform) | platforms_of >"$WORK/g3"
check '[ "$(cat "$WORK/g3")" = "linux/amd64" ]' "--disable-multi-platform keeps the native platform"
printf 'docker-registry: %s\ndisable-multi-platform: true\n' "$REG" >"$WORK/global-dmp.yaml"
(cd "$P" && "$BRR" --graph=json -c "$WORK/global-dmp.yaml") | platforms_of >"$WORK/g4"
check '[ "$(cat "$WORK/g4")" = "linux/amd64" ]' "so does the global disable-multi-platform"

# ---- the seed's scenario, pushed ----
run_brr "$P" --push
check '[ "$RC" = 0 ]' "a multi-platform step FROM another multi-platform step builds (exit $RC)"
check 'grep -q "\[linux/arm64/v8\] .*FROM 127.0.0.1:[0-9]*/buildrunner-mp-" <(grep "build-from-base |" "$WORK/out")' \
  "its arm64 build starts FROM the base's arm64 image in the build registry"
check 'grep -q "\[linux/amd64\]" "$WORK/out" && grep -q "\[linux/arm64/v8\]" "$WORK/out"' \
  "buildx output is prefixed with the platform"

# the registry holds an OCI index of both platforms
curl -s -H "Accept: application/vnd.oci.image.index.v1+json" "http://$REG/v2/$N-image2/manifests/v1" >"$WORK/index.json"
check 'python3 -c "import json,sys; i=json.load(open(sys.argv[1])); assert i[\"mediaType\"]==\"application/vnd.oci.image.index.v1+json\"; p=sorted((m[\"platform\"][\"architecture\"], m[\"platform\"].get(\"variant\",\"\")) for m in i[\"manifests\"]); assert p==[(\"amd64\",\"\"),(\"arm64\",\"v8\")], p" "$WORK/index.json"' \
  "the pushed tag is an OCI index over amd64 and arm64/v8"

# the native image was tagged locally under the step's tags
check '[ "$(docker image inspect -f "{{.Architecture}}" "$REG/$N-image2:v1")" = amd64 ]' \
  "the native platform's image is tagged locally"
check 'grep -q "single *| single saw x86_64 x86_64" "$WORK/out"' \
  "a single-platform step (no commit: buildrunner forbids re-tagging) builds on the local native image"

# every platform, pulled back from the registry, found the base of its own platform
for p in linux/amd64 linux/arm64; do
  want=$([ "$p" = linux/amd64 ] && echo "x86_64 x86_64 " || echo "aarch64 aarch64 ")
  docker pull -q --platform "$p" "$REG/$N-image2:v1" >/dev/null 2>&1
  got=$(docker run --rm --platform "$p" "$REG/$N-image2:v1" cat /seen | tr '\n' ' ')
  check '[ "$got" = "$want" ]' "pulled for $p, the image holds its own platform's base (\"$got\")"
done
docker pull -q --platform linux/arm64 "$REG/$N-image1:v1" >/dev/null 2>&1
check '[ "$(docker run --rm --platform linux/arm64 "$REG/$N-image1:v1" cat /base-arch)" = aarch64 ]' \
  "the base pushed for arm64 holds the arm64 build"

# artifacts.json: one entry per pushed repository, its platforms with short digests
check 'python3 - "$P/buildrunner.results/artifacts.json" "$REG/$N-image2" <<"PY"
import json, re, sys
a = json.load(open(sys.argv[1]))[sys.argv[2]]
assert a["type"] == "docker-image" and a["docker:repository"] == sys.argv[2], a
assert "v1" in a["docker:tags"], a
ids = a["docker:image"].split(",")
assert len(ids) == 2 and all(re.fullmatch("[0-9a-f]{12}", i) for i in ids), a
assert [p.rsplit(":", 1)[0] for p in a["docker:platforms"]] == ["linux/amd64", "linux/arm64/v8"], a
assert [p.rsplit(":", 1)[1] for p in a["docker:platforms"]] == ids, a
PY' "artifacts.json has the multi-platform entry (platforms and 12-character digests)"

no_leftovers "($REG/)?$N-[a-z0-9]+:.*" "after the multi-platform run"
# the per-platform images are named by the run's uuid (in the pushed refs): none is left
uuids=$(grep -oE "Pushed [^ ]*buildrunner-mp-[^:]*:[0-9a-f-]{36}" "$WORK/out" | grep -oE "[0-9a-f-]{36}$" | sort -u)
check '[ -n "$uuids" ] && ! docker images --format "{{.Repository}}:{{.Tag}}" | grep -F -- "$uuids"' \
  "no per-platform image of this run is left"
drop_kept

# ---- --platform: one platform only, through the same path ----
run_brr "$P" --steps build-base --platform linux/arm64/v8
check '[ "$RC" = 0 ]' "--platform builds the one platform"
check '! grep -q "\[linux/amd64\]" "$WORK/out" && grep -q "\[linux/arm64/v8\]" "$WORK/out"' "... and no other"
check '[ "$(docker image inspect -f "{{.Architecture}}" "$REG/$N-image1:v1")" = arm64 ]' \
  "... and tags that platform's image locally"
no_leftovers "($REG/)?$N-[a-z0-9]+:.*" "after the --platform run"
drop_kept

# ---- a configured build-registry, several repositories per step, tags as buildrunner makes them ----
cat >"$WORK/global-breg.yaml" <<EOF
docker-registry: $REG
build-registry: $REG
EOF
cat >"$P/many.yaml" <<EOF
steps:
  many:
    build:
      dockerfile: |
        FROM {{ DOCKER_REGISTRY }}/busybox:latest
        RUN uname -m > /arch
      platforms: [linux/amd64, linux/arm64]
    push:
      - {repository: $REG/$N-Many, tags: [v1]}
      - {repository: $REG/$N-many2, tags: [Feature/X], add_build_tag: false}
EOF
run_brr "$P" -f many.yaml -c "$WORK/global-breg.yaml" --push
check '[ "$RC" = 0 ]' "a configured build-registry is used (exit $RC)"
check 'grep -q "Build registry at $REG" "$WORK/out" && ! grep -q "Pulling .*registry:2" "$WORK/out"' \
  "... and no registry container is started"
tags1=$(curl -s "http://$REG/v2/$N-many/tags/list")
tags2=$(curl -s "http://$REG/v2/$N-many2/tags/list")
check 'grep -q "\"v1\"" <<<"$tags1" && grep -q "unknown-" <<<"$tags1"' \
  "the repository is lower-cased and gets the build tag ($tags1)"
check '[ "$(python3 -c "import json,sys; print(sorted(json.loads(sys.argv[1])[\"tags\"]))" "$tags2")" = "['"'"'feature-x'"'"']" ]' \
  "add_build_tag: false keeps only the sanitised tag ($tags2)"
no_leftovers "($REG/)?$N-[a-z0-9]+:.*" "after a run with a configured build-registry"
drop_kept

# ---- SIGINT while the platforms build: everything made so far goes ----
cat >"$P/slow.yaml" <<EOF
steps:
  slow:
    build:
      dockerfile: |
        FROM {{ DOCKER_REGISTRY }}/busybox:latest
        RUN echo started-$ID; sleep 60
      platforms: [linux/amd64, linux/arm64]
    commit: {repository: $N-slow, tags: [v1]}
EOF
interrupt_brr "$P" INT "started-$ID\$" -f slow.yaml
check '[ "$RC" = 130 ]' "SIGINT stops a multi-platform build with 130 (got $RC)"
check '! pgrep -f "buildx build .*brr.test=$ID" >/dev/null' "no buildx process is left"
no_leftovers "" "after SIGINT (the build registry included)"
finish
