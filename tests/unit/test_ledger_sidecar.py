"""The events challenge's ledger sidecar, run as a subprocess on 127.0.0.1.

Its record is what the events checks grade from: a posting applies once per Idempotency-Key,
every call is recorded with its answer, injected faults hit only the transfers they name and only
their first N calls, and the control port answers nobody without the grading's token.
"""

from __future__ import annotations

import http.client
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

LEDGER = Path(__file__).resolve().parents[2] / "challenges/events/sidecars/ledger/ledger.py"
TIMEOUT_S = 5.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Ledger:
    port: int
    control_port: int
    token: str

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        port: int | None = None,
        headers: dict[str, str] | None = None,
        timeout_s: float = TIMEOUT_S,
    ) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=timeout_s)
        try:
            data = None if body is None else json.dumps(body)
            conn.request(
                method, path, data, {"Content-Type": "application/json", **(headers or {})}
            )
            r = conn.getresponse()
            raw = r.read(1 << 20)
            return r.status, json.loads(raw) if raw else None
        finally:
            conn.close()

    def post(
        self, key: str, tid: str, src: str = "a", dst: str = "b", amount: int = 10, **kw: Any
    ) -> tuple[int, Any]:
        body = {"transfer_id": tid, "from": src, "to": dst, "amount": amount}
        return self.call("POST", "/postings", body, headers={"Idempotency-Key": key}, **kw)

    def control(self, method: str, path: str, body: Any = None) -> Any:
        status, got = self.call(
            method,
            path,
            body,
            port=self.control_port,
            headers={"Authorization": f"Bearer {self.token}"},
        )
        assert status in (200, 204), (status, got)
        return got

    def record(self, tid: str) -> dict[str, Any]:
        return dict(self.control("POST", "/control/transfers", {"ids": [tid]})["transfers"][tid])


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    port, control_port = free_port(), free_port()
    token = secrets.token_hex(16)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "CONTROL_PORT": str(control_port),
        "ASSESS_CONTROL_TOKEN": token,
        "LEDGER_DELAY_MS": "0",
    }
    log = (tmp_path / "ledger.log").open("wb")
    proc = subprocess.Popen([sys.executable, str(LEDGER)], env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 10
        for p in (port, control_port):
            while True:
                assert proc.poll() is None, "the ledger exited at start"
                try:
                    socket.create_connection(("127.0.0.1", p), timeout=0.5).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline, f"nothing listens on {p}"
                    time.sleep(0.05)  # polling a port with a deadline
        yield Ledger(port, control_port, token)
    finally:
        proc.terminate()
        proc.wait(timeout=5)
        log.close()
        assert token not in (tmp_path / "ledger.log").read_text(errors="replace")


def test_a_key_applies_once_and_replays(ledger: Ledger) -> None:
    ledger.control("PUT", "/control/accounts/a", {"balance": 100})
    status, first = ledger.post("t1", "t1")
    assert status == 201
    assert first["balances"] == {"a": 90, "b": 10}
    status, again = ledger.post("t1", "t1")
    assert status == 200
    assert again["replayed"] is True
    assert again["posting_id"] == first["posting_id"]
    assert ledger.post("t1", "t1", amount=11)[0] == 409  # the same key, another body
    assert ledger.control("GET", "/control/accounts/a")["balance"] == 90
    rec = ledger.record("t1")
    assert len(rec["postings"]) == 1
    assert [c["status"] for c in rec["calls"]] == [201, 200, 409]
    # another key for the same transfer is another posting: what a service without
    # idempotency does, and what the checks count
    assert ledger.post("other-key", "t1")[0] == 201
    assert len(ledger.record("t1")["postings"]) == 2


def test_insufficient_funds_is_422_and_stays_so(ledger: Ledger) -> None:
    ledger.control("PUT", "/control/accounts/poor", {"balance": 5})
    assert ledger.post("t2", "t2", src="poor")[0] == 422
    ledger.control("PUT", "/control/accounts/poor", {"balance": 500})
    assert ledger.post("t2", "t2", src="poor")[0] == 422  # the key's answer is kept
    assert ledger.record("t2")["postings"] == []


def test_errors_hit_only_the_named_transfers_first_calls(ledger: Ledger) -> None:
    ledger.control("PUT", "/control/accounts/a", {"balance": 1000})
    ledger.control("PUT", "/control/failure", {"mode": "error", "transfer_ids": ["t3"], "calls": 2})
    assert ledger.post("t4", "t4")[0] == 201  # not named: unaffected
    assert [ledger.post("t3", "t3")[0] for _ in range(3)] == [503, 503, 201]
    assert [c["status"] for c in ledger.record("t3")["calls"]] == [503, 503, 201]


def test_apply_then_hang_applies_and_never_answers(ledger: Ledger) -> None:
    ledger.control("PUT", "/control/accounts/a", {"balance": 1000})
    ledger.control(
        "PUT", "/control/failure", {"mode": "apply_then_hang", "transfer_ids": ["t5"], "calls": 1}
    )
    with pytest.raises((TimeoutError, OSError, http.client.HTTPException)):
        ledger.post("t5", "t5", timeout_s=1.0)
    assert len(ledger.record("t5")["postings"]) == 1  # applied, the answer lost
    assert ledger.post("t5", "t5")[0] == 200  # the retry with the same key replays


@pytest.mark.slow_unit(reason="sleeps 0.3 s while the hang holds")
def test_a_hang_ends_when_cleared_without_applying(ledger: Ledger) -> None:
    ledger.control("PUT", "/control/accounts/a", {"balance": 1000})
    ledger.control("PUT", "/control/failure", {"mode": "hang", "transfer_ids": ["t6"]})
    started = time.monotonic()
    conn = socket.create_connection(("127.0.0.1", ledger.port), timeout=5)
    body = json.dumps({"transfer_id": "t6", "from": "a", "to": "b", "amount": 1}).encode()
    conn.sendall(
        b"POST /postings HTTP/1.1\r\nHost: x\r\nIdempotency-Key: t6\r\n"
        b"Content-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )
    time.sleep(0.3)
    assert ledger.control("GET", "/control/stats")["in_flight"] == 1
    ledger.control("DELETE", "/control/failure")
    assert conn.recv(100) == b""  # closed without an answer
    conn.close()
    assert time.monotonic() - started < 3
    assert ledger.record("t6")["postings"] == []


def test_control_needs_the_token(ledger: Ledger) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": ledger.token}):
        status, body = ledger.call(
            "GET", "/control/stats", port=ledger.control_port, headers=headers
        )
        assert status == 401
        assert ledger.token not in json.dumps(body)
    assert ledger.call("GET", "/control/stats")[0] == 404  # not on the public port


def test_sequence_is_the_applied_order_per_account(ledger: Ledger) -> None:
    ledger.control("PUT", "/control/accounts/h", {"balance": 1000})
    for tid in ("s1", "s2", "s3"):
        assert ledger.post(tid, tid, src="h", dst=f"x-{tid}")[0] == 201
    got = ledger.control("POST", "/control/sequence", {"accounts": ["h"]})["postings"]
    assert [p["transfer_id"] for p in got] == ["s1", "s2", "s3"]
