"""The HTML report in a real browser: headless Chromium renders it, screenshots it and dumps its DOM.

Needs /usr/bin/chromium (Debian's ``chromium`` package); no Docker. The screenshot is kept at
artifacts/report-screenshot.png (gitignored) for a human to look at.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from runner.reports import html
from tests.unit.conftest import XSS, make_sample_results

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
TIMEOUT_S = 90


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    cmd = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'profile'}",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)


@pytest.fixture
def report(tmp_path: Path) -> Path:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    path = tmp_path / "report.html"
    html.write(make_sample_results(), path)
    return path


def test_screenshot(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    proc = chromium(
        tmp_path,
        f"--screenshot={shot}",
        "--window-size=1280,2000",
        "--hide-scrollbars",
        report.as_uri(),
    )
    assert shot.exists(), proc.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 10_000, "the screenshot looks blank"
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(shot, ARTIFACTS / "report-screenshot.png")


def test_dom_has_charts_and_score(report: Path, tmp_path: Path) -> None:
    proc = chromium(tmp_path, "--dump-dom", report.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    results = make_sample_results()
    assert dom.count("<svg") == 4, "rps, latency, cpu and memory charts"
    for chart in ("rps", "latency", "cpu", "memory"):
        assert f'data-chart="{chart}"' in dom
    assert f'id="score">{results.score:.1f}<' in dom
    assert 'data-verdict="graded"' in dom
    assert "<script" not in dom.lower()  # the check message's script stayed text
    assert XSS not in dom


def test_no_console_errors(report: Path, tmp_path: Path) -> None:
    proc = chromium(tmp_path, "--enable-logging=stderr", "--v=0", "--dump-dom", report.as_uri())
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line]
    assert not [line for line in proc.stderr.splitlines() if "Uncaught" in line]
    assert not console, console
