"""Batch grading: many submissions of one challenge, resumable, in parallel or on many hosts.

A batch turns each submission directory into a :class:`Job` (a readable unique name, the
content's digest, and the ledger key ``challenge@version:options:digest``), skips the jobs whose
key is already recorded in ``OUT`` (unless forced), hands the rest to an executor, and records
each graded job as it arrives:

- ``OUT/<name>/results.json`` and ``report.html``, then ``OUT/<name>/job.json`` last (the commit
  mark: a job is done when its ``job.json`` holds its key), so an interrupted batch continues
  where it stopped and a submission changed since is graded again;
- the leaderboard (``OUT/leaderboard.csv``, ``.json``, ``.html``), rewritten after each row;
- ``OUT/progress.json`` (done, running, left), which ``assess batch --status`` reads.

Executors (one interface, three ways): :class:`InProcess` grades one after another here,
:class:`runner.batch.pool.LocalPool` runs N grading processes on this host, and
:class:`runner.batch.celery_queue.QueueExecutor` sends jobs to Celery workers on other hosts. A bad submission
is a row with its error, and the batch goes on; a failure on our side is a row too, not recorded
as done, so a later run of the same batch grades it again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from runner.challenges.registry import Challenge
from runner.errors import AssessError, SubmissionError, UsageError
from runner.reports import write_all
from runner.results import Results

# Verdicts of a row that are not a grading's: the submission is not one, a worker refused the
# job (it holds another version of the challenge), or grading failed on our side.
INVALID, REFUSED, FAILED = "invalid", "refused", "failed"


# -- naming and digests -------------------------------------------------------------------------
def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "submission"


def unique_names(paths: list[Path]) -> list[str]:
    """Readable unique names from paths: the shortest tail of each path (below the directory all
    share) that no other path ends with, joined by ``-``: ``subs/alice/solution`` and
    ``subs/bob/solution`` are ``alice-solution`` and ``bob-solution``; ``subs/carol`` is
    ``carol``. Names that still collide after cleaning get ``-2``, ``-3``."""
    parts = [Path(os.path.abspath(p)).parts for p in paths]
    common = 0
    if len(parts) > 1:
        while all(len(p) > common + 1 for p in parts) and len({p[common] for p in parts}) == 1:
            common += 1
    else:
        common = max(0, len(parts[0]) - 1) if parts else 0
    rel = [p[common:] or p[-1:] for p in parts]
    names: list[str] = []
    for i, mine in enumerate(rel):
        others = [r for j, r in enumerate(rel) if j != i and r != mine]
        k = 1
        while k < len(mine) and any(r[-k:] == mine[-k:] for r in others):
            k += 1
        base = _slug("-".join(mine[-k:]))
        name, n = base, 2
        while name in names:
            name, n = f"{base}-{n}", n + 1
        names.append(name)
    return names


def files_digest(root: Path, files: Iterable[Path]) -> str:
    """The content of a submission, independent of timestamps and owners: sorted paths, the
    executable bit, file bytes (a symlink by its target)."""
    h = hashlib.sha256()
    for rel in sorted(files, key=lambda p: p.as_posix()):
        full = root / rel
        h.update(rel.as_posix().encode() + b"\0")
        if full.is_symlink():
            h.update(b"L" + os.readlink(full).encode())
        elif full.is_file():
            h.update(b"X" if os.access(full, os.X_OK) else b"F")
            with open(full, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
        h.update(b"\0")
    return h.hexdigest()


def challenge_digest(challenge: Challenge) -> str:
    """What a worker must hold to grade a job of this challenge: every file but solutions."""
    root = challenge.root
    files = [
        p.relative_to(root)
        for p in root.rglob("*")
        if (p.is_file() or p.is_symlink())
        and not {"solutions", "__pycache__", ".pytest_cache"} & set(p.relative_to(root).parts)
    ]
    return files_digest(root, files)


def options_digest(options: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(options, sort_keys=True).encode()).hexdigest()[:12]


def ledger_key(challenge: Challenge, options: dict[str, Any], digest: str) -> str:
    """The key a graded job is recorded under: same challenge version, grading options and
    content means same grading (the options: mode, seed, load or not, load duration)."""
    return f"{challenge.id}@{challenge.config.version}:{options_digest(options)}:{digest}"


@dataclass(frozen=True)
class Job:
    name: str
    path: Path
    digest: str
    key: str


# -- rows ---------------------------------------------------------------------------------------
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
    skills: dict[str, float] = field(default_factory=dict)
    capacity_rps: float | None = None
    critical_failed: list[str] = field(default_factory=list)
    not_run: int = 0
    verdict_detail: str = ""
    digest: str = ""
    worker: str = ""
    skipped: bool = False  # recorded by an earlier run of this batch: not graded again
    report: str = ""  # the row's HTML report, relative to OUT

    @classmethod
    def of(cls, name: str, r: Results, **extra: Any) -> Row:
        return cls(
            name,
            r.verdict.value,
            r.score,
            r.correctness_score,
            r.load_score,
            r.passed,
            len(r.checks),
            r.timings.total_s,
            skills={s.skill: s.percent for s in r.skills},
            capacity_rps=r.load.capacity_rps if r.load else None,
            critical_failed=list(r.critical_failed),
            not_run=r.not_run,
            verdict_detail=r.verdict_detail,
            **extra,
        )


def rank_key(r: Row) -> tuple[bool, bool, float, str]:
    """Graded runs first, by score; every other verdict after them (a run that did not finish
    is never ranked above one that did, whatever its partial score)."""
    return (r.verdict != "graded", r.score is None, -(r.score or 0), r.name)


# -- what executors report ----------------------------------------------------------------------
@dataclass
class Done:
    """One job's end: its results, or why there are none (``verdict`` is then a row verdict)."""

    job: Job
    results: Results | None = None
    verdict: str = ""
    error: str = ""
    worker: str = ""
    reused: bool = False  # recorded before this run (a broker's ledger): not this run's pace


Emit = Callable[[str, str, dict[str, Any]], None]  # (kind, job name, data): progress
Deliver = Callable[[Done], None]


class Executor(Protocol):
    slots: int

    def run(self, jobs: list[Job], emit: Emit, deliver: Deliver) -> None: ...


class InProcess:
    """One job after another in this process, with ``grade_one(path) -> Results``."""

    slots = 1

    def __init__(self, grade_one: Callable[[Path, Callable[[dict[str, Any]], None]], Results]):
        self.grade_one = grade_one

    def run(self, jobs: list[Job], emit: Emit, deliver: Deliver) -> None:
        for job in jobs:
            emit("start", job.name, {"worker": "local"})
            listener = lambda ev, n=job.name: emit("event", n, ev)  # noqa: E731
            try:
                results = self.grade_one(job.path, listener)
            except SubmissionError as err:
                deliver(Done(job, verdict=INVALID, error=err.message))
            except AssessError as err:
                deliver(Done(job, verdict=FAILED, error=err.message))
            else:
                deliver(Done(job, results, worker="local"))


# -- the output directory -----------------------------------------------------------------------
def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


class OutDir:
    def __init__(self, root: Path) -> None:
        if root.exists() and not root.is_dir():
            raise UsageError(f"--out {root} is a file; give a directory")
        self.root = root

    def recorded(self, job: Job) -> Row | None:
        """The row of a job an earlier run recorded with the same key, if any."""
        d = self.root / job.name
        try:
            mark = json.loads((d / "job.json").read_text(encoding="utf-8"))
            if mark.get("key") != job.key:
                return None
            results = Results.model_validate_json((d / "results.json").read_text("utf-8"))
        except (OSError, ValueError):
            return None
        return Row.of(
            job.name,
            results,
            digest=job.digest,
            worker=str(mark.get("worker", "")),
            skipped=True,
            report=f"{job.name}/report.html",
        )

    def record(self, done: Done) -> Row:
        """Write a finished job's reports, then its mark; return its row."""
        job = done.job
        if done.results is None:
            return Row(job.name, verdict=done.verdict, error=done.error, digest=job.digest)
        d = self.root / job.name
        write_all(done.results, {"json": d / "results.json", "html": d / "report.html"})
        mark = {"key": job.key, "path": str(job.path), "worker": done.worker}
        write_atomic(d / "job.json", json.dumps(mark) + "\n")
        return Row.of(
            job.name,
            done.results,
            digest=job.digest,
            worker=done.worker,
            report=f"{job.name}/report.html",
        )

    def results(self, name: str) -> Results | None:
        try:
            text = (self.root / name / "results.json").read_text(encoding="utf-8")
            return Results.model_validate_json(text)
        except (OSError, ValueError):
            return None


# -- progress -----------------------------------------------------------------------------------
@dataclass
class Progress:
    """Done, running (where, in which phase), left, and an ETA from this run's pace."""

    total: int
    slots: int = 1
    done: int = 0
    skipped: int = 0
    running: dict[str, dict[str, Any]] = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    graded_here: int = 0
    graded_s: float = 0.0

    @property
    def left(self) -> int:
        return self.total - self.done - len(self.running)

    def eta_s(self) -> float | None:
        if not self.graded_here:
            return None
        # per-slot pace of this run's gradings (not of the skipped ones), over the busy slots
        per_job = self.graded_s / self.graded_here
        remaining = self.left + len(self.running)
        return per_job * remaining / max(1, min(self.slots, remaining or 1))

    def line(self) -> str:
        eta = self.eta_s()
        eta_text = "-" if eta is None else _duration(eta)
        skipped = f" ({self.skipped} already graded)" if self.skipped else ""
        return (
            f"{self.done}/{self.total} done{skipped}, {len(self.running)} running, "
            f"{self.left} left, ETA {eta_text}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "updated": time.time(),
            "total": self.total,
            "done": self.done,
            "skipped": self.skipped,
            "left": self.left,
            "eta_s": self.eta_s(),
            "running": self.running,
        }


def _duration(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"
