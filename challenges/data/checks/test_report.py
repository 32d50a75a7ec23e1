"""The top-products report: half-open UTC ranges, against the grader's own aggregate."""

from __future__ import annotations

import time

import pytest

from graders import expect, fail

REPORT_SLO_S = 30.0


def truth_report(db, start: str, end: str, limit: int) -> list[dict]:
    return db.query(
        "SELECT oi.product_id, p.name, sum(oi.quantity)::bigint AS units, "
        "sum(oi.quantity::bigint * oi.unit_price_cents)::bigint AS revenue_cents "
        "FROM public.orders o JOIN public.order_items oi ON oi.order_id = o.id JOIN public.products p ON p.id = oi.product_id "
        f"WHERE o.created_at >= '{start}' AND o.created_at < '{end}' "
        f"GROUP BY oi.product_id, p.name ORDER BY revenue_cents DESC, oi.product_id LIMIT {int(limit)}"
    )


def report(api, start: str, end: str, limit: int, timeout_s: float = 30.0):
    return api.get(
        "/reports/top-products",
        params={"from": start, "to": end, "limit": limit},
        timeout_s=timeout_s,
    )


def compare(r, truth: list[dict]) -> None:
    expect(r).status(200)
    got = r.json().get("items") if isinstance(r.json(), dict) else None
    keys = ("product_id", "name", "units", "revenue_cents")
    if (
        not isinstance(got, list)
        or [{k: g.get(k) for k in keys} for g in got if isinstance(g, dict)] != truth
    ):
        fail(f"{r.request_line}: expected {truth[:3]}... ({len(truth)} rows); got {str(got)[:300]}")


@pytest.mark.points(3)
@pytest.mark.skill("sql")
def test_top_products_match_database(api, db, rng):
    """A month's top 10 products by revenue, as the grader's aggregate finds them."""
    month = rng.randrange(1, 13)
    start = f"2025-{month:02d}-01T00:00:00Z"
    end = f"2025-{month + 1:02d}-01T00:00:00Z" if month < 12 else "2026-01-01T00:00:00Z"
    compare(report(api, start, end, 10), truth_report(db, start, end, 10))


@pytest.mark.hidden
@pytest.mark.points(2)
@pytest.mark.skill("sql")
def test_report_range_is_half_open(api, db, rng):
    """from is included, to is excluded: orders placed exactly at to are not counted."""
    k = rng.randrange(10_000, 240_000)
    rows = db.query(
        "SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS t FROM public.orders "
        f"WHERE id IN ({k}, {k + 4}) ORDER BY id"
    )
    start, end = rows[0]["t"], rows[1]["t"]
    truth = truth_report(db, start, end, 100)
    compare(report(api, start, end, 100), truth)


@pytest.mark.hidden
@pytest.mark.points(2)
@pytest.mark.skill("sql")
def test_whole_history_report_within_slo(api, db):
    """The report over the whole history answers correctly within 30 s."""
    start, end = "2024-01-01T00:00:00Z", "2027-01-01T00:00:00Z"
    t0 = time.monotonic()
    r = report(api, start, end, 10, timeout_s=REPORT_SLO_S)
    took = time.monotonic() - t0
    compare(r, truth_report(db, start, end, 10))
    if took > REPORT_SLO_S:
        fail(f"{r.request_line}: answered in {took:.1f} s; the brief allows {REPORT_SLO_S:g} s")


@pytest.mark.points(1)
@pytest.mark.skill("api")
def test_report_invalid_range_400(api):
    """A missing or unparsable time, or to before from, answers 400."""
    for params in (
        {"to": "2025-02-01T00:00:00Z"},
        {"from": "yesterday", "to": "2025-02-01T00:00:00Z"},
        {"from": "2025-02-01T00:00:00Z", "to": "2025-01-01T00:00:00Z"},
    ):
        r = api.get("/reports/top-products", params=params)
        if r.status != 400:
            fail(f"{r.request_line}: expected 400; got {r.status}")
