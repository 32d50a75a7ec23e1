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
import os
from collections import OrderedDict
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

WHO = "inventory"

MAX_HANG_S = 30.0
MAX_SKUS = 20_000
MAX_IDS_PER_SKU = 2_000
MAX_ID_CHARS = 256
MAX_SKU_CHARS = 64

IDLE_TIMEOUT_S = env_float("INVENTORY_IDLE_TIMEOUT_S", 120.0, WHO)
MAX_CONNECTIONS = env_int("INVENTORY_MAX_CONNECTIONS", 1024, WHO)


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
        self._token = Token(self.token)
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
        return self._token.authorizes(header)

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
    await run(
        WHO,
        inv.public,
        inv.control,
        token=inv.token,
        max_connections=MAX_CONNECTIONS,
        idle_timeout_s=IDLE_TIMEOUT_S,
        banner=lambda host, port, control_port: (
            f"inventory: reservations on {host}:{port}, control on {host}:{control_port}, "
            f"delay {inv.delay_ms} ms, out of stock: {inv.oos_prefix}*"
        ),
    )


if __name__ == "__main__":
    asyncio.run(main())
