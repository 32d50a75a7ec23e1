"""A check reads the service's own output: the host hands it to the grader on request (the
grader cannot see the candidate's container). In --url mode the check fails, saying why."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from runner.challenges.registry import load_challenge
from runner.grading.pipeline import RunOptions, grade_url
from runner.results import Verdict
from tests.conftest import FIXTURES, TINY
from tests.integration.conftest import Grader

pytestmark = pytest.mark.docker
CHALLENGE = FIXTURES / "tiny-logs"
REFERENCE = TINY / "solutions" / "reference"


def test_a_check_reads_the_services_output_in_the_pod(graded: Grader) -> None:
    r = graded(load_challenge(CHALLENGE), REFERENCE)
    assert r.verdict == Verdict.GRADED, r.verdict_detail
    [check] = r.checks
    assert check.outcome == "passed", check.message


def test_in_url_mode_the_output_is_unavailable_and_the_check_fails(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, str(REFERENCE / "app.py")], env={**os.environ, "PORT": str(port)}
    )
    try:
        r = grade_url(load_challenge(CHALLENGE), f"http://127.0.0.1:{port}", RunOptions(), tmp_path)
    finally:
        server.kill()
        server.wait()
    [check] = r.checks
    assert check.outcome == "failed"
    assert "not available" in check.message
