"""The grader's entry point: ``python -m graders.main PLAN.json``.

Runs inside the grader container (in the sandbox's network namespace) or on the host for
``--url`` mode. The plan (:class:`graders.protocol.Plan`) says what to run; progress goes out as
events on stdout and the record is written to ``plan.results_path`` after every step
(:class:`graders.protocol.GraderOutcome`).

Steps: plan (collect every check the run will execute and announce them, before the service is
even asked for readiness, so the host can account for each one), ready (poll /healthz), checks
(pytest), load (Locust, in a subprocess so gevent's monkey-patching stays away from pytest),
after_load (pytest checks marked ``after_load``). Anything that goes wrong on our side is an
``error`` event: the host fails the run closed.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from dataclasses import replace
from pathlib import Path

import pytest

from graders.check_failed import CheckFailed
from graders.events import EventWriter
from graders.http import Client
from graders.load.phase import run_load_phase
from graders.plugin import check_id
from graders.protocol import (
    CheckInfo,
    DoneEvent,
    ErrorEvent,
    GraderOutcome,
    Outcome,
    Phase,
    PhaseEvent,
    Plan,
    PlannedEvent,
    ProtocolError,
    ReadyEvent,
    dumps,
    loads,
)
from graders.selection import Selection


def wait_ready(url: str, timeout_s: float, events: EventWriter) -> ReadyEvent:
    """Poll GET /healthz until 200 or the deadline, with the checks' own client (the same
    headers, one total deadline per request, a capped body); never sleeps past the deadline."""
    start = time.monotonic()
    deadline = start + timeout_s
    last = "no answer yet"
    client = Client(url)
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            r = client.get("/healthz", timeout_s=min(2.0, max(remaining, 0.1)))
            if r.status == 200:
                ready = ReadyEvent(ok=True, ready_s=round(time.monotonic() - start, 3))
                events.emit(ready)
                return ready
            last = f"GET /healthz answered {r.status}"
        except CheckFailed as exc:
            last = f"GET /healthz failed: {str(exc)[:200]}"
        time.sleep(min(0.1, max(deadline - time.monotonic(), 0)))
    message = f"service not ready within {timeout_s:g} s ({last})"
    ready = ReadyEvent(ok=False, ready_s=round(time.monotonic() - start, 3), message=message)
    events.emit(ready)
    return ready


def _names(item: pytest.Item) -> list[str]:
    """What ``-k`` matches besides the check id (graders/selection.py)."""
    names = [item.name, item.path.name]
    cls = getattr(item, "cls", None)
    if cls is not None:
        names.append(cls.__name__)
    for mark in item.iter_markers():
        names.append(mark.name)
        if mark.name == "skill" and mark.args:
            names.append(str(mark.args[0]))
    return names


class _Bridge:
    """Hands the event writer to the assess plugin before it configures itself, and keeps
    the plugin so its collected checks can be read after ``pytest.main`` returns."""

    def __init__(self, events: EventWriter | None, selection: Selection | None = None) -> None:
        self.events = events
        self.selection = selection or Selection()
        self.config: pytest.Config | None = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        """A partial run's selection, before the assess plugin lists what it will run."""
        if not self.selection.active:
            return
        expr = self.selection.compiled()
        keep: list[pytest.Item] = []
        drop: list[pytest.Item] = []
        for item in items:
            wanted = self.selection.wants(check_id(item), _names(item), expr)
            (keep if wanted else drop).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
        items[:] = keep

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        config.assess_events = self.events  # type: ignore[attr-defined]
        self.config = config

    def planned(self) -> list[CheckInfo]:
        plugin = getattr(self.config, "assess_plugin", None)
        return list(plugin.planned) if plugin is not None else []


def pytest_args(plan: Plan, phase: str) -> list[str]:
    challenge_dir = Path(plan.challenge_dir)
    # Isolate from whatever surrounds the challenge (on the host in --url mode: a repository's
    # own pytest config and conftest files): an empty ini, and no conftest above the challenge.
    ini = Path(tempfile.mkdtemp(prefix="assess-pytest-")) / "pytest.ini"
    ini.write_text("[pytest]\n")
    args = [
        str(challenge_dir / "checks"),
        "-c",
        str(ini),
        "--rootdir",
        str(challenge_dir),
        "--confcutdir",
        str(challenge_dir),
        "-p",
        "graders.plugin",
        "-p",
        "no:cacheprovider",
        "-q",
        "--no-header",
        "-rN",
        "--color=no",
        "--service-url",
        plan.service_url,
        "--assess-mode",
        plan.mode,
        "--assess-phase",
        phase,
        "--assess-seed",
        str(plan.seed),
        "--assess-default-points",
        str(plan.default_points),
        "--assess-check-timeout",
        str(plan.check_timeout_s),
        "-o",
        "console_output_style=classic",
        "-W",
        "ignore",
    ]
    for s in plan.sidecars:
        args += ["--assess-sidecar", f"{s.name}={s.url},{s.token}"]
    if plan.fail_fast:
        args.append("--exitfirst")
    if plan.log_dir:
        args += ["--assess-log-dir", plan.log_dir]
    if plan.services and plan.service_secret and plan.log_dir:
        args += [
            "--assess-services",
            ",".join(plan.services),
            "--assess-service-secret",
            plan.service_secret,
            "--assess-service-wait",
            str(plan.service_wait_s),
        ]
    args += ["--assess-ready-timeout", str(plan.ready_timeout_s)]
    return args


def _pytest(args: list[str], bridge: _Bridge) -> int:
    # pytest's output goes to stderr: stdout carries only events.
    saved = sys.stdout
    sys.stdout = sys.stderr
    try:
        return int(pytest.main(args, plugins=[bridge]))
    finally:
        sys.stdout = saved


OK_EXITS = {int(pytest.ExitCode.OK), int(pytest.ExitCode.TESTS_FAILED)}


def collect_checks(plan: Plan) -> list[CheckInfo]:
    """Every check the run will execute (both phases), or ProtocolError if collection fails."""
    bridge = _Bridge(None, _selection(plan))
    code = _pytest([*pytest_args(plan, "all"), "--collect-only"], bridge)
    if code not in OK_EXITS:
        raise ProtocolError(f"pytest could not collect the checks (exit {code})")
    planned = bridge.planned()
    if not planned:
        if _selection(plan).active:
            raise ProtocolError("no check matches the selection (-k / --check)")
        raise ProtocolError("the challenge has no checks to run")
    return planned


def _selection(plan: Plan) -> Selection:
    return Selection(ids=plan.select, keyword=plan.keyword)


def run_checks(plan: Plan, phase: Phase, events: EventWriter) -> None:
    code = _pytest(pytest_args(plan, str(phase)), _Bridge(events, _selection(plan)))
    if code not in OK_EXITS | {int(pytest.ExitCode.NO_TESTS_COLLECTED)}:
        events.emit(
            ErrorEvent(
                message=f"pytest could not run the {phase} checks (exit {code})", phase=phase
            )
        )


class Grader:
    """One grading, step by step; the record is saved after each step."""

    def __init__(self, plan: Plan, events: EventWriter) -> None:
        self.plan = plan
        self.events = events
        self.outcome = GraderOutcome()
        self.errors: list[str] = []

    def save(self) -> None:
        self.outcome = replace(
            self.outcome, checks=tuple(self.events.checks), errors=tuple(self.errors)
        )
        path = Path(self.plan.results_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(dumps(self.outcome))
        tmp.replace(path)

    def error(self, message: str, phase: str = "") -> None:
        self.errors.append(message)
        self.events.emit(ErrorEvent(message=message, phase=phase))
        self.save()

    def _stopped(self) -> bool:
        """A check did not pass (--fail-fast stops there)."""
        return any(c.outcome not in (Outcome.PASSED, Outcome.SKIPPED) for c in self.events.checks)

    def phase(self, phase: Phase, state: str) -> None:
        self.events.emit(PhaseEvent(phase=phase, state="start" if state == "start" else "end"))

    def run(self) -> None:
        planned = collect_checks(self.plan)
        self.outcome = replace(self.outcome, planned=tuple(planned))
        self.events.emit(PlannedEvent(checks=tuple(planned)))
        self.save()

        self.phase(Phase.READY, "start")
        ready = wait_ready(self.plan.service_url, self.plan.ready_timeout_s, self.events)
        self.outcome = replace(self.outcome, ready=ready)
        self.phase(Phase.READY, "end")
        self.save()
        if not ready.ok:
            return
        for phase in self.plan.phases:
            if phase in (Phase.CHECKS, Phase.AFTER_LOAD):
                self.phase(phase, "start")
                run_checks(self.plan, phase, self.events)
                self.phase(phase, "end")
                if self.plan.fail_fast and self._stopped():
                    self.save()
                    return  # the rest are not_run: the host accounts for them
            elif phase == Phase.LOAD and self.plan.load is not None:
                self.phase(phase, "start")
                load = run_load_phase(self.plan, self.events)
                self.outcome = replace(self.outcome, load=load)
                self.phase(phase, "end")
            self.save()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m graders.main PLAN.json", file=sys.stderr)
        return 2
    # Events go to a private copy of stdout, so pytest's fd capture cannot swallow them.
    stream = os.fdopen(os.dup(1), "w", buffering=1)
    events = EventWriter(stream)
    try:
        plan = loads(Plan, Path(argv[0]).read_text())
    except (OSError, ProtocolError) as exc:
        events.emit(ErrorEvent(message=f"the grader could not read its plan: {exc}"))
        return 3
    grader = Grader(plan, events)
    try:
        grader.run()
    except ProtocolError as exc:
        grader.error(str(exc))
    except Exception as exc:  # a bug on our side: fail closed, keep the traceback for us
        traceback.print_exc(file=sys.stderr)
        grader.error(f"the grader failed: {type(exc).__name__}: {exc}"[:500])
    grader.outcome = replace(grader.outcome, finished=True)
    grader.save()
    events.emit(DoneEvent())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
