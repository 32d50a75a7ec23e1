"""Idempotency-Key on POST /bookings."""

from __future__ import annotations

import json
import uuid

import pytest

from graders import concurrently, expect, fail


def key() -> str:
    return f"idem-{uuid.uuid4().hex}"


def user_bookings(page, user):
    items, _ = page("/bookings", {"user": user, "limit": 100})
    return [b.get("id") for b in items]


@pytest.mark.points(3)
@pytest.mark.skill("idempotency")
def test_idempotent_replay_returns_first_response(api, make_desk, uniq, fresh_date, page):
    """Repeating POST /bookings with the same Idempotency-Key and body replays the first 201."""
    desk = make_desk()
    user = uniq("user")
    body = {"desk_id": desk["id"], "user": user, "date": fresh_date()}
    headers = {"Idempotency-Key": key()}
    first = api.post("/bookings", json=body, headers=headers)
    expect(first).status(201).header("Location")
    again = api.post("/bookings", json=body, headers=headers)
    expect(again).status(201).header("Location", first.headers["Location"].strip())
    if again.json() != first.json():
        fail(
            f"{again.request_line}: expected the replayed body {first.text[:200]}; "
            f"got {again.text[:200]}"
        )
    ids = user_bookings(page, user)
    if ids != [first.json().get("id")]:
        fail(f"GET /bookings?user={user}: expected exactly one booking after a replay; got {ids}")


@pytest.mark.points(2)
@pytest.mark.skill("idempotency")
def test_idempotency_key_with_different_body_422(api, make_desk, uniq, fresh_date, problem, page):
    """Reusing an Idempotency-Key with a different body answers a 422 problem and books nothing."""
    desk = make_desk()
    user = uniq("user")
    headers = {"Idempotency-Key": key()}
    first = api.post(
        "/bookings",
        json={"desk_id": desk["id"], "user": user, "date": fresh_date()},
        headers=headers,
    )
    expect(first).status(201)
    other = {"desk_id": desk["id"], "user": user, "date": fresh_date()}
    problem(api.post("/bookings", json=other, headers=headers), 422)
    ids = user_bookings(page, user)
    if ids != [first.json().get("id")]:
        fail(f"GET /bookings?user={user}: expected only the first booking; got {ids}")


@pytest.mark.hidden
@pytest.mark.skill("idempotency")
def test_idempotent_replay_ignores_json_formatting(api, make_desk, uniq, fresh_date, page):
    """The same body with other key order and whitespace counts as the same request."""
    desk = make_desk()
    user, date = uniq("user"), fresh_date()
    headers = {"Idempotency-Key": key(), "Content-Type": "application/json"}
    compact = json.dumps({"desk_id": desk["id"], "user": user, "date": date}, separators=(",", ":"))
    spaced = json.dumps({"date": date, "user": user, "desk_id": desk["id"]}, indent=2)
    first = api.post("/bookings", data=compact, headers=headers)
    expect(first).status(201)
    again = api.post("/bookings", data=spaced, headers=headers)
    expect(again).status(201)
    if again.json() != first.json():
        fail(
            f"{again.request_line}: expected the replayed body {first.text[:200]}; "
            f"got {again.text[:200]}"
        )
    ids = user_bookings(page, user)
    if ids != [first.json().get("id")]:
        fail(f"GET /bookings?user={user}: expected exactly one booking; got {ids}")


@pytest.mark.skill("idempotency")
def test_requests_without_or_with_other_keys_are_distinct(
    api, make_desk, uniq, fresh_date, problem, page
):
    """Different keys are different requests; identical requests without a key are not merged."""
    user = uniq("user")
    d1, d2 = fresh_date(), fresh_date()
    a = api.post(
        "/bookings",
        json={"desk_id": make_desk()["id"], "user": user, "date": d1},
        headers={"Idempotency-Key": key()},
    )
    b = api.post(
        "/bookings",
        json={"desk_id": make_desk()["id"], "user": user, "date": d2},
        headers={"Idempotency-Key": key()},
    )
    expect(a).status(201)
    expect(b).status(201)
    if a.json().get("id") == b.json().get("id"):
        fail(f"{b.request_line}: a new key must create a new booking; got the same id as before")
    desk = make_desk()
    body = {"desk_id": desk["id"], "user": uniq("user"), "date": d1}
    expect(api.post("/bookings", json=body)).status(201)
    problem(api.post("/bookings", json=body), 409)
    if len(user_bookings(page, user)) != 2:
        fail(f"GET /bookings?user={user}: expected 2 bookings; got {user_bookings(page, user)}")


@pytest.mark.critical
@pytest.mark.hidden
@pytest.mark.points(2)
@pytest.mark.skill("idempotency")
def test_concurrent_requests_with_same_key(api, make_desk, uniq, fresh_date, page):
    """10 simultaneous POSTs with one key create one booking; a later retry replays its 201."""
    desk = make_desk()
    user = uniq("user")
    body = {"desk_id": desk["id"], "user": user, "date": fresh_date()}
    headers = {"Idempotency-Key": key()}
    responses = concurrently(10, lambda i: api.post("/bookings", json=body, headers=headers))
    statuses = sorted(r.status for r in responses)
    created = {r.json().get("id") for r in responses if r.status == 201}
    if not set(statuses) <= {201, 409} or len(created) != 1:
        fail(
            f"10 x POST /bookings with one Idempotency-Key: expected 201s (all for one booking) "
            f"or 409s; got statuses {statuses} and booking ids {sorted(map(str, created))}"
        )
    ids = user_bookings(page, user)
    if ids != list(created):
        fail(f"GET /bookings?user={user}: expected exactly booking {created}; got {ids}")
    later = api.post("/bookings", json=body, headers=headers)
    expect(later).status(201).json_field("id", next(iter(created)))
