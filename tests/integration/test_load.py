"""The load phase for real: Locust in the grader container, against the rest-api reference in
the sandbox. Short (a few seconds) but real; speed figures live in bench/, not here."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from runner.results import Verdict
from tests.conftest import ROOT
from tests.integration.conftest import Grader

pytestmark = [pytest.mark.docker, pytest.mark.load]
REFERENCE = ROOT / "challenges" / "rest-api" / "solutions" / "reference"


def test_load_phase_measures_the_reference(graded: Grader) -> None:
    r = graded("rest-api", REFERENCE, skip_load=False, load_duration_s=3)
    load = r.load
    assert load is not None
    m = load.measured
    assert load.target_rps == 150
    assert m.requests > 0
    assert m.achieved_rps > 0.8 * load.target_rps  # paced near the target
    assert m.error_rate < 0.05  # wrong answers (and failed read-backs) would count here
    assert m.p95_ms is not None
    assert load.slo.p95_ms == 150
    assert [row.key for row in load.slo_rows] == ["rate", "p95", "p99", "errors"]
    stages = {s.stage for s in load.series}
    assert {"warmup", "measured"} <= stages
    assert all(s.rps_offered > load.target_rps for s in load.steps)
    assert load.capacity_rps >= 0
    assert r.load_score is not None
    assert 0 <= r.score <= 100
    assert r.timings.load_s > 3
    # each second of the series carries the candidate's CPU and memory (Docker's stats API)
    measured = [s for s in load.series if s.stage == "measured"]
    assert all((s.mem_mb or 0) > 0 for s in measured)
    assert any((s.cpu_pct or 0) > 0 for s in measured)
    # the candidate's resource timeline covers the run
    assert r.resources is not None
    assert r.resources.cpu_s > 0
    assert len(r.resources.samples) >= 3


def test_distributed_load_workers_report_their_cpu(graded: Grader) -> None:
    r = graded("rest-api", REFERENCE, skip_load=False, load_duration_s=3, load_workers=2)
    load = r.load
    assert load is not None
    assert load.workers == 2
    assert load.measured.requests > 0
    assert load.measured.achieved_rps > 0.8 * load.target_rps
    measured = [s for s in load.series if s.stage == "measured"]
    assert all(len(s.workers_cpu) == 2 for s in measured[1:])


def test_binding_the_generators_port_is_tampering(graded: Grader, tmp_path: Path) -> None:
    """A service that grabs Locust's master port to pose as a worker fails the run."""
    d = tmp_path / "squatter"
    shutil.copytree(REFERENCE, d)
    (d / "squat.py").write_text(
        "import runpy, socket\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 5557)); s.listen()\n"
        "runpy.run_path('app.py', run_name='__main__')\n"
    )
    (d / "assess.toml").write_text('runtime = "python"\nstart = "python3 squat.py"\n')
    r = graded("rest-api", d, skip_load=False, load_duration_s=2, load_workers=1)
    assert r.verdict == Verdict.TAMPERED
    assert "5557" in r.verdict_detail
    assert r.load is None  # caught at readiness: the load phase never ran


FORGED_WORKER = """
import runpy, threading, time

import msgpack
import zmq


def forge():
    # Pose as a Locust worker: join the master and ship a fabricated per-second window
    # (12,000 fast successes), as a candidate on the shared loopback could.
    ctx = zmq.Context()
    for attempt in range(600):
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.IDENTITY, b"evil_0")
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect("tcp://127.0.0.1:5557")
        window = {"count": 12000, "rated": 12000, "failures": 0, "times": [1.0] * 12000,
                  "failures_by_kind": {}, "names": {}}
        for kind, data in (("client_ready", "2.0"), ("assess_window",
                {"node": "evil_0", "seq": attempt, "body": '{"cpu": 0.1}', "sig": "0" * 64})):
            sock.send(msgpack.dumps((kind, data, "evil_0")))
        time.sleep(0.5)
        sock.close()


threading.Thread(target=forge, daemon=True).start()
runpy.run_path("app.py", run_name="__main__")
"""


def test_a_forged_load_worker_is_tampering(graded: Grader, tmp_path: Path) -> None:
    """Workers sign their windows with a per-run secret and the master counts its clients: a
    candidate posing as a worker on the shared loopback ends the run as tampered, score 0."""
    d = tmp_path / "forger"
    shutil.copytree(REFERENCE, d)
    (d / "forge.py").write_text(FORGED_WORKER)
    (d / "requirements.txt").write_text("pyzmq\nmsgpack\n")
    (d / "assess.toml").write_text('runtime = "python"\nstart = "python3 forge.py"\n')
    r = graded("rest-api", d, skip_load=False, load_duration_s=3, load_workers=1)
    assert r.verdict == Verdict.TAMPERED, r.verdict_detail
    assert "load generator" in r.verdict_detail
    assert r.score == 0.0


CRASH_UNDER_LOAD = """
import os
import app

load_requests = 0


class CrashesUnderLoad(app.Handler):
    def parse_request(self):
        global load_requests
        ok = super().parse_request()
        # Load traffic looks exactly like check traffic (same headers, same kind of data), so
        # count: the checks send far fewer than 3,000 requests; the load phase passes that
        # during its capacity steps.
        if ok:
            load_requests += 1
            if load_requests > 3000:
                os._exit(9)
        return ok


app.main(CrashesUnderLoad)
"""


def test_a_crash_during_the_load_phase_keeps_the_checks(graded: Grader, tmp_path: Path) -> None:
    d = tmp_path / "crasher"
    shutil.copytree(REFERENCE, d)
    (d / "crash.py").write_text(CRASH_UNDER_LOAD)
    (d / "assess.toml").write_text('runtime = "python"\nstart = "python3 crash.py"\n')
    r = graded("rest-api", d, skip_load=False, load_duration_s=3)
    assert r.verdict == Verdict.CRASHED
    assert "code 9 during the load phase" in r.verdict_detail
    before_load = [c for c in r.checks if c.phase == "checks"]
    assert before_load
    assert all(c.outcome == "passed" for c in before_load)  # partial results are kept
    assert r.resources is not None
    assert r.resources.exit_code == 9


REALTIME = ROOT / "challenges" / "realtime" / "solutions" / "reference"
WS_HOSTILE = {
    # After its first delivery each connection gets a 2 MiB frame: over the load client's
    # 1 MiB message cap (one shared buffer, so the server itself stays within its memory).
    "floods-frames": """
'use strict';
const { Service } = require('./server.js');
const junk = Buffer.alloc(2 << 20, 120);
class Flood extends Service {
  deliver(conn, text) {
    super.deliver(conn, text);
    if (!conn.closing && !conn.flooded) {
      conn.flooded = true;
      conn.ws.send(junk, { binary: false });
    }
  }
}
new Flood().listen();
""",
    # Upgrades, then never reads a byte from any WebSocket: no acks, no pongs, no deliveries.
    "never-reads": """
'use strict';
const { Service } = require('./server.js');
class Deaf extends Service {
  onConnection(ws) {
    super.onConnection(ws);
    ws._socket.pause();
  }
}
new Deaf().listen();
""",
}


@pytest.mark.parametrize("case", sorted(WS_HOSTILE))
def test_hostile_websocket_servers_cannot_break_the_load_phase(
    graded: Grader, tmp_path: Path, case: str
) -> None:
    """The load generator survives a frame flood and a server that never reads: the phase
    produces a result whose errors say what happened, in bounded time, and scores low."""
    d = tmp_path / case
    shutil.copytree(REALTIME, d, ignore=shutil.ignore_patterns("node_modules"))
    (d / "hostile.js").write_text(WS_HOSTILE[case])
    (d / "assess.toml").write_text('runtime = "node"\nstart = "node hostile.js"\n')
    r = graded("realtime", d, skip_load=False, load_duration_s=3)
    assert r.verdict == Verdict.GRADED, r.verdict_detail
    assert r.load is not None, r.load_missing  # the phase ended with a result
    assert not r.load.slo_met
    assert r.load_score is not None
    assert r.load_score <= 35.0
    assert r.timings.load_s < 120


def test_messages_dropped_under_load_are_counted_and_fail_the_slos(
    graded: Grader, tmp_path: Path
) -> None:
    """realtime's drops-under-load passes every check (it sheds only under sustained fan-out);
    the load phase verifies sequence continuity at every subscriber, so the lost messages are
    counted by kind and the zero-loss SLO fails."""
    from runner.challenges.solutions import overlay

    variant = ROOT / "challenges" / "realtime" / "solutions" / "drops-under-load"
    d = overlay(REALTIME, variant, tmp_path / "drops", "expected.toml", "node_modules")
    r = graded("realtime", d, skip_load=False, load_duration_s=5)
    assert r.verdict == Verdict.GRADED, r.verdict_detail
    assert r.correctness_score == 100.0  # the checks cannot see it
    assert r.load is not None
    assert r.load.measured.failures_by_kind.get("MessageLost", 0) > 0
    assert not r.load.slo_met
    assert r.load_score is not None
    assert r.load_score <= 35.0
