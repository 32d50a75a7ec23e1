"""The monitoring challenge's own parts: its strict exposition parser and its inventory sidecar.

The parser decides whether a candidate's /metrics is accepted, so it must refuse what the text
format forbids and read label values holding braces; the sidecar records the request ids the
candidate passed on, holds and fails on command, and guards its control port with the token.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2] / "challenges/monitoring"
TIMEOUT_S = 5.0


def load_conftest() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "monitoring_conftest", ROOT / "checks/conftest.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


GOOD = """# HELP http_requests_total HTTP requests answered.
# TYPE http_requests_total counter
http_requests_total{method="GET",route="/orders/{id}",status="200"} 3.0
http_requests_total{method="POST",route="/orders",status="201",} 5
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="+Inf",route="a\\"b"} 2
http_request_duration_seconds_count{route="a\\"b"} 2
http_request_duration_seconds_sum{route="a\\"b"} 0.25 1700000000000
"""


def test_parser_reads_values_and_braces_in_labels() -> None:
    c = load_conftest()
    m = c.parse_exposition(GOOD)
    assert m.get("http_requests_total", method="GET", route="/orders/{id}", status="200") == 3
    assert m.get("http_requests_total", method="POST", route="/orders", status="201") == 5
    assert m.get("http_request_duration_seconds_sum", route='a"b') == 0.25
    assert m.types["http_request_duration_seconds"] == "histogram"
    assert m.get("absent_total") == 0


@pytest.mark.parametrize(
    "bad",
    [
        'x_total{a="1"} 1\nx_total{a="1"} 2\n',  # the same series twice
        'x_total{a="1} 1\n',  # unterminated value
        'x_total{a="\\q"} 1\n',  # bad escape
        "x_total one\n",  # not a number
        "x_total 1\n# TYPE x_total counter\n",  # TYPE after samples
        "# TYPE x_total counter\n# TYPE x_total counter\n",  # TYPE twice
        "# TYPE x_total countr\n",  # unknown type
        "x_total 1 2 3\n",  # trailing junk
        '{a="1"} 1\n',  # no name
    ],
)
def test_parser_refuses_malformed(bad: str) -> None:
    c = load_conftest()
    with pytest.raises(c.ExpositionError):
        c.parse_exposition(bad)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Inv:
    def __init__(self, port: int, control: int, token: str) -> None:
        self.port, self.control, self.token = port, control, token

    def call(
        self,
        port: int,
        method: str,
        path: str,
        body: Any = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = TIMEOUT_S,
    ) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            h = dict(headers or {})
            if token is not None:
                h["Authorization"] = f"Bearer {token}"
            data = json.dumps(body).encode() if body is not None else None
            if data is not None:
                h["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            raw = r.read(1 << 20)
            return r.status, (json.loads(raw) if raw else None)
        finally:
            conn.close()

    def ctl(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return self.call(self.control, method, path, body, token=self.token)


@pytest.fixture(scope="module")
def inv() -> Iterator[Inv]:
    port, control, token = free_port(), free_port(), secrets.token_hex(8)
    env = {
        "PORT": str(port),
        "CONTROL_PORT": str(control),
        "ASSESS_CONTROL_TOKEN": token,
        "HOST": "127.0.0.1",
        "INVENTORY_DELAY_MS": "0",
        "PATH": "/usr/bin:/bin",
    }
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "sidecars/inventory/inventory.py")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", control), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield Inv(port, control, token)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_reservations_record_request_ids(inv: Inv) -> None:
    status, body = inv.call(
        inv.port,
        "POST",
        "/reservations",
        {"sku": "U-1", "quantity": 2},
        headers={"X-Request-Id": "rid-1"},
    )
    assert status == 201
    assert body["sku"] == "U-1"
    status, _ = inv.call(inv.port, "POST", "/reservations", {"sku": "OOS-U", "quantity": 1})
    assert status == 409
    assert inv.ctl("GET", "/control/skus/U-1")[1]["request_ids"] == ["rid-1"]
    assert inv.ctl("GET", "/control/skus/OOS-U")[1]["request_ids"] == [None]
    assert inv.call(inv.port, "POST", "/reservations", {"sku": "U-1", "quantity": 0})[0] == 400


def test_control_needs_the_token(inv: Inv) -> None:
    assert inv.call(inv.control, "GET", "/control/stats")[0] == 401
    assert inv.call(inv.control, "GET", "/control/stats", token="wrong")[0] == 401
    assert inv.ctl("GET", "/control/stats")[0] == 200


def test_hold_and_release(inv: Inv) -> None:
    inv.ctl("PUT", "/control/skus/H-1", {"hold": True})
    out: list[int] = []
    t = threading.Thread(
        target=lambda: out.append(
            inv.call(inv.port, "POST", "/reservations", {"sku": "H-1", "quantity": 1})[0]
        )
    )
    t.start()
    deadline = time.monotonic() + TIMEOUT_S
    while inv.ctl("GET", "/control/skus/H-1")[1]["held"] != 1:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert not out
    inv.ctl("PUT", "/control/skus/H-1", {"hold": False})
    t.join(TIMEOUT_S)
    assert out == [201]


def test_failure_error_and_hang(inv: Inv) -> None:
    inv.ctl("PUT", "/control/failure", {"mode": "error", "status": 502})
    assert inv.call(inv.port, "GET", "/healthz")[0] == 502
    inv.ctl("PUT", "/control/failure", {"mode": "hang"})
    with pytest.raises((TimeoutError, OSError)):
        inv.call(inv.port, "GET", "/healthz", timeout=0.5)
    assert inv.ctl("DELETE", "/control/failure")[0] == 204
    assert inv.call(inv.port, "GET", "/healthz")[0] == 200
