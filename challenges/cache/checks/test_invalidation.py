"""POST /events invalidation."""

from __future__ import annotations

import pytest
from conftest import get_product, product_ok, upstream_count

from graders import expect, fail


def updated(pid):
    return {"type": "product.updated", "id": pid}


@pytest.mark.points(1)
@pytest.mark.skill("invalidation")
def test_event_accepted_with_204(api, ids):
    """POST /events answers 204 for product.updated (cached or not) and for other event types."""
    expect(api.post("/events", json=updated(ids.new()))).status(204)
    expect(api.post("/events", json={"type": "product.created", "id": ids.new()})).status(204)


@pytest.mark.critical
@pytest.mark.points(2)
@pytest.mark.skill("invalidation")
def test_invalidation_evicts_entry(api, upstream, ids):
    """After product.updated the next request is a MISS that returns the new version."""
    pid = ids.new()
    old = upstream.product(pid)
    product_ok(get_product(api, pid), old, "MISS")
    product_ok(get_product(api, pid), old, "HIT")
    upstream.bump(pid)
    new = upstream.product(pid)
    expect(api.post("/events", json=updated(pid))).status(204)
    product_ok(get_product(api, pid), new, "MISS")
    upstream_count(upstream, pid, "total", equals=2, when="after MISS, HIT, event, MISS")


@pytest.mark.points(1)
@pytest.mark.skill("api")
def test_invalid_event_rejected(api, ids):
    """A malformed event is rejected with 400 application/problem+json."""
    bad = [
        ("not JSON", b"{not json"),
        ("a JSON array", b"[]"),
        ("no type", b'{"id": 1}'),
        ("product.updated without id", b'{"type": "product.updated"}'),
        ("a string id", b'{"type": "product.updated", "id": "abc"}'),
        ("a zero id", b'{"type": "product.updated", "id": 0}'),
    ]
    for what, body in bad:
        r = api.post("/events", data=body, headers={"Content-Type": "application/json"})
        if r.status != 400:
            fail(f"POST /events with {what} ({body.decode()}): expected 400; got {r.status}")
        expect(r).problem(400)


@pytest.mark.hidden
@pytest.mark.points(1)
@pytest.mark.skill("invalidation")
def test_invalidation_is_per_product(api, upstream, ids):
    """An event for one product removes that product's entry and leaves the others alone."""
    a, b = ids.new(), ids.new()
    pa, pb = upstream.product(a), upstream.product(b)
    product_ok(get_product(api, a), pa, "MISS")
    product_ok(get_product(api, b), pb, "MISS")
    upstream.bump(a)
    pa = upstream.product(a)
    expect(api.post("/events", json=updated(a))).status(204)
    product_ok(get_product(api, b), pb, "HIT")
    upstream_count(upstream, b, "total", equals=1, when=f"(only product {a} was invalidated)")
    product_ok(get_product(api, a), pa, "MISS")
    upstream_count(
        upstream, a, "total", equals=2, when=f"(product.updated for {a} must remove its entry)"
    )


@pytest.mark.critical
@pytest.mark.hidden
@pytest.mark.points(1)
@pytest.mark.skill("invalidation")
def test_invalidation_clears_negative_entry(api, upstream, ids):
    """product.updated also drops a cached 404: a product that now exists is served at once."""
    pid = ids.new()
    upstream.set(pid, missing=True)
    r = get_product(api, pid)
    expect(r).problem(404)
    upstream.set(pid, missing=False)
    expect(api.post("/events", json=updated(pid))).status(204)
    product_ok(get_product(api, pid), upstream.product(pid), "MISS")
    upstream_count(upstream, pid, "total", equals=2)
