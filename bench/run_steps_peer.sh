#!/usr/bin/env bash
# A run step against `docker run --rm` of the same image and command, in the same run
# (issue 15; targets: <= 1.15 at -j 1, <= 1.1 wide):
#  1. 10 and 20 trivial steps (`true`) with `brr -j 1`, against a shell loop of as many
#     `docker run --rm`;
#  2. 32 trivial steps with brr's default -j, against `xargs -P16 docker run --rm` of 32.
# Each pair alternates brr and the peer for R rounds and keeps each side's best, so a burst of
# load from elsewhere on the machine does not decide the ratio.
# usage: bench/run_steps_peer.sh [build-dir] [R]     (needs the Docker test environment)
set -euo pipefail
build=${1:-build}
rounds=${2:-3}
. "$(dirname "$0")/run_steps_lib.sh"

# compare <label> <steps> <brr -j args...> : brr's best and the peer's best, then the ratio
compare() {
  local label=$1 n=$2 mode=$3 b d t0
  project "$tmp/p$n" "$n" true
  local brr_best= peer_best=
  for _ in $(seq "$rounds"); do
    t0=$(ms)
    if [ "$mode" = seq ]; then "$brr" -d "$tmp/p$n" -j 1 >/dev/null 2>&1
    else "$brr" -d "$tmp/p$n" >/dev/null 2>&1; fi
    b=$(($(ms) - t0))
    keep_min brr_best "$b"
    t0=$(ms)
    if [ "$mode" = seq ]; then
      for _ in $(seq "$n"); do docker run --rm "$image" true; done
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
