"""stale-if-error, upstream errors and timeouts."""

from __future__ import annotations

import time

import pytest
from conftest import (
    EXPIRED_MARGIN_S,
    SLOW_CLIENT_TIMEOUT_S,
    STAGGER,
    STAGGER_NOTE,
    STALE_IF_ERROR_S,
    TIMEOUT_MAX_S,
    TIMEOUT_MIN_S,
    at_times,
    get_product,
    product_ok,
    sleep_until,
    store_staggered,
    upstream_count,
    x_cache,
)

from graders import expect, fail


def within_timeout(r, what):
    if not TIMEOUT_MIN_S <= r.elapsed_s <= TIMEOUT_MAX_S:
        fail(
            f"{r.request_line}: {what} took {r.elapsed_s:.1f} s; with the upstream hanging, "
            f"the service must give up after 2 s "
            f"(accepted: {TIMEOUT_MIN_S:g}-{TIMEOUT_MAX_S:g} s)"
        )


def expired_entries(api, upstream, ids):
    """STAGGER products cached with max-age=1 at staggered phases: (pids, bodies, stored at)."""
    pids = ids.many(STAGGER)
    for pid in pids:
        upstream.set(pid, max_age_s=1)
    expected = [upstream.product(pid) for pid in pids]
    return pids, expected, store_staggered(api, pids, expected)


def after_expiry(stored):
    return [t + 1 + EXPIRED_MARGIN_S for t in stored]


@pytest.mark.points(3)
@pytest.mark.skill("resilience")
def test_stale_if_error_serves_stale(api, upstream, ids):
    """An expired entry is served with X-Cache: STALE when the upstream answers 5xx."""
    pids, expected, stored = expired_entries(api, upstream, ids)

    def probe(i):
        r = get_product(api, pids[i])
        upstream_count(
            upstream,
            pids[i],
            "errors",
            at_least=1,
            when="(after expiry the cache must try the upstream before serving stale) "
            + STAGGER_NOTE,
        )
        product_ok(r, expected[i], "STALE")

    with upstream.failing("error", pids):
        at_times(after_expiry(stored), probe)


@pytest.mark.points(2)
@pytest.mark.skill("resilience")
def test_upstream_error_without_entry_is_502(api, upstream, ids):
    """With nothing cached, an upstream 5xx becomes a 502 application/problem+json."""
    pid = ids.new()
    with upstream.failing("error", [pid], status=500):
        r = get_product(api, pid)
    expect(r).problem(502)
    x_cache(r, "MISS")
    upstream_count(upstream, pid, "total", at_least=1)


@pytest.mark.points(2)
@pytest.mark.skill("resilience")
def test_upstream_timeout_without_entry_is_504(api, upstream, ids):
    """With nothing cached, an upstream that does not answer gives a 504 after 2 s."""
    pid = ids.new()
    with upstream.failing("hang", [pid]):
        r = get_product(api, pid, timeout_s=SLOW_CLIENT_TIMEOUT_S)
    expect(r).problem(504)
    x_cache(r, "MISS")
    within_timeout(r, "the 504")


@pytest.mark.points(2)
@pytest.mark.skill("resilience")
def test_stale_window_exceeded_is_502(api, upstream, ids):
    """Past STALE_IF_ERROR_S after expiry, an upstream 5xx is a 502, not stale data."""
    pid = ids.new()
    upstream.set(pid, max_age_s=1)
    product_ok(get_product(api, pid), upstream.product(pid), "MISS")
    t0 = time.monotonic()
    with upstream.failing("error", [pid]):
        sleep_until(t0 + 1 + STALE_IF_ERROR_S + EXPIRED_MARGIN_S)
        r = get_product(api, pid)
    if r.status == 200:
        fail(
            f"{r.request_line}: {1 + STALE_IF_ERROR_S + EXPIRED_MARGIN_S:g} s after a response "
            f"with max-age=1 (STALE_IF_ERROR_S={STALE_IF_ERROR_S:g}) and with the upstream "
            f"failing, expected 502; got 200 X-Cache: {r.headers.get('X-Cache')}"
        )
    expect(r).problem(502)
    x_cache(r, "MISS")


@pytest.mark.hidden
@pytest.mark.points(2)
@pytest.mark.skill("resilience")
def test_stale_if_error_on_timeout(api, upstream, ids):
    """An expired entry is served STALE when the upstream hangs, after the 2 s timeout."""
    pids, expected, stored = expired_entries(api, upstream, ids)

    def probe(i):
        r = get_product(api, pids[i], timeout_s=SLOW_CLIENT_TIMEOUT_S)
        product_ok(r, expected[i], "STALE")
        within_timeout(r, "the STALE answer")

    with upstream.failing("hang", pids):
        at_times(after_expiry(stored), probe)


@pytest.mark.hidden
@pytest.mark.points(1)
@pytest.mark.skill("resilience")
def test_stale_does_not_stop_revalidation(api, upstream, ids):
    """Serving STALE does not refresh the entry: once the upstream is back it is revalidated."""
    pids, expected, stored = expired_entries(api, upstream, ids)
    with upstream.failing("error", pids):
        at_times(
            after_expiry(stored),
            lambda i: product_ok(get_product(api, pids[i]), expected[i], "STALE"),
        )
    for pid, body in zip(pids, expected, strict=True):
        product_ok(get_product(api, pid), body, "REVALIDATED")
        upstream_count(upstream, pid, "not_modified", equals=1)
