"""RabbitMQ restarts in the middle of a stream (last of the checks: a service that never
reconnects fails only this one)."""

import time

import pytest
from conftest import World, poll
from test_crash import applied


@pytest.mark.points(3)
@pytest.mark.critical
@pytest.mark.skill("resilience")
def test_broker_restart_resumes(world: World, services):
    """RabbitMQ restarts mid-stream (some effects applied, unacknowledged): the service
    reconnects by itself; every transfer, before and after, takes effect once."""
    world.broker.wait_queue_empty()
    first = world.transfers(10, amount=1)
    lost_answer = first[:4]
    world.ledger.fail("apply_then_hang", [t.id for t in lost_answer], calls=1)
    try:
        world.publish(first)
        poll(lambda: applied(world, [t.id for t in first]) >= len(first), 10)
        world.broker.read_events()
        world.broker.close()
        t0 = time.monotonic()
        services.restart("rabbitmq", grace_s=10)
        restart_s = time.monotonic() - t0
    finally:
        world.ledger.clear()
    second = world.transfers(10, amount=1)
    world.publish(second)
    recs = world.settle(first + second, timeout_s=40)
    world.expect_applied_once(first + second, recs, f"around a broker restart ({restart_s:.1f} s)")
    world.expect_events(first + second)
