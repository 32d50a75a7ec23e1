"""Fork bomb: every process forks as fast as it can; the pids limit must contain it."""

import os
import time
from http.server import HTTPServer

import app


def bomb():
    while True:
        try:
            os.fork()
        except OSError:
            time.sleep(0.05)


if os.fork() == 0:
    bomb()
time.sleep(2)  # let the bomb hit the limit before serving
print("bomb started; serving from the main thread", flush=True)
# No thread per request: under the pids limit a new thread cannot be created.
app.ThreadingHTTPServer = HTTPServer
app.serve()
