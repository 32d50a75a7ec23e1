"""Which phase a crash happened in, from the grader's events and Docker's exit time."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from graders.protocol import (
    CheckEvent,
    CheckResult,
    Outcome,
    Phase,
    PhaseEvent,
    encode_event,
)
from runner.grading.events import EventPump


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def line(ev: dict) -> str:
    if ev["event"] == "phase":
        return encode_event(PhaseEvent(Phase(ev["phase"]), ev["state"]), 0)
    result = CheckResult(ev["id"], ev["id"], "s", Outcome(ev["outcome"]), 0, 1, phase=ev["phase"])
    return encode_event(CheckEvent(result), 0)


class _Pump(EventPump):
    def on(self, ev: dict) -> None:
        self.feed(line(ev))


def watch_with(*events: dict) -> _Pump:
    w = _Pump({}, lambda e: None)
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
