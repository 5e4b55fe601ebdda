#!/usr/bin/env bash
# files (aliases, literal master-config contents, build-dir paths, modes) and the
# configuration errors a run step finds: exit 78, the file:line:col of the key, nothing made.
source "$BRR_SOURCE_DIR/tests/e2e/run/lib.sh"
setup files
echo outside-alias >"$WORK/outside.txt"
printf 'docker-registry: %s\nlocal-files:\n  my-alias: %s\n' "$REGISTRY" "$WORK/outside.txt" >"$DIR/.buildrunner.yaml"
printf 'local-files:\n  literal-alias: literal contents\n' >"$WORK/master.yaml"
export BRR_MASTER_CONFIG=$WORK/master.yaml

brr_run
expect_rc 0
expect_line files "outside-alias"
expect_line files "literal=literal contents"
expect_line files "in-build-dir"
expect_line files "in-dir"
expect_line files "alias-ro"
expect_line files "dir-ro"
expect_line files "rel-rw"
grep -qx appended "$DIR/data/in-build-dir.txt" || fail ":rw mount did not write through"
expect_no_leftovers

config_error() {  # file, line:col, message
  brr_run -f "$1"
  expect_rc 78
  expect_out "$DIR/$1:$2: $3"
  expect_no_leftovers
}
config_error escape.yaml 6:9 "Mount path of \"../outside.txt\" attempts to step out of source directory"
config_error missing.yaml 6:9 "Cannot find valid alias for files entry 'data/nope.txt' nor path at '$DIR/data/nope.txt'"
config_error bad-volumes-from.yaml 9:11 "\"volumes_from\" configuration \"nosuchservice\" does not reference a valid service container"
config_error no-image.yaml 4:7 "Docker run context must specify a \"image\" attribute or be preceded by a build context"
config_error bad-mem.yaml 5:18 "The specified value for memory (12q) should specify the units"
brr_run -f unknown-image.yaml
expect_rc 1   # the files are right: a missing image is a failure (README), not 78
expect_out "image 127.0.0.1:5000/brr-e2e-no-such-image:never not found"
expect_no_leftovers
# no engine at the socket: 69 (unavailable), with the socket's error, not curl's "port 80"
DOCKER_HOST="unix://$WORK/no-engine.sock" brr_run -f unknown-image.yaml
expect_rc 69
expect_out "cannot connect to the Docker engine at unix://$WORK/no-engine.sock (from DOCKER_HOST): No such file or directory"
expect_no_out "cleanup:"
expect_no_out "localhost port 80"
brr_run -f unknown-service-image.yaml
expect_rc 1
expect_out "service db: image 127.0.0.1:5000/brr-e2e-no-such-image:never"
expect_no_leftovers
brr_run -f unknown-base.yaml
expect_rc 1
expect_out "unknown-base/build FAILED"
expect_no_leftovers
echo ok
