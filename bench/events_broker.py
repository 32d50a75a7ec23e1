#!/usr/bin/env python3
"""The events challenge's RabbitMQ sidecar: how long it takes to start, and to restart.

Builds (or reuses) the sidecar image exactly as a grading does (runner.grading.images), then RUNS times:
`docker run --network none` (the sidecar's memory and CPU limits) with a fresh secret, timed
until AMQP accepts a TCP connection on 127.0.0.1:5672 in the container's namespace (polled every
50 ms by a `docker exec` started when `docker run` returns; the figure includes that exec).
Then a graceful stop (SIGTERM, as a check's `services.restart` does) and a start of the same
container, timed the same way. Every container is labelled assess.managed=true and removed.

    .venv/bin/python bench/events_broker.py [--runs 3]
    .venv/bin/python bench/events_broker.py --smoke   # one start and restart
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import subprocess
import time
from pathlib import Path

from _common import machine_facts  # bench/ is on sys.path when run as a script

from runner.challenges.registry import Registry
from runner.grading.images import Images
from runner.grading.pod import docker_client

ROOT = Path(__file__).resolve().parent.parent
WAIT = (
    "import socket,time\n"
    "while True:\n"
    "    try:\n"
    "        socket.create_connection(('127.0.0.1', 5672), 0.2).close(); break\n"
    "    except OSError: time.sleep(0.05)\n"
)


def docker(*args: str, timeout: float = 120) -> str:
    return subprocess.run(
        ["docker", *args], check=True, capture_output=True, text=True, timeout=timeout
    ).stdout.strip()


def ready_after(name: str, started: float) -> float:
    docker("exec", name, "python3", "-c", WAIT)
    return time.monotonic() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--smoke", action="store_true", help="one start and restart")
    args = ap.parse_args()
    if args.smoke:
        args.runs = 1
    machine_facts()
    challenge = Registry(ROOT / "challenges").get("events")
    sc = next(s for s in challenge.config.sidecars if s.name == "rabbitmq")
    t0 = time.monotonic()
    image = Images(docker_client()).ensure_sidecar(
        "events", sc.name, challenge.root / sc.path, sc.dockerfile or "Dockerfile"
    )
    print(f"image:  {image[:19]} (ready in {time.monotonic() - t0:.1f} s)")
    starts, restarts = [], []
    for i in range(args.runs):
        name = f"assess-bench-rabbitmq-{secrets.token_hex(4)}"
        try:
            started = time.monotonic()
            docker(
                "run",
                "-d",
                "--name",
                name,
                "--label",
                "assess.managed=true",
                "--network",
                "none",
                "--memory",
                f"{sc.memory_mb}m",
                "--cpus",
                str(sc.cpus),
                "-e",
                f"ASSESS_CONTROL_TOKEN={secrets.token_hex(16)}",
                image,
            )
            starts.append(ready_after(name, started))
            docker("stop", "-t", "10", name)
            started = time.monotonic()
            docker("start", name)
            restarts.append(ready_after(name, started))
            print(f"run {i + 1}: start {starts[-1]:.2f} s, restart {restarts[-1]:.2f} s")
        finally:
            subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60)
    print(
        f"broker start (docker run -> AMQP port open): median {statistics.median(starts):.2f} s "
        f"(min {min(starts):.2f}, max {max(starts):.2f}, {len(starts)} runs)"
    )
    print(
        f"broker restart (docker start after a graceful stop): median "
        f"{statistics.median(restarts):.2f} s (min {min(restarts):.2f}, max {max(restarts):.2f})"
    )
    print(f"load at end: {Path('/proc/loadavg').read_text().strip()}")


if __name__ == "__main__":
    main()
