"""Which phase a crash happened in, from the grader's events and Docker's exit time."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from runner.challenges import load_challenge
from runner.grading import _Watch
from tests.conftest import TINY


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def watch_with(*events: dict) -> _Watch:
    w = _Watch(load_challenge(TINY), load_s=10)
    for ev in events:
        w.on(ev)
    return w


def test_exit_time_picks_the_phase_running_then() -> None:
    w = watch_with({"event": "phase", "phase": "ready", "state": "start"})
    exit_at = time.time()
    time.sleep(0.01)
    w.on({"event": "phase", "phase": "checks", "state": "start"})
    assert w.phase_at(iso(exit_at)) == "ready"
    assert w.phase_at(iso(time.time())) == "checks"


def test_a_passed_check_proves_the_service_lived_into_its_phase() -> None:
    """The host may read 'checks started' after a fast crash; a passed check says otherwise."""
    w = watch_with({"event": "phase", "phase": "ready", "state": "start"})
    exit_at = time.time()  # stamped before the host read the checks phase start
    time.sleep(0.01)
    w.on({"event": "phase", "phase": "checks", "state": "start"})
    w.on({"event": "check", "id": "hello", "outcome": "passed", "phase": "checks"})
    assert w.phase_at(iso(exit_at)) == "checks"


def test_failed_checks_prove_nothing() -> None:
    w = watch_with({"event": "phase", "phase": "ready", "state": "start"})
    exit_at = time.time()
    time.sleep(0.01)
    w.on({"event": "phase", "phase": "checks", "state": "start"})
    w.on({"event": "check", "id": "hello", "outcome": "failed", "phase": "checks"})
    assert w.phase_at(iso(exit_at)) == "ready"
