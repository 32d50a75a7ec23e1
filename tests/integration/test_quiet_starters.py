"""`assess init` starters fail the checks honestly but quietly: every check runs and fails on a
short 501 problem+json, and the service log holds the start line, not a line per request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from runner.cli import app

pytestmark = pytest.mark.docker


@pytest.mark.parametrize("runtime", ["python", "node"])
def test_a_graded_starter_fails_every_check_with_a_short_log(
    tmp_path: Path, runtime: str, no_leaks: None
) -> None:
    starter = tmp_path / "starter"
    made = CliRunner().invoke(app, ["init", "rest-api", str(starter), "--runtime", runtime])
    assert made.exit_code == 0, made.output
    out = tmp_path / "r.json"
    result = CliRunner().invoke(
        app, ["run", "rest-api", str(starter), "--skip-load", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["verdict"] == "graded"
    assert len(data["checks"]) > 20
    assert data["correctness_score"] < 10
    log = data["service_log"]["text"]
    assert "starter listening on" in log
    assert len(log.strip().splitlines()) <= 3, log[:2000]
