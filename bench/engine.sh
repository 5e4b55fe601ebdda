#!/usr/bin/env bash
# Container lifecycles through brr's engine client against `docker run --rm`, measured in
# the same run: N lifecycles of busybox `true`, one after the other and all at once.
# usage: bench/engine.sh [build-dir] [N]     (needs the Docker test environment)
set -euo pipefail
build=${1:-build}
n=${2:-20}
image=127.0.0.1:5000/busybox:amd64
bin=$build/bench/bench_engine_lifecycle
[ -x "$bin" ] || { echo "build first: $bin is missing" >&2; exit 2; }
command -v docker >/dev/null || { echo "the peer needs the docker CLI" >&2; exit 2; }

ms() { date +%s%3N; }

out=$("$bin" "$n" "$image")
echo "$out"
brr_seq=$(awk '/^brr_sequential_ms/ {print $2}' <<<"$out")
brr_conc=$(awk '/^brr_concurrent_ms/ {print $2}' <<<"$out")

t0=$(ms)
for _ in $(seq "$n"); do docker run --rm "$image" true; done
docker_seq=$(( $(ms) - t0 ))
t0=$(ms)
for _ in $(seq "$n"); do docker run --rm "$image" true & done
wait
docker_conc=$(( $(ms) - t0 ))
echo "docker_run_sequential_ms $docker_seq"
echo "docker_run_concurrent_ms $docker_conc"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "ratio sequential (docker run loop / brr sequential): $(ratio "$docker_seq" "$brr_seq")x"
echo "ratio concurrent (docker run & / brr concurrent):    $(ratio "$docker_conc" "$brr_conc")x"
echo "ratio brr concurrent vs docker run loop:             $(ratio "$docker_seq" "$brr_conc")x"
