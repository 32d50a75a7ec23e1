"""Why a service is not ready, said at once when the sandbox can see it (issue 23).

A service that listens, but not on the contract's port, would otherwise wait out the whole
readiness time and leave every check "not run" with the cause only in its log. The pod knows
who listens where (runner.grading.pod.Pod.listener_owners): when the candidate holds listening
sockets, none on the contract's port, for ``settle_s``, and its CPU is idle (it is waiting for
requests, not still starting up: a service running migrations before it binds its real port is
never cut short), the run ends ``not_ready`` with "the service listens on 9000, the contract is
8080".
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

SETTLE_S = 3.0
IDLE_WINDOW_S = 2.0
IDLE_CPU_S = 0.05  # CPU seconds over IDLE_WINDOW_S below which the service is waiting


def idle(samples: list[Any], now_t: float) -> bool:
    """True when the samples (cumulative ``cpu_s`` at ``t``, about one a second) show under
    IDLE_CPU_S of CPU over the last IDLE_WINDOW_S up to a recent sample; False when there are
    too few samples to tell."""
    if not samples or samples[-1].t < now_t - 1.5:
        return False
    last = samples[-1]
    recent = [s for s in samples if s.t >= last.t - IDLE_WINDOW_S - 0.25]
    if last.t - recent[0].t < IDLE_WINDOW_S * 0.75:
        return False
    return bool(last.cpu_s - recent[0].cpu_s < IDLE_CPU_S)


@dataclass
class WrongPortWatch:
    """Call :meth:`look` about once a second while the service is not yet ready."""

    port: int = 8080
    settle_s: float = SETTLE_S
    since: float | None = None
    seen: tuple[int, ...] = ()

    def look(self, owners: dict[int, set[str]], samples: list[Any], now_t: float) -> str | None:
        """``owners``: port -> roles holding it; ``samples``: the candidate's CPU samples;
        ``now_t``: the samples' clock now. The message when it is time to say it, else None."""
        mine = tuple(sorted(p for p, roles in owners.items() if "candidate" in roles))
        if not mine or self.port in mine or self.port in owners:
            self.since, self.seen = None, ()
            return None
        if mine != self.seen:
            self.since, self.seen = time.monotonic(), mine
        assert self.since is not None
        if time.monotonic() - self.since < self.settle_s or not idle(samples, now_t):
            return None
        ports = ", ".join(str(p) for p in mine)
        return (
            f"the service listens on {ports}, the contract is {self.port} "
            f"(it is given PORT={self.port}): nothing answers where the checks look"
        )


@dataclass
class ClosedPortWatch:
    """``--url`` mode: the service should already run; a port that refuses connections for
    ``settle_s`` is said at once instead of after the whole readiness time. Only a TCP connect
    (no request), only to the loopback URL the user gave."""

    url: str
    settle_s: float = SETTLE_S
    since: float | None = None

    def look(self) -> str | None:
        parts = urlsplit(self.url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        try:
            with socket.create_connection((host, port), timeout=0.5):
                self.since = None
                return None
        except ConnectionRefusedError:
            pass
        except OSError:  # a timeout or another error: not a plain "nothing listens"
            self.since = None
            return None
        now = time.monotonic()
        self.since = self.since if self.since is not None else now
        if now - self.since < self.settle_s:
            return None
        return (
            f"nothing listens on {host}:{port} (connection refused for {self.settle_s:g} s): "
            "start the service first, or give its address with --url"
        )
