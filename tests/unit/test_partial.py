"""Partial runs (-k, --check, --fail-fast): the selection rule, refusals before anything is
built, and the notes that keep a partial score from passing for a grade."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from graders.protocol import CheckResult, Outcome
from graders.selection import Selection, SelectionError
from runner.cli import app
from runner.errors import UsageError
from runner.grading.partial import Partial, annotate, plan_selection
from runner.results import Results, Verdict
from tests.conftest import TINY

CHECKS = TINY / "checks"


def test_ids_are_exact_and_k_uses_pytest_expressions() -> None:
    assert Selection(ids=("hello",)).wants("hello", [])
    assert not Selection(ids=("hell",)).wants("hello", [])
    k = Selection(keyword="HELLO or 404")
    assert k.wants("hello", [])
    assert k.wants("unknown_is_404", [])
    assert not Selection(keyword="basics and not hello").wants("hello", ["basics"])
    assert Selection(keyword="hidden").wants("healthz", ["hidden", "test_tiny.py"])
    assert Selection().wants("anything", [])
    with pytest.raises(SelectionError, match="does not parse"):
        Selection(keyword="hello and (").compiled()


def test_selection_is_checked_against_the_scanned_checks() -> None:
    chosen = plan_selection(
        CHECKS, candidate=False, select=(), keyword="test_tiny", fail_fast=False
    )
    assert (chosen.selected, chosen.total) == (3, 3)
    with pytest.raises(UsageError, match="did you mean hello"):
        plan_selection(CHECKS, candidate=False, select=("helo",), keyword="", fail_fast=False)
    with pytest.raises(UsageError, match="matches no check"):
        plan_selection(CHECKS, candidate=False, select=(), keyword="nothing", fail_fast=False)
    # a candidate cannot select (or learn the name of) a hidden check
    with pytest.raises(UsageError, match="no such check"):
        plan_selection(CHECKS, candidate=True, select=("healthz",), keyword="", fail_fast=False)
    assert not plan_selection(CHECKS, candidate=True, select=(), keyword="", fail_fast=False).active


@pytest.mark.parametrize(
    "args",
    [["-k", "hello"], ["--check", "hello"], ["--fail-fast"], ["-k", "nothing"], ["-k", "a and ("]],
)
def test_bad_or_partial_selections_are_refused_in_one_line(args: list[str]) -> None:
    result = CliRunner().invoke(
        app, ["run", str(TINY), str(TINY / "solutions" / "reference"), "--fail-under", "50", *args]
    )
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ")
    assert len(result.output.strip().splitlines()) == 1


def _results(*outcomes: Outcome) -> Results:
    checks = [
        CheckResult(f"c{i}", f"c{i}", "basics", o, 1.0 if o == Outcome.PASSED else 0.0, 1.0)
        for i, o in enumerate(outcomes)
    ]
    return Results.model_validate(
        {
            "challenge": "tiny",
            "challenge_title": "Tiny",
            "submission": "s",
            "verdict": Verdict.GRADED,
            "score": 50.0,
            "checks": checks,
            "score_notes": ["older note"],
            "manifest": {
                "assess_version": "0",
                "run_id": "r",
                "started_at": "t",
                "challenge_version": "1",
                "seed": 1,
            },
        }
    )


def test_partial_runs_say_so_first_and_fail_fast_explains_what_it_skipped() -> None:
    r = _results(Outcome.PASSED, Outcome.FAILED)
    annotate(r, Partial(select=("c0", "c1"), total=5, selected=2))
    assert r.score_notes[0].startswith("partial run: 2 of 5 checks selected")
    assert r.score_notes[1] == "older note"

    r = _results(Outcome.FAILED, Outcome.NOT_RUN)
    annotate(r, Partial(fail_fast=True, total=2))
    assert r.score_notes[0].startswith("partial run (--fail-fast): 1 of 2 checks not run")
    assert r.checks[1].message == "not run: --fail-fast stopped at the first failure"

    r = _results(Outcome.PASSED)
    annotate(r, Partial())
    assert r.score_notes == ["older note"]
