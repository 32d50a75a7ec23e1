"""/hello sends its status line, then one header byte per second, forever: each read returns
in time, so only a total deadline per request (connect, headers and body) stops it. The check
fails at its deadline, the phase goes on, and the score drops by that check's points."""

import time

import app


class DripHeaders(app.Handler):
    def do_GET(self):
        if self.path != "/hello":
            return super().do_GET()
        self.wfile.write(b"HTTP/1.1 200 OK\r\n")
        self.wfile.flush()
        for _ in range(600):
            self.wfile.write(b"X")
            self.wfile.flush()
            time.sleep(1)
        return None


app.serve(DripHeaders)
