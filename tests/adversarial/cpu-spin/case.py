"""Spins the CPU forever in the request path of /hello."""

import app


class CpuSpin(app.Handler):
    def hello(self):
        while True:
            pass


app.serve(CpuSpin)
