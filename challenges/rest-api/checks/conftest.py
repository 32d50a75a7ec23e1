"""Fixtures shared by the rest-api checks.

The service is shared and stateful: every check makes its own desks, users and dates, so
checks are independent of each other and of their order. Setup steps accept any 2xx so a
single flaw (say, 200 instead of 201 on create) fails only the checks about that flaw.
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
import threading
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest

from graders import Client, Response, expect, fail

MAX_PAGES = 1000

# Dates unique within a run (counter) and unlikely to repeat across runs (random base).
_BASE_DATE = dt.date(2040, 1, 1) + dt.timedelta(days=random.SystemRandom().randrange(0, 15000))
_day_counter = itertools.count()
_day_lock = threading.Lock()


def uid(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def _fresh_date() -> str:
    with _day_lock:
        n = next(_day_counter)
    return (_BASE_DATE + dt.timedelta(days=n)).isoformat()


def _problem(r: Response, status: int) -> dict[str, Any]:
    """An RFC 9457 problem with this status, whose `status` and `title` members are right."""
    expect(r).problem(status)
    body = r.json()
    got = body.get("status")
    if not isinstance(got, int) or isinstance(got, bool) or got != status:
        fail(f'{r.request_line}: expected problem member "status": {status}; got {got!r}')
    title = body.get("title")
    if not isinstance(title, str) or not title.strip():
        fail(f'{r.request_line}: expected a non-empty string problem member "title"; got {title!r}')
    return body


def _json_object(r: Response, *fields: str) -> dict[str, Any]:
    body = r.json()
    if not isinstance(body, dict):
        fail(f"{r.request_line}: expected a JSON object; got {r.describe().split(' -> ', 1)[1]}")
    for f in fields:
        expect(r).json_field(f)
    return body


@pytest.fixture
def uniq() -> Callable[[str], str]:
    """uniq("user") -> a fresh name such as "user-3f2a9c01b7de"."""
    return uid


@pytest.fixture
def fresh_date() -> Callable[[], str]:
    """fresh_date() -> a YYYY-MM-DD date no other check of this run uses."""
    return _fresh_date


@pytest.fixture
def problem() -> Callable[[Response, int], dict[str, Any]]:
    """problem(r, 409): r is an application/problem+json 409 with the right status and title."""
    return _problem


@pytest.fixture
def obj() -> Callable[..., dict[str, Any]]:
    """obj(r, "id", "name"): r's body is a JSON object holding these fields."""
    return _json_object


@pytest.fixture
def location_path(service_url: str) -> Callable[[Response], str]:
    """location_path(r): the path of r's Location header (relative or absolute)."""

    def get(r: Response) -> str:
        expect(r).header("Location")
        return urlsplit(urljoin(service_url + "/", r.headers["Location"].strip())).path

    return get


@pytest.fixture
def make_desk(api: Client) -> Callable[..., dict[str, Any]]:
    """make_desk(floor=3, features=[...]) -> the created desk (name defaults to a fresh one)."""

    def make(**fields: Any) -> dict[str, Any]:
        body = {"name": uid("desk"), "floor": 1, **fields}
        r = api.post("/desks", json=body)
        expect(r).status(200, 201)
        desk = _json_object(r, "id")
        if not isinstance(desk["id"], str) or not desk["id"]:
            fail(f"{r.request_line}: expected a non-empty string id; got {desk['id']!r}")
        return desk

    return make


@pytest.fixture
def make_booking(api: Client) -> Callable[[str, str, str], dict[str, Any]]:
    """make_booking(desk_id, user, date) -> the created booking."""

    def make(desk_id: str, user: str, date: str) -> dict[str, Any]:
        r = api.post("/bookings", json={"desk_id": desk_id, "user": user, "date": date})
        expect(r).status(200, 201)
        booking = _json_object(r, "id")
        if not isinstance(booking["id"], str) or not booking["id"]:
            fail(f"{r.request_line}: expected a non-empty string id; got {booking['id']!r}")
        return booking

    return make


def _page(api: Client, path: str, params: dict[str, Any]) -> tuple[list[Any], str | None]:
    r = api.get(path, params=params)
    expect(r).status(200)
    body = _json_object(r, "items", "next_cursor")
    items, cursor = body["items"], body["next_cursor"]
    if not isinstance(items, list):
        fail(f'{r.request_line}: expected "items" to be an array; got {excerpt_of(items)}')
    if cursor is not None and (not isinstance(cursor, str) or not cursor):
        fail(f'{r.request_line}: expected "next_cursor" to be a string or null; got {cursor!r}')
    limit = params.get("limit")
    if limit is not None and len(items) > int(limit):
        fail(f"{r.request_line}: expected at most {limit} items; got {len(items)}")
    return items, cursor


def excerpt_of(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:120] + "..."


@pytest.fixture
def page(api: Client) -> Callable[..., tuple[list[Any], str | None]]:
    """page("/desks", {"limit": 3}) -> (items, next_cursor) of one 200 list response."""
    return lambda path, params=None: _page(api, path, dict(params or {}))


@pytest.fixture
def walk(api: Client) -> Callable[..., list[list[Any]]]:
    """walk("/desks", {"feature": f, "limit": 3}) -> the pages, following next_cursor to null.

    Checks the page contract on the way: a page shorter than the limit must be the last one.
    """

    def run(path: str, params: dict[str, Any] | None = None) -> list[list[Any]]:
        params = dict(params or {})
        limit = int(params.get("limit", 20))
        pages: list[list[Any]] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            q = dict(params) if cursor is None else {**params, "cursor": cursor}
            items, cursor = _page(api, path, q)
            pages.append(items)
            if cursor is None:
                return pages
            if len(items) < limit:
                fail(
                    f"GET {path} page {len(pages)} had {len(items)} items (< limit {limit}) "
                    "but a non-null next_cursor; only the last page may be short"
                )
        fail(f"GET {path}: still a next_cursor after {MAX_PAGES} pages; pagination never ends")

    return run
