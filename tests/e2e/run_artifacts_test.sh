#!/usr/bin/env bash
# Artifacts in the step's results directory and artifacts.json compared key by key, in order,
# with what buildrunner writes for the same config; a failing step's artifacts too.
source "$BRR_SOURCE_DIR/tests/e2e/run/lib.sh"
setup artifacts
PY=/usr/bin/python3
r=$(results)

brr_run
expect_rc 0
$PY - "$r/artifacts.json" "$DIR/expected.json" <<'PYEOF' || fail "artifacts.json differs"
import json, sys
got = json.load(open(sys.argv[1]))
want = json.load(open(sys.argv[2]))
gk, wk = list(got), list(want)
for i, (g, w) in enumerate(zip(gk, wk)):
    if g != w:
        sys.exit(f"key {i}: {g!r}, expected {w!r}")
    if got[g] != want[w]:
        sys.exit(f"{g}: {got[g]!r}, expected {want[w]!r}")
if len(gk) != len(wk):
    sys.exit(f"keys: {gk}, expected {wk}")
text = open(sys.argv[1]).read()
if text != json.dumps(got, indent=2):
    sys.exit("not in json.dump(indent=2) form")
PYEOF
for f in one.txt two.txt "with space.txt" renamed.log nopush.bin typed.rpm tree/a/t.txt; do
  [ -f "$r/artifacts/$f" ] || fail "missing output $f"
done
[ "$(cat "$r/artifacts/with space.txt")" = "name with space" ] || fail "wrong contents"
[ "$(tar -tzf "$r/artifacts/dir.tar.gz" | sort | tr '\n' ' ')" = "dir/ dir/file dir/sub/ dir/sub/deep " ] ||
  fail "dir.tar.gz holds $(tar -tzf "$r/artifacts/dir.tar.gz" | tr '\n' ' ')"
[ ! -e "$r/artifacts/rename-me.log" ] || fail "a renamed file keeps only its new name"
expect_no_leftovers

brr_run -f failing.yaml
expect_rc 1
[ "$(cat "$r/failing/partial.txt")" = partial ] || fail "the failing step's artifact is missing"
$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if list(d)==["build.log","failing/partial.txt"] else f"keys {list(d)}")' "$r/artifacts.json" ||
  fail "artifacts.json of the failed build"
expect_no_leftovers
echo ok
