"""`assess new-challenge NAME`: the template loads as a challenge; bad input is one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from runner.challenges.checkscan import scan
from runner.challenges.registry import load_challenge
from runner.challenges.solutions import all_solutions
from runner.cli import app


def _new(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["new-challenge", *args])
    return result.exit_code, result.output


def test_the_template_loads_with_two_checks_one_hidden_and_a_proving_variant(
    tmp_path: Path,
) -> None:
    code, out = _new("url-shortener", "--dir", str(tmp_path))
    assert code == 0, out
    challenge = load_challenge(tmp_path / "url-shortener")
    checks = scan(challenge.checks_dir)
    assert len(checks) == 2
    assert [c.hidden for c in checks] == [False, True]
    assert {c.skill for c in checks} == set(challenge.config.skills)
    solutions = {s.name: s for s in all_solutions(challenge)}
    assert set(solutions) == {"reference", "sloppy-status"}
    flawed = solutions["sloppy-status"].expected
    assert flawed.base == "reference"
    assert set(flawed.fails) == {c.id for c in checks}
    assert (challenge.root / "load" / "locustfile.py").is_file()


@pytest.mark.parametrize("name", ["Bad_Name", "x.y", "a" * 64, "no/slash"])
def test_a_bad_name_is_one_line_exit_2(tmp_path: Path, name: str) -> None:
    code, out = _new(name, "--dir", str(tmp_path))
    assert code == 2
    assert out.startswith("error: challenge name")
    assert len(out.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_an_existing_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    code, out = _new("taken", "--dir", str(tmp_path))
    assert code == 2
    assert "already exists" in out
    assert list((tmp_path / "taken").iterdir()) == []


def test_a_missing_parent_is_refused(tmp_path: Path) -> None:
    code, out = _new("fine", "--dir", str(tmp_path / "nope"))
    assert code == 2
    assert "is not a directory" in out
