import json

from _common import (uniq, new_date, post_json, raw, get, delete, assert_json, assert_problem, assert_location,
                     make_desk, make_booking, walk_all, ids)


def _key():
    return "key-" + uniq("idem")


def test_same_key_same_body_replays():
    d = make_desk()
    key = _key()
    body = {"desk_id": d["id"], "user": uniq("u"), "date": new_date()}
    r1 = post_json("/bookings", body, headers={"Idempotency-Key": key})
    b1 = assert_json(r1, 201)
    loc1 = assert_location(r1, "bookings", b1["id"])
    for _ in range(2):
        r2 = post_json("/bookings", body, headers={"Idempotency-Key": key})
        b2 = assert_json(r2, 201)
        assert b2 == b1
        assert r2.headers.get("Location") == r1.headers.get("Location")
    assert ids(walk_all("/bookings", {"desk_id": d["id"]})) == [b1["id"]]
    assert ids(walk_all("/bookings", {"user": body["user"]})) == [b1["id"]]


def test_same_key_equal_json_different_text_replays():
    d = make_desk()
    key = _key()
    user = uniq("u")
    date = new_date()
    text1 = json.dumps({"desk_id": d["id"], "user": user, "date": date})
    text2 = '{ "date" :"%s",\n  "user": "%s" ,"desk_id":   "%s" }\n' % (date, user, d["id"])
    r1 = raw("POST", "/bookings", text1, headers={"Idempotency-Key": key})
    b1 = assert_json(r1, 201)
    r2 = raw("POST", "/bookings", text2, headers={"Idempotency-Key": key})
    assert assert_json(r2, 201) == b1
    assert r2.headers.get("Location") == r1.headers.get("Location")
    assert ids(walk_all("/bookings", {"desk_id": d["id"]})) == [b1["id"]]


def test_same_key_different_body_422_creates_nothing():
    d = make_desk()
    d2 = make_desk()
    key = _key()
    body = {"desk_id": d["id"], "user": uniq("u"), "date": new_date()}
    b1 = assert_json(post_json("/bookings", body, headers={"Idempotency-Key": key}), 201)
    # a different, otherwise perfectly valid booking (other desk, other user, other date)
    other = {"desk_id": d2["id"], "user": uniq("v"), "date": new_date()}
    assert_problem(post_json("/bookings", other, headers={"Idempotency-Key": key}), 422)
    # a body differing only in one field
    near = dict(body, date=new_date())
    assert_problem(post_json("/bookings", near, headers={"Idempotency-Key": key}), 422)
    assert walk_all("/bookings", {"desk_id": d2["id"]}) == []
    assert walk_all("/bookings", {"user": other["user"]}) == []
    assert ids(walk_all("/bookings", {"desk_id": d["id"]})) == [b1["id"]]
    # the original still replays
    r = post_json("/bookings", body, headers={"Idempotency-Key": key})
    assert assert_json(r, 201) == b1
    # and the other body still works without the key
    assert_json(post_json("/bookings", other), 201)


def test_different_keys_are_processed_normally():
    d = make_desk()
    body = {"desk_id": d["id"], "user": uniq("u"), "date": new_date()}
    assert_json(post_json("/bookings", body, headers={"Idempotency-Key": _key()}), 201)
    assert_problem(post_json("/bookings", body, headers={"Idempotency-Key": _key()}), 409)
    assert_problem(post_json("/bookings", body), 409)
    assert len(walk_all("/bookings", {"desk_id": d["id"]})) == 1


def test_key_does_not_affect_requests_without_it():
    d = make_desk()
    key = _key()
    body = {"desk_id": d["id"], "user": uniq("u"), "date": new_date()}
    assert_json(post_json("/bookings", body, headers={"Idempotency-Key": key}), 201)
    assert_problem(post_json("/bookings", body), 409)


def test_long_printable_key():
    d = make_desk()
    key = ("K~!#$%&'*+-.^_`|" + uniq("long")) * 20
    key = key[:255]
    body = {"desk_id": d["id"], "user": uniq("u"), "date": new_date()}
    r1 = post_json("/bookings", body, headers={"Idempotency-Key": key})
    b1 = assert_json(r1, 201)
    r2 = post_json("/bookings", body, headers={"Idempotency-Key": key})
    assert assert_json(r2, 201) == b1
    assert r2.headers.get("Location") == r1.headers.get("Location")
    assert len(walk_all("/bookings", {"desk_id": d["id"]})) == 1


def test_keys_are_global_not_per_user():
    d = make_desk()
    key = _key()
    b1 = assert_json(post_json("/bookings", {"desk_id": d["id"], "user": uniq("a"), "date": new_date()},
                               headers={"Idempotency-Key": key}), 201)
    d2 = make_desk()
    other_user = uniq("b")
    assert_problem(post_json("/bookings", {"desk_id": d2["id"], "user": other_user, "date": new_date()},
                             headers={"Idempotency-Key": key}), 422)
    assert walk_all("/bookings", {"user": other_user}) == []
    assert ids(walk_all("/bookings", {"desk_id": d["id"]})) == [b1["id"]]
