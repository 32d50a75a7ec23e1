"""Restarts: the runner restarts the service mid-grading; migrations run again, nothing is lost."""

from __future__ import annotations

import uuid

import pytest
from conftest import order, product_row

from graders import expect, fail


@pytest.mark.critical
@pytest.mark.points(4)
@pytest.mark.skill("migrations")
def test_restart_reruns_migrations_and_keeps_orders(api, db, make, services):
    """After a restart (SIGTERM, same image started again) the service is ready again (its
    migrations ran a second time), its acknowledged order is there, and a retry with the same
    Idempotency-Key still answers that order."""
    p = make.product(stock=10)
    key = str(uuid.uuid4())
    placed = order(api, 11, [(p["id"], 2)], key)
    expect(placed).status(201)
    r = services.restart("candidate", grace_s=10)
    if not r.ok:
        fail(f"restarting the service: {r.message} (do the migrations run twice?)")
    expect(api.get("/healthz")).status(200)
    history = api.get("/customers/11/orders", params={"limit": 100})
    expect(history).status(200)
    if placed.json().get("id") not in [o.get("id") for o in history.json().get("orders", [])]:
        fail(
            f"after a restart, order {placed.json().get('id')} is missing from GET /customers/11/orders"
        )
    again = order(api, 11, [(p["id"], 2)], key)
    expect(again).status(201)
    if (
        again.json().get("id") != placed.json().get("id")
        or product_row(db, p["id"]).get("stock") != 8
    ):
        fail(
            f"after a restart, a retry with Idempotency-Key {key} answered order {again.json().get('id')} "
            f"(first: {placed.json().get('id')}); stock {product_row(db, p['id']).get('stock')} (expected 8)"
        )
