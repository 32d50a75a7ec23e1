"""/hello: deeply nested JSON (900 KB); /nope: a 404 whose body is invalid UTF-8."""

import app


class BadJson(app.Handler):
    def raw(self, status, body, ctype="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/hello":
            depth = 400_000
            self.raw(200, b'{"hello": ' + b"[" * depth + b"]" * depth + b"}")
        elif self.path == "/nope":
            self.raw(404, b"\xff\xfe\xc3\x28 not utf-8 \xa0\xa1" * 1000, "application/problem+json; charset=utf-8")
        else:
            super().do_GET()


app.serve(BadJson)
