"""Service control and sidecars with their own image, for real: a check kills, stops and
restarts the candidate and a sidecar mid-grading; the host acts, answers, and never takes the
restarted processes for a crash or a stranger."""

from __future__ import annotations

from typing import Any

import pytest

from runner.challenges.registry import load_challenge
from runner.results import Verdict
from tests.conftest import FIXTURES
from tests.integration.conftest import Grader

pytestmark = pytest.mark.docker
POD = FIXTURES / "pod-services"
REFERENCE = POD / "solutions" / "reference"


def test_checks_kill_and_restart_the_candidate_and_a_sidecar(graded: Grader, client: Any) -> None:
    events: list[dict[str, Any]] = []
    r = graded(load_challenge(POD), REFERENCE, listener=events.append)
    assert r.verdict == Verdict.GRADED, (r.verdict_detail, r.grader_errors, r.checks)
    by_id = {c.id: c for c in r.checks}
    assert all(c.outcome == "passed" for c in r.checks), [
        (c.id, c.outcome, c.message) for c in r.checks
    ]
    assert set(by_id) == {
        "candidate_killed_and_started",
        "candidate_restarted_gracefully",
        "sidecar_restarted_and_killed",
        "only_named_services",
    }
    assert r.score == 100.0
    done = [(a.service, a.action, a.ok) for a in r.service_actions]
    # the refused requests (unknown services) are answered but not actions on the pod
    assert done == [
        ("candidate", "kill", True),
        ("candidate", "start", True),
        ("candidate", "restart", True),
        ("counter", "restart", True),
        ("counter", "kill", True),
        ("counter", "start", True),
    ], done
    restart = r.service_actions[2]
    assert restart.exit_code == 0
    assert restart.exited_in_grace
    assert restart.ready_s is not None
    assert restart.ready_s < 15
    assert r.service_actions[0].exit_code == 137
    told = [(e["service"], e["action"], e["ok"]) for e in events if e.get("event") == "service"]
    assert told == [*done, ("holder", "kill", False), ("grader", "restart", False)], told
    # the restarted candidate's output is still followed (each start prints its line once)
    assert r.service_log.text.count("listening on 8080") == 3, r.service_log.text
    assert r.resources is not None
    # every report shows the timeline of actions
    import io

    from rich.console import Console

    from runner.reports import html, markdown, terminal

    out = io.StringIO()
    Console(file=out, width=100).print(terminal.render(r))
    line = "restart candidate: exited with code 0, within the grace period, ready again in"
    for text in (out.getvalue(), markdown.render(r), html.render(r)):
        assert line in text
    assert r.resources.exit_code in (None, 0)


def test_sidecar_image_is_built_once_and_labelled(client: Any) -> None:
    from runner.grading.images import Images

    challenge = load_challenge(POD)
    sc = challenge.config.sidecars[0]
    assert sc.dockerfile
    images = Images(client)
    first = images.ensure_sidecar(challenge.id, sc.name, POD / sc.path, sc.dockerfile)
    again = images.ensure_sidecar(challenge.id, sc.name, POD / sc.path, sc.dockerfile)
    assert first == again
    labels = client.images.get(first).labels
    assert labels["assess.kind"] == "sidecar"
    assert labels["assess.managed"] == "true"


SQUATTER = """
import json, os, socket, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

held = []

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.path == "/squat":  # take the stopped sidecar's port
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", 7001))
            s.listen()
            held.append(s)
        data = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *a):
        pass

ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), H).serve_forever()
"""

SQUAT_CHECK = '''
import time
import pytest

@pytest.mark.skill("resilience")
def test_squat_while_the_sidecar_is_down(api, services):
    """Stop the sidecar; the service takes its port."""
    services.stop("counter", grace_s=2)
    api.get("/squat")
    time.sleep(3)
    services.start("counter", check=False)
'''


def test_a_candidate_taking_a_stopped_sidecars_port_is_caught(
    graded: Grader, tmp_path: Any
) -> None:
    import shutil

    challenge_dir = tmp_path / "pod-services"
    shutil.copytree(POD, challenge_dir, ignore=shutil.ignore_patterns("solutions", "checks"))
    (challenge_dir / "checks").mkdir()
    (challenge_dir / "checks" / "test_squat.py").write_text(SQUAT_CHECK)
    sub = tmp_path / "squatter"
    sub.mkdir()
    (sub / "assess.toml").write_text('runtime = "python"\nstart = "python3 app.py"\n')
    (sub / "app.py").write_text(SQUATTER)
    r = graded(load_challenge(challenge_dir), sub)
    assert r.verdict == Verdict.TAMPERED, (r.verdict, r.verdict_detail)
    assert "7001" in r.verdict_detail
    assert r.score == 0.0


DIES = """
import os, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        data = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()
        if self.path == "/die":
            os._exit(3)
    def log_message(self, *a):
        pass

ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), H).serve_forever()
"""

DIE_CHECK = '''
import time
import pytest

@pytest.mark.skill("resilience")
def test_restart_then_crash(api, services):
    """Restart the service, then make it crash by itself."""
    services.restart("candidate", grace_s=1)
    try:
        api.get("/die")
    except Exception:
        pass
    time.sleep(2)
'''


def test_a_crash_after_a_restart_is_still_a_crash(graded: Grader, tmp_path: Any) -> None:
    import shutil

    challenge_dir = tmp_path / "pod-services"
    shutil.copytree(POD, challenge_dir, ignore=shutil.ignore_patterns("solutions", "checks"))
    (challenge_dir / "checks").mkdir()
    (challenge_dir / "checks" / "test_die.py").write_text(DIE_CHECK)
    sub = tmp_path / "dies"
    sub.mkdir()
    (sub / "assess.toml").write_text('runtime = "python"\nstart = "python3 app.py"\n')
    (sub / "app.py").write_text(DIES)
    r = graded(load_challenge(challenge_dir), sub)
    assert r.verdict == Verdict.CRASHED, (r.verdict, r.verdict_detail)
    assert r.resources is not None
    assert r.resources.exit_code == 3
    # the restart itself (SIGTERM ignored by PID 1: killed after the grace) is no crash
    assert [(a.action, a.exited_in_grace, a.exit_code) for a in r.service_actions] == [
        ("restart", False, 137)
    ]
