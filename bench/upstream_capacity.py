#!/usr/bin/env python3
"""How much traffic the cache challenge's upstream sidecar can take (it must never be the
bottleneck of a load test).

Starts ``challenges/cache/sidecars/upstream/upstream.py`` on 127.0.0.1, then drives
``GET /products/{id}`` over many concurrent keep-alive connections for a few seconds per phase
(at delay 0, then at the default 100 ms delay) and prints req/s and latency percentiles.
Everything stays on loopback; every phase is bounded in time and in request count.

    python bench/upstream_capacity.py [--connections 64] [--seconds 3] [--port 19590]
    python bench/upstream_capacity.py --smoke   # 8 connections, 1 s per phase

The load generator is one asyncio process with raw sockets; on a small machine it competes
with the upstream for CPU, so the delay-0 figure is a lower bound of the upstream's capacity.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from _common import machine_facts  # bench/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parent.parent
UPSTREAM = ROOT / "challenges" / "cache" / "sidecars" / "upstream" / "upstream.py"
TOKEN = "bench-token"
MAX_REQUESTS_PER_PHASE = 500_000


async def connection(
    port: int, deadline: float, latencies: list[float], errors: list[int], budget: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    rng = random.Random()
    try:
        while time.monotonic() < deadline and budget[0] > 0:
            budget[0] -= 1
            pid = rng.randint(1, 10_000)
            start = time.monotonic()
            writer.write(f"GET /products/{pid} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            latencies.append(time.monotonic() - start)
            if not head.startswith(b"HTTP/1.1 200"):
                errors[0] += 1
    finally:
        writer.close()


async def phase(port: int, connections: int, seconds: float) -> tuple[int, float, list[float], int]:
    latencies: list[float] = []
    errors, budget = [0], [MAX_REQUESTS_PER_PHASE]
    start = time.monotonic()
    deadline = start + seconds
    await asyncio.gather(
        *(connection(port, deadline, latencies, errors, budget) for _ in range(connections))
    )
    return len(latencies), time.monotonic() - start, sorted(latencies), errors[0]


def control(port: int, method: str, path: str, body: dict[str, object] | None = None) -> None:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=5) as resp:
        resp.read()


def wait_healthy(port: int, proc: subprocess.Popen[bytes]) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for _ in range(100):
        if proc.poll() is not None:
            sys.exit("the upstream exited during start-up")
        try:
            with opener.open(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    sys.exit("the upstream did not become healthy")


def pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, int(p / 100 * len(values)))] * 1000 if values else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--port", type=int, default=19590, help="public port; control is port+1")
    ap.add_argument("--smoke", action="store_true", help="8 connections, 1 s per phase")
    args = ap.parse_args()
    if args.smoke:
        args.connections, args.seconds = 8, 1.0
    if not 1 <= args.connections <= 1000 or not 0 < args.seconds <= 30:
        sys.exit("--connections must be 1..1000 and --seconds 0..30")
    env = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(args.port),
        "CONTROL_PORT": str(args.port + 1),
        "ASSESS_CONTROL_TOKEN": TOKEN,
    }
    proc = subprocess.Popen(
        [sys.executable, str(UPSTREAM)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        wait_healthy(args.port + 1, proc)
        machine_facts()
        print("figures:")
        print(
            f"upstream capacity: {args.connections} keep-alive connections, "
            f"{args.seconds:g} s per phase, {os.cpu_count()} CPUs"
        )
        print(
            f"{'delay':>8} {'requests':>9} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} "
            f"{'p99 ms':>8} {'max ms':>8} {'errors':>7}"
        )
        for delay_ms in (0, 100):
            control(args.port + 1, "PATCH", "/control/config", {"delay_ms": delay_ms})
            asyncio.run(phase(args.port, min(args.connections, 8), 0.5))  # warm-up
            n, elapsed, lat, errors = asyncio.run(phase(args.port, args.connections, args.seconds))
            print(
                f"{delay_ms:>6}ms {n:>9} {n / elapsed:>9.0f} {pct(lat, 50):>8.1f} "
                f"{pct(lat, 95):>8.1f} {pct(lat, 99):>8.1f} {pct(lat, 100):>8.1f} {errors:>7}"
            )
        print(
            f"(at 100 ms delay the ceiling is connections / delay = {args.connections * 10} req/s)"
        )
        print(f"load at end: {Path('/proc/loadavg').read_text().strip()}")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    main()
