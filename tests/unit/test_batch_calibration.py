"""Batch bookkeeping and calibration arithmetic (grading itself is faked at its one seam)."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from graders.protocol import LoadResult
from runner.batch.driver import run_batch
from runner.batch.jobs import InProcess, unique_names
from runner.challenges import calibration
from runner.challenges.registry import load_challenge
from runner.errors import UsageError
from tests.conftest import TINY
from tests.unit.conftest import make_sample_results, sample_load


def submission(root: Path, name: str, valid: bool = True) -> Path:
    d = root / name
    d.mkdir(parents=True)
    if valid:
        (d / "assess.toml").write_text('runtime = "python"\nstart = "python3 app.py"\n')
    return d


def test_names_are_unique_and_safe(tmp_path: Path) -> None:
    paths = [tmp_path / "a b", tmp_path / "x" / "a b", tmp_path / "c"]
    assert unique_names(paths) == ["a-b", "x-a-b", "c"]


def fake_grader(scores: list[float]) -> InProcess:
    it = iter(scores)

    def grade_one(path: Path, listener: Any) -> Any:
        listener({"event": "phase", "phase": "checks", "state": "start"})
        r = make_sample_results()
        r.score = next(it)
        return r

    return InProcess(grade_one)


def test_batch_keeps_going_and_ranks(tmp_path: Path) -> None:
    subs = [
        submission(tmp_path, "low"),
        submission(tmp_path, "bad", valid=False),
        submission(tmp_path, "high"),
    ]
    result = run_batch(load_challenge(TINY), subs, tmp_path / "out", fake_grader([40.0, 90.0]))
    assert [r.name for r in result.rows] == ["bad", "low", "high"]
    assert "no Dockerfile and no assess.toml" in result.rows[0].error
    with open(tmp_path / "out" / "leaderboard.csv") as fh:
        ranked = [row["name"] for row in csv.DictReader(fh)]
    assert ranked == ["high", "low", "bad"]
    assert json.loads((tmp_path / "out" / "high" / "results.json").read_text())["score"] == 90.0
    assert (tmp_path / "out" / "high" / "report.html").is_file()


def test_interrupted_batch_keeps_finished_rows(tmp_path: Path) -> None:
    subs = [submission(tmp_path, "first"), submission(tmp_path, "second")]
    calls = []

    def grade_one(path: Path, listener: Any) -> Any:
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return make_sample_results()

    with pytest.raises(KeyboardInterrupt):
        run_batch(load_challenge(TINY), subs, tmp_path / "out", InProcess(grade_one))
    board = json.loads((tmp_path / "out" / "leaderboard.json").read_text())
    assert [r["name"] for r in board["rows"]] == ["first"]


def test_batch_needs_submissions(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no submissions"):
        run_batch(load_challenge(TINY), [], tmp_path, fake_grader([]))


def test_calibration_round_trip_and_ratios(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSESS_HOME", str(tmp_path))
    challenge = load_challenge(TINY)
    host = {"cpu_model": "X", "cores": 2, "memory_mb": 24000}
    assert calibration.stored(challenge, host) is None
    base = sample_load()

    def load(rps: float, p95: float, p99: float | None, capacity: float) -> LoadResult:
        m = replace(base.measured, achieved_rps=rps, p50_ms=1.0, p95_ms=p95, p99_ms=p99)
        return replace(base, measured=m, capacity_rps=capacity)

    ref = load(200.0, 4.0, 8.0, 500.0)
    calibration.save(challenge, host, ref, "run-1")
    record = calibration.stored(challenge, host)
    assert record is not None
    other_host = {**host, "cores": 8}
    assert calibration.stored(challenge, other_host) is None  # keyed by the host fingerprint
    mine = load(100.0, 8.0, None, 250.0)
    ratios = calibration.compare(mine, record)["ratios"]
    assert ratios["achieved_rps"] == 0.5
    assert ratios["p95_ms"] == 2.0
    assert ratios["capacity_rps"] == 0.5
    assert ratios["p99_ms"] is None
