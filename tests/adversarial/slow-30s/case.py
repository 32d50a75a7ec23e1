"""Answers every request but the health check after 30 s."""

import time

import app


class Slow(app.Handler):
    def do_GET(self):
        if self.path != "/healthz":
            time.sleep(30)
        super().do_GET()


app.serve(Slow)
