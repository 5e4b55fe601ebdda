# What bench/run_steps.sh and bench/run_steps_peer.sh share (sourced after `build` is set):
# the brr under test, a temp dir removed on exit, the local busybox image both sides run,
# millisecond clock and ratio helpers, the project writer, and one warm-up run.
brr=$(realpath "$build/brr")
image=127.0.0.1:5000/busybox:latest
[ -x "$brr" ] || { echo "build first: $brr is missing" >&2; exit 2; }
command -v docker >/dev/null || { echo "the peer needs the docker CLI" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export BRR_MASTER_CONFIG=/nonexistent BRR_USER_CONFIG=/nonexistent BRR_PROGRESS=plain
ms() { date +%s%3N; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
# the smaller of the variable named $1 and the value $2, kept in that variable (best of rounds)
keep_min() { local cur=${!1}; [ -n "$cur" ] && [ "$cur" -le "$2" ] || printf -v "$1" '%s' "$2"; }

# a project of `count` steps running `cmd`, with pull: false so both sides use the local image
project() {
  local dir=$1 count=$2 cmd=$3
  mkdir -p "$dir"
  echo "docker-registry: 127.0.0.1:5000" >"$dir/.buildrunner.yaml"
  {
    echo "steps:"
    for i in $(seq "$count"); do
      printf '  s%02d:\n    run:\n      image: %s\n      pull: false\n      cmd: "%s"\n' "$i" "$image" "$cmd"
    done
  } >"$dir/buildrunner.yaml"
}

docker pull -q "$image" >/dev/null
project "$tmp/warm" 1 true
"$brr" -d "$tmp/warm" >/dev/null 2>&1   # page cache, engine caches
