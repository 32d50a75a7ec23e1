"""Starter service: reads the brief's settings from the environment and answers GET /healthz;
everything else is 501 until you build it from BRIEF.md (add an AMQP 0-9-1 client (pika, aio-pika, amqplib) to a
dependency file when you connect: requirements.txt)."""

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# The brief's environment variables (the grader sets them; the defaults are the brief's values).
SETTINGS = {
    "AMQP_URL": os.environ.get("AMQP_URL", "amqp://service:service@127.0.0.1:5672/events"),
    "LEDGER_URL": os.environ.get("LEDGER_URL", "http://127.0.0.1:9090"),
    "MAX_IN_FLIGHT": os.environ.get("MAX_IN_FLIGHT", "20"),
    "MAX_ATTEMPTS": os.environ.get("MAX_ATTEMPTS", "3"),
}
NOT_IMPLEMENTED = json.dumps({"title": "not implemented", "status": 501}).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)  # read the body so the connection stays usable
        if self.command == "GET" and self.path == "/healthz":
            status, body, ctype = 200, b"ok", "text/plain"
        else:
            status, body, ctype = 501, NOT_IMPLEMENTED, "application/problem+json"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = answer

    def log_message(self, *args):
        pass  # no line per request: the service log stays readable


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8080"))
    target = urlsplit(SETTINGS["AMQP_URL"])  # host and port only: never log the password
    print(
        f"starter listening on {port} (AMQP_URL host {target.hostname}:{target.port})", flush=True
    )
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
