"""The typed host-grader protocol: every kind round-trips, decoding is strict, the host handles
every kind the grader can send."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from graders.protocol import (
    EVENT_TYPES,
    CheckEvent,
    CheckInfo,
    CheckResult,
    DoneEvent,
    ErrorEvent,
    EventKind,
    GraderOutcome,
    LoadPlan,
    LoadResultEvent,
    LoadSampleEvent,
    LogRequestEvent,
    Outcome,
    Phase,
    PhaseEvent,
    Plan,
    PlannedEvent,
    ProtocolError,
    ReadyEvent,
    ServiceRequestEvent,
    SidecarSpec,
    Slo,
    TamperedEvent,
    decode_event,
    dumps,
    encode_event,
    loads,
)
from runner.grading.events import EventPump
from tests.unit.conftest import sample_load

INFO = CheckInfo("hello", "Says hello", "basics", 2.0, hidden=True, critical=True)


def one_of_each() -> list[Any]:
    load = sample_load(3)
    return [
        PhaseEvent(Phase.CHECKS, "start"),
        ReadyEvent(ok=True, ready_s=0.4),
        PlannedEvent((INFO,)),
        CheckEvent(CheckResult.from_info(INFO, Outcome.PASSED)),
        LoadSampleEvent(load.series[0]),
        LoadResultEvent(load),
        ErrorEvent("pytest could not run", phase="checks"),
        TamperedEvent("port 5557 taken"),
        LogRequestEvent("0123456789abcdef"),
        ServiceRequestEvent("0123456789abcdef", "candidate", "restart", "s" * 32, 5.0),
        DoneEvent(),
    ]


def test_every_kind_has_one_type_and_the_sample_covers_them() -> None:
    assert set(EVENT_TYPES) == set(EventKind)
    assert {ev.kind for ev in one_of_each()} == set(EventKind)


@pytest.mark.parametrize("event", one_of_each(), ids=lambda e: str(e.kind))
def test_events_round_trip(event: Any) -> None:
    decoded = decode_event(encode_event(event, 1.25))
    assert decoded == (1.25, event)


def test_the_host_handles_every_kind() -> None:
    seen: list[dict[str, Any]] = []
    pump = EventPump({}, seen.append)
    unhandled = set(EventKind) - set(pump.handlers)
    assert not unhandled, f"no host handler for event kinds {sorted(unhandled)}"
    for ev in one_of_each():
        assert pump.feed(encode_event(ev, 0)) == ev
    assert pump.planned == (INFO,)
    assert pump.checks["hello"].outcome == Outcome.PASSED
    assert pump.load is not None
    assert pump.samples
    assert pump.done
    assert pump.errors == ["pytest could not run"]
    assert pump.tampered == "port 5557 taken"


def test_noise_is_not_an_event_but_a_malformed_event_is_an_error() -> None:
    assert decode_event("hello") is None
    assert decode_event('{"event": "done"}') is None  # no prefix: a stray print
    for bad in (
        '@assess {"event": "nope", "t": 0}',  # unknown kind
        '@assess {"event": "ready", "t": 0, "ok": "yes", "ready_s": 1}',  # wrong type
        '@assess {"event": "ready", "t": 0, "ok": true}',  # missing field
        '@assess {"event": "done", "t": 0, "extra": 1}',  # unknown field
        "@assess [1, 2]",
        "@assess {not json",
    ):
        with pytest.raises(ProtocolError):
            decode_event(bad)
    pump = EventPump({}, lambda e: None)
    pump.feed('@assess {"event": "check", "t": 0, "result": {}}')
    assert pump.errors
    assert "malformed" in pump.errors[0]


def test_plan_and_outcome_round_trip() -> None:
    plan = Plan(
        service_url="http://127.0.0.1:8080",
        challenge_dir="/assess/challenge",
        results_path="/assess/out/grader.json",
        sidecars=(SidecarSpec("upstream", "http://127.0.0.1:9091", "t0k", 9090, 9091),),
        load=LoadPlan(target_rps=100, slo=Slo(150, 400), workers=2, secret="s3cret"),
        phases=(Phase.READY, Phase.CHECKS, Phase.LOAD, Phase.AFTER_LOAD),
    )
    assert loads(Plan, dumps(plan)) == plan
    outcome = GraderOutcome(
        ready=ReadyEvent(True, 0.1),
        planned=(INFO,),
        checks=(CheckResult.from_info(INFO, Outcome.FAILED, "no"),),
        load=sample_load(2),
        errors=("x",),
        finished=True,
    )
    assert loads(GraderOutcome, dumps(outcome)) == outcome


def test_non_finite_figures_never_reach_the_wire() -> None:
    load = sample_load(2)
    weird = replace(load, measured=replace(load.measured, p95_ms=float("nan")))
    line = encode_event(LoadResultEvent(weird), 0)
    json.loads(line[len("@assess ") :])  # strict JSON: NaN became null
    decoded = decode_event(line)
    assert decoded is not None
    assert isinstance(decoded[1], LoadResultEvent)
    assert decoded[1].result.measured.p95_ms is None
