"""The knee search for real: Locust in the grader against a deliberately slow service (2 ms of
CPU per request under a 1-CPU limit: at most about 500 req/s), bracketed and within budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from graders.load.capacity import LAG_SHARE, SATURATION_CPU
from runner.challenges.registry import Challenge, load_challenge
from tests.conftest import ROOT
from tests.integration.conftest import Grader

pytestmark = [pytest.mark.docker, pytest.mark.load]

SLOW = """
import os, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        end = time.thread_time() + 0.002  # 2 ms of CPU per request
        while time.thread_time() < end:
            pass
        body = b'{"ok":true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

sys.setswitchinterval(0.0002)  # short GIL turns: a queue, not 5 ms slices
ThreadingHTTPServer.request_queue_size = 256  # 5 by default: dropped SYNs, 1 s retries
ThreadingHTTPServer(("0.0.0.0", int(os.environ.get("PORT", "8080"))), H).serve_forever()
"""


def test_the_search_finds_a_slow_services_knee(graded: Grader, tmp_path: Path) -> None:
    sub = tmp_path / "slow"
    sub.mkdir()
    (sub / "app.py").write_text(SLOW)
    (sub / "assess.toml").write_text('runtime = "python"\nstart = "python3 app.py"\n')
    base = load_challenge(ROOT / "runner" / "ceiling")
    assert base.config.load is not None
    load = base.config.load.model_copy(
        update={
            "target_rps": 100,
            "users": 16,
            "warmup_s": 1,
            "duration_s": 3,
            "step_s": 3,
            # each failed stage near the knee may cost a lean try, a full rerun and a 2 s
            # back-off: 24 s ran out before the bracket closed (CI, once)
            "capacity_budget_s": 40,
            "capacity_resolution": 0.2,
        }
    )
    challenge = Challenge(base.root, base.config.model_copy(update={"load": load}))
    r = graded(challenge, sub, skip_load=False, load_workers=0)
    result = r.load
    assert result is not None
    assert result.slo_met, [(x.key, x.actual) for x in result.slo_rows]
    assert result.capacity_upper_rps is not None  # something gave in above the credit
    assert result.capacity_lower_rps < result.capacity_upper_rps
    if result.capacity_stop == "generator":  # a shared machine: then a stage must show it
        limit = LAG_SHARE * result.slo.p95_ms
        assert any(
            s.generator_cpu >= SATURATION_CPU or (s.generator_lag_ms or 0) >= limit
            for s in result.steps
        )
    else:
        assert result.capacity_stop == "service"  # the service, not the generator, gave in
        assert result.capacity_upper_rps / result.capacity_lower_rps <= 1.2 + 1e-6
    assert 150 <= result.capacity_lower_rps <= 600  # 2 ms of CPU each: at most ~500 req/s
    assert result.steps[0].rps_offered == 200  # x2 from the target
    # the search starts no stage past its budget; a lean stage's rerun may overrun it by one
    assert result.capacity_search_s <= 40 + load.step_s + 1
    assert not result.generator_limited
