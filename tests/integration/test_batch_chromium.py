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
            critical_failed=["booking_no_double", "killed_after_effect_not_doubled", "cancellation_frees_the_slot"], digest="b", report="bob-solution/report.html"),
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
        "--window-size=1280,1000",
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


# A test-only probe (the page itself has no script): the page's own layout at 1280 px, as JSON.
PROBE = """<script>
const vw = document.documentElement.clientWidth;
const box = (el) => { const r = el.getBoundingClientRect(); return [r.left, r.right]; };
const out = {
  vw: vw,
  scroll: document.documentElement.scrollWidth,
  table: box(document.getElementById("leaderboard")),
  links: [...document.querySelectorAll("td.name a.report")].map(box),
  flags: [...document.querySelectorAll("td[data-col=similar] summary")].map(box),
  crit: [...document.querySelectorAll("td.crit .nb")].map((el) => el.getClientRects().length),
};
const pre = document.createElement("pre");
pre.id = "probe";
pre.textContent = JSON.stringify(out);
document.body.appendChild(pre);
</script>"""


def test_fits_1280_with_links_and_flags_in_view(leaderboard: Path, tmp_path: Path) -> None:
    """At 1280 px the whole table, each name's report link and each flag count are on screen
    (measured by the page's own layout); a critical check's name is never broken mid-word; the
    flag detail is in a closed <details> (no script)."""
    import json
    import re

    html = leaderboard.read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    assert re.search(r'<details class="flags"><summary><span class="flag"[^>]*>⚑ 1</span>', html)
    probe = leaderboard.with_name("probe.html")
    probe.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    proc = chromium(tmp_path, "--window-size=1280,900", "--hide-scrollbars", "--dump-dom",
                    probe.as_uri())  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = re.search(r'<pre id="probe">(.*?)</pre>', proc.stdout, re.S)
    assert found, proc.stdout[-2000:]
    m = json.loads(found.group(1).replace("&quot;", '"'))
    vw = m["vw"]
    assert vw >= 1200, m
    assert m["scroll"] <= vw, m  # no horizontal scrolling
    assert m["table"][0] >= 0, m
    assert m["table"][1] <= vw, m
    assert len(m["links"]) == 3, m
    assert all(a >= 0 and b <= vw for a, b in m["links"]), m
    assert len(m["flags"]) == 2, m
    assert all(a >= 0 and b <= vw for a, b in m["flags"]), m
    assert m["crit"], m
    assert all(n == 1 for n in m["crit"]), m  # each name on one line
