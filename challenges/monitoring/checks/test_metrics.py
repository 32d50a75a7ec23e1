"""Metrics: format, exactness against the grader's own traffic, histograms in seconds, the
in-flight gauge, cardinality."""

from __future__ import annotations

import math
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import (
    BUCKETS,
    SUM_FLOOR,
    SUM_SLACK_S,
    Ids,
    Inventory,
    Metrics,
    bucket_values,
    counter_delta,
    hist_delta,
    order,
    req_labels,
    run_promtool,
    scrape,
    scrape_response,
)

from graders import Client, Response, expect, fail

REQUIRED = {
    "http_requests_total": ("counter", {"method", "route", "status"}),
    "http_request_duration_seconds": ("histogram", {"method", "route", "status"}),
    "http_requests_in_flight": ("gauge", set()),
    "inventory_requests_total": ("counter", {"outcome"}),
    "inventory_request_duration_seconds": ("histogram", {"outcome"}),
    "orders_created_total": ("counter", set()),
}


def family_type(m: Metrics, name: str) -> str | None:
    # A counter's TYPE line may name the family with or without _total (both are seen).
    return m.types.get(name) or m.types.get(name.removesuffix("_total"))


def known_mix(api: Client, ids: Ids) -> dict[tuple[str, str, int], int]:
    """Send a known mix; return the number of requests per (method, route, status)."""
    sent: dict[tuple[str, str, int], int] = {}

    def note(r: Response, method: str, route: str, status: int) -> None:
        expect(r).status(status)
        sent[(method, route, status)] = sent.get((method, route, status), 0) + 1

    created = []
    for _ in range(7):
        r = order(api, ids.sku(), 2)
        note(r, "POST", "/orders", 201)
        created.append(r.json()["id"])
    for _ in range(3):
        note(order(api, ids.oos_sku()), "POST", "/orders", 409)
    for bad in ({"sku": "lower-case", "quantity": 1}, {"sku": "A", "quantity": 0}, [1], {}):
        note(api.post("/orders", json=bad), "POST", "/orders", 400)
    for oid in created[:5]:
        note(api.get(f"/orders/{oid}"), "GET", "/orders/{id}", 200)
    for _ in range(6):
        note(api.get(f"/orders/missing-{uuid.uuid4().hex}"), "GET", "/orders/{id}", 404)
    for _ in range(2):
        note(api.get(f"/no-such-route/{uuid.uuid4().hex[:6]}"), "GET", "unmatched", 404)
    return sent


@pytest.mark.skill("metrics")
@pytest.mark.points(2)
def test_metrics_text_format(api: Client) -> None:
    """GET /metrics answers 200 in the Prometheus text format, parsed strictly."""
    order(api, "PROBE-1")
    r = scrape_response(api)
    expect(r).status(200)
    ctype = r.headers.get("Content-Type", "")
    if not ctype.lower().startswith("text/plain"):
        fail(f"GET /metrics: expected Content-Type text/plain; version=0.0.4, got {ctype!r}")
    scrape(api)


@pytest.mark.skill("metrics")
@pytest.mark.points(2)
def test_metrics_promtool_clean(api: Client) -> None:
    """promtool check metrics finds nothing to complain about."""
    order(api, "PROBE-1")
    r = scrape_response(api)
    expect(r).status(200)
    code, out = run_promtool(["check", "metrics"], stdin=r.body)
    if code != 0 or out.strip():
        fail(f"promtool check metrics: {' | '.join(out.strip().splitlines()[:10])[:700]}")


@pytest.mark.skill("metrics")
@pytest.mark.points(2)
def test_required_metrics_declared(api: Client, ids: Ids) -> None:
    """Every required metric is there, with its type and exactly its label names."""
    order(api, ids.sku())
    m = scrape(api)
    problems = []
    for name, (kind, label_names) in REQUIRED.items():
        got = family_type(m, name)
        if got != kind:
            problems.append(f"{name}: TYPE {got or 'missing'}, expected {kind}")
            continue
        sample = f"{name}_count" if kind == "histogram" else name
        series = m.series(sample)
        if not series:
            problems.append(f"{name}: no samples after a POST /orders")
        for lb in series:
            names = {k for k, _ in lb}
            if names != label_names:
                problems.append(
                    f"{name}: labels {sorted(names)}, expected {sorted(label_names) or 'none'}"
                )
                break
    if problems:
        fail("; ".join(problems))


@pytest.mark.skill("metrics")
@pytest.mark.points(4)
@pytest.mark.critical
def test_request_counter_exact(api: Client, ids: Ids) -> None:
    """After a known mix (201, 409, 400, 200, 404, unmatched), each series rose by exactly N."""
    before = scrape(api)
    sent = known_mix(api, ids)
    after = scrape(api)
    wrong = []
    for (method, route, status), n in sorted(sent.items()):
        got = counter_delta(before, after, method, route, status)
        if got != n:
            wrong.append(
                f'{{method="{method}",route="{route}",status="{status}"}} +{got:g}, sent {n}'
            )
    if wrong:
        fail("http_requests_total did not rise by the requests sent: " + "; ".join(wrong))


@pytest.mark.skill("metrics")
@pytest.mark.points(2)
def test_errors_counted(api: Client, ids: Ids, inventory: Inventory) -> None:
    """503s during an inventory outage are counted with status 503."""
    before = scrape(api)
    with inventory.failing("error"):
        for _ in range(4):
            expect(order(api, ids.sku())).status(503)
    after = scrape(api)
    got = counter_delta(before, after, "POST", "/orders", 503)
    if got != 4:
        fail(
            f'http_requests_total{{method="POST",route="/orders",status="503"}} rose by {got:g}; the grader got 4 503s'
        )


@pytest.mark.skill("metrics")
@pytest.mark.points(2)
def test_histogram_consistent(api: Client, ids: Ids) -> None:
    """Histogram _count equals the requests; buckets are the stated ones, cumulative, +Inf = _count."""
    before = scrape(api)
    sent = known_mix(api, ids)
    after = scrape(api)
    name = "http_request_duration_seconds"
    for (method, route, status), n in sorted(sent.items()):
        lb = req_labels(method, route, status)
        got = hist_delta(before, after, name, "_count", **lb)
        if got != n:
            fail(f"{name}_count{lb} rose by {got:g}; the grader sent {n} such requests")
        buckets = bucket_values(after, name, **lb)
        if set(buckets) != set(BUCKETS):
            fail(f"{name}{lb}: buckets {sorted(buckets)}, expected exactly {[b for b in BUCKETS]}")
        values = [buckets[b] for b in BUCKETS]
        if any(b > a for a, b in zip(values[1:], values[:-1], strict=True)):
            fail(f"{name}{lb}: buckets are not cumulative: {values}")
        if values[-1] != after.get(f"{name}_count", **lb):
            fail(
                f"{name}{lb}: le=+Inf is {values[-1]:g}, _count is {after.get(f'{name}_count', **lb):g}"
            )


def slow_orders(
    api: Client, ids: Ids, inventory: Inventory, delay_ms: int, n: int
) -> tuple[Metrics, Metrics, list[float], list[str]]:
    """n sequential orders through an inventory slowed by delay_ms; scrapes around them."""
    sku = ids.sku()
    inventory.configure(sku, delay_ms=delay_ms)
    try:
        before = scrape(api)
        latencies, rids = [], []
        for _ in range(n):
            rid = ids.request_id()
            start = time.monotonic()
            r = order(api, sku, rid=rid)
            latencies.append(time.monotonic() - start)
            expect(r).status(201)
            rids.append(rid)
        after = scrape(api)
    finally:
        inventory.clear(sku)
    return before, after, latencies, rids


def check_sum(what: str, got: float, delays_s: float, measured_s: float, n: int) -> None:
    low, high = SUM_FLOOR * delays_s, measured_s + SUM_SLACK_S * n
    if not low <= got <= high:
        fail(
            f"{what} rose by {got:g}; the {n} requests waited {delays_s:g} s for the inventory and "
            f"took {measured_s:.3f} s as the grader measured: expected {low:.3f}..{high:.3f} (seconds)"
        )


@pytest.mark.skill("metrics")
@pytest.mark.points(3)
def test_duration_sum_in_seconds(api: Client, ids: Ids, inventory: Inventory) -> None:
    """http_request_duration_seconds_sum agrees with the latencies the grader measured (seconds)."""
    n, delay_ms = 4, 300
    before, after, latencies, _ = slow_orders(api, ids, inventory, delay_ms, n)
    lb = req_labels("POST", "/orders", 201)
    got = hist_delta(before, after, "http_request_duration_seconds", "_sum", **lb)
    check_sum(f"http_request_duration_seconds_sum{lb}", got, n * delay_ms / 1000, sum(latencies), n)


@pytest.mark.skill("metrics")
@pytest.mark.points(2)
def test_duration_buckets_place_requests(api: Client, ids: Ids, inventory: Inventory) -> None:
    """Requests slowed to 300 ms land above the 0.25 s bucket and (when fast enough) in 0.5 s."""
    n, delay_ms = 4, 300
    before, after, latencies, _ = slow_orders(api, ids, inventory, delay_ms, n)
    name, lb = "http_request_duration_seconds", req_labels("POST", "/orders", 201)
    b0, b1 = bucket_values(before, name, **lb), bucket_values(after, name, **lb)
    d = {le: b1.get(le, 0) - b0.get(le, 0) for le in BUCKETS}
    under_half = sum(1 for s in latencies if s < 0.5)
    if d[0.25] != 0:
        fail(f'{name}_bucket{{le="0.25"}} rose by {d[0.25]:g} for requests that each took >= 0.3 s')
    if d[0.5] < under_half or d[math.inf] != n:
        fail(
            f"{name}_bucket: le=0.5 rose by {d[0.5]:g} (the grader saw {under_half} answers "
            f"under 0.5 s), le=+Inf by {d[math.inf]:g} ({n} sent)"
        )


@pytest.mark.skill("metrics")
@pytest.mark.points(2)
def test_inventory_metrics(api: Client, ids: Ids, inventory: Inventory) -> None:
    """inventory_requests_total counts calls by outcome; 400s call nothing; durations in seconds."""
    n, delay_ms = 3, 300
    before, after, latencies, _ = slow_orders(api, ids, inventory, delay_ms, n)
    got = after.get("inventory_requests_total", outcome="ok") - before.get(
        "inventory_requests_total", outcome="ok"
    )
    if got != n:
        fail(
            f'inventory_requests_total{{outcome="ok"}} rose by {got:g}; {n} reservations were made'
        )
    s = hist_delta(before, after, "inventory_request_duration_seconds", "_sum", outcome="ok")
    check_sum(
        'inventory_request_duration_seconds_sum{outcome="ok"}',
        s,
        n * delay_ms / 1000,
        sum(latencies),
        n,
    )
    before = scrape(api)
    expect(order(api, ids.oos_sku())).status(409)
    expect(api.post("/orders", json={"sku": "", "quantity": 1})).status(400)
    with inventory.failing("error"):
        expect(order(api, ids.sku())).status(503)
    after = scrape(api)
    for outcome, want in (("ok", 1), ("error", 1)):
        got = after.get("inventory_requests_total", outcome=outcome) - before.get(
            "inventory_requests_total", outcome=outcome
        )
        if got != want:
            fail(
                f'inventory_requests_total{{outcome="{outcome}"}} rose by {got:g} after a 409, '
                f"a 400 and a 503 (expected +{want})"
            )


@pytest.mark.skill("metrics")
@pytest.mark.points(2)
def test_orders_created_exact(api: Client, ids: Ids, inventory: Inventory) -> None:
    """orders_created_total counts 201s only (not 409, 400 or 503)."""
    before = scrape(api)
    for _ in range(5):
        expect(order(api, ids.sku())).status(201)
    expect(order(api, ids.oos_sku())).status(409)
    expect(api.post("/orders", json={"sku": "X", "quantity": 101})).status(400)
    with inventory.failing("error"):
        expect(order(api, ids.sku())).status(503)
    after = scrape(api)
    got = after.get("orders_created_total") - before.get("orders_created_total")
    if got != 5:
        fail(f"orders_created_total rose by {got:g}; the grader got 5 orders accepted")


@pytest.mark.skill("metrics")
@pytest.mark.points(3)
def test_in_flight_gauge(api: Client, ids: Ids, inventory: Inventory) -> None:
    """http_requests_in_flight shows the requests the grader holds open, and drops after."""
    k = 4
    sku = ids.sku()
    inventory.configure(sku, hold=True)
    results: list[Response | None] = [None] * k
    try:
        pool = ThreadPoolExecutor(max_workers=k)
        futures = [pool.submit(order, api, sku, timeout_s=15) for _ in range(k)]
        inventory.wait_held(sku, k)
        during = scrape(api).get("http_requests_in_flight")
    finally:
        inventory.configure(sku, hold=False)
        for i, f in enumerate(futures):
            results[i] = f.result(timeout=20)
        pool.shutdown()
        inventory.clear(sku)
    if during not in (k, k + 1):
        fail(f"http_requests_in_flight was {during:g} while the grader held {k} requests open")
    after = scrape(api).get("http_requests_in_flight")
    if after not in (0, 1):
        fail(f"http_requests_in_flight is {after:g} after every request was answered")


@pytest.mark.skill("metrics")
@pytest.mark.points(1)
def test_counters_never_decrease(api: Client, ids: Ids) -> None:
    """Across several scrapes with traffic between them, no counter or histogram sample decreases."""
    prev = scrape(api)
    for _ in range(3):
        known_mix(api, ids)
        cur = scrape(api)
        for (name, lb), v in prev.samples.items():
            fam = prev.family_of(name)
            kind = prev.types.get(fam or "") or prev.types.get(name.removesuffix("_total"))
            now = cur.samples.get((name, lb))
            if kind in ("counter", "histogram") and now is not None and now < v:
                fail(f"{name}{dict(lb)} went from {v:g} to {cur.samples[(name, lb)]:g}")
        prev = cur


@pytest.mark.skill("metrics")
@pytest.mark.points(1)
def test_scrapes_counted(api: Client) -> None:
    """GET /metrics is itself counted under route /metrics."""
    first = scrape(api)
    scrape(api)
    third = scrape(api)
    got = counter_delta(first, third, "GET", "/metrics", 200)
    if got != 2:
        fail(
            f'http_requests_total{{method="GET",route="/metrics",status="200"}} rose by {got:g} over two scrapes'
        )


@pytest.mark.skill("metrics")
@pytest.mark.points(3)
@pytest.mark.hidden
def test_cardinality_bounded(api: Client, ids: Ids) -> None:
    """A thousand distinct order ids, SKUs, paths and request ids add no series."""
    # One of each kind first, so the series those requests belong to exist already.
    expect(api.get(f"/orders/none-{uuid.uuid4().hex}")).status(404)
    expect(api.get(f"/nowhere/{uuid.uuid4().hex}")).status(404)
    expect(order(api, ids.sku(), rid=ids.request_id())).status(201)
    before = scrape(api)
    lock = threading.Lock()
    statuses: dict[int, int] = {}

    def one(i: int) -> None:
        kind = i % 3
        if kind == 0:
            r = api.get(f"/orders/none-{uuid.uuid4().hex}?q={i}")
        elif kind == 1:
            r = api.get(f"/nowhere/{uuid.uuid4().hex}/{i}")
        else:
            r = order(api, ids.sku(), rid=ids.request_id())
        with lock:
            statuses[r.status] = statuses.get(r.status, 0) + 1

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, range(1000)))
    after = scrape(api)
    new = set(after.samples) - set(before.samples)
    if new:
        examples = [f"{n}{dict(lb)}" for n, lb in sorted(new)[:3]]
        fail(
            f"{len(new)} new series after 1000 distinct ids (statuses {statuses}), e.g. {examples}"
        )
