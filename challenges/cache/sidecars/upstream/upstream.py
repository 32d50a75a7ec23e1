#!/usr/bin/env python3
"""The slow upstream of the ``cache`` challenge: a synthetic product catalogue.

Python standard library only, one asyncio event loop, HTTP/1.1 keep-alive, no thread per
request: it must never be the bottleneck of a load test.

Public port (``PORT``, default 9090), what the candidate's cache talks to:

    GET /healthz            200 {"status": "ok"}
    GET /products/{id}      200 {"id", "name", "price", "version"} after the delay (default
                            ``UPSTREAM_DELAY_MS`` = 100 ms), with ``Cache-Control: max-age=N``
                            (default ``UPSTREAM_MAX_AGE_S`` = 60) and an ``ETag``.
                            ``If-None-Match`` with the current ETag -> 304, no body.
                            Ids outside 1..``UPSTREAM_CATALOGUE_SIZE`` (default 100000), or
                            marked missing -> 404 application/problem+json.

Control port (``CONTROL_PORT``, default 9091), for the grader. Every endpoint except
``/healthz`` needs ``Authorization: Bearer $ASSESS_CONTROL_TOKEN`` (401 otherwise, and always
401 when the token is not set):

    GET    /healthz
    GET    /control/stats                 totals over all keys
    GET    /control/stats/{key}           {"key", "total", "conditional", "not_modified",
                                           "ok", "not_found", "errors", "hung", "in_flight"}
    POST   /control/reset                 zero the counters; {"state": true} also restores
                                           products, failure and config to their defaults
    GET    /control/products/{id}         the product as served now, its overrides
    PATCH  /control/products/{id}         {"max_age_s": int|null, "delay_ms": int|null,
                                           "missing": bool, "bump": bool}
    POST   /control/products/{id}/bump    new version -> new ETag (and a new price)
    GET    /control/failure
    PUT    /control/failure               {"mode": "error"|"hang", "status": 503,
                                           "duration_s": float|null (null: until cleared),
                                           "ids": [int]|null (null: every product)}
    DELETE /control/failure               clear it
    GET    /control/config
    PATCH  /control/config                {"delay_ms": int, "max_age_s": int}

Ids are canonical decimal integers: ``1``-``{MAX_ID_DIGITS}`` ASCII digits, no leading zero,
sign or space. Anything else (``061275``, ``+5``, ``0``, ``1e3``, a 40-digit number) is a 404
that no counter sees: a request for ``/products/061275`` can never be served as product 61275
while being counted apart. Counters are keyed by the parsed id and count a request when it
arrives.

Bounds (the candidate's service is the only client of the public port, and may be hostile):
per-key counters for at most ``UPSTREAM_MAX_KEYS`` ids (later ids still count in the totals;
their own counters answer 503, so a check reading them fails rather than reading a 0), request
heads of ``MAX_HEAD_BYTES``, bodies of ``MAX_BODY_BYTES``, ``UPSTREAM_MAX_CONNECTIONS`` open
connections per port, ``UPSTREAM_IDLE_TIMEOUT_S`` to deliver a request. The control token never
appears in a response, a log line or an error message, and is compared in constant time.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from typing import Any

from graders.sidecar import (
    HttpError,
    Reply,
    Request,
    Token,
    env_float,
    env_int,
    json_reply,
    problem,
    run,
)

WHO = "upstream"

MAX_HANG_S = 120.0
MAX_ID_DIGITS = 12

ADJECTIVES = (
    "Quiet",
    "Sturdy",
    "Bright",
    "Compact",
    "Classic",
    "Swift",
    "Gentle",
    "Bold",
    "Modern",
    "Rustic",
    "Nimble",
    "Solid",
    "Polished",
    "Vivid",
    "Humble",
    "Grand",
)
NOUNS = (
    "Kettle",
    "Lamp",
    "Chair",
    "Backpack",
    "Notebook",
    "Headphones",
    "Mug",
    "Blanket",
    "Toaster",
    "Umbrella",
    "Bicycle",
    "Clock",
    "Pillow",
    "Skillet",
    "Speaker",
    "Desk",
)


IDLE_TIMEOUT_S = env_float("UPSTREAM_IDLE_TIMEOUT_S", 120.0, WHO)
MAX_CONNECTIONS = env_int("UPSTREAM_MAX_CONNECTIONS", 1024, WHO)
MAX_KEYS = env_int("UPSTREAM_MAX_KEYS", 50_000, WHO)


def canonical_id(raw: str) -> int | None:
    """The id a path segment names, or None unless it is written canonically."""
    if not (0 < len(raw) <= MAX_ID_DIGITS and raw.isascii() and raw.isdigit()):
        return None
    if raw[0] == "0":
        return None  # leading zeros, and 0 itself: not a positive integer's canonical form
    return int(raw)


# -- the catalogue ------------------------------------------------------------------------------


@dataclass
class Overrides:
    version: int = 1
    max_age_s: int | None = None
    delay_ms: int | None = None
    missing: bool = False


@dataclass
class Failure:
    mode: str  # "error" or "hang"
    status: int
    until: float | None  # monotonic deadline; None: until cleared
    ids: frozenset[int] | None
    generation: int

    def active(self, now: float) -> bool:
        return self.until is None or now < self.until

    def applies(self, pid: int | None, now: float) -> bool:
        return self.active(now) and (self.ids is None or (pid is not None and pid in self.ids))

    def describe(self, now: float) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "status": self.status,
            "remaining_s": None if self.until is None else round(max(0.0, self.until - now), 3),
            "ids": None if self.ids is None else sorted(self.ids),
        }


COUNTERS = (
    "total",
    "conditional",
    "not_modified",
    "ok",
    "not_found",
    "errors",
    "hung",
    "in_flight",
)


class Upstream:
    def __init__(self) -> None:
        self.catalogue_size = env_int("UPSTREAM_CATALOGUE_SIZE", 100_000)
        self.default_delay_ms = env_int("UPSTREAM_DELAY_MS", 100)
        self.default_max_age_s = env_int("UPSTREAM_MAX_AGE_S", 60)
        self.token = os.environ.get("ASSESS_CONTROL_TOKEN", "")
        # Compared as digests, so neither the content nor the length leaks through timing.
        self._token = Token(self.token)
        self.max_keys = MAX_KEYS
        self.reset_state()
        self.reset_counters()

    def reset_state(self) -> None:
        self.delay_ms = self.default_delay_ms
        self.max_age_s = self.default_max_age_s
        self.products: dict[int, Overrides] = {}
        self.failure: Failure | None = None
        self.failure_generation = 0

    def reset_counters(self) -> None:
        self.stats: dict[int, dict[str, int]] = {}
        self.totals = dict.fromkeys(COUNTERS, 0)
        self.untracked = 0  # requests for ids beyond the per-key table

    def authorized(self, header: str) -> bool:
        return self._token.authorizes(header)

    # -- products
    def parse_id(self, raw: str) -> int | None:
        return canonical_id(raw)

    def exists(self, pid: int | None) -> bool:
        if pid is None or not 1 <= pid <= self.catalogue_size:
            return False
        o = self.products.get(pid)
        return not (o and o.missing)

    def product(self, pid: int) -> tuple[dict[str, Any], str, int]:
        o = self.products.get(pid) or Overrides()
        name = f"{ADJECTIVES[pid % 16]} {NOUNS[(pid // 16) % 16]} {pid}"
        cents = (pid * 7919 + o.version * 104729) % 99_000 + 1_000
        body = {"id": pid, "name": name, "price": cents / 100, "version": o.version}
        etag = f'"{pid:x}-{o.version}"'
        max_age = o.max_age_s if o.max_age_s is not None else self.max_age_s
        return body, etag, max_age

    def delay_for(self, pid: int | None) -> float:
        o = self.products.get(pid) if pid is not None else None
        ms = o.delay_ms if o and o.delay_ms is not None else self.delay_ms
        return max(0, ms) / 1000.0

    def active_failure(self, pid: int | None) -> Failure | None:
        f = self.failure
        now = time.monotonic()
        if f is None:
            return None
        if not f.active(now):
            self.failure = None
            return None
        return f if f.applies(pid, now) else None

    def counters(self, pid: int) -> dict[str, int] | None:
        """The per-key counters of ``pid``, or None once the table is full (state is bounded)."""
        st = self.stats.get(pid)
        if st is None:
            if len(self.stats) >= self.max_keys:
                return None
            st = self.stats[pid] = dict.fromkeys(COUNTERS, 0)
        return st

    def count(self, st: dict[str, int] | None, what: str, n: int = 1) -> None:
        self.totals[what] += n
        if st is not None:
            st[what] += n

    # -- public port
    async def public(self, req: Request) -> Reply:
        if req.path == "/healthz":
            return json_reply(200, {"status": "ok"})
        if not req.path.startswith("/products/") or req.path.count("/") != 2:
            return problem(404, "no route for this path")
        if req.method != "GET":
            return Reply(405, b"", [("Allow", "GET")])
        raw = req.path[len("/products/") :]
        pid = self.parse_id(raw)
        if pid is None:  # not an id at all: nothing to count, no product to serve
            return problem(404, "not a product id (ids are positive integers, no leading zeros)")
        st = self.counters(pid)
        if st is None:
            self.untracked += 1
        self.count(st, "total")
        inm = req.headers.get("if-none-match")
        if inm is not None:
            self.count(st, "conditional")
        self.count(st, "in_flight")
        try:
            return await self._product(pid, inm, st)
        finally:
            self.count(st, "in_flight", -1)

    async def _product(self, pid: int, inm: str | None, st: dict[str, int] | None) -> Reply:
        failure = self.active_failure(pid)
        if failure is not None and failure.mode == "hang":
            self.count(st, "hung")
            deadline = time.monotonic() + MAX_HANG_S
            while time.monotonic() < deadline and self.active_failure(pid) is failure:
                await asyncio.sleep(0.05)
            failure = None
        delay = self.delay_for(pid)
        if delay:
            await asyncio.sleep(delay)
        if failure is not None:
            self.count(st, "errors")
            return problem(failure.status, "the upstream is failing (injected)")
        if not self.exists(pid):
            self.count(st, "not_found")
            return problem(404, f"no product with id {pid}")
        body, etag, max_age = self.product(pid)
        headers = [("ETag", etag), ("Cache-Control", f"max-age={max_age}")]
        if inm is not None and etag_matches(inm, etag):
            self.count(st, "not_modified")
            return Reply(304, b"", headers)
        self.count(st, "ok")
        return json_reply(200, body, headers)

    # -- control port
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
        now = time.monotonic()
        if route == "stats" and m == "GET" and not rest:
            return json_reply(
                200, {**self.totals, "keys": len(self.stats), "untracked": self.untracked}
            )
        if route == "stats" and m == "GET" and len(rest) == 1:
            pid = self.parse_id(rest[0])
            if pid is None:
                return problem(400, "product ids are positive integers written canonically")
            st = self.stats.get(pid)
            if st is None and len(self.stats) >= self.max_keys:
                return problem(
                    503, f"per-key counters are full ({self.max_keys} ids); {pid} was not tracked"
                )
            return json_reply(200, {"key": str(pid), **(st or dict.fromkeys(COUNTERS, 0))})
        if route == "reset" and m == "POST" and not rest:
            body = req.json()
            if isinstance(body, dict) and body.get("state"):
                self.reset_state()
            self.reset_counters()
            return Reply(204)
        if route == "products" and rest:
            pid = self.parse_id(rest[0])
            if pid is None or pid < 1:
                return problem(400, "product ids are positive integers")
            if m == "POST" and rest[1:] == ["bump"]:
                self.products.setdefault(pid, Overrides()).version += 1
                return json_reply(200, self.describe_product(pid))
            if len(rest) == 1 and m == "GET":
                return json_reply(200, self.describe_product(pid))
            if len(rest) == 1 and m == "PATCH":
                return json_reply(200, self.patch_product(pid, req.json()))
        if route == "failure" and not rest:
            if m == "GET":
                f = self.failure if self.failure and self.failure.active(now) else None
                return json_reply(200, {"failure": f.describe(now) if f else None})
            if m == "DELETE":
                self.failure = None
                return Reply(204)
            if m == "PUT":
                self.failure = self.parse_failure(req.json(), now)
                return json_reply(200, {"failure": self.failure.describe(now)})
        if route == "config" and not rest:
            if m == "PATCH":
                body = req.json()
                if not isinstance(body, dict):
                    raise HttpError(400, "expected a JSON object")
                if "delay_ms" in body:
                    self.delay_ms = non_negative_int(body["delay_ms"], "delay_ms")
                if "max_age_s" in body:
                    self.max_age_s = non_negative_int(body["max_age_s"], "max_age_s")
            if m in ("GET", "PATCH"):
                return json_reply(
                    200,
                    {
                        "delay_ms": self.delay_ms,
                        "max_age_s": self.max_age_s,
                        "catalogue_size": self.catalogue_size,
                    },
                )
        return problem(404, f"no route for {m} {req.path}")

    def describe_product(self, pid: int) -> dict[str, Any]:
        o = self.products.get(pid) or Overrides()
        out: dict[str, Any] = {
            "id": pid,
            "exists": self.exists(pid),
            "missing": o.missing,
            "max_age_s_override": o.max_age_s,
            "delay_ms_override": o.delay_ms,
        }
        if 1 <= pid <= self.catalogue_size:
            body, etag, max_age = self.product(pid)
            out.update(product=body, etag=etag, max_age_s=max_age)
        return out

    def patch_product(self, pid: int, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise HttpError(400, "expected a JSON object")
        o = self.products.setdefault(pid, Overrides())
        if "max_age_s" in body:
            v = body["max_age_s"]
            o.max_age_s = None if v is None else non_negative_int(v, "max_age_s")
        if "delay_ms" in body:
            v = body["delay_ms"]
            o.delay_ms = None if v is None else non_negative_int(v, "delay_ms")
        if "missing" in body:
            o.missing = bool(body["missing"])
        if body.get("bump"):
            o.version += 1
        return self.describe_product(pid)

    def parse_failure(self, body: Any, now: float) -> Failure:
        if not isinstance(body, dict) or body.get("mode") not in ("error", "hang"):
            raise HttpError(400, 'expected {"mode": "error" | "hang", ...}')
        status = body.get("status", 503)
        if not isinstance(status, int) or not 500 <= status <= 599:
            raise HttpError(400, "status must be a 5xx integer")
        duration = body.get("duration_s")
        if duration is not None and (not isinstance(duration, (int, float)) or duration <= 0):
            raise HttpError(400, "duration_s must be a positive number or null")
        ids = body.get("ids")
        if ids is not None and (
            not isinstance(ids, list) or not all(isinstance(i, int) for i in ids)
        ):
            raise HttpError(400, "ids must be a list of integers or null")
        self.failure_generation += 1
        return Failure(
            body["mode"],
            status,
            None if duration is None else now + duration,
            None if ids is None else frozenset(ids),
            self.failure_generation,
        )


def non_negative_int(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise HttpError(400, f"{name} must be a non-negative integer")
    return value


def etag_matches(header: str, etag: str) -> bool:
    if header.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == bare for tag in header.split(","))


async def main() -> None:
    up = Upstream()
    await run(
        WHO,
        up.public,
        up.control,
        token=up.token,
        max_connections=MAX_CONNECTIONS,
        idle_timeout_s=IDLE_TIMEOUT_S,
        banner=lambda host, port, control_port: (
            f"upstream: products on {host}:{port}, control on {host}:{control_port}, "
            f"delay {up.delay_ms} ms, max-age {up.max_age_s} s, catalogue {up.catalogue_size}"
        ),
    )


if __name__ == "__main__":
    asyncio.run(main())
