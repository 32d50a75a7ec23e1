"""Service control: the host's side of a check's request to kill, stop, start or restart a
service of the pod (the candidate, or a sidecar by name), and the readiness wait it shares with
the pod's start.

The grader cannot touch containers (it has no engine); the host can. A check emits a typed
:class:`~graders.protocol.ServiceRequestEvent` on the grader's event stream (fd 1 of the grader
container: nothing else in the pod can write there); the host checks the request (the plan's
per-grading secret, a named service of this pod, at most ``max_service_requests`` per grading),
acts through the engine with deadlines, and answers with a
:class:`~graders.protocol.ServiceAnswer` written into the grader's filesystem (``put_archive``:
again nothing in the pod can write there), ``{token}.svc.json`` then the ``{token}.svc.done``
marker. Every answer is also kept for the results' timeline (``service_actions``).

The request is handled in the host's event loop, which waits: no integrity tick runs in the
middle of an action, and the pod's roles (:attr:`runner.grading.pod.Pod.down`, its host views) are
brought up to date before the next one, so a restarted candidate is still the candidate and a
restarted sidecar still the sidecar.
"""

from __future__ import annotations

import contextlib
import hmac
import io
import re
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from graders.protocol import ServiceAnswer, ServiceRequestEvent, dumps, to_dict
from runner.grading.pod import Pod

MAX_REQUESTS = 10
MAX_GRACE_S = 60.0
TOKEN = re.compile(r"^[0-9a-f]{16}$")
CANDIDATE_PORT = 8080
DOWN = ("exited", "dead", "removed")


@dataclass(frozen=True)
class ServiceTarget:
    """One service a check may act on: its pod role, the port that says it is up, its
    readiness time and (sidecars) a command that must exit 0 before it counts as ready."""

    role: str
    port: int
    ready_s: float
    ready_cmd: tuple[str, ...] = ()
    also: tuple[int, ...] = ()  # more ports it must hold (a script sidecar's control port)


def wait_ready(pod: Pod, target: ServiceTarget, deadline: float) -> str | None:
    """Wait until the target's port is held by it (and its ``ready_cmd`` exits 0); None when
    ready, else why not (it exited, or the deadline passed)."""
    owner_ok = {target.role, "helper"} if target.role != "candidate" else {"candidate"}
    cmd_ok = not target.ready_cmd
    while True:
        state = pod.state(target.role)
        if state.get("Status") in ("exited", "dead", "removed"):
            return f"it exited with code {state.get('ExitCode')} before it was ready"
        ports = [target.port, *target.also]
        try:
            owners = pod.listener_owners(ports)
            held = all(owners.get(p, set()) & owner_ok for p in ports)
        except Exception:
            held = False
        if held and not cmd_ok:
            with contextlib.suppress(Exception):
                res = pod.containers[target.role].exec_run(
                    ["timeout", "5", *target.ready_cmd], stdout=False, stderr=False
                )
                cmd_ok = res.exit_code == 0
        if held and cmd_ok:
            return None
        if time.monotonic() >= deadline:
            what = "port " + ", ".join(str(p) for p in (target.port, *target.also))
            what += " and its ready_cmd" if target.ready_cmd else ""
            return f"not ready within {target.ready_s:g} s ({what})"
        time.sleep(0.1)


@dataclass
class ServiceController:
    """Acts on :class:`ServiceRequestEvent` s for one grading (see the module docstring)."""

    pod: Pod
    grader: Any
    answer_dir: str
    secret: str
    targets: dict[str, ServiceTarget]
    t0: float = field(default_factory=time.monotonic)
    max_requests: int = MAX_REQUESTS
    on_started: Callable[[str, float], None] = lambda role, since: None
    listener: Callable[[dict[str, Any]], None] = lambda event: None
    actions: list[ServiceAnswer] = field(default_factory=list)
    requests: int = 0

    def handle(self, ev: ServiceRequestEvent) -> None:
        if not TOKEN.fullmatch(ev.token):
            return  # our plugin makes these; anything else is not a path we write
        if not self.secret or not hmac.compare_digest(ev.secret, self.secret):
            answer = self._refuse(ev, "the request did not carry this grading's secret")
        else:
            self.requests += 1
            if self.requests > self.max_requests:
                answer = self._refuse(
                    ev, f"at most {self.max_requests} service requests per grading"
                )
            elif ev.service not in self.targets:
                names = ", ".join(sorted(self.targets))
                answer = self._refuse(ev, f"no service {ev.service!r} here (services: {names})")
            else:
                answer = self._act(ev, self.targets[ev.service])
                self.actions.append(answer)
        self.listener({"event": "service", **_plain(answer)})
        self._write(ev.token, answer)

    def _refuse(self, ev: ServiceRequestEvent, why: str) -> ServiceAnswer:
        return ServiceAnswer(
            ev.service, ev.action, ok=False, message=why, t=round(time.monotonic() - self.t0, 3)
        )

    def _act(self, ev: ServiceRequestEvent, target: ServiceTarget) -> ServiceAnswer:
        state = self.pod.state(target.role)
        if target.role not in self.pod.down and state.get("Status") in DOWN:
            # it exited by itself: a crash is the host's to record, never a check's to undo
            return self._refuse(
                ev, f"it is not running: it exited by itself with code {state.get('ExitCode')}"
            )
        start = time.monotonic()
        grace = min(max(0.0, ev.grace_s), MAX_GRACE_S)
        code: int | None = None
        in_grace: bool | None = None
        ready_s: float | None = None
        message = ""
        ok = True
        try:
            if ev.action == "kill":
                code = self.pod.kill_service(target.role)
            elif ev.action in ("stop", "restart"):
                code, in_grace = self.pod.stop_service(target.role, grace)
            if (
                code is None
                and ev.action != "start"
                and self.pod.state(target.role).get("Status") not in ("exited", "dead", "removed")
            ):
                ok, message = False, "it did not stop"
            if ok and ev.action in ("start", "restart"):
                ok, message, ready_s = self._start(target)
        except Exception as exc:  # the engine refused: our side, said in the answer
            ok, message = False, f"the engine failed: {exc}"[:300]
        if ok and not message:
            message = _describe(ev.action, code, in_grace, ready_s)
        return ServiceAnswer(
            service=ev.service,
            action=ev.action,
            ok=ok,
            message=message,
            exit_code=code,
            exited_in_grace=in_grace,
            seconds=round(time.monotonic() - start, 3),
            ready_s=ready_s,
            t=round(start - self.t0, 3),
        )

    def _start(self, target: ServiceTarget) -> tuple[bool, str, float | None]:
        state = self.pod.state(target.role)
        if state.get("Status") == "running":
            return True, "already running", 0.0
        begun = time.monotonic()
        since = time.time()
        self.pod.start_service(target.role)
        self.on_started(target.role, since)
        why = wait_ready(self.pod, target, begun + target.ready_s)
        ready_s = round(time.monotonic() - begun, 3)
        if why is not None:
            return False, f"{target.role} started but {why}", None
        return True, "", ready_s

    def _write(self, token: str, answer: ServiceAnswer) -> None:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for name, data in (
                (f"{token}.svc.json", dumps(answer).encode()),
                (f"{token}.svc.done", b""),
            ):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(data))
        with contextlib.suppress(Exception):  # the grader is gone: its check fails on its deadline
            self.grader.put_archive(self.answer_dir, buf.getvalue())


def _describe(action: str, code: int | None, in_grace: bool | None, ready_s: float | None) -> str:
    parts = []
    if action in ("kill", "stop", "restart"):
        parts.append(f"exited with code {code}")
        if in_grace is False:
            parts.append("killed after the grace period")
        elif in_grace:
            parts.append("within the grace period")
    if ready_s is not None:
        parts.append(f"ready again in {ready_s:.2f} s")
    return ", ".join(parts)


def _plain(answer: ServiceAnswer) -> dict[str, Any]:
    return to_dict(answer)
