"""Poison messages go to the dead-letter queue, bounded, and never block the rest."""

import json
import time

import pytest
from conftest import MAX_ATTEMPTS, World

from graders import fail

DLQ_WAIT_S = 10.0


def wait_dead_letters(world: World, bodies: list[bytes], timeout_s: float = DLQ_WAIT_S) -> dict:
    """The DLQ's messages whose bodies are among ``bodies`` (body -> props), waiting for all."""
    want = set(bodies)
    seen: dict[bytes, object] = {}
    deadline = time.monotonic() + timeout_s
    while True:
        for props, body in world.broker.dead_letters():
            if body in want:
                seen[body] = props
        if len(seen) == len(want) or time.monotonic() > deadline:
            return seen
        time.sleep(0.2)


def poison(world: World, bodies: list[bytes], what: str) -> None:
    for i, b in enumerate(bodies):
        world.broker.publish_raw(b, f"{world.ids.transfer()}-poison-{i}")
    seen = wait_dead_letters(world, bodies)
    missing = [b for b in bodies if b not in seen]
    if missing:
        fail(
            f"{len(missing)} of {len(bodies)} {what} did not reach transfers.dlq within "
            f"{DLQ_WAIT_S:.0f} s (after at most MAX_ATTEMPTS={MAX_ATTEMPTS} deliveries), e.g. "
            f"{missing[0][:80]!r}"
        )


@pytest.mark.points(2)
@pytest.mark.skill("messaging")
def test_bad_json_dead_lettered(world: World):
    """Bodies that are not JSON, or not an object, end up in transfers.dlq."""
    tag = world.ids.run + str(time.time_ns())
    poison(
        world,
        [b"{not json " + tag.encode(), f'["a list", "{tag}"]'.encode(), b"\xff\xfe" + tag.encode()],
        "bodies that are not JSON objects",
    )


@pytest.mark.points(2)
@pytest.mark.skill("messaging")
def test_bad_schema_dead_lettered(world: World):
    """Transfers breaking the schema (amount <= 0 or not an integer, a missing or equal account)
    end up in transfers.dlq and never reach the ledger."""
    a, b = world.ids.account(), world.ids.account()
    world.ledger.fund(a, 1000)
    bad = [
        {"id": world.ids.transfer(), "from": a, "to": b, "amount": -5},
        {"id": world.ids.transfer(), "from": a, "to": b, "amount": "10"},
        {"id": world.ids.transfer(), "from": a, "to": b, "amount": 1.5},
        {"id": world.ids.transfer(), "from": a, "amount": 10},
        {"id": world.ids.transfer(), "from": a, "to": a, "amount": 10},
        {"from": a, "to": b, "amount": 10, "note": world.ids.transfer()},
    ]
    bodies = [json.dumps(x).encode() for x in bad]
    poison(world, bodies, "transfers that break the schema")
    ids = [x["id"] for x in bad if "id" in x]
    recs = world.ledger.records(ids)
    reached = [i for i in ids if recs[i].calls]
    if reached:
        fail(f"{len(reached)} invalid transfers were sent to the ledger, e.g. {reached[0]}")


@pytest.mark.points(2)
@pytest.mark.skill("messaging")
def test_poison_does_not_block(world: World):
    """Valid transfers published right after poison messages take effect promptly."""
    for i in range(5):
        world.broker.publish_raw(b"poison " + str(i).encode() + world.ids.run.encode(), None)
    ts = world.transfers(10, accounts=4, amount=1)
    world.publish(ts)
    recs = world.settle(ts, timeout_s=10)
    world.expect_applied_once(ts, recs, "published behind poison messages")


@pytest.mark.hidden
@pytest.mark.skill("messaging")
def test_dead_letter_keeps_the_message(world: World):
    """A dead-lettered message keeps its body byte for byte and its message_id."""
    body = (
        b'{"id": 42, "from": "x", "to": "y", "amount": 1, "tag": "' + world.ids.run.encode() + b'"}'
    )
    mid = world.ids.transfer() + "-poison"
    world.broker.publish_raw(body, mid)
    seen = wait_dead_letters(world, [body])
    if body not in seen:
        fail(
            f"a poison message (id is a number) did not reach transfers.dlq unchanged within "
            f"{DLQ_WAIT_S:.0f} s: {body!r}"
        )
    props = seen[body]
    if getattr(props, "message_id", None) != mid:
        fail(
            f"the dead-lettered message lost its message_id: {getattr(props, 'message_id', None)!r}, "
            f"published as {mid!r}"
        )
