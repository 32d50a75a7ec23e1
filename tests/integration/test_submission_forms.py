"""Submissions as users write them, on the real engine: a base image this machine lacks (no
registry answers here) and a .dockerignore honoured as docker build honours it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from runner.cli import app
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
