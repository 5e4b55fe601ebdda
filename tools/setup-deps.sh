#!/bin/bash
# Build and test dependencies of brr, from Debian 12 packages only. Idempotent; run as root.
#   tools/setup-deps.sh            install what is missing
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "setup-deps: run as root" >&2; exit 1; }

PKGS=(
  # toolchain
  build-essential cmake ninja-build pkg-config git ca-certificates
  # libraries brr links (CMake names these when one is missing)
  libuv1-dev libyaml-dev libcurl4-openssl-dev libcjson-dev libpcre2-dev libssl-dev
  libarchive-dev libcmocka-dev
  # the unit tests' fake Docker engine (tests/unit/fake_engine.c)
  libmicrohttpd-dev
  # the Jinja2 oracle for template tests (Debian's python3, not a pip one)
  python3 python3-jinja2 python3-yaml
  # the JSON Schema test (python3-jsonschema), the completion tests in the real shells, the
  # man page rendering check, cpack -G DEB's dpkg-shlibdeps (dpkg-dev) and ELF detection, and
  # Debian's package checker on the .deb
  python3-jsonschema bash-completion zsh fish man-db groff-base dpkg-dev file lintian
  # the --graph=dot check (tests/ui)
  graphviz
  # pypi-push uploads (brr runs twine; the e2e test uploads to an endpoint of its own)
  twine
  # fuzzing (libFuzzer) and benchmarks' peers and timers
  clang libclang-rt-14-dev make time hyperfine
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup-deps: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "setup-deps: all ${#PKGS[@]} packages present"
