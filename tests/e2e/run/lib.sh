# Shared by tests/e2e/run_*_test.sh: a private copy of a project from tests/e2e/run/<name>/,
# brr run with a label unique to the test, assertions, and the leftover count by that label.
# Source it, then call `setup <name>`.
set -euo pipefail

: "${BRR:?BRR must point to the brr binary}"
: "${BRR_SOURCE_DIR:?}"
REGISTRY=127.0.0.1:5000
IMAGE=$REGISTRY/busybox:latest

# No /etc/buildrunner or ~/.buildrunner.yaml of the machine running the tests.
export BRR_MASTER_CONFIG=/nonexistent/brr-master.yaml
export BRR_USER_CONFIG=/nonexistent/brr-user.yaml
export BRR_PROGRESS=plain NO_COLOR=1
unset DOCKER_HOST

fail() {
  echo "FAIL: $*" >&2
  if [ -n "${OUT:-}" ] && [ -f "$OUT" ]; then
    echo "---- brr output ----" >&2
    tail -n 60 "$OUT" >&2
  fi
  exit 1
}

# setup NAME: copy the project into a fresh temp dir ($DIR), choose the test's label.
setup() {
  NAME=$1
  TEST_ID=$NAME-$$-$RANDOM
  LABEL="brr.e2e=$TEST_ID"
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/brr-e2e-$NAME.XXXXXX")
  T0=$(date +%s)
  DIR=$WORK/project
  OUT=$WORK/out.log
  cp -a "$BRR_SOURCE_DIR/tests/e2e/run/$NAME" "$DIR"
  # a docker config of our own: no credentials of the machine's user are ever read
  export DOCKER_CONFIG="$WORK/docker-config"
  mkdir -p "$DOCKER_CONFIG"
  [ -f "$DIR/.buildrunner.yaml" ] || echo "docker-registry: $REGISTRY" >"$DIR/.buildrunner.yaml"
  EXTRA_CLEANUP=()
  trap teardown EXIT
}

teardown() {
  local rc=$?
  # whatever a failed assertion left behind goes, so the next runs start clean
  local ids
  ids=$(docker ps -aq --filter "label=$LABEL" 2>/dev/null || true)
  [ -z "$ids" ] || docker rm -fv $ids >/dev/null 2>&1 || true
  ids=$(docker network ls -q --filter "label=$LABEL" 2>/dev/null || true)
  [ -z "$ids" ] || docker network rm $ids >/dev/null 2>&1 || true
  ids=$(docker volume ls -q --filter "label=$LABEL" 2>/dev/null || true)
  [ -z "$ids" ] || docker volume rm -f $ids >/dev/null 2>&1 || true
  ids=$(docker images -q --filter "label=$LABEL" 2>/dev/null | sort -u || true)
  [ -z "$ids" ] || docker rmi -f $ids >/dev/null 2>&1 || true
  for c in "${EXTRA_CLEANUP[@]}"; do eval "$c" >/dev/null 2>&1 || true; done
  # brr keeps the images it builds (they carry no label): the ones this test made go
  for ids in $(reported_ids); do
    made_since_start "$ids" && docker rmi -f "$ids" >/dev/null 2>&1
  done
  # BRR_E2E_KEEP=1 keeps the work directory (project, brr's output) of a failed test
  if [ $rc -ne 0 ] && [ "${BRR_E2E_KEEP:-}" = 1 ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
  exit $rc
}

# brr_run [args...]: run brr on $DIR with the test label; sets $RC, output in $OUT.
brr_run() {
  set +e
  "$BRR" -d "$DIR" --container-labels "$LABEL${EXTRA_LABELS:+,$EXTRA_LABELS}" "$@" >"$OUT" 2>&1
  RC=$?
  cat "$OUT" >>"$WORK/all"
  set -e
  sanitizer_guard
}

# A brr built with -DBRR_SANITIZE=ON stops at the first report: never let that pass for an
# expected failure.
sanitizer_guard() {
  if grep -qE "runtime error:|ERROR: (Address|Leak|Undefined)Sanitizer" "$OUT"; then
    fail "brr reported a sanitizer error: $(grep -m1 -E "runtime error:|Sanitizer" "$OUT")"
  fi
}

expect_rc() {
  [ "$RC" -eq "$1" ] || fail "exit code $RC, expected $1"
}

expect_out() {
  grep -qF -- "$1" "$OUT" || fail "output lacks: $1"
}

expect_no_out() {
  if grep -qF -- "$1" "$OUT"; then fail "output has: $1"; fi
}

# The lines of step $1 (the text after "step | "; the renderer pads step names).
step_lines() {
  grep -E -- "^[0-9: ,-]+ $1 +\| " "$OUT" | sed -E 's/^[0-9: ,-]+ [^|]+\| //'
}

# Step $1 printed exactly the line $2.
expect_line() {
  step_lines "$1" | grep -qxF -- "$2" || fail "no line '$2' from step $1"
}

# Nothing brr made in this test remains: containers, networks and volumes by the label.
expect_no_leftovers() {
  local c n v i
  c=$(docker ps -aq --filter "label=$LABEL" | wc -l)
  n=$(docker network ls -q --filter "label=$LABEL" | wc -l)
  v=$(docker volume ls -q --filter "label=$LABEL" | wc -l)
  # the run's source image (committed images carry the label too, and may be kept)
  i=$(docker images -q --filter "label=$LABEL" --filter "reference=brr-source" | wc -l)
  [ "$c$n$v$i" = "0000" ] ||
    fail "left behind: $c containers, $n networks, $v volumes, $i source images with $LABEL"
}

# Step $1 never printed the line $2.
expect_no_line() {
  if step_lines "$1" | grep -qxF -- "$2"; then fail "step $1 printed '$2'"; fi
}

# No image made in this test remains (built services, committed run containers, post-builds).
expect_no_images() {
  local i l=${1:-$LABEL}
  i=$(docker images -q --filter "label=$l" | wc -l)
  [ "$i" -eq 0 ] || fail "left behind: $i images with $l"
}

results() { echo "$DIR/buildrunner.results"; }

# The image ids brr reported building in this test's runs.
reported_ids() {
  cat "$WORK/all" "$OUT" 2>/dev/null | grep -ohE "Built image sha256:[0-9a-f]{64}" | awk '{print $3}' | sort -u || true
}

# made_since_start ID: the image exists and was created after this test began.
made_since_start() {
  local c
  c=$(docker image inspect -f '{{.Created}}' "$1" 2>/dev/null) || return 1
  [ "$(date -d "$c" +%s)" -ge "$T0" ]
}
