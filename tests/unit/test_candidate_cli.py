"""A candidate's commands: show the brief, list as JSON, the version, and a candidate-mode
score that says plainly it is not the grade."""

from __future__ import annotations

import json
import re
import shutil

from typer.testing import CliRunner

import runner
from runner.cli import app
from runner.commands import candidate_note
from tests.conftest import TINY

cli = CliRunner()


def test_show_renders_the_brief_and_the_hidden_count() -> None:
    result = cli.invoke(app, ["show", str(TINY)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "Tiny fixture challenge (tiny 0.1.0)" in text
    assert "1 hidden checks are run by the interviewer" in text


def test_show_unknown_challenge_is_one_line_exit_2() -> None:
    result = cli.invoke(app, ["show", "no-such"])
    assert result.exit_code == 2
    assert result.output.startswith("error: unknown challenge 'no-such'")


def test_list_json_is_data(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    shutil.copytree(TINY, tmp_path / "tiny")
    monkeypatch.setenv("ASSESS_CHALLENGES", str(tmp_path))
    result = cli.invoke(app, ["list", "--json"])
    assert result.exit_code == 0, result.output
    (tiny,) = json.loads(result.output)
    assert tiny["id"] == "tiny"
    assert tiny["hidden_checks"] == 1
    assert tiny["public_only"] is False


def test_version() -> None:
    result = cli.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"assess {runner.__version__}"


def test_candidate_note_never_reads_as_a_grade() -> None:
    note = re.sub(r"\[/?[a-z ]*\]", "", candidate_note(16, 33))
    assert "not your grade" in note
    assert "33 visible checks only" in note
    assert "16 hidden checks exist, and the interviewer runs them" in note
    assert "interviewer" in candidate_note(0, 3)


def test_run_solution_unknown_name_is_exit_2() -> None:
    result = cli.invoke(app, ["run", str(TINY), "--solution", "nope"])
    assert result.exit_code == 2
    assert "has no solution 'nope'; known:" in " ".join(result.output.split())


def test_run_solution_and_submission_together_is_exit_2() -> None:
    result = cli.invoke(app, ["run", str(TINY), ".", "--solution", "reference"])
    assert result.exit_code == 2
    assert "one of them" in result.output
