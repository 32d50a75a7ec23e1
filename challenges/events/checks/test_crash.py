"""The runner kills, stops and restarts the service and the broker in the middle of a stream."""

import pytest
from conftest import World, poll

from graders import fail


def applied(world: World, ids: list[str]) -> int:
    recs = world.ledger.records(ids)
    return sum(1 for i in ids if recs[i].postings)


@pytest.mark.points(3)
@pytest.mark.critical
@pytest.mark.skill("resilience")
def test_killed_mid_stream_nothing_lost(world: World, services):
    """SIGKILL in the middle of a stream, then a start: every transfer takes effect, with its event."""
    world.broker.wait_queue_empty()
    ts = world.transfers(100, amount=1)
    ids = [t.id for t in ts]
    world.ledger.fail("slow", ids, delay_ms=400)
    try:
        world.publish(ts)
        poll(lambda: applied(world, ids) >= 10, 15)
        services.kill("candidate")
        before = applied(world, ids)
    finally:
        world.ledger.clear()
    services.start("candidate")
    recs = world.settle(ts, timeout_s=40)
    if before >= len(ts):
        fail("the whole stream was applied before the kill; the check could not test a crash")
    world.expect_applied_once(ts, recs, f"(the service was killed after {before} had taken effect)")
    world.expect_events(ts)


@pytest.mark.points(3)
@pytest.mark.critical
@pytest.mark.skill("exactly-once")
def test_killed_after_effect_not_doubled(world: World, services):
    """Killed after the ledger applied transfers but before their answers arrived: redelivered
    after the restart, they do not take effect again."""
    world.broker.wait_queue_empty()
    ts = world.transfers(8, amount=1)
    ids = [t.id for t in ts]
    world.ledger.fail("apply_then_hang", ids, calls=1)
    try:
        world.publish(ts)
        got = poll(lambda: applied(world, ids) >= len(ids), 10)
        if not got:
            fail(
                f"only {applied(world, ids)} of {len(ids)} transfers reached the ledger within "
                "10 s of being published"
            )
        services.kill("candidate")
    finally:
        world.ledger.clear()
    services.start("candidate")
    recs = world.settle(ts, timeout_s=30)
    world.expect_applied_once(ts, recs, "redelivered after a crash")
    world.expect_events(ts)


@pytest.mark.points(2)
@pytest.mark.skill("shutdown")
def test_sigterm_exits_in_grace(world: World, services):
    """SIGTERM with work in flight: the service exits with code 0 within 10 s."""
    ts = world.transfers(30, amount=1)
    ids = [t.id for t in ts]
    with world.ledger.failing("slow", ids, delay_ms=300):
        world.publish(ts)
        poll(lambda: applied(world, ids) >= 3, 10)
        r = services.stop("candidate", grace_s=10, check=False)
    services.start("candidate")
    world.settle(ts, timeout_s=30)
    if not r.exited_in_grace:
        fail(f"after SIGTERM the service did not exit within 10 s ({r.message}); it was killed")
    if r.exit_code != 0:
        fail(f"after SIGTERM the service exited with code {r.exit_code}, expected 0")


@pytest.mark.points(2)
@pytest.mark.critical
@pytest.mark.skill("shutdown")
def test_sigterm_loses_nothing(world: World, services):
    """Stopped with SIGTERM mid-stream and started again: every transfer takes effect once."""
    ts = world.transfers(40, amount=1)
    ids = [t.id for t in ts]
    with world.ledger.failing("slow", ids, delay_ms=300):
        world.publish(ts)
        poll(lambda: applied(world, ids) >= 5, 10)
        services.stop("candidate", grace_s=10, check=False)
    services.start("candidate")
    recs = world.settle(ts, timeout_s=30)
    world.expect_applied_once(ts, recs, "(the service was stopped with SIGTERM and started)")
    world.expect_events(ts)
