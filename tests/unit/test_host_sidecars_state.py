"""`assess sidecars` state files and the --url refusal that names the command (no Docker)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from runner.challenges import packs
from runner.cli import app
from runner.errors import UsageError
from runner.grading import host_sidecars


def _cache() -> object:
    return packs.open_challenge("cache", private=None, interviewer=False)


def test_the_refusal_names_the_new_command_in_one_line() -> None:
    result = CliRunner().invoke(app, ["run", "cache", "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: --url cannot grade cache")
    assert "`assess sidecars cache`" in result.output
    assert "--sidecars-from" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_sidecars_from_needs_url() -> None:
    result = CliRunner().invoke(app, ["run", "cache", "x", "--sidecars-from", "/nonexistent"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: --sidecars-from goes with --url")


def test_sidecars_command_refuses_a_challenge_without_sidecars() -> None:
    result = CliRunner().invoke(app, ["sidecars", "rest-api"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: rest-api has no sidecars")


def test_the_env_var_naming_each_sidecar_is_read_from_challenge_toml() -> None:
    assert host_sidecars.env_var_for(_cache(), 9090) == "UPSTREAM_URL"
    monitoring = packs.open_challenge("monitoring", private=None, interviewer=False)
    assert host_sidecars.env_var_for(monitoring, 9090) == "INVENTORY_URL"
    assert host_sidecars.env_var_for(_cache(), 1) is None


def test_bad_state_files_are_refused_in_one_line(tmp_path: Path) -> None:
    cache = _cache()
    missing = tmp_path / "missing.json"
    with pytest.raises(UsageError, match="no such file; start them with `assess sidecars cache`"):
        host_sidecars.read_state(missing, cache)
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    with pytest.raises(UsageError, match="not a sidecars state file"):
        host_sidecars.read_state(garbage, cache)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"version": 1, "challenge": "monitoring", "sidecars": []}))
    with pytest.raises(UsageError, match="'monitoring''s, not cache's"):
        host_sidecars.read_state(other, cache)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"version": 1, "challenge": "cache", "sidecars": [{"x": 1}]}))
    with pytest.raises(UsageError, match="not a sidecars state file"):
        host_sidecars.read_state(wrong, cache)
    rest = packs.open_challenge("rest-api", private=None, interviewer=False)
    with pytest.raises(UsageError, match="rest-api has no sidecars"):
        host_sidecars.read_state(wrong, rest)


def test_a_state_file_round_trips_and_its_sidecars_must_be_running(tmp_path: Path) -> None:
    cache = _cache()
    path = tmp_path / "state.json"
    with host_sidecars.running(cache) as sidecars:
        (s,) = sidecars
        assert s.env_var == "UPSTREAM_URL"
        assert host_sidecars.env_lines(sidecars) == [f"UPSTREAM_URL=http://127.0.0.1:{s.spec.port}"]
        host_sidecars.write_state(path, cache, sidecars)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600  # it holds the control token
        (spec,) = host_sidecars.read_state(path, cache)
        assert spec == s.spec
        assert spec.url == f"http://127.0.0.1:{spec.control_port}"
        assert len(spec.token) == 32
        proc = s.proc
    assert proc.poll() is not None  # stopped on the way out
    with pytest.raises(UsageError, match="sidecar upstream is not running; start them with"):
        host_sidecars.read_state(path, cache)
