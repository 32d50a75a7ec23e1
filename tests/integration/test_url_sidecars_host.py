"""`assess sidecars cache` + `assess run cache --url --sidecars-from`, entirely on the host (no
Docker): the cache reference runs as a host process against the host upstream and earns its full
correctness, and Ctrl-C on `assess sidecars` stops the upstream and removes the state file."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from runner.challenges import packs
from runner.cli import app

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "challenges" / "cache" / "solutions" / "reference" / "app.py"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _until(what: str, ok: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not ok():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout:g} s")
        time.sleep(0.05)


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


@pytest.fixture
def host_sidecars(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[bytes]]]:
    state = tmp_path / "sidecars.json"
    with (tmp_path / "sidecars.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "runner.cli", "sidecars", "cache", "--state", str(state)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _until("assess sidecars wrote its state file", state.is_file)
            yield state, proc
        finally:
            _stop(proc, signal.SIGINT)
    printed = (tmp_path / "sidecars.log").read_text()
    assert "export UPSTREAM_URL=http://127.0.0.1:" in printed
    assert f"--sidecars-from {state}" in printed


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=1) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def test_url_grading_with_host_sidecars(
    host_sidecars: tuple[Path, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    state, sidecars_proc = host_sidecars
    data = json.loads(state.read_text())
    upstream = data["env"]["UPSTREAM_URL"]
    assert upstream.startswith("http://127.0.0.1:")
    challenge = packs.open_challenge("cache", private=None, interviewer=True)
    port = _free_port()
    env = {**os.environ, **challenge.config.env, **data["env"], "PORT": str(port)}
    service = subprocess.Popen(
        [sys.executable, str(REFERENCE)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _until("the cache reference answered /healthz", lambda: _healthy(url))
        out = tmp_path / "results.json"
        args = ["run", "cache", "--url", url, "--sidecars-from", str(state), "--skip-load"]
        result = CliRunner().invoke(app, [*args, "--json", str(out)])
        assert result.exit_code == 0, result.output
    finally:
        _stop(service)
    results = json.loads(out.read_text())
    failed = [c["id"] for c in results["checks"] if c["outcome"] != "passed"]
    assert failed == []
    assert results["verdict"] == "graded"
    assert results["correctness_score"] == 100.0
    # Ctrl-C: the sidecars stop, the state file goes, the command ends cleanly.
    upstream_port = int(upstream.rsplit(":", 1)[1])
    assert _stop(sidecars_proc, signal.SIGINT) == 0
    assert not state.exists()
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", upstream_port)) != 0
