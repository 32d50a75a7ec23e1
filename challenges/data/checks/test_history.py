"""A customer's orders with their items, against the database's truth."""

from __future__ import annotations

from datetime import datetime

import pytest
from conftest import order

from graders import expect, fail


def truth_history(db, customer: int, limit: int) -> list[dict]:
    orders = db.query(
        f"SELECT id, customer_id, created_at, total_cents FROM public.orders WHERE customer_id = {int(customer)} "
        f"ORDER BY created_at DESC, id DESC LIMIT {int(limit)}"
    )
    ids = ",".join(str(o["id"]) for o in orders) or "0"
    items = db.query(
        "SELECT order_id, product_id, quantity, unit_price_cents FROM public.order_items "
        f"WHERE order_id IN ({ids}) ORDER BY order_id, product_id"
    )
    for o in orders:
        o["items"] = [
            {k: v for k, v in i.items() if k != "order_id"}
            for i in items
            if i["order_id"] == o["id"]
        ]
    return orders


def same_time(a: object, b: object) -> bool:
    try:
        ta = datetime.fromisoformat(str(a).replace("Z", "+00:00"))
        tb = datetime.fromisoformat(str(b).replace("Z", "+00:00"))
    except ValueError:
        return False
    return ta == tb and ta.tzinfo is not None


def compare_history(r, truth: list[dict]) -> None:
    expect(r).status(200)
    got = r.json().get("orders") if isinstance(r.json(), dict) else None
    if not isinstance(got, list) or len(got) != len(truth):
        fail(f"{r.request_line}: expected {len(truth)} orders; got {str(got)[:200]}")
    for g, t in zip(got, truth, strict=True):
        if not isinstance(g, dict) or not same_time(g.get("created_at"), t["created_at"]):
            fail(
                f"{r.request_line}: expected order {t['id']} created at {t['created_at']}; got {str(g)[:200]}"
            )
        if {k: g.get(k) for k in ("id", "customer_id", "total_cents", "items")} != {
            k: t[k] for k in ("id", "customer_id", "total_cents", "items")
        }:
            fail(f"{r.request_line}: expected order {t}; got {g}")


@pytest.mark.points(3)
@pytest.mark.skill("sql")
def test_customer_orders_match_database(api, db, rng):
    """GET /customers/{id}/orders: the newest orders first, each with its items, as in the database."""
    customer = rng.randrange(1, 20_001)
    compare_history(
        api.get(f"/customers/{customer}/orders", params={"limit": 100}),
        truth_history(db, customer, 100),
    )
    compare_history(
        api.get(f"/customers/{customer}/orders", params={"limit": 3}),
        truth_history(db, customer, 3),
    )


@pytest.mark.points(1)
@pytest.mark.skill("api")
def test_unknown_customer_is_404(api):
    """GET /customers/{id}/orders for an unknown customer answers 404."""
    expect(api.get("/customers/999999999/orders")).status(404)


@pytest.mark.hidden
@pytest.mark.points(2)
@pytest.mark.skill("sql")
def test_new_order_heads_history(api, db, make, rng):
    """An order just placed is the first of its customer's history."""
    p = make.product(stock=5)
    customer = rng.randrange(1, 20_001)
    placed = order(api, customer, [(p["id"], 1)])
    expect(placed).status(201)
    r = api.get(f"/customers/{customer}/orders", params={"limit": 5})
    compare_history(r, truth_history(db, customer, 5))
    if r.json()["orders"][0].get("id") != placed.json().get("id"):
        fail(f"{r.request_line}: expected order {placed.json().get('id')} first")
