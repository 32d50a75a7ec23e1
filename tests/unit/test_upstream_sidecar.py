"""The cache challenge's upstream sidecar, run as a subprocess on 127.0.0.1.

It counts what the candidate's cache asks for, so its counters are part of the score: ids are
counted by their canonical parsed value, non-canonical ids are refused and counted nowhere, its
state and buffers are bounded, and its control token leaks nowhere the candidate can read.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

UPSTREAM = Path(__file__).resolve().parents[2] / "challenges/cache/sidecars/upstream/upstream.py"
TIMEOUT_S = 5.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Sidecar:
    proc: subprocess.Popen[bytes]
    port: int
    control_port: int
    token: str
    log_path: Path

    def get(
        self, path: str, port: int | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=TIMEOUT_S)
        try:
            conn.request("GET", path, headers=headers or {})
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read(1 << 20)
        finally:
            conn.close()

    def control(self, path: str) -> Any:
        status, _, body = self.get(
            path, self.control_port, {"Authorization": f"Bearer {self.token}"}
        )
        assert status == 200, (status, body)
        return json.loads(body)

    def stats(self) -> dict[str, int]:
        return dict(self.control("/control/stats"))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the sidecar exited at start"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)  # polling a port with a deadline, not synchronising on a guess
    raise AssertionError(f"nothing listens on {port}")


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Any]:
    procs: list[subprocess.Popen[bytes]] = []

    def run(**env: str) -> Sidecar:
        port, control_port = free_port(), free_port()
        token = secrets.token_hex(16)
        log_path = tmp_path / f"sidecar-{len(procs)}.log"
        full_env = {
            "PATH": os.environ.get("PATH", ""),
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "CONTROL_PORT": str(control_port),
            "ASSESS_CONTROL_TOKEN": token,
            "UPSTREAM_DELAY_MS": "0",
            **env,
        }
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, str(UPSTREAM)], env=full_env, stdout=log, stderr=log
            )
        procs.append(proc)
        wait_listening(port, proc)
        wait_listening(control_port, proc)
        return Sidecar(proc, port, control_port, token, log_path)

    yield run
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def raw_exchange(port: int, data: bytes, read_timeout_s: float = TIMEOUT_S) -> bytes:
    """Send raw bytes, read until the server closes (capped): what a hostile client sees."""
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout_s) as s:
        # The server may close before reading everything: that is a refusal too.
        with contextlib.suppress(OSError):
            s.sendall(data)
        out = b""
        while len(out) < 1 << 16:
            try:
                chunk = s.recv(4096)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            out += chunk
        return out


def test_zero_padded_id_is_refused_and_not_counted(start: Any) -> None:
    up = start()
    assert up.get("/products/61275")[0] == 200
    status, headers, body = up.get("/products/061275")
    assert status == 404
    assert headers["content-type"] == "application/problem+json"
    assert b'"version"' not in body  # no product served
    assert up.control("/control/stats/61275")["total"] == 1
    assert up.stats()["total"] == 1


@pytest.mark.parametrize(
    "raw",
    [
        "061275",
        "0",
        "00",
        "+5",
        "-5",
        "%2B5",
        "%205",
        "5%20",
        "%35",
        "1e3",
        "0x1f",
        "5.0",
        "1234567890123",
        "9" * 200,
        "abc",
        "%D9%A1",
    ],
)
def test_non_canonical_ids_are_404_and_count_nothing(start: Any, raw: str) -> None:
    up = start()
    status, _, _ = up.get(f"/products/{raw}")
    assert status == 404
    stats = up.stats()
    assert stats["total"] == 0
    assert stats["keys"] == 0


def test_canonical_ids_still_served_and_counted(start: Any) -> None:
    up = start()
    for path in ("/products/1", "/products/42?x=1", "/products/999999999999"):
        up.get(path)
    assert up.control("/control/stats/42")["total"] == 1
    assert up.control("/control/stats/999999999999")["not_found"] == 1  # beyond the catalogue
    assert up.stats()["keys"] == 3


def test_key_table_is_bounded_and_overflow_is_not_read_as_zero(start: Any) -> None:
    up = start(UPSTREAM_MAX_KEYS="5")
    for pid in range(1, 9):
        assert up.get(f"/products/{pid}")[0] == 200  # still served beyond the table
    stats = up.stats()
    assert stats["keys"] == 5
    assert stats["total"] == 8  # totals (the load counter) still count everything
    assert stats["untracked"] == 3
    assert up.control("/control/stats/3")["total"] == 1
    status, _, _ = up.get(
        "/control/stats/8", up.control_port, {"Authorization": f"Bearer {up.token}"}
    )
    assert status == 503  # a check must fail, not read "0 requests" for an untracked id


def test_flood_of_long_ids_keeps_it_alive(start: Any) -> None:
    up = start()
    conn = http.client.HTTPConnection("127.0.0.1", up.port, timeout=TIMEOUT_S)
    for i in range(300):
        conn.request("GET", f"/products/{'7' * 4000}{i}")
        r = conn.getresponse()
        r.read()
        assert r.status == 404
    conn.close()
    assert up.proc.poll() is None
    assert up.stats()["keys"] == 0


def test_oversized_request_head_is_431(start: Any) -> None:
    up = start()
    out = raw_exchange(up.port, b"GET /products/" + b"1" * 40_000 + b" HTTP/1.1\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 431")
    huge_header = b"GET /products/1 HTTP/1.1\r\nX-Pad: " + b"a" * 40_000 + b"\r\n\r\n"
    assert raw_exchange(up.port, huge_header).startswith(b"HTTP/1.1 431")
    assert up.proc.poll() is None
    assert up.stats()["total"] == 0


def test_oversized_body_is_413(start: Any) -> None:
    up = start()
    out = raw_exchange(up.port, b"GET /products/1 HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 413")


def test_slow_client_is_cut_off(start: Any) -> None:
    up = start(UPSTREAM_IDLE_TIMEOUT_S="1")
    began = time.monotonic()
    out = raw_exchange(up.port, b"GET /products/1 HTTP/1.1\r\nHost: x\r\n", read_timeout_s=8)
    assert out == b""  # closed without an answer
    assert time.monotonic() - began < 4


def held_connection(port: int) -> socket.socket:
    """A keep-alive connection the server has accepted (answered once), retried to a deadline
    since the readiness probe's own connection may not have been released yet."""
    deadline = time.monotonic() + 5
    while True:
        s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
        s.sendall(b"GET /healthz HTTP/1.1\r\n\r\n")
        if s.recv(4096).startswith(b"HTTP/1.1 200"):
            return s
        s.close()
        assert time.monotonic() < deadline, "could not hold a connection"
        time.sleep(0.05)


def test_connections_are_capped(start: Any) -> None:
    up = start(UPSTREAM_MAX_CONNECTIONS="3")
    held = [held_connection(up.port) for _ in range(3)]
    try:
        assert raw_exchange(up.port, b"GET /healthz HTTP/1.1\r\n\r\n") == b""
    finally:
        for s in held:
            s.close()
    held_connection(up.port).close()  # a slot frees once a held connection closes


def test_control_port_needs_the_token(start: Any) -> None:
    up = start()
    for headers in (
        {},
        {"Authorization": "Bearer "},
        {"Authorization": f"Bearer {up.token[:-1]}"},
        {"Authorization": f"Bearer {up.token}x"},
        {"Authorization": f"bearer {up.token}"},
        {"Authorization": up.token},
    ):
        status, _, body = up.get("/control/stats", up.control_port, headers)
        assert status == 401, headers
        assert up.token.encode() not in body


def test_without_a_token_control_is_always_401(start: Any) -> None:
    up = start(ASSESS_CONTROL_TOKEN="")
    for auth in ("", "Bearer ", "Bearer x"):
        status, _, _ = up.get("/control/stats", up.control_port, {"Authorization": auth})
        assert status == 401


def test_token_never_reaches_responses_or_log(start: Any) -> None:
    up = start()
    token = up.token.encode()
    seen = [
        body + json.dumps(headers).encode()
        for _, headers, body in (
            up.get("/healthz"),
            up.get("/products/5"),
            up.get("/products/05"),
            up.get(f"/products/{up.token}"),
            up.get("/nope"),
            up.get("/control/stats"),  # the control API on the public port: no such route
            up.get("/control/stats", up.control_port),
            up.get("/control/reset", up.control_port, {"Authorization": "Bearer wrong"}),
        )
    ]
    seen.append(raw_exchange(up.port, b"BROKEN\r\n\r\n"))
    seen.append(raw_exchange(up.control_port, b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n"))
    assert all(token not in s for s in seen)
    up.proc.terminate()
    up.proc.wait(timeout=5)
    assert up.token not in up.log()


def test_token_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSESS_CONTROL_TOKEN", "s3cret-token")
    spec = importlib.util.spec_from_file_location("upstream_under_test", UPSTREAM)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    import graders.sidecar  # the token check every sidecar shares

    calls: list[tuple[bytes, bytes]] = []
    real = graders.sidecar.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return bool(real(a, b))

    monkeypatch.setattr(graders.sidecar.hmac, "compare_digest", spy)
    up = module.Upstream()
    assert up.authorized("Bearer s3cret-token")
    assert not up.authorized("Bearer s3cret-toke")
    assert not up.authorized("x" * 10_000)
    # Every comparison goes through compare_digest on equal-length digests: neither the
    # content nor the length of a guess shows in the time it takes.
    assert len(calls) == 3
    assert all(len(a) == len(b) == 32 for a, b in calls)
