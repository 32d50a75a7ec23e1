"""Expiry per the upstream's Cache-Control max-age, and revalidation with If-None-Match.

Each check runs its timeline on STAGGER products at staggered phases (conftest: a clock of 1 s
resolution is exposed every run, not one run in five).
"""

from __future__ import annotations

import time

import pytest
from conftest import (
    EXPIRED_MARGIN_S,
    STAGGER,
    STAGGER_NOTE,
    at_times,
    get_product,
    product_ok,
    sleep_until,
    staggered,
    store_staggered,
    upstream_count,
)

from graders import expect


def products(upstream, ids, **settings):
    pids = ids.many(STAGGER)
    for pid in pids:
        upstream.set(pid, **settings)
    return pids, [upstream.product(pid) for pid in pids]


@pytest.mark.points(2)
@pytest.mark.skill("http-caching")
def test_expires_after_max_age(api, upstream, ids):
    """An entry is a HIT before max-age (2 s) runs out and goes back to the upstream after."""
    pids, expected = products(upstream, ids, max_age_s=2)

    def timeline(i):
        pid = pids[i]
        product_ok(get_product(api, pid), expected[i], "MISS")
        t0 = time.monotonic()
        sleep_until(t0 + 1.0)
        product_ok(get_product(api, pid), expected[i], "HIT")
        upstream_count(upstream, pid, "total", equals=1, when="1 s into a 2 s max-age")
        sleep_until(t0 + 2 + EXPIRED_MARGIN_S)
        r = get_product(api, pid)
        expect(r).status(200)
        upstream_count(
            upstream,
            pid,
            "total",
            equals=2,
            when=f"{2 + EXPIRED_MARGIN_S:g} s after a response with max-age=2 " + STAGGER_NOTE,
        )
        product_ok(r, expected[i], "REVALIDATED")

    staggered(timeline)


@pytest.mark.points(2)
@pytest.mark.skill("http-caching")
def test_revalidation_sends_if_none_match(api, upstream, ids):
    """After expiry the cache revalidates with If-None-Match; the 304 gives X-Cache: REVALIDATED."""
    pids, expected = products(upstream, ids, max_age_s=1)
    stored = store_staggered(api, pids, expected)

    def probe(i):
        pid = pids[i]
        r = get_product(api, pid)
        upstream_count(upstream, pid, "total", equals=2, when="after expiry " + STAGGER_NOTE)
        upstream_count(
            upstream,
            pid,
            "conditional",
            equals=1,
            when="(the request after expiry must carry If-None-Match with the ETag)",
        )
        upstream_count(
            upstream,
            pid,
            "not_modified",
            equals=1,
            when="(the upstream should have answered 304 to the revalidation)",
        )
        product_ok(r, expected[i], "REVALIDATED")

    at_times([t + 1 + EXPIRED_MARGIN_S for t in stored], probe)


@pytest.mark.points(1)
@pytest.mark.skill("http-caching")
def test_revalidated_entry_is_fresh_again(api, upstream, ids):
    """A 304 refreshes the entry with the 304's max-age: the next request is a HIT."""
    pids, expected = products(upstream, ids, max_age_s=1)
    stored = store_staggered(api, pids, expected)
    for pid in pids:
        upstream.set(pid, max_age_s=60)  # the 304 will say max-age=60

    def probe(i):
        pid = pids[i]
        product_ok(get_product(api, pid), expected[i], "REVALIDATED")
        product_ok(get_product(api, pid), expected[i], "HIT")
        upstream_count(
            upstream, pid, "total", equals=2, when="after MISS, REVALIDATED, HIT " + STAGGER_NOTE
        )

    at_times([t + 1 + EXPIRED_MARGIN_S for t in stored], probe)


@pytest.mark.hidden
@pytest.mark.points(1)
@pytest.mark.skill("http-caching")
def test_changed_product_served_after_expiry(api, upstream, ids):
    """If the product changed, the revalidation's 200 replaces the entry (X-Cache: MISS)."""
    pids, expected = products(upstream, ids, max_age_s=1)
    stored = store_staggered(api, pids, expected)
    changed = []
    for pid in pids:
        upstream.bump(pid)
        changed.append(upstream.product(pid))

    def probe(i):
        pid = pids[i]
        product_ok(get_product(api, pid), changed[i], "MISS")
        upstream_count(upstream, pid, "total", equals=2, when=STAGGER_NOTE)
        product_ok(get_product(api, pid), changed[i], "HIT")
        upstream_count(upstream, pid, "total", equals=2, when="(the new version must be cached)")

    at_times([t + 1 + EXPIRED_MARGIN_S for t in stored], probe)


@pytest.mark.hidden
@pytest.mark.points(1)
@pytest.mark.skill("http-caching")
def test_max_age_zero_is_revalidated_every_time(api, upstream, ids):
    """A response with max-age=0 is stored but revalidated on every request."""
    pids, expected = products(upstream, ids, max_age_s=0)

    def timeline(i):
        pid = pids[i]
        product_ok(get_product(api, pid), expected[i], "MISS")
        product_ok(get_product(api, pid), expected[i], "REVALIDATED")
        product_ok(get_product(api, pid), expected[i], "REVALIDATED")
        upstream_count(upstream, pid, "total", equals=3, when=STAGGER_NOTE)
        upstream_count(upstream, pid, "conditional", equals=2)

    staggered(timeline)
