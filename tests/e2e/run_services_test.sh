#!/usr/bin/env bash
# Services end to end: order, names and hostnames on the step network, wait_for, a built
# service, volumes_from, extra_hosts, service output tagged `service-<name>` in the event
# stream, and the network, volume and containers removed afterwards.
source "$BRR_SOURCE_DIR/tests/e2e/run/lib.sh"
setup services

brr_run --progress=json
expect_rc 0
json() { grep '"type":"output"' "$OUT"; }
line_of() {  # source, text: the output event exists
  json | grep -F "\"source\":$1" | grep -qF "\"line\":\"$2\"" || fail "no output '$2' from source $1"
}
line_of null "web-on-webhost"
[ "$(json | grep -cF '"line":"web-on-webhost"')" -eq 3 ] || fail "web not reached by name, hostname and extra host"
line_of null "data-ready"
line_of null "built-data"
line_of null "data-readonly"
line_of '"service-data"' "data-service-up from-service"
line_of '"service-reader"' "reader-sees-built-data-services"
line_of '"service-reader"' "from-source"
# services start in order, each after the previous one is up
grep -F '"type":"log"' "$OUT" | grep -o 'Started service container \\"[a-z]*\\"' | tr -d '\\"' |
  awk '{print $4}' | tr '\n' ' ' | grep -qx 'web data reader ' || fail "services not started in order"
# wait_for waited for both ports
grep -qF 'Port 8080 is listening' "$OUT" || fail "no wait for web:8080"
grep -qF 'Port 9090 is listening' "$OUT" || fail "no wait for data:9090"
# build.log holds the service lines, prefixed
grep -qF '[service-data] data-service-up from-service' "$(results)/build.log" || fail "build.log lacks service output"
expect_no_leftovers
# the built service's image is a generated image: kept, as buildrunner keeps them
svc_image=$(reported_ids)
[ -n "$svc_image" ] && docker image inspect "$svc_image" >/dev/null 2>&1 || fail "the service image was not kept"
echo ok
