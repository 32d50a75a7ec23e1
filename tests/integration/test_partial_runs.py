"""Partial runs on the real engine: the grader runs exactly the selected checks, and
--fail-fast leaves the rest not_run with the reason."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from runner.cli import app
from tests.conftest import TINY

pytestmark = pytest.mark.docker


def _run(tmp_path: Path, *args: str) -> dict:  # type: ignore[type-arg]
    out = tmp_path / "r.json"
    result = CliRunner().invoke(
        app, ["run", str(TINY), "--solution", "wrong-hello", "--json", str(out), *args]
    )
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text())


def test_selected_checks_and_fail_fast(tmp_path: Path, no_leaks: None) -> None:
    data = _run(tmp_path, "--check", "healthz", "-k", "404")
    assert sorted((c["id"], c["outcome"]) for c in data["checks"]) == [
        ("healthz", "passed"),
        ("unknown_is_404", "passed"),
    ]
    assert data["verdict"] == "graded"
    assert data["score_notes"][0].startswith("partial run: 2 of 3 checks selected")

    data = _run(tmp_path, "--fail-fast")
    outcomes = {c["id"]: (c["outcome"], c["message"]) for c in data["checks"]}
    assert outcomes["hello"][0] == "failed"  # the variant's flaw, and the first check
    assert outcomes["unknown_is_404"] == (
        "not_run",
        "not run: --fail-fast stopped at the first failure",
    )
    assert data["score_notes"][0].startswith("partial run (--fail-fast): 2 of 3 checks not run")
