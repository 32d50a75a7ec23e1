"""The service's HTTP endpoints, one transfer end to end, rejections, a clean stream."""

import pytest
from conftest import World

from graders import expect, fail

COUNTERS = ("consumed", "applied", "rejected", "dead_lettered", "in_flight")


def stats(api) -> dict:
    r = api.get("/stats")
    expect(r).status(200)
    body = r.json()
    if not isinstance(body, dict):
        fail(f"GET /stats: expected a JSON object, got {r.describe()}")
    return body


@pytest.mark.skill("api")
def test_healthz_ok(api):
    """GET /healthz answers 200 {"status": "ok"}."""
    expect(api.get("/healthz")).status(200).json_field("status", "ok")


@pytest.mark.skill("api")
def test_stats_has_counters(api):
    """GET /stats answers the five counters of the brief as non-negative integers."""
    body = stats(api)
    for name in COUNTERS:
        v = body.get(name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            fail(f"GET /stats: `{name}` should be a non-negative integer, got {v!r} in {body}")


@pytest.mark.points(2)
@pytest.mark.skill("exactly-once")
def test_transfer_applied_and_completed(world: World):
    """A published transfer takes effect once in the ledger, with its accounts and amount."""
    [t] = world.transfers(1, amount=250)
    world.publish([t])
    recs = world.settle([t])
    world.expect_applied_once([t], recs)
    p = recs[t.id].postings[0]
    if (p["from"], p["to"], p["amount"]) != (t.src, t.dst, t.amount):
        fail(f"{t.describe()} was posted as {p['from']} -> {p['to']}, {p['amount']}")
    if p["key"] != t.id:
        fail(
            f"{t.describe()} was posted with Idempotency-Key {p['key']!r}; the brief asks for "
            "the transfer's id"
        )


@pytest.mark.skill("messaging")
def test_completed_event_fields(world: World):
    """The completion event: routing key transfer.completed, persistent, the brief's fields."""
    [t] = world.transfers(1, amount=75)
    world.publish([t])
    recs = world.settle([t])
    world.expect_events([t])
    ev = world.broker.events[t.id][0]
    key = world.broker.event_keys[t.id][0]
    props = world.broker.event_props[t.id][0]
    if key != "transfer.completed":
        fail(
            f"{t.describe()}: event published with routing key {key!r}, expected transfer.completed"
        )
    want = {"id": t.id, "status": "completed", "from": t.src, "to": t.dst, "amount": t.amount}
    for k, v in want.items():
        if ev.get(k) != v:
            fail(f"{t.describe()}: completion event has {k}={ev.get(k)!r}, expected {v!r}: {ev}")
    posted = recs[t.id].postings
    if not posted or ev.get("posting_id") != f"p-{posted[0]['seq']}":
        fail(
            f"{t.describe()}: completion event's posting_id {ev.get('posting_id')!r} is not the "
            f"ledger's posting_id {('p-' + str(posted[0]['seq'])) if posted else None!r}"
        )
    if props.delivery_mode != 2:
        fail(f"{t.describe()}: the event was not persistent (delivery_mode {props.delivery_mode})")


@pytest.mark.skill("messaging")
def test_insufficient_funds_rejected(world: World):
    """A transfer the ledger refuses (422) gets a transfer.rejected event and no posting."""
    a, b = world.ids.account(), world.ids.account()
    world.ledger.fund(a, 5)
    from conftest import Transfer

    t = Transfer(world.ids.transfer(), a, b, 50)
    world.publish([t])
    recs = world.settle([t])
    if recs[t.id].postings:
        fail(f"{t.describe()} took effect although {a} holds 5")
    world.expect_events([t])
    ev, key = world.broker.events[t.id][0], world.broker.event_keys[t.id][0]
    want = {
        "id": t.id,
        "status": "rejected",
        "from": a,
        "to": b,
        "amount": 50,
        "reason": "insufficient_funds",
    }
    if key != "transfer.rejected" or any(ev.get(k) != v for k, v in want.items()):
        fail(f"{t.describe()}: expected a transfer.rejected event {want}, got {key!r} {ev}")


@pytest.mark.points(2)
@pytest.mark.critical
@pytest.mark.skill("exactly-once")
def test_stream_applied_exactly_once(world: World):
    """100 transfers over 10 accounts: each takes effect exactly once; balances add up."""
    ts = world.transfers(100, accounts=10, amount=3, fund=1000)
    world.publish(ts)
    recs = world.settle(ts, timeout_s=30)
    world.expect_applied_once(ts, recs)
    accounts = {t.src for t in ts} | {t.dst for t in ts}
    for acc in sorted(accounts):
        want = 1000 - 3 * sum(t.src == acc for t in ts) + 3 * sum(t.dst == acc for t in ts)
        got = world.ledger.balance(acc)
        if got != want:
            fail(f"account {acc} holds {got} after the stream, expected {want}")


@pytest.mark.hidden
@pytest.mark.skill("messaging")
def test_one_event_per_transfer(world: World):
    """Without duplicates or crashes, every transfer gets exactly one event."""
    ts = world.transfers(40, accounts=8, amount=2, fund=1000)
    world.publish(ts)
    world.settle(ts)
    world.expect_events(ts, exactly_one=True)


@pytest.mark.skill("api")
def test_stats_count_the_work(api, world: World):
    """/stats counts what the grader saw happen: consumed and applied grow by the stream's size."""
    before = stats(api)
    ts = world.transfers(15, amount=1)
    world.publish(ts)
    recs = world.settle(ts)
    world.expect_applied_once(ts, recs)
    after = stats(api)
    for name in ("consumed", "applied"):
        b, a = before.get(name), after.get(name)
        if not isinstance(a, int) or not isinstance(b, int) or a - b < len(ts):
            fail(
                f"GET /stats: `{name}` went from {b!r} to {a!r} while {len(ts)} transfers were "
                "consumed and applied"
            )
    if after.get("in_flight") != 0:
        fail(f"GET /stats: in_flight is {after.get('in_flight')!r} with nothing left to do")
