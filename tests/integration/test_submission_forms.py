"""Submissions as users write them, on the real engine: a base image this machine lacks (no
registry answers here) and a .dockerignore honoured as docker build honours it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from runner.cli import app
from runner.grading.images import PYTHON_TAG
from tests.conftest import TINY

pytestmark = pytest.mark.docker

MISSING = "python:3.12-slim"


def test_a_base_image_that_is_not_here_is_our_error_not_the_candidates(
    client: Any, tmp_path: Path, no_leaks: None
) -> None:
    import docker.errors

    try:
        client.images.get(MISSING)
        pytest.skip(f"{MISSING} is present on this machine")
    except docker.errors.ImageNotFound:
        pass
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "Dockerfile").write_text(f'FROM {MISSING}\nCOPY . /app\nCMD ["python", "app.py"]\n')
    out = tmp_path / "r.json"
    result = CliRunner().invoke(app, ["run", str(TINY), str(sub), "--json", str(out)])
    assert result.exit_code == 3, result.output
    data = json.loads(out.read_text())
    assert data["verdict"] == "error"
    detail = data["verdict_detail"]
    assert detail.startswith(f"base image {MISSING} is not on this machine")
    assert "docker load" in detail
    assert "assess/python:3.11" in detail
    assert "\n" not in detail
    assert f"FROM {MISSING}" in data["build_log_tail"]


def test_a_large_dockerignored_folder_never_reaches_the_image(
    tmp_path: Path, no_leaks: None
) -> None:
    sub = tmp_path / "sub"
    shutil.copytree(TINY / "solutions" / "reference", sub)
    (sub / "assess.toml").unlink()
    (sub / "big").mkdir()
    with open(sub / "big" / "blob", "wb") as fh:  # sparse: 300 MiB, over the context cap
        fh.truncate(300 * 2**20)
    (sub / "big" / "wanted.txt").write_text("kept by a negation")
    (sub / ".dockerignore").write_text("big\n!big/wanted.txt\n")
    (sub / "Dockerfile").write_text(
        f"FROM {PYTHON_TAG}\nCOPY . /app\nWORKDIR /app\n"
        "RUN test ! -e /app/big/blob && test -s /app/big/wanted.txt\n"
        'ENV PORT=8080\nCMD ["python3", "app.py"]\n'
    )
    out = tmp_path / "r.json"
    result = CliRunner().invoke(
        app, ["run", str(TINY), str(sub), "--json", str(out), "--skip-load"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["verdict"] == "graded", data["build_log_tail"]
    assert data["score"] == 100
