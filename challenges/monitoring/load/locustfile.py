"""Load profile of the monitoring challenge: orders at a fixed rate, and metrics that must agree.

Users place orders (about one in eight for an out-of-stock SKU, answered 409), read their own
orders back (the body must equal the 201's), and scrape ``/metrics``, whose latency is measured
like any other request. Every scrape is also a consistency check: since the first scrape (the
baseline), ``http_requests_total`` for the order routes and ``orders_created_total`` must have
risen by what the users received, within the brief's 2 % plus the requests in flight (at most
one per user). A disagreement is a failed ``GET /metrics``.

SKUs and request ids have the checks' exact shapes (``CHK-<prefix>-<n>``, ``OOS-<prefix>-<n>``,
``chk-<prefix>-<n>-<hex>``, a 5-letter prefix from a private generator), so the service cannot
tell load from checks by them. In distributed mode (``--load-workers``) each worker sees only
its own traffic, so only the answers are verified there, not the agreement.

Figures from the generator's own observation: the rate and latency (Locust's clock around each
request); errors: a status other than the brief's, an order read back unlike the 201's body the
generator kept, and a ``/metrics`` scrape whose counters disagree with the generator's own
ledger of answers received. Nothing the service reports about itself is taken as a figure: its
metrics are what is checked, against the ledger.

No host and no wait_time: the runner sets the host and paces users to the target rate.
"""

from __future__ import annotations

import itertools
import os
import random
import re
import threading
import uuid
from typing import Any, ClassVar

from locust import task

from graders.load.user import LoadUser

SEED = int(os.environ.get("ASSESS_SEED", "1") or "1")
TOLERANCE = 0.02
ORDER_ROUTES = ("/orders", "/orders/{id}")
# A label value may hold braces ("/orders/{id}"): label blocks are matched quote-aware.
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[^"}]|"(?:[^"\\]|\\.)*")*\})?\s+(\S+)', re.M)
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
METRICS_HEADERS = {"Accept": "text/plain;version=0.0.4"}

# Private: a prefix derived from the seed alone could be computed by the service in advance.
_rng = random.Random(f"monitoring-load-{SEED}-{uuid.uuid4()}")
PREFIX = "".join(_rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ") for _ in range(5))
_seq = itertools.count(1)


def order_totals(text: str) -> tuple[float, float]:
    """(requests on the order routes, orders created) from an exposition."""
    requests = created = 0.0
    for m in SAMPLE.finditer(text):
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        try:
            v = float(value)
        except ValueError:
            continue
        if name == "http_requests_total":
            lb = dict(LABEL.findall(labels))
            if lb.get("route") in ORDER_ROUTES:
                requests += v
        elif name == "orders_created_total" and not labels.strip("{}"):
            created += v
    return requests, created


class Ledger:
    """What the users received (one process), and the baseline scrape it is compared with."""

    lock = threading.Lock()  # gevent-patched: cooperative
    requests = 0  # answers received on the order routes
    created = 0  # 201s of POST /orders
    baseline: ClassVar[tuple[float, float, int, int] | None] = None

    @classmethod
    def received(cls, status: int | None, created: bool = False) -> None:
        if status is None:
            return  # no answer: the service may or may not have counted it
        with cls.lock:
            cls.requests += 1
            cls.created += int(created)


class OrderUser(LoadUser):
    def on_start(self) -> None:
        self.orders: list[dict[str, Any]] = []
        self.distributed = type(self.environment.runner).__name__ == "WorkerRunner"

    def _rid(self) -> str:
        return f"chk-{PREFIX.lower()}-{next(_seq)}-{uuid.uuid4().hex[:8]}"

    @task(6)
    def place_order(self) -> None:
        sku = f"CHK-{PREFIX}-{next(_seq)}"
        qty = _rng.randint(1, 100)
        rid = self._rid()
        with self.client.post(
            "/orders",
            json={"sku": sku, "quantity": qty},
            headers={"X-Request-Id": rid},
            name="POST /orders",
            catch_response=True,
        ) as resp:
            Ledger.received(resp.status_code or None, resp.status_code == 201)
            body = self.json_or_fail(resp, "place order")
            if body is None:
                return
            if resp.status_code != 201:
                resp.failure(f"place order: expected 201, got {resp.status_code}")
                return
            want = {"sku": sku, "quantity": qty, "status": "accepted"}
            if not isinstance(body.get("id"), str) or any(
                body.get(k) != v for k, v in want.items()
            ):
                resp.failure(f"place order: body {str(body)[:200]}")
            elif resp.headers.get("X-Request-Id") != rid:
                resp.failure("place order: X-Request-Id not returned")
            else:
                self.orders.append(body)
                del self.orders[:-50]

    @task(1)
    def out_of_stock(self) -> None:
        with self.client.post(
            "/orders",
            json={"sku": f"OOS-{PREFIX}-{next(_seq)}", "quantity": 1},
            headers={"X-Request-Id": self._rid()},
            name="POST /orders (out of stock)",
            catch_response=True,
        ) as resp:
            Ledger.received(resp.status_code or None)
            if resp.status_code == 409:
                resp.success()
            else:
                resp.failure(f"out of stock: expected 409, got {resp.status_code}")

    @task(3)
    def read_order(self) -> None:
        if not self.orders:
            return self.place_order()
        want = _rng.choice(self.orders)
        with self.client.get(
            f"/orders/{want['id']}", name="GET /orders/{id}", catch_response=True
        ) as resp:
            Ledger.received(resp.status_code or None)
            body = self.json_or_fail(resp, "read order")
            if body is not None and (resp.status_code != 200 or body != want):
                resp.failure(f"read order: {resp.status_code} {str(body)[:200]}")
        return None

    @task(1)
    def scrape(self) -> None:
        with Ledger.lock:
            seen_requests, seen_created = Ledger.requests, Ledger.created
        with self.client.get(
            "/metrics", headers=METRICS_HEADERS, name="GET /metrics", catch_response=True
        ) as resp:
            if resp.status_code != 200 or not resp.text:
                resp.failure(f"scrape: status {resp.status_code}")
                return
            metric_requests, metric_created = order_totals(resp.text)
            with Ledger.lock:
                after_requests, after_created = Ledger.requests, Ledger.created
                if Ledger.baseline is None:
                    Ledger.baseline = (metric_requests, metric_created, seen_requests, seen_created)
                    return
                base = Ledger.baseline
            if self.distributed:
                return
            slack = self.environment.runner.user_count + 2 if self.environment.runner else 50
            for what, got, low, high in (
                (
                    "http_requests_total on /orders and /orders/{id}",
                    metric_requests - base[0],
                    seen_requests - base[2],
                    after_requests - base[2],
                ),
                (
                    "orders_created_total",
                    metric_created - base[1],
                    seen_created - base[3],
                    after_created - base[3],
                ),
            ):
                lo = low * (1 - TOLERANCE) - slack
                hi = high * (1 + TOLERANCE) + slack
                if not lo <= got <= hi:
                    resp.failure(
                        f"metrics disagree with the load: {what} rose by {got:g} while the "
                        f"load received {low}..{high} answers"
                    )
                    return
