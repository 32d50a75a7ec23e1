"""Candidate text cannot drive the interviewer's terminal or break the JUnit file.

Every terminal control a hostile service might plant (in bodies quoted by failure messages, in
its log, in its build output) is shown as visible text in the terminal report and the live
progress lines, rich markup in it stays literal, and JUnit drops what XML 1.0 cannot carry.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from io import StringIO
from pathlib import Path

import pytest
from rich.console import Console
from rich.text import Text

from graders.protocol import Outcome
from runner.reports import junit, terminal
from runner.reports.safe_text import safe_text
from runner.results import Results, Verdict
from tests.unit.conftest import make_sample_results

# Each attack, with the visible text the report must show instead (ESC shown as \x1b).
ATTACKS = {
    "clear screen (CSI)": ("\x1b[2J\x1b[H", r"\x1b[2J\x1b[H"),
    "window title (OSC 0, BEL)": ("\x1b]0;pwned\x07", r"\x1b]0;pwned\a"),
    "window title (OSC 2, ST)": ("\x1b]2;pwned\x1b\\", r"\x1b]2;pwned\x1b" + "\\"),
    "hyperlink (OSC 8)": ("\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\", r"\x1b]8;;"),
    "clipboard (OSC 52)": ("\x1b]52;c;cm0gLXJmIH4K\x07", r"\x1b]52;c;cm0gLXJmIH4K\a"),
    "DCS string": ("\x1bPq#0;2;0;0;0\x1b\\", r"\x1bPq#0"),
    "APC string": ("\x1b_Gf=100;AAAA\x1b\\", r"\x1b_Gf=100"),
    "PM and SOS strings": ("\x1b^pm\x1b\\\x1bXsos\x1b\\", r"\x1b^pm"),
    "lone ESC": ("a\x1b", r"a\x1b"),
    "8-bit CSI (C1)": ("\x9b2J", r"\x9b2J"),
    "8-bit OSC (C1)": ("\x9d0;pwned\x9c", r"\x9d0;pwned\x9c"),
    "other C0": ("nul\x00bell\x07bs\x08", r"nul\x00bell\abs\b"),
    "carriage return overwrite": ("all good\rFAILED", r"all good\rFAILED"),
    "bidi override": ("\u202eevil\u202c", "<U+202E>evil<U+202C>"),
    "bidi isolate": ("\u2066x\u2069", "<U+2066>x<U+2069>"),
}
HOSTILE = "".join(payload for payload, _ in ATTACKS.values())
MARKUP = "[bold red]not markup[/] [link=http://evil.example/]click[/link]"
RICH_SGR = re.compile(r"\x1b\[[0-9;]*m")  # rich's own styling, the only escapes allowed
DANGEROUS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.mark.parametrize("name", list(ATTACKS))
def test_safe_text_shows_each_sequence_visibly(name: str) -> None:
    payload, shown = ATTACKS[name]
    out = safe_text(f"before {payload} after")
    assert not DANGEROUS.search(out), repr(out)
    assert shown in out


def test_safe_text_keeps_newlines_tabs_and_unicode() -> None:
    assert safe_text("a\tb\r\nc\nré ✓ 日本") == "a\tb\nc\nré ✓ 日本"
    assert safe_text("lone \ud800 surrogate") == "lone <U+D800> surrogate"


def hostile_results(verdict: Verdict) -> Results:
    r = make_sample_results(verdict=verdict, with_load=False)  # load tables are not candidate text
    r.verdict_detail = f"detail {HOSTILE} {MARKUP}"
    r.checks[1] = replace(r.checks[1], message=f"GET /x -> 200 body {HOSTILE} {MARKUP}")
    r.service_log.text = f"log line {HOSTILE}\n{MARKUP}\n"
    r.build_log_tail = f"step 3/7 {HOSTILE}\n{MARKUP}\n"
    return r


def render(results: Results) -> str:
    buf = StringIO()
    console = Console(file=buf, force_terminal=True, width=2000, color_system="truecolor")
    console.print(terminal.render(results, show_passed=True))
    return buf.getvalue()


def assert_inert(out: str) -> None:
    rest = RICH_SGR.sub("", out)
    assert not DANGEROUS.search(rest), repr(DANGEROUS.findall(rest)[:10])
    assert "\x1b]8;" not in out  # no hyperlink, neither the candidate's nor one from markup
    for name, (_, shown) in ATTACKS.items():
        assert shown in rest.replace("\n", ""), name  # the interviewer sees the attempt


@pytest.mark.parametrize("verdict", [Verdict.CRASHED, Verdict.BUILD_FAILED])
def test_terminal_report_never_emits_candidate_controls(verdict: Verdict) -> None:
    out = render(hostile_results(verdict))
    assert_inert(out)
    plain = RICH_SGR.sub("", out)
    assert "[bold red]not markup[/]" in plain
    assert "[link=http://evil.example/]click[/link]" in plain
    log = "build log (tail)" if verdict == Verdict.BUILD_FAILED else "service log (tail)"
    assert log in plain


def test_progress_lines_never_emit_candidate_controls() -> None:
    buf = StringIO()
    console = Console(file=buf, force_terminal=True, width=2000)
    progress = terminal.Progress(console)  # not entered: only its printed lines and status text
    progress({"event": "build_log", "line": f"RUN make {HOSTILE}"})
    building = progress.status.status
    progress({"event": "ready", "ok": False, "message": f"connection reset {HOSTILE} {MARKUP}"})
    progress({"event": "check", "outcome": "failed", "id": f"x{HOSTILE}"})
    assert isinstance(building, Text)
    assert not DANGEROUS.search(building.plain)
    assert r"\x1b]52;" in building.plain
    assert_inert(buf.getvalue())
    assert "[bold red]not markup[/]" in RICH_SGR.sub("", buf.getvalue())


def test_junit_parses_and_drops_invalid_and_control_characters(tmp_path: Path) -> None:
    results = hostile_results(Verdict.CRASHED)
    invalid = "".join(chr(c) for c in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)])
    invalid += "\ud800\udfff\ufffe\uffff"
    results.service_log.text += f"bad {invalid} chars\n"
    results.checks[0] = replace(
        results.checks[0], outcome=Outcome.FAILED, message=f"message {invalid} {HOSTILE}"
    )
    path = tmp_path / "junit.xml"
    junit.write(results, path)
    raw = path.read_text(encoding="utf-8", errors="surrogateescape")
    ET.parse(path)  # parses at all: every XML-invalid code point is gone
    assert "\x1b" not in raw
    assert not re.search("[\x80-\x9f\u202a-\u202e\u2066-\u2069]", raw)
    assert "bad  chars" in raw
    assert "pwned" in raw  # the text of a sequence survives; only its control bytes go
