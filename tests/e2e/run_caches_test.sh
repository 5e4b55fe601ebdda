#!/usr/bin/env bash
# Caches across runs: nothing at first, restored by exact key in a second run, not saved by a
# failing run, restored by prefix, wiped by --clean-cache; parallel steps sharing a cache.
source "$BRR_SOURCE_DIR/tests/e2e/run/lib.sh"
setup caches
caches=$WORK/caches
printf 'docker-registry: %s\ncaches-root: %s\n' "$REGISTRY" "$caches" >"$DIR/.buildrunner.yaml"

BUILDRUNNER_E2E_MARK=run1 brr_run
expect_rc 0
expect_line cached "deps=none shared=none"
deps=$(ls "$caches"/*-deps.tar) || fail "no deps archive under $caches"
[ -f "$caches/shared-v2.tar" ] || fail "the first key of a path is the one saved"
[ ! -e "$caches/shared-v1.tar" ] || fail "only the first key of a path is saved"
tar -xOf "$deps" ./stamp | grep -qx run1 || fail "deps archive lacks the stamp"
grep -q "was written by step \"cached\"" "$caches/cache_history.log" || fail "no cache_history.log line"

BUILDRUNNER_E2E_MARK=run2 brr_run
expect_rc 0
expect_line cached "deps=run1 shared=run1"

BUILDRUNNER_E2E_MARK=fail brr_run
expect_rc 1
expect_line cached "deps=run2 shared=run2"
expect_out "Skipping cache save due to failed exit code"

BUILDRUNNER_E2E_MARK=run4 brr_run
expect_rc 0
expect_line cached "deps=run2 shared=run2"

brr_run -f prefix.yaml
expect_rc 0
expect_line prefix "prefix-shared=run4"

BUILDRUNNER_E2E_MARK=run6 brr_run --clean-cache
expect_rc 0
expect_line cached "deps=none shared=none"

rm -rf "$caches"
brr_run -f parallel.yaml
expect_rc 0
deps=$(ls "$caches"/*-deps.tar)
stamp=$(tar -xOf "$deps" ./stamp)
[ "$stamp" = p1 ] || [ "$stamp" = p2 ] || fail "parallel saves broke the archive ($stamp)"
[ "$(tar -xOf "$deps" ./big | wc -c)" -eq 4194304 ] || fail "parallel saves mixed the archive"
[ "$(grep -c 'was written by step' "$caches/cache_history.log")" -eq 2 ] || fail "both saves should be logged"
expect_no_leftovers
echo ok
