"""Scoring arithmetic and the shipped JSON Schema."""

from __future__ import annotations

import json

import pytest

from graders.protocol import Outcome
from runner.results import (
    SCHEMA_PATH,
    CheckOutcome,
    combine,
    correctness,
    json_schema,
    score_skills,
)


def check(cid: str, skill: str, passed: bool, points: float = 1.0) -> CheckOutcome:
    return CheckOutcome(
        id=cid,
        title=cid,
        skill=skill,
        outcome=Outcome.PASSED if passed else "failed",
        points=points if passed else 0.0,
        max_points=points,
        hidden=False,
    )


def test_skill_percentages_are_weighted_by_the_challenge() -> None:
    checks = [check("a", "rest", True, 2), check("b", "rest", False, 2), check("c", "cache", True)]
    skills = score_skills(checks, {"rest": 3, "cache": 1})
    by = {s.skill: s for s in skills}
    assert by["rest"].percent == 50.0
    assert (by["rest"].passed, by["rest"].total) == (1, 2)
    assert by["cache"].percent == 100.0
    assert correctness(skills) == pytest.approx((50 * 3 + 100 * 1) / 4)


def test_all_passed_is_100_and_none_is_0() -> None:
    assert correctness(score_skills([check("a", "x", True)], {"x": 1})) == 100.0
    assert correctness(score_skills([check("a", "x", False)], {"x": 1})) == 0.0
    assert correctness([]) == 0.0


def test_load_combines_by_weights_and_is_ignored_when_absent() -> None:
    assert combine(80, None, 0.7, 0.3) == 80
    assert combine(80, 50, 0.7, 0.3) == pytest.approx(71.0)
    assert combine(80, 50, 1.0, 0.0) == 80


def test_shipped_schema_matches_the_model() -> None:
    shipped = json.loads(SCHEMA_PATH.read_text())
    assert shipped == json_schema(), "regenerate: assess schema > schemas/results.schema.json"
