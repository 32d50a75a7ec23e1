import threading
from concurrent.futures import ThreadPoolExecutor

import requests

from _common import (URL, TIMEOUT, uniq, new_date, get, assert_json, assert_problem, make_desk, walk_all,
                     ids, media_type)

N = 50


def race(requests_specs):
    """Send all requests at (nearly) the same moment, one warmed-up connection each.
    requests_specs: list of (method, path, kwargs). Returns list of responses."""
    n = len(requests_specs)
    sessions = [requests.Session() for _ in range(n)]
    barrier = threading.Barrier(n)

    def run(i):
        s = sessions[i]
        try:
            s.get(URL + "/healthz", timeout=TIMEOUT)  # open the keep-alive connection first
        finally:
            barrier.wait(timeout=30)
        method, path, kw = requests_specs[i]
        kw = dict(kw)
        kw.setdefault("timeout", 20)
        return s.request(method, URL + path, **kw)

    try:
        with ThreadPoolExecutor(max_workers=n) as ex:
            return list(ex.map(run, range(n)))
    finally:
        for s in sessions:
            s.close()


def test_concurrent_bookings_same_desk_day_one_winner():
    for _ in range(2):
        d = make_desk()
        date = new_date()
        users = [uniq("racer") for _ in range(N)]
        rs = race([("POST", "/bookings", {"json": {"desk_id": d["id"], "user": u, "date": date}}) for u in users])
        codes = sorted(r.status_code for r in rs)
        assert codes.count(201) == 1 and codes.count(409) == N - 1, codes
        for r in rs:
            if r.status_code == 409:
                assert_problem(r, 409)
        winner = [r.json() for r in rs if r.status_code == 201][0]
        assert ids(walk_all("/bookings", {"desk_id": d["id"]})) == [winner["id"]]
        assert ids(walk_all("/bookings", {"date": date})) == [winner["id"]]


def test_concurrent_bookings_one_user_many_desks_one_winner():
    for _ in range(2):
        desks = [make_desk() for _ in range(N)]
        date = new_date()
        user = uniq("greedy")
        rs = race([("POST", "/bookings", {"json": {"desk_id": dk["id"], "user": user, "date": date}})
                   for dk in desks])
        codes = sorted(r.status_code for r in rs)
        assert codes.count(201) == 1 and codes.count(409) == N - 1, codes
        winner = [r.json() for r in rs if r.status_code == 201][0]
        assert ids(walk_all("/bookings", {"user": user})) == [winner["id"]]
        assert ids(walk_all("/bookings", {"date": date})) == [winner["id"]]


def test_concurrent_same_idempotency_key_one_booking():
    for _ in range(2):
        d = make_desk()
        key = "race-" + uniq("k")
        body = {"desk_id": d["id"], "user": uniq("u"), "date": new_date()}
        rs = race([("POST", "/bookings", {"json": body, "headers": {"Idempotency-Key": key}}) for _ in range(N)])
        codes = [r.status_code for r in rs]
        assert set(codes) <= {201, 409}, sorted(codes)
        created = [r for r in rs if r.status_code == 201]
        assert created, codes
        bodies = [r.json() for r in created]
        first = bodies[0]
        assert all(b == first for b in bodies), bodies
        locs = {r.headers.get("Location") for r in created}
        assert len(locs) == 1, locs
        assert ids(walk_all("/bookings", {"desk_id": d["id"]})) == [first["id"]]
        # afterwards, the key replays the 201
        r = requests.post(URL + "/bookings", json=body, headers={"Idempotency-Key": key}, timeout=TIMEOUT)
        assert r.status_code == 201 and r.json() == first
        assert r.headers.get("Location") in locs


def test_concurrent_desk_creation_distinct_ids():
    feat = uniq("cc")
    rs = race([("POST", "/desks", {"json": {"name": f"c{i}", "floor": 1, "features": [feat]}}) for i in range(30)])
    assert all(r.status_code == 201 for r in rs), [r.status_code for r in rs]
    created = {r.json()["id"] for r in rs}
    assert len(created) == 30
    listed = ids(walk_all("/desks", {"feature": feat}, limit=7))
    assert sorted(listed) == sorted(created) and len(listed) == 30


def test_concurrent_if_match_only_one_applies():
    d = make_desk(floor=1)
    etag = get(f"/desks/{d['id']}").headers["ETag"]
    n = 20
    rs = race([("PATCH", f"/desks/{d['id']}", {"json": {"name": f"writer-{i}"}, "headers": {"If-Match": etag}})
               for i in range(n)])
    codes = sorted(r.status_code for r in rs)
    assert codes.count(200) == 1 and codes.count(412) == n - 1, codes
    win = [r for r in rs if r.status_code == 200][0]
    g = get(f"/desks/{d['id']}")
    assert assert_json(g, 200)["name"] == win.json()["name"]
    assert g.headers.get("ETag") == win.headers.get("ETag")
