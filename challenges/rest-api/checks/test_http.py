"""HTTP semantics: malformed JSON, problem details, 404/405, ETag, If-Match, If-None-Match."""

from __future__ import annotations

import re

import pytest

from graders import expect, fail

STRONG_ETAG = re.compile(r'^"[^"]*"$')


def etag_of(r):
    expect(r).header("ETag")
    tag = r.headers["ETag"].strip()
    if not STRONG_ETAG.match(tag):
        fail(f'{r.request_line}: expected a strong quoted ETag such as "v1"; got {tag!r}')
    return tag


@pytest.mark.points(2)
@pytest.mark.skill("http-semantics")
def test_malformed_json_400(api, problem, make_desk):
    """A body that is not valid JSON answers a 400 problem (POST /desks, POST /bookings)."""
    headers = {"Content-Type": "application/json"}
    problem(api.post("/desks", data='{"name": "A-1", "floor": ', headers=headers), 400)
    problem(api.post("/desks", data="{'name': 'A-1', 'floor': 1}", headers=headers), 400)
    problem(api.post("/bookings", data='{"desk_id": ', headers=headers), 400)
    problem(api.post("/desks", data="", headers=headers), 400)


@pytest.mark.hidden
@pytest.mark.skill("http-semantics")
def test_malformed_json_patch_400(api, make_desk, problem):
    """PATCH with a body that is not valid JSON answers 400 and changes nothing."""
    desk = make_desk(floor=2)
    path = f"/desks/{desk['id']}"
    problem(api.patch(path, data='{"floor": 3', headers={"Content-Type": "application/json"}), 400)
    expect(api.get(path)).status(200).json_field("floor", 2)


@pytest.mark.hidden
@pytest.mark.skill("http-semantics")
def test_unknown_path_404(api, uniq, problem):
    """A path that names no resource answers a 404 problem."""
    problem(api.get(f"/{uniq('nope')}"), 404)
    problem(api.get(f"/desks/{uniq('x')}/{uniq('y')}"), 404)


@pytest.mark.hidden
@pytest.mark.skill("http-semantics")
def test_method_not_allowed_405(api, make_desk, problem):
    """An unsupported method on a known path answers 405 with an Allow header."""
    desk = make_desk()
    r = api.put(f"/desks/{desk['id']}", json={"name": "x", "floor": 1})
    problem(r, 405)
    expect(r).header("Allow")
    allowed = {m.strip().upper() for m in r.headers["Allow"].split(",")}
    if not {"GET", "PATCH", "DELETE"} <= allowed:
        fail(
            f"{r.request_line}: expected Allow to list GET, PATCH and DELETE; "
            f"got {r.headers['Allow']!r}"
        )
    r = api.delete("/desks")
    problem(r, 405)
    expect(r).header("Allow")
    allowed = {m.strip().upper() for m in r.headers["Allow"].split(",")}
    if not {"GET", "POST"} <= allowed:
        fail(f"{r.request_line}: expected Allow to list GET and POST; got {r.headers['Allow']!r}")


@pytest.mark.points(2)
@pytest.mark.skill("http-semantics")
def test_etag_changes_on_update(api, make_desk):
    """GET /desks/{id} has a strong ETag that is stable while the desk is, and changes with it."""
    desk = make_desk(floor=1)
    path = f"/desks/{desk['id']}"
    first = etag_of(api.get(path))
    again = etag_of(api.get(path))
    if again != first:
        fail(f"GET {path}: expected the same ETag for an unchanged desk; got {first} then {again}")
    r = api.patch(path, json={"floor": 2})
    expect(r).status(200)
    patched = etag_of(r)
    if patched == first:
        fail(f"PATCH {path}: expected a new ETag after a change; it stayed {first}")
    now = etag_of(api.get(path))
    if now != patched:
        fail(f"GET {path}: expected the ETag the PATCH returned ({patched}); got {now}")


@pytest.mark.skill("http-semantics")
def test_patch_with_current_if_match(api, make_desk):
    """PATCH with If-Match holding the current ETag applies the update."""
    desk = make_desk(floor=1)
    path = f"/desks/{desk['id']}"
    tag = etag_of(api.get(path))
    r = api.patch(path, json={"floor": 9}, headers={"If-Match": tag})
    expect(r).status(200).json_field("floor", 9)
    expect(api.get(path)).status(200).json_field("floor", 9)


@pytest.mark.points(2)
@pytest.mark.skill("http-semantics")
def test_patch_with_stale_if_match_412(api, make_desk, problem):
    """PATCH with an outdated If-Match answers a 412 problem and changes nothing."""
    desk = make_desk(floor=1)
    path = f"/desks/{desk['id']}"
    stale = etag_of(api.get(path))
    expect(api.patch(path, json={"floor": 2})).status(200)
    problem(api.patch(path, json={"floor": 3}, headers={"If-Match": stale}), 412)
    expect(api.get(path)).status(200).json_field("floor", 2)
    problem(
        api.patch(path, json={"floor": 3}, headers={"If-Match": '"certainly-not-the-tag"'}), 412
    )
    expect(api.get(path)).status(200).json_field("floor", 2)


@pytest.mark.hidden
@pytest.mark.skill("http-semantics")
def test_if_none_match_304(api, make_desk):
    """GET with If-None-Match holding the current ETag answers 304, no body, and that ETag."""
    desk = make_desk(floor=1)
    path = f"/desks/{desk['id']}"
    tag = etag_of(api.get(path))
    r = api.get(path, headers={"If-None-Match": tag})
    expect(r).status(304)
    if r.body:
        fail(f"{r.request_line}: expected no body with 304; got {r.text[:120]!r}")
    if etag_of(r) != tag:
        fail(
            f"{r.request_line}: expected the 304 to carry the current ETag {tag}; "
            f"got {r.headers['ETag']!r}"
        )
    expect(api.patch(path, json={"floor": 2})).status(200)
    expect(api.get(path, headers={"If-None-Match": tag})).status(200).json_field("floor", 2)
