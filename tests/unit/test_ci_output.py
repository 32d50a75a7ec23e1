"""Output fit for CI logs and pipes: progress lines without a terminal, a pipe whose reader
left, a Markdown summary under GitHub's step-summary cap, points per check in JUnit."""

from __future__ import annotations

import io
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from rich.console import Console

from runner.reports import junit, markdown
from runner.reports.terminal import Progress
from runner.results import Results
from runner.stdout import PipeSafe


def _wait_for(predicate, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)  # polling a condition with a deadline, not a fixed wait
    return predicate()


def test_progress_without_a_terminal_prints_phases_and_keeps_talking() -> None:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=False, width=200)
    progress = Progress(console)
    progress.TICK_S = 0.2
    with progress:
        progress({"event": "phase", "phase": "checks", "state": "start"})
        progress({"event": "check", "outcome": "passed", "id": "test_one"})
        assert _wait_for(lambda: "… checks… 1 done" in buf.getvalue())
    out = buf.getvalue()
    assert "phase: checks" in out
    assert "test_one" in out
    assert "\x1b" not in out  # no spinner escape codes in a log


def test_progress_on_a_terminal_keeps_its_spinner_and_no_tick_lines() -> None:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=200)
    progress = Progress(console)
    progress.TICK_S = 0.0
    with progress:
        progress({"event": "phase", "phase": "checks", "state": "start"})
    assert progress.tty
    assert "phase: checks" not in buf.getvalue()


class _ClosedPipe(io.StringIO):
    def write(self, s: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_closed_pipe_turns_writes_into_no_ops() -> None:
    stream = PipeSafe(_ClosedPipe())
    assert stream.write("line\n") == 5  # no exception: the run goes on
    assert stream.broken
    stream.write("more\n")
    stream.flush()


def test_markdown_summary_stays_under_the_step_summary_cap(sample_results: Results) -> None:
    huge = sample_results.model_copy(
        update={
            "score_notes": [f"note {i} " + "x" * 290 for i in range(5000)],
            "critical_failed": [f"test_{i}" for i in range(20000)],
        }
    )
    text = markdown.render(huge)
    assert len(text.encode("utf-8")) <= markdown.MAX_BYTES < 1024 * 1024
    assert "cut here" in text
    small = markdown.render(sample_results)
    assert "cut here" not in small


def test_markdown_cap_cuts_at_a_line_and_keeps_utf8_whole() -> None:
    text = "\n".join("✅ " * 40 for _ in range(100))
    cut = markdown.capped(text, 1000)
    assert len(cut.encode("utf-8")) <= 1000
    assert cut.encode("utf-8").decode("utf-8") == cut
    assert cut.splitlines()[0] == text.splitlines()[0]


def test_junit_carries_points_per_check(sample_results: Results, tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    junit.write(sample_results, path)
    cases = {c.get("name"): c for c in ET.parse(path).iter("testcase")}
    for check in sample_results.checks:
        if sample_results.mode == "candidate" and check.hidden:
            continue
        props = {p.get("name"): p.get("value") for p in cases[check.id].iter("property")}
        assert float(props["points"]) == check.points
        assert float(props["max_points"]) == check.max_points


def test_reports_inside_the_submission_leave_the_build_unchanged(tmp_path: Path) -> None:
    from runner.intake.submission import load_submission

    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "assess.toml").write_text('runtime = "python"\nstart = "python3 app.py"\n')
    (sub / "app.py").write_text("print('hi')\n")
    reports = [sub / "report.html", sub / "out" / "junit.xml", tmp_path / "elsewhere.json"]
    images = {"python": "assess/python:3.11"}
    before = load_submission(sub, reports=reports).content_hash(images)
    (sub / "report.html").write_text("<html>last run</html>")
    (sub / "out").mkdir()
    (sub / "out" / "junit.xml").write_text("<testsuites/>")
    after = load_submission(sub, reports=reports)
    assert after.content_hash(images) == before
    assert Path("report.html") not in after.files
    # any other new file does change what is built
    (sub / "notes.txt").write_text("x")
    assert load_submission(sub, reports=reports).content_hash(images) != before


def test_progress_counts_n_of_m_once_the_checks_are_listed() -> None:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=False, width=200)
    progress = Progress(console)
    progress.TICK_S = 0.2
    with progress:
        progress({"event": "planned", "checks": 49})
        progress({"event": "phase", "phase": "checks", "state": "start"})
        progress({"event": "check", "outcome": "passed", "id": "test_one"})
        assert _wait_for(lambda: "… checks… 1 of 49 done" in buf.getvalue())
