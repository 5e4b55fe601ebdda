#!/usr/bin/env bash
# --graph against real Graphviz (Debian's graphviz): the DOT output of a pipeline with steps,
# image edges, pushes and moving tags parses and lays out (`dot -Tsvg`), with a cluster per
# step, a legend and the moving-tag barrier; and --graph uses the durations an earlier run
# measured (the history file), in text and dot, while --graph=json keeps its format. A fixed
# build number (-n) keeps the generated tags the same between runs.
set -euo pipefail
: "${BRR:?}"
command -v dot >/dev/null || { echo "FAIL: graphviz (dot) is not installed: tools/setup-deps.sh" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export BRR_MASTER_CONFIG=/nonexistent BRR_USER_CONFIG=/nonexistent XDG_CACHE_HOME=$work/cache
mkdir -p "$work/p"
cat >"$work/p/buildrunner.yaml" <<'YAML'
steps:
  base:
    build:
      dockerfile: "FROM busybox\n"
    push: ["reg.example/base:v1", "reg.example/base:latest"]
  app:
    build:
      dockerfile: "FROM reg.example/base:v1\n"
    push: ["reg.example/app:v1", "reg.example/app:latest"]
  lib:
    build:
      dockerfile: "FROM busybox\n"
    push: ["reg.example/lib:v1", "reg.example/lib:latest"]
  test:
    run:
      image: reg.example/app:v1
      cmd: "cat /artifacts/base/x || true"
YAML
fail() { echo "FAIL: $*" >&2; exit 1; }
"$BRR" -d "$work/p" -n 7 --push --graph=dot >"$work/g.dot" 2>"$work/err" || { cat "$work/err"; fail "--graph=dot"; }
dot -Tsvg "$work/g.dot" -o "$work/g.svg" 2>"$work/dot.err" || { cat "$work/dot.err"; fail "dot rejects the output"; }
[ ! -s "$work/dot.err" ] || { cat "$work/dot.err"; fail "dot warns about the output"; }
grep -q '<title>cluster_legend</title>' "$work/g.svg" || fail "no legend"
[ "$(grep -c 'subgraph cluster_[0-9]' "$work/g.dot")" -eq 4 ] || fail "not one cluster per step"
grep -q '"moving-tag barrier" \[shape=circle' "$work/g.dot" || fail "3 x 3 moving-tag edges without a barrier"
grep -q 'label="image\\nreg.example/app:v1"' "$work/g.dot" || fail "edge detail missing"
grep -q 'color="#d62728"' "$work/g.dot" || fail "critical path not coloured"
"$BRR" -d "$work/p" -n 7 --push --graph=json >"$work/before.json"

# an earlier run measured test/run at 42.5 s
proj=$(realpath "$work/p/buildrunner.yaml")
hist=$XDG_CACHE_HOME/brr/history/$(printf %s "$proj" | sha1sum | cut -d' ' -f1).tsv
mkdir -p "$(dirname "$hist")"
printf '# brr history v1\n42500\ttest/run\n' >"$hist"
"$BRR" -d "$work/p" -n 7 --push --graph >"$work/g.txt"
grep -q 'test/run  (run, pool engine, 42.5 s measured)' "$work/g.txt" || { cat "$work/g.txt"; fail "text ignores the history"; }
"$BRR" -d "$work/p" -n 7 --push --graph=dot >"$work/g2.dot"
grep -qF 'test/run\nrun, 42.5 s (measured)' "$work/g2.dot" || fail "dot ignores the history"
"$BRR" -d "$work/p" -n 7 --push --graph=json >"$work/after.json"
# the same format: only the weight (and what follows from it) changes
/usr/bin/python3 - "$work/before.json" "$work/after.json" <<'PY' || fail "--graph=json changed shape"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
assert list(a) == list(b) == ["format_version", "nodes", "edges", "order", "critical_path"]
assert [list(n) for n in a["nodes"]] == [list(n) for n in b["nodes"]]
w = {n["id"]: n["weight"] for n in b["nodes"]}
assert w["test/run"] == 42.5 and {n["id"]: n["weight"] for n in a["nodes"]}["test/run"] == 5
assert a["edges"] == b["edges"]
PY
echo ok
