#!/usr/bin/python3
"""A PyPI upload endpoint for the pypi-push tests (no PyPI server is packaged in Debian).

It implements the legacy upload API that twine speaks: a multipart/form-data POST with
`:action=file_upload`, the metadata fields and the file as `content`, HTTP basic auth.
Every accepted upload is appended, as one JSON line, to the record file: the fields that
arrived, the user, and the sha256 and length of the content as received.

usage: pypi_upload_server.py PORT_FILE RECORD_FILE USER PASSWORD
Listens on 127.0.0.1 on a free port, written to PORT_FILE once it accepts connections.
Wrong credentials get 403, as PyPI answers them.
"""
import base64
import email.parser
import email.policy
import hashlib
import http.server
import json
import os
import sys


PORT_FILE, RECORD, USER, PASSWORD = sys.argv[1:5]


def parse_form(content_type, body):
    """multipart/form-data -> {name: (value bytes, filename or None)}"""
    head = b"Content-Type: " + content_type.encode() + b"\r\nMIME-Version: 1.0\r\n\r\n"
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        fields.setdefault(name, []).append((part.get_payload(decode=True), part.get_filename()))
    return fields


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):  # quiet: the test reads the record file
        pass

    def answer(self, code, text):
        data = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        auth = self.headers.get("Authorization", "")
        user = None
        if auth.startswith("Basic "):
            user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
            if user != USER or pw != PASSWORD:
                self.answer(403, "Invalid or non-existent authentication information.")
                return
        else:
            self.answer(401, "authentication required")
            return
        fields = parse_form(self.headers.get("Content-Type", ""), body)

        def one(name):
            v = fields.get(name)
            return v[0][0].decode() if v else None

        if one(":action") != "file_upload" or "content" not in fields:
            self.answer(400, "not a file_upload")
            return
        content, filename = fields["content"][0]
        rec = {
            "path": self.path,
            "user": user,
            "action": one(":action"),
            "protocol_version": one("protocol_version"),
            "name": one("name"),
            "version": one("version"),
            "filetype": one("filetype"),
            "metadata_version": one("metadata_version"),
            "sha256_digest": one("sha256_digest"),
            "md5_digest": one("md5_digest"),
            "filename": filename,
            "content_sha256": hashlib.sha256(content).hexdigest(),
            "content_len": len(content),
        }
        with open(RECORD, "a", encoding="utf8") as f:
            f.write(json.dumps(rec) + "\n")
        self.answer(200, "OK")


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
tmp = PORT_FILE + ".tmp"
with open(tmp, "w", encoding="utf8") as f:
    f.write(str(server.server_address[1]))
os.rename(tmp, PORT_FILE)
server.serve_forever()
