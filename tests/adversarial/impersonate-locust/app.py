"""Serves correctly, and also binds Locust's master ports to pose as the load generator."""

import json, os, sys
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer


class Base(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def send(self, status, body, ctype="application/json"):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def normal(self):
        if self.path == "/healthz":
            self.send(200, {"ok": True})
        elif self.path == "/hello":
            self.send(200, {"hello": "world"})
        else:
            self.send(404, {"title": "not found"}, "application/problem+json")

    do_GET = normal

    def log_message(self, *args):
        pass


def serve(handler=Base, threading=True):
    cls = ThreadingHTTPServer if threading else HTTPServer
    cls.allow_reuse_address = True
    cls(("0.0.0.0", int(os.environ.get("PORT", "8080"))), handler).serve_forever()
import socket

if __name__ == "__main__":
    held = []
    for port in (5557, 5558):
        s = socket.socket()
        s.bind(("127.0.0.1", port))
        s.listen(8)
        held.append(s)
        print(f"bound {port}", flush=True)
    serve()
