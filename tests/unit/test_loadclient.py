"""graders.load.user for real: Locust as a library in a subprocess against a hostile loopback
server. Over-cap and late answers are failed requests, the generator stays small, and load
requests carry exactly the check client's headers."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from graders import Client

ROOT = Path(__file__).resolve().parents[2]
BOMB_BYTES = 1 << 30


def _gzip_bomb() -> bytes:
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    return b"".join([comp.compress(zeros) for _ in range(BOMB_BYTES >> 20)] + [comp.flush()])


# Locust as a library, in a subprocess (gevent patches the whole interpreter)
PRELUDE = r"""
from gevent import monkey
monkey.patch_all()

import json, resource, sys  # noqa: E401
import gevent
from locust import constant, task
from locust.env import Environment

from graders.load.user import LoadUser
"""

SCRIPT = (
    PRELUDE
    + r"""

class Hostile(LoadUser):
    host = sys.argv[1]
    wait_time = constant(0.05)
    request_timeout_s = 1.0

    @task
    def rounds(self):
        for path in ("/bomb", "/big", "/ok", "/notjson", "/conflict", "/drip"):
            with self.client.get(path, name=path, catch_response=True) as resp:
                if resp.status_code == 409:
                    resp.success()  # an expected conflict; must not rescue a capped answer
                elif path in ("/ok", "/notjson"):
                    self.json_or_fail(resp, path)
                else:
                    resp.success()  # nor a late or oversized one


env = Environment(user_classes=[Hostile])
runner = env.create_local_runner()
runner.start(3, spawn_rate=100)
gevent.sleep(float(sys.argv[2]))
runner.quit()
stats = {
    name: {"n": e.num_requests, "failed": e.num_failures, "max_ms": e.max_response_time}
    for (name, _), e in env.stats.entries.items()
}
errors = sorted({str(e.error) for e in env.stats.errors.values()})
rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"stats": stats, "errors": errors, "rss_kb": rss_kb}))
"""
)


@pytest.fixture(scope="module")
def hostile() -> Iterator[tuple[str, dict[str, list[dict[str, str]]]]]:
    bomb = _gzip_bomb()
    seen: dict[str, list[dict[str, str]]] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            seen.setdefault(self.path, []).append(dict(self.headers.items()))
            extra: dict[str, str] = {}
            status = 200
            if self.path == "/bomb":
                status, body, extra = 409, bomb, {"Content-Encoding": "gzip"}
            elif self.path == "/big":
                body = b" " * (3 << 20) + b"{}"
            elif self.path == "/notjson":
                body = b"<html>"
            elif self.path == "/conflict":
                status, body = 409, b'{"error": "taken"}'
            elif self.path == "/drip":
                with contextlib.suppress(OSError):  # the generator gives up: expected
                    self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                    for _ in range(20):
                        time.sleep(0.3)  # the hostile server's pace, not synchronisation
                        self.wfile.write(b"X")
                return
            else:
                body = b'{"ok": true}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in extra.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


@pytest.mark.slow_unit(
    reason="starts Locust in a subprocess against a hostile server that paces itself with sleeps"
)
def test_load_user_fails_bombs_big_bodies_and_drips_and_stays_small(
    hostile: tuple[str, dict[str, list[dict[str, str]]]],
) -> None:
    url, seen = hostile
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, url, "2.5"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert time.monotonic() - start < 30
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    stats = out["stats"]
    for name in ("/bomb", "/big", "/drip", "/notjson"):
        assert stats[name]["n"] >= 1, (name, stats)
        assert stats[name]["failed"] == stats[name]["n"], (name, stats, out["errors"])
    for name in ("/ok", "/conflict"):
        assert stats[name]["n"] >= 1
        assert stats[name]["failed"] == 0, (name, out["errors"])
    assert stats["/drip"]["max_ms"] < 1500  # the 1 s deadline, not 20 drips of 0.3 s
    errors = "\n".join(out["errors"])
    assert "exceeded 1048576 bytes" in errors
    assert "no response within 1 s" in errors
    assert "expected a JSON body" in errors
    # a gzip bomb inflated in memory would cost a GiB; capped, the process stays small
    assert out["rss_kb"] < 250 * 1024, out["rss_kb"]

    # load requests and check requests carry the same headers
    Client(url).get("/ok")
    load_headers, check_headers = seen["/ok"][0], seen["/ok"][-1]
    drop = {"host", "content-length"}
    assert {k.lower(): v for k, v in load_headers.items() if k.lower() not in drop} == {
        k.lower(): v for k, v in check_headers.items() if k.lower() not in drop
    }


STOP_SCRIPT = (
    PRELUDE
    + r"""

class Keeper(LoadUser):
    host = sys.argv[1]
    wait_time = constant(0.05)
    stops = 0

    @task
    def ping(self):
        self.client.get("/ok")

    def on_stop(self):  # a locustfile's own on_stop, without super(): still closes
        type(self).stops += 1


env = Environment(user_classes=[Keeper])
runner = env.create_local_runner()
runner.start(8, spawn_rate=100)
gevent.sleep(1.0)
runner.start(1, spawn_rate=100)
gevent.sleep(0.5)
print(Keeper.stops, flush=True)
gevent.sleep(20)
"""
)


@pytest.mark.slow_unit(
    reason="starts Locust in a subprocess that sleeps ~1.5 s before stopping its users"
)
def test_stopped_load_users_close_their_connections() -> None:
    """Fewer users for the next stage: the stopped ones hang up, so a thread-per-connection
    service gets its threads back."""
    lock = threading.Lock()
    open_now = [0]

    class Counting(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            with lock:
                open_now[0] += 1

        def finish(self) -> None:
            with lock:
                open_now[0] -= 1
            super().finish()

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    proc = subprocess.Popen(
        [sys.executable, "-c", STOP_SCRIPT, url],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "7"  # seven users stopped, on_stop ran
        deadline = time.monotonic() + 3
        while open_now[0] > 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert open_now[0] == 1, f"{open_now[0]} connections open for one user"
        assert proc.poll() is None  # the generator is still running: not closed by its exit
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        server.shutdown()
        server.server_close()
