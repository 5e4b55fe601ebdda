#!/usr/bin/env bash
# A run step against `docker run --rm` of the same image and command, in the same run
# (issue 15; targets: <= 1.15 at -j 1, <= 1.1 wide):
#  1. 10 and 20 trivial steps (`true`) with `brr -j 1`, against a shell loop of as many
#     `docker run --rm`;
#  2. 32 trivial steps with brr's default -j, against `xargs -P16 docker run --rm` of 32;
#  3. 10 steps of three `cmds` (`true` each) with `brr -j 1`, against a loop of as many
#     `docker run --rm <image> sh -c 'true; true; true'` (the same work in one container).
# Each pair alternates brr and the peer for R rounds and keeps each side's best, so a burst of
# load from elsewhere on the machine does not decide the ratio.
# usage: bench/run_steps_peer.sh [build-dir] [R]     (needs the Docker test environment)
set -euo pipefail
build=${1:-build}
rounds=${2:-3}
. "$(dirname "$0")/run_steps_lib.sh"

# a project of `count` steps, each with three `cmds: true`
project_cmds() {
  local dir=$1 count=$2
  mkdir -p "$dir"
  echo "docker-registry: 127.0.0.1:5000" >"$dir/.buildrunner.yaml"
  {
    echo "steps:"
    for i in $(seq "$count"); do
      printf '  s%02d:\n    run:\n      image: %s\n      pull: false\n      cmds: ["true", "true", "true"]\n' "$i" "$image"
    done
  } >"$dir/buildrunner.yaml"
}

# compare <label> <steps> <seq|wide|cmds> : brr's best and the peer's best, then the ratio
compare() {
  local label=$1 n=$2 mode=$3 b d t0 dir=$tmp/$3$2
  if [ "$mode" = cmds ]; then project_cmds "$dir" "$n"; else project "$dir" "$n" true; fi
  local brr_best= peer_best=
  for _ in $(seq "$rounds"); do
    t0=$(ms)
    if [ "$mode" = wide ]; then "$brr" -d "$dir" >/dev/null 2>&1
    else "$brr" -d "$dir" -j 1 >/dev/null 2>&1; fi
    b=$(($(ms) - t0))
    keep_min brr_best "$b"
    t0=$(ms)
    if [ "$mode" = seq ]; then
      for _ in $(seq "$n"); do docker run --rm "$image" true; done
    elif [ "$mode" = cmds ]; then
      for _ in $(seq "$n"); do docker run --rm "$image" sh -c 'true; true; true'; done
    else
      seq "$n" | xargs -P16 -I{} docker run --rm "$image" true
    fi
    d=$(($(ms) - t0))
    keep_min peer_best "$d"
  done
  printf '%-28s brr %6d ms  peer %6d ms  ratio %sx\n' "$label" "$brr_best" "$peer_best" \
    "$(ratio "$brr_best" "$peer_best")"
}

echo "best of $rounds rounds; peer: docker run --rm $image true"
compare "10 steps -j 1 / loop" 10 seq
compare "20 steps -j 1 / loop" 20 seq
compare "32 steps default -j / -P16" 32 wide
compare "10 steps x 3 cmds -j 1 / loop" 10 cmds
