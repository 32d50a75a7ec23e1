"""The host's side of the grader's event stream: what it learns from each event, and when it
stops listening (the grader ended, a phase overran its limit, tampering, the pod's watch).

The same code serves the pod and ``--url`` mode.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from graders.protocol import (
    CheckEvent,
    CheckInfo,
    CheckResult,
    DoneEvent,
    ErrorEvent,
    Event,
    EventKind,
    GraderOutcome,
    LoadResult,
    LoadResultEvent,
    LoadSample,
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
    TamperedEvent,
    decode_event,
    to_dict,
)
from runner.challenges.registry import Challenge
from runner.results import Verdict

Listener = Callable[[dict[str, Any]], None]


class HasListener(Protocol):
    """Whatever carries a run's progress listener (RunOptions does)."""

    @property
    def listener(self) -> Listener: ...


def emit(listener: Listener, event: str, **data: Any) -> None:
    """Tell the progress listener of a host event (build, images, sidecars, candidate exit)."""
    listener({"event": event, **data})


GRACE_S = 15.0  # beyond a phase's own limit, for the grader to notice and report


# -- the host's side of the event stream ------------------------------------------------------
def phase_limits(challenge: Challenge, plan: Plan) -> dict[str, float]:
    """Wall-time limit of each phase (the same in the pod and in --url mode)."""
    lim = challenge.config.limits
    load_s = max(lim.load_s, plan.load.time_budget_s()) if plan.load else lim.load_s
    return {
        "planning": 60.0,
        Phase.READY: lim.ready_s,
        Phase.CHECKS: lim.checks_s,
        Phase.LOAD: load_s,
        Phase.AFTER_LOAD: lim.checks_s,
    }


class EventPump:
    """What the host learns from the grader's events: one handler per :class:`EventKind`.

    ``handlers`` maps each kind to its method; a unit test fails when a kind of ``EventKind``
    has none there, so a kind the grader can send cannot go unhandled here.
    """

    def __init__(
        self,
        limits: dict[str, float],
        listener: Listener,
        stamp: Callable[[LoadSample], LoadSample] | None = None,
    ) -> None:
        self.limits = limits
        self.listener = listener
        self.stamp = stamp  # the host adds what only it can see (the candidate's CPU, memory)
        # answers a check's request for the service's output (in the pod; None elsewhere)
        self.on_log_request: Callable[[str], None] | None = None
        # acts on a check's request to kill/stop/start/restart a service (the pod; None elsewhere)
        self.on_service_request: Callable[[ServiceRequestEvent], None] | None = None
        self.ready_at: float | None = None
        self.phase = "planning"
        self.phase_start = time.monotonic()
        self.durations: dict[str, float] = {}
        self.phase_log: list[tuple[float, str]] = []  # (wall clock, phase) of each phase start
        self.ready: ReadyEvent | None = None
        self.planned: tuple[CheckInfo, ...] | None = None
        self.checks: dict[str, CheckResult] = {}
        self.samples: list[LoadSample] = []
        self.load: LoadResult | None = None
        self.errors: list[str] = []
        self.tampered: str | None = None
        self.done = False
        self.handlers: dict[EventKind, Callable[[Any], None]] = {
            EventKind.PHASE: self._phase,
            EventKind.READY: self._ready,
            EventKind.PLANNED: self._planned,
            EventKind.CHECK: self._check,
            EventKind.LOAD_SAMPLE: self._sample,
            EventKind.LOAD_RESULT: self._load,
            EventKind.ERROR: self._error,
            EventKind.TAMPERED: self._tampered,
            EventKind.LOG_REQUEST: self._log_request,
            EventKind.SERVICE_REQUEST: self._service_request,
            EventKind.DONE: self._done,
        }

    def feed(self, line: str) -> Event | None:
        """Handle one line of grader output; a malformed event is a grader error."""
        try:
            decoded = decode_event(line)
        except ProtocolError as exc:
            self.errors.append(f"the grader sent a malformed event: {exc}")
            return None
        if decoded is None:
            return None
        _, event = decoded
        self.handlers[event.kind](event)
        return event

    def _phase(self, ev: PhaseEvent) -> None:
        if ev.state == "start":
            self.phase, self.phase_start = str(ev.phase), time.monotonic()
            self.phase_log.append((time.time(), self.phase))
        else:
            self.durations[str(ev.phase)] = time.monotonic() - self.phase_start
        self.listener({"event": "phase", "phase": str(ev.phase), "state": ev.state})

    def _ready(self, ev: ReadyEvent) -> None:
        self.ready = ev
        self.ready_at = time.monotonic()
        self.listener({"event": "ready", "ok": ev.ok, "ready_s": ev.ready_s, "message": ev.message})

    def _planned(self, ev: PlannedEvent) -> None:
        self.planned = ev.checks
        self.listener({"event": "planned", "checks": len(ev.checks)})

    def _check(self, ev: CheckEvent) -> None:
        self.checks[ev.result.id] = ev.result
        self.listener({"event": "check", **to_dict(ev.result)})

    def _sample(self, ev: LoadSampleEvent) -> None:
        sample = self.stamp(ev.sample) if self.stamp else ev.sample
        self.samples.append(sample)
        self.listener({"event": "load_sample", **to_dict(sample)})

    def _load(self, ev: LoadResultEvent) -> None:
        self.load = ev.result

    def _error(self, ev: ErrorEvent) -> None:
        self.errors.append(ev.message)
        self.listener({"event": "error", "message": ev.message})

    def _tampered(self, ev: TamperedEvent) -> None:
        self.tampered = self.tampered or ev.message

    def _log_request(self, ev: LogRequestEvent) -> None:
        if self.on_log_request is not None:
            self.on_log_request(ev.token)

    def _service_request(self, ev: ServiceRequestEvent) -> None:
        if self.on_service_request is not None:
            self.on_service_request(ev)

    def _done(self, ev: DoneEvent) -> None:
        self.done = True

    def overdue(self) -> str | None:
        limit = self.limits.get(self.phase)
        if limit is not None and time.monotonic() - self.phase_start > limit + GRACE_S:
            return self.phase
        return None

    def phase_at(self, finished_at: str | None) -> str:
        """The phase running at Docker's ``FinishedAt`` time (the host may notice an exit late)."""
        try:
            stamp, _, frac = str(finished_at).rstrip("Z").partition(".")
            when = datetime.fromisoformat(stamp).replace(tzinfo=UTC).timestamp()
            when += float("0." + frac) if frac.isdigit() else 0.0
        except ValueError:
            return self.phase
        phase = "planning"
        for t, name in self.phase_log:
            if t <= when:
                phase = name
        # Phase starts are stamped when the host reads them, which may be after a fast crash:
        # a check that passed in a later phase proves the service was alive into it.
        rank = {name: i for i, (_, name) in enumerate(self.phase_log)}
        for c in self.checks.values():
            if c.outcome == Outcome.PASSED and rank.get(c.phase, -1) > rank.get(phase, -1):
                phase = c.phase
        return phase

    def absorb(self, final: GraderOutcome | None) -> None:
        """The results file is the record: it completes what the stream may have missed."""
        if final is None:
            return
        if self.planned is None and final.planned:
            self.planned = final.planned
        for c in final.checks:
            self.checks.setdefault(c.id, c)
        self.ready = self.ready or final.ready
        self.load = self.load or final.load
        for e in final.errors:
            if e not in self.errors:
                self.errors.append(e)


@dataclass
class Stop:
    """Why the host stopped listening to the grader before it finished."""

    verdict: Verdict
    detail: str


def pump_events(
    lines: queue.Queue[str | None],
    pump: EventPump,
    tick: Callable[[], Stop | None],
) -> Stop | None:
    """Feed the grader's lines to the pump until the grader's output ends (None) or a reason
    to stop: tampering, a phase over its limit, or whatever ``tick`` (the host's watch on the
    pod, polled at least every 0.25 s) reports."""
    while True:
        try:
            line = lines.get(timeout=0.25)
        except queue.Empty:
            line = ""
        if line is None:
            return None
        if line:
            pump.feed(line)
        if pump.tampered:
            return Stop(Verdict.TAMPERED, pump.tampered)
        stop = tick()
        if stop is not None:
            return stop
        overdue = pump.overdue()
        if overdue:
            limit = pump.limits.get(overdue, 60.0)
            return Stop(Verdict.TIMEOUT, f"the {overdue} phase exceeded its limit of {limit:g} s")
