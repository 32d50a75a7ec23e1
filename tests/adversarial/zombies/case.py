"""Leaves zombies (never reaped) and double-forked daemons behind, then serves."""

import os
import time

import app


def daemon():
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            while True:
                time.sleep(3600)
        os._exit(0)


for _ in range(10):
    if os.fork() == 0:
        os._exit(0)  # never waited for: a zombie
for _ in range(5):
    daemon()
print("zombies and daemons spawned", flush=True)
time.sleep(2)  # long enough for the stats sampler to see them
app.serve()
