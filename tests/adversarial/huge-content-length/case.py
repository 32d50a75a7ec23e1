"""Claims an 8 GB body and streams zeros; /nope claims 5 GB and closes after a few bytes."""

import app


class HugeContentLength(app.Handler):
    def do_GET(self):
        if self.path == "/healthz":
            return super().do_GET()
        self.send_response(200 if self.path == "/hello" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(8 << 30 if self.path == "/hello" else 5 << 30))
        self.end_headers()
        if self.path != "/hello":
            self.wfile.write(b'{"hello"')
            self.wfile.flush()
            self.close_connection = True
            return
        block = b"\0" * (1 << 16)
        try:
            while True:
                self.wfile.write(block)
        except OSError:
            pass


app.serve(HugeContentLength)
