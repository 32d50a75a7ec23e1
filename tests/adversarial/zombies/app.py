"""Leaves zombies (never reaped) and double-forked daemons behind, then serves."""

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
import time


def daemon():
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            while True:
                time.sleep(3600)
        os._exit(0)


if __name__ == "__main__":
    for _ in range(10):
        if os.fork() == 0:
            os._exit(0)  # never waited for: a zombie
    for _ in range(5):
        daemon()
    print("zombies and daemons spawned", flush=True)
    time.sleep(2)  # long enough for the stats sampler to see them
    serve()
