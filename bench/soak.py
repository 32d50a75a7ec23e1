"""Soak: many consecutive gradings of reference and hostile submissions; leaks must be 0.

Alternates the tiny reference with the cases of ``tests/adversarial`` (skipping the slow build
cases unless ``--with-builds``) for ``--runs`` gradings, and after each one counts what a run
might leave behind: containers labelled ``assess.managed`` (by any owner that is this process),
unlabelled containers created during the grading (legacy-builder leftovers), networks and
volumes. Prints each grading's wall time and verdict, then the totals: leaks (must be 0), peak
host memory used, disk used by Docker before and after, and wall time per grading.

    .venv/bin/python bench/soak.py --runs 100
    .venv/bin/python bench/soak.py --smoke   # 3 gradings
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


from _common import machine_facts  # noqa: E402  (bench/ is on sys.path as a script)

from runner.challenges.registry import load_challenge  # noqa: E402
from runner.challenges.solutions import overlay  # noqa: E402
from runner.grading.labels import LABEL_MANAGED, LABEL_PID  # noqa: E402
from runner.grading.pipeline import RunOptions, grade  # noqa: E402
from runner.grading.pod import docker_client  # noqa: E402
from runner.intake.submission import load_submission  # noqa: E402

TINY = ROOT / "tests" / "fixtures" / "tiny"
ADVERSARIAL = ROOT / "tests" / "adversarial"
SLOW = {"build-forever", "build-silent", "slow-30s"}


def mem_used_mb() -> float:
    info = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, value = line.split(":", 1)
        info[key] = int(value.split()[0])
    return (info["MemTotal"] - info["MemAvailable"]) / 1024


def docker_disk_mb(client: Any) -> float:
    df = client.df()
    images = sum(i.get("Size", 0) for i in df.get("Images") or [])
    containers = sum(c.get("SizeRw", 0) or 0 for c in df.get("Containers") or [])
    cache = sum(b.get("Size", 0) for b in df.get("BuildCache") or [])
    return (images + containers + cache) / 2**20


def cases(with_builds: bool, workdir: Path) -> list[tuple[str, Any, Path]]:
    """The reference and each hostile case, materialised as plain submission directories."""
    out = [("reference", load_challenge(TINY), TINY / "solutions" / "reference")]
    for case in sorted(ADVERSARIAL.glob("*/case.toml")):
        name = case.parent.name
        if name in SLOW and not with_builds:
            continue
        spec = tomllib.loads(case.read_text())
        if "/" in spec.get("challenge", ""):
            continue  # a real challenge's case (data, events, monitoring): minutes, not a soak's
        challenge = load_challenge(ADVERSARIAL / "_challenges" / spec.get("challenge", "adv"))
        base = ROOT / spec["base"] if "base" in spec else None
        out.append((name, challenge, overlay(base, case.parent, workdir / name, "case.toml")))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--with-builds", action="store_true", help="include the build cases")
    parser.add_argument("--smoke", action="store_true", help="3 gradings (CI: it still runs)")
    args = parser.parse_args()
    if args.smoke:
        args.runs = 3
    if not 1 <= args.runs <= 1000:
        sys.exit("--runs must be 1..1000")
    machine_facts()
    # SIGTERM takes the same path as Ctrl-C, so the pod of the grading in progress is removed
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    client = docker_client()
    workdir = Path(tempfile.mkdtemp(prefix="assess-soak-"))
    pool = cases(args.with_builds, workdir)
    print(
        f"soak: {args.runs} gradings over {len(pool)} submissions, {os.cpu_count()} cores, "
        f"{time.strftime('%Y-%m-%d %H:%M')}"
    )
    peak_mem = mem_used_mb()
    stop = threading.Event()

    def watch_memory() -> None:
        nonlocal peak_mem
        while not stop.wait(0.5):
            peak_mem = max(peak_mem, mem_used_mb())

    threading.Thread(target=watch_memory, daemon=True).start()
    disk_before = docker_disk_mb(client)
    free_before = shutil.disk_usage("/").free / 2**20
    before_ids = {c.id for c in client.containers.list(all=True, ignore_removed=True)}
    walls: list[float] = []
    leaks = 0
    for i in range(args.runs):
        name, challenge, path = pool[i % len(pool)]
        start = time.monotonic()
        results = grade(client, challenge, load_submission(path), RunOptions(skip_load=True))
        wall = time.monotonic() - start
        walls.append(wall)
        mine = [
            c
            for c in client.containers.list(
                all=True, ignore_removed=True, filters={"label": f"{LABEL_MANAGED}=true"}
            )
            if c.labels.get(LABEL_PID) == str(os.getpid())
        ]
        strays = [
            c
            for c in client.containers.list(all=True, ignore_removed=True)
            if c.id not in before_ids and LABEL_MANAGED not in (c.labels or {})
        ]
        found = len(mine) + len(strays)
        leaks += found
        print(
            f"{i + 1:4d} {name:22s} {results.verdict.value:15s} {wall:6.1f} s"
            + (f"  LEAK: {[c.name for c in mine + strays]}" if found else ""),
            flush=True,
        )
    stop.set()
    nets = client.networks.list(filters={"label": f"{LABEL_MANAGED}=true"})
    vols = client.volumes.list(filters={"label": f"{LABEL_MANAGED}=true"})
    leaks += len(nets) + len(vols)
    print()
    print("figures:")
    print(f"leaks (containers, networks, volumes left): {leaks}")
    print(f"peak host memory used: {peak_mem:,.0f} MiB")
    print(
        f"free disk: {free_before:,.0f} -> {shutil.disk_usage('/').free / 2**20:,.0f} MiB "
        f"(Docker's own sum of image sizes, shared layers counted per image: "
        f"{disk_before:,.0f} -> {docker_disk_mb(client):,.0f} MiB)"
    )
    print(
        f"wall per grading: mean {statistics.mean(walls):.1f} s, median "
        f"{statistics.median(walls):.1f} s, max {max(walls):.1f} s, total {sum(walls):.0f} s"
    )
    print(f"load at end: {Path('/proc/loadavg').read_text().strip()}")
    return 1 if leaks else 0


if __name__ == "__main__":
    sys.exit(main())
