"""The leaderboard in a real browser: headless Chromium renders it, screenshots it, dumps its DOM.

Needs /usr/bin/chromium (Debian's package); no Docker. The screenshot is kept at
artifacts/leaderboard-screenshot.png (gitignored) for a human to look at.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from runner.batch.jobs import Row
from runner.batch.leaderboard import save_pairs, write_leaderboard
from runner.batch.similarity import Pair, Region
from runner.challenges.registry import load_challenge
from tests.conftest import TINY
from tests.integration.test_html_chromium import ARTIFACTS, CHROMIUM, chromium
from tests.unit.conftest import XSS

HOSTILE_NAME = "eve-solution"


@pytest.fixture
def leaderboard(tmp_path: Path) -> Path:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    skills = {"api": 100.0, "reliability": 75.0}
    rows = [
        Row("alice-solution", "graded", 95.5, 97.0, 92.0, 30, 31, 31.2, skills=skills,
            capacity_rps=412.0, digest="a", report="alice-solution/report.html"),
        Row("bob-solution", "graded", 50.0, 88.0, 10.0, 25, 31, 30.4, skills={"api": 80.0},
            critical_failed=["booking_no_double"], digest="b", report="bob-solution/report.html"),
        Row(HOSTILE_NAME, "crashed", 12.0, 20.0, 0.0, 5, 31, 8.1, not_run=26,
            verdict_detail=f"exited with code 1 {XSS}", digest="e", report="eve-solution/report.html"),
        Row("zed-solution", "invalid", error=f"no Dockerfile {XSS}"),
    ]  # fmt: skip
    region = Region(
        "app.py",
        (10, 14),
        "main.py",
        (40, 44),
        7,
        f"def f():\n    return '{XSS}'",
        "def g():\n    return 1",
    )
    save_pairs(
        tmp_path,
        [Pair("alice-solution", "bob-solution", 0.82, 0.79, 311, "a", "b", [region])],
        {"method": "winnowing"},
    )
    write_leaderboard(tmp_path, load_challenge(TINY), rows)
    return tmp_path / "leaderboard.html"


def test_screenshot(leaderboard: Path, tmp_path: Path) -> None:
    shot = tmp_path / "board.png"
    proc = chromium(
        tmp_path,
        f"--screenshot={shot}",
        "--window-size=1400,1100",
        "--hide-scrollbars",
        leaderboard.as_uri(),
    )
    assert shot.exists(), proc.stderr[-2000:]
    assert shot.stat().st_size > 10_000, "the screenshot looks blank"
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(shot, ARTIFACTS / "leaderboard-screenshot.png")


def test_dom_ranks_flags_and_links(leaderboard: Path, tmp_path: Path) -> None:
    proc = chromium(tmp_path, "--dump-dom", leaderboard.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    order = [
        dom.index(f'data-name="{n}"')
        for n in ("alice-solution", "bob-solution", HOSTILE_NAME, "zed-solution")
    ]
    assert order == sorted(order)
    assert 'data-verdict="crashed"' in dom
    assert 'href="#pair-1"' in dom
    assert 'id="pair-1"' in dom
    assert 'href="alice-solution/report.html"' in dom
    assert "booking_no_double" in dom
    assert "412 rps" in dom
    assert '<b id="flagged">1</b>' in dom
    assert "<script" not in dom.lower()
    assert XSS not in dom


def test_no_console_errors(leaderboard: Path, tmp_path: Path) -> None:
    proc = chromium(
        tmp_path, "--enable-logging=stderr", "--v=0", "--dump-dom", leaderboard.as_uri()
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not [
        line for line in proc.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line
    ]
