#!/usr/bin/env python3
"""Where the wall time of one grading goes: each challenge's reference, warm images, per phase.

Grades each challenge's ``solutions/reference`` ``--runs`` times with the load phase (the
challenge's own load config; ``--load-duration`` shortens the measured stage and, with it, the
knee search's budget, as ``assess run --load-duration`` does), then ``--skip-load-runs`` times
without it, through ``runner.grading.grade`` exactly as ``assess grade`` does (Docker sandbox,
grader container). Images are warmed first (grader image and the submission's image built or
reused, untimed), so ``build_s`` should be ~0 and the figures are the cost of a re-grade.

How to read it: per run, the phases of ``results.timings`` (build_s, ready_s, checks_s = checks +
after-load checks, load_s, total_s) and the load phase broken down: ``warmup`` and ``measured``
(as configured), ``search`` (the knee search's own clock, ``LoadResult.capacity_search_s``) and
``load_other`` = load_s minus those three (the generator's start-up, the drain, the result).
``other`` = total_s minus ready, checks and load (pod set-up and tear-down). Then per challenge
the median and min/max of each over the runs: the issue's goal is a median total of 45 s or
less with load. ``ready_s`` counts from the grader's first /healthz poll. Other work on the
machine moves these figures: the load average is printed before and after.

    python bench/grading_walltime.py [--challenges rest-api,cache,monitoring,realtime]
                                     [--runs 3] [--skip-load-runs 1] [--load-duration S]
    python bench/grading_walltime.py --smoke   # rest-api, one grading with a 2 s load phase
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from _common import machine_facts, prepare  # bench/ is on sys.path when run as a script

from runner.grading.pipeline import RunOptions, grade
from runner.intake.submission import load_submission

ROOT = Path(__file__).resolve().parent.parent

ALL = ("rest-api", "cache", "monitoring", "realtime")
PHASES = ("build_s", "ready_s", "checks_s", "load_s", "total_s")
LOAD_PARTS = ("warmup", "measured", "search", "load_other", "other")


def fmt_stats(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:8.2f}  (one run)"
    return f"{statistics.median(values):8.2f}  [{min(values):7.2f} .. {max(values):7.2f}]"


def one_run(
    client: Any, challenge: Any, reference: Path, skip_load: bool, duration: float | None
) -> dict[str, Any]:
    t0 = time.monotonic()
    opts = RunOptions(skip_load=skip_load, load_duration_s=duration)
    res = grade(client, challenge, load_submission(reference), opts)
    wall = time.monotonic() - t0
    row: dict[str, Any] = {k: float(getattr(res.timings, k)) for k in PHASES}
    load = res.load
    cfg = challenge.config.load
    warmup = 0.0 if skip_load or load is None else float(cfg.warmup_s)
    measured = 0.0 if skip_load or load is None else float(load.duration_s)
    search = 0.0 if load is None else float(load.capacity_search_s)
    row.update(
        wall_s=wall,
        warmup=warmup,
        measured=measured,
        search=search,
        load_other=row["load_s"] - warmup - measured - search,
        other=row["total_s"] - row["ready_s"] - row["checks_s"] - row["load_s"],
        verdict=str(res.verdict),
        score=res.score,
        passed=res.passed,
        checks=len(res.checks),
        stages=len(load.steps) if load is not None else 0,
        capacity=load.capacity_rps if load is not None else None,
    )
    return row


def bench_challenge(
    challenge_id: str, runs: int, skip_load_runs: int, duration: float | None
) -> list[dict[str, Any]]:
    reference = ROOT / "challenges" / challenge_id / "solutions" / "reference"
    ready = prepare(challenge_id, reference)
    client, challenge, load, built = ready.client, ready.challenge, ready.load, ready.build
    print(
        f"\n== {challenge_id}: warm-up: grader {ready.grader_image[:19]}, submission "
        f"{str(built.image_id)[:19]} ({'reused' if built.cached else 'built'}) in "
        f"{ready.seconds:.1f} s"
    )
    measured = duration if duration is not None else load.duration_s
    print(
        f"load config: warmup {load.warmup_s:g} s + measured {measured:g} s + knee search "
        f"(budget {load.capacity_budget_s:g} s, stages of {load.step_s:g} s; a shortened "
        f"measured stage shortens it to 4x) ({load.users} users, target {load.target_rps:g} rps)"
    )
    head = f"{'run':>7} " + " ".join(f"{p:>8}" for p in PHASES)
    head += " " + " ".join(f"{p[:8]:>8}" for p in LOAD_PARTS) + f" {'stages':>6}  verdict, score"
    print(head)
    rows = []
    plan = [False] * runs + [True] * skip_load_runs
    for k, skip in enumerate(plan):
        row = one_run(client, challenge, reference, skip, duration)
        row["skip_load"] = skip
        rows.append(row)
        label = f"{'noload' if skip else 'load'}{k + 1 - (runs if skip else 0)}"
        print(
            f"{label:>7} "
            + " ".join(f"{row[p]:8.2f}" for p in PHASES)
            + " "
            + " ".join(f"{row[p]:8.2f}" for p in LOAD_PARTS)
            + f" {row['stages']:>6}  {row['verdict']}, {row['score']} "
            f"({row['passed']}/{row['checks']} checks, capacity {row['capacity']})",
            flush=True,
        )
    for skip in (False, True):
        chosen = [r for r in rows if r["skip_load"] == skip]
        if not chosen:
            continue
        title = "skip_load" if skip else f"with load ({len(chosen)} runs)"
        print(f"{challenge_id} {title}: median  [min .. max] seconds")
        for key in (*PHASES, *LOAD_PARTS, "wall_s"):
            if skip and key in LOAD_PARTS[:4]:
                continue
            print(f"  {key:<12} {fmt_stats([r[key] for r in chosen])}")
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--challenges", default=",".join(ALL), help="comma-separated challenge ids")
    ap.add_argument("--runs", type=int, default=3, help="gradings with load (default 3)")
    ap.add_argument("--skip-load-runs", type=int, default=1, help="gradings without load")
    ap.add_argument(
        "--load-duration", type=float, default=None, help="measured seconds (default: config)"
    )
    ap.add_argument("--smoke", action="store_true", help="rest-api, 1 grading, 2 s of load")
    args = ap.parse_args()
    if args.smoke:
        args.challenges, args.runs, args.skip_load_runs, args.load_duration = "rest-api", 1, 0, 2
    wanted = [c.strip() for c in args.challenges.split(",") if c.strip()]
    unknown = [c for c in wanted if c not in ALL]
    if unknown or not wanted:
        sys.exit(f"--challenges: unknown {unknown}; choose from {', '.join(ALL)}")
    if not 1 <= args.runs <= 20 or not 0 <= args.skip_load_runs <= 20:
        sys.exit("--runs must be 1..20 and --skip-load-runs 0..20")
    if args.load_duration is not None and not 1 <= args.load_duration <= 60:
        sys.exit("--load-duration must be 1..60")
    machine_facts()
    summary = []
    for challenge_id in wanted:
        rows = bench_challenge(challenge_id, args.runs, args.skip_load_runs, args.load_duration)
        with_load = [r["total_s"] for r in rows if not r["skip_load"]]
        summary.append((challenge_id, statistics.median(with_load)))
    print("\nfigures: median total_s with load, per challenge (goal <= 45 s)")
    for challenge_id, median in summary:
        print(f"  {challenge_id:<12} {median:8.2f} s")
    print(f"load at end: {Path('/proc/loadavg').read_text().strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
