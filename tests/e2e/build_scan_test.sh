#!/usr/bin/env bash
# Security scans of push entries as buildrunner runs them: the scanner container
# (`<docker-registry>/aquasec/trivy:<version>`, a shell entrypoint, the run directory, the
# cache directory and the engine's socket mounted, `trivy --config ... image -f json -o ...`
# by exec), its JSON report parsed into artifacts.json, the step failed at or above
# max-score-threshold; global settings, push-entry overrides and the --security-scan-* flags.
# The real trivy and its vulnerability database cannot be fetched here: the test builds a
# stand-in scanner image (tests/e2e/build/scanner: busybox plus a script that writes reports
# in trivy's JSON format, from fixtures the test puts in the cache directory).
. "$BRR_SOURCE_DIR/tests/e2e/build/lib.sh"

N="brr-e2e-$ID"
# not named after $ID: drop_kept removes the names this test's runs gave, never the scanner
VER="stand-in-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
SCANNER="$REG/aquasec/trivy:$VER"
docker build -q -t "$SCANNER" --build-arg "REG=$REG" "$BRR_SOURCE_DIR/tests/e2e/build/scanner" >/dev/null ||
  { fail "cannot build the stand-in scanner image"; finish; }
extra_cleanup+=("docker rmi -f $SCANNER")

CACHE="$WORK/trivy-cache"
mkdir -p "$CACHE/reports"
# a report in trivy's format for the "vuln" repository: the nvd V3Score counts (not redhat's),
# a vulnerability without CVSS has a null score
cat >"$CACHE/reports/$N-vuln.json" <<'EOF'
{
  "SchemaVersion": 2,
  "ArtifactName": "img",
  "ArtifactType": "container_image",
  "Results": [
    {"Target": "img (debian 12.4)", "Class": "os-pkgs", "Type": "debian",
     "Vulnerabilities": [
       {"VulnerabilityID": "CVE-2024-0001", "PkgName": "openssl", "InstalledVersion": "3.0.11-1",
        "FixedVersion": "3.0.13-1", "Severity": "CRITICAL",
        "PrimaryURL": "https://avd.aquasec.com/nvd/cve-2024-0001",
        "CVSS": {"nvd": {"V3Vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "V3Score": 9.8},
                 "redhat": {"V3Score": 10}}},
       {"VulnerabilityID": "CVE-2024-0002", "PkgName": "zlib", "InstalledVersion": "1.2.13",
        "Severity": "UNKNOWN", "PrimaryURL": "https://avd.aquasec.com/nvd/cve-2024-0002"}
     ]},
    {"Target": "app/requirements.txt", "Class": "lang-pkgs", "Type": "pip",
     "Vulnerabilities": [
       {"VulnerabilityID": "GHSA-xxxx-yyyy", "PkgName": "requests", "InstalledVersion": "2.0.0",
        "Severity": "MEDIUM", "PrimaryURL": "https://github.com/advisories/GHSA-xxxx-yyyy",
        "CVSS": {"nvd": {"V3Score": 5.3}}}
     ]},
    {"Target": "Java", "Class": "lang-pkgs", "Type": "jar"}
  ]
}
EOF

P=$(project scan)
global() {  # the global config: docker-registry plus the security-scan map given
  printf 'docker-registry: %s\nsecurity-scan:\n%s\n' "$REG" "$1" >"$P/.buildrunner.yaml"
}
global "  enabled: true
  version: $VER
  cache-dir: $CACHE"
cat >"$P/buildrunner.yaml" <<EOF
steps:
  vuln:
    build:
      dockerfile: |
        FROM {{ DOCKER_REGISTRY }}/busybox:latest
        RUN echo vuln-$ID > /which
    push:
      repository: $N-vuln
      tags: [v1]
  clean:
    build:
      dockerfile: |
        FROM {{ DOCKER_REGISTRY }}/busybox:latest
        RUN echo clean-$ID > /which
    push: {repository: $N-clean, tags: [v1]}
    commit: {repository: $N-commit, tags: [v1]}
EOF

native=$(uname -m | sed 's/x86_64/amd64/; s/aarch64/arm64/')
# ---- enabled in the global config: both push entries scanned, results in artifacts.json ----
run_brr "$P"
check '[ "$RC" = 0 ]' "scans without a threshold succeed (exit $RC)"
check '[ "$(grep -c "^call:" "$CACHE/calls.log")" = 2 ]' "the scanner ran once per push entry, never for the commit"
check 'grep -qE "^call: --config /trivy/config.yaml image -f json -o /trivy/results.json $N-vuln:[^ ]+ socket=yes$" "$CACHE/calls.log"' \
  "trivy got buildrunner's command line (config, json output to the run dir) and the engine socket"
bt=$(sed -n "s/^call: .* $N-vuln:\([^ ]*\) .*/\1/p" "$CACHE/calls.log")
check '[ -n "$bt" ] && [ "$bt" != v1 ]' "the scanned tag is the entry's last tag, the build tag ($bt)"
check 'grep -q "\"cache-dir\": \"/root/.cache/trivy\"" "$CACHE/calls.log" && grep -q "\"timeout\": \"20m\"" "$CACHE/calls.log" && grep -q "\"exit-code\": 0" "$CACHE/calls.log"' \
  "config.yaml holds the container cache dir and the default config (timeout 20m, exit-code 0)"
check 'grep -q "vuln *| .*Version: 0.69.3 (brr test stand-in)" "$WORK/out" && grep -q "stand-in trivy: scanned $N-vuln" "$WORK/out"' \
  "the scanner's output is the step's output"
check '/usr/bin/python3 - "$P/buildrunner.results/artifacts.json" "$N" "linux/'"$native"'" <<"PY"
import json, sys
a = json.load(open(sys.argv[1]))
n, plat = sys.argv[2], sys.argv[3]
vuln = [v for k, v in a.items() if k.startswith("vuln/")]
clean = [v for k, v in a.items() if k.startswith("clean/")]
assert len(vuln) == 1 and len(clean) == 1, a
s = vuln[0]["docker:security-scan"]
assert list(s) == [plat], s
r = s[plat]
assert r["max_score"] == 9.8, r
v = r["vulnerabilities"]
assert [x["vulnerability_id"] for x in v] == ["CVE-2024-0001", "CVE-2024-0002", "GHSA-xxxx-yyyy"], v
assert v[0] == {"cvss_v3_score": 9.8, "severity": "CRITICAL", "vulnerability_id": "CVE-2024-0001",
                "pkg_name": "openssl", "installed_version": "3.0.11-1",
                "primary_url": "https://avd.aquasec.com/nvd/cve-2024-0001"}, v[0]
assert v[1]["cvss_v3_score"] is None and v[2]["cvss_v3_score"] == 5.3, v
c = clean[0]["docker:security-scan"][plat]
assert c == {"max_score": 0, "vulnerabilities": []}, c
assert vuln[0]["type"] == "docker-image" and vuln[0]["docker:repository"] == n + "-vuln", vuln[0]
PY' "artifacts.json: docker:security-scan per platform, max_score and the vulnerabilities as buildrunner records them"
no_leftovers "$N-(vuln|clean|commit):.*" "after the scans (the scanner container is gone)"

# ---- a multi-platform step: each platform's image scanned, results under its platform ----
: >"$CACHE/calls.log"
cat >"$P/mp.yaml" <<EOF
steps:
  multi:
    build:
      dockerfile: |
        FROM {{ DOCKER_REGISTRY }}/busybox:latest
        RUN uname -m > /which
      platforms: [linux/amd64, linux/arm64]
    push: {repository: $N-multi, tags: [v1]}
EOF
run_brr "$P" -f mp.yaml
check '[ "$RC" = 0 ]' "a multi-platform step with scanning succeeds (exit $RC)"
check '[ "$(grep -c "^call: .* -o /trivy/results.json [^ ]*buildrunner-mp-[^ ]* socket=yes$" "$CACHE/calls.log")" = 2 ]' \
  "each platform's image was scanned (the build registry refs, as buildrunner)"
check '/usr/bin/python3 - "$P/buildrunner.results/artifacts.json" "$N-multi" <<"PY"
import json, sys
a = json.load(open(sys.argv[1]))
s = a[sys.argv[2]]["docker:security-scan"]
assert list(s) == ["linux/amd64", "linux/arm64"], s
assert all(v == {"max_score": 0, "vulnerabilities": []} for v in s.values()), s
PY' "artifacts.json: the repository's entry has the scan of every platform"
drop_kept

# ---- with --push, to a registry of the test's own: scanned, then pushed ----
RID=$(docker run -d --label "brr.testinfra=$ID" -p 127.0.0.1::5000 "$REG/registry:2")
extra_cleanup+=("docker rm -fv $RID")
RHOST="127.0.0.1:$(docker port "$RID" 5000/tcp | head -n1 | sed 's/.*://')"
for _ in $(seq 100); do curl -s -o /dev/null "http://$RHOST/v2/" && break; sleep 0.1; done
cp "$CACHE/reports/$N-vuln.json" "$CACHE/reports/$N-pushed.json"
: >"$CACHE/calls.log"
cat >"$P/pushed.yaml" <<EOF
steps:
  img:
    build:
      dockerfile: |
        FROM {{ DOCKER_REGISTRY }}/busybox:latest
        RUN echo pushed-$ID > /which
    push: {repository: $RHOST/$N-pushed, tags: [v1]}
EOF
run_brr "$P" -f pushed.yaml --push
check '[ "$RC" = 0 ]' "--push with scanning succeeds (exit $RC)"
check 'grep -q "^call: .* $RHOST/$N-pushed:" "$CACHE/calls.log"' "the pushed image was scanned"
check 'curl -s "http://$RHOST/v2/$N-pushed/tags/list" | grep -q "\"v1\""' "... and is in the registry"
check 'grep -q "\"max_score\": 9.8" "$P/buildrunner.results/artifacts.json"' "... with its scan in artifacts.json"
drop_kept

# ---- a push entry's threshold: 9.8 >= 9 fails the step ----
: >"$CACHE/calls.log"
sed -i "s/      tags: \[v1\]/      tags: [v1]\n      security-scan: {max-score-threshold: 9}/" "$P/buildrunner.yaml"
run_brr "$P" --push
check '[ "$RC" = 1 ]' "a max score over the push entry's threshold fails the run (exit $RC)"
check 'grep -q "Max vulnerability score (9.8) is above the configured threshold (9.0)" "$WORK/out"' "... with buildrunner's message"
check 'grep -q "push:$N-vuln:v1 skipped" "$WORK/out" && ! grep -q "Pushing " "$WORK/out"' "... and nothing is pushed"
check '/usr/bin/python3 -c "import json,sys; a=json.load(open(sys.argv[1])); assert not [k for k in a if k.startswith(\"vuln/\")], a" "$P/buildrunner.results/artifacts.json"' \
  "... and, as in buildrunner, the failed image has no artifacts.json entry"
no_leftovers "$N-(vuln|clean|commit):.*" "after the failed scan"

# ---- the flags: a threshold for all, overridden per entry ----
run_brr "$P" --security-scan-max-score-threshold 10
check '[ "$RC" = 1 ]' "the push entry's threshold wins over the flag's (exit $RC)"
sed -i "s/      security-scan: {max-score-threshold: 9}/      security-scan: {max-score-threshold: 0}/" "$P/buildrunner.yaml"
run_brr "$P" --security-scan-max-score-threshold 5.5
check '[ "$RC" = 0 ]' "an entry's threshold 0 replaces the flag's and checks nothing, as buildrunner's falsy test (exit $RC)"
sed -i "/      security-scan: {max-score-threshold: 0}/d" "$P/buildrunner.yaml"
run_brr "$P" --security-scan-max-score-threshold 5.5
check '[ "$RC" = 1 ] && grep -q "Max vulnerability score (9.8) is above the configured threshold (5.5)" "$WORK/out"' \
  "--security-scan-max-score-threshold applies to every entry (exit $RC)"
run_brr "$P" --security-scan-max-score-threshold 9.9
check '[ "$RC" = 0 ] && grep -q "less than the configured threshold" "$WORK/out"' "under the threshold the run succeeds (exit $RC)"

# ---- disabled: nothing is scanned ----
: >"$CACHE/calls.log"
run_brr "$P" --security-scan-enabled false
check '[ "$RC" = 0 ] && [ ! -s "$CACHE/calls.log" ]' "--security-scan-enabled false: no scan (exit $RC)"
check '! grep -q "docker:security-scan" "$P/buildrunner.results/artifacts.json"' "... and no results in artifacts.json"
global "  version: $VER
  cache-dir: $CACHE"
run_brr "$P"
check '[ "$RC" = 0 ] && [ ! -s "$CACHE/calls.log" ] && ! grep -q "docker:security-scan" "$P/buildrunner.results/artifacts.json"' \
  "scanning is off by default"
# ---- the flags alone turn it on; a config file's keys reach config.yaml ----
printf 'severity: HIGH,CRITICAL\ntimeout: 5m\n' >"$WORK/scan-config.yaml"
run_brr "$P" --security-scan-enabled true --security-scan-config-file "$WORK/scan-config.yaml"
check '[ "$RC" = 0 ] && [ "$(grep -c "^call:" "$CACHE/calls.log")" = 2 ]' "--security-scan-enabled true scans (exit $RC)"
check 'grep -q "\"severity\": \"HIGH,CRITICAL\"" "$CACHE/calls.log" && grep -q "\"timeout\": \"5m\"" "$CACHE/calls.log"' \
  "--security-scan-config-file's keys are in trivy's config.yaml"
# ---- SIGINT during a scan: the scanner container and the run dir go too ----
touch "$CACHE/slow"
interrupt_brr "$P" INT "trivy --config" -f pushed.yaml --security-scan-enabled true
rm -f "$CACHE/slow"
check '[ "$RC" = 130 ]' "SIGINT during a scan exits 130 (exit $RC)"
check '[ -z "$(docker ps -aq --filter "label=$LABEL")" ]' "... and the scanner container is gone"
check '[ -z "$(ls -d /tmp/brr-run.* 2>/dev/null | while read -r d; do ls "$d" 2>/dev/null | grep trivy-run; done)" ]' \
  "... and no trivy run directory is left"
no_leftovers "$N-(vuln|clean|commit|multi):.*|$RHOST/$N-pushed:.*" "after every run"
drop_kept
finish
