"""Ctrl-C after some checks passed leaves partial reports marked interrupted (the checks run,
the rest not_run), then exits 130 with the pod removed (issue 23)."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, TINY
from tests.integration.conftest import managed_containers

pytestmark = [pytest.mark.docker, pytest.mark.serial]

SLOW_CHECK = '''
import time
import pytest

@pytest.mark.skill("basics")
def test_zz_slow(api):
    """Takes its time."""
    time.sleep(60)
'''


def test_ctrl_c_writes_partial_reports_and_exits_130(
    client: Any, tmp_path: Path, no_leaks: None
) -> None:
    challenge = tmp_path / "tiny"
    shutil.copytree(TINY, challenge, ignore=shutil.ignore_patterns("solutions"))
    toml = (challenge / "challenge.toml").read_text()
    toml = toml.replace("checks_s = 30", "checks_s = 120").replace("check_s = 5", "check_s = 90")
    (challenge / "challenge.toml").write_text(toml)
    (challenge / "checks" / "test_zz_slow.py").write_text(SLOW_CHECK)
    out_json, out_md = tmp_path / "r.json", tmp_path / "r.md"
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "runner.cli", "run", str(challenge),
            str(TINY / "solutions" / "reference"),
            "--json", str(out_json), "--markdown", str(out_md),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # until the grader reported tiny's last quick check
        graders = [
            c
            for c in managed_containers(client, proc.pid)
            if c.labels.get("assess.role") == "grader"
        ]
        logs = b"".join(g.logs() for g in graders)
        if b'"id": "healthz"' in logs and b'"outcome": "passed"' in logs:
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    else:
        proc.kill()
        raise AssertionError("the grader never reported the quick checks")
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, rest + err
    assert "interrupted: the reports are partial" in err
    assert "Traceback" not in err
    data = json.loads(out_json.read_text())
    assert data["verdict"] == "interrupted"
    outcomes = {c["id"]: c["outcome"] for c in data["checks"]}
    assert outcomes == {
        "hello": "passed",
        "unknown_is_404": "passed",
        "healthz": "passed",
        "zz_slow": "not_run",
    }
    assert "interrupted" in out_md.read_text()
    assert managed_containers(client, proc.pid) == []
