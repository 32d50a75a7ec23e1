#!/usr/bin/env python3
"""The rest-api reference with one switch per mutant (``ASSESS_MUTANT``; empty: the reference).

Overlaid on ``challenges/rest-api/solutions/reference`` (``app.py``), so every target, the
reference included, is the same image started the same way: a suite cannot tell them apart by
headers, start-up or timing, only by the one behaviour a mutant gets wrong. Each mutant is a
small patch of the reference's seams, named in ``mutants.toml`` (its skill and description).
Unknown names exit 2 before the port opens (the runner then reports our error, never the suite's).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import app

# Every booking pays the same pause (inside the lock, or for the racy mutant between its check
# and its insert), so the racy mutant is not slower than the rest.
BOOKING_PAUSE_S = 0.02


def _wrap(cls: type, name: str, make: Any) -> None:
    setattr(cls, name, make(getattr(cls, name)))


# -- rest ------------------------------------------------------------------------------------
def create_desk_200() -> None:
    def make(orig: Any) -> Any:
        def f(self: Any) -> Any:
            reply = orig(self)
            reply.status = 200
            return reply

        return f

    _wrap(app.Handler, "handle_create_desk", make)


def create_desk_no_location() -> None:
    def make(orig: Any) -> Any:
        def f(self: Any) -> Any:
            reply = orig(self)
            reply.headers.pop("Location", None)
            return reply

        return f

    _wrap(app.Handler, "handle_create_desk", make)


def delete_desk_keeps_bookings() -> None:
    def delete_desk(self: Any, desk_id: str) -> None:
        with self.lock:
            if self.desks.pop(desk_id, None) is None:
                raise app.not_found("desk")

    app.Store.delete_desk = delete_desk


def cancel_keeps_desk_day() -> None:
    def make(orig: Any) -> Any:
        def f(self: Any, booking_id: str) -> None:
            rec = self.bookings.get(booking_id)
            orig(self, booking_id)
            if rec is not None:  # the desk stays taken on that date
                self.by_desk_day[(rec["desk_id"], rec["date"])] = booking_id

        return f

    _wrap(app.Store, "_remove_booking", make)


def get_booking_after_cancel() -> None:
    def cancel_booking(self: Any, booking_id: str) -> None:
        with self.lock:
            if booking_id not in self.bookings:
                raise app.not_found("booking")
            rec = dict(self.bookings[booking_id])
            self._remove_booking(booking_id)
            self.bookings[booking_id] = rec  # still readable by id (and listed)

    app.Store.cancel_booking = cancel_booking


def no_allow_on_405() -> None:
    def make(orig: Any) -> Any:
        def f(self: Any, method: str, path: str) -> Any:
            try:
                return orig(self, method, path)
            except app.ApiError as err:
                err.headers.pop("Allow", None)
                raise

        return f

    _wrap(app.Handler, "route", make)


def desks_newest_first() -> None:
    def make(orig: Any) -> Any:
        def f(self: Any, records: list[Any], key: Any, after: Any, limit: int) -> Any:
            if records and "floor" in records[0]:
                neg = lambda r: (-r["seq"],)  # noqa: E731
                records = sorted(records, key=neg)
                if after is not None:
                    records = [r for r in records if r["seq"] < after[0]]
                page = records[: limit + 1]
                if len(page) > limit:
                    return page[:limit], app.encode_cursor((page[limit - 1]["seq"],))
                return page, None
            return orig(self, records, key, after, limit)

        return f

    _wrap(app.Store, "paginate", make)


def bookings_creation_order() -> None:
    def make(orig: Any) -> Any:
        def f(self: Any, records: list[Any], key: Any, after: Any, limit: int) -> Any:
            if records and "date" in records[0]:
                records = sorted(records, key=lambda r: r["seq"])
                if after is not None:
                    records = [r for r in records if r["seq"] > after[1]]
                page = records[: limit + 1]
                if len(page) > limit:
                    last = page[limit - 1]
                    return page[:limit], app.encode_cursor((last["date"], last["seq"]))
                return page, None
            return orig(self, records, key, after, limit)

        return f

    _wrap(app.Store, "paginate", make)


def floor_filter_ignored() -> None:
    def make(orig: Any) -> Any:
        def f(self: Any, floor: Any, feature: Any, limit: int, cursor: Any) -> Any:
            return orig(self, None, feature, limit, cursor)

        return f

    _wrap(app.Store, "list_desks", make)


def user_day_rule_missing() -> None:
    def check(self: Any, desk_id: str, user: str, date: str) -> None:
        if desk_id not in self.desks:
            raise app.ApiError(422, "desk_id does not name an existing desk")
        if (desk_id, date) in self.by_desk_day:
            raise app.ApiError(409, "the desk is already booked on that date")

    app.Store.check_booking_allowed = check


def conflict_422() -> None:
    def make(orig: Any) -> Any:
        def f(self: Any, desk_id: str, user: str, date: str) -> None:
            try:
                orig(self, desk_id, user, date)
            except app.ApiError as err:
                if err.status == 409:
                    raise app.ApiError(422, err.detail) from None
                raise

        return f

    _wrap(app.Store, "check_booking_allowed", make)


# -- validation ------------------------------------------------------------------------------
def floor_range_off_by_one() -> None:
    app.MAX_FLOOR = 201


def floor_bool_accepted() -> None:
    app._is_int = lambda v: isinstance(v, int)


def desk_unknown_field_accepted() -> None:
    def make(orig: Any) -> Any:
        def f(body: Any, *, partial: bool) -> Any:
            if isinstance(body, dict):
                body = {k: v for k, v in body.items() if k in ("name", "floor", "features")}
            return orig(body, partial=partial)

        return f

    app.validate_desk = make(app.validate_desk)


def blank_name_accepted() -> None:
    app._non_blank = lambda v, n: isinstance(v, str) and 0 < len(v) <= n


def impossible_date_accepted() -> None:
    app.parse_date = lambda v: v if isinstance(v, str) and app.DATE_RE.match(v) else None


def invalid_json_422() -> None:
    def make(orig: Any) -> Any:
        def f(self: Any) -> Any:
            try:
                return orig(self)
            except app.ApiError as err:
                if err.status == 400:
                    raise app.ApiError(422, err.detail) from None
                raise

        return f

    _wrap(app.Handler, "json_body", make)


def problem_as_plain_json() -> None:
    orig = app.problem_reply

    def f(err: Any) -> Any:
        reply = orig(err)
        reply.content_type = "application/json"
        return reply

    app.problem_reply = f


# -- http-semantics ----------------------------------------------------------------------------
def etag_unchanged_by_patch() -> None:
    app.Store.desk_etag = staticmethod(lambda rec: f'"{rec["id"]}-v1"')


def if_none_match_ignored() -> None:
    def make(orig: Any) -> Any:
        def f(self: Any, desk_id: str) -> Any:
            del self.headers["If-None-Match"]
            return orig(self, desk_id)

        return f

    _wrap(app.Handler, "handle_get_desk", make)


def if_match_ignored() -> None:
    def make(orig: Any) -> Any:
        def f(self: Any, desk_id: str) -> Any:
            del self.headers["If-Match"]
            return orig(self, desk_id)

        return f

    _wrap(app.Handler, "handle_patch_desk", make)


def weak_etag() -> None:
    strong = app.Store.desk_etag
    app.Store.desk_etag = staticmethod(lambda rec: "W/" + strong(rec))
    orig = app.etag_matches
    app.etag_matches = lambda header, etag: orig(header.replace("W/", ""), etag.replace("W/", ""))


def validation_before_precondition() -> None:
    def make(orig: Any) -> Any:
        def f(self: Any, desk_id: str) -> Any:
            self.store.get_desk(desk_id)
            app.validate_desk(self.json_body(), partial=True)  # 400/422 before 412
            return orig(self, desk_id)

        return f

    _wrap(app.Handler, "handle_patch_desk", make)


# -- pagination --------------------------------------------------------------------------------
def cursor_on_last_full_page() -> None:
    def paginate(self: Any, records: list[Any], key: Any, after: Any, limit: int) -> Any:
        if after is not None:
            records = [r for r in records if key(r) > after]
        page = records[:limit]
        if len(page) == limit:  # a full page always offers a next one, even when it is empty
            return page, app.encode_cursor(key(page[-1]))
        return page, None

    app.Store.paginate = paginate


def limit_100_rejected() -> None:
    app.MAX_LIMIT = 99


def offset_cursor() -> None:
    def paginate(self: Any, records: list[Any], key: Any, after: Any, limit: int) -> Any:
        start = after[-1] if after is not None else 0  # an offset, dressed as a key
        page = records[start : start + limit + 1]
        if len(page) > limit:
            shape = key(page[0])
            nxt = (*shape[:-1], start + limit) if len(shape) > 1 else (start + limit,)
            return page[:limit], app.encode_cursor(nxt)
        return page, None

    app.Store.paginate = paginate


def bad_cursor_restarts() -> None:
    orig = app.decode_cursor

    def f(cursor: str, shape: tuple[type, ...]) -> Any:
        try:
            return orig(cursor, shape)
        except app.ApiError:
            return tuple(t() for t in shape)  # the first page again

    app.decode_cursor = f


# -- idempotency -------------------------------------------------------------------------------
def idempotency_ignored() -> None:
    def make(orig: Any) -> Any:
        def f(self: Any) -> Any:
            del self.headers["Idempotency-Key"]
            return orig(self)

        return f

    _wrap(app.Handler, "handle_create_booking", make)


def idempotency_key_body_ignored() -> None:
    def make(orig: Any) -> Any:
        def f(self: Any, key: str, fingerprint: Any) -> Any:
            with self._cond:
                entry = self._entries.get(key)
                if entry is not None:
                    fingerprint = entry.fingerprint  # any body replays the first response
            return orig(self, key, fingerprint)

        return f

    _wrap(app.IdempotencyCache, "begin", make)


def idempotency_key_order_matters() -> None:
    def make(orig: Any) -> Any:
        def f(self: Any, key: str, fingerprint: Any) -> Any:
            if isinstance(fingerprint, dict):
                fingerprint = json.dumps(fingerprint)  # key order now makes a different body
            return orig(self, key, fingerprint)

        return f

    _wrap(app.IdempotencyCache, "begin", make)


def replay_without_location() -> None:
    def make(orig: Any) -> Any:
        def f(self: Any, key: str, fingerprint: Any) -> Any:
            reply = orig(self, key, fingerprint)
            if reply is not None:
                reply = app.Reply(reply.status, reply.body, {}, reply.content_type)
            return reply

        return f

    _wrap(app.IdempotencyCache, "begin", make)


# -- concurrency -------------------------------------------------------------------------------
RACY = False


def racy_booking() -> None:
    global RACY
    RACY = True


def _paced_create_booking(self: Any, desk_id: str, user: str, date: str) -> Any:
    if RACY:  # check, pause, insert: the lock is not held across them
        with self.lock:
            self.check_booking_allowed(desk_id, user, date)
        time.sleep(BOOKING_PAUSE_S)
        return self.insert_booking(desk_id, user, date)
    with self.lock:
        self.check_booking_allowed(desk_id, user, date)
        time.sleep(BOOKING_PAUSE_S)
        return self.insert_booking(desk_id, user, date)


app.Store.create_booking = _paced_create_booking

MUTANTS = {
    f.__name__.replace("_", "-"): f
    for f in (
        create_desk_200,
        create_desk_no_location,
        delete_desk_keeps_bookings,
        cancel_keeps_desk_day,
        get_booking_after_cancel,
        no_allow_on_405,
        desks_newest_first,
        bookings_creation_order,
        floor_filter_ignored,
        user_day_rule_missing,
        conflict_422,
        floor_range_off_by_one,
        floor_bool_accepted,
        desk_unknown_field_accepted,
        blank_name_accepted,
        impossible_date_accepted,
        invalid_json_422,
        problem_as_plain_json,
        etag_unchanged_by_patch,
        if_none_match_ignored,
        if_match_ignored,
        weak_etag,
        validation_before_precondition,
        cursor_on_last_full_page,
        limit_100_rejected,
        offset_cursor,
        bad_cursor_restarts,
        idempotency_ignored,
        idempotency_key_body_ignored,
        idempotency_key_order_matters,
        replay_without_location,
        racy_booking,
    )
}


def main() -> None:
    name = os.environ.get("ASSESS_MUTANT", "")
    if name:
        patch = MUTANTS.get(name)
        if patch is None:
            print(f"unknown mutant {name!r}", file=sys.stderr, flush=True)
            sys.exit(2)
        patch()
    os.environ.pop("ASSESS_MUTANT", None)
    app.main()


if __name__ == "__main__":
    main()
