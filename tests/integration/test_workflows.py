"""The user workflows of issue 13 on the real engine: a public bundle graded with a private
pack from a git URL, and the same bundle self-tested by a candidate."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from runner.challenges import packs
from runner.challenges.registry import load_challenge
from runner.cli import app
from tests.conftest import ROOT, TINY, validate_results_json
from tests.unit.test_packs import bare_repo_of

pytestmark = pytest.mark.docker

REFERENCE = TINY / "solutions" / "reference"
ASSESS = ROOT / ".venv" / "bin" / "assess"


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


def _assess(*args: str, cwd: Path, pipe: str = "") -> subprocess.CompletedProcess[str]:
    """``assess ARGS [| PIPE]`` in a shell, as a user types it; the exit code is assess's."""
    command = " ".join(shlex.quote(a) for a in [str(ASSESS), *args])
    script = f"{command} {pipe}; exit ${{PIPESTATUS[0]}}" if pipe else command
    return subprocess.run(
        ["bash", "-c", script], cwd=cwd, capture_output=True, text=True, timeout=240, check=False
    )


def test_a_reader_that_leaves_does_not_abort_the_run(tmp_path: Path, no_leaks: None) -> None:
    results, html = tmp_path / "r.json", tmp_path / "r.html"
    proc = _assess(
        "run", str(TINY), str(REFERENCE), "--json", str(results), "--html", str(html),
        cwd=tmp_path, pipe="| head -c 1 >/dev/null",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert validate_results_json(results.read_text())["verdict"] == "graded"
    assert html.stat().st_size > 1000


def test_json_dash_puts_results_on_stdout_and_the_report_on_stderr(
    tmp_path: Path, no_leaks: None
) -> None:
    proc = _assess("run", str(TINY), str(REFERENCE), "--json", "-", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = validate_results_json(proc.stdout)  # stdout is the results and nothing else
    assert data["challenge"] == "tiny"
    assert "verdict" in proc.stderr
    assert "graded" in proc.stderr


def test_submission_as_git_url_with_ref_and_as_tar_gz(tmp_path: Path, no_leaks: None) -> None:
    import tarfile

    from runner.challenges.solutions import load_solution

    tree = load_solution(load_challenge(TINY), "wrong-hello").materialize(tmp_path / "sol")
    url = bare_repo_of(tree, tmp_path / "cand.git", branch="submitted")
    out = tmp_path / "git.json"
    result = CliRunner().invoke(
        app, ["run", str(TINY), url, "--ref", "submitted", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["verdict"] == "graded"
    assert [c["id"] for c in data["checks"] if c["outcome"] != "passed"] == ["hello"]

    archive = tmp_path / "sub.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(REFERENCE, arcname="my-service")
    out = tmp_path / "tar.json"
    result = CliRunner().invoke(app, ["run", str(TINY), str(archive), "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["score"] == 100


def test_run_a_challenges_own_flawed_solution(tmp_path: Path, no_leaks: None) -> None:
    out = tmp_path / "sol.json"
    result = CliRunner().invoke(
        app, ["run", str(TINY), "--solution", "wrong-hello", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())  # the variant overlaid on its base builds and runs
    assert [c["id"] for c in data["checks"] if c["outcome"] != "passed"] == ["hello"]
