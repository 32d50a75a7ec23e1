"""Batches on one machine, for real: `assess batch --jobs 2` on the Docker engine, resumed,
forced, interrupted and continued; every results file valid; nothing left behind."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from runner.challenges.registry import load_challenge
from runner.challenges.solutions import load_solution
from tests.conftest import ROOT, TINY, validate_results_json

pytestmark = [pytest.mark.docker, pytest.mark.serial]


def assess(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runner.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=timeout,
    )


def candidates(root: Path, spec: dict[str, str]) -> list[Path]:
    """``{"alice": "reference", ...}`` -> ``root/alice/solution`` directories."""
    ch = load_challenge(TINY)
    out = []
    for who, sol in spec.items():
        d = load_solution(ch, sol).materialize(root / "tmp" / who)
        (root / who).mkdir(parents=True)
        out.append(d.rename(root / who / "solution"))
    return out


def board(out: Path) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in json.loads((out / "leaderboard.json").read_text())["rows"]}


def test_parallel_batch_resumes_and_forces(tmp_path: Path, no_leaks: None) -> None:
    subs = candidates(tmp_path / "subs", {"alice": "reference", "bob": "wrong-hello"})
    bad = tmp_path / "subs" / "carol" / "solution"
    bad.mkdir(parents=True)
    out = tmp_path / "out"
    args = ["batch", str(TINY), *map(str, subs), str(bad), "--out", str(out), "--jobs", "2"]
    first = assess(*args, "--junit", str(tmp_path / "junit.xml"), "--fail-under", "60")
    assert first.returncode == 1, first.stdout + first.stderr  # bob and carol are below 60
    rows = board(out)
    assert [rows[n]["rank"] for n in ("alice-solution", "bob-solution", "carol-solution")] == [
        1,
        2,
        3,
    ]
    assert rows["alice-solution"]["score"] == 100.0
    assert rows["bob-solution"]["verdict"] == "graded"
    assert rows["carol-solution"]["verdict"] == "invalid"
    assert rows["alice-solution"]["similar"][0]["name"] == "bob-solution"  # a flawed copy
    for name in ("alice-solution", "bob-solution"):
        validate_results_json((out / name / "results.json").read_text())
        assert (out / name / "report.html").is_file()
    assert "below --fail-under 60: bob-solution, carol-solution" in first.stdout
    assert (tmp_path / "junit.xml").read_text().count("<testsuite ") == 3

    again = assess(*args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert all(r["skipped"] for n, r in board(out).items() if n != "carol-solution")
    assert "2 already graded" in again.stdout

    forced = assess(*args, "--force")
    assert forced.returncode == 0
    assert not any(r["skipped"] for r in board(out).values())


def test_an_interrupted_batch_continues_where_it_stopped(tmp_path: Path, no_leaks: None) -> None:
    subs = candidates(tmp_path / "subs", {f"c{i}": "reference" for i in range(4)})
    for i, d in enumerate(subs):  # distinct content: each is graded on its own
        (d / "app.py").write_text((d / "app.py").read_text() + f"\n# {i}\n")
    out = tmp_path / "out"
    args = [sys.executable, "-m", "runner.cli", "batch", str(TINY), *map(str, subs)]
    args += ["--out", str(out), "--jobs", "2", "--no-similarity"]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if json.loads((out / "progress.json").read_text())["done"] >= 1:
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=120)[0].decode()
    assert proc.returncode == 130, output
    # Each grading process tore its pod down; a container whose creation the interrupt cut
    # short can still appear just after (Docker finishes a create it was sent): it belongs to a
    # dead process, and garbage collection (every run's first step) removes it.
    from runner.grading.pod import collect_garbage, docker_client

    collect_garbage(docker_client())
    done_before = {n for n, r in board(out).items() if r["verdict"] == "graded"}
    assert 1 <= len(done_before) < 4, output
    status = assess("batch", "--status", "--out", str(out))
    assert "not running: run it again to continue" in status.stdout
    rest = assess(*args[3:])
    assert rest.returncode == 0, rest.stdout + rest.stderr
    rows = board(out)
    assert {r["verdict"] for r in rows.values()} == {"graded"}
    assert {n for n, r in rows.items() if r["skipped"]} == done_before
