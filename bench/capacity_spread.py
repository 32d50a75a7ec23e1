#!/usr/bin/env python3
"""How much capacity, and the score it feeds, move from run to run; what the search costs.

Grades one submission ``--runs`` times with the load phase, as ``assess run`` does
(``runner.grading.pipeline.grade``, the challenge's own profile, ``--load-workers`` auto by default),
and prints per run: the credited capacity (the search's lower bound, on its grid), the achieved
rate there, what stopped the search, the load score and the total, the load phase's and the
whole grading's wall time, and the load average at that moment (this machine is shared: other
work shows there). Then mean, min/max and the coefficient of variation (stdev / mean) of each,
and the largest score difference between any two runs (the goal: at most 1 point).

    python bench/capacity_spread.py [--challenge rest-api] [--solution reference] [--runs 5]
    python bench/capacity_spread.py --service ref|fast|medium|slow [--spin-us 1000]
    python bench/capacity_spread.py --smoke   # 2 runs with a 2 s load phase

``--service`` grades one of capacity_accuracy.py's services instead (one GET, the generator
ceiling's pod and SLOs, capacity scored against its 500 req/s target: a slow service lands
mid-scale, where a moving capacity would move the score).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from _common import machine_facts  # bench/ is on sys.path when run as a script
from capacity_accuracy import SUBMISSIONS, challenge_for

from runner.challenges.registry import Registry
from runner.commands import run_options
from runner.grading.pipeline import grade
from runner.grading.pod import docker_client
from runner.intake.submission import load_submission

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--challenge", default="rest-api")
    ap.add_argument("--solution", default="reference")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--load-workers", default="auto")
    ap.add_argument("--service", choices=sorted(SUBMISSIONS), help="a capacity_accuracy service")
    ap.add_argument("--spin-us", type=int, default=1000, help="CPU per request of `slow`")
    ap.add_argument("--smoke", action="store_true", help="2 runs with a 2 s load phase")
    args = ap.parse_args()
    load_duration = 2.0 if args.smoke else None
    if args.smoke:
        args.runs = 2
    machine_facts()
    client = docker_client()
    if args.service:
        challenge = challenge_for(args.service, args.spin_us)
        sub = load_submission(SUBMISSIONS[args.service])
        args.challenge, args.solution = "ceiling", args.service
    else:
        challenge = Registry().get(args.challenge)
        sub = load_submission(ROOT / "challenges" / args.challenge / "solutions" / args.solution)
    opts = run_options(
        challenge,
        candidate=False,
        skip_load=False,
        load_duration=load_duration,
        seed=1,
        load_workers=args.load_workers,
    )
    grade(client, challenge, sub, opts)  # warm: images built, caches filled (not counted)
    print(f"{args.challenge}/{args.solution}, {opts.load_workers} load worker(s)")
    print(
        f"{'run':>3} {'credited':>9} {'achieved':>9} {'upper':>8} {'stop':>9} "
        f"{'load':>6} {'score':>6} {'load s':>7} {'total s':>8}  load avg"
    )
    rows: dict[str, list[float]] = {k: [] for k in ("credited", "achieved", "load", "score")}
    walls: list[float] = []
    for i in range(args.runs):
        t0 = time.monotonic()
        r = grade(client, challenge, sub, opts)
        wall = time.monotonic() - t0
        load = r.load
        assert load is not None, r.verdict_detail
        rows["credited"].append(load.capacity_lower_rps)
        rows["achieved"].append(load.capacity_rps)
        rows["load"].append(r.load_score or 0.0)
        rows["score"].append(r.score)
        walls.append(wall)
        upper = f"{load.capacity_upper_rps:,.0f}" if load.capacity_upper_rps else "-"
        print(
            f"{i + 1:>3} {load.capacity_lower_rps:9,.0f} {load.capacity_rps:9,.0f} {upper:>8} "
            f"{load.capacity_stop:>9} {r.load_score or 0:6.1f} {r.score:6.1f} "
            f"{r.timings.load_s:7.1f} {wall:8.1f}  "
            + " ".join(f"{x:.2f}" for x in os.getloadavg()),
            flush=True,
        )
    print("figures:")
    for key, values in rows.items():
        mean = statistics.fmean(values)
        cv = statistics.pstdev(values) / mean if mean else 0.0
        print(
            f"{key:>9}: mean {mean:,.1f}  min {min(values):,.1f}  max {max(values):,.1f}  "
            f"CV {100 * cv:.1f} %"
        )
    print(
        f"largest score difference between two runs: {max(rows['score']) - min(rows['score']):.2f}"
    )
    print(f"wall per grading: median {statistics.median(walls):.1f} s")
    print("load at end: " + " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
