#!/usr/bin/env bash
# Output against a real engine: CI mode on GitHub Actions (a lone step streams in its own
# live group, a failed step gets an ::error annotation at the line defining it, the Markdown
# summary is appended to $GITHUB_STEP_SUMMARY), the Chrome trace written to the results dir
# and to --trace FILE (nodes on slot tracks, phases nested in them, the wait for a slot), and
# --progress=json that stays valid UTF-8 and matches docs/events.schema.json.
source "$BRR_SOURCE_DIR/tests/e2e/run/lib.sh"
setup output

# 1. GitHub Actions, 3 steps on 2 slots: one waits; `third` fails
summary=$WORK/summary.md
echo "earlier step's summary" >"$summary"
GITHUB_ACTIONS=true GITHUB_WORKSPACE=$DIR GITHUB_STEP_SUMMARY=$summary brr_run --progress=ci -j 2 --keep-going
expect_rc 1
line=$(grep -n '^  third:' "$DIR/buildrunner.yaml" | cut -d: -f1)
expect_out "::error file=buildrunner.yaml,line=$line,title=third failed::third/run:"
grep -q "^earlier step's summary$" "$summary" || fail "GITHUB_STEP_SUMMARY was truncated"
grep -q '^### brr: Build ERROR$' "$summary" || fail "no summary heading"
grep -qE '^\| third \| .* failed \| ' "$summary" || fail "no row for third in the summary"
grep -qE '^\| first \| .* succeeded \| ' "$summary" || fail "no row for first in the summary"
grep -q '^Critical path: `' "$summary" || fail "no critical path in the summary"
# a group per step, none interleaved: each group's lines sit between its header and ::endgroup::
for s in first second; do
  awk -v s="$s" '
    $0 ~ "^::group::" s { inside = 1; next }
    inside && /^::endgroup::/ { inside = 0; next }
    inside && /^::group::/ { bad = 1 }
    END { exit bad || inside }' "$OUT" || fail "group of $s interleaved or unclosed"
done
grep -q 'waited' "$OUT" || fail "the summary does not say which step waited for a slot"

/usr/bin/python3 - "$(results)/trace.json" <<'PY' || fail "trace.json"
import json, sys
t = json.load(open(sys.argv[1], encoding="utf-8"))
evs = t["traceEvents"]
nodes = {e["name"]: e for e in evs if e.get("ph") == "X" and e.get("cat") == "node"}
assert set(nodes) == {"first/run", "second/run", "third/run"}, nodes.keys()
assert nodes["third/run"]["args"]["status"] == "failed" and nodes["first/run"]["args"]["kind"] == "run"
assert {n["tid"] for n in nodes.values()} <= {1, 2}, "two job slots, two tracks"
phases = [e for e in evs if e.get("cat") == "phase"]
names = {p["name"] for p in phases}
assert "command" in names and "create" in names, names
for p in phases:
    n = nodes[p["args"]["node"]]
    assert n["tid"] == p["tid"] and n["ts"] <= p["ts"] and p["ts"] + p["dur"] <= n["ts"] + n["dur"], p
waits = [e for e in evs if e.get("cat") == "wait"]
# 3 ready nodes, 2 slots: one waits until another ends (what else waits depends on the order
# the scheduler starts them in)
assert waits and max(w["dur"] for w in waits) > 0, waits
for w in waits:
    n = nodes[w["args"]["node"]]
    assert w["ts"] + w["dur"] == n["ts"], (w, n)
PY

# 2. one step alone streams live: its group opens with the step's name only
brr_run --progress=ci -s first
expect_rc 0
expect_out ">>> first"
grep -qx '>>> first' "$OUT" || fail "no live group for the lone step"
grep -qE '(^| )first-2$' "$OUT" || fail "the lone step's lines are missing"

# 3. JSON: strict UTF-8, the schema, and --trace FILE
brr_run --progress=json -j 2 --keep-going --trace "$WORK/my-trace.json"
expect_rc 1
[ -s "$WORK/my-trace.json" ] || fail "--trace FILE not written"
/usr/bin/python3 - "$OUT" "$BRR_SOURCE_DIR/docs/events.schema.json" <<'PY' || fail "JSON events"
import json, sys, jsonschema
text = open(sys.argv[1], "rb").read().decode("utf-8", errors="strict")
v = jsonschema.Draft7Validator(json.load(open(sys.argv[2])))
events = [json.loads(l) for l in text.splitlines() if l.startswith("{")]
for e in events:
    v.validate(e)
bad = [e["line"] for e in events if e["type"] == "output" and e["step"] == "third"]
assert "bad \ufffd byte" in bad, bad
PY
expect_no_leftovers
echo "ok"
