"""Ignores SIGTERM, SIGINT and SIGHUP; serves correctly."""

import signal

import app

for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):
    signal.signal(sig, signal.SIG_IGN)

app.serve()
