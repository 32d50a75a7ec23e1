"""A challenge's own starter builds with its dependency file, answers /healthz and readiness, and
its protocol's first step: `assess init realtime` (python with aiohttp, node with ws) graded as a candidate gets
verdict graded, with its healthz and WebSocket-upgrade checks passing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from runner.cli import app

pytestmark = pytest.mark.docker


@pytest.mark.parametrize(
    ("runtime", "deps"), [("python", "requirements.txt"), ("node", "package-lock.json")]
)
def test_realtime_starter_builds_and_upgrades(
    tmp_path: Path, runtime: str, deps: str, no_leaks: None
) -> None:
    starter = tmp_path / "starter"
    made = CliRunner().invoke(app, ["init", "realtime", str(starter), "--runtime", runtime])
    assert made.exit_code == 0, made.output
    assert (starter / deps).is_file()
    out = tmp_path / "r.json"
    result = CliRunner().invoke(
        app,
        ["run", "realtime", str(starter), "--candidate", "--skip-load", "--json", str(out)],
    )
    data = json.loads(out.read_text())
    assert data["verdict"] == "graded", result.output
    passed = {c["id"] for c in data["checks"] if c["outcome"] == "passed"}
    # the protocol's first step: /healthz, a WebSocket upgrade on /ws (and a 4xx without one)
    assert {"healthz_ok", "upgrade_answers_101", "plain_get_ws_is_4xx"} <= passed, passed
    assert data["timings"]["ready_s"] is not None
    log = data["service_log"]["text"]
    assert "starter listening on" in log
    assert len(log.strip().splitlines()) <= 3, log[:2000]
