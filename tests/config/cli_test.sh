#!/bin/bash
# The cli's load path: --print-generated-files (project file to stdout byte for byte, names
# and global files to stderr, exit 0 / 78), --log-generated-files (everything to stderr,
# then the normal path), the graph of a loaded pipeline, and the exit codes of the load.
set -u
: "${BRR:?BRR must name the brr binary}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export BRR_MASTER_CONFIG= BRR_USER_CONFIG= NO_COLOR=1
fail=0
check() { if ! eval "$1"; then echo "FAIL: $2"; echo "  stdout: $(head -c 400 "$tmp/out")"; echo "  stderr: $(head -c 400 "$tmp/err")"; fail=1; fi; }
run() { (cd "$tmp/b" && "$BRR" -d "$tmp/b" "$@" >"$tmp/out" 2>"$tmp/err"); echo $? >"$tmp/rc"; }
rc() { cat "$tmp/rc"; }

mkdir -p "$tmp/b"
printf 'steps:\n  one:\n    build: {dockerfile: "FROM busybox\\n"}\n    push: repo/one:v1\n  two:\n    run: {image: busybox, cmds: [a, b]}\n    depends: [one]\n' >"$tmp/b/buildrunner.yaml"
printf 'env: {G: 1}\n' >"$tmp/b/.buildrunner.yaml"

run --print-generated-files
check '[ "$(rc)" = 0 ]' "--print-generated-files exits 0"
# the rendered file is the source less the one trailing newline Jinja drops
check 'cmp -s "$tmp/out" <(head -c -1 "$tmp/b/buildrunner.yaml") || cmp -s "$tmp/out" "$tmp/b/buildrunner.yaml"' "stdout is the rendered project file byte for byte"
check 'grep -q "^Generated contents of buildrunner.yaml:$" "$tmp/err"' "stderr names the project file"
check 'grep -q "^Generated contents of .buildrunner.yaml:$" "$tmp/err"' "stderr names the global file"
check 'grep -q "^env: {G: 1}$" "$tmp/err"' "stderr has the rendered global file"

run --log-generated-files --graph
check '[ "$(rc)" = 0 ]' "--log-generated-files exits 0"
check 'grep -q "<- one/commit  depends" "$tmp/out"' "the graph follows on stdout"
check 'grep -q "^steps:$" "$tmp/err"' "stderr has the rendered project file"

run --push --graph=json
check '[ "$(rc)" = 0 ]' "a valid config exits 0"
check 'grep -q "\"image\":\"repo/one:v1\"" "$tmp/out"' "the push of the written tag"
check 'grep -q "\"image\":\"repo/one:unknown-0.i000000.m0-" "$tmp/out"' "the injected build tag from the placeholder identity"
check 'grep -q "placeholders" "$tmp/err"' "the placeholder identity is warned about"

printf 'steps:\n  one:\n    run: {image: 5}\n' >"$tmp/b/buildrunner.yaml"
run --print-generated-files
check '[ "$(rc)" = 78 ]' "--print-generated-files of an invalid config exits 78"
check 'grep -q "^buildrunner.yaml:3:18: steps.one.run.image: expected a string, got an integer" "$tmp/err"' "the error is printed gcc-style"
run
check '[ "$(rc)" = 78 ] && [ ! -s "$tmp/out" ]' "an invalid config exits 78 and runs nothing"

printf 'version: 4.0\nsteps:\n  one:\n    run: {image: x}\n' >"$tmp/b/buildrunner.yaml"
run
check '[ "$(rc)" = 1 ]' "a version newer than 3.26 exits 1 as buildrunner"

printf 'steps:\n  one:\n    run: {image: x}\n' >"$tmp/b/buildrunner.yaml"
run --steps one,nope
check '[ "$(rc)" = 78 ] && grep -q "The following steps do not exist: nope" "$tmp/err"' "unknown --steps exit 78"
# the --security-scan-* flags are taken (none is refused any more); bad values are usage
# errors, a bad config file a configuration error, as buildrunner
run --security-scan-enabled true --security-scan-version 0.1 --security-scan-max-score-threshold 7.5 --graph=json
check '[ "$(rc)" = 0 ]' "the --security-scan-* flags load"
check '! "$BRR" --help | grep -qi "not implemented"' "--help says nothing is not implemented"
run --security-scan-scanner grype
check '[ "$(rc)" = 2 ] && grep -q "takes trivy" "$tmp/err"' "--security-scan-scanner takes only trivy"
run --security-scan-max-score-threshold high
check '[ "$(rc)" = 2 ]' "--security-scan-max-score-threshold needs a number"
run --security-scan-config-file "$tmp/nope.yaml"
check '[ "$(rc)" = 78 ] && grep -q "security scan config file (.*nope.yaml) could not be found" "$tmp/err"' "a missing scan config file exits 78"
printf -- '- a list\n' >"$tmp/list.yaml"
run --security-scan-config-file "$tmp/list.yaml"
check '[ "$(rc)" = 78 ] && grep -q "must contain a dictionary" "$tmp/err"' "a scan config file that is not a map exits 78"
printf 'timeout: [\n' >"$tmp/bad.yaml"
run --security-scan-config-file "$tmp/bad.yaml"
check '[ "$(rc)" = 78 ] && grep -q "bad.yaml:" "$tmp/err"' "a malformed scan config file exits 78 naming file:line"
printf 'security-scan: {enabled: maybe}\n' >"$tmp/b/.buildrunner.yaml"
run --security-scan-enabled true --graph
check '[ "$(rc)" = 0 ]' "the flag replaces a global value it overrides before validation"
printf 'env: {G: 1}\n' >"$tmp/b/.buildrunner.yaml"
exit $fail
