"""Starter service: answers GET /healthz and GET /metrics (Prometheus text format 0.0.4, one
request counter to grow from); everything else is 501 until you build it from BRIEF.md."""

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NOT_IMPLEMENTED = json.dumps({"title": "not implemented", "status": 501}).encode()
ROUTES = {"/healthz", "/metrics"}
counts: dict[tuple[str, str, str], int] = {}
lock = threading.Lock()


def metrics_text() -> bytes:
    lines = [
        "# HELP http_requests_total HTTP requests answered.",
        "# TYPE http_requests_total counter",
    ]
    with lock:
        for (method, route, status), n in sorted(counts.items()):
            lines.append(
                f'http_requests_total{{method="{method}",route="{route}",status="{status}"}} {n}'
            )
    return ("\n".join(lines) + "\n").encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)  # read the body so the connection stays usable
        path = self.path.split("?", 1)[0]
        route = path if path in ROUTES else "unmatched"
        if self.command == "GET" and path == "/healthz":
            status, body, ctype = 200, b"ok", "text/plain"
        elif self.command == "GET" and path == "/metrics":
            status, body, ctype = 200, None, "text/plain; version=0.0.4; charset=utf-8"
        else:
            status, body, ctype = 501, NOT_IMPLEMENTED, "application/problem+json"
        method = self.command if self.command in ("GET", "POST") else "OTHER"
        with lock:  # counted once, when its response is known (this one included)
            key = (method, route, str(status))
            counts[key] = counts.get(key, 0) + 1
        if body is None:
            body = metrics_text()
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
    print(f"starter listening on {port}", flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
