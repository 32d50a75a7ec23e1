"""Service control for checks: kill, stop, start or restart the candidate or a sidecar of the pod.

A check asks; the host acts (runner.grading.services) and answers. Use the ``services`` fixture::

    def test_orders_survive_a_restart(api, services):
        services.restart("candidate", grace_s=10)   # SIGTERM, grace, SIGKILL; start; ready
        services.kill("db"); services.start("db")   # a sidecar, by its challenge.toml name

Each call blocks until the host answered (and, for the candidate, until GET /healthz answers
200 again), and returns the host's :class:`~graders.protocol.ServiceAnswer`. With ``check=True``
(the default) an answer that is not ok fails the check with the host's reason.

Where the capability is absent (``--url`` mode: no pod, nothing to restart), a call raises
:class:`ServiceControlUnavailable`, which the plugin reports as ``not_run`` (earns nothing,
says why): a check that needs a restart is never passed without one.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import replace
from pathlib import Path

from graders.events import EventWriter
from graders.expect import fail
from graders.http import Client
from graders.protocol import (
    ProtocolError,
    ServiceAction,
    ServiceAnswer,
    ServiceRequestEvent,
    loads,
)

ANSWER_MAX_BYTES = 64 * 1024


class ServiceControlUnavailable(Exception):
    """Service control is absent here (``--url`` mode): the check is reported not run."""


class Services:
    """The check-side API (see the module docstring)."""

    def __init__(
        self,
        events: EventWriter | None,
        names: tuple[str, ...],
        secret: str,
        answer_dir: str,
        wait_s: float,
        service_url: str,
        ready_s: float,
    ) -> None:
        self._events = events
        self.names = names
        self._secret = secret
        self._dir = answer_dir
        self._wait_s = wait_s
        self._service_url = service_url
        self._ready_s = ready_s
        self.answers: list[ServiceAnswer] = []

    @property
    def available(self) -> bool:
        return bool(self._events is not None and self.names and self._secret and self._dir)

    def kill(self, name: str, *, check: bool = True) -> ServiceAnswer:
        """SIGKILL the service; returns once it is down (exit_code: 137)."""
        return self._ask(name, "kill", 0.0, check)

    def stop(self, name: str, grace_s: float = 10.0, *, check: bool = True) -> ServiceAnswer:
        """SIGTERM, up to ``grace_s`` (at most 60) to exit, then SIGKILL. ``exited_in_grace``
        says whether it exited by itself; ``exit_code`` is its code."""
        return self._ask(name, "stop", grace_s, check)

    def start(self, name: str, *, check: bool = True) -> ServiceAnswer:
        """Start a stopped service again (same image and pod) and wait until it is ready."""
        return self._ask(name, "start", 0.0, check)

    def restart(self, name: str, grace_s: float = 10.0, *, check: bool = True) -> ServiceAnswer:
        """``stop`` then ``start``: one request, one line in the timeline."""
        return self._ask(name, "restart", grace_s, check)

    def _ask(self, name: str, action: ServiceAction, grace_s: float, check: bool) -> ServiceAnswer:
        if not self.available or self._events is None:
            raise ServiceControlUnavailable(
                f"this check needs to {action} {name!r}, which only the sandbox can do "
                "(not in --url mode)"
            )
        token = secrets.token_hex(8)
        self._events.emit(ServiceRequestEvent(token, name, action, self._secret, grace_s))
        done = Path(self._dir) / f"{token}.svc.done"
        deadline = time.monotonic() + self._wait_s
        while not done.exists():
            if time.monotonic() > deadline:
                fail(
                    f"the host did not answer the request to {action} {name!r} "
                    f"within {self._wait_s:g} s"
                )
            time.sleep(0.05)
        try:
            with open(Path(self._dir) / f"{token}.svc.json", "rb") as fh:
                answer = loads(ServiceAnswer, fh.read(ANSWER_MAX_BYTES).decode("utf-8", "replace"))
        except (OSError, ProtocolError) as exc:
            fail(f"the host's answer to {action} {name!r} is unreadable: {exc}")
        if answer.ok and name == "candidate" and action in ("start", "restart"):
            answer = self._healthy(answer)
        self.answers.append(answer)
        if check and not answer.ok:
            fail(f"could not {action} {name!r}: {answer.message}")
        return answer

    def _healthy(self, answer: ServiceAnswer) -> ServiceAnswer:
        """The host saw the port held; the service is ready when GET /healthz answers 200."""

        client = Client(self._service_url, timeout_s=2.0)
        start = time.monotonic()
        deadline = start + self._ready_s
        last = ""
        while time.monotonic() < deadline:
            try:
                if client.get("/healthz").status == 200:
                    return answer
                last = "GET /healthz did not answer 200"
            except Exception as exc:  # refused, reset, timed out: not ready yet
                last = str(exc)[:200]
            time.sleep(0.1)
        return replace(
            answer,
            ok=False,
            message=f"started, but not ready within {self._ready_s:g} s: {last}",
        )
