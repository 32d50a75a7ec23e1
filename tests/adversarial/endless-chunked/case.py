"""Answers /hello with a chunked body that never ends (fast), /nope with one that drips."""

import time

import app


class EndlessChunked(app.Handler):
    def do_GET(self):
        if self.path == "/healthz":
            return super().do_GET()
        self.send_response(200 if self.path == "/hello" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b'{"hello": "world"}' * 100
        slow = self.path != "/hello"
        try:
            while True:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                if slow:
                    self.wfile.flush()
                    time.sleep(0.5)
        except OSError:
            pass


app.serve(EndlessChunked)
