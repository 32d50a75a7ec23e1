"""Subscriptions, acknowledgements and delivery: every message, in order, exactly once."""

from __future__ import annotations

import threading

import pytest
from conftest import MAX_SUBSCRIPTIONS, publish

from graders import concurrently, fail


@pytest.mark.points(2)
@pytest.mark.skill("pubsub")
def test_publish_assigns_consecutive_seqs(api, channels):
    """POST /publish answers 200 with seq 1, 2, 3 on a new channel; channels count separately."""
    a, b = channels.new(), channels.new()
    got = [publish(api, a, channels.tick(i)) for i in range(3)]
    got_b = publish(api, b, channels.tick())
    if got != [1, 2, 3] or got_b != 1:
        fail(f"expected seqs [1, 2, 3] on {a} and 1 on {b}; got {got} and {got_b}")


@pytest.mark.points(2)
@pytest.mark.skill("pubsub")
def test_subscribe_ack_carries_current_seq(api, channels, connect):
    """The subscribed acknowledgement carries the channel's current sequence (0 when new)."""
    a, b = channels.new(), channels.new()
    for i in range(3):
        publish(api, a, channels.tick(i))
    sub = connect()
    if (seq := sub.subscribe(a)) != 3:
        fail(f'subscribed to {a} after 3 publishes: expected "seq": 3 in the ack; got {seq}')
    if (seq := sub.subscribe(b)) != 0:
        fail(f'subscribed to the new channel {b}: expected "seq": 0 in the ack; got {seq}')


@pytest.mark.critical
@pytest.mark.points(3)
@pytest.mark.skill("pubsub")
def test_messages_after_ack_in_order(api, channels, connect):
    """After the ack (seq C), the subscriber receives C+1, C+2, ... with the published data."""
    ch = channels.new()
    publish(api, ch, channels.tick(0))
    sub = connect()
    start = sub.subscribe(ch)
    data = {}
    for i in range(10):
        d = channels.tick(i)
        data[publish(api, ch, d)] = d
    sub.expect_messages(ch, start + 1, 10, data)


@pytest.mark.points(1)
@pytest.mark.skill("pubsub")
def test_data_delivered_unchanged(api, channels, connect):
    """Any JSON value is delivered as published: objects, arrays, strings, numbers, null."""
    ch = channels.new()
    sub = connect()
    sub.subscribe(ch)
    values = [
        {"nested": {"list": [1, 2.5, "x", None, True]}, "unicode": "Zürich ₿ 東京"},
        [1, "two", {"three": 3}],
        "plain string",
        42,
        -0.125,
        True,
        None,
        {},
    ]
    data = {publish(api, ch, v): v for v in values}
    sub.expect_messages(ch, 1, len(values), data)


@pytest.mark.critical
@pytest.mark.points(3)
@pytest.mark.skill("pubsub")
def test_fan_out_to_many_subscribers(api, channels, connect):
    """Twenty connections subscribed to one channel each receive all 15 messages, in order."""
    ch = channels.new()
    subs = [connect(name=f"subscriber {i + 1}") for i in range(20)]
    for s in subs:
        s.subscribe(ch)
    data = {}
    for i in range(15):
        d = channels.tick(i)
        data[publish(api, ch, d)] = d
    for s in subs:
        s.expect_messages(ch, 1, 15, data)


@pytest.mark.critical
@pytest.mark.points(3)
@pytest.mark.skill("pubsub")
def test_no_delivery_after_unsubscribe(api, channels, connect):
    """After the unsubscribed ack no message of the channel arrives; other channels go on."""
    a, b = channels.new(), channels.new()
    sub = connect()
    sub.subscribe(a)
    sub.subscribe(b)
    publish(api, a, channels.tick(0))
    sub.expect_messages(a, 1, 1)
    sub.unsubscribe(a)
    for i in range(5):
        publish(api, a, channels.tick(i))
    seq_b = publish(api, b, channels.tick())
    got = sub.next_message()
    if got.get("channel") != b or got.get("seq") != seq_b:
        fail(f"after unsubscribing from {a}, expected only {b}'s message {seq_b}; got {got}")
    sub.expect_quiet(a)


@pytest.mark.hidden
@pytest.mark.critical
@pytest.mark.points(2)
@pytest.mark.skill("pubsub")
def test_resubscribe_is_a_fresh_subscription(api, channels, connect):
    """Subscribing again after unsubscribing acks the current seq and delivers from the next."""
    ch = channels.new()
    sub = connect()
    sub.subscribe(ch)
    publish(api, ch, channels.tick())
    sub.expect_messages(ch, 1, 1)
    sub.unsubscribe(ch)
    publish(api, ch, channels.tick())
    publish(api, ch, channels.tick())
    if (seq := sub.subscribe(ch)) != 3:
        fail(f're-subscribed to {ch} at seq 3: expected "seq": 3 in the ack; got {seq}')
    publish(api, ch, channels.tick())
    sub.expect_messages(ch, 4, 1)
    sub.expect_quiet(ch)


@pytest.mark.points(2)
@pytest.mark.skill("pubsub")
def test_channels_are_independent(api, channels, connect):
    """Interleaved publishes to several channels each arrive in their own sequence."""
    names = [channels.new() for _ in range(4)]
    sub = connect()
    for n in names:
        sub.subscribe(n)
    for i in range(6):
        for n in names:
            publish(api, n, channels.tick(i))
    received: dict[str, list[int]] = {n: [] for n in names}
    for _ in range(24):
        m = sub.next_message()
        if m.get("channel") not in received:
            fail(f"a message of a channel the connection never subscribed to: {m}")
        received[m["channel"]].append(m.get("seq"))
    for n in names:
        if received[n] != [1, 2, 3, 4, 5, 6]:
            fail(f"messages of {n}: expected seqs [1..6] in order; got {received[n]}")


@pytest.mark.critical
@pytest.mark.points(4)
@pytest.mark.skill("ordering")
def test_concurrent_publishers_gap_free_in_order(api, channels, connect):
    """8 publishers x 25 messages at once: seqs 1..200 each assigned once, received in order."""
    ch = channels.new()
    subs = [connect(name=f"subscriber {i + 1}") for i in range(3)]
    for s in subs:
        s.subscribe(ch)
    lock = threading.Lock()
    data: dict[int, object] = {}

    def run(worker: int) -> list[int]:
        seqs = []
        for i in range(25):
            d = {**channels.tick(i), "publisher": worker}
            seq = publish(api, ch, d)
            with lock:
                if seq in data:
                    fail(f"POST /publish answered seq {seq} twice on {ch}")
                data[seq] = d
            seqs.append(seq)
        return seqs

    concurrently(8, run, timeout_s=25)
    if sorted(data) != list(range(1, 201)):
        missing = sorted(set(range(1, 201)) - set(data))[:10]
        fail(f"200 concurrent publishes to {ch}: expected seqs 1..200; missing {missing}")
    for s in subs:
        s.expect_messages(ch, 1, 200, data, timeout_s=10)


@pytest.mark.hidden
@pytest.mark.critical
@pytest.mark.points(3)
@pytest.mark.skill("ordering")
def test_concurrent_publishers_over_channels(api, channels, connect):
    """6 publishers spread over 3 channels at once: every subscriber sees each channel in order."""
    names = [channels.new() for _ in range(3)]
    subs = [connect(name=f"subscriber {i + 1}") for i in range(4)]
    for s in subs:
        for n in names:
            s.subscribe(n)
    lock = threading.Lock()
    data: dict[str, dict[int, object]] = {n: {} for n in names}

    def run(worker: int) -> None:
        for i in range(30):
            n = names[(worker + i) % 3]
            d = {**channels.tick(i), "publisher": worker}
            seq = publish(api, n, d)
            with lock:
                data[n][seq] = d

    concurrently(6, run, timeout_s=25)
    for s in subs:
        got: dict[str, list[int]] = {n: [] for n in names}
        for _ in range(180):
            m = s.next_message(timeout_s=10)
            n = m.get("channel")
            if n not in got:
                fail(f"{s.name}: a message of an unknown channel: {m}")
            want = len(got[n]) + 1
            if m.get("seq") != want or m.get("data") != data[n].get(want):
                fail(
                    f"{s.name}: expected message {want} of {n} next (data "
                    f"{data[n].get(want)}); got {m}"
                )
            got[n].append(want)


@pytest.mark.points(1)
@pytest.mark.skill("limits")
def test_too_many_subscriptions(channels, connect):
    """The subscription past MAX_SUBSCRIPTIONS is an error; unsubscribing frees a slot."""
    sub = connect()
    names = [channels.new() for _ in range(MAX_SUBSCRIPTIONS + 1)]
    for n in names[:-1]:
        sub.subscribe(n)
    sub.error({"op": "subscribe", "channel": names[-1]}, "too_many_subscriptions")
    sub.unsubscribe(names[0])
    sub.subscribe(names[-1])
