"""Starter service: reads the brief's settings from the environment and answers GET /healthz;
everything else is 501 until you build it from BRIEF.md (add a PostgreSQL driver (psycopg, pg) to a
dependency file when you connect: requirements.txt)."""

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# The brief's environment variables (the grader sets them; the defaults are the brief's values).
SETTINGS = {
    "DATABASE_URL": os.environ.get("DATABASE_URL", "postgresql://app:app@127.0.0.1:5432/shop"),
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
    target = urlsplit(SETTINGS["DATABASE_URL"])  # host and port only: never log the password
    print(
        f"starter listening on {port} (DATABASE_URL host {target.hostname}:{target.port})",
        flush=True,
    )
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
