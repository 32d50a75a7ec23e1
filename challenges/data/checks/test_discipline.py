"""What reaches the database: statements and blocks per request, from pg_stat_statements."""

from __future__ import annotations

import pytest
from conftest import BLOCKS_PER_REQUEST, CATEGORIES, items_of, measured, per_request

from graders import expect


def busy_customers(db, n: int) -> list[int]:
    """Customers with many orders: a query per order shows."""
    rows = db.query(
        f"SELECT customer_id FROM public.orders GROUP BY customer_id HAVING count(*) >= 20 ORDER BY customer_id LIMIT {n}"
    )
    return [r["customer_id"] for r in rows]


def search_requests(api, rng) -> int:
    n = 0
    for cat in rng.sample(CATEGORIES, 3):
        for sort in ("price", "-price", "id"):
            r = api.get("/products", params={"category": cat, "sort": sort, "limit": 20})
            items_of(r)
            n += 1
            nxt = r.json().get("next")
            if nxt:
                items_of(
                    api.get(
                        "/products",
                        params={"category": cat, "sort": sort, "limit": 20, "after": nxt},
                    )
                )
                n += 1
    for sort in ("price", "-price"):
        items_of(api.get("/products", params={"sort": sort, "limit": 20}))
        n += 1
    return n


@pytest.mark.points(4)
@pytest.mark.skill("query-discipline")
def test_history_statements_bounded(api, db):
    """A customer's orders take at most 3 statements per request, however many orders (no N+1)."""
    customers = busy_customers(db, 5)
    with measured(db, len(customers)) as m:
        for c in customers:
            expect(api.get(f"/customers/{c}/orders", params={"limit": 20})).status(200)
    per_request(
        m, "statements", 3, "GET /customers/{id}/orders?limit=20 for customers with 20+ orders"
    )


@pytest.mark.points(4)
@pytest.mark.skill("query-discipline")
def test_history_reads_few_blocks(api, db, rng):
    """A customer's orders read at most 300 blocks per request (indexes, not table scans)."""
    customers = rng.sample(range(1, 20_001), 5)
    with measured(db, len(customers)) as m:
        for c in customers:
            expect(api.get(f"/customers/{c}/orders", params={"limit": 20})).status(200)
    per_request(m, "blocks", BLOCKS_PER_REQUEST, "GET /customers/{id}/orders?limit=20")


@pytest.mark.points(4)
@pytest.mark.skill("query-discipline")
def test_search_reads_few_blocks(api, db, rng):
    """Product pages (by category and sort, and whole-catalogue price sorts) read at most 300
    blocks per request."""
    with measured(db, 1) as m:
        m.requests = search_requests(api, rng)
    per_request(m, "blocks", BLOCKS_PER_REQUEST, "GET /products pages by category and sort")


@pytest.mark.hidden
@pytest.mark.points(2)
@pytest.mark.skill("query-discipline")
def test_search_statements_bounded(api, db, rng):
    """A product page takes at most 2 statements."""
    with measured(db, 1) as m:
        m.requests = search_requests(api, rng)
    per_request(m, "statements", 2, "GET /products pages by category and sort")
