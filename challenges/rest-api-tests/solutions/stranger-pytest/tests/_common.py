"""Shared helpers for the desk booking API suite."""

import datetime
import itertools
import json
import os
import re
import threading
import uuid
from urllib.parse import urljoin, urlparse

import requests

URL = os.environ.get("TARGET_URL", "http://127.0.0.1:8080").rstrip("/")
TIMEOUT = 8

S = requests.Session()

RUN = uuid.uuid4().hex[:8]
_counter = itertools.count(1)
_lock = threading.Lock()

ID_RE = re.compile(r"^[A-Za-z0-9\-_.~]{1,64}$")
STRONG_ETAG_RE = re.compile(r'^"[\x21\x23-\x7e\x80-\xff]*"$')

_date_base = datetime.date(2400, 1, 1)
_date_counter = itertools.count(0)


def uniq(prefix="x"):
    with _lock:
        n = next(_counter)
    return f"{prefix}-{RUN}-{n}"


def new_date():
    """A date no other test uses (so date filters are isolated)."""
    with _lock:
        n = next(_date_counter)
    return (_date_base + datetime.timedelta(days=3 * n)).isoformat()


def req(method, path, session=None, **kw):
    kw.setdefault("timeout", TIMEOUT)
    s = session or S
    return s.request(method, URL + path, **kw)


def get(path, **kw):
    return req("GET", path, **kw)


def post_json(path, body, **kw):
    return req("POST", path, json=body, **kw)


def patch_json(path, body, **kw):
    return req("PATCH", path, json=body, **kw)


def raw(method, path, data, headers=None, **kw):
    h = {"Content-Type": "application/json"}
    if headers:
        h.update(headers)
    if isinstance(data, str):
        data = data.encode("utf-8")
    return req(method, path, data=data, headers=h, **kw)


def delete(path, **kw):
    return req("DELETE", path, **kw)


def media_type(r):
    return r.headers.get("Content-Type", "").split(";")[0].strip().lower()


def assert_json(r, status):
    assert r.status_code == status, (r.request.method, r.request.url, r.status_code, r.text[:500])
    assert media_type(r) == "application/json", (r.request.url, r.headers.get("Content-Type"))
    return r.json()


def assert_problem(r, status):
    assert r.status_code == status, (
        r.request.method, r.request.url, r.request.body if r.request.body and len(r.request.body) < 300 else "",
        "expected", status, "got", r.status_code, r.text[:500])
    assert media_type(r) == "application/problem+json", (r.request.url, r.status_code, r.headers.get("Content-Type"))
    body = r.json()
    assert isinstance(body, dict), body
    assert type(body.get("status")) is int and body["status"] == status, body
    assert isinstance(body.get("title"), str) and body["title"].strip() != "", body
    return body


def assert_location(r, collection, rid):
    loc = r.headers.get("Location")
    assert loc, ("no Location header", r.request.url)
    target = urljoin(URL + "/", loc)
    assert urlparse(target).path == f"/{collection}/{rid}", (loc,)
    return target


def allow_set(r):
    allow = r.headers.get("Allow")
    assert allow is not None, ("no Allow header", r.request.method, r.request.url)
    return {m.strip().upper() for m in allow.split(",") if m.strip()}


def make_desk(name=None, floor=1, features=None, **kw):
    body = {"name": name or uniq("desk"), "floor": floor}
    if features is not None:
        body["features"] = features
    r = post_json("/desks", body, **kw)
    d = assert_json(r, 201)
    return d


def make_booking(desk_id, user=None, date=None, headers=None):
    body = {"desk_id": desk_id, "user": user or uniq("user"), "date": date or new_date()}
    r = post_json("/bookings", body, headers=headers)
    return assert_json(r, 201)


def list_page(path, params, session=None):
    r = get(path, params=params, session=session)
    body = assert_json(r, 200)
    assert isinstance(body, dict), body
    assert "items" in body and "next_cursor" in body, body
    assert isinstance(body["items"], list), body
    assert body["next_cursor"] is None or isinstance(body["next_cursor"], str), body
    return body


def walk(path, params, limit=None, max_pages=5000):
    """Walk every page; checks page-size rules; returns the list of pages (items lists)."""
    params = dict(params)
    if limit is not None:
        params["limit"] = limit
    eff = limit if limit is not None else 20
    pages = []
    cursor = None
    for _ in range(max_pages):
        p = dict(params)
        if cursor is not None:
            p["cursor"] = cursor
        body = list_page(path, p)
        items = body["items"]
        assert len(items) <= eff, (len(items), eff)
        pages.append(items)
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(items) == eff, ("non-last page shorter than limit", len(items), eff)
    raise AssertionError("too many pages")


def walk_all(path, params, limit=None):
    return [it for page in walk(path, params, limit) for it in page]


def ids(items):
    return [it["id"] for it in items]
