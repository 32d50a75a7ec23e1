import pytest

from _common import (uniq, new_date, get, post_json, patch_json, delete, assert_json, assert_problem,
                     make_desk, make_booking, list_page, walk, walk_all, ids)


def _desks(n, feat, floor=1, extra=()):
    return [make_desk(name=f"d{i}", floor=floor, features=[feat, *extra]) for i in range(n)]


def test_empty_lists():
    feat = uniq("none")
    body = list_page("/desks", {"feature": feat})
    assert body["items"] == [] and body["next_cursor"] is None
    body = list_page("/bookings", {"user": uniq("nobody")})
    assert body["items"] == [] and body["next_cursor"] is None
    body = list_page("/bookings", {"desk_id": uniq("unknown-desk")})
    assert body["items"] == [] and body["next_cursor"] is None


def test_desks_creation_order_and_full_items():
    feat = uniq("ord")
    created = _desks(5, feat, floor=4)
    items = walk_all("/desks", {"feature": feat})
    assert ids(items) == ids(created)
    for got, exp in zip(items, created):
        assert (got["name"], got["floor"], got["features"]) == (exp["name"], exp["floor"], exp["features"])


def test_desks_default_limit_20():
    feat = uniq("deflim")
    created = _desks(21, feat)
    first = list_page("/desks", {"feature": feat})
    assert len(first["items"]) == 20
    assert isinstance(first["next_cursor"], str)
    second = list_page("/desks", {"feature": feat, "cursor": first["next_cursor"]})
    assert len(second["items"]) == 1 and second["next_cursor"] is None
    assert ids(first["items"] + second["items"]) == ids(created)


def test_desks_pages_exact_boundary():
    feat = uniq("bound")
    created = _desks(4, feat)
    pages = walk("/desks", {"feature": feat}, limit=2)
    assert [len(p) for p in pages] == [2, 2]
    assert ids(pages[0] + pages[1]) == ids(created)
    pages = walk("/desks", {"feature": feat}, limit=4)
    assert [len(p) for p in pages] == [4]
    pages = walk("/desks", {"feature": feat}, limit=3)
    assert [len(p) for p in pages] == [3, 1]
    pages = walk("/desks", {"feature": feat}, limit=1)
    assert [len(p) for p in pages] == [1, 1, 1, 1]
    assert ids([p[0] for p in pages]) == ids(created)
    pages = walk("/desks", {"feature": feat}, limit=100)
    assert [len(p) for p in pages] == [4]
    pages = walk("/desks", {"feature": feat}, limit=5)
    assert [len(p) for p in pages] == [4]


def test_desks_limit_100_max():
    feat = uniq("hundred")
    created = _desks(101, feat)
    first = list_page("/desks", {"feature": feat, "limit": 100})
    assert len(first["items"]) == 100 and isinstance(first["next_cursor"], str)
    second = list_page("/desks", {"feature": feat, "limit": 100, "cursor": first["next_cursor"]})
    assert ids(second["items"]) == [created[-1]["id"]] and second["next_cursor"] is None
    assert ids(first["items"]) == ids(created[:100])


def test_desk_filters():
    feat = uniq("filt")
    other = uniq("other")
    a = make_desk(floor=3, features=[feat, "monitor"])
    b = make_desk(floor=4, features=[feat])
    c = make_desk(floor=3, features=[feat, "monitors"])
    e = make_desk(floor=3, features=[other, "monitor"])
    f = make_desk(floor=-2, features=[feat.upper()])
    g = make_desk(floor=3, features=["monitor", feat, feat])
    assert ids(walk_all("/desks", {"feature": feat})) == [a["id"], b["id"], c["id"], g["id"]]
    assert ids(walk_all("/desks", {"feature": feat, "floor": 3})) == [a["id"], c["id"], g["id"]]
    assert ids(walk_all("/desks", {"feature": feat, "floor": "3"})) == [a["id"], c["id"], g["id"]]
    assert ids(walk_all("/desks", {"feature": feat, "floor": 4})) == [b["id"]]
    assert ids(walk_all("/desks", {"feature": feat, "floor": 5})) == []
    assert ids(walk_all("/desks", {"feature": feat.upper()})) == [f["id"]]
    assert ids(walk_all("/desks", {"feature": feat.upper(), "floor": -2})) == [f["id"]]
    # floor alone
    on3 = ids(walk_all("/desks", {"floor": 3}, limit=100))
    for x in (a, c, e, g):
        assert x["id"] in on3
    for x in (b, f):
        assert x["id"] not in on3
    # filters with pagination
    pages = walk("/desks", {"feature": feat, "floor": 3}, limit=2)
    assert [len(p) for p in pages] == [2, 1]
    assert ids(pages[0] + pages[1]) == [a["id"], c["id"], g["id"]]


def test_desk_list_reflects_patch():
    feat = uniq("pf")
    a = make_desk(floor=10, features=[feat])
    b = make_desk(floor=10, features=[feat])
    patch_json(f"/desks/{a['id']}", {"floor": 11})
    assert ids(walk_all("/desks", {"feature": feat, "floor": 10})) == [b["id"]]
    assert ids(walk_all("/desks", {"feature": feat, "floor": 11})) == [a["id"]]
    # order stays creation order after updates
    patch_json(f"/desks/{a['id']}", {"floor": 10, "name": "zzz"})
    items = walk_all("/desks", {"feature": feat})
    assert ids(items) == [a["id"], b["id"]]
    assert items[0]["name"] == "zzz" and items[0]["floor"] == 10


@pytest.mark.parametrize("params", [
    {"limit": 0}, {"limit": 101}, {"limit": -1}, {"limit": "abc"}, {"limit": "1.5"}, {"limit": "2x"},
    {"floor": "abc"}, {"floor": "1.5"}, {"floor": "three"},
    {"cursor": "not-a-cursor"},
])
def test_desks_bad_query_400(params):
    assert_problem(get("/desks", params=params), 400)


@pytest.mark.parametrize("params", [
    {"limit": 0}, {"limit": 101}, {"limit": "abc"}, {"limit": "2.0x"},
    {"date": "2031-02-30"}, {"date": "not-a-date"}, {"date": "2031-2-3"}, {"date": "2031-13-01"},
    {"date": "2031-02-29"}, {"date": "2031-01-05T00:00:00"}, {"date": "20310105"},
    {"cursor": "not-a-cursor"},
])
def test_bookings_bad_query_400(params):
    assert_problem(get("/bookings", params=params), 400)


def test_unknown_query_params_ignored():
    feat = uniq("unk")
    a = make_desk(features=[feat])
    body = list_page("/desks", {"feature": feat, "colour": "red", "sort": "desc"})
    assert ids(body["items"]) == [a["id"]] and body["next_cursor"] is None
    b = make_booking(a["id"])
    body = list_page("/bookings", {"desk_id": a["id"], "order": "desc", "foo": "bar"})
    assert ids(body["items"]) == [b["id"]] and body["next_cursor"] is None


def test_bookings_order_by_date_then_creation():
    d1, d2, d3 = make_desk(), make_desk(), make_desk()
    dates = sorted(new_date() for _ in range(4))  # increasing
    user_a = uniq("ua")
    # created out of date order
    b1 = make_booking(d1["id"], user=user_a, date=dates[2])
    b2 = make_booking(d1["id"], user=uniq("u"), date=dates[0])
    b3 = make_booking(d2["id"], user=uniq("u"), date=dates[2])
    b4 = make_booking(d1["id"], user=uniq("u"), date=dates[3])
    b5 = make_booking(d3["id"], user=uniq("u"), date=dates[0])
    b6 = make_booking(d2["id"], user=uniq("u"), date=dates[1])
    b7 = make_booking(d3["id"], user=uniq("u"), date=dates[2])
    expected = [b2, b5, b6, b1, b3, b7, b4]
    exp_ids = ids(expected)
    all_items = walk_all("/bookings", {}, limit=100)
    mine = [i for i in ids(all_items) if i in set(exp_ids)]
    assert mine == exp_ids
    for lim in (1, 2, 3):
        got = [i for i in ids(walk_all("/bookings", {}, limit=lim)) if i in set(exp_ids)]
        assert got == exp_ids, lim
    assert ids(walk_all("/bookings", {"desk_id": d1["id"]})) == ids([b2, b1, b4])
    assert ids(walk_all("/bookings", {"desk_id": d1["id"]}, limit=1)) == ids([b2, b1, b4])
    assert ids(walk_all("/bookings", {"date": dates[2]})) == ids([b1, b3, b7])
    assert ids(walk_all("/bookings", {"date": dates[2]}, limit=2)) == ids([b1, b3, b7])
    assert ids(walk_all("/bookings", {"date": dates[2]}, limit=1)) == ids([b1, b3, b7])
    # items are full bookings
    got = {b["id"]: b for b in walk_all("/bookings", {"date": dates[0]})}
    assert got[b2["id"]]["desk_id"] == d1["id"] and got[b2["id"]]["user"] == b2["user"]
    assert got[b2["id"]]["date"] == dates[0]


def test_booking_filters_and():
    d1, d2 = make_desk(), make_desk()
    u1, u2 = uniq("fu"), uniq("fu")
    x, y = sorted([new_date(), new_date()])
    b11 = make_booking(d1["id"], user=u1, date=x)
    b22 = make_booking(d2["id"], user=u2, date=x)
    b21 = make_booking(d2["id"], user=u1, date=y)
    b12 = make_booking(d1["id"], user=u2, date=y)
    assert ids(walk_all("/bookings", {"user": u1})) == ids([b11, b21])
    assert ids(walk_all("/bookings", {"user": u2})) == ids([b22, b12])
    assert ids(walk_all("/bookings", {"date": x})) == ids([b11, b22])
    assert ids(walk_all("/bookings", {"date": y, "user": u1})) == ids([b21])
    assert ids(walk_all("/bookings", {"date": y, "desk_id": d1["id"]})) == ids([b12])
    assert ids(walk_all("/bookings", {"user": u1, "desk_id": d1["id"]})) == ids([b11])
    assert ids(walk_all("/bookings", {"user": u1, "desk_id": d2["id"], "date": y})) == ids([b21])
    assert ids(walk_all("/bookings", {"user": u1, "desk_id": d2["id"], "date": x})) == []
    assert ids(walk_all("/bookings", {"user": u1.upper()})) == []
    assert ids(walk_all("/bookings", {"desk_id": uniq("ghost"), "user": u1})) == []


def test_bookings_default_limit_20():
    d = make_desk()
    created = [make_booking(d["id"], date=new_date()) for _ in range(21)]
    first = list_page("/bookings", {"desk_id": d["id"]})
    assert len(first["items"]) == 20 and isinstance(first["next_cursor"], str)
    second = list_page("/bookings", {"desk_id": d["id"], "cursor": first["next_cursor"]})
    assert len(second["items"]) == 1 and second["next_cursor"] is None
    assert ids(first["items"] + second["items"]) == ids(created)
    pages = walk("/bookings", {"desk_id": d["id"]}, limit=7)
    assert [len(p) for p in pages] == [7, 7, 7]


# ---------------------------------------------------------------- stability across changes

def test_desk_walk_stable_when_returned_items_deleted():
    feat = uniq("stab")
    c = _desks(7, feat)
    p1 = list_page("/desks", {"feature": feat, "limit": 2})
    assert ids(p1["items"]) == ids(c[0:2])
    # delete both returned items (including the one the cursor points after)
    assert delete(f"/desks/{c[0]['id']}").status_code == 204
    assert delete(f"/desks/{c[1]['id']}").status_code == 204
    p2 = list_page("/desks", {"feature": feat, "limit": 2, "cursor": p1["next_cursor"]})
    assert ids(p2["items"]) == ids(c[2:4])
    # create new ones, change a returned one, delete a returned one
    n1 = make_desk(features=[feat])
    assert patch_json(f"/desks/{c[2]['id']}", {"name": "changed"}).status_code == 200
    assert delete(f"/desks/{c[3]['id']}").status_code == 204
    p3 = list_page("/desks", {"feature": feat, "limit": 2, "cursor": p2["next_cursor"]})
    assert ids(p3["items"]) == ids(c[4:6])
    rest = []
    cur = p3["next_cursor"]
    while cur is not None:
        p = list_page("/desks", {"feature": feat, "limit": 2, "cursor": cur})
        rest += ids(p["items"])
        cur = p["next_cursor"]
    assert rest[0] == c[6]["id"]
    assert rest in ([c[6]["id"]], [c[6]["id"], n1["id"]])


def test_booking_walk_stable_when_earlier_items_added_or_removed():
    d = make_desk()
    dates = sorted(new_date() for _ in range(12))
    # bookings on dates[2], [4], [6], [8], [10], [11]
    bs = [make_booking(d["id"], date=dates[i]) for i in (2, 4, 6, 8, 10, 11)]
    p1 = list_page("/bookings", {"desk_id": d["id"], "limit": 2})
    assert ids(p1["items"]) == ids(bs[0:2])
    # insert before the cursor position and delete a returned one
    early = make_booking(d["id"], date=dates[0])
    mid = make_booking(d["id"], date=dates[3])
    assert delete(f"/bookings/{bs[0]['id']}").status_code == 204
    p2 = list_page("/bookings", {"desk_id": d["id"], "limit": 2, "cursor": p1["next_cursor"]})
    assert ids(p2["items"]) == ids(bs[2:4])
    assert delete(f"/bookings/{bs[3]['id']}").status_code == 204  # the cursor's own item
    p3 = list_page("/bookings", {"desk_id": d["id"], "limit": 2, "cursor": p2["next_cursor"]})
    assert ids(p3["items"]) == ids(bs[4:6])
    assert p3["next_cursor"] is None or list_page(
        "/bookings", {"desk_id": d["id"], "limit": 2, "cursor": p3["next_cursor"]})["items"] == []


def test_booking_walk_stable_same_date_creation_order():
    date = new_date()
    desks = [make_desk() for _ in range(6)]
    bs = [make_booking(dk["id"], date=date) for dk in desks]
    p1 = list_page("/bookings", {"date": date, "limit": 2})
    assert ids(p1["items"]) == ids(bs[0:2])
    assert delete(f"/bookings/{bs[1]['id']}").status_code == 204
    assert delete(f"/bookings/{bs[0]['id']}").status_code == 204
    p2 = list_page("/bookings", {"date": date, "limit": 2, "cursor": p1["next_cursor"]})
    assert ids(p2["items"]) == ids(bs[2:4])
    # a new booking on the same date comes after all existing ones
    nb = make_booking(desks[0]["id"], date=date)
    p3 = list_page("/bookings", {"date": date, "limit": 2, "cursor": p2["next_cursor"]})
    assert ids(p3["items"]) == ids(bs[4:6])
    rest = []
    cur = p3["next_cursor"]
    while cur is not None:
        p = list_page("/bookings", {"date": date, "limit": 2, "cursor": cur})
        rest += ids(p["items"])
        cur = p["next_cursor"]
    assert rest in ([], [nb["id"]])
    assert ids(walk_all("/bookings", {"date": date})) == ids(bs[2:6]) + [nb["id"]]
