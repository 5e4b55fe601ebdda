#!/usr/bin/env bash
# A two-platform image (linux/amd64 and emulated linux/arm64, one RUN each) built by brr and
# by the two `docker buildx build` commands a user would run one after the other, in the same
# run, each without cache. Prints the times and the ratio of brr to the two commands started at
# once by hand (target: at most 1.15, issue 15), to the slower platform alone and to the two
# commands in a row. The RUN is a shell loop of
# LOOP iterations (default 200000: about 0.2 s natively, 2.3 s under qemu), so the build is
# dominated by its work, as real builds are, not by the fixed cost of a container start.
# usage: bench/build_mp.sh [build-dir] [rounds]      (needs the Docker test environment)
set -euo pipefail
build=${1:-build}
rounds=${2:-3}
loop=${LOOP:-200000}
brr=$(cd "$build" && pwd)/brr
[ -x "$brr" ] || { echo "build first: $brr is missing" >&2; exit 2; }
docker buildx version >/dev/null 2>&1 || { echo "the peer needs docker buildx" >&2; exit 2; }

work=$(mktemp -d /tmp/brr-bench-mp.XXXXXX)
label="brr.bench=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
cleanup() {
  docker ps -aq --filter "label=$label" | xargs -r docker rm -fv >/dev/null 2>&1 || true
  docker images -q --filter "label=$label" | sort -u | xargs -r docker rmi -f >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/proj"
cat >"$work/proj/Dockerfile" <<'EOF'
ARG DOCKER_REGISTRY
FROM ${DOCKER_REGISTRY}/busybox:latest
ARG NONCE
ARG LOOP
RUN echo "$NONCE" > /nonce && uname -m > /arch && i=0 && while [ $i -lt "$LOOP" ]; do i=$((i+1)); done
EOF
echo "docker-registry: 127.0.0.1:5000" >"$work/proj/.buildrunner.yaml"

ms() { date +%s%3N; }

brr_round() {
  cat >"$work/proj/buildrunner.yaml" <<EOF
steps:
  image:
    build:
      path: .
      no-cache: true
      buildargs: {NONCE: "$1", LOOP: "$loop"}
      platforms: [linux/amd64, linux/arm64]
EOF
  local t0; t0=$(ms)
  (cd "$work/proj" && BRR_MASTER_CONFIG=/nonexistent BRR_USER_CONFIG=/nonexistent \
     "$brr" --progress plain --container-labels "$label" >"$work/brr.log" 2>&1) ||
    { cat "$work/brr.log" >&2; exit 1; }
  echo $(( $(ms) - t0 ))
}

buildx_one() {  # platform nonce -> ms
  local t0; t0=$(ms)
  docker buildx build "$work/proj" --platform "$1" --load --no-cache --progress plain \
    --build-arg DOCKER_REGISTRY=127.0.0.1:5000 --build-arg NONCE="$2" --build-arg LOOP="$loop" \
    --label "$label" --tag "brr-bench-mp:${1//\//-}" >"$work/buildx.log" 2>&1 ||
    { cat "$work/buildx.log" >&2; exit 1; }
  echo $(( $(ms) - t0 ))
}

buildx_both() {  # nonce -> ms: the two commands at once, by hand
  local t0; t0=$(ms)
  buildx_one linux/amd64 "$1" >/dev/null &
  local p1=$!
  buildx_one linux/arm64 "$1" >/dev/null &
  local p2=$!
  wait "$p1" "$p2"
  echo $(( $(ms) - t0 ))
}

best_brr=; best_amd=; best_arm=; best_seq=; best_par=
ratios=()
min() { if [ -z "$1" ] || [ "$2" -lt "$1" ]; then echo "$2"; else echo "$1"; fi; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
for r in $(seq "$rounds"); do
  nonce="$r-$(date +%s%N)"
  # brr and the two commands at once by hand back to back, so both see the same load
  b=$(brr_round "$nonce")
  p=$(buildx_both "par-$nonce")
  a=$(buildx_one linux/amd64 "$nonce")
  m=$(buildx_one linux/arm64 "$nonce")
  ratios+=("$(ratio "$b" "$p")")
  echo "round $r: brr ${b} ms; docker buildx both at once by hand ${p} ms (ratio ${ratios[-1]});" \
       "amd64 ${a} ms, arm64 ${m} ms, one after the other $((a + m)) ms"
  best_brr=$(min "$best_brr" "$b"); best_amd=$(min "$best_amd" "$a"); best_arm=$(min "$best_arm" "$m")
  best_seq=$(min "$best_seq" $((a + m))); best_par=$(min "$best_par" "$p")
done
slower=$(( best_amd > best_arm ? best_amd : best_arm ))
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
echo "best of $rounds: brr ${best_brr} ms, amd64 ${best_amd} ms, arm64 ${best_arm} ms, both in a row" \
     "${best_seq} ms, both at once by hand ${best_par} ms"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores (parallel builds need idle cores)"
echo "ratio brr / both buildx commands at once by hand: median of the rounds ${median}, best against best" \
     "$(ratio "$best_brr" "$best_par") (target <= 1.15)"
echo "ratio brr / slower platform alone: $(ratio "$best_brr" "$slower")"
echo "ratio brr / both buildx commands in a row: $(ratio "$best_brr" "$best_seq")"
