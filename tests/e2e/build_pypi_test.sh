#!/usr/bin/env bash
# pypi-push: a run step's artifacts typed python-sdist and python-wheel uploaded with the real
# twine (Debian's package) to upload endpoints the test starts on loopback
# (tests/e2e/build/pypi_upload_server.py, the legacy upload API: no PyPI server is packaged
# in Debian). Asserted on what arrived: name, version, the sha256 digest twine sent and the
# digest of the content received, against the files the step produced. Repositories given as
# an URL with credentials and as a ~/.pypirc section; only with --push; never when a step
# failed; wrong credentials fail the run; the password is never printed.
. "$BRR_SOURCE_DIR/tests/e2e/build/lib.sh"

command -v twine >/dev/null || { fail "twine is not installed (tools/setup-deps.sh installs it)"; finish; }

PW_A="pw-a-$ID"
PW_B="pw-b-$ID"
start_server() {  # NAME USER PASSWORD -> sets PORT; record in $WORK/NAME.jsonl
  local name=$1
  /usr/bin/python3 "$BRR_SOURCE_DIR/tests/e2e/build/pypi_upload_server.py" "$WORK/$name.port" \
    "$WORK/$name.jsonl" "$2" "$3" &
  local pid=$!
  extra_cleanup+=("kill $pid")
  for _ in $(seq 100); do
    [ -s "$WORK/$name.port" ] && break
    sleep 0.1
  done
  PORT=$(cat "$WORK/$name.port")
  touch "$WORK/$name.jsonl"
}
start_server a brr-user "$PW_A"
URL_A="http://127.0.0.1:$PORT/legacy/"
# the same with the credentials in it: neither brr's lines nor twine's may show the password
URL_A_CRED="http://brr-user:$PW_A@127.0.0.1:$PORT/legacy/"
start_server b pypirc-user "$PW_B"
URL_B="http://127.0.0.1:$PORT/legacy/"

# ~/.pypirc of a HOME of the test's own: the section brr's config names
mkdir -p "$WORK/home"
cat >"$WORK/home/.pypirc" <<EOF
[distutils]
index-servers = internal

[internal]
repository = $URL_B
username = pypirc-user
password = $PW_B
EOF

P=$(project pypi)
mkdir -p "$P/pkgs"
# an sdist and a wheel as setuptools lays them out (PKG-INFO, .dist-info/METADATA)
/usr/bin/python3 - "$P/pkgs" "$ID" <<'PY'
import io, sys, tarfile, zipfile
d, ident = sys.argv[1], sys.argv[2]
meta = f"Metadata-Version: 2.1\nName: brr-e2e-pkg\nVersion: 1.0.{int(ident[:6], 16)}\nSummary: brr test {ident}\n"
ver = meta.split("Version: ")[2].split("\n")[0]
base = f"brr_e2e_pkg-{ver}"
with tarfile.open(f"{d}/{base}.tar.gz", "w:gz") as t:
    for name, data in ((f"{base}/PKG-INFO", meta), (f"{base}/setup.py", "from setuptools import setup\nsetup()\n")):
        b = data.encode()
        info = tarfile.TarInfo(name)
        info.size = len(b)
        t.addfile(info, io.BytesIO(b))
with zipfile.ZipFile(f"{d}/{base}-py3-none-any.whl", "w") as z:
    z.writestr(f"brr_e2e_pkg/__init__.py", f"ID = {ident!r}\n")
    z.writestr(f"{base}.dist-info/METADATA", meta)
    z.writestr(f"{base}.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: brr-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    z.writestr(f"{base}.dist-info/RECORD", "")
open(f"{d}/VERSION", "w").write(ver)
PY
VER=$(cat "$P/pkgs/VERSION")
echo "notes $ID" >"$P/pkgs/notes.txt"

cat >"$P/buildrunner.yaml" <<EOF
steps:
  package:
    run:
      image: $REG/busybox:latest
      cmd: mkdir -p dist && cp pkgs/*.tar.gz pkgs/*.whl pkgs/notes.txt dist/
      artifacts:
        "dist/*.tar.gz": {type: python-sdist}
        "dist/*.whl": {type: python-wheel}
        "dist/notes.txt": {type: text}
    pypi-push:
      - repository: $URL_A_CRED
        username: brr-user
        password: $PW_A
      - internal
EOF

# ---- without --push: nothing is uploaded ----
HOME="$WORK/home" run_brr "$P"
check '[ "$RC" = 0 ]' "the run without --push succeeds (exit $RC)"
check '[ ! -s "$WORK/a.jsonl" ] && [ ! -s "$WORK/b.jsonl" ]' "without --push nothing reached the repositories"
check '! grep -q "pypi-push:package" "$WORK/out"' "... and there is no pypi-push node"

# ---- the graph: one node behind the push barrier ----
(cd "$P" && "$BRR" --push --graph=json) >"$WORK/graph.json" 2>/dev/null
check '/usr/bin/python3 - "$WORK/graph.json" <<"PY"
import json, sys
g = json.load(open(sys.argv[1]))
n = [x for x in g["nodes"] if x["id"] == "pypi-push:package"]
assert n and n[0]["kind"] == "pypi-push" and n[0]["step"] == "package", n
e = [x for x in g["edges"] if x["to"] == "pypi-push:package"]
assert [(x["from"], x["reason"]) for x in e] == [("package/run", "push-barrier")], e
PY' "--graph=json: pypi-push:package waits for the run through the push barrier"

# ---- --push: both repositories get the sdist and the wheel ----
HOME="$WORK/home" run_brr "$P" --push
check '[ "$RC" = 0 ]' "--push succeeds (exit $RC)"
check '/usr/bin/python3 - "$WORK" "$P/buildrunner.results/package" "$VER" <<"PY"
import hashlib, json, sys
work, res, ver = sys.argv[1:4]
def sha(p):
    return hashlib.sha256(open(p, "rb").read()).hexdigest()
files = {f"brr_e2e_pkg-{ver}.tar.gz": "sdist", f"brr_e2e_pkg-{ver}-py3-none-any.whl": "bdist_wheel"}
for server, user in (("a", "brr-user"), ("b", "pypirc-user")):
    recs = [json.loads(l) for l in open(f"{work}/{server}.jsonl")]
    assert sorted(r["filename"] for r in recs) == sorted(files), (server, recs)
    for r in recs:
        assert r["action"] == "file_upload" and r["user"] == user, r
        assert r["name"] == "brr-e2e-pkg" and r["version"] == ver, r
        assert r["filetype"] == files[r["filename"]], r
        path = res + "/" + r["filename"]
        want = sha(path)
        assert r["sha256_digest"] == want and r["content_sha256"] == want, (r, want)
        assert r["content_len"] == len(open(path, "rb").read()), r
PY' "each repository received the sdist and the wheel: name, version, type, sha256 and content as produced"
check '! grep -h notes "$WORK/a.jsonl" "$WORK/b.jsonl" | grep -q .' "the text artifact was not uploaded"
check 'grep -q "pypi-push:package" "$WORK/out"' "the upload ran as node pypi-push:package"
check 'grep -qF "Uploaded 2 package(s) to http://***@127.0.0.1:" "$WORK/out"' "an URL's credentials are shown as ***"
check '! grep -q -e "$PW_A" -e "$PW_B" "$WORK/out" && ! grep -rq -e "$PW_A" -e "$PW_B" "$P/buildrunner.results"' \
  "no password in the output, build.log or artifacts.json"

# ---- a failed step: nothing is uploaded ----
: >"$WORK/a.jsonl"
: >"$WORK/b.jsonl"
cat >"$P/fail.yaml" <<EOF
steps:
  package:
    run:
      image: $REG/busybox:latest
      cmd: mkdir -p dist && cp pkgs/*.tar.gz dist/
      artifacts:
        "dist/*.tar.gz": {type: python-sdist}
    pypi-push: {repository: $URL_A, username: brr-user, password: $PW_A}
  broken:
    run:
      image: $REG/busybox:latest
      cmd: exit 3
EOF
HOME="$WORK/home" run_brr "$P" -f fail.yaml --push
check '[ "$RC" = 1 ]' "a failed step fails the run (exit $RC)"
check '[ ! -s "$WORK/a.jsonl" ]' "... and no package was uploaded"

# ---- wrong credentials: the upload fails the run ----
sed "s/password: $PW_A/password: wrong-$ID/" "$P/fail.yaml" | sed '/^  broken:/,$d' >"$P/badpw.yaml"
HOME="$WORK/home" run_brr "$P" -f badpw.yaml --push
check '[ "$RC" = 1 ]' "a refused upload fails the run (exit $RC)"
check 'grep -q "pypi-push:package" "$WORK/out" && grep -qiE "403|Invalid or non-existent authentication" "$WORK/out"' \
  "... saying the repository refused it"
check '! grep -q "wrong-$ID" "$WORK/out"' "... without printing the password"
check '[ ! -s "$WORK/a.jsonl" ]' "... and nothing was recorded"
no_leftovers "" "after the pypi runs"
finish
