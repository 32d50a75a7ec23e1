"""A batch, driven: plan the jobs, skip those recorded, hand the rest to an executor, record each
row as it arrives and rewrite the leaderboard and ``OUT/progress.json`` after it (see
:mod:`runner.batch.jobs` for the jobs, rows and the output directory)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.batch.jobs import (
    INVALID,
    Done,
    Executor,
    Job,
    OutDir,
    Progress,
    Row,
    files_digest,
    ledger_key,
    unique_names,
    write_atomic,
)
from runner.batch.leaderboard import write_leaderboard
from runner.challenges.registry import Challenge
from runner.errors import SubmissionError, UsageError
from runner.intake.submission import load_submission


@dataclass
class BatchResult:
    rows: list[Row]  # in the order the submissions were given
    jobs: list[Job]
    graded: int  # graded by this run (not skipped)


def plan_jobs(
    challenge: Challenge, submissions: list[Path], options: dict[str, Any]
) -> tuple[list[Job], list[Row]]:
    """Jobs for the valid submission directories, rows for the invalid ones (same path once)."""
    seen: set[str] = set()
    unique: list[Path] = []
    for p in submissions:
        if os.path.abspath(p) not in seen:
            seen.add(os.path.abspath(p))
            unique.append(p)
    jobs, invalid = [], []
    for path, name in zip(unique, unique_names(unique), strict=True):
        try:
            sub = load_submission(path)
        except SubmissionError as err:
            invalid.append(Row(name, verdict=INVALID, error=err.message))
            continue
        digest = files_digest(sub.root, sub.files)
        jobs.append(Job(name, sub.root, digest, ledger_key(challenge, options, digest)))
    return jobs, invalid


def run_batch(
    challenge: Challenge,
    submissions: list[Path],
    out: Path,
    executor: Executor,
    *,
    options: dict[str, Any] | None = None,
    force: bool = False,
    on_event: Callable[[str, Row | None, Progress], None] = lambda kind, row, p: None,
    finish: Callable[[list[Row], list[Job]], None] | None = None,
) -> BatchResult:
    """Grade the submissions not yet recorded in ``out``; return every row.

    ``on_event(kind, row, progress)`` is told of each start ("start"), phase ("phase") and row
    ("row"); ``finish(rows, jobs)`` writes the final leaderboard (default: without similarity)."""
    if not submissions:
        raise UsageError("no submissions given; pass one or more directories (e.g. subs/*)")
    outdir = OutDir(out)
    options = options or {}
    jobs, invalid = plan_jobs(challenge, submissions, options)
    out.mkdir(parents=True, exist_ok=True)
    rows: dict[str, Row] = {r.name: r for r in invalid}
    todo = []
    for job in jobs:
        earlier = None if force else outdir.recorded(job)
        if earlier is None:
            todo.append(job)
        else:
            rows[job.name] = earlier
    progress = Progress(
        total=len(jobs) + len(invalid),
        slots=executor.slots,
        done=len(rows),
        skipped=len(rows) - len(invalid),
    )
    order = [r.name for r in invalid] + [j.name for j in jobs]

    def save() -> None:
        ordered = [rows[n] for n in order if n in rows]
        write_leaderboard(out, challenge, ordered)
        write_atomic(out / "progress.json", json.dumps(progress.to_json(), indent=1) + "\n")

    def emit(kind: str, name: str, data: dict[str, Any]) -> None:
        if kind == "start":
            progress.running[name] = {
                "worker": data.get("worker", ""),
                "phase": "queued" if data.get("queued") else "starting",
                "since": time.time(),
            }
            write_atomic(out / "progress.json", json.dumps(progress.to_json(), indent=1) + "\n")
            on_event("start", None, progress)
        elif (
            kind == "event"
            and data.get("event") == "phase"
            and data.get("state") == "start"
            and name in progress.running
        ):
            progress.running[name]["phase"] = str(data.get("phase"))
            on_event("phase", None, progress)

    def deliver(done: Done) -> None:
        row = outdir.record(done)
        started = progress.running.pop(done.job.name, {}).get("since")
        progress.done += 1
        if done.reused:  # graded before (another batch's ledger record): never ran here
            progress.skipped += 1
        elif done.results is not None:
            progress.graded_here += 1
            progress.graded_s += done.results.timings.total_s or (
                time.time() - started if started else 0.0
            )
        rows[done.job.name] = row
        save()
        on_event("row", row, progress)

    for row in invalid:
        on_event("row", row, progress)
    save()
    try:
        executor.run(todo, emit, deliver)
    finally:
        progress.running.clear()
        ordered = [rows[n] for n in order if n in rows]
        if finish is not None:
            finish(ordered, jobs)
        else:
            save()
    graded = progress.graded_here
    return BatchResult([rows[n] for n in order if n in rows], jobs, graded)
