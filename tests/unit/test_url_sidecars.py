"""--url against a challenge with sidecars is refused up front, in one line, never graded
full of errors."""

from __future__ import annotations

from typer.testing import CliRunner

from runner.cli import app


def test_url_mode_refuses_a_challenge_with_sidecars() -> None:
    result = CliRunner().invoke(app, ["run", "cache", "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: --url cannot grade cache: its checks need the sidecar")
    assert "upstream" in result.output
    assert len(result.output.strip().splitlines()) == 1
