#!/usr/bin/env bash
# /source for run steps without services (docs/run.md, step 6): the build dir imported once as
# the source image brr-source:<run id>, a never-started source container per step whose volume
# the engine fills from it, taken by the run container with volumes_from. Checked: each step's
# copy is its own and pristine; hard links, owners, modes and symbolic links are kept; one
# import per run; the source containers, their volumes and the image go at the end. A build
# dir holding ".wh.*" names (an image layer would delete them) takes the PUT path and keeps them.
source "$BRR_SOURCE_DIR/tests/e2e/run/lib.sh"
setup source

mkdir -p "$DIR/data"
echo original >"$DIR/data/file"
ln "$DIR/data/file" "$DIR/data/link"
ln -s file "$DIR/data/sym"
echo x >"$DIR/data/owned"
chown 1234:4321 "$DIR/data/owned"
chmod 4750 "$DIR/data/owned"

# the engine's events for this test's objects (image imports, container creations), in $EVENTS
EVENTS=$WORK/events
watch_events() {
  : >"$EVENTS"
  docker events --filter "label=$LABEL" \
    --format '{{.Type}} {{.Action}} {{.Actor.ID}} {{index .Actor.Attributes "name"}}' >"$EVENTS" &
  EV=$!
  EXTRA_CLEANUP+=("kill $EV")
  sleep 0.5
}
stop_events() {
  sleep 1
  kill "$EV" 2>/dev/null || true
  wait "$EV" 2>/dev/null || true
}

watch_events
brr_run
expect_rc 0
line=$(step_lines one | sed -n 's/^links=//p')
set -- $line
[ "$1" = "$2" ] || fail "the hard link is not one file in /source: $line"
[ "$3" = "n=2" ] || fail "the hard link count is not 2: $line"
expect_line one "owner=1234:4321 4750"
expect_line one "symlink=file"
expect_line one "changed-by-one"
[ "$(step_lines one | grep -cx original)" -eq 1 ] || fail "step one did not see the original file"
# step two reads the file while step one has changed its own copy
expect_line two "original"
expect_no_line two "changed-by-one"
expect_line two "src=mounted"
# the host's copy is untouched
[ "$(cat "$DIR/data/file")" = original ] || fail "the build dir was changed"
expect_no_leftovers
stop_events
# the engine reports an import as `image import`; one per run, and one source container per step
imports=$(grep -c '^image import ' "$EVENTS" || true)
[ "$imports" -eq 1 ] || { cat "$EVENTS" >&2; fail "expected one import of the source image, saw $imports"; }
srcs=$(grep -E '^container create [0-9a-f]+ [0-9a-f-]+-source$' "$EVENTS" | wc -l)
[ "$srcs" -eq 2 ] || { cat "$EVENTS" >&2; fail "expected a source container per step, saw $srcs"; }
# none of them was started
if grep -E '^container start [0-9a-f]+ [0-9a-f-]+-source$' "$EVENTS"; then fail "a source container was started"; fi

# ---- a ".wh." name: the tar is PUT, the file is there ----
touch "$DIR/data/.wh.kept"
cat >"$DIR/buildrunner.yaml" <<'YAML'
steps:
  wh:
    run:
      image: 127.0.0.1:5000/busybox:latest
      cmd: ls -a /source/data
YAML
watch_events
brr_run
expect_rc 0
expect_line wh ".wh.kept"
expect_line wh "file"
expect_no_leftovers
stop_events
if grep -q '^image import ' "$EVENTS"; then fail "a tree with .wh. names was imported as an image"; fi
echo ok
