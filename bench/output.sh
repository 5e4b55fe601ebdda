#!/usr/bin/env bash
# What a step's output costs brr, against the docker CLI streaming the same output:
# a run step printing BYTES (default 20 MB) of LINE-byte lines (default 2: "x\n") with
# --progress=plain to /dev/null (build.log and the step's log written as always), against
# `docker run --rm <image> sh -c '<same command>' > /dev/null`. Prints each side's CPU
# (user + sys of the client process and its children, not the engine's), brr's CPU per
# line, and the ratio. Best of R rounds each. Target: brr <= 2.5 s CPU for 20 MB of
# 2-byte lines.
# usage: bench/output.sh [build-dir] [BYTES] [LINE] [R]     (needs the Docker test environment)
set -euo pipefail
build=${1:-build}
bytes=${2:-20000000}
line=${3:-2}
rounds=${4:-3}
brr=$(realpath "$build/brr")
image=127.0.0.1:5000/busybox:latest
[ -x "$brr" ] || { echo "build first: $brr is missing" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (Debian package time)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export BRR_MASTER_CONFIG=/nonexistent BRR_USER_CONFIG=/nonexistent
# a line is LINE-1 'x' and a newline; busybox has yes and head -c
payload=$(printf 'x%.0s' $(seq $((line - 1))))
cmd="yes $payload | head -c $bytes"
mkdir -p "$tmp/p"
echo "docker-registry: 127.0.0.1:5000" >"$tmp/p/.buildrunner.yaml"
printf 'steps:\n  out:\n    run:\n      image: %s\n      pull: false\n      cmd: "%s"\n' "$image" "$cmd" >"$tmp/p/buildrunner.yaml"
docker pull -q "$image" >/dev/null
cpu() { awk '{ printf "%.2f", $1 + $2 }' "$1"; }
best() { awk -v a="$1" -v b="$2" 'BEGIN { print (b == "" || a < b) ? a : b }'; }
brr_cpu= docker_cpu=
for _ in $(seq "$rounds"); do
  /usr/bin/time -f '%U %S' -o "$tmp/t" "$brr" -d "$tmp/p" --progress=plain >/dev/null 2>"$tmp/err" ||
    { cat "$tmp/err" >&2; exit 1; }
  got=$(wc -c <"$tmp/p/buildrunner.results/logs/out.log")
  brr_cpu=$(best "$(cpu "$tmp/t")" "$brr_cpu")
  /usr/bin/time -f '%U %S' -o "$tmp/t" docker run --rm "$image" sh -c "$cmd" >/dev/null
  docker_cpu=$(best "$(cpu "$tmp/t")" "$docker_cpu")
done
lines=$((bytes / line))
echo "step log bytes: $got (step printed $bytes; the log adds brr's start and end lines)"
echo "brr_output_cpu_s $brr_cpu   ($bytes bytes in $lines lines, --progress=plain > /dev/null, best of $rounds)"
echo "docker_run_cpu_s $docker_cpu   (docker run --rm ... > /dev/null, best of $rounds)"
awk -v c="$brr_cpu" -v n="$lines" 'BEGIN { printf "brr CPU per line: %.0f ns\n", c * 1e9 / n }'
awk -v a="$brr_cpu" -v b="$docker_cpu" 'BEGIN { printf "ratio brr / docker run: %.2fx   (target: brr <= 2.5 s)\n", a / b }'
