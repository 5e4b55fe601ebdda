#!/usr/bin/env bash
# dns, dns_search, extra_hosts, cap_add, privileged, mem-limit, cpu-*, ports (published only
# with --publish-ports), --container-labels: seen inside the container and in the engine's
# view of it while it runs.
source "$BRR_SOURCE_DIR/tests/e2e/run/lib.sh"
setup options
PY=/usr/bin/python3

# run brr in the background, inspect both run containers once they print "ready"
inspect_run() {
  "$BRR" -d "$DIR" --container-labels "$LABEL,brr.e2e.extra=yes" "$@" >"$OUT" 2>&1 &
  local pid=$!
  for _ in $(seq 600); do
    grep -q '| ready$' "$OUT" && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.1
  done
  docker inspect $(docker ps -q --filter "label=$LABEL" --filter label=brr.step=options) >"$WORK/options.json" ||
    fail "no running container to inspect"
  set +e
  wait $pid
  RC=$?
  set -e
  sanitizer_guard
}

inspect_run --publish-ports
expect_rc 0
expect_line options dns-ok
expect_line options search-ok
expect_line options hosts-ok
$PY - "$WORK/options.json" <<'PYEOF' || fail "container options"
import json, sys
o = json.load(open(sys.argv[1]))[0]
h = o["HostConfig"]
checks = {
    "Dns": (h["Dns"], ["10.9.8.7"]),
    "DnsSearch": (h["DnsSearch"], ["example.internal", "other.internal"]),
    "ExtraHosts": (h["ExtraHosts"], ["myhost.example:10.1.2.3"]),
    "CapAdd": (h["CapAdd"], ["NET_ADMIN"]),
    "Memory": (h["Memory"], 64 * 1024 * 1024),
    "CpuShares": (h["CpuShares"], 512),
    "CpuPeriod": (h["CpuPeriod"], 100000),
    "CpuQuota": (h["CpuQuota"], 50000),
    "Privileged": (h["Privileged"], False),
    "published": (list(h["PortBindings"]), ["8080/tcp"]),
    "label": (o["Config"]["Labels"].get("brr.e2e.extra"), "yes"),
    "WorkingDir": (o["Config"]["WorkingDir"], "/source"),
    # the commands are the container's own process (docs/run.md): no TTY, as in an exec
    "Tty": (o["Config"]["Tty"], False),
    "OpenStdin": (o["Config"]["OpenStdin"], False),
}
bad = [f"{k}: {got!r} != {want!r}" for k, (got, want) in checks.items() if got != want]
sys.exit("; ".join(bad) if bad else 0)
PYEOF
expect_no_leftovers

# without --publish-ports the run step's ports stay private
inspect_run
expect_rc 0
$PY -c 'import json,sys; h=json.load(open(sys.argv[1]))[0]["HostConfig"]; sys.exit(0 if not h.get("PortBindings") else h["PortBindings"])' "$WORK/options.json" ||
  fail "ports published without --publish-ports"
expect_no_leftovers

# privileged: all capabilities, or the engine's refusal where it cannot grant them (the step
# above, identical but for the flag, started)
brr_run -f privileged.yaml
if [ "$RC" -eq 0 ]; then
  expect_line privileged "CapEff:	000001ffffffffff"
else
  expect_rc 1
  expect_out "unable to apply caps"
fi
expect_no_leftovers
echo ok
