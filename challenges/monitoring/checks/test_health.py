"""Liveness and readiness follow the inventory's outage and recovery; the order API's basics."""

from __future__ import annotations

import time

import pytest
from conftest import INVENTORY_TIMEOUT_S, READY_FLIP_S, Ids, Inventory, order, wait_for

from graders import Client, expect, fail


def readyz_is(api: Client, status: int) -> bool:
    return api.get("/readyz", timeout_s=3).status == status


def flip(api: Client, inventory: Inventory, mode: str) -> None:
    wait_for(
        "/readyz answers 200 while the inventory is healthy",
        lambda: readyz_is(api, 200),
        READY_FLIP_S,
    )
    with inventory.failing(mode):
        wait_for(
            f"/readyz answers 503 after the inventory started failing ({mode})",
            lambda: readyz_is(api, 503),
            READY_FLIP_S,
        )
        r = api.get("/healthz", timeout_s=1.5)
        if r.status != 200:
            fail(f"/healthz answered {r.status} during an inventory outage; liveness must stay 200")
    wait_for(
        "/readyz answers 200 after the inventory recovered",
        lambda: readyz_is(api, 200),
        READY_FLIP_S,
    )


@pytest.mark.skill("health")
@pytest.mark.points(3)
def test_readiness_follows_outage(api: Client, inventory: Inventory) -> None:
    """/readyz turns 503 while the inventory answers 5xx, and 200 again after; /healthz stays 200."""
    flip(api, inventory, "error")


@pytest.mark.skill("health")
@pytest.mark.points(2)
@pytest.mark.hidden
def test_readiness_follows_hang(api: Client, inventory: Inventory) -> None:
    """/readyz turns 503 while the inventory does not answer at all, and 200 again after."""
    flip(api, inventory, "hang")


@pytest.mark.skill("health")
@pytest.mark.points(1)
def test_readiness_ok_when_healthy(api: Client) -> None:
    """/readyz and /healthz answer 200 while the inventory is healthy."""
    expect(api.get("/healthz")).status(200)
    wait_for("/readyz answers 200", lambda: readyz_is(api, 200), READY_FLIP_S)


@pytest.mark.skill("api")
@pytest.mark.points(2)
def test_orders_api(api: Client, ids: Ids, inventory: Inventory) -> None:
    """POST /orders: 201 with the order, readable by id; 409 out of stock; 400 without calling."""
    sku = ids.sku()
    r = order(api, sku, 3)
    expect(r).status(201).content_type("application/json")
    body = r.json()
    want = {"sku": sku, "quantity": 3, "status": "accepted"}
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("id"), str)
        or any(body.get(k) != v for k, v in want.items())
    ):
        fail(f"POST /orders: expected {{'id': <string>, **{want}}}; got {body}")
    g = api.get(f"/orders/{body['id']}")
    expect(g).status(200)
    if g.json() != body:
        fail(f"GET /orders/{body['id']}: {g.json()} differs from the 201's body {body}")
    expect(order(api, ids.oos_sku())).status(409)
    bad_sku = ids.sku()
    for bad in (
        {"sku": bad_sku, "quantity": 0},
        {"sku": bad_sku, "quantity": "2"},
        {"sku": bad_sku.lower(), "quantity": 1},
    ):
        expect(api.post("/orders", json=bad)).status(400)
    if inventory.sku(bad_sku)["received"]:
        fail("invalid orders reached the inventory; a 400 must not call it")


@pytest.mark.skill("api")
@pytest.mark.points(1)
@pytest.mark.hidden
def test_inventory_timeout_is_503(api: Client, ids: Ids, inventory: Inventory) -> None:
    """An inventory that does not answer gives a 503 after INVENTORY_TIMEOUT_S, counted as error."""
    with inventory.failing("hang"):
        start = time.monotonic()
        r = order(api, ids.sku(), timeout_s=INVENTORY_TIMEOUT_S + 5)
        took = time.monotonic() - start
    expect(r).status(503)
    low, high = INVENTORY_TIMEOUT_S * 0.75, INVENTORY_TIMEOUT_S * 2.25
    if not low <= took <= high:
        fail(f"the 503 came after {took:.2f} s; INVENTORY_TIMEOUT_S is {INVENTORY_TIMEOUT_S:g}")
