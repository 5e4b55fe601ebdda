#!/usr/bin/env bash
# Diagnostics a new user meets before anything runs (no Docker needed): did-you-mean for
# misspelt flags and -s step names, warnings for flags that contradict each other, the path
# a missing -c was looked for at, schema errors with the source line and a caret at the key,
# a missing Dockerfile named by --graph with the path searched, and configuration errors as
# GitHub annotations.
set -uo pipefail
: "${BRR:?}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export BRR_MASTER_CONFIG=/nonexistent BRR_USER_CONFIG=/nonexistent NO_COLOR=1 XDG_CACHE_HOME=$work/cache
unset GITHUB_ACTIONS BRR_HEARTBEAT
bad=0
fail() { echo "FAIL: $*" >&2; echo "--- stderr:" >&2; cat "$work/err" >&2; bad=1; }
run() { "$BRR" "$@" >"$work/out" 2>"$work/err"; echo $? >"$work/rc"; }
has() { grep -qF -- "$1" "$work/err" || fail "stderr lacks: $1"; }
rc_is() { [ "$(cat "$work/rc")" = "$1" ] || fail "exit $(cat "$work/rc"), expected $1"; }

mkdir -p "$work/p/ctx"
cat >"$work/p/buildrunner.yaml" <<'YAML'
steps:
  build-app:
    build:
      path: ctx
  test:
    run:
      image: busybox
      cmd: "true"
YAML

run --jbos 3 -d "$work/p"
rc_is 2; has "unknown option '--jbos' (did you mean '--jobs'?)"
run --keep-goign -d "$work/p"
rc_is 2; has "(did you mean '--keep-going'?)"
run --heartbeat=soon -d "$work/p"
rc_is 2; has "--heartbeat needs a number of seconds, got 'soon'"
BRR_HEARTBEAT=x run -d "$work/p" --graph
rc_is 2; has "BRR_HEARTBEAT needs a number of seconds, got 'x'"

run -d "$work/p" -s tset --graph
rc_is 78; has "The following steps do not exist: tset (did you mean 'test'?)"
run -d "$work/p" -s build-ap,tst,zzzzzzzz --graph
rc_is 78; has "The following steps do not exist: build-ap, tst, zzzzzzzz (did you mean 'build-app' for 'build-ap', 'test' for 'tst'?)"

run -d "$work/p" --serial -j 4 --graph
rc_is 0; has "brr: warning: --serial runs one node at a time; -j 4 is ignored"
run -d "$work/p" --print-generated-files --graph
rc_is 0; has "brr: warning: --print-generated-files prints the configuration and exits; --graph is ignored"

(cd / && "$BRR" -d "$work/p" -c conf/global.yaml --graph >"$work/out" 2>"$work/err"; echo $? >"$work/rc")
rc_is 78; has "global config file 'conf/global.yaml' (-c) does not exist: looked for $work/p/conf/global.yaml (resolved against -d $work/p)"

# the build context exists but has no Dockerfile: --graph says where it looked
run -d "$work/p" --graph
rc_is 0; has "warning: step 'build-app': Dockerfile 'Dockerfile' does not exist (yet): looked for $work/p/ctx/Dockerfile"

# an error about a key points at the key, with the line and a caret
mkdir -p "$work/mp"
cat >"$work/mp/buildrunner.yaml" <<'YAML'
steps:
  mp:
    build:
      dockerfile: FROM busybox
      platforms: [linux/amd64, linux/arm64]
    run:
      cmd: echo
YAML
run -d "$work/mp" --graph
rc_is 78
has "buildrunner.yaml:6:5: steps.mp.run: run is not allowed in the same step as a multi-platform build step mp"
grep -A2 'steps.mp.run:' "$work/err" | sed -n 2,3p >"$work/snip"
printf '      run:\n      ^\n' | cmp -s - "$work/snip" || { fail "no source line and caret under the error"; cat -A "$work/snip" >&2; }

# on GitHub Actions the same error is an annotation on stdout
GITHUB_ACTIONS=true GITHUB_WORKSPACE=$work run -d "$work/mp" --graph
rc_is 78
grep -qxF "::error file=mp/buildrunner.yaml,line=6,col=5,title=brr%3A configuration error::steps.mp.run: run is not allowed in the same step as a multi-platform build step mp" "$work/out" ||
  { fail "no annotation on stdout"; cat "$work/out" >&2; }

# --strict-templates: printing an undefined variable is an error, with Jinja2's own message
# (StrictUndefined, checked against Debian's python3-jinja2); `default` and `is defined` work
mkdir -p "$work/t"
cat >"$work/t/buildrunner.yaml.j2" <<'YAML'
steps:
  a:
    run:
      image: busybox
      cmd: "echo {{ BAR | default('d') }}{% if BAZ is defined %}x{% endif %} {{ FOO_UNSET }}"
YAML
run -d "$work/t" -f buildrunner.yaml.j2 --print-generated-files
rc_is 0; grep -qF 'cmd: "echo d "' "$work/out" || fail "without --strict-templates an undefined variable is empty"
run -d "$work/t" -f buildrunner.yaml.j2 --print-generated-files --strict-templates
rc_is 78
want=$(/usr/bin/python3 -c '
import jinja2, sys
e = jinja2.Environment(undefined=jinja2.StrictUndefined)
try:
    e.from_string(open(sys.argv[1]).read()).render()
except jinja2.UndefinedError as x:
    print(x)' "$work/t/buildrunner.yaml.j2")
[ "$want" = "'FOO_UNSET' is undefined" ] || fail "the Jinja2 oracle says: $want"
has "buildrunner.yaml.j2:5:"
has "$want"

# everything StrictUndefined refuses, brr refuses with the same message; what it allows
# (is defined, default, set, tests) renders the same (the oracle is Debian's python3-jinja2)
while IFS= read -r expr; do
  printf 'steps:\n  a:\n    run:\n      image: busybox\n      cmd: "%s"\n' "$expr" >"$work/t/strict.yaml"
  want=$(/usr/bin/python3 -c '
import jinja2, sys
e = jinja2.Environment(undefined=jinja2.StrictUndefined)
try:
    print("ok " + e.from_string(open(sys.argv[1]).read()).render().splitlines()[-1].strip())
except jinja2.UndefinedError as x:
    print("error " + str(x))' "$work/t/strict.yaml")
  run -d "$work/t" -f strict.yaml --print-generated-files --strict-templates
  case $want in
    ok\ *) rc_is 0; grep -qF -- "${want#ok }" "$work/out" || fail "strict: $expr should render ${want#ok }" ;;
    *) rc_is 78; grep -qF -- "${want#error }" "$work/err" || fail "strict: $expr should fail with ${want#error }" ;;
  esac
done <<'EXPRS'
{% if X %}a{% endif %}
{% for i in X %}{{ i }}{% endfor %}
{{ X or 'y' }}
{{ 'a' ~ X }}
{{ X == 1 }}
{{ 1 in X }}
{{ X | length }}
{{ X | upper }}
{{ '%s' % X }}
{{ X.y }}
{{ X | default('d', true) }}
{% if X is defined and X %}z{% endif %}
{% set y = X %}ok
{{ X is none }}
{{ [X] | length }}
EXPRS

[ $bad = 0 ] && echo ok
exit $bad
