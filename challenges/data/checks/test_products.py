"""Products: reads against the database's truth, search filters and sorts, keyset paging."""

from __future__ import annotations

import pytest
from conftest import CATEGORIES, PRODUCT_KEYS, items_of, product_row, walk

from graders import expect, fail


@pytest.mark.points(1)
@pytest.mark.skill("api")
def test_healthz_ok(api):
    """GET /healthz answers 200."""
    expect(api.get("/healthz")).status(200)


@pytest.mark.points(2)
@pytest.mark.skill("sql")
def test_product_by_id_matches_database(api, db, rng):
    """GET /products/{id} answers the row of the loaded catalogue, with ETag "<version>"."""
    for pid in rng.sample(range(1, 100_001), 3):
        r = api.get(f"/products/{pid}")
        expect(r).status(200)
        truth = product_row(db, pid)
        got = {k: r.json().get(k) for k in PRODUCT_KEYS}
        if got != truth:
            fail(f"{r.request_line}: expected the database's row {truth}; got {r.json()}")
        etag = r.headers.get("ETag", "")
        if etag.removeprefix("W/") != f'"{truth["version"]}"':
            fail(f'{r.request_line}: expected ETag: "{truth["version"]}"; got {etag or "none"}')


@pytest.mark.points(1)
@pytest.mark.skill("api")
def test_unknown_product_is_404(api):
    """GET /products/{id} for an id that does not exist answers 404."""
    expect(api.get("/products/999999999")).status(404)


@pytest.mark.points(3)
@pytest.mark.skill("sql")
def test_search_filters_match_database(api, db, rng):
    """A category with a price range, sorted by price, paged to the end: exactly the database's
    rows, in (price, id) order."""
    cat = rng.choice(CATEGORIES)
    lo = rng.randrange(1_000, 40_000)
    hi = lo + 3_000
    truth = [
        row["id"]
        for row in db.query(
            f"SELECT id FROM public.products WHERE category = '{cat}' AND price_cents BETWEEN {lo} AND {hi} "
            "ORDER BY price_cents, id"
        )
    ]
    got = [
        p["id"]
        for p in walk(
            api, {"category": cat, "min_price": lo, "max_price": hi, "sort": "price", "limit": 100}
        )
    ]
    if got != truth:
        fail(
            f"GET /products?category={cat}&min_price={lo}&max_price={hi}&sort=price, all pages: "
            f"expected {len(truth)} products in (price, id) order (first {truth[:5]}); "
            f"got {len(got)} (first {got[:5]})"
        )


@pytest.mark.hidden
@pytest.mark.points(2)
@pytest.mark.skill("sql")
def test_search_descending_matches_database(api, db, rng):
    """sort=-price: price descending, then id descending, across two pages."""
    cat = rng.choice(CATEGORIES)
    truth = [
        row["id"]
        for row in db.query(
            f"SELECT id FROM public.products WHERE category = '{cat}' ORDER BY price_cents DESC, id DESC LIMIT 60"
        )
    ]
    first = api.get("/products", params={"category": cat, "sort": "-price", "limit": 30})
    got = [p["id"] for p in items_of(first)]
    second = api.get(
        "/products",
        params={
            "category": cat,
            "sort": "-price",
            "limit": 30,
            "after": first.json().get("next") or "",
        },
    )
    got += [p["id"] for p in items_of(second)]
    if got != truth:
        fail(
            f"GET /products?category={cat}&sort=-price, two pages of 30: expected {truth[:6]}...; got {got[:6]}..."
        )


@pytest.mark.points(1)
@pytest.mark.skill("api")
def test_search_invalid_parameters_400(api):
    """An unknown sort, a limit out of 1..100, a non-integer price or a forged cursor: 400."""
    first = api.get("/products", params={"sort": "price", "limit": 2})
    cursor = first.json().get("next") if first.status == 200 else None
    cases = [
        {"sort": "name"},
        {"limit": 0},
        {"limit": 101},
        {"min_price": "ten"},
        {"after": "not-a-cursor"},
    ]
    if cursor:
        cases.append({"sort": "-price", "after": cursor})  # a cursor issued for another sort
    for params in cases:
        r = api.get("/products", params=params)
        if r.status != 400:
            fail(f"{r.request_line}: expected 400; got {r.status}")


@pytest.mark.points(3)
@pytest.mark.skill("pagination")
def test_pagination_stable_under_inserts(api, make):
    """Products inserted before the cursor while a client pages never show a product twice or
    hide one that existed when it started."""
    base = make.product(price_cents=10_000)
    cat = base["category"]
    originals = [base["id"]] + [
        make.product(category=cat, price_cents=10_000 + 10 * i)["id"] for i in range(1, 30)
    ]
    params = {"category": cat, "sort": "price", "limit": 10}
    r = api.get("/products", params=params)
    seen = [p["id"] for p in items_of(r)]
    after = r.json().get("next")
    for _ in range(5):  # cheaper than the page already read: they sort before the cursor
        make.product(category=cat, price_cents=500)
    pages = 0
    while after and pages < 20:
        r = api.get("/products", params={**params, "after": after})
        seen += [p["id"] for p in items_of(r)]
        after = r.json().get("next")
        pages += 1
    twice = sorted({i for i in seen if seen.count(i) > 1})
    missed = [i for i in originals if i not in seen]
    if twice or missed:
        fail(
            f"paging GET /products?category={cat}&sort=price&limit=10 while 5 cheaper products "
            f"were inserted after page 1: seen twice {twice[:5]}, missed {missed[:5]} "
            "(offset paging shifts under inserts; page from the last row's sort key)"
        )


@pytest.mark.critical
@pytest.mark.points(3)
@pytest.mark.skill("security")
def test_hostile_filters_are_data(api, db):
    """Quotes, comments and ';' in filters are compared as data; an injected sort is refused;
    the tables are intact afterwards."""
    for params in (
        {"category": "toys' OR '1'='1"},
        {"category": "toys'--"},
        {"q": "x'); DROP TABLE order_items; --"},
        {"category": "toys", "q": "%' OR 1=1 --"},
    ):
        items = items_of(api.get("/products", params=params))
        if items:
            fail(
                f"GET /products with {params}: expected no products (no product has that value); got {len(items)}"
            )
    r = api.get("/products", params={"sort": "price; DELETE FROM orders"})
    if r.status != 400:
        fail(f"{r.request_line}: expected 400 for an unknown sort; got {r.status}")
    counts = db.query(
        "SELECT (SELECT count(*) FROM public.orders) AS orders, (SELECT count(*) FROM public.order_items) AS items"
    )
    if not counts or counts[0]["orders"] < 250_000 or counts[0]["items"] < 979_790:
        fail(f"after hostile filters the tables lost rows: {counts}")


@pytest.mark.hidden
@pytest.mark.points(1)
@pytest.mark.skill("sql")
def test_name_search_is_literal(api, make):
    """q matches names case-insensitively and literally: % and _ are ordinary characters."""
    p = make.product(name="Half_Price 100% Cotton")
    cat = p["category"]
    make.product(category=cat, name="Half Price 1000 Cotton")
    for q, want in (("half_price 100%", [p["id"]]), ("_", [p["id"]]), ("%", [p["id"]])):
        got = [x["id"] for x in items_of(api.get("/products", params={"category": cat, "q": q}))]
        if got != want:
            fail(f"GET /products?category={cat}&q={q}: expected only product {want}; got {got}")


@pytest.mark.points(1)
@pytest.mark.skill("api")
def test_duplicate_sku_is_409(api, make):
    """POST /products with a sku that exists answers 409."""
    p = make.product()
    body = {k: p[k] for k in ("sku", "name", "category", "price_cents", "stock")}
    expect(api.post("/products", json=body)).status(409)
