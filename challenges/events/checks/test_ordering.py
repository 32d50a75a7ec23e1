"""Per-account order, and concurrency across accounts."""

import time

import pytest
from conftest import Transfer, World

from graders import fail


def expect_order(world: World, account: str, ts: list[Transfer]) -> None:
    seq = [p["transfer_id"] for p in world.ledger.sequence([account])]
    want = [t.id for t in ts if t.id in seq]
    got = [i for i in seq if i in {t.id for t in ts}]
    if got != want:
        fail(
            f"transfers touching {account} took effect in the order {got}, but were published "
            f"in the order {want}"
        )


@pytest.mark.points(2)
@pytest.mark.skill("ordering")
def test_per_account_order(world: World):
    """Transfers sharing an account take effect in publish order, even when the first is slow."""
    hub = world.ids.account()
    world.ledger.fund(hub, 10_000)
    ts = [Transfer(world.ids.transfer(), hub, world.ids.account(), 10) for _ in range(6)]
    with world.ledger.failing("slow", [ts[0].id, ts[2].id], delay_ms=600):
        world.publish(ts)
        recs = world.settle(ts)
    world.expect_applied_once(ts, recs)
    expect_order(world, hub, ts)


@pytest.mark.hidden
@pytest.mark.skill("ordering")
def test_causal_chain_in_order(world: World):
    """A chain A->B, B->C, C->D, ... of the same money: in order, every link completes."""
    accs = world.ids.accounts(8)
    world.ledger.fund(accs[0], 100)
    ts = [Transfer(world.ids.transfer(), accs[i], accs[i + 1], 100) for i in range(7)]
    with world.ledger.failing("slow", [ts[0].id], delay_ms=500):
        world.publish(ts)
        recs = world.settle(ts)
    rejected = [t for t in ts if recs[t.id].rejected and not recs[t.id].postings]
    if rejected:
        fail(
            f"{len(rejected)} links of a chain were rejected for insufficient funds, e.g. "
            f"{rejected[0].describe()}: it reached the ledger before the transfer that funds it"
        )
    world.expect_applied_once(ts, recs)


@pytest.mark.hidden
@pytest.mark.skill("ordering")
def test_order_kept_across_retries(world: World):
    """The first transfer of an account fails twice at the ledger: the next one still waits."""
    hub = world.ids.account()
    world.ledger.fund(hub, 10_000)
    ts = [Transfer(world.ids.transfer(), world.ids.account(), hub, 10) for _ in range(4)]
    for t in ts:
        world.ledger.fund(t.src, 100)
    with world.ledger.failing("error", [ts[0].id], calls=2):
        world.publish(ts)
        recs = world.settle(ts)
    world.expect_applied_once(ts, recs)
    expect_order(world, hub, ts)


@pytest.mark.points(2)
@pytest.mark.skill("ordering")
def test_disjoint_accounts_concurrent(world: World):
    """20 transfers on 20 disjoint account pairs, 300 ms each at the ledger: done within 3 s."""
    world.broker.wait_queue_empty()
    ts = world.transfers(20, amount=1)
    world.ledger.reset_max_in_flight()
    with world.ledger.failing("slow", [t.id for t in ts], delay_ms=300):
        started = time.time()
        world.publish(ts)
        recs = world.settle(ts, events=False)
    world.expect_applied_once(ts, recs)
    last = max(p["t"] for t in ts for p in recs[t.id].postings)
    took = last - started
    peak = world.ledger.stats()["max_in_flight"]
    if took > 3.0:
        fail(
            f"20 transfers on disjoint accounts took {took:.1f} s to take effect with a ledger "
            f"answering in 300 ms (at most {peak} ledger calls at once): they were processed "
            "one after another, not concurrently"
        )
