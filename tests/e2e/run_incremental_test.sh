#!/usr/bin/env bash
# Incremental runs (docs/incremental.md) on the real engine: a build and six run steps with
# artifacts, one of them committed. A second --incremental run with nothing changed reuses
# every node and leaves the same artifacts and artifacts.json, byte for byte; removing
# the committed image reruns its step; a change that only one step's inputs: cover reruns
# that step and what depends on it (and the step without inputs:, which sees the whole tree);
# a change in a .buildignore'd file reruns nothing; a build reruns when its Dockerfile changes
# (with the step that runs its image) or its image is gone, not for a .dockerignore'd file;
# a read-only host file reruns its step when it changes (a service does not stop a reuse);
# --graph --incremental says which and why;
# lost store objects, `incremental: false` and a run without --incremental run everything.
source "$BRR_SOURCE_DIR/tests/e2e/run/lib.sh"
setup incremental
r=$(results)
# step e commits its run container: to a repository of this test's own
REPO=brr-e2e-incr-$TEST_ID
sed -i "s/REPO/$REPO/" "$DIR/buildrunner.yaml" "$DIR/imgctx/Dockerfile"
EXTRA_CLEANUP+=("docker rmi -f $REPO:incr")
# the state and the artifact store of this test only
export XDG_CACHE_HOME=$WORK/cache


# the statuses of the run nodes, "node=status" each, from the JSON events
statuses() {
  python3 - "$1" <<'PYEOF'
import json, sys
st = {}
for line in open(sys.argv[1]):
    line = line.strip()
    if not line.startswith("{"):
        continue
    ev = json.loads(line)
    if ev.get("type") == "node_end":
        st[ev["node"]] = ev["status"]
print(" ".join(f"{k}={st.get(k)}" for k in ["img/build", "img/run", "a/run", "b/run", "c/run", "d/run", "e/run"]))
PYEOF
}

# status_of NODE: its status in the last run's JSON events
status_of() {
  python3 - "$OUT" "$1" <<'PYEOF'
import json, sys
st = None
for line in open(sys.argv[1]):
    line = line.strip()
    if line.startswith("{"):
        ev = json.loads(line)
        if ev.get("type") == "node_end" and ev.get("node") == sys.argv[2]:
            st = ev["status"]
print(st)
PYEOF
}

# expect_statuses "img/build=reused img/run=reused a/run=succeeded ..."
expect_statuses() {
  local got
  got=$(statuses "$OUT")
  [ "$got" = "$1" ] || fail "statuses: $got, expected $1"
}

# the step directories and artifacts.json, as they are now
snapshot() {
  rm -rf "$WORK/$1"
  mkdir -p "$WORK/$1"
  for s in img a b c d e; do cp -a "$r/$s" "$WORK/$1/$s"; done
  cp "$r/artifacts.json" "$WORK/$1/"
}

timed_run() {
  local t0 t1
  t0=$(date +%s.%N)
  BRR_PROGRESS=json brr_run --incremental "$@"
  t1=$(date +%s.%N)
  echo "$(python3 -c "print(f'{$t1 - $t0:.2f}')") s: brr --incremental ${*:-}" >&2
}

# 1. the first run: nothing recorded yet, everything runs
timed_run
expect_rc 0
expect_statuses "img/build=succeeded img/run=succeeded a/run=succeeded b/run=succeeded c/run=succeeded d/run=succeeded e/run=succeeded"
grep -qF '"runs: no earlier successful run"' "$OUT" || fail "no reason given for running"
[ "$(status_of f/run)" = succeeded ] || fail "f/run: $(status_of f/run)"
snapshot first

# 2. nothing changed: every run node is reused, the results are the same bytes
timed_run
expect_rc 0
expect_statuses "img/build=reused img/run=reused a/run=reused b/run=reused c/run=reused d/run=reused e/run=reused"
snapshot second
diff -r "$WORK/first" "$WORK/second" >/dev/null || fail "the reused results differ: $(diff -r "$WORK/first" "$WORK/second" | head -5)"
cmp "$WORK/first/a/tree.tar.gz" "$r/a/tree.tar.gz" || fail "the archive is not the same bytes"
[ "$(status_of f/run)" = reused ] || fail "f/run (host files, a service) is not reused: $(status_of f/run)"
grep -q '"counts":{[^}]*"reused":8' "$OUT" || fail "run_end does not count 8 reused nodes"
# the log of a reused node: marked, with the lines of the run it reuses
grep -q "^reused: inputs unchanged since" "$r/logs/a.log" || fail "a.log is not marked reused"
grep -qx "a ran" "$r/logs/a.log" || fail "a.log lacks the output of the run it reuses"

# the committed image is still there and tagged again after a reuse
docker image inspect "$REPO:incr" >/dev/null 2>&1 || fail "the reused step's commit tag is missing"

# 2b. the committed image is gone: its step runs again (and commits again); the rest is reused
docker rmi -f "$REPO:incr" >/dev/null
timed_run
expect_rc 0
expect_statuses "img/build=reused img/run=reused a/run=reused b/run=reused c/run=reused d/run=reused e/run=succeeded"
grep -qF 'is no longer on the engine' "$OUT" || fail "e does not say its committed image is gone"
docker image inspect "$REPO:incr" >/dev/null 2>&1 || fail "the commit tag was not made again"

# --graph --incremental says what a run would reuse, and why the others would run
graph_notes() {
  brr_run --graph=json --incremental
  expect_rc 0
  python3 -c '
import json, re, sys
text = open(sys.argv[1]).read()
d, _ = json.JSONDecoder().raw_decode(text[re.search(r"^\{", text, re.M).start():])
print(" ".join("%s=%s" % (n["id"], n["incremental"]["reused"]) for n in d["nodes"]))' "$OUT"
}
[ "$(graph_notes)" = "img/build=True img/run=True a/run=True b/run=True c/run=True d/run=True e/run=True e/commit=False f/run=True" ] ||
  fail "graph before a change: $(graph_notes)"

# 3. a change only a's inputs: cover: a reruns, and c (depends on a) and d (no inputs:, the
# whole tree); b and img are reused
echo more >>"$DIR/src/a/data.txt"
[ "$(graph_notes)" = "img/build=True img/run=True a/run=False b/run=True c/run=False d/run=False e/run=True e/commit=False f/run=True" ] ||
  fail "graph after a change: $(graph_notes)"
brr_run --graph --incremental
expect_out "incremental: runs: source (inputs:) changed"
expect_out "incremental: runs if the results of a/run, which runs, change"
expect_out "incremental: runs: source changed"
timed_run
expect_rc 0
expect_statuses "img/build=reused img/run=reused a/run=succeeded b/run=reused c/run=succeeded d/run=succeeded e/run=reused"
grep -qF '"runs: source (inputs:) changed"' "$OUT" || fail "a does not say its inputs changed"
grep -qF '"runs: artifacts of other steps changed"' "$OUT" || fail "c does not say a's artifacts changed"
[ "$(cat "$r/a/a.txt")" = "$(printf 'alpha\nmore')" ] || fail "a.txt is not the new one: $(cat "$r/a/a.txt")"

# 4. a file .buildignore leaves out: nothing reruns
echo changed >"$DIR/ignored/x.txt"
timed_run
expect_rc 0
expect_statuses "img/build=reused img/run=reused a/run=reused b/run=reused c/run=reused d/run=reused e/run=reused"

# 5. a file outside every inputs: (a new top-level file): only d, which has none, reruns
echo new >"$DIR/notes.txt"
timed_run
expect_rc 0
expect_statuses "img/build=reused img/run=reused a/run=reused b/run=reused c/run=reused d/run=succeeded e/run=reused"

# 5b. a file of the build's context that its .dockerignore leaves out: nothing reruns
echo changed >"$DIR/imgctx/skip.txt"
timed_run
expect_rc 0
expect_statuses "img/build=reused img/run=reused a/run=reused b/run=reused c/run=reused d/run=reused e/run=reused"
grep -q "^reused: inputs unchanged since .*its image sha256:" "$r/logs/img.log" || fail "img.log does not say the build is reused"

# 5c. the Dockerfile changed: the build runs, and so does the step that runs its image
echo "LABEL brr.e2e.changed=1" >>"$DIR/imgctx/Dockerfile"
brr_run --graph --incremental
expect_out "incremental: runs: Dockerfile changed"
expect_out "incremental: runs if the image of img/build, which runs, changes"
timed_run
expect_rc 0
expect_statuses "img/build=succeeded img/run=succeeded a/run=reused b/run=reused c/run=reused d/run=reused e/run=reused"
grep -qF '"runs: Dockerfile changed"' "$OUT" || fail "img/build does not say its Dockerfile changed"
grep -qF '"runs: image changed"' "$OUT" || fail "img/run does not say its image changed"

# 5d. the image the build made is gone: the build runs again
built=$(grep -ohE "Built image sha256:[0-9a-f]{64}" "$OUT" | awk '{print $3}' | tail -1)
[ -n "$built" ] || fail "no built image reported"
timed_run
expect_rc 0
expect_statuses "img/build=reused img/run=reused a/run=reused b/run=reused c/run=reused d/run=reused e/run=reused"
docker rmi -f "$built" >/dev/null
timed_run
expect_rc 0
[ "$(statuses "$OUT" | cut -d' ' -f1)" = "img/build=succeeded" ] || fail "the build was not run again: $(statuses "$OUT")"
grep -qF 'is no longer on the engine' "$OUT" || fail "img/build does not say its image is gone"

# 5e. the host file f mounts changed (.buildignore leaves it out of the source): f alone reruns
echo host changed >"$DIR/ignored/hostfile.txt"
brr_run --graph --incremental
expect_out "incremental: runs: host files changed"
timed_run
expect_rc 0
expect_statuses "img/build=reused img/run=reused a/run=reused b/run=reused c/run=reused d/run=reused e/run=reused"
[ "$(status_of f/run)" = succeeded ] || fail "f/run did not rerun for its host file: $(status_of f/run)"
grep -qF '"runs: host files changed"' "$OUT" || fail "f does not say its host files changed"
[ "$(cat "$r/f/f.txt")" = "$(printf 'host changed\nf')" ] || fail "f.txt is stale: $(cat "$r/f/f.txt")"

# 6. the artifact store lost an object: the node runs again instead of restoring half
rm -rf "$XDG_CACHE_HOME/brr/store/objects"
timed_run
expect_rc 0
expect_statuses "img/build=reused img/run=succeeded a/run=succeeded b/run=succeeded c/run=succeeded d/run=succeeded e/run=succeeded"
grep -qF 'its outputs are no longer in the artifact store' "$OUT" || fail "no reason for the rerun"

# 7. `incremental: false` on b: b runs every time (and d, which reads b's results, with it)
sed -i 's/^  b:$/  b:\n    incremental: false/' "$DIR/buildrunner.yaml"
timed_run
expect_rc 0
expect_statuses "img/build=reused img/run=reused a/run=reused b/run=succeeded c/run=reused d/run=succeeded e/run=reused"

# 8. without --incremental: everything runs, nothing is said about reuse
BRR_PROGRESS=json brr_run
expect_rc 0
expect_statuses "img/build=succeeded img/run=succeeded a/run=succeeded b/run=succeeded c/run=succeeded d/run=succeeded e/run=succeeded"
expect_no_out "\"status\":\"reused\""
expect_no_out "runs: "
expect_no_leftovers
echo ok
