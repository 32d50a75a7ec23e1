"""Passes every check, then exits right after answering the last one: an exit at any moment,
the last check included, must be noticed (a service that dies is not graded as healthy)."""

import os

import app


class ExitsAfterLast(app.Handler):
    seen_unknown = False

    def do_GET(self):
        super().do_GET()
        if self.path == "/nope":
            ExitsAfterLast.seen_unknown = True
        elif self.path == "/healthz" and ExitsAfterLast.seen_unknown:
            self.wfile.flush()
            os._exit(3)


app.serve(ExitsAfterLast)
