"""The reports of a tests challenge (Results.kind "tests"): mutants, the suite's output, no
"ready", and no "visible checks only" self-test line in candidate mode, in every format."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import pytest
from rich.console import Console

from graders.protocol import CheckResult, Outcome
from runner.reports import html, junit, markdown, terminal
from runner.results import CapturedOutput, Results, Timings, Verdict
from tests.unit.conftest import XSS, make_sample_results

SUITE_OUT = f"FAILED test_api.py::test_create_desk - assert 400 == 201 {XSS}"


def suite_results(mode: str = "interviewer", *, score: float = 50.0) -> Results:
    base = make_sample_results(with_load=False, mode=mode)
    killed = CheckResult(
        id="hidden-rest-1" if mode == "candidate" else "status-200-on-create",
        title="a hidden rest mutant" if mode == "candidate" else "POST /desks answers 200",
        skill="rest",
        outcome=Outcome.PASSED,
        points=1,
        max_points=1,
        hidden=True,
        message="killed: the suite exited 1",
    )
    survived = CheckResult(
        id="hidden-rest-2" if mode == "candidate" else "no-etag",
        title="a hidden rest mutant" if mode == "candidate" else "ETag dropped",
        skill="rest",
        outcome=Outcome.FAILED,
        points=0,
        max_points=1,
        hidden=True,
        message="survived: the suite passed on this mutant",
    )
    return base.model_copy(
        update={
            "kind": "tests",
            "checks": [killed, survived],
            "score": score,
            "correctness_score": score,
            "critical_failed": [],
            "resources": None,
            "score_notes": ["reference run 1: passed in 3.0 s, exit 0; 4 tests: 4 passed"],
            "service_log": CapturedOutput(text=SUITE_OUT, total_bytes=len(SUITE_OUT)),
            "timings": Timings(build_s=1.0, checks_s=40.0, total_s=42.0),
        }
    )


def term(r: Results) -> str:
    buf = io.StringIO()
    Console(file=buf, width=200, force_terminal=False).print(terminal.render(r))
    return buf.getvalue()


@pytest.mark.parametrize("mode", ["interviewer", "candidate"])
def test_terminal_speaks_of_mutants_and_the_suite(mode: str) -> None:
    out = term(suite_results(mode, score=0.0))
    assert "mutants 1/2 killed" in out
    assert "checks 1/2 passed" not in out
    assert "the suite's output (tail)" in out
    assert "service log" not in out
    assert "ready" not in out
    assert "build 1.0s · suite runs 40.0s · total 42.0s" in out
    assert "visible checks only" not in out
    if mode == "candidate":
        assert "over every mutant (hidden ones shown by skill only)" in out


def test_a_service_challenge_keeps_its_words() -> None:
    r = make_sample_results(with_load=False, mode="candidate", verdict=Verdict.CRASHED)
    out = term(r)
    assert "visible checks only" in out
    assert "service log (tail)" in out
    assert "ready" in out


@pytest.mark.parametrize("mode", ["interviewer", "candidate"])
def test_markdown_speaks_of_mutants_and_the_suite(mode: str) -> None:
    out = markdown.render(suite_results(mode, score=0.0))
    assert "mutants 1/2 killed" in out
    assert "### Mutants not killed (1)" in out
    assert "**The suite's output (tail):**" in out
    assert "Service log" not in out
    assert "ready" not in out
    assert "visible checks only" not in out
    assert "hidden check" not in out  # a candidate sees the mutants, by skill only
    assert "```" in out  # the suite's output is fenced, as a service log is


@pytest.mark.parametrize("mode", ["interviewer", "candidate"])
def test_html_speaks_of_mutants_and_the_suite(mode: str) -> None:
    out = html.render(suite_results(mode, score=0.0))
    assert "The suite&#39;s output" in out or "The suite's output" in out
    assert "Service log" not in out
    assert "mutants killed" in out
    assert "suite runs" in out
    assert ">ready<" not in out
    assert "not listed" not in out
    assert out.index('id="service-log"') < out.index('id="checks"')  # scored 0: output first
    assert XSS not in out


def test_junit_labels_the_suite_output_and_keeps_candidate_mutants() -> None:
    for mode in ("interviewer", "candidate"):
        root = junit.build(suite_results(mode)).getroot()
        ET.tostring(root)  # serialisable
        names = [c.get("name") for c in root.iter("testcase")]
        assert len(names) == 3  # two mutants and the verdict
        out = root.find(".//testcase[@name='verdict']/system-out")
        assert out is not None
        assert out.text is not None
        assert out.text.startswith("the suite's output (tail):\n")
        kind = root.find(".//property[@name='kind']")
        assert kind is not None
        assert kind.get("value") == "tests"


def test_candidate_note_of_a_suite_does_not_speak_of_visible_checks() -> None:
    from runner.commands import candidate_note

    note = candidate_note(32, 32, tests=True)
    assert "all 32 mutants" in note
    assert "visible checks only" not in note
    assert "visible checks only" in candidate_note(3, 5)
