"""The grader's event stream: one JSON object per line, read by the host CLI.

Every event has ``event`` (its kind) and ``t`` (seconds since the grader started). Kinds:

- ``phase``: ``phase`` (ready, checks, load, after_load), ``state`` (start, end)
- ``ready``: ``ok``, ``ready_s``, ``message``
- ``check``: one :class:`CheckResult` as a dict
- ``load_sample``: one second of the load phase (rps, p95_ms, errors, users, generator_cpu)
- ``load_result``: the load phase's summary
- ``error``: ``message`` (the grader itself failed)
- ``done``: the grader finished normally

Lines that are not JSON objects with an ``event`` key are ignored by readers, so stray prints in
checks cannot break the stream.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import IO, Any

EVENT_PREFIX = "@assess "


@dataclass
class CheckResult:
    id: str
    title: str
    skill: str
    outcome: str  # passed, failed, error, skipped
    points: float
    max_points: float
    hidden: bool
    message: str = ""
    duration_s: float = 0.0
    phase: str = "checks"


@dataclass
class EventWriter:
    """Writes events to a stream, thread-safe, flushed per line."""

    stream: IO[str] = field(default_factory=lambda: sys.stdout)
    start: float = field(default_factory=time.monotonic)
    checks: list[CheckResult] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def emit(self, event: str, **data: Any) -> None:
        payload = {"event": event, "t": round(time.monotonic() - self.start, 3), **data}
        line = EVENT_PREFIX + json.dumps(payload, default=str)
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()

    def check(self, result: CheckResult) -> None:
        self.checks.append(result)
        self.emit("check", **asdict(result))


def parse_event(line: str) -> dict[str, Any] | None:
    """Parse one line of grader output; None for anything that is not an event."""
    line = line.strip()
    if not line.startswith(EVENT_PREFIX):
        return None
    try:
        value = json.loads(line[len(EVENT_PREFIX) :])
    except ValueError:
        return None
    if isinstance(value, dict) and isinstance(value.get("event"), str):
        return value
    return None
