"""A stand-in for Docker Hub's registry API on 127.0.0.1, for the rate-limit check (Docker Hub
is out of reach here). It answers like registry-1.docker.io: a HEAD of a manifest without a
token gets a Bearer challenge, the realm hands out a token, and the HEAD with it carries the
RateLimit-Limit and RateLimit-Remaining headers. In "hang" mode it accepts connections and
never answers.

usage: hub_stub.py PORTFILE LOGFILE REMAINING|hang
"""
import http.server
import socket
import sys
import threading
import time

port_file, log_file, mode = sys.argv[1], sys.argv[2], sys.argv[3]


def log(line):
    with open(log_file, "a") as f:
        f.write(line + "\n")


class Hub(http.server.BaseHTTPRequestHandler):
    def do_HEAD(self):
        log("HEAD %s auth=%s" % (self.path, self.headers.get("Authorization", "-")))
        if self.headers.get("Authorization") != "Bearer hub-token":
            port = self.server.server_address[1]
            self.send_response(401)
            self.send_header("WWW-Authenticate",
                             'Bearer realm="http://127.0.0.1:%d/token",service="registry.docker.io"' % port)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.docker.distribution.manifest.list.v2+json")
        self.send_header("Docker-Content-Digest", "sha256:" + "0" * 64)
        self.send_header("Content-Length", "1234")
        self.send_header("RateLimit-Limit", "100;w=21600")
        self.send_header("RateLimit-Remaining", "%s;w=21600" % mode)
        self.end_headers()

    def do_GET(self):
        log("GET %s" % self.path)
        body = b'{"token": "hub-token", "expires_in": 300}'
        self.send_response(200 if self.path.startswith("/token") else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


def hang():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    with open(port_file, "w") as f:
        f.write(str(s.getsockname()[1]))
    held = []
    while True:
        c, _ = s.accept()
        log("CONNECT")
        held.append(c)  # never answered, never closed


if mode == "hang":
    hang()
else:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    with open(port_file, "w") as f:
        f.write(str(srv.server_address[1]))
    srv.serve_forever()
