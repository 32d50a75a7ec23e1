"""Desks: create, read, partial update, delete."""

from __future__ import annotations

import re
import uuid

import pytest

from graders import expect, fail

STRONG_ETAG = re.compile(r'^"[^"]*"$')


@pytest.mark.skill("rest")
def test_healthz_ok(api):
    """GET /healthz answers 200 when the service is ready."""
    expect(api.get("/healthz")).status(200)


@pytest.mark.points(2)
@pytest.mark.skill("rest")
def test_create_desk_returns_201_and_location(api, uniq, obj, location_path):
    """POST /desks answers 201, the desk, a Location that serves it, and a strong ETag."""
    name = uniq("desk")
    r = api.post("/desks", json={"name": name, "floor": 3})
    expect(r).status(201).content_type("application/json").header("ETag")
    tag = r.headers["ETag"].strip()
    if not STRONG_ETAG.match(tag):
        fail(f'{r.request_line}: expected a strong quoted ETag such as "v1"; got {tag!r}')
    desk = obj(r, "id", "name", "floor", "features")
    expect(r).json_field("name", name).json_field("floor", 3).json_field("features", [])
    if not isinstance(desk["id"], str) or not desk["id"]:
        fail(f'{r.request_line}: expected "id" to be a non-empty string; got {desk["id"]!r}')
    got = api.get(location_path(r))
    expect(got).status(200).json_field("id", desk["id"]).json_field("name", name)


@pytest.mark.skill("rest")
def test_get_desk_returns_desk(api, uniq, obj):
    """GET /desks/{id} answers 200 with the desk as created, as application/json."""
    name = uniq("desk")
    r = api.post("/desks", json={"name": name, "floor": -2, "features": ["monitor", "dock"]})
    expect(r).status(200, 201)
    desk_id = obj(r, "id")["id"]
    got = api.get(f"/desks/{desk_id}")
    expect(got).status(200).content_type("application/json")
    for key, value in (
        ("id", desk_id),
        ("name", name),
        ("floor", -2),
        ("features", ["monitor", "dock"]),
    ):
        expect(got).json_field(key, value)


@pytest.mark.skill("rest")
def test_unknown_desk_404(api, problem):
    """GET, PATCH and DELETE of an unknown desk id answer 404 problems."""
    path = f"/desks/no-such-desk-{uuid.uuid4().hex}"
    problem(api.get(path), 404)
    problem(api.patch(path, json={"floor": 2}), 404)
    problem(api.delete(path), 404)


@pytest.mark.points(2)
@pytest.mark.skill("rest")
def test_delete_desk_204_then_404(api, make_desk, problem):
    """DELETE /desks/{id} answers 204 with no body; the desk is then gone (404)."""
    desk = make_desk()
    r = api.delete(f"/desks/{desk['id']}")
    expect(r).status(204)
    if r.body.strip():
        fail(f"{r.request_line}: expected no body with 204; got {r.text[:120]!r}")
    problem(api.get(f"/desks/{desk['id']}"), 404)
    problem(api.delete(f"/desks/{desk['id']}"), 404)


@pytest.mark.points(2)
@pytest.mark.skill("rest")
def test_patch_desk_partial_update(api, make_desk, uniq):
    """PATCH changes only the fields sent; features are replaced as a whole."""
    feature = uniq("f")
    desk = make_desk(floor=4, features=[feature, "lamp"])
    path = f"/desks/{desk['id']}"
    r = api.patch(path, json={"floor": 7})
    expect(r).status(200).json_field("floor", 7).json_field("name", desk["name"])
    expect(r).json_field("features", [feature, "lamp"])
    expect(api.get(path)).status(200).json_field("floor", 7).json_field("name", desk["name"])
    r = api.patch(
        path,
        json={"features": ["standing"]},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    expect(r).status(200).json_field("features", ["standing"]).json_field("floor", 7)
    expect(api.get(path)).status(200).json_field("features", ["standing"])


@pytest.mark.hidden
@pytest.mark.skill("rest")
def test_delete_desk_cancels_its_bookings(
    api, make_desk, make_booking, uniq, fresh_date, problem, page
):
    """DELETE /desks/{id} answers 204 and cancels its bookings; the desk is no longer bookable."""
    desk = make_desk()
    user, date = uniq("user"), fresh_date()
    booking = make_booking(desk["id"], user, date)
    r = api.delete(f"/desks/{desk['id']}")
    expect(r).status(204)
    if r.body.strip():
        fail(f"{r.request_line}: expected no body with 204; got {r.text[:120]!r}")
    problem(api.get(f"/bookings/{booking['id']}"), 404)
    items, _ = page("/bookings", {"user": user})
    if items:
        fail(
            f"GET /bookings?user={user}: expected no bookings after their desk was deleted; "
            f"got {items!r}"[:500]
        )
    # The user is free that day again; the deleted desk is not bookable.
    other = make_desk()
    expect(api.post("/bookings", json={"desk_id": other["id"], "user": user, "date": date})).status(
        201
    )
    problem(
        api.post("/bookings", json={"desk_id": desk["id"], "user": uniq("user"), "date": date}), 422
    )
