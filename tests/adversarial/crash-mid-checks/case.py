"""Answers /hello correctly, then dies."""

import os

import app


class CrashMidChecks(app.Handler):
    def do_GET(self):
        super().do_GET()
        if self.path == "/hello":
            self.wfile.flush()
            print("answered /hello; exiting", flush=True)
            os._exit(7)


app.serve(CrashMidChecks)
