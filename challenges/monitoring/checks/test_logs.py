"""Structured logs and request ids: one JSON line per request, ids honoured, generated,
returned, and passed to the inventory."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from conftest import REQUEST_ID, RFC3339, Ids, Inventory, log_lines_for, order, read_log

from graders import Client, expect, fail

FIELDS = ("time", "level", "msg", "method", "path", "route", "status", "duration_ms", "request_id")


def missing_lines(found: dict[str, list[dict[str, object]]]) -> list[str]:
    return [rid for rid, lines in found.items() if not lines]


@pytest.mark.skill("logging")
@pytest.mark.points(3)
def test_log_line_per_request(api: Client, ids: Ids, service_log: Callable[[], str]) -> None:
    """Each request the grader sent has exactly one JSON request line carrying its id."""
    rids = []
    for i in range(5):
        rid = ids.request_id()
        r = (
            order(api, ids.sku(), rid=rid)
            if i % 2
            else api.get("/healthz", headers={"X-Request-Id": rid})
        )
        expect(r).status(201 if i % 2 else 200)
        rids.append(rid)
    _, found = log_lines_for(service_log, rids)
    missing = missing_lines(found)
    if missing:
        fail(
            f'no JSON line with "msg": "request" and request_id {missing[0]} ({len(missing)} of 5 missing)'
        )
    twice = [rid for rid, lines in found.items() if len(lines) != 1]
    if twice:
        fail(f"request {twice[0]} has {len(found[twice[0]])} request lines; expected one")


@pytest.mark.skill("logging")
@pytest.mark.points(1)
def test_log_lines_are_whole_json(api: Client, service_log: Callable[[], str]) -> None:
    """Every output line beginning with { is one complete JSON object."""
    expect(api.get("/healthz")).status(200)
    view = read_log(service_log)
    if view.bad_lines:
        fail(
            f"{len(view.bad_lines)} lines begin with {{ but are not a JSON object, e.g. {view.bad_lines[0][:200]!r}"
        )
    if not view.request_lines:
        fail('the service\'s output has no JSON line with "msg": "request"')


@pytest.mark.skill("logging")
@pytest.mark.points(3)
def test_log_fields(
    api: Client, ids: Ids, inventory: Inventory, service_log: Callable[[], str]
) -> None:
    """A request line has the stated fields and values; duration_ms is in milliseconds."""
    sku = ids.sku()
    inventory.configure(sku, delay_ms=200)
    try:
        rid = ids.request_id()
        r = order(api, sku, rid=rid)
        expect(r).status(201)
    finally:
        inventory.clear(sku)
    rid404 = ids.request_id()
    expect(api.get("/orders/nothing-here", headers={"X-Request-Id": rid404})).status(404)
    _, found = log_lines_for(service_log, [rid, rid404])
    if missing_lines(found):
        fail(f"no request line for request_id {missing_lines(found)[0]}")
    line = found[rid][0]
    absent = [f for f in FIELDS if f not in line]
    if absent:
        fail(f"the request line lacks {absent}: {line}")
    if not isinstance(line["time"], str) or not RFC3339.fullmatch(line["time"]):
        fail(f"time {line['time']!r} is not RFC 3339 with a time zone")
    want = {"level": "info", "method": "POST", "path": "/orders", "route": "/orders", "status": 201}
    for key, value in want.items():
        if line[key] != value or type(line[key]) is not type(value):
            fail(f"{key} is {line[key]!r} for POST /orders answered 201; expected {value!r}")
    dur = line["duration_ms"]
    if isinstance(dur, bool) or not isinstance(dur, (int, float)):
        fail(f"duration_ms is {dur!r}, not a JSON number")
    high = r.elapsed_s * 1000 + 50
    if not 180 <= dur <= high:
        fail(
            f"duration_ms is {dur}; the inventory took 200 ms and the grader measured {r.elapsed_s * 1000:.0f} ms"
        )
    other = found[rid404][0]
    for key, value in {
        "path": "/orders/nothing-here",
        "route": "/orders/{id}",
        "status": 404,
    }.items():
        if other.get(key) != value:
            fail(
                f"{key} is {other.get(key)!r} for GET /orders/nothing-here (404); expected {value!r}"
            )


@pytest.mark.skill("logging")
@pytest.mark.points(1)
def test_log_level_error_on_5xx(
    api: Client, ids: Ids, inventory: Inventory, service_log: Callable[[], str]
) -> None:
    """A 5xx answer is logged with level "error"."""
    rid = ids.request_id()
    with inventory.failing("error"):
        expect(order(api, ids.sku(), rid=rid)).status(503)
    _, found = log_lines_for(service_log, [rid])
    if not found[rid]:
        fail(f"no request line for request_id {rid}")
    line = found[rid][0]
    if line.get("level") != "error" or line.get("status") != 503:
        fail(f"a 503 was logged with level {line.get('level')!r}, status {line.get('status')!r}")


@pytest.mark.skill("logging")
@pytest.mark.points(2)
def test_request_id_honoured(api: Client, ids: Ids) -> None:
    """A valid X-Request-Id is returned as is."""
    for path in ("/healthz", "/orders/unknown-order"):
        rid = ids.request_id()
        r = api.get(path, headers={"X-Request-Id": rid})
        got = r.headers.get("X-Request-Id")
        if got != rid:
            fail(f"GET {path} with X-Request-Id {rid}: the response's X-Request-Id is {got!r}")
    rid = ids.request_id()
    r = order(api, ids.sku(), rid=rid)
    expect(r).status(201)
    if r.headers.get("X-Request-Id") != rid:
        fail(
            f"POST /orders with X-Request-Id {rid}: the response carried {r.headers.get('X-Request-Id')!r}"
        )


@pytest.mark.skill("logging")
@pytest.mark.points(2)
def test_request_id_generated(api: Client, service_log: Callable[[], str]) -> None:
    """Without X-Request-Id, each response carries a new, valid id, which its log line names."""
    got = []
    for _ in range(4):
        r = api.get("/healthz")
        rid = r.headers.get("X-Request-Id")
        if rid is None or not REQUEST_ID.fullmatch(rid):
            fail(f"GET /healthz without X-Request-Id: the response's X-Request-Id is {rid!r}")
        got.append(rid)
    if len(set(got)) != len(got):
        fail(f"generated request ids repeat: {got}")
    _, found = log_lines_for(service_log, got)
    if missing_lines(found):
        fail(f"no request line names the generated id {missing_lines(found)[0]}")


@pytest.mark.skill("logging")
@pytest.mark.points(1)
@pytest.mark.hidden
def test_invalid_request_id_replaced(api: Client) -> None:
    """An X-Request-Id outside the stated form (too long, a space) is replaced by a generated one."""
    for bad in ("x" * 200, "has space"):
        r = api.get("/healthz", headers={"X-Request-Id": bad})
        rid = r.headers.get("X-Request-Id")
        if rid is None or rid == bad or not REQUEST_ID.fullmatch(rid):
            fail(f"X-Request-Id {bad[:20]!r}...: the response's X-Request-Id is {str(rid)[:40]!r}")


@pytest.mark.skill("logging")
@pytest.mark.points(3)
def test_request_id_reaches_inventory(api: Client, ids: Ids, inventory: Inventory) -> None:
    """The inventory receives the request's id: the one sent, or the one generated and returned."""
    sku, rid = ids.sku(), ids.request_id()
    expect(order(api, sku, rid=rid)).status(201)
    seen = inventory.sku(sku)["request_ids"]
    if seen != [rid]:
        fail(f"POST /orders with X-Request-Id {rid}: the inventory received X-Request-Id {seen}")
    sku = ids.sku()
    r = order(api, sku)
    expect(r).status(201)
    returned = r.headers.get("X-Request-Id")
    seen = inventory.sku(sku)["request_ids"]
    if returned is None or seen != [returned]:
        fail(
            f"POST /orders without an id: the response carried {returned!r}, the inventory received {seen}"
        )
