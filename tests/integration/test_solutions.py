"""Every challenge's own solutions, graded for real: the reference scores full correctness and
each flawed variant fails exactly the checks its expected.toml lists. This is how we know each
check works."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.challenges.registry import Registry, load_challenge
from runner.challenges.solutions import Solution, all_solutions
from runner.grading.mutation import suite_view
from runner.results import Verdict
from tests.conftest import ROOT, TINY
from tests.integration.conftest import Grader

pytestmark = pytest.mark.docker


def _solutions() -> list[Solution]:
    found = []
    for challenge in [*Registry(ROOT / "challenges").all(), load_challenge(TINY)]:
        found += all_solutions(challenge)
    return found


@pytest.mark.parametrize("solution", _solutions(), ids=lambda s: f"{s.challenge.id}/{s.name}")
def test_solution_fails_exactly_its_expected_checks(
    graded: Grader, solution: Solution, tmp_path: Path
) -> None:
    results = graded(solution.challenge, solution.materialize(tmp_path))
    assert results.verdict == Verdict.GRADED, results.verdict_detail
    if solution.challenge.config.kind == "tests":  # a suite: as assess verify judges it
        failed, expected, note = suite_view(results, solution.expected)
        assert not note, note
        assert failed == expected, f"mutants survived {sorted(failed)}, expected {sorted(expected)}"
        return
    failed = results.failed_ids()
    expected = set(solution.expected.fails)
    messages = {c.id: c.message for c in results.checks if c.id in failed ^ expected}
    assert failed == expected, f"unexpected outcomes: {messages}"
    if expected:
        assert results.correctness_score < 100.0
    else:  # the reference, and independent implementations written from the brief alone
        assert results.correctness_score == 100.0
