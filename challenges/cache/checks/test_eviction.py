"""Bounded cache with LRU eviction (CACHE_MAX_ENTRIES)."""

from __future__ import annotations

import pytest
from conftest import MAX_ENTRIES, fill, get_product, product_ok, upstream_count


@pytest.mark.points(3)
@pytest.mark.skill("eviction")
def test_lru_evicts_least_recently_used(api, upstream, ids):
    """A full cache evicts the least recently used entry, not the oldest one."""
    a, b = ids.new(), ids.new()
    pa, pb = upstream.product(a), upstream.product(b)
    product_ok(get_product(api, a), pa, "MISS")
    product_ok(get_product(api, b), pb, "MISS")
    fill(api, ids.many(MAX_ENTRIES - 2))  # now exactly full: A, B and the fillers
    product_ok(get_product(api, a), pa, "HIT")  # A becomes most recently used; B is the LRU
    newcomer = ids.new()
    product_ok(get_product(api, newcomer), upstream.product(newcomer), "MISS")  # evicts B
    product_ok(get_product(api, a), pa, "HIT")
    upstream_count(
        upstream,
        a,
        "total",
        equals=1,
        when=f"(it was used recently and must survive; the cache holds {MAX_ENTRIES})",
    )
    product_ok(get_product(api, b), pb, "MISS")
    upstream_count(
        upstream,
        b,
        "total",
        equals=2,
        when="(it was the least recently used entry and must have been evicted)",
    )


@pytest.mark.points(2)
@pytest.mark.skill("eviction")
def test_cache_is_bounded(api, upstream, ids):
    """After CACHE_MAX_ENTRIES newer products, an entry not used since is evicted."""
    a = ids.new()
    pa = upstream.product(a)
    product_ok(get_product(api, a), pa, "MISS")
    product_ok(get_product(api, a), pa, "HIT")
    fill(api, ids.many(MAX_ENTRIES + 10))
    product_ok(get_product(api, a), pa, "MISS")
    upstream_count(
        upstream,
        a,
        "total",
        equals=2,
        when=f"(CACHE_MAX_ENTRIES is {MAX_ENTRIES}; {MAX_ENTRIES + 10} other "
        "products were requested since)",
    )


@pytest.mark.hidden
@pytest.mark.points(1)
@pytest.mark.skill("eviction")
def test_cache_holds_max_entries(api, upstream, ids):
    """The cache really holds CACHE_MAX_ENTRIES entries: nothing is evicted before it is full."""
    a = ids.new()
    pa = upstream.product(a)
    product_ok(get_product(api, a), pa, "MISS")
    fill(api, ids.many(MAX_ENTRIES - 1))
    product_ok(get_product(api, a), pa, "HIT")
    upstream_count(
        upstream, a, "total", equals=1, when=f"(it is one of exactly {MAX_ENTRIES} cached products)"
    )
