#!/bin/bash
# Set up everything on a fresh Debian 12 machine (as root), build brr, and run it on the
# example pipeline in examples/hello. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup-deps.sh
tools/setup-docker-testenv.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build
echo "== brr --graph -d examples/hello"
build/brr --graph -d examples/hello
echo "== brr -d examples/hello"
exec build/brr -d examples/hello "$@"
