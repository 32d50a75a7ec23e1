#!/usr/bin/env python3
"""How much the score of one unchanged submission moves from run to run.

Grades a challenge's solution (default: ``challenges/rest-api/solutions/reference``) ``--runs`` times with the load phase
(``RunOptions(skip_load=False, load_duration_s=5)``: the challenge's warm-up, a 5 s measured
stage, then its capacity steps) through ``runner.grading.pipeline.grade``, as ``assess grade`` does.
Images are warmed first (untimed), so every run grades the same image.

How to read it: one line per run with the total score, the load score (0-100, its share of the
total is the challenge's load_weight) and the load figures it comes from: achieved_rps (at the
target rate, so it should sit near target_rps), p95/p99 latency, capacity_rps (the knee
search's figure: the achieved rate at the highest offered rate that met every SLO). The last
lines give mean, min/max and
the coefficient of variation (stdev / mean) of each: a score CV of a few percent or less means
one grading is representative; a large one means the load part is noise-driven on this machine
(other sessions' containers share its cores, so part of the spread is theirs).

    python bench/score_stability.py [--challenge rest-api] [--solution reference] [--runs 5]
                                    [--load-duration 5]
    python bench/score_stability.py --smoke   # 2 gradings with a 1 s load phase
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
FIGURES = ("score", "load_score", "achieved_rps", "p95_ms", "p99_ms", "capacity_rps")


def one_run(client: Any, challenge: Any, submission: Path, duration: float) -> dict[str, Any]:
    t0 = time.monotonic()
    opts = RunOptions(skip_load=False, load_duration_s=duration)
    res = grade(client, challenge, load_submission(submission), opts)
    load = res.load
    m = load.measured if load is not None else None
    return {
        "score": res.score,
        "load_score": res.load_score,
        "achieved_rps": m.achieved_rps if m else None,
        "p95_ms": m.p95_ms if m else None,
        "p99_ms": m.p99_ms if m else None,
        "capacity_rps": load.capacity_rps if load else None,
        "correctness": res.correctness_score,
        "steps": len(load.steps) if load else 0,
        "saturated": load.generator_saturated if load else None,
        "gen_cpu": m.generator_cpu if m else None,
        "error_rate": m.error_rate if m else None,
        "verdict": str(res.verdict),
        "wall_s": time.monotonic() - t0,
    }


def describe(values: list[float]) -> str:
    if len(values) < 2:
        return "(needs 2 runs)"
    mean = statistics.mean(values)
    cv = statistics.stdev(values) / mean if mean else float("nan")
    return f"mean {mean:9.2f}  min {min(values):9.2f}  max {max(values):9.2f}  cv {cv:6.1%}"


def cell(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return f"{value!s:>9}"
    return f"{value:>9}" if isinstance(value, int) else f"{value:>9.2f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--challenge", default="rest-api")
    ap.add_argument("--solution", default="reference", help="a solution directory name, or a path")
    ap.add_argument("--runs", type=int, default=5, help="gradings with load (default 5)")
    ap.add_argument("--load-duration", type=float, default=5.0, help="measured seconds")
    ap.add_argument("--smoke", action="store_true", help="2 gradings with a 1 s load phase")
    args = ap.parse_args()
    if args.smoke:
        args.runs, args.load_duration = 2, 1.0
    if not 2 <= args.runs <= 20 or not 1 <= args.load_duration <= 60:
        sys.exit("--runs must be 2..20 and --load-duration 1..60")
    submission = Path(args.solution)
    if not submission.is_dir():
        submission = ROOT / "challenges" / args.challenge / "solutions" / args.solution
    if not submission.is_dir():
        sys.exit(f"--solution: no directory {submission}; name one of the challenge's solutions")
    machine_facts()
    ready = prepare(args.challenge, submission)
    client, challenge, load = ready.client, ready.challenge, ready.load
    print(
        f"{args.challenge} / {submission.name}: {load.users} users, target "
        f"{load.target_rps:g} rps, warmup {load.warmup_s:g} s, measured {args.load_duration:g} s, "
        f"knee search up to {load.max_steps} stages x {load.step_s:g} s (x{load.step_factor:g}); "
        f"SLO p95 {load.slo.p95_ms:g} ms, p99 {load.slo.p99_ms:g} ms\n"
    )
    extra = ("correctness", "steps", "saturated", "gen_cpu", "error_rate")
    print(f"{'run':>3} " + " ".join(f"{f[:9]:>9}" for f in (*FIGURES, *extra)) + "  verdict, wall")
    rows = []
    for k in range(args.runs):
        row = one_run(client, challenge, submission, args.load_duration)
        rows.append(row)
        print(
            f"{k + 1:>3} "
            + " ".join(cell(row[f]) for f in (*FIGURES, *extra))
            + f"  {row['verdict']}, {row['wall_s']:.0f} s",
            flush=True,
        )
    print(f"\nfigures: over {len(rows)} runs (goal: score cv <= 1 %):")
    for f in FIGURES:
        values = [float(r[f]) for r in rows if r[f] is not None]
        missing = len(rows) - len(values)
        print(
            f"  {f:<13} {describe(values)}" + (f"  ({missing} runs without it)" if missing else "")
        )
    print(f"\nload at end: {Path('/proc/loadavg').read_text().strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
