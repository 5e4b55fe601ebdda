#!/usr/bin/env bash
# Re-captures the engine streams the decoder tests replay (real bytes, as the engine sends
# them after HTTP de-chunking). Needs the test engine (/var/run/docker.sock) and the registry
# on 127.0.0.1:5000 holding busybox:amd64. Talks to the Engine API with curl only.
set -euo pipefail
cd "$(dirname "$0")"
S=/var/run/docker.sock
API=http://localhost/v1.41
IMG=127.0.0.1:5000/busybox:amd64
api() { curl -sS --unix-socket "$S" "$@"; }
tag=capture-$$
auth=$(printf '{}' | base64 -w0)

# a container printing to both streams, plus one long line (several frames)
script='i=1; while [ $i -le 40 ]; do echo out$i; echo err$i >&2; i=$((i+1)); done;
head -c 70000 /dev/zero | tr "\0" x; echo; echo done >&2; exit 3'
body=$(printf '{"Image":"%s","Cmd":["sh","-c",%s],"Labels":{"brr.capture":"1"}}' \
  "$IMG" "$(printf '%s' "$script" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')")
cid=$(api -H 'Content-Type: application/json' -d "$body" "$API/containers/create" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["Id"])')
api -X POST "$API/containers/$cid/attach?stream=1&stdout=1&stderr=1" -o mux_attach.bin &
sleep 0.5
api -X POST "$API/containers/$cid/start"
api -X POST "$API/containers/$cid/wait" >/dev/null
wait
api "$API/containers/$cid/logs?stdout=1&stderr=1" -o mux_logs.bin
api -X DELETE "$API/containers/$cid?force=1"

# a TTY container: raw stream
body=$(printf '{"Image":"%s","Tty":true,"Cmd":["sh","-c","echo tty-out; echo tty-err >&2"]}' "$IMG")
cid=$(api -H 'Content-Type: application/json' -d "$body" "$API/containers/create" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["Id"])')
api -X POST "$API/containers/$cid/start"
api -X POST "$API/containers/$cid/wait" >/dev/null
api "$API/containers/$cid/logs?stdout=1&stderr=1" -o tty_logs.bin
api -X DELETE "$API/containers/$cid?force=1"

# builds: one that works, one that fails in a RUN step (errorDetail inside a 200 answer)
ctx=$(mktemp -d)
printf 'FROM %s\nRUN echo built > /built\nLABEL capture=%s\n' "$IMG" "$tag" >"$ctx/Dockerfile"
tar -C "$ctx" -cf "$ctx/ok.tar" Dockerfile
api -H 'Content-Type: application/x-tar' --data-binary @"$ctx/ok.tar" \
  "$API/build?t=127.0.0.1:5000/brr-capture:$tag&nocache=1&rm=1&forcerm=1" -o build_ok.jsonl
printf 'FROM %s\nRUN echo about to fail; exit 7\n' "$IMG" >"$ctx/Dockerfile"
tar -C "$ctx" -cf "$ctx/fail.tar" Dockerfile
api -H 'Content-Type: application/x-tar' --data-binary @"$ctx/fail.tar" \
  "$API/build?nocache=1&rm=1&forcerm=1" -o build_fail.jsonl
rm -rf "$ctx"

# push the built image, drop it locally, pull it back: real upload and download progress
api -X POST -H "X-Registry-Auth: $auth" "$API/images/127.0.0.1:5000/brr-capture/push?tag=$tag" \
  -o push.jsonl
api -X DELETE "$API/images/127.0.0.1:5000/brr-capture:$tag?force=1" >/dev/null
api -X POST -H "X-Registry-Auth: $auth" \
  "$API/images/create?fromImage=127.0.0.1:5000/brr-capture&tag=$tag" -o pull.jsonl
api -X DELETE "$API/images/127.0.0.1:5000/brr-capture:$tag?force=1" >/dev/null
# a pull of something that is not there: the error arrives as an HTTP error, not a stream
api -X POST -H "X-Registry-Auth: $auth" \
  "$API/images/create?fromImage=127.0.0.1:5000/brr-capture&tag=absent" -o pull_missing.json
ls -l
