"""Orders: stock taken in a transaction, all or nothing, never oversold, idempotent retries."""

from __future__ import annotations

import uuid

import pytest
from conftest import order, product_row

from graders import concurrently, expect, fail


def order_count(db, pid: int) -> tuple[int, int]:
    """(order lines, units) of a product in the database."""
    row = db.query(
        f"SELECT count(*) AS n, coalesce(sum(quantity), 0) AS units FROM public.order_items WHERE product_id = {int(pid)}"
    )
    return int(row[0]["n"]), int(row[0]["units"])


@pytest.mark.points(3)
@pytest.mark.skill("transactions")
def test_order_takes_stock(api, db, make, rng):
    """POST /orders answers 201 with the order at current prices and takes its quantities from stock."""
    a = make.product(price_cents=250, stock=10)
    b = make.product(price_cents=1_999, stock=4)
    customer = rng.randrange(1, 20_001)
    r = order(api, customer, [(b["id"], 1), (a["id"], 3)])
    expect(r).status(201)
    body = r.json()
    want_items = sorted(
        [{"product_id": a["id"], "quantity": 3, "unit_price_cents": 250},
         {"product_id": b["id"], "quantity": 1, "unit_price_cents": 1_999}],
        key=lambda i: i["product_id"],
    )  # fmt: skip
    if (
        body.get("customer_id") != customer
        or body.get("total_cents") != 2_749
        or body.get("items") != want_items
    ):
        fail(
            f"{r.request_line}: expected customer {customer}, total 2749, items {want_items}; got {body}"
        )
    if product_row(db, a["id"]).get("stock") != 7 or product_row(db, b["id"]).get("stock") != 3:
        fail(f"{r.request_line}: expected stock 7 and 3 in the database after the order")
    rows = db.query(
        f"SELECT customer_id, total_cents FROM public.orders WHERE id = {int(body.get('id') or 0)}"
    )
    if rows != [{"customer_id": customer, "total_cents": 2_749}]:
        fail(
            f"{r.request_line}: order {body.get('id')} is not in the orders table as answered: {rows}"
        )


@pytest.mark.points(2)
@pytest.mark.skill("transactions")
def test_insufficient_stock_changes_nothing(api, db, make):
    """An order one of whose products lacks stock answers 409 and changes nothing."""
    a = make.product(stock=5)
    b = make.product(stock=1)
    r = order(api, 1, [(a["id"], 2), (b["id"], 2)])
    expect(r).status(409)
    if product_row(db, a["id"]).get("stock") != 5 or product_row(db, b["id"]).get("stock") != 1:
        fail(f"{r.request_line}: expected stock 5 and 1 unchanged after the 409")
    if order_count(db, a["id"])[0] or order_count(db, b["id"])[0]:
        fail(f"{r.request_line}: a refused order left order lines in the database")


@pytest.mark.points(1)
@pytest.mark.skill("api")
def test_unknown_customer_or_product_is_422(api, make):
    """An unknown customer or product answers 422; an empty order 400."""
    p = make.product()
    expect(order(api, 999_999_999, [(p["id"], 1)])).status(422)
    expect(order(api, 1, [(999_999_999, 1)])).status(422)
    expect(api.post("/orders", json={"customer_id": 1, "items": []})).status(400)


@pytest.mark.critical
@pytest.mark.points(4)
@pytest.mark.skill("transactions")
def test_no_oversell_under_concurrency(api, db, make):
    """50 concurrent orders of one unit for the last 10 units: exactly 10 succeed, 40 answer 409,
    stock ends at 0."""
    p = make.product(stock=10)
    statuses = concurrently(50, lambda i: order(api, 1 + i, [(p["id"], 1)]).status, timeout_s=60)
    stock = product_row(db, p["id"]).get("stock")
    lines, units = order_count(db, p["id"])
    if statuses.count(201) != 10 or statuses.count(409) != 40 or stock != 0 or units != 10:
        fail(
            f"50 concurrent POST /orders of 1 unit of product {p['id']} (stock 10): expected ten 201 "
            f"and forty 409, stock 0, 10 units ordered; got {statuses.count(201)} x 201, "
            f"{statuses.count(409)} x 409, others {sorted(s for s in statuses if s not in (201, 409))}, "
            f"stock {stock}, {units} units in {lines} order lines"
        )


@pytest.mark.points(3)
@pytest.mark.skill("transactions")
def test_idempotency_key_replays(api, db, make):
    """A retry with the same Idempotency-Key answers the same order and takes stock once."""
    p = make.product(stock=10)
    key = str(uuid.uuid4())
    first = order(api, 7, [(p["id"], 2)], key)
    expect(first).status(201)
    second = order(api, 7, [(p["id"], 2)], key)
    expect(second).status(201)
    if second.json() != first.json():
        fail(
            f"{second.request_line} retried with the same key: expected the first answer {first.json()}; got {second.json()}"
        )
    if product_row(db, p["id"]).get("stock") != 8 or order_count(db, p["id"])[0] != 1:
        fail(f"{second.request_line}: a retry with the same Idempotency-Key placed a second order")


@pytest.mark.hidden
@pytest.mark.points(2)
@pytest.mark.skill("transactions")
def test_concurrent_retries_place_one_order(api, db, make):
    """Eight concurrent requests with one Idempotency-Key: one order, the same answer for all."""
    p = make.product(stock=50)
    key = str(uuid.uuid4())
    answers = concurrently(8, lambda i: order(api, 9, [(p["id"], 1)], key))
    ids = {a.json().get("id") for a in answers if a.status == 201}
    if any(a.status != 201 for a in answers) or len(ids) != 1 or order_count(db, p["id"])[0] != 1:
        fail(
            f"8 concurrent POST /orders with Idempotency-Key {key}: expected eight 201 with one order "
            f"id; got statuses {sorted(a.status for a in answers)}, ids {sorted(map(str, ids))}, "
            f"{order_count(db, p['id'])[0]} orders in the database"
        )
