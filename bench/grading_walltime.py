#!/usr/bin/env python3
"""Where the wall time of one grading goes: the rest-api reference, warm images, per phase.

Grades ``challenges/rest-api/solutions/reference`` ``--runs`` times with the load phase (the
challenge's own load config), then ``--skip-load-runs`` times without it, through
``runner.grading.pipeline.grade`` exactly as ``assess grade`` does (Docker sandbox, grader container).
Images are warmed first (grader image and the submission's image built or reused, untimed), so
``build_s`` should be ~0 and the figures are the cost of a re-grade.

How to read it: per phase (``results.timings``: build_s, ready_s, checks_s = checks + after-load
checks, load_s, total_s) the mean and min/max over the runs. ``ready_s`` counts from the
grader's first /healthz poll, so a service that started while the grader container was starting
shows ~0 there; its start-up time is then inside the overhead. ``overhead_s`` = total_s minus the
longest the load config can take (warmup_s + duration_s + max_steps x step_s): what grading adds
beyond the configured load time (pod set-up, readiness, checks, tear-down). The load phase may
stop its capacity steps early (an SLO missed), so ``load_s`` can be below that maximum; the
column ``steps`` says how many ran, and ``overhead_vs_run_s`` subtracts the load time that was
actually configured for the stages that ran. Other work on the machine moves these figures.

    python bench/grading_walltime.py [--runs 3] [--skip-load-runs 1]
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

CHALLENGE = "rest-api"
REFERENCE = ROOT / "challenges" / CHALLENGE / "solutions" / "reference"
PHASES = ("build_s", "ready_s", "checks_s", "load_s", "total_s")


def fmt_stats(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:8.2f}  (one run)"
    return f"{statistics.mean(values):8.2f}  [{min(values):7.2f} .. {max(values):7.2f}]"


def one_run(client: Any, challenge: Any, skip_load: bool) -> dict[str, Any]:
    t0 = time.monotonic()
    res = grade(client, challenge, load_submission(REFERENCE), RunOptions(skip_load=skip_load))
    wall = time.monotonic() - t0
    row: dict[str, Any] = {k: float(getattr(res.timings, k)) for k in PHASES}
    row.update(
        wall_s=wall,
        verdict=str(res.verdict),
        score=res.score,
        passed=res.passed,
        checks=len(res.checks),
        steps=len((res.load or {}).get("steps", [])),
    )
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="gradings with load (default 3)")
    ap.add_argument("--skip-load-runs", type=int, default=1, help="gradings without load")
    args = ap.parse_args()
    if not 1 <= args.runs <= 20 or not 0 <= args.skip_load_runs <= 20:
        sys.exit("--runs must be 1..20 and --skip-load-runs 0..20")
    machine_facts()
    ready = prepare(CHALLENGE, REFERENCE)
    client, challenge, load, built = ready.client, ready.challenge, ready.load, ready.build
    print(
        f"warm-up: grader {ready.grader_image[:19]}, submission {str(built.image_id)[:19]} "
        f"({'reused' if built.cached else 'built'}) in {ready.seconds:.1f} s"
    )
    max_load = load.warmup_s + load.duration_s + load.max_steps * load.step_s
    print(
        f"load config: warmup {load.warmup_s:g} s + duration {load.duration_s:g} s + "
        f"{load.max_steps} steps x {load.step_s:g} s = at most {max_load:g} s "
        f"({load.users} users, target {load.target_rps:g} rps)\n"
    )

    series: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    head = f"{'run':>6} " + " ".join(f"{p:>8}" for p in PHASES)
    head += f" {'overhead':>8} {'ovh/run':>8} {'steps':>5}  verdict (score, checks)"
    print(head)
    plan = [False] * args.runs + [True] * args.skip_load_runs
    for k, skip in enumerate(plan):
        row = one_run(client, challenge, skip)
        configured = 0.0 if skip else max_load
        ran = 0.0 if skip else load.warmup_s + load.duration_s + row["steps"] * load.step_s
        row["overhead_s"] = row["total_s"] - configured
        row["overhead_vs_run_s"] = row["total_s"] - ran
        series[skip].append(row)
        label = f"{'noload' if skip else 'load'}{k + 1 - (args.runs if skip else 0)}"
        print(
            f"{label:>6} "
            + " ".join(f"{row[p]:8.2f}" for p in PHASES)
            + f" {row['overhead_s']:8.2f} {row['overhead_vs_run_s']:8.2f} {row['steps']:>5}"
            + f"  {row['verdict']} ({row['score']}, {row['passed']}/{row['checks']})",
            flush=True,
        )

    for skip, rows in series.items():
        if not rows:
            continue
        title = "skip_load=True" if skip else f"with load ({len(rows)} runs)"
        print(f"\n{title}: mean  [min .. max] seconds")
        for key in (*PHASES, "overhead_s", "overhead_vs_run_s", "wall_s"):
            if skip and key == "overhead_vs_run_s":
                continue
            print(f"  {key:<18} {fmt_stats([r[key] for r in rows])}")
    print(f"\nload at end: {Path('/proc/loadavg').read_text().strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
