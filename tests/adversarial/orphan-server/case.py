"""Starts a detached server process and exits: the daemon must not outlive the container."""

import os
import sys

import app

if os.fork() == 0:
    os.setsid()
    app.serve()
print("main exits; the daemon serves on", flush=True)
sys.exit(0)
