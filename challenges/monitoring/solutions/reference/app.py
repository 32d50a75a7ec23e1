#!/usr/bin/env python3
"""Reference solution of the ``monitoring`` challenge: aiohttp and the official prometheus_client.

One middleware observes every request: request id, in-flight gauge, counter and histogram by
route template, one JSON log line. The behaviours a flawed variant may want to change are
methods of :class:`Observer` and :class:`OrderService`:

    Observer.route_label()      the route label (the template; "unmatched")
    Observer.record()           counter + histogram for an answered request
    Observer.log()              the request's log line
    Observer.request_id()       honour or generate the id
    OrderService.inventory_headers()   what goes to the inventory with a reservation
    OrderService.ready()        /readyz's answer
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import prometheus_client
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

prometheus_client.disable_created_metrics()

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SKU = re.compile(r"[A-Z0-9-]{1,32}")
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
PROBE_INTERVAL_S = 0.5
PROBE_TIMEOUT_S = 1.0
MAX_BODY_BYTES = 64 * 1024
ALERTS = Path(__file__).resolve().parent / "alerts.yml"

REQUESTS = Counter("http_requests_total", "HTTP requests answered.", ["method", "route", "status"])
DURATION = Histogram(
    "http_request_duration_seconds",
    "Time from receiving an HTTP request to its response.",
    ["method", "route", "status"],
    buckets=BUCKETS,
)
IN_FLIGHT = Gauge("http_requests_in_flight", "HTTP requests received and not yet answered.")
INVENTORY = Counter("inventory_requests_total", "Inventory calls made for orders.", ["outcome"])
INVENTORY_DURATION = Histogram(
    "inventory_request_duration_seconds",
    "Duration of inventory calls.",
    ["outcome"],
    buckets=BUCKETS,
)
ORDERS = Counter("orders_created_total", "Orders accepted.")


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Observer:
    """Metrics and logs for every request (the middleware)."""

    def route_label(self, request: web.Request) -> str:
        route = request.match_info.route
        resource = route.resource if route is not None else None
        if resource is None or request.match_info.http_exception is not None:
            return "unmatched"
        return resource.canonical

    def request_id(self, request: web.Request) -> str:
        given = request.headers.get("X-Request-Id", "")
        return given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        REQUESTS.labels(method, route, str(status)).inc()
        DURATION.labels(method, route, str(status)).observe(seconds)

    def log(self, request: web.Request, route: str, status: int, seconds: float, rid: str) -> None:
        line = {
            "time": now_rfc3339(),
            "level": "error" if status >= 500 else "info",
            "msg": "request",
            "method": request.method,
            "path": request.path,
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
            "request_id": rid,
        }
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        start = time.perf_counter()
        rid = self.request_id(request)
        request["request_id"] = rid
        IN_FLIGHT.inc()
        try:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                response = problem(exc.status, exc.reason)
            except Exception as exc:  # a bug must still be answered, counted and logged
                print(f"internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
                response = problem(500, "internal error")
        finally:
            IN_FLIGHT.dec()
        seconds = time.perf_counter() - start
        route = self.route_label(request)
        self.record(request.method.upper(), route, response.status, seconds)
        self.log(request, route, response.status, seconds, rid)
        response.headers["X-Request-Id"] = rid
        return response


def problem(status: int, detail: str) -> web.Response:
    return web.json_response({"error": detail, "status": status}, status=status)


class OrderService:
    def __init__(self) -> None:
        self.inventory_url = os.environ.get("INVENTORY_URL", "http://127.0.0.1:9090").rstrip("/")
        self.timeout_s = float(os.environ.get("INVENTORY_TIMEOUT_S", "2"))
        self.orders: dict[str, dict[str, Any]] = {}
        self.inventory_ok = False
        self.session: aiohttp.ClientSession | None = None
        self.prober: asyncio.Task[None] | None = None

    # -- lifecycle
    async def start(self, app: web.Application) -> None:
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=200, keepalive_timeout=30)
        )
        self.prober = asyncio.create_task(self.probe_forever())

    async def stop(self, app: web.Application) -> None:
        if self.prober is not None:
            self.prober.cancel()
        if self.session is not None:
            await self.session.close()

    async def probe_forever(self) -> None:
        timeout = aiohttp.ClientTimeout(total=PROBE_TIMEOUT_S)
        while True:
            assert self.session is not None
            try:
                async with self.session.get(f"{self.inventory_url}/healthz", timeout=timeout) as r:
                    await r.read()
                    self.inventory_ok = r.status == 200
            except (aiohttp.ClientError, TimeoutError):
                self.inventory_ok = False
            await asyncio.sleep(PROBE_INTERVAL_S)

    def ready(self) -> bool:
        return self.inventory_ok

    def inventory_headers(self, request: web.Request) -> dict[str, str]:
        return {"X-Request-Id": request["request_id"]}

    # -- handlers
    async def create_order(self, request: web.Request) -> web.Response:
        raw = await request.content.read(MAX_BODY_BYTES + 1)
        try:
            body = json.loads(raw)
        except ValueError:
            return problem(400, "the body is not JSON")
        if not isinstance(body, dict):
            return problem(400, "the body must be a JSON object")
        sku, quantity = body.get("sku"), body.get("quantity")
        if not isinstance(sku, str) or not SKU.fullmatch(sku):
            return problem(400, "sku must be 1-32 characters from A-Z, 0-9 and -")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= 100:
            return problem(400, "quantity must be an integer from 1 to 100")
        status = await self.reserve(request, sku, quantity)
        if status == 201:
            order = {"id": uuid.uuid4().hex, "sku": sku, "quantity": quantity, "status": "accepted"}
            self.orders[order["id"]] = order
            ORDERS.inc()
            return web.json_response(order, status=201)
        if status == 409:
            return problem(409, "out of stock")
        return problem(503, "the inventory is unavailable")

    async def reserve(self, request: web.Request, sku: str, quantity: int) -> int | None:
        """The inventory's status, or None when the call failed; counted and timed."""
        assert self.session is not None
        start = time.perf_counter()
        status: int | None = None
        try:
            async with self.session.post(
                f"{self.inventory_url}/reservations",
                json={"sku": sku, "quantity": quantity},
                headers=self.inventory_headers(request),
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            ) as r:
                await r.read()
                status = r.status
        except (aiohttp.ClientError, TimeoutError):
            status = None
        outcome = "ok" if status in (201, 409) else "error"
        INVENTORY.labels(outcome).inc()
        INVENTORY_DURATION.labels(outcome).observe(time.perf_counter() - start)
        return status

    async def get_order(self, request: web.Request) -> web.Response:
        order = self.orders.get(request.match_info["id"])
        if order is None:
            return problem(404, "no such order")
        return web.json_response(order)

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        if self.ready():
            return web.json_response({"status": "ready"})
        return web.json_response({"status": "inventory unavailable"}, status=503)

    async def metrics(self, request: web.Request) -> web.Response:
        resp = web.Response(body=generate_latest())
        resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return resp

    async def alerts(self, request: web.Request) -> web.Response:
        return web.Response(body=ALERTS.read_bytes(), content_type="application/yaml")


def make_app(
    service: OrderService | None = None, observer: Observer | None = None
) -> web.Application:
    service = service or OrderService()
    observer = observer or Observer()
    app = web.Application(middlewares=[observer.middleware], client_max_size=MAX_BODY_BYTES)
    app.router.add_post("/orders", service.create_order)
    app.router.add_get("/orders/{id}", service.get_order, allow_head=False)
    app.router.add_get("/healthz", service.healthz, allow_head=False)
    app.router.add_get("/readyz", service.readyz, allow_head=False)
    app.router.add_get("/metrics", service.metrics, allow_head=False)
    app.router.add_get("/alerts.yml", service.alerts, allow_head=False)
    app.on_startup.append(service.start)
    app.on_cleanup.append(service.stop)
    return app


def main(service: OrderService | None = None, observer: Observer | None = None) -> None:
    port = int(os.environ.get("PORT", "8080"))
    web.run_app(make_app(service, observer), port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
