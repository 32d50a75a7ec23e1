"""The reference suite for the desk booking API: every behaviour of the brief a mutant could
break, through HTTP against TARGET_URL. Each test makes its own data (unique users and dates),
so tests do not depend on each other or on their order."""

from __future__ import annotations

import itertools
import json
import os
import threading
import uuid

import pytest
import requests

URL = os.environ.get("TARGET_URL", "http://127.0.0.1:8080").rstrip("/")
S = requests.Session()
_day = itertools.count(1)


def call(method: str, path: str, **kw):
    kw.setdefault("timeout", 10)
    return S.request(method, URL + path, **kw)


def unique() -> str:
    return uuid.uuid4().hex[:10]


def a_date() -> str:
    n = next(_day)  # a fresh date per call: 2040-01-01 onwards
    return f"{2040 + n // 300}-{(n % 300) // 28 + 1:02d}-{n % 28 + 1:02d}"


def desk(**fields) -> dict:
    body = {"name": "North-" + unique(), "floor": 3, **fields}
    r = call("POST", "/desks", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def booking(desk_id: str, user: str | None = None, date: str | None = None, **kw):
    body = {"desk_id": desk_id, "user": user or "u-" + unique(), "date": date or a_date()}
    return call("POST", "/bookings", json=body, **kw)


def assert_problem(r, status: int) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"].split(";")[0].strip() == "application/problem+json"
    body = r.json()
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]


def walk(path: str, limit: int) -> list[dict]:
    items, cursor = [], None
    for _ in range(1000):
        params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        r = call("GET", path, params=params)
        assert r.status_code == 200
        page = r.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination never ended")


# -- desks ---------------------------------------------------------------------------------------
def test_create_desk():
    body = {"name": "North-12", "floor": 3, "features": ["monitor", "standing", "monitor"]}
    r = call("POST", "/desks", json=body)
    assert r.status_code == 201
    d = r.json()
    assert {k: d[k] for k in body} == body
    assert r.headers["Location"].endswith(f"/desks/{d['id']}")
    assert call("GET", f"/desks/{d['id']}").json() == d


def test_unsupported_method_405_with_allow():
    d = desk()
    r = call("PUT", f"/desks/{d['id']}", json={"name": "x", "floor": 1})
    assert_problem(r, 405)
    allow = {m.strip() for m in r.headers["Allow"].split(",")}
    assert {"GET", "PATCH", "DELETE"} <= allow


def test_unknown_ids_404():
    assert_problem(call("GET", "/desks/nope-" + unique()), 404)
    assert_problem(call("GET", "/bookings/nope-" + unique()), 404)
    assert_problem(call("GET", "/nope"), 404)


def test_desks_listed_oldest_first_and_floor_filter():
    floor = 20  # one floor per test: each run has a fresh target
    made = [desk(floor=floor)["id"] for _ in range(3)]
    desk(floor=floor + 1)
    r = call("GET", "/desks", params={"floor": floor, "limit": 100})
    assert [d["id"] for d in r.json()["items"]] == made


@pytest.mark.parametrize(
    "bad",
    [
        {"name": "x", "floor": 201},
        {"name": "x", "floor": True},
        {"name": "x", "floor": 3.5},
        {"name": "x", "floor": 3, "color": "red"},
        {"name": "   ", "floor": 3},
        {"floor": 3},
        [],
    ],
)
def test_invalid_desk_422(bad):
    assert_problem(call("POST", "/desks", json=bad), 422)


def test_edge_floors_accepted():
    desk(floor=200)
    desk(floor=-5)


def test_not_json_400():
    r = call("POST", "/desks", data="{not json", headers={"Content-Type": "application/json"})
    assert_problem(r, 400)


# -- http semantics ------------------------------------------------------------------------------
def test_etag_strong_changes_and_304():
    d = desk()
    r = call("GET", f"/desks/{d['id']}")
    tag = r.headers["ETag"]
    assert tag.startswith('"') and not tag.startswith("W/")
    r304 = call("GET", f"/desks/{d['id']}", headers={"If-None-Match": tag})
    assert r304.status_code == 304
    p = call("PATCH", f"/desks/{d['id']}", json={"name": "renamed"})
    assert p.status_code == 200 and p.json()["name"] == "renamed"
    assert p.headers["ETag"] != tag
    assert call("GET", f"/desks/{d['id']}").headers["ETag"] == p.headers["ETag"]


def test_if_match_stale_412_and_unchanged():
    d = desk()
    tag = call("GET", f"/desks/{d['id']}").headers["ETag"]
    assert call("PATCH", f"/desks/{d['id']}", json={"floor": 4}).status_code == 200
    r = call("PATCH", f"/desks/{d['id']}", json={"floor": 5}, headers={"If-Match": tag})
    assert_problem(r, 412)
    assert call("GET", f"/desks/{d['id']}").json()["floor"] == 4
    bad = call("PATCH", f"/desks/{d['id']}", json={"floor": "x"}, headers={"If-Match": tag})
    assert_problem(bad, 412)  # 412 comes before 422


# -- bookings ------------------------------------------------------------------------------------
def test_booking_rules_409():
    d1, d2 = desk(), desk()
    user, date = "u-" + unique(), a_date()
    r = booking(d1["id"], user, date)
    assert r.status_code == 201 and r.headers["Location"]
    assert_problem(booking(d1["id"], "other-" + unique(), date), 409)  # desk-day taken
    assert_problem(booking(d2["id"], user, date), 409)  # user-day taken


def test_impossible_date_422():
    assert_problem(booking(desk()["id"], date="2031-02-30"), 422)


def test_cancel_frees_the_desk_day():
    d = desk()
    date = a_date()
    b = booking(d["id"], date=date).json()
    assert call("DELETE", f"/bookings/{b['id']}").status_code == 204
    assert_problem(call("GET", f"/bookings/{b['id']}"), 404)
    listed = call("GET", "/bookings", params={"desk_id": d["id"]}).json()["items"]
    assert b["id"] not in [x["id"] for x in listed]
    assert booking(d["id"], date=date).status_code == 201


def test_deleting_a_desk_cancels_its_bookings():
    d = desk()
    b = booking(d["id"]).json()
    assert call("DELETE", f"/desks/{d['id']}").status_code == 204
    assert_problem(call("GET", f"/desks/{d['id']}"), 404)
    assert_problem(call("GET", f"/bookings/{b['id']}"), 404)


def test_bookings_ordered_by_date_then_creation():
    d1, d2, d3 = desk(), desk(), desk()
    user = "u-" + unique()
    later = booking(d1["id"], user, "2099-12-30").json()
    earlier = booking(d2["id"], user, "2099-12-01").json()
    mid = booking(d3["id"], user, "2099-12-15").json()
    items = call("GET", "/bookings", params={"user": user}).json()["items"]
    assert [b["id"] for b in items] == [earlier["id"], mid["id"], later["id"]]


# -- pagination ----------------------------------------------------------------------------------
def test_pages_exact_and_null_cursor_on_last():
    floor = 40  # one floor per test: each run has a fresh target
    ids = [desk(floor=floor)["id"] for _ in range(4)]
    r1 = call("GET", "/desks", params={"floor": floor, "limit": 2}).json()
    assert [d["id"] for d in r1["items"]] == ids[:2] and r1["next_cursor"]
    r2 = call(
        "GET", "/desks", params={"floor": floor, "limit": 2, "cursor": r1["next_cursor"]}
    ).json()
    assert [d["id"] for d in r2["items"]] == ids[2:]
    assert r2["next_cursor"] is None


def test_limit_bounds():
    assert call("GET", "/desks", params={"limit": 100}).status_code == 200
    assert_problem(call("GET", "/desks", params={"limit": 101}), 400)
    assert_problem(call("GET", "/desks", params={"cursor": "not-a-cursor"}), 400)


def test_walk_survives_deletion_between_pages():
    floor = 60  # one floor per test: each run has a fresh target
    ids = [desk(floor=floor)["id"] for _ in range(4)]
    r1 = call("GET", "/desks", params={"floor": floor, "limit": 2}).json()
    call("DELETE", f"/desks/{ids[0]}")
    r2 = call(
        "GET", "/desks", params={"floor": floor, "limit": 2, "cursor": r1["next_cursor"]}
    ).json()
    assert [d["id"] for d in r1["items"] + r2["items"]] == ids


# -- idempotency ---------------------------------------------------------------------------------
def test_idempotent_replay_and_key_reuse():
    d = desk()
    key = "k-" + unique()
    body = {"desk_id": d["id"], "user": "u-" + unique(), "date": a_date()}
    first = call("POST", "/bookings", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == 201
    reordered = json.dumps({"date": body["date"], "user": body["user"], "desk_id": body["desk_id"]})
    again = call(
        "POST",
        "/bookings",
        data=reordered,
        headers={"Idempotency-Key": key, "Content-Type": "application/json"},
    )
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Location"] == first.headers["Location"]
    other = call(
        "POST", "/bookings", json={**body, "date": a_date()}, headers={"Idempotency-Key": key}
    )
    assert_problem(other, 422)


# -- concurrency ---------------------------------------------------------------------------------
def test_simultaneous_bookings_one_winner():
    d = desk()
    date = a_date()
    statuses: list[int] = []
    gate = threading.Barrier(20)

    def go(i: int) -> None:
        s = requests.Session()
        s.get(URL + "/healthz", timeout=10)  # connected before the gate: the posts overlap
        gate.wait()
        r = s.post(
            URL + "/bookings",
            json={"desk_id": d["id"], "user": f"r{i}-{unique()}", "date": date},
            timeout=20,
        )
        statuses.append(r.status_code)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201] + [409] * 19
    assert (
        len(call("GET", "/bookings", params={"desk_id": d["id"], "date": date}).json()["items"])
        == 1
    )
