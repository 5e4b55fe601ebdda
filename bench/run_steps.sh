#!/usr/bin/env bash
# What a run step costs brr, against the container it runs, measured in the same run:
#  1. N trivial run steps (`true`) with `brr -j 1`, against the same N containers made by a
#     shell loop of `docker run --rm` (ratio brr / docker; target <= 1.5);
#  2. M independent `sleep 2` steps with the default -j (and with -j M), against one such
#     step alone (ratio wall / one step; target <= 1.5), and against M `docker run --rm`
#     started at once (what the engine itself takes for M containers on this machine).
# Part 1 alternates brr and the loop for R rounds and keeps each side's best, so a burst of
# load from elsewhere on the machine does not decide the ratio.
# usage: bench/run_steps.sh [build-dir] [N] [M] [R]     (needs the Docker test environment)
set -euo pipefail
build=${1:-build}
n=${2:-20}
m=${3:-16}
rounds=${4:-3}
. "$(dirname "$0")/run_steps_lib.sh"

# 1. sequential cost per step
project "$tmp/seq" "$n" true
brr_seq= docker_seq=
for _ in $(seq "$rounds"); do
  t0=$(ms)
  "$brr" -d "$tmp/seq" -j 1 >/dev/null 2>&1
  t=$(($(ms) - t0))
  keep_min brr_seq "$t"
  t0=$(ms)
  for _ in $(seq "$n"); do docker run --rm "$image" true; done
  t=$(($(ms) - t0))
  keep_min docker_seq "$t"
done
echo "brr_run_steps_j1_ms $brr_seq   ($n steps, best of $rounds)"
echo "docker_run_rm_loop_ms $docker_seq   ($n containers, best of $rounds)"
echo "per step: brr $((brr_seq / n)) ms, docker run --rm $((docker_seq / n)) ms"
echo "ratio brr -j 1 / docker run loop: $(ratio "$brr_seq" "$docker_seq")x   (target <= 1.5)"

# 2. independent sleepers
project "$tmp/one" 1 "sleep 2"
project "$tmp/par" "$m" "sleep 2"
t0=$(ms)
"$brr" -d "$tmp/one" >/dev/null 2>&1
one=$(($(ms) - t0))
t0=$(ms)
"$brr" -d "$tmp/par" >/dev/null 2>&1
par=$(($(ms) - t0))
t0=$(ms)
"$brr" -d "$tmp/par" -j "$m" >/dev/null 2>&1
parj=$(($(ms) - t0))
t0=$(ms)
for _ in $(seq "$m"); do docker run --rm "$image" sleep 2 & done
wait
peer=$(($(ms) - t0))
echo "one_sleep_step_ms $one"
echo "sleep_steps_default_j_ms $par   ($m steps, -j default)"
echo "sleep_steps_j${m}_ms $parj   ($m steps, -j $m)"
echo "ratio $m steps / one step, default -j: $(ratio "$par" "$one")x   (target <= 1.5)"
echo "ratio $m steps / one step, -j $m:      $(ratio "$parj" "$one")x"
echo "docker_run_rm_${m}_at_once_ms $peer   (the engine's own floor for $m sleepers)"
echo "ratio brr -j $m / $m docker run --rm at once: $(ratio "$parj" "$peer")x"
