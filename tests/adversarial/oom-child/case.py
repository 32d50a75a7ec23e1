"""Answers correctly, but /hello forks a child that balloons past the memory limit: the OOM
killer takes the child while the parent serves on. Docker's OOMKilled stays false; the run
must still say that memory ran out (a real service would have lost that work)."""

import os

import app


class OomChild(app.Handler):
    def hello(self):
        pid = os.fork()
        if pid == 0:
            hog = []
            while True:
                hog.append(bytearray(4 << 20))
                hog[-1][::4096] = b"x" * len(hog[-1][::4096])
        os.waitpid(pid, 0)
        return app.HELLO


app.serve(OomChild)
