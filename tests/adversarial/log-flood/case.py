"""Writes 1 GB to stdout while serving."""

import sys
import threading

import app


def flood():
    line = b"flood " + b"x" * 1017 + b"\n"
    block = line * 1024  # 1 MiB
    out = sys.stdout.buffer
    for _ in range(1024):
        out.write(block)
    out.flush()
    print("FLOOD-END", flush=True)


print("FLOOD-START", flush=True)
threading.Thread(target=flood, daemon=True).start()
app.serve()
