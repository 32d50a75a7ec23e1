"""Validation: 422 problems for bodies that are JSON but not valid requests."""

from __future__ import annotations

import pytest

from graders import expect


@pytest.mark.points(2)
@pytest.mark.skill("validation")
def test_create_desk_missing_fields_422(api, uniq, problem):
    """POST /desks without name or floor answers a 422 problem."""
    for body in ({}, {"name": uniq("desk")}, {"floor": 1}, {"features": ["x"]}):
        problem(api.post("/desks", json=body), 422)


@pytest.mark.points(2)
@pytest.mark.skill("validation")
def test_create_desk_invalid_values_422(api, uniq, problem):
    """POST /desks with a wrong type or out-of-range value answers a 422 problem."""
    name = uniq("desk")
    for body in (
        {"name": "", "floor": 1},
        {"name": "   ", "floor": 1},
        {"name": 42, "floor": 1},
        {"name": None, "floor": 1},
        {"name": "x" * 101, "floor": 1},
        {"name": name, "floor": "3"},
        {"name": name, "floor": 1.5},
        {"name": name, "floor": True},
        {"name": name, "floor": None},
        {"name": name, "floor": 1, "features": "monitor"},
        {"name": name, "floor": 1, "features": [1, 2]},
        {"name": name, "floor": 1, "features": [""]},
    ):
        problem(api.post("/desks", json=body), 422)


@pytest.mark.hidden
@pytest.mark.skill("validation")
def test_floor_range_boundaries(api, uniq, problem):
    """Floors -5 and 200 are accepted; -6 and 201 answer 422."""
    for floor in (-5, 200):
        expect(api.post("/desks", json={"name": uniq("desk"), "floor": floor})).status(200, 201)
    for floor in (-6, 201):
        problem(api.post("/desks", json={"name": uniq("desk"), "floor": floor}), 422)


@pytest.mark.hidden
@pytest.mark.skill("validation")
def test_unknown_fields_422(api, make_desk, uniq, fresh_date, problem):
    """Unknown fields in POST /desks, PATCH /desks/{id} and POST /bookings answer 422."""
    problem(api.post("/desks", json={"name": uniq("desk"), "floor": 1, "colour": "red"}), 422)
    desk = make_desk()
    problem(api.patch(f"/desks/{desk['id']}", json={"id": "something-else"}), 422)
    problem(api.patch(f"/desks/{desk['id']}", json={"floor": 2, "colour": "red"}), 422)
    expect(api.get(f"/desks/{desk['id']}")).status(200).json_field("floor", desk.get("floor", 1))
    body = {"desk_id": desk["id"], "user": uniq("user"), "date": fresh_date(), "note": "hi"}
    problem(api.post("/bookings", json=body), 422)


@pytest.mark.hidden
@pytest.mark.skill("validation")
def test_body_not_an_object_422(api, make_desk, problem):
    """A JSON body that is not an object (array, string, number, null) answers 422."""
    desk = make_desk()
    for raw in ("[]", '"desk"', "3", "null"):
        headers = {"Content-Type": "application/json"}
        problem(api.post("/desks", data=raw, headers=headers), 422)
        problem(api.post("/bookings", data=raw, headers=headers), 422)
        problem(api.patch(f"/desks/{desk['id']}", data=raw, headers=headers), 422)


@pytest.mark.skill("validation")
def test_patch_invalid_values_422_changes_nothing(api, make_desk, problem):
    """An invalid PATCH answers 422 and leaves the desk unchanged."""
    desk = make_desk(floor=5, features=["lamp"])
    path = f"/desks/{desk['id']}"
    for body in (
        {"floor": "six"},
        {"name": ""},
        {"name": None},
        {"features": None},
        {"floor": 6, "name": 7},
    ):
        problem(api.patch(path, json=body), 422)
    r = api.get(path)
    expect(r).status(200).json_field("floor", 5).json_field("name", desk["name"]).json_field(
        "features", ["lamp"]
    )


@pytest.mark.points(2)
@pytest.mark.skill("validation")
def test_create_booking_invalid_fields_422(api, make_desk, uniq, fresh_date, problem):
    """POST /bookings with a missing, mistyped or impossible field answers 422."""
    desk = make_desk()
    good = {"desk_id": desk["id"], "user": uniq("user"), "date": fresh_date()}
    bodies = [{k: v for k, v in good.items() if k != drop} for drop in good]
    bodies += [
        {**good, "user": ""},
        {**good, "user": "  "},
        {**good, "user": 5},
        {**good, "desk_id": 5},
        {**good, "date": "2031-02-30"},
        {**good, "date": "2031/01/01"},
        {**good, "date": "31-01-2031"},
        {**good, "date": "tomorrow"},
        {**good, "date": 20310101},
        {**good, "date": None},
    ]
    for body in bodies:
        problem(api.post("/bookings", json=body), 422)
    # Nothing was booked: the good body still succeeds.
    expect(api.post("/bookings", json=good)).status(201)


@pytest.mark.skill("validation")
def test_booking_unknown_desk_422(api, uniq, fresh_date, problem):
    """POST /bookings naming a desk that does not exist answers 422."""
    body = {"desk_id": f"no-such-desk-{uniq('d')}", "user": uniq("user"), "date": fresh_date()}
    problem(api.post("/bookings", json=body), 422)
