"""Upstream 404s: passed through and cached for NEGATIVE_TTL_S."""

from __future__ import annotations

import pytest
from conftest import (
    EXPIRED_MARGIN_S,
    NEGATIVE_TTL_S,
    STAGGER,
    STAGGER_NOTE,
    at_times,
    get_product,
    product_ok,
    store_staggered,
    upstream_count,
    x_cache,
)

from graders import expect


@pytest.mark.points(1)
@pytest.mark.skill("caching")
def test_not_found_passed_through(api, upstream, ids):
    """An unknown product is a 404 application/problem+json with X-Cache: MISS."""
    pid = ids.unknown()
    r = get_product(api, pid)
    expect(r).problem(404)
    x_cache(r, "MISS")
    upstream_count(upstream, pid, "total", equals=1)


@pytest.mark.points(2)
@pytest.mark.skill("caching")
def test_not_found_cached_within_ttl(api, upstream, ids):
    """A second request for an unknown product within NEGATIVE_TTL_S is a 404 HIT."""
    pid = ids.unknown()
    expect(get_product(api, pid)).problem(404)
    r = get_product(api, pid)
    expect(r).problem(404)
    x_cache(r, "HIT")
    upstream_count(upstream, pid, "total", equals=1, when="(the 404 must be cached)")


@pytest.mark.hidden
@pytest.mark.points(1)
@pytest.mark.skill("caching")
def test_not_found_expires_after_ttl(api, upstream, ids):
    """A cached 404 is used for at most NEGATIVE_TTL_S: a product that appears is then served."""
    pids = ids.many(STAGGER)
    for pid in pids:
        upstream.set(pid, missing=True)
    stored = store_staggered(api, pids, [None] * len(pids))
    for pid in pids:
        upstream.set(pid, missing=False)

    def probe(i):
        product_ok(get_product(api, pids[i]), upstream.product(pids[i]), "MISS")
        upstream_count(upstream, pids[i], "total", equals=2, when=STAGGER_NOTE)

    at_times([t + NEGATIVE_TTL_S + EXPIRED_MARGIN_S for t in stored], probe)
