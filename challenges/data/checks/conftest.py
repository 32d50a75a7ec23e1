"""Helpers for the data checks: the database's own view, through the db sidecar's control port.

The truth is computed by the grader's SQL (a read-only role only the grader can use) on the same
database; what the service sent is read from ``pg_stat_statements`` for the candidate's role:
:func:`measured` takes the figures before and after a block of requests. A measurement during
which pg_stat_statements evicted entries (``dealloc`` changed) is void: the check fails closed
saying so, never guessing.

Checks create their own products (unique skus from the run's seed) when they write, so they are
independent of each other and of their order; reads use the loaded catalogue.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from graders import Client, Response, expect, fail

BLOCKS_PER_REQUEST = 300
CATEGORIES = [
    "books", "garden", "kitchen", "toys", "tools", "audio", "office", "sports",
    "outdoor", "pets", "beauty", "games", "music", "video", "lighting", "storage",
]  # fmt: skip
PRODUCT_KEYS = {"id", "sku", "name", "category", "price_cents", "stock", "version"}


class Db:
    """The db sidecar's control API (already authorised)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def query(self, sql: str) -> list[dict[str, Any]]:
        r = self.client.post("/control/query", json={"sql": sql}, timeout_s=75)
        if r.status == 409:  # the platform's tables no longer read as the brief states
            fail(f"the grader cannot read the truth: {r.json().get('detail', '')}")
        if r.status != 200:
            raise RuntimeError(f"grader query failed: {r.describe()}")
        return list(r.json()["rows"])

    def one(self, sql: str) -> Any:
        rows = self.query(sql)
        return next(iter(rows[0].values())) if rows else None

    def stats(self) -> dict[str, Any]:
        r = self.client.get("/control/stats")
        if r.status != 200:
            raise RuntimeError(f"database statistics unavailable: {r.describe()}")
        return dict(r.json())


@dataclass
class Measure:
    statements: int = 0
    blocks: int = 0
    rows: int = 0
    requests: int = 0
    seq_scans: dict[str, int] = field(default_factory=dict)


@contextmanager
def measured(db: Db, requests: int) -> Iterator[Measure]:
    """What the candidate's role sent while the block ran (``requests`` requests)."""
    m = Measure(requests=requests)
    before = db.stats()
    yield m
    after = db.stats()
    if after["dealloc"] != before["dealloc"]:
        fail(
            "pg_stat_statements evicted entries during the measurement (too many distinct "
            "statements): the statements sent could not be counted"
        )
    m.statements = int(after["total"]) - int(before["total"])
    m.blocks = int(after["blocks"]) - int(before["blocks"])
    m.rows = int(after["rows"]) - int(before["rows"])


def per_request(m: Measure, what: str, at_most: float, label: str) -> None:
    got = getattr(m, what) / m.requests
    if got > at_most:
        fail(
            f"{label}: the database saw {getattr(m, what)} {what} over {m.requests} requests "
            f"({got:.1f} per request); the brief allows at most {at_most:g} per request"
        )


@pytest.fixture(scope="session")
def db(sidecars: dict[str, Client]) -> Db:
    if "db" not in sidecars:
        raise RuntimeError("the db sidecar's control endpoint was not given to the grader")
    return Db(sidecars["db"])


@pytest.fixture(scope="session")
def rng(seed: int) -> random.Random:
    return random.Random(seed)


class Maker:
    """Creates products through the service, with skus no other run or check uses."""

    def __init__(self, api: Client, seed: int) -> None:
        self.api = api
        self.prefix = f"chk-{seed}-{uuid.uuid4().hex[:8]}"
        self.n = 0

    def product(self, **fields: Any) -> dict[str, Any]:
        self.n += 1
        body = {
            "sku": f"{self.prefix}-{self.n}",
            "name": f"check product {self.n}",
            "category": f"{self.prefix}-cat",
            "price_cents": 1000,
            "stock": 100,
            **fields,
        }
        r = self.api.post("/products", json=body)
        expect(r).status(201)
        p = r.json()
        for k in ("sku", "name", "category", "price_cents", "stock"):
            if p.get(k) != body[k]:
                fail(
                    f"{r.request_line}: expected {k} = {body[k]!r} in the product; got {p.get(k)!r}"
                )
        return dict(p)


@pytest.fixture
def make(api: Client, seed: int) -> Maker:
    return Maker(api, seed)


def product_row(db: Db, pid: int) -> dict[str, Any]:
    rows = db.query(
        f"SELECT id, sku, name, category, price_cents, stock, version FROM public.products WHERE id = {int(pid)}"
    )
    return rows[0] if rows else {}


def items_of(r: Response) -> list[dict[str, Any]]:
    expect(r).status(200)
    body = r.json()
    if not isinstance(body, dict) or not isinstance(body.get("items"), list):
        fail(f"{r.request_line}: expected a JSON object with an items list; got {str(body)[:200]}")
    return list(body["items"])


def walk(api: Client, params: dict[str, Any], max_pages: int = 200) -> list[dict[str, Any]]:
    """Every page of a search, following next; fails on a loop."""
    out: list[dict[str, Any]] = []
    after = None
    for _ in range(max_pages):
        r = api.get("/products", params={**params, **({"after": after} if after else {})})
        out.extend(items_of(r))
        after = r.json().get("next")
        if not after:
            return out
    fail(f"GET /products {params}: more than {max_pages} pages (does next ever become null?)")
    raise AssertionError


def order(
    api: Client, customer: int, items: list[tuple[int, int]], key: str | None = None
) -> Response:
    return api.post(
        "/orders",
        json={
            "customer_id": customer,
            "items": [{"product_id": p, "quantity": q} for p, q in items],
        },
        headers={"Idempotency-Key": key} if key else None,
    )
