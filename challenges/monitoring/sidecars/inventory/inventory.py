#!/usr/bin/env python3
"""The inventory of the ``monitoring`` challenge: the dependency the candidate's service calls.

Python standard library only, one asyncio event loop, HTTP/1.1 keep-alive: it must never be the
bottleneck of a load test. It records what it received (the ``X-Request-Id`` of each
reservation, per SKU), so the checks can tell whether the service passed request ids on.

Public port (``PORT``, default 9090), what the candidate's service talks to:

    GET  /healthz           200 {"status": "ok"}
    POST /reservations      {"sku": str, "quantity": int} -> 201 {"reservation_id", "sku",
                            "quantity"} after the delay (``INVENTORY_DELAY_MS``, default 2, plus
                            the SKU's own delay); SKUs starting with
                            ``INVENTORY_OUT_OF_STOCK_PREFIX`` (default ``OOS-``) -> 409.
                            A bad body -> 400.

While a failure is set, both public endpoints answer its status (``error``) or hold the request
until the failure is cleared (``hang``, at most ``MAX_HANG_S``), then close without an answer.

Control port (``CONTROL_PORT``, default 9091), for the grader. Every endpoint except
``/healthz`` needs ``Authorization: Bearer $ASSESS_CONTROL_TOKEN`` (401 otherwise, and always
401 when the token is not set):

    GET    /healthz
    GET    /control/stats               {"reservations", "healthz", "in_flight", "skus"}
    GET    /control/skus/{sku}          {"sku", "received", "in_flight", "held",
                                         "request_ids": [str|null, ...] (in arrival order)}
    PUT    /control/skus/{sku}          {"delay_ms": int, "hold": bool}: a held SKU's
                                         reservations wait until the hold is cleared
    DELETE /control/skus/{sku}          clear the SKU's settings (releases held requests)
    PUT    /control/failure             {"mode": "error"|"hang", "status": 503}
    DELETE /control/failure             clear it (hung requests then close)
    POST   /control/reset               forget every SKU and the failure

Bounds (the candidate's service is the only client of the public port, and may be hostile):
records for at most ``MAX_SKUS`` SKUs (the oldest are forgotten), ``MAX_IDS_PER_SKU`` request ids
each, ids cut to ``MAX_ID_CHARS``; request heads of ``MAX_HEAD_BYTES``, bodies of
``MAX_BODY_BYTES``, ``MAX_CONNECTIONS`` open connections per port, ``IDLE_TIMEOUT_S`` to deliver a
request; a hold or a hang lasts at most ``MAX_HANG_S``. The control token never appears in a
response, a log line or an error message, and is compared in constant time.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import signal
import sys
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

MAX_HEAD_BYTES = 16 * 1024
MAX_BODY_BYTES = 64 * 1024
MAX_HANG_S = 30.0
MAX_SKUS = 20_000
MAX_IDS_PER_SKU = 2_000
MAX_ID_CHARS = 256
MAX_SKU_CHARS = 64

REASONS = {
    200: "OK",
    204: "No Content",
    304: "Not Modified",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Content Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
REASONS[201] = "Created"
REASONS[409] = "Conflict"


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    try:
        return int(raw) if raw else default
    except ValueError:
        sys.exit(f"inventory: {name} must be an integer, got {raw!r}")


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError:
        sys.exit(f"inventory: {name} must be a number, got {raw!r}")


IDLE_TIMEOUT_S = env_float("INVENTORY_IDLE_TIMEOUT_S", 120.0)
MAX_CONNECTIONS = env_int("INVENTORY_MAX_CONNECTIONS", 1024)


class NoAnswer(Exception):
    """Close the connection without answering (an injected hang)."""


class HttpError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass
class Request:
    method: str
    path: str
    version: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise HttpError(400, f"body is not JSON: {exc}") from None


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str | None = None


def json_reply(status: int, obj: Any, headers: list[tuple[str, str]] | None = None) -> Reply:
    return Reply(status, json.dumps(obj).encode(), headers or [], "application/json")


def problem(status: int, detail: str) -> Reply:
    body = {
        "type": "about:blank",
        "title": REASONS.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    return Reply(status, json.dumps(body).encode(), [], "application/problem+json")


# -- HTTP/1.1 plumbing ------------------------------------------------------------------------


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """One request, or None when the peer closed the connection between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise HttpError(400, "incomplete request head") from None
        return None
    except asyncio.LimitOverrunError:
        raise HttpError(431, "request head too large") from None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise HttpError(400, "malformed request line")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise HttpError(400, "malformed header line")
        key = name.strip().lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise HttpError(400, "chunked request bodies are not supported; send Content-Length")
    try:
        length = int(headers.get("content-length", "0") or "0")
    except ValueError:
        raise HttpError(400, "bad Content-Length") from None
    if length < 0 or length > MAX_BODY_BYTES:
        raise HttpError(413, "request body too large")
    body = await reader.readexactly(length) if length else b""
    path = target.split("?", 1)[0]
    return Request(method, path, version, headers, body)


def encode_reply(reply: Reply, keep_alive: bool) -> bytes:
    lines = [f"HTTP/1.1 {reply.status} {REASONS.get(reply.status, 'Unknown')}"]
    if reply.content_type:
        lines.append(f"Content-Type: {reply.content_type}")
    for name, value in reply.headers:
        lines.append(f"{name}: {value}")
    if reply.status != 304:
        lines.append(f"Content-Length: {len(reply.body)}")
    if not keep_alive:
        lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if reply.status == 304 else head + reply.body


def serve(handler: Any, max_connections: int = 0) -> Any:
    """A connection handler; beyond ``max_connections`` open ones, new ones are closed at once."""
    open_connections = 0

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal open_connections
        if max_connections and open_connections >= max_connections:
            writer.close()
            return
        open_connections += 1
        try:
            while True:
                try:
                    request = await asyncio.wait_for(read_request(reader), IDLE_TIMEOUT_S)
                except HttpError as exc:
                    writer.write(encode_reply(problem(exc.status, exc.detail), False))
                    await writer.drain()
                    return
                if request is None:
                    return
                conn = request.headers.get("connection", "").lower()
                keep_alive = "close" not in conn and (
                    request.version == "HTTP/1.1" or "keep-alive" in conn
                )
                try:
                    reply = await handler(request)
                except HttpError as exc:
                    reply = problem(exc.status, exc.detail)
                except NoAnswer:
                    return
                except Exception as exc:  # a bug here must not kill the connection silently
                    # The type only: a message could quote request data (a token, say).
                    print(
                        f"inventory: internal error: {type(exc).__name__}",
                        file=sys.stderr,
                        flush=True,
                    )
                    reply, keep_alive = problem(500, "internal error"), False
                writer.write(encode_reply(reply, keep_alive))
                await writer.drain()
                if not keep_alive:
                    return
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            open_connections -= 1
            writer.close()

    return on_connection


# -- the inventory ------------------------------------------------------------------------------


@dataclass
class SkuState:
    delay_ms: int = 0
    hold: asyncio.Event | None = None  # set: released
    received: int = 0
    in_flight: int = 0
    held: int = 0
    request_ids: list[str | None] = field(default_factory=list)


class Inventory:
    def __init__(self) -> None:
        self.token = os.environ.get("ASSESS_CONTROL_TOKEN", "")
        self._token_digest = hashlib.sha256(f"Bearer {self.token}".encode()).digest()
        self.delay_ms = env_int("INVENTORY_DELAY_MS", 2)
        self.oos_prefix = os.environ.get("INVENTORY_OUT_OF_STOCK_PREFIX", "OOS-")
        self.reset()

    def reset(self) -> None:
        self.skus: OrderedDict[str, SkuState] = OrderedDict()
        self.failure: dict[str, Any] | None = None
        self.cleared = asyncio.Event()  # set when the current failure is cleared
        self.reservations = 0
        self.healthz = 0
        self.in_flight = 0
        self.counter = 0

    def authorized(self, header: str) -> bool:
        """Constant time: a wrong token of any length costs the same as a right one."""
        got = hashlib.sha256(header.encode("utf-8", "surrogateescape")).digest()
        return hmac.compare_digest(got, self._token_digest) and bool(self.token)

    def sku(self, name: str) -> SkuState:
        st = self.skus.get(name)
        if st is None:
            st = self.skus[name] = SkuState()
            while len(self.skus) > MAX_SKUS:
                old = next(iter(self.skus))
                if old == name:
                    break
                released = self.skus.pop(old).hold
                if released is not None:
                    released.set()
        return st

    async def _fail(self) -> Reply | None:
        """The failure's answer, or None; a hang returns only when cleared (then: no answer)."""
        f = self.failure
        if f is None:
            return None
        if f["mode"] == "error":
            return problem(f["status"], "the inventory is failing (injected)")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.cleared.wait(), MAX_HANG_S)
        raise NoAnswer  # closes the connection without an answer

    async def public(self, req: Request) -> Reply:
        if req.path == "/healthz":
            self.healthz += 1
            return await self._fail() or json_reply(200, {"status": "ok"})
        if req.path != "/reservations":
            return problem(404, "no route for this path")
        if req.method != "POST":
            return Reply(405, b"", [("Allow", "POST")])
        self.reservations += 1
        self.in_flight += 1
        try:
            return await self._reserve(req)
        finally:
            self.in_flight -= 1

    async def _reserve(self, req: Request) -> Reply:
        body = req.json()
        sku_name = body.get("sku") if isinstance(body, dict) else None
        quantity = body.get("quantity") if isinstance(body, dict) else None
        if not isinstance(sku_name, str) or not 0 < len(sku_name) <= MAX_SKU_CHARS:
            return problem(400, "sku must be a string of 1-64 characters")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            return problem(400, "quantity must be a positive integer")
        st = self.sku(sku_name)
        st.received += 1
        if len(st.request_ids) < MAX_IDS_PER_SKU:
            rid = req.headers.get("x-request-id")
            st.request_ids.append(rid[:MAX_ID_CHARS] if rid is not None else None)
        st.in_flight += 1
        try:
            failed = await self._fail()
            if failed is not None:
                return failed
            if st.hold is not None and not st.hold.is_set():
                st.held += 1
                try:
                    await asyncio.wait_for(st.hold.wait(), MAX_HANG_S)
                except TimeoutError:
                    pass
                finally:
                    st.held -= 1
            delay = (self.delay_ms + st.delay_ms) / 1000
            if delay > 0:
                await asyncio.sleep(delay)
            if sku_name.startswith(self.oos_prefix):
                return json_reply(409, {"error": "out_of_stock", "sku": sku_name})
            self.counter += 1
            return json_reply(
                201,
                {"reservation_id": f"r-{self.counter}", "sku": sku_name, "quantity": quantity},
            )
        finally:
            st.in_flight -= 1

    async def control(self, req: Request) -> Reply:
        if req.path == "/healthz":
            return json_reply(200, {"status": "ok"})
        if not self.authorized(req.headers.get("authorization", "")):
            return Reply(
                401,
                b'{"title": "Unauthorized", "status": 401}',
                [("WWW-Authenticate", "Bearer")],
                "application/problem+json",
            )
        parts = [p for p in req.path.split("/") if p]
        if len(parts) < 2 or parts[0] != "control":
            return problem(404, f"no route for {req.path}")
        route, rest, m = parts[1], parts[2:], req.method
        if route == "stats" and m == "GET" and not rest:
            return json_reply(
                200,
                {
                    "reservations": self.reservations,
                    "healthz": self.healthz,
                    "in_flight": self.in_flight,
                    "skus": len(self.skus),
                    "failure": self.failure,
                },
            )
        if route == "reset" and m == "POST" and not rest:
            self.cleared.set()
            for st in self.skus.values():
                if st.hold is not None:
                    st.hold.set()
            self.reset()
            return Reply(204)
        if route == "skus" and len(rest) == 1 and 0 < len(rest[0]) <= MAX_SKU_CHARS:
            name = rest[0]
            if m == "GET":
                st = self.skus.get(name) or SkuState()
                return json_reply(
                    200,
                    {
                        "sku": name,
                        "received": st.received,
                        "in_flight": st.in_flight,
                        "held": st.held,
                        "request_ids": st.request_ids,
                    },
                )
            if m == "PUT":
                body = req.json()
                if not isinstance(body, dict):
                    raise HttpError(400, "expected a JSON object")
                st = self.sku(name)
                if "delay_ms" in body:
                    st.delay_ms = non_negative_int(body["delay_ms"], "delay_ms")
                if body.get("hold"):
                    if st.hold is None or st.hold.is_set():
                        st.hold = asyncio.Event()
                elif "hold" in body and st.hold is not None:
                    st.hold.set()
                return json_reply(200, {"sku": name, "delay_ms": st.delay_ms})
            if m == "DELETE":
                st = self.skus.get(name)
                if st is not None:
                    st.delay_ms = 0
                    if st.hold is not None:
                        st.hold.set()
                return Reply(204)
        if route == "failure" and not rest:
            if m == "PUT":
                body = req.json()
                mode = body.get("mode") if isinstance(body, dict) else None
                status = body.get("status", 503) if isinstance(body, dict) else 503
                if mode not in ("error", "hang"):
                    raise HttpError(400, 'mode must be "error" or "hang"')
                if isinstance(status, bool) or not isinstance(status, int):
                    raise HttpError(400, "status must be an integer")
                if not 500 <= status <= 599:
                    raise HttpError(400, "status must be a 5xx")
                self.cleared.set()
                self.cleared = asyncio.Event()
                self.failure = {"mode": mode, "status": status}
                return json_reply(200, {"failure": self.failure})
            if m == "DELETE":
                self.failure = None
                self.cleared.set()
                return Reply(204)
            if m == "GET":
                return json_reply(200, {"failure": self.failure})
        return problem(404, f"no route for {m} {req.path}")


def non_negative_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 60_000:
        raise HttpError(400, f"{name} must be an integer from 0 to 60000")
    return value


async def main() -> None:
    inv = Inventory()
    host = os.environ.get("HOST", "0.0.0.0")
    port = env_int("PORT", 9090)
    control_port = env_int("CONTROL_PORT", 9091)
    if not inv.token:
        print(
            "inventory: ASSESS_CONTROL_TOKEN is not set; control endpoints will answer 401",
            file=sys.stderr,
        )
    public = await asyncio.start_server(
        serve(inv.public, MAX_CONNECTIONS), host, port, limit=MAX_HEAD_BYTES, backlog=1024
    )
    control = await asyncio.start_server(
        serve(inv.control, 64), host, control_port, limit=MAX_HEAD_BYTES
    )
    print(
        f"inventory: reservations on {host}:{port}, control on {host}:{control_port}, "
        f"delay {inv.delay_ms} ms, out of stock: {inv.oos_prefix}*",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with public, control:
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
