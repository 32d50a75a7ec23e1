"""Expiry per the upstream's Cache-Control max-age, and revalidation with If-None-Match."""

from __future__ import annotations

import time

import pytest
from conftest import EXPIRED_MARGIN_S, get_product, product_ok, sleep_until, upstream_count

from graders import expect


@pytest.mark.points(2)
@pytest.mark.skill("http-caching")
def test_expires_after_max_age(api, upstream, ids):
    """An entry is a HIT before max-age (2 s) runs out and goes back to the upstream after."""
    pid = ids.new()
    upstream.set(pid, max_age_s=2)
    expected = upstream.product(pid)
    product_ok(get_product(api, pid), expected, "MISS")
    t0 = time.monotonic()
    sleep_until(t0 + 1.0)
    product_ok(get_product(api, pid), expected, "HIT")
    upstream_count(upstream, pid, "total", equals=1, when="1 s into a 2 s max-age")
    sleep_until(t0 + 2 + EXPIRED_MARGIN_S)
    r = get_product(api, pid)
    expect(r).status(200)
    upstream_count(upstream, pid, "total", equals=2,
                   when=f"{2 + EXPIRED_MARGIN_S:g} s after a response with max-age=2")
    product_ok(r, expected, "REVALIDATED")


@pytest.mark.points(2)
@pytest.mark.skill("http-caching")
def test_revalidation_sends_if_none_match(api, upstream, ids):
    """After expiry the cache revalidates with If-None-Match; the 304 gives X-Cache: REVALIDATED."""
    pid = ids.new()
    upstream.set(pid, max_age_s=1)
    expected = upstream.product(pid)
    product_ok(get_product(api, pid), expected, "MISS")
    time.sleep(1 + EXPIRED_MARGIN_S)
    r = get_product(api, pid)
    upstream_count(upstream, pid, "total", equals=2, when="after expiry")
    upstream_count(upstream, pid, "conditional", equals=1,
                   when="(the request after expiry must carry If-None-Match with the ETag)")
    upstream_count(upstream, pid, "not_modified", equals=1,
                   when="(the upstream should have answered 304 to the revalidation)")
    product_ok(r, expected, "REVALIDATED")


@pytest.mark.points(1)
@pytest.mark.skill("http-caching")
def test_revalidated_entry_is_fresh_again(api, upstream, ids):
    """A 304 refreshes the entry with the 304's max-age: the next request is a HIT."""
    pid = ids.new()
    upstream.set(pid, max_age_s=1)
    expected = upstream.product(pid)
    product_ok(get_product(api, pid), expected, "MISS")
    upstream.set(pid, max_age_s=60)  # the 304 will say max-age=60
    time.sleep(1 + EXPIRED_MARGIN_S)
    product_ok(get_product(api, pid), expected, "REVALIDATED")
    product_ok(get_product(api, pid), expected, "HIT")
    upstream_count(upstream, pid, "total", equals=2, when="after MISS, REVALIDATED, HIT")


@pytest.mark.hidden
@pytest.mark.points(1)
@pytest.mark.skill("http-caching")
def test_changed_product_served_after_expiry(api, upstream, ids):
    """If the product changed, the revalidation's 200 replaces the entry (X-Cache: MISS)."""
    pid = ids.new()
    upstream.set(pid, max_age_s=1)
    product_ok(get_product(api, pid), upstream.product(pid), "MISS")
    upstream.bump(pid)
    changed = upstream.product(pid)
    time.sleep(1 + EXPIRED_MARGIN_S)
    product_ok(get_product(api, pid), changed, "MISS")
    upstream_count(upstream, pid, "total", equals=2)
    product_ok(get_product(api, pid), changed, "HIT")
    upstream_count(upstream, pid, "total", equals=2, when="(the new version must be cached)")


@pytest.mark.hidden
@pytest.mark.points(1)
@pytest.mark.skill("http-caching")
def test_max_age_zero_is_revalidated_every_time(api, upstream, ids):
    """A response with max-age=0 is stored but revalidated on every request."""
    pid = ids.new()
    upstream.set(pid, max_age_s=0)
    expected = upstream.product(pid)
    product_ok(get_product(api, pid), expected, "MISS")
    product_ok(get_product(api, pid), expected, "REVALIDATED")
    product_ok(get_product(api, pid), expected, "REVALIDATED")
    upstream_count(upstream, pid, "total", equals=3)
    upstream_count(upstream, pid, "conditional", equals=2)
