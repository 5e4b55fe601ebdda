#!/usr/bin/env bash
# remote steps against an sshd of the test's own on a loopback port (tests/e2e/lib/sshd.sh),
# reached through the `ssh` in PATH (a wrapper adding the test's -F config) and a
# build-servers alias. The remote temp dirs land in a directory of the test's (sshd's SetEnv
# TMPDIR), so "removed" can be checked:
#   - a cmd that builds files from the source: output live with the step's prefix, the
#     artifacts byte for byte in the results dir and in artifacts.json with their properties,
#     beside a container step running at the same time; the remote dir gone;
#   - a failing cmd: exit 1, its artifacts still gathered (as buildrunner), the remote dir gone;
#   - SIGINT during the cmd: the remote dir gone, the remote cmd ended, no ssh process left.
. "$BRR_SOURCE_DIR/tests/e2e/build/lib.sh"
. "$BRR_SOURCE_DIR/tests/e2e/lib/sshd.sh"

extra_cleanup+=("sshd_stop")
RT=$WORK/remote-tmp
mkdir -p "$RT"
if ! sshd_start "$WORK/sshd" "SetEnv TMPDIR=$RT"; then
  fail "the test's sshd lets the test's key in ($(tail -3 "$WORK/sshd/sshd.log" | tr '\n' ' '))"
  finish
fi
pass "the test's sshd is up on port $SSHD_PORT"

remote_left() { ls -A "$RT" | tr '\n' ' '; }
ssh_left() { pgrep -f -- "root@sshd-test" | tr '\n' ' '; }

P=$(project remote)
cat >>"$P/.buildrunner.yaml" <<EOF
build-servers:
  root@sshd-test: [ builder, other ]
EOF
printf 'hello remote\n' >"$P/input.txt"
head -c 300000 /dev/urandom >"$P/data.bin"
mkdir -p "$P/sub dir"
printf 'spaced\n' >"$P/sub dir/note.txt"
SLEEP=$((3000 + RANDOM % 1000))
cat >"$P/buildrunner.yaml" <<EOF
steps:
  rem:
    remote:
      host: builder
      cmd: |
        mkdir -p out
        tr a-z A-Z < input.txt > out/upper.txt
        cp data.bin out/blob.bin
        cp "sub dir/note.txt" out/
        echo "remote line one"
        echo "remote line two on stderr" >&2
        echo "remote pwd \$(pwd)"
      artifacts:
        out/upper.txt:
          type: text
          property1: value1
        out/*.bin:
        'out/no*.txt': {type: notes}
  local:
    run:
      image: "{{ DOCKER_REGISTRY }}/busybox:latest"
      cmd: echo container-step-ran
EOF
run_brr "$P"
R=$P/buildrunner.results
check '[ "$RC" = 0 ]' "a remote step and a container step succeed (exit $RC)"
check 'grep -qE "rem.*remote line one" "$WORK/out"' "the remote cmd's output arrives with the step's prefix"
check 'grep -qE "rem.*remote line two on stderr" "$WORK/out"' "the remote cmd's stderr arrives too"
check 'grep -q "remote pwd $RT/" "$WORK/out"' "the cmd ran in a temp dir made by mktemp -d on the host"
check 'grep -q "container-step-ran" "$WORK/out"' "the container step ran beside it"
# both nodes are ready at the start: the container step starts before the remote one ends
check 'awk "/==> local\/run/ {l=NR} /<== rem\/remote/ {r=NR} END {exit !(l && r && l < r)}" "$WORK/out"' \
  "the container step started while the remote step ran"
check '[ "$(cat "$R/rem/upper.txt" 2>/dev/null)" = "HELLO REMOTE" ]' "a file built from the source came back"
check 'cmp -s "$P/data.bin" "$R/rem/blob.bin"' "a binary artifact arrived byte for byte"
check 'cmp -s "$P/sub dir/note.txt" "$R/rem/note.txt"' "a glob match came back"
check 'python3 - "$R/artifacts.json" <<PY
import json, sys
a = json.load(open(sys.argv[1]))
assert a["rem/upper.txt"] == {"type": "text", "property1": "value1"}, a
assert "rem/blob.bin" in a, a
assert a["rem/note.txt"] == {"type": "notes"}, a
PY' "artifacts.json holds the remote artifacts with their properties"
check '[ -z "$(remote_left)" ]' "the remote temp dir is gone after success (left: $(remote_left))"
check '$BRR --graph=json -f "$P/buildrunner.yaml" -d "$P" 2>/dev/null | python3 -c "
import json, sys
g = json.load(sys.stdin)
n = [x for x in g[\"nodes\"] if x[\"id\"] == \"rem/remote\"][0]
assert n[\"kind\"] == \"remote\" and n[\"pool\"] == \"ssh:root@sshd-test\", n
"' "--graph json shows the remote node, its kind and its ssh pool"

# ---- a failing cmd ----
F=$(project remote-fail)
printf 'x\n' >"$F/input.txt"
cat >"$F/buildrunner.yaml" <<EOF
steps:
  broken:
    remote:
      host: root@sshd-test
      cmd: echo partial > partial.log; echo before-the-failure; exit 3
      artifacts:
        '*.log': {type: log}
EOF
run_brr "$F"
check '[ "$RC" = 1 ]' "a failing remote cmd fails the run with exit 1 (got $RC)"
check 'grep -q "before-the-failure" "$WORK/out"' "its output arrived before it failed"
check 'grep -q "exit status 3" "$WORK/out"' "the failure names the remote exit status"
check '[ "$(cat "$F/buildrunner.results/broken/partial.log" 2>/dev/null)" = partial ]' \
  "the artifacts of a failed cmd are still gathered, as buildrunner does"
check 'grep -q "\"broken/partial.log\"" "$F/buildrunner.results/artifacts.json"' "and listed in artifacts.json"
check '[ -z "$(remote_left)" ]' "the remote temp dir is gone after a failure (left: $(remote_left))"

# ---- SIGINT during the cmd ----
I=$(project remote-int)
printf 'x\n' >"$I/input.txt"
printf 'build-servers:\n  root@sshd-test: [ other ]\n' >>"$I/.buildrunner.yaml"
cat >"$I/buildrunner.yaml" <<EOF
steps:
  slow:
    remote:
      host: other
      cmd: echo remote-started; sleep $SLEEP; echo remote-never
EOF
interrupt_brr "$I" INT "\| remote-started$"
check '[ "$RC" = 130 ]' "SIGINT during a remote step ends brr with exit 130 (got $RC)"
check 'grep -q "slow/remote canceled" "$WORK/out"' "the remote step is reported cancelled"
check '! grep -qE "\\| remote-never$" "$WORK/out"' "the remote cmd did not run on"
for _ in $(seq 50); do [ -z "$(remote_left)" ] && [ -z "$(pgrep -f "sleep $SLEEP")" ] && break; sleep 0.1; done
check '[ -z "$(remote_left)" ]' "the remote temp dir is gone after SIGINT (left: $(remote_left))"
check '[ -z "$(pgrep -f "sleep $SLEEP")" ]' "the remote cmd's processes were ended"
check '[ -z "$(ssh_left)" ]' "no ssh process outlives brr (left: $(ssh_left))"

# ---- two SIGINTs: the abort path removes the remote dir with a last synchronous ssh ----
SLEEP2=$((SLEEP + 1000))
sed -i "s/sleep $SLEEP/sleep $SLEEP2/" "$I/buildrunner.yaml"
(cd "$I" && exec "$BRR" --progress plain --no-color --container-labels "$LABEL") >"$WORK/out" 2>&1 &
BPID=$!
for _ in $(seq 600); do grep -qE "\| remote-started$" "$WORK/out" && break; sleep 0.1; done
kill -INT "$BPID"
sleep 0.05
kill -INT "$BPID"
wait "$BPID"
RC=$?
sanitizer_guard
check '[ "$RC" = 130 ]' "two SIGINTs end brr with exit 130 (got $RC)"
check 'grep -qiE "end at once|second SIGINT" "$WORK/out"' "the second SIGINT took the abort path"
for _ in $(seq 50); do [ -z "$(remote_left)" ] && [ -z "$(pgrep -f "sleep $SLEEP2")" ] && break; sleep 0.1; done
check '[ -z "$(remote_left)" ]' "the remote temp dir is gone after the abort (left: $(remote_left))"
check '[ -z "$(pgrep -f "sleep $SLEEP2")" ]' "the remote cmd's processes were ended by the abort"
check '[ -z "$(ssh_left)" ]' "no ssh process outlives the abort (left: $(ssh_left))"

# ---- an unreachable host: exit 1, a clear reason ----
U=$(project remote-unreach)
cat >"$U/buildrunner.yaml" <<EOF
steps:
  gone:
    remote:
      host: root@127.0.0.1
      cmd: 'true'
EOF
PORT_CLOSED=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'Host 127.0.0.1\n  Port %s\n  BatchMode yes\n' "$PORT_CLOSED" >>"$WORK/sshd/config"
run_brr "$U"
check '[ "$RC" = 1 ]' "an unreachable host fails the step with exit 1 (got $RC)"
check 'grep -qiE "ssh failed \\(exit status 255\\)|Connection refused" "$WORK/out"' "the reason says ssh failed"

no_leftovers ""
finish
