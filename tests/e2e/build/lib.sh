# Shared by tests/e2e/build_*_test.sh: a private project directory, a unique id that names
# repositories and labels the containers, networks and volumes brr makes (--container-labels;
# images carry no label of brr's), brr run with no real /etc or ~ config, and the leftover
# checks. brr keeps the images it generates (as buildrunner); the test removes the ones its
# runs reported ("Built image <id>") that were made after it started, and the names it gave.
# Each test cleans what it kept, so runs under ctest -j2 never meet.
set -u
: "${BRR:?BRR must name the brr binary}"
: "${BRR_SOURCE_DIR:?}"

ID=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
LABEL="brr.test=$ID"
WORK=$(mktemp -d "/tmp/brr-e2e-build.XXXXXX")
T0=$(date +%s)
REG=127.0.0.1:5000
export BRR_MASTER_CONFIG=/nonexistent/brr-master.yaml BRR_USER_CONFIG=/nonexistent/brr-user.yaml
export NO_COLOR=1
# a docker config of our own: no credentials of the machine's user are ever read
export DOCKER_CONFIG="$WORK/docker-config"
mkdir -p "$DOCKER_CONFIG"
fails=0
extra_cleanup=()

lib_cleanup() {
  local c
  docker ps -aq --filter "label=$LABEL" | xargs -r docker rm -fv >/dev/null 2>&1 || true
  docker images -q --filter "label=$LABEL" | sort -u | xargs -r docker rmi -f >/dev/null 2>&1 || true
  drop_kept
  drop_generated
  # last: an image of the test's own may be the parent of what brr built on it
  for c in "${extra_cleanup[@]}"; do eval "$c" >/dev/null 2>&1 || true; done
  # BRR_E2E_KEEP=1 keeps the work directory (projects, brr's output) of a failed test
  if [ "${BRR_E2E_KEEP:-}" = 1 ] && [ "$fails" -gt 0 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap lib_cleanup EXIT

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
pass() { echo "ok [${SECONDS}s]: $*"; }
check() {  # check 'shell condition' "what it shows"
  if eval "$1"; then pass "$2"; else fail "$2"; [ -f "$WORK/out" ] && tail -n 40 "$WORK/out" | sed 's/^/    | /'; fi
}

# project DIR: a build dir with a global config that points docker-registry at the local
# registry (the Docker Hub stand-in).
project() {
  mkdir -p "$WORK/$1"
  printf 'docker-registry: %s\n' "$REG" >"$WORK/$1/.buildrunner.yaml"
  echo "$WORK/$1"
}

# run_brr DIR [args...]: brr in DIR, output in $WORK/out (and appended to $WORK/all), exit
# code in $RC
run_brr() {
  local dir=$1
  shift
  (cd "$dir" && "$BRR" --progress plain --no-color --container-labels "$LABEL" "$@") >"$WORK/out" 2>&1
  RC=$?
  { echo "==== brr $* (exit $RC)"; cat "$WORK/out"; } >>"$WORK/all"
  sanitizer_guard
}

# A brr built with -DBRR_SANITIZE=ON stops at the first report: never let that pass for an
# expected failure.
sanitizer_guard() {
  if grep -qE "runtime error:|ERROR: (Address|Leak|Undefined)Sanitizer" "$WORK/out"; then
    fail "brr reported a sanitizer error: $(grep -m1 -E "runtime error:|Sanitizer" "$WORK/out")"
  fi
}

# interrupt_brr DIR SIGNAL PATTERN [args...]: start brr in DIR, send SIGNAL once its output
# matches PATTERN, wait for it; exit code in $RC, output in $WORK/out.
interrupt_brr() {
  local dir=$1 sig=$2 pattern=$3
  shift 3
  (cd "$dir" && exec "$BRR" --progress plain --no-color --container-labels "$LABEL" "$@") >"$WORK/out" 2>&1 &
  local pid=$!
  for _ in $(seq 600); do
    grep -qE "$pattern" "$WORK/out" && break
    sleep 0.1
  done
  kill "-$sig" "$pid"
  wait "$pid"
  RC=$?
  sanitizer_guard
}

# Nothing brr made is left but images named in $1 (a regex of repository:tag, may be empty).
no_leftovers() {
  local what=${2:-}
  local left
  left=$(docker ps -a --filter "label=$LABEL" --format '{{.ID}} {{.Image}} {{.Status}}' | tr '\n' ';')
  check '[ -z "$left" ]' "no container left $what${left:+ (left: $left)}"
  check '[ -z "$(docker volume ls -q --filter "label=$LABEL")" ]' "no volume left $what"
  check '[ -z "$(docker network ls -q --filter "label=$LABEL")" ]' "no network left $what"
  # images carry no label of brr's: the names the runs gave all hold $ID
  local stray
  stray=$(docker images --format '{{.Repository}}:{{.Tag}}' | grep -F -- "$ID" |
          grep -vE "^(${1:-^$})$" || true)
  check '[ -z "$stray" ]' "no image name left but the kept ones $what${stray:+ (stray: $stray)}"
  # brr's own temporary names (post-build tags, platform builds) never outlive a run
  local temp="" i
  for i in $(reported_ids); do
    temp+=$(docker image inspect -f '{{range .RepoTags}}{{println .}}{{end}}' "$i" 2>/dev/null |
            grep -E "^(brr-build-|brr-mp-|buildrunner-post-build-tag-|buildrunner-mp-)" || true)
  done
  check '[ -z "$temp" ]' "no temporary name of brr's left $what${temp:+ (left: $temp)}"
}

# Remove the names this test's runs gave (they all hold $ID).
drop_kept() {
  docker images --format '{{.Repository}}:{{.Tag}}' | grep -F -- "$ID" | grep -v '<none>' |
    xargs -r docker rmi >/dev/null 2>&1 || true
}

# made_since_start ID: the image exists and was created after this test started (not a cache
# hit on someone else's image).
made_since_start() {
  local c
  c=$(docker image inspect -f '{{.Created}}' "$1" 2>/dev/null) || return 1
  [ "$(date -d "$c" +%s)" -ge "$T0" ]
}

# The image ids brr reported in this test's runs (build steps).
reported_ids() {
  grep -ohE "Built image sha256:[0-9a-f]{64}" "$WORK/all" "$WORK/out" 2>/dev/null | awk '{print $3}' | sort -u
}

# Remove the generated images brr kept, only those this test made (children before their
# parents: rounds while one removes something). Unlike brr, the test prunes: the untagged
# parents that go with them are the intermediate layers of its own builds.
drop_generated() {
  local i left more=1
  left=$(reported_ids)
  while [ -n "$left" ] && [ "$more" = 1 ]; do
    more=0
    for i in $left; do
      if ! made_since_start "$i"; then left=$(grep -vxF "$i" <<<"$left" || true); continue; fi
      if docker rmi -f "$i" >/dev/null 2>&1; then
        more=1
        left=$(grep -vxF "$i" <<<"$left" || true)
      fi
    done
  done
  true
}

finish() {
  if [ "$fails" -gt 0 ]; then
    echo "$fails check(s) failed"
    exit 1
  fi
  echo "all checks passed"
  exit 0
}
