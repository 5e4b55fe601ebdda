#!/usr/bin/env bash
# Artifacts of an own-process step (docs/run.md, "Artifacts"): listed by the step's process
# after its commands and fetched from the stopped container, with no exec in it (the engine's
# events show none); after a failure too; a lister container when the process could not
# write its listing.
source "$BRR_SOURCE_DIR/tests/e2e/run/lib.sh"
setup own-artifacts
r=$(results)

# exec_create events of this test's containers since `since`
execs_since() {
  docker events --since "$1" --until "$(date +%s.%N)" --filter type=container \
    --filter "label=$LABEL" --format '{{.Action}}' | grep -c '^exec_create' || true
}

since=$(date +%s.%N)
brr_run
expect_rc 0
[ "$(cat "$r/collect/one.txt")" = one ] || fail "out/one.txt missing"
[ "$(cat "$r/collect/link.txt")" = one ] || fail "the link's target was not fetched"
[ "$(tar -tzf "$r/collect/dir.tar.gz" | sort | tr '\n' ' ')" = "dir/ dir/deep " ] || fail "dir.tar.gz"
[ "$(cat "$r/collect/.abs-artifact")" = abs ] || fail "the absolute pattern's match is missing"
ls -a "$r/collect" | grep -q '\.list$' && fail "the listing file was taken for an artifact"
/usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
want = ["build.log", "collect/one.txt", "collect/link.txt", "collect/dir.tar.gz", "collect/.abs-artifact"]
sys.exit(0 if list(d) == want else "keys %r" % list(d))' "$r/artifacts.json" || fail "artifacts.json keys"
n=$(execs_since "$since")
[ "$n" -eq 0 ] || fail "$n exec(s) in the run container; the listing should come from its own process"
expect_no_out "lister"
expect_no_leftovers

since=$(date +%s.%N)
brr_run -f failing.yaml
expect_rc 1
expect_out "Error running build container: command \"exit 4\" exited with code 4"
[ "$(cat "$r/failing/partial.txt")" = partial ] || fail "the failing step's artifact is missing"
[ ! -e "$r/failing/never.txt" ] || fail "a command after the failure ran"
[ "$(execs_since "$since")" -eq 0 ] || fail "exec in the failing run container"
expect_no_leftovers

brr_run -f notmp.yaml
expect_rc 0
[ "$(cat "$r/notmp/kept.txt")" = kept ] || fail "the lister's fallback did not collect kept.txt"
expect_no_leftovers
echo ok
