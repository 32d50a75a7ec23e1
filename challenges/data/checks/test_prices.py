"""Price changes with optimistic concurrency (If-Match on the product's version)."""

from __future__ import annotations

import pytest
from conftest import product_row

from graders import concurrently, expect, fail


@pytest.mark.points(2)
@pytest.mark.skill("transactions")
def test_price_change_with_current_version(api, db, make):
    """PATCH with If-Match: the current version changes the price and increments the version."""
    p = make.product(price_cents=1_000)
    r = api.patch(
        f"/products/{p['id']}",
        json={"price_cents": 1_500},
        headers={"If-Match": f'"{p["version"]}"'},
    )
    expect(r).status(200)
    row = product_row(db, p["id"])
    if row.get("price_cents") != 1_500 or row.get("version") != p["version"] + 1:
        fail(
            f"{r.request_line}: expected price 1500, version {p['version'] + 1} in the database; got {row}"
        )
    if r.json().get("version") != p["version"] + 1:
        fail(f"{r.request_line}: expected version {p['version'] + 1} in the answer; got {r.json()}")


@pytest.mark.points(2)
@pytest.mark.skill("transactions")
def test_stale_version_is_412(api, db, make):
    """PATCH with a stale If-Match answers 412 and changes nothing; without If-Match, 428."""
    p = make.product(price_cents=1_000)
    pid = p["id"]
    expect(
        api.patch(
            f"/products/{pid}",
            json={"price_cents": 1_100},
            headers={"If-Match": f'"{p["version"]}"'},
        )
    ).status(200)
    r = api.patch(
        f"/products/{pid}", json={"price_cents": 1_200}, headers={"If-Match": f'"{p["version"]}"'}
    )
    expect(r).status(412)
    expect(api.patch(f"/products/{pid}", json={"price_cents": 1_300})).status(428)
    row = product_row(db, pid)
    if row.get("price_cents") != 1_100:
        fail(
            f"after a stale and an unconditional PATCH, expected price 1100 in the database; got {row}"
        )


@pytest.mark.critical
@pytest.mark.hidden
@pytest.mark.points(3)
@pytest.mark.skill("transactions")
def test_concurrent_price_changes_one_wins(api, db, make):
    """Ten PATCHes sent at once with the same version: exactly one 200, the others 412."""
    p = make.product(price_cents=1_000)

    def change(i: int) -> int:
        return api.patch(
            f"/products/{p['id']}",
            json={"price_cents": 2_000 + i},
            headers={"If-Match": f'"{p["version"]}"'},
        ).status

    statuses = concurrently(10, change)
    row = product_row(db, p["id"])
    if (
        statuses.count(200) != 1
        or statuses.count(412) != 9
        or row.get("version") != p["version"] + 1
    ):
        fail(
            f'10 concurrent PATCH /products/{p["id"]} with If-Match "{p["version"]}": expected one 200 '
            f"and nine 412, version {p['version'] + 1}; got statuses {sorted(statuses)}, row {row}"
        )
