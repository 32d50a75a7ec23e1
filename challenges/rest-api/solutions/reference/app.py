#!/usr/bin/env python3
"""Desk booking service: the reference solution of the assess ``rest-api`` challenge.

Standard library only. State lives in memory; one re-entrant lock guards it, so the check that
a desk-day is free and the insertion of the booking happen atomically.

Seams for variants (``solutions/<flaw>/flawed.py`` imports this module):

* :class:`Store` holds desks and bookings (``create_booking`` = ``check_booking_allowed`` +
  ``insert_booking``; ``paginate`` cuts pages and makes cursors).
* :class:`IdempotencyCache` remembers responses by ``Idempotency-Key``.
* :class:`Handler` maps routes to ``handle_*`` methods that return a :class:`Reply`.
* :func:`main` takes the classes to use.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import os
import re
import secrets
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

MAX_BODY_BYTES = 1 << 20
DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MIN_FLOOR, MAX_FLOOR = -5, 200
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# --------------------------------------------------------------------------------------------
# Errors and replies
# --------------------------------------------------------------------------------------------


class ApiError(Exception):
    """An error answered as an RFC 9457 problem document."""

    def __init__(
        self, status: int, detail: str | None = None, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail or HTTPStatus(status).phrase)
        self.status = status
        self.title = HTTPStatus(status).phrase
        self.detail = detail
        self.headers = headers or {}


def not_found(what: str) -> ApiError:
    return ApiError(404, f"{what} not found")


@dataclass
class Reply:
    status: int
    body: Any = None  # JSON-serialisable, or None for no body
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def encoded(self) -> bytes:
        return b"" if self.body is None else json.dumps(self.body).encode()


def problem_reply(err: ApiError) -> Reply:
    body: dict[str, Any] = {"type": "about:blank", "title": err.title, "status": err.status}
    if err.detail:
        body["detail"] = err.detail
    return Reply(err.status, body, dict(err.headers), "application/problem+json")


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _non_blank(v: Any, max_len: int) -> bool:
    return isinstance(v, str) and bool(v.strip()) and len(v) <= max_len


def parse_date(v: Any) -> str | None:
    """The date if ``v`` is a real calendar date written YYYY-MM-DD, else None."""
    if not isinstance(v, str) or not DATE_RE.match(v):
        return None
    try:
        dt.date.fromisoformat(v)
    except ValueError:
        return None
    return v


def _require_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(422, "the request body must be a JSON object")
    return body


DESK_FIELDS = ("name", "floor", "features")
BOOKING_FIELDS = ("desk_id", "user", "date")


def validate_desk(body: Any, *, partial: bool) -> dict[str, Any]:
    """The desk fields of a create (``partial=False``) or PATCH body; raises 422."""
    body = _require_object(body)
    unknown = sorted(set(body) - set(DESK_FIELDS))
    if unknown:
        raise ApiError(422, f"unknown field(s): {', '.join(unknown)}")
    if not partial:
        missing = [f for f in ("name", "floor") if f not in body]
        if missing:
            raise ApiError(422, f"missing field(s): {', '.join(missing)}")
    out: dict[str, Any] = {}
    if "name" in body:
        if not _non_blank(body["name"], 100):
            raise ApiError(422, "name must be a non-blank string of at most 100 characters")
        out["name"] = body["name"]
    if "floor" in body:
        floor = body["floor"]
        if not _is_int(floor) or not MIN_FLOOR <= floor <= MAX_FLOOR:
            raise ApiError(422, f"floor must be an integer from {MIN_FLOOR} to {MAX_FLOOR}")
        out["floor"] = floor
    if "features" in body:
        feats = body["features"]
        if (
            not isinstance(feats, list)
            or len(feats) > 20
            or not all(isinstance(f, str) and 1 <= len(f) <= 50 for f in feats)
        ):
            raise ApiError(422, "features must be an array of at most 20 strings of 1-50 characters")
        out["features"] = list(feats)
    elif not partial:
        out["features"] = []
    return out


def validate_booking(body: Any) -> tuple[str, str, str]:
    """(desk_id, user, date) of a booking body; raises 422 (an unknown desk is checked later)."""
    body = _require_object(body)
    unknown = sorted(set(body) - set(BOOKING_FIELDS))
    if unknown:
        raise ApiError(422, f"unknown field(s): {', '.join(unknown)}")
    missing = [f for f in BOOKING_FIELDS if f not in body]
    if missing:
        raise ApiError(422, f"missing field(s): {', '.join(missing)}")
    if not isinstance(body["desk_id"], str) or not body["desk_id"]:
        raise ApiError(422, "desk_id must be a desk id (string)")
    if not _non_blank(body["user"], 100):
        raise ApiError(422, "user must be a non-blank string of at most 100 characters")
    date = parse_date(body["date"])
    if date is None:
        raise ApiError(422, "date must be a calendar date written YYYY-MM-DD")
    return body["desk_id"], body["user"], date


# --------------------------------------------------------------------------------------------
# Cursors
# --------------------------------------------------------------------------------------------


def encode_cursor(key: tuple[Any, ...]) -> str:
    raw = json.dumps(list(key), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, shape: tuple[type, ...]) -> tuple[Any, ...]:
    """The key a cursor points after; raises 400 if it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError):
        raise ApiError(400, "invalid cursor") from None
    if (
        not isinstance(key, list)
        or len(key) != len(shape)
        or not all(isinstance(k, t) and not isinstance(k, bool) for k, t in zip(key, shape))
    ):
        raise ApiError(400, "invalid cursor")
    return tuple(key)


# --------------------------------------------------------------------------------------------
# Store
# --------------------------------------------------------------------------------------------


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(12)}"


class Store:
    """Desks and bookings in memory. Every public method is atomic."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._seq = 0
        self.desks: dict[str, dict[str, Any]] = {}  # id -> record, in creation order
        self.bookings: dict[str, dict[str, Any]] = {}
        self.by_desk_day: dict[tuple[str, str], str] = {}
        self.by_user_day: dict[tuple[str, str], str] = {}
        self.by_date: dict[str, set[str]] = {}
        self.by_user: dict[str, set[str]] = {}
        self.by_desk: dict[str, set[str]] = {}

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    # -- representations -----------------------------------------------------------------
    @staticmethod
    def desk_view(rec: dict[str, Any]) -> dict[str, Any]:
        return {k: rec[k] for k in ("id", "name", "floor", "features")}

    @staticmethod
    def desk_etag(rec: dict[str, Any]) -> str:
        return f'"{rec["id"]}-v{rec["version"]}"'

    @staticmethod
    def booking_view(rec: dict[str, Any]) -> dict[str, Any]:
        return {k: rec[k] for k in ("id", "desk_id", "user", "date")}

    # -- pagination ------------------------------------------------------------------------
    def paginate(
        self, records: list[dict[str, Any]], key: Any, after: tuple[Any, ...] | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of ``records`` (sorted by ``key``) after the cursor key ``after``."""
        if after is not None:
            records = [r for r in records if key(r) > after]
        page = records[: limit + 1]
        if len(page) > limit:
            return page[:limit], encode_cursor(key(page[limit - 1]))
        return page, None

    # -- desks ---------------------------------------------------------------------------
    def create_desk(self, fields: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            rec = {"id": new_id("dsk"), **fields, "seq": self._next_seq(), "version": 1}
            self.desks[rec["id"]] = rec
            return rec

    def get_desk(self, desk_id: str) -> dict[str, Any]:
        with self.lock:
            rec = self.desks.get(desk_id)
            if rec is None:
                raise not_found("desk")
            return dict(rec)

    def update_desk(
        self, desk_id: str, fields: dict[str, Any], if_match: str | None
    ) -> dict[str, Any]:
        with self.lock:
            rec = self.desks.get(desk_id)
            if rec is None:
                raise not_found("desk")
            if if_match is not None and not etag_matches(if_match, self.desk_etag(rec)):
                raise ApiError(412, "the desk changed since you read it (If-Match)")
            changed = {k: v for k, v in fields.items() if rec[k] != v}
            if changed:
                rec.update(changed)
                rec["version"] += 1
            return dict(rec)

    def delete_desk(self, desk_id: str) -> None:
        with self.lock:
            if self.desks.pop(desk_id, None) is None:
                raise not_found("desk")
            for booking_id in list(self.by_desk.get(desk_id, ())):
                self._remove_booking(booking_id)

    def list_desks(
        self, floor: int | None, feature: str | None, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        after = decode_cursor(cursor, (int,)) if cursor else None
        with self.lock:
            records = [
                r
                for r in self.desks.values()
                if (floor is None or r["floor"] == floor)
                and (feature is None or feature in r["features"])
            ]
        return self.paginate(records, lambda r: (r["seq"],), after, limit)

    # -- bookings ------------------------------------------------------------------------
    def create_booking(self, desk_id: str, user: str, date: str) -> dict[str, Any]:
        with self.lock:
            self.check_booking_allowed(desk_id, user, date)
            return self.insert_booking(desk_id, user, date)

    def check_booking_allowed(self, desk_id: str, user: str, date: str) -> None:
        if desk_id not in self.desks:
            raise ApiError(422, "desk_id does not name an existing desk")
        if (desk_id, date) in self.by_desk_day:
            raise ApiError(409, "the desk is already booked on that date")
        if (user, date) in self.by_user_day:
            raise ApiError(409, "the user already has a booking on that date")

    def insert_booking(self, desk_id: str, user: str, date: str) -> dict[str, Any]:
        with self.lock:
            rec = {
                "id": new_id("bkg"), "desk_id": desk_id, "user": user, "date": date,
                "seq": self._next_seq(),
            }
            self.bookings[rec["id"]] = rec
            self.by_desk_day[(desk_id, date)] = rec["id"]
            self.by_user_day[(user, date)] = rec["id"]
            self.by_date.setdefault(date, set()).add(rec["id"])
            self.by_user.setdefault(user, set()).add(rec["id"])
            self.by_desk.setdefault(desk_id, set()).add(rec["id"])
            return rec

    def _remove_booking(self, booking_id: str) -> None:
        rec = self.bookings.pop(booking_id)
        for index, key in (
            (self.by_desk_day, (rec["desk_id"], rec["date"])),
            (self.by_user_day, (rec["user"], rec["date"])),
        ):
            if index.get(key) == booking_id:
                del index[key]
        for index, key in (
            (self.by_date, rec["date"]), (self.by_user, rec["user"]), (self.by_desk, rec["desk_id"])
        ):
            ids = index.get(key)
            if ids is not None:
                ids.discard(booking_id)
                if not ids:
                    del index[key]

    def get_booking(self, booking_id: str) -> dict[str, Any]:
        with self.lock:
            rec = self.bookings.get(booking_id)
            if rec is None:
                raise not_found("booking")
            return dict(rec)

    def cancel_booking(self, booking_id: str) -> None:
        with self.lock:
            if booking_id not in self.bookings:
                raise not_found("booking")
            self._remove_booking(booking_id)

    def list_bookings(
        self,
        date: str | None,
        user: str | None,
        desk_id: str | None,
        limit: int,
        cursor: str | None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        after = decode_cursor(cursor, (str, int)) if cursor else None
        with self.lock:
            candidates: set[str] | None = None
            for index, value in ((self.by_date, date), (self.by_user, user), (self.by_desk, desk_id)):
                if value is not None:
                    ids = index.get(value, set())
                    candidates = ids if candidates is None else candidates & ids
            pool = self.bookings.values() if candidates is None else (
                self.bookings[i] for i in candidates
            )
            records = [
                r
                for r in pool
                if (date is None or r["date"] == date)
                and (user is None or r["user"] == user)
                and (desk_id is None or r["desk_id"] == desk_id)
            ]
        key = lambda r: (r["date"], r["seq"])  # noqa: E731
        records.sort(key=key)
        return self.paginate(records, key, after, limit)


def etag_matches(header: str, etag: str) -> bool:
    """Strong comparison against an If-Match list (``*`` matches any current representation)."""
    tags = [t.strip() for t in header.split(",")]
    return "*" in tags or etag in tags


# --------------------------------------------------------------------------------------------
# Idempotency
# --------------------------------------------------------------------------------------------


@dataclass
class _Entry:
    fingerprint: Any
    reply: Reply | None = None  # None while the first request is in flight


class IdempotencyCache:
    """Idempotency-Key -> the first 201 reply. A concurrent duplicate waits for the first."""

    WAIT_S = 10.0

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._entries: dict[str, _Entry] = {}

    def begin(self, key: str, fingerprint: Any) -> Reply | None:
        """None: go ahead (then call ``finish``). Otherwise the reply to send as is."""
        with self._cond:
            while True:
                entry = self._entries.get(key)
                if entry is None:
                    self._entries[key] = _Entry(fingerprint)
                    return None
                if entry.fingerprint != fingerprint:
                    raise ApiError(422, "Idempotency-Key reused with a different request body")
                if entry.reply is not None:
                    return entry.reply
                if not self._cond.wait(self.WAIT_S):
                    raise ApiError(409, "a request with this Idempotency-Key is in progress")

    def finish(self, key: str, reply: Reply) -> None:
        """Store a 201 reply for replays; forget the key after any other outcome."""
        with self._cond:
            if reply.status == 201:
                self._entries[key].reply = reply
            else:
                self._entries.pop(key, None)
            self._cond.notify_all()


# --------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------


def query_int(q: dict[str, list[str]], name: str, default: int | None, lo: int, hi: int) -> int | None:
    values = q.get(name)
    if not values:
        return default
    v = values[-1]
    if not re.fullmatch(r"-?\d{1,9}", v) or not lo <= int(v) <= hi:
        raise ApiError(400, f"query parameter {name} must be an integer from {lo} to {hi}")
    return int(v)


def query_str(q: dict[str, list[str]], name: str) -> str | None:
    values = q.get(name)
    return values[-1] if values else None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "desk-booking/1.0"
    disable_nagle_algorithm = True  # headers and body go out in separate writes

    store: Store
    idempotency: IdempotencyCache

    ROUTES: list[tuple[re.Pattern[str], dict[str, str]]] = [
        (re.compile(r"^/healthz$"), {"GET": "handle_health"}),
        (re.compile(r"^/desks$"), {"GET": "handle_list_desks", "POST": "handle_create_desk"}),
        (
            re.compile(r"^/desks/([^/]+)$"),
            {"GET": "handle_get_desk", "PATCH": "handle_patch_desk", "DELETE": "handle_delete_desk"},
        ),
        (re.compile(r"^/bookings$"), {"GET": "handle_list_bookings", "POST": "handle_create_booking"}),
        (
            re.compile(r"^/bookings/([^/]+)$"),
            {"GET": "handle_get_booking", "DELETE": "handle_delete_booking"},
        ),
    ]

    # -- plumbing --------------------------------------------------------------------------
    def do_GET(self) -> None:
        self.dispatch("GET")

    def do_POST(self) -> None:
        self.dispatch("POST")

    def do_PATCH(self) -> None:
        self.dispatch("PATCH")

    def do_DELETE(self) -> None:
        self.dispatch("DELETE")

    def do_PUT(self) -> None:
        self.dispatch("PUT")

    def do_HEAD(self) -> None:
        self.dispatch("HEAD")

    def dispatch(self, method: str) -> None:
        try:
            self.raw_body = self.read_body()
            parts = urlsplit(self.path)
            self.query = parse_qs(parts.query, keep_blank_values=True)
            reply = self.route(method, parts.path)
        except ApiError as err:
            reply = problem_reply(err)
        except Exception:  # a bug must still produce an answer, not a dropped connection
            self.log_error("unhandled error in %s %s", method, self.path)
            reply = problem_reply(ApiError(500))
        self.send_reply(reply, head=method == "HEAD")

    def route(self, method: str, path: str) -> Reply:
        for pattern, methods in self.ROUTES:
            m = pattern.match(path)
            if m is None:
                continue
            name = methods.get("GET" if method == "HEAD" else method)
            if name is None:
                allow = ", ".join(sorted({*methods, "HEAD"} if "GET" in methods else methods))
                raise ApiError(405, f"{method} is not supported here", headers={"Allow": allow})
            return getattr(self, name)(*m.groups())
        raise not_found("resource")

    def read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        try:
            n = int(length)
        except ValueError:
            self.close_connection = True
            raise ApiError(400, "invalid Content-Length") from None
        if n < 0 or n > MAX_BODY_BYTES:
            self.close_connection = True
            raise ApiError(413 if n > 0 else 400, "request body too large or invalid")
        return self.rfile.read(n)

    def json_body(self) -> Any:
        try:
            return json.loads(self.raw_body)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "the request body is not valid JSON") from None

    def send_reply(self, reply: Reply, *, head: bool = False) -> None:
        data = reply.encoded()
        self.send_response(reply.status)
        if reply.body is not None:
            self.send_header("Content-Type", reply.content_type)
        if reply.status != 304:
            self.send_header("Content-Length", str(len(data)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if not head and reply.status != 304:
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet access log
        pass

    # -- handlers --------------------------------------------------------------------------
    def handle_health(self) -> Reply:
        return Reply(200, {"status": "ok"})

    def desk_reply(self, status: int, rec: dict[str, Any]) -> Reply:
        return Reply(status, self.store.desk_view(rec), {"ETag": self.store.desk_etag(rec)})

    def handle_create_desk(self) -> Reply:
        fields = validate_desk(self.json_body(), partial=False)
        rec = self.store.create_desk(fields)
        reply = self.desk_reply(201, rec)
        reply.headers["Location"] = f"/desks/{rec['id']}"
        return reply

    def handle_get_desk(self, desk_id: str) -> Reply:
        rec = self.store.get_desk(desk_id)
        etag = self.store.desk_etag(rec)
        inm = self.headers.get("If-None-Match")
        if inm is not None and etag_matches(inm.replace("W/", ""), etag):
            return Reply(304, None, {"ETag": etag})
        return self.desk_reply(200, rec)

    def handle_patch_desk(self, desk_id: str) -> Reply:
        self.store.get_desk(desk_id)  # 404 comes before body problems
        if_match = self.headers.get("If-Match")
        if if_match is not None:
            # 412 comes before body problems too; update_desk re-checks atomically.
            current = self.store.get_desk(desk_id)
            if not etag_matches(if_match, self.store.desk_etag(current)):
                raise ApiError(412, "the desk changed since you read it (If-Match)")
        fields = validate_desk(self.json_body(), partial=True)
        return self.desk_reply(200, self.store.update_desk(desk_id, fields, if_match))

    def handle_delete_desk(self, desk_id: str) -> Reply:
        self.store.delete_desk(desk_id)
        return Reply(204)

    def handle_list_desks(self) -> Reply:
        items, next_cursor = self.store.list_desks(
            floor=query_int(self.query, "floor", None, -(10**9), 10**9),
            feature=query_str(self.query, "feature"),
            limit=query_int(self.query, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT) or DEFAULT_LIMIT,
            cursor=query_str(self.query, "cursor"),
        )
        return Reply(200, {"items": [self.store.desk_view(r) for r in items], "next_cursor": next_cursor})

    def handle_create_booking(self) -> Reply:
        body = self.json_body()
        key = self.headers.get("Idempotency-Key")
        if key is None:
            return self.create_booking(body)
        replay = self.idempotency.begin(key, body)
        if replay is not None:
            return replay
        reply: Reply = problem_reply(ApiError(500))
        try:
            reply = self.create_booking(body)
        except ApiError as err:
            reply = problem_reply(err)
        finally:
            self.idempotency.finish(key, reply)
        return reply

    def create_booking(self, body: Any) -> Reply:
        desk_id, user, date = validate_booking(body)
        rec = self.store.create_booking(desk_id, user, date)
        return Reply(201, self.store.booking_view(rec), {"Location": f"/bookings/{rec['id']}"})

    def handle_get_booking(self, booking_id: str) -> Reply:
        return Reply(200, self.store.booking_view(self.store.get_booking(booking_id)))

    def handle_delete_booking(self, booking_id: str) -> Reply:
        self.store.cancel_booking(booking_id)
        return Reply(204)

    def handle_list_bookings(self) -> Reply:
        date = query_str(self.query, "date")
        if date is not None and parse_date(date) is None:
            raise ApiError(400, "query parameter date must be a date written YYYY-MM-DD")
        items, next_cursor = self.store.list_bookings(
            date=date,
            user=query_str(self.query, "user"),
            desk_id=query_str(self.query, "desk_id"),
            limit=query_int(self.query, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT) or DEFAULT_LIMIT,
            cursor=query_str(self.query, "cursor"),
        )
        return Reply(
            200, {"items": [self.store.booking_view(r) for r in items], "next_cursor": next_cursor}
        )


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def make_server(
    port: int,
    handler_cls: type[Handler] = Handler,
    store: Store | None = None,
    idempotency: IdempotencyCache | None = None,
) -> Server:
    handler = type(
        "BoundHandler",
        (handler_cls,),
        {"store": store or Store(), "idempotency": idempotency or IdempotencyCache()},
    )
    return Server(("0.0.0.0", port), handler)


def main(
    handler_cls: type[Handler] = Handler,
    store_cls: type[Store] = Store,
    idempotency_cls: type[IdempotencyCache] = IdempotencyCache,
) -> None:
    port = int(os.environ.get("PORT", "8080"))
    server = make_server(port, handler_cls, store_cls(), idempotency_cls())
    print(f"desk booking service listening on :{port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
