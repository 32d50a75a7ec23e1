"""The CLI's usage errors: one line, naming the problem and the fix, exit code 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from runner.cli import app
from tests.conftest import TINY

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("run", "no-such-challenge", "."), "unknown challenge 'no-such-challenge'"),
        (("run", str(TINY), "/no/such/dir"), "does not exist"),
        (("run", str(TINY), str(TINY / "checks")), "no Dockerfile and no assess.toml"),
        (("run", str(TINY)), "give a SUBMISSION directory or --url"),
        (("run", str(TINY), ".", "--fail-under", "120"), "--fail-under must be between 0 and 100"),
        (("run", str(TINY), "--url", "http://10.0.0.8:8080"), "not a loopback address"),
        (("run", str(TINY), "--url", "ftp://127.0.0.1"), "must look like http://"),
        (("run", str(TINY), ".", "--load-duration", "0"), "--load-duration must be positive"),
        (("run", str(TINY), ".", "--load-workers", "99"), "--load-workers must be between 0 and 8"),
    ],
)
def test_bad_input_exits_2_with_one_line(args: tuple[str, ...], fragment: str) -> None:
    code, output = invoke(*args)
    assert code == 2, output
    assert fragment in " ".join(output.split())
    assert "Traceback" not in output


def test_init_scaffolds_a_starter_with_the_brief(tmp_path: Path) -> None:
    code, output = invoke("init", str(TINY), str(tmp_path / "mine"), "--runtime", "node")
    assert code == 0, output
    assert (tmp_path / "mine" / "server.js").is_file()
    assert (tmp_path / "mine" / "BRIEF.md").read_text() == (TINY / "README.md").read_text()
    code, output = invoke("init", str(TINY), str(tmp_path / "mine"))
    assert code == 2
    assert "not empty" in output


def test_list_shows_challenges_and_requirements() -> None:
    code, output = invoke("list")
    assert code == 0, output
    assert "cache" in output


def test_schema_prints_the_results_schema() -> None:
    code, output = invoke("schema")
    assert code == 0
    assert '"schema_version"' in output
