import pytest

from _common import *  # noqa: F401,F403
from _common import (S, URL, ID_RE, STRONG_ETAG_RE, uniq, new_date, req, get, post_json, patch_json, raw,
                     delete, assert_json, assert_problem, assert_location, allow_set, make_desk,
                     make_booking, walk_all, ids)


def test_healthz():
    assert get("/healthz").status_code == 200


# ---------------------------------------------------------------- create / read

def test_create_desk_201_body_location_etag():
    name = uniq("North")
    r = post_json("/desks", {"name": name, "floor": 3, "features": ["monitor", "standing"]})
    d = assert_json(r, 201)
    assert isinstance(d.get("id"), str) and ID_RE.match(d["id"]), d
    assert d["name"] == name and d["floor"] == 3 and d["features"] == ["monitor", "standing"], d
    etag = r.headers.get("ETag")
    assert etag and STRONG_ETAG_RE.match(etag), etag
    target = assert_location(r, "desks", d["id"])
    g = S.get(target, timeout=8)
    got = assert_json(g, 200)
    assert got["id"] == d["id"] and got["name"] == name and got["floor"] == 3
    assert got["features"] == ["monitor", "standing"]
    assert g.headers.get("ETag") == etag


def test_create_desk_features_default_empty():
    d = make_desk(floor=0)
    assert d["features"] == []
    got = assert_json(get(f"/desks/{d['id']}"), 200)
    assert got["features"] == []
    assert got["floor"] == 0


def test_features_kept_as_given():
    feats = ["b", "a", "b", "a", "c"]
    d = make_desk(features=feats)
    assert d["features"] == feats
    assert assert_json(get(f"/desks/{d['id']}"), 200)["features"] == feats


def test_desk_ids_unique_and_not_reused():
    a = make_desk()
    b = make_desk()
    assert a["id"] != b["id"]
    assert delete(f"/desks/{a['id']}").status_code == 204
    c = make_desk()
    assert c["id"] not in (a["id"], b["id"])


def test_get_desk_200_with_etag():
    d = make_desk(floor=7, features=["x"])
    r = get(f"/desks/{d['id']}")
    got = assert_json(r, 200)
    assert got == {**got, **d}
    etag = r.headers.get("ETag")
    assert etag and STRONG_ETAG_RE.match(etag) and not etag.startswith("W/"), etag
    r2 = get(f"/desks/{d['id']}")
    assert r2.headers.get("ETag") == etag


def test_unknown_desk_404():
    assert_problem(get("/desks/nope-does-not-exist"), 404)
    assert_problem(patch_json("/desks/nope-does-not-exist", {"name": "x"}), 404)
    assert_problem(delete("/desks/nope-does-not-exist"), 404)


def test_unknown_path_404():
    assert_problem(get("/nope"), 404)
    assert_problem(get(f"/nope/{uniq()}"), 404)


def test_405_with_allow():
    d = make_desk()
    r = req("PUT", f"/desks/{d['id']}", json={"name": "a", "floor": 1})
    assert_problem(r, 405)
    allow = allow_set(r)
    assert {"GET", "PATCH", "DELETE"} <= allow and "PUT" not in allow, allow
    r = req("POST", f"/desks/{d['id']}", json={"name": "a", "floor": 1})
    assert_problem(r, 405)
    allow = allow_set(r)
    assert {"GET", "PATCH", "DELETE"} <= allow and "POST" not in allow, allow

    for method in ("DELETE", "PUT", "PATCH"):
        r = req(method, "/desks", json={"name": "a", "floor": 1})
        assert_problem(r, 405)
        allow = allow_set(r)
        assert {"GET", "POST"} <= allow and method not in allow, allow
    # nothing was changed by the refused requests
    assert assert_json(get(f"/desks/{d['id']}"), 200)["name"] == d["name"]


def test_405_precedes_400():
    d = make_desk()
    r = raw("PUT", f"/desks/{d['id']}", "{not json")
    assert_problem(r, 405)
    assert "GET" in allow_set(r)


# ---------------------------------------------------------------- delete

def test_delete_desk_204_then_404_everywhere():
    d = make_desk()
    r = delete(f"/desks/{d['id']}")
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert_problem(get(f"/desks/{d['id']}"), 404)
    assert_problem(patch_json(f"/desks/{d['id']}", {"name": "zz"}), 404)
    assert_problem(delete(f"/desks/{d['id']}"), 404)
    feat = uniq("f")
    # not in the list any more
    assert d["id"] not in ids(walk_all("/desks", {}, limit=100))
    r = post_json("/bookings", {"desk_id": d["id"], "user": uniq("u"), "date": new_date()})
    assert_problem(r, 422)


def test_delete_desk_cancels_its_bookings():
    d = make_desk()
    other = make_desk()
    date = new_date()
    user = uniq("u")
    b = make_booking(d["id"], user=user, date=date)
    b2 = make_booking(d["id"], user=uniq("u"), date=new_date())
    assert delete(f"/desks/{d['id']}").status_code == 204
    assert_problem(get(f"/bookings/{b['id']}"), 404)
    assert_problem(get(f"/bookings/{b2['id']}"), 404)
    assert_problem(delete(f"/bookings/{b['id']}"), 404)
    assert walk_all("/bookings", {"desk_id": d["id"]}) == []
    assert walk_all("/bookings", {"user": user}) == []
    assert walk_all("/bookings", {"date": date}) == []
    assert b["id"] not in ids(walk_all("/bookings", {}, limit=100))
    # the user is free again on that date
    nb = make_booking(other["id"], user=user, date=date)
    assert ids(walk_all("/bookings", {"user": user})) == [nb["id"]]


# ---------------------------------------------------------------- desk validation

GOOD = {"name": "Desk", "floor": 1}


@pytest.mark.parametrize("body", [
    {"floor": 1},
    {"name": "A"},
    {},
    {"name": "", "floor": 1},
    {"name": "   ", "floor": 1},
    {"name": "\t \n", "floor": 1},
    {"name": "x" * 101, "floor": 1},
    {"name": 5, "floor": 1},
    {"name": None, "floor": 1},
    {"name": ["a"], "floor": 1},
    {"name": "A", "floor": 3.5},
    {"name": "A", "floor": "3"},
    {"name": "A", "floor": True},
    {"name": "A", "floor": False},
    {"name": "A", "floor": None},
    {"name": "A", "floor": -6},
    {"name": "A", "floor": 201},
    {"name": "A", "floor": 100000},
    {"name": "A", "floor": 1, "features": "monitor"},
    {"name": "A", "floor": 1, "features": [1]},
    {"name": "A", "floor": 1, "features": [""]},
    {"name": "A", "floor": 1, "features": ["x" * 51]},
    {"name": "A", "floor": 1, "features": ["f"] * 21},
    {"name": "A", "floor": 1, "features": [None]},
    {"name": "A", "floor": 1, "features": {"a": 1}},
    {"name": "A", "floor": 1, "id": "mine"},
    {"name": "A", "floor": 1, "color": "red"},
])
def test_create_desk_invalid_422(body):
    assert_problem(post_json("/desks", body), 422)


def test_create_desk_invalid_creates_nothing():
    feat = uniq("nothing")
    for body in ({"name": "", "floor": 1, "features": [feat]},
                 {"name": "A", "floor": 999, "features": [feat]},
                 {"name": "A", "floor": 1, "features": [feat], "extra": 1}):
        assert_problem(post_json("/desks", body), 422)
    assert walk_all("/desks", {"feature": feat}) == []


@pytest.mark.parametrize("body", [
    {"name": "x", "floor": -5},
    {"name": "x", "floor": 200},
    {"name": "x" * 100, "floor": 0},
    {"name": "x", "floor": 1, "features": []},
    {"name": "x", "floor": 1, "features": ["f"] * 20},
    {"name": "x", "floor": 1, "features": ["y" * 50, "z"]},
])
def test_create_desk_valid_edges(body):
    r = post_json("/desks", body)
    d = assert_json(r, 201)
    for k, v in body.items():
        assert d[k] == v, (k, d)
    got = assert_json(get(f"/desks/{d['id']}"), 200)
    for k, v in body.items():
        assert got[k] == v, (k, got)


@pytest.mark.parametrize("data", ["{not json", "", "{\"name\": \"a\", \"floor\": 1,}", "{\"name\": \"a\"",
                                  "{\"name\": \"a\", \"floor\": 1} trailing"])
def test_create_desk_bad_json_400(data):
    assert_problem(raw("POST", "/desks", data), 400)


@pytest.mark.parametrize("data", ["[]", "[{\"name\": \"a\", \"floor\": 1}]", "\"desk\"", "42", "null", "true"])
def test_create_desk_not_object_422(data):
    assert_problem(raw("POST", "/desks", data), 422)


# ---------------------------------------------------------------- PATCH

def test_patch_partial_update():
    d = make_desk(name=uniq("orig"), floor=2, features=["a", "b"])
    r = patch_json(f"/desks/{d['id']}", {"name": "Renamed"})
    got = assert_json(r, 200)
    assert got["id"] == d["id"] and got["name"] == "Renamed" and got["floor"] == 2 and got["features"] == ["a", "b"]
    r = patch_json(f"/desks/{d['id']}", {"floor": -5})
    got = assert_json(r, 200)
    assert got["name"] == "Renamed" and got["floor"] == -5 and got["features"] == ["a", "b"]
    r = patch_json(f"/desks/{d['id']}", {"features": ["c"]})
    got = assert_json(r, 200)
    assert got["features"] == ["c"] and got["floor"] == -5 and got["name"] == "Renamed"
    r = patch_json(f"/desks/{d['id']}", {"features": []})
    assert assert_json(r, 200)["features"] == []
    r = patch_json(f"/desks/{d['id']}", {"name": "N2", "floor": 200, "features": ["z", "z"]})
    got = assert_json(r, 200)
    assert (got["name"], got["floor"], got["features"]) == ("N2", 200, ["z", "z"])
    g = assert_json(get(f"/desks/{d['id']}"), 200)
    assert (g["id"], g["name"], g["floor"], g["features"]) == (d["id"], "N2", 200, ["z", "z"])


def test_patch_merge_patch_content_type():
    d = make_desk(floor=4)
    r = raw("PATCH", f"/desks/{d['id']}", '{"floor": 5}', headers={"Content-Type": "application/merge-patch+json"})
    got = assert_json(r, 200)
    assert got["floor"] == 5 and got["name"] == d["name"]
    assert assert_json(get(f"/desks/{d['id']}"), 200)["floor"] == 5


@pytest.mark.parametrize("body", [
    {"name": None},
    {"floor": None},
    {"features": None},
    {"id": "other"},
    {"name": "ok", "id": "other"},
    {"colour": "red"},
    {"name": ""},
    {"name": "  "},
    {"name": "x" * 101},
    {"name": 3},
    {"floor": 3.5},
    {"floor": "3"},
    {"floor": True},
    {"floor": -6},
    {"floor": 201},
    {"features": "a"},
    {"features": ["f"] * 21},
    {"features": [""]},
    {"features": ["x" * 51]},
    {"features": [2]},
    {"name": "fine", "floor": 999},
])
def test_patch_invalid_422_changes_nothing(body):
    d = make_desk(floor=9, features=["keep"])
    r0 = get(f"/desks/{d['id']}")
    etag = r0.headers.get("ETag")
    assert_problem(patch_json(f"/desks/{d['id']}", body), 422)
    r1 = get(f"/desks/{d['id']}")
    got = assert_json(r1, 200)
    assert (got["name"], got["floor"], got["features"]) == (d["name"], 9, ["keep"])
    assert r1.headers.get("ETag") == etag


@pytest.mark.parametrize("data", ["[]", "null", "\"x\"", "7"])
def test_patch_not_object_422(data):
    d = make_desk()
    assert_problem(raw("PATCH", f"/desks/{d['id']}", data), 422)


@pytest.mark.parametrize("data", ["{bad", "", "{\"name\": \"x\",}"])
def test_patch_bad_json_400_changes_nothing(data):
    d = make_desk(floor=8)
    assert_problem(raw("PATCH", f"/desks/{d['id']}", data), 400)
    got = assert_json(get(f"/desks/{d['id']}"), 200)
    assert got["name"] == d["name"] and got["floor"] == 8


def test_patch_unknown_404_precedes_400_and_412():
    assert_problem(raw("PATCH", f"/desks/{uniq('missing')}", "{bad"), 404)
    assert_problem(raw("PATCH", f"/desks/{uniq('missing')}", '{"name": "x"}', headers={"If-Match": '"nope"'}), 404)
    assert_problem(raw("PATCH", f"/desks/{uniq('missing')}", '{"bogus": 1}'), 404)


# ---------------------------------------------------------------- ETag / conditional requests

def test_etag_changes_on_update_and_matches_get():
    d = make_desk(floor=1)
    e0 = get(f"/desks/{d['id']}").headers["ETag"]
    r = patch_json(f"/desks/{d['id']}", {"floor": 2})
    assert_json(r, 200)
    e1 = r.headers.get("ETag")
    assert e1 and STRONG_ETAG_RE.match(e1), e1
    assert e1 != e0
    assert get(f"/desks/{d['id']}").headers.get("ETag") == e1
    assert get(f"/desks/{d['id']}").headers.get("ETag") == e1
    r = patch_json(f"/desks/{d['id']}", {"features": ["new"]})
    e2 = r.headers.get("ETag")
    assert e2 and e2 != e1
    assert get(f"/desks/{d['id']}").headers.get("ETag") == e2
    r = patch_json(f"/desks/{d['id']}", {"name": uniq("nm")})
    e3 = r.headers.get("ETag")
    assert e3 and e3 != e2
    assert get(f"/desks/{d['id']}").headers.get("ETag") == e3


def test_if_none_match_304():
    d = make_desk()
    r = get(f"/desks/{d['id']}")
    etag = r.headers["ETag"]
    r2 = get(f"/desks/{d['id']}", headers={"If-None-Match": etag})
    assert r2.status_code == 304, r2.status_code
    assert r2.content == b""
    assert r2.headers.get("ETag") == etag
    # a tag that is not current: full answer
    r3 = get(f"/desks/{d['id']}", headers={"If-None-Match": '"definitely-not-the-tag"'})
    assert assert_json(r3, 200)["id"] == d["id"]
    assert r3.headers.get("ETag") == etag
    # after a change, the old tag no longer matches
    r4 = patch_json(f"/desks/{d['id']}", {"floor": 11})
    new = r4.headers["ETag"]
    r5 = get(f"/desks/{d['id']}", headers={"If-None-Match": etag})
    assert assert_json(r5, 200)["floor"] == 11
    assert r5.headers.get("ETag") == new
    r6 = get(f"/desks/{d['id']}", headers={"If-None-Match": new})
    assert r6.status_code == 304 and r6.content == b""
    assert r6.headers.get("ETag") == new


def test_if_match_current_applies():
    d = make_desk(floor=1)
    etag = get(f"/desks/{d['id']}").headers["ETag"]
    r = patch_json(f"/desks/{d['id']}", {"floor": 2}, headers={"If-Match": etag})
    assert assert_json(r, 200)["floor"] == 2
    new = r.headers["ETag"]
    assert new != etag
    r = patch_json(f"/desks/{d['id']}", {"floor": 3}, headers={"If-Match": new})
    assert assert_json(r, 200)["floor"] == 3


def test_if_match_star_applies():
    d = make_desk(floor=1)
    r = patch_json(f"/desks/{d['id']}", {"floor": 6}, headers={"If-Match": "*"})
    assert assert_json(r, 200)["floor"] == 6
    assert assert_json(get(f"/desks/{d['id']}"), 200)["floor"] == 6


def test_if_match_stale_412_changes_nothing():
    d = make_desk(floor=1)
    old = get(f"/desks/{d['id']}").headers["ETag"]
    r = patch_json(f"/desks/{d['id']}", {"floor": 2})
    cur = r.headers["ETag"]
    for tag in (old, '"something-else"', "W/" + cur):
        r = patch_json(f"/desks/{d['id']}", {"floor": 50, "name": "hijack"}, headers={"If-Match": tag})
        assert_problem(r, 412)
        g = get(f"/desks/{d['id']}")
        got = assert_json(g, 200)
        assert got["floor"] == 2 and got["name"] == d["name"]
        assert g.headers.get("ETag") == cur


def test_412_precedes_400_and_422():
    d = make_desk(floor=1)
    stale = '"not-current-tag"'
    assert_problem(raw("PATCH", f"/desks/{d['id']}", "{bad json", headers={"If-Match": stale}), 412)
    assert_problem(raw("PATCH", f"/desks/{d['id']}", '{"floor": 9999}', headers={"If-Match": stale}), 412)
    assert_problem(raw("PATCH", f"/desks/{d['id']}", '{"unknown": 1}', headers={"If-Match": stale}), 412)
    cur = get(f"/desks/{d['id']}").headers["ETag"]
    # with the current tag, the body errors show through
    assert_problem(raw("PATCH", f"/desks/{d['id']}", "{bad json", headers={"If-Match": cur}), 400)
    assert_problem(raw("PATCH", f"/desks/{d['id']}", '{"floor": 9999}', headers={"If-Match": cur}), 422)
    g = get(f"/desks/{d['id']}")
    assert assert_json(g, 200)["floor"] == 1
    assert g.headers.get("ETag") == cur


def test_400_precedes_422_on_create():
    # syntactically broken JSON that would also be invalid content
    assert_problem(raw("POST", "/desks", '{"floor": 9999, "bogus": '), 400)
