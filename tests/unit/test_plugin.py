"""The scoring plugin: outcomes, points, visibility, phases and timeouts, via pytester.

The service under test is a small in-process HTTP server on loopback (a fake at a small seam).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from graders.protocol import CheckEvent, decode_event, to_dict

pytest_plugins = ["pytester"]


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/slow":
            threading.Event().wait(3)
        body = b'{"ok": true}'
        self.send_response(200 if self.path != "/missing" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def service() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


CHECKS = '''
import pytest
from graders import expect

@pytest.mark.points(3)
@pytest.mark.skill("rest")
def test_ok(api):
    """The root answers 200."""
    expect(api.get("/")).status(200)

@pytest.mark.skill("rest")
def test_wrong_status(api):
    expect(api.get("/missing")).status(200)

@pytest.mark.hidden
def test_secret(api):
    expect(api.get("/")).status(200)

def test_broken_check(api):
    raise KeyError("bug in the check")

@pytest.mark.after_load
def test_after(api):
    expect(api.get("/")).status(200)
'''


def run(pytester: pytest.Pytester, service: str, *args: str) -> dict[str, dict]:
    pytester.makepyfile(test_checks=CHECKS)
    result = pytester.runpytest_subprocess(
        "-p", "graders.plugin", "--service-url", service, "-p", "no:cacheprovider", *args
    )
    assert result.ret in (0, 1), result.stdout.str()
    return {}


def collect(pytester: pytest.Pytester, service: str, *args: str) -> dict[str, dict]:
    """Run the checks in-process with an event writer and return check events by id."""
    import io

    from graders.events import EventWriter
    from graders.main import _Bridge

    pytester.makepyfile(test_checks=CHECKS)
    stream = io.StringIO()
    pytester.runpytest_inprocess(
        "-p",
        "graders.plugin",
        "--service-url",
        service,
        "-p",
        "no:cacheprovider",
        *args,
        plugins=[_Bridge(EventWriter(stream))],
    )
    return {c["id"]: c for c in checks_in(stream.getvalue())}


def checks_in(text: str) -> list[dict]:
    out = []
    for line in text.splitlines():
        decoded = decode_event(line)
        if decoded is not None and isinstance(decoded[1], CheckEvent):
            out.append(to_dict(decoded[1].result))
    return out


def test_outcomes_points_and_titles(pytester: pytest.Pytester, service: str) -> None:
    checks = collect(pytester, service)
    assert set(checks) == {"ok", "wrong_status", "secret", "broken_check"}
    ok = checks["ok"]
    assert (ok["outcome"], ok["points"], ok["max_points"], ok["skill"]) == ("passed", 3, 3, "rest")
    assert ok["title"] == "The root answers 200."
    wrong = checks["wrong_status"]
    assert wrong["outcome"] == "failed"
    assert wrong["points"] == 0
    # the message says what was sent, what was expected and what came back
    assert "GET /missing" in wrong["message"]
    assert "expected status 200" in wrong["message"]
    assert "404" in wrong["message"]
    assert checks["broken_check"]["outcome"] == "error"
    assert "KeyError" in checks["broken_check"]["message"]
    assert checks["secret"]["hidden"] is True


def test_candidate_mode_drops_hidden_checks(pytester: pytest.Pytester, service: str) -> None:
    checks = collect(pytester, service, "--assess-mode", "candidate")
    assert "secret" not in checks
    assert "ok" in checks


def test_after_load_phase_runs_only_after_load_checks(
    pytester: pytest.Pytester, service: str
) -> None:
    checks = collect(pytester, service, "--assess-phase", "after_load")
    assert set(checks) == {"after"}
    assert checks["after"]["phase"] == "after_load"


def test_default_points_apply_without_a_marker(pytester: pytest.Pytester, service: str) -> None:
    checks = collect(pytester, service, "--assess-default-points", "2.5")
    assert checks["secret"]["max_points"] == 2.5
    assert checks["ok"]["max_points"] == 3


def test_a_slow_service_fails_the_check_in_bounded_time(
    pytester: pytest.Pytester, service: str
) -> None:
    pytester.makepyfile(
        test_slow="""
from graders import Client, expect
def test_slow(service_url):
    expect(Client(service_url, timeout_s=0.5).get("/slow")).status(200)
"""
    )
    import io

    from graders.events import EventWriter
    from graders.main import _Bridge

    stream = io.StringIO()
    pytester.runpytest_inprocess(
        "-p",
        "graders.plugin",
        "--service-url",
        service,
        "-p",
        "no:cacheprovider",
        plugins=[_Bridge(EventWriter(stream))],
    )
    slow = checks_in(stream.getvalue())[0]
    assert slow["outcome"] == "failed"
    assert "no response within 0.5 s" in slow["message"]
    assert slow["duration_s"] < 2


def test_duplicate_check_ids_are_rejected(pytester: pytest.Pytester, service: str) -> None:
    pytester.makepyfile(test_a="def test_same(api): pass", test_b="def test_same(api): pass")
    result = pytester.runpytest_subprocess("-p", "graders.plugin", "--service-url", service)
    assert "duplicate check id 'same'" in result.stderr.str() + result.stdout.str()


def test_critical_marker_reaches_the_result(pytester: pytest.Pytester, service: str) -> None:
    pytester.makepyfile(
        test_crit="""
import pytest
from graders import expect

@pytest.mark.critical
def test_safe(api):
    expect(api.get("/missing")).status(200)
"""
    )
    import io

    from graders.events import EventWriter
    from graders.main import _Bridge

    stream = io.StringIO()
    pytester.runpytest_inprocess(
        "-p",
        "graders.plugin",
        "--service-url",
        service,
        "-p",
        "no:cacheprovider",
        plugins=[_Bridge(EventWriter(stream))],
    )
    [safe] = checks_in(stream.getvalue())
    assert (safe["critical"], safe["outcome"]) == (True, "failed")
