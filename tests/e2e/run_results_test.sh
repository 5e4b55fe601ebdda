#!/usr/bin/env bash
# The results dir keeps what it must and nothing else (docs/output.md): -b that would wipe the
# project is refused; a second brr in the same dir fails (exit 69) and leaves the first run's
# results alone; only what brr made is removed by the next run; step names map to their own
# dirs and logs, and one that would leave the dir is a config error; a link in the source
# tree that leads outside it is named by brr; on a full filesystem
# (a small tmpfs, root only) a missing artifact or a cut log fails the run and says which file.
source "$BRR_SOURCE_DIR/tests/e2e/run/lib.sh"
setup results
PY=/usr/bin/python3
r=$(results)

# ---- -b that names the project, its parent, or a file -------------------------------------
before=$(cd "$DIR" && find . | sort | md5sum)
brr_run -b "$DIR"
expect_rc 69
expect_out "is the build directory"
brr_run -b "$WORK"
expect_rc 69
expect_out "holds the build directory $DIR"
echo "precious" >"$WORK/afile"
brr_run -b "$WORK/afile"
expect_rc 69
expect_out "exists and is not a directory"
[ "$(cat "$WORK/afile")" = precious ] || fail "the regular file given to -b was changed"
[ "$(cd "$DIR" && find . | sort | md5sum)" = "$before" ] || fail "the project changed"

# ---- names: a/b, a_b and logs each get their own dir and log ------------------------------
brr_run
expect_rc 0
[ "$(cat "$r/a%2Fb/out.txt")" = slash ] || fail "a/b's artifact"
[ "$(cat "$r/a_b/out.txt")" = underscore ] || fail "a_b's artifact"
[ "$(cat "$r/%6Cogs/a_b.log")" = mine ] || fail "the step named logs has its own dir"
grep -q "from-a-slash-b" "$r/logs/a%2Fb.log" || fail "a/b's log"
grep -q "from-a-underscore-b" "$r/logs/a_b.log" || fail "a_b's log"
if grep -q "from-a-slash-b" "$r/logs/a_b.log"; then fail "a/b wrote into a_b's log"; fi
$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); k=sorted(d); sys.exit(0 if k==["%6Cogs/a_b.log","a%2Fb/out.txt","a_b/out.txt","build.log"] else f"keys {k}")' \
  "$r/artifacts.json" || fail "artifacts.json keys"
[ ! -e "$r/a" ] || fail "a/b made a nested directory"

# a name that would leave the results dir: refused at its line, before anything runs
escape_target="$(dirname "$r")/escape"
brr_run -f escape.yaml
expect_rc 78
expect_out "escape.yaml:6:3: steps: step name '../escape' has a \"..\" path component"
[ ! -e "$escape_target" ] || fail "../escape created $escape_target"
expect_no_out "==> fine/run"

# a relative link in the source tree that leads outside it: brr names it, not the engine
mkdir -p "$DIR/linkdir"
ln -s ../../outside "$DIR/linkdir/out"
brr_run
expect_rc 1
expect_out "symbolic link that points outside it: $DIR/linkdir/out -> ../../outside"
expect_no_out "HTTP 500"
expect_no_out "invalid symlink"
expect_no_leftovers
rm -r "$DIR/linkdir"

# ---- only what brr made goes; the user's files stay --------------------------------------
echo "mine" >"$r/notes.txt"
mkdir -p "$r/keep" && echo "mine" >"$r/keep/k.txt"
brr_run -f slow.yaml
expect_rc 0
[ ! -e "$r/a_b" ] && [ ! -e "$r/a%2Fb" ] && [ ! -e "$r/logs/a_b.log" ] ||
  fail "the earlier run's step dirs or logs were kept"
[ "$(cat "$r/notes.txt")" = mine ] && [ "$(cat "$r/keep/k.txt")" = mine ] ||
  fail "the user's files in the results dir were removed"
$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if list(d)==["build.log","slow/slow.txt"] else f"keys {list(d)}")' \
  "$r/artifacts.json" || fail "artifacts.json kept the earlier run's entries"

# ---- two runs in one directory ------------------------------------------------------------
OUT1=$WORK/first.log
set +e
"$BRR" -d "$DIR" -f slow.yaml --container-labels "$LABEL" >"$OUT1" 2>&1 &
first=$!
set -e
for _ in $(seq 1 100); do grep -q "==> slow/run" "$OUT1" 2>/dev/null && break; sleep 0.1; done
grep -q "==> slow/run" "$OUT1" || fail "the first run did not start"
brr_run -f slow.yaml
expect_rc 69
expect_out "another brr is running with the results directory $r"
set +e
wait "$first"
rc1=$?
set -e
[ "$rc1" -eq 0 ] || { cat "$OUT1" >&2; fail "the first run failed ($rc1) beside the second"; }
[ "$(cat "$r/slow/slow.txt")" = done ] || fail "the first run's artifact is missing"
grep -q "Build SUCCESS" "$r/build.log" || fail "the first run's build.log was replaced"
expect_no_leftovers

# ---- a full filesystem ----------------------------------------------------------------
[ "$(id -u)" = 0 ] || fail "this test mounts a tmpfs: run it as root (tools/test.sh does)"
MNT=$WORK/small
mkdir -p "$MNT"
mount -t tmpfs -o size=1m brr-e2e-results "$MNT"
EXTRA_CLEANUP+=("umount '$MNT'")

brr_run -f big.yaml -b "$MNT/res"
expect_rc 1
expect_out "big/run FAILED"
expect_out "Error gathering artifact big.bin: writing in $MNT/res/big: No space left on device"
expect_out "Build ERROR."
expect_no_out "Build SUCCESS"
[ ! -e "$MNT/res/big/big.bin" ] || fail "a cut big.bin was left"
[ -z "$(find "$MNT/res" -name '.brr-artifact*')" ] || fail "spool files were left"
[ "$(cat "$MNT/res/big/small.txt")" = small ] || fail "the artifact that fitted is missing"
$PY -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if list(d)==["build.log","big/small.txt"] else f"keys {list(d)}")' \
  "$MNT/res/artifacts.json" || fail "artifacts.json"
expect_no_leftovers

# leave about 24 KB: the step's 150 KB of output cannot fit in build.log and its log
rm -rf "$MNT/res"
avail=$(df --output=avail -B1 "$MNT" | tail -1)
head -c $((avail - 24 * 1024)) /dev/zero >"$MNT/filler"
brr_run -f chatty.yaml -b "$MNT/res"
expect_rc 1
expect_out "Results not saved:"
expect_out "writing $MNT/res/build.log: No space left on device"
expect_out "Build ERROR."
expect_no_out "Build SUCCESS"
grep -qE '^ +chatty +succeeded' "$OUT" || fail "the step itself succeeded: its row says so"
expect_no_leftovers
echo ok
