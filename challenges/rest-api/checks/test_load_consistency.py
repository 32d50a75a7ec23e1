"""After the load phase: the data is still consistent. Also valid with no load before."""

from __future__ import annotations

from collections import Counter

import pytest

from graders import expect, fail


@pytest.mark.critical
@pytest.mark.after_load
@pytest.mark.points(2)
@pytest.mark.skill("concurrency")
def test_after_load_no_double_bookings(api, walk, make_desk, uniq, fresh_date, problem):
    """No desk and no user is booked twice on one date, and the rules still hold."""
    bookings = [b for p in walk("/bookings", {"limit": 100}) for b in p]
    ids = Counter(b.get("id") for b in bookings)
    repeated = [i for i, n in ids.items() if n > 1]
    if repeated:
        fail(f"GET /bookings (all pages): bookings listed more than once: {repeated[:5]}")
    desk_days = Counter((b.get("desk_id"), b.get("date")) for b in bookings)
    user_days = Counter((b.get("user"), b.get("date")) for b in bookings)
    twice = [k for k, n in desk_days.items() if n > 1]
    if twice:
        fail(
            f"GET /bookings (all pages): {len(twice)} desk-days booked more than once, e.g. "
            f"desk {twice[0][0]} on {twice[0][1]}"
        )
    twice = [k for k, n in user_days.items() if n > 1]
    if twice:
        fail(
            f"GET /bookings (all pages): {len(twice)} user-days with more than one booking, e.g. "
            f"user {twice[0][0]} on {twice[0][1]}"
        )
    desk, date = make_desk(), fresh_date()
    expect(
        api.post("/bookings", json={"desk_id": desk["id"], "user": uniq("user"), "date": date})
    ).status(201)
    problem(
        api.post("/bookings", json={"desk_id": desk["id"], "user": uniq("user"), "date": date}), 409
    )


@pytest.mark.after_load
@pytest.mark.skill("pagination")
def test_after_load_desk_list_consistent(api, walk):
    """Walking all desks lists each once, and listed desks match GET /desks/{id}."""
    desks = [d for p in walk("/desks", {"limit": 100}) for d in p]
    counts = Counter(d.get("id") for d in desks)
    repeated = [i for i, n in counts.items() if n > 1]
    if repeated:
        fail(f"GET /desks (all pages): desks listed more than once: {repeated[:5]}")
    step = max(1, len(desks) // 20)
    for listed in desks[::step][:20]:
        r = api.get(f"/desks/{listed.get('id')}")
        if r.status == 404:  # deleted since the walk
            continue
        expect(r).status(200)
        got = r.json()
        for key in ("id", "name", "floor", "features"):
            if got.get(key) != listed.get(key):
                fail(
                    f"{r.request_line}: {key} is {got.get(key)!r} "
                    f"but GET /desks listed {listed.get(key)!r}"
                )
