"""Sends the body of every answer but the health check one byte a second."""

import json
import time

import app


class DripBody(app.Handler):
    def do_GET(self):
        if self.path == "/healthz":
            return super().do_GET()
        body = json.dumps({"hello": "world", "pad": "x" * 60}).encode()
        self.send_response(200 if self.path == "/hello" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.flush()
        for i in range(len(body)):
            self.wfile.write(body[i : i + 1])
            self.wfile.flush()
            time.sleep(1)


app.serve(DripBody)
