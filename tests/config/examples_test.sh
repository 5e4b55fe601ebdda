#!/bin/bash
# Every buildrunner example config loads and validates: `brr --print-generated-files` exits 0
# with no error, and a file without template syntax is printed back byte for byte (one
# trailing newline may be dropped, as Jinja does); templated files are compared with Jinja2
# by the template oracle cases (tests/template). The examples name paths relative to buildrunner's
# repository root (examples/run/services), so they are copied under <tmp>/examples and brr
# runs with -d <tmp>: once in a plain directory (placeholder identity) and once in a git
# repository with a commit (no placeholder warning allowed).
# Usage: examples_test.sh EXAMPLES_DIR   (BRR: the brr binary)
set -u
src=${1:?usage: examples_test.sh EXAMPLES_DIR}
: "${BRR:?BRR must name the brr binary}"
if [ ! -d "$src" ]; then
  # buildrunner's examples are not part of brr; CI has them beside the clone
  echo "SKIPPED: buildrunner's examples are not at $src" \
       "(configure with -DBRR_CONFORMANCE_DIR=<dir with buildrunner-examples/>)"
  exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export BRR_MASTER_CONFIG= BRR_USER_CONFIG=

fail=0 checked=0
# the rendered text is the file, or the file less one trailing newline (Jinja drops one)
same_rendered() {
  cmp -s "$1" "$2" && return 0
  [ "$(tail -c 1 "$2" | od -An -tx1 | tr -d ' ')" = 0a ] && cmp -s "$1" <(head -c -1 "$2")
}
check() {  # mode rel [extra args...]
  local mode=$1 rel=$2; shift 2
  local templated=0
  grep -q -e '{{' -e '{%' "$tmp/root/examples/$rel" && templated=1
  local out="$tmp/out" err="$tmp/err"
  (cd "$tmp/root" && "$BRR" -d "$tmp/root" -f "examples/$rel" --print-generated-files "$@" >"$out" 2>"$err")
  local rc=$?
  checked=$((checked + 1))
  local want="$tmp/root/examples/$rel"
  if [ $rc -ne 0 ]; then
    echo "FAIL [$mode] $rel $*: exit $rc"; sed 's/^/    /' "$err"; fail=1; return
  fi
  if [ $templated = 0 ] && ! same_rendered "$out" "$want"; then
    echo "FAIL [$mode] $rel: printed text differs from the file"; diff "$want" "$out" | head; fail=1
  fi
  if grep -qi 'error' "$err"; then echo "FAIL [$mode] $rel: errors on stderr"; cat "$err"; fail=1; fi
  if [ "$mode" = git ] && grep -q placeholder "$err"; then
    echo "FAIL [$mode] $rel: placeholder identity in a git repository"; cat "$err"; fail=1
  fi
}

run_all() {
  local mode=$1
  while IFS= read -r f; do
    rel=${f#"$src"/}
    grep -q '^steps:' "$f" || continue            # global config files are checked below
    check "$mode" "$rel"
  done < <(find "$src" -name '*.yaml' | sort)
  for g in global-config.yaml global-config-list.yaml; do
    check "$mode" build/builders/buildrunner.yaml -c "examples/build/builders/$g"
  done
}

mkdir -p "$tmp/root"
cp -r "$src" "$tmp/root/examples"
chmod -R u+w "$tmp/root"
run_all plain
git -C "$tmp/root" init -q -b main
git -C "$tmp/root" -c user.name=brr -c user.email=brr@example.com add -A
git -C "$tmp/root" -c user.name=brr -c user.email=brr@example.com commit -qm examples
run_all git
echo "$checked example loads checked"
exit $fail
