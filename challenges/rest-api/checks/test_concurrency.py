"""Concurrency: the booking rules hold when requests race."""

from __future__ import annotations

from collections import Counter

import pytest

from graders import concurrently, fail


@pytest.mark.critical
@pytest.mark.points(3)
@pytest.mark.skill("concurrency")
def test_concurrent_bookings_one_winner(api, make_desk, uniq, fresh_date, page):
    """50 simultaneous bookings of one desk-day give exactly one 201 and 49 409s."""
    desk = make_desk()
    date = fresh_date()
    users = [uniq("user") for _ in range(50)]
    responses = concurrently(
        50,
        lambda i: api.post(
            "/bookings", json={"desk_id": desk["id"], "user": users[i], "date": date}
        ),
    )
    counts = Counter(r.status for r in responses)
    if counts != Counter({201: 1, 409: 49}):
        fail(
            f"50 x POST /bookings for desk {desk['id']} on {date}: expected one 201 and 49 409; "
            f"got {dict(sorted(counts.items()))}"
        )
    items, _ = page("/bookings", {"desk_id": desk["id"], "date": date, "limit": 100})
    if len(items) != 1:
        fail(
            f"GET /bookings?desk_id={desk['id']}&date={date}: expected 1 booking; got {len(items)}"
        )


@pytest.mark.critical
@pytest.mark.hidden
@pytest.mark.points(2)
@pytest.mark.skill("concurrency")
def test_concurrent_bookings_one_per_user_day(api, make_desk, uniq, fresh_date, page):
    """One user booking 20 desks on one day at once gets exactly one 201."""
    desks = [make_desk()["id"] for _ in range(20)]
    user, date = uniq("user"), fresh_date()
    responses = concurrently(
        20, lambda i: api.post("/bookings", json={"desk_id": desks[i], "user": user, "date": date})
    )
    counts = Counter(r.status for r in responses)
    if counts != Counter({201: 1, 409: 19}):
        fail(
            f"20 x POST /bookings for user {user} on {date} (20 desks): "
            "expected one 201 and 19 409; "
            f"got {dict(sorted(counts.items()))}"
        )
    items, _ = page("/bookings", {"user": user, "date": date, "limit": 100})
    if len(items) != 1:
        fail(f"GET /bookings?user={user}&date={date}: expected 1 booking; got {len(items)}")


@pytest.mark.skill("concurrency")
def test_concurrent_desk_creation(api, uniq, walk):
    """30 simultaneous POST /desks answer 201 with 30 distinct ids, all listed once."""
    feature = uniq("f")

    def create(i):
        r = api.post("/desks", json={"name": f"race-{i}", "floor": 1, "features": [feature]})
        return r.status, (r.json().get("id") if r.status == 201 else None)

    results = concurrently(30, create)
    ids = [desk_id for status, desk_id in results if status == 201]
    if len(ids) != 30 or len(set(ids)) != 30:
        fail(
            f"30 x POST /desks at once: expected 30 x 201 with distinct ids; got statuses "
            f"{sorted(s for s, _ in results)} and {len(set(ids))} distinct ids"
        )
    listed = [d.get("id") for p in walk("/desks", {"feature": feature, "limit": 100}) for d in p]
    if sorted(listed) != sorted(ids):
        fail(
            f"GET /desks?feature={feature}: expected the 30 desks created at once; "
            f"got {len(listed)} "
            f"items ({len(set(listed))} distinct)"
        )
