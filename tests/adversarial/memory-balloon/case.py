"""Allocates without bound when asked for /hello: the OOM killer must stop it at the limit."""

import app


class MemoryBalloon(app.Handler):
    def hello(self):
        hog = []
        while True:
            hog.append(bytearray(4 << 20))
            hog[-1][::4096] = b"x" * len(hog[-1][::4096])


app.serve(MemoryBalloon)
