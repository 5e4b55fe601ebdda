#!/usr/bin/env bash
# Template engine speed: brr against Jinja2 (Debian's python3-jinja2, set up as buildrunner
# does) rendering the same 5,000-step buildrunner.yaml, measured in the same run, process
# start included. Checks both outputs are identical first, then prints the ratio.
#   bench/template.sh [BUILD_DIR]      (default: build; needs bench_template_render)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
build=${1:-$src/build}
brr_bin=$build/bench/bench_template_render
tmpl=$here/template_steps.j2
vars=$here/template_steps.json
python=/usr/bin/python3
oracle=$src/tools/jinja_oracle.py

[ -x "$brr_bin" ] || { echo "missing $brr_bin: build first (ninja -C $build)" >&2; exit 2; }
export TZ=UTC

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$brr_bin" "$tmpl" "$vars" > "$tmp/brr.out"
"$python" "$oracle" render "$tmpl" "$vars" > "$tmp/jinja.out"
if ! cmp -s "$tmp/brr.out" "$tmp/jinja.out"; then
  echo "outputs differ:" >&2
  diff "$tmp/jinja.out" "$tmp/brr.out" | head -20 >&2
  exit 1
fi
echo "outputs identical: $(wc -l < "$tmp/brr.out") lines, $(wc -c < "$tmp/brr.out") bytes"

brr_cmd="$brr_bin $tmpl $vars -q"
jinja_cmd="$python $oracle render $tmpl $vars"
if command -v hyperfine > /dev/null; then
  hyperfine -N --warmup 3 --min-runs 20 --export-json "$tmp/h.json" "$brr_cmd" "$jinja_cmd" > "$tmp/h.txt" 2>&1 ||
    { cat "$tmp/h.txt"; exit 1; }
  read -r brr_s jinja_s < <("$python" -c '
import json, sys
r = json.load(open(sys.argv[1]))["results"]
print(r[0]["mean"], r[1]["mean"])' "$tmp/h.json")
else
  runs=20
  t0=$(date +%s.%N); for _ in $(seq $runs); do $brr_cmd > /dev/null; done; t1=$(date +%s.%N)
  for _ in $(seq $runs); do $jinja_cmd > /dev/null; done; t2=$(date +%s.%N)
  brr_s=$(echo "($t1 - $t0) / $runs" | bc -l)
  jinja_s=$(echo "($t2 - $t1) / $runs" | bc -l)
fi
"$python" -c '
import sys
b, j = float(sys.argv[1]), float(sys.argv[2])
print(f"brr    {b * 1000:8.2f} ms per render (process included)")
print(f"jinja2 {j * 1000:8.2f} ms per render (process included)")
print(f"ratio  {j / b:8.1f}x  (target: >= 10x)")' "$brr_s" "$jinja_s"

# the engine alone, without process start-up, for reference
start=$(date +%s%N)
"$brr_bin" "$tmpl" "$vars" -q -n 20
end=$(date +%s%N)
echo "brr engine alone: $(( (end - start) / 20 / 1000 )) us per render (20 renders in one process)"
