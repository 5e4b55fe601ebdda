#!/bin/bash
# brr's YAML loader against buildrunner's (PyYAML 6, pure-Python yaml.Loader, then the
# dump-and-reload buildrunner does to drop aliases), measured in the same run on the same
# generated buildrunner.yaml files. Prints milliseconds per load and the ratio.
# Usage: bench/config_load.sh [BUILD_DIR]   (needs /usr/bin/python3 with python3-yaml)
set -euo pipefail
build=${1:-build}
bin="$build/bench/bench_config_load"
[ -x "$bin" ] || { echo "build $bin first (ninja -C $build bench_config_load)"; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

gen() {  # steps -> a buildrunner.yaml with anchors, merges and every kind of step
  /usr/bin/python3 - "$1" <<'PY'
import sys
n = int(sys.argv[1])
out = ["version: 2.0", "x-common: &common", "  image: busybox:latest", "  env: {A: 1, B: 'two', C: yes}",
       "  cmds: [make, make test, echo done]", "steps:"]
for i in range(n):
    out += [f"  build-{i}:", "    build:", "      dockerfile: |", "        FROM busybox", f"        RUN echo {i}",
            "      buildargs: {V: 2.0, N: 10}", f"    push: repo/img-{i}:v{i}",
            f"  run-{i}:", f"    depends: [build-{i}]", "    run:", "      <<: *common",
            f"      ports: {{80{i % 10}: 8080}}", "      artifacts: {'out/*.tar': {type: tar}}"]
print("\n".join(out))
PY
}

py_load() {  # file runs -> ms per load, buildrunner's way
  /usr/bin/python3 - "$1" "$2" <<'PY'
import sys, time, yaml
from collections import OrderedDict
class L(yaml.Loader): pass
L.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                  lambda l, n: (l.flatten_mapping(n), OrderedDict(l.construct_pairs(n)))[1])
class D(yaml.Dumper):
    def ignore_aliases(self, data): return True
D.add_representer(OrderedDict, lambda d, x: d.represent_dict(iter(x.items())))
text = open(sys.argv[1]).read()
runs = int(sys.argv[2])
t = time.perf_counter()
for _ in range(runs):
    yaml.load(yaml.dump(yaml.load(text, L), default_flow_style=False, Dumper=D), Loader=L)
print(f"{(time.perf_counter() - t) * 1000 / runs:.4f}")
PY
}

printf "%-10s %10s %14s %14s %8s\n" steps bytes "brr ms/load" "PyYAML ms/load" ratio
for steps in 10 100 1000; do
  f="$tmp/s$steps.yaml"
  gen "$steps" >"$f"
  runs=$((2000 / steps + 2))
  b=$("$bin" "$f" -n $((runs * 10)))
  p=$(py_load "$f" "$runs")
  printf "%-10s %10s %14s %14s %7.0fx\n" "$steps" "$(wc -c <"$f")" "$b" "$p" "$(awk -v p="$p" -v b="$b" 'BEGIN{print p / b}')"
done
