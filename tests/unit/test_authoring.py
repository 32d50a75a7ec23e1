"""Authoring errors are refused when a challenge is loaded, not only by `assess verify`: a check
without a skill mark, or naming a skill challenge.toml does not weigh."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from runner.challenges.registry import load_challenge
from runner.errors import ChallengeError
from tests.conftest import TINY


@pytest.mark.parametrize(
    ("decorator", "expected"),
    [
        ("", r"test_extra: no @pytest.mark.skill\(\"...\"\) mark; add one of: basics"),
        ('@pytest.mark.skill("basic")', r"skill 'basic' is not in challenge.toml \[skills\]"),
    ],
)
def test_a_check_without_a_known_skill_is_an_error_at_load(
    tmp_path: Path, decorator: str, expected: str
) -> None:
    root = tmp_path / "tiny"
    shutil.copytree(TINY, root)
    with open(root / "checks" / "test_tiny.py", "a") as fh:
        fh.write(f"\n\n{decorator}\ndef test_extra(api):\n    pass\n")
    with pytest.raises(ChallengeError, match=expected):
        load_challenge(root)
    assert load_challenge(TINY).id == "tiny"
