#!/usr/bin/env python3
"""Batch throughput on this machine: sequential, ``--jobs 2``, two Celery workers; the queue's
per-job overhead; and load figures of one submission graded alone vs inside a parallel batch.

1. Throughput: ``--n`` distinct ``--skip-load`` submissions of rest-api (the reference, each
   with its own comment, so each builds its own image, as candidates do), graded by
   ``assess batch`` three ways, each with content of its own (no image reused across modes):
   sequential (``--jobs 1``), ``--jobs 2``, and two ``assess worker --slots 1`` processes on a
   local ``redis-server`` (``--broker``). Gradings per minute = n / wall minutes.
2. Queue overhead per job: slot time not spent grading, per job
   ((wall x slots - sum of the gradings' total_s) / n), Celery minus ``--jobs 2``
   (same slots, same machine). Goal: under 2 s.
3. Load figures: the rest-api reference with its load phase graded alone ``--alone`` times (the
   run-to-run spread), then ``--in-batch`` distinct copies in one ``--jobs 2`` batch (the pod
   lock runs their load phases one at a time), then the same with the lock off
   (``ASSESS_POD_LOCK=off``, a measurement switch: load phases overlap), then alone again but
   with a ``--skip-load`` batch building and checking beside it (one load phase at a time, the
   other option the issue names).

Other work on the machine moves every figure (the load average is printed).

    python bench/batch_throughput.py [--n 20] [--alone 2] [--in-batch 3] [--skip-load-figures]
    python bench/batch_throughput.py --smoke   # throughput of one submission, three ways
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import machine_facts  # bench/ is on sys.path when run as a script

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "challenges" / "rest-api" / "solutions" / "reference"
ASSESS = [sys.executable, "-m", "runner.cli"]


def copies(root: Path, n: int, tag: str) -> list[Path]:
    out = []
    for i in range(n):
        d = root / tag / f"cand{i:02d}"
        shutil.copytree(REFERENCE, d, ignore=shutil.ignore_patterns("expected.toml"))
        app = d / "app.py"
        app.write_text(app.read_text() + f"\n# {tag} candidate {i}\n")
        out.append(d)
    return out


def batch(subs: list[Path], out: Path, *extra: str, env: dict[str, str] | None = None) -> float:
    start = time.monotonic()
    proc = subprocess.run(
        [
            *ASSESS,
            "batch",
            "rest-api",
            *map(str, subs),
            "--out",
            str(out),
            "--no-similarity",
            *list(extra),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        check=False,
    )
    wall = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit(f"batch failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return wall


def rows(out: Path) -> list[dict[str, Any]]:
    return list(json.loads((out / "leaderboard.json").read_text())["rows"])


def load_figures(out: Path) -> list[dict[str, float | None]]:
    figs = []
    for r in rows(out):
        res = json.loads((out / r["name"] / "results.json").read_text())
        load = res.get("load") or {}
        m = load.get("measured") or {}
        figs.append(
            {
                "achieved_rps": m.get("achieved_rps"),
                "p95_ms": m.get("p95_ms"),
                "p99_ms": m.get("p99_ms"),
                "capacity_rps": load.get("capacity_rps"),
                "load_score": res.get("load_score"),
            }
        )
    return figs


def ensure_redis() -> None:
    """Debian's redis-server for the Celery figures, installed if missing."""
    if shutil.which("redis-server"):
        return
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", "redis-server"]
    print(f"install: redis-server missing; running: {' '.join(cmd)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    rc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if rc.returncode != 0:  # an old or empty package list: refresh it once
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=False)
        rc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if rc.returncode != 0 or not shutil.which("redis-server"):
        print(f"install failed (no Celery figures): {rc.stderr[-500:]}")


class Celery:
    """A redis-server on a free loopback port and two ``assess worker`` processes."""

    def __init__(self, tmp: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        (tmp / "redis").mkdir()
        # the key workers and the submitting side share (never in the broker): one per bench run
        key = tmp / "queue.key"
        key.write_text(base64.b64encode(os.urandom(32)).decode())
        key.chmod(0o600)
        os.environ["ASSESS_QUEUE_KEY_FILE"] = str(key)  # inherited by workers and `assess batch`
        self.logs = tmp / "workers.log"
        self.redis = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(tmp / "redis"),
                "--appendonly",
                "yes",
                "--save",
                "",
            ],
            stdout=subprocess.DEVNULL,
        )
        self.workers = []
        time.sleep(0.5)
        for name in ("bench-w1", "bench-w2"):
            self.workers.append(
                subprocess.Popen(
                    [*ASSESS, "worker", "--broker", self.url, "--slots", "1", "--name", name],
                    cwd=ROOT,
                    stdout=subprocess.DEVNULL,
                    stderr=self.logs.open("a"),
                    start_new_session=True,
                )
            )
        import redis

        r = redis.Redis(port=self.port)
        deadline = time.monotonic() + 120
        while len(list(r.scan_iter("assess:worker:*"))) < 2:
            if time.monotonic() > deadline:
                self.stop()
                tail = self.logs.read_text(errors="replace")[-2000:]
                sys.exit(f"the workers did not come up; their output:\n{tail}")
            time.sleep(0.3)
        time.sleep(1.0)

    def stop(self) -> None:
        for w in self.workers:
            if w.poll() is None:
                os.killpg(w.pid, signal.SIGTERM)
        for w in self.workers:
            try:
                w.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(w.pid, signal.SIGKILL)
        self.redis.terminate()
        self.redis.wait(10)


def throughput(tmp: Path, n: int) -> None:
    print(f"\n== throughput: {n} --skip-load submissions of rest-api (each its own image) ==")
    results: dict[str, tuple[float, int, float]] = {}
    modes: list[tuple[str, int, list[str]]] = [
        ("sequential", 1, ["--jobs", "1"]),
        ("--jobs 2", 2, ["--jobs", "2"]),
    ]
    for label, slots, extra in modes:
        subs = copies(tmp, n, label.replace(" ", "").strip("-"))
        out = tmp / f"out-{label.replace(' ', '')}"
        wall = batch(subs, out, "--skip-load", *extra)
        graded = sum(r["verdict"] == "graded" for r in rows(out))
        results[label] = (wall, slots, sum(r["total_s"] or 0 for r in rows(out)))
        print(
            f"{label:>22}: {wall:6.1f} s  {n / wall * 60:5.1f} gradings/min  ({graded}/{n} graded)"
        )
    if shutil.which("redis-server") is None:
        print("redis-server missing: no Celery figures (apt-get install redis-server)")
        return
    celery = Celery(tmp)
    try:
        subs = copies(tmp, n, "celery")
        out = tmp / "out-celery"
        wall = batch(subs, out, "--skip-load", "--broker", celery.url)
    finally:
        celery.stop()
    graded = sum(r["verdict"] == "graded" for r in rows(out))
    results["celery"] = (wall, 2, sum(r["total_s"] or 0 for r in rows(out)))
    print(
        f"{'two Celery workers':>22}: {wall:6.1f} s  {n / wall * 60:5.1f} gradings/min  "
        f"({graded}/{n} graded)"
    )
    idle = {k: (w * s - t) / n for k, (w, s, t) in results.items()}
    print(
        f"slot time not grading, per job: --jobs 2 {idle['--jobs 2']:.2f} s, "
        f"Celery {idle['celery']:.2f} s -> queue overhead per job "
        f"{idle['celery'] - idle['--jobs 2']:+.2f} s (goal: under 2 s)"
    )


def spread(figs: list[dict[str, float | None]], key: str) -> str:
    vals = [f[key] for f in figs if f[key] is not None]
    if not vals:
        return "-"
    return f"{statistics.mean(vals):8.1f} [{min(vals):.1f}-{max(vals):.1f}]"


def load_comparison(tmp: Path, alone: int, in_batch: int) -> None:
    print("\n== load figures: rest-api reference alone vs inside a --jobs 2 batch ==")
    alone_figs: list[dict[str, float | None]] = []
    for i in range(alone):
        out = tmp / f"out-alone{i}"
        batch(copies(tmp, 1, f"alone{i}"), out, "--jobs", "1")
        alone_figs += load_figures(out)
    out = tmp / "out-parallel"
    wall = batch(copies(tmp, in_batch, "parallel"), out, "--jobs", "2")
    locked = load_figures(out)
    out = tmp / "out-unlocked"
    wall_off = batch(
        copies(tmp, in_batch, "unlocked"), out, "--jobs", "2", env={"ASSESS_POD_LOCK": "off"}
    )
    unlocked = load_figures(out)
    # one load phase at a time, but other submissions' builds and checks beside it: a
    # --skip-load batch that ignores the lock runs while the reference is graded with load
    beside: list[dict[str, float | None]] = []
    for i in range(alone):
        noise = subprocess.Popen(
            [
                *ASSESS,
                "batch",
                "rest-api",
                *map(str, copies(tmp, 6, f"noise{i}")),
                "--out",
                str(tmp / f"out-noise{i}"),
                "--skip-load",
                "--no-similarity",
            ],
            cwd=ROOT,
            env={**os.environ, "ASSESS_POD_LOCK": "off"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        out = tmp / f"out-beside{i}"
        batch(copies(tmp, 1, f"beside{i}"), out, "--jobs", "1")
        beside += load_figures(out)
        noise.wait()
    keys = ("achieved_rps", "p95_ms", "p99_ms", "capacity_rps", "load_score")
    print(f"{'':>26} " + " ".join(f"{k:>22}" for k in keys))
    for label, figs in (
        (f"alone ({alone} runs)", alone_figs),
        (f"--jobs 2, lock ({wall:.0f} s)", locked),
        (f"--jobs 2, no lock ({wall_off:.0f} s)", unlocked),
        ("beside others' checks", beside),
    ):
        print(f"{label:>26} " + " ".join(f"{spread(figs, k):>22}" for k in keys))
    print("(mean [min-max]; the lock keeps each load phase alone on the machine)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--alone", type=int, default=2)
    p.add_argument("--in-batch", type=int, default=3)
    p.add_argument("--skip-load-figures", action="store_true")
    p.add_argument("--skip-throughput", action="store_true")
    p.add_argument("--smoke", action="store_true", help="throughput of 1 submission, no load")
    args = p.parse_args()
    if args.smoke:
        args.n, args.skip_load_figures, args.skip_throughput = 1, True, False
    machine_facts()
    if not args.skip_throughput:
        ensure_redis()
    with tempfile.TemporaryDirectory(prefix="assess-bench-batch-") as t:
        tmp = Path(t)
        if not args.skip_throughput:
            throughput(tmp, args.n)
        if not args.skip_load_figures:
            load_comparison(tmp, args.alone, args.in_batch)
    print(f"load:   {Path('/proc/loadavg').read_text().strip()}  (at the end)")


if __name__ == "__main__":
    main()
