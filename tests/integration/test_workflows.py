"""The user workflows of issue 13 on the real engine: a public bundle graded with a private
pack from a git URL, and the same bundle self-tested by a candidate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from runner import packs
from runner.challenges import load_challenge
from runner.cli import app
from tests.conftest import TINY, validate_results_json
from tests.unit.test_packs import bare_repo_of

pytestmark = pytest.mark.docker

REFERENCE = TINY / "solutions" / "reference"


def test_public_bundle_with_private_pack_from_git(tmp_path: Path, no_leaks: None) -> None:
    tiny = load_challenge(TINY)
    public = packs.write_public(tiny, tmp_path / "pub")
    private = packs.write_private(tiny, tmp_path / "priv")
    url = bare_repo_of(private, tmp_path / "tiny-private.git")

    full = tmp_path / "full.json"
    result = CliRunner().invoke(
        app, ["run", str(public), str(REFERENCE), "--private", url, "--json", str(full)]
    )
    assert result.exit_code == 0, result.output
    data = validate_results_json(full.read_text())
    assert data["mode"] == "interviewer"
    assert sorted(c["hidden"] for c in data["checks"]) == [False, False, True]

    mine = tmp_path / "mine.json"
    result = CliRunner().invoke(
        app, ["run", str(public), str(REFERENCE), "--candidate", "--json", str(mine)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(mine.read_text())
    assert [c["hidden"] for c in data["checks"]] == [False, False]
