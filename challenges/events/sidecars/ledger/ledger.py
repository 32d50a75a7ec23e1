#!/usr/bin/env python3
"""The ledger of the ``events`` challenge: where the candidate's transfers take effect.

Python standard library only, one asyncio event loop (every posting is applied atomically, one
at a time), HTTP/1.1 keep-alive. It records every call it receives, so the grader can tell
exactly what the service did: how many postings each transfer produced, in which order, how
many attempts it took, and whether it backed off.

Public port (``PORT``, default 9090), what the candidate's service talks to:

    GET  /healthz                 200 {"status": "ok"}
    POST /postings                header Idempotency-Key (1-128 printable ASCII characters),
                                  body {"transfer_id": str, "from": str, "to": str,
                                  "amount": int > 0}
        201 {"posting_id", "transfer_id", "from", "to", "amount", "balances": {from, to}}
            applied now;
        200 the same body, with "replayed": true: this key was applied before (nothing changes);
        422 {"error": "insufficient_funds", ...}: the source account's balance is below the
            amount (nothing changes; a later call with the same key is answered the same way);
        409 this key was used before with another body; 400 a malformed request.
    GET  /accounts/{id}           200 {"id", "balance"}

Every account exists with balance 0 until the grader funds it. Faults, injected by the grader
through the control port, apply to the postings whose body names one of the given transfer ids
(or to every posting): ``error`` (answer ``status``, default 503, without applying), ``hang``
(hold the request without answering until the fault is cleared or MAX_HANG_S passed, then close
the connection, without applying), ``apply_then_hang`` (apply, then hang: the answer is lost),
``slow`` (answer after ``delay_ms``).

Control port (``CONTROL_PORT``, default 9091), for the grader, ``Authorization: Bearer
$ASSESS_CONTROL_TOKEN`` on every endpoint except ``/healthz``:

    GET    /control/stats                  totals: calls, applied, replayed, rejected, errors,
                                           hung, in_flight, max_in_flight, postings
    POST   /control/reset                  zero max_in_flight (nothing else: the record stays)
    PUT    /control/accounts/{id}          {"balance": int >= 0}
    GET    /control/accounts/{id}
    POST   /control/transfers              {"ids": [str, ...]} (at most 5000) -> {"transfers":
                                           {id: {"postings": [{"seq", "t", "key", "from", "to",
                                           "amount"}], "calls": [{"t", "key", "status"}],
                                           "rejected": int}}}; t is wall-clock time.time()
    POST   /control/sequence               {"accounts": [str]} -> {"postings": [...]} every
                                           posting touching these accounts, in applied order
    PUT    /control/failure                {"mode", "status", "delay_ms", "duration_s",
                                           "transfer_ids": [str]|null, "calls": int|null: only
                                           each transfer's first N calls fail}
    DELETE /control/failure

Bounds: at most LEDGER_MAX_RECORDS calls recorded (later calls are answered 503 and counted:
the grader sees the overflow rather than a silent hole), request heads of MAX_HEAD_BYTES, bodies
of MAX_BODY_BYTES, LEDGER_MAX_CONNECTIONS open connections. The token never appears in a
response or a log line.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from typing import Any

from graders.sidecar import (
    HttpError,
    NoAnswer,
    Reply,
    Request,
    Token,
    env_float,
    env_int,
    json_reply,
    problem,
    run,
)

WHO = "ledger"
MAX_HANG_S = 60.0
MAX_QUERY_IDS = 5000
MAX_TEXT = 128
IDLE_TIMEOUT_S = env_float("LEDGER_IDLE_TIMEOUT_S", 120.0, WHO)
MAX_CONNECTIONS = env_int("LEDGER_MAX_CONNECTIONS", 512, WHO)
MAX_RECORDS = env_int("LEDGER_MAX_RECORDS", 200_000, WHO)
DEFAULT_DELAY_MS = env_int("LEDGER_DELAY_MS", 5, WHO)
MODES = ("error", "hang", "apply_then_hang", "slow")


def text(v: Any, what: str) -> str:
    if not isinstance(v, str) or not 0 < len(v) <= MAX_TEXT or not v.isprintable():
        raise HttpError(400, f"{what} must be a non-empty printable string of at most {MAX_TEXT}")
    return v


def amount(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 < v <= 10**12:
        raise HttpError(400, "amount must be a positive integer (at most 10^12)")
    return v


@dataclass
class Failure:
    mode: str
    status: int
    delay_ms: int
    until: float | None
    transfer_ids: frozenset[str] | None
    calls: int | None  # only the first N calls for each transfer (None: every call)

    def applies(self, transfer_id: str, earlier_calls: int) -> bool:
        if self.until is not None and time.monotonic() >= self.until:
            return False
        if self.calls is not None and earlier_calls >= self.calls:
            return False
        return self.transfer_ids is None or transfer_id in self.transfer_ids

    def describe(self) -> dict[str, Any]:
        left = None if self.until is None else round(max(0.0, self.until - time.monotonic()), 3)
        ids = None if self.transfer_ids is None else sorted(self.transfer_ids)
        return {
            "mode": self.mode,
            "status": self.status,
            "delay_ms": self.delay_ms,
            "remaining_s": left,
            "transfer_ids": ids,
            "calls": self.calls,
        }


@dataclass
class Posting:
    seq: int
    t: float
    key: str
    transfer_id: str
    src: str
    dst: str
    amount: int

    def view(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "t": self.t,
            "key": self.key,
            "transfer_id": self.transfer_id,
            "from": self.src,
            "to": self.dst,
            "amount": self.amount,
        }


@dataclass
class Record:
    postings: list[Posting] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    rejected: int = 0


class Ledger:
    def __init__(self) -> None:
        self._token = Token(os.environ.get("ASSESS_CONTROL_TOKEN", ""))
        self.balances: dict[str, int] = {}
        # key -> (body signature, status, answer)
        self.keys: dict[str, tuple[str, int, dict[str, Any]]] = {}
        self.records: dict[str, Record] = {}
        self.by_account: dict[str, list[Posting]] = {}
        self.failure: Failure | None = None
        self.seq = 0
        self.recorded = 0
        self.totals = dict.fromkeys(
            (
                "calls",
                "applied",
                "replayed",
                "rejected",
                "errors",
                "hung",
                "overflow",
                "in_flight",
                "max_in_flight",
            ),
            0,
        )

    # -- public port
    async def public(self, req: Request) -> Reply:
        if req.path == "/healthz":
            return json_reply(200, {"status": "ok"})
        if req.path.startswith("/accounts/") and req.path.count("/") == 2 and req.method == "GET":
            acc = req.path[len("/accounts/") :]
            return json_reply(200, {"id": acc, "balance": self.balances.get(acc, 0)})
        if req.path != "/postings":
            return problem(404, "no route for this path")
        if req.method != "POST":
            return Reply(405, b"", [("Allow", "POST")])
        self.totals["calls"] += 1
        if self.recorded >= MAX_RECORDS:
            self.totals["overflow"] += 1
            return problem(503, "the ledger's record is full")
        self.totals["in_flight"] += 1
        self.totals["max_in_flight"] = max(self.totals["max_in_flight"], self.totals["in_flight"])
        try:
            return await self.posting(req)
        finally:
            self.totals["in_flight"] -= 1

    async def posting(self, req: Request) -> Reply:
        key = req.headers.get("idempotency-key", "")
        body = req.json()
        if not isinstance(body, dict):
            raise HttpError(400, "expected a JSON object")
        tid = text(body.get("transfer_id"), "transfer_id")
        key = text(key, "the Idempotency-Key header")
        src, dst = text(body.get("from"), "from"), text(body.get("to"), "to")
        amt = amount(body.get("amount"))
        if src == dst:
            raise HttpError(400, "from and to must differ")
        rec = self.records.setdefault(tid, Record())
        call: dict[str, Any] = {"t": time.time(), "key": key, "status": 0}
        rec.calls.append(call)
        self.recorded += 1
        f = self.failure if self.failure and self.failure.applies(tid, len(rec.calls) - 1) else None
        delay = (f.delay_ms if f and f.mode == "slow" else DEFAULT_DELAY_MS) / 1000
        if delay:
            await asyncio.sleep(delay)
        if f and f.mode == "error":
            call["status"] = f.status
            self.totals["errors"] += 1
            return problem(f.status, "the ledger is failing (injected)")
        if f and f.mode == "hang":
            await self.hang(f, call)
        status, answer = self.apply(key, tid, src, dst, amt, rec)
        call["status"] = status
        if f and f.mode == "apply_then_hang":
            await self.hang(f, call)
        return json_reply(status, answer)

    async def hang(self, f: Failure, call: dict[str, Any]) -> None:
        self.totals["hung"] += 1
        call["hung"] = True
        deadline = time.monotonic() + MAX_HANG_S
        while (
            time.monotonic() < deadline
            and self.failure is f
            and (f.until is None or time.monotonic() < f.until)
        ):
            await asyncio.sleep(0.05)
        if call["status"] == 0:
            call["status"] = -1  # closed without an answer
        raise NoAnswer

    def apply(
        self, key: str, tid: str, src: str, dst: str, amt: int, rec: Record
    ) -> tuple[int, dict[str, Any]]:
        sig = f"{tid}\0{src}\0{dst}\0{amt}"
        seen = self.keys.get(key)
        if seen is not None:
            if seen[0] != sig:
                return 409, {
                    "error": "idempotency_key_reused",
                    "detail": "this Idempotency-Key was used with another body",
                }
            self.totals["replayed"] += 1
            status = 200 if seen[1] == 201 else seen[1]
            return status, {**seen[2], "replayed": True}
        if self.balances.get(src, 0) < amt:
            answer: dict[str, Any] = {
                "error": "insufficient_funds",
                "transfer_id": tid,
                "balance": self.balances.get(src, 0),
                "amount": amt,
            }
            self.keys[key] = (sig, 422, answer)
            rec.rejected += 1
            self.totals["rejected"] += 1
            return 422, answer
        self.balances[src] = self.balances.get(src, 0) - amt
        self.balances[dst] = self.balances.get(dst, 0) + amt
        self.seq += 1
        p = Posting(self.seq, time.time(), key, tid, src, dst, amt)
        rec.postings.append(p)
        for acc in (src, dst):
            self.by_account.setdefault(acc, []).append(p)
        self.totals["applied"] += 1
        answer = {
            "posting_id": f"p-{p.seq}",
            "transfer_id": tid,
            "from": src,
            "to": dst,
            "amount": amt,
            "balances": {src: self.balances[src], dst: self.balances[dst]},
        }
        self.keys[key] = (sig, 201, answer)
        return 201, answer

    # -- control port
    async def control(self, req: Request) -> Reply:
        if req.path == "/healthz":
            return json_reply(200, {"status": "ok"})
        if not self._token.authorizes(req.headers.get("authorization", "")):
            return Reply(
                401,
                b'{"title": "Unauthorized", "status": 401}',
                [("WWW-Authenticate", "Bearer")],
                "application/problem+json",
            )
        parts = [p for p in req.path.split("/") if p]
        if len(parts) < 2 or parts[0] != "control":
            return problem(404, "no such control route")
        route, rest, m = parts[1], parts[2:], req.method
        if route == "stats" and m == "GET" and not rest:
            return json_reply(200, {**self.totals, "postings": self.seq, "recorded": self.recorded})
        if route == "reset" and m == "POST" and not rest:
            self.totals["max_in_flight"] = self.totals["in_flight"]
            return Reply(204)
        if route == "accounts" and len(rest) == 1:
            acc = text(rest[0], "account id")
            if m == "PUT":
                body = req.json()
                bal = body.get("balance") if isinstance(body, dict) else None
                if isinstance(bal, bool) or not isinstance(bal, int) or bal < 0:
                    raise HttpError(400, "balance must be a non-negative integer")
                self.balances[acc] = bal
            if m in ("PUT", "GET"):
                return json_reply(200, {"id": acc, "balance": self.balances.get(acc, 0)})
        if route == "transfers" and m == "POST" and not rest:
            ids = self.id_list(req.json(), "ids")
            out = {}
            for tid in ids:
                rec = self.records.get(tid) or Record()
                out[tid] = {
                    "postings": [p.view() for p in rec.postings],
                    "calls": list(rec.calls),
                    "rejected": rec.rejected,
                }
            return json_reply(200, {"transfers": out})
        if route == "sequence" and m == "POST" and not rest:
            accs = self.id_list(req.json(), "accounts")
            seen: dict[int, Posting] = {}
            for acc in accs:
                for p in self.by_account.get(acc, []):
                    seen[p.seq] = p
            return json_reply(200, {"postings": [seen[s].view() for s in sorted(seen)]})
        if route == "failure" and not rest:
            if m == "GET":
                return json_reply(
                    200, {"failure": self.failure.describe() if self.failure else None}
                )
            if m == "DELETE":
                self.failure = None
                return Reply(204)
            if m == "PUT":
                self.failure = self.parse_failure(req.json())
                return json_reply(200, {"failure": self.failure.describe()})
        return problem(404, "no such control route")

    @staticmethod
    def id_list(body: Any, name: str) -> list[str]:
        ids = body.get(name) if isinstance(body, dict) else None
        if not isinstance(ids, list) or len(ids) > MAX_QUERY_IDS:
            raise HttpError(400, f"{name} must be a list of at most {MAX_QUERY_IDS} strings")
        return [text(i, name) for i in ids]

    @staticmethod
    def parse_failure(body: Any) -> Failure:
        if not isinstance(body, dict) or body.get("mode") not in MODES:
            raise HttpError(400, f"mode must be one of {', '.join(MODES)}")
        status = body.get("status", 503)
        if not isinstance(status, int) or not 500 <= status <= 599:
            raise HttpError(400, "status must be a 5xx code")
        delay = body.get("delay_ms", 0)
        if not isinstance(delay, int) or not 0 <= delay <= 60_000:
            raise HttpError(400, "delay_ms must be 0-60000")
        dur = body.get("duration_s")
        if dur is not None and (not isinstance(dur, int | float) or not 0 < dur <= 600):
            raise HttpError(400, "duration_s must be a number in (0, 600], or null")
        ids = body.get("transfer_ids")
        tids = None if ids is None else frozenset(Ledger.id_list(body, "transfer_ids"))
        calls = body.get("calls")
        if calls is not None and (not isinstance(calls, int) or not 0 < calls <= 1000):
            raise HttpError(400, "calls must be 1-1000, or null (every call)")
        until = None if dur is None else time.monotonic() + float(dur)
        return Failure(body["mode"], status, delay, until, tids, calls)


def main() -> None:
    ledger = Ledger()
    asyncio.run(
        run(
            WHO,
            ledger.public,
            ledger.control,
            token=os.environ.get("ASSESS_CONTROL_TOKEN", ""),
            max_connections=MAX_CONNECTIONS,
            idle_timeout_s=IDLE_TIMEOUT_S,
            banner=lambda h, p, c: f"ledger: postings on {h}:{p}, control on {h}:{c}",
        )
    )


if __name__ == "__main__":
    main()
