#!/usr/bin/env bash
# systemd (spec §9.2): the BUILDRUNNER_SYSTEMD label or the flag makes /usr/sbin/init the
# command, with seccomp unconfined and the host's cgroup tree; "0" is off; cgroup v2 needs a
# cgroup v2 host.
source "$BRR_SOURCE_DIR/tests/e2e/run/lib.sh"
setup systemd
img=brr-e2e-systemd-$TEST_ID
EXTRA_CLEANUP+=("docker rmi -f $img:on $img:zero")
make_image() {  # tag, label value
  printf 'FROM %s\nLABEL BUILDRUNNER_SYSTEMD=%s\nRUN mkdir -p /usr/sbin && printf "#!/bin/sh\\nsleep 600\\n" > /usr/sbin/init && chmod +x /usr/sbin/init\n' \
    "$IMAGE" "$2" | DOCKER_BUILDKIT=0 docker build -q -t "$img:$1" - >/dev/null 2>&1
}
make_image on 1
make_image zero 0
sed -i "s|SYSTEMD_IMAGE|$img:on|; s|ZERO_IMAGE|$img:zero|" "$DIR"/*.yaml

"$BRR" -d "$DIR" --container-labels "$LABEL" >"$OUT" 2>&1 &
pid=$!
for _ in $(seq 600); do grep -q '| ready$' "$OUT" && break; kill -0 $pid 2>/dev/null || break; sleep 0.1; done
binds=$(docker inspect -f '{{json .HostConfig.Binds}} {{json .HostConfig.SecurityOpt}}' \
  "$(docker ps -q --filter "label=$LABEL" --filter label=brr.step=label-on)")
set +e; wait $pid; RC=$?; set -e
sanitizer_guard
expect_rc 0
expect_line label-on "pid1=/bin/sh /usr/sbin/init "
expect_line label-on "seccomp=0"
# without systemd a one-command step's command is the container's own process (docs/run.md)
own='pid1=/bin/sh -xc echo "pid1=$(tr '"'\\0'"' '"' '"' </proc/1/cmdline)" '
expect_line flag-off "$own"
expect_line label-zero "$own"
if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
  grep -qF '"/sys/fs/cgroup/buildrunner.scope:/sys/fs/cgroup:rw"' <<<"$binds" || fail "cgroup v2 bind missing: $binds"
else
  grep -qF '"/sys/fs/cgroup:/sys/fs/cgroup:ro"' <<<"$binds" || fail "cgroup v1 bind missing: $binds"
fi
grep -qF '["seccomp=unconfined"]' <<<"$binds" || fail "seccomp not unconfined: $binds"
expect_no_leftovers

brr_run -f cgroup2.yaml
if [ -e /sys/fs/cgroup/cgroup.controllers ]; then
  expect_rc 0
  expect_line cgroup2 "pid1=/bin/sh /usr/sbin/init "
else
  expect_rc 1
  expect_out "cgroup v2 is not enabled on this host but is set on the container"
fi
expect_no_leftovers
echo ok
