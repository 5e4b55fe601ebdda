#!/bin/bash
# Every global symbol brr defines carries the project's prefix (docs/architecture.md, "Names"):
# brr_/BRR_ for the public face, brr__<module>_/BRR__<MODULE>_ for what a module shares
# between its own files. Lists them with nm in the core library and the brr executable and
# fails on any other name (they could clash with another library's symbols).
set -u
lib=${1:?usage: symbols_test.sh <libbrrcore.a> <brr executable>}
exe=${2:?usage: symbols_test.sh <libbrrcore.a> <brr executable>}
command -v nm >/dev/null || { echo "FAIL: nm (binutils) is not installed" >&2; exit 1; }

# names that break the rule, from `nm -P` lines on stdin ("name type [value size]"); what
# the C runtime and the linker put into an executable (_start, __bss_start, data_start, main,
# copies of libc's data such as stderr@GLIBC_2.2.5) is not brr's
offenders() {
  awk 'NF >= 2 && $2 ~ /^[A-Z]$/ && $2 != "U" { print $1 }' |
    grep -Ev '^(brr_|BRR_)|^_|@|^(main|data_start)$' | sort -u
}

# the filter finds what it is meant to
probe=$(printf 'probe_fn T 0 0\nBRR__PROBE_TABLE R 0 0\nbrr__probe_fn T 0 0\nmain T 0 0\n_start T 0 0\nstderr@GLIBC_2.2.5 B 0 0\nPROBE_TABLE D 0 0\n' | offenders | tr '\n' ' ')
if [ "$probe" != "PROBE_TABLE probe_fn " ]; then
  echo "FAIL: the check no longer tells a bad name from a good one (got: $probe)" >&2
  exit 1
fi

lib_syms=$(nm -g --defined-only -P "$lib" 2>/dev/null) || { echo "FAIL: nm cannot read $lib" >&2; exit 1; }
exe_syms=$(nm -g --defined-only -P "$exe" 2>/dev/null) || { echo "FAIL: nm cannot read $exe" >&2; exit 1; }
# and it reads the library: brr's public functions are there
n=$(printf '%s\n' "$lib_syms" | grep -c '^brr_[a-z_]* T ')
if [ "$n" -lt 100 ] || ! printf '%s\n' "$exe_syms" | grep -q '^brr_graph_compile T '; then
  echo "FAIL: nm listed only $n brr_ functions in $lib, or none in $exe" >&2
  exit 1
fi
bad=$( { printf '%s\n' "$lib_syms"; printf '%s\n' "$exe_syms"; } | offenders)
# a --coverage build (tools/coverage.sh) links gcc's libgcov.a into brr: its globals
# (gcov_write, mangle_path) are the toolchain's, not brr's
if [ -n "$bad" ] && printf '%s\n' "$exe_syms" | grep -q '^__gcov_'; then
  gcov_a=$(${CC:-cc} -print-file-name=libgcov.a 2>/dev/null)
  if [ -f "$gcov_a" ]; then
    gcov_syms=$(nm -g --defined-only -P "$gcov_a" 2>/dev/null | awk 'NF >= 2 { print $1 }' | sort -u)
    bad=$(comm -23 <(printf '%s\n' "$bad") <(printf '%s\n' "$gcov_syms") | sed '/^$/d')
  fi
fi
if [ -n "$bad" ]; then
  echo "FAIL: global symbols without the brr_ prefix ($(printf '%s\n' "$bad" | wc -l)):" >&2
  printf '  %s\n' $bad >&2
  echo "make them static, or brr__<module>_<name> when the module's files share them" >&2
  echo "(a tree-wide rename: see docs/architecture.md, Names)" >&2
  exit 1
fi
echo "ok: every global symbol of $(basename "$lib") and $(basename "$exe") carries the brr_ prefix ($n functions)"
