#!/bin/bash
# cpack -G DEB makes a .deb that real dpkg reads and lintian passes: Depends found by dpkg-shlibdeps (the
# libraries brr links), the files it must hold; dpkg installs it into a temp root (its own
# database there) and removes it again, and the packaged brr runs.
set -u
: "${BRR_BINARY_DIR:?}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { if ! eval "$1"; then echo "FAIL: $2"; fail=1; fi; }

cpack -G DEB -B "$tmp/out" --config "$BRR_BINARY_DIR/CPackConfig.cmake" >"$tmp/log" 2>&1 || { cat "$tmp/log"; exit 1; }
deb=$(ls "$tmp"/out/brr_*.deb 2>/dev/null | head -1)
[ -n "$deb" ] || { echo "FAIL: no .deb made"; cat "$tmp/log"; exit 1; }
dpkg-deb -I "$deb" >"$tmp/info" || { echo "FAIL: dpkg-deb -I"; exit 1; }
dpkg-deb -c "$deb" >"$tmp/files" || { echo "FAIL: dpkg-deb -c"; exit 1; }
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
for pkg in libuv1 libcurl4 libyaml-0-2 libcjson1 libpcre2-8-0 libssl3 libarchive13 libc6; do
  check 'grep -Eq "(^|, )$pkg( |,|$)" <<<"$depends"' "Depends names $pkg"
done
# every dependency is a package this machine has: the package installs here as it is
for pkg in $(tr ',' '\n' <<<"$depends" | sed 's/(.*)//; s/|.*//' | tr -d ' '); do
  check 'dpkg-query -W -f="\${Status}" "$pkg" 2>/dev/null | grep -q "install ok installed"' "dependency $pkg is installed here"
done
check '[ "$(dpkg-deb -f "$deb" Package)" = brr ]' "Package: brr"
check '[ "$(dpkg-deb -f "$deb" Architecture)" = "$(dpkg --print-architecture)" ]' "Architecture is this machine's"
for f in ./usr/bin/brr ./usr/share/man/man1/brr.1.gz ./usr/share/bash-completion/completions/brr \
         ./usr/share/zsh/vendor-completions/_brr ./usr/share/fish/vendor_completions.d/brr.fish \
         ./usr/share/brr/schema/buildrunner.schema.json ./usr/share/doc/brr/copyright; do
  check 'grep -q " $f\$" "$tmp/files"' "the package holds $f"
done

# Debian's own package checker finds no error and no warning
if ! lintian --fail-on error,warning --tag-display-limit 0 "$deb" >"$tmp/lintian" 2>&1; then
  echo "FAIL: lintian:"; grep -v 'root privileges' "$tmp/lintian"; fail=1
fi

# install into a temp root with its own dpkg database (the libraries are the host's, so
# dependencies are not known to that database: --force-depends), run, remove
root=$tmp/root
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates"
: >"$root/var/lib/dpkg/status"
if dpkg --root="$root" --log=/dev/null --force-depends -i "$deb" >"$tmp/dpkg.log" 2>&1; then
  check 'dpkg --root="$root" -s brr | grep -q "^Status: install ok installed"' "dpkg records brr installed"
  check '"$root/usr/bin/brr" --version >"$tmp/v" && head -1 "$tmp/v" | grep -qx "brr $(dpkg-deb -f "$deb" Version)"' \
        "the packaged brr prints the package's version: $(head -1 "$tmp/v" 2>/dev/null)"
  check 'dpkg --root="$root" --log=/dev/null -r brr >>"$tmp/dpkg.log" 2>&1 && [ ! -e "$root/usr/bin/brr" ]' \
        "dpkg removes brr again"
else
  echo "FAIL: dpkg -i into $root"; cat "$tmp/dpkg.log"; fail=1
fi
exit $fail
