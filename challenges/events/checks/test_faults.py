"""A failing ledger: 503s, a hang, a long outage. Retried with backoff; nothing lost or doubled."""

import time

import pytest
from conftest import MAX_IN_FLIGHT, World

from graders import fail


@pytest.mark.points(2)
@pytest.mark.critical
@pytest.mark.skill("resilience")
def test_ledger_503_retried(world: World):
    """Each transfer's first three ledger calls answer 503: all still take effect, once."""
    ts = world.transfers(5, amount=9)
    with world.ledger.failing("error", [t.id for t in ts], calls=3, status=503):
        world.publish(ts)
        recs = world.settle(ts, timeout_s=20)
    world.expect_applied_once(ts, recs, "whose first three ledger calls failed")
    world.expect_events(ts)


@pytest.mark.points(2)
@pytest.mark.skill("resilience")
def test_ledger_retry_backs_off(world: World):
    """During a 5 s ledger outage each transfer is retried, with backoff: 2 to 15 attempts."""
    ts = world.transfers(4, amount=2)
    ids = [t.id for t in ts]
    world.ledger.fail("error", ids, status=503)
    try:
        world.publish(ts)
        time.sleep(5.0)
        during = world.ledger.records(ids)
    finally:
        world.ledger.clear()
    counts = {t.id: len(during[t.id].calls) for t in ts}
    if max(counts.values()) > 15:
        fail(
            f"during a 5 s outage the ledger saw up to {max(counts.values())} calls for one "
            f"transfer ({sorted(counts.values())}): retries without backoff hammer a failing "
            "dependency (the brief: at most 15 in any 5 s)"
        )
    if min(counts.values()) < 2:
        fail(
            f"during a 5 s outage some transfers were tried only {min(counts.values())} time(s) "
            f"({sorted(counts.values())}): a failing ledger must be retried"
        )
    recs = world.settle(ts, timeout_s=15)
    world.expect_applied_once(ts, recs, "after the outage")


@pytest.mark.points(2)
@pytest.mark.skill("resilience")
def test_ledger_hang_timed_out_and_retried(world: World):
    """The ledger never answers a transfer's first call: the service times out and retries."""
    ts = world.transfers(3, amount=4)
    with world.ledger.failing("hang", [t.id for t in ts], calls=1):
        world.publish(ts)
        recs = world.settle(ts, timeout_s=15)
    missing = [t for t in ts if not recs[t.id].postings]
    if missing:
        fail(
            f"{len(missing)} of {len(ts)} transfers whose first ledger call hung never took "
            f"effect within 15 s (the brief: time out after at most 5 s and retry)"
        )
    world.expect_applied_once(ts, recs)


@pytest.mark.hidden
@pytest.mark.skill("resilience")
def test_ledger_outage_dead_letters_nothing(world: World):
    """Transfers failing at the ledger are not dead-lettered or dropped: they wait for it."""
    ts = world.transfers(5, amount=3)
    ids = [t.id for t in ts]
    world.broker.dead_letters()  # start from an empty DLQ
    with world.ledger.failing("error", ids, status=500):
        world.publish(ts)
        time.sleep(3.0)
        dead = [b for _, b in world.broker.dead_letters() if any(i.encode() in b for i in ids)]
    if dead:
        fail(
            f"{len(dead)} transfers were dead-lettered because the ledger failed: {dead[0][:100]!r}"
        )
    recs = world.settle(ts, timeout_s=15)
    world.expect_applied_once(ts, recs, "after the outage")


@pytest.mark.points(2)
@pytest.mark.skill("messaging")
def test_prefetch_bounded(world: World):
    """With the ledger stuck, the service holds at most MAX_IN_FLIGHT messages unacknowledged."""
    world.broker.wait_queue_empty()
    n = MAX_IN_FLIGHT * 3
    ts = world.transfers(n, amount=1)
    world.ledger.reset_max_in_flight()
    with world.ledger.failing("hang", [t.id for t in ts]):
        world.publish(ts)
        time.sleep(3.0)
        ready = world.broker.ready()
        peak = world.ledger.stats()["max_in_flight"]
    held = n - ready
    if held > MAX_IN_FLIGHT:
        fail(
            f"with the ledger stuck, {held} of {n} messages left the queue (only {ready} "
            f"ready): the service holds more than MAX_IN_FLIGHT={MAX_IN_FLIGHT} unacknowledged "
            f"(or acknowledged them before their effect); up to {peak} ledger calls at once"
        )
    recs = world.settle(ts, timeout_s=30)
    world.expect_applied_once(ts, recs, "after the ledger came back")
