"""The load phase, seen from the grader: run :mod:`graders.loadgen` in a subprocess.

A subprocess keeps gevent's monkey-patching away from pytest; its events are relayed as they
come, and it is killed if it outlives its time budget.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

from graders.events import EventWriter, parse_event

# gevent must patch before anything imports ssl (the graders package imports requests).
BOOTSTRAP = (
    "from gevent import monkey; monkey.patch_all(); import runpy, sys; "
    "sys.argv = sys.argv[:1] + sys.argv[1:]; runpy.run_module('graders.loadgen', run_name='__main__')"
)


def time_budget_s(load: dict[str, Any]) -> float:
    steps = int(load.get("max_steps", 0)) * float(load.get("step_s", 5))
    startup = 30.0 + 10.0 * int(load.get("workers", 0) or 0)
    return float(load.get("warmup_s", 0)) + float(load["duration_s"]) + steps + startup


def run_load_phase(plan: dict[str, Any], events: EventWriter) -> dict[str, Any] | None:
    load = plan["load"]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(plan, fh)
        config_path = fh.name
    proc = subprocess.Popen(
        [sys.executable, "-c", BOOTSTRAP, config_path],
        stdout=subprocess.PIPE,
        stderr=sys.stderr,
        text=True,
        env={**os.environ, "ASSESS_SEED": str(plan.get("seed", 1))},
    )
    killer = threading.Timer(time_budget_s(load), proc.kill)
    killer.start()
    result: dict[str, Any] | None = None
    start = time.monotonic()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            ev = parse_event(line)
            if ev is None:
                continue
            kind = ev.pop("event")
            ev.pop("t", None)
            if kind == "load_result":
                result = ev
            events.emit(kind, **ev)
        proc.wait()
    finally:
        killer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.unlink(config_path)
    if result is None:
        events.emit(
            "error",
            message=f"the load generator stopped after "
            f"{time.monotonic() - start:.0f} s without a result",
        )
    return result
