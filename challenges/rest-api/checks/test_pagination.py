"""Lists: filters, cursor pagination, ordering, stability, parameter errors."""

from __future__ import annotations

import random

import pytest

from graders import fail


def ids_of(pages):
    return [item.get("id") for page in pages for item in page]


@pytest.mark.points(3)
@pytest.mark.skill("pagination")
def test_desk_pages_walk_in_creation_order(make_desk, uniq, walk):
    """Walking GET /desks pages (limit=3) returns every desk once, in creation order."""
    feature = uniq("f")
    made = [make_desk(features=[feature])["id"] for _ in range(7)]
    pages = walk("/desks", {"feature": feature, "limit": 3})
    sizes = [len(p) for p in pages]
    if sizes != [3, 3, 1] or ids_of(pages) != made:
        fail(
            f"GET /desks?feature={feature}&limit=3: expected pages of 3, 3, 1 holding {made} in "
            f"that order; got page sizes {sizes} and ids {ids_of(pages)}"
        )


@pytest.mark.skill("pagination")
def test_empty_list_is_one_page(uniq, page):
    """A filter matching nothing gives {"items": [], "next_cursor": null}."""
    feature = uniq("nothing")
    items, cursor = page("/desks", {"feature": feature})
    if items != [] or cursor is not None:
        fail(
            f"GET /desks?feature={feature}: expected no items and next_cursor null; "
            f"got {items!r}, {cursor!r}"
        )
    items, cursor = page("/bookings", {"user": uniq("nobody")})
    if items != [] or cursor is not None:
        fail(
            "GET /bookings?user=...: expected no items and next_cursor null; "
            f"got {items!r}, {cursor!r}"
        )


@pytest.mark.points(2)
@pytest.mark.skill("pagination")
def test_desks_filter_by_floor_and_feature(make_desk, uniq, walk, seed):
    """GET /desks?floor= and &feature= return only matching desks (filters combine with AND)."""
    feature = uniq("f")
    floor = random.Random(f"{seed}-{feature}").randrange(20, 200)
    on_floor = [make_desk(floor=floor, features=[feature, "x"])["id"] for _ in range(2)]
    elsewhere = make_desk(floor=floor - 1, features=[feature])["id"]
    no_feature = make_desk(floor=floor)["id"]
    got = ids_of(walk("/desks", {"floor": floor, "feature": feature}))
    if got != on_floor:
        fail(f"GET /desks?floor={floor}&feature={feature}: expected {on_floor}; got {got}")
    got = ids_of(walk("/desks", {"feature": feature}))
    if got != [*on_floor, elsewhere]:
        fail(f"GET /desks?feature={feature}: expected {[*on_floor, elsewhere]}; got {got}")
    pages = walk("/desks", {"floor": floor, "limit": 100})
    floors = {d.get("floor") for p in pages for d in p}
    got = ids_of(pages)
    if floors != {floor} or not {*on_floor, no_feature} <= set(got) or elsewhere in got:
        fail(
            f"GET /desks?floor={floor}: expected only floor-{floor} desks including "
            f"{[*on_floor, no_feature]}; got floors {sorted(floors, key=str)} and ids {got[:20]}"
        )


@pytest.mark.hidden
@pytest.mark.skill("pagination")
def test_default_limit_is_20(make_desk, uniq, page):
    """Without limit, a page holds 20 items and a next_cursor when there are more."""
    feature = uniq("f")
    made = [make_desk(features=[feature])["id"] for _ in range(23)]
    items, cursor = page("/desks", {"feature": feature})
    got = [d.get("id") for d in items]
    if got != made[:20] or cursor is None:
        fail(
            f"GET /desks?feature={feature}: expected the first 20 of 23 desks and a next_cursor; "
            f"got {len(got)} items and next_cursor {cursor!r}"
        )
    items, cursor = page("/desks", {"feature": feature, "limit": 100})
    if len(items) != 23 or cursor is not None:
        fail(
            f"GET /desks?feature={feature}&limit=100: expected all 23 desks and next_cursor null; "
            f"got {len(items)} items and next_cursor {cursor!r}"
        )


@pytest.mark.points(2)
@pytest.mark.skill("pagination")
def test_invalid_list_parameters_400(api, problem):
    """Bad limit, floor, date or cursor query parameters answer 400 problems."""
    for path in (
        "/desks?limit=0",
        "/desks?limit=101",
        "/desks?limit=ten",
        "/desks?limit=-1",
        "/desks?floor=third",
        "/desks?cursor=not-a-cursor",
        "/bookings?limit=0",
        "/bookings?date=2031-13-01",
        "/bookings?date=tomorrow",
        "/bookings?cursor=not-a-cursor",
    ):
        problem(api.get(path), 400)


@pytest.mark.hidden
@pytest.mark.points(2)
@pytest.mark.skill("pagination")
def test_pagination_stable_under_changes(api, make_desk, uniq, page):
    """Desks deleted or created between pages do not make the walk skip or repeat a desk."""
    feature = uniq("f")
    made = [make_desk(features=[feature])["id"] for _ in range(8)]
    seen = []
    items, cursor = page("/desks", {"feature": feature, "limit": 3})
    seen += [d.get("id") for d in items]
    # Delete two desks already returned, then add one at the end.
    for desk_id in made[0:2]:
        r = api.delete(f"/desks/{desk_id}")
        if r.status not in (200, 204):
            fail(f"{r.request_line}: expected 204; got {r.status}")
    added = make_desk(features=[feature])["id"]
    for _ in range(10):
        if cursor is None:
            break
        items, cursor = page("/desks", {"feature": feature, "limit": 3, "cursor": cursor})
        seen += [d.get("id") for d in items]
    if seen[: len(made)] != made or seen[len(made) :] not in ([], [added]):
        fail(
            f"GET /desks?feature={feature}&limit=3: walked while deleting {made[0:2]} from the "
            f"first page; expected {made} (optionally then {added}); got {seen}"
        )


@pytest.mark.hidden
@pytest.mark.skill("pagination")
def test_booking_pages_walk(make_desk, make_booking, uniq, fresh_date, walk):
    """Walking GET /bookings?user= pages (limit=2) returns each booking once, by date."""
    user = uniq("user")
    dates = [fresh_date() for _ in range(5)]
    made = {d: make_booking(make_desk()["id"], user, d)["id"] for d in reversed(dates)}
    pages = walk("/bookings", {"user": user, "limit": 2})
    want = [made[d] for d in dates]
    if [len(p) for p in pages] != [2, 2, 1] or ids_of(pages) != want:
        fail(
            f"GET /bookings?user={user}&limit=2: expected pages of 2, 2, 1 holding {want}; "
            f"got {[[b.get('id') for b in p] for p in pages]}"
        )
