# An sshd of the test's own on a loopback port (Debian's openssh-server): its own host key,
# the test's key authorised for root, and an `ssh` wrapper to put first in PATH that adds
# `-F <the test's config>` (ssh reads the passwd home, not $HOME). The config names the
# server `sshd-test` (HostName 127.0.0.1, the port, the key, the known host), so
# `ssh root@sshd-test` works through the wrapper alone.
#
#   sshd_start DIR [sshd_config lines...]   start it; sets SSHD_PORT, SSHD_PID, SSHD_DIR,
#                                           SSHD_KEY (the client key), SSHD_AUTH (the
#                                           authorized_keys file; append to it), and puts
#                                           DIR/bin (the wrapper) first in PATH. 0 when a
#                                           login works.
#   sshd_client_key KEY                     rewrite the client config to log in with KEY
#   sshd_stop                               stop it (only the pid it started)
#
# The config also covers `ssh -p $SSHD_PORT root@127.0.0.1` (and ssh://root@127.0.0.1:PORT).
#
# /run/sshd (privilege separation) is made when missing and left: it is the directory the
# openssh-server package itself expects, and another test's sshd may be using it.

SSHD_PID=
SSHD_PORT=
SSHD_DIR=

sshd_start() {
  SSHD_DIR=$1
  shift
  mkdir -p "$SSHD_DIR/bin"
  ssh-keygen -q -t ed25519 -N '' -f "$SSHD_DIR/hostkey" >/dev/null || return 1
  ssh-keygen -q -t ed25519 -N '' -f "$SSHD_DIR/id" >/dev/null || return 1
  SSHD_KEY=$SSHD_DIR/id
  SSHD_AUTH=$SSHD_DIR/authorized_keys
  cp "$SSHD_DIR/id.pub" "$SSHD_AUTH"
  SSHD_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  [ -d /run/sshd ] || mkdir -p /run/sshd
  {
    printf 'ListenAddress 127.0.0.1\nPort %s\nHostKey %s\nAuthorizedKeysFile %s\n' \
      "$SSHD_PORT" "$SSHD_DIR/hostkey" "$SSHD_AUTH"
    printf 'PermitRootLogin prohibit-password\nPasswordAuthentication no\n'
    printf 'KbdInteractiveAuthentication no\nStrictModes no\nPidFile none\nUsePAM no\n'
    local line
    for line in "$@"; do printf '%s\n' "$line"; done
  } >"$SSHD_DIR/sshd_config"
  /usr/sbin/sshd -D -e -f "$SSHD_DIR/sshd_config" >"$SSHD_DIR/sshd.log" 2>&1 &
  SSHD_PID=$!
  printf '[127.0.0.1]:%s %s\n' "$SSHD_PORT" "$(cut -d' ' -f1,2 "$SSHD_DIR/hostkey.pub")" >"$SSHD_DIR/known_hosts"
  sshd_client_key "$SSHD_KEY"
  printf '#!/bin/sh\nexec /usr/bin/ssh -F %s "$@"\n' "$SSHD_DIR/config" >"$SSHD_DIR/bin/ssh"
  chmod +x "$SSHD_DIR/bin/ssh"
  export PATH="$SSHD_DIR/bin:$PATH"
  local _
  for _ in $(seq 100); do
    ssh root@sshd-test true 2>/dev/null && return 0
    sleep 0.1
  done
  ssh root@sshd-test true
}

sshd_client_key() {
  cat >"$SSHD_DIR/config" <<EOF
Host sshd-test
  HostName 127.0.0.1
  HostKeyAlias [127.0.0.1]:$SSHD_PORT
  Port $SSHD_PORT
Host sshd-test 127.0.0.1
  IdentityFile $1
  IdentitiesOnly yes
  UserKnownHostsFile $SSHD_DIR/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
EOF
}

sshd_stop() {
  [ -n "$SSHD_PID" ] && kill "$SSHD_PID" 2>/dev/null && wait "$SSHD_PID" 2>/dev/null
  SSHD_PID=
  return 0
}
