"""Tries to find a way out WITHOUT sending a packet: interfaces, routes, name lookup.

It never connects anywhere: it lists /sys/class/net, reads /proc/net/route and asks the resolver
for a name under .invalid (reserved, never resolvable). With only lo and no route, the lookup
fails at once, inside this kernel.
"""

import os
import socket
import time

import app


def probe():
    ifaces = sorted(os.listdir("/sys/class/net"))
    with open("/proc/net/route") as fh:
        routes = [line for line in fh.read().splitlines()[1:] if line.strip()]
    with open("/proc/net/ipv6_route") as fh:
        routes6 = [line for line in fh.read().splitlines() if line.strip() and not line.split()[-1] == "lo"]
    start = time.monotonic()
    try:
        socket.getaddrinfo("example.invalid", 80)
        dns = "resolved"
    except socket.gaierror as exc:
        dns = f"failed ({exc.strerror})"
    took = time.monotonic() - start
    print(f"ifaces={','.join(ifaces)} routes={len(routes)} routes6={len(routes6)} dns={dns} in {took:.2f}s", flush=True)
    if ifaces == ["lo"] and not routes and not routes6 and dns.startswith("failed") and took < 2:
        print("ISOLATED", flush=True)
    else:
        print("LEAK", flush=True)


probe()
app.serve()
