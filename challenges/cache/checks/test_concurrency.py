"""Request coalescing and parallelism."""

from __future__ import annotations

import time

import pytest
from conftest import EXPIRED_MARGIN_S, get_product, product_ok, upstream_count, x_cache

from graders import concurrently, expect, fail

COLD_REQUESTS = 50
SLOW_UPSTREAM_MS = 600  # long enough that all 50 requests overlap with the first one


@pytest.mark.points(3)
@pytest.mark.skill("concurrency")
def test_coalesces_concurrent_misses(api, upstream, ids):
    """50 concurrent cold requests for one product reach the upstream at most twice."""
    pid = ids.new()
    upstream.set(pid, delay_ms=SLOW_UPSTREAM_MS)
    expected = upstream.product(pid)
    responses = concurrently(COLD_REQUESTS, lambda i: get_product(api, pid))
    for r in responses:
        expect(r).status(200)
        if r.json() != expected:
            fail(f"{r.request_line}: expected {expected}; got {r.text}")
        x_cache(r, "MISS", "HIT")
    upstream_count(
        upstream,
        pid,
        "total",
        at_most=2,
        when=f"for {COLD_REQUESTS} concurrent requests of a product not yet cached",
    )


@pytest.mark.hidden
@pytest.mark.points(2)
@pytest.mark.skill("concurrency")
def test_coalesces_concurrent_revalidations(api, upstream, ids):
    """30 concurrent requests for an expired entry share one revalidation."""
    pid = ids.new()
    upstream.set(pid, max_age_s=1)
    expected = upstream.product(pid)
    product_ok(get_product(api, pid), expected, "MISS")
    upstream.set(pid, delay_ms=SLOW_UPSTREAM_MS)  # the revalidation (304) will be slow
    time.sleep(1 + EXPIRED_MARGIN_S)
    responses = concurrently(30, lambda i: get_product(api, pid))
    for r in responses:
        product_ok(r, expected, ("REVALIDATED", "HIT"))
    upstream_count(
        upstream,
        pid,
        "total",
        at_most=3,
        when="for 1 request, then 30 concurrent ones after expiry (expected 2, 3 tolerated)",
    )


@pytest.mark.hidden
@pytest.mark.points(1)
@pytest.mark.skill("concurrency")
def test_distinct_products_fetched_in_parallel(api, upstream, ids):
    """Misses for different products do not wait for each other."""
    pids = ids.many(8)
    for pid in pids:
        upstream.set(pid, delay_ms=800)
    start = time.monotonic()
    responses = concurrently(len(pids), lambda i: get_product(api, pids[i]))
    elapsed = time.monotonic() - start
    for pid, r in zip(pids, responses, strict=True):
        product_ok(r, upstream.product(pid), "MISS")
    if elapsed > 3.2:
        fail(
            f"8 concurrent requests for 8 different uncached products (upstream delay 0.8 s "
            f"each) took {elapsed:.1f} s; done in parallel they take about 0.8 s (limit 3.2 s): "
            "an upstream request for one key must not block requests for other keys"
        )
