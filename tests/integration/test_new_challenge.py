"""The template of `assess new-challenge` passes `assess verify` as it stands, on the real engine:
the reference scores every check and the flawed variant fails exactly its listed checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from runner.cli import app

pytestmark = pytest.mark.docker


def test_a_new_challenge_verifies_as_generated(tmp_path: Path, no_leaks: None) -> None:
    made = CliRunner().invoke(app, ["new-challenge", "my-items", "--dir", str(tmp_path)])
    assert made.exit_code == 0, made.output
    result = CliRunner().invoke(app, ["verify", str(tmp_path / "my-items")])
    assert result.exit_code == 0, result.output
    assert "✓ reference" in result.output
    assert "✓ sloppy-status" in result.output
