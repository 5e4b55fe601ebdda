#!/usr/bin/env bash
# Incremental runs (docs/incremental.md): a no-op re-run of a pipeline of N run steps, each
# with an artifact, over a source tree of F files, against its first run. The first run
# hashes every file and records each step's outputs; the re-run stats the tree (the file-hash
# cache), finds every input unchanged and restores the artifacts from the store. A third run
# without --incremental runs everything again, for comparison. Times are wall clock.
# usage: bench/incremental.sh [build-dir] [N=50] [F=10000]   (needs the Docker test environment)
set -euo pipefail
build=${1:-build}
n=${2:-50}
files=${3:-10000}
. "$(dirname "$0")/run_steps_lib.sh"
# the state and the store of this bench only
export XDG_CACHE_HOME=$tmp/cache

dir=$tmp/project
mkdir -p "$dir"
echo "docker-registry: 127.0.0.1:5000" >"$dir/.buildrunner.yaml"
{
  echo "steps:"
  for i in $(seq "$n"); do
    printf '  s%02d:\n    run:\n      image: %s\n      pull: false\n' "$i" "$image"
    printf '      cmd: "ls src/d%d | wc -l > out.txt"\n      artifacts:\n        out.txt:\n' $((i % 100))
  done
} >"$dir/buildrunner.yaml"
# F small files in 100 directories
python3 - "$dir/src" "$files" <<'PYEOF'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, f"d{i % 100}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i}.txt"), "w") as f:
        f.write(f"file {i}\n" * 8)
PYEOF

run() {
  local t0 rc
  t0=$(ms)
  set +e
  "$brr" -d "$dir" "$@" >"$tmp/out" 2>&1
  rc=$?
  set -e
  [ "$rc" -eq 0 ] || { tail -20 "$tmp/out" >&2; echo "brr failed ($rc)" >&2; exit 1; }
  echo $(($(ms) - t0))
}

first=$(run --incremental)
noop=$(run --incremental)
reused=$(grep -c "reused in" "$tmp/out" || true)
noop2=$(run --incremental)
full=$(run)
echo "pipeline: $n run steps with an artifact each, source tree of $files files"
echo "first_incremental_run_ms $first   (hashes every file, records every step)"
echo "noop_incremental_rerun_ms $noop   ($reused of $n steps reused)"
echo "noop_incremental_rerun_again_ms $noop2"
echo "run_without_incremental_ms $full"
frac() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f (%.0f times faster)", a / b, b / a }'; }
echo "ratio no-op re-run / first run: $(frac "$noop" "$first")"
echo "ratio no-op re-run / run without --incremental: $(frac "$noop" "$full")"
