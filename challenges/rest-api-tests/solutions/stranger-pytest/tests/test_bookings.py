import pytest

from _common import (S, URL, ID_RE, uniq, new_date, req, get, post_json, raw, delete, assert_json,
                     assert_problem, assert_location, allow_set, make_desk, make_booking, walk_all, ids)


def test_create_booking_201_location_and_get():
    d = make_desk()
    user = uniq("ada")
    date = new_date()
    r = post_json("/bookings", {"desk_id": d["id"], "user": user, "date": date})
    b = assert_json(r, 201)
    assert isinstance(b.get("id"), str) and ID_RE.match(b["id"]), b
    assert (b["desk_id"], b["user"], b["date"]) == (d["id"], user, date)
    target = assert_location(r, "bookings", b["id"])
    got = assert_json(S.get(target, timeout=8), 200)
    assert (got["id"], got["desk_id"], got["user"], got["date"]) == (b["id"], d["id"], user, date)
    got = assert_json(get(f"/bookings/{b['id']}"), 200)
    assert (got["id"], got["desk_id"], got["user"], got["date"]) == (b["id"], d["id"], user, date)


def test_booking_ids_unique():
    d = make_desk()
    a = make_booking(d["id"])
    b = make_booking(d["id"])
    assert a["id"] != b["id"]
    assert delete(f"/bookings/{a['id']}").status_code == 204
    c = make_booking(d["id"])
    assert c["id"] not in (a["id"], b["id"])


def test_unknown_booking_404():
    assert_problem(get(f"/bookings/{uniq('nobooking')}"), 404)
    assert_problem(delete(f"/bookings/{uniq('nobooking')}"), 404)


def test_bookings_405_with_allow():
    d = make_desk()
    b = make_booking(d["id"])
    for method in ("PUT", "PATCH", "POST"):
        r = req(method, f"/bookings/{b['id']}", json={"user": "x"})
        assert_problem(r, 405)
        allow = allow_set(r)
        assert {"GET", "DELETE"} <= allow and method not in allow, allow
    for method in ("PUT", "PATCH", "DELETE"):
        r = req(method, "/bookings", json={"user": "x"})
        assert_problem(r, 405)
        allow = allow_set(r)
        assert {"GET", "POST"} <= allow and method not in allow, allow
    got = assert_json(get(f"/bookings/{b['id']}"), 200)
    assert got["user"] == b["user"]


def test_past_dates_and_leap_days_accepted():
    d = make_desk()
    for date in ("1999-01-01", "2000-02-29", "2032-02-29", "2031-12-31", "2031-02-28"):
        b = make_booking(d["id"], date=date)
        assert b["date"] == date


def test_desk_day_taken_409_creates_nothing():
    d = make_desk()
    date = new_date()
    b = make_booking(d["id"], user=uniq("u1"), date=date)
    u2 = uniq("u2")
    r = post_json("/bookings", {"desk_id": d["id"], "user": u2, "date": date})
    assert_problem(r, 409)
    assert ids(walk_all("/bookings", {"desk_id": d["id"], "date": date})) == [b["id"]]
    assert walk_all("/bookings", {"user": u2}) == []


def test_user_day_taken_409_creates_nothing():
    d1 = make_desk()
    d2 = make_desk()
    date = new_date()
    user = uniq("u")
    b = make_booking(d1["id"], user=user, date=date)
    r = post_json("/bookings", {"desk_id": d2["id"], "user": user, "date": date})
    assert_problem(r, 409)
    assert ids(walk_all("/bookings", {"user": user})) == [b["id"]]
    assert walk_all("/bookings", {"desk_id": d2["id"]}) == []


def test_no_conflict_across_dates_users_desks():
    d1 = make_desk()
    d2 = make_desk()
    date1, date2 = new_date(), new_date()
    user = uniq("u")
    make_booking(d1["id"], user=user, date=date1)
    make_booking(d1["id"], user=uniq("v"), date=date2)  # same desk, another date
    make_booking(d2["id"], user=user, date=date2 if False else new_date())  # same user, another date
    make_booking(d2["id"], user=uniq("w"), date=date1)  # same date, other desk, other user


def test_user_compared_exactly():
    d1 = make_desk()
    d2 = make_desk()
    date = new_date()
    base = uniq("ada")
    make_booking(d1["id"], user=base, date=date)
    b = make_booking(d2["id"], user=base.upper(), date=date)
    assert b["user"] == base.upper()


def test_identical_without_key_is_booking_then_409():
    d = make_desk()
    body = {"desk_id": d["id"], "user": uniq("u"), "date": new_date()}
    assert_json(post_json("/bookings", body), 201)
    assert_problem(post_json("/bookings", body), 409)
    assert len(walk_all("/bookings", {"desk_id": d["id"]})) == 1


def test_delete_booking_frees_desk_and_user():
    d = make_desk()
    d2 = make_desk()
    date = new_date()
    user = uniq("u")
    b = make_booking(d["id"], user=user, date=date)
    r = delete(f"/bookings/{b['id']}")
    assert r.status_code == 204 and r.content == b""
    assert_problem(get(f"/bookings/{b['id']}"), 404)
    assert_problem(delete(f"/bookings/{b['id']}"), 404)
    assert walk_all("/bookings", {"desk_id": d["id"]}) == []
    assert walk_all("/bookings", {"user": user}) == []
    assert walk_all("/bookings", {"date": date}) == []
    assert b["id"] not in ids(walk_all("/bookings", {}, limit=100))
    # user free again on that date (other desk), and desk free again (other user)
    b2 = make_booking(d2["id"], user=user, date=date)
    b3 = make_booking(d["id"], user=uniq("x"), date=date)
    assert sorted(ids(walk_all("/bookings", {"date": date}))) == sorted([b2["id"], b3["id"]])


# ---------------------------------------------------------------- validation

def _valid_body(desk_id):
    return {"desk_id": desk_id, "user": uniq("u"), "date": new_date()}


@pytest.mark.parametrize("mutate", [
    lambda b: b.pop("desk_id"),
    lambda b: b.pop("user"),
    lambda b: b.pop("date"),
    lambda b: b.update(extra=1),
    lambda b: b.update(id="mine"),
    lambda b: b.update(desk_id="no-such-desk-xyz"),
    lambda b: b.update(desk_id=123),
    lambda b: b.update(desk_id=None),
    lambda b: b.update(user=""),
    lambda b: b.update(user="   "),
    lambda b: b.update(user="u" * 101),
    lambda b: b.update(user=42),
    lambda b: b.update(user=None),
    lambda b: b.update(date="2031-02-30"),
    lambda b: b.update(date="2031-02-29"),
    lambda b: b.update(date="2100-02-29"),
    lambda b: b.update(date="2031-04-31"),
    lambda b: b.update(date="2031-13-01"),
    lambda b: b.update(date="2031-00-10"),
    lambda b: b.update(date="2031-01-00"),
    lambda b: b.update(date="2031-1-5"),
    lambda b: b.update(date="31-01-2031"),
    lambda b: b.update(date="2031/01/05"),
    lambda b: b.update(date="not-a-date"),
    lambda b: b.update(date="2031-01-05T00:00:00Z"),
    lambda b: b.update(date="20310105"),
    lambda b: b.update(date=""),
    lambda b: b.update(date=20310105),
    lambda b: b.update(date=None),
], ids=lambda f: "")
def test_create_booking_invalid_422(mutate):
    d = make_desk()
    body = _valid_body(d["id"])
    mutate(body)
    assert_problem(post_json("/bookings", body), 422)
    assert walk_all("/bookings", {"desk_id": d["id"]}) == []


def test_booking_user_edges_valid():
    d = make_desk()
    for user in ("a", "u" * 100):
        b = make_booking(d["id"], user=user, date=new_date())
        assert b["user"] == user


@pytest.mark.parametrize("data", ["{oops", "", "{\"user\": \"a\",}", "[1,"])
def test_create_booking_bad_json_400(data):
    assert_problem(raw("POST", "/bookings", data), 400)


@pytest.mark.parametrize("data", ["[]", "null", "\"booking\"", "1"])
def test_create_booking_not_object_422(data):
    assert_problem(raw("POST", "/bookings", data), 422)


def test_422_precedes_409():
    d = make_desk()
    date = new_date()
    user = uniq("u")
    make_booking(d["id"], user=user, date=date)
    # would conflict, but has an unknown field
    assert_problem(post_json("/bookings", {"desk_id": d["id"], "user": uniq("v"), "date": date, "x": 1}), 422)
    # same user/date (user conflict) but the desk does not exist
    assert_problem(post_json("/bookings", {"desk_id": uniq("nodesk"), "user": user, "date": date}), 422)
    # invalid user string while desk-day is taken
    assert_problem(post_json("/bookings", {"desk_id": d["id"], "user": "", "date": date}), 422)


def test_400_precedes_422_on_booking():
    assert_problem(raw("POST", "/bookings", '{"desk_id": "nope", "extra": '), 400)
