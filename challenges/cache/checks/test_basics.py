"""Hits and misses: a fresh entry is served without touching the upstream."""

from __future__ import annotations

import pytest
from conftest import get_product, product_ok, upstream_count

from graders import expect


@pytest.mark.points(1)
@pytest.mark.skill("api")
def test_healthz_ok(api):
    """GET /healthz answers 200."""
    expect(api.get("/healthz")).status(200)


@pytest.mark.points(2)
@pytest.mark.skill("caching")
def test_first_request_is_miss(api, upstream, ids):
    """The first request for a product is a MISS answered with the upstream's product."""
    pid = ids.new()
    r = get_product(api, pid)
    product_ok(r, upstream.product(pid), "MISS")
    upstream_count(upstream, pid, "total", equals=1)
    upstream_count(
        upstream, pid, "conditional", equals=0, when="(a first request has nothing to revalidate)"
    )


@pytest.mark.points(2)
@pytest.mark.skill("caching")
def test_second_request_is_hit(api, upstream, ids):
    """A second request within max-age is a HIT and does not reach the upstream."""
    pid = ids.new()
    expected = upstream.product(pid)
    product_ok(get_product(api, pid), expected, "MISS")
    product_ok(get_product(api, pid), expected, "HIT")
    upstream_count(upstream, pid, "total", equals=1, when="after a MISS and a HIT")


@pytest.mark.points(1)
@pytest.mark.skill("caching")
def test_repeated_hits_never_reach_upstream(api, upstream, ids):
    """Twenty more requests for a fresh product are all HITs: one upstream request in total."""
    pid = ids.new()
    expected = upstream.product(pid)
    product_ok(get_product(api, pid), expected, "MISS")
    for _ in range(20):
        product_ok(get_product(api, pid), expected, "HIT")
    upstream_count(upstream, pid, "total", equals=1, when="after 21 requests within max-age")


@pytest.mark.hidden
@pytest.mark.points(1)
@pytest.mark.skill("caching")
def test_distinct_products_cached_separately(api, upstream, ids):
    """Entries are per product: interleaved requests for two products each get their own."""
    a, b = ids.new(), ids.new()
    pa, pb = upstream.product(a), upstream.product(b)
    product_ok(get_product(api, a), pa, "MISS")
    product_ok(get_product(api, b), pb, "MISS")
    product_ok(get_product(api, a), pa, "HIT")
    product_ok(get_product(api, b), pb, "HIT")
    upstream_count(upstream, a, "total", equals=1)
    upstream_count(upstream, b, "total", equals=1)
