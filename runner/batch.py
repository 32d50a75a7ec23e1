"""Batch grading: many submissions of one challenge, one after another, nothing lost.

Submissions are graded sequentially so that load figures are not distorted by each other.
Each gets ``OUT/<name>/results.json`` and ``report.html`` as soon as it is graded, and the
summary (``OUT/summary.csv``, ``OUT/summary.json``) is rewritten after each one, so an
interrupted batch keeps everything it finished. A bad submission is a row with its error, and
the batch goes on.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from runner.challenges import Challenge
from runner.errors import SubmissionError, UsageError
from runner.results import Results

FIELDS = ("name", "verdict", "score", "correctness", "load", "passed", "checks", "total_s", "error")


@dataclass
class Row:
    name: str
    verdict: str = ""
    score: float | None = None
    correctness: float | None = None
    load: float | None = None
    passed: int | None = None
    checks: int | None = None
    total_s: float | None = None
    error: str = ""

    @classmethod
    def of(cls, name: str, r: Results) -> Row:
        return cls(
            name,
            r.verdict.value,
            r.score,
            r.correctness_score,
            r.load_score,
            r.passed,
            len(r.checks),
            r.timings.total_s,
        )


def unique_names(paths: list[Path]) -> list[str]:
    names: list[str] = []
    for p in paths:
        base = re.sub(r"[^A-Za-z0-9._-]+", "-", p.resolve().name) or "submission"
        name, k = base, 2
        while name in names:
            name, k = f"{base}-{k}", k + 1
        names.append(name)
    return names


def rank_key(r: Row) -> tuple[bool, bool, float, str]:
    """Graded runs first, by score; every other verdict after them (a run that did not finish
    is never ranked above one that did, whatever its partial score)."""
    return (r.verdict != "graded", r.score is None, -(r.score or 0), r.name)


def write_summary(out: Path, rows: list[Row]) -> None:
    ordered = sorted(rows, key=rank_key)
    with open(out / "summary.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        writer.writeheader()
        for row in ordered:
            writer.writerow(asdict(row))
    (out / "summary.json").write_text(
        json.dumps([asdict(r) for r in ordered], indent=2) + "\n", encoding="utf-8"
    )


def run_batch(
    challenge: Challenge, submissions: list[Path], out: Path, grade_one: Any, on_row: Any
) -> list[Row]:
    """Grade each submission with ``grade_one(submission) -> Results``; return the rows."""
    from runner.reports import write_all
    from runner.submissions import load_submission

    if not submissions:
        raise UsageError("no submissions given; pass one or more directories (e.g. subs/*)")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a directory")
    out.mkdir(parents=True, exist_ok=True)
    rows: list[Row] = []
    for path, name in zip(submissions, unique_names(submissions), strict=True):
        try:
            submission = load_submission(path)
        except SubmissionError as err:
            row = Row(name, verdict="invalid", error=err.message)
        else:
            results = grade_one(submission)
            target = out / name
            write_all(results, {"json": target / "results.json", "html": target / "report.html"})
            row = Row.of(name, results)
        rows.append(row)
        write_summary(out, rows)
        on_row(row)
    return rows
