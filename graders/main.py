"""The grader's entry point: ``python -m graders.main PLAN.json``.

Runs inside the grader container (in the sandbox's network namespace) or on the host for
``--url`` mode. The plan says what to run; progress and results go out as events on stdout
(see :mod:`graders.events`) and the whole outcome is written to ``plan["results_path"]``.

Phases: ready (poll /healthz), checks (pytest), load (Locust, in a subprocess so gevent's
monkey-patching stays away from pytest), after_load (pytest checks marked ``after_load``).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
import requests

from graders.events import CheckResult, EventWriter


def wait_ready(url: str, timeout_s: float, events: EventWriter) -> dict[str, Any]:
    """Poll GET /healthz until 200 or the deadline; never sleeps past the deadline."""
    start = time.monotonic()
    deadline = start + timeout_s
    last = "no answer yet"
    session = requests.Session()
    session.trust_env = False
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            r = session.get(url + "/healthz", timeout=min(2.0, max(remaining, 0.1)))
            if r.status_code == 200:
                ready = {"ok": True, "ready_s": round(time.monotonic() - start, 3), "message": ""}
                events.emit("ready", **ready)
                return ready
            last = f"GET /healthz answered {r.status_code}"
        except requests.RequestException as exc:
            last = f"GET /healthz failed: {type(exc).__name__}"
        time.sleep(min(0.1, max(deadline - time.monotonic(), 0)))
    message = f"service not ready within {timeout_s:g} s ({last})"
    ready = {"ok": False, "ready_s": round(time.monotonic() - start, 3), "message": message}
    events.emit("ready", **ready)
    return ready


class _EventsBridge:
    """Hands the event writer to the assess plugin before it configures itself."""

    def __init__(self, events: EventWriter) -> None:
        self.events = events

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        config.assess_events = self.events  # type: ignore[attr-defined]


def run_checks(plan: dict[str, Any], phase: str, events: EventWriter) -> list[CheckResult]:
    challenge_dir = Path(plan["challenge_dir"])
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
        plan["service_url"],
        "--assess-mode",
        plan.get("mode", "interviewer"),
        "--assess-phase",
        phase,
        "--assess-seed",
        str(plan.get("seed", 1)),
        "--assess-default-points",
        str(plan.get("default_points", 1)),
        "--assess-check-timeout",
        str(plan.get("check_timeout_s", 20)),
        "-o",
        "console_output_style=classic",
        "-W",
        "ignore",
    ]
    for s in plan.get("sidecars", []):
        args += ["--assess-sidecar", f"{s['name']}={s['url']},{s.get('token', '')}"]
    bridge = _EventsBridge(events)
    # pytest's output goes to stderr: stdout carries only events.
    saved = sys.stdout
    sys.stdout = sys.stderr
    try:
        code = pytest.main(args, plugins=[bridge])
    finally:
        sys.stdout = saved
    if code not in (
        pytest.ExitCode.OK,
        pytest.ExitCode.TESTS_FAILED,
        pytest.ExitCode.NO_TESTS_COLLECTED,
    ):
        events.emit("error", message=f"pytest could not run the {phase} checks (exit {int(code)})")
    return list(events.checks)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m graders.main PLAN.json", file=sys.stderr)
        return 2
    plan = json.loads(Path(argv[0]).read_text())
    # Events go to a private copy of stdout, so pytest's fd capture cannot swallow them.
    stream = os.fdopen(os.dup(1), "w", buffering=1)
    events = EventWriter(stream)
    outcome: dict[str, Any] = {"ready": None, "checks": [], "load": None}
    results_path = Path(plan["results_path"])

    def save() -> None:
        outcome["checks"] = [asdict(c) for c in events.checks]
        results_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = results_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(outcome))
        tmp.replace(results_path)

    phases = plan.get("phases", ["ready", "checks"])
    events.emit("phase", phase="ready", state="start")
    outcome["ready"] = wait_ready(
        plan["service_url"], float(plan.get("ready_timeout_s", 30)), events
    )
    events.emit("phase", phase="ready", state="end")
    if not outcome["ready"]["ok"]:
        save()
        events.emit("done")
        return 0
    if "checks" in phases:
        events.emit("phase", phase="checks", state="start")
        run_checks(plan, "checks", events)
        events.emit("phase", phase="checks", state="end")
        save()
    if "load" in phases and plan.get("load"):
        from graders.load import run_load_phase

        events.emit("phase", phase="load", state="start")
        outcome["load"] = run_load_phase(plan, events)
        events.emit("phase", phase="load", state="end")
        save()
    if "after_load" in phases:
        events.emit("phase", phase="after_load", state="start")
        run_checks(plan, "after_load", events)
        events.emit("phase", phase="after_load", state="end")
    save()
    events.emit("done")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
