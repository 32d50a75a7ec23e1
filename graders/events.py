"""The grader's side of the event stream: a thread-safe writer of :mod:`graders.protocol` events.

Events go to a private copy of stdout, one line each, flushed per line; the kinds and their
fields are defined (once) in :mod:`graders.protocol`.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from typing import IO

from graders.protocol import CheckEvent, CheckResult, Event, encode_event


@dataclass
class EventWriter:
    """Writes events to a stream, thread-safe, flushed per line; remembers the checks sent."""

    stream: IO[str] = field(default_factory=lambda: sys.stdout)
    start: float = field(default_factory=time.monotonic)
    checks: list[CheckResult] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def emit(self, event: Event) -> None:
        line = encode_event(event, time.monotonic() - self.start)
        with self._lock:
            if isinstance(event, CheckEvent):
                self.checks.append(event.result)
            self.stream.write(line + "\n")
            self.stream.flush()
