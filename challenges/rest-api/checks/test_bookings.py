"""Bookings: create, read, conflicts, cancel, list by user and date."""

from __future__ import annotations

import uuid

import pytest

from graders import expect, fail


@pytest.mark.points(2)
@pytest.mark.skill("rest")
def test_create_booking_returns_201_and_location(
    api, make_desk, uniq, fresh_date, obj, location_path
):
    """POST /bookings answers 201, the booking, and a Location that serves it."""
    desk = make_desk()
    body = {"desk_id": desk["id"], "user": uniq("user"), "date": fresh_date()}
    r = api.post("/bookings", json=body)
    expect(r).status(201).content_type("application/json")
    booking = obj(r, "id", "desk_id", "user", "date")
    for key, value in body.items():
        expect(r).json_field(key, value)
    if not isinstance(booking["id"], str) or not booking["id"]:
        fail(f'{r.request_line}: expected "id" to be a non-empty string; got {booking["id"]!r}')
    got = api.get(location_path(r))
    expect(got).status(200).json_field("id", booking["id"]).json_field("date", body["date"])


@pytest.mark.skill("rest")
def test_get_booking(api, make_desk, make_booking, uniq, fresh_date):
    """GET /bookings/{id} answers 200 with the booking's desk_id, user and date."""
    desk = make_desk()
    user, date = uniq("user"), fresh_date()
    booking = make_booking(desk["id"], user, date)
    r = api.get(f"/bookings/{booking['id']}")
    expect(r).status(200).content_type("application/json")
    for key, value in (
        ("id", booking["id"]),
        ("desk_id", desk["id"]),
        ("user", user),
        ("date", date),
    ):
        expect(r).json_field(key, value)


@pytest.mark.skill("rest")
def test_unknown_booking_404(api, problem):
    """GET and DELETE of an unknown booking id answer 404 problems."""
    path = f"/bookings/no-such-booking-{uuid.uuid4().hex}"
    problem(api.get(path), 404)
    problem(api.delete(path), 404)


@pytest.mark.critical
@pytest.mark.points(2)
@pytest.mark.skill("rest")
def test_desk_day_taken_409(api, make_desk, make_booking, uniq, fresh_date, problem, page):
    """Booking a desk that is already booked that day answers a 409 problem and creates nothing."""
    desk = make_desk()
    date = fresh_date()
    first = make_booking(desk["id"], uniq("user"), date)
    late = uniq("user")
    problem(api.post("/bookings", json={"desk_id": desk["id"], "user": late, "date": date}), 409)
    items, _ = page("/bookings", {"desk_id": desk["id"]})
    ids = [b.get("id") for b in items]
    if ids != [first["id"]]:
        fail(
            f"GET /bookings?desk_id={desk['id']}: expected only booking {first['id']}; "
            f"got ids {ids}"
        )


@pytest.mark.hidden
@pytest.mark.points(2)
@pytest.mark.skill("rest")
def test_user_one_booking_per_day_409(api, make_desk, make_booking, uniq, fresh_date, problem):
    """A user who already has a booking that day gets a 409 for a second desk."""
    a, b = make_desk(), make_desk()
    user, date = uniq("user"), fresh_date()
    make_booking(a["id"], user, date)
    problem(api.post("/bookings", json={"desk_id": b["id"], "user": user, "date": date}), 409)
    # Another day is fine.
    expect(
        api.post("/bookings", json={"desk_id": b["id"], "user": user, "date": fresh_date()})
    ).status(201)


@pytest.mark.hidden
@pytest.mark.skill("rest")
def test_other_days_and_desks_are_free(api, make_desk, make_booking, uniq, fresh_date):
    """A booked desk is still free on other days, and other desks are free that day."""
    a, b = make_desk(), make_desk()
    d1, d2 = fresh_date(), fresh_date()
    make_booking(a["id"], uniq("user"), d1)
    expect(
        api.post("/bookings", json={"desk_id": a["id"], "user": uniq("user"), "date": d2})
    ).status(201)
    expect(
        api.post("/bookings", json={"desk_id": b["id"], "user": uniq("user"), "date": d1})
    ).status(201)


@pytest.mark.points(2)
@pytest.mark.skill("rest")
def test_cancel_booking_frees_desk_day(api, make_desk, make_booking, uniq, fresh_date, problem):
    """DELETE /bookings/{id} answers 204; the booking is gone and its desk-day is free again."""
    desk = make_desk()
    user, date = uniq("user"), fresh_date()
    booking = make_booking(desk["id"], user, date)
    r = api.delete(f"/bookings/{booking['id']}")
    expect(r).status(204)
    if r.body.strip():
        fail(f"{r.request_line}: expected no body with 204; got {r.text[:120]!r}")
    problem(api.get(f"/bookings/{booking['id']}"), 404)
    problem(api.delete(f"/bookings/{booking['id']}"), 404)
    r = api.post("/bookings", json={"desk_id": desk["id"], "user": uniq("user"), "date": date})
    expect(r).status(201)
    # The first user is free that day again too.
    other = make_desk()
    expect(api.post("/bookings", json={"desk_id": other["id"], "user": user, "date": date})).status(
        201
    )


@pytest.mark.points(2)
@pytest.mark.skill("rest")
def test_list_bookings_by_user_in_date_order(api, make_desk, make_booking, uniq, fresh_date, page):
    """GET /bookings?user= lists exactly that user's bookings, by date ascending."""
    user = uniq("user")
    d1, d2, d3 = fresh_date(), fresh_date(), fresh_date()
    made = {}
    for date in (d2, d3, d1):  # created out of date order
        made[date] = make_booking(make_desk()["id"], user, date)["id"]
    make_booking(make_desk()["id"], uniq("user"), d1)  # someone else, same day
    items, cursor = page("/bookings", {"user": user})
    got = [(b.get("id"), b.get("date"), b.get("user")) for b in items]
    want = [(made[d], d, user) for d in (d1, d2, d3)]
    if got != want or cursor is not None:
        fail(
            f"GET /bookings?user={user}: expected (id, date, user) {want} and next_cursor null; "
            f"got {got} and next_cursor {cursor!r}"
        )


@pytest.mark.points(2)
@pytest.mark.skill("rest")
def test_list_bookings_by_date(api, make_desk, make_booking, uniq, fresh_date, walk, page):
    """GET /bookings?date= lists the bookings of that date (also combined with desk_id)."""
    date, other_date = fresh_date(), fresh_date()
    desks = [make_desk() for _ in range(3)]
    ours = [make_booking(d["id"], uniq("user"), date)["id"] for d in desks]
    elsewhere = make_booking(desks[0]["id"], uniq("user"), other_date)["id"]
    items = [b for p in walk("/bookings", {"date": date, "limit": 2}) for b in p]
    ids = [b.get("id") for b in items]
    wrong = [b for b in items if b.get("date") != date]
    if wrong or sorted(ids) != sorted(set(ids)) or not set(ours) <= set(ids) or elsewhere in ids:
        fail(
            f"GET /bookings?date={date}: expected bookings {ours} (each once, all dated {date}); "
            f"got ids {ids}"
        )
    if [i for i in ids if i in ours] != ours:
        fail(
            f"GET /bookings?date={date}: expected same-date bookings in creation order {ours}; "
            f"got {ids}"
        )
    items, _ = page("/bookings", {"date": date, "desk_id": desks[1]["id"]})
    got = [b.get("id") for b in items]
    if got != [ours[1]]:
        fail(
            f"GET /bookings?date={date}&desk_id={desks[1]['id']}: expected [{ours[1]!r}]; got {got}"
        )
