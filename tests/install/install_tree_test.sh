#!/bin/bash
# cmake --install into a temp prefix puts the binary, the man page, the completions and the
# JSON Schemas in place (zsh's file in site-functions: the prefix is not /usr); the man page renders without warnings and names every flag --help
# names; the installed brr runs.
set -u
: "${BRR_BINARY_DIR:?}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if ! eval "$1"; then echo "FAIL: $2"; fail=1; fi; }

cmake --install "$BRR_BINARY_DIR" --prefix "$tmp/usr" >"$tmp/log" 2>&1 || { cat "$tmp/log"; exit 1; }
p=$tmp/usr
for f in bin/brr share/man/man1/brr.1.gz share/bash-completion/completions/brr \
         share/zsh/site-functions/_brr share/fish/vendor_completions.d/brr.fish \
         share/brr/schema/buildrunner.schema.json share/brr/schema/buildrunner-global.schema.json \
         share/doc/brr/LICENSE share/doc/brr/copyright share/doc/brr/changelog.gz; do
  check '[ -s "$p/$f" ]' "installed $f"
done
check '[ -x "$p/bin/brr" ]' "bin/brr is executable"
check '"$p/bin/brr" --version >"$tmp/v" && grep -qx "brr [0-9.]*" <(head -1 "$tmp/v")' "the installed brr prints its version"
for lib in libuv libcurl libyaml cJSON PCRE2; do
  check 'grep -q "^$lib [0-9]" "$tmp/v"' "--version names $lib and its version"
done
check 'grep -Eq "^commit ([0-9a-f]{12}(-dirty)?|unknown)$" "$tmp/v"' "--version names the commit"

# the man page: groff reports no warning, and every flag of --help is in it
check 'LC_ALL=C.UTF-8 MANWIDTH=100 man --warnings=w -l "$p/share/man/man1/brr.1.gz" >"$tmp/man.txt" 2>"$tmp/man.err" && [ ! -s "$tmp/man.err" ]' \
      "man renders brr.1.gz without warnings: $(head -c 300 "$tmp/man.err" 2>/dev/null)"
"$p/bin/brr" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u >"$tmp/help-flags"
n=0
while read -r flag; do
  n=$((n + 1))
  check 'grep -qF -- "$flag" "$tmp/man.txt"' "the man page lacks $flag"
done <"$tmp/help-flags"
check '[ "$n" -ge 30 ]' "--help names at least 30 flags (got $n)"
for s in "EXIT STATUS" ENVIRONMENT FILES EXAMPLES; do
  check 'grep -q "^$s" "$tmp/man.txt"' "the man page has a $s section"
done
check 'cmp -s "$p/share/brr/schema/buildrunner.schema.json" <("$p/bin/brr" --print-schema)' \
      "the installed schema is what brr --print-schema prints"
exit $fail
