"""The load phase, seen from the grader: run :mod:`graders.load.generator` in a subprocess.

A subprocess keeps gevent's monkey-patching away from pytest; its events are relayed as they
come, and it is killed if it outlives its time budget. A phase that ends without a result is
reported as an ``error`` event (the host then scores no load points and says why).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time

from graders.events import EventWriter
from graders.protocol import (
    ErrorEvent,
    LoadResult,
    LoadResultEvent,
    Plan,
    ProtocolError,
    decode_event,
    dumps,
)

# gevent must patch before anything imports ssl (the graders package imports requests).
BOOTSTRAP = (
    "from gevent import monkey; monkey.patch_all(); import runpy, sys; "
    "sys.argv = sys.argv[:1] + sys.argv[1:]; runpy.run_module('graders.load.generator', run_name='__main__')"
)


def run_load_phase(plan: Plan, events: EventWriter) -> LoadResult | None:
    load = plan.load
    assert load is not None
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        fh.write(dumps(plan))
        config_path = fh.name
    os.chmod(config_path, 0o600)  # it holds the per-run worker secret
    proc = subprocess.Popen(
        [sys.executable, "-c", BOOTSTRAP, config_path],
        stdout=subprocess.PIPE,
        stderr=sys.stderr,
        text=True,
        env={**os.environ, "ASSESS_SEED": str(plan.seed)},
    )
    budget = load.time_budget_s()
    killer = threading.Timer(budget, proc.kill)
    killer.start()
    result: LoadResult | None = None
    start = time.monotonic()
    problem = ""
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                decoded = decode_event(line)
            except ProtocolError as exc:
                problem = f"the load generator sent a malformed event ({exc})"
                break
            if decoded is None:
                continue
            _, ev = decoded
            if isinstance(ev, LoadResultEvent):
                result = ev.result
            events.emit(ev)
        proc.wait()
    finally:
        killer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.unlink(config_path)
    if result is None:
        elapsed = time.monotonic() - start
        why = problem or (
            f"it was stopped at its time budget of {budget:.0f} s"
            if elapsed >= budget
            else f"it exited with code {proc.returncode}"
        )
        events.emit(
            ErrorEvent(
                message=f"the load generator produced no result after {elapsed:.0f} s: {why}",
                phase="load",
            )
        )
    return result
