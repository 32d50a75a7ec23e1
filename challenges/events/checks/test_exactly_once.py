"""Duplicates and lost answers: a transfer takes effect once, whatever is delivered twice."""

import json

import pytest
from conftest import World

from graders import fail


@pytest.mark.points(2)
@pytest.mark.critical
@pytest.mark.skill("exactly-once")
def test_duplicate_message_applied_once(world: World):
    """The same transfer published twice (the same id) takes effect once."""
    [t] = world.transfers(1, amount=40)
    world.publish([t])
    world.settle([t])
    world.broker.publish_raw(json.dumps(t.body()).encode(), t.id)
    world.broker.wait_queue_empty()
    recs = world.settle([t])
    world.expect_applied_once([t], recs, "published twice")


@pytest.mark.hidden
@pytest.mark.skill("exactly-once")
def test_duplicate_burst_applied_once(world: World):
    """Five copies of each of 10 transfers, interleaved and in flight together: once each."""
    ts = world.transfers(10, amount=5)
    for _ in range(5):
        for t in ts:
            world.broker.publish_raw(json.dumps(t.body()).encode(), t.id)
    world.broker.wait_queue_empty()
    recs = world.settle(ts)
    world.expect_applied_once(ts, recs, "each published five times")


@pytest.mark.points(2)
@pytest.mark.critical
@pytest.mark.skill("exactly-once")
def test_ledger_answer_lost_not_doubled(world: World):
    """The ledger applies a posting but its answer never comes: the retry must not apply it again."""
    ts = world.transfers(5, amount=7)
    ids = [t.id for t in ts]
    with world.ledger.failing("apply_then_hang", ids, calls=1):
        world.publish(ts)
        recs = world.settle(ts, timeout_s=25)
    world.expect_applied_once(ts, recs, "whose first ledger answer was lost")
    world.expect_events(ts)
    for t in ts:
        if len(recs[t.id].calls) < 2:
            fail(
                f"{t.describe()}: the ledger saw {len(recs[t.id].calls)} call; its first answer "
                "never came, so the event could not have been based on it"
            )
