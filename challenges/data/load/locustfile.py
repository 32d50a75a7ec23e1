"""Load profile of the data challenge: Zipf-distributed reads plus orders, every write read back.

Per request type (the report's rows): product pages by category (categories Zipf-weighted,
s = 1.1, in a per-run order seeded by ASSESS_SEED; sorts id, price, -price; one in three follows
``next``), product reads (Zipf over a hot set of 2,000 ids), a customer's order history, and
orders. Each user creates its own product (a large stock) when it starts and orders one unit of
it at a time; the order is read back from the customer's history, which must show it first.
Answers are verified for what the brief guarantees (category and sort order of a page, the id
read, the customer and order of a history), so a service answering from a fake store fails.

No host and no wait_time: the runner sets the host and paces users to the target rate.
"""

from __future__ import annotations

import bisect
import itertools
import os
import random
import uuid
from typing import Any

from locust import task

from graders.load.user import LoadUser

SEED = int(os.environ.get("ASSESS_SEED", "1") or "1")
CATEGORIES = [
    "books", "garden", "kitchen", "toys", "tools", "audio", "office", "sports",
    "outdoor", "pets", "beauty", "games", "music", "video", "lighting", "storage",
]  # fmt: skip
SORTS = ("id", "price", "-price")
HOT_PRODUCTS = 2_000
CUSTOMERS = 20_000
ZIPF_S = 1.1

_rng = random.Random(f"data-load-{SEED}")
_CATS = _rng.sample(CATEGORIES, len(CATEGORIES))
_CAT_CUM = list(itertools.accumulate(1.0 / (r**ZIPF_S) for r in range(1, len(_CATS) + 1)))
_HOT = _rng.sample(range(1, 100_001), HOT_PRODUCTS)
_HOT_CUM = list(itertools.accumulate(1.0 / (r**ZIPF_S) for r in range(1, HOT_PRODUCTS + 1)))
_users = itertools.count()


def zipf(rng: random.Random, items: list[Any], cumulative: list[float]) -> Any:
    return items[bisect.bisect_left(cumulative, rng.random() * cumulative[-1])]


def in_order(items: list[dict[str, Any]], sort: str) -> bool:
    keys = [
        (p.get("price_cents", 0), p.get("id", 0)) if sort != "id" else (p.get("id", 0),)
        for p in items
    ]
    return keys == sorted(keys, reverse=sort == "-price")


class OrdersUser(LoadUser):
    def on_start(self) -> None:
        n = next(_users)
        self.rng = random.Random(f"data-load-{SEED}-{n}")
        self.product_id: int | None = None
        body = {
            "sku": f"load-{SEED}-{n}-{uuid.uuid4().hex[:8]}",
            "name": f"load product {n}",
            "category": "load",
            "price_cents": 500,
            "stock": 1_000_000,
        }
        with self.client.post(
            "/products", json=body, name="POST /products", catch_response=True
        ) as resp:
            created = self.json_or_fail(resp, "create product")
            if isinstance(created, dict) and resp.status_code == 201:
                self.product_id = created.get("id")
            elif resp.status_code != 201:
                resp.failure(f"create product: expected 201, got {resp.status_code}")

    @task(5)
    def search(self) -> None:
        cat = zipf(self.rng, _CATS, _CAT_CUM)
        sort = self.rng.choice(SORTS)
        params = f"category={cat}&sort={sort}&limit=20"
        with self.client.get(
            f"/products?{params}", name="GET /products", catch_response=True
        ) as resp:
            page = self.json_or_fail(resp, "search")
            if not isinstance(page, dict):
                return
            items = page.get("items") or []
            if (
                resp.status_code != 200
                or any(p.get("category") != cat for p in items)
                or not in_order(items, sort)
            ):
                resp.failure(
                    f"search: status {resp.status_code}, items not all {cat} in {sort} order"
                )
                return
            nxt = page.get("next")
        if nxt and self.rng.random() < 1 / 3:
            with self.client.get(
                f"/products?{params}&after={nxt}",
                name="GET /products (next page)",
                catch_response=True,
            ) as resp:
                more = self.json_or_fail(resp, "next page")
                if isinstance(more, dict):
                    got = more.get("items") or []
                    seen = {p.get("id") for p in items}
                    if any(p.get("id") in seen or p.get("category") != cat for p in got):
                        resp.failure("next page: repeats the first page or leaves the category")

    @task(3)
    def product(self) -> None:
        pid = zipf(self.rng, _HOT, _HOT_CUM)
        with self.client.get(
            f"/products/{pid}", name="GET /products/:id", catch_response=True
        ) as resp:
            p = self.json_or_fail(resp, "product")
            if isinstance(p, dict) and p.get("id") != pid:
                resp.failure(f"product: asked for {pid}, got {p.get('id')}")

    @task(2)
    def history(self) -> None:
        cid = self.rng.randrange(1, CUSTOMERS + 1)
        with self.client.get(
            f"/customers/{cid}/orders?limit=10",
            name="GET /customers/:id/orders",
            catch_response=True,
        ) as resp:
            body = self.json_or_fail(resp, "history")
            if isinstance(body, dict) and any(
                o.get("customer_id") != cid for o in body.get("orders") or []
            ):
                resp.failure("history: an order of another customer")

    @task(1)
    def place_order(self) -> None:
        if self.product_id is None:
            return
        cid = self.rng.randrange(1, CUSTOMERS + 1)
        body = {"customer_id": cid, "items": [{"product_id": self.product_id, "quantity": 1}]}
        with self.client.post(
            "/orders",
            json=body,
            headers={"Idempotency-Key": str(uuid.uuid4())},
            name="POST /orders",
            catch_response=True,
        ) as resp:
            placed = self.json_or_fail(resp, "order")
            if not isinstance(placed, dict):
                return
            if resp.status_code != 201:
                resp.failure(f"order: expected 201, got {resp.status_code}")
                return
        with self.client.get(
            f"/customers/{cid}/orders?limit=1",
            name="GET /customers/:id/orders (read back)",
            catch_response=True,
        ) as resp:
            back = self.json_or_fail(resp, "read back")
            orders = back.get("orders") if isinstance(back, dict) else None
            if isinstance(back, dict) and (not orders or orders[0].get("id") != placed.get("id")):
                resp.failure(
                    f"read back: order {placed.get('id')} is not the newest of customer {cid}"
                )
